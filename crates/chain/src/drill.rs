//! Drills: how a validator verifies a machine's claimed training speed (docs/validator-guide.md,
//! "Verified performance").
//!
//! 1. The validator sends the machine's agent a [`DrillChallenge`] (`POST {drill_url}/drill`,
//!    the URL the machine registered), signed with its validator key: a fresh random seed and
//!    the drill's length, sized from the machine's registered figures (`matrixai_pot::drill`).
//! 2. The agent checks that a validator of the chain signed it for its own machine, trains the
//!    drill and answers with the transcript root, signed with the machine owner's key
//!    ([`DrillAnswer`]).
//! 3. The validator times the exchange, recomputes the root, and publishes a signed
//!    [`DrillReport`] to the indexer, which shows the machine's performance as verified or
//!    contradicted.
//!
//! Every signature covers a domain and the sha256 of a JSON document exactly as sent:
//!
//! ```text
//! "matrixai-drill-challenge-v1" | "matrixai-drill-answer-v1" | "matrixai-drill-report-v1"
//! sha256(json)    32 bytes (for an answer: of the challenge's JSON, then the root's 32 bytes)
//! ```

use crate::AccountId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subxt_signer::sr25519;

/// The version this crate writes and reads.
pub const VERSION: u32 = 1;
/// The largest challenge, answer or report accepted, in bytes of JSON.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// A machine whose drill runs at least this share of the speed its registered figures predict
/// is verified; below, its claim is contradicted. Generous, because the timing includes the
/// network and the estimate's own error (docs/estimation.md); a claim twice the truth still
/// fails.
pub const VERIFIED_SHARE: f64 = 0.6;

const CHALLENGE_DOMAIN: &[u8] = b"matrixai-drill-challenge-v1";
const ANSWER_DOMAIN: &[u8] = b"matrixai-drill-answer-v1";
const REPORT_DOMAIN: &[u8] = b"matrixai-drill-report-v1";

/// What a validator asks a machine to train.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillChallenge {
    pub v: u32,
    /// UUID.
    pub machine_id: String,
    /// SS58.
    pub validator: String,
    /// 32 random bytes, hex.
    pub seed: String,
    /// The drill's length (`matrixai_pot::drill::spec`), which the validator sized from the
    /// machine's registered figures.
    pub epochs: u32,
}

/// How a drill came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillVerdict {
    /// The right answer, at [`VERIFIED_SHARE`] of the predicted speed or faster.
    Verified,
    /// The right answer, but slower than [`VERIFIED_SHARE`] of the predicted speed.
    Contradicted,
    /// An answer that is not the drill's transcript root, or not signed by the machine's owner.
    WrongAnswer,
    /// No answer (refused, busy throughout, timed out).
    Unreachable,
}

impl DrillVerdict {
    /// The verdict for a correct answer after `elapsed_s`, against the `predicted_s` the
    /// machine's figures predict.
    pub fn for_time(elapsed_s: f64, predicted_s: f64) -> Self {
        if elapsed_s * VERIFIED_SHARE <= predicted_s {
            Self::Verified
        } else {
            Self::Contradicted
        }
    }
}

/// What a validator publishes about a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillReport {
    pub v: u32,
    /// UUID.
    pub machine_id: String,
    /// SS58 of the machine's owner, who signed the answer.
    pub owner: String,
    /// SS58 of the validator, who signs this report.
    pub validator: String,
    /// The challenge's seed (hex): anybody can train the same drill and compare the root.
    pub seed: String,
    pub epochs: u32,
    /// Training samples the drill goes through.
    pub samples: u64,
    /// The machine's registered `performance.train_samples_per_s`.
    pub claimed_samples_per_s: f64,
    /// Seconds the machine's registered figures predict for the drill (the estimate buyers are
    /// quoted for the same spec).
    pub predicted_s: f64,
    /// From sending the challenge to receiving the answer, as the validator measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_samples_per_s: Option<f64>,
    pub verdict: DrillVerdict,
    /// Why a drill did not verify, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Milliseconds since the Unix epoch when the validator sent the challenge.
    pub at_ms: u64,
}

