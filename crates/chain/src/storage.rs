//! Where orders' datasets, models and Proof-of-Training bundles live, for every off-chain part
//! (the trainer agent uploads, the validator and buyers fetch): one implementation of each URI
//! scheme of DESIGN.md ("Storage URIs"). Content is always checked against a sha256 named next
//! to the URI.
//!
//! - reads: `file:///PATH` and `http(s)://…` (resumed with a `Range` request after an
//!   interruption), bounded in size before and while reading;
//! - uploads: a directory of files under a `file:///DIR` target, as `file:///DIR/NAME/`.

use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a transfer failed; every variant names the URI or path.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0:?} is not a supported storage URI (file:///PATH, http://…, https://…)")]
    Unsupported(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{uri}: {reason}")]
    Unreachable { uri: String, reason: String },
    #[error("{uri} is larger than the {limit} bytes allowed")]
    TooLarge { uri: String, limit: u64 },
    #[error("{uri} has sha256 {actual}, not the {expected} it must have")]
    Mismatch {
        uri: String,
        expected: String,
        actual: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads and writes storage URIs.
#[derive(Clone)]
pub struct Storage {
    http: reqwest::Client,
}

impl Default for Storage {
    fn default() -> Self {
        Self::new()
    }
}

impl Storage {
    pub fn new() -> Self {
        Self {
            http: http_client(),
        }
    }

    /// Fetches `uri` into `dest` and returns its size. At most `max_bytes` are accepted, and
    /// the content must have `sha256` when one is given; otherwise nothing is left at `dest`.
    /// An interrupted HTTP download is resumed from `dest` + `.part`.
    pub async fn fetch(
        &self,
        uri: &str,
        dest: &Path,
        max_bytes: u64,
        sha256: Option<&[u8; 32]>,
    ) -> Result<u64, StorageError> {
        let part = partial_path(dest);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(io(parent))?;
        }
        if let Some(path) = uri.strip_prefix("file://") {
            copy_bounded(uri, Path::new(path), &part, max_bytes).await?;
        } else if uri.starts_with("http://") || uri.starts_with("https://") {
            self.download(uri, &part, max_bytes).await?;
        } else {
            return Err(StorageError::Unsupported(uri.to_string()));
        }
        let (size, actual) = sha256_of(&part).await?;
        if let Some(expected) = sha256
            && &actual != expected
        {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(StorageError::Mismatch {
                uri: uri.to_string(),
                expected: hex::encode(expected),
                actual: hex::encode(actual),
            });
        }
        tokio::fs::rename(&part, dest).await.map_err(io(dest))?;
        Ok(size)
    }

    async fn download(&self, uri: &str, part: &Path, max_bytes: u64) -> Result<(), StorageError> {
        let unreachable = |reason: String| StorageError::Unreachable {
            uri: uri.to_string(),
            reason,
        };
        let have = tokio::fs::metadata(part).await.map_or(0, |m| m.len());
        let mut request = self.http.get(uri);
        if have > 0 {
            request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0;
        if !status.is_success() {
            return Err(unreachable(format!("the server answered {status}")));
        }
        let start = if resumed { have } else { 0 };
        if let Some(length) = response.content_length()
            && start + length > max_bytes
        {
            return Err(StorageError::TooLarge {
                uri: uri.to_string(),
                limit: max_bytes,
            });
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(part)
            .await
            .map_err(io(part))?;
        let mut written = start;
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| unreachable(e.to_string()))?;
            written += chunk.len() as u64;
            if written > max_bytes {
                drop(file);
                let _ = tokio::fs::remove_file(part).await;
                return Err(StorageError::TooLarge {
                    uri: uri.to_string(),
                    limit: max_bytes,
                });
            }
            file.write_all(&chunk).await.map_err(io(part))?;
        }
        file.sync_all().await.map_err(io(part))
    }

    /// Uploads the files of directory `dir` (recursively) under `target` as `name`, and
    /// returns the directory's URI (ending in `/`). Only `file:///DIR` targets so far.
    pub async fn put_dir(
        &self,
        target: &str,
        name: &str,
        dir: &Path,
    ) -> Result<String, StorageError> {
        let Some(root) = target.strip_prefix("file://") else {
            return Err(StorageError::Unsupported(target.to_string()));
        };
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(StorageError::Unsupported(format!(
                "{target} with name {name:?}"
            )));
        }
        let destination = Path::new(root).join(name);
        let staging = Path::new(root).join(format!(".{name}.uploading"));
        let _ = tokio::fs::remove_dir_all(&staging).await;
        copy_tree(dir, &staging).await?;
        let _ = tokio::fs::remove_dir_all(&destination).await;
        tokio::fs::rename(&staging, &destination)
            .await
            .map_err(io(&destination))?;
        Ok(format!("file://{}/", destination.display()))
    }
}

/// The HTTP client every off-chain part uses (storage, the indexer's API): rustls on ring,
/// since reqwest's default crypto provider compiles C.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a TLS backend is configured")
}

