//! Device performance assessment: what this machine does per second, measured, and the
//! performance index the market sorts by (docs/trainer-guide.md, "Performance index").
//!
//! - f32 GEMM GFLOPS on all cores, through `matrixmultiply` (each thread multiplies its own
//!   rows of the output);
//! - memory bandwidth, a STREAM triad `a[i] = b[i] + s * c[i]` over arrays far larger than any
//!   cache, counted as STREAM counts it (24 bytes per element);
//! - the work directory's disk: sequential write with `fsync`, then sequential read after the
//!   written pages are dropped from the page cache;
//! - the Proof-of-Training engine's samples/s on the `digits-mlp` example spec, the training
//!   the market's orders actually run, and the fixed costs of a step and of a checkpoint that
//!   dominate small models (docs/estimation.md).

use crate::ClientError;
use crate::progress::Progress;
use matrixai_chain::machine_metadata::Performance;
use matrixai_pot::{Exec, PreparedData, TaskSpec, train_bundle};
use rayon::prelude::*;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// The reference machine the index is relative to (index 1.0): round figures close to what the
/// project's 2-core development machine measures (AMD EPYC Zen 4, 2026-11-29: 196 GFLOPS,
/// 47.5 GB/s, 216 000 samples/s; docs/benchmarks.md, "Trainer agent").
pub const REFERENCE_GEMM_GFLOPS: f64 = 200.0;
pub const REFERENCE_MEMORY_GBPS: f64 = 50.0;
pub const REFERENCE_TRAIN_SAMPLES_PER_S: f64 = 200_000.0;
/// Weights of the index's geometric mean: training throughput and GEMM decide how fast an
/// order trains; memory bandwidth decides the element-wise layers and data loading.
pub const WEIGHT_GEMM: f64 = 0.4;
pub const WEIGHT_TRAIN: f64 = 0.4;
pub const WEIGHT_MEMORY: f64 = 0.2;

/// The performance index: `(gemm / 200)^0.4 × (train / 200 000)^0.4 × (memory / 50)^0.2`, a
/// weighted geometric mean of the ratios to the reference machine, so a machine twice as fast
/// at everything scores twice as much, and no single figure can be inflated to dominate. Disk
/// speed is reported beside it, not in it: training reads its data from memory.
pub fn performance_index(gemm_gflops: f64, memory_gbps: f64, train_samples_per_s: f64) -> f64 {
    let ratio = |value: f64, reference: f64| (value / reference).max(f64::MIN_POSITIVE);
    let index = ratio(gemm_gflops, REFERENCE_GEMM_GFLOPS).powf(WEIGHT_GEMM)
        * ratio(train_samples_per_s, REFERENCE_TRAIN_SAMPLES_PER_S).powf(WEIGHT_TRAIN)
        * ratio(memory_gbps, REFERENCE_MEMORY_GBPS).powf(WEIGHT_MEMORY);
    (index * 1000.0).round() / 1000.0
}

/// How long and how large each measurement is.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Side of the square GEMM matrices.
    pub gemm_size: usize,
    /// Elements of each of the triad's three f64 arrays.
    pub triad_len: usize,
    /// Bytes written and read back on the work directory's disk.
    pub disk_bytes: u64,
    /// Each measurement repeats until it has run this long, and keeps its best round.
    pub min_time: Duration,
    /// The training measurements run the example specs' epochs divided by this (1: as written;
    /// tests divide to measure quickly and less precisely).
    pub epochs_divisor: u32,
}

impl Default for Budget {
    /// About twenty seconds on a 2-core machine; 400 MB of memory, 256 MB of disk.
    fn default() -> Self {
        Self {
            gemm_size: 1536,
            triad_len: 1 << 24,
            disk_bytes: 256 << 20,
            min_time: Duration::from_secs(2),
            epochs_divisor: 1,
        }
    }
}

