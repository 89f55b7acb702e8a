//! Each pallet's configuration.

use crate::{paritydb_weights::ParityDbWeight, *};
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, ConstU64, ConstU8, VariantCountOf},
	weights::{constants::WEIGHT_REF_TIME_PER_SECOND, IdentityFee, Weight},
	PalletId,
};
use frame_system::EnsureRoot;
use pallet_transaction_payment::{ConstFeeMultiplier, FungibleAdapter, Multiplier};
use sp_runtime::{
	traits::{AccountIdConversion, One},
	Perbill,
};

const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

/// 10 minutes per epoch: short, so epoch changes are exercised on a devnet.
pub const EPOCH_DURATION_IN_BLOCKS: BlockNumber = 10 * MINUTES;
/// BABE's chance that a slot has a primary (VRF-elected) author; secondary authors fill the rest,
/// so every slot gets a block.
pub const PRIMARY_PROBABILITY: (u64, u64) = (1, 4);

parameter_types! {
	pub const Version: RuntimeVersion = VERSION;
	/// A third of each 3-second block for computation.
	pub RuntimeBlockWeights: frame_system::limits::BlockWeights =
		frame_system::limits::BlockWeights::with_sensible_defaults(
			Weight::from_parts(WEIGHT_REF_TIME_PER_SECOND, u64::MAX),
			NORMAL_DISPATCH_RATIO,
		);
	pub RuntimeBlockLength: frame_system::limits::BlockLength =
		frame_system::limits::BlockLength::builder()
			.max_length(5 * 1024 * 1024)
			.modify_max_length_for_class(frame_support::dispatch::DispatchClass::Normal, |max| {
				*max = NORMAL_DISPATCH_RATIO * *max
			})
			.build();
	pub const SS58Prefix: u16 = SS58_PREFIX;
}

#[derive_impl(frame_system::config_preludes::SolochainDefaultConfig)]
impl frame_system::Config for Runtime {
	type Block = Block;
	type BlockWeights = RuntimeBlockWeights;
	type BlockLength = RuntimeBlockLength;
	type AccountId = AccountId;
	type Nonce = Nonce;
	type Hash = Hash;
	type BlockHashCount = ConstU32<2400>;
	type DbWeight = ParityDbWeight;
	type Version = Version;
	type AccountData = pallet_balances::AccountData<Balance>;
	type SS58Prefix = SS58Prefix;
	type MaxConsumers = ConstU32<16>;
}

impl pallet_babe::Config for Runtime {
	type EpochDuration = ConstU64<{ EPOCH_DURATION_IN_BLOCKS as u64 }>;
	type ExpectedBlockTime = ConstU64<MILLI_SECS_PER_BLOCK>;
	// Authorities change only by runtime upgrade; there is no staking or session pallet.
	type EpochChangeTrigger = pallet_babe::SameAuthoritiesForever;
	type DisabledValidators = ();
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<32>;
	type MaxNominators = ConstU32<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_grandpa::Config for Runtime {
	#[allow(deprecated)]
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = ();
	type MaxAuthorities = ConstU32<32>;
	type MaxNominators = ConstU32<0>;
	type MaxSetIdSessionEntries = ConstU64<0>;
	type KeyOwnerProof = sp_core::Void;
	type EquivocationReportSystem = ();
}

impl pallet_timestamp::Config for Runtime {
	type Moment = u64;
	type OnTimestampSet = Babe;
	type MinimumPeriod = ConstU64<{ SLOT_DURATION / 2 }>;
	type WeightInfo = ();
}

impl pallet_balances::Config for Runtime {
	#[allow(deprecated)]
	type RuntimeEvent = RuntimeEvent;
	type RuntimeHoldReason = RuntimeHoldReason;
	type RuntimeFreezeReason = RuntimeFreezeReason;
	type WeightInfo = pallet_balances::weights::SubstrateWeight<Runtime>;
	type Balance = Balance;
	type DustRemoval = ();
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
	type ReserveIdentifier = [u8; 8];
	type FreezeIdentifier = RuntimeFreezeReason;
	type MaxLocks = ConstU32<50>;
	type MaxReserves = ();
	type MaxFreezes = VariantCountOf<RuntimeFreezeReason>;
	type DoneSlashHandler = ();
}

parameter_types! {
	pub FeeMultiplier: Multiplier = Multiplier::one();
	pub const FaucetPalletId: PalletId = PalletId(*b"mx/fauct");
	/// Fees go to the faucet's pot, so a test network's tokens circulate rather than burn.
	pub FaucetPot: AccountId = FaucetPalletId::get().into_account_truncating();
}

impl pallet_transaction_payment::Config for Runtime {
	#[allow(deprecated)]
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction =
		FungibleAdapter<Balances, frame_support::traits::tokens::imbalance::ResolveTo<FaucetPot, Balances>>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = IdentityFee<Balance>;
	type LengthToFee = IdentityFee<Balance>;
	type FeeMultiplierUpdate = ConstFeeMultiplier<FeeMultiplier>;
	type WeightInfo = ();
}

impl pallet_skip_feeless_payment::Config for Runtime {
	#[allow(deprecated)]
	type RuntimeEvent = RuntimeEvent;
}

impl pallet_sudo::Config for Runtime {
	#[allow(deprecated)]
	type RuntimeEvent = RuntimeEvent;
	type RuntimeCall = RuntimeCall;
	type WeightInfo = pallet_sudo::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	pub const MachineDeposit: Balance = 100 * UNIT;
	pub const PotFailSlash: Perbill = Perbill::from_percent(50);
	pub const BlocksPerHour: BlockNumber = HOURS;
	pub const CompletionGrace: BlockNumber = 30 * MINUTES;
	pub const VerificationWindow: BlockNumber = HOURS;
}

impl pallet_hashrate_market::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type AdminOrigin = EnsureRoot<AccountId>;
	type MachineDeposit = MachineDeposit;
	type PotFailSlash = PotFailSlash;
	type BlocksPerHour = BlocksPerHour;
	/// 30 days.
	type MaxDurationHours = ConstU32<720>;
	type CompletionGrace = CompletionGrace;
	type VerificationWindow = VerificationWindow;
	type MaxExpiriesPerBlock = ConstU32<64>;
	type MaxValidators = ConstU32<32>;
	type WeightInfo = pallet_hashrate_market::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	pub const ClaimAmount: Balance = 1_000 * UNIT;
	pub const ClaimCooldown: BlockNumber = DAYS;
}

impl pallet_faucet::Config for Runtime {
	type Currency = Balances;
	type PalletId = FaucetPalletId;
	type ClaimAmount = ClaimAmount;
	type Cooldown = ClaimCooldown;
	type MaxClaimsPerBlock = ConstU32<20>;
	type WeightInfo = pallet_faucet::weights::SubstrateWeight<Runtime>;
}
