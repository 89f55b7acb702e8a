//! Hashes, transcript leaves and the Merkle root.
//!
//! Tensor hash: sha256 of the values as little-endian f32 bytes in canonical order.
//! Leaf hash: sha256(0x00 || step u64 LE || params hash || optimizer-state hash || loss f32 LE).
//! Node hash: sha256(0x01 || left || right). A level with an odd count promotes its last node
//! unchanged to the next level (no duplication, so no two leaf lists share a root by
//! repeating a leaf). The leaf count itself is fixed by the spec, which the verifier knows.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::train::Checkpoint;

/// A sha256 digest, written as 64 lowercase hex digits in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sha256Hex(pub [u8; 32]);

impl Sha256Hex {
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl std::str::FromStr for Sha256Hex {
    type Err = String;
    /// 64 hex digits (either case), optionally after one `0x`.
    fn from_str(text: &str) -> Result<Self, String> {
        Self::from_hex(text.as_bytes())
    }
}

impl Sha256Hex {
    /// 64 hex digits (either case), optionally after one `0x`.
    pub fn from_hex(text: &[u8]) -> Result<Self, String> {
        decode_digest(text.strip_prefix(b"0x").unwrap_or(text))
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "{:?} is not a sha256 digest (64 hex digits)",
                    String::from_utf8_lossy(text)
                )
            })
    }
}

/// Decodes exactly 64 hex digits. Written out, with a table and no branch per digit, because
/// transcripts and manifests hold hundreds of digests and the generic `hex` decoder was a fifth
/// of a static verification's time.
fn decode_digest(digits: &[u8]) -> Option<[u8; 32]> {
    /// The value of each hex digit; 0xff for every other byte.
    const NIBBLES: [u8; 256] = {
        let mut table = [0xff; 256];
        let mut i = 0;
        while i < 10 {
            table[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            table[b'a' as usize + i] = 10 + i as u8;
            table[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        table
    };
    if digits.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (NIBBLES[pair[0] as usize], NIBBLES[pair[1] as usize]);
        invalid |= high | low;
        *byte = high << 4 | low;
    }
    (invalid & 0xf0 == 0).then_some(bytes)
}

impl Serialize for Sha256Hex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Parses in place: transcripts hold thousands of digests, so no String per digest.
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = Sha256Hex;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sha256 digest as 64 hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Sha256Hex, E> {
                Sha256Hex::from_hex(text.as_bytes()).map_err(E::custom)
            }
            fn visit_bytes<E: serde::de::Error>(self, text: &[u8]) -> Result<Sha256Hex, E> {
                Sha256Hex::from_hex(text).map_err(E::custom)
            }
        }
        // serde_json hands a string's raw bytes to `visit_bytes` without validating them as
        // UTF-8 first (only ASCII hex digits are accepted anyway); deserializers without a
        // byte type give the string to `visit_str`.
        deserializer.deserialize_bytes(HexVisitor)
    }
}

/// sha256 of `values` as little-endian f32 bytes.
pub fn tensor_hash(values: &[f32]) -> Sha256Hex {
    let mut hasher = Sha256::new();
    let mut buffer = Vec::with_capacity(4096);
    for chunk in values.chunks(1024) {
        buffer.clear();
        for value in chunk {
            buffer.extend_from_slice(&value.to_le_bytes());
        }
        hasher.update(&buffer);
    }
    Sha256Hex(hasher.finalize().into())
}

/// What the transcript commits to for one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Leaf {
    pub step: u64,
    pub params_sha256: Sha256Hex,
    pub optimizer_sha256: Sha256Hex,
    pub loss: f32,
}

impl Leaf {
    pub fn of(checkpoint: &Checkpoint) -> Self {
        Self {
            step: checkpoint.step,
            params_sha256: tensor_hash(&checkpoint.params),
            optimizer_sha256: tensor_hash(&checkpoint.optimizer_state),
            loss: checkpoint.loss,
        }
    }

    pub fn hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update([0x00]);
        hasher.update(self.step.to_le_bytes());
        hasher.update(self.params_sha256.0);
        hasher.update(self.optimizer_sha256.0);
        hasher.update(self.loss.to_le_bytes());
        hasher.finalize().into()
    }
}

