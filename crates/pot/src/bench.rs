//! Benchmarks printed by `matrixai-pot bench`: verification cost against training cost, engine
//! throughput, and measured detection rates. Every figure is measured in the same run as its
//! anchor; `bench/pot/run.sh` adds the PyTorch comparison and writes docs/benchmarks.md.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::attacks;
use crate::bundle::train_bundle;
use crate::chacha::{CounterRng, derive_key};
use crate::dataset::PreparedData;
use crate::error::PotError;
use crate::kernels::Exec;
use crate::spec::TaskSpec;
use crate::train::Trainer;
use crate::verify::{Verdict, Verifier, detection_probability};

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub threads: usize,
    pub repeats: usize,
    pub models: Vec<ModelBench>,
    pub detection: Vec<DetectionCell>,
}

#[derive(Debug, Serialize)]
pub struct ModelBench {
    pub name: String,
    /// Epochs and checkpoint interval multiplied by this (same segment count, longer run).
    pub scale: u32,
    pub parameters: usize,
    pub train_rows: u64,
    pub epochs: u32,
    pub batch_size: u32,
    pub total_steps: u64,
    pub checkpoint_interval: u64,
    pub segments: usize,
    /// Median seconds of the bare training loop (no checkpoints written).
    pub engine_seconds: f64,
    pub engine_samples_per_second: f64,
    /// Median seconds of `train_bundle` (training, checkpoints, manifest, evaluation).
    pub train_bundle_seconds: f64,
    pub accuracy_ppm: u32,
    /// Median seconds of the static checks alone (`check_bundle`, no replay).
    pub check_seconds: f64,
    pub verify: Vec<VerifyCost>,
}

#[derive(Debug, Serialize)]
pub struct VerifyCost {
    pub sampled_segments: usize,
    /// Median seconds of a full verification (all static checks and the replay).
    pub seconds: f64,
    /// `seconds / engine_seconds`: against the compute of training.
    pub fraction_of_engine: f64,
    /// `seconds / train_bundle_seconds`: against what the trainer actually spends.
    pub fraction_of_train_bundle: f64,
}

