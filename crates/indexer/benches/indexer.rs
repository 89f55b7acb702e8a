//! The indexer's figures (docs/benchmarks.md, "Indexer"): `scripts/bench-indexer.sh`.
//!
//! 1. Market query latency, p50 and p99 over the HTTP API, at 1k, 10k and 100k machines, on
//!    SQLite and on PostgreSQL in the same run; the anchor is a machine fetched by id
//!    (`GET /api/machine/{id}`) on the same server.
//! 2. Catch-up throughput from a local dev node: blocks/s and events/s, from genesis over a
//!    chain with a dense stretch of market events, then, into the same databases, over the
//!    [`EMPTY_BLOCKS`] empty blocks finalized while the other benchmarks ran.
//! 3. Live lag: from the client seeing its call finalized to the row being queryable.

use matrixai_chain::keys::{self, dev};
use matrixai_chain::testing::{TestNode, submit_burst, wait_for_nonce};
use matrixai_chain::{UNIT, runtime};
use matrixai_indexer::db::Database;
use matrixai_indexer::follower::{Follower, Progress};
use matrixai_indexer::ids;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[path = "../fixtures/synthetic.rs"]
mod synthetic;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const REQUESTS: usize = 300;
/// Empty blocks the second catch-up pass indexes (the dev chain makes one every 3 s).
const EMPTY_BLOCKS: u64 = 400;
/// Typical market queries: what a buyer's page asks, sorted and paged.
fn queries() -> Vec<(&'static str, Value)> {
    vec![
        ("listed, by price", json!({"sort": "price"})),
        (
            "GPU model + count, by performance",
            json!({"gpu_model": "NVIDIA H100", "gpu_count_min": 2, "sort": "performance"}),
        ),
        (
            "region + price range, by reliability",
            json!({"region": "eu-west", "price_min": "1000000000000", "price_max": "9000000000000", "sort": "reliability"}),
        ),
        (
            "performance + RAM floor, by value, page 5",
            json!({"performance_min": 5.0, "ram_mb_min": 65536, "sort": "performance_per_price", "page": 5}),
        ),
        (
            "available, disk floor, by price",
            json!({"available_only": true, "disk_gb_min": 500, "sort": "price", "page_size": 50}),
        ),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1_000.0)
}

async fn fresh_database(kind: &str) -> Option<(Database, String, Option<tempfile::TempDir>)> {
    match kind {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/bench.db", dir.path().display());
            Some((Database::open(&url).await.unwrap(), url, Some(dir)))
        }
        _ => {
            let admin_url = std::env::var("MATRIXAI_TEST_POSTGRES").ok()?;
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(&admin_url).await.unwrap();
            static DATABASES: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "matrixai_bench_{}_{}",
                std::process::id(),
                DATABASES.fetch_add(1, Ordering::Relaxed)
            );
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .unwrap();
            let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
            Some((Database::open(&url).await.unwrap(), url, None))
        }
    }
}

