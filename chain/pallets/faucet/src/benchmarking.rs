//! Benchmarks of the faucet's calls.

use super::*;
use crate::pallet::{BalanceOf, Config, Pallet};
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Get,
};
use frame_system::RawOrigin;

#[benchmarks]
mod benchmarks {
	use super::*;

	/// Worst case: the caller claimed before, so the cooldown is read and checked.
	#[benchmark]
	fn claim() {
		let caller: T::AccountId = whitelisted_caller();
		let pot_funds = T::ClaimAmount::get() * 10u32.into();
		T::Currency::set_balance(&Pallet::<T>::pot(), pot_funds);
		LastClaim::<T>::insert(&caller, frame_system::pallet_prelude::BlockNumberFor::<T>::from(0u32));
		frame_system::Pallet::<T>::set_block_number(T::Cooldown::get() + 1u32.into());
		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()));
		assert_eq!(T::Currency::balance(&caller), T::ClaimAmount::get());
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

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
