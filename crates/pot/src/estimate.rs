//! How long an order's training takes on a machine, before anybody pays for it: the trainer
//! agent refuses an order it cannot finish in time, and the indexer shows buyers the time and
//! cost (docs/estimation.md).
//!
//! The machine is described by what its agent measured: the engine's samples/s on the
//! `digits-mlp` example spec, which with that spec's FLOPs per sample gives the machine's
//! effective training FLOP rate, and its disk speed. A spec's training time is its total FLOPs
//! (steps × batch × [`Architecture::training_flops_per_sample`]) at that rate; checkpoints add
//! their bytes written and hashed, evaluation its forward passes, a CSV dataset its download.

use crate::error::SpecError;
use crate::examples;
use crate::model::Architecture;
use crate::spec::{DatasetSpec, TaskSpec};
use serde::Serialize;

/// What a machine's agent measured (the machine metadata's performance figures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineSpeed {
    /// The engine's samples/s training the `digits-mlp` example spec.
    pub reference_samples_per_s: f64,
    pub disk_write_mbps: f64,
    /// Assumed download speed of a dataset, in MB/s.
    pub download_mbps: f64,
}

/// An estimate, in seconds, by part.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub download_s: f64,
    pub train_s: f64,
    pub checkpoint_s: f64,
    pub evaluate_s: f64,
    pub total_s: f64,
}

/// sha256 of checkpoint bytes, MB/s: a conservative figure for one core.
const HASH_MBPS: f64 = 500.0;
/// Bytes a CSV cell takes, for a dataset whose size is not known before it is fetched.
const CSV_BYTES_PER_VALUE: f64 = 8.0;

/// FLOPs per training sample of the reference spec the machine's throughput was measured on.
pub fn reference_flops_per_sample() -> u64 {
    let spec = TaskSpec::from_json(examples::DIGITS_MLP.as_bytes()).expect("a valid example");
    spec.validate()
        .expect("a valid example")
        .architecture
        .training_flops_per_sample()
}

/// Estimates `spec` on a machine of `speed`; an invalid spec is an error.
pub fn estimate(spec: &TaskSpec, speed: &MachineSpeed) -> Result<Estimate, SpecError> {
    let plan = spec.validate()?;
    if !(speed.reference_samples_per_s > 0.0
        && speed.disk_write_mbps > 0.0
        && speed.download_mbps > 0.0)
    {
        return Err(SpecError::Invalid(
            "machine speeds must be positive numbers".into(),
        ));
    }
    let flop_rate = speed.reference_samples_per_s * reference_flops_per_sample() as f64;
    let arch: &Architecture = &plan.architecture;
    let flops = arch.training_flops_per_sample() as f64;
    let train_s = (plan.total_steps * plan.batch_size) as f64 * flops / flop_rate;
    // Evaluation is a forward pass: a third of a training sample's work.
    let evaluate_s = plan.eval_rows as f64 * flops / 3.0 / flop_rate;
    let checkpoint_bytes =
        crate::bundle::checkpoint_file_bytes(arch.parameter_count(), plan.optimizer_state_len)
            as f64;
    let checkpoints = plan.checkpoint_steps().len() as f64;
    let checkpoint_s =
        checkpoints * checkpoint_bytes / 1e6 * (1.0 / speed.disk_write_mbps + 1.0 / HASH_MBPS);
    let download_s = match &spec.dataset {
        DatasetSpec::Bundled { .. } => 0.0,
        DatasetSpec::Csv { .. } => {
            let values = plan.shape.rows as f64 * (plan.shape.feature_len() + 1) as f64;
            values * CSV_BYTES_PER_VALUE / 1e6 / speed.download_mbps
        }
    };
    Ok(Estimate {
        download_s,
        train_s,
        checkpoint_s,
        evaluate_s,
        total_s: download_s + train_s + checkpoint_s + evaluate_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEED: MachineSpeed = MachineSpeed {
        reference_samples_per_s: 100_000.0,
        disk_write_mbps: 500.0,
        download_mbps: 10.0,
    };

    #[test]
    fn the_reference_spec_trains_at_the_measured_rate() {
        let spec = TaskSpec::from_json(examples::DIGITS_MLP.as_bytes()).unwrap();
        let plan = spec.validate().unwrap();
        let estimate = estimate(&spec, &SPEED).unwrap();
        let samples = (plan.total_steps * plan.batch_size) as f64;
        assert!((estimate.train_s - samples / 100_000.0).abs() < 1e-9);
        assert_eq!(
            estimate.download_s, 0.0,
            "a bundled dataset downloads nothing"
        );
        let sum = estimate.train_s + estimate.checkpoint_s + estimate.evaluate_s;
        assert!((estimate.total_s - sum).abs() < 1e-12);
    }

    #[test]
    fn time_scales_with_epochs_and_halves_on_a_machine_twice_as_fast() {
        let mut spec = TaskSpec::from_json(examples::DIGITS_CNN.as_bytes()).unwrap();
        let base = estimate(&spec, &SPEED).unwrap();
        spec.epochs *= 2;
        let longer = estimate(&spec, &SPEED).unwrap();
        assert!((longer.train_s / base.train_s - 2.0).abs() < 0.05);
        let faster = MachineSpeed {
            reference_samples_per_s: 200_000.0,
            ..SPEED
        };
        let fast = estimate(&spec, &faster).unwrap();
        assert!((longer.train_s / fast.train_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn nonsense_speeds_are_refused() {
        let spec = TaskSpec::from_json(examples::IRIS_SOFTMAX.as_bytes()).unwrap();
        let zero = MachineSpeed {
            reference_samples_per_s: 0.0,
            ..SPEED
        };
        assert!(estimate(&spec, &zero).is_err());
        let nan = MachineSpeed {
            disk_write_mbps: f64::NAN,
            ..SPEED
        };
        assert!(estimate(&spec, &nan).is_err());
    }
}
