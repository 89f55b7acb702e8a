//! Signing keys: the well-known development accounts and keys from secret URIs.
//!
//! On the `dev` and `local` chains Alice..Ferdie are each endowed with 1 000 000 MAI, Alice is
//! the sudo key and Dave is the hashrate market's validator. Their secrets are public, so these
//! keys are for development and tests only.
//!
//! ```
//! use matrixai_chain::keys;
//!
//! let seller = keys::dev::bob();
//! let newcomer = keys::from_uri("//Newcomer").expect("a valid secret URI");
//! assert_ne!(keys::account_id(&seller), keys::account_id(&newcomer));
//! ```

use crate::{AccountId, ChainError};
use std::str::FromStr;
use subxt_signer::SecretUri;

pub use subxt_signer::sr25519::{Keypair, dev};

/// The dev chains' sudo key (Alice), which may call root-only functions through `Sudo.sudo`.
pub fn dev_sudo() -> Keypair {
    dev::alice()
}

/// The dev chains' hashrate market validator (Dave), authorised to call `verify_pot`.
pub fn dev_validator() -> Keypair {
    dev::dave()
}

/// The sr25519 key of a secret URI: a mnemonic or hex seed, optionally followed by derivation
/// junctions and a password (`"//Alice"`, `"bottom drive obey lake ...//Bob"`, `"0x..."`).
pub fn from_uri(uri: &str) -> Result<Keypair, ChainError> {
    let secret = SecretUri::from_str(uri).map_err(|error| {
        ChainError::InvalidInput(format!(
            "not a secret URI ({error}); expected a mnemonic or 0x-prefixed seed, optionally followed by //junctions"
        ))
    })?;
    Keypair::from_uri(&secret).map_err(|error| {
        ChainError::InvalidInput(format!("cannot derive a key from the secret URI: {error}"))
    })
}

/// Whose key signs an off-chain part's calls: a secret URI, or a file whose first line is one
/// (readable by its owner only, so the secret stays out of the process list and shell history).
/// The secret never appears in `Debug` output or in an error.
#[derive(Clone)]
pub enum AccountSource {
    Uri(String),
    KeyFile(std::path::PathBuf),
}

impl std::fmt::Debug for AccountSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Uri(_) => f.write_str("Uri(<secret>)"),
            Self::KeyFile(path) => f.debug_tuple("KeyFile").field(path).finish(),
        }
    }
}

impl AccountSource {
    /// The signing key. Errors name the source, never the secret.
    pub fn keypair(&self) -> Result<Keypair, ChainError> {
        match self {
            Self::Uri(uri) => from_uri(uri).map_err(|e| {
                ChainError::InvalidInput(format!(
                    "account URI: {}",
                    secret_free(&e.to_string(), uri)
                ))
            }),
            Self::KeyFile(path) => {
                #[cfg(unix)]
                if let Ok(metadata) = std::fs::metadata(path) {
                    use std::os::unix::fs::PermissionsExt;
                    if metadata.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(path = %path.display(), "the key file is readable by other users; chmod 600 it");
                    }
                }
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ChainError::InvalidInput(format!("key file {}: {e}", path.display()))
                })?;
                let uri = text.lines().next().unwrap_or("").trim();
                from_uri(uri).map_err(|e| {
                    ChainError::InvalidInput(format!(
                        "key file {}: {}",
                        path.display(),
                        secret_free(&e.to_string(), uri)
                    ))
                })
            }
        }
    }
}

/// `message` with any occurrence of the secret removed, in case a parser quoted it.
fn secret_free(message: &str, secret: &str) -> String {
    if secret.is_empty() {
        message.to_string()
    } else {
        message.replace(secret, "<secret>")
    }
}

/// The account that `keypair` signs for.
pub fn account_id(keypair: &Keypair) -> AccountId {
    keypair.public_key().to_account_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_sources_never_show_the_secret() {
        let secret = "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Bob";
        let source = AccountSource::Uri(secret.into());
        assert!(!format!("{source:?}").contains("bottom"));
        assert!(source.keypair().is_ok());

        let bad = AccountSource::Uri("not a uri but a secret".into());
        let error = bad.keypair().unwrap_err().to_string();
        assert!(!error.contains("not a uri but a secret"), "{error}");

        let dir = std::env::temp_dir().join(format!("matrixai-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("key");
        std::fs::write(&key_file, "//Charlie\n").unwrap();
        let from_file = AccountSource::KeyFile(key_file).keypair().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            from_file.public_key().0,
            from_uri("//Charlie").unwrap().public_key().0
        );
        let missing = AccountSource::KeyFile(dir.join("absent")).keypair();
        assert!(missing.unwrap_err().to_string().contains("absent"));
    }

    #[test]
    fn dev_keys_are_the_well_known_accounts() {
        let alice = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
        let dave = "306721211d5404bd9da88e0204360a1a9ab8b87c66c1bc2fcdd37f3c2222cc20";
        assert_eq!(hex::encode(account_id(&dev_sudo()).0), alice);
        assert_eq!(hex::encode(account_id(&dev_validator()).0), dave);
        assert_eq!(
            account_id(&from_uri("//Alice").unwrap()),
            account_id(&dev::alice())
        );
    }

    #[test]
    fn a_bad_secret_uri_is_invalid_input() {
        let error = from_uri("not a mnemonic at all").expect_err("an invalid phrase");
        assert!(matches!(error, ChainError::InvalidInput(_)), "{error}");
    }
}