/// Why a signed drill document is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DrillError {
    #[error("the document has {0} bytes, more than the {MAX_DOCUMENT_BYTES} allowed")]
    TooLarge(usize),
    #[error("the document is malformed: {0}")]
    Malformed(String),
    #[error("the signature is not {0}'s over this document")]
    BadSignature(String),
}

fn payload(domain: &[u8], json: &str, suffix: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(domain.len() + 32 + suffix.len());
    out.extend_from_slice(domain);
    out.extend_from_slice(&Sha256::digest(json.as_bytes()));
    out.extend_from_slice(suffix);
    out
}

fn check_signature(
    payload: &[u8],
    signature: &[u8; 64],
    who: &AccountId,
) -> Result<(), DrillError> {
    if sr25519::verify(
        &sr25519::Signature(*signature),
        payload,
        &sr25519::PublicKey(who.0),
    ) {
        Ok(())
    } else {
        Err(DrillError::BadSignature(who.to_string()))
    }
}

fn parse<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, DrillError> {
    if json.len() > MAX_DOCUMENT_BYTES {
        return Err(DrillError::TooLarge(json.len()));
    }
    serde_json::from_str(json).map_err(|e| DrillError::Malformed(e.to_string()))
}

/// A parsed hex signature: `0x` and 128 hex digits.
pub fn parse_signature(text: &str) -> Result<[u8; 64], DrillError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes =
        hex::decode(digits).map_err(|e| DrillError::Malformed(format!("signature: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| DrillError::Malformed("a signature has 64 bytes".into()))
}

/// A document's JSON and its signature, as they travel (`{"document": "…", "signature": "0x…"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signed {
    /// The JSON exactly as signed.
    pub document: String,
    pub signature: String,
}

/// Serialises `document` and signs it under `domain` with `validator`'s key.
fn sign_document(domain: &[u8], document: &impl Serialize, validator: &sr25519::Keypair) -> Signed {
    let document = serde_json::to_string(document).expect("a drill document serialises");
    let signature = validator.sign(&payload(domain, &document, &[])).0;
    Signed {
        document,
        signature: format!("0x{}", hex::encode(signature)),
    }
}

/// The document in `signed`, once the validator it names (`validator_of`) signed it under
/// `domain`.
fn verify_document<T: for<'de> Deserialize<'de>>(
    domain: &[u8],
    signed: &Signed,
    validator_of: impl Fn(&T) -> &str,
) -> Result<(T, AccountId), DrillError> {
    let document: T = parse(&signed.document)?;
    let validator = crate::ids::parse_account(validator_of(&document))
        .ok_or_else(|| DrillError::Malformed("validator is not an SS58 account".into()))?;
    check_signature(
        &payload(domain, &signed.document, &[]),
        &parse_signature(&signed.signature)?,
        &validator,
    )?;
    Ok((document, validator))
}

impl DrillChallenge {
    /// Serialises and signs the challenge with the validator's key.
    pub fn sign(&self, validator: &sr25519::Keypair) -> Signed {
        sign_document(CHALLENGE_DOMAIN, self, validator)
    }

    /// The challenge in `signed`, once the validator it names signed it.
    pub fn verify(signed: &Signed) -> Result<(Self, AccountId), DrillError> {
        verify_document(CHALLENGE_DOMAIN, signed, |challenge: &Self| {
            &challenge.validator
        })
    }

    /// The seed's 32 bytes.
    pub fn seed_bytes(&self) -> Result<[u8; 32], DrillError> {
        hex::decode(&self.seed)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| DrillError::Malformed("seed is not 32 bytes of hex".into()))
    }
}

/// The agent's answer to a challenge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillAnswer {
    /// The drill's transcript root, hex.
    pub root: String,
    /// The owner's signature over the challenge's JSON and the root.
    pub signature: String,
}

impl DrillAnswer {
    /// Signs `root` as the answer to the challenge `document` with the machine owner's key.
    pub fn sign(document: &str, root: [u8; 32], owner: &sr25519::Keypair) -> Self {
        let signature = owner.sign(&payload(ANSWER_DOMAIN, document, &root)).0;
        Self {
            root: hex::encode(root),
            signature: format!("0x{}", hex::encode(signature)),
        }
    }

