//! What transactions cost: the schedule of docs/chain.md ("Fees"), computed by
//! pallet-transaction-payment over the dev genesis. `cargo test -p matrixai-runtime --test fees
//! -- --nocapture` prints the figures the docs quote.

use codec::Encode;
use frame_support::dispatch::{DispatchClass, DispatchInfo, GetDispatchInfo};
use matrixai_runtime::{
	genesis_config_presets::{get_preset, DEV_PRESET},
	Balance, Runtime, RuntimeCall, RuntimeGenesisConfig, TxExtension, UncheckedExtrinsic, MILLI_UNIT, UNIT,
};
use pallet_hashrate_market::weights::WeightInfo as _;
use pallet_transaction_payment::{Multiplier, NextFeeMultiplier};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	generic::Era,
	traits::{Convert, One},
	BuildStorage, FixedPointNumber, MultiAddress, MultiSignature,
};

type FeeMultiplierUpdate = <Runtime as pallet_transaction_payment::Config>::FeeMultiplierUpdate;

/// The encoded `place_order` call with 2 KB of order metadata: call index 2, order id 16,
/// seller 32, machine id 16, duration 4, price limit 16, metadata 2 + 2 048.
const PLACE_ORDER_CALL_LEN: usize = 2 + 16 + 32 + 16 + 4 + 16 + 2 + 2_048;

/// Storage as the dev chain starts: the preset applied over the default genesis, as the node's
/// chain spec builder does.
fn dev_genesis() -> sp_io::TestExternalities {
	let patch: serde_json::Value =
		serde_json::from_slice(&get_preset(&DEV_PRESET.into()).expect("the dev preset exists")).unwrap();
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).unwrap();
	merge(&mut config, patch);
	let config: RuntimeGenesisConfig = serde_json::from_value(config).expect("the dev preset is a genesis config");
	sp_io::TestExternalities::new(config.build_storage().expect("the dev genesis builds"))
}

fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(serde_json::Value::Null), value);
			}
		},
		(base, patch) => *base = patch,
	}
}

/// `call` signed the way wallets sign it here (mortal, nonce and tip of one byte each), with
/// its dispatch info (the call's weight plus the transaction extensions').
fn signed(call: RuntimeCall) -> UncheckedExtrinsic {
	let extension: TxExtension = (
		frame_system::CheckNonZeroSender::new(),
		frame_system::CheckSpecVersion::new(),
		frame_system::CheckTxVersion::new(),
		frame_system::CheckGenesis::new(),
		frame_system::CheckEra::from(Era::mortal(256, 1_000)),
		pallet_faucet::CheckNonceOrFirstClaim::from(7),
		frame_system::CheckWeight::new(),
		pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0).into(),
		frame_metadata_hash_extension::CheckMetadataHash::new(false),
		frame_system::WeightReclaim::new(),
	);
	let signer = MultiAddress::Id(Sr25519Keyring::Alice.to_account_id());
	UncheckedExtrinsic::new_signed(call, signer, MultiSignature::Sr25519([0; 64].into()), extension)
}

fn transfer_call() -> RuntimeCall {
	RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
		dest: MultiAddress::Id(Sr25519Keyring::Bob.to_account_id()),
		value: 25 * UNIT,
	})
}

/// A signed `transfer_keep_alive`'s length and dispatch info.
fn transfer() -> (usize, DispatchInfo) {
	let transfer = signed(transfer_call());
	(transfer.encoded_size(), transfer.get_dispatch_info())
}

fn fee(len: usize, info: &DispatchInfo) -> Balance {
	pallet_transaction_payment::Pallet::<Runtime>::compute_fee(len as u32, info, 0)
}

fn mai(plancks: Balance) -> String {
	format!("{:.4} MAI", plancks as f64 / UNIT as f64)
}

#[test]
fn a_transfer_costs_about_a_hundredth_of_a_mai() {
	dev_genesis().execute_with(|| {
		let (len, info) = transfer();
		let fee = fee(len, &info);
		println!(
			"transfer_keep_alive: {len} bytes, {} ref time ({} the call's): {}",
			info.total_weight().ref_time(),
			info.call_weight.ref_time(),
			mai(fee)
		);
		assert!((5 * MILLI_UNIT..=50 * MILLI_UNIT).contains(&fee), "{}", mai(fee));
	});
}

#[test]
fn a_full_block_of_remarks_costs_hundreds_of_mai() {
	dev_genesis().execute_with(|| {
		let max_len = *<Runtime as frame_system::Config>::BlockLength::get().max.get(DispatchClass::Normal);
		let remark = RuntimeCall::System(frame_system::Call::remark { remark: vec![0; max_len as usize] });
		let fee = fee(max_len as usize, &remark.get_dispatch_info());
		println!("a full normal-class block of remarks ({max_len} bytes): {}", mai(fee));
		assert!(fee >= 100 * UNIT, "{}", mai(fee));
	});
}

#[test]
fn an_order_with_2_kb_of_metadata_costs_a_fraction_of_a_mai() {
	dev_genesis().execute_with(|| {
		let (transfer_len, transfer_info) = transfer();
		// The same signature and extensions around a `place_order` call.
		let envelope = transfer_len - transfer_call().encoded_size();
		let len = envelope + PLACE_ORDER_CALL_LEN;
		let weight = pallet_hashrate_market::weights::SubstrateWeight::<Runtime>::place_order();
		let info = DispatchInfo { call_weight: weight, ..transfer_info };
		let order_fee = fee(len, &info);
		println!("place_order: {len} bytes, {} ref time: {}", info.total_weight().ref_time(), mai(order_fee));
		assert!(order_fee > fee(transfer_len, &transfer_info) && order_fee < UNIT, "{}", mai(order_fee));
	});
}

#[test]
fn full_blocks_raise_the_multiplier_and_empty_ones_lower_it() {
	dev_genesis().execute_with(|| {
		let one = Multiplier::one();
		assert_eq!(NextFeeMultiplier::<Runtime>::get(), one, "the chain starts at 1");
		let weights = <Runtime as frame_system::Config>::BlockWeights::get();
		let full = weights.get(DispatchClass::Normal).max_total.expect("the normal class has a limit");

		frame_system::Pallet::<Runtime>::set_block_consumed_resources(full, 0);
		let after_full = FeeMultiplierUpdate::convert(one);
		assert!(after_full > one, "{after_full:?}");
		// About 10 hours of full 3-second blocks double it.
		let after_ten_hours = (0..12_000).fold(one, |multiplier, _| FeeMultiplierUpdate::convert(multiplier));
		println!("multiplier after 12 000 full blocks: {after_ten_hours:?}");
		assert!(after_ten_hours > Multiplier::saturating_from_rational(19, 10), "{after_ten_hours:?}");

		// A congested chain charges more for the same transfer.
		let (len, info) = transfer();
		let before = fee(len, &info);
		NextFeeMultiplier::<Runtime>::put(after_ten_hours);
		assert!(fee(len, &info) > before);

		frame_system::Pallet::<Runtime>::set_block_consumed_resources(Default::default(), 0);
		let after_empty = FeeMultiplierUpdate::convert(one);
		assert!(after_empty < one, "{after_empty:?}");
		let floor = (0..200_000).fold(one, |multiplier, _| FeeMultiplierUpdate::convert(multiplier));
		assert_eq!(floor, Multiplier::saturating_from_rational(1, 10), "never below a tenth");
	});
}
