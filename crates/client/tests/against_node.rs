//! The trainer agent against a real dev node, each test with its own node, side by side:
//! - device share: register with measured metadata, list, re-price, idempotent re-runs,
//!   another account refused, unshare returning the deposit;
//! - end to end with a real indexer (SQLite): the indexer's estimate, then the agent trains an
//!   order, streams its log, uploads the bundle, completes and proves;
//! - the orders it cannot do fail, with the reason on chain and the buyer refunded (invalid
//!   spec, dataset sha256 mismatch, unreachable dataset, dataset larger than the offered disk,
//!   training longer than the order).

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
        epochs_divisor: 8,
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

/// A real indexer (SQLite in `dir`) following `node`, on an ephemeral port.
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
    let indexer = start_indexer(&node, dir.path()).await;
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
    // The bytes the UI puts in the order: the spec as `matrixai-pot` writes it.
    assert_eq!(
        estimate["spec_json"].as_str().unwrap().as_bytes(),
        spec.canonical_json()
    );
    assert_eq!(estimate["spec_sha256"], hex::encode(spec.sha256()));
    // The rest is the estimate itself, which the agent's own quote must match below.
    let mut estimate = estimate;
    let fields = estimate.as_object_mut().unwrap();
    fields.remove("spec_json");
    fields.remove("spec_sha256");
    let mut too_long = iris.clone();
    too_long["dataset"] = json!({"source": "csv", "uri": format!("https://example.org/{}", "d".repeat(2100)),
        "sha256": "00".repeat(32), "rows": 150, "input_shape": [4], "classes": 3});
    let (status, error) = estimate_for(too_long, machine.clone()).await;
    assert_eq!(status, 422, "{error}");
    assert!(error["error"].as_str().unwrap().contains("2048"), "{error}");
    let (status, error) = estimate_for(json!({"v": 1}), machine.clone()).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("invalid_spec")),
        "{error}"
    );
    let (status, _) = estimate_for(iris.clone(), ids::uuid(&[9; 16])).await;
    assert_eq!(status, 404);
    // `matrixai-client estimate --machine` reads the same figures from the chain: same answer.
    let settings = Settings::resolve(&Options {
        config: Some(dir.path().join("empty.toml")),
        node: Some(node.rpc_url().to_string()),
        work_dir: Some(dir.path().join("buyer")),
        ..Options::default()
    })
    .unwrap();
    let quote = matrixai_client::estimate::quote(
        &settings,
        &spec,
        Some(&machine),
        &quick(),
        &Progress::plain(),
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(&quote).unwrap(),
        estimate,
        "the agent and the indexer agree"
    );
    let unknown = matrixai_client::estimate::quote(
        &settings,
        &spec,
        Some(&ids::uuid(&[9; 16])),
        &quick(),
        &Progress::plain(),
    )
    .await
    .unwrap_err();
    assert!(unknown.to_string().contains("no machine"), "{unknown}");

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
    // Declared as 4 rows, the file is larger than the 1 GB offered (sparse: no disk used).
    let huge = dir.path().join("huge.csv");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1_000_000_001)
        .unwrap();
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
            "dataset larger than the disk offered",
            csv_spec(&format!("file://{}", huge.display()), &"0".repeat(64)),
            FailureCode::InsufficientResources,
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

/// A moment of an order's life at which the agent is killed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Moment {
    Download,
    Training,
    Upload,
    BetweenCompletedAndProof,
}

impl Moment {
    fn reached(self, state: &OrderState, order_dir: &Path) -> bool {
        match self {
            Self::Download => {
                state.status == Status::Fetching
                    && std::fs::metadata(order_dir.join("dataset.csv.part"))
                        .is_ok_and(|part| part.len() > 0)
            }
            Self::Training => {
                state.status == Status::Training
                    && state.step.is_some_and(|step| step > 0)
                    && state.step < state.total_steps
            }
            Self::Upload => state.status == Status::Uploading,
            Self::BetweenCompletedAndProof => state.status == Status::Completed,
        }
    }
}

/// A CSV dataset of `rows` rows of 64 features (0 to 16) and a label (0 to 9) a small network
/// can learn: the pixel sum of the first quarter, modulo 10.
fn synthetic_digits(rows: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut csv = String::new();
    for _ in 0..rows {
        let mut features = [0u64; 64];
        for value in &mut features {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *value = state % 17;
        }
        let label = features[..16].iter().sum::<u64>() % 10;
        for value in features {
            csv.push_str(&format!("{value},"));
        }
        csv.push_str(&format!("{label}\n"));
    }
    csv.into_bytes()
}

