//! Benchmarks of the faucet's calls and of its `on_initialize` pruning.

use super::*;
use crate::pallet::{BalanceOf, Config, Pallet};
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Get, Hooks,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use sp_runtime::traits::{Hash, One, Saturating, Zero};

#[benchmarks]
mod benchmarks {
	use super::*;

	/// Worst case: the caller claimed in the previous window, so both windows are read and the
	/// cooldown checked; the block and period already paid claims, one short of their limits;
	/// the caller's account is created.
	#[benchmark]
	fn claim() {
		let caller: T::AccountId = whitelisted_caller();
		let amount = T::ClaimAmount::get();
		T::Currency::set_balance(&Pallet::<T>::pot(), amount.saturating_mul(10u32.into()));
		let cooldown = T::Cooldown::get();
		let now = cooldown.saturating_mul(2u32.into());
		Claims::<T>::insert(Pallet::<T>::window(cooldown), &caller, cooldown);
		frame_system::Pallet::<T>::set_block_number(now);
		ClaimsInBlock::<T>::put((now, T::MaxClaimsPerBlock::get().saturating_sub(1)));
		let paid: BalanceOf<T> = T::MaxPayoutPerPeriod::get().saturating_sub(amount);
		PaidInPeriod::<T>::put((Pallet::<T>::period(now), paid));
		let block = now.saturating_sub(One::one());
		let block_hash = T::Hashing::hash(b"the parent block");
		frame_system::BlockHash::<T>::insert(block, block_hash);
		let work = ClaimWork { block, nonce: Pallet::<T>::solve_work(&caller, &block_hash) };

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), work);

		assert_eq!(T::Currency::balance(&caller), amount);
	}

	#[benchmark]
	fn top_up() {
		let caller: T::AccountId = whitelisted_caller();
		let amount: BalanceOf<T> = T::ClaimAmount::get();
		T::Currency::set_balance(&caller, amount * 10u32.into());
		T::Currency::set_balance(&Pallet::<T>::pot(), amount);
		#[extrinsic_call]
		_(RawOrigin::Signed(caller), amount);
		assert_eq!(T::Currency::balance(&Pallet::<T>::pot()), amount * 2u32.into());
	}

	/// `on_initialize` deleting `n` claim records of an expired window, and moving on to the
	/// next window (`n` = 0 is also the bound for a block with nothing to delete).
	#[benchmark]
	fn prune(n: Linear<0, { T::MaxPrunePerBlock::get() }>) {
		let expired = BlockNumberFor::<T>::zero();
		for i in 0..n {
			Claims::<T>::insert(expired, account::<T::AccountId>("claimant", i, 0), expired);
		}
		let now = T::Cooldown::get().saturating_mul(2u32.into());

		#[block]
		{
			Pallet::<T>::on_initialize(now);
		}

		assert_eq!(Claims::<T>::iter_prefix(expired).count(), 0);
		assert_eq!(OldestWindow::<T>::get(), One::one());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
