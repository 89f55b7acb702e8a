//! Follows the chain's finalized blocks into the database.
//!
//! From the cursor (genesis on an empty database) to the finalized head, then block by block as
//! the node finalizes them: each new finalized head makes the follower index every block between
//! the cursor and it, so neither the start of the stream nor a reconnection leaves a gap.
//! Blocks are fetched concurrently (one `chain_getBlockHash` and one `state_queryStorageAt` per
//! block, many in flight on the one WebSocket) and written in batches, each batch with the
//! cursor in one transaction.

use crate::db::{Database, DbError};
use crate::ids;
use crate::ingest::{Batch, ChainEvent, EventKind, IndexedBlock};
use crate::store::Writer;
use futures::{StreamExt, TryStreamExt};
use matrixai_chain::{ChainClient, ChainError, ConnectOptions, Hash, MatrixAiConfig, runtime};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use subxt::OnlineClientAtBlock;
use subxt::config::RpcConfigFor;
use subxt::events::Phase;
use subxt::ext::codec::{Compact, Decode};
use subxt::ext::scale_value::{self, Composite, Primitive, ValueDef};
use subxt::rpcs::LegacyRpcMethods;
use subxt::rpcs::methods::legacy::NumberOrHex;
use tokio::sync::{Mutex, broadcast, watch};

/// Blocks fetched concurrently during catch-up.
const FETCH_CONCURRENCY: usize = 64;
/// By default a batch is committed when it holds this many blocks; and always at this many
/// events.
pub const DEFAULT_BATCH_BLOCKS: usize = 512;
const BATCH_EVENTS: usize = 4096;

/// Why following stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("chain RPC: {0}")]
    Rpc(String),
    #[error(
        "block #{number} ({hash}) runs runtime spec_version {spec_version}, which this indexer was not built for: run a matrixai-indexer built from the same commit as the node"
    )]
    UnsupportedRuntime {
        number: u64,
        hash: String,
        spec_version: u32,
    },
    #[error(
        "the node no longer has the state of block #{number} ({reason}): the indexer reads each block's events from state, so run the node with `--state-pruning archive-canonical` (scripts/run.sh does) and index from a node that kept it"
    )]
    StatePruned { number: u64, reason: String },
    #[error(
        "the database was indexed from another chain: its block #{number} is {indexed}, the node's is {on_chain}; index into a fresh database or connect to the chain it was made from"
    )]
    OtherChain {
        number: u64,
        indexed: String,
        on_chain: String,
    },
    #[error("block #{number} cannot be decoded: {reason}")]
    Decode { number: u64, reason: String },
}

impl IndexerError {
    /// Errors that reconnecting cannot fix.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedRuntime { .. }
                | Self::StatePruned { .. }
                | Self::OtherChain { .. }
                | Self::Decode { .. }
                | Self::Chain(ChainError::IncompatibleRuntime(_) | ChainError::InvalidInput(_))
                | Self::Database(DbError::SchemaTooNew { .. } | DbError::Corrupt(_))
        )
    }
}

/// Where the follower stands, shared with the API's `/health` and `/metrics`.
#[derive(Debug)]
pub struct Progress {
    pub indexed: AtomicU64,
    pub finalized: AtomicU64,
    pub connected: AtomicBool,
    started: Instant,
    /// Milliseconds since `started` of the last committed batch or finalized head seen.
    last_progress_ms: AtomicU64,
    pub last_error: std::sync::Mutex<Option<String>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            indexed: AtomicU64::new(0),
            finalized: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            started: Instant::now(),
            last_progress_ms: AtomicU64::new(0),
            last_error: std::sync::Mutex::new(None),
        }
    }
}

impl Progress {
    fn touch(&self) {
        self.last_progress_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Time since the follower last committed a batch or saw a new finalized head.
    pub fn since_progress(&self) -> Duration {
        self.started.elapsed().saturating_sub(Duration::from_millis(
            self.last_progress_ms.load(Ordering::Relaxed),
        ))
    }

    pub fn lag(&self) -> u64 {
        self.finalized
            .load(Ordering::Relaxed)
            .saturating_sub(self.indexed.load(Ordering::Relaxed))
    }
}

/// What the follower tells the API when rows change: the blocks just committed.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub to_block: u64,
}

pub struct Follower {
    node_url: String,
    batch_blocks: usize,
    database: Database,
    progress: Arc<Progress>,
    committed: broadcast::Sender<Committed>,
}

