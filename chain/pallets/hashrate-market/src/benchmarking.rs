//! Benchmarks of every call and of the expiry hook, each on its worst case: full-length
//! metadata, full validator sets, an expiry backlog. The signer is the whitelisted caller, as in
//! polkadot-sdk's own pallets: its account is read and written by the fee payment anyway.

use super::*;
use crate::pallet::{BalanceOf, Config, ExpiryBacklog, ExpiryQueue, Machines, Orders, Pallet, Validators};
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, EnsureOrigin, Get, Hooks},
	BoundedVec,
};
use frame_system::RawOrigin;
use sp_runtime::traits::{Bounded, Saturating};

const MACHINE: MachineId = [1; 16];
const ORDER: OrderId = [2; 16];
const EARLIER_ORDER: OrderId = [3; 16];

/// Funds `who` with a share of the balance range small enough for a thousand accounts to fit in
/// the total issuance.
fn fund<T: Config>(who: T::AccountId) -> T::AccountId {
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 1024u32.into());
	who
}

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	fund::<T>(account(name, index, 0))
}

/// The signer of the benchmarked call.
fn funded_caller<T: Config>() -> T::AccountId {
	fund::<T>(whitelisted_caller())
}

fn max_metadata() -> Vec<u8> {
	vec![b'm'; 2048]
}

fn max_result() -> Vec<u8> {
	vec![b'r'; 1024]
}

fn price<T: Config>() -> BalanceOf<T> {
	1_000u32.into()
}

fn listed_machine<T: Config>(id: MachineId, owner: &T::AccountId) {
	Pallet::<T>::add_machine(RawOrigin::Signed(owner.clone()).into(), id, max_metadata()).expect("owner is funded");
	Pallet::<T>::make_offer(
		RawOrigin::Signed(owner.clone()).into(),
		id,
		price::<T>(),
		T::MaxDurationHours::get(),
		1_000,
	)
	.expect("valid offer");
}

/// `MACHINE`, listed by `owner`, after an order that ended: renting, delisting or removing it
/// reads that order to see that the machine is free.
fn machine_after_an_order<T: Config>(owner: &T::AccountId) {
	listed_machine::<T>(MACHINE, owner);
	Pallet::<T>::place_order(
		RawOrigin::Signed(funded::<T>("earlier buyer", 0)).into(),
		EARLIER_ORDER,
		owner.clone(),
		MACHINE,
		1,
		max_metadata(),
	)
	.expect("earlier buyer is funded");
	Pallet::<T>::order_failed(RawOrigin::Signed(owner.clone()).into(), EARLIER_ORDER, max_result())
		.expect("training order");
}

/// An order of `buyer` on `seller`'s `MACHINE`.
fn placed_order<T: Config>(seller: &T::AccountId, buyer: &T::AccountId) {
	listed_machine::<T>(MACHINE, seller);
	Pallet::<T>::place_order(
		RawOrigin::Signed(buyer.clone()).into(),
		ORDER,
		seller.clone(),
		MACHINE,
		1,
		max_metadata(),
	)
	.expect("buyer is funded");
}

fn completed_order<T: Config>(seller: &T::AccountId, buyer: &T::AccountId) {
	placed_order::<T>(seller, buyer);
	Pallet::<T>::order_completed(RawOrigin::Signed(seller.clone()).into(), ORDER, max_result(), 1)
		.expect("training order");
}

