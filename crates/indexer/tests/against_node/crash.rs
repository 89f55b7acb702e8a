//! Crash safety: `kill -9` the indexer at random moments while it catches up with a chain of
//! more than 1 000 market events, restarting it each time, then compare its database with a
//! clean index row for row. Then stop and restart the node under a running indexer: it
//! reconnects and misses nothing.

use crate::common::{TestDatabase, TestIndexer};
use matrixai_chain::keys::{self, dev};
use matrixai_chain::testing::{TestNode, submit_burst, wait_for_nonce};
use matrixai_chain::{MachineId, UNIT, runtime};
use matrixai_indexer::db::Database;
use sqlx::{Column, Row};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(240);
/// Machines per owner; each gets an offer, re-priced five times, and a quarter are delisted.
const MACHINES_PER_OWNER: u8 = 40;

/// Every table the follower writes, with its key order (the cursor is compared separately: the
/// chain goes on, so two indexes stop at different heights of empty blocks).
const TABLES: [(&str, &str); 6] = [
    ("events", "block_number, event_index"),
    ("machines", "machine_id"),
    ("orders", "order_id, placed_at"),
    ("validators", "account"),
    ("faucet_claims", "block_number, event_index"),
    ("totals", "id"),
];

fn machine(owner: u8, index: u8) -> MachineId {
    let mut id = [0u8; 16];
    id[0] = owner;
    id[1] = index;
    id
}

/// Fills the chain: four owners each add 40 machines, list them, re-price them five times and
/// delist ten: 1 160 market events. Returns a finalized block 60 blocks after all are final.
async fn busy_market(client: &matrixai_chain::ChainClient) -> u64 {
    let metadata = matrixai_chain::machine_metadata::example("eu-west", 1.0)
        .to_bytes()
        .unwrap();
    let owners = [dev::bob(), dev::charlie(), dev::eve(), dev::ferdie()];
    let mut waits = Vec::new();
    for (owner_index, owner) in owners.iter().enumerate() {
        let owner_tag = owner_index as u8 + 1;
        let market = runtime::tx().hashrate_market();
        let adds: Vec<_> = (0..MACHINES_PER_OWNER)
            .map(|index| market.add_machine(machine(owner_tag, index), metadata.clone()))
            .collect();
        let offers: Vec<_> = (1..=6u128)
            .flat_map(|round| (0..MACHINES_PER_OWNER).map(move |index| (round, index)))
            .map(|(round, index)| {
                market.make_offer(
                    machine(owner_tag, index),
                    round * UNIT + u128::from(index),
                    8,
                    100,
                )
            })
            .collect();
        let cancels: Vec<_> = (0..MACHINES_PER_OWNER / 4)
            .map(|index| market.cancel_offer(machine(owner_tag, index)))
            .collect();
        // The pool's next index counts the transactions it already holds, so the bursts follow
        // each other.
        submit_burst(client, owner, &adds).await.expect("adds");
        submit_burst(client, owner, &offers).await.expect("offers");
        let nonce = submit_burst(client, owner, &cancels)
            .await
            .expect("cancels");
        waits.push((keys::account_id(owner), nonce));
    }
    let mut last = 0;
    for (account, nonce) in waits {
        last = last.max(
            wait_for_nonce(client, &account, nonce, TIMEOUT)
                .await
                .expect("the burst is final"),
        );
    }
    // The burst fits in a few blocks; a longer chain behind it gives every one of the 20 kills
    // a catch-up to interrupt.
    client
        .wait_for_finalized_block(last + 60, TIMEOUT)
        .await
        .expect("a longer chain")
}

