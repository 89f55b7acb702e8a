//! The bundle: a directory with everything a validator needs.
//!
//! ```text
//! manifest.json                 {"v":1,"files":[{"path","bytes","sha256"}...]} sorted by path
//! spec.json                     the task spec, canonical JSON
//! transcript.json               leaves, Merkle root, final model hash, claimed accuracy
//! model.bin                     "MXPOTMD1", u64 parameter count, f32 LE parameters
//! checkpoints/step-NNNNNNNNNN.ckpt
//!                               "MXPOTCK1", u64 step, u64 parameter count, u64 state count,
//!                               f32 LE parameters then optimizer state
//! ```
//! The bundle's sha256 (what goes on chain) is the sha256 of `manifest.json`.
//!
//! While training, `progress.jsonl` beside them records each checkpoint written, so that an
//! interrupted run resumes from its last checkpoint and, the engine being deterministic, ends
//! with the same bytes as an uninterrupted one; it is removed when the bundle is finished.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::PreparedData;
use crate::error::PotError;
use crate::kernels::Exec;
use crate::spec::{TaskSpec, TrainingPlan, limits};
use crate::train::{Checkpoint, Trainer};
use crate::transcript::{Leaf, Sha256Hex, Transcript, merkle_root};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const SPEC_FILE: &str = "spec.json";
pub const TRANSCRIPT_FILE: &str = "transcript.json";
pub const MODEL_FILE: &str = "model.bin";
pub const PROGRESS_FILE: &str = "progress.jsonl";
pub const BUNDLE_VERSION: u32 = 1;

/// The largest manifest a bundle may have: one entry per checkpoint plus its other files.
pub const MAX_MANIFEST_BYTES: u64 = 4096 + 200 * (limits::MAX_CHECKPOINTS + 3);

/// The largest transcript a run of `plan` may have.
pub fn max_transcript_bytes(plan: &TrainingPlan) -> u64 {
    4096 + 400 * (plan.checkpoint_steps().len() as u64 + 16)
}

const CHECKPOINT_MAGIC: &[u8; 8] = b"MXPOTCK1";
const MODEL_MAGIC: &[u8; 8] = b"MXPOTMD1";
const CHECKPOINT_HEADER_BYTES: u64 = 32;
const MODEL_HEADER_BYTES: u64 = 16;

pub fn checkpoint_path(step: u64) -> String {
    format!("checkpoints/step-{step:010}.ckpt")
}

