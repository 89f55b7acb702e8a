//! The connection to a node: connect with retry, sign-submit-and-wait-for-finalization with
//! typed errors, and typed reads of finalized state.

use crate::error::{ChainError, DispatchFailure, FailedCall};
use crate::runtime;
use crate::{AccountId, Balance, Hash, MatrixAiConfig, TxParamsBuilder};
use std::time::Duration;
use subxt::OnlineClient;
use subxt::config::RpcConfigFor;
use subxt::error::{ExtrinsicError, TransactionProgressError};
use subxt::events::DecodeAsEvent;
use subxt::extrinsics::ExtrinsicEvents;
use subxt::rpcs::methods::legacy::NumberOrHex;
use subxt::rpcs::{LegacyRpcMethods, RpcClient};
use subxt::transactions::{Payload, Signer};

/// How [`ChainClient::connect_with`] connects and how long the client waits for finality.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Connection attempts before giving up; at least 1.
    pub attempts: u32,
    /// Pause after the first failed attempt; it doubles after each further failure.
    pub first_backoff: Duration,
    /// Longest pause between two attempts.
    pub max_backoff: Duration,
    /// Longest wait, in [`ChainClient::submit`], from submission to a finalized block.
    pub finality_timeout: Duration,
}

impl Default for ConnectOptions {
    /// Retries for about a minute, which covers a node that is still starting.
    fn default() -> Self {
        Self {
            attempts: 16,
            first_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            finality_timeout: Duration::from_secs(120),
        }
    }
}

/// A typed client of one MatrixAI node. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct ChainClient {
    api: OnlineClient<MatrixAiConfig>,
    rpc: RpcClient,
    legacy: LegacyRpcMethods<RpcConfigFor<MatrixAiConfig>>,
    finality_timeout: Duration,
}

impl ChainClient {
    /// Connects to the node's WebSocket RPC endpoint (`ws://` or `wss://`) with the default
    /// [`ConnectOptions`].
    pub async fn connect(url: &str) -> Result<Self, ChainError> {
        Self::connect_with(url, ConnectOptions::default()).await
    }

    /// Connects to the node's WebSocket RPC endpoint, retrying with exponential backoff while
    /// the node is unreachable (for instance still starting).
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Self, ChainError> {
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(ChainError::InvalidInput(format!(
                "the node URL must be a WebSocket URL (ws://host:port or wss://host:port), got {url:?}"
            )));
        }
        if options.attempts == 0 {
            return Err(ChainError::InvalidInput(
                "ConnectOptions::attempts must be at least 1".into(),
            ));
        }
        let mut backoff = options.first_backoff;
        let mut attempt = 1;
        loop {
            match Self::connect_once(url).await {
                Ok((api, rpc)) => {
                    tracing::debug!(url, attempt, "connected to the MatrixAI node");
                    let legacy = LegacyRpcMethods::new(rpc.clone());
                    return Ok(Self {
                        api,
                        rpc,
                        legacy,
                        finality_timeout: options.finality_timeout,
                    });
                }
                Err(reason) if attempt >= options.attempts => {
                    return Err(ChainError::Connect {
                        url: url.to_string(),
                        attempts: attempt,
                        reason,
                    });
                }
                Err(reason) => {
                    tracing::warn!(url, attempt, %reason, retry_in = ?backoff, "cannot reach the MatrixAI node yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(options.max_backoff);
                    attempt += 1;
                }
            }
        }
    }

