//! The validator service (its binary, as an operator runs it) against a real dev node and a
//! real indexer (SQLite), each test with its own node:
//! - honest, forged, missing and unreachable bundles: pass, fail with the replay's reason, fail
//!   as unavailable, fail at the end of the last round; the reports published on the indexer;
//!   the buyer refunded and the collateral slashed on each fail, the seller paid on the pass;
//! - a dispute of the one forged segment that sampling missed, judged by the other validator;
//! - a validator killed while verifying judges the order exactly once after a restart.

use futures::StreamExt;
use matrixai_chain::keys::{self, Keypair, dev};
use matrixai_chain::machine_metadata;
use matrixai_chain::order_result::{Delivery, OrderResult};
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_chain::testing::{MarketTiming, ServiceProcess, TestNode};
use matrixai_chain::{Balance, ChainClient, MachineId, OrderId, UNIT, Verdict, ids, runtime};
use matrixai_pot::{Commitment, Exec, PreparedData, TaskSpec, attacks, examples};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Rounds long enough for a fetch, a replay and a finalized call on 3-second blocks; a
/// dispute window long enough to dispute in.
fn timing() -> MarketTiming {
    MarketTiming {
        blocks_per_hour: 12,
        completion_grace: 6,
        verification_window: 8,
        dispute_window: 10,
    }
}

/// The validator binary as an operator runs it, once it has started.
async fn start_validator(
    node: &TestNode,
    indexer: &str,
    account: &str,
    work_dir: &Path,
    segments: u32,
) -> ServiceProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_matrixai-validator"));
    command
        .args(["run", "--node", node.rpc_url(), "--indexer", indexer])
        .arg("--work-dir")
        .arg(work_dir)
        .args(["--segments", &segments.to_string(), "--threads", "2"])
        // The test's bundles are files on this machine.
        .arg("--allow-file-uris")
        .env("MATRIXAI_VALIDATOR_ACCOUNT_URI", account)
        .env("RUST_LOG", "info");
    let name = format!("validator {}", account.trim_start_matches("//"));
    let mut process = ServiceProcess::spawn(&name, command).unwrap();
    process
        .wait_for_line("validator started", Duration::from_secs(120))
        .await
        .unwrap();
    process
}

async fn start_indexer(node: &TestNode, dir: &Path) -> matrixai_indexer::Indexer {
    matrixai_indexer::Indexer::start(&matrixai_indexer::Config {
        node: node.rpc_url().to_string(),
        database: Some(format!("sqlite://{}/indexer.db", dir.display())),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        max_lag: 10,
        batch_blocks: 512,
        ui_dir: None,
        chain_spec: None,
    })
    .await
    .unwrap()
}

fn iris() -> (TaskSpec, PreparedData) {
    let spec = TaskSpec::from_json(examples::IRIS_SOFTMAX.as_bytes()).unwrap();
    let data = PreparedData::for_spec(&spec, None).unwrap();
    (spec, data)
}

/// A seller's machine listed at 1 MAI an hour.
async fn list(client: &ChainClient, seller: &Keypair, machine: MachineId) {
    let market = runtime::tx().hashrate_market();
    let metadata = machine_metadata::example("local", 1.0).to_bytes().unwrap();
    client
        .submit(&market.add_machine(machine, metadata), seller)
        .await
        .unwrap();
    client
        .submit(&market.make_offer(machine, UNIT, 4, 1), seller)
        .await
        .unwrap();
}

/// Charlie's order of `spec` on the machine for 4 hours; its escrow and collateral.
async fn order(
    client: &ChainClient,
    seller: &Keypair,
    machine: MachineId,
    order: OrderId,
    spec: &TaskSpec,
) -> (Balance, Balance) {
    let placed = client
        .submit(
            &runtime::tx().hashrate_market().place_order(
                order,
                keys::account_id(seller).into(),
                machine,
                4,
                UNIT,
                spec.canonical_json(),
            ),
            &dev::charlie(),
        )
        .await
        .unwrap();
    let event = placed
        .event::<runtime::hashrate_market::events::OrderPlaced>()
        .unwrap();
    (event.total, event.collateral)
}

/// [`list`] then [`order`].
async fn rent(
    client: &ChainClient,
    seller: &Keypair,
    machine: MachineId,
    order_id: OrderId,
    spec: &TaskSpec,
) -> (Balance, Balance) {
    list(client, seller, machine).await;
    order(client, seller, machine, order_id, spec).await
}