/// The step of a path written by [`checkpoint_path`], and only of such a path (exactly ten
/// digits), so that distinct paths never name the same step.
pub fn parse_checkpoint_path(path: &str) -> Option<u64> {
    let digits = path
        .strip_prefix("checkpoints/step-")?
        .strip_suffix(".ckpt")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub fn checkpoint_file_bytes(params: usize, state: usize) -> u64 {
    CHECKPOINT_HEADER_BYTES + 4 * (params as u64 + state as u64)
}

pub fn model_file_bytes(params: usize) -> u64 {
    MODEL_HEADER_BYTES + 4 * params as u64
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: Sha256Hex,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub v: u32,
    pub files: Vec<ManifestEntry>,
}

fn push_f32s(bytes: &mut Vec<u8>, values: &[f32]) {
    for value in values {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
}

pub fn encode_checkpoint(checkpoint: &Checkpoint) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(checkpoint_file_bytes(
        checkpoint.params.len(),
        checkpoint.optimizer_state.len(),
    ) as usize);
    bytes.extend_from_slice(CHECKPOINT_MAGIC);
    bytes.extend_from_slice(&checkpoint.step.to_le_bytes());
    bytes.extend_from_slice(&(checkpoint.params.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&(checkpoint.optimizer_state.len() as u64).to_le_bytes());
    push_f32s(&mut bytes, &checkpoint.params);
    push_f32s(&mut bytes, &checkpoint.optimizer_state);
    bytes
}

pub fn encode_model(params: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(model_file_bytes(params.len()) as usize);
    bytes.extend_from_slice(MODEL_MAGIC);
    bytes.extend_from_slice(&(params.len() as u64).to_le_bytes());
    push_f32s(&mut bytes, params);
    bytes
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn read_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Decodes a checkpoint file whose shapes must be exactly `params` and `state` floats.
/// The loss is not stored in the file; it comes from the transcript leaf.
pub fn decode_checkpoint(bytes: &[u8], params: usize, state: usize) -> Result<Checkpoint, String> {
    let (checkpoint, _) = decode_checkpoint_hashed(bytes, params, state)?;
    Ok(checkpoint)
}

/// [`decode_checkpoint`], plus the tensor hashes (parameters, optimizer state) taken straight
/// from the stored little-endian bytes, which is what [`tensor_hash`](crate::transcript::tensor_hash) hashes: no re-encoding.
pub fn decode_checkpoint_hashed(
    bytes: &[u8],
    params: usize,
    state: usize,
) -> Result<(Checkpoint, [Sha256Hex; 2]), String> {
    let expected = checkpoint_file_bytes(params, state);
    if bytes.len() as u64 != expected {
        return Err(format!(
            "{} bytes, expected {expected} for {params} parameters and {state} state values",
            bytes.len()
        ));
    }
    if &bytes[..8] != CHECKPOINT_MAGIC {
        return Err("not a checkpoint file (bad magic)".into());
    }
    let (step, found_params, found_state) =
        (read_u64(bytes, 8), read_u64(bytes, 16), read_u64(bytes, 24));
    if found_params != params as u64 || found_state != state as u64 {
        return Err(format!(
            "shapes ({found_params} parameters, {found_state} state values) differ from the spec's ({params}, {state})"
        ));
    }
    let body = &bytes[CHECKPOINT_HEADER_BYTES as usize..];
    let (param_bytes, state_bytes) = body.split_at(4 * params);
    let checkpoint = Checkpoint {
        step,
        params: read_f32s(param_bytes),
        optimizer_state: read_f32s(state_bytes),
        loss: 0.0,
    };
    Ok((
        checkpoint,
        [Sha256Hex::of(param_bytes), Sha256Hex::of(state_bytes)],
    ))
}

pub fn decode_model(bytes: &[u8], params: usize) -> Result<Vec<f32>, String> {
    let expected = model_file_bytes(params);
    if bytes.len() as u64 != expected {
        return Err(format!(
            "{} bytes, expected {expected} for {params} parameters",
            bytes.len()
        ));
    }
    if &bytes[..8] != MODEL_MAGIC {
        return Err("not a model file (bad magic)".into());
    }
    if read_u64(bytes, 8) != params as u64 {
        return Err(format!(
            "declares {} parameters, the spec's model has {params}",
            read_u64(bytes, 8)
        ));
    }
    Ok(read_f32s(&bytes[MODEL_HEADER_BYTES as usize..]))
}

/// Reads a file of at most `max_bytes`, refusing larger ones before reading anything. Opening
/// never blocks: a named pipe or a device is refused as not a regular file, not waited on.
pub fn read_file_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, String> {
    read_regular(open_nonblocking(path, false)?, max_bytes)
}

/// Reads `relative` inside the bundle directory `dir` as [`read_file_bounded`] does, and only
/// if it really is inside: a plain relative path, no symbolic link on the way or at the end,
/// so that a hostile bundle cannot make a reader open (or report the hash of) a file elsewhere.
pub fn read_bundle_file(dir: &Path, relative: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    let relative_path = Path::new(relative);
    if relative.is_empty()
        || !relative_path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "{relative:?} is not a plain path inside the bundle"
        ));
    }
    let mut inside = dir.to_path_buf();
    let mut components = relative_path.components().peekable();
    while let Some(component) = components.next() {
        inside.push(component);
        if components.peek().is_some() {
            let metadata = fs::symlink_metadata(&inside)
                .map_err(|e| format!("cannot stat {}: {e}", component.as_os_str().display()))?;
            if !metadata.is_dir() {
                return Err(format!(
                    "{} is not a directory of the bundle (a symbolic link or a file)",
                    component.as_os_str().display()
                ));
            }
        }
    }
    read_regular(open_nonblocking(&inside, true)?, max_bytes)
}

/// Opens for reading with `O_NONBLOCK` (a FIFO without a writer opens at once instead of
/// hanging), and with `O_NOFOLLOW` when `no_symlink` (a final symbolic link fails to open).
fn open_nonblocking(path: &Path, no_symlink: bool) -> Result<fs::File, String> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let nofollow = if no_symlink { libc::O_NOFOLLOW } else { 0 };
        options.custom_flags(libc::O_NONBLOCK | nofollow);
    }
    #[cfg(not(unix))]
    if no_symlink
        && fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink())
    {
        return Err("a symbolic link, which a bundle may not hold".into());
    }
    options.open(path).map_err(|e| {
        #[cfg(unix)]
        if no_symlink && e.raw_os_error() == Some(libc::ELOOP) {
            return "a symbolic link, which a bundle may not hold".to_string();
        }
        format!("cannot open: {e}")
    })
}

