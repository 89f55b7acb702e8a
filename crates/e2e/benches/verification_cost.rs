//! What a verdict costs the validator service against what the training cost the trainer, on
//! the real processes: a dev node, the indexer, the validator (Dave, default 4 segments) and an
//! agent (Bob) training `digits-cnn` with its epochs multiplied (default x40, about 10 s here;
//! `MATRIXAI_BENCH_EPOCHS_FACTOR`). Prints the training's time (the agent's log: "training
//! started" to "training done"), the verdict's (the report: fetch and replay), their ratio, and
//! the blocks from `submit_pot` to `PotVerified`.
//!
//!     cargo bench -p matrixai-e2e --bench verification_cost

use matrixai_chain::devnet::MarketTiming;
use matrixai_chain::ids;
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_e2e::{Network, next_event, placed_order_id};
use matrixai_pot::{TaskSpec, examples};
use std::time::Duration;

#[tokio::main]
async fn main() {
    let factor: u32 = std::env::var("MATRIXAI_BENCH_EPOCHS_FACTOR")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(40);
    let mut spec = TaskSpec::from_json(examples::DIGITS_CNN.as_bytes()).unwrap();
    spec.epochs *= factor;
    let plan = spec.validate().unwrap();

    // Real hours; 5-minute judging rounds, as scripts/run.sh sets them.
    let network = Network::dev(MarketTiming {
        blocks_per_hour: 1200,
        completion_grace: 600,
        verification_window: 100,
        dispute_window: 40,
    })
    .await;
    let _dave = network.validator(0, "//Dave", 4).await;
    let (_bob, machine) = network.agent(0, "//Bob", &[]).await;
    let mut events = std::pin::pin!(network.client.market_events().await.unwrap());
    let spec_file = network.spec_file(
        "digits-cnn-long",
        &String::from_utf8(spec.canonical_json()).unwrap(),
    );
    let order = placed_order_id(&network.place_order(&machine, 2, &spec_file, &[]).await);
    let timeout = Duration::from_secs(3600);
    let submitted = next_event(&mut events, timeout, |event| match &event.event {
        Event::PotSubmitted { order_id, .. } if *order_id == order => Some(event.block_number),
        _ => None,
    })
    .await;
    let verified = next_event(&mut events, timeout, |event| match &event.event {
        Event::PotVerified { order_id, .. } if *order_id == order => Some(event.block_number),
        _ => None,
    })
    .await;

    let order_text = ids::uuid(&order);
    let http = reqwest::Client::new();
    let logs: serde_json::Value = http
        .post(format!("{}/api/log/list", network.api))
        .json(&serde_json::json!({ "order_id": order_text, "search": "training", "limit": 1000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = |prefix: &str| {
        logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|record| record["message"].as_str().unwrap_or("").starts_with(prefix))
            .and_then(|record| record["timestamp_ms"].as_u64())
            .unwrap_or_else(|| panic!("no log record {prefix:?}"))
    };
    let training_s = (at("training done") - at("training started")) as f64 / 1000.0;
    let report = loop {
        let reports: serde_json::Value = http
            .get(format!("{}/api/order/{order_text}/reports", network.api))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(report) = reports["items"].get(0) {
            break report["report"].clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wait_s = report["challenge_wait_seconds"].as_f64().unwrap();
    let fetch_s = report["fetch_seconds"].as_f64().unwrap();
    let replay_s = report["replay_seconds"].as_f64().unwrap();
    println!(
        "digits-cnn x{factor}: {} steps in {} segments, {} replayed",
        plan.total_steps,
        plan.segment_count(),
        report["verification"]["segments_sampled"]
    );
    println!(
        "training {training_s:.2} s; verification work {:.2} s (fetch {fetch_s:.2} s, replay {replay_s:.2} s): {:.1} % of the training; waiting for the challenge block's finality before it {wait_s:.2} s",
        fetch_s + replay_s,
        100.0 * (fetch_s + replay_s) / training_s
    );
    println!(
        "submit_pot in block #{submitted}, PotVerified in #{verified}: {} blocks",
        verified - submitted
    );
}
