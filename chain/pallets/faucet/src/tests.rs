use crate::{mock::*, CheckNonceOrFirstClaim, ClaimsThisBlock, Error, Event, LastClaim};
use frame_support::{
	assert_noop, assert_ok,
	dispatch::{CheckIfFeeless, GetDispatchInfo},
	pallet_prelude::TransactionSource,
	traits::fungible::Inspect,
};
use sp_runtime::{
	traits::{TransactionExtension, TxBaseImplication},
	transaction_validity::InvalidTransaction,
};

fn balance(who: AccountId) -> Balance {
	Balances::balance(&who)
}

fn last_event() -> Event<Test> {
	System::events()
		.into_iter()
		.filter_map(|record| match record.event {
			RuntimeEvent::Faucet(event) => Some(event),
			_ => None,
		})
		.last()
		.expect("the faucet emitted an event")
}

#[test]
fn an_account_with_nothing_can_claim() {
	new_test_ext().execute_with(|| {
		assert!(!System::account_exists(&NOBODY));
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY)));
		assert_eq!(balance(NOBODY), CLAIM);
		assert_eq!(balance(Faucet::pot()), POT_FUNDS - CLAIM);
		assert_eq!(LastClaim::<Test>::get(NOBODY), Some(1));
		assert_eq!(last_event(), Event::Claimed { who: NOBODY, amount: CLAIM, next_claim_at: 1 + COOLDOWN });
	});
}

#[test]
fn claims_wait_for_the_cooldown() {
	new_test_ext().execute_with(|| {
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY)));
		go_to_block(COOLDOWN);
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY)), Error::<Test>::CoolingDown);
		go_to_block(1 + COOLDOWN);
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY)));
		assert_eq!(balance(NOBODY), 2 * CLAIM);
	});
}

#[test]
fn each_block_pays_a_bounded_number_of_claims() {
	new_test_ext().execute_with(|| {
		for who in 100..100 + MAX_CLAIMS as u64 {
			assert_ok!(Faucet::claim(RuntimeOrigin::signed(who)));
		}
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(200)), Error::<Test>::BlockLimitReached);
		go_to_block(2);
		assert_eq!(ClaimsThisBlock::<Test>::get(), 0);
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(200)));
	});
}

#[test]
fn an_empty_pot_pays_nothing_and_keeps_its_account() {
	new_test_ext().execute_with(|| {
		// The pot keeps the existential deposit: 1_000 pays 9 claims of 100 and leaves 100.
		for block in 1..=5u64 {
			go_to_block(block);
			for who in 0..MAX_CLAIMS as u64 {
				let who = 100 + block * 10 + who;
				if block == 5 && who % 10 == 1 {
					assert_noop!(Faucet::claim(RuntimeOrigin::signed(who)), Error::<Test>::PotEmpty);
				} else {
					assert_ok!(Faucet::claim(RuntimeOrigin::signed(who)));
				}
			}
		}
		assert_eq!(balance(Faucet::pot()), CLAIM);
	});
}

#[test]
fn anyone_can_top_up() {
	new_test_ext().execute_with(|| {
		assert_ok!(Faucet::top_up(RuntimeOrigin::signed(RICH), 500));
		assert_eq!(balance(Faucet::pot()), POT_FUNDS + 500);
		assert_eq!(balance(RICH), 10_000 - 500);
		assert_eq!(last_event(), Event::ToppedUp { who: RICH, amount: 500, pot: POT_FUNDS + 500 });
		assert_noop!(Faucet::top_up(RuntimeOrigin::signed(RICH), 0), Error::<Test>::ZeroAmount);
		assert_noop!(Faucet::top_up(RuntimeOrigin::signed(RICH), 9_500), Error::<Test>::InsufficientBalance);
		assert_noop!(Faucet::top_up(RuntimeOrigin::signed(NOBODY), 1), Error::<Test>::InsufficientBalance);
	});
}

