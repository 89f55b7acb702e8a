//! # Faucet
//!
//! Test tokens for anyone. `claim` pays `ClaimAmount` from the faucet's pot to the caller, and
//! `top_up` lets anyone refill the pot.
//!
//! A new user has no balance, so they can pay neither a fee nor the storage of their nonce. An
//! eligible claim is therefore feeless (`#[pallet::feeless_if]`, honoured by
//! `pallet_skip_feeless_payment::SkipCheckIfFeeless` around the fee extension), and the runtime
//! checks nonces with [`CheckNonceOrFirstClaim`], which is `frame_system::CheckNonce` plus the
//! faucet's checks: every claim is checked before the pool admits it, and an eligible claim from
//! an account that does not exist yet is admitted.
//!
//! Keys cost nothing, so a fee-free faucet needs another price: each claim carries a proof of work
//! ([`ClaimWork`]) over the claimant and a recent block's hash, which costs a laptop about a
//! second and cannot be reused by another account or after the claimant's cooldown. On top of
//! that the payouts are rate limited three ways: one claim per account per `Cooldown` blocks, at
//! most `MaxClaimsPerBlock` claims a block, and at most `MaxPayoutPerPeriod` paid in each period
//! of `CapPeriod` blocks, so however much work an attacker buys, the pot drains no faster than
//! the period cap.
//!
//! Every piece of state is bounded: the per-block and per-period counters are single values
//! tagged with their block or period (a stale tag reads as zero, so no hook resets them), and the
//! claim records are kept per cooldown window and deleted by `on_initialize`, at most
//! `MaxPrunePerBlock` keys a block, once no cooldown can depend on them.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use extension::CheckNonceOrFirstClaim;
pub use pallet::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod extension;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use sp_runtime::transaction_validity::InvalidTransaction;

/// What a claim's proof of work hashes first, so that the work can serve no other protocol.
pub const WORK_DOMAIN: [u8; 15] = *b"matrixai-faucet";

/// The proof of work that pays for a claim: `nonce` is valid for claimant `who` when
/// [`Pallet::work_hash`]`(who, hash of block, nonce)` has at least `ClaimDifficulty` leading zero
/// bits ([`meets_difficulty`]).
///
/// `block` must be before the claim's block, by at most `WorkValidity` blocks: the work cannot
/// be prepared long in advance, and (because `WorkValidity` is at most `Cooldown`) it has expired
/// before its claimant may claim again, so it pays for one claim only.
#[derive(Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug)]
pub struct ClaimWork<BlockNumber> {
	/// The block whose hash the work is over.
	pub block: BlockNumber,
	/// The solution.
	pub nonce: u64,
}

/// Whether `hash` starts with at least `bits` zero bits, counted from the most significant bit of
/// its first byte. This is the whole difficulty rule; a solver tries nonces until it holds.
pub fn meets_difficulty(hash: &[u8; 32], bits: u32) -> bool {
	let mut zeros = 0;
	for byte in hash {
		zeros += byte.leading_zeros();
		if *byte != 0 {
			break;
		}
	}
	zeros >= bits
}

/// Why a claim would not be paid in this block. Dispatch reports it as the [`Error`] of the same
/// name; the transaction pool refuses the claim with [`ClaimRefusal::invalid_transaction`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimRefusal {
	/// The work's block is not one of the `WorkValidity` blocks before this one.
	WorkExpired,
	/// The work's hash lacks `ClaimDifficulty` leading zero bits.
	InvalidWork,
	/// The claimant claimed less than `Cooldown` blocks ago.
	CoolingDown,
	/// The pot cannot pay a claim and keep its account.
	PotEmpty,
	/// This period's payouts would exceed `MaxPayoutPerPeriod`.
	PeriodCapReached,
	/// This block already paid `MaxClaimsPerBlock` claims.
	BlockLimitReached,
}

