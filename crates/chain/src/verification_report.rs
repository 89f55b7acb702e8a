//! A validator's verification report, and its signature: the validator publishes what it
//! replayed and why it decided as it did, the indexer stores it when the signature verifies
//! against a validator of the order's panel, and the buyer and the UI read it there.
//!
//! The signed message binds the report's exact bytes to one judgement:
//!
//! ```text
//! "matrixai-report-v1"      18 bytes, the domain
//! order_id                  16 bytes
//! panel_from                u32 LE: the block the judging panel's first round starts
//! sha256(report)            32 bytes, of the report's JSON exactly as published
//! ```

use crate::{AccountId, OrderId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subxt_signer::sr25519;

/// The signed message's first bytes.
pub const DOMAIN: &[u8] = b"matrixai-report-v1";
/// The largest report accepted, in bytes of JSON.
pub const MAX_REPORT_BYTES: usize = 1 << 20;
/// The version this crate writes.
pub const VERSION: u32 = 1;

/// What a validator decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportVerdict {
    Pass,
    Fail,
}

/// What was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum JudgedTask {
    /// A proof, whose replayed segments were drawn from the hash of `challenge_block`.
    Proof { challenge_block: u32 },
    /// The one segment a dispute names.
    Dispute { segment: u32 },
}

/// The report's JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationReport {
    pub v: u32,
    /// UUID.
    pub order_id: String,
    /// SS58.
    pub validator: String,
    pub panel_from: u32,
    pub task: JudgedTask,
    pub verdict: ReportVerdict,
    /// Why the proof (or the disputed segment) failed, for people; `None` on a pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub bundle_uri: String,
    /// sha256 of the bundle's manifest, as committed on chain.
    pub bundle_sha256: String,
    /// Files and bytes fetched from the bundle.
    pub fetched_files: usize,
    pub fetched_bytes: u64,
    /// Waiting for the challenge block's finality, which the seed needs (latency, not work;
    /// 0 for a dispute, whose segment is named).
    #[serde(default)]
    pub challenge_wait_seconds: f64,
    /// Fetching the bundle's files and the dataset, after the wait.
    pub fetch_seconds: f64,
    pub replay_seconds: f64,
    /// `matrixai-pot`'s verifier report (segments replayed, distances, accuracy recomputed,
    /// rejections); absent when the bundle could not be fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<serde_json::Value>,
}

/// Why a signed report is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReportError {
    #[error("the report has {0} bytes, more than the {MAX_REPORT_BYTES} allowed")]
    TooLarge(usize),
    #[error("the report is not a verification report: {0}")]
    Malformed(String),
    #[error("the report names {report}, but the request is for {signed}")]
    WrongOrder { signed: String, report: String },
    #[error("the signature is not {0}'s over this report")]
    BadSignature(String),
}

/// A report's bytes with what its signature binds them to.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedReport {
    pub order_id: OrderId,
    pub panel_from: u32,
    /// The report's JSON, exactly as signed.
    pub report: String,
}

impl SignedReport {
    /// Serialises `report` for signing.
    pub fn new(order_id: OrderId, report: &VerificationReport) -> Self {
        Self {
            order_id,
            panel_from: report.panel_from,
            report: serde_json::to_string(report).expect("a report serialises"),
        }
    }

    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DOMAIN.len() + 16 + 4 + 32);
        out.extend_from_slice(DOMAIN);
        out.extend_from_slice(&self.order_id);
        out.extend_from_slice(&self.panel_from.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(self.report.as_bytes()));
        out
    }

    pub fn sign(&self, validator: &sr25519::Keypair) -> [u8; 64] {
        validator.sign(&self.signing_payload()).0
    }

    /// The report, once it parses, names this order and judgement and carries `validator`'s
    /// `signature`.
    pub fn verify(
        &self,
        signature: &[u8; 64],
        validator: &AccountId,
    ) -> Result<VerificationReport, ReportError> {
        if self.report.len() > MAX_REPORT_BYTES {
            return Err(ReportError::TooLarge(self.report.len()));
        }
        let report: VerificationReport = serde_json::from_str(&self.report)
            .map_err(|e| ReportError::Malformed(e.to_string()))?;
        let signed = crate::ids::uuid(&self.order_id);
        if report.order_id != signed
            || report.panel_from != self.panel_from
            || report.validator != validator.to_string()
        {
            return Err(ReportError::WrongOrder {
                signed: format!(
                    "order {signed}, panel from #{}, validator {validator}",
                    self.panel_from
                ),
                report: format!(
                    "order {}, panel from #{}, validator {}",
                    report.order_id, report.panel_from, report.validator
                ),
            });
        }
        let public = sr25519::PublicKey(validator.0);
        if sr25519::verify(
            &sr25519::Signature(*signature),
            self.signing_payload(),
            &public,
        ) {
            Ok(report)
        } else {
            Err(ReportError::BadSignature(validator.to_string()))
        }
    }

    /// The body of the indexer's `POST /api/report` (docs/indexer.md).
    pub fn request_body(&self, validator: &AccountId, signature: &[u8; 64]) -> serde_json::Value {
        serde_json::json!({
            "order_id": crate::ids::uuid(&self.order_id),
            "panel_from": self.panel_from,
            "validator": validator.to_string(),
            "report": self.report,
            "signature": format!("0x{}", hex::encode(signature)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{account_id, dev};

    fn report(validator: &AccountId) -> VerificationReport {
        VerificationReport {
            v: VERSION,
            order_id: crate::ids::uuid(&[1; 16]),
            validator: validator.to_string(),
            panel_from: 42,
            task: JudgedTask::Proof {
                challenge_block: 41,
            },
            verdict: ReportVerdict::Fail,
            reason: Some("segment_replay_mismatch".into()),
            bundle_uri: "s3://bundles/order-1/".into(),
            bundle_sha256: "ab".repeat(32),
            fetched_files: 6,
            fetched_bytes: 1234,
            challenge_wait_seconds: 2.0,
            fetch_seconds: 0.1,
            replay_seconds: 0.2,
            verification: Some(serde_json::json!({"verdict": "reject"})),
        }
    }

    #[test]
    fn a_signed_report_verifies_only_as_signed() {
        let dave = dev::dave();
        let who = account_id(&dave);
        let signed = SignedReport::new([1; 16], &report(&who));
        let signature = signed.sign(&dave);
        assert_eq!(signed.verify(&signature, &who).unwrap(), report(&who));

        let eve = account_id(&dev::eve());
        assert!(matches!(
            signed.verify(&signature, &eve),
            Err(ReportError::WrongOrder { .. })
        ));
        let mut other_seat = signed.clone();
        other_seat.panel_from = 43;
        assert!(other_seat.verify(&signature, &who).is_err());
        let mut edited = signed.clone();
        edited.report = edited.report.replace("0.2", "0.3");
        assert_eq!(
            edited.verify(&signature, &who),
            Err(ReportError::BadSignature(who.to_string()))
        );
        let mut other_order = signed.clone();
        other_order.order_id = [2; 16];
        assert!(matches!(
            other_order.verify(&signature, &who),
            Err(ReportError::WrongOrder { .. })
        ));
    }
}
