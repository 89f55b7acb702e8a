//! `--chain local`: Alice and Bob, the local testnet's two authorities, peer over loopback and
//! finalize together. GRANDPA needs both of their votes, so finality proves they talk.

use matrixai_chain::testing::{NodeOptions, TestNode};
use std::time::Duration;

/// Finalized height both nodes must pass.
const FINALIZED_TARGET: u64 = 4;
/// Generous for 3-second blocks: peering, BABE's first blocks and GRANDPA rounds.
const FINALITY_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alice_and_bob_peer_and_finalize() {
    let alice = TestNode::start(NodeOptions::local_authority("alice"))
        .await
        .expect("Alice's node");
    let alice_address = alice.p2p_address().await.expect("Alice's P2P address");
    let bob = TestNode::start(NodeOptions::local_authority("bob").bootnode(alice_address))
        .await
        .expect("Bob's node");
    let (alice_client, bob_client) =
        tokio::try_join!(alice.client(), bob.client()).expect("clients of both nodes");

    let (alice_finalized, bob_finalized) = tokio::join!(
        alice_client.wait_for_finalized_block(FINALIZED_TARGET, FINALITY_TIMEOUT),
        bob_client.wait_for_finalized_block(FINALIZED_TARGET, FINALITY_TIMEOUT),
    );
    let alice_finalized = alice_finalized
        .map_err(|e| alice.chain_error(e))
        .expect("Alice finalizes");
    let bob_finalized = bob_finalized
        .map_err(|e| bob.chain_error(e))
        .expect("Bob finalizes");
    assert!(alice_finalized >= FINALIZED_TARGET && bob_finalized >= FINALIZED_TARGET);

    let (alice_peers, bob_peers) =
        tokio::try_join!(alice_client.peer_count(), bob_client.peer_count())
            .expect("system_health");
    assert_eq!(
        (alice_peers, bob_peers),
        (1, 1),
        "each authority sees the other and nobody else"
    );

    // Both finalized the same chain: Bob's block at Alice's finalized height is Alice's.
    let height = alice_finalized.min(bob_finalized);
    let (alice_hash, bob_hash) = tokio::try_join!(
        alice_client.finalized_block_hash(height),
        bob_client.finalized_block_hash(height)
    )
    .expect("finalized block hashes");
    assert_eq!(
        alice_hash, bob_hash,
        "both nodes finalized the same block #{height}"
    );
}
