//! The machine metadata JSON that a trainer's agent writes into `add_machine` and that the
//! indexer, the validator and the UI read: one type, in one place.
//!
//! Version 1 (`"v": 1`) describes the hardware, the region, the agent's version and the
//! agent's own performance assessment. Unknown fields are rejected and every string and list
//! is bounded, so a value that parses is one every reader understands.
//!
//! ```
//! use matrixai_chain::machine_metadata::{Cpu, Gpu, Hardware, MachineMetadata, Performance};
//!
//! let metadata = MachineMetadata {
//!     v: 1,
//!     hardware: Hardware {
//!         cpu: Cpu { model: "AMD EPYC 7B13".into(), cores: 8, threads: 16, features: vec!["avx2".into()] },
//!         ram_mb: 65_536,
//!         disk_gb: 500,
//!         gpus: vec![Gpu { model: "NVIDIA H200".into(), count: 1, memory_mb: 143_771, driver: None, cuda: None }],
//!         os: "Debian GNU/Linux 12".into(),
//!     },
//!     region: "eu-west".into(),
//!     client_version: "0.1.0".into(),
//!     drill_url: Some("https://trainer.example:8081".into()),
//!     performance: Performance {
//!         gemm_gflops: 410.0,
//!         memory_gbps: 38.5,
//!         disk_write_mbps: 900.0,
//!         disk_read_mbps: 2_100.0,
//!         train_samples_per_s: 52_000.0,
//!         conv_train_samples_per_s: 9_000.0,
//!         step_overhead_us: 20.0,
//!         layer_overhead_us: 5.0,
//!         checkpoint_ms: 0.2,
//!         small_checkpoint_ms: 0.05,
//!         index: 3.2,
//!     },
//! };
//! let bytes = metadata.to_bytes()?;
//! assert_eq!(MachineMetadata::parse(&bytes)?, metadata);
//! # Ok::<(), matrixai_chain::machine_metadata::MetadataError>(())
//! ```

use serde::{Deserialize, Serialize};

/// The version this crate writes and reads.
pub const VERSION: u32 = 1;
/// The chain's bound on a machine's metadata (`MachineMetadata` in the hashrate market pallet).
pub const MAX_BYTES: usize = 2048;
/// Longest string field, in bytes.
pub const MAX_STRING: usize = 128;
/// Most CPU feature names.
pub const MAX_CPU_FEATURES: usize = 64;
/// Most GPU entries (each with its own count).
pub const MAX_GPU_MODELS: usize = 8;
/// Most GPUs of one model.
pub const MAX_GPU_COUNT: u32 = 64;

/// A machine's description, as registered on chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineMetadata {
    /// Format version: [`VERSION`].
    pub v: u32,
    pub hardware: Hardware,
    /// Where the machine is, as its owner names it (e.g. `eu-west`); the market filters by it.
    pub region: String,
    /// Version of the agent that measured the machine.
    pub client_version: String,
    pub performance: Performance,
    /// Where the machine's agent answers validators' drills (`POST {drill_url}/drill`), so that
    /// its performance can be verified; without it the figures stay self-reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    pub cpu: Cpu,
    pub ram_mb: u64,
    /// Disk space offered to training, in GB.
    pub disk_gb: u64,
    /// Empty on a machine without a GPU.
    pub gpus: Vec<Gpu>,
    pub os: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    pub model: String,
    /// Physical cores.
    pub cores: u32,
    /// Hardware threads.
    pub threads: u32,
    /// Instruction-set features the engine can use (e.g. `avx2`, `avx512f`, `neon`).
    pub features: Vec<String>,
}

/// `count` GPUs of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    pub model: String,
    pub count: u32,
    /// Memory of one GPU, in MB.
    pub memory_mb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda: Option<String>,
}

/// The agent's own measurements (self-reported: the validator's challenges verify them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Performance {
    /// f32 matrix multiplication on all cores.
    pub gemm_gflops: f64,
    /// STREAM-style triad bandwidth.
    pub memory_gbps: f64,
    pub disk_write_mbps: f64,
    pub disk_read_mbps: f64,
    /// Reference training throughput of the Proof-of-Training engine (the `digits-mlp`
    /// example spec).
    pub train_samples_per_s: f64,
    /// The same for a convolutional model (the `digits-cnn` example spec).
    pub conv_train_samples_per_s: f64,
    /// The engine's fixed cost of one optimizer step, whatever its size, in microseconds, and
    /// its fixed cost per layer and step: what dominates small models' training time.
    pub step_overhead_us: f64,
    pub layer_overhead_us: f64,
    /// The cost of writing one checkpoint file of the `digits-mlp` example's size, in
    /// milliseconds, and of a tiny one (`iris-softmax`'s): together, a cost per file and per
    /// byte of many small files, which a single large write (`disk_write_mbps`) does not show.
    pub checkpoint_ms: f64,
    pub small_checkpoint_ms: f64,
    /// The performance index combining the figures above (formula in docs/trainer-guide.md).
    pub index: f64,
}

