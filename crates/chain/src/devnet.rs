//! Devnet settings: the market's clock, shortened with the sudo key so that a local network
//! (`scripts/run.sh`) or a test runs an order's whole life in minutes.

use crate::{ChainClient, ChainError};

/// How long the market's clock runs on a test network: each is a storage parameter of the
/// runtime that `sudo(system.set_storage)` rewrites (see docs/chain.md).
#[derive(Debug, Clone, Copy)]
pub struct MarketTiming {
    /// Blocks in an hour of rented time.
    pub blocks_per_hour: u32,
    /// Blocks after an order's deadline to report and prove.
    pub completion_grace: u32,
    /// Fixed part of a judging round.
    pub verification_window: u32,
    /// Blocks in which a verified proof may be disputed.
    pub dispute_window: u32,
}

impl MarketTiming {
    /// An order's whole life in a few dozen blocks: one hour is 6 blocks.
    pub fn fast() -> Self {
        Self {
            blocks_per_hour: 6,
            completion_grace: 3,
            verification_window: 3,
            dispute_window: 3,
        }
    }

    /// Sets the parameters on chain with the sudo key.
    pub async fn apply(
        &self,
        client: &ChainClient,
        sudo: &crate::keys::Keypair,
    ) -> Result<crate::Finalized, ChainError> {
        let item = |name: &str, blocks: u32| {
            (
                sp_crypto_hashing::twox_128(format!(":{name}:").as_bytes()).to_vec(),
                blocks.to_le_bytes().to_vec(),
            )
        };
        let set = crate::runtime::Call::System(crate::runtime::system::Call::set_storage {
            items: vec![
                item("BlocksPerHour", self.blocks_per_hour),
                item("CompletionGrace", self.completion_grace),
                item("VerificationWindow", self.verification_window),
                item("DisputeWindow", self.dispute_window),
            ],
        });
        client.sudo(set, sudo).await
    }
}