    async fn connect_once(url: &str) -> Result<(OnlineClient<MatrixAiConfig>, RpcClient), String> {
        let rpc = RpcClient::from_insecure_url(url)
            .await
            .map_err(|e| e.to_string())?;
        let api = OnlineClient::from_rpc_client_with_config(MatrixAiConfig::default(), rpc.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok((api, rpc))
    }

    /// The underlying subxt client, for anything this crate does not wrap.
    pub fn api(&self) -> &OnlineClient<MatrixAiConfig> {
        &self.api
    }

    /// The raw JSON-RPC connection, for node RPC methods subxt does not wrap.
    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Signs `call` with `signer`, submits it and waits until it is in a finalized block.
    ///
    /// The nonce comes from the node's transaction pool (`system_accountNextIndex`), so calls
    /// from different signers can be submitted concurrently. Calls from one signer must be
    /// submitted one after the other: two concurrent ones would get the same nonce.
    ///
    /// Fails with [`ChainError::Failed`] carrying the pallet's typed error when the runtime
    /// refused the call, [`ChainError::Rejected`] when the node refused the transaction, and
    /// [`ChainError::Timeout`] when it was not finalized within the finality timeout.
    pub async fn submit<Call, S>(&self, call: &Call, signer: &S) -> Result<Finalized, ChainError>
    where
        Call: Payload,
        S: Signer<MatrixAiConfig>,
    {
        let nonce = self.next_nonce(&signer.account_id()).await?;
        self.submit_with_nonce(call, signer, nonce).await
    }

    /// The nonce `who`'s next transaction takes: past the finalized ones and those waiting in
    /// the node's pool.
    pub async fn next_nonce(&self, who: &AccountId) -> Result<u64, ChainError> {
        Ok(self.legacy.system_account_next_index(who).await?)
    }

    /// [`Self::submit`] with a nonce chosen by the caller, who may have recorded it first to
    /// learn, after a crash, whether the transaction made it ([`StateView::nonce`]).
    pub async fn submit_with_nonce<Call, S>(
        &self,
        call: &Call,
        signer: &S,
        nonce: u64,
    ) -> Result<Finalized, ChainError>
    where
        Call: Payload,
        S: Signer<MatrixAiConfig>,
    {
        self.send_with_nonce(call, signer, nonce)
            .await?
            .finalized()
            .await
    }

    /// Signs `call` with `nonce` and hands it to the node's pool; the returned [`InFlight`]
    /// waits for its finalization. A caller that sends several calls from one signer can send
    /// the next (with the next nonce) before the previous one is finalized.
    pub async fn send_with_nonce<Call, S>(
        &self,
        call: &Call,
        signer: &S,
        nonce: u64,
    ) -> Result<InFlight, ChainError>
    where
        Call: Payload,
        S: Signer<MatrixAiConfig>,
    {
        let call_name = format!("{}.{}", call.pallet_name(), call.call_name());
        let account = signer.account_id();
        let params = TxParamsBuilder::new().nonce(nonce).build();
        let mut transactions = self.api.at_current_block().await?.transactions();
        let progress = transactions
            .sign_and_submit_then_watch(call, signer, params)
            .await
            .map_err(|error| rejected_or_other(&call_name, error))?;
        let finality_timeout = self.finality_timeout;
        let finalized = async move {
            let in_block = tokio::time::timeout(finality_timeout, progress.wait_for_finalized())
                .await
                .map_err(|_| ChainError::Timeout {
                    what: format!("{call_name} to be finalized"),
                    after: finality_timeout,
                })?
                .map_err(|error| match error {
                    TransactionProgressError::TransactionStatusError(status) => {
                        ChainError::Rejected {
                            call: call_name.clone(),
                            reason: status.to_string(),
                        }
                    }
                    other => other.into(),
                })?;

            let at_block = in_block.at().await?;
            let events = in_block.fetch_events().await?;
            let fee_paid: Balance = events
                .find::<runtime::transaction_payment::events::TransactionFeePaid>()
                .filter_map(Result::ok)
                .filter(|fee| fee.who == account)
                .map(|fee| fee.actual_fee + fee.tip)
                .sum();
            let block_hash = in_block.block_hash();
            let block_number = at_block.block_number();
            if let Some(failed) = events.find_first::<runtime::system::events::ExtrinsicFailed>() {
                let (failure, description) = DispatchFailure::from_runtime_dispatch_error(
                    &failed?.dispatch_error,
                    at_block.metadata_ref(),
                );
                return Err(ChainError::Failed(Box::new(FailedCall {
                    call: call_name,
                    failure,
                    description,
                    block_hash,
                    block_number,
                    fee_paid,
                })));
            }
            tracing::debug!(call = %call_name, block_number, fee_paid, "finalized");
            Ok(Finalized {
                call: call_name,
                block_hash,
                block_number,
                fee_paid,
                events,
            })
        };
        Ok(InFlight {
            finalized: Box::pin(finalized),
        })
    }

    /// The record of `call` about to be signed by `who` with its next nonce. A service that
    /// must never make a call twice (a seller's `order_completed`, a validator's `verify_pot`)
    /// persists it, then sends the call with [`Self::submit_pending`]; after a crash,
    /// [`Self::settle_pending`] tells it whether the call made it before it reads the state
    /// that decides whether to call again.
    pub async fn prepare_call<Call: Payload>(
        &self,
        call: &Call,
        who: &AccountId,
    ) -> Result<PendingCall, ChainError> {
        Ok(PendingCall {
            call: format!("{}.{}", call.pallet_name(), call.call_name()),
            nonce: self.next_nonce(who).await?,
        })
    }

    /// Sends the call `pending` records, with its nonce. Then `on_settled` runs unless the
    /// call may still land (a timeout or a lost connection leave it in flight), so that the
    /// caller can drop its record.
    pub async fn submit_pending<Call, S, E>(
        &self,
        call: &Call,
        signer: &S,
        pending: &PendingCall,
        on_settled: impl FnOnce() -> Result<(), E>,
    ) -> Result<Result<Finalized, ChainError>, E>
    where
        Call: Payload,
        S: Signer<MatrixAiConfig>,
    {
        let outcome = self.submit_with_nonce(call, signer, pending.nonce).await;
        if !outcome.as_ref().is_err_and(|error| error.may_still_land()) {
            on_settled()?;
        }
        Ok(outcome)
    }

    /// Waits until the call `pending` records is in a finalized block (its nonce used there)
    /// or known lost (neither finalized nor in the node's pool), at most `timeout`.
    pub async fn settle_pending(
        &self,
        pending: &PendingCall,
        who: &AccountId,
        timeout: Duration,
    ) -> Result<(), ChainError> {
        let started = std::time::Instant::now();
        loop {
            let finalized = self.finalized_state().await?;
            if finalized.nonce(who).await? > pending.nonce
                || self.next_nonce(who).await? <= pending.nonce
            {
                return Ok(());
            }
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ChainError::Timeout {
                    what: format!(
                        "{} (nonce {}) to leave the pool",
                        pending.call, pending.nonce
                    ),
                    after: timeout,
                });
            }
            self.wait_for_finalized_block(finalized.block_number() + 1, left)
                .await?;
        }
    }

    /// Dispatches `call` as root through `Sudo.sudo`, signed by the sudo key.
    ///
    /// `Sudo.sudo` itself succeeds even when the inner call fails; this method reports the inner
    /// call's failure as [`ChainError::Failed`] with its typed error, like [`Self::submit`].
    pub async fn sudo<S>(&self, call: runtime::Call, sudo_key: &S) -> Result<Finalized, ChainError>
    where
        S: Signer<MatrixAiConfig>,
    {
        let finalized = self
            .submit(&runtime::tx().sudo().sudo(call), sudo_key)
            .await?;
        let sudid = finalized.event::<runtime::sudo::events::Sudid>()?;
        if let Err(error) = &sudid.sudo_result {
            let at_block = self.api.at_block(finalized.block_hash).await?;
            let (failure, description) =
                DispatchFailure::from_runtime_dispatch_error(error, at_block.metadata_ref());
            return Err(ChainError::Failed(Box::new(FailedCall {
                call: format!("{} (as root)", finalized.call),
                failure,
                description,
                block_hash: finalized.block_hash,
                block_number: finalized.block_number,
                fee_paid: finalized.fee_paid,
            })));
        }
        Ok(finalized)
    }

    /// The state at the latest finalized block.
    pub async fn finalized_state(&self) -> Result<crate::StateView, ChainError> {
        Ok(crate::StateView::new(self.api.at_current_block().await?))
    }

    /// The state at the node's best block (not necessarily finalized).
    pub async fn best_state(&self) -> Result<crate::StateView, ChainError> {
        match self.legacy.chain_get_block_hash(None).await? {
            Some(hash) => self.state_at(hash).await,
            None => self.finalized_state().await,
        }
    }

    /// The state at the block with this hash.
    pub async fn state_at(&self, block_hash: Hash) -> Result<crate::StateView, ChainError> {
        Ok(crate::StateView::new(self.api.at_block(block_hash).await?))
    }

    /// Waits until a block numbered `number` or higher is finalized and returns the number of
    /// the finalized block that reached it.
    pub async fn wait_for_finalized_block(
        &self,
        number: u64,
        timeout: Duration,
    ) -> Result<u64, ChainError> {
        let wait = async {
            let mut blocks = self.api.stream_blocks().await?;
            while let Some(block) = blocks.next().await {
                let block = block?;
                if block.number() >= number {
                    return Ok(block.number());
                }
            }
            Err::<u64, ChainError>(ChainError::SubscriptionEnded("finalized blocks"))
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ChainError::Timeout {
                what: format!("block #{number} to be finalized"),
                after: timeout,
            })?
    }

    /// The hash of the finalized block numbered `number`, once it is finalized; `None` before.
    pub async fn finalized_block_hash(&self, number: u64) -> Result<Option<Hash>, ChainError> {
        let finalized_head = self.legacy.chain_get_finalized_head().await?;
        let finalized_number = self
            .legacy
            .chain_get_header(Some(finalized_head))
            .await?
            .map(|header| header.number);
        if finalized_number.is_none_or(|finalized| finalized < number) {
            return Ok(None);
        }
        Ok(self
            .legacy
            .chain_get_block_hash(Some(NumberOrHex::Number(number)))
            .await?)
    }

    /// The number of the node's best block (not necessarily finalized): how close a deadline
    /// counted in blocks is, for a call about to be sent.
    pub async fn best_block_number(&self) -> Result<u64, ChainError> {
        Ok(self
            .legacy
            .chain_get_header(None)
            .await?
            .map_or(0, |header| header.number))
    }

    /// The number of peers the node is connected to.
    pub async fn peer_count(&self) -> Result<usize, ChainError> {
        Ok(self.legacy.system_health().await?.peers)
    }
}

