use crate::{mock::*, pallet::*, types::*, Error, Event};
use frame_support::{
	assert_noop, assert_ok,
	traits::{
		fungible::{Inspect, InspectHold},
		Hooks,
	},
};
use sp_runtime::{traits::Dispatchable, DispatchError};

const MACHINE: MachineId = [1; 16];
const ORDER: OrderId = [9; 16];
const PRICE: Balance = 100;
const MAX_DURATION: u32 = 10;

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

fn last_event() -> Event<Test> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::HashrateMarket(event) => Some(event),
			_ => None,
		})
		.last()
		.expect("the market emitted an event")
}

fn listed_machine() {
	assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
	assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 500));
}

fn placed_order(hours: u32) {
	listed_machine();
	assert_ok!(HashrateMarket::place_order(origin(BUYER), ORDER, OWNER, MACHINE, hours, meta()));
}

fn completed_order() {
	placed_order(2);
	assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 97));
}

fn submitted_pot() {
	completed_order();
	assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
}

fn order() -> crate::pallet::OrderOf<Test> {
	Orders::<Test>::get(ORDER).expect("order exists")
}

fn machine() -> crate::pallet::MachineOf<Test> {
	Machines::<Test>::get(MACHINE).expect("machine exists")
}

/// Rented means the latest order placed on the machine is open.
fn machine_rented() -> bool {
	machine().last_order.is_some_and(|id| !Orders::<Test>::get(id).expect("order exists").status.is_terminal())
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
			assert_eq!(machine().offer, None);
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
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_HOURS, 1));
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
		});
	}

	#[test]
	fn a_machine_whose_order_ended_can_be_rented_delisted_and_removed() {
		new_test_ext().execute_with(|| {
			placed_order(1);
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
			assert_eq!(machine().last_order, Some(ORDER), "kept, and read to tell the machine is free");
			assert_ok!(HashrateMarket::place_order(origin(BUYER), [8; 16], OWNER, MACHINE, 1, meta()));
			assert_noop!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE), Error::<Test>::MachineRented);
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), [8; 16], vec![]));
			assert_ok!(HashrateMarket::cancel_offer(origin(OWNER), MACHINE));
			assert_ok!(HashrateMarket::remove_machine(origin(OWNER), MACHINE));
			assert_eq!(deposit_held(OWNER), 0);
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
			assert_eq!(order.price_per_hour, PRICE);
			assert_eq!(order.deadline, 1 + 3 * BLOCKS_PER_HOUR);
			assert_eq!(order.expires_at, order.deadline + GRACE);
			assert!(ExpiryQueue::<Test>::contains_key(order.expires_at, ORDER));
			assert_eq!(machine().last_order, Some(ORDER));
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
					deadline: order.deadline,
					metadata: meta().try_into().unwrap(),
				}
			);
		});
	}

	#[test]
	fn place_order_errors() {
		new_test_ext().execute_with(|| {
			let place = |who, id, seller, machine_id, hours, metadata| {
				HashrateMarket::place_order(origin(who), id, seller, machine_id, hours, metadata)
			};
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, meta()), Error::<Test>::UnknownMachine);
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), MACHINE, meta()));
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, meta()), Error::<Test>::NotListed);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_noop!(place(BUYER, ORDER, OTHER, MACHINE, 1, meta()), Error::<Test>::WrongSeller);
			assert_noop!(place(OWNER, ORDER, OWNER, MACHINE, 1, meta()), Error::<Test>::OwnMachine);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 0, meta()), Error::<Test>::ZeroDuration);
			assert_noop!(
				place(BUYER, ORDER, OWNER, MACHINE, MAX_DURATION + 1, meta()),
				Error::<Test>::DurationAboveOffer
			);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, vec![]), Error::<Test>::EmptyMetadata);
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 1, vec![b'x'; 2049]), Error::<Test>::MetadataTooLong);
			assert_noop!(place(POOR, ORDER, OWNER, MACHINE, 1, meta()), Error::<Test>::InsufficientBalance);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, Balance::MAX, MAX_DURATION, 1));
			assert_noop!(place(BUYER, ORDER, OWNER, MACHINE, 2, meta()), Error::<Test>::Overflow);
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_ok!(place(BUYER, ORDER, OWNER, MACHINE, 1, meta()));
			assert_noop!(place(OTHER, ORDER, OWNER, MACHINE, 1, meta()), Error::<Test>::OrderExists);
			assert_noop!(place(OTHER, [8; 16], OWNER, MACHINE, 1, meta()), Error::<Test>::MachineRented);
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
			assert_eq!(escrow_held(BUYER), PRICE * 5);
			assert_eq!(renewed.deadline, first.deadline + 3 * BLOCKS_PER_HOUR);
			assert!(ExpiryQueue::<Test>::contains_key(renewed.expires_at, ORDER));
			assert_eq!(
				last_event(),
				Event::OrderRenewed {
					order_id: ORDER,
					buyer: BUYER,
					extra_hours: 3,
					extra_amount: PRICE * 3,
					duration_hours: 5,
					escrow: PRICE * 5,
					deadline: renewed.deadline,
				}
			);
			// Its entry at the old time is skipped.
			run_to_block(first.expires_at);
			assert_eq!(order().status, OrderStatus::Training);
			assert_eq!(escrow_held(BUYER), PRICE * 5);
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
			assert_ok!(HashrateMarket::place_order(origin(POOR), ORDER, OWNER, MACHINE, 1, meta()));
			assert_noop!(HashrateMarket::renew_order(origin(POOR), ORDER, 1), Error::<Test>::InsufficientBalance);
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
			assert_eq!(escrow_held(BUYER), PRICE * 2, "payment waits for the verdict");
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
			assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
			assert_noop!(
				HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1),
				Error::<Test>::WrongOrderState
			);
		});
	}

	#[test]
	fn order_failed_refunds_the_buyer_in_full() {
		for complete_first in [false, true] {
			new_test_ext().execute_with(|| {
				placed_order(4);
				if complete_first {
					assert_ok!(HashrateMarket::order_completed(origin(OWNER), ORDER, meta(), 1));
				}
				assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, b"oom".to_vec()));
				assert_eq!(free(BUYER), STARTING_BALANCE);
				assert_eq!(held(BUYER), 0);
				let order = order();
				assert_eq!(order.status, OrderStatus::Failed);
				assert_eq!(order.escrow, 0);
				assert!(!machine_rented(), "the machine is free");
				assert!(machine().offer.is_some(), "the machine is listed again");
				assert_eq!(
					last_event(),
					Event::OrderFailed {
						order_id: ORDER,
						seller: OWNER,
						buyer: BUYER,
						machine_id: MACHINE,
						refunded: PRICE * 4,
						result: b"oom".to_vec().try_into().unwrap(),
					}
				);
				// The order's expiry entry comes due later and changes nothing.
				run_to_block(order.expires_at);
				assert_eq!(self::order().status, OrderStatus::Failed);
				assert_eq!(free(BUYER), STARTING_BALANCE);
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
			assert_noop!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]), Error::<Test>::WrongOrderState);
		});
	}
}