#[derive(Debug, Serialize)]
pub struct DetectionCell {
    pub model: String,
    pub segments: usize,
    pub forged_segments: usize,
    pub forged_fraction: f64,
    pub sampled_segments: usize,
    pub trials: usize,
    pub detected: usize,
    pub measured_rate: f64,
    pub predicted_rate: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn challenge(trial: u64) -> [u8; 32] {
    derive_key("bench-challenge", &trial.to_le_bytes())
}

/// Measures one example model, its epochs and checkpoint interval multiplied by `scale`:
/// training throughput, bundle training and verification for s = 1, 4, 16.
pub fn bench_model(
    name: &str,
    spec: &TaskSpec,
    scale: u32,
    exec: &Exec,
    repeats: usize,
    work_dir: &Path,
) -> Result<ModelBench, PotError> {
    let mut spec = spec.clone();
    spec.epochs *= scale;
    spec.checkpoint_interval *= scale;
    let spec = &spec;
    let plan = spec.validate()?;
    let data = PreparedData::for_spec(spec, None)?;
    let mut engine_times = Vec::new();
    let mut bundle_times = Vec::new();
    let mut accuracy_ppm = 0;
    let bundle_dir = work_dir.join(format!("{name}-x{scale}"));
    for _ in 0..repeats {
        let started = Instant::now();
        Trainer::new(spec, &plan, &data, exec)?.train(|_| Ok(()))?;
        engine_times.push(started.elapsed().as_secs_f64());

        if bundle_dir.exists() {
            std::fs::remove_dir_all(&bundle_dir).map_err(|e| PotError::io(&bundle_dir, e))?;
        }
        let started = Instant::now();
        let summary = train_bundle(spec, &data, &bundle_dir, exec, |_, _| {})?;
        bundle_times.push(started.elapsed().as_secs_f64());
        accuracy_ppm = summary.transcript.accuracy_ppm;
    }
    let engine_seconds = median(engine_times);
    let train_bundle_seconds = median(bundle_times);
    let verifier = Verifier::new(spec, &data, exec)?;
    let check_seconds = median(
        (0..repeats)
            .map(|_| {
                let started = Instant::now();
                verifier.check_bundle(&bundle_dir, None);
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let mut verify = Vec::new();
    for sampled_segments in [1, 4, 16] {
        let mut times = Vec::new();
        for trial in 0..repeats {
            let started = Instant::now();
            let report = Verifier::new(spec, &data, exec)?.verify(
                &bundle_dir,
                challenge(trial as u64),
                sampled_segments,
                None,
            );
            times.push(started.elapsed().as_secs_f64());
            if report.verdict != Verdict::Accept {
                return Err(PotError::Bench(format!(
                    "{name}: honest bundle rejected: {:?}",
                    report.reasons
                )));
            }
        }
        let seconds = median(times);
        verify.push(VerifyCost {
            sampled_segments,
            seconds,
            fraction_of_engine: seconds / engine_seconds,
            fraction_of_train_bundle: seconds / train_bundle_seconds,
        });
    }
    Ok(ModelBench {
        name: name.to_string(),
        scale,
        parameters: plan.architecture.parameter_count(),
        train_rows: plan.train_rows,
        epochs: spec.epochs,
        batch_size: spec.batch_size,
        total_steps: plan.total_steps,
        checkpoint_interval: plan.checkpoint_interval,
        segments: plan.segment_count(),
        engine_seconds,
        engine_samples_per_second: (plan.train_rows * u64::from(spec.epochs)) as f64
            / engine_seconds,
        train_bundle_seconds,
        accuracy_ppm,
        check_seconds,
        verify,
    })
}

/// Forges a fraction of segments in a run of `spec` and counts how many of `trials` random
/// challenges reject it, for s = 1, 4, 16; the prediction is [`detection_probability`].
pub fn bench_detection(
    name: &str,
    spec: &TaskSpec,
    exec: &Exec,
    trials: usize,
    work_dir: &Path,
) -> Result<Vec<DetectionCell>, PotError> {
    let plan = spec.validate()?;
    let data = PreparedData::for_spec(spec, None)?;
    let segments = plan.segment_count();
    let verifier = Verifier::new(spec, &data, exec)?;
    let mut cells = Vec::new();
    for fraction in [0.01, 0.05, 0.10, 0.25, 0.50] {
        let forged_count = ((segments - 1) as f64 * fraction).round().max(1.0) as usize;
        let mut candidates: Vec<usize> = (0..segments - 1).collect();
        CounterRng::for_seed("bench-forgery", forged_count as u64, 0).shuffle(&mut candidates);
        let forged = &candidates[..forged_count];
        let dir = work_dir.join(format!("{name}-forged-{forged_count}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| PotError::io(&dir, e))?;
        }
        attacks::forge_segments(spec, &data, exec, forged, &dir)?;
        let checked = verifier.check_bundle(&dir, None);
        if !checked.reasons.is_empty() {
            return Err(PotError::Bench(format!(
                "forged bundle failed static checks: {:?}",
                checked.reasons
            )));
        }
        for sampled_segments in [1, 4, 16] {
            let detected = (0..trials)
                .filter(|&trial| {
                    verifier
                        .replay_challenge(&checked, challenge(trial as u64), sampled_segments)
                        .verdict
                        == Verdict::Reject
                })
                .count();
            cells.push(DetectionCell {
                model: name.to_string(),
                segments,
                forged_segments: forged_count,
                forged_fraction: forged_count as f64 / segments as f64,
                sampled_segments,
                trials,
                detected,
                measured_rate: detected as f64 / trials as f64,
                predicted_rate: detection_probability(segments, forged_count, sampled_segments),
            });
        }
    }
    Ok(cells)
}
