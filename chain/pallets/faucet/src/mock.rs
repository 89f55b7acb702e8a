//! A test runtime: frame-system, balances and the faucet.

use crate as pallet_faucet;
use frame_support::{derive_impl, parameter_types, traits::ConstU32, PalletId};
use sp_runtime::BuildStorage;

type Block = frame_system::mocking::MockBlock<Test>;
pub type AccountId = u64;
pub type Balance = u64;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		Faucet: pallet_faucet,
	}
);

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountId = AccountId;
	type Lookup = sp_runtime::traits::IdentityLookup<AccountId>;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
	type ExistentialDeposit = ExistentialDeposit;
}

pub const CLAIM: Balance = 100;
pub const COOLDOWN: u64 = 10;
pub const MAX_CLAIMS: u32 = 2;
pub const POT_FUNDS: Balance = 1_000;
pub const RICH: AccountId = 1;
pub const NOBODY: AccountId = 7;

parameter_types! {
	pub const ExistentialDeposit: Balance = 10;
	pub const FaucetPalletId: PalletId = PalletId(*b"mx/fauct");
	pub const ClaimAmount: Balance = CLAIM;
	pub const Cooldown: u64 = COOLDOWN;
}

impl pallet_faucet::Config for Test {
	type Currency = Balances;
	type PalletId = FaucetPalletId;
	type ClaimAmount = ClaimAmount;
	type Cooldown = Cooldown;
	type MaxClaimsPerBlock = ConstU32<MAX_CLAIMS>;
	type WeightInfo = ();
}

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(RICH, 10_000), (Faucet::pot(), POT_FUNDS)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Moves to block `n` the way a block starts: the per-block claim count resets.
pub fn go_to_block(n: u64) {
	use frame_support::traits::Hooks;
	System::set_block_number(n);
	Faucet::on_initialize(n);
}
