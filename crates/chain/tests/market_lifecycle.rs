//! The hashrate market against a real `matrixai-node --dev`, through `matrixai-chain`.
//!
//! Each test starts its own node and follows every balance it touches exactly: each step's
//! expected balances are the previous ones plus what the pallets document, minus the fee the
//! chain reports (`TransactionPayment::TransactionFeePaid`); fees go to the faucet's pot, which
//! is followed too. Dev genesis: Alice..Ferdie hold 1 000 000 MAI each, the pot 10 000 000 MAI,
//! Alice is sudo, Dave the validator. Panels are drawn by the chain the block after a proof, so
//! the tests find the assigned validator in the `PanelDrawn` event, as the validator service will.

use futures::StreamExt;
use matrixai_chain::keys::Keypair;
use matrixai_chain::runtime::hashrate_market::{
    Error as MarketError, Event as MarketEventKind, events,
};
use matrixai_chain::testing::TestNode;
use matrixai_chain::{
    AccountBalance, AccountId, Balance, ChainClient, ChainError, DispatchFailure, Finalized, Hash,
    MachineId, MarketEvent, OrderId, OrderStatus, UNIT, Verdict, keys, runtime,
};
use std::collections::BTreeMap;
use std::time::Duration;
use subxt::transactions::Payload;

const ENDOWMENT: Balance = 1_000_000 * UNIT;
const FAUCET_FUNDS: Balance = 10_000_000 * UNIT;
const CLAIM_AMOUNT: Balance = 1_000 * UNIT;
const MACHINE_DEPOSIT: Balance = 100 * UNIT;
/// `CollateralRatio`: half of an order's total is at stake on the machine's deposit.
const fn collateral(total: Balance) -> Balance {
    total / 2
}
/// The dispute window the tests set (blocks), instead of the runtime's day.
const TEST_DISPUTE_WINDOW: u32 = 2;

const MACHINE_METADATA: &[u8] = br#"{"v":1,"cpu":"EPYC 9654","cores":96,"ram_gb":768,"gpus":[{"model":"H100","count":8,"memory_gb":80}],"region":"eu-west"}"#;
const ORDER_METADATA: &[u8] = br#"{"v":1,"arch":"mlp-784-128-10","dataset":{"uri":"ipfs://bafy","sha256":"00"},"seed":7,"checkpoint_interval":50}"#;
const RESULT_METADATA: &[u8] =
    br#"{"v":1,"model":"s3://models/o1.bin","sha256":"11","accuracy":0.97}"#;
const PROOF: &[u8] =
    br#"{"v":1,"transcript_root":"22","final_model":"33","bundle":"s3://proofs/o1.tar"}"#;