    /// The root, once `owner` signed it as the answer to `document`.
    pub fn verify(&self, document: &str, owner: &AccountId) -> Result<[u8; 32], DrillError> {
        let root: [u8; 32] = hex::decode(&self.root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| DrillError::Malformed("root is not 32 bytes of hex".into()))?;
        check_signature(
            &payload(ANSWER_DOMAIN, document, &root),
            &parse_signature(&self.signature)?,
            owner,
        )?;
        Ok(root)
    }
}

impl DrillReport {
    /// Serialises and signs the report with the validator's key.
    pub fn sign(&self, validator: &sr25519::Keypair) -> Signed {
        sign_document(REPORT_DOMAIN, self, validator)
    }

    /// The report in `signed`, once the validator it names signed it.
    pub fn verify(signed: &Signed) -> Result<(Self, AccountId), DrillError> {
        verify_document(REPORT_DOMAIN, signed, |report: &Self| &report.validator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{account_id, dev};

    fn challenge() -> DrillChallenge {
        DrillChallenge {
            v: VERSION,
            machine_id: crate::ids::uuid(&[1; 16]),
            validator: account_id(&dev::dave()).to_string(),
            seed: hex::encode([9; 32]),
            epochs: 42,
        }
    }

    #[test]
    fn a_challenge_verifies_only_as_its_validator_signed_it() {
        let signed = challenge().sign(&dev::dave());
        let (parsed, validator) = DrillChallenge::verify(&signed).unwrap();
        assert_eq!(parsed, challenge());
        assert_eq!(validator, account_id(&dev::dave()));
        assert_eq!(parsed.seed_bytes().unwrap(), [9; 32]);

        let forged = challenge().sign(&dev::eve());
        assert!(matches!(
            DrillChallenge::verify(&forged),
            Err(DrillError::BadSignature(_))
        ));
        let mut altered = signed.clone();
        altered.document = altered.document.replace("42", "1");
        assert!(DrillChallenge::verify(&altered).is_err());
    }

    #[test]
    fn an_answer_binds_the_root_to_the_challenge_and_the_owner() {
        let signed = challenge().sign(&dev::dave());
        let answer = DrillAnswer::sign(&signed.document, [3; 32], &dev::bob());
        let bob = account_id(&dev::bob());
        assert_eq!(answer.verify(&signed.document, &bob).unwrap(), [3; 32]);
        assert!(
            answer
                .verify(&signed.document, &account_id(&dev::eve()))
                .is_err()
        );
        let other = DrillChallenge {
            seed: hex::encode([8; 32]),
            ..challenge()
        }
        .sign(&dev::dave());
        assert!(answer.verify(&other.document, &bob).is_err());
        let mut swapped = answer.clone();
        swapped.root = hex::encode([4; 32]);
        assert!(swapped.verify(&signed.document, &bob).is_err());
    }

    #[test]
    fn a_report_verifies_and_the_rule_needs_the_share_of_the_claim() {
        let report = DrillReport {
            v: VERSION,
            machine_id: crate::ids::uuid(&[1; 16]),
            owner: account_id(&dev::bob()).to_string(),
            validator: account_id(&dev::dave()).to_string(),
            seed: hex::encode([9; 32]),
            epochs: 3,
            samples: 4_311,
            claimed_samples_per_s: 1_000.0,
            predicted_s: 3.0,
            elapsed_s: Some(4.0),
            measured_samples_per_s: Some(1_077.75),
            verdict: DrillVerdict::Verified,
            reason: None,
            at_ms: 1,
        };
        let (parsed, _) = DrillReport::verify(&report.sign(&dev::dave())).unwrap();
        assert_eq!(parsed, report);
        assert_eq!(DrillVerdict::for_time(5.0, 3.0), DrillVerdict::Verified);
        assert_eq!(
            DrillVerdict::for_time(5.01, 3.0),
            DrillVerdict::Contradicted
        );
        assert!(
            DrillReport::verify(&Signed {
                document: "x".repeat(MAX_DOCUMENT_BYTES + 1),
                signature: "0x00".into(),
            })
            .is_err()
        );
    }
}
