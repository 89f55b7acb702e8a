//! The task spec: the one JSON format that orders, the UI and the trainer agent share.
//!
//! Everything that makes training vary is fixed here, so a validator can replay any part of it.
//! See `docs/proof-of-training.md` for the field-by-field description.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{BundledDataset, DatasetShape};
use crate::error::SpecError;

/// The spec format version this crate reads and writes.
pub const SPEC_VERSION: u32 = 1;

/// Upper bounds that keep a hostile or mistyped spec from exhausting memory or time.
pub mod limits {
    pub const MAX_SPEC_BYTES: u64 = 64 * 1024;
    pub const MAX_LAYERS: usize = 32;
    pub const MAX_UNITS: u32 = 65_536;
    pub const MAX_KERNEL: u32 = 15;
    pub const MAX_PARAMETERS: usize = 50_000_000;
    pub const MAX_ACTIVATIONS_PER_SAMPLE: usize = 16_000_000;
    /// Floats of activations, patches and gradients one batch may need (1 GiB).
    pub const MAX_BATCH_WORKSPACE: u64 = 1 << 28;
    pub const MAX_EPOCHS: u32 = 100_000;
    pub const MAX_BATCH_SIZE: u32 = 65_536;
    pub const MAX_TOTAL_STEPS: u64 = 100_000_000;
    pub const MAX_CHECKPOINTS: u64 = 100_000;
    pub const MAX_DATASET_ROWS: u64 = 10_000_000;
    pub const MAX_FEATURES: u64 = 1_000_000;
    pub const MAX_CLASSES: u32 = 100_000;
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Format version, always [`SPEC_VERSION`].
    pub v: u32,
    pub model: ModelSpec,
    pub dataset: DatasetSpec,
    pub split: SplitSpec,
    #[serde(default)]
    pub preprocess: Preprocess,
    pub optimizer: OptimizerSpec,
    pub epochs: u32,
    pub batch_size: u32,
    pub init_seed: u64,
    pub data_order_seed: u64,
    /// A checkpoint is taken every `checkpoint_interval` optimizer steps (and after the last).
    pub checkpoint_interval: u32,
    /// The order is met only when the evaluation accuracy reaches this, in parts per million.
    pub min_eval_accuracy_ppm: u32,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Applied in order; the last layer must be `dense` with one unit per class. A softmax
    /// cross-entropy loss is implied after it.
    pub layers: Vec<LayerSpec>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected layer on a flat input.
    Dense {
        units: u32,
    },
    Relu,
    /// 2-D convolution, stride 1, zero padding on each side, on an image input (H, W, C).
    Conv2d {
        out_channels: u32,
        kernel: u32,
        padding: u32,
    },
    /// Non-overlapping max pooling with a square window of `size` (stride = size).
    MaxPool2d {
        size: u32,
    },
    /// Turns an image (H, W, C) into a flat vector in that order.
    Flatten,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case", deny_unknown_fields)]
pub enum DatasetSpec {
    /// One of the datasets shipped inside this crate.
    Bundled { name: BundledDataset },
    /// A CSV file: one sample per line, `features` decimal numbers then the integer class label.
    Csv {
        uri: String,
        sha256: String,
        rows: u64,
        /// `[features]` for a flat input, or `[height, width, channels]` for an image whose
        /// values are listed row by row, channels last.
        input_shape: Vec<u32>,
        classes: u32,
    },
}

/// Which rows evaluate the model: a ChaCha20 permutation of all rows from `seed`; the first
/// `round_down(rows * eval_ppm / 1e6)` rows of it are the evaluation set, the rest train.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    pub eval_ppm: u32,
    pub seed: u64,
}

/// Feature scaling applied after the split (statistics from the training rows only).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Preprocess {
    #[default]
    None,
    /// Each feature to zero mean and unit variance over the training rows.
    Standardize,
    /// Every feature multiplied by `factor`.
    Scale { factor: f32 },
}

/// Optimizers with PyTorch's update rules (`torch.optim.SGD`, `torch.optim.Adam`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    Sgd {
        lr: f32,
        #[serde(default)]
        momentum: f32,
        #[serde(default)]
        weight_decay: f32,
        #[serde(default)]
        nesterov: bool,
    },
    Adam {
        lr: f32,
        #[serde(default = "default_beta1")]
        beta1: f32,
        #[serde(default = "default_beta2")]
        beta2: f32,
        #[serde(default = "default_eps")]
        eps: f32,
        #[serde(default)]
        weight_decay: f32,
    },
}

fn default_beta1() -> f32 {
    0.9
}
fn default_beta2() -> f32 {
    0.999
}
fn default_eps() -> f32 {
    1e-8
}

