//! Hashrate market events from finalized blocks.
//!
//! Every state change of the market emits an event that carries everything an indexer needs,
//! so following these events is enough to mirror the market.
//!
//! ```no_run
//! # async fn example(client: matrixai_chain::ChainClient) -> Result<(), matrixai_chain::ChainError> {
//! use futures::StreamExt;
//! use matrixai_chain::runtime::hashrate_market::Event;
//!
//! let mut events = std::pin::pin!(client.market_events().await?);
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     if let Event::OrderPlaced { order_id, total, .. } = &event.event {
//!         println!("block #{}: order {} holds {total}", event.block_number, hex::encode(order_id));
//!     }
//! }
//! # Ok(()) }
//! ```

use crate::{ChainClient, ChainError, Hash, MatrixAiConfig, runtime};
use futures::{Stream, StreamExt, stream};
use subxt::events::{Events, Phase};

/// A hashrate market event and where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketEvent {
    pub block_number: u64,
    pub block_hash: Hash,
    /// The event's position among all events of the block.
    pub event_index: u32,
    /// The index in the block of the extrinsic that caused the event; `None` for events of
    /// block initialization (order and proof expiries) or finalization.
    pub extrinsic_index: Option<u32>,
    pub event: runtime::hashrate_market::Event,
}

impl ChainClient {
    /// The hashrate market events of every block finalized from now on, in order.
    ///
    /// The stream ends when the connection does; an item is an error when a block's events
    /// cannot be fetched or decoded.
    pub async fn market_events(
        &self,
    ) -> Result<impl Stream<Item = Result<MarketEvent, ChainError>> + Send + 'static, ChainError>
    {
        Ok(events_of(self.api().stream_blocks().await?))
    }

    /// The hashrate market events of every block imported on the best fork from now on: sooner
    /// than [`Self::market_events`] by the finality lag, but a block may yet be dropped by a
    /// reorganisation, so act on them only where acting twice or in vain costs nothing.
    pub async fn best_market_events(
        &self,
    ) -> Result<impl Stream<Item = Result<MarketEvent, ChainError>> + Send + 'static, ChainError>
    {
        Ok(events_of(self.api().stream_best_blocks().await?))
    }

    /// The hashrate market events of one block, e.g. to catch up on blocks finalized before
    /// [`Self::market_events`] was called.
    pub async fn market_events_at(&self, block_hash: Hash) -> Result<Vec<MarketEvent>, ChainError> {
        let at_block = self.api().at_block(block_hash).await?;
        let events = at_block.events().fetch().await?;
        market_events_in(&events, at_block.block_number(), block_hash)
    }
}

/// Runs `session` (a service's pass over finalized events) until `shutdown` turns true. A
/// session that ends (its subscription closed, the node lost) starts again after a pause that
/// doubles from one second up to 30 seconds, so a service outlives a restarting node.
pub async fn follow_until_shutdown<E, Session>(
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut session: impl FnMut() -> Session,
) where
    Session: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let first_backoff = std::time::Duration::from_secs(1);
    let mut backoff = first_backoff;
    loop {
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            outcome = session() => outcome,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        // A session that ran a while was healthy: the next pause starts short again.
        if started.elapsed() > std::time::Duration::from_secs(60) {
            backoff = first_backoff;
        }
        match outcome {
            Ok(()) => tracing::warn!("the event subscription ended; reconnecting"),
            Err(error) => tracing::warn!(%error, retry_in = ?backoff, "lost the node"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
    }
}

fn market_events_in(
    events: &Events<MatrixAiConfig>,
    block_number: u64,
    block_hash: Hash,
) -> Result<Vec<MarketEvent>, ChainError> {
    let mut market_events = Vec::new();
    for event in events.iter() {
        let event = event?;
        if event.pallet_name() != "HashrateMarket" {
            continue;
        }
        let runtime::Event::HashrateMarket(market_event) = event.decode_as::<runtime::Event>()?
        else {
            continue;
        };
        let extrinsic_index = match event.phase() {
            Phase::ApplyExtrinsic(index) => Some(index),
            Phase::Initialization | Phase::Finalization => None,
        };
        market_events.push(MarketEvent {
            block_number,
            block_hash,
            event_index: event.index(),
            extrinsic_index,
            event: market_event,
        });
    }
    Ok(market_events)
}

/// Each block's hashrate market events, in order.
fn events_of(
    blocks: subxt::client::Blocks<MatrixAiConfig>,
) -> impl Stream<Item = Result<MarketEvent, ChainError>> + Send + 'static {
    let per_block = blocks.then(|block| async move {
        let block = block?;
        let events = block.at().await?.events().fetch().await?;
        market_events_in(&events, block.number(), block.hash())
    });
    per_block.flat_map(|events| {
        let items: Vec<Result<MarketEvent, ChainError>> = match events {
            Ok(events) => events.into_iter().map(Ok).collect(),
            Err(error) => vec![Err(error)],
        };
        stream::iter(items)
    })
}
