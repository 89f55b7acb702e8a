//! The JSON a seller's agent writes as an order's `result`: what it delivered
//! (`order_completed`) or why it could not (`order_failed`). The buyer, the indexer, the
//! validator and the UI read it; one type, in one place.
//!
//! ```
//! use matrixai_chain::order_result::{Delivery, Failure, FailureCode, OrderResult};
//!
//! let delivered = OrderResult::Completed(Delivery {
//!     model_uri: "s3://models/order-1/model.bin".into(),
//!     model_sha256: "ab".repeat(32),
//!     accuracy_ppm: 953_000,
//!     bundle_uri: "s3://models/order-1/".into(),
//! });
//! assert_eq!(OrderResult::parse(&delivered.to_bytes()?)?, delivered);
//!
//! let failed = OrderResult::failed(FailureCode::DatasetMismatch, "sha256 differs from the order's");
//! assert!(failed.to_bytes()?.len() <= matrixai_chain::order_result::MAX_BYTES);
//! # Ok::<(), matrixai_chain::order_result::ResultError>(())
//! ```

use serde::{Deserialize, Serialize};

/// The version this crate writes and reads.
pub const VERSION: u32 = 1;
/// The chain's bound on an order's result (`ResultMetadata` in the hashrate market pallet).
pub const MAX_BYTES: usize = 1024;

/// An order's result, as its seller recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OrderResult {
    Completed(Delivery),
    Failed(Failure),
}

/// What a completed order delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Where the trained model (`model.bin` of the bundle) can be fetched.
    pub model_uri: String,
    /// 64 lowercase hex digits.
    pub model_sha256: String,
    /// Evaluation accuracy on the spec's held-out rows, in parts per million.
    pub accuracy_ppm: u32,
    /// The Proof-of-Training bundle's directory.
    pub bundle_uri: String,
}

/// Why an order failed, for the buyer to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub code: FailureCode,
    pub reason: String,
}

/// The kinds of failure a buyer can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// The order's metadata is not a valid task spec (or a reference to one).
    InvalidSpec,
    /// The machine lacks the memory or the offered disk the order needs.
    InsufficientResources,
    /// The training would not end within the order's duration.
    DurationTooShort,
    /// The dataset (or the spec it refers to) could not be fetched.
    DatasetUnavailable,
    /// The fetched dataset's sha256 (or size) is not the one the order names.
    DatasetMismatch,
    /// Training stopped with an error.
    TrainingError,
    /// The model or the proof could not be stored.
    StorageError,
}

/// Why bytes are not a valid [`OrderResult`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResultError {
    #[error("an order result is {0} bytes, above the chain's bound of {MAX_BYTES}")]
    TooLong(usize),
    #[error("not an order result of version {VERSION}: {0}")]
    Json(String),
    #[error("order result version {0} is not supported (this build reads version {VERSION})")]
    Version(u32),
    #[error("order result field {0} is invalid")]
    Field(&'static str),
}

#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    v: u32,
    #[serde(flatten)]
    result: T,
}

impl OrderResult {
    /// A failure whose reason is cut (at a character boundary) to fit the chain's bound.
    pub fn failed(code: FailureCode, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        // The envelope around the reason is under 100 bytes; JSON escaping can at most double
        // an ASCII control character's size six-fold, so leave room.
        let room = (MAX_BYTES - 100) / 6;
        if reason.len() > room {
            let mut end = room;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        Self::Failed(Failure { code, reason })
    }

    /// The JSON bytes for the chain, after the checks [`Self::parse`] makes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ResultError> {
        self.check()?;
        let bytes = serde_json::to_vec(&Versioned {
            v: VERSION,
            result: self,
        })
        .map_err(|e| ResultError::Json(e.to_string()))?;
        if bytes.len() > MAX_BYTES {
            return Err(ResultError::TooLong(bytes.len()));
        }
        Ok(bytes)
    }

    /// Parses and checks a result as found on chain.
    pub fn parse(bytes: &[u8]) -> Result<Self, ResultError> {
        if bytes.len() > MAX_BYTES {
            return Err(ResultError::TooLong(bytes.len()));
        }
        let versioned: Versioned<Self> =
            serde_json::from_slice(bytes).map_err(|e| ResultError::Json(e.to_string()))?;
        if versioned.v != VERSION {
            return Err(ResultError::Version(versioned.v));
        }
        versioned.result.check()?;
        Ok(versioned.result)
    }

    fn check(&self) -> Result<(), ResultError> {
        if let Self::Completed(delivery) = self {
            let hex = &delivery.model_sha256;
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ResultError::Field("model_sha256"));
            }
            if delivery.accuracy_ppm > 1_000_000 {
                return Err(ResultError::Field("accuracy_ppm"));
            }
            if delivery.model_uri.is_empty() {
                return Err(ResultError::Field("model_uri"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_documented_json() {
        let failed = OrderResult::failed(FailureCode::DurationTooShort, "needs 3 h, ordered 1 h");
        assert_eq!(
            String::from_utf8(failed.to_bytes().unwrap()).unwrap(),
            r#"{"v":1,"outcome":"failed","code":"duration_too_short","reason":"needs 3 h, ordered 1 h"}"#
        );
    }

    #[test]
    fn long_reasons_are_cut_to_fit_the_chain() {
        let failed = OrderResult::failed(FailureCode::TrainingError, "é\n".repeat(2000));
        let bytes = failed.to_bytes().unwrap();
        assert!(bytes.len() <= MAX_BYTES);
        assert_eq!(OrderResult::parse(&bytes).unwrap(), failed);
    }

    #[test]
    fn bad_results_are_refused_with_the_field() {
        let delivery = |sha: &str, accuracy_ppm| {
            OrderResult::Completed(Delivery {
                model_uri: "file:///m".into(),
                model_sha256: sha.into(),
                accuracy_ppm,
                bundle_uri: "file:///b/".into(),
            })
        };
        assert_eq!(
            delivery("AB", 1).to_bytes(),
            Err(ResultError::Field("model_sha256"))
        );
        assert_eq!(
            delivery(&"0".repeat(64), 1_000_001).to_bytes(),
            Err(ResultError::Field("accuracy_ppm"))
        );
        assert!(matches!(
            OrderResult::parse(br#"{"v":2,"outcome":"failed","code":"invalid_spec","reason":""}"#),
            Err(ResultError::Version(2))
        ));
        assert!(matches!(
            OrderResult::parse(br#"{"v":1,"outcome":"lost"}"#),
            Err(ResultError::Json(_))
        ));
    }
}
