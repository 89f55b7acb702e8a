//! Training log records and their signature: the trainer's agent signs a batch of records for
//! one order with its sr25519 key (the order's seller), and the indexer accepts the batch only
//! when the signature verifies against the seller the chain recorded.
//!
//! The signed message is a canonical byte encoding of the batch ([`LogBatch::signing_payload`]),
//! so signer and verifier never depend on how a JSON library orders or formats fields:
//!
//! ```text
//! "matrixai-log-v1"                      15 bytes, the domain
//! order_id                               16 bytes
//! placed_at                              u32 LE: the block of the order's OrderPlaced event
//! record count                           u32 LE
//! per record:
//!   seq                                  u64 LE
//!   timestamp_ms                         u64 LE, Unix milliseconds
//!   level                                u8: 0 trace, 1 debug, 2 info, 3 warn, 4 error
//!   message length, message              u32 LE, UTF-8 bytes
//!   metrics presence                     u8: bit 0 epoch, 1 step, 2 loss, 3 accuracy
//!   epoch, step, loss, accuracy          each only when present: u32 LE, u64 LE,
//!                                        f64 LE (IEEE 754 bits), f64 LE
//! ```
//!
//! `placed_at` ties the batch to one order: order ids are reusable once an order closes, and a
//! batch signed for an earlier order with the same id does not verify for a later one.

use crate::{AccountId, OrderId};
use serde::{Deserialize, Serialize};
use subxt_signer::sr25519;

/// The signed message's first bytes.
pub const DOMAIN: &[u8] = b"matrixai-log-v1";
/// Most records in one batch.
pub const MAX_RECORDS_PER_BATCH: usize = 256;
/// Longest message, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// How serious a log record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        [
            Self::Trace,
            Self::Debug,
            Self::Info,
            Self::Warn,
            Self::Error,
        ]
        .get(usize::from(code))
        .copied()
    }
}

/// Training progress figures a record may carry (what the UI's console plots).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Evaluation accuracy, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
}

/// One line of an order's training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    /// Position in the order's log, from 0; each number is used once.
    pub seq: u64,
    pub timestamp_ms: u64,
    pub level: LogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<LogMetrics>,
}

/// Records of one order's log, in the order they are signed.
#[derive(Debug, Clone, PartialEq)]
pub struct LogBatch {
    pub order_id: OrderId,
    /// Block number of the order's `OrderPlaced` event.
    pub placed_at: u32,
    pub records: Vec<LogRecord>,
}

/// Why a batch cannot be signed or accepted.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LogError {
    #[error("a batch holds 1 to {MAX_RECORDS_PER_BATCH} records, this one {0}")]
    BatchSize(usize),
    #[error("record {seq}: message is {len} bytes, above {MAX_MESSAGE_BYTES}")]
    MessageTooLong { seq: u64, len: usize },
    #[error("record {seq}: {metric} must be a finite number")]
    NotFinite { seq: u64, metric: &'static str },
    #[error("record {seq} appears twice in the batch")]
    DuplicateSeq { seq: u64 },
    #[error("the signature does not verify against the order's seller {0}")]
    BadSignature(String),
}

