//! The chain specifications the node knows by name: `dev`, `local` and `testnet`.

use matrixai_runtime::{genesis_config_presets as presets, SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL, WASM_BINARY};
use sc_service::{ChainType, Properties};

pub type ChainSpec = sc_service::GenericChainSpec;

/// Bootnodes of the public testnet.
const TESTNET_BOOTNODES: &[&str] = &include!("testnet_bootnodes.rs");

fn properties() -> Properties {
	let mut properties = Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_PREFIX.into());
	properties
}

fn builder(
	name: &str,
	id: &str,
	chain_type: ChainType,
	preset: &str,
) -> Result<sc_chain_spec::ChainSpecBuilder<sc_chain_spec::NoExtension>, String> {
	let wasm =
		WASM_BINARY.ok_or_else(|| "the runtime's wasm was not built; build without SKIP_WASM_BUILD".to_string())?;
	Ok(ChainSpec::builder(wasm, None)
		.with_name(name)
		.with_id(id)
		.with_chain_type(chain_type)
		.with_genesis_config_preset_name(preset)
		.with_protocol_id("mxai")
		.with_properties(properties()))
}

pub fn development() -> Result<ChainSpec, String> {
	Ok(builder("MatrixAI Development", "matrixai_dev", ChainType::Development, presets::DEV_PRESET)?.build())
}

pub fn local() -> Result<ChainSpec, String> {
	Ok(builder("MatrixAI Local Testnet", "matrixai_local", ChainType::Local, presets::LOCAL_PRESET)?.build())
}

pub fn testnet() -> Result<ChainSpec, String> {
	let boot_nodes = TESTNET_BOOTNODES
		.iter()
		.map(|address| address.parse().map_err(|e| format!("bad testnet bootnode {address}: {e}")))
		.collect::<Result<Vec<_>, String>>()?;
	Ok(builder("MatrixAI Testnet", "matrixai_testnet", ChainType::Live, presets::TESTNET_PRESET)?
		.with_boot_nodes(boot_nodes)
		.build())
}

/// The spec for `--chain ID`: a known name, or else a path to a chain-spec JSON file.
pub fn load(id: &str) -> Result<Box<dyn sc_service::ChainSpec>, String> {
	Ok(match id {
		"dev" => Box::new(development()?),
		"" | "local" => Box::new(local()?),
		"testnet" => Box::new(testnet()?),
		path if std::path::Path::new(path).is_file() => Box::new(ChainSpec::from_json_file(path.into())?),
		unknown => {
			return Err(format!(
				"unknown chain `{unknown}`: use `dev`, `local`, `testnet` or the path of a chain-spec JSON file"
			))
		},
	})
}
