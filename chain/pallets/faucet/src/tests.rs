use crate::{
	meets_difficulty, mock::*, CheckNonceOrFirstClaim, ClaimWork, Claims, ClaimsInBlock, Error, Event, OldestWindow,
	PaidInPeriod,
};
use alloc::collections::VecDeque;
use frame_support::{
	assert_noop, assert_ok,
	dispatch::{CheckIfFeeless, GetDispatchInfo},
	pallet_prelude::TransactionSource,
	traits::{
		fungible::{Inspect, Mutate},
		Hooks,
	},
};
use sp_runtime::{
	traits::{TransactionExtension, TxBaseImplication},
	transaction_validity::{InvalidTransaction, TransactionValidityError, ValidTransaction},
	DispatchResult,
};

fn balance(who: AccountId) -> Balance {
	Balances::balance(&who)
}

fn last_event() -> Event<Test> {
	System::events()
		.into_iter()
		.rev()
		.find_map(|record| match record.event {
			RuntimeEvent::Faucet(event) => Some(event),
			_ => None,
		})
		.expect("the faucet emitted an event")
}

/// `who` claims with valid work over the parent block.
fn claim(who: AccountId) -> DispatchResult {
	Faucet::claim(RuntimeOrigin::signed(who), work_for(who))
}

/// Work over the parent block that does not solve the puzzle for `who`.
fn wrong_work(who: AccountId) -> ClaimWork<u64> {
	let block = System::block_number() - 1;
	let nonce = (0..)
		.find(|nonce| !meets_difficulty(&Faucet::work_hash(&who, &hash_of(block), *nonce), DIFFICULTY))
		.expect("most nonces fail");
	ClaimWork { block, nonce }
}

fn claim_call(work: ClaimWork<u64>) -> RuntimeCall {
	RuntimeCall::Faucet(crate::Call::claim { work })
}

/// What the transaction pool's validation says about `call` signed by `who` with `nonce`.
fn validate(who: AccountId, nonce: u32, call: &RuntimeCall) -> Result<ValidTransaction, InvalidTransaction> {
	CheckNonceOrFirstClaim::<Test>::from(nonce)
		.validate(
			RuntimeOrigin::signed(who),
			call,
			&call.get_dispatch_info(),
			0,
			(),
			&TxBaseImplication(()),
			TransactionSource::External,
		)
		.map(|(validity, _, _)| validity)
		.map_err(|e| match e {
			TransactionValidityError::Invalid(e) => e,
			other => panic!("unexpected {other:?}"),
		})
}

#[test]
fn an_account_with_nothing_can_claim() {
	new_test_ext().execute_with(|| {
		assert!(!System::account_exists(&NOBODY));
		assert_ok!(claim(NOBODY));
		assert_eq!(balance(NOBODY), CLAIM);
		assert_eq!(balance(Faucet::pot()), POT_FUNDS - CLAIM);
		assert_eq!(Claims::<Test>::get(0, NOBODY), Some(1));
		assert_eq!(last_event(), Event::Claimed { who: NOBODY, amount: CLAIM, next_claim_at: 1 + COOLDOWN });
	});
}

#[test]
fn claims_wait_for_the_cooldown_across_windows() {
	new_test_ext().execute_with(|| {
		assert_ok!(claim(NOBODY));
		// Block 10 is in the next window: the previous window's claim still counts.
		go_to_block(COOLDOWN);
		assert_noop!(claim(NOBODY), Error::<Test>::CoolingDown);
		go_to_block(1 + COOLDOWN);
		assert_ok!(claim(NOBODY));
		// Within one window.
		go_to_block(2 * COOLDOWN - 1);
		assert_noop!(claim(NOBODY), Error::<Test>::CoolingDown);
		go_to_block(1 + 2 * COOLDOWN);
		assert_ok!(claim(NOBODY));
		assert_eq!(balance(NOBODY), 3 * CLAIM);
	});
}

#[test]
fn work_must_be_over_one_of_the_recent_blocks_before_this_one() {
	new_test_ext().execute_with(|| {
		go_to_block(20);
		let work_over = |block: u64| ClaimWork { block, nonce: Faucet::solve_work(&NOBODY, &hash_of(block)) };
		// This block's hash is not known while it is being built, nor a later one's.
		for block in [20, 21] {
			assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work_over(block)), Error::<Test>::WorkExpired);
		}
		// Stale: more than `WorkValidity` blocks back.
		let stale = 20 - WORK_VALIDITY - 1;
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work_over(stale)), Error::<Test>::WorkExpired);
		// A block whose hash the chain no longer knows.
		frame_system::BlockHash::<Test>::remove(18);
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work_over(18)), Error::<Test>::WorkExpired);
		// The oldest block allowed.
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work_over(20 - WORK_VALIDITY)));
	});
}

