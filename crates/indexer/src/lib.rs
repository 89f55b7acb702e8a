//! # matrixai-indexer
//!
//! MatrixAI-Indexing: follows the chain's finalized blocks into SQLite, PostgreSQL or
//! MySQL/MariaDB and serves the marketplace HTTP API the UI, the trainer agent and anyone
//! browsing the market use.
//!
//! - [`follower`]: finalized blocks → rows, each batch with the cursor in one transaction.
//! - [`ingest`]: what each hashrate-market and faucet event changes.
//! - [`db`], [`store`]: the database, its migrations and rows.
//! - [`api`]: the HTTP API (axum), its OpenAPI document and Swagger UI.
//!
//! See docs/indexer.md.

pub mod api;
pub mod db;
pub mod follower;
pub use matrixai_chain::ids;
pub mod ingest;
pub mod store;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

/// `matrixai-indexer`'s configuration: flags, each with an environment fallback.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "matrixai-indexer",
    version,
    about = "Indexes the MatrixAI chain and serves the marketplace API"
)]
pub struct Config {
    /// WebSocket RPC endpoint of a node that keeps state (`--state-pruning archive-canonical`).
    #[arg(long, env = "MATRIXAI_NODE_URL", default_value = "ws://127.0.0.1:9944")]
    pub node: String,
    /// sqlite://PATH, postgres://USER:PASSWORD@HOST/DB or mysql://USER:PASSWORD@HOST/DB.
    /// Default: an SQLite file in the data directory.
    #[arg(long, env = "MATRIXAI_INDEXER_DATABASE")]
    pub database: Option<String>,
    /// Address the HTTP API listens on.
    #[arg(
        long,
        env = "MATRIXAI_INDEXER_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Where the default SQLite database lives. Default: $XDG_DATA_HOME/matrixai or
    /// ~/.local/share/matrixai.
    #[arg(long, env = "MATRIXAI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `/health` fails when the index is more than this many finalized blocks behind and has
    /// not moved for a minute.
    #[arg(long, env = "MATRIXAI_INDEXER_MAX_LAG", default_value_t = 10)]
    pub max_lag: u64,
    /// During catch-up, commit every this many blocks (and at most 4096 events): larger is
    /// faster, smaller loses less work to a crash.
    #[arg(long, env = "MATRIXAI_INDEXER_BATCH_BLOCKS", default_value_t = follower::DEFAULT_BATCH_BLOCKS)]
    pub batch_blocks: usize,
    /// Serves the web UI's production build (`ui/dist`) from this directory on the API's
    /// origin: every path outside `/api/`, `/docs`, `/health` and `/metrics` is a file of it or
    /// the UI's `index.html` (the UI routes by path).
    #[arg(long, env = "MATRIXAI_UI_DIR")]
    pub ui_dir: Option<PathBuf>,
    /// The chain spec of the chain followed (`matrixai-node build-spec --raw`, with bootnodes a
    /// browser reaches over WebSocket), served at `/api/chain-spec` for the web UI's light
    /// client.
    #[arg(long, env = "MATRIXAI_CHAIN_SPEC")]
    pub chain_spec: Option<PathBuf>,
}

impl Config {
    pub fn database_url(&self) -> String {
        if let Some(url) = &self.database {
            return url.clone();
        }
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(matrixai_chain::default_data_dir);
        format!("sqlite://{}", data_dir.join("indexer.db").display())
    }
}

/// The chain spec's bytes, once they are known to be a JSON object.
fn read_chain_spec(path: &std::path::Path) -> Result<axum::body::Bytes, RunError> {
    let failed = |detail: String| RunError::ChainSpec {
        path: path.to_path_buf(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|error| failed(error.to_string()))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(_)) => Ok(bytes.into()),
        Ok(_) => Err(failed("not a JSON object".into())),
        Err(error) => Err(failed(format!("not JSON: {error}"))),
    }
}

/// Why the indexer stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Database(#[from] db::DbError),
    #[error(transparent)]
    Follower(#[from] follower::IndexerError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("--ui-dir {0}: no index.html there (build the UI with `npm run build` in ui/)")]
    UiDir(PathBuf),
    #[error("--chain-spec {path}: {detail}")]
    ChainSpec { path: PathBuf, detail: String },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// A running indexer: the follower and the API, until [`Indexer::shutdown`] or a fatal error.
pub struct Indexer {
    pub address: SocketAddr,
    shutdown: watch::Sender<bool>,
    follower: tokio::task::JoinHandle<Result<(), follower::IndexerError>>,
    server: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl Indexer {
    /// Opens the database, starts following the node and serves the API.
    pub async fn start(config: &Config) -> Result<Self, RunError> {
        if let Some(dir) = &config.ui_dir
            && !dir.join("index.html").is_file()
        {
            return Err(RunError::UiDir(dir.clone()));
        }
        let chain_spec = config
            .chain_spec
            .as_deref()
            .map(read_chain_spec)
            .transpose()?;
        let database = db::Database::open(&config.database_url()).await?;
        let progress = Arc::new(follower::Progress::default());
        let committed = broadcast::channel(64).0;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let follower = follower::Follower::new(
            config.node.clone(),
            database.clone(),
            progress.clone(),
            committed.clone(),
        )
        .with_batch_blocks(config.batch_blocks);
        let follower_shutdown = shutdown_rx.clone();
        let follower = tokio::spawn(async move { follower.run(follower_shutdown).await });
        let mut state = api::AppState::new(database, progress, committed);
        state.max_lag = config.max_lag;
        state.chain_spec = chain_spec;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| RunError::Listen {
                address: config.listen,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| RunError::Listen {
            address: config.listen,
            source,
        })?;
        let mut server_shutdown = shutdown_rx;
        let router = api::router(state, config.ui_dir.as_deref());
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = server_shutdown.wait_for(|stop| *stop).await;
                })
                .await
        });
        tracing::info!(%address, "MatrixAI indexer API listening");
        Ok(Self {
            address,
            shutdown,
            follower,
            server,
        })
    }

    /// Runs until Ctrl-C (or SIGTERM) or until the follower meets an error it cannot recover from.
    pub async fn run_until_signal(mut self) -> Result<(), RunError> {
        let outcome = tokio::select! {
            _ = shutdown_signal() => Ok(()),
            joined = &mut self.follower => match joined {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(RunError::Follower(error)),
                Err(panic) => std::panic::resume_unwind(panic.into_panic()),
            },
        };
        let _ = self.shutdown.send(true);
        if let Ok(Err(error)) = self.server.await {
            return Err(RunError::Serve(error));
        }
        outcome
    }

    /// Stops following and serving.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.follower.await;
        let _ = self.server.await;
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