/// A submitted proof, with a full validator set whose last member is the caller.
fn submitted_pot<T: Config>() -> T::AccountId {
	let (seller, buyer) = (funded::<T>("seller", 0), funded::<T>("buyer", 0));
	completed_order::<T>(&seller, &buyer);
	Pallet::<T>::submit_pot(RawOrigin::Signed(seller).into(), ORDER, vec![b'p'; 1024]).expect("completed order");
	let validator: T::AccountId = whitelisted_caller();
	let validators: Vec<T::AccountId> =
		(1..T::MaxValidators::get()).map(|i| account("validator", i, 0)).chain([validator.clone()]).collect();
	Validators::<T>::put(BoundedVec::try_from(validators).expect("MaxValidators entries"));
	validator
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn add_machine() {
		let owner = funded_caller::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE, max_metadata());
		assert!(Machines::<T>::contains_key(MACHINE));
	}

	#[benchmark]
	fn remove_machine() {
		let owner = funded_caller::<T>();
		machine_after_an_order::<T>(&owner);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE);
		assert!(!Machines::<T>::contains_key(MACHINE));
	}

	/// Worst case: the deposit was slashed, so listing again tops it up.
	#[benchmark]
	fn make_offer() {
		let owner = funded_caller::<T>();
		Pallet::<T>::add_machine(RawOrigin::Signed(owner.clone()).into(), MACHINE, max_metadata())
			.expect("owner is funded");
		Machines::<T>::mutate(MACHINE, |machine| {
			if let Some(machine) = machine {
				machine.deposit = machine.deposit / 2u32.into();
			}
		});
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE, price::<T>(), T::MaxDurationHours::get(), 1_000);
		assert!(Machines::<T>::get(MACHINE).expect("exists").offer.is_some());
	}

	#[benchmark]
	fn cancel_offer() {
		let owner = funded_caller::<T>();
		machine_after_an_order::<T>(&owner);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE);
		assert!(Machines::<T>::get(MACHINE).expect("exists").offer.is_none());
	}

	#[benchmark]
	fn place_order() {
		let seller = funded::<T>("seller", 0);
		let buyer = funded_caller::<T>();
		machine_after_an_order::<T>(&seller);
		#[extrinsic_call]
		_(RawOrigin::Signed(buyer), ORDER, seller, MACHINE, T::MaxDurationHours::get(), max_metadata());
		assert!(Orders::<T>::contains_key(ORDER));
	}

	#[benchmark]
	fn renew_order() {
		let buyer = funded_caller::<T>();
		placed_order::<T>(&funded::<T>("seller", 0), &buyer);
		let extra = T::MaxDurationHours::get() - 1;
		#[extrinsic_call]
		_(RawOrigin::Signed(buyer), ORDER, extra);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").duration_hours, T::MaxDurationHours::get());
	}

	#[benchmark]
	fn order_completed() {
		let seller = funded_caller::<T>();
		placed_order::<T>(&seller, &funded::<T>("buyer", 0));
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, max_result(), u32::MAX);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Completed);
	}

	#[benchmark]
	fn order_failed() {
		let seller = funded_caller::<T>();
		placed_order::<T>(&seller, &funded::<T>("buyer", 0));
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, max_result());
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Failed);
	}

	#[benchmark]
	fn submit_pot() {
		let seller = funded_caller::<T>();
		completed_order::<T>(&seller, &funded::<T>("buyer", 0));
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, vec![b'p'; 1024]);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::PotSubmitted);
	}

	/// A passing verdict pays the seller from the buyer's escrow.
	#[benchmark]
	fn verify_pot_pass() {
		let validator = submitted_pot::<T>();
		#[extrinsic_call]
		verify_pot(RawOrigin::Signed(validator), ORDER, 1);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Settled);
	}

	/// A failing verdict refunds the buyer, slashes the deposit to them and delists the machine.
	#[benchmark]
	fn verify_pot_fail() {
		let validator = submitted_pot::<T>();
		#[extrinsic_call]
		verify_pot(RawOrigin::Signed(validator), ORDER, 0);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Rejected);
	}

	#[benchmark]
	fn add_validator() -> Result<(), BenchmarkError> {
		let origin = T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let existing: Vec<T::AccountId> = (1..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
		Validators::<T>::put(BoundedVec::try_from(existing).expect("fewer than MaxValidators"));
		let validator: T::AccountId = account("validator", 0, 0);
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, validator.clone());
		assert!(Validators::<T>::get().contains(&validator));
		Ok(())
	}

	#[benchmark]
	fn remove_validator() -> Result<(), BenchmarkError> {
		let origin = T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let validators: Vec<T::AccountId> = (0..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
		let validator = validators.last().expect("MaxValidators > 0").clone();
		Validators::<T>::put(BoundedVec::try_from(validators).expect("MaxValidators entries"));
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, validator.clone());
		assert!(!Validators::<T>::get().contains(&validator));
		Ok(())
	}

	/// `n` orders, each of its own buyer on its own machine, fall due in the last of `b` blocks
	/// looked at: the first `b - 1` are an empty backlog.
	#[benchmark]
	fn on_initialize(n: Linear<0, { T::MaxExpiriesPerBlock::get() }>, b: Linear<1, { MAX_BACKLOG_SCAN }>) {
		let seller = funded::<T>("seller", 0);
		for i in 0..n {
			let buyer = funded::<T>("buyer", i);
			let mut machine_id = MACHINE;
			machine_id[..4].copy_from_slice(&i.to_le_bytes());
			let mut order_id = ORDER;
			order_id[..4].copy_from_slice(&i.to_le_bytes());
			listed_machine::<T>(machine_id, &seller);
			Pallet::<T>::place_order(
				RawOrigin::Signed(buyer).into(),
				order_id,
				seller.clone(),
				machine_id,
				1,
				max_metadata(),
			)
			.expect("buyer is funded");
		}
		let due = frame_system::Pallet::<T>::block_number()
			.saturating_add(T::BlocksPerHour::get())
			.saturating_add(T::CompletionGrace::get());
		assert_eq!(ExpiryQueue::<T>::iter_prefix(due).count() as u32, n);
		if b > 1 {
			ExpiryBacklog::<T>::put(due.saturating_sub((b - 1).into()));
		}
		#[block]
		{
			Pallet::<T>::on_initialize(due);
		}
		assert_eq!(ExpiryQueue::<T>::iter_prefix(due).count(), 0);
		assert_eq!(ExpiryBacklog::<T>::get(), None);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
