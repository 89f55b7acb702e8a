//! # Faucet
//!
//! Test tokens for anyone. `claim` pays `ClaimAmount` from the faucet's pot to the caller at most
//! once per `Cooldown` blocks, and to at most `MaxClaimsPerBlock` callers a block, which bounds how
//! fast fresh accounts can drain the pot. `top_up` lets anyone refill the pot.
//!
//! A new user has no balance, so they can pay neither a fee nor the storage of their nonce. An
//! eligible claim is therefore feeless (`#[pallet::feeless_if]`, honoured by
//! `pallet_skip_feeless_payment::SkipCheckIfFeeless` around the fee extension), and the runtime
//! checks nonces with [`CheckNonceOrFirstClaim`], which is `frame_system::CheckNonce` plus
//! admission of an eligible claim from an account that does not exist yet.

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

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate},
			tokens::Preservation,
		},
		PalletId,
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::traits::{AccountIdConversion, Saturating, Zero};

	pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		type Currency: Mutate<Self::AccountId>;

		/// Derives the pot's account.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Paid to each claim.
		#[pallet::constant]
		type ClaimAmount: Get<BalanceOf<Self>>;

		/// Blocks an account waits between two claims.
		#[pallet::constant]
		type Cooldown: Get<BlockNumberFor<Self>>;

		/// Most claims paid in one block.
		#[pallet::constant]
		type MaxClaimsPerBlock: Get<u32>;

		type WeightInfo: WeightInfo;
	}

	/// The block of each account's last claim.
	#[pallet::storage]
	pub type LastClaim<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, BlockNumberFor<T>>;

	/// Claims paid in the current block; reset at the start of each block.
	#[pallet::storage]
	pub type ClaimsThisBlock<T: Config> = StorageValue<_, u32, ValueQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		Claimed { who: T::AccountId, amount: BalanceOf<T>, next_claim_at: BlockNumberFor<T> },
		ToppedUp { who: T::AccountId, amount: BalanceOf<T>, pot: BalanceOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// This account claimed less than `Cooldown` blocks ago; see `LastClaim`.
		CoolingDown,
		/// The pot cannot pay a claim; ask someone to `top_up` the faucet.
		PotEmpty,
		/// This block's claims are used up; claim again in the next block.
		BlockLimitReached,
		/// A top-up must be above zero.
		ZeroAmount,
		/// The caller cannot pay the top-up and stay alive.
		InsufficientBalance,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(_: BlockNumberFor<T>) -> Weight {
			ClaimsThisBlock::<T>::kill();
			T::DbWeight::get().writes(1)
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Pays `ClaimAmount` from the pot to the caller. Free of fees when it would succeed.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::claim())]
		#[pallet::feeless_if(|origin: &OriginFor<T>| -> bool {
			ensure_signed(origin.clone()).is_ok_and(|who| Pallet::<T>::ensure_can_claim(&who).is_ok())
		})]
		pub fn claim(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::ensure_can_claim(&who)?;
			let amount = T::ClaimAmount::get();
			T::Currency::transfer(&Self::pot(), &who, amount, Preservation::Preserve)
				.map_err(|_| Error::<T>::PotEmpty)?;
			let now = frame_system::Pallet::<T>::block_number();
			LastClaim::<T>::insert(&who, now);
			ClaimsThisBlock::<T>::mutate(|claims| *claims = claims.saturating_add(1));
			Self::deposit_event(Event::Claimed { who, amount, next_claim_at: now.saturating_add(T::Cooldown::get()) });
			Ok(())
		}

		/// Moves `amount` from the caller into the pot.
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

		/// Whether a claim by `who` in this block would be paid.
		pub fn ensure_can_claim(who: &T::AccountId) -> Result<(), Error<T>> {
			if let Some(last) = LastClaim::<T>::get(who) {
				let now = frame_system::Pallet::<T>::block_number();
				ensure!(now >= last.saturating_add(T::Cooldown::get()), Error::<T>::CoolingDown);
			}
			ensure!(ClaimsThisBlock::<T>::get() < T::MaxClaimsPerBlock::get(), Error::<T>::BlockLimitReached);
			let spendable = T::Currency::reducible_balance(
				&Self::pot(),
				Preservation::Preserve,
				frame_support::traits::tokens::Fortitude::Polite,
			);
			ensure!(spendable >= T::ClaimAmount::get(), Error::<T>::PotEmpty);
			Ok(())
		}
	}
}