/// A call in the node's pool: [`Self::finalized`] waits (within the client's finality timeout)
/// until it is in a finalized block, with the same outcomes as [`ChainClient::submit`].
pub struct InFlight {
    finalized: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Finalized, ChainError>> + Send + 'static>,
    >,
}

impl InFlight {
    pub async fn finalized(self) -> Result<Finalized, ChainError> {
        self.finalized.await
    }
}

/// A signed call that may be in flight, recognised by the nonce it was signed with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingCall {
    /// `Pallet.call`, for people.
    pub call: String,
    pub nonce: u64,
}

/// The node refused the transaction outright, or something else went wrong submitting it.
fn rejected_or_other(call: &str, error: ExtrinsicError) -> ChainError {
    match error {
        ExtrinsicError::ErrorSubmittingTransaction(reason) => ChainError::Rejected {
            call: call.to_string(),
            reason: reason.to_string(),
        },
        ExtrinsicError::TransactionStatusError(reason) => ChainError::Rejected {
            call: call.to_string(),
            reason: reason.to_string(),
        },
        other => other.into(),
    }
}

/// A call that succeeded in a finalized block.
#[derive(Debug)]
pub struct Finalized {
    /// `Pallet.call`, e.g. `HashrateMarket.add_machine`.
    pub call: String,
    pub block_hash: Hash,
    pub block_number: u64,
    /// What the signer paid: the fee plus any tip; zero for a feeless call (a faucet claim).
    pub fee_paid: Balance,
    events: ExtrinsicEvents<MatrixAiConfig>,
}