fn read_regular(file: fs::File, max_bytes: u64) -> Result<Vec<u8>, String> {
    let metadata = file.metadata().map_err(|e| format!("cannot stat: {e}"))?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.len() > max_bytes {
        return Err(format!(
            "{} bytes, more than the {max_bytes} allowed",
            metadata.len()
        ));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "grew beyond the {max_bytes} allowed while being read"
        ));
    }
    Ok(bytes)
}

/// Writes a bundle file by file; used by honest training and by any caller that assembles one.
pub struct BundleWriter {
    dir: PathBuf,
    spec_sha256: Sha256Hex,
    checkpoint_interval: u64,
    leaves: Vec<Leaf>,
    files: Vec<ManifestEntry>,
    progress: fs::File,
}

/// A line of [`PROGRESS_FILE`]: a checkpoint written, with the loss its leaf carries (which the
/// checkpoint file does not hold), as bits so that it comes back exactly.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressLine {
    step: u64,
    loss_bits: u32,
}

/// What the trainer publishes after writing a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSummary {
    pub transcript: Transcript,
    /// sha256 of manifest.json.
    pub bundle_sha256: Sha256Hex,
}

impl BundleWriter {
    /// Creates `dir` (which must not exist or be empty) and writes the spec into it.
    pub fn create(dir: &Path, spec: &TaskSpec) -> Result<Self, PotError> {
        if dir.exists() {
            let mut entries = fs::read_dir(dir).map_err(|e| PotError::io(dir, e))?;
            if entries.next().is_some() {
                return Err(PotError::OutputNotEmpty(dir.to_path_buf()));
            }
        }
        fs::create_dir_all(dir.join("checkpoints")).map_err(|e| PotError::io(dir, e))?;
        let progress_path = dir.join(PROGRESS_FILE);
        let mut writer = Self {
            dir: dir.to_path_buf(),
            spec_sha256: spec.sha256().into(),
            checkpoint_interval: u64::from(spec.checkpoint_interval),
            leaves: Vec::new(),
            files: Vec::new(),
            progress: fs::File::create(&progress_path)
                .map_err(|e| PotError::io(&progress_path, e))?,
        };
        writer.write_file(SPEC_FILE, &spec.canonical_json())?;
        Ok(writer)
    }

    /// Takes up the interrupted training of `spec` in `dir`: the checkpoints its progress file
    /// records, each read back and checked (shape, step), up to the first missing or torn one.
    /// Returns the writer and the last checkpoint to train on from, or `None` when `dir` holds
    /// no resumable run of this spec.
    pub fn resume(
        dir: &Path,
        spec: &TaskSpec,
        plan: &TrainingPlan,
    ) -> Result<Option<(Self, Checkpoint)>, PotError> {
        let progress_path = dir.join(PROGRESS_FILE);
        let Ok(recorded) = fs::read_to_string(&progress_path) else {
            return Ok(None);
        };
        let spec_json = spec.canonical_json();
        match read_bundle_file(dir, SPEC_FILE, limits::MAX_SPEC_BYTES) {
            Ok(written) if written == spec_json => {}
            _ => return Ok(None),
        }
        let (params, state) = (
            plan.architecture.parameter_count(),
            plan.optimizer_state_len,
        );
        let mut files = vec![ManifestEntry {
            path: SPEC_FILE.into(),
            bytes: spec_json.len() as u64,
            sha256: Sha256Hex::of(&spec_json),
        }];
        let mut leaves = Vec::new();
        let mut kept = String::new();
        let mut last = None;
        for (line, expected_step) in recorded.lines().zip(plan.checkpoint_steps()) {
            let Ok(entry) = serde_json::from_str::<ProgressLine>(line) else {
                break;
            };
            let relative = checkpoint_path(entry.step);
            let Ok(bytes) = read_bundle_file(dir, &relative, checkpoint_file_bytes(params, state))
            else {
                break;
            };
            let Ok(mut checkpoint) = decode_checkpoint(&bytes, params, state) else {
                break;
            };
            if entry.step != expected_step || checkpoint.step != entry.step {
                break;
            }
            checkpoint.loss = f32::from_bits(entry.loss_bits);
            files.push(ManifestEntry {
                path: relative,
                bytes: bytes.len() as u64,
                sha256: Sha256Hex::of(&bytes),
            });
            leaves.push(Leaf::of(&checkpoint));
            kept.push_str(line);
            kept.push('\n');
            last = Some(checkpoint);
        }
        let Some(last) = last else {
            return Ok(None);
        };
        // A torn last line or checkpoint is dropped: training redoes it.
        fs::write(&progress_path, kept).map_err(|e| PotError::io(&progress_path, e))?;
        let progress = fs::OpenOptions::new()
            .append(true)
            .open(&progress_path)
            .map_err(|e| PotError::io(&progress_path, e))?;
        let writer = Self {
            dir: dir.to_path_buf(),
            spec_sha256: spec.sha256().into(),
            checkpoint_interval: u64::from(spec.checkpoint_interval),
            leaves,
            files,
            progress,
        };
        Ok(Some((writer, last)))
    }

