//! Genesis presets: `dev` (one authority), `local` (Alice and Bob) and `testnet`.
//!
//! Every preset sets the token (MAI, 12 decimals, via the chain spec's properties), the sudo
//! key, the accounts endowed at start, the hashrate market's validators and the faucet's pot.

use crate::{
	configs::FaucetPot, AccountId, BabeConfig, Balance, BalancesConfig, GrandpaConfig, HashrateMarketConfig,
	RuntimeGenesisConfig, SudoConfig, UNIT,
};
use alloc::{vec, vec::Vec};
use frame_support::build_struct_json_patch;
use serde_json::Value;
use sp_consensus_babe::AuthorityId as BabeId;
use sp_consensus_grandpa::AuthorityId as GrandpaId;
use sp_core::crypto::UncheckedFrom;
use sp_genesis_builder::{PresetId, DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};
use sp_keyring::{Ed25519Keyring, Sr25519Keyring};

pub const DEV_PRESET: &str = "dev";
pub const LOCAL_PRESET: &str = "local";
pub const TESTNET_PRESET: &str = "testnet";

pub const BABE_GENESIS_EPOCH_CONFIG: sp_consensus_babe::BabeEpochConfiguration =
	sp_consensus_babe::BabeEpochConfiguration {
		c: crate::PRIMARY_PROBABILITY,
		allowed_slots: sp_consensus_babe::AllowedSlots::PrimaryAndSecondaryVRFSlots,
	};

const ENDOWMENT: Balance = 1_000_000 * UNIT;
const FAUCET_FUNDS: Balance = 10_000_000 * UNIT;

fn genesis(
	authorities: Vec<(BabeId, GrandpaId)>,
	endowed: Vec<AccountId>,
	sudo: AccountId,
	validators: Vec<AccountId>,
) -> Value {
	let mut balances: Vec<(AccountId, Balance)> = endowed.into_iter().map(|account| (account, ENDOWMENT)).collect();
	balances.push((FaucetPot::get(), FAUCET_FUNDS));
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig { balances },
		babe: BabeConfig {
			authorities: authorities.iter().map(|(babe, _)| (babe.clone(), 1)).collect(),
			epoch_config: BABE_GENESIS_EPOCH_CONFIG,
		},
		grandpa: GrandpaConfig { authorities: authorities.iter().map(|(_, grandpa)| (grandpa.clone(), 1)).collect() },
		sudo: SudoConfig { key: Some(sudo) },
		hashrate_market: HashrateMarketConfig { validators },
	})
}

fn dev_authority(sr: Sr25519Keyring, ed: Ed25519Keyring) -> (BabeId, GrandpaId) {
	(sr.public().into(), ed.public().into())
}

/// Alice authors and finalizes alone; Alice is sudo; Dave judges proofs.
fn dev() -> Value {
	genesis(
		vec![dev_authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice)],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect(),
		Sr25519Keyring::Alice.to_account_id(),
		vec![Sr25519Keyring::Dave.to_account_id()],
	)
}

/// Alice and Bob author and finalize together on one machine.
fn local() -> Value {
	genesis(
		vec![
			dev_authority(Sr25519Keyring::Alice, Ed25519Keyring::Alice),
			dev_authority(Sr25519Keyring::Bob, Ed25519Keyring::Bob),
		],
		Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect(),
		Sr25519Keyring::Alice.to_account_id(),
		vec![Sr25519Keyring::Dave.to_account_id()],
	)
}

/// The public test network. Only public keys are here: each operator inserts their own secret
/// keys with `matrixai-node key insert` (see docs/chain.md).
fn testnet() -> Value {
	let sr = |hex: [u8; 32]| sp_core::sr25519::Public::unchecked_from(hex);
	let ed = |hex: [u8; 32]| sp_core::ed25519::Public::unchecked_from(hex);
	let authorities =
		TESTNET_AUTHORITIES.iter().map(|(babe, grandpa)| (sr(*babe).into(), ed(*grandpa).into())).collect();
	let sudo: AccountId = sr(TESTNET_SUDO).into();
	let validator: AccountId = sr(TESTNET_VALIDATOR).into();
	genesis(authorities, vec![sudo.clone(), validator.clone()], sudo, vec![validator])
}

include!("testnet_keys.rs");

pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_ref() {
		DEV_PRESET | DEV_RUNTIME_PRESET => dev(),
		LOCAL_PRESET | LOCAL_TESTNET_RUNTIME_PRESET => local(),
		TESTNET_PRESET => testnet(),
		_ => return None,
	};
	Some(serde_json::to_string(&patch).expect("a JSON value serializes").into_bytes())
}

pub fn preset_names() -> Vec<PresetId> {
	vec![PresetId::from(DEV_PRESET), PresetId::from(LOCAL_PRESET), PresetId::from(TESTNET_PRESET)]
}
