//! How long an order's training takes on a machine, before anybody pays for it: the trainer
//! agent refuses an order it cannot finish in time, and the indexer shows buyers the time and
//! cost (docs/estimation.md).
//!
//! The machine is described by what its agent measured: the engine's samples/s on the
//! `digits-mlp` example spec, the fixed cost of one optimizer step (an `iris-softmax` step,
//! whose arithmetic is negligible), the fixed cost of writing a checkpoint file, and its disk
//! speed. A step of any spec costs the fixed step cost plus its FLOPs (batch × FLOPs per sample
//! plus the optimizer's update) at the machine's effective FLOP rate, which the `digits-mlp`
//! measurement gives once its own fixed cost is taken out. Checkpoints add their fixed cost and
//! their bytes written and hashed, evaluation its forward passes, a CSV dataset its download.

use crate::error::SpecError;
use crate::examples;
use crate::spec::{DatasetSpec, OptimizerSpec, TaskSpec, TrainingPlan};
use serde::Serialize;

/// What a machine's agent measured (the machine metadata's performance figures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineSpeed {
    /// The engine's samples/s training the `digits-mlp` example spec.
    pub reference_samples_per_s: f64,
    /// The engine's samples/s training the `digits-cnn` example spec.
    pub conv_reference_samples_per_s: f64,
    /// Fixed seconds of one optimizer step, and per layer and step.
    pub step_overhead_s: f64,
    pub layer_overhead_s: f64,
    /// Seconds of writing one checkpoint file of the `digits-mlp` example's size, and one of
    /// `iris-softmax`'s (tiny): other sizes are interpolated (or extrapolated) between them.
    pub checkpoint_s: f64,
    pub small_checkpoint_s: f64,
    pub disk_write_mbps: f64,
    /// Assumed download speed of a dataset, in MB/s.
    pub download_mbps: f64,
}

impl MachineSpeed {
    /// Download speed assumed for a dataset, MB/s, until the machine measures its own.
    pub const ASSUMED_DOWNLOAD_MBPS: f64 = 10.0;

    /// From the figures of a machine's metadata (`train_samples_per_s`,
    /// `conv_train_samples_per_s`, `step_overhead_us`, `layer_overhead_us`, `checkpoint_ms`,
    /// `disk_write_mbps`).
    pub fn from_measurements(
        [train_samples_per_s, conv_train_samples_per_s]: [f64; 2],
        [step_overhead_us, layer_overhead_us]: [f64; 2],
        [small_checkpoint_ms, checkpoint_ms]: [f64; 2],
        disk_write_mbps: f64,
    ) -> Self {
        Self {
            reference_samples_per_s: train_samples_per_s,
            conv_reference_samples_per_s: conv_train_samples_per_s,
            step_overhead_s: step_overhead_us / 1e6,
            layer_overhead_s: layer_overhead_us / 1e6,
            checkpoint_s: checkpoint_ms / 1e3,
            small_checkpoint_s: small_checkpoint_ms / 1e3,
            disk_write_mbps,
            download_mbps: Self::ASSUMED_DOWNLOAD_MBPS,
        }
    }
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

/// A trainer's agent accepts an order when this many times the estimate, plus
/// [`REPORTING_SECONDS`], fits before the order's deadline.
pub const ESTIMATE_MARGIN: f64 = 1.5;
/// Room for uploading the bundle and the two chain calls after training.
pub const REPORTING_SECONDS: f64 = 60.0;

impl Estimate {
    /// The time an order must leave for a trainer's agent to accept it.
    pub fn needed_s(&self) -> f64 {
        self.total_s * ESTIMATE_MARGIN + REPORTING_SECONDS
    }

