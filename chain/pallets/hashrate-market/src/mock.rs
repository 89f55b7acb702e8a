//! A test runtime: frame-system, balances with holds, and the hashrate market.

use crate as pallet_hashrate_market;
use frame_support::{derive_impl, parameter_types, traits::ConstU32};
use frame_system::EnsureRoot;
use sp_runtime::{BuildStorage, Perbill};

type Block = frame_system::mocking::MockBlock<Test>;
pub type AccountId = u64;
pub type Balance = u64;

frame_support::construct_runtime!(
	pub enum Test {
		System: frame_system,
		Balances: pallet_balances,
		HashrateMarket: pallet_hashrate_market,
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
	type RuntimeHoldReason = RuntimeHoldReason;
}

pub const DEPOSIT: Balance = 1_000;
pub const BLOCKS_PER_HOUR: u64 = 10;
pub const GRACE: u64 = 5;
pub const WINDOW: u64 = 20;
pub const MAX_HOURS: u32 = 1_000;
pub const MAX_EXPIRIES: u32 = 4;

parameter_types! {
	pub const ExistentialDeposit: Balance = 1;
	pub const MachineDeposit: Balance = DEPOSIT;
	pub const PotFailSlash: Perbill = Perbill::from_percent(50);
	pub const BlocksPerHour: u64 = BLOCKS_PER_HOUR;
	pub const CompletionGrace: u64 = GRACE;
	pub const VerificationWindow: u64 = WINDOW;
}

impl pallet_hashrate_market::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type AdminOrigin = EnsureRoot<AccountId>;
	type MachineDeposit = MachineDeposit;
	type PotFailSlash = PotFailSlash;
	type BlocksPerHour = BlocksPerHour;
	type MaxDurationHours = ConstU32<MAX_HOURS>;
	type CompletionGrace = CompletionGrace;
	type VerificationWindow = VerificationWindow;
	type MaxExpiriesPerBlock = ConstU32<MAX_EXPIRIES>;
	type MaxValidators = ConstU32<3>;
	type WeightInfo = ();
}

pub const OWNER: AccountId = 1;
pub const BUYER: AccountId = 2;
pub const VALIDATOR: AccountId = 3;
pub const OTHER: AccountId = 4;
/// Has exactly the existential deposit: can hold nothing.
pub const POOR: AccountId = 5;
pub const STARTING_BALANCE: Balance = 1_000_000;

pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![
			(OWNER, STARTING_BALANCE),
			(BUYER, STARTING_BALANCE),
			(VALIDATOR, STARTING_BALANCE),
			(OTHER, STARTING_BALANCE),
			(POOR, 1),
		],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_hashrate_market::GenesisConfig::<Test> { validators: vec![VALIDATOR] }
		.assimilate_storage(&mut storage)
		.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Advances to block `n`, running the market's `on_initialize` for every block on the way.
pub fn run_to_block(n: u64) {
	use frame_support::traits::Hooks;
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		HashrateMarket::on_initialize(next);
	}
}