impl ClaimRefusal {
	/// How the transaction pool is told. Each refusal that the claimant must act on has a custom
	/// code (documented in docs/chain.md, "Faucet"): 1 work expired, 2 invalid work, 3 cooling
	/// down, 4 pot empty, 5 period cap reached. A full block is `ExhaustsResources`, as for a
	/// block full of weight: the block author keeps the claim in the pool for the next block
	/// instead of dropping it. (The pool itself never sees it: it validates against the next
	/// block, which has paid no claims yet.)
	pub fn invalid_transaction(self) -> InvalidTransaction {
		match self {
			Self::WorkExpired => InvalidTransaction::Custom(1),
			Self::InvalidWork => InvalidTransaction::Custom(2),
			Self::CoolingDown => InvalidTransaction::Custom(3),
			Self::PotEmpty => InvalidTransaction::Custom(4),
			Self::PeriodCapReached => InvalidTransaction::Custom(5),
			Self::BlockLimitReached => InvalidTransaction::ExhaustsResources,
		}
	}
}

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate},
			tokens::{Fortitude, Preservation},
		},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::{AccountIdConversion, One, SaturatedConversion, Saturating, Zero};

	pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency the pot holds and pays.
		type Currency: Mutate<Self::AccountId>;

		/// Derives the pot's account.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Paid to each claim.
		#[pallet::constant]
		type ClaimAmount: Get<BalanceOf<Self>>;

		/// Blocks an account waits between two claims. Claims are recorded per window of this
		/// many blocks, so it must not be zero.
		#[pallet::constant]
		type Cooldown: Get<BlockNumberFor<Self>>;

		/// Most claims paid in one block.
		#[pallet::constant]
		type MaxClaimsPerBlock: Get<u32>;

		/// Leading zero bits a claim's work hash must have: solving takes about 2^difficulty
		/// hashes.
		#[pallet::constant]
		type ClaimDifficulty: Get<u32>;

		/// How many blocks back a claim's work may be over. At least 1; at most `Cooldown`, so a
		/// work has expired before its claimant may claim again, and at most
		/// `frame_system::Config::BlockHashCount`, so the block's hash is still known.
		#[pallet::constant]
		type WorkValidity: Get<BlockNumberFor<Self>>;

		/// Blocks in each payout period (`MaxPayoutPerPeriod` applies per period).
		#[pallet::constant]
		type CapPeriod: Get<BlockNumberFor<Self>>;

		/// Most paid in claims in one period of `CapPeriod` blocks: the fastest the pot can be
		/// drained. At least `ClaimAmount`.
		#[pallet::constant]
		type MaxPayoutPerPeriod: Get<BalanceOf<Self>>;

		/// Most expired claim records deleted in one block. At least `MaxClaimsPerBlock`, so that
		/// deletion outpaces claims.
		#[pallet::constant]
		type MaxPrunePerBlock: Get<u32>;

		/// Weights of the calls and of the pruning in `on_initialize`, from frame-benchmarking.
		type WeightInfo: WeightInfo;
	}

	/// The block of each claim, keyed by its cooldown window (the claim's block divided by
	/// `Cooldown`), then by claimant. A claim decides its claimant's cooldown for `Cooldown`
	/// blocks, which end within the next window, so only the current and previous windows are
	/// read; older windows are deleted by `on_initialize`.
	#[pallet::storage]
	pub type Claims<T: Config> =
		StorageDoubleMap<_, Twox64Concat, BlockNumberFor<T>, Blake2_128Concat, T::AccountId, BlockNumberFor<T>>;

	/// The oldest cooldown window that may still hold claims: where deletion resumes.
	#[pallet::storage]
	pub type OldestWindow<T: Config> = StorageValue<_, BlockNumberFor<T>, ValueQuery>;

	/// The claims paid in a block, with that block's number. A count left by an earlier block
	/// reads as zero, so no hook resets it, and pool validation (which runs no hooks) reads it
	/// right.
	#[pallet::storage]
	pub type ClaimsInBlock<T: Config> = StorageValue<_, (BlockNumberFor<T>, u32), ValueQuery>;

	/// The total paid in a payout period, with that period's index (block divided by
	/// `CapPeriod`). A total left by an earlier period reads as zero.
	#[pallet::storage]
	pub type PaidInPeriod<T: Config> = StorageValue<_, (BlockNumberFor<T>, BalanceOf<T>), ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// `who` was paid `amount` from the pot and may claim again from block `next_claim_at`.
		Claimed { who: T::AccountId, amount: BalanceOf<T>, next_claim_at: BlockNumberFor<T> },
		/// `who` moved `amount` into the pot, which now holds `pot`.
		ToppedUp { who: T::AccountId, amount: BalanceOf<T>, pot: BalanceOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// This account claimed less than `Cooldown` blocks ago; wait for the block named by its
		/// last `Claimed` event's `next_claim_at`.
		CoolingDown,
		/// The pot cannot pay a claim; ask someone to `top_up` the faucet.
		PotEmpty,
		/// This block's claims are used up; claim again in the next block.
		BlockLimitReached,
		/// A top-up must be above zero.
		ZeroAmount,
		/// The caller cannot pay the top-up and stay alive.
		InsufficientBalance,
		/// The work is not over one of the `WorkValidity` blocks before this one; solve it again
		/// over the hash of the latest block.
		WorkExpired,
		/// The work's hash for this account lacks `ClaimDifficulty` leading zero bits; solve it
		/// for the account that signs the claim (see docs/chain.md, "Faucet").
		InvalidWork,
		/// This period's payouts reached `MaxPayoutPerPeriod`; claim again in the next period of
		/// `CapPeriod` blocks.
		PeriodCapReached,
	}

	impl<T> From<ClaimRefusal> for Error<T> {
		fn from(refusal: ClaimRefusal) -> Self {
			match refusal {
				ClaimRefusal::WorkExpired => Error::WorkExpired,
				ClaimRefusal::InvalidWork => Error::InvalidWork,
				ClaimRefusal::CoolingDown => Error::CoolingDown,
				ClaimRefusal::PotEmpty => Error::PotEmpty,
				ClaimRefusal::PeriodCapReached => Error::PeriodCapReached,
				ClaimRefusal::BlockLimitReached => Error::BlockLimitReached,
			}
		}
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Deletes the claims of windows older than the previous one, at most `MaxPrunePerBlock`
		/// a block.
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let oldest = OldestWindow::<T>::get();
			// The previous window's claims still decide cooldowns in this one.
			if oldest.saturating_add(2u32.into()) > Self::window(now) {
				return T::WeightInfo::prune(0);
			}
			let removed = Claims::<T>::clear_prefix(oldest, T::MaxPrunePerBlock::get(), None);
			if removed.maybe_cursor.is_none() {
				OldestWindow::<T>::put(oldest.saturating_add(One::one()));
			}
			T::WeightInfo::prune(removed.unique)
		}

		fn integrity_test() {
			assert!(!T::Cooldown::get().is_zero(), "Cooldown must not be zero");
			assert!(!T::CapPeriod::get().is_zero(), "CapPeriod must not be zero");
			let validity = T::WorkValidity::get();
			assert!(!validity.is_zero(), "WorkValidity must not be zero");
			assert!(validity <= T::Cooldown::get(), "WorkValidity above Cooldown lets a work pay for two claims");
			assert!(
				validity <= T::BlockHashCount::get(),
				"WorkValidity above BlockHashCount asks for block hashes the chain has forgotten"
			);
			assert!(T::ClaimDifficulty::get() <= 256, "ClaimDifficulty is at most a hash's 256 bits");
			assert!(T::MaxPayoutPerPeriod::get() >= T::ClaimAmount::get(), "MaxPayoutPerPeriod pays no claim");
			assert!(
				T::MaxPrunePerBlock::get() >= T::MaxClaimsPerBlock::get(),
				"MaxPrunePerBlock below MaxClaimsPerBlock lets claim records outgrow their deletion"
			);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(now: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state(now)
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Pays `ClaimAmount` from the pot to the caller, who proves `work` (see [`ClaimWork`]).
		///
		/// Origin must be Signed; the account need not exist. The claim must be eligible: valid
		/// work over one of the `WorkValidity` blocks before this one, no claim by the caller in
		/// the last `Cooldown` blocks, and room under `MaxClaimsPerBlock`, `MaxPayoutPerPeriod`
		/// and the pot's balance. An eligible claim is free of fees, and the transaction pool
		/// refuses an ineligible one (see [`ClaimRefusal`]).
		///
		/// Emits `Claimed` when successful.
		///
		/// Weight: `O(1)`.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::claim())]
		#[pallet::feeless_if(|origin: &OriginFor<T>, work: &ClaimWork<BlockNumberFor<T>>| -> bool {
			ensure_signed(origin.clone()).is_ok_and(|who| Pallet::<T>::ensure_can_claim(&who, work).is_ok())
		})]
		pub fn claim(origin: OriginFor<T>, work: ClaimWork<BlockNumberFor<T>>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::ensure_can_claim(&who, &work).map_err(Error::<T>::from)?;
			let amount = T::ClaimAmount::get();
			T::Currency::transfer(&Self::pot(), &who, amount, Preservation::Preserve)
				.map_err(|_| Error::<T>::PotEmpty)?;
			let now = frame_system::Pallet::<T>::block_number();
			Claims::<T>::insert(Self::window(now), &who, now);
			ClaimsInBlock::<T>::put((now, Self::claims_in_block(now).saturating_add(1)));
			PaidInPeriod::<T>::put((Self::period(now), Self::paid_in_period(now).saturating_add(amount)));
			Self::deposit_event(Event::Claimed { who, amount, next_claim_at: now.saturating_add(T::Cooldown::get()) });
			Ok(())
		}

		/// Moves `amount` from the caller into the pot.
		///
		/// Origin must be Signed, by an account that can pay `amount` and stay alive.
		///
		/// Emits `ToppedUp` when successful.
		///
		/// Weight: `O(1)`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::top_up())]
		pub fn top_up(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
			let pot = Self::pot();
			T::Currency::transfer(&who, &pot, amount, Preservation::Preserve)
				.map_err(|_| Error::<T>::InsufficientBalance)?;
			Self::deposit_event(Event::ToppedUp { who, amount, pot: T::Currency::balance(&pot) });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// The account that holds the faucet's tokens.
		pub fn pot() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}

		/// The hash a claim's work is judged by: BLAKE2b-256 of the SCALE encoding of
		/// `(WORK_DOMAIN, who, block_hash, nonce)`, that is the 15 bytes `matrixai-faucet`, the
		/// account's bytes, the block hash's bytes and the nonce as 8 little-endian bytes, with
		/// no length prefixes.
		pub fn work_hash(who: &T::AccountId, block_hash: &T::Hash, nonce: u64) -> [u8; 32] {
			(WORK_DOMAIN, who, block_hash, nonce).using_encoded(sp_io::hashing::blake2_256)
		}

		/// The first nonce from 0 whose [`Self::work_hash`] meets `ClaimDifficulty`: the reference
		/// solver (about 2^difficulty hashes), used by tests and benchmarks.
		pub fn solve_work(who: &T::AccountId, block_hash: &T::Hash) -> u64 {
			let difficulty = T::ClaimDifficulty::get();
			let mut nonce = 0u64;
			while !meets_difficulty(&Self::work_hash(who, block_hash, nonce), difficulty) {
				nonce = nonce.wrapping_add(1);
			}
			nonce
		}

		/// Whether a claim by `who` with `work` would be paid in this block, and if not, why.
		pub fn ensure_can_claim(who: &T::AccountId, work: &ClaimWork<BlockNumberFor<T>>) -> Result<(), ClaimRefusal> {
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(
				work.block < now && now.saturating_sub(work.block) <= T::WorkValidity::get(),
				ClaimRefusal::WorkExpired
			);
			let block_hash = frame_system::Pallet::<T>::block_hash(work.block);
			ensure!(block_hash != T::Hash::default(), ClaimRefusal::WorkExpired);
			ensure!(
				meets_difficulty(&Self::work_hash(who, &block_hash, work.nonce), T::ClaimDifficulty::get()),
				ClaimRefusal::InvalidWork
			);
			let window = Self::window(now);
			ensure!(!Claims::<T>::contains_key(window, who), ClaimRefusal::CoolingDown);
			if let Some(last) = window.checked_sub(&One::one()).and_then(|previous| Claims::<T>::get(previous, who)) {
				ensure!(now >= last.saturating_add(T::Cooldown::get()), ClaimRefusal::CoolingDown);
			}
			let amount = T::ClaimAmount::get();
			let spendable = T::Currency::reducible_balance(&Self::pot(), Preservation::Preserve, Fortitude::Polite);
			ensure!(spendable >= amount, ClaimRefusal::PotEmpty);
			ensure!(
				Self::paid_in_period(now).saturating_add(amount) <= T::MaxPayoutPerPeriod::get(),
				ClaimRefusal::PeriodCapReached
			);
			ensure!(Self::claims_in_block(now) < T::MaxClaimsPerBlock::get(), ClaimRefusal::BlockLimitReached);
			Ok(())
		}

		/// How many blocks from the pool's validation of a claim with `work` (in block `now`) the
		/// work stays valid: the pool drops the claim once it has expired.
		pub(crate) fn work_longevity(work: &ClaimWork<BlockNumberFor<T>>) -> u64 {
			let now = frame_system::Pallet::<T>::block_number();
			// Valid through block `work.block + WorkValidity`; validated against block `now - 1`.
			work.block
				.saturating_add(T::WorkValidity::get())
				.saturating_sub(now)
				.saturating_add(One::one())
				.saturated_into()
		}

		/// The cooldown window of block `n`.
		pub(crate) fn window(n: BlockNumberFor<T>) -> BlockNumberFor<T> {
			n / T::Cooldown::get()
		}

		/// The payout period of block `n`.
		pub(crate) fn period(n: BlockNumberFor<T>) -> BlockNumberFor<T> {
			n / T::CapPeriod::get()
		}

		/// Claims paid so far in block `now`.
		fn claims_in_block(now: BlockNumberFor<T>) -> u32 {
			let (block, count) = ClaimsInBlock::<T>::get();
			if block == now {
				count
			} else {
				0
			}
		}

		/// Paid so far in the period of block `now`.
		fn paid_in_period(now: BlockNumberFor<T>) -> BalanceOf<T> {
			let (period, paid) = PaidInPeriod::<T>::get();
			if period == Self::period(now) {
				paid
			} else {
				Zero::zero()
			}
		}

		/// The faucet's invariants at block `now`: the counters are within their limits, and
		/// every claim record lies in the window of its block, between the oldest window not yet
		/// deleted and the current one.
		#[cfg(any(feature = "try-runtime", test))]
		pub fn do_try_state(now: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			ensure!(Self::claims_in_block(now) <= T::MaxClaimsPerBlock::get(), "more claims than MaxClaimsPerBlock");
			ensure!(Self::paid_in_period(now) <= T::MaxPayoutPerPeriod::get(), "paid more than MaxPayoutPerPeriod");
			let (oldest, current) = (OldestWindow::<T>::get(), Self::window(now));
			for (window, _, block) in Claims::<T>::iter() {
				ensure!(Self::window(block) == window, "a claim recorded outside its block's window");
				ensure!(oldest <= window && window <= current, "a claim recorded outside the live windows");
			}
			Ok(())
		}
	}
}
