//! Benchmarks of every call and of the expiry hook, each on its worst case: full-length
//! metadata, expiry queues full enough to spill through every block tried, full validator sets.

use super::*;
use crate::pallet::{BalanceOf, Config, ExpiryQueue, Machines, Orders, Pallet, Validators};
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, EnsureOrigin, Get, Hooks},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use sp_runtime::traits::{Bounded, One, Saturating};

const MACHINE: MachineId = [1; 16];
const ORDER: OrderId = [2; 16];

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 4u32.into());
	who
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

/// Fills the expiry queues from `from` on so that scheduling there must spill as far as it can.
fn fill_expiry_queues<T: Config>(from: BlockNumberFor<T>, blocks: u32) {
	let full: BoundedVec<OrderId, T::MaxExpiriesPerBlock> = (0..T::MaxExpiriesPerBlock::get())
		.map(|i| {
			let mut id = [0xee; 16];
			id[..4].copy_from_slice(&i.to_le_bytes());
			id
		})
		.collect::<Vec<_>>()
		.try_into()
		.expect("exactly MaxExpiriesPerBlock ids");
	let mut block = from;
	for _ in 0..blocks {
		ExpiryQueue::<T>::insert(block, full.clone());
		block = block.saturating_add(One::one());
	}
}

/// Leaves exactly one free slot in `at`'s queue, so removing `ORDER` scans a full queue.
fn crowd_queue<T: Config>(at: BlockNumberFor<T>) {
	ExpiryQueue::<T>::mutate(at, |queue| {
		let mut i = 0u32;
		while (queue.len() as u32) < T::MaxExpiriesPerBlock::get() {
			let mut id = [0xdd; 16];
			id[..4].copy_from_slice(&i.to_le_bytes());
			let _ = queue.try_push(id);
			i += 1;
		}
	});
}

fn listed_machine<T: Config>(id: MachineId, owner: &T::AccountId) {
	Pallet::<T>::add_machine(RawOrigin::Signed(owner.clone()).into(), id, max_metadata())
		.expect("owner is funded");
	Pallet::<T>::make_offer(
		RawOrigin::Signed(owner.clone()).into(),
		id,
		price::<T>(),
		T::MaxDurationHours::get(),
		1_000,
	)
	.expect("valid offer");
}

/// An order on `MACHINE`, with its expiry queue full of other orders.
fn placed_order<T: Config>() -> (T::AccountId, T::AccountId) {
	let seller = funded::<T>("seller", 0);
	let buyer = funded::<T>("buyer", 0);
	listed_machine::<T>(MACHINE, &seller);
	Pallet::<T>::place_order(
		RawOrigin::Signed(buyer.clone()).into(),
		ORDER,
		seller.clone(),
		MACHINE,
		1,
		max_metadata(),
	)
	.expect("buyer is funded");
	let expires_at = Orders::<T>::get(ORDER).expect("placed").expires_at;
	crowd_queue::<T>(expires_at);
	(seller, buyer)
}