impl LogBatch {
    /// Checks the bounds: batch size, message length, finite metrics, distinct sequence numbers.
    pub fn check(&self) -> Result<(), LogError> {
        if self.records.is_empty() || self.records.len() > MAX_RECORDS_PER_BATCH {
            return Err(LogError::BatchSize(self.records.len()));
        }
        let mut seen = std::collections::HashSet::new();
        for record in &self.records {
            if !seen.insert(record.seq) {
                return Err(LogError::DuplicateSeq { seq: record.seq });
            }
            if record.message.len() > MAX_MESSAGE_BYTES {
                return Err(LogError::MessageTooLong {
                    seq: record.seq,
                    len: record.message.len(),
                });
            }
            if let Some(metrics) = record.metrics {
                for (metric, value) in [("loss", metrics.loss), ("accuracy", metrics.accuracy)] {
                    if value.is_some_and(|value| !value.is_finite()) {
                        return Err(LogError::NotFinite {
                            seq: record.seq,
                            metric,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The canonical bytes that are signed (see the module docs).
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.records.len() * 64);
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&self.order_id);
        out.extend_from_slice(&self.placed_at.to_le_bytes());
        out.extend_from_slice(&(self.records.len() as u32).to_le_bytes());
        for record in &self.records {
            out.extend_from_slice(&record.seq.to_le_bytes());
            out.extend_from_slice(&record.timestamp_ms.to_le_bytes());
            out.push(record.level.code());
            out.extend_from_slice(&(record.message.len() as u32).to_le_bytes());
            out.extend_from_slice(record.message.as_bytes());
            let metrics = record.metrics.unwrap_or_default();
            let presence = u8::from(metrics.epoch.is_some())
                | u8::from(metrics.step.is_some()) << 1
                | u8::from(metrics.loss.is_some()) << 2
                | u8::from(metrics.accuracy.is_some()) << 3;
            out.push(presence);
            if let Some(epoch) = metrics.epoch {
                out.extend_from_slice(&epoch.to_le_bytes());
            }
            if let Some(step) = metrics.step {
                out.extend_from_slice(&step.to_le_bytes());
            }
            for value in [metrics.loss, metrics.accuracy].into_iter().flatten() {
                out.extend_from_slice(&value.to_bits().to_le_bytes());
            }
        }
        out
    }

    /// Checks the batch and signs it with the seller's key.
    pub fn sign(&self, seller: &sr25519::Keypair) -> Result<[u8; 64], LogError> {
        self.check()?;
        Ok(seller.sign(&self.signing_payload()).0)
    }

    /// The body of the indexer's `POST /api/log/add` for this batch and its seller's
    /// `signature` (docs/indexer.md).
    pub fn request_body(&self, signature: &[u8; 64]) -> serde_json::Value {
        serde_json::json!({
            "order_id": crate::ids::uuid(&self.order_id),
            "placed_at": self.placed_at,
            "records": self.records,
            "signature": format!("0x{}", hex::encode(signature)),
        })
    }

    /// Checks the batch and that `signature` is `seller`'s over it.
    pub fn verify(&self, signature: &[u8; 64], seller: &AccountId) -> Result<(), LogError> {
        self.check()?;
        let public = sr25519::PublicKey(seller.0);
        if sr25519::verify(
            &sr25519::Signature(*signature),
            self.signing_payload(),
            &public,
        ) {
            Ok(())
        } else {
            Err(LogError::BadSignature(seller.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::dev;

    fn batch() -> LogBatch {
        LogBatch {
            order_id: [7; 16],
            placed_at: 42,
            records: vec![
                LogRecord {
                    seq: 0,
                    timestamp_ms: 1_700_000_000_000,
                    level: LogLevel::Info,
                    message: "epoch 1 done".into(),
                    metrics: Some(LogMetrics {
                        epoch: Some(1),
                        step: Some(188),
                        loss: Some(0.41),
                        accuracy: Some(0.87),
                    }),
                },
                LogRecord {
                    seq: 1,
                    timestamp_ms: 1_700_000_000_500,
                    level: LogLevel::Warn,
                    message: "slow disk".into(),
                    metrics: None,
                },
            ],
        }
    }

    #[test]
    fn a_signed_batch_verifies_only_for_its_seller_and_content() {
        let bob = dev::bob();
        let signature = batch().sign(&bob).unwrap();
        let bob_account = bob.public_key().to_account_id();
        batch().verify(&signature, &bob_account).unwrap();

        let charlie = dev::charlie().public_key().to_account_id();
        assert!(matches!(
            batch().verify(&signature, &charlie),
            Err(LogError::BadSignature(_))
        ));
        let mut changed = batch();
        changed.records[0].metrics.as_mut().unwrap().loss = Some(0.40);
        assert!(changed.verify(&signature, &bob_account).is_err());
        let mut other_order = batch();
        other_order.placed_at = 43;
        assert!(other_order.verify(&signature, &bob_account).is_err());
    }

    #[test]
    fn the_payload_is_the_documented_encoding() {
        let single = LogBatch {
            order_id: [1; 16],
            placed_at: 2,
            records: vec![LogRecord {
                seq: 3,
                timestamp_ms: 4,
                level: LogLevel::Error,
                message: "x".into(),
                metrics: Some(LogMetrics {
                    loss: Some(1.0),
                    ..LogMetrics::default()
                }),
            }],
        };
        let mut expected = b"matrixai-log-v1".to_vec();
        expected.extend([1; 16]);
        expected.extend([2, 0, 0, 0, 1, 0, 0, 0]);
        expected.extend([
            3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, b'x', 0b100,
        ]);
        expected.extend(1.0f64.to_bits().to_le_bytes());
        assert_eq!(single.signing_payload(), expected);
    }

    #[test]
    fn bounds_are_checked_before_signing() {
        let mut empty = batch();
        empty.records.clear();
        assert_eq!(empty.sign(&dev::bob()), Err(LogError::BatchSize(0)));
        let mut duplicate = batch();
        duplicate.records[1].seq = 0;
        assert_eq!(duplicate.check(), Err(LogError::DuplicateSeq { seq: 0 }));
        let mut long = batch();
        long.records[1].message = "x".repeat(MAX_MESSAGE_BYTES + 1);
        assert!(matches!(
            long.check(),
            Err(LogError::MessageTooLong { seq: 1, .. })
        ));
        let mut nan = batch();
        nan.records[0].metrics.as_mut().unwrap().accuracy = Some(f64::NAN);
        assert_eq!(
            nan.check(),
            Err(LogError::NotFinite {
                seq: 0,
                metric: "accuracy"
            })
        );
    }
}
