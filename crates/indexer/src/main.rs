use clap::Parser;
use matrixai_indexer::{Config, Indexer};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Config::parse();
    let outcome = match Indexer::start(&config).await {
        Ok(indexer) => indexer.run_until_signal().await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("matrixai-indexer: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