/// Why metadata bytes are not a valid [`MachineMetadata`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MetadataError {
    #[error("machine metadata is {0} bytes, above the chain's bound of {MAX_BYTES}")]
    TooLong(usize),
    #[error("machine metadata is not valid JSON of version {VERSION}: {0}")]
    Json(String),
    #[error("machine metadata version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("machine metadata field {field} is invalid: {reason}")]
    Field { field: &'static str, reason: String },
}

impl MachineMetadata {
    /// Parses and checks metadata bytes as found on chain.
    pub fn parse(bytes: &[u8]) -> Result<Self, MetadataError> {
        if bytes.len() > MAX_BYTES {
            return Err(MetadataError::TooLong(bytes.len()));
        }
        let metadata: Self =
            serde_json::from_slice(bytes).map_err(|e| MetadataError::Json(e.to_string()))?;
        metadata.check()?;
        Ok(metadata)
    }

    /// The JSON bytes to register on chain, after the same checks [`Self::parse`] makes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, MetadataError> {
        self.check()?;
        let bytes = serde_json::to_vec(self).map_err(|e| MetadataError::Json(e.to_string()))?;
        if bytes.len() > MAX_BYTES {
            return Err(MetadataError::TooLong(bytes.len()));
        }
        Ok(bytes)
    }

    /// Checks the version, bounds and ranges serde cannot express.
    pub fn check(&self) -> Result<(), MetadataError> {
        if self.v != VERSION {
            return Err(MetadataError::Version(self.v));
        }
        let hardware = &self.hardware;
        bounded("region", &self.region)?;
        if let Some(url) = &self.drill_url {
            bounded("drill_url", url)?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(field("drill_url", "must be an http:// or https:// URL"));
            }
        }
        bounded("client_version", &self.client_version)?;
        bounded("hardware.os", &hardware.os)?;
        bounded("hardware.cpu.model", &hardware.cpu.model)?;
        if hardware.cpu.cores == 0 || hardware.cpu.threads < hardware.cpu.cores {
            return Err(field(
                "hardware.cpu",
                "needs at least one core and at least as many threads as cores",
            ));
        }
        if hardware.cpu.features.len() > MAX_CPU_FEATURES {
            return Err(field(
                "hardware.cpu.features",
                format!("more than {MAX_CPU_FEATURES} entries"),
            ));
        }
        for feature in &hardware.cpu.features {
            bounded("hardware.cpu.features", feature)?;
        }
        if hardware.gpus.len() > MAX_GPU_MODELS {
            return Err(field(
                "hardware.gpus",
                format!("more than {MAX_GPU_MODELS} entries"),
            ));
        }
        for gpu in &hardware.gpus {
            bounded("hardware.gpus.model", &gpu.model)?;
            if gpu.count == 0 || gpu.count > MAX_GPU_COUNT {
                return Err(field(
                    "hardware.gpus.count",
                    format!("must be between 1 and {MAX_GPU_COUNT}"),
                ));
            }
            for (name, value) in [("driver", &gpu.driver), ("cuda", &gpu.cuda)] {
                if let Some(value) = value {
                    bounded(name, value)?;
                }
            }
        }
        let performance = &self.performance;
        for (name, value) in [
            ("performance.gemm_gflops", performance.gemm_gflops),
            ("performance.memory_gbps", performance.memory_gbps),
            ("performance.disk_write_mbps", performance.disk_write_mbps),
            ("performance.disk_read_mbps", performance.disk_read_mbps),
            (
                "performance.train_samples_per_s",
                performance.train_samples_per_s,
            ),
            (
                "performance.conv_train_samples_per_s",
                performance.conv_train_samples_per_s,
            ),
            ("performance.step_overhead_us", performance.step_overhead_us),
            (
                "performance.layer_overhead_us",
                performance.layer_overhead_us,
            ),
            ("performance.checkpoint_ms", performance.checkpoint_ms),
            (
                "performance.small_checkpoint_ms",
                performance.small_checkpoint_ms,
            ),
            ("performance.index", performance.index),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(field(name, "must be a finite number, zero or more"));
            }
        }
        Ok(())
    }

    /// Total GPUs over all models.
    pub fn gpu_count(&self) -> u32 {
        self.hardware.gpus.iter().map(|gpu| gpu.count).sum()
    }
}