impl TaskSpec {
    /// Parses and validates a spec from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SpecError> {
        if bytes.len() as u64 > limits::MAX_SPEC_BYTES {
            return Err(SpecError::TooLarge {
                bytes: bytes.len() as u64,
                max: limits::MAX_SPEC_BYTES,
            });
        }
        let spec: TaskSpec =
            serde_json::from_slice(bytes).map_err(|e| SpecError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Canonical JSON: fields in declaration order, no whitespace. Hashes and bundles use it.
    pub fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a TaskSpec always serialises")
    }

    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_json()).into()
    }

    /// The dataset's shape as the spec declares it (bundled datasets have fixed shapes).
    pub fn dataset_shape(&self) -> DatasetShape {
        match &self.dataset {
            DatasetSpec::Bundled { name } => name.shape(),
            DatasetSpec::Csv {
                rows,
                input_shape,
                classes,
                ..
            } => DatasetShape {
                rows: *rows,
                input_shape: input_shape.clone(),
                classes: *classes,
            },
        }
    }

    /// Checks everything that can be checked without the data and returns the derived plan.
    pub fn validate(&self) -> Result<TrainingPlan, SpecError> {
        if self.v != SPEC_VERSION {
            return Err(SpecError::Version {
                found: self.v,
                supported: SPEC_VERSION,
            });
        }
        if let DatasetSpec::Csv { uri, sha256, .. } = &self.dataset {
            if uri.is_empty() || uri.len() > 2048 {
                return Err(SpecError::Invalid(
                    "dataset.uri must be 1 to 2048 bytes".into(),
                ));
            }
            if sha256.len() != 64 || hex::decode(sha256).is_err() {
                return Err(SpecError::Invalid(
                    "dataset.sha256 must be 64 hex digits".into(),
                ));
            }
        }
        let shape = self.dataset_shape();
        shape.validate()?;
        validate_range(
            "epochs",
            u64::from(self.epochs),
            1,
            u64::from(limits::MAX_EPOCHS),
        )?;
        validate_range(
            "batch_size",
            u64::from(self.batch_size),
            1,
            u64::from(limits::MAX_BATCH_SIZE),
        )?;
        if self.checkpoint_interval == 0 {
            return Err(SpecError::Invalid(
                "checkpoint_interval must be at least 1 (a checkpoint every k optimizer steps)"
                    .into(),
            ));
        }
        validate_range("split.eval_ppm", u64::from(self.split.eval_ppm), 1, 999_999)?;
        validate_range(
            "min_eval_accuracy_ppm",
            u64::from(self.min_eval_accuracy_ppm),
            0,
            1_000_000,
        )?;
        self.validate_preprocess()?;
        self.validate_optimizer()?;

        let eval_rows = shape.rows * u64::from(self.split.eval_ppm) / 1_000_000;
        let train_rows = shape.rows - eval_rows;
        if eval_rows == 0 || train_rows == 0 {
            return Err(SpecError::Invalid(format!(
                "split.eval_ppm = {} leaves {eval_rows} evaluation and {train_rows} training rows of {}; both need at least one",
                self.split.eval_ppm, shape.rows
            )));
        }
        if u64::from(self.batch_size) > train_rows {
            return Err(SpecError::Invalid(format!(
                "batch_size {} exceeds the {train_rows} training rows",
                self.batch_size
            )));
        }
        let steps_per_epoch = train_rows.div_ceil(u64::from(self.batch_size));
        let total_steps = steps_per_epoch * u64::from(self.epochs);
        if total_steps > limits::MAX_TOTAL_STEPS {
            return Err(SpecError::Invalid(format!(
                "{total_steps} optimizer steps exceed the limit of {}",
                limits::MAX_TOTAL_STEPS
            )));
        }
        if u64::from(self.checkpoint_interval) > total_steps {
            return Err(SpecError::Invalid(format!(
                "checkpoint_interval {} exceeds the {total_steps} optimizer steps of the whole run",
                self.checkpoint_interval
            )));
        }
        let segments = total_steps.div_ceil(u64::from(self.checkpoint_interval));
        if segments + 1 > limits::MAX_CHECKPOINTS {
            return Err(SpecError::Invalid(format!(
                "{} checkpoints exceed the limit of {}; raise checkpoint_interval",
                segments + 1,
                limits::MAX_CHECKPOINTS
            )));
        }
        let architecture = crate::model::Architecture::plan(&self.model, &shape)?;
        let workspace = architecture.workspace_per_sample() as u64 * u64::from(self.batch_size);
        if workspace > limits::MAX_BATCH_WORKSPACE {
            return Err(SpecError::Invalid(format!(
                "a batch of {} needs {workspace} floats of activations, more than the limit of {}; lower batch_size or the layer sizes",
                self.batch_size,
                limits::MAX_BATCH_WORKSPACE
            )));
        }
        let optimizer_state_len =
            optimizer_state_len(&self.optimizer, architecture.parameter_count());
        Ok(TrainingPlan {
            shape,
            train_rows,
            eval_rows,
            batch_size: u64::from(self.batch_size),
            steps_per_epoch,
            total_steps,
            checkpoint_interval: u64::from(self.checkpoint_interval),
            optimizer_state_len,
            architecture,
        })
    }

    fn validate_preprocess(&self) -> Result<(), SpecError> {
        if let Preprocess::Scale { factor } = self.preprocess
            && (!factor.is_finite() || factor == 0.0)
        {
            return Err(SpecError::Invalid(
                "preprocess.factor must be finite and non-zero".into(),
            ));
        }
        Ok(())
    }

    fn validate_optimizer(&self) -> Result<(), SpecError> {
        let check_unit = |name: &str, value: f32| {
            if (0.0..1.0).contains(&value) {
                Ok(())
            } else {
                Err(SpecError::Invalid(format!(
                    "optimizer.{name} must be in [0, 1), got {value}"
                )))
            }
        };
        let (lr, weight_decay) = match self.optimizer {
            OptimizerSpec::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => {
                check_unit("momentum", momentum)?;
                if nesterov && momentum == 0.0 {
                    return Err(SpecError::Invalid(
                        "optimizer.nesterov needs a momentum above 0".into(),
                    ));
                }
                (lr, weight_decay)
            }
            OptimizerSpec::Adam {
                lr,
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                check_unit("beta1", beta1)?;
                check_unit("beta2", beta2)?;
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(SpecError::Invalid(format!(
                        "optimizer.eps must be positive, got {eps}"
                    )));
                }
                (lr, weight_decay)
            }
        };
        if !(lr.is_finite() && lr > 0.0 && lr <= 100.0) {
            return Err(SpecError::Invalid(format!(
                "optimizer.lr must be in (0, 100], got {lr}"
            )));
        }
        if !(weight_decay.is_finite() && (0.0..1.0).contains(&weight_decay)) {
            return Err(SpecError::Invalid(format!(
                "optimizer.weight_decay must be in [0, 1), got {weight_decay}"
            )));
        }
        Ok(())
    }
}