#[test]
fn work_is_bound_to_its_claimant() {
	new_test_ext().execute_with(|| {
		let work = work_for(NOBODY);
		let parent = hash_of(work.block);
		let other = (100..)
			.find(|who| !meets_difficulty(&Faucet::work_hash(who, &parent, work.nonce), DIFFICULTY))
			.expect("most accounts do not fit another's work");
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(other), work), Error::<Test>::InvalidWork);
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY), wrong_work(NOBODY)), Error::<Test>::InvalidWork);
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work));
	});
}

#[test]
fn a_work_pays_for_one_claim_only() {
	new_test_ext().execute_with(|| {
		let work = work_for(NOBODY);
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work));
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work), Error::<Test>::CoolingDown);
		// By the end of the cooldown the work has long expired.
		go_to_block(1 + COOLDOWN);
		assert_noop!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work), Error::<Test>::WorkExpired);
		assert_ok!(claim(NOBODY));
	});
}

#[test]
fn the_work_hash_is_blake2_of_the_documented_bytes() {
	let (who, block_hash, nonce) = (0x0102_0304_0506_0708u64, hash_of(41), 0x1122_3344_5566_7788u64);
	let mut bytes = b"matrixai-faucet".to_vec();
	bytes.extend_from_slice(&who.to_le_bytes());
	bytes.extend_from_slice(block_hash.as_bytes());
	bytes.extend_from_slice(&nonce.to_le_bytes());
	assert_eq!(bytes.len(), 15 + 8 + 32 + 8);
	assert_eq!(Faucet::work_hash(&who, &block_hash, nonce), sp_io::hashing::blake2_256(&bytes));
}

#[test]
fn difficulty_counts_leading_zero_bits() {
	let with_prefix = |prefix: &[u8]| {
		let mut hash = [0xffu8; 32];
		hash[..prefix.len()].copy_from_slice(prefix);
		hash
	};
	assert!(meets_difficulty(&[0; 32], 256));
	assert!(meets_difficulty(&with_prefix(&[]), 0));
	assert!(!meets_difficulty(&with_prefix(&[]), 1));
	assert!(meets_difficulty(&with_prefix(&[0x0f]), 4));
	assert!(!meets_difficulty(&with_prefix(&[0x0f]), 5));
	assert!(meets_difficulty(&with_prefix(&[0, 0, 0x08]), 20));
	assert!(!meets_difficulty(&with_prefix(&[0, 0, 0x08]), 21));
}

#[test]
fn each_block_pays_a_bounded_number_of_claims() {
	new_test_ext().execute_with(|| {
		for who in 100..100 + MAX_CLAIMS as u64 {
			assert_ok!(claim(who));
		}
		assert_noop!(claim(200), Error::<Test>::BlockLimitReached);
		go_to_block(2);
		assert_ok!(claim(200));
		assert_eq!(ClaimsInBlock::<Test>::get(), (2, 1));
	});
}

/// Pool validation runs against the next block without running its hooks: the count left by
/// the parent block must not count against it.
#[test]
fn the_block_count_is_right_without_on_initialize() {
	new_test_ext().execute_with(|| {
		for who in 100..100 + MAX_CLAIMS as u64 {
			assert_ok!(claim(who));
		}
		assert_eq!(validate(200, 0, &claim_call(work_for(200))), Err(InvalidTransaction::ExhaustsResources));
		// What `validate_transaction` does: the next block number and the parent's hash, no hooks.
		System::set_block_number(2);
		frame_system::BlockHash::<Test>::insert(1, hash_of(1));
		assert_eq!(ClaimsInBlock::<Test>::get(), (1, MAX_CLAIMS), "still the parent's count");
		assert!(validate(200, 0, &claim_call(work_for(200))).is_ok());
		assert_ok!(claim(200));
		assert_eq!(ClaimsInBlock::<Test>::get(), (2, 1));
	});
}

#[test]
fn each_period_pays_at_most_its_cap() {
	new_test_ext().execute_with(|| {
		let mut who = 100;
		while PaidInPeriod::<Test>::get().1 < MAX_PAYOUT {
			if ClaimsInBlock::<Test>::get() == (System::block_number(), MAX_CLAIMS) {
				go_to_block(System::block_number() + 1);
			}
			assert_ok!(claim(who));
			who += 1;
		}
		assert_eq!(who - 100, MAX_PAYOUT / CLAIM);
		go_to_block(System::block_number() + 1);
		assert_noop!(claim(who), Error::<Test>::PeriodCapReached);
		go_to_block(CAP_PERIOD - 1);
		assert_noop!(claim(who), Error::<Test>::PeriodCapReached);
		go_to_block(CAP_PERIOD);
		assert_ok!(claim(who));
		assert_eq!(PaidInPeriod::<Test>::get(), (1, CLAIM));
	});
}

