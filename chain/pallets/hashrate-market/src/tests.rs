use crate::{mock::*, pallet::*, types::*, Error, Event};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Inspect, InspectHold},
		Hooks,
	},
};
use sp_runtime::{traits::Dispatchable, DispatchError, DispatchResult};

const MACHINE: MachineId = [1; 16];
const ORDER: OrderId = [9; 16];
const SECOND_ORDER: OrderId = [8; 16];
const PRICE: Balance = 100;
const MAX_DURATION: u32 = 10;
const SEGMENT: u32 = 7;
/// What the two-hour order of `completed_order` and the stages after it costs, and the part of
/// the machine's deposit it puts at stake.
const TOTAL: Balance = 2 * PRICE;
const COLLATERAL: Balance = TOTAL / 2;
/// `NoShowSlash` of `COLLATERAL`.
const NO_SHOW: Balance = COLLATERAL / 5;

fn meta() -> Vec<u8> {
	br#"{"v":1}"#.to_vec()
}

fn origin(who: AccountId) -> RuntimeOrigin {
	RuntimeOrigin::signed(who)
}

fn free(who: AccountId) -> Balance {
	Balances::balance(&who)
}

fn held(who: AccountId) -> Balance {
	Balances::total_balance_on_hold(&who)
}

fn escrow_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::OrderEscrow.into(), &who)
}

fn deposit_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::MachineDeposit.into(), &who)
}

fn bond_held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::DisputeBond.into(), &who)
}

fn market_events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::HashrateMarket(event) => Some(event),
			_ => None,
		})
		.collect()
}

fn last_event() -> Event<Test> {
	market_events().pop().expect("the market emitted an event")
}

fn next_block() {
	run_to_block(System::block_number() + 1);
}

fn listed_machine() {
	assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
	assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 500));
}

/// `who` rents OWNER's `machine_id` for `hours`, accepting `PRICE` an hour.
fn place(who: AccountId, id: OrderId, machine_id: MachineId, hours: u32) -> DispatchResult {
	HashrateMarket::place_order(origin(who), id, OWNER, machine_id, hours, PRICE, meta())
}

fn placed_order(hours: u32) {
	listed_machine();
	assert_ok!(place(BUYER, ORDER, MACHINE, hours));
}

fn completed_order() {
	placed_order(2);
	assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 97));
}

fn submitted_pot() {
	completed_order();
	assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
}

/// A submitted proof whose panel the next block drew.
fn judged_pot() {
	submitted_pot();
	next_block();
}

/// A proof passed by the validator of the first round, who is returned.
fn verified_pot() -> AccountId {
	judged_pot();
	let validator = assignee();
	assert_ok!(HashrateMarket::verify_pot(origin(validator), ORDER, Verdict::Pass));
	validator
}

/// A verified proof disputed by `disputer`, whose dispute panel the next block drew. Returns the
/// validator who passed the proof.
fn disputed_by(disputer: AccountId) -> AccountId {
	let verifier = verified_pot();
	assert_ok!(HashrateMarket::dispute(origin(disputer), ORDER, SEGMENT));
	next_block();
	verifier
}

fn order() -> crate::pallet::OrderOf<Test> {
	Orders::<Test>::get(ORDER).expect("order exists")
}

fn machine() -> crate::pallet::MachineOf<Test> {
	Machines::<Test>::get(MACHINE).expect("machine exists")
}

fn judging() -> Judging<AccountId, u64> {
	order().judging.expect("a panel was drawn")
}

/// The validator whose round it is now.
fn assignee() -> AccountId {
	HashrateMarket::assignee(&order()).expect("someone is assigned")
}

/// The genesis validator that is not `validator`.
fn other_validator(validator: AccountId) -> AccountId {
	if validator == VALIDATOR {
		VALIDATOR_2
	} else {
		VALIDATOR
	}
}

/// Blocks in a judging round of an order that rents `hours`.
fn round_blocks(hours: u32) -> u64 {
	WINDOW + VERIFICATION_SHARE * (hours as u64 * BLOCKS_PER_HOUR)
}

fn assert_closed(id: OrderId) {
	assert!(Orders::<Test>::get(id).is_none(), "a closed order leaves storage");
	assert!(ExpiryQueue::<Test>::iter_keys().all(|(_, queued)| queued != id), "and leaves the expiry queue");
}

/// Every open order is queued once, at its `expires_at`, and nothing else is.
fn assert_queue_holds_exactly_the_open_orders() {
	let mut queued: Vec<(u64, OrderId)> = ExpiryQueue::<Test>::iter_keys().collect();
	let mut open: Vec<(u64, OrderId)> = Orders::<Test>::iter().map(|(id, order)| (order.expires_at, id)).collect();
	queued.sort();
	open.sort();
	assert_eq!(queued, open);
}

mod machines {
	use super::*;

	#[test]
	fn add_machine_holds_the_deposit() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
			assert_eq!(machine().owner, OWNER);
			assert_eq!(machine().deposit, DEPOSIT);
			assert_eq!(machine().locked, 0);
			assert_eq!(machine().offer, None);
			assert_eq!(machine().last_order, None);
			assert_eq!(
				last_event(),
				Event::MachineAdded {
					machine_id: MACHINE,
					owner: OWNER,
					deposit: DEPOSIT,
					metadata: meta().try_into().unwrap()
				}
			);
		});
	}

	#[test]
	fn add_machine_rejects_bad_input() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::add_machine(origin(OWNER), MACHINE, vec![]), Error::<Test>::EmptyMetadata);
			assert_noop!(
				HashrateMarket::add_machine(origin(OWNER), MACHINE, vec![b'x'; 2049]),
				Error::<Test>::MetadataTooLong
			);
			assert_noop!(
				HashrateMarket::add_machine(origin(POOR), MACHINE, meta()),
				Error::<Test>::InsufficientBalance
			);
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, vec![b'x'; 2048]));
			assert_noop!(HashrateMarket::add_machine(origin(OTHER), MACHINE, meta()), Error::<Test>::MachineExists);
			assert_noop!(HashrateMarket::add_machine(RuntimeOrigin::none(), [2; 16], meta()), DispatchError::BadOrigin);
		});
	}

	#[test]
	fn remove_machine_releases_the_deposit() {
		new_test_ext().execute_with(|| {
			listed_machine();
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
			assert_eq!(held(OWNER), 0);
			assert_eq!(free(OWNER), STARTING_BALANCE);
			assert!(Machines::<Test>::get(MACHINE).is_none());
			assert_eq!(
				last_event(),
				Event::MachineRemoved { machine_id: MACHINE, owner: OWNER, deposit_released: DEPOSIT }
			);
		});
	}

	#[test]
	fn remove_machine_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::remove_machine(origin(OWNER), MACHINE), Error::<Test>::UnknownMachine);
			placed_order(1);
			assert_noop!(HashrateMarket::remove_machine(origin(OTHER), MACHINE), Error::<Test>::NotOwner);
			assert_noop!(HashrateMarket::remove_machine(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_noop!(HashrateMarket::remove_machine(RuntimeOrigin::none(), MACHINE), DispatchError::BadOrigin);
		});
	}

	#[test]
	fn make_offer_lists_and_reprices() {
		new_test_ext().execute_with(|| {
			listed_machine();
			let offer = Offer { price_per_hour: PRICE, max_duration_hours: MAX_DURATION, disk_gb: 500 };
			assert_eq!(machine().offer, Some(offer));
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, 7, 3, 1));
			let offer = Offer { price_per_hour: 7, max_duration_hours: 3, disk_gb: 1 };
			assert_eq!(machine().offer, Some(offer.clone()));
			assert_eq!(last_event(), Event::OfferMade { machine_id: MACHINE, owner: OWNER, offer, deposit: DEPOSIT });
			assert_eq!(deposit_held(OWNER), DEPOSIT, "re-pricing holds nothing more");
		});
	}

	#[test]
	fn make_offer_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(
				HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, 1, 1),
				Error::<Test>::UnknownMachine
			);
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
			assert_noop!(HashrateMarket::make_offer(origin(OTHER), MACHINE, PRICE, 1, 1), Error::<Test>::NotOwner);
			assert_noop!(HashrateMarket::make_offer(origin(OWNER), MACHINE, 0, 1, 1), Error::<Test>::ZeroPrice);
			assert_noop!(
				HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, 0, 1),
				Error::<Test>::InvalidMaxDuration
			);
			assert_noop!(
				HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_HOURS + 1, 1),
				Error::<Test>::InvalidMaxDuration
			);
			assert_noop!(
				HashrateMarket::make_offer(RuntimeOrigin::none(), MACHINE, PRICE, 1, 1),
				DispatchError::BadOrigin
			);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_HOURS, 1));
		});
	}

	#[test]
	fn relisting_a_slashed_machine_needs_the_funds_to_top_its_deposit_up() {
		new_test_ext().execute_with(|| {
			judged_pot();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Fail));
			assert_eq!(machine().deposit, DEPOSIT - COLLATERAL);
			assert_ok!(Balances::force_set_balance(RuntimeOrigin::root(), OWNER, COLLATERAL - 1));
			assert_noop!(
				HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1),
				Error::<Test>::InsufficientBalance
			);
			assert_ok!(Balances::force_set_balance(RuntimeOrigin::root(), OWNER, COLLATERAL + 1));
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_eq!(machine().deposit, DEPOSIT);
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(free(OWNER), 1);
		});
	}

	#[test]
	fn cancel_offer_delists() {
		new_test_ext().execute_with(|| {
			listed_machine();
			assert_ok!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE));
			assert_eq!(machine().offer, None);
			assert_eq!(last_event(), Event::OfferCancelled { machine_id: MACHINE, owner: OWNER });
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::NotListed);
		});
	}

	#[test]
	fn cancel_offer_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::UnknownMachine);
			placed_order(1);
			assert_noop!(HashrateMarket::cancel_offer(origin(OTHER), MACHINE), Error::<Test>::NotOwner);
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_noop!(HashrateMarket::cancel_offer(RuntimeOrigin::none(), MACHINE), DispatchError::BadOrigin);
		});
	}

	#[test]
	fn the_machine_stays_rented_until_the_first_verdict() {
		new_test_ext().execute_with(|| {
			submitted_pot();
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_noop!(place(OTHER, SECOND_ORDER, MACHINE, 1), Error::<Test>::MachineRented);
			next_block();
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_ok!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE));
		});
	}

	#[test]
	fn add_deposit_raises_the_stake() {
		new_test_ext().execute_with(|| {
			listed_machine();
			assert_ok!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, 500));
			assert_eq!(machine().deposit, DEPOSIT + 500);
			assert_eq!(deposit_held(OWNER), DEPOSIT + 500);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT - 500);
			assert_eq!(
				last_event(),
				Event::DepositAdded { machine_id: MACHINE, owner: OWNER, amount: 500, deposit: DEPOSIT + 500 }
			);
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
			assert_eq!(
				last_event(),
				Event::MachineRemoved { machine_id: MACHINE, owner: OWNER, deposit_released: DEPOSIT + 500 }
			);
			assert_eq!(free(OWNER), STARTING_BALANCE);
			assert_eq!(held(OWNER), 0);
		});
	}

	#[test]
	fn add_deposit_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, 0), Error::<Test>::ZeroAmount);
			assert_noop!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, 1), Error::<Test>::UnknownMachine);
			listed_machine();
			assert_noop!(HashrateMarket::add_deposit(origin(OTHER), MACHINE, 1), Error::<Test>::NotOwner);
			assert_noop!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, 0), Error::<Test>::ZeroAmount);
			assert_noop!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, Balance::MAX), Error::<Test>::Overflow);
			assert_noop!(
				HashrateMarket::add_deposit(origin(OWNER), MACHINE, STARTING_BALANCE - DEPOSIT),
				Error::<Test>::InsufficientBalance
			);
			assert_noop!(HashrateMarket::add_deposit(RuntimeOrigin::none(), MACHINE, 1), DispatchError::BadOrigin);
			assert_ok!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, STARTING_BALANCE - DEPOSIT - 1));
		});
	}

	#[test]
	fn a_machine_whose_order_ended_can_be_rented_delisted_and_removed() {
		new_test_ext().execute_with(|| {
			placed_order(1);
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
			assert_eq!(machine().last_order, Some(ORDER), "kept, and read to tell the machine is free");
			assert_ok!(place(BUYER, SECOND_ORDER, MACHINE, 1));
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), SECOND_ORDER, vec![]));
			assert_ok!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE));
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
			assert_eq!(deposit_held(OWNER), 0);
		});
	}

	/// Closed orders leave storage, so their ids can be placed again: an order that reuses the
	/// id of a machine's last order, on another machine, must not make the first look rented.
	#[test]
	fn reusing_a_closed_orders_id_on_another_machine_does_not_rent_the_first() {
		new_test_ext().execute_with(|| {
			placed_order(1);
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
			let elsewhere: MachineId = [2; 16];
			assert_ok!(HashrateMarket::add_machine(origin(OTHER), elsewhere, meta()));
			assert_ok!(HashrateMarket::make_offer(origin(OTHER), elsewhere, PRICE, MAX_DURATION, 1));
			assert_ok!(HashrateMarket::place_order(origin(BUYER), ORDER, OTHER, elsewhere, 1, PRICE, meta()));
			assert_eq!(machine().last_order, Some(ORDER));
			assert_ok!(place(VALIDATOR, SECOND_ORDER, MACHINE, 1));
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), SECOND_ORDER, vec![]));
			assert_ok!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE));
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
		});
	}
}

