//! The subxt configuration of the MatrixAI chain and the chain's basic types.
//!
//! The runtime uses `AccountId32`, `MultiAddress<AccountId32, ()>` (no account indices),
//! `MultiSignature`, BLAKE2-256 hashing, `u32` block numbers and `u128` balances with 12
//! decimals. Its transaction extensions are the standard ones subxt knows, so the default
//! extension set signs for it as is.

use subxt::config::{
    Config, DefaultExtrinsicParamsBuilder, DefaultTransactionExtensions, HashFor, SubstrateConfig,
    substrate::{DynamicHasher256, SubstrateHeader},
};
use subxt::metadata::ArcMetadata;
use subxt::utils::{AccountId32, H256, MultiAddress, MultiSignature};

/// An account on the MatrixAI chain.
pub type AccountId = AccountId32;
/// A block or transaction hash.
pub type Hash = H256;
/// An amount of MAI in its smallest unit (10^-12 MAI).
pub type Balance = u128;

/// One MAI, the chain's token, in its smallest unit (12 decimals).
pub const UNIT: Balance = 1_000_000_000_000;

/// Builds the parameters of a transaction (nonce, mortality, tip); see [`crate::ChainClient`].
pub type TxParamsBuilder = DefaultExtrinsicParamsBuilder<MatrixAiConfig>;

/// subxt configuration for the MatrixAI runtime.
///
/// It is [`SubstrateConfig`] with the runtime's address type, `MultiAddress<AccountId32, ()>`.
/// Metadata fetched from the node is cached per spec version by the wrapped configuration.
#[derive(Debug, Clone, Default)]
pub struct MatrixAiConfig(SubstrateConfig);

impl Config for MatrixAiConfig {
    type AccountId = AccountId32;
    type Address = MultiAddress<AccountId32, ()>;
    type Signature = MultiSignature;
    type Hasher = DynamicHasher256;
    type Header = SubstrateHeader<H256>;
    type TransactionExtensions = DefaultTransactionExtensions<Self>;
    type AssetId = u32;

    fn genesis_hash(&self) -> Option<HashFor<Self>> {
        self.0.genesis_hash()
    }

    fn metadata_for_spec_version(&self, spec_version: u32) -> Option<ArcMetadata> {
        self.0.metadata_for_spec_version(spec_version)
    }

    fn set_metadata_for_spec_version(&self, spec_version: u32, metadata: ArcMetadata) {
        self.0.set_metadata_for_spec_version(spec_version, metadata)
    }
}