/// Expected balances of the accounts a test follows, checked against the chain after each step.
struct Ledger {
    pot: AccountId,
    expected: BTreeMap<AccountId, (&'static str, AccountBalance)>,
}

impl Ledger {
    /// Follows the faucet pot and the named accounts, checking they start as genesis made them.
    async fn at_genesis(
        client: &ChainClient,
        accounts: &[(&'static str, AccountId, Balance)],
    ) -> Self {
        let state = client.finalized_state().await.expect("finalized state");
        let pot = state.faucet_pot().expect("the faucet pot account");
        let mut ledger = Ledger {
            pot,
            expected: BTreeMap::new(),
        };
        ledger.expected.insert(
            pot,
            (
                "faucet pot",
                AccountBalance {
                    free: FAUCET_FUNDS,
                    ..Default::default()
                },
            ),
        );
        for (name, account, free) in accounts {
            ledger.expected.insert(
                *account,
                (
                    *name,
                    AccountBalance {
                        free: *free,
                        ..Default::default()
                    },
                ),
            );
        }
        ledger.check(client, state.block_hash(), "genesis").await;
        ledger
    }

    fn balance(&mut self, who: &AccountId) -> &mut AccountBalance {
        &mut self.expected.get_mut(who).expect("a followed account").1
    }

    /// The signer of `finalized` paid its fee into the pot.
    fn paid_fee(&mut self, signer: &AccountId, finalized: &Finalized) {
        self.charge(signer, finalized.fee_paid);
    }

    fn charge(&mut self, signer: &AccountId, fee: Balance) {
        self.balance(signer).free -= fee;
        let pot = self.pot;
        self.balance(&pot).free += fee;
    }

    fn transfer_free(&mut self, from: &AccountId, to: &AccountId, amount: Balance) {
        self.balance(from).free -= amount;
        self.balance(to).free += amount;
    }

    fn hold(&mut self, who: &AccountId, amount: Balance) {
        let balance = self.balance(who);
        balance.free -= amount;
        balance.reserved += amount;
    }

    fn release(&mut self, who: &AccountId, amount: Balance) {
        let balance = self.balance(who);
        balance.reserved -= amount;
        balance.free += amount;
    }

    /// Moves `amount` held from `from` into `to`'s free balance (`transfer_on_hold`).
    fn transfer_held(&mut self, from: &AccountId, to: &AccountId, amount: Balance) {
        self.balance(from).reserved -= amount;
        self.balance(to).free += amount;
    }

    /// Every followed account holds exactly what the ledger expects at `block`.
    async fn check(&self, client: &ChainClient, block: Hash, step: &str) {
        let state = client
            .state_at(block)
            .await
            .expect("state at the step's block");
        for (account, (name, expected)) in &self.expected {
            let actual = state.balance(account).await.expect("balance");
            assert_eq!(
                (actual.free, actual.reserved),
                (expected.free, expected.reserved),
                "after {step}: {name}'s (free, reserved) at block #{}",
                state.block_number()
            );
        }
    }
}

/// The steps both tests take: each submits one call, asserts its event, keeps the ledger and
/// checks every followed balance at the call's block.
struct Steps<'a> {
    client: &'a ChainClient,
}

impl Steps<'_> {
    /// Submits `call` signed by `signer`, who pays its fee.
    async fn submit<Call: Payload>(
        &self,
        ledger: &mut Ledger,
        call: &Call,
        signer: &Keypair,
        step: &str,
    ) -> Finalized {
        let finalized = self
            .client
            .submit(call, signer)
            .await
            .unwrap_or_else(|error| panic!("{step}: {error:?}"));
        ledger.paid_fee(&keys::account_id(signer), &finalized);
        finalized
    }

    async fn make_offer(
        &self,
        ledger: &mut Ledger,
        seller: &Keypair,
        machine: MachineId,
        price_per_hour: Balance,
        max_duration_hours: u32,
        step: &str,
    ) -> Finalized {
        let call = runtime::tx().hashrate_market().make_offer(
            machine,
            price_per_hour,
            max_duration_hours,
            100,
        );
        let offered = self.submit(ledger, &call, seller, step).await;
        let offer_made = offered.event::<events::OfferMade>().expect("OfferMade");
        assert_eq!(
            (
                offer_made.offer.price_per_hour,
                offer_made.offer.max_duration_hours
            ),
            (price_per_hour, max_duration_hours)
        );
        ledger.check(self.client, offered.block_hash, step).await;
        offered
    }

    /// Places `order` for `hours` on `machine`, whose offer asks `price_per_hour`.
    async fn place_order(
        &self,
        ledger: &mut Ledger,
        buyer: &Keypair,
        (machine, seller): (MachineId, &AccountId),
        order: OrderId,
        hours: u32,
        price_per_hour: Balance,
        step: &str,
    ) -> Finalized {
        let call = runtime::tx().hashrate_market().place_order(
            order,
            (*seller).into(),
            machine,
            hours,
            price_per_hour,
            ORDER_METADATA.to_vec(),
        );
        let placed = self.submit(ledger, &call, buyer, step).await;
        let order_placed = placed.event::<events::OrderPlaced>().expect("OrderPlaced");
        let total = price_per_hour * Balance::from(hours);
        assert_eq!(
            (
                order_placed.total,
                order_placed.collateral,
                order_placed.price_per_hour,
                order_placed.duration_hours
            ),
            (total, collateral(total), price_per_hour, hours)
        );
        ledger.hold(&keys::account_id(buyer), total);
        ledger.check(self.client, placed.block_hash, step).await;
        placed
    }

