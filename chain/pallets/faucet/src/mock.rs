//! A test runtime: frame-system, balances and the faucet.

use crate::{self as pallet_faucet, ClaimWork};
use frame_support::{derive_impl, parameter_types, traits::ConstU32, PalletId};
use sp_core::H256;
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
/// One hash in 16 solves a claim: cheap for tests, and a wrong work is still easy to find.
pub const DIFFICULTY: u32 = 4;
pub const WORK_VALIDITY: u64 = 5;
pub const CAP_PERIOD: u64 = 100;
/// Ten claims a period.
pub const MAX_PAYOUT: Balance = 10 * CLAIM;
pub const MAX_PRUNE: u32 = 3;
pub const POT_FUNDS: Balance = 1_000_000;
pub const RICH: AccountId = 1;
pub const NOBODY: AccountId = 7;

parameter_types! {
	pub const ExistentialDeposit: Balance = 10;
	pub const FaucetPalletId: PalletId = PalletId(*b"mx/fauct");
	pub const ClaimAmount: Balance = CLAIM;
	pub const Cooldown: u64 = COOLDOWN;
	pub const WorkValidity: u64 = WORK_VALIDITY;
	pub const CapPeriod: u64 = CAP_PERIOD;
	pub const MaxPayoutPerPeriod: Balance = MAX_PAYOUT;
}

impl pallet_faucet::Config for Test {
	type Currency = Balances;
	type PalletId = FaucetPalletId;
	type ClaimAmount = ClaimAmount;
	type Cooldown = Cooldown;
	type MaxClaimsPerBlock = ConstU32<MAX_CLAIMS>;
	type ClaimDifficulty = ConstU32<DIFFICULTY>;
	type WorkValidity = WorkValidity;
	type CapPeriod = CapPeriod;
	type MaxPayoutPerPeriod = MaxPayoutPerPeriod;
	type MaxPrunePerBlock = ConstU32<MAX_PRUNE>;
	type WeightInfo = ();
}

/// A made-up hash for block `n`: different for each block, never zero.
pub fn hash_of(n: u64) -> H256 {
	H256::from_low_u64_be(n + 1)
}

/// Block 1 of a chain whose pot holds `POT_FUNDS` and `RICH` 10 000.
pub fn new_test_ext() -> sp_io::TestExternalities {
	let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
	pallet_balances::GenesisConfig::<Test> {
		balances: vec![(RICH, 10_000), (Faucet::pot(), POT_FUNDS)],
		..Default::default()
	}
	.assimilate_storage(&mut storage)
	.unwrap();
	let mut ext = sp_io::TestExternalities::new(storage);
	ext.execute_with(|| go_to_block(1));
	ext
}

/// Moves block by block to block `n` the way blocks start: the parent's hash becomes known and
/// the faucet's hook runs. Checks the faucet's invariants in each block.
pub fn go_to_block(n: u64) {
	use frame_support::traits::Hooks;
	for block in System::block_number() + 1..=n {
		System::set_block_number(block);
		frame_system::BlockHash::<Test>::insert(block - 1, hash_of(block - 1));
		Faucet::on_initialize(block);
		Faucet::do_try_state(block).expect("the faucet's invariants hold");
	}
}

/// Valid work for a claim by `who` in this block, over the parent block.
pub fn work_for(who: AccountId) -> ClaimWork<u64> {
	let block = System::block_number() - 1;
	ClaimWork { block, nonce: Faucet::solve_work(&who, &hash_of(block)) }
}