/// `order_completed` and `submit_pot` for `commitment`.
async fn deliver(client: &ChainClient, seller: &Keypair, order: OrderId, commitment: &Commitment) {
    let market = runtime::tx().hashrate_market();
    let result = OrderResult::Completed(Delivery {
        model_uri: format!("{}model.bin", commitment.bundle_uri),
        model_sha256: commitment.final_model.to_string(),
        accuracy_ppm: commitment.accuracy_ppm,
        bundle_uri: commitment.bundle_uri.clone(),
    });
    client
        .submit(
            &market.order_completed(order, result.to_bytes().unwrap(), commitment.accuracy_ppm),
            seller,
        )
        .await
        .unwrap();
    client
        .submit(
            &market.submit_pot(order, commitment.to_json().unwrap()),
            seller,
        )
        .await
        .unwrap();
}

async fn charlie_balance(client: &ChainClient) -> matrixai_chain::AccountBalance {
    client
        .finalized_state()
        .await
        .unwrap()
        .balance(&keys::account_id(&dev::charlie()))
        .await
        .unwrap()
}

fn file_uri(dir: &Path) -> String {
    format!("file://{}/", dir.display())
}

/// Waits (bounded) until `done` has seen what it needs in the finalized events.
async fn follow(
    events: &mut (
             impl futures::Stream<Item = Result<matrixai_chain::MarketEvent, matrixai_chain::ChainError>>
             + Unpin
         ),
    mut done: impl FnMut(&Event) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(600), async {
        while let Some(event) = events.next().await {
            if done(&event.unwrap().event) {
                return;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("the awaited events within 10 minutes");
}

/// The indexer's reports of an order, once `count` are there.
async fn reports(indexer: &str, order: &OrderId, count: usize) -> Vec<Value> {
    let url = format!("{indexer}/api/order/{}/reports", ids::uuid(order));
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let list: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            let items = list["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= count {
                return items;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the reports reach the indexer")
}

#[tokio::test(flavor = "multi_thread")]
async fn judges_honest_forged_missing_and_unreachable_bundles() {
    let node = TestNode::dev().await.unwrap();
    let client = node.client().await.unwrap();
    timing().apply(&client, &dev::alice()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexer = start_indexer(&node, dir.path()).await;
    let api = format!("http://{}", indexer.address);
    let mut validator = start_validator(&node, &api, "//Dave", &dir.path().join("dave"), 4).await;

    let (spec, data) = iris();
    let exec = Exec::single_thread();
    let honest = dir.path().join("honest");
    let summary = matrixai_pot::train_bundle(&spec, &data, &honest, &exec, |_, _| {}).unwrap();
    let forged = dir.path().join("forged");
    let all: Vec<usize> = (0..spec.validate().unwrap().segment_count()).collect();
    let forged_summary = attacks::forge_segments(&spec, &data, &exec, &all, &forged).unwrap();

    // (seller, commitment, expected verdict, words the reason must hold)
    let cases = [
        (
            dev::bob(),
            Commitment::new(&summary, &file_uri(&honest)).unwrap(),
            Verdict::Pass,
            "",
        ),
        (
            dev::eve(),
            Commitment::new(&forged_summary, &file_uri(&forged)).unwrap(),
            Verdict::Fail,
            "segment_replay_mismatch",
        ),
        (
            dev::ferdie(),
            Commitment::new(&summary, &file_uri(&dir.path().join("deleted"))).unwrap(),
            Verdict::Fail,
            "nothing is stored there",
        ),
        (
            dev::alice(),
            // The discard port: nothing listens, every connection is refused.
            Commitment::new(&summary, "http://127.0.0.1:9/bundle/").unwrap(),
            Verdict::Fail,
            "unreachable through every judging round",
        ),
    ];
    let mut events = std::pin::pin!(client.market_events().await.unwrap());
    // Each seller's calls run beside the others'; Charlie's orders one after the other.
    let machine = |index: usize| [index as u8 + 1; 16];
    let order_id = |index: usize| [index as u8 + 101; 16];
    futures::future::join_all(
        cases
            .iter()
            .enumerate()
            .map(|(index, (seller, ..))| list(&client, seller, machine(index))),
    )
    .await;
    let mut orders = Vec::new();
    for (index, (seller, _, verdict, reason)) in cases.iter().enumerate() {
        let (escrow, collateral) =
            order(&client, seller, machine(index), order_id(index), &spec).await;
        orders.push((
            order_id(index),
            verdict.clone(),
            *reason,
            escrow,
            collateral,
        ));
    }
    futures::future::join_all(
        cases
            .iter()
            .enumerate()
            .map(|(index, (seller, commitment, ..))| {
                deliver(&client, seller, order_id(index), commitment)
            }),
    )
    .await;

    let mut verified: HashMap<OrderId, (Verdict, Balance, Balance)> = HashMap::new();
    let mut paid = None;
    let (honest_order, ..) = orders[0];
    follow(&mut events, |event| {
        match event {
            Event::PotVerified {
                order_id,
                verdict,
                validator,
                refunded,
                slashed,
                ..
            } => {
                assert_eq!(*validator, keys::account_id(&dev::dave()));
                assert!(
                    verified
                        .insert(*order_id, (verdict.clone(), *refunded, *slashed))
                        .is_none(),
                    "one verdict per order"
                );
            }
            Event::OrderSettled {
                order_id,
                paid: amount,
                ..
            } if *order_id == honest_order => paid = Some(*amount),
            _ => {}
        }
        verified.len() == orders.len() && paid.is_some()
    })
    .await;
    for (order, verdict, _, escrow, collateral) in &orders {
        let (got, refunded, slashed) = verified[order].clone();
        assert_eq!(got, *verdict, "order {}", ids::uuid(order));
        if *verdict == Verdict::Fail {
            assert_eq!(
                (refunded, slashed),
                (*escrow, *collateral),
                "refund and slash"
            );
        }
    }
    assert_eq!(
        paid,
        Some(orders[0].3),
        "the honest seller is paid the escrow"
    );

    for (order, verdict, reason, ..) in &orders {
        let items = reports(&api, order, 1).await;
        assert_eq!(items.len(), 1);
        let report = &items[0]["report"];
        let expected = if *verdict == Verdict::Pass {
            "pass"
        } else {
            "fail"
        };
        assert_eq!(items[0]["verdict"], expected, "{report}");
        assert_eq!(
            report["validator"],
            keys::account_id(&dev::dave()).to_string()
        );
        assert!(
            report["reason"].as_str().unwrap_or("").contains(reason),
            "{reason:?} in {report}"
        );
    }
    let honest_report = &reports(&api, &orders[0].0, 1).await[0]["report"];
    assert_eq!(
        honest_report["verification"]["segments_sampled"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        honest_report["verification"]["accuracy"]["recomputed_ppm"],
        summary.transcript.accuracy_ppm
    );

    let status = Command::new(env!("CARGO_BIN_EXE_matrixai-validator"))
        .args(["status", "--work-dir"])
        .arg(dir.path().join("dave"))
        .output()
        .unwrap();
    let judgements: Vec<Value> = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(judgements.len(), orders.len());
    assert!(
        judgements.iter().all(|j| j["stage"] == "submitted"),
        "{judgements:?}"
    );
    validator.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dispute_is_judged_by_another_validator_on_exactly_its_segment() {
    let node = TestNode::dev().await.unwrap();
    let client = node.client().await.unwrap();
    timing().apply(&client, &dev::alice()).await.unwrap();
    client
        .sudo(
            runtime::Call::HashrateMarket(runtime::hashrate_market::Call::add_validator {
                validator: keys::account_id(&dev::ferdie()).into(),
            }),
            &dev::alice(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexer = start_indexer(&node, dir.path()).await;
    let api = format!("http://{}", indexer.address);
    // One segment per proof: the last, which the splice below leaves honest.
    let _dave = start_validator(&node, &api, "//Dave", &dir.path().join("dave"), 1).await;
    let _ferdie = start_validator(&node, &api, "//Ferdie", &dir.path().join("ferdie"), 1).await;

    let (spec, data) = iris();
    let segments = spec.validate().unwrap().segment_count();
    let spliced = segments / 2;
    let bundle = dir.path().join("spliced");
    let summary =
        attacks::forge_segments(&spec, &data, &Exec::single_thread(), &[spliced], &bundle).unwrap();
    let (machine, order) = ([1; 16], [101; 16]);
    let mut events = std::pin::pin!(client.market_events().await.unwrap());
    let (escrow, _) = rent(&client, &dev::bob(), machine, order, &spec).await;
    deliver(
        &client,
        &dev::bob(),
        order,
        &Commitment::new(&summary, &file_uri(&bundle)).unwrap(),
    )
    .await;

    let mut passed_by = None;
    follow(&mut events, |event| match event {
        Event::PotVerified {
            order_id,
            verdict,
            validator,
            ..
        } if *order_id == order => {
            assert_eq!(
                *verdict,
                Verdict::Pass,
                "sampling only the last segment misses the splice"
            );
            passed_by = Some(*validator);
            true
        }
        _ => false,
    })
    .await;
    let charlie_before = charlie_balance(&client).await;
    let disputed = client
        .submit(
            &runtime::tx()
                .hashrate_market()
                .dispute(order, spliced as u32),
            &dev::charlie(),
        )
        .await
        .unwrap();
    let mut resolved = None;
    follow(&mut events, |event| match event {
        Event::DisputeResolved {
            order_id,
            validator,
            verdict,
            refunded,
            slashed,
            reward,
            ..
        } if *order_id == order => {
            resolved = Some((*validator, verdict.clone(), *refunded, *slashed, *reward));
            true
        }
        _ => false,
    })
    .await;
    let (judge, verdict, refunded, slashed, reward) = resolved.unwrap();
    assert_eq!(
        verdict,
        Verdict::Fail,
        "the disputed segment does not replay"
    );
    assert_ne!(
        Some(judge),
        passed_by,
        "the validator who passed it does not judge the dispute"
    );
    assert_eq!(refunded, escrow);
    assert!(reward > 0, "the disputer is rewarded");
    let charlie_after = charlie_balance(&client).await;
    // The escrow and the bond are released, and the buyer, who disputed, gets the whole
    // collateral (the disputer's reward and the rest), less the dispute's fee.
    assert_eq!(charlie_after.reserved, 0, "escrow and bond released");
    assert_eq!(
        charlie_after.total(),
        charlie_before.total() + slashed - disputed.fee_paid,
        "{charlie_before:?} -> {charlie_after:?}"
    );

    let items = reports(&api, &order, 2).await;
    let dispute_report = items
        .iter()
        .map(|item| &item["report"])
        .find(|report| report["task"]["kind"] == "dispute")
        .expect("the dispute's report");
    assert_eq!(dispute_report["task"]["segment"], spliced);
    assert_eq!(dispute_report["verdict"], "fail");
    assert_eq!(
        dispute_report["verification"]["segments_sampled"],
        serde_json::json!([spliced])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validator_killed_while_verifying_judges_once_after_restart() {
    let node = TestNode::dev().await.unwrap();
    let client = node.client().await.unwrap();
    timing().apply(&client, &dev::alice()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let work_dir = dir.path().join("dave");
    let mut validator = start_validator(&node, "none", "//Dave", &work_dir, 8).await;

    let spec = TaskSpec::from_json(examples::DIGITS_CNN.as_bytes()).unwrap();
    let data = PreparedData::for_spec(&spec, None).unwrap();
    let bundle = dir.path().join("bundle");
    let summary = matrixai_pot::train_bundle(
        &spec,
        &data,
        &bundle,
        &Exec::new(2, None).unwrap(),
        |_, _| {},
    )
    .unwrap();
    let (machine, order) = ([1; 16], [101; 16]);
    let mut events = std::pin::pin!(client.market_events().await.unwrap());
    rent(&client, &dev::bob(), machine, order, &spec).await;
    // The replay's inputs appear just before the verifier process starts: kill then. Watched
    // from before the proof is sent, since the validator acts on the best chain, possibly
    // before the proof's own block is final.
    let inputs = work_dir.join("inputs");
    let verifying = tokio::spawn(tokio::time::timeout(Duration::from_secs(120), async move {
        while !std::fs::read_dir(&inputs).is_ok_and(|mut entries| entries.next().is_some()) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }));
    deliver(
        &client,
        &dev::bob(),
        order,
        &Commitment::new(&summary, &file_uri(&bundle)).unwrap(),
    )
    .await;
    verifying
        .await
        .unwrap()
        .expect("the validator starts verifying");
    validator.kill();
    let _restarted = start_validator(&node, "none", "//Dave", &work_dir, 8).await;

    let mut verdicts = Vec::new();
    follow(&mut events, |event| match event {
        Event::PotVerified {
            order_id, verdict, ..
        } if *order_id == order => {
            verdicts.push(verdict.clone());
            false
        }
        Event::OrderSettled { order_id, .. } if *order_id == order => true,
        _ => false,
    })
    .await;
    assert_eq!(verdicts, vec![Verdict::Pass], "judged exactly once");
    let reports: Vec<PathBuf> = std::fs::read_dir(work_dir.join("reports"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
}