/// Runs every measurement with `threads` threads; disk figures are for `work_dir`.
pub fn assess(
    work_dir: &Path,
    threads: usize,
    budget: &Budget,
    progress: &Progress,
) -> Result<Performance, ClientError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ClientError::Device(format!("cannot start {threads} threads: {e}")))?;
    let step = progress.step("GEMM (f32, all cores)");
    let gemm_gflops = pool.install(|| gemm_gflops(budget.gemm_size, threads, budget.min_time));
    step.done(format!("{gemm_gflops:.1} GFLOPS"));

    let step = progress.step("memory bandwidth (triad)");
    let memory_gbps = pool.install(|| triad_gbps(budget.triad_len, budget.min_time));
    step.done(format!("{memory_gbps:.1} GB/s"));

    let step = progress.step("disk of the work directory");
    let (disk_write_mbps, disk_read_mbps) = disk_mbps(work_dir, budget.disk_bytes)?;
    step.done(format!(
        "write {disk_write_mbps:.0} MB/s, read {disk_read_mbps:.0} MB/s"
    ));

    let step = progress.step("training engine (digits-mlp)");
    let train_samples_per_s = train_samples_per_s(work_dir, threads, budget)?;
    step.done(format!("{train_samples_per_s:.0} samples/s"));

    let step = progress.step("training engine (digits-cnn)");
    let conv_train_samples_per_s = conv_train_samples_per_s(work_dir, threads, budget)?;
    step.done(format!("{conv_train_samples_per_s:.0} samples/s"));

    let step = progress.step("fixed costs of a training step, a layer and a checkpoint");
    let costs = fixed_costs(work_dir, threads, budget)?;
    step.done(format!(
        "{:.1} µs per step, {:.1} µs per layer, {:.3} ms per checkpoint ({:.3} ms a tiny one)",
        costs.step_us, costs.layer_us, costs.checkpoint_ms, costs.small_checkpoint_ms
    ));

    Ok(Performance {
        gemm_gflops: round(gemm_gflops),
        memory_gbps: round(memory_gbps),
        disk_write_mbps: round(disk_write_mbps),
        disk_read_mbps: round(disk_read_mbps),
        train_samples_per_s: round(train_samples_per_s),
        conv_train_samples_per_s: round(conv_train_samples_per_s),
        step_overhead_us: round(costs.step_us),
        layer_overhead_us: round(costs.layer_us),
        checkpoint_ms: (costs.checkpoint_ms * 1000.0).round() / 1000.0,
        small_checkpoint_ms: (costs.small_checkpoint_ms * 1000.0).round() / 1000.0,
        index: performance_index(gemm_gflops, memory_gbps, train_samples_per_s),
    })
}

/// Three significant decimals are all a measurement carries; shorter metadata on chain.
fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Runs `round` until `min_time` has passed (at least twice: the first warms caches and
/// threads) and returns the fastest round's seconds.
fn best_seconds(min_time: Duration, mut round: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut best = f64::INFINITY;
    let mut rounds = 0;
    while rounds < 2 || started.elapsed() < min_time {
        let round_started = Instant::now();
        round();
        best = best.min(round_started.elapsed().as_secs_f64());
        rounds += 1;
    }
    best
}

/// `C = A · B` for `n × n` f32 matrices, `2n³` flops, on `threads` threads of the current rayon
/// pool; GFLOPS of the best round.
pub fn gemm_gflops(n: usize, threads: usize, min_time: Duration) -> f64 {
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25 - 0.75).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
    let mut c = vec![0.0f32; n * n];
    let seconds = best_seconds(min_time, || parallel_sgemm(&a, &b, &mut c, n, threads));
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) / seconds / 1e9
}

/// `c = a · b` (`n × n`, row-major), the rows of `c` split evenly into `threads` blocks, each
/// multiplied by `matrixmultiply` on its own thread.
fn parallel_sgemm(a: &[f32], b: &[f32], c: &mut [f32], n: usize, threads: usize) {
    let rows = n.div_ceil(threads.max(1));
    c.par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(block, c_rows)| {
            let m = c_rows.len() / n;
            let a_rows = &a[block * rows * n..][..m * n];
            // SAFETY: the pointers cover `m × n`, `n × n` and `m × n` row-major matrices with
            // the strides given, and `c_rows` is borrowed mutably by this thread only.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    n,
                    n,
                    1.0,
                    a_rows.as_ptr(),
                    n as isize,
                    1,
                    b.as_ptr(),
                    n as isize,
                    1,
                    0.0,
                    c_rows.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        });
}

