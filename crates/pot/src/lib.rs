//! Proof of Training for MatrixAI.
//!
//! A buyer pays only for training that was done as the order says. This crate holds the task
//! spec every part of MatrixAI shares, a deterministic training engine (bit-identical results
//! whatever the thread count or the SIMD width the CPU offers: fixed-order kernels, no FMA, no
//! platform maths), the training transcript (checkpoints every k steps under a Merkle root) and
//! the verifier that replays sampled segments exactly.
//!
//! Trainer agent: [`TaskSpec::from_json`] -> [`PreparedData::for_spec`] -> [`train_bundle`] ->
//! [`Commitment::new`]. Validator: [`Verifier::new`] -> [`Verifier::verify`].
//! The protocol is described in `docs/proof-of-training.md`.

pub mod attacks;
pub mod bench;
pub mod bundle;
pub mod chacha;
pub mod commitment;
pub mod dataset;
pub mod drill;
pub mod error;
pub mod estimate;
pub mod examples;
pub mod fixed_math;
pub mod kernels;
pub mod model;
pub mod optim;
pub mod spec;
pub mod train;
pub mod transcript;
pub mod verify;

pub use bundle::{BundleSummary, BundleWriter, train_bundle};
pub use commitment::Commitment;
pub use dataset::PreparedData;
pub use error::{PotError, SpecError};
pub use kernels::Exec;
pub use spec::{TaskSpec, TrainingPlan};
pub use train::{Checkpoint, Evaluation, Trainer};
pub use transcript::{Sha256Hex, Transcript};
pub use verify::{Rejection, Report, Verdict, Verifier};