    fn write_file(&mut self, relative: &str, bytes: &[u8]) -> Result<Sha256Hex, PotError> {
        let path = self.dir.join(relative);
        fs::write(&path, bytes).map_err(|e| PotError::io(&path, e))?;
        let sha256 = Sha256Hex::of(bytes);
        self.files.push(ManifestEntry {
            path: relative.to_string(),
            bytes: bytes.len() as u64,
            sha256,
        });
        Ok(sha256)
    }

    /// Writes a checkpoint file and appends its leaf.
    pub fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), PotError> {
        self.write_file(
            &checkpoint_path(checkpoint.step),
            &encode_checkpoint(checkpoint),
        )?;
        self.leaves.push(Leaf::of(checkpoint));
        let line = serde_json::to_string(&ProgressLine {
            step: checkpoint.step,
            loss_bits: checkpoint.loss.to_bits(),
        })
        .expect("a progress line serialises");
        let path = self.dir.join(PROGRESS_FILE);
        self.progress
            .write_all(format!("{line}\n").as_bytes())
            .map_err(|e| PotError::io(&path, e))
    }

    /// Writes the final model, the transcript with the claimed accuracy, and the manifest.
    pub fn finish(
        mut self,
        final_params: &[f32],
        accuracy_ppm: u32,
        eval_rows: u64,
    ) -> Result<BundleSummary, PotError> {
        let final_model_sha256 = self.write_file(MODEL_FILE, &encode_model(final_params))?;
        let transcript = Transcript {
            v: BUNDLE_VERSION,
            spec_sha256: self.spec_sha256,
            total_steps: self.leaves.last().map_or(0, |leaf| leaf.step),
            checkpoint_interval: self.checkpoint_interval,
            root: merkle_root(&self.leaves),
            leaves: std::mem::take(&mut self.leaves),
            final_model_sha256,
            accuracy_ppm,
            eval_rows,
        };
        let transcript_json =
            serde_json::to_vec_pretty(&transcript).expect("a transcript always serialises");
        self.write_file(TRANSCRIPT_FILE, &transcript_json)?;
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest {
            v: BUNDLE_VERSION,
            files: std::mem::take(&mut self.files),
        };
        let manifest_json =
            serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
        // The manifest appears whole or not at all, and only then does the progress file go.
        let manifest_path = self.dir.join(MANIFEST_FILE);
        let staging = self.dir.join(format!(".{MANIFEST_FILE}.tmp"));
        fs::write(&staging, &manifest_json).map_err(|e| PotError::io(&staging, e))?;
        fs::rename(&staging, &manifest_path).map_err(|e| PotError::io(&manifest_path, e))?;
        let progress_path = self.dir.join(PROGRESS_FILE);
        fs::remove_file(&progress_path).map_err(|e| PotError::io(&progress_path, e))?;
        Ok(BundleSummary {
            transcript,
            bundle_sha256: Sha256Hex::of(&manifest_json),
        })
    }
}

