//! The files a judgement reads, fetched through the same storage backends as the trainer's
//! agent uses ([`matrixai_chain::storage`]).
//!
//! The manifest comes first, bounded and checked against the sha256 the trainer committed on
//! chain; then only what the verifier opens (spec, transcript, model, and the two checkpoints of
//! each replayed segment), each at most the size the order's spec implies and checked against
//! the manifest's sha256. So a hostile bundle cannot make the validator download more than a
//! judgement needs, and the disk a judgement takes is known before it starts.

use crate::ValidatorError;
use matrixai_chain::storage::{Storage, StorageError};
use matrixai_pot::bundle::{self, MANIFEST_FILE, MODEL_FILE, Manifest, SPEC_FILE, TRANSCRIPT_FILE};
use matrixai_pot::spec::{DatasetSpec, limits};
use matrixai_pot::{Commitment, TaskSpec, TrainingPlan};
use std::path::{Path, PathBuf};

/// Why what a judgement needs could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// The trainer's fault: the bundle is not where it said, not what it committed to, or
    /// larger than the order allows. The proof fails.
    Fault(String),
    /// The storage could not be reached (or the buyer's dataset is not there): nobody's proven
    /// fault, so the validator retries, then leaves the order to the documented timeout rule.
    Unreachable(String),
}

/// What was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Fetched {
    pub files: usize,
    pub bytes: u64,
}

/// `relative` under the directory URI `base`.
pub fn join_uri(base: &str, relative: &str) -> String {
    if base.ends_with('/') {
        format!("{base}{relative}")
    } else {
        format!("{base}/{relative}")
    }
}

/// The checkpoint files replaying `segments` reads: both ends of each.
pub fn checkpoints_of(plan: &TrainingPlan, segments: &[usize]) -> Vec<String> {
    let steps = plan.checkpoint_steps();
    let mut paths: Vec<String> = segments
        .iter()
        .filter(|&&segment| segment + 1 < steps.len())
        .flat_map(|&segment| [steps[segment], steps[segment + 1]])
        .map(bundle::checkpoint_path)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// Fetches the bundle files a judgement of `plan` reads into `dest`: the manifest, the spec,
/// transcript and model, and the `checkpoints` named. A file the manifest does not list, or
/// lists with a size the spec's shapes rule out, is not fetched: the verifier then reports it.
pub async fn bundle(
    storage: &Storage,
    commitment: &Commitment,
    plan: &TrainingPlan,
    checkpoints: &[String],
    dest: &Path,
) -> Result<Result<Fetched, FetchFailure>, ValidatorError> {
    let mut fetched = Fetched::default();
    let manifest_path = dest.join(MANIFEST_FILE);
    let manifest_uri = join_uri(&commitment.bundle_uri, MANIFEST_FILE);
    fetched.bytes += match fetch_one(
        storage,
        &manifest_uri,
        &manifest_path,
        bundle::MAX_MANIFEST_BYTES,
        &commitment.bundle_sha256.0,
    )
    .await?
    {
        Ok(bytes) => bytes,
        Err(failure) => return Ok(Err(failure)),
    };
    fetched.files += 1;
    let manifest: Manifest = match std::fs::read(&manifest_path)
        .map_err(|e| ValidatorError::io(&manifest_path, e))
        .map(|bytes| serde_json::from_slice(&bytes))?
    {
        Ok(manifest) => manifest,
        // The verifier rejects it with the parser's reason.
        Err(_) => return Ok(Ok(fetched)),
    };
    let params = plan.architecture.parameter_count();
    let bounds = [
        (SPEC_FILE.to_string(), limits::MAX_SPEC_BYTES),
        (
            TRANSCRIPT_FILE.to_string(),
            bundle::max_transcript_bytes(plan),
        ),
        (MODEL_FILE.to_string(), bundle::model_file_bytes(params)),
    ]
    .into_iter()
    .chain(checkpoints.iter().map(|path| {
        (
            path.clone(),
            bundle::checkpoint_file_bytes(params, plan.optimizer_state_len),
        )
    }));
    for (path, bound) in bounds {
        let Some(entry) = manifest.files.iter().find(|entry| entry.path == path) else {
            continue;
        };
        if entry.bytes > bound {
            continue;
        }
        let uri = join_uri(&commitment.bundle_uri, &path);
        match fetch_one(
            storage,
            &uri,
            &dest.join(&path),
            entry.bytes,
            &entry.sha256.0,
        )
        .await?
        {
            Ok(bytes) => {
                fetched.files += 1;
                fetched.bytes += bytes;
            }
            Err(failure) => return Ok(Err(failure)),
        }
    }
    Ok(Ok(fetched))
}

async fn fetch_one(
    storage: &Storage,
    uri: &str,
    dest: &Path,
    max_bytes: u64,
    sha256: &[u8; 32],
) -> Result<Result<u64, FetchFailure>, ValidatorError> {
    match storage.fetch(uri, dest, max_bytes, Some(sha256)).await {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(
            error @ (StorageError::NotFound { .. }
            | StorageError::Mismatch { .. }
            | StorageError::TooLarge { .. }
            | StorageError::Unsupported(_)),
        ) => Ok(Err(FetchFailure::Fault(error.to_string()))),
        Err(error @ StorageError::Unreachable { .. }) => {
            Ok(Err(FetchFailure::Unreachable(error.to_string())))
        }
        Err(StorageError::Io { path, source }) => Err(ValidatorError::io(&path, source)),
    }
}

/// The order's CSV dataset, kept by sha256 in `datasets_dir` across judgements; `None` for a
/// bundled one. Any failure is [`FetchFailure::Unreachable`]: the dataset is the buyer's, and
/// the trainer had it.
pub async fn dataset(
    storage: &Storage,
    spec: &TaskSpec,
    datasets_dir: &Path,
    max_bytes: u64,
) -> Result<Result<Option<PathBuf>, FetchFailure>, ValidatorError> {
    let DatasetSpec::Csv { uri, sha256, .. } = &spec.dataset else {
        return Ok(Ok(None));
    };
    let mut expected = [0u8; 32];
    if hex::decode_to_slice(sha256, &mut expected).is_err() {
        return Ok(Err(FetchFailure::Unreachable(
            "the order's dataset.sha256 is not 64 hex digits".into(),
        )));
    }
    let dest = datasets_dir.join(format!("{sha256}.csv"));
    match storage.fetch(uri, &dest, max_bytes, Some(&expected)).await {
        Ok(_) => Ok(Ok(Some(dest))),
        Err(StorageError::Io { path, source }) => Err(ValidatorError::io(&path, source)),
        Err(error) => Ok(Err(FetchFailure::Unreachable(format!(
            "the order's dataset: {error}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_join_with_one_slash() {
        assert_eq!(join_uri("s3://b/p/", "model.bin"), "s3://b/p/model.bin");
        assert_eq!(join_uri("ipfs://Qm", "model.bin"), "ipfs://Qm/model.bin");
    }

    #[test]
    fn a_segment_needs_both_its_checkpoints() {
        let spec = TaskSpec::from_json(matrixai_pot::examples::IRIS_SOFTMAX.as_bytes()).unwrap();
        let plan = spec.validate().unwrap();
        let steps = plan.checkpoint_steps();
        let last = plan.segment_count() - 1;
        let paths = checkpoints_of(&plan, &[0, 1, last, last + 1]);
        let expected: Vec<String> = [steps[0], steps[1], steps[2], steps[last], steps[last + 1]]
            .into_iter()
            .map(bundle::checkpoint_path)
            .collect();
        assert_eq!(paths, expected);
    }
}