fn validate_range(field: &str, value: u64, min: u64, max: u64) -> Result<(), SpecError> {
    if value < min || value > max {
        return Err(SpecError::Invalid(format!(
            "{field} must be in {min}..={max}, got {value}"
        )));
    }
    Ok(())
}

/// Floats of optimizer state per parameter set: SGD keeps a momentum buffer when momentum > 0,
/// Adam keeps the first and second moments.
fn optimizer_state_len(optimizer: &OptimizerSpec, parameters: usize) -> usize {
    match optimizer {
        OptimizerSpec::Sgd { momentum, .. } if *momentum > 0.0 => parameters,
        OptimizerSpec::Sgd { .. } => 0,
        OptimizerSpec::Adam { .. } => 2 * parameters,
    }
}

/// Sizes derived from a valid spec: what a bundle must contain and how long training is.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingPlan {
    pub shape: DatasetShape,
    pub train_rows: u64,
    pub eval_rows: u64,
    pub batch_size: u64,
    pub steps_per_epoch: u64,
    pub total_steps: u64,
    pub checkpoint_interval: u64,
    pub optimizer_state_len: usize,
    pub architecture: crate::model::Architecture,
}

impl TrainingPlan {
    /// Steps at which checkpoints are taken: 0, k, 2k, ... and the last step.
    pub fn checkpoint_steps(&self) -> Vec<u64> {
        let mut steps: Vec<u64> = (0..=self.total_steps)
            .step_by(self.checkpoint_interval as usize)
            .collect();
        if steps.last() != Some(&self.total_steps) {
            steps.push(self.total_steps);
        }
        steps
    }