/// STREAM's triad over three `len`-element f64 arrays in the current rayon pool; GB/s of the
/// best round, counting 24 bytes per element as STREAM does.
pub fn triad_gbps(len: usize, min_time: Duration) -> f64 {
    const CHUNK: usize = 1 << 16;
    let b = vec![1.5f64; len];
    let c = vec![2.5f64; len];
    let mut a = vec![0.0f64; len];
    let scalar = std::hint::black_box(3.0f64);
    let seconds = best_seconds(min_time, || {
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .zip(c.par_chunks(CHUNK))
            .for_each(|((a, b), c)| {
                for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                    *a = b + scalar * c;
                }
            });
    });
    std::hint::black_box(&a);
    24.0 * len as f64 / seconds / 1e9
}

/// Sequential write (`fsync` included) then read of `bytes` in 4 MiB blocks, in a scratch file
/// of `dir` that is removed afterwards; MB/s. The written pages are dropped from the page cache
/// before reading so that the read comes from the disk; the size shrinks to a quarter of the
/// free space when that is less.
pub fn disk_mbps(dir: &Path, bytes: u64) -> Result<(f64, f64), ClientError> {
    const BLOCK: usize = 4 << 20;
    let bytes = bytes
        .min(crate::device::free_disk_bytes(dir)? / 4)
        .max(BLOCK as u64);
    let blocks = bytes.div_ceil(BLOCK as u64);
    let path = dir.join(".matrixai-disk-assessment");
    let io = |e| ClientError::io(&path, e);
    let block: Vec<u8> = (0..BLOCK).map(|i| (i * 31 % 251) as u8).collect();
    let written = (|| {
        let started = Instant::now();
        let mut file = std::fs::File::create(&path)?;
        for _ in 0..blocks {
            file.write_all(&block)?;
        }
        file.sync_all()?;
        let write_seconds = started.elapsed().as_secs_f64();
        drop_from_page_cache(&file);
        let started = Instant::now();
        let mut file = std::fs::File::open(&path)?;
        let mut buffer = vec![0u8; BLOCK];
        let mut read = 0u64;
        loop {
            let n = file.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            read += n as u64;
        }
        let read_seconds = started.elapsed().as_secs_f64();
        Ok::<_, std::io::Error>((write_seconds, read_seconds, read))
    })();
    let _ = std::fs::remove_file(&path);
    let (write_seconds, read_seconds, read) = written.map_err(io)?;
    let megabytes = (blocks * BLOCK as u64) as f64 / 1e6;
    debug_assert_eq!(read, blocks * BLOCK as u64);
    Ok((megabytes / write_seconds, megabytes / read_seconds))
}