/// Where a download in progress is kept: beside its destination.
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

async fn copy_bounded(
    uri: &str,
    from: &Path,
    to: &Path,
    max_bytes: u64,
) -> Result<(), StorageError> {
    let metadata = tokio::fs::metadata(from)
        .await
        .map_err(|e| StorageError::Unreachable {
            uri: uri.to_string(),
            reason: e.to_string(),
        })?;
    if !metadata.is_file() {
        return Err(StorageError::Unreachable {
            uri: uri.to_string(),
            reason: "not a regular file".into(),
        });
    }
    if metadata.len() > max_bytes {
        return Err(StorageError::TooLarge {
            uri: uri.to_string(),
            limit: max_bytes,
        });
    }
    let source = tokio::fs::File::open(from).await.map_err(io(from))?;
    let mut limited = source.take(max_bytes + 1);
    let mut target = tokio::fs::File::create(to).await.map_err(io(to))?;
    let copied = tokio::io::copy(&mut limited, &mut target)
        .await
        .map_err(io(to))?;
    if copied > max_bytes {
        drop(target);
        let _ = tokio::fs::remove_file(to).await;
        return Err(StorageError::TooLarge {
            uri: uri.to_string(),
            limit: max_bytes,
        });
    }
    target.sync_all().await.map_err(io(to))
}

/// Size and sha256 of a file, read in 1 MiB blocks.
pub async fn sha256_of(path: &Path) -> Result<(u64, [u8; 32]), StorageError> {
    let mut file = tokio::fs::File::open(path).await.map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).await.map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

