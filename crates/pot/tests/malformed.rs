//! Malformed bundles are rejected with a clear reason, never a panic or a huge allocation.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{challenge, example, exec};
use matrixai_pot::bundle::{self, MANIFEST_FILE, Manifest};
use matrixai_pot::{Report, Sha256Hex, Verdict, Verifier, train_bundle};

const MODEL: &str = "iris-softmax";

fn honest_bundle() -> (tempfile::TempDir, PathBuf) {
    let ex = example(MODEL);
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    train_bundle(&ex.spec, &ex.data, &bundle, &exec(), |_, _| {}).unwrap();
    (dir, bundle)
}

fn verify(bundle: &Path) -> Report {
    let ex = example(MODEL);
    let exec = exec();
    Verifier::new(&ex.spec, &ex.data, &exec)
        .unwrap()
        .verify(bundle, challenge(3), 4, None)
}

fn manifest(bundle: &Path) -> Manifest {
    serde_json::from_slice(&fs::read(bundle.join(MANIFEST_FILE)).unwrap()).unwrap()
}

/// Makes the manifest agree with the file's current content (a careful forger would).
fn reseal(bundle: &Path, path: &str, declared_bytes: Option<u64>) {
    let mut manifest = manifest(bundle);
    let entry = manifest.files.iter_mut().find(|e| e.path == path).unwrap();
    let file = bundle.join(path);
    entry.bytes = declared_bytes.unwrap_or_else(|| fs::metadata(&file).unwrap().len());
    if declared_bytes.is_none() {
        entry.sha256 = Sha256Hex::of(&fs::read(&file).unwrap());
    }
    fs::write(
        bundle.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
}

fn assert_rejected(report: &Report, code: &str, detail: &str) {
    assert_eq!(report.verdict, Verdict::Reject);
    let found = report
        .reasons
        .iter()
        .any(|r| r.code() == code && format!("{r:?}").contains(detail));
    assert!(
        found,
        "expected {code} mentioning {detail:?}, got {:?}",
        report.reasons
    );
}

/// The last checkpoint: the end of the last segment, which every verification replays.
fn some_checkpoint() -> String {
    bundle::checkpoint_path(example(MODEL).spec.validate().unwrap().total_steps)
}

#[test]
fn missing_checkpoint_file() {
    let (_dir, bundle) = honest_bundle();
    fs::remove_file(bundle.join(some_checkpoint())).unwrap();
    assert_rejected(&verify(&bundle), "malformed_bundle", "cannot open");
}

#[test]
fn missing_manifest() {
    let (_dir, bundle) = honest_bundle();
    fs::remove_file(bundle.join(MANIFEST_FILE)).unwrap();
    assert_rejected(&verify(&bundle), "malformed_bundle", "manifest.json");
}

#[test]
fn truncated_checkpoint_against_the_manifest() {
    let (_dir, bundle) = honest_bundle();
    let path = bundle.join(some_checkpoint());
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    assert_rejected(&verify(&bundle), "manifest_mismatch", &some_checkpoint());
}

#[test]
fn truncated_checkpoint_with_a_resealed_manifest() {
    let (_dir, bundle) = honest_bundle();
    let path = bundle.join(some_checkpoint());
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    reseal(&bundle, &some_checkpoint(), None);
    assert_rejected(
        &verify(&bundle),
        "malformed_bundle",
        "the spec's shapes give",
    );
}

#[test]
fn wrong_shapes_in_a_checkpoint_header() {
    let (_dir, bundle) = honest_bundle();
    let path = bundle.join(some_checkpoint());
    let mut bytes = fs::read(&path).unwrap();
    let params = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    let state = u64::from_le_bytes(bytes[24..32].try_into().unwrap());
    bytes[16..24].copy_from_slice(&(params + 1).to_le_bytes());
    bytes[24..32].copy_from_slice(&(state - 1).to_le_bytes());
    fs::write(&path, &bytes).unwrap();
    reseal(&bundle, &some_checkpoint(), None);
    assert_rejected(&verify(&bundle), "malformed_bundle", "shapes");
}

#[test]
fn huge_files_are_refused_before_reading() {
    let (_dir, bundle) = honest_bundle();
    // Sparse files: the size says 8 GiB, the disk holds almost nothing.
    fs::File::options()
        .write(true)
        .open(bundle.join("model.bin"))
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    reseal(&bundle, "model.bin", Some(8 << 30));
    assert_rejected(
        &verify(&bundle),
        "malformed_bundle",
        "model.bin: the manifest lists 8589934592 bytes, the spec's shapes give",
    );

    let (_dir1, bundle1) = honest_bundle();
    fs::File::options()
        .write(true)
        .open(bundle1.join("transcript.json"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    reseal(&bundle1, "transcript.json", Some(1 << 30));
    assert_rejected(
        &verify(&bundle1),
        "malformed_bundle",
        "transcript.json: 1073741824 bytes, more than the",
    );

    let (_dir2, bundle2) = honest_bundle();
    fs::File::options()
        .write(true)
        .open(bundle2.join(MANIFEST_FILE))
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    assert_rejected(&verify(&bundle2), "malformed_bundle", "more than the");
}

#[test]
fn garbage_transcript() {
    let (_dir, bundle) = honest_bundle();
    fs::write(
        bundle.join("transcript.json"),
        b"{\"v\":1,\"leaves\":[{\"step\":",
    )
    .unwrap();
    reseal(&bundle, "transcript.json", None);
    assert_rejected(&verify(&bundle), "malformed_bundle", "transcript.json");
}

#[test]
fn path_traversal_in_the_manifest() {
    let (_dir, bundle) = honest_bundle();
    let mut manifest = manifest(&bundle);
    manifest.files[0].path = "../../etc/passwd".into();
    fs::write(
        bundle.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    assert_rejected(&verify(&bundle), "malformed_bundle", "unsafe path");
}

#[test]
fn unexpected_file_in_the_manifest() {
    let (_dir, bundle) = honest_bundle();
    fs::write(bundle.join("extra.bin"), b"payload").unwrap();
    let mut manifest = manifest(&bundle);
    manifest.files.push(bundle::ManifestEntry {
        path: "extra.bin".into(),
        bytes: 7,
        sha256: Sha256Hex::of(b"payload"),
    });
    fs::write(
        bundle.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    assert_rejected(
        &verify(&bundle),
        "malformed_bundle",
        "unexpected file extra.bin",
    );
}

#[test]
fn flipped_bit_in_a_checkpoint_breaks_its_leaf() {
    let (_dir, bundle) = honest_bundle();
    let path = bundle.join(some_checkpoint());
    let mut bytes = fs::read(&path).unwrap();
    bytes[40] ^= 1;
    fs::write(&path, &bytes).unwrap();
    reseal(&bundle, &some_checkpoint(), None);
    let last_step = example(MODEL).spec.validate().unwrap().total_steps;
    assert_rejected(
        &verify(&bundle),
        "checkpoint_leaf_mismatch",
        &last_step.to_string(),
    );
}

/// Without a resealed manifest too: the leaf, not the manifest's digest, decides.
#[test]
fn flipped_bit_in_a_checkpoint_without_a_resealed_manifest() {
    let (_dir, bundle) = honest_bundle();
    let path = bundle.join(some_checkpoint());
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    fs::write(&path, &bytes).unwrap();
    let last_step = example(MODEL).spec.validate().unwrap().total_steps;
    assert_rejected(
        &verify(&bundle),
        "checkpoint_leaf_mismatch",
        &last_step.to_string(),
    );
}

/// Checkpoints outside the sampled segments are never opened (their leaves are bound by the
/// root, see docs/proof-of-training.md), so a missing one goes unnoticed until a challenge
/// samples it; then the bundle is rejected.
#[test]
fn a_checkpoint_is_needed_only_when_sampled() {
    let (_dir, bundle) = honest_bundle();
    let ex = example(MODEL);
    let exec = exec();
    let verifier = Verifier::new(&ex.spec, &ex.data, &exec).unwrap();
    let report = verifier.verify(&bundle, challenge(3), 4, None);
    let sampled = &report.segments_sampled;
    let plan = ex.spec.validate().unwrap();
    let unsampled = (1..plan.segment_count())
        .find(|&c| !sampled.contains(&c) && !sampled.contains(&(c - 1)))
        .expect("a checkpoint that no sampled segment starts or ends at");
    let missing = bundle::checkpoint_path(plan.checkpoint_steps()[unsampled]);
    fs::remove_file(bundle.join(&missing)).unwrap();
    let report = verifier.verify(&bundle, challenge(3), 4, None);
    assert_eq!(report.verdict, Verdict::Accept, "{:?}", report.reasons);
    let report = verifier.verify(&bundle, challenge(3), usize::MAX, None);
    assert_rejected(
        &report,
        "malformed_bundle",
        &format!("{missing}: cannot open"),
    );
}

#[test]
fn checkpoint_missing_from_the_manifest() {
    let (_dir, bundle) = honest_bundle();
    let mut manifest = manifest(&bundle);
    let path = bundle::checkpoint_path(example(MODEL).spec.checkpoint_interval.into());
    manifest.files.retain(|entry| entry.path != path);
    fs::write(
        bundle.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let report = verify(&bundle);
    assert_rejected(
        &report,
        "malformed_bundle",
        &format!("{path} is missing from the manifest"),
    );
    assert!(
        report.segments.is_empty(),
        "no replay without the full checkpoint list"
    );
}

#[test]
fn a_file_listed_twice() {
    let (_dir, bundle) = honest_bundle();
    let mut manifest = manifest(&bundle);
    let entry = manifest
        .files
        .iter()
        .find(|entry| entry.path == some_checkpoint())
        .unwrap()
        .clone();
    manifest.files.push(entry);
    fs::write(
        bundle.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    assert_rejected(&verify(&bundle), "malformed_bundle", "listed twice");
}

/// A checkpoint name other than the one `checkpoint_path` writes is not a checkpoint.
#[test]
fn a_checkpoint_under_another_name() {
    let (_dir, bundle) = honest_bundle();
    let mut manifest = manifest(&bundle);
    let last_step = example(MODEL).spec.validate().unwrap().total_steps;
    let renamed = format!("checkpoints/step-{last_step}.ckpt");
    fs::rename(bundle.join(some_checkpoint()), bundle.join(&renamed)).unwrap();
    manifest
        .files
        .iter_mut()
        .find(|entry| entry.path == some_checkpoint())
        .unwrap()
        .path = renamed.clone();
    fs::write(
        bundle.join(MANIFEST_FILE),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let report = verify(&bundle);
    assert_rejected(
        &report,
        "malformed_bundle",
        &format!("unexpected file {renamed}"),
    );
    assert!(
        report.has("malformed_bundle")
            && format!("{:?}", report.reasons).contains("is missing from the manifest")
    );
}

#[test]
fn bundle_of_another_order() {
    let ex = example(MODEL);
    let mut other = ex.spec.clone();
    other.init_seed += 1;
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    train_bundle(&other, &ex.data, &bundle, &exec(), |_, _| {}).unwrap();
    let report = verify(&bundle);
    assert_rejected(&report, "spec_mismatch", "spec");
    assert!(
        report.has("initial_checkpoint_mismatch"),
        "{:?}",
        report.reasons
    );
}

#[test]
fn commitment_must_match_the_bundle() {
    let (_dir, bundle) = honest_bundle();
    let ex = example(MODEL);
    let exec = exec();
    let manifest_sha = Sha256Hex::of(&fs::read(bundle.join(MANIFEST_FILE)).unwrap());
    let transcript: matrixai_pot::Transcript =
        serde_json::from_slice(&fs::read(bundle.join("transcript.json")).unwrap()).unwrap();
    let mut commitment = matrixai_pot::Commitment {
        v: 1,
        root: transcript.root,
        final_model: transcript.final_model_sha256,
        accuracy_ppm: transcript.accuracy_ppm,
        bundle_uri: "file:///b".into(),
        bundle_sha256: manifest_sha,
    };
    let verifier = Verifier::new(&ex.spec, &ex.data, &exec).unwrap();
    assert_eq!(
        verifier
            .verify(&bundle, challenge(1), 4, Some(&commitment))
            .verdict,
        Verdict::Accept
    );
    commitment.root = Sha256Hex([0; 32]);
    let report = verifier.verify(&bundle, challenge(1), 4, Some(&commitment));
    assert_rejected(&report, "commitment_mismatch", "root");
}

/// Random damage to every file a verification always reads: never a panic; without a resealed
/// manifest always a rejection (a resealed change may be harmless, such as 'a' -> 'A' in a hex
/// digest, so there only the absence of a panic is required).
#[test]
fn random_damage_never_panics() {
    use matrixai_pot::chacha::CounterRng;
    let (_dir, pristine) = honest_bundle();
    let always_read = [
        "manifest.json",
        "spec.json",
        "transcript.json",
        "model.bin",
        &some_checkpoint(),
    ]
    .map(String::from);
    let mut rng = CounterRng::for_seed("damage-test", 1, 0);
    for trial in 0..60u64 {
        let work = tempfile::tempdir().unwrap();
        let bundle = work.path().join("bundle");
        copy_dir(&pristine, &bundle);
        let target = &always_read[trial as usize % always_read.len()];
        let path = bundle.join(target);
        let mut bytes = fs::read(&path).unwrap();
        match rng.next_below(4) {
            0 => bytes.truncate(rng.next_below(bytes.len() as u64) as usize),
            1 => {
                let at = rng.next_below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 << rng.next_below(8);
            }
            2 => bytes.extend((0..1 + rng.next_below(64)).map(|_| rng.next_u32() as u8)),
            _ => bytes.iter_mut().for_each(|b| *b = rng.next_u32() as u8),
        }
        fs::write(&path, &bytes).unwrap();
        let resealed = target != "manifest.json" && rng.next_below(2) == 1;
        if resealed {
            reseal(&bundle, target, None);
        }
        let report = verify(&bundle);
        if !resealed {
            assert_eq!(
                report.verdict,
                Verdict::Reject,
                "trial {trial}: damaged {target} accepted"
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Verifies on another thread, so that a verifier that hangs fails the test instead of
/// hanging it.
fn verify_within_a_minute(bundle: &Path) -> Report {
    let bundle = bundle.to_path_buf();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(verify(&bundle));
    });
    receiver
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the verifier hangs")
}

fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

#[test]
fn named_pipes_are_refused_without_waiting_for_a_writer() {
    for path in [bundle::MODEL_FILE, MANIFEST_FILE] {
        let (_dir, bundle) = honest_bundle();
        fs::remove_file(bundle.join(path)).unwrap();
        make_fifo(&bundle.join(path));
        assert_rejected(
            &verify_within_a_minute(&bundle),
            "malformed_bundle",
            "not a regular file",
        );
    }
}

#[test]
fn a_symlink_out_of_the_bundle_is_never_followed() {
    let (dir, bundle) = honest_bundle();
    // Followed, the link would make the report name the outside file's sha256.
    let outside = dir.path().join("secret.txt");
    fs::write(
        &outside,
        b"a file the verifier's user may read, nobody else",
    )
    .unwrap();
    fs::remove_file(bundle.join(bundle::SPEC_FILE)).unwrap();
    std::os::unix::fs::symlink(&outside, bundle.join(bundle::SPEC_FILE)).unwrap();
    let report = verify(&bundle);
    assert_rejected(&report, "malformed_bundle", "symbolic link");
    let outside_sha256 = Sha256Hex::of(&fs::read(&outside).unwrap()).to_string();
    assert!(
        !serde_json::to_string(&report)
            .unwrap()
            .contains(&outside_sha256),
        "the report names the outside file's sha256"
    );
}

#[test]
fn a_symlinked_checkpoint_directory_is_refused() {
    let (dir, bundle) = honest_bundle();
    let elsewhere = dir.path().join("elsewhere");
    fs::rename(bundle.join("checkpoints"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, bundle.join("checkpoints")).unwrap();
    assert_rejected(&verify(&bundle), "malformed_bundle", "not a directory");
}

/// Rewrites a field of transcript.json and reseals the manifest over it.
fn edit_transcript(bundle: &Path, field: &str, value: serde_json::Value) {
    let path = bundle.join(bundle::TRANSCRIPT_FILE);
    let mut transcript: serde_json::Value =
        serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    transcript[field] = value;
    fs::write(&path, serde_json::to_vec_pretty(&transcript).unwrap()).unwrap();
    reseal(bundle, bundle::TRANSCRIPT_FILE, None);
}

#[test]
fn a_transcript_of_another_format_version() {
    let (_dir, bundle) = honest_bundle();
    edit_transcript(&bundle, "v", 2.into());
    assert_rejected(&verify(&bundle), "malformed_bundle", "version 2");
}

#[test]
fn a_transcript_with_another_checkpoint_interval() {
    let (_dir, bundle) = honest_bundle();
    let interval = u64::from(example(MODEL).spec.checkpoint_interval);
    edit_transcript(&bundle, "checkpoint_interval", (interval * 2).into());
    let report = verify(&bundle);
    assert_rejected(&report, "malformed_bundle", "checkpoint_interval");
    assert!(report.segments.is_empty(), "no replay on a wrong schedule");
}

#[test]
fn an_accuracy_claim_one_ppm_off_either_way() {
    for delta in [-1i64, 1] {
        let (_dir, bundle) = honest_bundle();
        let transcript: serde_json::Value =
            serde_json::from_slice(&fs::read(bundle.join(bundle::TRANSCRIPT_FILE)).unwrap())
                .unwrap();
        let claimed = transcript["accuracy_ppm"].as_i64().unwrap() + delta;
        edit_transcript(&bundle, "accuracy_ppm", claimed.into());
        assert_rejected(&verify(&bundle), "accuracy_claim_mismatch", "claimed_ppm");
    }
}