#[cfg(target_os = "linux")]
fn drop_from_page_cache(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; the advice only affects caching.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn drop_from_page_cache(_file: &std::fs::File) {}

/// Samples per second of the Proof-of-Training engine training the `digits-mlp` example spec
/// (its bundled dataset and batch size, no checkpoints but the first and last) on `threads`
/// threads, in `train_bundle`, the loop the agent runs: from a run and one twice as long, so
/// that each run's fixed costs (evaluation, the model file) cancel.
pub fn train_samples_per_s(
    dir: &Path,
    threads: usize,
    budget: &Budget,
) -> Result<f64, ClientError> {
    samples_per_s(matrixai_pot::examples::DIGITS_MLP, dir, threads, budget)
}

/// The same for the convolutional `digits-cnn` example spec.
pub fn conv_train_samples_per_s(
    dir: &Path,
    threads: usize,
    budget: &Budget,
) -> Result<f64, ClientError> {
    samples_per_s(matrixai_pot::examples::DIGITS_CNN, dir, threads, budget)
}

fn samples_per_s(
    json: &str,
    dir: &Path,
    threads: usize,
    budget: &Budget,
) -> Result<f64, ClientError> {
    let spec = TaskSpec::from_json(json.as_bytes())?;
    let step_s = per_step_seconds(&spec, dir, threads, budget.min_time, budget.epochs_divisor)?;
    Ok(spec.batch_size as f64 / step_s)
}

/// The fixed costs of training in `train_bundle` on `threads` threads, in microseconds per
/// optimizer step, microseconds per layer and step, and milliseconds per checkpoint. From
/// specs whose arithmetic is too small to count: `iris-softmax` (one layer), the same with
/// nine layers; and checkpoints of `digits-mlp` and `iris-softmax` (see [`checkpoint_seconds`]).
pub fn fixed_costs(dir: &Path, threads: usize, budget: &Budget) -> Result<FixedCosts, ClientError> {
    let min_time = budget.min_time / 4;
    let shallow = TaskSpec::from_json(matrixai_pot::examples::IRIS_SOFTMAX.as_bytes())?;
    let mut deep = shallow.clone();
    deep.model.layers = std::iter::repeat_n(
        [
            matrixai_pot::spec::LayerSpec::Dense { units: 3 },
            matrixai_pot::spec::LayerSpec::Relu,
        ],
        4,
    )
    .flatten()
    .chain([matrixai_pot::spec::LayerSpec::Dense { units: 3 }])
    .collect();
    let divisor = budget.epochs_divisor;
    let shallow_step = per_step_seconds(&shallow, dir, threads, min_time, divisor)?;
    let deep_step = per_step_seconds(&deep, dir, threads, min_time, divisor)?;
    let layer_s = ((deep_step - shallow_step) / 8.0).max(0.0);
    let step_s = (shallow_step - layer_s).max(0.0);

    // Checkpoints cost the file system per file and per byte: measured at two sizes,
    // digits-mlp's and iris-softmax's (tiny), each a checkpoint every step against two.
    let mut large = TaskSpec::from_json(matrixai_pot::examples::DIGITS_MLP.as_bytes())?;
    large.epochs = (4 / budget.epochs_divisor.max(1)).max(1);
    let mut small = shallow.clone();
    small.epochs = (shallow.epochs / 10 / budget.epochs_divisor.max(1)).max(1);
    Ok(FixedCosts {
        step_us: step_s * 1e6,
        layer_us: layer_s * 1e6,
        checkpoint_ms: checkpoint_seconds(large, dir, threads, min_time)? * 1e3,
        small_checkpoint_ms: checkpoint_seconds(small, dir, threads, min_time)? * 1e3,
    })
}

/// Seconds of one checkpoint of `spec`: a run with a checkpoint after every step against the
/// same run with only the first and the last.
fn checkpoint_seconds(
    mut dense: TaskSpec,
    dir: &Path,
    threads: usize,
    min_time: Duration,
) -> Result<f64, ClientError> {
    dense.checkpoint_interval = 1;
    let dense_plan = dense.validate()?;
    let mut sparse = dense.clone();
    sparse.checkpoint_interval = u32::try_from(dense_plan.total_steps).unwrap_or(u32::MAX);
    let extra_checkpoints = dense_plan.checkpoint_steps().len() as f64 - 2.0;
    let dense_s = bundle_seconds(&dense, dir, threads, min_time)?;
    let sparse_s = bundle_seconds(&sparse, dir, threads, min_time)?;
    Ok(((dense_s - sparse_s) / extra_checkpoints).max(0.0))
}

/// The fixed costs of training (see [`fixed_costs`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixedCosts {
    pub step_us: f64,
    pub layer_us: f64,
    pub checkpoint_ms: f64,
    pub small_checkpoint_ms: f64,
}