/// What one block's fetch returns before it is decoded.
struct RawBlock {
    number: u64,
    hash: Hash,
    events: Vec<u8>,
    timestamp_ms: u64,
    spec_version: Option<u32>,
}

struct Connection {
    client: ChainClient,
    legacy: LegacyRpcMethods<RpcConfigFor<MatrixAiConfig>>,
    /// A client at a block of each runtime version seen, for its metadata.
    runtimes: Mutex<HashMap<u32, OnlineClientAtBlock<MatrixAiConfig>>>,
    current_spec: u32,
}

impl Follower {
    pub fn new(
        node_url: String,
        database: Database,
        progress: Arc<Progress>,
        committed: broadcast::Sender<Committed>,
    ) -> Self {
        Self {
            node_url,
            batch_blocks: DEFAULT_BATCH_BLOCKS,
            database,
            progress,
            committed,
        }
    }

    /// Commits catch-up batches every `blocks` blocks (at least 1) instead of every
    /// [`DEFAULT_BATCH_BLOCKS`].
    pub fn with_batch_blocks(mut self, blocks: usize) -> Self {
        self.batch_blocks = blocks.max(1);
        self
    }

    /// Follows the chain until `shutdown` turns true or an error that reconnecting cannot fix.
    /// Lost connections are retried with exponential backoff (up to 30 s between attempts).
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), IndexerError> {
        let mut backoff = Duration::from_millis(500);
        loop {
            let outcome = tokio::select! {
                outcome = self.follow() => outcome,
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            };
            self.progress.connected.store(false, Ordering::Relaxed);
            let error = match outcome {
                Ok(()) => IndexerError::Rpc("the finalized block subscription ended".into()),
                Err(error) => error,
            };
            *self.progress.last_error.lock().expect("not poisoned") = Some(error.to_string());
            if error.is_fatal() {
                tracing::error!(%error, "the indexer cannot go on");
                return Err(error);
            }
            tracing::warn!(%error, retry_in = ?backoff, "lost the node; reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Connects, indexes every block up to the current finalized head, and returns the last
    /// block indexed (for batch jobs and benchmarks; [`Self::run`] follows for good).
    pub async fn catch_up(&self) -> Result<u64, IndexerError> {
        let client = ChainClient::connect(&self.node_url).await?;
        let connection = self.check_runtime(client).await?;
        let cursor = self.start(&connection).await?;
        let head = self.finalized_head(&connection).await?;
        let cursor = if head > cursor {
            self.index_range(&connection, cursor, head).await?
        } else {
            cursor
        };
        self.database.optimize().await?;
        Ok(cursor)
    }

    async fn follow(&self) -> Result<(), IndexerError> {
        let options = ConnectOptions {
            attempts: 1,
            ..ConnectOptions::default()
        };
        let client = ChainClient::connect_with(&self.node_url, options).await?;
        let connection = self.check_runtime(client).await?;
        self.progress.connected.store(true, Ordering::Relaxed);
        *self.progress.last_error.lock().expect("not poisoned") = None;
        let mut cursor = self.start(&connection).await?;
        let mut heads = connection
            .legacy
            .chain_subscribe_finalized_heads()
            .await
            .map_err(rpc)?;
        let head = self.finalized_head(&connection).await?;
        cursor = self.index_range(&connection, cursor, head).await?;
        tracing::info!(
            block = cursor,
            "caught up with the finalized head; following"
        );
        self.database.optimize().await?;
        let mut optimized = Instant::now();
        while let Some(header) = heads.next().await {
            let number = header.map_err(rpc)?.number;
            if number > cursor {
                cursor = self.index_range(&connection, cursor, number).await?;
            }
            if optimized.elapsed() > Duration::from_secs(600) {
                self.database.optimize().await?;
                optimized = Instant::now();
            }
        }
        Ok(())
    }

    /// The node's runtime must match the metadata this indexer was generated from.
    async fn check_runtime(&self, client: ChainClient) -> Result<Connection, IndexerError> {
        let at = client
            .api()
            .at_current_block()
            .await
            .map_err(|e| IndexerError::Chain(e.into()))?;
        let spec_version = at.spec_version();
        if !runtime::is_codegen_valid_for(at.metadata_ref()) {
            return Err(IndexerError::UnsupportedRuntime {
                number: at.block_number(),
                hash: ids::hash(&at.block_hash()),
                spec_version,
            });
        }
        let legacy = LegacyRpcMethods::new(client.rpc().clone());
        Ok(Connection {
            client,
            legacy,
            runtimes: Mutex::new(HashMap::from([(spec_version, at)])),
            current_spec: spec_version,
        })
    }

    async fn finalized_head(&self, connection: &Connection) -> Result<u64, IndexerError> {
        let hash = connection
            .legacy
            .chain_get_finalized_head()
            .await
            .map_err(rpc)?;
        let header = connection
            .legacy
            .chain_get_header(Some(hash))
            .await
            .map_err(rpc)?
            .ok_or_else(|| IndexerError::Rpc("the finalized head has no header".into()))?;
        Ok(header.number)
    }

    /// The cursor, checked against the chain; on an empty database, genesis with its validators.
    async fn start(&self, connection: &Connection) -> Result<u64, IndexerError> {
        let mut tx = self.database.begin().await?;
        let mut writer = Writer {
            tx: &mut tx,
            backend: self.database.backend(),
        };
        if let Some(cursor) = writer.cursor().await? {
            let on_chain = self.block_hash(connection, cursor.block_number).await?;
            if ids::hash(&on_chain) != cursor.block_hash {
                return Err(IndexerError::OtherChain {
                    number: cursor.block_number,
                    indexed: cursor.block_hash,
                    on_chain: ids::hash(&on_chain),
                });
            }
            self.progress
                .indexed
                .store(cursor.block_number, Ordering::Relaxed);
            tracing::info!(
                block = cursor.block_number,
                "resuming after the last indexed block"
            );
            return Ok(cursor.block_number);
        }
        let genesis = self.block_hash(connection, 0).await?;
        let validators = connection
            .client
            .state_at(genesis)
            .await
            .map_err(|error| pruned_or(0, error))?
            .validators()
            .await
            .map_err(|error| pruned_or(0, error))?;
        for validator in &validators {
            writer
                .set_validator(&ids::account(validator), true, 0)
                .await?;
        }
        let cursor = crate::store::Cursor {
            block_number: 0,
            block_hash: ids::hash(&genesis),
        };
        writer.set_cursor(&cursor, now_ms()).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(validators = validators.len(), "indexing from genesis");
        Ok(0)
    }

    async fn block_hash(&self, connection: &Connection, number: u64) -> Result<Hash, IndexerError> {
        connection
            .legacy
            .chain_get_block_hash(Some(NumberOrHex::Number(number)))
            .await
            .map_err(rpc)?
            .ok_or_else(|| IndexerError::Rpc(format!("the node has no block #{number}")))
    }

    /// Indexes blocks `after + 1 ..= to`; returns the new cursor.
    async fn index_range(
        &self,
        connection: &Connection,
        after: u64,
        to: u64,
    ) -> Result<u64, IndexerError> {
        self.progress.finalized.fetch_max(to, Ordering::Relaxed);
        self.progress.touch();
        let mut blocks = futures::stream::iter(after + 1..=to)
            .map(|number| self.fetch_block(connection, number))
            .buffered(FETCH_CONCURRENCY);
        let mut cursor = after;
        let mut open: Option<crate::db::Tx> = None;
        let mut batch = Batch::default();
        while let Some(block) = blocks.try_next().await? {
            let number = block.number;
            let tx = match open.as_mut() {
                Some(tx) => tx,
                None => open.insert(self.database.begin().await?),
            };
            let mut writer = Writer {
                tx,
                backend: self.database.backend(),
            };
            batch.apply(&mut writer, &block).await?;
            cursor = number;
            if batch.blocks() >= self.batch_blocks || batch.events() >= BATCH_EVENTS || number == to
            {
                std::mem::take(&mut batch)
                    .commit(&mut writer, now_ms())
                    .await?;
                let tx = open.take().expect("opened above");
                tx.commit().await.map_err(DbError::from)?;
                self.progress.indexed.store(number, Ordering::Relaxed);
                self.progress.touch();
                metrics::gauge!("indexer_indexed_block").set(number as f64);
                let _ = self.committed.send(Committed { to_block: number });
            }
        }
        Ok(cursor)
    }

    async fn fetch_block(
        &self,
        connection: &Connection,
        number: u64,
    ) -> Result<IndexedBlock, IndexerError> {
        let hash = self.block_hash(connection, number).await?;
        let keys = &*BLOCK_KEYS;
        let change_sets = connection
            .legacy
            .state_query_storage_at(keys.iter().map(|key| key.as_slice()), Some(hash))
            .await
            .map_err(|error| {
                let reason = error.to_string();
                if is_pruned(&reason) {
                    IndexerError::StatePruned { number, reason }
                } else {
                    IndexerError::Rpc(reason)
                }
            })?;
        let mut values: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for set in change_sets {
            for (key, value) in set.changes {
                if let Some(value) = value {
                    values.insert(key.0, value.0);
                }
            }
        }
        let decode_error = |reason: String| IndexerError::Decode { number, reason };
        let timestamp_ms = match values.get(&keys[1]) {
            Some(bytes) => {
                u64::decode(&mut bytes.as_slice()).map_err(|e| decode_error(e.to_string()))?
            }
            None => 0,
        };
        let spec_version = values
            .get(&keys[2])
            .map(|bytes| Compact::<u32>::decode(&mut bytes.as_slice()).map(|c| c.0))
            .transpose()
            .map_err(|e| decode_error(e.to_string()))?;
        let raw = RawBlock {
            number,
            hash,
            events: values.remove(&keys[0]).unwrap_or_default(),
            timestamp_ms,
            spec_version,
        };
        self.decode(connection, raw).await
    }

    async fn decode(
        &self,
        connection: &Connection,
        raw: RawBlock,
    ) -> Result<IndexedBlock, IndexerError> {
        let number = raw.number;
        let spec_version = raw.spec_version.unwrap_or(connection.current_spec);
        let at = {
            let mut runtimes = connection.runtimes.lock().await;
            if let std::collections::hash_map::Entry::Vacant(entry) = runtimes.entry(spec_version) {
                let at = connection
                    .client
                    .api()
                    .at_block_hash_and_number(raw.hash, number)
                    .await
                    .map_err(|e| IndexerError::Chain(e.into()))?;
                if !runtime::is_codegen_valid_for(at.metadata_ref()) {
                    return Err(IndexerError::UnsupportedRuntime {
                        number,
                        hash: ids::hash(&raw.hash),
                        spec_version,
                    });
                }
                entry.insert(at);
            }
            runtimes[&spec_version].clone()
        };
        let events = at.events().from_bytes(raw.events);
        let decode_error = |reason: String| IndexerError::Decode { number, reason };
        let mut indexed = Vec::new();
        for event in events.iter() {
            let event = event.map_err(|e| decode_error(e.to_string()))?;
            let pallet = event.pallet_name();
            if pallet != "HashrateMarket" && pallet != "Faucet" {
                continue;
            }
            let kind = match event
                .decode_as::<runtime::Event>()
                .map_err(|e| decode_error(e.to_string()))?
            {
                runtime::Event::HashrateMarket(market) => EventKind::Market(market),
                runtime::Event::Faucet(faucet) => EventKind::Faucet(faucet),
                _ => continue,
            };
            let fields = event
                .decode_fields_unchecked_as::<Composite<()>>()
                .map_err(|e| decode_error(e.to_string()))?;
            indexed.push(ChainEvent {
                index: event.index(),
                extrinsic_index: match event.phase() {
                    Phase::ApplyExtrinsic(index) => Some(index),
                    Phase::Initialization | Phase::Finalization => None,
                },
                pallet: pallet.to_string(),
                name: event.event_name().to_string(),
                fields: composite_json(&fields),
                kind,
            });
        }
        metrics::counter!("indexer_events_total").increment(indexed.len() as u64);
        Ok(IndexedBlock {
            number,
            hash: raw.hash,
            timestamp_ms: raw.timestamp_ms,
            events: indexed,
        })
    }
}

/// What each block's `state_queryStorageAt` reads: its events, its timestamp, its runtime version.
static BLOCK_KEYS: std::sync::LazyLock<[Vec<u8>; 3]> = std::sync::LazyLock::new(|| {
    [
        storage_key(b"System", b"Events"),
        storage_key(b"Timestamp", b"Now"),
        storage_key(b"System", b"LastRuntimeUpgrade"),
    ]
});

fn storage_key(pallet: &[u8], item: &[u8]) -> Vec<u8> {
    let mut key = sp_crypto_hashing::twox_128(pallet).to_vec();
    key.extend(sp_crypto_hashing::twox_128(item));
    key
}

fn is_pruned(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("state already discarded") || reason.contains("pruned")
}

fn pruned_or(number: u64, error: ChainError) -> IndexerError {
    let reason = error.to_string();
    if is_pruned(&reason) {
        IndexerError::StatePruned { number, reason }
    } else {
        IndexerError::Chain(error)
    }
}

fn rpc(error: impl std::fmt::Display) -> IndexerError {
    IndexerError::Rpc(error.to_string())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// An event's fields as JSON: named fields an object, byte arrays (two bytes or more) and
/// newtypes of them 0x-hex,
/// `Option` null or its value, unit variants their name, other variants `{name: fields}`,
/// integers numbers up to 2^53 and decimal strings above (JavaScript reads them exactly).
pub fn composite_json(composite: &Composite<()>) -> serde_json::Value {
    match composite {
        Composite::Named(fields) => serde_json::Value::Object(
            fields
                .iter()
                .map(|(name, value)| (name.clone(), value_json(value)))
                .collect(),
        ),
        Composite::Unnamed(values) => {
            if values.len() > 1
                && values.iter().all(|value| {
                    matches!(value.value, ValueDef::Primitive(Primitive::U128(byte)) if byte <= 255)
                })
            {
                let bytes: Vec<u8> = values
                    .iter()
                    .filter_map(|value| match value.value {
                        ValueDef::Primitive(Primitive::U128(byte)) => Some(byte as u8),
                        _ => None,
                    })
                    .collect();
                return serde_json::Value::String(format!("0x{}", hex::encode(bytes)));
            }
            if values.len() == 1 {
                return value_json(&values[0]);
            }
            serde_json::Value::Array(values.iter().map(value_json).collect())
        }
    }
}

fn value_json(value: &scale_value::Value<()>) -> serde_json::Value {
    match &value.value {
        ValueDef::Composite(composite) => composite_json(composite),
        ValueDef::Variant(variant) => {
            let empty = match &variant.values {
                Composite::Named(fields) => fields.is_empty(),
                Composite::Unnamed(values) => values.is_empty(),
            };
            match (variant.name.as_str(), empty) {
                ("None", true) => serde_json::Value::Null,
                ("Some", false) => composite_json(&variant.values),
                (name, true) => serde_json::Value::String(name.to_string()),
                (name, false) => serde_json::json!({ name: composite_json(&variant.values) }),
            }
        }
        ValueDef::BitSequence(bits) => serde_json::Value::String(format!("{bits:?}")),
        ValueDef::Primitive(primitive) => match primitive {
            Primitive::Bool(b) => serde_json::Value::Bool(*b),
            Primitive::Char(c) => serde_json::Value::String(c.to_string()),
            Primitive::String(s) => serde_json::Value::String(s.clone()),
            Primitive::U128(n) if *n <= (1u128 << 53) => serde_json::json!(*n as u64),
            Primitive::U128(n) => serde_json::Value::String(n.to_string()),
            Primitive::I128(n) if n.unsigned_abs() <= (1u128 << 53) => serde_json::json!(*n as i64),
            Primitive::I128(n) => serde_json::Value::String(n.to_string()),
            Primitive::U256(bytes) | Primitive::I256(bytes) => {
                serde_json::Value::String(format!("0x{}", hex::encode(bytes)))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scale_value::Value;

    #[test]
    fn event_fields_become_readable_json() {
        let fields = Composite::Named(vec![
            (
                "machine_id".into(),
                Value::unnamed_composite((0..16u8).map(|b| Value::u128(u128::from(b)))),
            ),
            (
                "owner".into(),
                Value::unnamed_composite([Value::unnamed_composite(
                    (0..32).map(|_| Value::u128(1)),
                )]),
            ),
            ("deposit".into(), Value::u128(100_000_000_000_000_000)),
            ("hours".into(), Value::u128(5)),
            (
                "until".into(),
                Value::variant("None", Composite::Unnamed(vec![])),
            ),
            (
                "seen".into(),
                Value::variant("Some", Composite::Unnamed(vec![Value::u128(9)])),
            ),
            (
                "verdict".into(),
                Value::variant("Pass", Composite::Unnamed(vec![])),
            ),
        ]);
        let json = composite_json(&fields);
        assert_eq!(json["machine_id"], "0x000102030405060708090a0b0c0d0e0f");
        assert_eq!(json["owner"], format!("0x{}", "01".repeat(32)));
        assert_eq!(json["deposit"], "100000000000000000");
        assert_eq!(json["hours"], 5);
        assert_eq!(json["until"], serde_json::Value::Null);
        assert_eq!(json["seen"], 9);
        assert_eq!(json["verdict"], "Pass");
    }

    #[test]
    fn pruned_state_is_recognised() {
        assert!(is_pruned("RPC error: State already discarded for 0xabc"));
        assert!(!is_pruned("connection reset"));
    }
}