impl Finalized {
    /// All events the call emitted.
    pub fn events(&self) -> &ExtrinsicEvents<MatrixAiConfig> {
        &self.events
    }

    /// The first event of type `E` the call emitted, e.g.
    /// `finalized.event::<runtime::hashrate_market::events::OrderPlaced>()`.
    pub fn event<E: DecodeAsEvent>(&self) -> Result<E, ChainError> {
        match self.events.find_first::<E>() {
            Some(event) => Ok(event?),
            None => Err(ChainError::MissingEvent {
                call: self.call.clone(),
                event: std::any::type_name::<E>(),
            }),
        }
    }
}

/// The balance of an account. Hashrate market deposits and escrows are holds, counted in
/// `reserved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountBalance {
    pub free: Balance,
    pub reserved: Balance,
    pub frozen: Balance,
}

impl AccountBalance {
    /// Free plus reserved: everything the account owns.
    pub fn total(&self) -> Balance {
        self.free + self.reserved
    }
}

/// Typed reads of the chain state at one block.
pub struct StateView {
    at: subxt::OnlineClientAtBlock<MatrixAiConfig>,
}

impl StateView {
    fn new(at: subxt::OnlineClientAtBlock<MatrixAiConfig>) -> Self {
        Self { at }
    }

    /// The underlying subxt client at this block, for reads this type does not wrap.
    pub fn at(&self) -> &subxt::OnlineClientAtBlock<MatrixAiConfig> {
        &self.at
    }

    pub fn block_number(&self) -> u64 {
        self.at.block_number()
    }

    pub fn block_hash(&self) -> Hash {
        self.at.block_hash()
    }

    /// How many transactions of `who` are in this block's chain (its next nonce here).
    pub async fn nonce(&self, who: &AccountId) -> Result<u64, ChainError> {
        let entry = self
            .at
            .storage()
            .try_fetch(runtime::storage().system().account(), (*who,))
            .await?;
        Ok(entry
            .map(|entry| entry.decode())
            .transpose()?
            .map_or(0, |account| u64::from(account.nonce)))
    }