mod proof_of_training {
	use super::*;

	#[test]
	fn submit_pot_opens_the_verification_window() {
		new_test_ext().execute_with(|| {
			completed_order();
			System::set_block_number(3);
			assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
			let order = order();
			assert_eq!(order.status, OrderStatus::PotSubmitted);
			assert_eq!(order.proof, Some(b"root".to_vec().try_into().unwrap()));
			assert_eq!(order.expires_at, 3 + WINDOW);
			assert!(ExpiryQueue::<Test>::contains_key(3 + WINDOW, ORDER));
			assert_eq!(
				last_event(),
				Event::PotSubmitted {
					order_id: ORDER,
					seller: OWNER,
					machine_id: MACHINE,
					proof: b"root".to_vec().try_into().unwrap(),
					verify_by: 3 + WINDOW,
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
			assert_ok!(submit(OWNER, &[b'x'; 1024]));
			assert_noop!(submit(OWNER, b"root"), Error::<Test>::WrongOrderState);
		});
	}

	#[test]
	fn a_passing_verdict_pays_the_seller() {
		new_test_ext().execute_with(|| {
			submitted_pot();
			let total = PRICE * 2;
			assert_ok!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 1));
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + total);
			assert_eq!(free(BUYER), STARTING_BALANCE - total);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(free(VALIDATOR), STARTING_BALANCE);
			let order = order();
			assert_eq!(order.status, OrderStatus::Settled);
			assert_eq!(order.escrow, 0);
			assert!(!machine_rented(), "the machine is free");
			assert!(machine().offer.is_some(), "an honest machine stays listed");
			assert_eq!(
				last_event(),
				Event::PotVerified {
					order_id: ORDER,
					validator: VALIDATOR,
					verdict: Verdict::Pass,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					paid: total,
					refunded: 0,
					slashed: 0,
				}
			);
			// The proof's expiry entry comes due later and refunds nothing.
			run_to_block(order.expires_at);
			assert_eq!(self::order().status, OrderStatus::Settled);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT + total);
		});
	}

	#[test]
	fn a_failing_verdict_refunds_the_buyer_and_slashes_the_deposit() {
		new_test_ext().execute_with(|| {
			submitted_pot();
			let slash = DEPOSIT / 2;
			assert_ok!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 0));
			assert_eq!(free(BUYER), STARTING_BALANCE + slash);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT - slash);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT);
			assert_eq!(order().status, OrderStatus::Rejected);
			assert_eq!(machine().deposit, DEPOSIT - slash);
			assert_eq!(machine().offer, None, "a machine caught cheating is delisted");
			assert!(!machine_rented(), "the machine is free");
			assert_eq!(
				last_event(),
				Event::PotVerified {
					order_id: ORDER,
					validator: VALIDATOR,
					verdict: Verdict::Fail,
					buyer: BUYER,
					seller: OWNER,
					machine_id: MACHINE,
					paid: 0,
					refunded: PRICE * 2,
					slashed: slash,
				}
			);
			// Listing again tops the deposit back up.
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), MACHINE, PRICE, MAX_DURATION, 1));
			assert_eq!(machine().deposit, DEPOSIT);
			assert_eq!(deposit_held(OWNER), DEPOSIT);
			assert_eq!(free(OWNER), STARTING_BALANCE - DEPOSIT - slash);
		});
	}

	#[test]
	fn verify_pot_errors() {
		new_test_ext().execute_with(|| {
			assert_noop!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 1), Error::<Test>::UnknownOrder);
			completed_order();
			assert_noop!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 1), Error::<Test>::WrongOrderState);
			assert_ok!(HashrateMarket::submit_pot(origin(OWNER), ORDER, b"root".to_vec()));
			assert_noop!(HashrateMarket::verify_pot(origin(OWNER), ORDER, 1), Error::<Test>::NotValidator);
			assert_noop!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 2), Error::<Test>::InvalidVerdict);
			assert_ok!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 1));
			assert_noop!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 0), Error::<Test>::WrongOrderState);
		});
	}
}