impl BundleSummary {
    /// The summary of a finished bundle of `spec` in `dir` (its manifest and transcript), for a
    /// trainer that finished training before an interruption.
    pub fn read(dir: &Path, spec: &TaskSpec) -> Result<Self, PotError> {
        let read = |name: &str, max_bytes: u64| {
            read_bundle_file(dir, name, max_bytes).map_err(|detail| PotError::File {
                path: dir.join(name),
                detail,
            })
        };
        let entries = limits::MAX_CHECKPOINTS + 4;
        let manifest = read(MANIFEST_FILE, 4096 + 200 * entries)?;
        let transcript: Transcript =
            serde_json::from_slice(&read(TRANSCRIPT_FILE, 4096 + 400 * entries)?)
                .map_err(|e| PotError::Bundle(format!("{TRANSCRIPT_FILE}: {e}")))?;
        if transcript.spec_sha256 != Sha256Hex::from(spec.sha256())
            || transcript.root != merkle_root(&transcript.leaves)
        {
            return Err(PotError::Bundle(format!(
                "{} holds another spec's bundle or a damaged transcript",
                dir.display()
            )));
        }
        Ok(Self {
            transcript,
            bundle_sha256: Sha256Hex::of(&manifest),
        })
    }
}

/// Trains `spec` on `data` and writes the bundle to `out`; `on_checkpoint(step, loss)` reports
/// progress after each checkpoint. When `out` holds an interrupted run of the same spec, training
/// resumes from its last checkpoint (same bytes in the end: the engine is deterministic);
/// otherwise `out` must not exist or be empty.
pub fn train_bundle(
    spec: &TaskSpec,
    data: &PreparedData,
    out: &Path,
    exec: &Exec,
    mut on_checkpoint: impl FnMut(u64, f32),
) -> Result<BundleSummary, PotError> {
    let plan = spec.validate()?;
    let mut trainer = Trainer::new(spec, &plan, data, exec)?;
    let (mut writer, start) = match BundleWriter::resume(out, spec, &plan)? {
        Some(resumed) => resumed,
        None => {
            let mut writer = BundleWriter::create(out, spec)?;
            let initial = trainer.initial_checkpoint();
            writer.write_checkpoint(&initial)?;
            (writer, initial)
        }
    };
    on_checkpoint(start.step, start.loss);
    let last = trainer.train_from(start, |checkpoint| {
        writer.write_checkpoint(checkpoint)?;
        on_checkpoint(checkpoint.step, checkpoint.loss);
        Ok(())
    })?;
    let evaluation = trainer.evaluate(&last.params);
    writer.finish(&last.params, evaluation.accuracy_ppm(), evaluation.rows)
}

impl From<[u8; 32]> for Sha256Hex {
    fn from(bytes: [u8; 32]) -> Self {
        Sha256Hex(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::tensor_hash;

    #[test]
    fn checkpoint_paths_parse_back_to_their_step_only() {
        for step in [0, 7, 600, 99_999_999, 9_999_999_999] {
            assert_eq!(parse_checkpoint_path(&checkpoint_path(step)), Some(step));
        }
        for path in [
            "checkpoints/step-600.ckpt",
            "checkpoints/step-00000006000.ckpt",
            "checkpoints/step-+000000600.ckpt",
            "checkpoints/step-0000000600.ckpt.bak",
            "checkpoints/step-000000060a.ckpt",
            "step-0000000600.ckpt",
            "model.bin",
        ] {
            assert_eq!(parse_checkpoint_path(path), None, "{path}");
        }
    }

    #[test]
    fn checkpoint_round_trips_and_rejects_wrong_shapes() {
        let checkpoint = Checkpoint {
            step: 42,
            params: vec![1.0, -2.0, 3.5],
            optimizer_state: vec![0.25; 3],
            loss: 0.0,
        };
        let bytes = encode_checkpoint(&checkpoint);
        assert_eq!(bytes.len() as u64, checkpoint_file_bytes(3, 3));
        assert_eq!(decode_checkpoint(&bytes, 3, 3).unwrap(), checkpoint);
        let (_, hashes) = decode_checkpoint_hashed(&bytes, 3, 3).unwrap();
        assert_eq!(
            hashes,
            [
                tensor_hash(&checkpoint.params),
                tensor_hash(&checkpoint.optimizer_state)
            ]
        );
        assert!(
            decode_checkpoint(&bytes[..bytes.len() - 1], 3, 3)
                .unwrap_err()
                .contains("expected")
        );
        assert!(
            decode_checkpoint(&bytes, 2, 4)
                .unwrap_err()
                .contains("shapes")
        );
        let model = encode_model(&checkpoint.params);
        assert_eq!(decode_model(&model, 3).unwrap(), checkpoint.params);
        assert!(decode_model(&model, 4).unwrap_err().contains("expected"));
    }
}
