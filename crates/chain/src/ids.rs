//! How ids and accounts are written in the database and the API: machine and order ids as
//! hyphenated UUIDs, accounts as SS58 (generic prefix 42), hashes as 0x-hex.

use crate::AccountId;
use std::str::FromStr;

/// `[u8; 16]` as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
pub fn uuid(id: &[u8; 16]) -> String {
    let hex = hex::encode(id);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A machine or order id: a hyphenated UUID or 32 hex digits (optionally `0x`-prefixed).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: String = text
        .strip_prefix("0x")
        .unwrap_or(text)
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if digits.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    hex::decode_to_slice(&digits, &mut id).ok()?;
    Some(id)
}

pub fn account(account: &AccountId) -> String {
    account.to_string()
}

/// An account as SS58 or as 0x-prefixed hex of its 32 bytes.
pub fn parse_account(text: &str) -> Option<AccountId> {
    if let Some(hex_digits) = text.strip_prefix("0x") {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digits, &mut bytes).ok()?;
        return Some(AccountId::from(bytes));
    }
    AccountId::from_str(text).ok()
}

pub fn hash(hash: &crate::Hash) -> String {
    format!("0x{}", hex::encode(hash.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_round_trip_in_both_spellings() {
        let id = [0xab; 16];
        let text = uuid(&id);
        assert_eq!(text, "abababab-abab-abab-abab-abababababab");
        assert_eq!(parse_uuid(&text), Some(id));
        assert_eq!(parse_uuid(&format!("0x{}", hex::encode(id))), Some(id));
        assert_eq!(parse_uuid("abab"), None);
        assert_eq!(parse_uuid("zzababab-abab-abab-abab-abababababab"), None);
    }

    #[test]
    fn accounts_parse_from_ss58_and_hex() {
        let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        let parsed = parse_account(alice).unwrap();
        assert_eq!(account(&parsed), alice);
        assert_eq!(
            parse_account(&format!("0x{}", hex::encode(parsed.0))),
            Some(parsed)
        );
        assert_eq!(parse_account("5Grwva"), None);
    }
}
