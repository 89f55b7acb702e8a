//! Errors of the library. A cheating or malformed bundle is not an error: the verifier reports
//! it as a rejection; these are problems with the caller's own inputs and files.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("task spec is not valid JSON for format v1: {0}")]
    Parse(String),
    #[error(
        "task spec is {bytes} bytes, more than the {max} allowed; publish a hash and URI instead"
    )]
    TooLarge { bytes: u64, max: u64 },
    #[error("task spec has version {found}; this build reads version {supported}")]
    Version { found: u32, supported: u32 },
    #[error("task spec is inconsistent: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PotError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("dataset: {0}")]
    Dataset(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("training diverged: the loss is {loss} at step {step}; lower the learning rate")]
    Diverged { step: u64, loss: f32 },
    #[error("output directory {0} already exists and is not empty; choose a new one")]
    OutputNotEmpty(PathBuf),
    #[error("commitment: {0}")]
    Commitment(String),
    #[error("bundle: {0}")]
    Bundle(String),
    #[error("{path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("cannot start {threads} worker threads: {detail}")]
    Threads { threads: usize, detail: String },
    #[error("attack not applicable to this order: {0}")]
    AttackNotApplicable(String),
    #[error("benchmark: {0}")]
    Bench(String),
}

impl PotError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PotError::Io {
            path: path.into(),
            source,
        }
    }
}
