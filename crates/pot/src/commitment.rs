//! The on-chain commitment: what `submit_pot` stores in the pallet's bounded `proofsdata`.

use serde::{Deserialize, Serialize};

use crate::bundle::BundleSummary;
use crate::error::PotError;
use crate::transcript::Sha256Hex;

/// The pallet bounds `proofsdata` to this many bytes.
pub const MAX_PROOFSDATA_BYTES: usize = 1024;
pub const COMMITMENT_VERSION: u32 = 1;

/// `{"v":1,"root":..,"final_model":..,"accuracy_ppm":..,"bundle_uri":..,"bundle_sha256":..}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commitment {
    pub v: u32,
    /// Merkle root of the transcript leaves.
    pub root: Sha256Hex,
    /// sha256 of the bundle's model.bin.
    pub final_model: Sha256Hex,
    pub accuracy_ppm: u32,
    /// Where the validator fetches the bundle (file://, s3://, ipfs://, http(s)://).
    pub bundle_uri: String,
    /// sha256 of the bundle's manifest.json, which names the sha256 of every other file.
    pub bundle_sha256: Sha256Hex,
}

impl Commitment {
    pub fn new(summary: &BundleSummary, bundle_uri: &str) -> Result<Self, PotError> {
        let commitment = Self {
            v: COMMITMENT_VERSION,
            root: summary.transcript.root,
            final_model: summary.transcript.final_model_sha256,
            accuracy_ppm: summary.transcript.accuracy_ppm,
            bundle_uri: bundle_uri.to_string(),
            bundle_sha256: summary.bundle_sha256,
        };
        commitment.to_json()?;
        Ok(commitment)
    }

    /// Compact JSON for the chain; an error if it exceeds [`MAX_PROOFSDATA_BYTES`].
    pub fn to_json(&self) -> Result<Vec<u8>, PotError> {
        let bytes = serde_json::to_vec(self).expect("a commitment always serialises");
        if bytes.len() > MAX_PROOFSDATA_BYTES {
            return Err(PotError::Commitment(format!(
                "{} bytes exceed the chain's {MAX_PROOFSDATA_BYTES}-byte proofsdata; use a shorter bundle_uri",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, PotError> {
        if bytes.len() > MAX_PROOFSDATA_BYTES {
            return Err(PotError::Commitment(format!(
                "{} bytes exceed {MAX_PROOFSDATA_BYTES}",
                bytes.len()
            )));
        }
        let commitment: Self =
            serde_json::from_slice(bytes).map_err(|e| PotError::Commitment(e.to_string()))?;
        if commitment.v != COMMITMENT_VERSION {
            return Err(PotError::Commitment(format!(
                "version {} is not supported",
                commitment.v
            )));
        }
        Ok(commitment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commitment(uri_len: usize) -> Commitment {
        Commitment {
            v: 1,
            root: Sha256Hex([0xab; 32]),
            final_model: Sha256Hex([0xcd; 32]),
            accuracy_ppm: 1_000_000,
            bundle_uri: format!("s3://{}", "b".repeat(uri_len)),
            bundle_sha256: Sha256Hex([0xef; 32]),
        }
    }

    #[test]
    fn fits_proofsdata_with_a_long_uri_and_round_trips() {
        let c = commitment(700);
        let json = c.to_json().unwrap();
        assert!(json.len() <= MAX_PROOFSDATA_BYTES, "{}", json.len());
        assert_eq!(Commitment::from_json(&json).unwrap(), c);
    }

    #[test]
    fn rejects_an_oversized_uri() {
        let message = commitment(900).to_json().unwrap_err().to_string();
        assert!(message.contains("proofsdata"), "{message}");
    }
}