mod expiry {
	use super::*;

	fn expires_at_its_block(setup: fn(), expected: OrderStatus) {
		new_test_ext().execute_with(|| {
			setup();
			let due = order().expires_at;
			run_to_block(due - 1);
			assert!(!order().status.is_terminal(), "nothing happens before the due block");
			run_to_block(due);
			let order = order();
			assert_eq!(order.status, expected);
			assert_eq!(order.escrow, 0);
			assert_eq!(free(BUYER), STARTING_BALANCE);
			assert_eq!(held(BUYER), 0);
			assert_eq!(deposit_held(OWNER), DEPOSIT, "expiry slashes nobody");
			assert!(!machine_rented(), "the machine is free");
			assert_eq!(ExpiryQueue::<Test>::iter_prefix(due).count(), 0);
			let refunded = PRICE * order.duration_hours as Balance;
			let event = if expected == OrderStatus::PotExpired {
				Event::PotExpired { order_id: ORDER, buyer: BUYER, machine_id: MACHINE, refunded }
			} else {
				Event::OrderExpired { order_id: ORDER, buyer: BUYER, machine_id: MACHINE, refunded }
			};
			assert_eq!(last_event(), event);
		});
	}

	#[test]
	fn a_training_order_past_deadline_and_grace_is_refunded() {
		expires_at_its_block(|| placed_order(2), OrderStatus::Expired);
	}

	#[test]
	fn a_completed_order_without_proof_is_refunded() {
		expires_at_its_block(completed_order, OrderStatus::Expired);
	}

	#[test]
	fn an_unjudged_proof_is_refunded_after_the_window() {
		expires_at_its_block(submitted_pot, OrderStatus::PotExpired);
	}

	/// An order whose expiry block has come but whose refund waits in the backlog.
	fn overdue(setup: fn()) {
		setup();
		System::set_block_number(order().expires_at);
	}