/// Today's threat: keys are free, so fresh accounts drain the pot. With the work and the cap,
/// 1 000 fresh keys get nothing without work, and with work no more than each period's cap.
#[test]
fn a_thousand_fresh_keys_cannot_drain_the_pot() {
	new_test_ext().execute_with(|| {
		let keys: Vec<AccountId> = (1_000..2_000).collect();
		for &who in &keys {
			assert_eq!(validate(who, 0, &claim_call(wrong_work(who))), Err(InvalidTransaction::Custom(2)));
		}

		// Every key solves its work and tries in every block of three periods, in turn; each claim
		// the pool admits is included.
		let mut waiting: VecDeque<AccountId> = keys.iter().copied().collect();
		let mut paid_per_period = [0; 3];
		for block in 1..3 * CAP_PERIOD {
			go_to_block(block);
			while let Some(&who) = waiting.front() {
				match validate(who, 0, &claim_call(work_for(who))) {
					Ok(_) => {
						assert_ok!(claim(who));
						paid_per_period[(block / CAP_PERIOD) as usize] += CLAIM;
						waiting.pop_front();
					},
					// The cap is reached: the pool refuses everybody until the next period.
					Err(InvalidTransaction::Custom(5)) => break,
					// The block is full: the author keeps the claim for the next block.
					Err(InvalidTransaction::ExhaustsResources) => break,
					Err(other) => panic!("unexpected refusal {other:?}"),
				}
			}
		}
		assert_eq!(paid_per_period, [MAX_PAYOUT; 3]);
		let paid: Balance = paid_per_period.iter().sum();
		assert_eq!(balance(Faucet::pot()), POT_FUNDS - paid);
		assert_eq!(keys.iter().filter(|who| balance(**who) > 0).count() as u64, paid / CLAIM);
		assert_eq!(waiting.len() as u64, 1_000 - paid / CLAIM, "the other keys got nothing");
	});
}

#[test]
fn an_empty_pot_pays_nothing_and_keeps_its_account() {
	new_test_ext().execute_with(|| {
		// The pot keeps the existential deposit: 250 pays 2 claims of 100 and keeps 50.
		Balances::set_balance(&Faucet::pot(), 250);
		assert_ok!(claim(100));
		assert_ok!(claim(101));
		go_to_block(2);
		assert_noop!(claim(102), Error::<Test>::PotEmpty);
		assert_eq!(balance(Faucet::pot()), 50);
	});
}

#[test]
fn old_claim_records_are_deleted_a_few_per_block() {
	let mut ext = new_test_ext();
	// Six claims in window 0 (blocks 0 to 9), one in window 1.
	ext.execute_with(|| {
		for (block, who) in [(1, 100), (1, 101), (2, 102), (2, 103), (3, 104), (3, 105)] {
			go_to_block(block);
			assert_ok!(claim(who));
		}
		go_to_block(COOLDOWN);
		assert_ok!(claim(106));
	});
	let window = |ext: &mut sp_io::TestExternalities, index: u64| {
		ext.execute_with(|| Claims::<Test>::iter_prefix(index).count())
	};
	// Blocks are committed one by one, as on a chain: a block's limit applies to the stored keys.
	let run_block = |ext: &mut sp_io::TestExternalities, block: u64| {
		ext.commit_all().unwrap();
		ext.execute_with(|| {
			System::set_block_number(block);
			Faucet::on_initialize(block)
		})
	};
	// Window 0 still decides cooldowns in window 1.
	assert_eq!(run_block(&mut ext, 2 * COOLDOWN - 1), <() as crate::WeightInfo>::prune(0));
	assert_eq!(window(&mut ext, 0), 6);
	// In window 2 it goes, `MaxPrunePerBlock` keys a block.
	assert_eq!(run_block(&mut ext, 2 * COOLDOWN), <() as crate::WeightInfo>::prune(MAX_PRUNE));
	assert_eq!(window(&mut ext, 0), 6 - MAX_PRUNE as usize);
	assert_eq!(run_block(&mut ext, 2 * COOLDOWN + 1), <() as crate::WeightInfo>::prune(MAX_PRUNE));
	assert_eq!(window(&mut ext, 0), 0);
	ext.execute_with(|| assert_eq!(OldestWindow::<Test>::get(), 1));
	// Window 1 waits for window 3.
	assert_eq!(run_block(&mut ext, 2 * COOLDOWN + 2), <() as crate::WeightInfo>::prune(0));
	assert_eq!(window(&mut ext, 1), 1);
	ext.execute_with(|| Faucet::do_try_state(System::block_number()).unwrap());
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
		let work = work_for(NOBODY);
		assert!(claim_call(work).is_feeless(&RuntimeOrigin::signed(NOBODY)));
		assert!(!claim_call(wrong_work(NOBODY)).is_feeless(&RuntimeOrigin::signed(NOBODY)));
		assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work));
		assert!(!claim_call(work_for(NOBODY)).is_feeless(&RuntimeOrigin::signed(NOBODY)), "cooling down");
		let top_up = RuntimeCall::Faucet(crate::Call::top_up { amount: 1 });
		assert!(!top_up.is_feeless(&RuntimeOrigin::signed(RICH)));
	});
}

