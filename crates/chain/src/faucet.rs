//! Claiming test tokens: the faucet pays only a claim that carries a proof of work over the
//! claimant and a recent block hash (docs/chain.md, "Faucet"), so draining it takes real work
//! per key. This module solves that work off chain, with the same bytes the runtime hashes.
//!
//! ```no_run
//! # async fn example(client: matrixai_chain::ChainClient) -> Result<(), matrixai_chain::ChainError> {
//! let newcomer = matrixai_chain::keys::from_uri("//Newcomer")?;
//! let claimed = client.claim_from_faucet(&newcomer).await?;
//! assert_eq!(claimed.fee_paid, 0, "a claim that would be paid is feeless");
//! # Ok(()) }
//! ```

use crate::{AccountId, ChainClient, ChainError, Finalized, Hash, runtime};
use subxt_signer::sr25519::Keypair;

/// What the runtime hashes first (`pallet_faucet::WORK_DOMAIN`).
const WORK_DOMAIN: &[u8; 15] = b"matrixai-faucet";

/// `blake2_256(WORK_DOMAIN ‖ claimant ‖ block hash ‖ nonce as 8 little-endian bytes)`, the
/// SCALE encoding of the tuple the runtime hashes (fixed-size fields, no length prefixes).
pub fn work_hash(claimant: &AccountId, block_hash: &Hash, nonce: u64) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(15 + 32 + 32 + 8);
    bytes.extend_from_slice(WORK_DOMAIN);
    bytes.extend_from_slice(claimant.as_ref());
    bytes.extend_from_slice(block_hash.as_ref());
    bytes.extend_from_slice(&nonce.to_le_bytes());
    sp_crypto_hashing::blake2_256(&bytes)
}

/// Whether `hash` starts with at least `bits` zero bits (most significant bit of the first
/// byte first), the runtime's difficulty rule.
pub fn meets_difficulty(hash: &[u8; 32], bits: u32) -> bool {
    let mut zeros = 0;
    for byte in hash {
        zeros += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    zeros >= bits
}

/// The first nonce from 0 whose work hash meets `difficulty`: about 2^difficulty hashes.
pub fn solve_work(claimant: &AccountId, block_hash: &Hash, difficulty: u32) -> u64 {
    (0..=u64::MAX)
        .find(|&nonce| meets_difficulty(&work_hash(claimant, block_hash, nonce), difficulty))
        .expect("a 256-bit hash meets any difficulty up to 64 bits within 2^64 nonces")
}

impl ChainClient {
    /// Claims the faucet's payout for `claimant`, which may hold nothing yet: solves the work
    /// over the latest finalized block at the runtime's `ClaimDifficulty` (blocking the calling
    /// thread for that long), then submits
    /// `Faucet.claim` and waits for finalization.
    ///
    /// A claim the faucet would refuse (cooling down, the period's cap reached, ...) is rejected
    /// by the node's pool with the reason ([`ChainError::Rejected`]), never charged a fee.
    pub async fn claim_from_faucet(&self, claimant: &Keypair) -> Result<Finalized, ChainError> {
        let at = self.api().at_current_block().await?;
        let difficulty = at
            .constants()
            .entry(runtime::constants().faucet().claim_difficulty())?;
        let (block, block_hash) = (at.block_number(), at.block_hash());
        let who = crate::keys::account_id(claimant);
        let block = u32::try_from(block)
            .map_err(|_| ChainError::InvalidInput(format!("block {block} is beyond u32")))?;
        // A fraction of a second at the runtime's difficulty; run inline.
        let nonce = solve_work(&who, &block_hash, difficulty);
        let work = runtime::runtime_types::pallet_faucet::ClaimWork { block, nonce };
        self.submit(&runtime::tx().faucet().claim(work), claimant)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_counts_leading_zero_bits() {
        let mut hash = [0xffu8; 32];
        assert!(meets_difficulty(&hash, 0));
        assert!(!meets_difficulty(&hash, 1));
        hash[0] = 0;
        hash[1] = 0b0001_0000;
        assert!(meets_difficulty(&hash, 11));
        assert!(!meets_difficulty(&hash, 12));
    }

    #[test]
    fn a_solved_nonce_meets_the_difficulty_and_binds_the_claimant() {
        let (alice, bob) = (
            crate::keys::account_id(&crate::keys::dev::alice()),
            crate::keys::account_id(&crate::keys::dev::bob()),
        );
        let block_hash = Hash::from([7u8; 32]);
        let nonce = solve_work(&alice, &block_hash, 12);
        assert!(meets_difficulty(&work_hash(&alice, &block_hash, nonce), 12));
        assert!(
            (0..nonce)
                .all(|earlier| !meets_difficulty(&work_hash(&alice, &block_hash, earlier), 12))
        );
        // The work is over the claimant: Bob's first solution is another nonce.
        assert_ne!(solve_work(&bob, &block_hash, 12), nonce);
    }
}
