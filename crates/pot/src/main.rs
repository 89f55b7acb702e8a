//! `matrixai-pot`: train a task spec into a bundle, verify a bundle, inspect either.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use matrixai_pot::{
    Commitment, Exec, PotError, PreparedData, Sha256Hex, TaskSpec, Transcript, Verdict, Verifier,
    bench, bundle, examples,
};

#[derive(Parser)]
#[command(
    name = "matrixai-pot",
    version,
    about = "MatrixAI Proof of Training: deterministic training, transcripts and verification"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a task spec and write the bundle; prints the on-chain commitment JSON.
    Train {
        #[arg(long, env = "MATRIXAI_POT_SPEC")]
        spec: PathBuf,
        /// Bundle directory to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Local copy of a CSV dataset whose spec URI is not file://.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Where the validator will fetch the bundle; defaults to file://<out>.
        #[arg(long)]
        bundle_uri: Option<String>,
        #[arg(long, env = "MATRIXAI_POT_THREADS", default_value_t = 1)]
        threads: usize,
    },
    /// Verify a bundle against its order's spec; prints a JSON report. Exit 0 accept, 2 reject.
    Verify {
        #[arg(long, env = "MATRIXAI_POT_SPEC")]
        spec: PathBuf,
        #[arg(long)]
        bundle: PathBuf,
        /// 32-byte challenge seed in hex (the hash of the block the chain names in
        /// `PotSubmitted`).
        #[arg(long, required_unless_present = "dispute", conflicts_with = "dispute")]
        challenge: Option<Sha256Hex>,
        /// Judge a dispute instead: replay exactly this 0-based segment.
        #[arg(long)]
        dispute: Option<u32>,
        /// Segments to replay (the last one always among them).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
        segments: u64,
        /// The commitment JSON submitted on chain, to check the bundle against.
        #[arg(long)]
        commitment: Option<PathBuf>,
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, env = "MATRIXAI_POT_THREADS", default_value_t = 1)]
        threads: usize,
    },
    /// Summarise a spec file or a bundle directory as JSON.
    Inspect { path: PathBuf },
    /// Benchmark the example models (JSON on stdout); bench/pot/run.sh wraps it.
    Bench {
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Random challenges per cell of the detection table (0 skips it).
        #[arg(long, default_value_t = 200)]
        trials: usize,
        /// Epoch and checkpoint-interval multipliers to run the examples at (same segment count).
        #[arg(long, num_args = 1.., default_values_t = [1u32])]
        scales: Vec<u32>,
        /// Scratch directory for bundles.
        #[arg(long, default_value = "target/pot-bench")]
        work_dir: PathBuf,
    },
}

fn read_spec(path: &Path) -> Result<TaskSpec, PotError> {
    let bytes = bundle::read_file_bounded(path, matrixai_pot::spec::limits::MAX_SPEC_BYTES)
        .map_err(|detail| PotError::File {
            path: path.to_path_buf(),
            detail,
        })?;
    Ok(TaskSpec::from_json(&bytes)?)
}

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} steps  loss {msg}  eta {eta}")
            .expect("valid template"),
    );
    bar
}