mod orders {
	use super::*;

	#[test]
	fn place_order_holds_the_total_computed_on_chain() {
		new_test_ext().execute_with(|| {
			placed_order(3);
			let total = PRICE * 3;
			assert_eq!(escrow_held(BUYER), total);
			assert_eq!(free(BUYER), STARTING_BALANCE - total);
			let order = order();
			assert_eq!(order.status, OrderStatus::Training);
			assert_eq!(order.escrow, total);
			assert_eq!(order.collateral, total / 2);
			assert_eq!(order.price_per_hour, PRICE);
			assert_eq!(order.max_duration_hours, MAX_DURATION);
			assert_eq!(order.placed_at, 1);
			assert_eq!(order.deadline, 1 + 3 * BLOCKS_PER_HOUR);
			assert_eq!(order.expires_at, order.deadline + GRACE);
			assert_queue_holds_exactly_the_open_orders();
			assert_eq!(machine().last_order, Some(ORDER));
			assert_eq!(machine().locked, 0, "the collateral of the order in training is not locked");
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(
				last_event(),
				Event::OrderPlaced {
					order_id: ORDER,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					duration_hours: 3,
					price_per_hour: PRICE,
					total,
					collateral: total / 2,
					deadline: order.deadline,
					metadata: meta().try_into().unwrap(),
				}
			);
		});
	}

	#[test]
	fn place_order_errors() {
		new_test_ext().execute_with(|| {
			let place = |who, id, seller, machine_id, hours, max_price, metadata| {
				HashrateMarket::place_order(origin(who), id, seller, machine_id, hours, max_price, metadata)
			};
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, PRICE, meta()), Error::<Test>::UnknownMachine);
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, PRICE, meta()), Error::<Test>::NotListed);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_noop!(place(BUYER, ORDER, OTHER, MACHINE, 1, PRICE, meta()), Error::<Test>::WrongSeller);
			assert_noop!(place(OWNER, ORDER, OWNER, MACHINE, 1, PRICE, meta()), Error::<Test>::OwnMachine);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, PRICE - 1, meta()), Error::<Test>::PriceAboveLimit);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 0, PRICE, meta()), Error::<Test>::ZeroDuration);
			assert_noop!(
				place(BUYER, ORDER, OWNER, MACHINE, MAX_DURATION + 1, PRICE, meta()),
				Error::<Test>::DurationAboveOffer
			);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, PRICE, vec![]), Error::<Test>::EmptyMetadata);
			assert_noop!(
				place(BUYER, ORDER, OWNER, MACHINE, 1, PRICE, vec![b'x'; 2049]),
				Error::<Test>::MetadataTooLong
			);
			assert_noop!(place(POOR, ORDER, OWNER, MACHINE, 1, PRICE, meta()), Error::<Test>::InsufficientBalance);
			assert_noop!(
				HashrateMarket::place_order(RuntimeOrigin::none(), ORDER, OWNER, MACHINE, 1, PRICE, meta()),
				DispatchError::BadOrigin
			);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, Balance::MAX, MAX_DURATION, 1));
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 2, Balance::MAX, meta()), Error::<Test>::Overflow);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, Balance::MAX, meta()), Error::<Test>::CollateralTooLow);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_ok!(place(BUYER, ORDER, OWNER, MACHINE, 1, PRICE, meta()));
			assert_noop!(place(OTHER, ORDER, OWNER, MACHINE, 1, PRICE, meta()), Error::<Test>::OrderExists);
			assert_noop!(place(OTHER, SECOND_ORDER, OWNER, MACHINE, 1, PRICE, meta()), Error::<Test>::MachineRented);
		});
	}

	/// The buyer saw `PRICE` and signed an order with that limit; the seller's re-pricing landed
	/// first.
	#[test]
	fn a_seller_who_reprices_before_the_order_cannot_charge_above_the_buyers_limit() {
		new_test_ext().execute_with(|| {
			listed_machine();
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE * 3, MAX_DURATION, 500));
			assert_noop!(
				HashrateMarket::place_order(origin(BUYER), ORDER, OWNER, MACHINE, 2, PRICE, meta()),
				Error::<Test>::PriceAboveLimit
			);
			assert_eq!(held(BUYER), 0, "nothing held");
			assert_eq!(free(BUYER), STARTING_BALANCE);
			assert!(Orders::<Test>::get(ORDER).is_none());
			assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
			assert_eq!(machine().last_order, None);
		});
	}

	#[test]
	fn the_order_pays_the_offers_price_not_the_buyers_limit() {
		new_test_ext().execute_with(|| {
			listed_machine();
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE / 2, MAX_DURATION, 500));
			assert_ok!(HashrateMarket::place_order(origin(BUYER), ORDER, OWNER, MACHINE, 2, PRICE * 10, meta()));
			assert_eq!(order().price_per_hour, PRICE / 2);
			assert_eq!(order().escrow, PRICE);
			assert_eq!(escrow_held(BUYER), PRICE);
		});
	}

	#[test]
	fn renew_order_extends_at_the_snapshotted_price() {
		new_test_ext().execute_with(|| {
			placed_order(2);
			let first = order();
			// The owner re-prices: the open order keeps its price.
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE * 5, MAX_DURATION, 1));
			assert_ok!(HashrateMarket::renew_order(origin(BUYER), ORDER, 3));
			let renewed = order();
			assert_eq!(renewed.duration_hours, 5);
			assert_eq!(renewed.escrow, PRICE * 5);
			assert_eq!(renewed.collateral, PRICE * 5 / 2);
			assert_eq!(escrow_held(BUYER), PRICE * 5);
			assert_eq!(renewed.deadline, first.deadline + 3 * BLOCKS_PER_HOUR);
			assert_eq!(renewed.expires_at, renewed.deadline + GRACE);
			assert_queue_holds_exactly_the_open_orders();
			assert_eq!(
				last_event(),
				Event::OrderRenewed {
					order_id: ORDER,
					buyer: BUYER,
					extra_hours: 3,
					extra_amount: PRICE * 3,
					duration_hours: 5,
					escrow: PRICE * 5,
					collateral: PRICE * 5 / 2,
					deadline: renewed.deadline,
				}
			);
			// Nothing happens at the old expiry block.
			run_to_block(first.expires_at);
			assert_eq!(order().status, OrderStatus::Training);
			assert_eq!(escrow_held(BUYER), PRICE * 5);
		});
	}

	#[test]
	fn renewals_keep_the_max_duration_the_order_was_placed_at() {
		new_test_ext().execute_with(|| {
			placed_order(2);
			assert_eq!(order().max_duration_hours, MAX_DURATION);
			// The seller lowers the maximum: the open order may still grow to the one it was
			// placed at.
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, 1, 500));
			assert_ok!(HashrateMarket::renew_order(origin(BUYER), ORDER, MAX_DURATION - 2));
			assert_eq!(order().duration_hours, MAX_DURATION);
			assert_eq!(order().escrow, PRICE * MAX_DURATION as Balance);
			// Raising it later allows nothing more.
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_HOURS, 500));
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, 1), Error::<Test>::DurationAboveOffer);
		});
	}

	#[test]
	fn renew_order_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, 1), Error::<Test>::UnknownOrder);
			placed_order(2);
			assert_noop!(HashrateMarket::renew_order(origin(OTHER), ORDER, 1), Error::<Test>::NotBuyer);
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, 0), Error::<Test>::ZeroDuration);
			assert_noop!(
				HashrateMarket::renew_order(origin(BUYER), ORDER, MAX_DURATION - 1),
				Error::<Test>::DurationAboveOffer
			);
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, u32::MAX), Error::<Test>::Overflow);
			assert_noop!(HashrateMarket::renew_order(RuntimeOrigin::none(), ORDER, 1), DispatchError::BadOrigin);
			run_to_block(order().deadline);
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, 1), Error::<Test>::DeadlinePassed);
		});
		new_test_ext().execute_with(|| {
			completed_order();
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, 1), Error::<Test>::WrongOrderState);
		});
	}

	#[test]
	fn renew_order_needs_the_funds() {
		new_test_ext().execute_with(|| {
			listed_machine();
			assert_ok!(Balances::force_set_balance(RuntimeOrigin::root(), POOR, PRICE + 1));
			assert_ok!(place(POOR, ORDER, MACHINE, 1));
			assert_noop!(HashrateMarket::renew_order(origin(POOR), ORDER, 1), Error::<Test>::InsufficientBalance);
		});
	}

	#[test]
	fn renew_order_needs_the_deposit_to_cover_the_larger_collateral() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, 30, 1));
			// 20 hours put the whole deposit at stake.
			assert_ok!(place(BUYER, ORDER, MACHINE, 20));
			assert_eq!(order().collateral, DEPOSIT);
			assert_noop!(HashrateMarket::renew_order(origin(BUYER), ORDER, 1), Error::<Test>::CollateralTooLow);
			assert_ok!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, PRICE / 2));
			assert_ok!(HashrateMarket::renew_order(origin(BUYER), ORDER, 1));
			assert_eq!(order().collateral, DEPOSIT + PRICE / 2);
		});
	}

	#[test]
	fn order_completed_records_the_result() {
		new_test_ext().execute_with(|| {
			completed_order();
			let order = order();
			assert_eq!(order.status, OrderStatus::Completed);
			assert_eq!(order.score, Some(97));
			assert_eq!(order.result, Some(meta().try_into().unwrap()));
			assert_eq!(escrow_held(BUYER), TOTAL, "payment waits for the verdict");
			assert_eq!(
				last_event(),
				Event::OrderCompleted {
					order_id: ORDER,
					seller: OWNER,
					machine_id: MACHINE,
					score: 97,
					result: meta().try_into().unwrap()
				}
			);
		});
	}

	#[test]
	fn order_completed_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1), Error::<Test>::UnknownOrder);
			placed_order(1);
			assert_noop!(HashrateMarket::order_completed(origin(BUYER), ORDER, meta(), 1), Error::<Test>::NotSeller);
			assert_noop!(
				HashrateMarket::order_completed(origin(OWNER), ORDER, vec![b'x'; 1025], 1),
				Error::<Test>::MetadataTooLong
			);
			assert_noop!(
				HashrateMarket::order_completed(RuntimeOrigin::none(), ORDER, meta(), 1),
				DispatchError::BadOrigin
			);
			assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
			assert_noop!(
				HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1),
				Error::<Test>::WrongOrderState
			);
		});
	}

	#[test]
	fn order_failed_at_once_refunds_the_buyer_in_full_and_slashes_nothing() {
		for complete_first in [false, true] {
			new_test_ext().execute_with(|| {
				placed_order(4);
				if complete_first {
					assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
				}
				let expires_at = order().expires_at;
				assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, b"oom".to_vec()));
				assert_eq!(free(BUYER), STARTING_BALANCE);
				assert_eq!(held(BUYER), 0);
				assert_eq!(deposit_held(OWNER), DEPOSIT, "giving up at once costs nothing");
				assert_closed(ORDER);
				assert_eq!(machine().offer.map(|offer| offer.price_per_hour), Some(PRICE), "still listed");
				assert_ok!(place(OTHER, SECOND_ORDER, MACHINE, 1));
				assert_ok!(HashrateMarket::order_failed(origin(OWNER), SECOND_ORDER, vec![]));
				assert_eq!(
					market_events()[market_events().len() - 3],
					Event::OrderFailed {
						order_id: ORDER,
						seller: OWNER,
						buyer: BUYER,
						machine_id: MACHINE,
						refunded: PRICE * 4,
						slashed: 0,
						result: b"oom".to_vec().try_into().unwrap(),
					}
				);
				// Its expiry block comes and goes without effect.
				run_to_block(expires_at);
				assert_eq!(free(BUYER), STARTING_BALANCE);
				assert_eq!(deposit_held(OWNER), DEPOSIT);
			});
		}
	}

	/// A ten-hour order puts 500 at stake; not showing up costs `NoShowSlash` of it, 100.
	#[test]
	fn order_failed_slashes_the_no_show_share_in_proportion_to_the_rented_time_used() {
		let full = NO_SHOW_SLASH * (PRICE * 10 / 2);
		assert_eq!(full, 100);
		let deadline = 1 + 10 * BLOCKS_PER_HOUR;
		for (block, complete_first, slashed) in [
			(1, false, 0),
			(26, false, full / 4),
			(51, true, full / 2),
			(deadline, false, full),
			(deadline + 3, true, full),
		] {
			new_test_ext().execute_with(|| {
				placed_order(10);
				run_to_block(block);
				if complete_first {
					assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
				}
				assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
				assert_eq!(free(BUYER), STARTING_BALANCE + slashed, "at block {block}");
				assert_eq!(held(BUYER), 0);
				assert_eq!(deposit_held(OWNER), DEPOSIT - slashed);
				assert_eq!(machine().deposit, DEPOSIT - slashed);
				assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
				assert_closed(ORDER);
				assert_eq!(
					last_event(),
					Event::OrderFailed {
						order_id: ORDER,
						seller: OWNER,
						buyer: BUYER,
						machine_id: MACHINE,
						refunded: PRICE * 10,
						slashed,
						result: Default::default(),
					}
				);
			});
		}
	}

	#[test]
	fn order_failed_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]), Error::<Test>::UnknownOrder);
			submitted_pot();
			assert_noop!(HashrateMarket::order_failed(origin(BUYER), ORDER, vec![]), Error::<Test>::NotSeller);
			assert_noop!(
				HashrateMarket::order_failed(origin(OWNER), ORDER, vec![b'x'; 1025]),
				Error::<Test>::MetadataTooLong
			);
			assert_noop!(HashrateMarket::order_failed(RuntimeOrigin::none(), ORDER, vec![]), DispatchError::BadOrigin);
			assert_noop!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]), Error::<Test>::WrongOrderState);
			next_block();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_noop!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]), Error::<Test>::WrongOrderState);
		});
	}
}