/// An HTTP server on loopback that sends `content` slowly (8 KiB every 40 ms, so that a
/// download lasts long enough to be interrupted), honours `Range: bytes=N-`, and records the
/// offset each request starts from.
async fn slow_server(content: Arc<Vec<u8>>) -> (String, Arc<std::sync::Mutex<Vec<usize>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = starts.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let (content, starts) = (content.clone(), starts.clone());
            tokio::spawn(async move {
                let mut socket = tokio::io::BufReader::new(socket);
                let mut from = 0usize;
                loop {
                    let mut line = String::new();
                    if socket.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(range) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        from = range.trim().trim_end_matches('-').parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                starts.lock().unwrap().push(from);
                let rest = &content[from..];
                let head = if from > 0 {
                    format!(
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\n\r\n",
                        rest.len(),
                        content.len() - 1,
                        content.len()
                    )
                } else {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", rest.len())
                };
                let socket = socket.get_mut();
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for chunk in rest.chunks(8 << 10) {
                    if socket.write_all(chunk).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            });
        }
    });
    (format!("http://{address}/digits.csv"), recorded)
}

/// `matrixai-client run` as its own process, for `seller` in `dir`, logging to `log`.
fn spawn_agent(
    node: &TestNode,
    indexer: &str,
    seller: &str,
    dir: &Path,
    log: &Path,
) -> tokio::process::Child {
    let store = format!("file://{}", dir.join("store").display());
    tokio::process::Command::new(env!("CARGO_BIN_EXE_matrixai-client"))
        .args(["--config", &dir.join("empty.toml").display().to_string()])
        .args(["--node", node.rpc_url(), "--indexer", indexer])
        .args(["--account-uri", seller])
        .args(["--work-dir", &dir.join("work").display().to_string()])
        .args(["--storage", &store])
        .args(["--price-per-hour", "1", "--max-duration-hours", "4"])
        .args(["--disk-gb", "1", "--threads", "1"])
        .args(["--status-listen", "127.0.0.1:0", "run"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("the matrixai-client binary")
}

/// Polls the agent's record of `order_id` (every 5 ms, at most 5 minutes) until `reached`;
/// on a timeout, fails with the last state and the agent's logs in `seller_dir`.
async fn watch_state(
    seller_dir: &Path,
    order_id: &OrderId,
    mut reached: impl FnMut(&OrderState) -> bool,
) -> OrderState {
    let work_dir = seller_dir.join("work");
    let work_dir = work_dir.as_path();
    let found = tokio::time::timeout(Duration::from_secs(300), async {
        loop {
            // A state file is replaced atomically, so a read never sees half of one.
            if let Ok(Some(state)) = OrderState::load(work_dir, order_id)
                && reached(&state)
            {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        let log = |name: &str| std::fs::read_to_string(seller_dir.join(name)).unwrap_or_default();
        panic!(
            "{}: no such state within 5 minutes; last {:?}\n--- first run\n{}\n--- second run\n{}",
            seller_dir.display(),
            OrderState::load(work_dir, order_id),
            log("first.log"),
            log("second.log")
        )
    })
}

/// kill -9 of the agent at each moment of an order's life (one seller per moment, side by
/// side): after a restart the order completes once, with the transcript root of an
/// uninterrupted run, every chain call made exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_agent_resumes_each_order_where_it_stood() {
    trace();
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let indexer = start_indexer(&node, dir.path()).await;
    let indexer_url = format!("http://{}", indexer.address);

    let csv = Arc::new(synthetic_digits(3_000));
    let (uri, starts) = slow_server(csv.clone()).await;
    let mut spec: Value = serde_json::from_str(matrixai_pot::examples::DIGITS_MLP).unwrap();
    spec["dataset"] = json!({
        "source": "csv", "uri": uri, "sha256": hex::encode(Sha256::digest(&*csv)),
        "rows": 3_000, "input_shape": [64], "classes": 10
    });
    // A few seconds of training, so that a kill lands in it: twice digits-mlp's width, 400
    // epochs, a checkpoint every 1 000 of its 30 000 steps.
    spec["model"]["layers"][1]["units"] = json!(64);
    spec["epochs"] = json!(400);
    spec["checkpoint_interval"] = json!(1_000);
    spec["min_eval_accuracy_ppm"] = json!(0);
    let spec = TaskSpec::from_json(&serde_json::to_vec(&spec).unwrap()).unwrap();
    let plan = spec.validate().unwrap();
    assert!(
        plan.checkpoint_steps().len() > 10,
        "checkpoints to resume from"
    );

    // The uninterrupted run, for its transcript root.
    let reference = {
        let (spec, csv) = (spec.clone(), csv.clone());
        let scratch = dir.path().join("reference");
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&scratch).unwrap();
            std::fs::write(scratch.join("digits.csv"), &*csv).unwrap();
            let data = PreparedData::for_spec(&spec, Some(&scratch.join("digits.csv"))).unwrap();
            let exec = Exec::new(1, None).unwrap();
            matrixai_pot::train_bundle(&spec, &data, &scratch.join("bundle"), &exec, |_, _| {})
                .unwrap()
                .transcript
                .root
        })
    };

    let moments = [
        (Moment::Download, "//Bob"),
        (Moment::Training, "//Alice"),
        (Moment::Upload, "//Eve"),
        (Moment::BetweenCompletedAndProof, "//Ferdie"),
    ];
    // One buyer places the orders, one after the other (its nonces); all else side by side.
    let buyer = tokio::sync::Mutex::new(());
    let runs = moments
        .into_iter()
        .enumerate()
        .map(|(index, (moment, seller))| {
            let (node, client, indexer_url, dir, spec, buyer) = (
                &node,
                &client,
                indexer_url.as_str(),
                dir.path(),
                &spec,
                &buyer,
            );
            async move {
                let seller_dir = dir.join(format!("{moment:?}"));
                std::fs::create_dir_all(seller_dir.join("store")).unwrap();
                std::fs::write(seller_dir.join("empty.toml"), "").unwrap();
                let settings = Settings::resolve(&Options {
                    config: Some(seller_dir.join("empty.toml")),
                    node: Some(node.rpc_url().to_string()),
                    account_uri: Some(seller.into()),
                    price_per_hour: Some("1".into()),
                    max_duration_hours: Some(4),
                    disk_gb: Some(1),
                    work_dir: Some(seller_dir.join("work")),
                    ..Options::default()
                })
                .unwrap();
                let owner = keys::from_uri(seller).unwrap();
                // Shared in process first, so that the agent's start does not measure.
                let shared = share::share(&settings, client, &owner, &quick(), &Progress::plain())
                    .await
                    .unwrap();
                let machine_id = ids::parse_uuid(&shared.machine_id).unwrap();
                let order_id: OrderId = [0x40 + index as u8; 16];
                let mut agent = spawn_agent(
                    node,
                    indexer_url,
                    seller,
                    &seller_dir,
                    &seller_dir.join("first.log"),
                );
                {
                    let _turn = buyer.lock().await;
                    place(
                        client,
                        seller,
                        machine_id,
                        order_id,
                        1,
                        spec.canonical_json(),
                    )
                    .await;
                }
                let order_dir = OrderState::dir(&seller_dir.join("work"), &order_id);
                let killed_at = watch_state(&seller_dir, &order_id, |state| {
                    moment.reached(state, &order_dir)
                })
                .await;
                agent.kill().await.unwrap();
                tracing::info!(?moment, ?killed_at, "killed the agent");
                let log = seller_dir.join("second.log");
                let _agent = spawn_agent(node, indexer_url, seller, &seller_dir, &log);
                let done = watch_state(&seller_dir, &order_id, |state| {
                    state.status == Status::ProofSubmitted || state.status.is_final()
                })
                .await;
                (
                    moment,
                    seller,
                    killed_at,
                    done,
                    std::fs::read_to_string(&log).unwrap(),
                )
            }
        });
    let outcomes = futures::future::join_all(runs).await;
    let reference = reference.await.unwrap();

    let state = client.finalized_state().await.unwrap();
    for (moment, seller, killed_at, done, second_log) in outcomes {
        assert_eq!(done.status, Status::ProofSubmitted, "{moment:?}: {done:?}");
        let order_id = ids::parse_uuid(&done.order_id).unwrap();
        let order = state.order(order_id).await.unwrap().unwrap();
        let OrderResult::Completed(delivery) =
            OrderResult::parse(&order.result.unwrap().0).unwrap()
        else {
            panic!("{moment:?}: a completed order");
        };
        let commitment = Commitment::from_json(&order.proof.unwrap().0).unwrap();
        assert_eq!(
            commitment.root, reference,
            "{moment:?}: the transcript root of an uninterrupted run"
        );
        let model = Path::new(delivery.model_uri.strip_prefix("file://").unwrap());
        assert_eq!(sha256_file(model), delivery.model_sha256, "{moment:?}");
        let bundle = Path::new(delivery.bundle_uri.strip_prefix("file://").unwrap());
        assert_eq!(
            sha256_file(&bundle.join("manifest.json")),
            hex::encode(commitment.bundle_sha256.0),
            "{moment:?}"
        );
        // add_machine and make_offer, then order_completed and submit_pot: four calls in all,
        // none made twice (a refused duplicate would use a nonce too).
        let seller = keys::account_id(&keys::from_uri(seller).unwrap());
        assert_eq!(
            state.nonce(&seller).await.unwrap(),
            4,
            "{moment:?}: calls made"
        );
        match moment {
            Moment::Download => assert!(
                starts.lock().unwrap().iter().any(|&start| start > 0),
                "the download resumed where it stopped: {:?}",
                starts.lock().unwrap()
            ),
            Moment::Training => assert!(
                second_log.contains("training resumed"),
                "{moment:?} (killed at step {:?}): {second_log}",
                killed_at.step
            ),
            _ => {}
        }
    }
    indexer.shutdown().await;
}
