//! The indexer against a real `matrixai-node --dev` and a real database of each kind.
//!
//! One scripted market (several machines and owners; offers re-priced and cancelled; a machine
//! removed; orders that end settled after a passing proof and the dispute window, rejected by a
//! failing proof, forged (a dispute proves a forged segment), failed by the seller, expired,
//! proof expired; one renewed) is followed by an indexer per database (SQLite, and PostgreSQL and
//! MariaDB when `scripts/test-databases.sh` started them). Then every endpoint is checked against
//! what the chain says: machines and open orders read back through `matrixai-chain`'s state
//! reads, and each machine's and order's history against the events of every finalized block.

use crate::common::{TestDatabase, TestIndexer};
use matrixai_chain::keys::{self, Keypair, dev};
use matrixai_chain::machine_metadata::example;
use matrixai_chain::runtime::hashrate_market::events;
use matrixai_chain::testing::{MarketTiming, TestNode};
use matrixai_chain::training_log::{LogBatch, LogLevel, LogMetrics, LogRecord};
use matrixai_chain::{Balance, ChainClient, Finalized, MachineId, OrderId, UNIT, Verdict, runtime};
use matrixai_indexer::ids;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use subxt::transactions::Payload;
use tokio::sync::Mutex;

const ORDER_METADATA: &[u8] = br#"{"v":1,"spec":"mlp"}"#;
const RESULT: &[u8] = br#"{"v":1,"model":"file:///m.bin"}"#;
const PROOF: &[u8] = br#"{"v":1,"root":"22"}"#;
const TIMEOUT: Duration = Duration::from_secs(180);

const MACHINE_A: MachineId = [0xa0; 16];
const MACHINE_B: MachineId = [0xb0; 16];
const MACHINE_B2: MachineId = [0xb2; 16];
const MACHINE_C: MachineId = [0xc0; 16];
const MACHINE_D: MachineId = [0xd0; 16];
const SETTLED: OrderId = [1; 16];
const REJECTED: OrderId = [2; 16];
const FAILED: OrderId = [3; 16];
const EXPIRED: OrderId = [4; 16];
const FORGED: OrderId = [5; 16];
const PROOF_EXPIRED: OrderId = [6; 16];

struct Market {
    client: ChainClient,
    /// The validators (Dave and a second one, so that a dispute of Dave's verdict has a judge);
    /// they judge for several flows at once: one call at a time.
    validators: Arc<Mutex<Vec<Keypair>>>,
}

impl Market {
    async fn submit<Call: Payload>(&self, call: &Call, signer: &Keypair, step: &str) -> Finalized {
        self.client
            .submit(call, signer)
            .await
            .unwrap_or_else(|error| panic!("{step}: {error}"))
    }

    async fn add_machine(&self, owner: &Keypair, id: MachineId, metadata: Vec<u8>) {
        let call = runtime::tx().hashrate_market().add_machine(id, metadata);
        self.submit(&call, owner, "add_machine").await;
    }

    async fn offer(&self, owner: &Keypair, id: MachineId, price: Balance) {
        let call = runtime::tx()
            .hashrate_market()
            .make_offer(id, price, 8, 200);
        self.submit(&call, owner, "make_offer").await;
    }

    async fn place(
        &self,
        buyer: &Keypair,
        seller: &Keypair,
        machine: MachineId,
        order: OrderId,
        hours: u32,
        price: Balance,
    ) -> events::OrderPlaced {
        let call = runtime::tx().hashrate_market().place_order(
            order,
            keys::account_id(seller).into(),
            machine,
            hours,
            price,
            ORDER_METADATA.to_vec(),
        );
        self.submit(&call, buyer, "place_order")
            .await
            .event::<events::OrderPlaced>()
            .expect("OrderPlaced")
    }

    async fn complete_and_prove(&self, seller: &Keypair, order: OrderId) -> Finalized {
        let call = runtime::tx()
            .hashrate_market()
            .order_completed(order, RESULT.to_vec(), 90);
        self.submit(&call, seller, "order_completed").await;
        let call = runtime::tx()
            .hashrate_market()
            .submit_pot(order, PROOF.to_vec());
        self.submit(&call, seller, "submit_pot").await
    }

    /// The validator the chain assigned judges `order`: the panel is drawn in the block after
    /// `asked` (the proof or the dispute); its first member judges.
    async fn judge(&self, asked: &Finalized, order: OrderId, verdict: Verdict) -> Finalized {
        let draw = asked.block_number + 1;
        self.wait_for_block(draw).await;
        let hash = self
            .client
            .finalized_block_hash(draw)
            .await
            .unwrap()
            .unwrap();
        let panel = self
            .client
            .market_events_at(hash)
            .await
            .unwrap()
            .into_iter()
            .find_map(|event| match event.event {
                runtime::hashrate_market::Event::PanelDrawn {
                    order_id, panel, ..
                } if order_id == order => Some(panel.0),
                _ => None,
            })
            .expect("a panel drawn the block after");
        let validators = self.validators.lock().await;
        let judge = validators
            .iter()
            .find(|validator| keys::account_id(validator) == panel[0])
            .expect("the first judge is one of ours");
        let call = runtime::tx().hashrate_market().verify_pot(order, verdict);
        self.submit(&call, judge, "verify_pot").await
    }