mod collateral {
	use super::*;

	fn listed_for(max_duration_hours: u32) {
		assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
		assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, max_duration_hours, 500));
	}

	#[test]
	fn an_order_whose_collateral_exceeds_the_free_deposit_is_refused() {
		new_test_ext().execute_with(|| {
			listed_for(30);
			// 21 hours cost 2 100, half of which is more than the deposit.
			assert_noop!(place(BUYER, ORDER, MACHINE, 21), Error::<Test>::CollateralTooLow);
			assert_eq!(held(BUYER), 0);
			assert_ok!(place(BUYER, ORDER, MACHINE, 20));
			assert_eq!(order().collateral, DEPOSIT);
		});
	}

	#[test]
	fn add_deposit_lets_a_larger_order_through() {
		new_test_ext().execute_with(|| {
			listed_for(30);
			assert_noop!(place(BUYER, ORDER, MACHINE, 21), Error::<Test>::CollateralTooLow);
			assert_ok!(HashrateMarket::add_deposit(origin(OWNER), MACHINE, PRICE / 2));
			assert_ok!(place(BUYER, ORDER, MACHINE, 21));
			assert_eq!(order().collateral, DEPOSIT + PRICE / 2);
			assert_eq!(escrow_held(BUYER), PRICE * 21);
			assert_eq!(deposit_held(OWNER), DEPOSIT + PRICE / 2);
		});
	}

	#[test]
	fn the_collateral_of_an_order_in_its_dispute_window_is_not_available_to_the_next() {
		new_test_ext().execute_with(|| {
			listed_for(20);
			assert_ok!(place(BUYER, ORDER, MACHINE, 10));
			assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
			assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
			next_block();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_eq!(machine().locked, 500);
			assert_noop!(place(OTHER, SECOND_ORDER, MACHINE, 11), Error::<Test>::CollateralTooLow);
			assert_ok!(place(OTHER, SECOND_ORDER, MACHINE, 10));
		});
	}

	#[test]
	fn the_machine_serves_a_new_order_during_the_dispute_window_but_cannot_be_removed_until_it_settles() {
		new_test_ext().execute_with(|| {
			verified_pot();
			let order = order();
			assert_eq!(order.status, OrderStatus::Verified);
			assert_eq!(machine().locked, COLLATERAL);
			assert_ok!(place(OTHER, SECOND_ORDER, MACHINE, 2));
			assert_eq!(machine().last_order, Some(SECOND_ORDER));
			assert_noop!(HashrateMarket::remove_machine(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), SECOND_ORDER, vec![]));
			assert_ok!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE));
			assert_noop!(HashrateMarket::remove_machine(origin(OWNER), MACHINE), Error::<Test>::CollateralLocked);
			run_to_block(order.expires_at);
			assert_closed(ORDER);
			assert_eq!(machine().locked, 0);
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
			assert_eq!(free(OWNER), STARTING_BALANCE + TOTAL);
			assert_eq!(held(OWNER), 0);
			assert_eq!(free(OTHER), STARTING_BALANCE);
			assert_eq!(free(BUYER), STARTING_BALANCE - TOTAL);
		});
	}

	/// An order of one hour at a price of one costs 1, and half of that rounds to nothing: the
	/// order must still keep its machine registered through its dispute window, or it could
	/// never settle.
	#[test]
	fn the_smallest_order_keeps_its_machine_until_it_settles() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, 1, MAX_DURATION, 500));
			assert_ok!(HashrateMarket::place_order(origin(BUYER), ORDER, OWNER, MACHINE, 1, 1, meta()));
			assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
			assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
			next_block();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_noop!(HashrateMarket::remove_machine(origin(OWNER), MACHINE), Error::<Test>::CollateralLocked);
			run_to_block(order().expires_at);
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + 1);
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
		});
	}
}

mod proof_of_training {
	use super::*;

	#[test]
	fn submit_pot_schedules_the_panel_draw_for_the_next_block() {
		new_test_ext().execute_with(|| {
			completed_order();
			run_to_block(3);
			assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
			let order = order();
			assert_eq!(order.status, OrderStatus::PotSubmitted);
			assert_eq!(order.proof, Some(b"root".to_vec().try_into().unwrap()));
			assert_eq!(order.seed_block, Some(3));
			assert_eq!(order.judging, None);
			assert_eq!(order.expires_at, 4);
			assert_queue_holds_exactly_the_open_orders();
			assert_eq!(
				last_event(),
				Event::PotSubmitted {
					order_id: ORDER,
					seller: OWNER,
					machine_id: MACHINE,
					proof: b"root".to_vec().try_into().unwrap(),
					challenge_block: 3,
				}
			);
		});
	}

	#[test]
	fn submit_pot_errors() {
		new_test_ext().execute_with(|| {
			let submit = |who, proof: &[u8]| HashrateMarket::submit_pot(origin(who), ORDER, proof.to_vec());
			assert_noop!(submit(OWNER, b"root"), Error::<Test>::UnknownOrder);
			placed_order(1);
			assert_noop!(submit(OWNER, b"root"), Error::<Test>::WrongOrderState);
			assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
			assert_noop!(submit(BUYER, b"root"), Error::<Test>::NotSeller);
			assert_noop!(submit(OWNER, b""), Error::<Test>::EmptyProof);
			assert_noop!(submit(OWNER, &[b'x'; 1025]), Error::<Test>::ProofTooLong);
			assert_noop!(
				HashrateMarket::submit_pot(RuntimeOrigin::none(), ORDER, b"root".to_vec()),
				DispatchError::BadOrigin
			);
			assert_ok!(submit(OWNER, &[b'x'; 1024]));
			assert_noop!(submit(OWNER, b"root"), Error::<Test>::WrongOrderState);
		});
	}

	#[test]
	fn the_next_block_draws_a_panel_of_validators_with_a_round_each() {
		new_test_ext().execute_with(|| {
			submitted_pot();
			next_block();
			let judging = judging();
			let rounds = round_blocks(2);
			assert_eq!(rounds, WINDOW + 2);
			assert_eq!(judging.from, 2);
			assert_eq!(judging.round_blocks, rounds);
			let mut panel = judging.panel.clone().into_inner();
			assert_eq!(panel.len(), ROUNDS as usize);
			panel.sort();
			assert_eq!(panel, vec![VALIDATOR, VALIDATOR_2]);
			assert_eq!(order().expires_at, 2 + 2 * rounds);
			assert_queue_holds_exactly_the_open_orders();
			assert_eq!(
				last_event(),
				Event::PanelDrawn {
					order_id: ORDER,
					panel: judging.panel.clone(),
					from: 2,
					round_blocks: rounds,
					until: 2 + 2 * rounds,
				}
			);
			assert_eq!(assignee(), judging.panel[0]);
		});
	}

