//! The verifier runs in a child process (this binary's hidden `replay` command), so that a
//! judgement has hard bounds: the process is killed at the time limit, its address space is
//! capped, and it dies with the service (`PR_SET_PDEATHSIG`) rather than outliving a crash.
//! A replay is deterministic, so a killed one is simply run again.

use crate::ValidatorError;
use clap::Args;
use matrixai_pot::{Commitment, Exec, PreparedData, Report, Sha256Hex, TaskSpec, Verifier, bundle};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of the child process.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The order's spec (canonical JSON).
    #[arg(long)]
    pub spec: PathBuf,
    /// The fetched bundle directory.
    #[arg(long)]
    pub bundle: PathBuf,
    /// The order's CSV dataset, when it is not bundled.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The commitment JSON from the chain.
    #[arg(long)]
    pub commitment: PathBuf,
    /// A proof: the challenge seed (hex), and how many segments to replay.
    #[arg(long, conflicts_with = "dispute", required_unless_present = "dispute")]
    pub challenge: Option<Sha256Hex>,
    #[arg(long, default_value_t = 4)]
    pub segments: u32,
    /// A dispute: the one segment to replay.
    #[arg(long)]
    pub dispute: Option<u32>,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// The child's work: verify and return the report.
pub fn run_child(args: &ReplayArgs) -> Result<Report, ValidatorError> {
    let read = |path: &Path, max_bytes: u64| {
        bundle::read_file_bounded(path, max_bytes)
            .map_err(|detail| ValidatorError::Replay(format!("{}: {detail}", path.display())))
    };
    let spec = TaskSpec::from_json(&read(
        &args.spec,
        matrixai_pot::spec::limits::MAX_SPEC_BYTES,
    )?)
    .map_err(matrixai_pot::PotError::from)?;
    let commitment = Commitment::from_json(&read(
        &args.commitment,
        matrixai_pot::commitment::MAX_PROOFSDATA_BYTES as u64,
    )?)?;
    let data = PreparedData::for_spec(&spec, args.data.as_deref())?;
    let exec = Exec::new(args.threads, None)?;
    let verifier = Verifier::new(&spec, &data, &exec)?;
    Ok(match (args.challenge, args.dispute) {
        (_, Some(segment)) => verifier.judge_dispute(&args.bundle, segment, Some(&commitment)),
        (Some(seed), None) => verifier.verify(
            &args.bundle,
            seed.0,
            args.segments as usize,
            Some(&commitment),
        ),
        (None, None) => {
            return Err(ValidatorError::Replay(
                "neither --challenge nor --dispute".into(),
            ));
        }
    })
}

/// What the child process gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Replayed {
    /// The verifier's report, as JSON.
    Report(serde_json::Value),
    /// Killed at the time limit.
    TimedOut,
    /// It failed without a report (out of memory, a crash): `stderr`'s tail.
    Crashed(String),
}

/// Runs the verifier in a child process of this executable, bounded by `time_limit` and
/// `memory_limit_bytes` of address space.
pub async fn replay(
    args: &ReplayArgs,
    time_limit: Duration,
    memory_limit_bytes: u64,
) -> Result<Replayed, ValidatorError> {
    let exe = std::env::current_exe()
        .map_err(|e| ValidatorError::Replay(format!("cannot find this executable: {e}")))?;
    let mut command = tokio::process::Command::new(&exe);
    command
        .arg("replay")
        .arg("--spec")
        .arg(&args.spec)
        .arg("--bundle")
        .arg(&args.bundle)
        .arg("--commitment")
        .arg(&args.commitment)
        .arg("--segments")
        .arg(args.segments.to_string())
        .arg("--threads")
        .arg(args.threads.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    // Its own process group: a Ctrl-C at the terminal stops the service, which then ends the
    // replay itself; the replay is not killed from under a judgement that is still going.
    #[cfg(unix)]
    command.process_group(0);
    if let Some(data) = &args.data {
        command.arg("--data").arg(data);
    }
    if let Some(seed) = &args.challenge {
        command.arg("--challenge").arg(seed.to_string());
    }
    if let Some(segment) = args.dispute {
        command.arg("--dispute").arg(segment.to_string());
    }
    #[cfg(target_os = "linux")]
    // SAFETY: between fork and exec only async-signal-safe calls (prctl, setrlimit) run.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let limit = libc::rlimit {
                rlim_cur: memory_limit_bytes as libc::rlim_t,
                rlim_max: memory_limit_bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| ValidatorError::Replay(format!("cannot start {}: {e}", exe.display())))?;
    let output = match tokio::time::timeout(time_limit, child.wait_with_output()).await {
        Ok(output) => output.map_err(|e| ValidatorError::Replay(e.to_string()))?,
        // Dropping the future kills the child (`kill_on_drop`).
        Err(_) => return Ok(Replayed::TimedOut),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = {
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    };
    if !output.status.success() {
        return Ok(Replayed::Crashed(format!("{}: {tail}", output.status)));
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(report) => Ok(Replayed::Report(report)),
        Err(e) => Ok(Replayed::Crashed(format!(
            "unreadable report ({e}): {tail}"
        ))),
    }
}
