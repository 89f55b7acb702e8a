//! Device share against a real dev node: register with measured metadata, list, re-price,
//! idempotent re-runs, another account refused, unshare returning the deposit.

use matrixai_chain::machine_metadata::MachineMetadata;
use matrixai_chain::testing::TestNode;
use matrixai_chain::{UNIT, ids, keys};
use matrixai_client::assess::Budget;
use matrixai_client::config::{Options, Settings};
use matrixai_client::progress::Progress;
use matrixai_client::share::{self, MachineIdentity};
use std::time::Duration;

/// Measurements small enough for a test; the figures only need to be real and positive.
fn quick() -> Budget {
    Budget {
        gemm_size: 128,
        triad_len: 1 << 16,
        disk_bytes: 4 << 20,
        min_time: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
