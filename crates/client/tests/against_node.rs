//! The trainer agent against a real dev node, each test with its own node, side by side:
//! - device share: register with measured metadata, list, re-price, idempotent re-runs,
//!   another account refused, unshare returning the deposit;
//! - end to end with a real indexer (SQLite): the indexer's estimate, then the agent trains an
//!   order, streams its log, uploads the bundle, completes and proves;
//! - the orders it cannot do fail, with the reason on chain and the buyer refunded.

use futures::StreamExt;
use matrixai_chain::machine_metadata::MachineMetadata;
use matrixai_chain::order_result::{FailureCode, OrderResult};
use matrixai_chain::runtime::hashrate_market::Event;
use matrixai_chain::testing::TestNode;
use matrixai_chain::{ChainClient, MachineId, OrderId, UNIT, ids, keys, runtime};
use matrixai_client::agent::Agent;
use matrixai_client::assess::Budget;
use matrixai_client::config::{Options, Settings};
use matrixai_client::order::{OrderState, Status};
use matrixai_client::progress::Progress;
use matrixai_client::share::{self, MachineIdentity};
use matrixai_pot::{Commitment, Exec, PreparedData, TaskSpec, Verdict, Verifier};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn quick() -> Budget {
    Budget {
        gemm_size: 128,
        triad_len: 1 << 16,
        disk_bytes: 4 << 20,
        min_time: Duration::ZERO,
    }
}

/// The agent's and the indexer's logs in the test's output (shown when a test fails).
fn trace() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,sqlx=warn")
        .with_test_writer()
        .try_init();
}