fn spawn_indexer(node_url: &str, database_url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_matrixai-indexer"))
        .args(["--node", node_url, "--database", database_url])
        .args(["--listen", "127.0.0.1:0", "--batch-blocks", "1"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("matrixai-indexer starts")
}

async fn cursor(database: &Database) -> u64 {
    sqlx::query("SELECT block_number FROM index_cursor")
        .fetch_optional(database.pool())
        .await
        .expect("the cursor")
        .map_or(0, |row| row.get::<i64, _>(0) as u64)
}

/// Every row of every table, each value spelled out, in key order.
async fn dump(database: &Database) -> Vec<(String, Vec<String>)> {
    let mut tables = Vec::new();
    for (table, key) in TABLES {
        let sql = format!("SELECT * FROM {table} ORDER BY {key}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(database.pool())
            .await
            .expect("a table");
        let rows = rows
            .iter()
            .map(|row| {
                row.columns()
                    .iter()
                    .map(|column| {
                        let i = column.ordinal();
                        let value = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
                            format!("{v:?}")
                        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
                            format!("{v:?}")
                        } else {
                            format!(
                                "{:?}",
                                row.try_get::<Option<String>, _>(i).expect("a value")
                            )
                        };
                        format!("{}={value}", column.name())
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        tables.push((table.to_string(), rows));
    }
    tables
}

async fn wait_for_cursor(database: &Database, block: u64) {
    let started = Instant::now();
    while cursor(database).await < block {
        assert!(
            started.elapsed() < TIMEOUT,
            "block #{block} not indexed in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small deterministic generator (xorshift64*), seeded from the clock and printed, so a
/// failing run can be replayed with `CRASH_SEED`.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_nine_during_catch_up_and_node_restarts_lose_nothing() {
    let mut node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.expect("a client");
    let filled = busy_market(&client).await;
    eprintln!("1 160 market events, then empty blocks up to #{filled}");

    // The reference: one uninterrupted run of the binary, timed.
    let clean_db = TestDatabase::sqlite();
    let clean = Database::open(&clean_db.url).await.unwrap();
    let started = Instant::now();
    let mut reference = spawn_indexer(node.rpc_url(), &clean_db.url);
    wait_for_cursor(&clean, filled).await;
    let full_run = started.elapsed();
    reference.kill().unwrap();
    reference.wait().unwrap();
    let expected = dump(&clean).await;
    let events = expected[0].1.len();
    assert!(events >= 1_160, "{events} events indexed");
    eprintln!("a full catch-up of {filled} blocks, {events} events took {full_run:?}");

    // Kill -9 20 times, each at a random moment of the catch-up: up to 1 ms after the
    // indexer committed a block past where the previous run stopped (it is then fetching,
    // applying or committing the next ones).
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| started.elapsed().as_nanos() as u64 | 1);
    eprintln!("CRASH_SEED={seed}");
    let mut random = Random(seed);
    let crashed_db = TestDatabase::sqlite();
    let crashed = Database::open(&crashed_db.url).await.unwrap();
    let mut cut_during_catch_up = 0;
    for round in 0..20 {
        let before = cursor(&crashed).await;
        let mut child = spawn_indexer(node.rpc_url(), &crashed_db.url);
        let deadline = Instant::now() + TIMEOUT;
        while cursor(&crashed).await <= before {
            assert!(Instant::now() < deadline, "round {round}: no progress");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let delay = Duration::from_micros(random.next() % 1_000);
        tokio::time::sleep(delay).await;
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        let after = cursor(&crashed).await;
        assert!(after > before, "round {round}: the cursor went back");
        if after < filled {
            cut_during_catch_up += 1;
        }
        eprintln!("round {round}: killed {delay:?} after a commit, cursor #{before} -> #{after}");
    }
    eprintln!("{cut_during_catch_up} of 20 kills stopped an unfinished catch-up");
    // The first kill always does (60 blocks behind, each committed alone); how many of the
    // others do depends on how fast empty blocks go by.
    assert!(cut_during_catch_up >= 1, "a kill interrupts the catch-up");
    let mut last = spawn_indexer(node.rpc_url(), &crashed_db.url);
    wait_for_cursor(&crashed, filled).await;
    last.kill().unwrap();
    last.wait().unwrap();
    let recovered = dump(&crashed).await;
    for ((table, want), (_, got)) in expected.iter().zip(&recovered) {
        assert_eq!(got.len(), want.len(), "{table}: rows after the crashes");
        for (index, (want, got)) in want.iter().zip(got).enumerate() {
            assert_eq!(got, want, "{table}: row {index} after the crashes");
        }
    }

    // The node goes away under a running indexer and comes back: nothing is missed.
    let live = TestIndexer::start(node.rpc_url(), &crashed_db).await;
    live.wait_for_block(filled, TIMEOUT).await;
    node.kill();
    let started = Instant::now();
    loop {
        let (status, health) = live.get("/health").await;
        if status == 503 && health["connected"] == false {
            break;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "the indexer noticed the node left: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.restart().await.expect("the node restarts");
    let client = node.client().await.expect("a client after the restart");
    let reprice = runtime::tx()
        .hashrate_market()
        .make_offer(machine(1, 39), 9 * UNIT, 8, 100);
    let repriced = client
        .submit(&reprice, &dev::bob())
        .await
        .expect("a re-price after the restart");
    live.wait_for_block(repriced.block_number, TIMEOUT).await;
    let (status, health) = live.get("/health").await;
    assert_eq!(status, 200, "{health}");
    let (_, detail) = live
        .get(&format!(
            "/api/machine/{}",
            matrixai_indexer::ids::uuid(&machine(1, 39))
        ))
        .await;
    assert_eq!(detail["machine"]["price_per_hour"], (9 * UNIT).to_string());
    live.indexer.shutdown().await;

    let after_restart_db = TestDatabase::sqlite();
    let fresh = Database::open(&after_restart_db.url).await.unwrap();
    let mut again = spawn_indexer(node.rpc_url(), &after_restart_db.url);
    wait_for_cursor(&fresh, repriced.block_number).await;
    again.kill().unwrap();
    again.wait().unwrap();
    assert_eq!(
        dump(&crashed).await,
        dump(&fresh).await,
        "the index that lived through the restart equals a fresh one"
    );
}