	#[test]
	fn an_overdue_order_takes_no_result_proof_or_verdict() {
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
			overdue(submitted_pot);
			assert_noop!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 1), Error::<Test>::OrderOverdue);
		});
		new_test_ext().execute_with(|| {
			overdue(completed_order);
			// Giving up still refunds the buyer in full, as the expiry would.
			assert_ok!(HashrateMarket::order_failed(origin(OWNER), ORDER, vec![]));
			assert_eq!(free(BUYER), STARTING_BALANCE);
		});
	}

	/// One-hour orders on as many machines, all placed now and so due in the same block.
	fn orders_due_together(ids: core::ops::Range<u8>) -> Vec<OrderId> {
		ids.map(|i| {
			let (machine_id, order_id) = ([i; 16], [100 + i; 16]);
			assert_ok!(HashrateMarket::add_machine(origin(OWNER), machine_id, meta()));
			assert_ok!(HashrateMarket::make_offer(origin(OWNER), machine_id, PRICE, MAX_DURATION, 1));
			assert_ok!(HashrateMarket::place_order(origin(BUYER), order_id, OWNER, machine_id, 1, meta()));
			order_id
		})
		.collect()
	}

	fn open_orders(ids: &[OrderId]) -> usize {
		ids.iter().filter(|id| !Orders::<Test>::get(*id).unwrap().status.is_terminal()).count()
	}

	#[test]
	fn a_burst_of_expiries_is_spread_over_the_next_blocks() {
		new_test_ext().execute_with(|| {
			let burst = orders_due_together(0..10);
			let due = 1 + BLOCKS_PER_HOUR + GRACE;
			assert_eq!(ExpiryQueue::<Test>::iter_prefix(due).count(), 10, "scheduling never refuses");
			run_to_block(due - 1);
			assert_eq!(open_orders(&burst), 10);
			let max = MAX_EXPIRIES as usize;
			for (block, open) in [(due, 10 - max), (due + 1, 10 - 2 * max), (due + 2, 0)] {
				run_to_block(block);
				assert_eq!(open_orders(&burst), open, "at most MaxExpiriesPerBlock a block");
			}
			assert_eq!(ExpiryBacklog::<Test>::get(), None, "caught up");
			assert_eq!(free(BUYER), STARTING_BALANCE, "every order refunded");
		});
	}

	#[test]
	fn the_backlog_catches_up_over_empty_blocks_without_skipping_any() {
		new_test_ext().execute_with(|| {
			// 13 blocks' worth of expiries at once, then an order due while they drain and one
			// due soon after: each expires, none is skipped, and the backlog ends.
			let per_block = MAX_EXPIRIES as u8;
			let burst = orders_due_together(0..13 * per_block);
			let due = 1 + BLOCKS_PER_HOUR + GRACE;
			System::set_block_number(6);
			let later = orders_due_together(13 * per_block..13 * per_block + 2);
			let later_due = 6 + BLOCKS_PER_HOUR + GRACE;
			run_to_block(due + 12);
			assert_eq!(open_orders(&burst), 0);
			assert_eq!(open_orders(&later), 2, "still behind the burst");
			run_to_block(due + 13);
			assert_eq!(open_orders(&later), 0);
			assert_eq!(Orders::<Test>::get(later[0]).unwrap().expires_at, later_due);
			let block_after = due + 13 + MAX_BACKLOG_SCAN as u64;
			run_to_block(block_after);
			assert_eq!(ExpiryBacklog::<Test>::get(), None, "the empty blocks were scanned");
			assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
			assert_eq!(free(BUYER), STARTING_BALANCE);
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
			assert_eq!(Validators::<Test>::get().into_inner(), vec![VALIDATOR]);
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
		});
	}

	#[test]
	fn a_removed_validator_can_no_longer_judge() {
		new_test_ext().execute_with(|| {
			submitted_pot();
			assert_ok!(HashrateMarket::remove_validator(RuntimeOrigin::root(), VALIDATOR));
			assert_noop!(HashrateMarket::verify_pot(origin(VALIDATOR), ORDER, 1), Error::<Test>::NotValidator);
		});
	}
}

/// DESIGN.md's invariants over random call sequences.
mod invariants {
	use super::*;
	use proptest::prelude::*;

	const ACCOUNTS: [AccountId; 5] = [OWNER, BUYER, VALIDATOR, OTHER, POOR];

	#[derive(Debug, Clone)]
	enum Step {
		Call { who: AccountId, call: crate::Call<Test> },
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