async fn query_benchmark() {
    println!("\n### Market query latency (HTTP, {REQUESTS} requests per query)\n");
    println!(
        "| backend | machines | query | p50 (ms) | p99 (ms) | p99 / anchor p50 |\n|---|---:|---|---:|---:|---:|"
    );
    let http = reqwest::Client::new();
    for kind in ["sqlite", "postgres"] {
        for size in SIZES {
            let Some((database, _url, _dir)) = fresh_database(kind).await else {
                eprintln!("MATRIXAI_TEST_POSTGRES is not set: no PostgreSQL figures");
                break;
            };
            let machines = synthetic::fill(&database, size, 0x5eed ^ size as u64).await;
            if kind == "postgres" {
                sqlx::query("ANALYZE")
                    .execute(database.pool())
                    .await
                    .unwrap();
            }
            let base = synthetic::serve(database, None).await;
            let mut anchor = Vec::new();
            for i in 0..REQUESTS {
                let id = &machines[i * 7919 % size].machine_id;
                let started = Instant::now();
                let response = http
                    .get(format!("{base}/api/machine/{id}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                anchor.push(started.elapsed());
            }
            anchor.sort();
            let anchor_p50 = percentile(&anchor, 0.5);
            println!(
                "| {kind} | {size} | anchor: machine by id | {} | {} | {:.1} |",
                ms(anchor_p50),
                ms(percentile(&anchor, 0.99)),
                percentile(&anchor, 0.99).as_secs_f64() / anchor_p50.as_secs_f64()
            );
            for (name, body) in queries() {
                let mut times = Vec::new();
                for _ in 0..REQUESTS {
                    let started = Instant::now();
                    let response = http
                        .post(format!("{base}/api/machine/market"))
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200, "{name}");
                    response.bytes().await.unwrap();
                    times.push(started.elapsed());
                }
                times.sort();
                let p99 = percentile(&times, 0.99);
                println!(
                    "| {kind} | {size} | {name} | {} | {} | {:.1} |",
                    ms(percentile(&times, 0.5)),
                    ms(p99),
                    p99.as_secs_f64() / anchor_p50.as_secs_f64()
                );
            }
        }
    }
}

/// Four owners add 250 machines each and re-price them four times: 5 000 market events in a
/// few dense blocks.
async fn dense_market(client: &matrixai_chain::ChainClient) -> u64 {
    let metadata = matrixai_chain::machine_metadata::example("eu-west", 1.0)
        .to_bytes()
        .unwrap();
    let mut waits = Vec::new();
    for (tag, owner) in [dev::bob(), dev::charlie(), dev::eve(), dev::ferdie()]
        .iter()
        .enumerate()
    {
        let market = runtime::tx().hashrate_market();
        let id = |index: usize| {
            let mut id = [0u8; 16];
            id[0] = tag as u8 + 1;
            id[1..3].copy_from_slice(&(index as u16).to_be_bytes());
            id
        };
        let adds: Vec<_> = (0..250)
            .map(|i| market.add_machine(id(i), metadata.clone()))
            .collect();
        let offers: Vec<_> = (1..=4u128)
            .flat_map(|round| (0..250).map(move |i| (round, i)))
            .map(|(round, i)| market.make_offer(id(i), round * UNIT, 8, 100))
            .collect();
        submit_burst(client, owner, &adds).await.unwrap();
        let nonce = submit_burst(client, owner, &offers).await.unwrap();
        waits.push((keys::account_id(owner), nonce));
    }
    let mut last = 0;
    for (account, nonce) in waits {
        last = last.max(
            wait_for_nonce(client, &account, nonce, Duration::from_secs(600))
                .await
                .unwrap(),
        );
    }
    last
}

/// A database being caught up, kept between the two passes.
struct CatchUp {
    kind: &'static str,
    database: Database,
    _dir: Option<tempfile::TempDir>,
    indexed: u64,
}

/// First pass: from genesis over the dense blocks to the head, on each backend.
async fn catch_up_dense(node: &TestNode) -> Vec<CatchUp> {
    println!("\n### Catch-up from a local dev node\n");
    println!(
        "| backend | pass | blocks | events | seconds | blocks/s | events/s |\n|---|---|---:|---:|---:|---:|---:|"
    );
    let mut passes = Vec::new();
    for kind in ["sqlite", "postgres"] {
        let Some((database, _url, dir)) = fresh_database(kind).await else {
            break;
        };
        let mut pass = CatchUp {
            kind,
            database,
            _dir: dir,
            indexed: 0,
        };
        catch_up_pass(node, &mut pass, "genesis to head, dense").await;
        passes.push(pass);
    }
    passes
}

/// One `Follower::catch_up` (connection and metadata included) from `pass.indexed` to the
/// finalized head, printed as a row.
async fn catch_up_pass(node: &TestNode, pass: &mut CatchUp, label: &str) {
    let count_events = async |database: &Database| -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(database.pool())
            .await
            .unwrap()
    };
    let events_before = count_events(&pass.database).await;
    let follower = Follower::new(
        node.rpc_url().to_string(),
        pass.database.clone(),
        Arc::new(Progress::default()),
        tokio::sync::broadcast::channel(4).0,
    );
    let started = Instant::now();
    let head = follower.catch_up().await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let blocks = head - pass.indexed;
    let events = count_events(&pass.database).await - events_before;
    pass.indexed = head;
    println!(
        "| {} | {label} | {blocks} | {events} | {elapsed:.2} | {:.0} | {:.0} |",
        pass.kind,
        blocks as f64 / elapsed,
        events as f64 / elapsed
    );
}

async fn live_lag_benchmark(node: &TestNode) {
    let dir = tempfile::tempdir().unwrap();
    let config = matrixai_indexer::Config {
        node: node.rpc_url().to_string(),
        database: Some(format!("sqlite://{}/live.db", dir.path().display())),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        max_lag: 10,
        batch_blocks: 512,
        ui_dir: None,
        chain_spec: None,
    };
    let indexer = matrixai_indexer::Indexer::start(&config).await.unwrap();
    let base = format!("http://{}", indexer.address);
    let http = reqwest::Client::new();
    let client = node.client().await.unwrap();
    let mut id = [0u8; 16];
    id[0] = 1;
    let path = format!("{base}/api/machine/{}", ids::uuid(&id));
    let mut lags = Vec::new();
    for round in 0..10u128 {
        let price = (10 + round) * UNIT;
        let call = runtime::tx()
            .hashrate_market()
            .make_offer(id, price, 8, 100);
        client.submit(&call, &dev::bob()).await.unwrap();
        let seen = Instant::now();
        loop {
            let detail: Value = http.get(&path).send().await.unwrap().json().await.unwrap();
            if detail["machine"]["price_per_hour"] == price.to_string() {
                break;
            }
            assert!(seen.elapsed() < Duration::from_secs(60), "never indexed");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lags.push(seen.elapsed());
    }
    lags.sort();
    println!("\n### Live lag\n");
    println!(
        "From `submit` returning (the client saw the block finalized) to the new price served by `GET /api/machine/{{id}}`, 10 re-prices: p50 {} ms, max {} ms (SQLite).",
        ms(percentile(&lags, 0.5)),
        ms(*lags.last().unwrap())
    );
    indexer.shutdown().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let node = TestNode::dev().await.expect("a dev node");
        let client = node.client().await.unwrap();
        let dense_until = dense_market(&client).await;
        eprintln!("5 000 market events final by block #{dense_until}");
        client
            .wait_for_finalized_block(dense_until + 1, Duration::from_secs(60))
            .await
            .unwrap();
        live_lag_benchmark(&node).await;
        let mut passes = catch_up_dense(&node).await;
        query_benchmark().await;
        // Second pass: the same databases, over the empty blocks finalized since.
        client
            .wait_for_finalized_block(dense_until + EMPTY_BLOCKS, Duration::from_secs(1800))
            .await
            .unwrap();
        for pass in &mut passes {
            catch_up_pass(&node, pass, "empty blocks since").await;
        }
    });
}