	#[test]
	fn expire_order_draws_the_panel_when_the_hook_has_not() {
		new_test_ext().execute_with(|| {
			submitted_pot();
			assert_noop!(HashrateMarket::expire_order(origin(OTHER), ORDER), Error::<Test>::NotDue);
			// The next block's hook has not reached the order (a backlog): nobody can judge it yet.
			System::set_block_number(2);
			assert_noop!(
				HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, Verdict::Pass),
				Error::<Test>::OrderOverdue
			);
			assert_ok!(HashrateMarket::expire_order(origin(OTHER), ORDER));
			assert!(matches!(last_event(), Event::PanelDrawn { from: 2, .. }));
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
		});
	}

	#[test]
	fn a_passing_verdict_opens_the_dispute_window_and_frees_the_machine() {
		new_test_ext().execute_with(|| {
			judged_pot();
			let validator = assignee();
			assert_ok!(HashrateMarket::verify_pot(origin(validator), ORDER, Verdict::Pass));
			let order = order();
			assert_eq!(order.status, OrderStatus::Verified);
			assert_eq!(order.verified_by, Some(validator));
			assert_eq!(order.judging, None);
			assert_eq!(order.expires_at, 2 + DISPUTE_WINDOW);
			assert_queue_holds_exactly_the_open_orders();
			assert_eq!(escrow_held(BUYER), TOTAL, "the payment waits for the dispute window");
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
			assert_eq!(machine().locked, COLLATERAL);
			assert_eq!(
				last_event(),
				Event::PotVerified {
					order_id: ORDER,
					validator,
					verdict: Verdict::Pass,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					refunded: 0,
					slashed: 0,
					dispute_until: Some(2 + DISPUTE_WINDOW),
				}
			);
			run_to_block(order.expires_at - 1);
			assert_eq!(self::order().status, OrderStatus::Verified);
			run_to_block(order.expires_at);
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL);
			assert_eq!(free(BUYER), STARTING_BALANCE - TOTAL);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(machine().locked, 0);
			assert!(machine().offer.is_some(), "an honest machine stays listed");
			assert_eq!(free(validator), STARTING_BALANCE);
			assert_eq!(
				last_event(),
				Event::OrderSettled { order_id: ORDER, buyer: BUYER, seller: OWNER, machine_id: MACHINE, paid: TOTAL }
			);
		});
	}

	#[test]
	fn a_failing_verdict_refunds_the_buyer_and_pays_them_the_whole_collateral() {
		new_test_ext().execute_with(|| {
			judged_pot();
			let validator = assignee();
			assert_ok!(HashrateMarket::verify_pot(origin(validator), ORDER, Verdict::Fail));
			assert_eq!(free(BUYER), STARTING_BALANCE + COLLATERAL);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT - COLLATERAL);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
			assert_eq!(free(validator), STARTING_BALANCE);
			assert_closed(ORDER);
			assert_eq!(machine().deposit, DEPOSIT - COLLATERAL);
			assert_eq!(machine().locked, 0);
			assert_eq!(machine().offer, None, "a machine caught cheating is delisted");
			let events = market_events();
			assert_eq!(events[events.len() - 2], Event::OfferCancelled { machine_id: MACHINE, owner: OWNER });
			assert_eq!(
				events[events.len() - 1],
				Event::PotVerified {
					order_id: ORDER,
					validator,
					verdict: Verdict::Fail,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					refunded: TOTAL,
					slashed: COLLATERAL,
					dispute_until: None,
				}
			);
			// Listing again tops the deposit back up.
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_eq!(machine().deposit, DEPOSIT);
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT - COLLATERAL);
		});
	}

	#[test]
	fn verify_pot_and_expire_order_are_charged_for_the_path_taken() {
		use crate::weights::WeightInfo;
		new_test_ext().execute_with(|| {
			submitted_pot();
			System::set_block_number(2);
			let info = HashrateMarket::expire_order(origin(OTHER), ORDER).unwrap();
			assert_eq!(info.actual_weight, Some(<() as WeightInfo>::expire_draw()));
			assert!(<() as WeightInfo>::expire_draw().all_lte(HashrateMarket::expiry_weight()));
			let info = HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass).unwrap();
			assert_eq!(info.actual_weight, Some(<() as WeightInfo>::verify_pot_pass()));
			assert!(<() as WeightInfo>::verify_pot_pass().all_lte(HashrateMarket::verify_pot_weight()));
		});
	}

	#[test]
	fn verify_pot_errors() {
		new_test_ext().execute_with(|| {
			let verify = |who, verdict| HashrateMarket::verify_pot(origin(who), ORDER, verdict);
			assert_noop!(verify(OTHER, Verdict::Pass), Error::<Test>::NotValidator);
			assert_noop!(verify(VALIDATOR, Verdict::Pass), Error::<Test>::UnknownOrder);
			completed_order();
			assert_noop!(verify(VALIDATOR, Verdict::Pass), Error::<Test>::WrongOrderState);
			assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
			assert_noop!(verify(VALIDATOR, Verdict::Pass), Error::<Test>::NotAssigned);
			assert_noop!(verify(VALIDATOR_2, Verdict::Fail), Error::<Test>::NotAssigned);
			assert_noop!(verify(OWNER, Verdict::Pass), Error::<Test>::NotValidator);
			assert_noop!(
				HashrateMarket::verify_pot(RuntimeOrigin::none(), ORDER, Verdict::Pass),
				DispatchError::BadOrigin
			);
			next_block();
			let validator = assignee();
			assert_noop!(verify(other_validator(validator), Verdict::Pass), Error::<Test>::NotAssigned);
			assert_noop!(verify(other_validator(validator), Verdict::Fail), Error::<Test>::NotAssigned);
			assert_ok!(verify(validator, Verdict::Pass));
			assert_noop!(verify(validator, Verdict::Fail), Error::<Test>::WrongOrderState);
			assert_noop!(verify(other_validator(validator), Verdict::Fail), Error::<Test>::WrongOrderState);
		});
	}

	#[test]
	fn the_next_panel_member_judges_once_the_first_round_has_passed() {
		new_test_ext().execute_with(|| {
			judged_pot();
			let judging = judging();
			let (first, second) = (judging.panel[0], judging.panel[1]);
			run_to_block(judging.from + judging.round_blocks - 1);
			assert_eq!(assignee(), first);
			assert_noop!(HashrateMarket::verify_pot(origin(second), ORDER, Verdict::Pass), Error::<Test>::NotAssigned);
			run_to_block(judging.from + judging.round_blocks);
			assert_eq!(assignee(), second);
			assert_noop!(HashrateMarket::verify_pot(origin(first), ORDER, Verdict::Pass), Error::<Test>::NotAssigned);
			assert_ok!(HashrateMarket::verify_pot(origin(second), ORDER, Verdict::Pass));
			assert_eq!(order().verified_by, Some(second));
		});
	}

	#[test]
	fn a_removed_validator_can_no_longer_judge_and_its_round_is_lost() {
		new_test_ext().execute_with(|| {
			judged_pot();
			let judging = judging();
			let (first, second) = (judging.panel[0], judging.panel[1]);
			assert_ok!(HashrateMarket::remove_validator(RuntimeOrigin::root(), first));
			assert_noop!(HashrateMarket::verify_pot(origin(first), ORDER, Verdict::Pass), Error::<Test>::NotValidator);
			assert_noop!(HashrateMarket::verify_pot(origin(second), ORDER, Verdict::Pass), Error::<Test>::NotAssigned);
			run_to_block(judging.from + judging.round_blocks);
			assert_ok!(HashrateMarket::verify_pot(origin(second), ORDER, Verdict::Fail));
			assert_closed(ORDER);
		});
	}

	#[test]
	fn an_unjudged_proof_stands_as_passed_and_the_seller_is_paid_after_the_dispute_window() {
		new_test_ext().execute_with(|| {
			judged_pot();
			let until = order().expires_at;
			assert_eq!(until, 2 + 2 * round_blocks(2));
			run_to_block(until - 1);
			assert_eq!(order().status, OrderStatus::PotSubmitted);
			assert_eq!(assignee(), judging().panel[1]);
			run_to_block(until);
			let order = order();
			assert_eq!(order.status, OrderStatus::Verified);
			assert_eq!(order.verified_by, None);
			assert_eq!(order.judging, None);
			assert_eq!(order.expires_at, until + DISPUTE_WINDOW);
			assert_eq!(machine().locked, COLLATERAL);
			assert_eq!(last_event(), Event::PotUnjudged { order_id: ORDER, dispute_until: until + DISPUTE_WINDOW });
			assert_queue_holds_exactly_the_open_orders();
			run_to_block(until + DISPUTE_WINDOW);
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL);
			assert_eq!(free(BUYER), STARTING_BALANCE - TOTAL);
			assert_eq!(held(BUYER), 0);
		});
	}

	#[test]
	fn with_no_eligible_validator_the_proof_is_unjudged_at_the_draw() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::remove_validator(RuntimeOrigin::root(), VALIDATOR));
			assert_ok!(HashrateMarket::remove_validator(RuntimeOrigin::root(), VALIDATOR_2));
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), BUYER));
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), OWNER));
			judged_pot();
			assert_eq!(order().status, OrderStatus::Verified);
			assert_eq!(order().expires_at, 2 + DISPUTE_WINDOW);
			assert_eq!(last_event(), Event::PotUnjudged { order_id: ORDER, dispute_until: 2 + DISPUTE_WINDOW });
			assert!(!market_events().iter().any(|event| matches!(event, Event::PanelDrawn { .. })));
		});
	}
}

/// A party to an order never judges it, whoever the validators are and whatever the seed.
mod parties {
	use super::*;

	fn assert_refused_through_every_round(party: AccountId) {
		let judging = judging();
		assert!(!judging.panel.contains(&party), "a party is on the panel");
		for round in 0..judging.panel.len() as u64 {
			for block in
				[judging.from + round * judging.round_blocks, judging.from + (round + 1) * judging.round_blocks - 1]
			{
				run_to_block(block);
				assert_ne!(assignee(), party);
				for verdict in [Verdict::Pass, Verdict::Fail] {
					assert_noop!(HashrateMarket::verify_pot(origin(party), ORDER, verdict), Error::<Test>::NotAssigned);
				}
			}
		}
	}

	#[test]
	fn a_buyer_who_is_a_validator_never_judges_their_order() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), BUYER));
			judged_pot();
			assert_refused_through_every_round(BUYER);
		});
	}

	#[test]
	fn a_seller_who_is_a_validator_never_judges_their_proof() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), OWNER));
			judged_pot();
			assert_refused_through_every_round(OWNER);
		});
	}

	#[test]
	fn a_party_who_is_the_only_other_validator_leaves_a_panel_of_one() {
		new_test_ext().execute_with(|| {
			assert_ok!(HashrateMarket::remove_validator(RuntimeOrigin::root(), VALIDATOR_2));
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), OWNER));
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), BUYER));
			judged_pot();
			assert_eq!(judging().panel.into_inner(), vec![VALIDATOR]);
			assert_eq!(order().expires_at, 2 + round_blocks(2), "one round");
			assert_refused_through_every_round(OWNER);
			assert_noop!(HashrateMarket::verify_pot(origin(BUYER), ORDER, Verdict::Fail), Error::<Test>::NotAssigned);
		});
	}

	/// The panels drawn for 48 proofs, each under its own id and submitted in a block of its own
	/// (so from as many seeds), when `extra` are validators too; with a `disputer`, the panels
	/// of the disputes they raise once the proofs passed. Each with the validator who passed it.
	fn panels_drawn(extra: &[AccountId], disputer: Option<AccountId>) -> Vec<(Vec<AccountId>, Option<AccountId>)> {
		(0u8..48)
			.map(|i| {
				new_test_ext().execute_with(|| {
					for validator in extra {
						assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), *validator));
					}
					run_to_block(1 + (i as u64 * 7) % 31);
					let id = [i; 16];
					listed_machine();
					assert_ok!(place(BUYER, id, MACHINE, 1 + i as u32 % 3));
					assert_ok!(HashrateMarket::order_completed(origin(OWNER), id, meta(), 1));
					assert_ok!(HashrateMarket::submit_pot(origin(OWNER), id, vec![i]));
					next_block();
					let mut order = Orders::<Test>::get(id).unwrap();
					if let Some(disputer) = disputer {
						let validator = HashrateMarket::assignee(&order).unwrap();
						assert_ok!(HashrateMarket::verify_pot(origin(validator), id, Verdict::Pass));
						run_to_block(System::block_number() + i as u64 % 3);
						assert_ok!(HashrateMarket::dispute(origin(disputer), id, SEGMENT));
						next_block();
						order = Orders::<Test>::get(id).unwrap();
					}
					(order.judging.unwrap().panel.into_inner(), order.verified_by)
				})
			})
			.collect()
	}

	#[test]
	fn no_party_is_ever_drawn_whatever_the_seed() {
		for (party, other_party) in [(BUYER, OWNER), (OWNER, BUYER)] {
			let panels = panels_drawn(&[OTHER, party], None);
			for (panel, _) in &panels {
				assert_eq!(panel.len(), ROUNDS as usize);
				assert!(!panel.contains(&party) && !panel.contains(&other_party), "a party in {panel:?}");
			}
			let mut distinct: Vec<_> = panels.into_iter().map(|(panel, _)| panel).collect();
			distinct.sort();
			distinct.dedup();
			// Two of the three others, from a random start in the set: the seeds reach all three.
			assert_eq!(distinct.len(), 3, "the draw varies with the seed: {distinct:?}");
		}
		let panels = panels_drawn(&[BUYER, OWNER], None);
		assert!(panels.iter().all(|(panel, _)| !panel.contains(&BUYER) && !panel.contains(&OWNER)));
		assert!(panels.iter().any(|(panel, _)| panel[0] == VALIDATOR));
		assert!(panels.iter().any(|(panel, _)| panel[0] == VALIDATOR_2));
	}

	#[test]
	fn neither_the_disputer_nor_the_validator_who_passed_the_proof_judges_the_dispute() {
		let mut verifiers = Vec::new();
		for (panel, verified_by) in panels_drawn(&[OTHER, BUYER], Some(OTHER)) {
			let verified_by = verified_by.expect("a validator passed it");
			let mut eligible = vec![VALIDATOR, VALIDATOR_2];
			eligible.retain(|validator| *validator != verified_by);
			let mut members = panel.clone();
			members.sort();
			assert_eq!(members, eligible, "verified by {verified_by}");
			verifiers.push(verified_by);
		}
		assert!(verifiers.contains(&OTHER), "the disputer had passed the proof in some draws");
		for (panel, verified_by) in panels_drawn(&[OTHER], Some(BUYER)) {
			let verified_by = verified_by.expect("a validator passed it");
			assert_eq!(panel.len(), 2);
			assert!(!panel.contains(&verified_by) && !panel.contains(&BUYER) && !panel.contains(&OWNER));
		}
	}
}

