//! Each pallet's configuration.

use crate::{paritydb_weights::ParityDbWeight, *};
use frame_support::{
	derive_impl, parameter_types,
	traits::{ConstU128, ConstU32, ConstU64, ConstU8, VariantCountOf},
	weights::{
		constants::{ExtrinsicBaseWeight, WEIGHT_REF_TIME_PER_SECOND},
		ConstantMultiplier, Weight,
	},
	PalletId,
};
use frame_system::EnsureRoot;
use pallet_transaction_payment::{FungibleAdapter, Multiplier, TargetedFeeAdjustment};
use sp_runtime::{
	traits::{AccountIdConversion, Bounded},
	FixedPointNumber, Perbill, Perquintill,
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
	pub const FaucetPalletId: PalletId = PalletId(*b"mx/fauct");
	/// Fees go to the faucet's pot, so a test network's tokens circulate rather than burn.
	pub FaucetPot: AccountId = FaucetPalletId::get().into_account_truncating();
}

/// What the computation of the cheapest transaction (`ExtrinsicBaseWeight`) costs: 1 milli-MAI,
/// Polkadot's base fee (a tenth of a cent, with 1 MAI for 1 DOT).
pub const BASE_EXTRINSIC_FEE: Balance = MILLI_UNIT;

/// Prices computation in proportion to ref time, so that a transaction of
/// `ExtrinsicBaseWeight` costs [`BASE_EXTRINSIC_FEE`] (times the fee multiplier), as Polkadot's
/// runtimes do. Proof size is not priced: a solochain has no proof of validity to bound.
pub struct WeightToFee;

impl frame_support::weights::WeightToFee for WeightToFee {
	type Balance = Balance;

	fn weight_to_fee(weight: &Weight) -> Balance {
		// At most u64::MAX * 10^9: far inside u128.
		Balance::from(weight.ref_time()).saturating_mul(BASE_EXTRINSIC_FEE)
			/ Balance::from(ExtrinsicBaseWeight::get().ref_time())
	}
}

parameter_types! {
	/// What each byte of a transaction costs: 0.1 milli-MAI, Polkadot's per-byte fee. Length is
	/// what a spammer fills blocks with most cheaply: a full block of 3.75 MiB costs about
	/// 393 MAI.
	pub const TransactionByteFee: Balance = MILLI_UNIT / 10;
	/// Polkadot's `SlowAdjustingFeeUpdate`: above a quarter of the normal-class block weight the
	/// multiplier of the weight fee rises, below it falls, by at most 0.0056% a block (full
	/// blocks double it in about 10 hours), never below a tenth.
	pub const TargetBlockFullness: Perquintill = Perquintill::from_percent(25);
	pub AdjustmentVariable: Multiplier = Multiplier::saturating_from_rational(75, 1_000_000);
	pub MinimumMultiplier: Multiplier = Multiplier::saturating_from_rational(1, 10u128);
	pub MaximumMultiplier: Multiplier = Bounded::max_value();
}

/// The fee multiplier's update after each block (see `TargetBlockFullness`).
pub type SlowAdjustingFeeUpdate<R> =
	TargetedFeeAdjustment<R, TargetBlockFullness, AdjustmentVariable, MinimumMultiplier, MaximumMultiplier>;

impl pallet_transaction_payment::Config for Runtime {
	#[allow(deprecated)]
	type RuntimeEvent = RuntimeEvent;
	type OnChargeTransaction =
		FungibleAdapter<Balances, frame_support::traits::tokens::imbalance::ResolveTo<FaucetPot, Balances>>;
	type OperationalFeeMultiplier = ConstU8<5>;
	type WeightToFee = WeightToFee;
	type LengthToFee = ConstantMultiplier<Balance, TransactionByteFee>;
	type FeeMultiplierUpdate = SlowAdjustingFeeUpdate<Self>;
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
	/// Forging any fraction of a training loses money in expectation when the slash is above
	/// zero (docs/chain.md, "Collateral and slashing"); half the total leaves a wide margin.
	pub const CollateralRatio: Perbill = Perbill::from_percent(50);
	pub const NoShowSlash: Perbill = Perbill::from_percent(20);
	pub const DisputeReward: Perbill = Perbill::from_percent(50);
	pub const DisputeBond: Balance = 10 * UNIT;
	/// Replaying 4 segments costs at most ~5 % of the training (docs/benchmarks.md).
	pub const VerificationShare: Perbill = Perbill::from_percent(5);
}

parameter_types! {
	/// A day to re-check a verified training before the seller is paid. A storage parameter
	/// (key `twox_128(":DisputeWindow:")`), so a test network can shorten it with
	/// `sudo(system.set_storage)`; the real-node tests do.
	pub storage DisputeWindow: BlockNumber = DAYS;
	/// Blocks in an hour of rented time: deadlines are `duration_hours` of these. A storage
	/// parameter (key `twox_128(":BlocksPerHour:")`) like the two below, so a test network can
	/// run an order's whole life (deadline, grace, judging rounds, expiry) in a few blocks.
	pub storage BlocksPerHour: BlockNumber = HOURS;
	/// After the deadline, how long the trainer has to report and prove (key
	/// `twox_128(":CompletionGrace:")`).
	pub storage CompletionGrace: BlockNumber = 30 * MINUTES;
	/// The fixed part of a judging round (key `twox_128(":VerificationWindow:")`).
	pub storage VerificationWindow: BlockNumber = HOURS;
}

impl pallet_hashrate_market::Config for Runtime {
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
	/// 30 days.
	type MaxDurationHours = ConstU32<720>;
	type CompletionGrace = CompletionGrace;
	type VerificationWindow = VerificationWindow;
	type VerificationShare = VerificationShare;
	type JudgingRounds = ConstU32<3>;
	type MaxExpiriesPerBlock = ConstU32<64>;
	type MaxValidators = ConstU32<32>;
	type WeightInfo = pallet_hashrate_market::weights::SubstrateWeight<Runtime>;
}

parameter_types! {
	pub const ClaimAmount: Balance = 1_000 * UNIT;
	pub const ClaimCooldown: BlockNumber = DAYS;
	/// Work over any of the last 10 minutes' blocks: time to solve and submit, not to stockpile.
	pub const ClaimWorkValidity: BlockNumber = 10 * MINUTES;
	pub const ClaimCapPeriod: BlockNumber = HOURS;
	/// 50 claims an hour: the 10 000 000 MAI of genesis last at least 200 hours of draining.
	pub const MaxClaimPayoutPerPeriod: Balance = 50 * ClaimAmount::get();
}

impl pallet_faucet::Config for Runtime {
	type Currency = Balances;
	type PalletId = FaucetPalletId;
	type ClaimAmount = ClaimAmount;
	type Cooldown = ClaimCooldown;
	type MaxClaimsPerBlock = ConstU32<20>;
	/// About a million BLAKE2 hashes: a fraction of a second for one core of a laptop.
	type ClaimDifficulty = ConstU32<20>;
	type WorkValidity = ClaimWorkValidity;
	type CapPeriod = ClaimCapPeriod;
	type MaxPayoutPerPeriod = MaxClaimPayoutPerPeriod;
	type MaxPrunePerBlock = ConstU32<64>;
	type WeightInfo = pallet_faucet::weights::SubstrateWeight<Runtime>;
}
