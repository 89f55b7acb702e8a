//! Serves the API over a synthetic market of N machines (no chain), with the web UI when
//! `--ui-dir` is given: what the UI's browser tests filter and page through, and what its
//! time-to-first-render benchmark loads (docs/benchmarks.md, "Web UI").
//!
//! ```sh
//! cargo run --release -p matrixai-indexer --example synthetic_market -- --machines 10000 --ui-dir ui/dist
//! ```
//!
//! It prints `listening on http://ADDRESS` once the market is saved, and serves until its
//! standard input closes (so a test that dies takes it down) or Ctrl-C.

use matrixai_indexer::api;
use matrixai_indexer::db::Database;
use matrixai_indexer::follower::Progress;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[path = "../fixtures/synthetic.rs"]
mod synthetic;

#[tokio::main]
async fn main() {
    let mut machines = 10_000usize;
    let mut ui_dir: Option<PathBuf> = None;
    let mut listen = "127.0.0.1:0".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--machines" => machines = value().parse().expect("--machines takes a count"),
            "--ui-dir" => ui_dir = Some(value().into()),
            "--listen" => listen = value(),
            other => {
                panic!("unknown argument {other}: --machines N, --ui-dir DIR, --listen ADDRESS")
            }
        }
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = Database::open(&format!("sqlite://{}/market.db", dir.path().display()))
        .await
        .expect("the database opens");
    synthetic::fill(&database, machines, 0x5eed).await;
    let state = api::AppState::new(
        database,
        Arc::new(Progress::default()),
        tokio::sync::broadcast::channel(4).0,
    );
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .expect("the address is free");
    let address = listener.local_addr().expect("a bound address");
    println!("listening on http://{address}");
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    });
    axum::serve(listener, api::router(state, ui_dir.as_deref()))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = stdin_closed => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        })
        .await
        .expect("the server runs");
}