    /// The seller reports the result, then commits its Proof of Training.
    async fn complete_with_proof(
        &self,
        ledger: &mut Ledger,
        seller: &Keypair,
        order: OrderId,
        score: u32,
    ) -> (Finalized, Finalized) {
        let call =
            runtime::tx()
                .hashrate_market()
                .order_completed(order, RESULT_METADATA.to_vec(), score);
        let completed = self.submit(ledger, &call, seller, "order_completed").await;
        let order_completed = completed
            .event::<events::OrderCompleted>()
            .expect("OrderCompleted");
        assert_eq!(
            (order_completed.score, order_completed.result.0.as_slice()),
            (score, RESULT_METADATA)
        );
        ledger
            .check(self.client, completed.block_hash, "order_completed")
            .await;

        let call = runtime::tx()
            .hashrate_market()
            .submit_pot(order, PROOF.to_vec());
        let submitted = self.submit(ledger, &call, seller, "submit_pot").await;
        let pot_submitted = submitted
            .event::<events::PotSubmitted>()
            .expect("PotSubmitted");
        assert_eq!(pot_submitted.proof.0, PROOF);
        ledger
            .check(self.client, submitted.block_hash, "submit_pot")
            .await;
        (completed, submitted)
    }

    /// The panel the chain drew for `order` in the block after its proof (`submitted`): returns
    /// the keypair of the validator assigned to the first round, among `validators`.
    async fn assigned_validator<'k>(
        &self,
        submitted: &Finalized,
        order: OrderId,
        validators: &'k [Keypair],
    ) -> &'k Keypair {
        let draw_block = submitted.block_number + 1;
        self.client
            .wait_for_finalized_block(draw_block, Duration::from_secs(60))
            .await
            .expect("the block after the proof is finalized");
        let hash = self
            .client
            .finalized_block_hash(draw_block)
            .await
            .expect("block hash")
            .expect("a finalized block");
        let events = self.client.market_events_at(hash).await.expect("events");
        let panel = events
            .iter()
            .find_map(|event| match &event.event {
                MarketEventKind::PanelDrawn {
                    order_id, panel, ..
                } if *order_id == order => Some(panel.0.clone()),
                _ => None,
            })
            .expect("PanelDrawn in the block after the proof");
        validators
            .iter()
            .find(|validator| keys::account_id(validator) == panel[0])
            .unwrap_or_else(|| panic!("the first judge {:?} is one of the validators", panel[0]))
    }

    /// A validator judges `order`'s proof; the event reports `(refunded, slashed)`. The caller
    /// moves the amounts in the ledger and checks it.
    async fn verify_pot(
        &self,
        ledger: &mut Ledger,
        validator: &Keypair,
        order: OrderId,
        verdict: Verdict,
        amounts: (Balance, Balance),
    ) -> (Finalized, events::PotVerified) {
        let call = runtime::tx()
            .hashrate_market()
            .verify_pot(order, verdict.clone());
        let verified = self.submit(ledger, &call, validator, "verify_pot").await;
        let pot_verified = verified
            .event::<events::PotVerified>()
            .expect("PotVerified");
        assert_eq!(
            (
                pot_verified.verdict.clone(),
                pot_verified.refunded,
                pot_verified.slashed
            ),
            (verdict, amounts.0, amounts.1)
        );
        (verified, pot_verified)
    }

    /// Shortens the dispute window (a storage parameter) through `sudo(system.set_storage)`.
    async fn set_dispute_window(&self, ledger: &mut Ledger, sudo: &Keypair, blocks: u32) {
        let key = sp_crypto_hashing::twox_128(b":DisputeWindow:").to_vec();
        let set = runtime::Call::System(runtime::system::Call::set_storage {
            items: vec![(key, blocks.to_le_bytes().to_vec())],
        });
        let finalized = self.client.sudo(set, sudo).await.expect("sudo set_storage");
        ledger.paid_fee(&keys::account_id(sudo), &finalized);
    }
}