    /// The balance of `who`; all zero for an account that does not exist.
    pub async fn balance(&self, who: &AccountId) -> Result<AccountBalance, ChainError> {
        let entry = self
            .at
            .storage()
            .try_fetch(runtime::storage().system().account(), (*who,))
            .await?;
        let Some(entry) = entry else {
            return Ok(AccountBalance::default());
        };
        let data = entry.decode()?.data;
        Ok(AccountBalance {
            free: data.free,
            reserved: data.reserved,
            frozen: data.frozen,
        })
    }

    /// The registered machine with this id.
    pub async fn machine(
        &self,
        id: crate::MachineId,
    ) -> Result<Option<crate::Machine>, ChainError> {
        let entry = self
            .at
            .storage()
            .try_fetch(runtime::storage().hashrate_market().machines(), (id,))
            .await?;
        Ok(entry.map(|entry| entry.decode()).transpose()?)
    }

    /// The order with this id.
    pub async fn order(&self, id: crate::OrderId) -> Result<Option<crate::Order>, ChainError> {
        let entry = self
            .at
            .storage()
            .try_fetch(runtime::storage().hashrate_market().orders(), (id,))
            .await?;
        Ok(entry.map(|entry| entry.decode()).transpose()?)
    }

    /// Every open order (closed ones leave storage), with its id, in storage order. For a
    /// service catching up after a restart; following events is the way to keep up.
    pub async fn open_orders(&self) -> Result<Vec<(crate::OrderId, crate::Order)>, ChainError> {
        let mut entries = self
            .at
            .storage()
            .iter(runtime::storage().hashrate_market().orders(), ())
            .await?;
        let mut orders = Vec::new();
        while let Some(entry) = entries.next().await {
            let entry = entry?;
            let (order_id,) = entry.key()?.decode()?;
            orders.push((order_id, entry.value().decode()?));
        }
        Ok(orders)
    }

    /// Every registered machine, listed or not.
    pub async fn machines(&self) -> Result<Vec<(crate::MachineId, crate::Machine)>, ChainError> {
        let mut entries = self
            .at
            .storage()
            .iter(runtime::storage().hashrate_market().machines(), ())
            .await?;
        let mut machines = Vec::new();
        while let Some(entry) = entries.next().await {
            let entry = entry?;
            let (machine_id,) = entry.key()?.decode()?;
            machines.push((machine_id, entry.value().decode()?));
        }
        Ok(machines)
    }

    /// The accounts authorised to judge Proofs of Training.
    pub async fn validators(&self) -> Result<Vec<AccountId>, ChainError> {
        let validators = self
            .at
            .storage()
            .fetch(runtime::storage().hashrate_market().validators(), ())
            .await?;
        Ok(validators.decode()?.0)
    }

    /// The faucet's pot: pays claims and receives every transaction fee.
    pub fn faucet_pot(&self) -> Result<AccountId, ChainError> {
        let pallet_id = self
            .at
            .constants()
            .entry(runtime::constants().faucet().pallet_id())?;
        // `PalletId::into_account_truncating`: "modl", the 8-byte id, zero padding.
        let mut account = [0u8; 32];
        account[..4].copy_from_slice(b"modl");
        account[4..12].copy_from_slice(&pallet_id.0);
        Ok(AccountId::from(account))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_websocket_urls_are_accepted() {
        let error = ChainClient::connect("http://127.0.0.1:9944")
            .await
            .expect_err("an http URL");
        assert!(matches!(error, ChainError::InvalidInput(_)), "{error}");
    }

    #[tokio::test]
    async fn connecting_to_nothing_gives_up_after_the_attempts() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = ConnectOptions {
            attempts: 3,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            ..ConnectOptions::default()
        };
        let error = ChainClient::connect_with(&format!("ws://127.0.0.1:{port}"), options)
            .await
            .expect_err("no node");
        assert!(
            matches!(error, ChainError::Connect { attempts: 3, .. }),
            "{error}"
        );
        let zero = ConnectOptions {
            attempts: 0,
            ..ConnectOptions::default()
        };
        let error = ChainClient::connect_with("ws://127.0.0.1:9944", zero)
            .await
            .expect_err("zero attempts");
        assert!(matches!(error, ChainError::InvalidInput(_)), "{error}");
    }
}
