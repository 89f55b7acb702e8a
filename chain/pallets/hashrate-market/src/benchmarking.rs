//! Benchmarks of every call, every path of `verify_pot` and of an expiry, and of the expiry
//! hook's scan, each on its worst case: full-length metadata, full validator sets, slashes that
//! move funds, an expiry backlog. The signer is the whitelisted caller where the call allows it,
//! as in polkadot-sdk's own pallets: its account is read and written by the fee payment anyway.

use super::*;
use crate::pallet::{BalanceOf, Config, ExpiryBacklog, Machines, Orders, Pallet, Validators};
use alloc::{vec, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{fungible::Mutate, EnsureOrigin, Get, Hooks},
	BoundedVec,
};
use frame_system::RawOrigin;
use sp_runtime::traits::{Bounded, Saturating, StaticLookup};

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

fn signed<T: Config>(who: &T::AccountId) -> T::RuntimeOrigin {
	RawOrigin::Signed(who.clone()).into()
}

fn lookup<T: Config>(who: &T::AccountId) -> crate::pallet::AccountIdLookupOf<T> {
	T::Lookup::unlookup(who.clone())
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

fn now<T: Config>() -> frame_system::pallet_prelude::BlockNumberFor<T> {
	frame_system::Pallet::<T>::block_number()
}

/// A machine listed by `owner` for the longest orders, with a deposit that covers their collateral.
fn listed_machine<T: Config>(id: MachineId, owner: &T::AccountId) {
	Pallet::<T>::add_machine(signed::<T>(owner), id, max_metadata()).expect("owner is funded");
	let largest_order = price::<T>().saturating_mul(T::MaxDurationHours::get().into());
	Pallet::<T>::add_deposit(signed::<T>(owner), id, largest_order).expect("owner is funded");
	Pallet::<T>::make_offer(signed::<T>(owner), id, price::<T>(), T::MaxDurationHours::get(), 1_000)
		.expect("valid offer");
}

/// `MACHINE`, listed by `owner`, after an order that ended: renting, delisting or removing it
/// reads that order to see that the machine is free.
fn machine_after_an_order<T: Config>(owner: &T::AccountId) {
	listed_machine::<T>(MACHINE, owner);
	let buyer = funded::<T>("earlier buyer", 0);
	Pallet::<T>::place_order(
		signed::<T>(&buyer),
		EARLIER_ORDER,
		lookup::<T>(owner),
		MACHINE,
		1,
		price::<T>(),
		max_metadata(),
	)
	.expect("earlier buyer is funded");
	Pallet::<T>::order_failed(signed::<T>(owner), EARLIER_ORDER, max_result()).expect("training order");
}

/// An order of `buyer` on `seller`'s `MACHINE`, for `hours`.
fn placed_order<T: Config>(seller: &T::AccountId, buyer: &T::AccountId, hours: u32) {
	listed_machine::<T>(MACHINE, seller);
	Pallet::<T>::place_order(
		signed::<T>(buyer),
		ORDER,
		lookup::<T>(seller),
		MACHINE,
		hours,
		price::<T>(),
		max_metadata(),
	)
	.expect("buyer is funded");
}

fn completed_order<T: Config>(seller: &T::AccountId, buyer: &T::AccountId) {
	placed_order::<T>(seller, buyer, 1);
	Pallet::<T>::order_completed(signed::<T>(seller), ORDER, max_result(), 1).expect("training order");
}

/// A full validator set, none of them a party to `ORDER`.
fn full_validator_set<T: Config>() {
	let validators: Vec<T::AccountId> = (0..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
	Validators::<T>::put(BoundedVec::try_from(validators).expect("MaxValidators entries"));
}

/// Runs the order's pending expiry (a panel draw) at its block.
fn expire_now<T: Config>() {
	let order = Orders::<T>::get(ORDER).expect("open order");
	frame_system::Pallet::<T>::set_block_number(order.expires_at);
	Pallet::<T>::expire_order(signed::<T>(&funded::<T>("anyone", 0)), ORDER).expect("due");
}

/// The validator whose round it is.
fn assignee<T: Config>() -> T::AccountId {
	Pallet::<T>::assignee(&Orders::<T>::get(ORDER).expect("open order")).expect("a panel was drawn")
}

/// A submitted proof whose panel was drawn from a full validator set; returns its first judge.
fn judged_pot<T: Config>() -> T::AccountId {
	let (seller, buyer) = (funded::<T>("seller", 0), funded::<T>("buyer", 0));
	completed_order::<T>(&seller, &buyer);
	Pallet::<T>::submit_pot(signed::<T>(&seller), ORDER, vec![b'p'; 1024]).expect("completed order");
	full_validator_set::<T>();
	expire_now::<T>();
	assignee::<T>()
}

/// A proof passed by its panel, in its dispute window.
fn verified_pot<T: Config>() {
	let validator = judged_pot::<T>();
	Pallet::<T>::verify_pot(signed::<T>(&validator), ORDER, Verdict::Pass).expect("assigned");
}

/// A verified proof disputed by `disputer` in the last block of its window (so that a dispute
/// that proves nothing settles the order: the dearest way it can end), whose panel was drawn;
/// returns its first judge.
fn judged_dispute<T: Config>(disputer: &T::AccountId) -> T::AccountId {
	verified_pot::<T>();
	let window_end = Orders::<T>::get(ORDER).expect("open order").expires_at;
	frame_system::Pallet::<T>::set_block_number(window_end.saturating_sub(1u32.into()));
	Pallet::<T>::dispute(signed::<T>(disputer), ORDER, 7).expect("in the dispute window");
	expire_now::<T>();
	assignee::<T>()
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
		Pallet::<T>::add_machine(signed::<T>(&owner), MACHINE, max_metadata()).expect("owner is funded");
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
	fn add_deposit() {
		let owner = funded_caller::<T>();
		Pallet::<T>::add_machine(signed::<T>(&owner), MACHINE, max_metadata()).expect("owner is funded");
		#[extrinsic_call]
		_(RawOrigin::Signed(owner), MACHINE, price::<T>());
		assert!(Machines::<T>::get(MACHINE).expect("exists").deposit > T::MachineDeposit::get());
	}

	#[benchmark]
	fn place_order() {
		let seller = funded::<T>("seller", 0);
		let buyer = funded_caller::<T>();
		machine_after_an_order::<T>(&seller);
		#[extrinsic_call]
		_(
			RawOrigin::Signed(buyer),
			ORDER,
			lookup::<T>(&seller),
			MACHINE,
			T::MaxDurationHours::get(),
			price::<T>(),
			max_metadata(),
		);
		assert!(Orders::<T>::contains_key(ORDER));
	}

	#[benchmark]
	fn renew_order() {
		let buyer = funded_caller::<T>();
		placed_order::<T>(&funded::<T>("seller", 0), &buyer, 1);
		let extra = T::MaxDurationHours::get() - 1;
		#[extrinsic_call]
		_(RawOrigin::Signed(buyer), ORDER, extra);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").duration_hours, T::MaxDurationHours::get());
	}

	#[benchmark]
	fn order_completed() {
		let seller = funded_caller::<T>();
		placed_order::<T>(&seller, &funded::<T>("buyer", 0), 1);
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, max_result(), u32::MAX);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::Completed);
	}

	/// Worst case: late in the rented time, so part of the collateral is slashed.
	#[benchmark]
	fn order_failed() {
		let seller = funded_caller::<T>();
		let buyer = funded::<T>("buyer", 0);
		placed_order::<T>(&seller, &buyer, 1);
		let deadline = Orders::<T>::get(ORDER).expect("placed").deadline;
		frame_system::Pallet::<T>::set_block_number(deadline);
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, max_result());
		assert!(!Orders::<T>::contains_key(ORDER));
	}

	#[benchmark]
	fn submit_pot() {
		let seller = funded_caller::<T>();
		completed_order::<T>(&seller, &funded::<T>("buyer", 0));
		#[extrinsic_call]
		_(RawOrigin::Signed(seller), ORDER, vec![b'p'; 1024]);
		assert_eq!(Orders::<T>::get(ORDER).expect("placed").status, OrderStatus::PotSubmitted);
	}

	/// A passing verdict opens the dispute window and moves the collateral into the machine's
	/// locked part.
	#[benchmark]
	fn verify_pot_pass() {
		let validator = judged_pot::<T>();
		#[block]
		{
			Pallet::<T>::verify_pot(signed::<T>(&validator), ORDER, Verdict::Pass).expect("assigned");
		}
		assert_eq!(Orders::<T>::get(ORDER).expect("open").status, OrderStatus::Verified);
	}

	/// A failing verdict refunds the buyer, pays them the collateral and delists the machine.
	#[benchmark]
	fn verify_pot_fail() {
		let validator = judged_pot::<T>();
		#[block]
		{
			Pallet::<T>::verify_pot(signed::<T>(&validator), ORDER, Verdict::Fail).expect("assigned");
		}
		assert!(!Orders::<T>::contains_key(ORDER));
	}

	/// A proven forgery: refund, collateral slashed and shared with the disputer, bond returned,
	/// machine delisted.
	#[benchmark]
	fn verify_dispute_forged() {
		let validator = judged_dispute::<T>(&funded::<T>("disputer", 0));
		#[block]
		{
			Pallet::<T>::verify_pot(signed::<T>(&validator), ORDER, Verdict::Fail).expect("assigned");
		}
		assert!(!Orders::<T>::contains_key(ORDER));
	}

	/// A frivolous dispute: the bond goes to the seller, the order settles.
	#[benchmark]
	fn verify_dispute_honest() {
		let validator = judged_dispute::<T>(&funded::<T>("disputer", 0));
		#[block]
		{
			Pallet::<T>::verify_pot(signed::<T>(&validator), ORDER, Verdict::Pass).expect("assigned");
		}
		assert!(!Orders::<T>::contains_key(ORDER));
	}

	#[benchmark]
	fn dispute() {
		let disputer = funded_caller::<T>();
		verified_pot::<T>();
		#[extrinsic_call]
		_(RawOrigin::Signed(disputer), ORDER, u32::MAX);
		assert_eq!(Orders::<T>::get(ORDER).expect("open").status, OrderStatus::Disputed);
	}

	/// An order never delivered: refund, part of the collateral slashed, machine delisted.
	#[benchmark]
	fn expire_no_show() {
		let caller = funded_caller::<T>();
		placed_order::<T>(&funded::<T>("seller", 0), &funded::<T>("buyer", 0), T::MaxDurationHours::get());
		frame_system::Pallet::<T>::set_block_number(Orders::<T>::get(ORDER).expect("placed").expires_at);
		#[block]
		{
			Pallet::<T>::expire_order(signed::<T>(&caller), ORDER).expect("due");
		}
		assert!(!Orders::<T>::contains_key(ORDER));
	}

	/// A panel drawn from a full validator set.
	#[benchmark]
	fn expire_draw() {
		let caller = funded_caller::<T>();
		let seller = funded::<T>("seller", 0);
		completed_order::<T>(&seller, &funded::<T>("buyer", 0));
		Pallet::<T>::submit_pot(signed::<T>(&seller), ORDER, vec![b'p'; 1024]).expect("completed order");
		full_validator_set::<T>();
		frame_system::Pallet::<T>::set_block_number(Orders::<T>::get(ORDER).expect("open").expires_at);
		#[block]
		{
			Pallet::<T>::expire_order(signed::<T>(&caller), ORDER).expect("due");
		}
		assert!(Orders::<T>::get(ORDER).expect("open").judging.is_some());
	}

	/// The dearest settlement: a dispute nobody judged returns the bond, then the seller is paid.
	#[benchmark]
	fn expire_settle() {
		let caller = funded_caller::<T>();
		judged_dispute::<T>(&funded::<T>("disputer", 0));
		frame_system::Pallet::<T>::set_block_number(Orders::<T>::get(ORDER).expect("open").expires_at);
		#[block]
		{
			Pallet::<T>::expire_order(signed::<T>(&caller), ORDER).expect("due");
		}
		assert!(!Orders::<T>::contains_key(ORDER));
	}

	#[benchmark]
	fn add_validator() -> Result<(), BenchmarkError> {
		let origin = T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let existing: Vec<T::AccountId> = (1..T::MaxValidators::get()).map(|i| account("validator", i, 0)).collect();
		Validators::<T>::put(BoundedVec::try_from(existing).expect("fewer than MaxValidators"));
		let validator: T::AccountId = account("validator", 0, 0);
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, lookup::<T>(&validator));
		assert!(Validators::<T>::get().contains(&validator));
		Ok(())
	}

	#[benchmark]
	fn remove_validator() -> Result<(), BenchmarkError> {
		let origin = T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		full_validator_set::<T>();
		let validator = Validators::<T>::get().last().expect("MaxValidators > 0").clone();
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, lookup::<T>(&validator));
		assert!(!Validators::<T>::get().contains(&validator));
		Ok(())
	}

	/// The hook's own work: `b` blocks looked at, an empty backlog before the current one, and
	/// the backlog cleared. Each entry handled adds the dearest `expire_*` weight on top.
	#[benchmark]
	fn expiry_scan(b: Linear<1, { MAX_BACKLOG_SCAN }>) {
		let block = now::<T>().saturating_add(MAX_BACKLOG_SCAN.into());
		if b > 1 {
			ExpiryBacklog::<T>::put(block.saturating_sub((b - 1).into()));
		}
		#[block]
		{
			Pallet::<T>::on_initialize(block);
		}
		assert_eq!(ExpiryBacklog::<T>::get(), None);
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