mod disputes {
	use super::*;

	#[test]
	fn dispute_holds_the_bond_and_the_next_block_draws_a_panel() {
		new_test_ext().execute_with(|| {
			let verifier = verified_pot();
			let window_end = order().expires_at;
			assert_eq!(window_end, System::block_number() + DISPUTE_WINDOW);
			assert_ok!(HashrateMarket::dispute(origin(OTHER), ORDER, SEGMENT));
			assert_eq!(bond_held(OTHER), DISPUTE_BOND);
			assert_eq!(free(OTHER), STARTING_BALANCE - DISPUTE_BOND);
			let order = order();
			assert_eq!(order.status, OrderStatus::Disputed);
			assert_eq!(
				order.dispute,
				Some(Dispute { disputer: OTHER, segment: SEGMENT, bond: DISPUTE_BOND, window_end })
			);
			assert_eq!(order.seed_block, Some(2));
			assert_eq!(order.expires_at, 3);
			assert_queue_holds_exactly_the_open_orders();
			assert_eq!(
				last_event(),
				Event::DisputeRaised { order_id: ORDER, disputer: OTHER, segment: SEGMENT, bond: DISPUTE_BOND }
			);
			next_block();
			let judging = judging();
			assert_eq!(judging.panel.clone().into_inner(), vec![other_validator(verifier)]);
			assert_eq!(judging.from, 3);
			assert_eq!(self::order().expires_at, 3 + round_blocks(2));
			assert_eq!(
				last_event(),
				Event::PanelDrawn {
					order_id: ORDER,
					panel: judging.panel,
					from: 3,
					round_blocks: round_blocks(2),
					until: 3 + round_blocks(2),
				}
			);
			assert_noop!(
				HashrateMarket::verify_pot(origin(verifier), ORDER, Verdict::Pass),
				Error::<Test>::NotAssigned
			);
		});
	}

	#[test]
	fn a_dispute_that_proves_a_forged_segment_refunds_the_buyer_and_rewards_the_disputer() {
		new_test_ext().execute_with(|| {
			let verifier = disputed_by(OTHER);
			let judge = assignee();
			assert_ok!(HashrateMarket::verify_pot(origin(judge), ORDER, Verdict::Fail));
			let reward = DISPUTE_REWARD * COLLATERAL;
			assert_eq!(reward, 50);
			assert_eq!(free(BUYER), STARTING_BALANCE + COLLATERAL - reward);
			assert_eq!(held(BUYER), 0);
			assert_eq!(free(OTHER), STARTING_BALANCE + reward, "the bond back and the reward");
			assert_eq!(held(OTHER), 0);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
			assert_eq!(deposit_held(OWNER), DEPOSIT - COLLATERAL);
			assert_eq!(free(judge), STARTING_BALANCE);
			assert_eq!(free(verifier), STARTING_BALANCE);
			assert_closed(ORDER);
			assert_eq!(machine().deposit, DEPOSIT - COLLATERAL);
			assert_eq!(machine().locked, 0);
			assert_eq!(machine().offer, None, "delisted");
			let events = market_events();
			assert_eq!(events[events.len() - 2], Event::OfferCancelled { machine_id: MACHINE, owner: OWNER });
			assert_eq!(
				events[events.len() - 1],
				Event::DisputeResolved {
					order_id: ORDER,
					validator: judge,
					verdict: Verdict::Fail,
					disputer: OTHER,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					refunded: TOTAL,
					slashed: COLLATERAL,
					reward,
					bond_forfeited: 0,
					dispute_until: None,
				}
			);
		});
	}

	#[test]
	fn a_buyer_who_proves_a_forgery_gets_the_whole_collateral() {
		new_test_ext().execute_with(|| {
			disputed_by(BUYER);
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Fail));
			assert_eq!(free(BUYER), STARTING_BALANCE + COLLATERAL);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT - COLLATERAL);
			assert_closed(ORDER);
		});
	}

	#[test]
	fn a_frivolous_dispute_pays_the_bond_to_the_seller_and_hands_back_the_window() {
		new_test_ext().execute_with(|| {
			disputed_by(OTHER);
			let window_end = order().dispute.expect("disputed").window_end;
			let judge = assignee();
			assert_ok!(HashrateMarket::verify_pot(origin(judge), ORDER, Verdict::Pass));
			assert_eq!(free(OTHER), STARTING_BALANCE - DISPUTE_BOND);
			assert_eq!(held(OTHER), 0);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + DISPUTE_BOND);
			assert_eq!(
				last_event(),
				Event::DisputeResolved {
					order_id: ORDER,
					validator: judge,
					verdict: Verdict::Pass,
					disputer: OTHER,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					refunded: 0,
					slashed: 0,
					reward: 0,
					bond_forfeited: DISPUTE_BOND,
					dispute_until: Some(window_end),
				}
			);
			// Open to disputes again for the rest of the window, with the escrow still held.
			let resumed = order();
			assert_eq!(
				(resumed.status, resumed.expires_at, resumed.dispute),
				(OrderStatus::Verified, window_end, None)
			);
			assert_eq!(escrow_held(BUYER), TOTAL);
			assert_queue_holds_exactly_the_open_orders();
			run_to_block(window_end);
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL + DISPUTE_BOND);
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(free(BUYER), STARTING_BALANCE - TOTAL);
			assert_eq!(held(BUYER), 0);
			assert_eq!(machine().locked, 0);
			assert!(machine().offer.is_some(), "an honest machine stays listed");
			assert_eq!(
				last_event(),
				Event::OrderSettled { order_id: ORDER, buyer: BUYER, seller: OWNER, machine_id: MACHINE, paid: TOTAL }
			);
		});
	}

	/// A frivolous dispute once the window has closed settles at once.
	#[test]
	fn a_frivolous_dispute_raised_at_the_end_of_the_window_settles() {
		new_test_ext().execute_with(|| {
			verified_pot();
			run_to_block(order().expires_at - 1);
			assert_ok!(HashrateMarket::dispute(origin(OTHER), ORDER, SEGMENT));
			next_block();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL + DISPUTE_BOND);
			assert_eq!(
				last_event(),
				Event::OrderSettled { order_id: ORDER, buyer: BUYER, seller: OWNER, machine_id: MACHINE, paid: TOTAL }
			);
		});
	}

	/// A seller who disputes its own proof from a second account, to have an honest segment
	/// judged and the window closed, only loses the bond: the buyer still disputes the forgery.
	#[test]
	fn a_sellers_own_dispute_cannot_close_the_window_before_the_buyer_disputes() {
		new_test_ext().execute_with(|| {
			disputed_by(OTHER);
			let window_end = order().dispute.expect("disputed").window_end;
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_eq!(order().status, OrderStatus::Verified);
			assert!(System::block_number() < window_end);
			assert_ok!(HashrateMarket::dispute(origin(BUYER), ORDER, SEGMENT + 1));
			next_block();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Fail));
			assert_closed(ORDER);
			assert_eq!(free(BUYER), STARTING_BALANCE + COLLATERAL);
			assert_eq!(free(OTHER), STARTING_BALANCE - DISPUTE_BOND);
			assert_eq!(deposit_held(OWNER), DEPOSIT - COLLATERAL);
		});
	}

	#[test]
	fn an_unjudged_dispute_returns_the_bond_and_hands_back_the_window() {
		new_test_ext().execute_with(|| {
			disputed_by(OTHER);
			let window_end = order().dispute.expect("disputed").window_end;
			let until = order().expires_at;
			assert!(until < window_end, "the mock's rounds end inside the window");
			run_to_block(until - 1);
			assert_eq!(order().status, OrderStatus::Disputed);
			run_to_block(until);
			assert_eq!(free(OTHER), STARTING_BALANCE);
			assert_eq!(held(OTHER), 0);
			assert_eq!(
				last_event(),
				Event::DisputeUnjudged {
					order_id: ORDER,
					disputer: OTHER,
					bond_returned: DISPUTE_BOND,
					dispute_until: Some(window_end)
				}
			);
			assert_eq!((order().status, order().expires_at), (OrderStatus::Verified, window_end));
			run_to_block(window_end);
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL);
			assert_eq!(free(BUYER), STARTING_BALANCE - TOTAL);
			assert_eq!(machine().locked, 0);
			assert_eq!(
				last_event(),
				Event::OrderSettled { order_id: ORDER, buyer: BUYER, seller: OWNER, machine_id: MACHINE, paid: TOTAL }
			);
		});
	}

	/// The only validator left to judge is the disputer: nobody can, and the dispute is
	/// unjudged when its panel is drawn.
	#[test]
	fn a_dispute_nobody_may_judge_is_unjudged_at_the_draw() {
		new_test_ext().execute_with(|| {
			let verifier = verified_pot();
			let window_end = order().expires_at;
			assert_ok!(HashrateMarket::dispute(origin(other_validator(verifier)), ORDER, SEGMENT));
			next_block();
			assert_eq!(free(other_validator(verifier)), STARTING_BALANCE, "the bond is back");
			assert_eq!((order().status, order().expires_at), (OrderStatus::Verified, window_end));
			run_to_block(window_end);
			assert_closed(ORDER);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL);
		});
	}

	#[test]
	fn dispute_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::dispute(origin(OTHER), ORDER, SEGMENT), Error::<Test>::UnknownOrder);
			submitted_pot();
			assert_noop!(HashrateMarket::dispute(origin(OTHER), ORDER, SEGMENT), Error::<Test>::WrongOrderState);
			next_block();
			assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
			assert_noop!(HashrateMarket::dispute(origin(OWNER), ORDER, SEGMENT), Error::<Test>::SellerCannotDispute);
			assert_noop!(HashrateMarket::dispute(origin(POOR), ORDER, SEGMENT), Error::<Test>::InsufficientBalance);
			assert_noop!(HashrateMarket::dispute(RuntimeOrigin::none(), ORDER, SEGMENT), DispatchError::BadOrigin);
			let window_ends = order().expires_at;
			run_to_block(window_ends - 1);
			assert_ok!(HashrateMarket::dispute(origin(OTHER), ORDER, SEGMENT));
			assert_noop!(HashrateMarket::dispute(origin(BUYER), ORDER, SEGMENT), Error::<Test>::WrongOrderState);
		});
		new_test_ext().execute_with(|| {
			verified_pot();
			// The window closed; the settlement waits for the hook or `expire_order`.
			System::set_block_number(order().expires_at);
			assert_noop!(HashrateMarket::dispute(origin(BUYER), ORDER, SEGMENT), Error::<Test>::OrderOverdue);
			assert_ok!(HashrateMarket::expire_order(origin(OTHER), ORDER));
			assert_noop!(HashrateMarket::dispute(origin(BUYER), ORDER, SEGMENT), Error::<Test>::UnknownOrder);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL);
		});
	}

	#[test]
	fn a_disputed_order_takes_a_verdict_only_from_its_dispute_panel() {
		new_test_ext().execute_with(|| {
			let verifier = disputed_by(OTHER);
			assert_noop!(
				HashrateMarket::verify_pot(origin(verifier), ORDER, Verdict::Fail),
				Error::<Test>::NotAssigned
			);
			assert_noop!(HashrateMarket::verify_pot(origin(OTHER), ORDER, Verdict::Fail), Error::<Test>::NotValidator);
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), OTHER));
			assert_noop!(HashrateMarket::verify_pot(origin(OTHER), ORDER, Verdict::Fail), Error::<Test>::NotAssigned);
			System::set_block_number(order().expires_at);
			assert_noop!(
				HashrateMarket::verify_pot(origin(other_validator(verifier)), ORDER, Verdict::Fail),
				Error::<Test>::OrderOverdue
			);
		});
	}
}