fn completed_order<T: Config>() -> (T::AccountId, T::AccountId) {
	let (seller, buyer) = placed_order::<T>();
	Pallet::<T>::order_completed(RawOrigin::Signed(seller.clone()).into(), ORDER, max_result(), 1)
		.expect("training order");
	(seller, buyer)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn add_machine() {
		let owner = funded::<T>("owner", 0);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE, max_metadata());
		assert!(Machines::<T>::contains_key(MACHINE));
	}

	#[benchmark]
	fn remove_machine() {
		let owner = funded::<T>("owner", 0);
		listed_machine::<T>(MACHINE, &owner);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE);
		assert!(!Machines::<T>::contains_key(MACHINE));
	}

	/// Worst case: the deposit was slashed, so listing again tops it up.
	#[benchmark]
	fn make_offer() {
		let owner = funded::<T>("owner", 0);
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
		let owner = funded::<T>("owner", 0);
		listed_machine::<T>(MACHINE, &owner);
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE);
		assert!(Machines::<T>::get(MACHINE).expect("exists").offer.is_none());
	}

	#[benchmark]
	fn place_order() {
		let seller = funded::<T>("seller", 0);
		let buyer = funded::<T>("buyer", 0);
		listed_machine::<T>(MACHINE, &seller);
		let hours = T::MaxDurationHours::get();
		let due = frame_system::Pallet::<T>::block_number()
			.saturating_add(T::BlocksPerHour::get().saturating_mul(hours.into()))
			.saturating_add(T::CompletionGrace::get());
		fill_expiry_queues::<T>(due, EXPIRY_SPILL_BLOCKS - 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(buyer), ORDER, seller, MACHINE, hours, max_metadata());
		assert!(Orders::<T>::contains_key(ORDER));
	}

	#[benchmark]
	fn renew_order() {
		let (_, buyer) = placed_order::<T>();
		let order = Orders::<T>::get(ORDER).expect("placed");
		let extra = T::MaxDurationHours::get() - 1;
		let due = order
			.deadline
			.saturating_add(T::BlocksPerHour::get().saturating_mul(extra.into()))
			.saturating_add(T::CompletionGrace::get());
		fill_expiry_queues::<T>(due, EXPIRY_SPILL_BLOCKS - 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(buyer), ORDER, extra);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").duration_hours, T::MaxDurationHours::get());
	}

	#[benchmark]
	fn order_completed() {
		let (seller, _) = placed_order::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, max_result(), u32::MAX);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Completed);
	}

	#[benchmark]
	fn order_failed() {
		let (seller, _) = placed_order::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, max_result());
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Failed);
	}

	#[benchmark]
	fn submit_pot() {
		let (seller, _) = completed_order::<T>();
		let verify_by =
			frame_system::Pallet::<T>::block_number().saturating_add(T::VerificationWindow::get());
		fill_expiry_queues::<T>(verify_by, EXPIRY_SPILL_BLOCKS - 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, vec![b'p'; 1024]);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::PotSubmitted);
	}

	/// Worst case: a failing verdict refunds, slashes and delists, with a full validator set.
	#[benchmark]
	fn verify_pot() {
		let (seller, _) = completed_order::<T>();
		Pallet::<T>::submit_pot(RawOrigin::Signed(seller).into(), ORDER, vec![b'p'; 1024])
			.expect("completed order");
		crowd_queue::<T>(Orders::<T>::get(ORDER).expect("placed").expires_at);
		let validators: Vec<T::AccountId> =
			(0..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
		let validator = validators.last().expect("MaxValidators > 0").clone();
		Validators::<T>::put(BoundedVec::try_from(validators).expect("MaxValidators entries"));
		#[extrinsic_call]
		_(RawOrigin::Signed(validator), ORDER, 0);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Rejected);
	}

	#[benchmark]
	fn add_validator() -> Result<(), BenchmarkError> {
		let origin = T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let existing: Vec<T::AccountId> =
			(1..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
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
		let validators: Vec<T::AccountId> =
			(0..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
		let validator = validators.last().expect("MaxValidators > 0").clone();
		Validators::<T>::put(BoundedVec::try_from(validators).expect("MaxValidators entries"));
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, validator.clone());
		assert!(!Validators::<T>::get().contains(&validator));
		Ok(())
	}

	/// `n` orders, each on its own machine, fall due in the same block.
	#[benchmark]
	fn on_initialize(n: Linear<0, { T::MaxExpiriesPerBlock::get() }>) {
		let seller = funded::<T>("seller", 0);
		let buyer = funded::<T>("buyer", 0);
		for i in 0..n {
			let mut machine_id = MACHINE;
			machine_id[..4].copy_from_slice(&i.to_le_bytes());
			let mut order_id = ORDER;
			order_id[..4].copy_from_slice(&i.to_le_bytes());
			listed_machine::<T>(machine_id, &seller);
			Pallet::<T>::place_order(
				RawOrigin::Signed(buyer.clone()).into(),
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
		assert_eq!(ExpiryQueue::<T>::get(due).len() as u32, n);
		#[block]
		{
			Pallet::<T>::on_initialize(due);
		}
		assert!(ExpiryQueue::<T>::get(due).is_empty());
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
