//! The whole marketplace end to end, every part a real process (node, indexer, validator,
//! trainer agent) and the buyer on `matrixai-client`'s command line, with every balance followed
//! exactly at each step ([`Books`]):
//! - an honest order: trained, its proof verified (the validator killed while replaying and
//!   restarted: judged once), the seller paid after the dispute window;
//! - an agent that forges the last segment: rejected for the replay, buyer refunded and the
//!   seller slashed;
//! - an agent that forges one middle segment: the sampled check passes, the buyer disputes the
//!   segment, the other validator proves it: refund, slash, reward;
//! - the two-authority network: two agents train two orders at the same time;
//! - drills: the validator verifies an honest machine's speed and contradicts a machine that
//!   registered four times its measured speed, as the market shows them.
//!
//! The tests run one at a time (each starts up to six processes, and drills time the CPU).

use matrixai_chain::devnet::MarketTiming;
use matrixai_chain::keys::{account_id, dev};
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_chain::{Balance, Verdict, ids};
use matrixai_e2e::{Books, Network, has_files, next_event, placed_order_id};
use matrixai_pot::{TaskSpec, examples};
use std::time::Duration;

/// Judging rounds long enough for a fetch, a replay and a finalized call while other tests
/// share the CPU; a dispute window long enough to dispute in.
fn timing() -> MarketTiming {
    MarketTiming {
        blocks_per_hour: 20,
        completion_grace: 10,
        verification_window: 10,
        dispute_window: 10,
    }
}

/// An order's whole life, generously.
const ORDER_TIMEOUT: Duration = Duration::from_secs(600);

/// Held by each test for its whole run.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn segments(spec: &str) -> usize {
    TaskSpec::from_json(spec.as_bytes())
        .unwrap()
        .validate()
        .unwrap()
        .segment_count()
}