    async fn wait_for_block(&self, number: u64) {
        self.client
            .wait_for_finalized_block(number, TIMEOUT)
            .await
            .expect("finalized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn indexes_a_scripted_market_into_every_database() {
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.expect("a client");
    let databases = TestDatabase::all().await;
    let mut indexers = Vec::new();
    for database in &databases {
        indexers.push(TestIndexer::start(node.rpc_url(), database).await);
    }

    let timing = MarketTiming {
        verification_window: 10,
        dispute_window: 10,
        ..MarketTiming::fast()
    };
    timing
        .apply(&client, &dev::alice())
        .await
        .expect("shorter market time");
    let second_judge = keys::from_uri("//Judge").unwrap();
    let fund = runtime::tx()
        .balances()
        .transfer_keep_alive(keys::account_id(&second_judge).into(), 1_000 * UNIT);
    client
        .submit(&fund, &dev::alice())
        .await
        .expect("fund the judge");
    let add = runtime::Call::HashrateMarket(runtime::hashrate_market::Call::add_validator {
        validator: keys::account_id(&second_judge).into(),
    });
    client
        .sudo(add, &dev::alice())
        .await
        .expect("a second validator");
    let market = Market {
        client: client.clone(),
        validators: Arc::new(Mutex::new(vec![dev::dave(), second_judge])),
    };
    let (alice, bob, charlie, eve, ferdie) = (
        dev::alice(),
        dev::bob(),
        dev::charlie(),
        dev::eve(),
        dev::ferdie(),
    );

    // Machines and offers: Bob re-prices A; Charlie removes B2; Eve's C has metadata that is not
    // machine metadata, and her D is listed, then delisted.
    let metadata = |region: &str, index: f64| example(region, index).to_bytes().unwrap();
    tokio::join!(
        async {
            market
                .add_machine(&bob, MACHINE_A, metadata("eu-west", 3.0))
                .await;
            market.offer(&bob, MACHINE_A, 2 * UNIT).await;
            market.offer(&bob, MACHINE_A, 3 * UNIT / 2).await;
        },
        async {
            market
                .add_machine(&charlie, MACHINE_B, metadata("us-east", 1.0))
                .await;
            market.offer(&charlie, MACHINE_B, UNIT).await;
            market
                .add_machine(&charlie, MACHINE_B2, metadata("us-east", 1.0))
                .await;
            let remove = runtime::tx().hashrate_market().remove_machine(MACHINE_B2);
            market.submit(&remove, &charlie, "remove_machine").await;
        },
        async {
            market
                .add_machine(&eve, MACHINE_C, br#"{"gpu":"lots"}"#.to_vec())
                .await;
            market.offer(&eve, MACHINE_C, UNIT / 2).await;
            market
                .add_machine(&eve, MACHINE_D, metadata("ap-south", 2.0))
                .await;
            market.offer(&eve, MACHINE_D, 2 * UNIT).await;
            let cancel = runtime::tx().hashrate_market().cancel_offer(MACHINE_D);
            market.submit(&cancel, &eve, "cancel_offer").await;
        },
    );

    // Orders, in two independent groups of accounts.
    let (settled_at, expired_at) = tokio::join!(
        async {
            // Alice rents A, renews, Bob proves, Dave passes it: paid after the dispute window.
            market
                .place(&alice, &bob, MACHINE_A, SETTLED, 4, 3 * UNIT / 2)
                .await;
            let renew = runtime::tx().hashrate_market().renew_order(SETTLED, 1);
            market.submit(&renew, &alice, "renew_order").await;
            let proved = market.complete_and_prove(&bob, SETTLED).await;
            let passed = market.judge(&proved, SETTLED, Verdict::Pass).await;
            let verified = passed.event::<events::PotVerified>().expect("PotVerified");
            u64::from(verified.dispute_until.expect("a dispute window"))
        },
        async {
            // Ferdie rents B, Charlie proves, Dave fails it.
            market
                .place(&ferdie, &charlie, MACHINE_B, REJECTED, 4, UNIT)
                .await;
            let proved = market.complete_and_prove(&charlie, REJECTED).await;
            market.judge(&proved, REJECTED, Verdict::Fail).await;
            // Ferdie rents C; Eve gives up.
            market
                .place(&ferdie, &eve, MACHINE_C, FAILED, 2, UNIT / 2)
                .await;
            let give_up = runtime::tx()
                .hashrate_market()
                .order_failed(FAILED, RESULT.to_vec());
            market.submit(&give_up, &eve, "order_failed").await;
            // Ferdie rents C again; Eve never shows up.
            let placed = market
                .place(&ferdie, &eve, MACHINE_C, EXPIRED, 1, UNIT / 2)
                .await;
            u64::from(placed.deadline + timing.completion_grace)
        },
    );

    let (_, proof_expired_at) = tokio::join!(
        async {
            // Ferdie rents A; Bob proves; Dave passes; Eve disputes segment 0; Dave finds it forged.
            market
                .place(&ferdie, &bob, MACHINE_A, FORGED, 4, 3 * UNIT / 2)
                .await;
            let proved = market.complete_and_prove(&bob, FORGED).await;
            market.judge(&proved, FORGED, Verdict::Pass).await;
            let dispute = runtime::tx().hashrate_market().dispute(FORGED, 0);
            let disputed = market.submit(&dispute, &eve, "dispute").await;
            market.judge(&disputed, FORGED, Verdict::Fail).await;
        },
        async {
            // Charlie lists B again; Alice rents it; Charlie reports a result but never proves it.
            market.offer(&charlie, MACHINE_B, UNIT).await;
            let placed = market
                .place(&alice, &charlie, MACHINE_B, PROOF_EXPIRED, 1, UNIT)
                .await;
            let complete =
                runtime::tx()
                    .hashrate_market()
                    .order_completed(PROOF_EXPIRED, RESULT.to_vec(), 10);
            market.submit(&complete, &charlie, "order_completed").await;
            u64::from(placed.deadline + timing.completion_grace)
        },
    );
    // Every flow's last call is final by now; the expiries and the settlement come at known
    // blocks.
    let now = client.finalized_state().await.unwrap().block_number();
    let last = [now, settled_at, expired_at, proof_expired_at]
        .into_iter()
        .max()
        .unwrap()
        + 1;
    market.wait_for_block(last).await;
    let final_hash = client
        .finalized_block_hash(last)
        .await
        .unwrap()
        .expect("final block");
    let state = client.state_at(final_hash).await.expect("state");
    for order in [SETTLED, REJECTED, FAILED, EXPIRED, FORGED, PROOF_EXPIRED] {
        assert!(
            state.order(order).await.unwrap().is_none(),
            "order {} closed on chain",
            ids::uuid(&order)
        );
    }

    // The chain's own record: every market event of every block up to `last`.
    let mut chain_events = Vec::new();
    for number in 1..=last {
        let hash = client.finalized_block_hash(number).await.unwrap().unwrap();
        chain_events.extend(client.market_events_at(hash).await.unwrap());
    }

    for indexer in &indexers {
        indexer.wait_for_block(last, TIMEOUT).await;
        check_machines(indexer, &state).await;
        check_orders(indexer, &chain_events).await;
        check_market_queries(indexer).await;
        check_logs(indexer).await;
        check_drills(indexer).await;
        check_bad_input(indexer).await;
    }
    fuzz_api(&indexers[0]).await;
    for indexer in indexers {
        indexer.indexer.shutdown().await;
    }
    for database in databases {
        database.drop_database().await;
    }
}

/// `OrderPlaced { order_id: .. }` → `OrderPlaced`.
fn variant_name(debug: &str) -> String {
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The machine and order ids an event names, from the typed event.
fn event_ids(event: &runtime::hashrate_market::Event) -> (Option<MachineId>, Option<OrderId>) {
    use runtime::hashrate_market::Event as E;
    match event {
        E::MachineAdded { machine_id, .. }
        | E::MachineRemoved { machine_id, .. }
        | E::DepositAdded { machine_id, .. }
        | E::OfferMade { machine_id, .. }
        | E::OfferCancelled { machine_id, .. } => (Some(*machine_id), None),
        E::OrderPlaced {
            machine_id,
            order_id,
            ..
        }
        | E::OrderCompleted {
            machine_id,
            order_id,
            ..
        }
        | E::OrderFailed {
            machine_id,
            order_id,
            ..
        }
        | E::PotSubmitted {
            machine_id,
            order_id,
            ..
        }
        | E::PotVerified {
            machine_id,
            order_id,
            ..
        }
        | E::DisputeResolved {
            machine_id,
            order_id,
            ..
        }
        | E::OrderSettled {
            machine_id,
            order_id,
            ..
        }
        | E::OrderExpired {
            machine_id,
            order_id,
            ..
        } => (Some(*machine_id), Some(*order_id)),
        E::OrderRenewed { order_id, .. }
        | E::PanelDrawn { order_id, .. }
        | E::PotUnjudged { order_id, .. }
        | E::DisputeRaised { order_id, .. }
        | E::DisputeUnjudged { order_id, .. } => (None, Some(*order_id)),
        E::ValidatorAdded { .. } | E::ValidatorRemoved { .. } => (None, None),
    }
}

/// Every machine's row equals the chain's `Machines` entry (or says removed when there is none).
async fn check_machines(indexer: &TestIndexer, state: &matrixai_chain::StateView) {
    for id in [MACHINE_A, MACHINE_B, MACHINE_B2, MACHINE_C, MACHINE_D] {
        let (status, detail) = indexer
            .get(&format!("/api/machine/{}", ids::uuid(&id)))
            .await;
        assert_eq!(status, 200, "{}: {detail}", indexer.kind);
        let machine = &detail["machine"];
        match state.machine(id).await.unwrap() {
            Some(on_chain) => {
                let context = format!("{} machine {}: {machine}", indexer.kind, ids::uuid(&id));
                assert_eq!(machine["owner"], ids::account(&on_chain.owner), "{context}");
                assert_eq!(
                    machine["deposit"],
                    on_chain.deposit.to_string(),
                    "{context}"
                );
                assert_eq!(machine["listed"], on_chain.offer.is_some(), "{context}");
                if let Some(offer) = &on_chain.offer {
                    assert_eq!(
                        machine["price_per_hour"],
                        offer.price_per_hour.to_string(),
                        "{context}"
                    );
                    assert_eq!(machine["disk_gb"], offer.disk_gb, "{context}");
                }
                assert_eq!(machine["removed_at"], Value::Null, "{context}");
                assert_eq!(
                    machine["metadata"],
                    String::from_utf8_lossy(&on_chain.metadata.0).as_ref(),
                    "{context}"
                );
            }
            None => assert!(
                machine["removed_at"].is_i64(),
                "{}: {machine}",
                indexer.kind
            ),
        }
    }
    let (_, c) = indexer
        .get(&format!("/api/machine/{}", ids::uuid(&MACHINE_C)))
        .await;
    assert!(c["machine"]["metadata_error"].is_string(), "{c}");
    assert_eq!(c["machine"]["performance_index"], Value::Null);
}

/// Each order's status and history against the chain's events (closed orders are no longer in
/// state: their events are what the chain says about them).
async fn check_orders(indexer: &TestIndexer, chain_events: &[matrixai_chain::MarketEvent]) {
    let expected = [
        (SETTLED, "settled"),
        (REJECTED, "rejected"),
        (FAILED, "failed"),
        (EXPIRED, "expired"),
        (FORGED, "forged"),
        (PROOF_EXPIRED, "proof_expired"),
    ];
    for (order, status) in expected {
        let (code, detail) = indexer
            .get(&format!("/api/order/{}", ids::uuid(&order)))
            .await;
        assert_eq!(code, 200, "{}: {detail}", indexer.kind);
        assert_eq!(
            detail["order"]["status"], status,
            "{}: {detail}",
            indexer.kind
        );
        assert_eq!(detail["order"]["closed"], true);
        let on_chain: Vec<(u64, u32, String)> = chain_events
            .iter()
            .filter(|event| event_ids(&event.event).1 == Some(order))
            .map(|event| {
                (
                    event.block_number,
                    event.event_index,
                    variant_name(&format!("{:?}", event.event)),
                )
            })
            .collect();
        let indexed: Vec<(u64, u32, String)> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| {
                (
                    event["block_number"].as_u64().unwrap(),
                    event["event_index"].as_u64().unwrap() as u32,
                    event["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            indexed,
            on_chain,
            "{}: history of {}",
            indexer.kind,
            ids::uuid(&order)
        );
        // Amounts the closing event reported.
        for event in chain_events
            .iter()
            .filter(|e| event_ids(&e.event).1 == Some(order))
        {
            use runtime::hashrate_market::Event as E;
            match &event.event {
                E::OrderSettled { paid, .. } => {
                    assert_eq!(detail["order"]["paid"], paid.to_string())
                }
                E::OrderExpired {
                    refunded, slashed, ..
                }
                | E::OrderFailed {
                    refunded, slashed, ..
                } => {
                    assert_eq!(detail["order"]["refunded"], refunded.to_string());
                    assert_eq!(detail["order"]["slashed"], slashed.to_string());
                }
                E::OrderRenewed {
                    duration_hours,
                    escrow,
                    ..
                } => {
                    assert_eq!(detail["order"]["duration_hours"], *duration_hours);
                    assert_eq!(detail["order"]["escrow"], escrow.to_string());
                }
                _ => {}
            }
        }
    }
    // Machine histories: every event naming the machine since it was added.
    for machine in [MACHINE_A, MACHINE_B, MACHINE_C, MACHINE_D] {
        let on_chain: Vec<String> = chain_events
            .iter()
            .filter(|event| event_ids(&event.event).0 == Some(machine))
            .map(|event| variant_name(&format!("{:?}", event.event)))
            .collect();
        let (_, detail) = indexer
            .get(&format!("/api/machine/{}", ids::uuid(&machine)))
            .await;
        let indexed: Vec<&str> = detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["name"].as_str().unwrap())
            .filter(|name| {
                *name != "PanelDrawn" && *name != "OrderRenewed" && *name != "DisputeRaised"
            })
            .collect();
        assert_eq!(
            indexed,
            on_chain,
            "{}: history of machine {}",
            indexer.kind,
            ids::uuid(&machine)
        );
    }
    // Statistics: the orders per status the chain's closing events imply.
    let (_, stats) = indexer.get("/api/stats").await;
    let by_status = &stats["orders_by_status"];
    for status in [
        "settled",
        "rejected",
        "failed",
        "expired",
        "forged",
        "proof_expired",
    ] {
        assert_eq!(by_status[status], 1, "{}: {stats}", indexer.kind);
    }
    let placed: Balance = chain_events
        .iter()
        .map(|event| match &event.event {
            runtime::hashrate_market::Event::OrderPlaced { total, .. } => *total,
            runtime::hashrate_market::Event::OrderRenewed { extra_amount, .. } => *extra_amount,
            _ => 0,
        })
        .sum();
    assert_eq!(stats["volume_placed"], placed.to_string(), "{stats}");
    assert_eq!(stats["machines"], 4, "{stats}");
    assert_eq!(stats["validators"], 2, "{stats}");
}

async fn check_market_queries(indexer: &TestIndexer) {
    let kind = indexer.kind;
    // Listed at the end: only C? No: A and B were delisted by failed proofs, C by its expiry,
    // D by its owner. Include unlisted ones to exercise filters and sorting.
    let (status, page) = indexer
        .post(
            "/api/machine/market",
            &json!({"include_unlisted": true, "sort": "price"}),
        )
        .await;
    assert_eq!(status, 200, "{kind}: {page}");
    let prices: Vec<f64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["price_per_hour"].as_str().map(|p| p.parse().unwrap()))
        .collect();
    assert!(
        prices.windows(2).all(|w| w[0] <= w[1]),
        "{kind}: {prices:?}"
    );
    assert_eq!(page["total"], 4, "{kind}: removed B2 is left out: {page}");

    let (_, eu) = indexer
        .post(
            "/api/machine/market",
            &json!({"include_unlisted": true, "region": "eu-west"}),
        )
        .await;
    let ids_in = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["machine_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids_in(&eu), [ids::uuid(&MACHINE_A)], "{kind}");
    let (_, strong) = indexer
        .post(
            "/api/machine/market",
            &json!({"include_unlisted": true, "performance_min": 1.5, "sort": "performance"}),
        )
        .await;
    assert_eq!(
        ids_in(&strong),
        [ids::uuid(&MACHINE_A), ids::uuid(&MACHINE_D)],
        "{kind}"
    );
    let (_, paged) = indexer
        .post(
            "/api/machine/market",
            &json!({"include_unlisted": true, "page": 2, "page_size": 3}),
        )
        .await;
    assert_eq!(
        paged["items"].as_array().unwrap().len(),
        1,
        "{kind}: {paged}"
    );
    let (_, reliable) = indexer
        .post(
            "/api/machine/market",
            &json!({"include_unlisted": true, "sort": "reliability"}),
        )
        .await;
    let first = &reliable["items"][0];
    assert!(first["reliability"].is_f64(), "{kind}: {reliable}");
    let last = &reliable["items"][3];
    assert_eq!(
        last["new"], true,
        "{kind}: D has no history, so it sorts last: {reliable}"
    );

    let (_, filters) = indexer
        .post("/api/machine/filter", &json!({"include_unlisted": true}))
        .await;
    let regions: Vec<&str> = filters["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        regions,
        ["ap-south", "eu-west", "us-east"],
        "{kind}: {filters}"
    );
    assert_eq!(filters["gpu_models"][0]["value"], "NVIDIA H200");

    let (_, mine) = indexer
        .post(
            "/api/machine/mine",
            &json!({"owner": ids::account(&keys::account_id(&dev::charlie())), "include_removed": true}),
        )
        .await;
    assert_eq!(mine["total"], 2, "{kind}: B and the removed B2: {mine}");
    let ferdie = ids::account(&keys::account_id(&dev::ferdie()));
    let (_, orders) = indexer
        .post(
            "/api/order/mine",
            &json!({"account": ferdie, "role": "buyer"}),
        )
        .await;
    assert_eq!(orders["total"], 4, "{kind}: {orders}");
    let (_, failed) = indexer
        .post(
            "/api/order/mine",
            &json!({"account": ferdie, "status": ["failed", "forged"]}),
        )
        .await;
    assert_eq!(failed["total"], 2, "{kind}: {failed}");
    let bob = ids::account(&keys::account_id(&dev::bob()));
    let (_, sold) = indexer
        .post(
            "/api/order/mine",
            &json!({"account": bob, "role": "seller"}),
        )
        .await;
    assert_eq!(sold["total"], 2, "{kind}: {sold}");
}

async fn check_logs(indexer: &TestIndexer) {
    let kind = indexer.kind;
    let (_, detail) = indexer
        .get(&format!("/api/order/{}", ids::uuid(&SETTLED)))
        .await;
    let placed_at = detail["order"]["placed_at"].as_u64().unwrap() as u32;
    let record = |seq: u64, loss: f64| LogRecord {
        seq,
        timestamp_ms: 1_700_000_000_000 + seq,
        level: LogLevel::Info,
        message: format!("step {seq}"),
        metrics: Some(LogMetrics {
            epoch: Some(1),
            step: Some(seq),
            loss: Some(loss),
            accuracy: Some(0.5),
        }),
    };
    let batch = LogBatch {
        order_id: SETTLED,
        placed_at,
        records: vec![record(0, 0.9), record(1, 0.8)],
    };
    let body =
        |batch: &LogBatch, signer: &Keypair| batch.request_body(&batch.sign(signer).unwrap());
    let (status, added) = indexer
        .post("/api/log/add", &body(&batch, &dev::bob()))
        .await;
    assert_eq!(
        (status, &added),
        (200, &json!({"accepted": 2, "duplicates": 0})),
        "{kind}"
    );
    let (status, replay) = indexer
        .post("/api/log/add", &body(&batch, &dev::bob()))
        .await;
    assert_eq!(
        (status, &replay),
        (200, &json!({"accepted": 0, "duplicates": 2})),
        "{kind}"
    );
    let mut conflicting = batch.clone();
    conflicting.records[1].message = "something else".into();
    let (status, error) = indexer
        .post("/api/log/add", &body(&conflicting, &dev::bob()))
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("conflict")),
        "{kind}: {error}"
    );
    let (status, error) = indexer
        .post("/api/log/add", &body(&batch, &dev::charlie()))
        .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (403, Some("bad_signature")),
        "{kind}: {error}"
    );
    let mut unknown = batch.clone();
    unknown.order_id = [9; 16];
    let (status, _) = indexer
        .post("/api/log/add", &body(&unknown, &dev::bob()))
        .await;
    assert_eq!(status, 404, "{kind}");

    // The live tail: subscribe, then add a record, and read it from the stream.
    let mut stream = indexer
        .http
        .get(format!(
            "{}/api/log/stream/{}?from_seq=1",
            indexer.base,
            ids::uuid(&SETTLED)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let next = LogBatch {
        order_id: SETTLED,
        placed_at,
        records: vec![record(2, 0.7)],
    };
    let mut received = String::new();
    let mut added_live = false;
    while !received.contains("step 2") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an SSE chunk in time")
            .unwrap()
            .expect("the stream stays open");
        received.push_str(&String::from_utf8_lossy(&chunk));
        if received.contains("step 1") && !added_live {
            added_live = true;
            let (status, _) = indexer
                .post("/api/log/add", &body(&next, &dev::bob()))
                .await;
            assert_eq!(status, 200);
        }
    }
    assert!(
        !received.contains("step 0"),
        "{kind}: from_seq=1 skips record 0: {received}"
    );

    let (status, list) = indexer
        .post(
            "/api/log/list",
            &json!({"order_id": ids::uuid(&SETTLED), "from_seq": 1, "limit": 10}),
        )
        .await;
    assert_eq!(status, 200, "{kind}: {list}");
    let seqs: Vec<u64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2], "{kind}: {list}");
    assert_eq!(list["items"][0]["loss"], 0.8);
    assert_eq!(list["next_seq"], 3);
    let (_, searched) = indexer
        .post(
            "/api/log/list",
            &json!({"order_id": ids::uuid(&SETTLED), "search": "step 2", "level": "info"}),
        )
        .await;
    assert_eq!(
        searched["items"].as_array().unwrap().len(),
        1,
        "{kind}: {searched}"
    );
}

/// Bad input: a 4xx with the JSON error body, never a 5xx, nothing written.
/// Drill reports: only an active validator's, signed over the exact bytes, for an indexed
/// machine; the latest shown with the machine.
async fn check_drills(indexer: &TestIndexer) {
    use matrixai_chain::drill::{DrillReport, DrillVerdict, VERSION};
    let kind = indexer.kind;
    let report = |machine: MachineId, validator: &Keypair, at_ms: u64, verdict| DrillReport {
        v: VERSION,
        machine_id: ids::uuid(&machine),
        owner: ids::account(&keys::account_id(&dev::bob())),
        validator: ids::account(&keys::account_id(validator)),
        seed: "07".repeat(32),
        epochs: 3,
        samples: 4_311,
        claimed_samples_per_s: 25_000.0,
        predicted_s: 0.17,
        elapsed_s: Some(0.2),
        measured_samples_per_s: Some(21_555.0),
        verdict,
        reason: None,
        at_ms,
    };
    let post = |report: DrillReport, signer: &Keypair| {
        let signed = report.sign(signer);
        json!({"document": signed.document, "signature": signed.signature})
    };
    let path = format!("/api/machine/{}", ids::uuid(&MACHINE_A));
    let verified = report(MACHINE_A, &dev::dave(), 2_000, DrillVerdict::Verified);

    let (status, body) = indexer
        .post(
            "/api/drill",
            &post(
                report(MACHINE_A, &dev::eve(), 1, DrillVerdict::Verified),
                &dev::eve(),
            ),
        )
        .await;
    assert_eq!(status, 403, "{kind}: not a validator: {body}");
    let (status, body) = indexer
        .post("/api/drill", &post(verified.clone(), &dev::eve()))
        .await;
    assert_eq!(status, 403, "{kind}: signed by another account: {body}");
    let mut altered = post(verified.clone(), &dev::dave());
    altered["document"] = json!(
        altered["document"]
            .as_str()
            .unwrap()
            .replace("21555", "91555")
    );
    let (status, body) = indexer.post("/api/drill", &altered).await;
    assert_eq!(status, 403, "{kind}: altered after signing: {body}");
    let (status, body) = indexer
        .post(
            "/api/drill",
            &post(
                report([0xee; 16], &dev::dave(), 1, DrillVerdict::Verified),
                &dev::dave(),
            ),
        )
        .await;
    assert_eq!(status, 404, "{kind}: unknown machine: {body}");
    let (status, body) = indexer
        .post(
            "/api/drill",
            &json!({"document": "{}", "signature": "0x00"}),
        )
        .await;
    assert_eq!(status, 400, "{kind}: malformed: {body}");
    let (_, before) = indexer.get(&path).await;
    assert!(before["machine"]["drill"].is_null(), "{kind}: {before}");
    assert_eq!(before["machine"]["performance_verified"], false);

    let (status, body) = indexer
        .post("/api/drill", &post(verified.clone(), &dev::dave()))
        .await;
    assert_eq!(
        (status, &body["stored"]),
        (200, &json!(true)),
        "{kind}: {body}"
    );
    let (status, body) = indexer
        .post("/api/drill", &post(verified.clone(), &dev::dave()))
        .await;
    assert_eq!(
        (status, &body["stored"]),
        (200, &json!(false)),
        "{kind}: {body}"
    );
    // An older drill is kept but does not replace the latest.
    let older = report(MACHINE_A, &dev::dave(), 1_000, DrillVerdict::Contradicted);
    let (status, body) = indexer.post("/api/drill", &post(older, &dev::dave())).await;
    assert_eq!(status, 200, "{kind}: {body}");
    let (_, after) = indexer.get(&path).await;
    let machine = &after["machine"];
    assert_eq!(machine["performance_verified"], true, "{kind}: {machine}");
    assert_eq!(machine["drill"]["verdict"], "verified");
    assert_eq!(machine["drill"]["at_ms"], 2_000);
    assert_eq!(machine["drill"]["measured_samples_per_s"], 21_555.0);
    let (status, list) = indexer
        .get(&format!("/api/machine/{}/drills", ids::uuid(&MACHINE_A)))
        .await;
    assert_eq!(status, 200, "{kind}: {list}");
    let verdicts: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["verified", "contradicted"],
        "{kind}: latest first"
    );
    assert_eq!(list["items"][0]["report"]["seed"], "07".repeat(32));