	fn call() -> impl Strategy<Value = crate::Call<Test>> {
		use crate::Call;
		prop_oneof![
			(machine_id(), bytes()).prop_map(|(id, metadata)| Call::add_machine { id, metadata }),
			machine_id().prop_map(|id| Call::remove_machine { id }),
			(machine_id(), prop_oneof![Just(0), 1..500u64, Just(Balance::MAX)], 0..12u32, any::<u32>()).prop_map(
				|(id, price_per_hour, max_duration_hours, disk_gb)| Call::make_offer {
					id,
					price_per_hour,
					max_duration_hours,
					disk_gb
				}
			),
			machine_id().prop_map(|id| Call::cancel_offer { id }),
			(order_id(), account(), machine_id(), 0..12u32, bytes()).prop_map(
				|(id, seller, machine_id, duration_hours, metadata)| Call::place_order {
					id,
					seller,
					machine_id,
					duration_hours,
					metadata
				}
			),
			(order_id(), 0..5u32).prop_map(|(order_id, duration_hours)| Call::renew_order { order_id, duration_hours }),
			(order_id(), bytes(), any::<u32>()).prop_map(|(order_id, metadata, score)| Call::order_completed {
				order_id,
				metadata,
				score
			}),
			(order_id(), bytes()).prop_map(|(order_id, metadata)| Call::order_failed { order_id, metadata }),
			(order_id(), bytes()).prop_map(|(order_id, proofsdata)| Call::submit_pot { order_id, proofsdata }),
			(order_id(), 0..3u8).prop_map(|(order_id, results)| Call::verify_pot { order_id, results }),
			account().prop_map(|validator| Call::add_validator { validator }),
			account().prop_map(|validator| Call::remove_validator { validator }),
		]
	}

	fn step() -> impl Strategy<Value = Step> {
		prop_oneof![
			8 => (account(), call()).prop_map(|(who, call)| Step::Call { who, call }),
			1 => (1..40u64).prop_map(Step::Advance),
		]
	}

	fn run(step: &Step) {
		match step {
			Step::Call { who, call } => {
				let call = RuntimeCall::HashrateMarket(call.clone());
				// Validator management is root's; give it root now and then so the set changes.
				let origin = if matches!(
					call,
					RuntimeCall::HashrateMarket(
						crate::Call::add_validator { .. } | crate::Call::remove_validator { .. }
					)
				) && *who == OWNER
				{
					RuntimeOrigin::root()
				} else {
					origin(*who)
				};
				let _ = call.dispatch(origin);
			},
			Step::Advance(blocks) => run_to_block(System::block_number() + blocks),
		}
	}

	fn check_invariants(initial_issuance: Balance) {
		assert_eq!(Balances::total_issuance(), initial_issuance, "issuance changed");
		let total_on_hold: Balance = ACCOUNTS.iter().map(|who| held(*who)).sum();
		let mut escrows = 0;
		for (id, order) in Orders::<Test>::iter() {
			if order.status.is_terminal() {
				assert_eq!(order.escrow, 0, "a closed order keeps no escrow");
			} else {
				assert!(order.escrow > 0);
				assert!(ExpiryQueue::<Test>::contains_key(order.expires_at, id), "open order not queued");
				assert!(not_left_behind(order.expires_at), "open order overdue and not in the backlog");
				assert_eq!(Machines::<Test>::get(order.machine_id).unwrap().last_order, Some(id));
			}
			escrows += order.escrow;
		}
		let deposits: Balance = Machines::<Test>::iter_values().map(|machine| machine.deposit).sum();
		assert_eq!(total_on_hold, escrows + deposits, "held balance != open escrows + deposits");
		for who in ACCOUNTS {
			let escrow_of: Balance = Orders::<Test>::iter_values().filter(|o| o.buyer == who).map(|o| o.escrow).sum();
			let deposits_of: Balance =
				Machines::<Test>::iter_values().filter(|m| m.owner == who).map(|m| m.deposit).sum();
			assert_eq!(escrow_held(who), escrow_of);
			assert_eq!(deposit_held(who), deposits_of);
		}
		for (block, _, ()) in ExpiryQueue::<Test>::iter() {
			assert!(not_left_behind(block), "an expiry entry was passed over");
		}
	}

	/// Whether the hook will still get to `block`: it is ahead, or at or after the backlog.
	fn not_left_behind(block: u64) -> bool {
		block > System::block_number() || ExpiryBacklog::<Test>::get().is_some_and(|backlog| backlog <= block)
	}

	proptest! {
		#![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

		#[test]
		fn random_call_sequences_hold_the_invariants(steps in prop::collection::vec(step(), 1..60)) {
			new_test_ext().execute_with(|| {
				let issuance = Balances::total_issuance();
				for step in &steps {
					run(step);
					check_invariants(issuance);
				}
				// Far enough for every deadline, grace period and verification window to pass.
				let horizon = (11 + 4 * 5) * BLOCKS_PER_HOUR + GRACE + WINDOW + 16;
				run_to_block(System::block_number() + horizon);
				check_invariants(issuance);
				for (_, order) in Orders::<Test>::iter() {
					assert!(order.status.is_terminal(), "order never ended: {order:?}");
				}
				assert_eq!(ExpiryQueue::<Test>::iter().count(), 0);
			});
		}
	}
}