    /// The hours of rented time to order: [`Self::needed_s`] rounded up to whole hours.
    pub fn hours_to_order(&self) -> u32 {
        (self.needed_s() / 3600.0)
            .ceil()
            .clamp(1.0, u32::MAX as f64) as u32
    }
}

/// Bytes a CSV cell takes, for a dataset whose size is not known before it is fetched.
const CSV_BYTES_PER_VALUE: f64 = 8.0;

/// FLOPs of one optimizer step: the update's arithmetic per parameter times the parameters.
fn optimizer_flops(optimizer: &OptimizerSpec, parameters: usize) -> f64 {
    let per_parameter = match optimizer {
        OptimizerSpec::Sgd { .. } => 5.0,
        OptimizerSpec::Adam { .. } => 12.0,
    };
    per_parameter * parameters as f64
}

/// FLOPs of one step of `plan`, convolutions' and the rest (the batch forward and backward,
/// then the update).
fn step_flops(spec: &TaskSpec, plan: &TrainingPlan) -> (f64, f64) {
    let arch = &plan.architecture;
    let (convolution, other) = arch.training_flops_by_kind();
    let batch = plan.batch_size as f64;
    (
        batch * convolution as f64,
        batch * other as f64 + optimizer_flops(&spec.optimizer, arch.parameter_count()),
    )
}

/// Fixed seconds of one step of `plan`: per step, and per layer.
fn fixed_step_s(plan: &TrainingPlan, speed: &MachineSpeed) -> f64 {
    speed.step_overhead_s + plan.architecture.layers.len() as f64 * speed.layer_overhead_s
}

/// Measured seconds of one step of an example spec, less its fixed cost (kept at a tenth of the
/// step at least, should a machine's measurements disagree).
fn example_compute_s(
    json: &str,
    samples_per_s: f64,
    speed: &MachineSpeed,
) -> (f64, TaskSpec, TrainingPlan) {
    let spec = TaskSpec::from_json(json.as_bytes()).expect("a valid example");
    let plan = spec.validate().expect("a valid example");
    let step_s = plan.batch_size as f64 / samples_per_s;
    (
        (step_s - fixed_step_s(&plan, speed)).max(0.1 * step_s),
        spec,
        plan,
    )
}

/// The machine's effective FLOP rates, `(convolution, other)`: `digits-mlp`'s step FLOPs over
/// its compute time give the second; `digits-cnn`'s convolution FLOPs over what is left of its
/// compute time, the first.
fn flop_rates(speed: &MachineSpeed) -> (f64, f64) {
    let (mlp_s, mlp, mlp_plan) =
        example_compute_s(examples::DIGITS_MLP, speed.reference_samples_per_s, speed);
    let (_, mlp_other) = step_flops(&mlp, &mlp_plan);
    let other_rate = mlp_other / mlp_s;
    let (cnn_s, cnn, cnn_plan) = example_compute_s(
        examples::DIGITS_CNN,
        speed.conv_reference_samples_per_s,
        speed,
    );
    let (cnn_convolution, cnn_other) = step_flops(&cnn, &cnn_plan);
    let convolution_s = (cnn_s - cnn_other / other_rate).max(0.1 * cnn_s);
    (cnn_convolution / convolution_s, other_rate)
}

/// Bytes of a checkpoint of an example spec.
fn example_checkpoint_bytes(json: &str) -> f64 {
    let spec = TaskSpec::from_json(json.as_bytes()).expect("a valid example");
    let plan = spec.validate().expect("a valid example");
    crate::bundle::checkpoint_file_bytes(
        plan.architecture.parameter_count(),
        plan.optimizer_state_len,
    ) as f64
}

/// Seconds of one checkpoint of `bytes`: a line through the two measured sizes (writing and
/// hashing included), never below the tiny one's cost.
fn one_checkpoint_s(bytes: f64, speed: &MachineSpeed) -> f64 {
    let (small, large) = (
        example_checkpoint_bytes(examples::IRIS_SOFTMAX),
        example_checkpoint_bytes(examples::DIGITS_MLP),
    );
    let per_byte = ((speed.checkpoint_s - speed.small_checkpoint_s) / (large - small)).max(0.0);
    speed.small_checkpoint_s + (bytes - small).max(0.0) * per_byte
}

/// Estimates `spec` on a machine of `speed`; an invalid spec is an error.
pub fn estimate(spec: &TaskSpec, speed: &MachineSpeed) -> Result<Estimate, SpecError> {
    let plan = spec.validate()?;
    let positive = [
        speed.reference_samples_per_s,
        speed.disk_write_mbps,
        speed.download_mbps,
    ];
    let non_negative = [
        speed.step_overhead_s,
        speed.layer_overhead_s,
        speed.checkpoint_s,
        speed.small_checkpoint_s,
    ];
    if !positive.iter().all(|v| v.is_finite() && *v > 0.0)
        || !non_negative.iter().all(|v| v.is_finite() && *v >= 0.0)
    {
        return Err(SpecError::Invalid(
            "machine speeds must be positive numbers (overheads zero or more)".into(),
        ));
    }
    let (convolution_rate, other_rate) = flop_rates(speed);
    let arch = &plan.architecture;
    let (convolution, other) = step_flops(spec, &plan);
    let compute_s = convolution / convolution_rate + other / other_rate;
    let train_s = plan.total_steps as f64 * (fixed_step_s(&plan, speed) + compute_s);
    // Evaluation is a forward pass: a third of a training sample's work.
    let (eval_convolution, eval_other) = arch.training_flops_by_kind();
    let evaluate_s = plan.eval_rows as f64
        * (eval_convolution as f64 / convolution_rate + eval_other as f64 / other_rate)
        / 3.0;
    let checkpoint_bytes =
        crate::bundle::checkpoint_file_bytes(arch.parameter_count(), plan.optimizer_state_len)
            as f64;
    let checkpoints = plan.checkpoint_steps().len() as f64;
    let checkpoint_s = checkpoints * one_checkpoint_s(checkpoint_bytes, speed);
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
        conv_reference_samples_per_s: 20_000.0,
        step_overhead_s: 0.0,
        layer_overhead_s: 0.0,
        checkpoint_s: 0.0,
        small_checkpoint_s: 0.0,
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
    fn the_convolution_reference_trains_at_its_measured_rate() {
        let spec = TaskSpec::from_json(examples::DIGITS_CNN.as_bytes()).unwrap();
        let plan = spec.validate().unwrap();
        let with_overheads = MachineSpeed {
            step_overhead_s: 10e-6,
            layer_overhead_s: 5e-6,
            ..SPEED
        };
        let estimate = estimate(&spec, &with_overheads).unwrap();
        let samples = (plan.total_steps * plan.batch_size) as f64;
        assert!((estimate.train_s - samples / 20_000.0).abs() < 1e-9);
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
            conv_reference_samples_per_s: 40_000.0,
            ..SPEED
        };
        let fast = estimate(&spec, &faster).unwrap();
        assert!((longer.train_s / fast.train_s - 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_fixed_step_cost_dominates_tiny_models() {
        let spec = TaskSpec::from_json(examples::IRIS_SOFTMAX.as_bytes()).unwrap();
        let plan = spec.validate().unwrap();
        let with_overhead = MachineSpeed {
            step_overhead_s: 50e-6,
            ..SPEED
        };
        let estimate = estimate(&spec, &with_overhead).unwrap();
        let overhead = plan.total_steps as f64 * 50e-6;
        assert!(estimate.train_s > overhead && estimate.train_s < 1.1 * overhead);
        // The reference spec itself still trains at the measured rate: the overhead is part of
        // its measured step, not added to it.
        let reference = TaskSpec::from_json(examples::DIGITS_MLP.as_bytes()).unwrap();
        let reference_plan = reference.validate().unwrap();
        let samples = (reference_plan.total_steps * reference_plan.batch_size) as f64;
        let reference_estimate = super::estimate(&reference, &with_overhead).unwrap();
        assert!((reference_estimate.train_s - samples / 100_000.0).abs() < 1e-9);
    }

    #[test]
    fn orders_need_the_margin_rounded_up_to_hours() {
        let estimate = |total_s| Estimate {
            download_s: 0.0,
            train_s: total_s,
            checkpoint_s: 0.0,
            evaluate_s: 0.0,
            total_s,
        };
        assert_eq!(estimate(1.0).hours_to_order(), 1);
        assert_eq!(estimate(2360.0).needed_s(), 3600.0);
        assert_eq!(estimate(2360.0).hours_to_order(), 1);
        assert_eq!(estimate(2361.0).hours_to_order(), 2);
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
