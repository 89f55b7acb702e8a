//! What this machine is: CPU, memory, the work directory's free disk, the operating system and
//! NVIDIA GPUs. A machine without a GPU, or without the NVIDIA library, is an ordinary case: it
//! has no GPUs.

use crate::ClientError;
use matrixai_chain::machine_metadata::{Cpu, Gpu, MAX_CPU_FEATURES, MAX_GPU_MODELS, MAX_STRING};
use serde::Serialize;
use std::path::Path;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

/// The detected hardware of this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub cpu: Cpu,
    pub ram_mb: u64,
    /// Free space on the work directory's file system.
    pub free_disk_gb: u64,
    pub os: String,
    /// Grouped by model; empty without a GPU or without the NVIDIA library.
    pub gpus: Vec<Gpu>,
    /// Why no GPU was looked at (the NVIDIA library is missing, say), for `matrixai-client device`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_note: Option<String>,
}

impl Device {
    /// Detects this machine; `work_dir` is where orders' data and models will live.
    pub fn detect(work_dir: &Path) -> Result<Self, ClientError> {
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .map_err(|e| ClientError::Device(format!("cannot read the system's description: {e}")))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let cores = System::physical_core_count()
            .map_or(threads, |cores| cores as u32)
            .clamp(1, threads);
        let model = system
            .cpus()
            .first()
            .map(|cpu| cpu.brand().trim().to_string())
            .filter(|brand| !brand.is_empty())
            .unwrap_or_else(System::cpu_arch);
        let os = System::long_os_version()
            .or_else(|_| System::name())
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        let (gpus, gpu_note) = match nvidia_gpus() {
            Ok(gpus) => (gpus, None),
            Err(note) => (Vec::new(), Some(note)),
        };
        Ok(Self {
            cpu: Cpu {
                model: bounded(model),
                cores,
                threads,
                features: cpu_features(),
            },
            ram_mb: system.total_memory() / (1024 * 1024),
            free_disk_gb: free_disk_bytes(work_dir)? / 1_000_000_000,
            os: bounded(os),
            gpus,
            gpu_note,
        })
    }
}

/// Strings go on chain with a bound; a longer CPU or OS name is cut at a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_STRING {
        let mut end = MAX_STRING;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The instruction-set extensions that matter to the training engine and to GEMM speed.
fn cpu_features() -> Vec<String> {
    let mut features: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($feature:tt),*) => {
                $(if std::arch::is_x86_feature_detected!($feature) {
                    features.push($feature);
                })*
            };
        }
        detect!(
            "sse2",
            "sse4.2",
            "avx",
            "avx2",
            "fma",
            "f16c",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512dq",
            "avx512vnni",
            "avx512bf16"
        );
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! detect {
            ($($feature:tt),*) => {
                $(if std::arch::is_aarch64_feature_detected!($feature) {
                    features.push($feature);
                })*
            };
        }
        detect!("neon", "fp16", "dotprod", "sve", "sve2", "bf16", "i8mm");
    }
    features.truncate(MAX_CPU_FEATURES);
    features.into_iter().map(String::from).collect()
}

/// Free bytes on the file system holding `dir` (created if missing), as an unprivileged user
/// may use them.
pub fn free_disk_bytes(dir: &Path) -> Result<u64, ClientError> {
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
        .map_err(|_| ClientError::Config(format!("{} contains a NUL byte", dir.display())))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stats` is written by statvfs before it is read.
    let status = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return Err(ClientError::io(dir, std::io::Error::last_os_error()));
    }
    // SAFETY: statvfs returned 0, so it filled `stats`.
    let stats = unsafe { stats.assume_init() };
    // The fields' widths differ across platforms: u64 here, narrower elsewhere.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(stats.f_bavail) * u64::from(stats.f_frsize))
}

/// NVIDIA GPUs through NVML, loaded at run time; `Err` says why there are none to report.
fn nvidia_gpus() -> Result<Vec<Gpu>, String> {
    use nvml_wrapper::Nvml;
    let nvml = Nvml::init().map_err(|e| format!("no NVIDIA GPU detected (NVML: {e})"))?;
    let nvml_error = |what: &str, e: nvml_wrapper::error::NvmlError| format!("NVML {what}: {e}");
    let driver = nvml.sys_driver_version().ok().map(bounded);
    let cuda = nvml.sys_cuda_driver_version().ok().map(|version| {
        format!(
            "{}.{}",
            nvml_wrapper::cuda_driver_version_major(version),
            nvml_wrapper::cuda_driver_version_minor(version)
        )
    });
    let mut gpus: Vec<Gpu> = Vec::new();
    let count = nvml
        .device_count()
        .map_err(|e| nvml_error("device count", e))?;
    for index in 0..count {
        let device = nvml
            .device_by_index(index)
            .map_err(|e| nvml_error("device", e))?;
        let model = bounded(device.name().map_err(|e| nvml_error("device name", e))?);
        let memory_mb = device
            .memory_info()
            .map_err(|e| nvml_error("memory", e))?
            .total
            / (1024 * 1024);
        let same = gpus
            .iter()
            .position(|gpu| gpu.model == model && gpu.memory_mb == memory_mb);
        match same {
            Some(index) => gpus[index].count += 1,
            None if gpus.len() < MAX_GPU_MODELS => gpus.push(Gpu {
                model,
                count: 1,
                memory_mb,
                driver: driver.clone(),
                cuda: cuda.clone(),
            }),
            None => {}
        }
    }
    Ok(gpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::detect(dir.path()).unwrap();
        assert!(device.cpu.cores >= 1 && device.cpu.threads >= device.cpu.cores);
        assert!(!device.cpu.model.is_empty() && !device.os.is_empty());
        assert!(device.ram_mb > 0);
        #[cfg(target_arch = "x86_64")]
        assert!(device.cpu.features.iter().any(|f| f == "sse2"));
        assert_eq!(device.gpu_note.is_some(), nvidia_gpus().is_err());
    }

    /// Without the NVIDIA library the machine simply has no GPU, and says why; with one, every
    /// GPU has a model and memory. `MATRIXAI_EXPECT_GPU=1` (set where a GPU is known to be
    /// present) makes finding none a failure.
    #[test]
    fn nvidia_gpus_are_found_through_nvml_or_explained() {
        match nvidia_gpus() {
            Ok(gpus) => {
                for gpu in &gpus {
                    assert!(!gpu.model.is_empty() && gpu.memory_mb > 0 && gpu.count >= 1);
                }
                if std::env::var("MATRIXAI_EXPECT_GPU").is_ok_and(|v| v == "1") {
                    assert!(!gpus.is_empty(), "NVML loaded but listed no GPU");
                }
            }
            Err(note) => {
                assert!(note.contains("NVML"), "{note}");
                assert_ne!(
                    std::env::var("MATRIXAI_EXPECT_GPU").as_deref(),
                    Ok("1"),
                    "{note}"
                );
            }
        }
    }

    #[test]
    fn free_disk_is_that_of_the_work_directory() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("work/dir");
        assert!(free_disk_bytes(&nested).unwrap() > 0);
        assert!(nested.is_dir(), "created on the way");
    }

    #[test]
    fn long_names_are_cut_to_the_chain_bound() {
        let name = "é".repeat(100);
        let cut = bounded(name);
        assert!(cut.len() <= MAX_STRING && cut.chars().all(|c| c == 'é'));
    }
}
