//! The trainer agent's device figures (docs/benchmarks.md, "Trainer agent"):
//! `scripts/bench-client.sh`.
//!
//! 1. f32 GEMM GFLOPS of the agent's measurement (`matrixmultiply`, rows split across threads)
//!    against numpy's `a @ b` (OpenBLAS) on the same machine, same sizes, same thread counts,
//!    in this same run. Goal: at least 80 % of numpy with all threads.
//! 2. Training-time estimation error: `matrixai_pot::estimate` from this machine's measured
//!    figures against the measured time of `train_bundle` (what the agent runs), for the four
//!    example specs and versions with 4x and 16x the epochs. Goal: within 15 %.

use matrixai_client::assess::{
    Budget, conv_train_samples_per_s, disk_mbps, fixed_costs, gemm_gflops, train_samples_per_s,
};
use matrixai_pot::estimate::{MachineSpeed, estimate};
use matrixai_pot::{Exec, PreparedData, TaskSpec, train_bundle};
use std::process::Command;
use std::time::Duration;
use std::time::Instant;

const SIZES: [usize; 3] = [512, 1024, 2048];
const MIN_TIME: Duration = Duration::from_secs(3);

const NUMPY_GEMM: &str = r#"
import sys, time
import numpy as np
n, min_time = int(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(1)
a = rng.random((n, n), dtype=np.float32)
b = rng.random((n, n), dtype=np.float32)
best, rounds, started = float("inf"), 0, time.perf_counter()
while rounds < 2 or time.perf_counter() - started < min_time:
    t = time.perf_counter()
    a @ b
    best = min(best, time.perf_counter() - t)
    rounds += 1
print(2 * n**3 / best / 1e9)
"#;

fn python() -> String {
    std::env::var("MATRIXAI_BENCH_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn numpy_gflops(n: usize, threads: usize) -> f64 {
    let output = Command::new(python())
        .args([
            "-c",
            NUMPY_GEMM,
            &n.to_string(),
            &MIN_TIME.as_secs_f64().to_string(),
        ])
        .env("OPENBLAS_NUM_THREADS", threads.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .env("MKL_NUM_THREADS", threads.to_string())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "numpy failed (scripts/bench-client.sh installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a number")
}

fn numpy_version() -> String {
    let output = Command::new(python())
        .args([
            "-c",
            "import numpy as np; c = np.show_config(mode='dicts'); \
             print(np.__version__, c['Build Dependencies']['blas']['name'], \
             c['Build Dependencies']['blas'].get('version', ''))",
        ])
        .output()
        .expect("python3 runs");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Estimated against measured seconds of `train_bundle` for each example spec and scale.
fn estimation_error(threads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (disk_write_mbps, _) = disk_mbps(dir.path(), 256 << 20).unwrap();
    let budget = Budget {
        min_time: MIN_TIME,
        ..Budget::default()
    };
    let costs = fixed_costs(dir.path(), threads, &budget).unwrap();
    let speed = MachineSpeed {
        reference_samples_per_s: train_samples_per_s(dir.path(), threads, &budget).unwrap(),
        conv_reference_samples_per_s: conv_train_samples_per_s(dir.path(), threads, &budget)
            .unwrap(),
        step_overhead_s: costs.step_us / 1e6,
        layer_overhead_s: costs.layer_us / 1e6,
        checkpoint_s: costs.checkpoint_ms / 1e3,
        small_checkpoint_s: costs.small_checkpoint_ms / 1e3,
        disk_write_mbps,
        download_mbps: 10.0,
    };
    println!(
        "\nMachine: {:.0} samples/s on digits-mlp, {:.0} on digits-cnn, {:.1} µs per step, {:.1} µs per layer, {:.3} ms per checkpoint ({:.3} ms a tiny one), disk write {disk_write_mbps:.0} MB/s, {threads} threads\n",
        speed.reference_samples_per_s,
        speed.conv_reference_samples_per_s,
        costs.step_us,
        costs.layer_us,
        costs.checkpoint_ms,
        costs.small_checkpoint_ms
    );
    println!("| spec | epochs | estimated s | measured s | error |\n|---|---:|---:|---:|---:|");
    let exec = Exec::new(threads, None).unwrap();
    let mut worst: f64 = 0.0;
    for (name, json) in matrixai_pot::examples::ALL {
        for scale in [1, 4, 16] {
            let mut spec = TaskSpec::from_json(json.as_bytes()).unwrap();
            spec.epochs *= scale;
            let estimated = estimate(&spec, &speed).unwrap().total_s;
            let data = PreparedData::for_spec(&spec, None).unwrap();
            let out = dir.path().join(format!("{name}-{scale}"));
            let started = Instant::now();
            train_bundle(&spec, &data, &out, &exec, |_, _| {}).unwrap();
            let measured = started.elapsed().as_secs_f64();
            let error = (estimated - measured) / measured;
            worst = worst.max(error.abs());
            println!(
                "| {name} | {} | {estimated:.3} | {measured:.3} | {:+.1} % |",
                spec.epochs,
                error * 100.0
            );
        }
    }
    println!(
        "\nLargest error: {:.1} % (goal: within 15 %)",
        worst * 100.0
    );
}

fn main() {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "numpy {}, {all} hardware threads, best round of at least {MIN_TIME:?}\n",
        numpy_version()
    );
    println!(
        "| n | threads | matrixai-client GFLOPS | numpy GFLOPS | ratio |\n|---:|---:|---:|---:|---:|"
    );
    let mut threads_list = vec![1];
    if all > 1 {
        threads_list.push(all);
    }
    for threads in threads_list {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for n in SIZES {
            let ours = pool.install(|| gemm_gflops(n, threads, MIN_TIME));
            let numpy = numpy_gflops(n, threads);
            println!(
                "| {n} | {threads} | {ours:.1} | {numpy:.1} | {:.2} |",
                ours / numpy
            );
        }
    }
    estimation_error(all);
}