/// A report of the order from the indexer (`order show --json`), once it has `count`.
async fn shown_with_reports(network: &Network, order: &str, count: usize) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let shown: serde_json::Value =
                serde_json::from_str(&network.buyer(&["order", "show", order, "--json"]).await)
                    .unwrap();
            if shown["reports"].as_array().map_or(0, Vec::len) >= count
                && shown["order"]["closed"] == true
            {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await
    .expect("the indexer has the order's end and its reports")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_honest_order_is_trained_verified_once_despite_a_validator_crash_and_paid() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let network = Network::dev(timing()).await;
    let mut dave = network.validator(0, "//Dave", 4).await;
    let (_bob, machine) = network.agent(0, "//Bob", &[]).await;
    let (buyer, seller) = (account_id(&dev::charlie()), account_id(&dev::bob()));
    let books = Books::open(&network.client, &[buyer.clone(), seller.clone()]).await;
    let mut events = std::pin::pin!(network.client.market_events().await.unwrap());

    // The buyer's terminal: place, then follow the order to its end.
    let spec = network.spec_file("digits-cnn", examples::DIGITS_CNN);
    let order = placed_order_id(&network.place_order(&machine, 3, &spec, &[]).await);
    let order_text = ids::uuid(&order);
    let waiting = network
        .buyer_command(&["order", "wait", &order_text])
        .output();
    let waiting = tokio::spawn(waiting);

    let (placed_at, total) = next_event(&mut events, ORDER_TIMEOUT, |event| match &event.event {
        Event::OrderPlaced {
            order_id, total, ..
        } if *order_id == order => Some((event.block_number, *total)),
        _ => None,
    })
    .await;
    assert_eq!(total, 3 * matrixai_chain::UNIT, "3 hours at 1 MAI");
    // Held in escrow: the buyer's total is unchanged but for the fee.
    books
        .assert_moved(&buyer, placed_at, 0, "escrow held")
        .await;

    // Dave's replay inputs appear just before the verifier process starts: crash him then. An
    // iris order's replay keeps them for a few tens of milliseconds only, so they are watched
    // every millisecond on a thread of their own (a 20 ms async poll once missed them).
    let inputs = network.validator_dir("//Dave").join("inputs");
    let verifying = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + ORDER_TIMEOUT;
        while !has_files(&inputs) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        has_files(&inputs)
    });
    assert!(
        verifying.await.unwrap(),
        "the agent trains and proves, and Dave starts verifying"
    );
    dave.kill();
    let _dave = network.validator(0, "//Dave", 4).await;

    let mut verdicts = Vec::new();
    let (settled_at, paid) = next_event(&mut events, ORDER_TIMEOUT, |event| match &event.event {
        Event::PotVerified {
            order_id, verdict, ..
        } if *order_id == order => {
            verdicts.push(verdict.clone());
            None
        }
        Event::OrderSettled { order_id, paid, .. } if *order_id == order => {
            Some((event.block_number, *paid))
        }
        _ => None,
    })
    .await;
    assert_eq!(verdicts, [Verdict::Pass], "judged once, and passed");
    assert_eq!(paid, total);
    books
        .assert_moved(&buyer, settled_at, -(total as i128), "buyer paid")
        .await;
    books
        .assert_moved(&seller, settled_at, total as i128, "seller paid")
        .await;

    let waited = waiting.await.unwrap().unwrap();
    let waited = String::from_utf8_lossy(&waited.stdout);
    assert!(waited.contains("proof verified by"), "{waited}");
    assert!(waited.contains("order ended: Settled"), "{waited}");

    let shown = shown_with_reports(&network, &order_text, 1).await;
    assert_eq!(shown["order"]["status"], "settled");
    assert_eq!(shown["order"]["verdict"], "pass");
    assert_eq!(shown["reports"][0]["verdict"], "pass");
    assert_eq!(
        shown["reports"][0]["validator"],
        ids::account(&account_id(&dev::dave()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trainer_forging_its_last_segment_is_rejected_refunded_and_slashed() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let network = Network::dev(timing()).await;
    let _dave = network.validator(0, "//Dave", 1).await;
    let last = (segments(examples::IRIS_SOFTMAX) - 1).to_string();
    let (_eve, machine) = network
        .agent(0, "//Eve", &["--dishonest-forge-segments", &last])
        .await;
    let (buyer, seller) = (account_id(&dev::charlie()), account_id(&dev::eve()));
    let books = Books::open(&network.client, &[buyer.clone(), seller.clone()]).await;
    let mut events = std::pin::pin!(network.client.market_events().await.unwrap());

    let spec = network.spec_file("iris", examples::IRIS_SOFTMAX);
    let placed = network.place_order(&machine, 2, &spec, &["--wait"]).await;
    assert!(placed.contains("proof rejected by"), "{placed}");
    assert!(placed.contains("order ended: Rejected"), "{placed}");
    let order = placed_order_id(&placed);

    // The stream started before the order: its events are all there.
    let (rejected_at, refunded, slashed) =
        next_event(&mut events, ORDER_TIMEOUT, |event| match &event.event {
            Event::PotVerified {
                order_id,
                verdict: Verdict::Fail,
                refunded,
                slashed,
                ..
            } if *order_id == order => Some((event.block_number, *refunded, *slashed)),
            _ => None,
        })
        .await;
    assert_eq!(refunded, 2 * matrixai_chain::UNIT);
    assert!(slashed > 0, "the seller's collateral is slashed");
    books
        .assert_moved(
            &buyer,
            rejected_at,
            slashed as i128,
            "escrow back plus the slash",
        )
        .await;
    books
        .assert_moved(
            &seller,
            rejected_at,
            -(slashed as i128),
            "collateral slashed",
        )
        .await;

    let shown = shown_with_reports(&network, &ids::uuid(&order), 1).await;
    assert_eq!(shown["order"]["status"], "rejected");
    let report = &shown["reports"][0]["report"];
    assert_eq!(report["verdict"], "fail");
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("segment_replay_mismatch"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spliced_segment_missed_by_sampling_is_disputed_and_proven_forged() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let network = Network::dev(timing()).await;
    // One segment per proof: the last, which the splice leaves honest.
    let _dave = network.validator(0, "//Dave", 1).await;
    network
        .client
        .sudo(
            matrixai_chain::runtime::Call::HashrateMarket(
                matrixai_chain::runtime::hashrate_market::Call::add_validator {
                    validator: account_id(&dev::ferdie()).into(),
                },
            ),
            &dev::alice(),
        )
        .await
        .unwrap();
    let _ferdie = network.validator(0, "//Ferdie", 1).await;
    let spliced = segments(examples::IRIS_SOFTMAX) / 2;
    let (_eve, machine) = network
        .agent(
            0,
            "//Eve",
            &["--dishonest-forge-segments", &spliced.to_string()],
        )
        .await;
    let (buyer, seller) = (account_id(&dev::charlie()), account_id(&dev::eve()));
    let books = Books::open(&network.client, &[buyer.clone(), seller.clone()]).await;
    let mut events = std::pin::pin!(network.client.market_events().await.unwrap());

    let spec = network.spec_file("iris", examples::IRIS_SOFTMAX);
    let order = placed_order_id(&network.place_order(&machine, 2, &spec, &[]).await);
    let order_text = ids::uuid(&order);
    let passed_by = next_event(&mut events, ORDER_TIMEOUT, |event| match &event.event {
        Event::PotVerified {
            order_id,
            verdict,
            validator,
            ..
        } if *order_id == order => {
            assert_eq!(
                *verdict,
                Verdict::Pass,
                "sampling the last segment misses it"
            );
            Some(validator.clone())
        }
        _ => None,
    })
    .await;

    // The buyer checked the bundle (e.g. `matrixai-pot verify --dispute N`) and disputes.
    let disputed = network
        .buyer(&[
            "order",
            "dispute",
            &order_text,
            "--segment",
            &spliced.to_string(),
        ])
        .await;
    assert!(disputed.contains("bond held"), "{disputed}");
    let (resolved_at, judge, slashed, reward): (u64, _, Balance, Balance) =
        next_event(&mut events, ORDER_TIMEOUT, |event| match &event.event {
            Event::DisputeResolved {
                order_id,
                validator,
                verdict,
                slashed,
                reward,
                ..
            } if *order_id == order => {
                assert_eq!(
                    *verdict,
                    Verdict::Fail,
                    "the disputed segment does not replay"
                );
                Some((event.block_number, validator.clone(), *slashed, *reward))
            }
            _ => None,
        })
        .await;
    assert_ne!(
        judge, passed_by,
        "the validator who passed it does not judge the dispute"
    );
    assert!(reward > 0, "the disputer is rewarded");
    // The buyer, who disputed, gets the escrow back, the whole collateral (the reward and the
    // rest) and the bond.
    books
        .assert_moved(
            &buyer,
            resolved_at,
            slashed as i128,
            "refund, slash and reward",
        )
        .await;
    books
        .assert_moved(
            &seller,
            resolved_at,
            -(slashed as i128),
            "collateral slashed",
        )
        .await;

    let shown = shown_with_reports(&network, &order_text, 2).await;
    assert_eq!(shown["order"]["status"], "forged");
    let dispute_report = shown["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|report| report["report"]["task"]["kind"] == "dispute")
        .expect("the dispute's report");
    assert_eq!(dispute_report["report"]["task"]["segment"], spliced);
    assert_eq!(dispute_report["report"]["verdict"], "fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_on_two_authorities_train_two_orders_at_once() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let network = Network::two_authorities(timing()).await;
    let _dave = network.validator(1, "//Dave", 4).await;
    let ((_bob, bob_machine), (_eve, eve_machine)) = tokio::join!(
        network.agent(0, "//Bob", &["--threads", "1"]),
        network.agent(1, "//Eve", &["--threads", "1"]),
    );
    let buyers = [account_id(&dev::charlie()), account_id(&dev::ferdie())];
    let sellers = [account_id(&dev::bob()), account_id(&dev::eve())];
    let books = Books::open(&network.client, &[buyers.clone(), sellers.clone()].concat()).await;
    let mut events = std::pin::pin!(network.client.market_events().await.unwrap());

    let spec = network.spec_file("iris", examples::IRIS_SOFTMAX);
    let (charlie, ferdie) = tokio::join!(
        network.place_order(&bob_machine, 2, &spec, &["--wait"]),
        network.place_order(
            &eve_machine,
            2,
            &spec,
            &["--wait", "--account-uri", "//Ferdie"]
        ),
    );
    let orders = [placed_order_id(&charlie), placed_order_id(&ferdie)];
    for output in [&charlie, &ferdie] {
        assert!(output.contains("order ended: Settled"), "{output}");
    }

    let mut training = 0;
    let mut max_training = 0;
    let mut settled = Vec::new();
    while settled.len() < 2 {
        let (index, event) = next_event(&mut events, ORDER_TIMEOUT, |event| {
            let order = order_of(&event.event)?;
            let index = orders.iter().position(|o| *o == order)?;
            Some((index, event.clone()))
        })
        .await;
        match event.event {
            Event::OrderPlaced { .. } => {
                training += 1;
                max_training = max_training.max(training);
            }
            Event::OrderCompleted { .. } => training -= 1,
            Event::OrderSettled { paid, .. } => settled.push((index, event.block_number, paid)),
            _ => {}
        }
    }
    assert_eq!(max_training, 2, "both machines trained at the same time");
    for (index, block, paid) in settled {
        books
            .assert_moved(&buyers[index], block, -(paid as i128), "buyer paid")
            .await;
        books
            .assert_moved(&sellers[index], block, paid as i128, "seller paid")
            .await;
    }
}

/// The order of a market event.
fn order_of(event: &Event) -> Option<matrixai_chain::OrderId> {
    match event {
        Event::OrderPlaced { order_id, .. }
        | Event::OrderCompleted { order_id, .. }
        | Event::OrderSettled { order_id, .. } => Some(*order_id),
        _ => None,
    }
}

/// The market's view of a machine (`matrixai-client market --json`) once a drill's verdict
/// shows.
async fn drilled(network: &Network, machine: &str) -> serde_json::Value {
    tokio::time::timeout(ORDER_TIMEOUT, async {
        loop {
            let market: serde_json::Value =
                serde_json::from_str(&network.buyer(&["market", "--json"]).await).unwrap();
            if let Some(view) = market["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|item| item["machine_id"] == machine && !item["drill"].is_null())
            {
                return view.clone();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await
    .expect("the validator drills the machine and the indexer shows it")
}

#[tokio::test(flavor = "multi_thread")]
async fn drills_verify_an_honest_machine_and_contradict_a_boasting_one() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let network = Network::dev(timing()).await;
    let _dave = network.validator(0, "//Dave", 4).await;

    let (_bob, honest) = network.agent(0, "//Bob", &[]).await;
    let honest = drilled(&network, &ids::uuid(&honest)).await;
    assert_eq!(honest["drill"]["verdict"], "verified", "{honest}");
    assert_eq!(honest["performance_verified"], true);

    let (_eve, boasting) = network
        .agent(0, "//Eve", &["--dishonest-performance-factor", "4"])
        .await;
    let boasting = drilled(&network, &ids::uuid(&boasting)).await;
    assert_eq!(boasting["drill"]["verdict"], "contradicted", "{boasting}");
    assert_eq!(boasting["performance_verified"], false);
    // Four times the honest machine's registered speed (both measured on this machine).
    let (honest_claim, boasted) = (
        honest["drill"]["claimed_samples_per_s"].as_f64().unwrap(),
        boasting["drill"]["claimed_samples_per_s"].as_f64().unwrap(),
    );
    assert!(
        boasted > 2.0 * honest_claim,
        "{boasted} against {honest_claim}"
    );
}
