//! Errors of the chain client.
//!
//! A call that reached a block but failed there is a [`ChainError::Failed`], whose
//! [`DispatchFailure`] is the pallet's own error type, decoded with the runtime metadata:
//!
//! ```no_run
//! # async fn example(client: &matrixai_chain::ChainClient) {
//! use matrixai_chain::{DispatchFailure, Verdict, keys, runtime};
//! use runtime::hashrate_market::Error as MarketError;
//!
//! let verify = runtime::tx().hashrate_market().verify_pot([7; 16], Verdict::Pass);
//! match client.submit(&verify, &keys::dev::eve()).await {
//!     Err(error) if error.dispatch_failure() == Some(&DispatchFailure::HashrateMarket(MarketError::NotValidator)) => {
//!         eprintln!("Eve is not a validator: {error}");
//!     }
//!     other => { other.unwrap(); }
//! }
//! # }
//! ```

use crate::runtime;
use crate::{Balance, Hash};
use std::time::Duration;
use subxt::ext::scale_decode::DecodeAsType;
use subxt::metadata::Metadata;

/// Everything that can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// No connection could be made to the node.
    #[error(
        "cannot connect to the MatrixAI node at {url} after {attempts} attempt(s): {reason}; \
         check that matrixai-node runs there with its RPC port open (scripts/run.sh starts a dev node)"
    )]
    Connect {
        url: String,
        attempts: u32,
        reason: String,
    },

    /// The call was included in a finalized block but the runtime refused it. The signer paid
    /// `fee_paid` all the same.
    #[error("{}", .0)]
    Failed(Box<FailedCall>),

    /// The node refused the transaction before it reached a block (bad nonce, unable to pay the
    /// fee, bad signature, mortality expired, pool full, ...).
    #[error("the node refused {call}: {reason}")]
    Rejected { call: String, reason: String },

    /// A wait had a bound and the bound passed.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },

    /// The node ended a subscription the client was reading; the node probably stopped.
    #[error("the node closed the {0} subscription; has it stopped?")]
    SubscriptionEnded(&'static str),

    /// A call succeeded but did not emit an event that it always emits; the node runs a
    /// different runtime than the one this client was generated from.
    #[error(
        "{call} succeeded without emitting {event}; is the node's runtime the one in artifacts/metadata.scale?"
    )]
    MissingEvent { call: String, event: &'static str },

    /// The node's runtime does not match `artifacts/metadata.scale`.
    #[error(
        "the node's runtime differs from the one this client was generated from ({0}); \
         rebuild matrixai-node and the client from the same commit"
    )]
    IncompatibleRuntime(String),

    /// The caller passed something that can never work.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A transport, RPC or decoding error from subxt.
    #[error("chain RPC error: {0}")]
    Subxt(Box<subxt::Error>),
}

impl<E> From<E> for ChainError
where
    subxt::Error: From<E>,
{
    fn from(error: E) -> Self {
        let error = subxt::Error::from(error);
        if is_incompatible_codegen(&error) {
            ChainError::IncompatibleRuntime(error.to_string())
        } else {
            ChainError::Subxt(Box::new(error))
        }
    }
}

fn is_incompatible_codegen(error: &subxt::Error) -> bool {
    use subxt::error::{ConstantError, ExtrinsicError, RuntimeApiError, StorageError};
    matches!(
        error,
        subxt::Error::ExtrinsicError(ExtrinsicError::IncompatibleCodegen)
            | subxt::Error::StorageError(StorageError::IncompatibleCodegen)
            | subxt::Error::ConstantError(ConstantError::IncompatibleCodegen)
            | subxt::Error::RuntimeApiError(RuntimeApiError::IncompatibleCodegen)
    )
}

impl ChainError {
    /// Whether a call that ended with this error may still be (or already be) included: only
    /// a call the runtime refused in a finalized block is known final. A rejection can still
    /// hide an inclusion (a finality timeout, a usurped or dropped watch), and a lost
    /// connection can too: such a call stays recorded until
    /// [`ChainClient::settle_pending`](crate::ChainClient::settle_pending) knows.
    pub fn may_still_land(&self) -> bool {
        !matches!(self, ChainError::Failed(_))
    }