fn run(cli: Cli) -> Result<ExitCode, PotError> {
    match cli.command {
        Command::Train {
            spec,
            out,
            data,
            bundle_uri,
            threads,
        } => {
            let spec = read_spec(&spec)?;
            let plan = spec.validate()?;
            let data = PreparedData::for_spec(&spec, data.as_deref())?;
            let exec = Exec::new(threads, None)?;
            tracing::info!(
                steps = plan.total_steps,
                checkpoints = plan.segment_count() + 1,
                parameters = plan.architecture.parameter_count(),
                "training"
            );
            let bar = progress_bar(plan.total_steps);
            let summary = matrixai_pot::train_bundle(&spec, &data, &out, &exec, |step, loss| {
                bar.set_position(step);
                bar.set_message(format!("{loss:.4}"));
            })?;
            bar.finish_and_clear();
            tracing::info!(accuracy_ppm = summary.transcript.accuracy_ppm, root = %summary.transcript.root, "bundle written to {}", out.display());
            let uri = bundle_uri.unwrap_or_else(|| {
                format!(
                    "file://{}",
                    std::path::absolute(&out).unwrap_or(out.clone()).display()
                )
            });
            let commitment = Commitment::new(&summary, &uri)?;
            println!(
                "{}",
                String::from_utf8(commitment.to_json()?).expect("JSON is UTF-8")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            spec,
            bundle,
            challenge,
            dispute,
            segments,
            commitment,
            data,
            threads,
        } => {
            let spec = read_spec(&spec)?;
            let data = PreparedData::for_spec(&spec, data.as_deref())?;
            let exec = Exec::new(threads, None)?;
            let commitment = match commitment {
                Some(path) => {
                    let bytes = bundle::read_file_bounded(
                        &path,
                        matrixai_pot::commitment::MAX_PROOFSDATA_BYTES as u64,
                    )
                    .map_err(|detail| PotError::File {
                        path: path.clone(),
                        detail,
                    })?;
                    Some(Commitment::from_json(bytes.trim_ascii())?)
                }
                None => None,
            };
            let verifier = Verifier::new(&spec, &data, &exec)?;
            let report = match (challenge, dispute) {
                (_, Some(segment)) => verifier.judge_dispute(&bundle, segment, commitment.as_ref()),
                (Some(challenge), None) => verifier.verify(
                    &bundle,
                    challenge.0,
                    usize::try_from(segments).unwrap_or(usize::MAX),
                    commitment.as_ref(),
                ),
                (None, None) => unreachable!("clap requires --challenge or --dispute"),
            };
            print_json(&report);
            match report.verdict {
                Verdict::Accept => {
                    tracing::info!("accepted");
                    Ok(ExitCode::SUCCESS)
                }
                Verdict::Reject => {
                    tracing::warn!(reasons = ?report.reasons.iter().map(|r| r.code()).collect::<Vec<_>>(), "rejected");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Inspect { path } => {
            if path.is_dir() {
                let bytes = bundle::read_bundle_file(&path, bundle::TRANSCRIPT_FILE, 64 << 20)
                    .map_err(|detail| PotError::File {
                        path: path.join(bundle::TRANSCRIPT_FILE),
                        detail,
                    })?;
                let transcript: Transcript = serde_json::from_slice(&bytes)
                    .map_err(|e| PotError::Bundle(format!("transcript.json: {e}")))?;
                print_json(&serde_json::json!({
                    "kind": "bundle",
                    "spec_sha256": transcript.spec_sha256,
                    "total_steps": transcript.total_steps,
                    "checkpoints": transcript.leaves.len(),
                    "root": transcript.root,
                    "final_model_sha256": transcript.final_model_sha256,
                    "accuracy_ppm": transcript.accuracy_ppm,
                    "eval_rows": transcript.eval_rows,
                    "first_loss": transcript.leaves.get(1).map(|l| l.loss),
                    "last_loss": transcript.leaves.last().map(|l| l.loss),
                }));
            } else {
                let spec = read_spec(&path)?;
                let plan = spec.validate()?;
                print_json(&serde_json::json!({
                    "kind": "spec",
                    "spec_sha256": Sha256Hex(spec.sha256()),
                    "dataset": plan.shape,
                    "train_rows": plan.train_rows,
                    "eval_rows": plan.eval_rows,
                    "parameters": plan.architecture.parameter_count(),
                    "tensors": plan.architecture.tensors.iter().map(|t| serde_json::json!({"name": t.name, "shape": t.shape})).collect::<Vec<_>>(),
                    "optimizer_state_values": plan.optimizer_state_len,
                    "steps_per_epoch": plan.steps_per_epoch,
                    "total_steps": plan.total_steps,
                    "checkpoints": plan.segment_count() + 1,
                    "checkpoint_bytes": bundle::checkpoint_file_bytes(plan.architecture.parameter_count(), plan.optimizer_state_len),
                }));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            threads,
            repeats,
            trials,
            scales,
            work_dir,
        } => {
            let exec = Exec::new(threads, None)?;
            let repeats = repeats.max(1);
            let mut models = Vec::new();
            for scale in scales {
                for (name, json) in examples::ALL {
                    let spec = TaskSpec::from_json(json.as_bytes())?;
                    tracing::info!(model = name, scale, "benchmarking");
                    models.push(bench::bench_model(
                        name, &spec, scale, &exec, repeats, &work_dir,
                    )?);
                }
            }
            let detection = if trials > 0 {
                let iris = TaskSpec::from_json(examples::IRIS_SOFTMAX.as_bytes())?;
                tracing::info!(trials, "measuring detection rates");
                bench::bench_detection("iris-softmax", &iris, &exec, trials, &work_dir)?
            } else {
                Vec::new()
            };
            print_json(&bench::BenchReport {
                threads: exec.threads(),
                repeats,
                models,
                detection,
            });
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