/// The agent's record of an order once it is final on the agent's side (it writes the state
/// right after its own call is finalized, a moment after the test sees the event).
async fn final_state(work_dir: &Path, order_id: &OrderId) -> OrderState {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(state) = OrderState::load(work_dir, order_id).unwrap()
                && matches!(state.status, Status::Failed | Status::ProofSubmitted)
            {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the agent records the order within a minute")
}

/// An agent for `seller` with its own work directory, running until the test ends.
async fn start_agent(
    node: &TestNode,
    indexer: &str,
    seller: &str,
    dir: &Path,
) -> (Arc<Agent>, tokio::sync::watch::Sender<bool>) {
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    std::fs::create_dir_all(dir.join("store")).unwrap();
    let options = Options {
        config: Some(empty),
        node: Some(node.rpc_url().to_string()),
        indexer: Some(indexer.to_string()),
        account_uri: Some(seller.into()),
        price_per_hour: Some("1".into()),
        max_duration_hours: Some(4),
        disk_gb: Some(1),
        work_dir: Some(dir.join("work")),
        storage: Some(format!("file://{}", dir.join("store").display())),
        threads: Some(2),
        ..Options::default()
    };
    let settings = Settings::resolve(&options).unwrap();
    let agent = Arc::new(Agent::start(settings, &quick()).await.unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(agent.clone().run(stopped));
    (agent, stop)
}

async fn place(
    client: &ChainClient,
    seller: &str,
    machine: MachineId,
    order: OrderId,
    hours: u32,
    metadata: Vec<u8>,
) {
    let seller = keys::account_id(&keys::from_uri(seller).unwrap());
    let call = runtime::tx().hashrate_market().place_order(
        order,
        seller.into(),
        machine,
        hours,
        UNIT,
        metadata,
    );
    client.submit(&call, &keys::dev::charlie()).await.unwrap();
}

/// Waits (bounded) for the first finalized event `matches` accepts.
async fn wait_for<T>(
    events: &mut (
             impl futures::Stream<Item = Result<matrixai_chain::MarketEvent, matrixai_chain::ChainError>>
             + Unpin
         ),
    mut matches: impl FnMut(&Event) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(event) = events.next().await {
            if let Some(found) = matches(&event.unwrap().event) {
                return found;
            }
        }
        panic!("the event stream ended");
    })
    .await
    .expect("the event within 5 minutes")
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agent_trains_delivers_and_proves_an_order() {
    trace();
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexer = matrixai_indexer::Indexer::start(&matrixai_indexer::Config {
        node: node.rpc_url().to_string(),
        database: Some(format!("sqlite://{}/indexer.db", dir.path().display())),
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: None,
        max_lag: 10,
        batch_blocks: 512,
    })
    .await
    .unwrap();
    let indexer_url = format!("http://{}", indexer.address);
    let (agent, _stop) = start_agent(&node, &indexer_url, "//Bob", dir.path()).await;

    let mut events = Box::pin(client.market_events().await.unwrap());
    let spec = TaskSpec::from_json(matrixai_pot::examples::IRIS_SOFTMAX.as_bytes()).unwrap();
    let http = matrixai_chain::storage::http_client();

    // What the buyer sees before paying: the indexer's estimate for this spec on this machine.
    let machine = ids::uuid(&agent.machine_id());
    let estimate_for = |spec: Value, machine: String| {
        let http = http.clone();
        let url = format!("{indexer_url}/api/order/estimate");
        async move {
            let response = http
                .post(url)
                .json(&json!({ "spec": spec, "machine_id": machine }))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let iris: Value = serde_json::from_str(matrixai_pot::examples::IRIS_SOFTMAX).unwrap();
    let (status, estimate) = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            // The indexer may be a block behind the agent's registration.
            let (status, body) = estimate_for(iris.clone(), machine.clone()).await;
            if status != 404 {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{estimate}");
    assert_eq!(estimate["hours"], 1, "{estimate}");
    assert!(estimate["total_s"].as_f64().unwrap() > 0.0);
    assert_eq!(estimate["price_per_hour"], UNIT.to_string());
    assert_eq!(estimate["cost"], UNIT.to_string());
    assert_eq!(estimate["within_max_duration"], true);
    let (status, error) = estimate_for(json!({"v": 1}), machine.clone()).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("invalid_spec")),
        "{error}"
    );
    let (status, _) = estimate_for(iris.clone(), ids::uuid(&[9; 16])).await;
    assert_eq!(status, 404);

    let order_id: OrderId = [0x11; 16];
    place(
        &client,
        "//Bob",
        agent.machine_id(),
        order_id,
        1,
        spec.canonical_json(),
    )
    .await;
    let proof = wait_for(&mut events, |event| match event {
        Event::PotSubmitted {
            order_id: id,
            proof,
            ..
        } if *id == order_id => Some(proof.0.clone()),
        _ => None,
    })
    .await;

    // On chain: the result and the commitment, consistent with the uploaded files.
    let order = client
        .finalized_state()
        .await
        .unwrap()
        .order(order_id)
        .await
        .unwrap()
        .unwrap();
    let OrderResult::Completed(delivery) = OrderResult::parse(&order.result.unwrap().0).unwrap()
    else {
        panic!("a completed order");
    };
    let commitment = Commitment::from_json(&proof).unwrap();
    assert_eq!(commitment.bundle_uri, delivery.bundle_uri);
    assert_eq!(order.score, Some(delivery.accuracy_ppm));
    assert_eq!(commitment.accuracy_ppm, delivery.accuracy_ppm);
    let bundle = Path::new(delivery.bundle_uri.strip_prefix("file://").unwrap()).to_path_buf();
    assert!(bundle.starts_with(dir.path().join("store")));
    let model = Path::new(delivery.model_uri.strip_prefix("file://").unwrap());
    assert_eq!(sha256_file(model), delivery.model_sha256);
    assert_eq!(hex::encode(commitment.final_model.0), delivery.model_sha256);
    assert_eq!(
        sha256_file(&bundle.join("manifest.json")),
        hex::encode(commitment.bundle_sha256.0)
    );
    // The uploaded bundle passes the Proof-of-Training verifier.
    let data = PreparedData::for_spec(&spec, None).unwrap();
    let exec = Exec::new(2, None).unwrap();
    let report =
        Verifier::new(&spec, &data, &exec)
            .unwrap()
            .verify(&bundle, [7; 32], 4, Some(&commitment));
    assert_eq!(report.verdict, Verdict::Accept, "{:?}", report.reasons);

    // The agent's own record of the order.
    let state = final_state(&dir.path().join("work"), &order_id).await;
    assert_eq!(state.status, Status::ProofSubmitted);
    assert_eq!(state.accuracy_ppm, Some(delivery.accuracy_ppm));

    // The agent's status endpoint serves the same state.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let status_url = format!("http://{}", listener.local_addr().unwrap());
    let router = matrixai_client::status::router(dir.path().join("work"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{status_url}{path}");
        async move {
            let response = http.get(url).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, served) = get(format!("/status/{}", ids::uuid(&order_id))).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_value::<OrderState>(served).unwrap(), state);
    let (status, all) = get("/status".into()).await;
    assert_eq!((status, all["orders"].as_array().unwrap().len()), (200, 1));
    assert_eq!(get(format!("/status/{}", ids::uuid(&[9; 16]))).await.0, 404);
    let (status, error) = get("/status/not-an-id".into()).await;
    assert_eq!((status, error["code"].as_str()), (400, Some("invalid_id")));

    // The indexer lists the order's log with its loss values, signed by the seller.
    let page: Value = http
        .post(format!("{indexer_url}/api/log/list"))
        .json(&json!({ "order_id": ids::uuid(&order_id), "limit": 1000 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    let losses: Vec<f64> = items
        .iter()
        .filter_map(|item| item["loss"].as_f64())
        .collect();
    assert!(!losses.is_empty(), "{page}");
    assert!(losses.iter().all(|loss| loss.is_finite() && *loss > 0.0));
    assert!(items.iter().any(|item| item["accuracy"].as_f64().is_some()));
    let seqs: Vec<u64> = items
        .iter()
        .map(|item| item["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (0..seqs.len() as u64).collect::<Vec<_>>(),
        "every record, in order"
    );
    indexer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_the_machine_cannot_do_fail_with_a_reason_and_a_refund() {
    trace();
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // No indexer: the agent trains and reports without one.
    let (agent, _stop) = start_agent(&node, "http://127.0.0.1:9", "//Eve", dir.path()).await;
    let charlie = keys::account_id(&keys::dev::charlie());
    let reserved = || async {
        client
            .finalized_state()
            .await
            .unwrap()
            .balance(&charlie)
            .await
            .unwrap()
            .reserved
    };
    let reserved_before = reserved().await;

    let csv = dir.path().join("data.csv");
    std::fs::write(
        &csv,
        "5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,0\n6.2,3.4,5.4,2.3,2\n5.9,3.0,5.1,1.8,2\n",
    )
    .unwrap();
    let csv_spec = |uri: &str, sha256: &str| {
        let mut spec: Value = serde_json::from_str(matrixai_pot::examples::IRIS_SOFTMAX).unwrap();
        spec["dataset"] = json!({
            "source": "csv", "uri": uri, "sha256": sha256, "rows": 4, "input_shape": [4], "classes": 3
        });
        spec["batch_size"] = json!(2);
        serde_json::to_vec(&spec).unwrap()
    };
    // Hours of training on any machine: a hundred thousand epochs, checkpoints spaced out.
    let mut long: Value = serde_json::from_str(matrixai_pot::examples::DIGITS_CNN).unwrap();
    long["epochs"] = json!(100_000);
    long["model"]["layers"][0] =
        json!({ "type": "conv2d", "out_channels": 64, "kernel": 5, "padding": 2 });
    long["checkpoint_interval"] = json!(10_000);
    TaskSpec::from_json(&serde_json::to_vec(&long).unwrap())
        .and_then(|spec| spec.validate())
        .expect("a valid spec, only long");
    let cases: Vec<(&str, Vec<u8>, FailureCode)> = vec![
        (
            "not a task spec",
            b"{\"v\":1}".to_vec(),
            FailureCode::InvalidSpec,
        ),
        (
            "dataset sha256 mismatch",
            csv_spec(&format!("file://{}", csv.display()), &"0".repeat(64)),
            FailureCode::DatasetMismatch,
        ),
        (
            "unreachable dataset",
            csv_spec("http://127.0.0.1:9/data.csv", &"0".repeat(64)),
            FailureCode::DatasetUnavailable,
        ),
        (
            "training longer than the order",
            serde_json::to_vec(&long).unwrap(),
            FailureCode::DurationTooShort,
        ),
    ];
    let mut events = Box::pin(client.market_events().await.unwrap());
    for (index, (case, metadata, code)) in cases.into_iter().enumerate() {
        let order_id: OrderId = [0x20 + index as u8; 16];
        place(&client, "//Eve", agent.machine_id(), order_id, 1, metadata).await;
        let (result, refunded) = wait_for(&mut events, |event| match event {
            Event::OrderFailed {
                order_id: id,
                result,
                refunded,
                ..
            } if *id == order_id => Some((result.0.clone(), *refunded)),
            _ => None,
        })
        .await;
        let OrderResult::Failed(failure) = OrderResult::parse(&result).unwrap() else {
            panic!("{case}: a failure");
        };
        assert_eq!(failure.code, code, "{case}: {}", failure.reason);
        assert!(!failure.reason.is_empty());
        assert_eq!(refunded, UNIT, "{case}: the whole escrow back");
        assert_eq!(
            reserved().await,
            reserved_before,
            "{case}: nothing left held"
        );
        let state = final_state(&dir.path().join("work"), &order_id).await;
        assert_eq!(state.status, Status::Failed, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn share_registers_lists_reprices_and_unshares() {
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let mut options = Options {
        config: Some(empty),
        node: Some(node.rpc_url().to_string()),
        work_dir: Some(work.path().to_path_buf()),
        account_uri: Some("//Bob".into()),
        price_per_hour: Some("2.5".into()),
        max_duration_hours: Some(12),
        disk_gb: Some(1),
        region: Some("eu-west".into()),
        ..Options::default()
    };
    let settings = Settings::resolve(&options).unwrap();
    let bob = keys::dev::bob();
    let progress = Progress::plain();
    let reserved_before = client
        .finalized_state()
        .await
        .unwrap()
        .balance(&keys::account_id(&bob))
        .await
        .unwrap()
        .reserved;

    let shared = share::share(&settings, &client, &bob, &quick(), &progress)
        .await
        .unwrap();
    assert!(shared.registered && shared.offer_changed);
    let identity = MachineIdentity::load(work.path()).unwrap().unwrap();
    assert_eq!(identity.machine_id, shared.machine_id);
    let state = client.finalized_state().await.unwrap();
    let machine = state
        .machine(identity.id())
        .await
        .unwrap()
        .expect("on chain");
    assert_eq!(machine.owner, keys::account_id(&bob));
    let metadata = MachineMetadata::parse(&machine.metadata.0).expect("valid metadata");
    assert_eq!(metadata.region, "eu-west");
    assert_eq!(metadata.hardware.disk_gb, 1);
    let performance = &metadata.performance;
    assert!(performance.gemm_gflops > 0.0 && performance.train_samples_per_s > 0.0);
    assert!(performance.index > 0.0);
    let offer = machine.offer.expect("listed");
    assert_eq!(
        (
            offer.price_per_hour,
            offer.max_duration_hours,
            offer.disk_gb
        ),
        (5 * UNIT / 2, 12, 1)
    );
    let deposit = machine.deposit;
    assert_eq!(
        state
            .balance(&keys::account_id(&bob))
            .await
            .unwrap()
            .reserved,
        reserved_before + deposit
    );

    // Again, unchanged: nothing is submitted.
    let again = share::share(&settings, &client, &bob, &quick(), &progress)
        .await
        .unwrap();
    assert!(!again.registered && !again.offer_changed);
    assert_eq!(again.machine_id, shared.machine_id);
    assert_eq!(again.stale_metadata, None);

    // A new price: the offer changes, the machine stays.
    options.price_per_hour = Some("4".into());
    let repriced_settings = Settings::resolve(&options).unwrap();
    let repriced = share::share(&repriced_settings, &client, &bob, &quick(), &progress)
        .await
        .unwrap();
    assert!(!repriced.registered && repriced.offer_changed);
    let machine = client
        .finalized_state()
        .await
        .unwrap()
        .machine(identity.id())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(machine.offer.unwrap().price_per_hour, 4 * UNIT);

    // Another account cannot take over this work directory's machine.
    let charlie = keys::dev::charlie();
    let error = share::share(&settings, &client, &charlie, &quick(), &progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&ids::account(&keys::account_id(&bob))),
        "{error}"
    );

    // Unshare: delisted, removed, the deposit back, the identity gone.
    let removed = share::unshare(&settings, &client, &bob).await.unwrap();
    assert_eq!(removed.as_deref(), Some(shared.machine_id.as_str()));
    let state = client.finalized_state().await.unwrap();
    assert!(state.machine(identity.id()).await.unwrap().is_none());
    assert_eq!(
        state
            .balance(&keys::account_id(&bob))
            .await
            .unwrap()
            .reserved,
        reserved_before
    );
    assert!(MachineIdentity::load(work.path()).unwrap().is_none());
    assert_eq!(
        share::unshare(&settings, &client, &bob).await.unwrap(),
        None
    );
}