    /// `ceil(total_steps / k)`, the length of [`Self::checkpoint_steps`] minus one.
    pub fn segment_count(&self) -> usize {
        self.total_steps.div_ceil(self.checkpoint_interval) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::examples;

    fn example_value() -> serde_json::Value {
        serde_json::from_str(examples::DIGITS_MLP).unwrap()
    }

    fn validate_value(value: serde_json::Value) -> Result<TrainingPlan, SpecError> {
        TaskSpec::from_json(&serde_json::to_vec(&value).unwrap()).and_then(|spec| spec.validate())
    }

    #[test]
    fn example_specs_are_valid_and_round_trip() {
        for (name, json) in examples::ALL {
            let spec =
                TaskSpec::from_json(json.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let again = TaskSpec::from_json(&spec.canonical_json()).unwrap();
            assert_eq!(spec, again, "{name}");
        }
    }

    #[test]
    fn unknown_layer_is_rejected_by_name() {
        let mut value = example_value();
        value["model"]["layers"][2] = serde_json::json!({"type": "lstm", "units": 4});
        let message = validate_value(value).unwrap_err().to_string();
        assert!(message.contains("unknown variant `lstm`"), "{message}");
    }

    #[test]
    fn zero_checkpoint_interval_is_rejected() {
        let mut value = example_value();
        value["checkpoint_interval"] = 0.into();
        let message = validate_value(value).unwrap_err().to_string();
        assert!(
            message.contains("checkpoint_interval must be at least 1"),
            "{message}"
        );
    }

    #[test]
    fn output_layer_must_match_classes() {
        let mut value = example_value();
        value["model"]["layers"][3] = serde_json::json!({"type": "dense", "units": 7});
        let message = validate_value(value).unwrap_err().to_string();
        assert!(message.contains("10 classes"), "{message}");
    }

    #[test]
    fn convolution_needs_an_image_input() {
        let mut value: serde_json::Value = serde_json::from_str(examples::IRIS_SOFTMAX).unwrap();
        value["model"]["layers"] = serde_json::json!([{"type": "conv2d", "out_channels": 4, "kernel": 3, "padding": 1}, {"type": "flatten"}, {"type": "dense", "units": 3}]);
        let message = validate_value(value).unwrap_err().to_string();
        assert!(message.contains("needs an image input"), "{message}");
    }

    #[test]
    fn dense_on_an_image_needs_flatten() {
        let mut value: serde_json::Value = serde_json::from_str(examples::DIGITS_CNN).unwrap();
        value["model"]["layers"] = serde_json::json!([{"type": "dense", "units": 10}]);
        let message = validate_value(value).unwrap_err().to_string();
        assert!(message.contains("flatten"), "{message}");
    }

    #[test]
    fn absurd_sizes_are_rejected() {
        let mut value = example_value();
        value["model"]["layers"][1] = serde_json::json!({"type": "dense", "units": 65536});
        value["model"]["layers"]
            .as_array_mut()
            .unwrap()
            .insert(2, serde_json::json!({"type": "dense", "units": 65536}));
        let message = validate_value(value).unwrap_err().to_string();
        assert!(message.contains("parameters exceed"), "{message}");

        let mut value = example_value();
        value["epochs"] = 4_000_000_000u32.into();
        assert!(
            validate_value(value)
                .unwrap_err()
                .to_string()
                .contains("epochs must be in")
        );

        let mut value: serde_json::Value = serde_json::from_str(examples::DIGITS_CNN).unwrap();
        value["model"]["layers"][0]["out_channels"] = 60000.into();
        value["batch_size"] = 1000.into();
        let message = validate_value(value).unwrap_err().to_string();
        assert!(message.contains("floats of activations"), "{message}");

        let mut value = example_value();
        value["batch_size"] = 5000.into();
        assert!(
            validate_value(value)
                .unwrap_err()
                .to_string()
                .contains("exceeds the")
        );
    }

    #[test]
    fn typos_and_bad_hyperparameters_are_rejected() {
        let mut value = example_value();
        value["epoch"] = 3.into();
        assert!(
            validate_value(value)
                .unwrap_err()
                .to_string()
                .contains("unknown field `epoch`")
        );

        let mut value: serde_json::Value = serde_json::from_str(examples::DIGITS_CNN).unwrap();
        value["optimizer"]["momentum"] = serde_json::json!(1.5);
        assert!(
            validate_value(value)
                .unwrap_err()
                .to_string()
                .contains("momentum must be in [0, 1)")
        );

        let mut value = example_value();
        value["v"] = 2.into();
        assert!(
            validate_value(value)
                .unwrap_err()
                .to_string()
                .contains("version 2")
        );
    }

    #[test]
    fn checkpoint_steps_end_at_the_last_step() {
        let spec = TaskSpec::from_json(examples::IRIS_SOFTMAX.as_bytes()).unwrap();
        let mut plan = spec.validate().unwrap();
        plan.total_steps = 23;
        plan.checkpoint_interval = 5;
        assert_eq!(plan.checkpoint_steps(), vec![0, 5, 10, 15, 20, 23]);
        assert_eq!(plan.segment_count(), 5);
    }
}