#[test]
fn a_claim_is_feeless_exactly_when_it_would_be_paid() {
	new_test_ext().execute_with(|| {
		let claim = RuntimeCall::Faucet(crate::Call::claim {});
		assert!(claim.is_feeless(&RuntimeOrigin::signed(NOBODY)));
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY)));
		assert!(!claim.is_feeless(&RuntimeOrigin::signed(NOBODY)), "cooling down: pays a fee");
		let top_up = RuntimeCall::Faucet(crate::Call::top_up { amount: 1 });
		assert!(!top_up.is_feeless(&RuntimeOrigin::signed(RICH)));
	});
}

mod nonce_extension {
	use super::*;

	fn validate(who: AccountId, nonce: u32, call: &RuntimeCall) -> Result<(), InvalidTransaction> {
		let extension = CheckNonceOrFirstClaim::<Test>::from(nonce);
		extension
			.validate(
				RuntimeOrigin::signed(who),
				call,
				&call.get_dispatch_info(),
				0,
				(),
				&TxBaseImplication(()),
				TransactionSource::External,
			)
			.map(|_| ())
			.map_err(|e| match e {
				sp_runtime::transaction_validity::TransactionValidityError::Invalid(e) => e,
				other => panic!("unexpected {other:?}"),
			})
	}

	fn claim() -> RuntimeCall {
		RuntimeCall::Faucet(crate::Call::claim {})
	}

	#[test]
	fn admits_a_first_claim_from_a_new_account() {
		new_test_ext().execute_with(|| {
			assert_eq!(validate(NOBODY, 0, &claim()), Ok(()));
			assert_eq!(validate(NOBODY, 1, &claim()), Err(InvalidTransaction::Future));
		});
	}

	#[test]
	fn refuses_anything_else_from_a_new_account() {
		new_test_ext().execute_with(|| {
			let top_up = RuntimeCall::Faucet(crate::Call::top_up { amount: 1 });
			assert_eq!(validate(NOBODY, 0, &top_up), Err(InvalidTransaction::Payment));
			// An ineligible claim is refused like any other call from a new account.
			LastClaim::<Test>::insert(NOBODY, 1);
			assert_eq!(validate(NOBODY, 0, &claim()), Err(InvalidTransaction::Payment));
		});
	}

	#[test]
	fn checks_existing_accounts_exactly_as_check_nonce() {
		new_test_ext().execute_with(|| {
			frame_system::Account::<Test>::mutate(RICH, |account| account.nonce = 3);
			assert_eq!(validate(RICH, 2, &claim()), Err(InvalidTransaction::Stale));
			assert_eq!(validate(RICH, 3, &claim()), Ok(()));
		});
	}

	#[test]
	fn a_first_claim_bumps_the_nonce_so_it_cannot_be_replayed() {
		new_test_ext().execute_with(|| {
			let call = claim();
			let info = call.get_dispatch_info();
			let extension = CheckNonceOrFirstClaim::<Test>::from(0);
			let (_, val, origin) = extension
				.validate(
					RuntimeOrigin::signed(NOBODY),
					&call,
					&info,
					0,
					(),
					&TxBaseImplication(()),
					TransactionSource::External,
				)
				.expect("eligible first claim");
			extension.prepare(val, &origin, &call, &info, 0).expect("nonce 0 is current");
			assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY)));
			assert_eq!(System::account_nonce(NOBODY), 1);
			assert_eq!(validate(NOBODY, 0, &call), Err(InvalidTransaction::Stale));
		});
	}

	#[test]
	fn is_invisible_in_metadata() {
		assert_eq!(<CheckNonceOrFirstClaim<Test> as TransactionExtension<RuntimeCall>>::IDENTIFIER, "CheckNonce");
		assert_eq!(
			scale_info::meta_type::<CheckNonceOrFirstClaim<Test>>(),
			scale_info::meta_type::<frame_system::CheckNonce<Test>>()
		);
		use codec::Encode;
		assert_eq!(
			CheckNonceOrFirstClaim::<Test>::from(5).encode(),
			frame_system::CheckNonce::<Test>::from(5).encode()
		);
	}
}