/// Merkle root over the leaves (see the module doc for the layout); sha256 of nothing if empty.
pub fn merkle_root(leaves: &[Leaf]) -> Sha256Hex {
    let mut level: Vec<[u8; 32]> = leaves.iter().map(Leaf::hash).collect();
    if level.is_empty() {
        return Sha256Hex::of(&[]);
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut hasher = Sha256::new();
                    hasher.update([0x01]);
                    hasher.update(left);
                    hasher.update(right);
                    hasher.finalize().into()
                }
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    Sha256Hex(level[0])
}

/// The transcript file of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    pub v: u32,
    pub spec_sha256: Sha256Hex,
    pub total_steps: u64,
    pub checkpoint_interval: u64,
    pub leaves: Vec<Leaf>,
    pub root: Sha256Hex,
    /// sha256 of the bundle's `model.bin` file.
    pub final_model_sha256: Sha256Hex,
    pub accuracy_ppm: u32,
    pub eval_rows: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(step: u64) -> Leaf {
        Leaf {
            step,
            params_sha256: Sha256Hex([step as u8; 32]),
            optimizer_sha256: Sha256Hex([7; 32]),
            loss: 0.5,
        }
    }

    #[test]
    fn root_depends_on_every_leaf_and_order() {
        let leaves: Vec<Leaf> = (0..5).map(leaf).collect();
        let root = merkle_root(&leaves);
        for index in 0..leaves.len() {
            let mut changed = leaves.clone();
            changed[index].loss = 0.25;
            assert_ne!(merkle_root(&changed), root, "leaf {index}");
        }
        let mut swapped = leaves.clone();
        swapped.swap(1, 2);
        assert_ne!(merkle_root(&swapped), root);
        // Promotion, not duplication: repeating the odd leaf changes the root.
        let mut repeated = leaves.clone();
        repeated.push(leaves[4]);
        assert_ne!(merkle_root(&repeated), root);
    }

    #[test]
    fn two_leaf_root_is_the_documented_node() {
        let leaves = [leaf(0), leaf(1)];
        let mut hasher = Sha256::new();
        hasher.update([0x01]);
        hasher.update(leaves[0].hash());
        hasher.update(leaves[1].hash());
        assert_eq!(merkle_root(&leaves).0, <[u8; 32]>::from(hasher.finalize()));
        assert_eq!(merkle_root(&leaves[..1]).0, leaves[0].hash());
    }

    #[test]
    fn digests_parse_from_hex_of_either_case() {
        let digest = Sha256Hex::of(b"x");
        let text = digest.to_string();
        assert_eq!(text.parse::<Sha256Hex>().unwrap(), digest);
        assert_eq!(text.to_uppercase().parse::<Sha256Hex>().unwrap(), digest);
        assert_eq!(format!("0x{text}").parse::<Sha256Hex>().unwrap(), digest);
        assert_eq!(hex::encode(decode_digest(text.as_bytes()).unwrap()), text);
        // Through serde, as in transcripts and manifests, from JSON text and from a Value.
        let json = format!("\"{text}\"");
        assert_eq!(serde_json::from_str::<Sha256Hex>(&json).unwrap(), digest);
        assert_eq!(
            serde_json::from_value::<Sha256Hex>(serde_json::Value::String(text.clone())).unwrap(),
            digest
        );
        for bad in [
            "\"zz\"",
            "[1,2]",
            "7",
            &format!("\"{}\\u00e9\"", &text[..63]),
        ] {
            assert!(serde_json::from_str::<Sha256Hex>(bad).is_err(), "{bad}");
        }
        for bad in [
            &text[1..],
            &format!("{text}0"),
            &text.replacen(&text[..1], "g", 1),
            "",
            &format!("0x0x{}", &text[4..]),
        ] {
            assert!(bad.parse::<Sha256Hex>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tensor_hash_is_sha256_of_le_bytes() {
        let values = [1.0f32, -2.5];
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&1.0f32.to_le_bytes());
        bytes.extend_from_slice(&(-2.5f32).to_le_bytes());
        assert_eq!(tensor_hash(&values), Sha256Hex::of(&bytes));
    }
}
