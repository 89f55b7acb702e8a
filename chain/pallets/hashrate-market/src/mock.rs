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
/// The fixed part of a judging round; each round also gets `VERIFICATION_SHARE` of the rented
/// time.
pub const WINDOW: u64 = 20;
pub const VERIFICATION_SHARE: Perbill = Perbill::from_percent(10);
pub const ROUNDS: u32 = 2;
pub const DISPUTE_WINDOW: u64 = 30;
pub const DISPUTE_BOND: Balance = 50;
pub const COLLATERAL_RATIO: Perbill = Perbill::from_percent(50);
pub const NO_SHOW_SLASH: Perbill = Perbill::from_percent(20);
pub const DISPUTE_REWARD: Perbill = Perbill::from_percent(50);
pub const MAX_HOURS: u32 = 1_000;
pub const MAX_EXPIRIES: u32 = 4;

parameter_types! {
	pub const ExistentialDeposit: Balance = 1;
	pub const MachineDeposit: Balance = DEPOSIT;
	pub const CollateralRatio: Perbill = COLLATERAL_RATIO;
	pub const NoShowSlash: Perbill = NO_SHOW_SLASH;
	pub const DisputeReward: Perbill = DISPUTE_REWARD;
	pub const DisputeBond: Balance = DISPUTE_BOND;
	pub const DisputeWindow: u64 = DISPUTE_WINDOW;
	pub const BlocksPerHour: u64 = BLOCKS_PER_HOUR;
	pub const CompletionGrace: u64 = GRACE;
	pub const VerificationWindow: u64 = WINDOW;
	pub const VerificationShare: Perbill = VERIFICATION_SHARE;
}

impl pallet_hashrate_market::Config for Test {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type AdminOrigin = EnsureRoot<AccountId>;
	type MachineDeposit = MachineDeposit;
	type CollateralRatio = CollateralRatio;
	type NoShowSlash = NoShowSlash;
	type DisputeReward = DisputeReward;
	type DisputeBond = DisputeBond;
	type DisputeWindow = DisputeWindow;
	type BlocksPerHour = BlocksPerHour;
	type MaxDurationHours = ConstU32<MAX_HOURS>;
	type CompletionGrace = CompletionGrace;
	type VerificationWindow = VerificationWindow;
	type VerificationShare = VerificationShare;
	type JudgingRounds = ConstU32<ROUNDS>;
	type MaxExpiriesPerBlock = ConstU32<MAX_EXPIRIES>;
	type MaxValidators = ConstU32<4>;
	type WeightInfo = ();
}

pub const OWNER: AccountId = 1;
pub const BUYER: AccountId = 2;
pub const VALIDATOR: AccountId = 3;
pub const OTHER: AccountId = 4;
/// Has exactly the existential deposit: can hold nothing.
pub const POOR: AccountId = 5;
/// A second validator, so that panels have two members.
pub const VALIDATOR_2: AccountId = 6;
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
			(VALIDATOR_2, STARTING_BALANCE),
		],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	pallet_hashrate_market::GenesisConfig::<Test> { validators: vec![VALIDATOR, VALIDATOR_2] }
		.assimilate_storage(&mut storage)
		.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| System::set_block_number(1));
	ext
}

/// Advances to block `n`: each block records its parent's hash (which seeds panel draws), runs
/// the market's `on_initialize`, and ends with the market's invariants checked.
pub fn run_to_block(n: u64) {
	use frame_support::traits::Hooks;
	use sp_runtime::traits::Hash;
	while System::block_number() < n {
		let parent = System::block_number();
		frame_system::BlockHash::<Test>::insert(parent, sp_runtime::traits::BlakeTwo256::hash_of(&parent));
		let next = parent + 1;
		System::set_block_number(next);
		HashrateMarket::on_initialize(next);
		HashrateMarket::do_try_state(next).expect("the market's invariants hold");
	}
}