/// The later of the blocks that several concurrent calls landed in.
fn latest(results: &[&Finalized]) -> Hash {
    results
        .iter()
        .max_by_key(|finalized| finalized.block_number)
        .expect("at least one call")
        .block_hash
}

/// The variant name of a market event, e.g. `OrderPlaced`.
fn kind(event: &MarketEventKind) -> String {
    format!("{event:?}")
        .split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The market events each call emitted, and those of the blocks' hooks (`hooks`, from the
/// chain), as (block, event kind), in chain order.
fn market_events_of(calls: &[&Finalized], hooks: &[MarketEvent]) -> Vec<(u64, String)> {
    let mut emitted = Vec::new();
    for finalized in calls {
        for event in finalized.events().iter() {
            let event = event.expect("decodable event");
            if let Ok(runtime::Event::HashrateMarket(market)) = event.decode_as::<runtime::Event>()
            {
                emitted.push((finalized.block_number, event.index(), kind(&market)));
            }
        }
    }
    for event in hooks {
        emitted.push((event.block_number, event.event_index, kind(&event.event)));
    }
    emitted.sort();
    emitted
        .into_iter()
        .map(|(block, _, kind)| (block, kind))
        .collect()
}

async fn collect_market_events(
    client: &ChainClient,
    count: usize,
) -> tokio::task::JoinHandle<Vec<MarketEvent>> {
    let stream = client.market_events().await.expect("market event stream");
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut seen = Vec::new();
        while seen.len() < count {
            seen.push(
                stream
                    .next()
                    .await
                    .expect("the stream stays open")
                    .expect("decodable market event"),
            );
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_lifecycle_through_all_calls_with_exact_balances() {
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.expect("a client");

    let (sudo, seller, buyer, validator, outsider) = (
        keys::dev_sudo(),
        keys::dev::bob(),
        keys::dev::charlie(),
        keys::dev_validator(),
        keys::dev::eve(),
    );
    let newcomer = keys::from_uri("//Newcomer").expect("a dev URI");
    let [
        sudo_id,
        seller_id,
        buyer_id,
        validator_id,
        outsider_id,
        newcomer_id,
    ] = [&sudo, &seller, &buyer, &validator, &outsider, &newcomer].map(keys::account_id);
    let second_validator = keys::account_id(&keys::dev::ferdie());
    let mut ledger = Ledger::at_genesis(
        &client,
        &[
            ("Alice (sudo)", sudo_id, ENDOWMENT),
            ("Bob (seller)", seller_id, ENDOWMENT),
            ("Charlie (buyer)", buyer_id, ENDOWMENT),
            ("Dave (validator)", validator_id, ENDOWMENT),
            ("Eve (outsider)", outsider_id, ENDOWMENT),
            ("Ferdie (second validator)", second_validator, ENDOWMENT),
            ("newcomer", newcomer_id, 0),
        ],
    )
    .await;
    let pot = ledger.pot;
    let events_seen = collect_market_events(&client, 15).await;
    let steps = Steps { client: &client };
    steps
        .set_dispute_window(&mut ledger, &sudo, TEST_DISPUTE_WINDOW)
        .await;

    let market = runtime::tx().hashrate_market();
    let machine = *b"machine-00000001";
    let (order, second_order) = (*b"order-0000000001", *b"order-0000000002");
    let price_per_hour = 2 * UNIT;

    // A zero-balance account claims from the faucet (feeless, paid for with proof of work),
    // while the seller registers a machine and the sudo key authorises a second validator.
    let add_machine_call = market.add_machine(machine, MACHINE_METADATA.to_vec());
    let (claim, added, validator_added) = tokio::try_join!(
        client.claim_from_faucet(&newcomer),
        client.submit(&add_machine_call, &seller),
        client.sudo(
            runtime::Call::HashrateMarket(runtime::hashrate_market::Call::add_validator {
                validator: second_validator.into()
            }),
            &sudo
        ),
    )
    .expect("claim, add_machine and add_validator");
    assert_eq!(claim.fee_paid, 0, "an eligible claim is feeless");
    let claimed = claim
        .event::<runtime::faucet::events::Claimed>()
        .expect("Claimed");
    assert_eq!((claimed.who, claimed.amount), (newcomer_id, CLAIM_AMOUNT));
    ledger.transfer_free(&pot, &newcomer_id, CLAIM_AMOUNT);
    let machine_added = added.event::<events::MachineAdded>().expect("MachineAdded");
    assert_eq!(
        (
            machine_added.machine_id,
            machine_added.owner,
            machine_added.deposit
        ),
        (machine, seller_id, MACHINE_DEPOSIT)
    );
    assert_eq!(machine_added.metadata.0, MACHINE_METADATA);
    ledger.paid_fee(&seller_id, &added);
    ledger.hold(&seller_id, MACHINE_DEPOSIT);
    let added_validator = validator_added
        .event::<events::ValidatorAdded>()
        .expect("ValidatorAdded");
    assert_eq!(added_validator.validator, second_validator);
    ledger.paid_fee(&sudo_id, &validator_added);
    ledger
        .check(
            &client,
            latest(&[&claim, &added, &validator_added]),
            "claim, add_machine, add_validator",
        )
        .await;
    let validators = client
        .finalized_state()
        .await
        .expect("state")
        .validators()
        .await
        .expect("validators");
    assert!(
        validators.contains(&validator_id) && validators.contains(&second_validator),
        "{validators:?}"
    );

    let offered = steps
        .make_offer(
            &mut ledger,
            &seller,
            machine,
            price_per_hour,
            10,
            "make_offer",
        )
        .await;

    // The buyer's price limit: an order that would pay more per hour than the buyer accepts is
    // refused, however the offer changed.
    let too_dear = client
        .submit(
            &market.place_order(
                order,
                seller_id.into(),
                machine,
                3,
                price_per_hour - 1,
                ORDER_METADATA.to_vec(),
            ),
            &buyer,
        )
        .await;
    let Err(ChainError::Failed(refused_price)) = too_dear else {
        panic!("an order above the buyer's limit must fail, got {too_dear:?}");
    };
    assert_eq!(
        refused_price.failure,
        DispatchFailure::HashrateMarket(MarketError::PriceAboveLimit)
    );
    ledger.charge(&buyer_id, refused_price.fee_paid);

    let placed = steps
        .place_order(
            &mut ledger,
            &buyer,
            (machine, &seller_id),
            order,
            3,
            price_per_hour,
            "place_order",
        )
        .await;

    // The buyer extends the order while an outsider tries to judge it: a typed pallet error,
    // and the outsider still pays the fee.
    let (renew_call, outsider_call) = (
        market.renew_order(order, 2),
        market.verify_pot(order, Verdict::Pass),
    );
    let (renewed, outsider_verdict) = tokio::join!(
        client.submit(&renew_call, &buyer),
        client.submit(&outsider_call, &outsider),
    );
    let renewed = renewed.expect("renew_order");
    let order_renewed = renewed
        .event::<events::OrderRenewed>()
        .expect("OrderRenewed");
    assert_eq!(
        (
            order_renewed.extra_amount,
            order_renewed.escrow,
            order_renewed.collateral,
            order_renewed.duration_hours
        ),
        (4 * UNIT, 10 * UNIT, collateral(10 * UNIT), 5)
    );
    ledger.paid_fee(&buyer_id, &renewed);
    ledger.hold(&buyer_id, 4 * UNIT);
    let Err(ChainError::Failed(refused)) = outsider_verdict else {
        panic!("an outsider's verdict must fail in a block, got {outsider_verdict:?}");
    };
    assert_eq!(
        refused.failure,
        DispatchFailure::HashrateMarket(MarketError::NotValidator)
    );
    assert!(
        refused.description.contains("not an authorised validator"),
        "{}",
        refused.description
    );
    assert!(refused.fee_paid > 0);
    ledger.charge(&outsider_id, refused.fee_paid);
    let renew_block = if renewed.block_number >= refused.block_number {
        renewed.block_hash
    } else {
        refused.block_hash
    };
    ledger
        .check(&client, renew_block, "renew_order and a refused verify_pot")
        .await;

    let (completed, submitted) = steps
        .complete_with_proof(&mut ledger, &seller, order, 9_700)
        .await;
    let validator_keys = [validator.clone(), keys::dev::ferdie()];
    let judge = steps
        .assigned_validator(&submitted, order, &validator_keys)
        .await;

    // A pass opens the dispute window: nothing moves yet, and the machine is free again while
    // the order's collateral stays locked on its deposit.
    let (verified, pot_verified) = steps
        .verify_pot(&mut ledger, judge, order, Verdict::Pass, (0, 0))
        .await;
    ledger
        .check(&client, verified.block_hash, "verify_pot (pass)")
        .await;
    let dispute_until = pot_verified
        .dispute_until
        .expect("a pass opens the dispute window");
    assert_eq!(
        u64::from(dispute_until),
        verified.block_number + u64::from(TEST_DISPUTE_WINDOW)
    );
    let state = client.state_at(verified.block_hash).await.expect("state");
    let in_window = state.order(order).await.expect("order").expect("open");
    assert_eq!(
        (in_window.status, in_window.escrow),
        (OrderStatus::Verified, 10 * UNIT)
    );
    let locked = state
        .machine(machine)
        .await
        .expect("machine")
        .expect("kept");
    assert_eq!(locked.locked, collateral(10 * UNIT));

    // The window closes without a dispute: the hook pays the seller and removes the order.
    client
        .wait_for_finalized_block(u64::from(dispute_until), Duration::from_secs(60))
        .await
        .expect("the end of the dispute window is finalized");
    let settle_hash = client
        .finalized_block_hash(u64::from(dispute_until))
        .await
        .expect("block hash")
        .expect("finalized");
    let settle_events = client
        .market_events_at(settle_hash)
        .await
        .expect("events of the settlement block");
    let settled = settle_events
        .iter()
        .find_map(|event| match &event.event {
            MarketEventKind::OrderSettled { order_id, paid, .. } if *order_id == order => {
                Some(*paid)
            }
            _ => None,
        })
        .expect("OrderSettled at the end of the dispute window");
    assert_eq!(settled, 10 * UNIT);
    ledger.transfer_held(&buyer_id, &seller_id, 10 * UNIT);
    ledger
        .check(&client, settle_hash, "the dispute window closing")
        .await;
    let state = client.state_at(settle_hash).await.expect("state");
    assert_eq!(
        state.order(order).await.expect("order"),
        None,
        "closed orders leave storage"
    );
    assert_eq!(
        state
            .machine(machine)
            .await
            .expect("machine")
            .expect("kept")
            .locked,
        0
    );
    let hook_events: Vec<MarketEvent> = client
        .market_events_at(
            client
                .finalized_block_hash(submitted.block_number + 1)
                .await
                .expect("block hash")
                .expect("finalized"),
        )
        .await
        .expect("events of the draw block")
        .into_iter()
        .chain(settle_events)
        .filter(|event| event.extrinsic_index.is_none())
        .collect();

    // A second order on the same machine, which the trainer gives up after a few blocks: the
    // buyer is refunded and paid the no-show share (20 %) of the collateral for the time used.
    let placed_again = steps
        .place_order(
            &mut ledger,
            &buyer,
            (machine, &seller_id),
            second_order,
            1,
            price_per_hour,
            "second place_order",
        )
        .await;

    let give_up = market.order_failed(second_order, br#"{"v":1,"reason":"GPU fault"}"#.to_vec());
    let failed = steps
        .submit(&mut ledger, &give_up, &seller, "order_failed")
        .await;
    let order_failed = failed.event::<events::OrderFailed>().expect("OrderFailed");
    assert_eq!(order_failed.refunded, price_per_hour);
    let used_blocks = u128::from(failed.block_number - placed_again.block_number);
    let no_show = collateral(price_per_hour) / 5;
    let expected_slash = no_show * used_blocks / 1_200;
    assert!(
        order_failed.slashed.abs_diff(expected_slash) <= 1 && order_failed.slashed > 0,
        "slashed {} after {used_blocks} of 1 200 blocks, expected about {expected_slash}",
        order_failed.slashed
    );
    ledger.release(&buyer_id, price_per_hour);
    ledger.transfer_held(&seller_id, &buyer_id, order_failed.slashed);
    ledger
        .check(&client, failed.block_hash, "order_failed")
        .await;

    let cancel_call = market.cancel_offer(machine);
    let (cancelled, validator_removed) = tokio::try_join!(
        client.submit(&cancel_call, &seller),
        client.sudo(
            runtime::Call::HashrateMarket(runtime::hashrate_market::Call::remove_validator {
                validator: second_validator.into()
            }),
            &sudo
        ),
    )
    .expect("cancel_offer and remove_validator");
    cancelled
        .event::<events::OfferCancelled>()
        .expect("OfferCancelled");
    validator_removed
        .event::<events::ValidatorRemoved>()
        .expect("ValidatorRemoved");
    ledger.paid_fee(&seller_id, &cancelled);
    ledger.paid_fee(&sudo_id, &validator_removed);
    ledger
        .check(
            &client,
            latest(&[&cancelled, &validator_removed]),
            "cancel_offer and remove_validator",
        )
        .await;

    let removed = steps
        .submit(
            &mut ledger,
            &market.remove_machine(machine),
            &seller,
            "remove_machine",
        )
        .await;
    assert_eq!(
        removed
            .event::<events::MachineRemoved>()
            .expect("MachineRemoved")
            .deposit_released,
        MACHINE_DEPOSIT - order_failed.slashed
    );
    ledger.release(&seller_id, MACHINE_DEPOSIT - order_failed.slashed);
    ledger
        .check(&client, removed.block_hash, "remove_machine")
        .await;

    // Root-only calls fail with the pallet's error through sudo, too.
    let removed_twice = client
        .sudo(
            runtime::Call::HashrateMarket(runtime::hashrate_market::Call::remove_validator {
                validator: second_validator.into(),
            }),
            &sudo,
        )
        .await;
    let Err(ChainError::Failed(refused_as_root)) = removed_twice else {
        panic!("removing a removed validator must fail, got {removed_twice:?}");
    };
    assert_eq!(
        refused_as_root.failure,
        DispatchFailure::HashrateMarket(MarketError::NotValidator)
    );
    ledger.charge(&sudo_id, refused_as_root.fee_paid);
    ledger
        .check(
            &client,
            refused_as_root.block_hash,
            "a refused remove_validator",
        )
        .await;

    // The finalized-event stream saw every market event the calls and the hooks emitted, in
    // chain order.
    let all_calls = [
        &added,
        &validator_added,
        &offered,
        &placed,
        &renewed,
        &completed,
        &submitted,
        &verified,
        &placed_again,
        &failed,
        &cancelled,
        &validator_removed,
        &removed,
    ];
    let expected = market_events_of(&all_calls, &hook_events);
    assert_eq!(expected.len(), 15, "{expected:?}");
    let seen = tokio::time::timeout(Duration::from_secs(60), events_seen)
        .await
        .expect("the stream delivers every event")
        .expect("the collector task");
    let seen: Vec<(u64, String)> = seen
        .iter()
        .map(|event| (event.block_number, kind(&event.event)))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_proof_refunds_the_buyer_and_pays_them_the_collateral() {
    let node = TestNode::dev().await.expect("a dev node");
    let client = node.client().await.expect("a client");

    let (seller, buyer, validator) = (keys::dev::eve(), keys::dev::ferdie(), keys::dev_validator());
    let [seller_id, buyer_id, validator_id] = [&seller, &buyer, &validator].map(keys::account_id);
    let mut ledger = Ledger::at_genesis(
        &client,
        &[
            ("Eve (seller)", seller_id, ENDOWMENT),
            ("Ferdie (buyer)", buyer_id, ENDOWMENT),
            ("Dave (validator)", validator_id, ENDOWMENT),
        ],
    )
    .await;

    let market = runtime::tx().hashrate_market();
    let machine = *b"machine-slashed1";
    let order = *b"order-rejected01";
    let price_per_hour = 5 * UNIT;

    let steps = Steps { client: &client };
    let add_machine = market.add_machine(machine, MACHINE_METADATA.to_vec());
    steps
        .submit(&mut ledger, &add_machine, &seller, "add_machine")
        .await;
    ledger.hold(&seller_id, MACHINE_DEPOSIT);
    steps
        .make_offer(
            &mut ledger,
            &seller,
            machine,
            price_per_hour,
            4,
            "add_machine and make_offer",
        )
        .await;
    steps
        .place_order(
            &mut ledger,
            &buyer,
            (machine, &seller_id),
            order,
            2,
            price_per_hour,
            "place_order",
        )
        .await;
    let (_, submitted) = steps
        .complete_with_proof(&mut ledger, &seller, order, 4_200)
        .await;
    let judge = steps
        .assigned_validator(&submitted, order, std::slice::from_ref(&validator))
        .await;

    // The assigned validator rejects the proof: the buyer gets the escrow back plus the order's
    // whole collateral from the machine's deposit, and the machine is delisted.
    let total = 10 * UNIT;
    let (verified, _) = steps
        .verify_pot(
            &mut ledger,
            judge,
            order,
            Verdict::Fail,
            (total, collateral(total)),
        )
        .await;
    verified
        .event::<events::OfferCancelled>()
        .expect("the slash delists the machine with an event");
    ledger.release(&buyer_id, total);
    ledger.transfer_held(&seller_id, &buyer_id, collateral(total));
    ledger
        .check(&client, verified.block_hash, "verify_pot (fail)")
        .await;
    let state = client.state_at(verified.block_hash).await.expect("state");
    assert_eq!(
        state.order(order).await.expect("order"),
        None,
        "a rejected order leaves storage"
    );
    let slashed_machine = state
        .machine(machine)
        .await
        .expect("machine")
        .expect("the machine is kept");
    assert_eq!(
        (
            slashed_machine.deposit,
            slashed_machine.locked,
            slashed_machine.offer,
            slashed_machine.last_order
        ),
        (MACHINE_DEPOSIT - collateral(total), 0, None, Some(order)),
        "slashed, delisted, and free: its latest order is closed"
    );

    // Listing the machine again first tops its deposit back up.
    let relisted = steps
        .submit(
            &mut ledger,
            &market.make_offer(machine, price_per_hour, 4, 100),
            &seller,
            "make_offer after the slash",
        )
        .await;
    assert_eq!(
        relisted
            .event::<events::OfferMade>()
            .expect("OfferMade")
            .deposit,
        MACHINE_DEPOSIT
    );
    ledger.hold(&seller_id, collateral(total));
    ledger
        .check(&client, relisted.block_hash, "make_offer after the slash")
        .await;
}