    // A newer contradicting drill takes over.
    let newer = report(MACHINE_A, &dev::dave(), 3_000, DrillVerdict::Contradicted);
    indexer.post("/api/drill", &post(newer, &dev::dave())).await;
    let (_, after) = indexer.get(&path).await;
    assert_eq!(after["machine"]["performance_verified"], false, "{kind}");
    assert_eq!(after["machine"]["drill"]["verdict"], "contradicted");
}

async fn check_bad_input(indexer: &TestIndexer) {
    let kind = indexer.kind;
    let (_, before) = indexer.get("/api/stats").await;
    let cases: Vec<(&str, String)> = vec![
        ("/api/machine/market", "{not json".into()),
        ("/api/machine/market", r#"{"page": -1}"#.into()),
        ("/api/machine/market", r#"{"page_size": 0}"#.into()),
        ("/api/machine/market", r#"{"page_size": 1000000}"#.into()),
        ("/api/machine/market", r#"{"page": "two"}"#.into()),
        ("/api/machine/market", r#"{"price_min": "cheap"}"#.into()),
        ("/api/machine/market", r#"{"reliability_min": 7}"#.into()),
        ("/api/machine/market", r#"{"sort": "colour"}"#.into()),
        ("/api/machine/market", r#"{"unknown_filter": 1}"#.into()),
        ("/api/machine/mine", "{}".into()),
        ("/api/machine/mine", r#"{"owner": "nobody"}"#.into()),
        (
            "/api/order/mine",
            r#"{"account": "5Grw", "role": "buyer"}"#.into(),
        ),
        (
            "/api/order/mine",
            format!(
                r#"{{"account": "{}", "status": ["lost"]}}"#,
                ids::account(&keys::account_id(&dev::alice()))
            ),
        ),
        ("/api/log/add", r#"{"order_id": "x"}"#.into()),
        (
            "/api/log/add",
            format!(
                r#"{{"order_id": "{}", "placed_at": 1, "records": [], "signature": "0x00"}}"#,
                ids::uuid(&SETTLED)
            ),
        ),
        ("/api/log/list", r#"{"order_id": "not-a-uuid"}"#.into()),
        (
            "/api/log/list",
            format!(r#"{{"order_id": "{}", "limit": 0}}"#, ids::uuid(&SETTLED)),
        ),
        (
            "/api/machine/market",
            format!(r#"{{"region": "{}"}}"#, "x".repeat(3 * 1024 * 1024)),
        ),
    ];
    for (path, body) in cases {
        let (status, error) = indexer.post_raw(path, body.clone()).await;
        let shown = &body[..body.len().min(80)];
        assert!(
            (400..500).contains(&status),
            "{kind}: {path} {shown}: {status} {error}"
        );
        assert!(
            error["error"].is_string() && error["code"].is_string(),
            "{kind}: {path} {shown}: {error}"
        );
    }
    for path in [
        "/api/machine/00000000-0000-0000-0000-000000000000",
        "/api/order/00000000-0000-0000-0000-000000000000",
        "/api/nothing",
    ] {
        let (status, error) = indexer.get(path).await;
        assert_eq!(status, 404, "{kind}: {path}: {error}");
        assert_eq!(error["code"], "not_found");
    }
    let (status, _) = indexer.get("/api/machine/zzz").await;
    assert_eq!(status, 400, "{kind}");
    let (_, after) = indexer.get("/api/stats").await;
    assert_eq!(before, after, "{kind}: bad input wrote nothing");
    let (status, health) = indexer.get("/health").await;
    assert_eq!(
        (status, &health["status"]),
        (200, &json!("ok")),
        "{kind}: {health}"
    );
    let metrics = indexer
        .http
        .get(format!("{}/metrics", indexer.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("indexer_indexed_block"),
        "{kind}: {metrics}"
    );
    let (status, openapi) = indexer.get("/api-docs/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        openapi["paths"]["/api/machine/market"].is_object(),
        "{openapi}"
    );
}

/// schemathesis (PyPI) against the served OpenAPI document, bounded in examples: no 5xx, no
/// response that contradicts the schema, invalid input rejected. `scripts/test.sh` installs it
/// and sets `MATRIXAI_REQUIRE_SCHEMATHESIS=1`; elsewhere a missing schemathesis skips this.
async fn fuzz_api(indexer: &TestIndexer) {
    let schema = format!("{}/api-docs/openapi.json", indexer.base);
    let run = tokio::process::Command::new("schemathesis")
        .args(["run", &schema, "--url", &indexer.base])
        .args(["--checks", "all"])
        // Valid requests may name nothing that exists (404) or carry a bad signature (403):
        // schema-valid is not the same as acceptable.
        .args(["--exclude-checks", "positive_data_acceptance"])
        // The live log tail never ends by design.
        .args(["--exclude-path", "/api/log/stream/{id}"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "40",
            "--seed",
            "7",
            "--request-timeout",
            "10",
        ])
        // One worker: hypothesis parses lambdas' sources with `ast`, whose recursion counter
        // CPython 3.11 does not keep per thread ("AST constructor recursion depth mismatch").
        .args(["--workers", "1", "--no-color"])
        .output()
        .await;
    let output = match run {
        Ok(output) => output,
        Err(error) if std::env::var("MATRIXAI_REQUIRE_SCHEMATHESIS").is_err() => {
            eprintln!("schemathesis is not available ({error}): the API fuzzing is skipped");
            return;
        }
        Err(error) => panic!("schemathesis is required here: {error}"),
    };
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}"
    );
    eprintln!(
        "{}",
        report.lines().rev().take(12).collect::<Vec<_>>().join("\n")
    );
}