mod expiry {
	use super::*;

	fn no_show_expires_at_its_block(setup: fn()) {
		new_test_ext().execute_with(|| {
			setup();
			let due = order().expires_at;
			assert_eq!(due, 1 + 2 * BLOCKS_PER_HOUR + GRACE);
			assert_noop!(HashrateMarket::expire_order(origin(OTHER), ORDER), Error::<Test>::NotDue);
			run_to_block(due - 1);
			assert!(Orders::<Test>::get(ORDER).is_some(), "nothing happens before the due block");
			run_to_block(due);
			assert_closed(ORDER);
			assert_eq!(free(BUYER), STARTING_BALANCE + NO_SHOW);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT - NO_SHOW);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
			assert_eq!(machine().deposit, DEPOSIT - NO_SHOW);
			assert_eq!(machine().offer, None, "a machine that did not deliver is delisted");
			let events = market_events();
			assert_eq!(events[events.len() - 2], Event::OfferCancelled { machine_id: MACHINE, owner: OWNER });
			assert_eq!(
				events[events.len() - 1],
				Event::OrderExpired {
					order_id: ORDER,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					refunded: TOTAL,
					slashed: NO_SHOW
				}
			);
		});
	}

	#[test]
	fn a_training_order_past_deadline_and_grace_is_refunded_and_slashed() {
		no_show_expires_at_its_block(|| placed_order(2));
	}

	#[test]
	fn a_completed_order_without_proof_is_refunded_and_slashed() {
		no_show_expires_at_its_block(completed_order);
	}

	#[test]
	fn expire_order_refunds_an_overdue_order_at_once() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::expire_order(origin(OTHER), ORDER), Error::<Test>::UnknownOrder);
			placed_order(2);
			let due = order().expires_at;
			System::set_block_number(due - 1);
			assert_noop!(HashrateMarket::expire_order(origin(BUYER), ORDER), Error::<Test>::NotDue);
			assert_noop!(HashrateMarket::expire_order(RuntimeOrigin::none(), ORDER), DispatchError::BadOrigin);
			System::set_block_number(due);
			assert_ok!(HashrateMarket::expire_order(origin(OTHER), ORDER));
			assert_closed(ORDER);
			assert_eq!(free(BUYER), STARTING_BALANCE + NO_SHOW);
			assert_eq!(free(OTHER), STARTING_BALANCE, "the caller pays only the fee");
			assert_noop!(HashrateMarket::expire_order(origin(OTHER), ORDER), Error::<Test>::UnknownOrder);
			// The hook finds nothing left to do.
			run_to_block(due + 1);
			assert_eq!(free(BUYER), STARTING_BALANCE + NO_SHOW);
		});
	}

	/// An order whose expiry block has come but whose expiry waits in the backlog.
	fn overdue(setup: fn()) {
		setup();
		System::set_block_number(order().expires_at);
	}

	#[test]
	fn an_overdue_order_takes_no_result_proof_verdict_or_dispute() {
		new_test_ext().execute_with(|| {
			overdue(|| placed_order(1));
			assert_noop!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1), Error::<Test>::OrderOverdue);
		});
		new_test_ext().execute_with(|| {
			overdue(completed_order);
			assert_noop!(
				HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()),
				Error::<Test>::OrderOverdue
			);
		});
		new_test_ext().execute_with(|| {
			overdue(judged_pot);
			let last = judging().panel[1];
			assert_noop!(HashrateMarket::verify_pot(origin(last), ORDER, Verdict::Pass), Error::<Test>::OrderOverdue);
		});
		new_test_ext().execute_with(|| {
			overdue(|| {
				verified_pot();
			});
			assert_noop!(HashrateMarket::dispute(origin(BUYER), ORDER, SEGMENT), Error::<Test>::OrderOverdue);
		});
		new_test_ext().execute_with(|| {
			overdue(completed_order);
			// Giving up still refunds the buyer in full and pays the no-show share, as the expiry
			// would.
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
			assert_eq!(free(BUYER), STARTING_BALANCE + NO_SHOW);
		});
	}

	/// Every way an order closes removes it and its expiry entry.
	#[test]
	fn closed_orders_leave_storage_and_the_queue() {
		let closings: [fn(); 7] = [
			// settled after the dispute window
			|| {
				verified_pot();
				run_to_block(order().expires_at);
			},
			// rejected
			|| {
				judged_pot();
				assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Fail));
			},
			// failed
			|| {
				completed_order();
				assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
			},
			// expired
			|| {
				placed_order(1);
				run_to_block(order().expires_at);
			},
			// a forgery proven
			|| {
				disputed_by(OTHER);
				assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Fail));
			},
			// a frivolous dispute, then the rest of the window
			|| {
				disputed_by(OTHER);
				assert_ok!(HashrateMarket::verify_pot(origin(assignee()), ORDER, Verdict::Pass));
				run_to_block(order().expires_at);
			},
			// an unjudged dispute, then the rest of the window
			|| {
				disputed_by(OTHER);
				run_to_block(order().expires_at);
				run_to_block(order().expires_at);
			},
		];
		for close in closings {
			new_test_ext().execute_with(|| {
				close();
				assert_closed(ORDER);
				assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
				assert_eq!(held(BUYER), 0);
				assert_eq!(held(OTHER), 0);
				assert_eq!(machine().locked, 0);
				// The id may be used again.
				assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
				assert_ok!(place(BUYER, ORDER, MACHINE, 1));
			});
		}
	}

	/// One-hour orders (`[100 + i; 16]`) of `buyer` on OWNER's machines `[i; 16]` for `i` in
	/// `ids`, all placed now and so due in the same block.
	fn orders_due_together(buyer: AccountId, ids: core::ops::Range<u8>) -> Vec<OrderId> {
		ids.map(|i| {
			let (machine_id, order_id) = ([i; 16], [100 + i; 16]);
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), machine_id, meta()));
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), machine_id, PRICE, MAX_DURATION, 1));
			assert_ok!(place(buyer, order_id, machine_id, 1));
			order_id
		})
		.collect()
	}

	fn open_orders(ids: &[OrderId]) -> usize {
		ids.iter().filter(|id| Orders::<Test>::contains_key(*id)).count()
	}

	/// `NoShowSlash` of a one-hour order's collateral.
	const ONE_HOUR_NO_SHOW: Balance = PRICE / 2 / 5;

	#[test]
	fn a_burst_of_expiries_is_spread_over_the_next_blocks() {
		new_test_ext().execute_with(|| {
			let burst = orders_due_together(BUYER, 0..10);
			let due = 1 + BLOCKS_PER_HOUR + GRACE;
			assert_eq!(ExpiryQueue::<Test>::iter_prefix(due).count(), 10, "scheduling never refuses");
			run_to_block(due - 1);
			assert_eq!(open_orders(&burst), 10);
			let max = MAX_EXPIRIES as usize;
			for (block, open) in [(due, 10 - max), (due + 1, 10 - 2 * max), (due + 2, 0)] {
				run_to_block(block);
				assert_eq!(open_orders(&burst), open, "at most MaxExpiriesPerBlock a block");
				assert_queue_holds_exactly_the_open_orders();
			}
			assert_eq!(ExpiryBacklog::<Test>::get(), None, "caught up");
			assert_eq!(free(BUYER), STARTING_BALANCE + 10 * ONE_HOUR_NO_SHOW, "every order refunded and slashed");
		});
	}

	#[test]
	fn the_backlog_catches_up_over_empty_blocks_without_skipping_any() {
		new_test_ext().execute_with(|| {
			// 13 blocks' worth of expiries at once, then orders due while they drain: each
			// expires, none is skipped, and the backlog ends.
			let per_block = MAX_EXPIRIES as u8;
			let burst = orders_due_together(BUYER, 0..13 * per_block);
			let due = 1 + BLOCKS_PER_HOUR + GRACE;
			System::set_block_number(6);
			let later = orders_due_together(BUYER, 13 * per_block..13 * per_block + 2);
			let later_due = 6 + BLOCKS_PER_HOUR + GRACE;
			run_to_block(due + 12);
			assert_eq!(open_orders(&burst), 0);
			assert_eq!(open_orders(&later), 2, "still behind the burst");
			assert_eq!(Orders::<Test>::get(later[0]).unwrap().expires_at, later_due);
			run_to_block(due + 13);
			assert_eq!(open_orders(&later), 0);
			run_to_block(due + 13 + MAX_BACKLOG_SCAN as u64);
			assert_eq!(ExpiryBacklog::<Test>::get(), None, "the empty blocks were scanned");
			assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
			assert_eq!(free(BUYER), STARTING_BALANCE + 54 * ONE_HOUR_NO_SHOW);
		});
	}

	/// A buyer colluding with a seller places many orders due with an honest one, then has them
	/// failed at once (at no cost): their entries go, and the honest refund comes on time.
	#[test]
	fn failed_orders_leave_nothing_in_the_expiry_queue_to_delay_an_honest_refund() {
		new_test_ext().execute_with(|| {
			let flood = orders_due_together(OTHER, 10..40);
			placed_order(1);
			let due = order().expires_at;
			assert_eq!(ExpiryQueue::<Test>::iter_prefix(due).count(), 31);
			for id in &flood {
				assert_ok!(HashrateMarket::order_failed(origin(OWNER), *id, vec![]));
			}
			assert_eq!(ExpiryQueue::<Test>::iter_prefix(due).count(), 1);
			assert_queue_holds_exactly_the_open_orders();
			run_to_block(due);
			assert_closed(ORDER);
			assert_eq!(free(BUYER), STARTING_BALANCE + ONE_HOUR_NO_SHOW);
			assert_eq!(free(OTHER), STARTING_BALANCE, "the flood cost its buyer nothing");
			assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
		});
	}

	/// Orders that really expire with an honest one delay its refund by a block for each
	/// `MaxExpiriesPerBlock` of them, and each costs its colluding seller a no-show slash.
	#[test]
	fn a_flood_of_real_expiries_delays_an_honest_refund_by_at_most_a_few_blocks() {
		new_test_ext().execute_with(|| {
			let flood = orders_due_together(OTHER, 10..25);
			placed_order(1);
			let due = order().expires_at;
			assert_eq!(ExpiryQueue::<Test>::iter_prefix(due).count(), 16);
			let mut refunded_at = None;
			for block in due..due + 4 {
				run_to_block(block);
				assert_queue_holds_exactly_the_open_orders();
				if refunded_at.is_none() && Orders::<Test>::get(ORDER).is_none() {
					refunded_at = Some(block);
				}
			}
			let refunded_at = refunded_at.expect("refunded within four blocks");
			assert!(refunded_at < due + 16 / MAX_EXPIRIES as u64);
			assert_eq!(open_orders(&flood), 0);
			assert_eq!(free(BUYER), STARTING_BALANCE + ONE_HOUR_NO_SHOW);
			assert_eq!(free(OTHER), STARTING_BALANCE + 15 * ONE_HOUR_NO_SHOW);
			assert_eq!(deposit_held(OWNER), 16 * (DEPOSIT - ONE_HOUR_NO_SHOW), "each expiry slashed its machine");
		});
	}

	/// However long the backlog, the honest buyer need not wait for it.
	#[test]
	fn expire_order_refunds_an_honest_buyer_regardless_of_the_backlog() {
		new_test_ext().execute_with(|| {
			// Forty orders due a block before the honest one: at its block, the hook is still
			// working through them.
			let flood = orders_due_together(OTHER, 10..50);
			System::set_block_number(2);
			placed_order(1);
			let due = order().expires_at;
			assert_eq!(due, 1 + BLOCKS_PER_HOUR + GRACE + 1);
			run_to_block(due);
			assert_eq!(ExpiryBacklog::<Test>::get(), Some(due - 1));
			assert!(Orders::<Test>::contains_key(ORDER), "behind the backlog");
			assert_ok!(HashrateMarket::expire_order(origin(BUYER), ORDER));
			assert_closed(ORDER);
			assert_eq!(free(BUYER), STARTING_BALANCE + ONE_HOUR_NO_SHOW);
			assert_eq!(open_orders(&flood), 40 - 2 * MAX_EXPIRIES as usize);
			assert_queue_holds_exactly_the_open_orders();
			run_to_block(due + 10);
			assert_eq!(open_orders(&flood), 0);
			assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
		});
	}

	/// Whoever calls it, once the stage is due, without waiting for the hook.
	#[test]
	fn expire_order_moves_every_judging_stage_on_as_the_hook_would() {
		new_test_ext().execute_with(|| {
			judged_pot();
			let until = order().expires_at;
			System::set_block_number(until - 1);
			assert_noop!(HashrateMarket::expire_order(origin(OTHER), ORDER), Error::<Test>::NotDue);
			System::set_block_number(until);
			assert_ok!(HashrateMarket::expire_order(origin(OTHER), ORDER));
			assert_eq!(order().status, OrderStatus::Verified);
			assert_eq!(last_event(), Event::PotUnjudged { order_id: ORDER, dispute_until: until + DISPUTE_WINDOW });
			assert_queue_holds_exactly_the_open_orders();
		});
		new_test_ext().execute_with(|| {
			let verifier = verified_pot();
			assert_ok!(HashrateMarket::dispute(origin(OTHER), ORDER, SEGMENT));
			System::set_block_number(3);
			assert_ok!(HashrateMarket::expire_order(origin(OTHER), ORDER));
			assert_eq!(judging().panel.into_inner(), vec![other_validator(verifier)]);
			System::set_block_number(order().expires_at);
			assert_ok!(HashrateMarket::expire_order(origin(BUYER), ORDER));
			assert_eq!(order().status, OrderStatus::Verified, "the rest of the window is handed back");
			System::set_block_number(order().expires_at);
			assert_ok!(HashrateMarket::expire_order(origin(BUYER), ORDER));
			assert_closed(ORDER);
			assert_eq!(free(OTHER), STARTING_BALANCE);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + TOTAL);
			assert_eq!(
				last_event(),
				Event::OrderSettled { order_id: ORDER, buyer: BUYER, seller: OWNER, machine_id: MACHINE, paid: TOTAL }
			);
		});
	}

	#[test]
	fn on_initialize_weight_grows_with_the_orders_due() {
		new_test_ext().execute_with(|| {
			let idle = HashrateMarket::on_initialize(100);
			placed_order(1);
			let due = order().expires_at;
			let busy = HashrateMarket::on_initialize(due);
			assert!(busy.ref_time() > idle.ref_time());
		});
	}
}