fn field(field: &'static str, reason: impl Into<String>) -> MetadataError {
    MetadataError::Field {
        field,
        reason: reason.into(),
    }
}

fn bounded(name: &'static str, value: &str) -> Result<(), MetadataError> {
    if value.len() > MAX_STRING {
        return Err(field(name, format!("longer than {MAX_STRING} bytes")));
    }
    Ok(())
}

impl Performance {
    /// What the estimate formulas (`matrixai_pot::estimate`) need from these figures: the one
    /// conversion the agent, the indexer and the validator's drills share.
    pub fn machine_speed(&self) -> matrixai_pot::estimate::MachineSpeed {
        matrixai_pot::estimate::MachineSpeed::from_measurements(
            [self.train_samples_per_s, self.conv_train_samples_per_s],
            [self.step_overhead_us, self.layer_overhead_us],
            [self.small_checkpoint_ms, self.checkpoint_ms],
            self.disk_write_mbps,
        )
    }
}

/// A complete, valid example: a machine in `region` with one GPU and the given performance
/// index, for tests and documentation.
pub fn example(region: &str, index: f64) -> MachineMetadata {
    MachineMetadata {
        v: VERSION,
        hardware: Hardware {
            cpu: Cpu {
                model: "AMD EPYC 7B13".into(),
                cores: 8,
                threads: 16,
                features: vec!["sse4.2".into(), "avx2".into()],
            },
            ram_mb: 65_536,
            disk_gb: 500,
            gpus: vec![Gpu {
                model: "NVIDIA H200".into(),
                count: 1,
                memory_mb: 143_771,
                driver: Some("580.65.06".into()),
                cuda: Some("13.0".into()),
            }],
            os: "Debian GNU/Linux 12".into(),
        },
        region: region.into(),
        client_version: "0.1.0".into(),
        drill_url: None,
        performance: Performance {
            gemm_gflops: 410.0,
            memory_gbps: 38.5,
            disk_write_mbps: 900.0,
            disk_read_mbps: 2_100.0,
            train_samples_per_s: 52_000.0,
            conv_train_samples_per_s: 9_000.0,
            step_overhead_us: 20.0,
            layer_overhead_us: 5.0,
            checkpoint_ms: 0.2,
            small_checkpoint_ms: 0.05,
            index,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MachineMetadata {
        example("eu-west", 1.5)
    }

    #[test]
    fn round_trips_and_fits_on_chain() {
        let bytes = sample().to_bytes().unwrap();
        assert!(bytes.len() <= MAX_BYTES);
        assert_eq!(MachineMetadata::parse(&bytes).unwrap(), sample());
    }

    #[test]
    fn rejects_unknown_fields_other_versions_and_bad_values() {
        let mut json: serde_json::Value = serde_json::to_value(sample()).unwrap();
        json["extra"] = 1.into();
        let error = MachineMetadata::parse(json.to_string().as_bytes()).unwrap_err();
        assert!(
            matches!(error, MetadataError::Json(ref m) if m.contains("extra")),
            "{error}"
        );

        let mut other = sample();
        other.v = 2;
        let bytes = serde_json::to_vec(&other).unwrap();
        assert_eq!(
            MachineMetadata::parse(&bytes),
            Err(MetadataError::Version(2))
        );

        let mut negative = sample();
        negative.performance.index = -1.0;
        assert!(matches!(
            negative.to_bytes(),
            Err(MetadataError::Field {
                field: "performance.index",
                ..
            })
        ));

        let mut no_cores = sample();
        no_cores.hardware.cpu.cores = 0;
        assert!(matches!(
            no_cores.check(),
            Err(MetadataError::Field {
                field: "hardware.cpu",
                ..
            })
        ));

        let mut long = sample();
        long.region = "x".repeat(MAX_STRING + 1);
        assert!(matches!(
            long.check(),
            Err(MetadataError::Field {
                field: "region",
                ..
            })
        ));

        assert!(matches!(
            MachineMetadata::parse(b"{\"v\":1"),
            Err(MetadataError::Json(_))
        ));
        assert_eq!(
            MachineMetadata::parse(&[b' '; MAX_BYTES + 1]),
            Err(MetadataError::TooLong(MAX_BYTES + 1))
        );
    }

    #[test]
    fn counts_gpus_over_models() {
        let mut metadata = sample();
        metadata.hardware.gpus.push(Gpu {
            model: "NVIDIA L4".into(),
            count: 2,
            memory_mb: 23_034,
            driver: None,
            cuda: None,
        });
        assert_eq!(metadata.gpu_count(), 3);
    }
}