mod nonce_extension {
	use super::*;

	#[test]
	fn admits_a_first_claim_from_a_new_account() {
		new_test_ext().execute_with(|| {
			let claim = claim_call(work_for(NOBODY));
			assert!(validate(NOBODY, 0, &claim).is_ok());
			assert_eq!(validate(NOBODY, 1, &claim), Err(InvalidTransaction::Future));
		});
	}

	#[test]
	fn refuses_anything_else_from_a_new_account() {
		new_test_ext().execute_with(|| {
			let top_up = RuntimeCall::Faucet(crate::Call::top_up { amount: 1 });
			assert_eq!(validate(NOBODY, 0, &top_up), Err(InvalidTransaction::Payment));
		});
	}

	/// Each reason has its code, whether or not the claimant could pay a fee.
	#[test]
	fn refuses_an_ineligible_claim_with_its_reason() {
		for who in [NOBODY, RICH] {
			new_test_ext().execute_with(|| {
				go_to_block(20);
				let stale = ClaimWork { block: 20 - WORK_VALIDITY - 1, ..work_for(who) };
				assert_eq!(validate(who, 0, &claim_call(stale)), Err(InvalidTransaction::Custom(1)));
				assert_eq!(validate(who, 0, &claim_call(wrong_work(who))), Err(InvalidTransaction::Custom(2)));

				let claim = claim_call(work_for(who));
				Claims::<Test>::insert(1, who, 19);
				assert_eq!(validate(who, 0, &claim), Err(InvalidTransaction::Custom(3)));
				Claims::<Test>::remove(1, who);

				let funds = balance(Faucet::pot());
				Balances::set_balance(&Faucet::pot(), CLAIM);
				assert_eq!(validate(who, 0, &claim), Err(InvalidTransaction::Custom(4)));
				Balances::set_balance(&Faucet::pot(), funds);

				PaidInPeriod::<Test>::put((0, MAX_PAYOUT));
				assert_eq!(validate(who, 0, &claim), Err(InvalidTransaction::Custom(5)));
				PaidInPeriod::<Test>::kill();

				ClaimsInBlock::<Test>::put((20, MAX_CLAIMS));
				assert_eq!(validate(who, 0, &claim), Err(InvalidTransaction::ExhaustsResources));
				ClaimsInBlock::<Test>::kill();

				assert!(validate(who, 0, &claim).is_ok());
			});
		}
	}

	#[test]
	fn an_admitted_claim_leaves_the_pool_when_its_work_expires() {
		new_test_ext().execute_with(|| {
			go_to_block(20);
			let over = |who: AccountId, block: u64| {
				claim_call(ClaimWork { block, nonce: Faucet::solve_work(&who, &hash_of(block)) })
			};
			// Validated against block 19 and includable up to block `block + WorkValidity`.
			assert_eq!(validate(NOBODY, 0, &over(NOBODY, 19)).unwrap().longevity, WORK_VALIDITY);
			assert_eq!(validate(NOBODY, 0, &over(NOBODY, 16)).unwrap().longevity, WORK_VALIDITY - 3);
			assert_eq!(validate(RICH, 0, &over(RICH, 16)).unwrap().longevity, WORK_VALIDITY - 3);
		});
	}

	#[test]
	fn checks_existing_accounts_exactly_as_check_nonce() {
		new_test_ext().execute_with(|| {
			frame_system::Account::<Test>::mutate(RICH, |account| account.nonce = 3);
			let claim = claim_call(work_for(RICH));
			assert_eq!(validate(RICH, 2, &claim), Err(InvalidTransaction::Stale));
			assert!(validate(RICH, 3, &claim).is_ok());
		});
	}

	#[test]
	fn a_first_claim_bumps_the_nonce_so_it_cannot_be_replayed() {
		new_test_ext().execute_with(|| {
			let work = work_for(NOBODY);
			let call = claim_call(work);
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
			assert_ok!(Faucet::claim(RuntimeOrigin::signed(NOBODY), work));
			assert_eq!(System::account_nonce(NOBODY), 1);
			assert_eq!(validate(NOBODY, 0, &call), Err(InvalidTransaction::Custom(3)));
			go_to_block(1 + COOLDOWN);
			assert_eq!(validate(NOBODY, 0, &claim_call(work_for(NOBODY))), Err(InvalidTransaction::Stale));
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