mod validators {
	use super::*;

	#[test]
	fn root_manages_the_validator_set() {
		new_test_ext().execute_with(|| {
			assert_eq!(Validators::<Test>::get().into_inner(), vec![VALIDATOR, VALIDATOR_2]);
			assert_noop!(HashrateMarket::add_validator(origin(OTHER), OTHER), DispatchError::BadOrigin);
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), OTHER));
			assert_eq!(last_event(), Event::ValidatorAdded { validator: OTHER });
			assert_noop!(HashrateMarket::add_validator(RuntimeOrigin::root(), OTHER), Error::<Test>::AlreadyValidator);
			assert_ok!(HashrateMarket::add_validator(RuntimeOrigin::root(), OWNER));
			assert_noop!(HashrateMarket::add_validator(RuntimeOrigin::root(), BUYER), Error::<Test>::TooManyValidators);
			assert_noop!(HashrateMarket::remove_validator(origin(OTHER), OTHER), DispatchError::BadOrigin);
			assert_ok!(HashrateMarket::remove_validator(RuntimeOrigin::root(), VALIDATOR));
			assert_eq!(last_event(), Event::ValidatorRemoved { validator: VALIDATOR });
			assert_noop!(
				HashrateMarket::remove_validator(RuntimeOrigin::root(), VALIDATOR),
				Error::<Test>::NotValidator
			);
			assert_eq!(Validators::<Test>::get().into_inner(), vec![VALIDATOR_2, OTHER, OWNER]);
		});
	}
}

/// The market's invariants over random call sequences.
mod invariants {
	use super::*;
	use codec::Encode;
	use frame_support::storage::{with_transaction, TransactionOutcome};
	use proptest::prelude::*;
	use std::collections::BTreeMap;

	const ACCOUNTS: [AccountId; 6] = [OWNER, BUYER, VALIDATOR, OTHER, POOR, VALIDATOR_2];
	/// Longest offer the sequences list, in hours.
	const LONGEST: u32 = 12;

	#[derive(Debug, Clone, Copy)]
	enum SellerCall {
		Complete,
		Fail,
		Submit,
	}

	#[derive(Debug, Clone, Copy)]
	enum OwnerCall {
		Offer { price_per_hour: Balance, max_duration_hours: u32 },
		Cancel,
		Remove,
		AddDeposit(Balance),
	}

	#[derive(Debug, Clone)]
	enum Step {
		/// Any call, signed by anyone.
		Call {
			who: AccountId,
			call: crate::Call<Test>,
		},
		/// Validator management, by root.
		Root(crate::Call<Test>),
		/// A machine registered and listed by a funded account.
		AddMachine {
			who: AccountId,
			machine_id: MachineId,
			price_per_hour: Balance,
			max_duration_hours: u32,
		},
		/// An order on the `machine`th registered machine, naming its owner as the seller.
		Place {
			who: AccountId,
			id: OrderId,
			machine: u8,
			hours: u32,
			max_price: Balance,
		},
		/// A renewal of the `order`th open order by its buyer.
		Renew {
			order: u8,
			hours: u32,
		},
		/// A call of the `order`th open order's seller.
		BySeller {
			order: u8,
			call: SellerCall,
		},
		/// A call of the `machine`th registered machine's owner.
		ByOwner {
			machine: u8,
			call: OwnerCall,
		},
		/// The verdict of the validator assigned to the `order`th open order now.
		Judge {
			order: u8,
			verdict: Verdict,
		},
		/// A dispute of the `order`th open order.
		Dispute {
			who: AccountId,
			order: u8,
		},
		/// Moves the `order`th open order on as its parties would: completed, proven, judged
		/// with `verdict` (or the block advanced for its panel), disputed by `who`.
		Drive {
			order: u8,
			verdict: Verdict,
			who: AccountId,
		},
		Advance(u64),
	}

	fn account() -> impl Strategy<Value = AccountId> {
		prop::sample::select(ACCOUNTS.to_vec())
	}

	fn machine_id() -> impl Strategy<Value = MachineId> {
		(0u8..3).prop_map(|i| [i; 16])
	}

	fn order_id() -> impl Strategy<Value = OrderId> {
		(0u8..5).prop_map(|i| [100 + i; 16])
	}

	fn bytes() -> impl Strategy<Value = Vec<u8>> {
		prop_oneof![Just(vec![]), Just(meta()), Just(vec![b'x'; 3000])]
	}

	/// Mostly prices whose orders the deposit covers, and the smallest, whose collateral rounds
	/// to little.
	fn price() -> impl Strategy<Value = Balance> {
		prop_oneof![1 => Just(0), 2 => Just(1), 12 => 1..200u64, 1 => 200..1_000u64, 1 => Just(Balance::MAX)]
	}

	fn max_duration() -> impl Strategy<Value = u32> {
		prop_oneof![1 => Just(0), 16 => 1..=LONGEST, 1 => Just(MAX_HOURS + 1)]
	}

	fn amount() -> impl Strategy<Value = Balance> {
		prop_oneof![Just(0), 1..3_000u64, Just(STARTING_BALANCE), Just(Balance::MAX)]
	}

	fn verdict() -> impl Strategy<Value = Verdict> {
		prop_oneof![Just(Verdict::Fail), Just(Verdict::Pass)]
	}

	fn call() -> impl Strategy<Value = crate::Call<Test>> {
		use crate::Call;
		prop_oneof![
			(machine_id(), bytes()).prop_map(|(id, metadata)| Call::add_machine { id, metadata }),
			machine_id().prop_map(|id| Call::remove_machine { id }),
			(machine_id(), price(), max_duration(), any::<u32>()).prop_map(
				|(id, price_per_hour, max_duration_hours, disk_gb)| Call::make_offer {
					id,
					price_per_hour,
					max_duration_hours,
					disk_gb
				}
			),
			machine_id().prop_map(|id| Call::cancel_offer { id }),
			(machine_id(), amount()).prop_map(|(id, amount)| Call::add_deposit { id, amount }),
			(order_id(), account(), machine_id(), 0..=LONGEST + 1, price(), bytes()).prop_map(
				|(id, seller, machine_id, duration_hours, max_price_per_hour, metadata)| Call::place_order {
					id,
					seller,
					machine_id,
					duration_hours,
					max_price_per_hour,
					metadata
				}
			),
			(order_id(), prop_oneof![0..5u32, Just(u32::MAX)])
				.prop_map(|(order_id, duration_hours)| Call::renew_order { order_id, duration_hours }),
			(order_id(), bytes(), any::<u32>()).prop_map(|(order_id, metadata, score)| Call::order_completed {
				order_id,
				metadata,
				score
			}),
			(order_id(), bytes()).prop_map(|(order_id, metadata)| Call::order_failed { order_id, metadata }),
			(order_id(), bytes()).prop_map(|(order_id, proofsdata)| Call::submit_pot { order_id, proofsdata }),
			(order_id(), verdict()).prop_map(|(order_id, verdict)| Call::verify_pot { order_id, verdict }),
			(order_id(), any::<u32>()).prop_map(|(order_id, segment)| Call::dispute { order_id, segment }),
			order_id().prop_map(|order_id| Call::expire_order { order_id }),
			account().prop_map(|validator| Call::add_validator { validator }),
			account().prop_map(|validator| Call::remove_validator { validator }),
		]
	}