/// Seconds per optimizer step of `spec` in `train_bundle` with only the first and last
/// checkpoints: the difference between a run of its epochs and one of twice its epochs, over
/// the difference in steps.
fn per_step_seconds(
    spec: &TaskSpec,
    dir: &Path,
    threads: usize,
    min_time: Duration,
    epochs_divisor: u32,
) -> Result<f64, ClientError> {
    let epochs = (spec.epochs / epochs_divisor.max(1)).max(1);
    let without_checkpoints = |epochs: u32| -> Result<(TaskSpec, u64), ClientError> {
        let mut run = spec.clone();
        run.epochs = epochs;
        let total_steps = run.validate()?.total_steps;
        run.checkpoint_interval = u32::try_from(total_steps).unwrap_or(u32::MAX);
        Ok((run, total_steps))
    };
    let (short, short_steps) = without_checkpoints(epochs)?;
    let (long, long_steps) = without_checkpoints(epochs.saturating_mul(2))?;
    let short_s = bundle_seconds(&short, dir, threads, min_time)?;
    let long_s = bundle_seconds(&long, dir, threads, min_time)?;
    Ok((long_s - short_s).max(long_s * 0.25) / (long_steps - short_steps) as f64)
}

/// Seconds of `train_bundle` for `spec` (its data prepared beforehand) into a scratch
/// directory of `dir`, removed afterwards: the best of the runs made in `min_time` (at least
/// two).
fn bundle_seconds(
    spec: &TaskSpec,
    dir: &Path,
    threads: usize,
    min_time: Duration,
) -> Result<f64, ClientError> {
    let data = PreparedData::for_spec(spec, None)?;
    let exec = Exec::new(threads, None)?;
    let scratch = dir.join(".matrixai-training-assessment");
    let mut failure = None;
    let seconds = best_seconds(min_time, || {
        let _ = std::fs::remove_dir_all(&scratch);
        if let Err(error) = train_bundle(spec, &data, &scratch, &exec, |_, _| {}) {
            failure.get_or_insert(error);
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(seconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_a_weighted_geometric_mean_of_ratios() {
        assert_eq!(
            performance_index(
                REFERENCE_GEMM_GFLOPS,
                REFERENCE_MEMORY_GBPS,
                REFERENCE_TRAIN_SAMPLES_PER_S
            ),
            1.0
        );
        // Twice as fast at everything: twice the index.
        assert_eq!(
            performance_index(
                2.0 * REFERENCE_GEMM_GFLOPS,
                2.0 * REFERENCE_MEMORY_GBPS,
                2.0 * REFERENCE_TRAIN_SAMPLES_PER_S
            ),
            2.0
        );
        // One figure inflated a thousandfold moves the index by its weight only.
        let inflated = performance_index(
            1000.0 * REFERENCE_GEMM_GFLOPS,
            REFERENCE_MEMORY_GBPS,
            REFERENCE_TRAIN_SAMPLES_PER_S,
        );
        assert!(
            (inflated - 1000f64.powf(WEIGHT_GEMM)).abs() < 0.01,
            "{inflated}"
        );
        // A zero measurement gives a zero index, never NaN.
        assert_eq!(performance_index(0.0, 10.0, 10.0), 0.0);
    }

    #[test]
    fn gemm_computes_the_product_it_times() {
        // Rows split unevenly across threads (7 rows, 3 threads): still the exact product of
        // small integers.
        let n = 7;
        let a: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..n * n).map(|i| (i % 3) as f32).collect();
        let mut expected = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                expected[i * n + j] = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
            }
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut c = vec![f32::NAN; n * n];
        pool.install(|| parallel_sgemm(&a, &b, &mut c, n, 3));
        assert_eq!(c, expected);
        assert!(gemm_gflops(64, 2, Duration::ZERO) > 0.0);
    }

    #[test]
    fn measurements_are_positive_and_leave_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        assert!(triad_gbps(1 << 16, Duration::ZERO) > 0.0);
        let (write, read) = disk_mbps(dir.path(), 8 << 20).unwrap();
        assert!(write > 0.0 && read > 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let quick = Budget {
            min_time: Duration::ZERO,
            epochs_divisor: 8,
            ..Budget::default()
        };
        assert!(train_samples_per_s(dir.path(), 1, &quick).unwrap() > 0.0);
        assert!(conv_train_samples_per_s(dir.path(), 1, &quick).unwrap() > 0.0);
        let costs = fixed_costs(dir.path(), 1, &quick).unwrap();
        assert!(costs.step_us >= 0.0 && costs.layer_us >= 0.0 && costs.checkpoint_ms >= 0.0);
        assert!(costs.step_us + costs.layer_us > 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
