//! # matrixai-validator
//!
//! MatrixAI-Validator: a service run with a validator account (one that root added). It follows
//! the chain for the judging panels the chain draws it onto, and in its round judges the
//! order's Proof of Training (or the one segment a dispute names): it fetches what the judgement
//! needs from the bundle, replays it with `matrixai-pot`'s verifier in a bounded child process,
//! submits `verify_pot` and publishes the report. It also drills listed machines to verify the
//! speed they claim.
//!
//! - [`config`]: flags and environment; the account's secret.
//! - [`fetch`]: the bundle's files a judgement reads, each bounded and checked before use.
//! - [`replay`]: the verifier in a child process with a time and memory limit.
//! - [`judgement`]: where each judgement stands, persisted, so that a restart neither judges an
//!   order twice nor skips one.
//! - [`service`]: the loop.
//!
//! See docs/validator-guide.md.

pub mod config;
pub mod fetch;
pub mod judgement;
pub mod replay;
pub mod service;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

/// Everything that can stop the service or a command, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Chain(#[from] matrixai_chain::ChainError),
    #[error(transparent)]
    Pot(#[from] matrixai_pot::PotError),
    #[error("the verifier process: {0}")]
    Replay(String),
    /// The chain or the work directory says no, and why.
    #[error("{0}")]
    Refused(String),
}

impl ValidatorError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "matrixai-validator",
    version,
    about = "MatrixAI-Validator: judges the Proofs of Training the chain assigns to this account"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Judge every proof and dispute the chain assigns to this account, until stopped.
    Run(config::Options),
    /// Where each judgement of this work directory stands (JSON).
    Status {
        #[command(flatten)]
        options: config::Options,
    },
    /// The verifier's child process (internal): replays a fetched bundle and prints the report.
    #[command(hide = true)]
    Replay(replay::ReplayArgs),
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), ValidatorError> {
    match cli.command {
        Command::Run(options) => {
            let settings = config::Settings::resolve(&options)?;
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                tracing::info!("stopping");
                let _ = stop.send(true);
            });
            service::Validator::start(settings)
                .await?
                .run(stopped)
                .await
        }
        Command::Status { options } => {
            let settings = config::Settings::resolve(&options)?;
            let judgements = judgement::Judgement::load_all(&settings.work_dir)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&judgements).expect("judgements serialise")
            );
            Ok(())
        }
        Command::Replay(args) => {
            let report = tokio::task::spawn_blocking(move || replay::run_child(&args))
                .await
                .map_err(|e| ValidatorError::Replay(e.to_string()))??;
            println!(
                "{}",
                serde_json::to_string(&report).expect("a report serialises")
            );
            Ok(())
        }
    }
}