/// Copies regular files and directories of `from` into a new `to`; anything else (a symlink,
/// a device) is an error, so an upload never follows a link out of the directory.
async fn copy_tree(from: &Path, to: &Path) -> Result<(), StorageError> {
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((source, target)) = pending.pop() {
        tokio::fs::create_dir_all(&target)
            .await
            .map_err(io(&target))?;
        let mut entries = tokio::fs::read_dir(&source).await.map_err(io(&source))?;
        while let Some(entry) = entries.next_entry().await.map_err(io(&source))? {
            let kind = entry.file_type().await.map_err(io(&entry.path()))?;
            let (path, copy) = (entry.path(), target.join(entry.file_name()));
            if kind.is_dir() {
                pending.push((path, copy));
            } else if kind.is_file() {
                tokio::fs::copy(&path, &copy).await.map_err(io(&path))?;
            } else {
                return Err(StorageError::Io {
                    path,
                    source: std::io::Error::other("neither a regular file nor a directory"),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn file_uri(dir: &Path, name: &str, bytes: &[u8]) -> (String, [u8; 32]) {
        let path = dir.join(name);
        tokio::fs::write(&path, bytes).await.unwrap();
        (
            format!("file://{}", path.display()),
            Sha256::digest(bytes).into(),
        )
    }

    #[tokio::test]
    async fn file_fetches_are_bounded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let (uri, sha) = file_uri(dir.path(), "data.csv", b"1,2,3\n").await;
        let dest = dir.path().join("out/data.csv");
        let storage = Storage::new();
        assert_eq!(storage.fetch(&uri, &dest, 6, Some(&sha)).await.unwrap(), 6);
        assert_eq!(tokio::fs::read(&dest).await.unwrap(), b"1,2,3\n");

        let other = dir.path().join("other.csv");
        let error = storage.fetch(&uri, &other, 5, None).await.unwrap_err();
        assert!(
            matches!(error, StorageError::TooLarge { limit: 5, .. }),
            "{error}"
        );
        let error = storage
            .fetch(&uri, &other, 100, Some(&[0; 32]))
            .await
            .unwrap_err();
        assert!(error.to_string().contains(&hex::encode(sha)), "{error}");
        assert!(
            !other.exists() && !partial_path(&other).exists(),
            "nothing left behind"
        );
        let error = storage
            .fetch("ftp://example.org/x", &other, 100, None)
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::Unsupported(_)));
    }

    /// An HTTP server on loopback that serves `content`, honours `Range: bytes=N-`, and drops
    /// its first response halfway through the body.
    async fn flaky_server(content: &'static [u8]) -> String {
        use tokio::io::AsyncBufReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for attempt in 0.. {
                let (socket, _) = listener.accept().await.unwrap();
                let mut socket = tokio::io::BufReader::new(socket);
                let mut from = 0usize;
                loop {
                    let mut line = String::new();
                    socket.read_line(&mut line).await.unwrap();
                    if let Some(range) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        from = range.trim().trim_end_matches('-').parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let rest = &content[from..];
                let head = if from > 0 {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n\r\n",
                        rest.len(),
                        content.len() - 1,
                        content.len()
                    )
                } else {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", rest.len())
                };
                let socket = socket.get_mut();
                socket.write_all(head.as_bytes()).await.unwrap();
                let sent = if attempt == 0 {
                    rest.len() / 2
                } else {
                    rest.len()
                };
                socket.write_all(&rest[..sent]).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        format!("http://{address}/data.csv")
    }

    #[tokio::test]
    async fn an_interrupted_download_resumes_where_it_stopped() {
        static CONTENT: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let uri = flaky_server(CONTENT).await;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("data.csv");
        let sha: [u8; 32] = Sha256::digest(CONTENT).into();
        let storage = Storage::new();
        let error = storage
            .fetch(&uri, &dest, 1000, Some(&sha))
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::Unreachable { .. }), "{error}");
        assert_eq!(
            tokio::fs::metadata(partial_path(&dest))
                .await
                .unwrap()
                .len(),
            CONTENT.len() as u64 / 2
        );
        assert_eq!(
            storage.fetch(&uri, &dest, 1000, Some(&sha)).await.unwrap(),
            CONTENT.len() as u64
        );
        assert_eq!(tokio::fs::read(&dest).await.unwrap(), CONTENT);
        let error = storage
            .fetch(&uri, &dir.path().join("small"), 10, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::TooLarge { limit: 10, .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn directories_upload_whole_and_refuse_links() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        tokio::fs::create_dir_all(bundle.join("checkpoints"))
            .await
            .unwrap();
        tokio::fs::write(bundle.join("model.bin"), b"model")
            .await
            .unwrap();
        tokio::fs::write(bundle.join("checkpoints/step-0.ckpt"), b"ckpt")
            .await
            .unwrap();
        let target = dir.path().join("store");
        tokio::fs::create_dir_all(&target).await.unwrap();
        let target = format!("file://{}", target.display());
        let storage = Storage::new();
        let uri = storage.put_dir(&target, "order-1", &bundle).await.unwrap();
        assert_eq!(uri, format!("{target}/order-1/"));
        let uploaded = Path::new(uri.strip_prefix("file://").unwrap());
        assert_eq!(
            tokio::fs::read(uploaded.join("checkpoints/step-0.ckpt"))
                .await
                .unwrap(),
            b"ckpt"
        );
        // Again: replaced, not merged or failed.
        tokio::fs::remove_file(bundle.join("model.bin"))
            .await
            .unwrap();
        storage.put_dir(&target, "order-1", &bundle).await.unwrap();
        assert!(!uploaded.join("model.bin").exists());

        std::os::unix::fs::symlink("/etc/passwd", bundle.join("passwd")).unwrap();
        assert!(storage.put_dir(&target, "order-2", &bundle).await.is_err());
        assert!(
            storage
                .put_dir(&target, "../escape", &bundle)
                .await
                .is_err()
        );
    }
}