	fn owner_call() -> impl Strategy<Value = OwnerCall> {
		prop_oneof![
			6 => (price(), max_duration()).prop_map(|(price_per_hour, max_duration_hours)| OwnerCall::Offer {
				price_per_hour,
				max_duration_hours
			}),
			1 => Just(OwnerCall::Cancel),
			2 => Just(OwnerCall::Remove),
			1 => amount().prop_map(OwnerCall::AddDeposit),
		]
	}

	fn seller_call() -> impl Strategy<Value = SellerCall> {
		prop_oneof![3 => Just(SellerCall::Complete), 3 => Just(SellerCall::Submit), 1 => Just(SellerCall::Fail)]
	}

	fn step() -> impl Strategy<Value = Step> {
		prop_oneof![
			5 => (account(), call()).prop_map(|(who, call)| Step::Call { who, call }),
			1 => prop_oneof![
				account().prop_map(|validator| crate::Call::add_validator { validator }),
				account().prop_map(|validator| crate::Call::remove_validator { validator }),
			]
			.prop_map(Step::Root),
			3 => (prop::sample::select(vec![OWNER, OTHER, BUYER]), machine_id(), prop_oneof![1 => Just(1), 3 => 1..200u64], 1..=LONGEST).prop_map(
				|(who, machine_id, price_per_hour, max_duration_hours)| Step::AddMachine {
					who,
					machine_id,
					price_per_hour,
					max_duration_hours
				}
			),
			5 => (
				account(),
				order_id(),
				any::<u8>(),
				prop_oneof![3 => 1..=3u32, 1 => 1..=LONGEST],
				prop_oneof![3 => Just(Balance::MAX), 1 => 1..200u64]
			)
				.prop_map(|(who, id, machine, hours, max_price)| Step::Place { who, id, machine, hours, max_price }),
			2 => (any::<u8>(), prop_oneof![3 => 1..4u32, 1 => 1..=LONGEST])
				.prop_map(|(order, hours)| Step::Renew { order, hours }),
			8 => (any::<u8>(), seller_call()).prop_map(|(order, call)| Step::BySeller { order, call }),
			5 => (any::<u8>(), owner_call()).prop_map(|(machine, call)| Step::ByOwner { machine, call }),
			5 => (any::<u8>(), prop_oneof![3 => Just(Verdict::Pass), 2 => Just(Verdict::Fail)])
				.prop_map(|(order, verdict)| Step::Judge { order, verdict }),
			2 => (account(), any::<u8>()).prop_map(|(who, order)| Step::Dispute { who, order }),
			10 => (any::<u8>(), prop_oneof![3 => Just(Verdict::Pass), 2 => Just(Verdict::Fail)], account())
				.prop_map(|(order, verdict, who)| Step::Drive { order, verdict, who }),
			4 => prop_oneof![3 => 1..3u64, 1 => 1..40u64].prop_map(Step::Advance),
		]
	}

	/// The `index`th (modulo their number) open order, by id.
	fn nth_order(index: u8) -> Option<(OrderId, crate::pallet::OrderOf<Test>)> {
		let mut orders: Vec<_> = Orders::<Test>::iter().collect();
		orders.sort_by_key(|(id, _)| *id);
		(!orders.is_empty()).then(|| orders.swap_remove(index as usize % orders.len()))
	}

	/// The `index`th (modulo their number) registered machine, by id.
	fn nth_machine(index: u8) -> Option<(MachineId, crate::pallet::MachineOf<Test>)> {
		let mut machines: Vec<_> = Machines::<Test>::iter().collect();
		machines.sort_by_key(|(id, _)| *id);
		(!machines.is_empty()).then(|| machines.swap_remove(index as usize % machines.len()))
	}

	/// Dispatches the call; returns whether it succeeded (a failed call changes nothing).
	fn dispatch(origin: RuntimeOrigin, call: crate::Call<Test>) -> bool {
		RuntimeCall::HashrateMarket(call).dispatch(origin).is_ok()
	}

	/// Runs the step; returns whether it may have changed anything.
	fn run(step: &Step) -> bool {
		use crate::Call;
		match step.clone() {
			Step::Call { who, call } => dispatch(origin(who), call),
			Step::Root(call) => dispatch(RuntimeOrigin::root(), call),
			Step::AddMachine { who, machine_id: id, price_per_hour, max_duration_hours } => {
				dispatch(origin(who), Call::add_machine { id, metadata: meta() })
					| dispatch(origin(who), Call::make_offer { id, price_per_hour, max_duration_hours, disk_gb: 1 })
			},
			Step::Place { who, id, machine, hours, max_price } => {
				let Some((machine_id, machine)) = nth_machine(machine) else { return false };
				// Anyone but the owner.
				let who = if who == machine.owner { ACCOUNTS[who as usize % ACCOUNTS.len()] } else { who };
				let call = Call::place_order {
					id,
					seller: machine.owner,
					machine_id,
					duration_hours: hours,
					max_price_per_hour: max_price,
					metadata: meta(),
				};
				dispatch(origin(who), call)
			},
			Step::Renew { order, hours } => {
				let Some((order_id, order)) = nth_order(order) else { return false };
				dispatch(origin(order.buyer), Call::renew_order { order_id, duration_hours: hours })
			},
			Step::BySeller { order, call } => {
				let Some((order_id, order)) = nth_order(order) else { return false };
				let call = match call {
					SellerCall::Complete => Call::order_completed { order_id, metadata: meta(), score: 1 },
					SellerCall::Fail => Call::order_failed { order_id, metadata: vec![] },
					SellerCall::Submit => Call::submit_pot { order_id, proofsdata: b"root".to_vec() },
				};
				dispatch(origin(order.seller), call)
			},
			Step::ByOwner { machine, call } => {
				let Some((id, machine)) = nth_machine(machine) else { return false };
				let call = match call {
					OwnerCall::Offer { price_per_hour, max_duration_hours } => {
						Call::make_offer { id, price_per_hour, max_duration_hours, disk_gb: 1 }
					},
					OwnerCall::Cancel => Call::cancel_offer { id },
					OwnerCall::Remove => Call::remove_machine { id },
					OwnerCall::AddDeposit(amount) => Call::add_deposit { id, amount },
				};
				dispatch(origin(machine.owner), call)
			},
			Step::Judge { order, verdict } => {
				let Some((order_id, order)) = nth_order(order) else { return false };
				HashrateMarket::assignee(&order)
					.is_some_and(|validator| dispatch(origin(validator), Call::verify_pot { order_id, verdict }))
			},
			Step::Dispute { who, order } => {
				let Some((order_id, _)) = nth_order(order) else { return false };
				dispatch(origin(who), Call::dispute { order_id, segment: 0 })
			},
			Step::Drive { order, verdict, who } => {
				let Some((order_id, order)) = nth_order(order) else { return false };
				match order.status {
					OrderStatus::Training => {
						dispatch(origin(order.seller), Call::order_completed { order_id, metadata: meta(), score: 1 })
					},
					OrderStatus::Completed => {
						dispatch(origin(order.seller), Call::submit_pot { order_id, proofsdata: b"root".to_vec() })
					},
					OrderStatus::PotSubmitted | OrderStatus::Disputed => match HashrateMarket::assignee(&order) {
						Some(validator) => dispatch(origin(validator), Call::verify_pot { order_id, verdict }),
						None => {
							next_block();
							true
						},
					},
					OrderStatus::Verified => dispatch(origin(who), Call::dispute { order_id, segment: 0 }),
				}
			},
			Step::Advance(blocks) => {
				run_to_block(System::block_number() + blocks);
				true
			},
		}
	}

	/// The market's own invariants, and what the test sees: the issuance, and after a step
	/// that changed something, every account's holds and which machines are rented.
	fn check_invariants(issuance: Balance, changed: bool) {
		assert_eq!(Balances::total_issuance(), issuance, "issuance changed");
		HashrateMarket::do_try_state(System::block_number()).expect("the market's invariants hold");
		if !changed {
			return;
		}
		// What the market accounts for, by account and hold reason.
		let mut expected = BTreeMap::<(AccountId, Vec<u8>), Balance>::new();
		let key = |who: AccountId, reason: HoldReason| (who, RuntimeHoldReason::from(reason).encode());
		let mut occupied = Vec::new();
		for (_, order) in Orders::<Test>::iter() {
			assert!(order.escrow > 0);
			*expected.entry(key(order.buyer, HoldReason::OrderEscrow)).or_default() += order.escrow;
			if let Some(dispute) = &order.dispute {
				*expected.entry(key(dispute.disputer, HoldReason::DisputeBond)).or_default() += dispute.bond;
			}
			if order.status.occupies_machine() {
				occupied.push(order.machine_id);
			}
			if let Some(judging) = &order.judging {
				assert!(judging.panel.len() <= ROUNDS as usize);
				assert!(
					order.verified_by.is_none_or(|verifier| !judging.panel.contains(&verifier)),
					"the validator who passed a proof judges its dispute"
				);
				let mut members = judging.panel.clone().into_inner();
				members.sort();
				members.dedup();
				assert_eq!(members.len(), judging.panel.len(), "a validator has two rounds");
			}
		}
		for (machine_id, machine) in Machines::<Test>::iter() {
			*expected.entry(key(machine.owner, HoldReason::MachineDeposit)).or_default() += machine.deposit;
			// A machine is rented exactly while an open order on it awaits its first verdict.
			let removal = with_transaction(|| {
				TransactionOutcome::Rollback(Ok::<_, DispatchError>(HashrateMarket::remove_machine(
					origin(machine.owner),
					machine_id,
				)))
			})
			.unwrap();
			assert_eq!(
				removal == Err(Error::<Test>::MachineRented.into()),
				occupied.contains(&machine_id),
				"rented: {removal:?}"
			);
		}
		// Every account's holds, those of accounts the market no longer accounts for included.
		for who in ACCOUNTS {
			for hold in pallet_balances::Holds::<Test>::get(who) {
				assert_eq!(Some(hold.amount), expected.remove(&(who, hold.id.encode())), "{who} holds {hold:?}");
			}
		}
		assert!(expected.values().all(|amount| *amount == 0), "holds missing: {expected:?}");
	}

	/// Runs blocks until every order closed. Blocks in which nothing is due (no expiry entry and
	/// no backlog) change nothing but the block number, so they are skipped; each block that
	/// runs is checked as in `run_to_block`.
	fn close_every_order() {
		let start = System::block_number();
		// The current block's hash may seed a panel: record it.
		next_block();
		while let Some(next) = Orders::<Test>::iter_values().map(|order| order.expires_at).min() {
			let now = System::block_number();
			assert!(now < start + HORIZON, "an order never closed");
			if ExpiryBacklog::<Test>::get().is_none() && next > now + 1 {
				System::set_block_number(next - 1);
			}
			next_block();
		}
	}

	/// Enough blocks for any order to close once calls stop: a deadline and grace, or a panel
	/// draw, the longest judging rounds and a dispute window, plus the expiry backlog.
	const HORIZON: u64 = LONGEST as u64 * BLOCKS_PER_HOUR
		+ GRACE
		+ 1 + ROUNDS as u64 * (WINDOW + LONGEST as u64)
		+ DISPUTE_WINDOW
		+ 2 * MAX_BACKLOG_SCAN as u64;

	fn cases() -> u32 {
		std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(10_000)
	}

	proptest! {
		#![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

		#[test]
		fn random_call_sequences_hold_the_invariants(steps in prop::collection::vec(step(), 1..60)) {
			new_test_ext().execute_with(|| {
				let issuance = Balances::total_issuance();
				for step in &steps {
					let changed = run(step);
					check_invariants(issuance, changed);
				}
				close_every_order();
				check_invariants(issuance, true);
				assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
				for who in ACCOUNTS {
					assert_eq!(held(who), deposit_held(who), "only machine deposits stay held");
				}
			});
		}
	}
}