    /// The runtime's reason, when the call failed in a block.
    pub fn dispatch_failure(&self) -> Option<&DispatchFailure> {
        match self {
            ChainError::Failed(failed) => Some(&failed.failure),
            _ => None,
        }
    }
}

/// A call that the runtime refused in a finalized block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call} failed in block #{block_number} ({block_hash:?}): {failure}{}", explanation(.description))]
pub struct FailedCall {
    /// `Pallet.call`, e.g. `HashrateMarket.add_machine`.
    pub call: String,
    /// Why it failed, as the pallet's error type.
    pub failure: DispatchFailure,
    /// The error's documentation from the runtime metadata: what it means and what to do.
    pub description: String,
    pub block_hash: Hash,
    pub block_number: u64,
    /// The fee the signer paid for the failed call.
    pub fee_paid: Balance,
}

fn explanation(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(" ({description})")
    }
}

/// Why the runtime refused a call: the failing pallet's error, decoded into its generated type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchFailure {
    #[error("HashrateMarket::{0:?}")]
    HashrateMarket(runtime::hashrate_market::Error),
    #[error("Faucet::{0:?}")]
    Faucet(runtime::faucet::Error),
    #[error("Balances::{0:?}")]
    Balances(runtime::balances::Error),
    #[error("Sudo::{0:?}")]
    Sudo(runtime::sudo::Error),
    #[error("System::{0:?}")]
    System(runtime::system::Error),
    /// An error of a pallet the client has no dedicated variant for (BABE, GRANDPA, ...).
    #[error("{pallet}::{error}")]
    OtherPallet { pallet: String, error: String },
    /// A failure that no pallet raised: bad origin, token or arithmetic errors, ...
    #[error("{0}")]
    Runtime(String),
}

impl DispatchFailure {
    /// Decodes a failure from the runtime's own `DispatchError` type, as carried by
    /// `System::ExtrinsicFailed` and `Sudo::Sudid`.
    pub(crate) fn from_runtime_dispatch_error(
        error: &runtime::runtime_types::sp_runtime::DispatchError,
        metadata: &Metadata,
    ) -> (Self, String) {
        use runtime::runtime_types::sp_runtime::DispatchError as RuntimeDispatchError;
        match error {
            RuntimeDispatchError::Module(module) => {
                let [e0, e1, e2, e3] = module.error;
                Self::from_module_error([module.index, e0, e1, e2, e3], metadata)
            }
            other => (
                DispatchFailure::Runtime(format!("{other:?}")),
                String::new(),
            ),
        }
    }

    /// `bytes` is a module error: the pallet index, then the pallet error's encoding.
    fn from_module_error(bytes: [u8; 5], metadata: &Metadata) -> (Self, String) {
        let (pallet_index, error_index) = (bytes[0], bytes[1]);
        let names = metadata.pallet_by_error_index(pallet_index).map(|pallet| {
            let variant = pallet.error_variant_by_index(error_index);
            (
                pallet.name().to_string(),
                variant.map(|v| v.name.clone()),
                variant
                    .map(|v| v.docs.join(" ").trim().to_string())
                    .unwrap_or_default(),
            )
        });
        let description = names
            .as_ref()
            .map(|(_, _, docs)| docs.clone())
            .unwrap_or_default();
        let decoded = runtime::Error::decode_as_type(
            &mut &bytes[..],
            metadata.outer_enums().error_enum_ty(),
            metadata.types(),
        );
        let failure = match decoded {
            Ok(runtime::Error::HashrateMarket(error)) => DispatchFailure::HashrateMarket(error),
            Ok(runtime::Error::Faucet(error)) => DispatchFailure::Faucet(error),
            Ok(runtime::Error::Balances(error)) => DispatchFailure::Balances(error),
            Ok(runtime::Error::Sudo(error)) => DispatchFailure::Sudo(error),
            Ok(runtime::Error::System(error)) => DispatchFailure::System(error),
            _ => match names {
                Some((pallet, Some(error), _)) => DispatchFailure::OtherPallet { pallet, error },
                Some((pallet, None, _)) => DispatchFailure::OtherPallet {
                    pallet,
                    error: format!("error #{error_index}"),
                },
                None => DispatchFailure::Runtime(format!(
                    "unknown module error {bytes:?} (pallet #{pallet_index} is not in the node's metadata)"
                )),
            },
        };
        (failure, description)
    }
}
