//! # Hashrate market
//!
//! The MatrixAI compute marketplace. Owners register machines, holding a deposit that is their
//! stake, and list them with an hourly price; buyers rent a listed machine by placing an order
//! whose total is computed here from the snapshotted price, checked against the buyer's limit and
//! held in escrow. Each order puts `CollateralRatio` of its total of the machine's deposit at
//! stake. The trainer reports completion or failure and commits a Proof of Training.
//!
//! The chain, not the seller, picks who judges a proof: from the hash of the block that included
//! it, a panel of validators who are not parties to the order, one per round of
//! `round_blocks`. A passing verdict (or a panel that stays silent) opens a dispute window; when
//! it closes the seller is paid. During it anybody may dispute one segment of the proof with a
//! bond, and a freshly drawn validator replays just that segment: a proven forgery refunds the
//! buyer, slashes the collateral and rewards the disputer; a frivolous dispute pays the bond to
//! the seller. A failing verdict refunds the buyer and pays them the collateral; an order whose
//! trainer never delivers is refunded and slashed in part.
//!
//! Every stage of an open order times out at a block held in a block-keyed expiry queue:
//! `on_initialize` handles at most `MaxExpiriesPerBlock` entries a block, and anyone may call
//! `expire_order` once an order's block has passed, so no refund waits on the queue. An order
//! leaves storage when it closes; every event carries what an indexer needs, so indexers never
//! read storage.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

#[frame_support::pallet]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;
	use codec::Decode;
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Preservation, Restriction},
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		traits::{CheckedAdd, CheckedMul, CheckedSub, Hash, One, Saturating, StaticLookup, UniqueSaturatedInto, Zero},
		Perbill, TokenError,
	};

	pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	pub type MachineOf<T> = Machine<<T as frame_system::Config>::AccountId, BalanceOf<T>>;
	pub type OrderOf<T> = Order<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;
	pub type JudgingOf<T> = Judging<<T as frame_system::Config>::AccountId, BlockNumberFor<T>>;
	pub type AccountIdLookupOf<T> = <<T as frame_system::Config>::Lookup as StaticLookup>::Source;

	/// Most blocks of expiry backlog `on_initialize` looks at in one block. Above one, the backlog
	/// left by a burst of expiries shrinks even while later blocks stay empty.
	pub const MAX_BACKLOG_SCAN: u32 = 8;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency that deposits, escrows and dispute bonds are held in.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// Who may add and remove validators.
		type AdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// The least deposit a listed machine holds.
		#[pallet::constant]
		type MachineDeposit: Get<BalanceOf<Self>>;

		/// Part of an order's total (rounded up) that its machine's deposit must cover and that a
		/// proven forgery forfeits to the buyer. Must be above zero.
		#[pallet::constant]
		type CollateralRatio: Get<Perbill>;

		/// Part of the collateral paid to the buyer when the trainer never delivers: all of it at
		/// an expiry, in proportion to the rented time used when the trainer reports failure.
		#[pallet::constant]
		type NoShowSlash: Get<Perbill>;

		/// Part of a proven forgery's slash paid to the disputer; the buyer gets the rest.
		#[pallet::constant]
		type DisputeReward: Get<Perbill>;

		/// Held from whoever disputes a verified proof.
		#[pallet::constant]
		type DisputeBond: Get<BalanceOf<Self>>;

		/// Blocks after a verified proof during which it may be disputed; the seller is paid after.
		#[pallet::constant]
		type DisputeWindow: Get<BlockNumberFor<Self>>;

		/// Blocks in one hour of rented time.
		#[pallet::constant]
		type BlocksPerHour: Get<BlockNumberFor<Self>>;

		/// Longest rental an offer may allow, in hours.
		#[pallet::constant]
		type MaxDurationHours: Get<u32>;

		/// Blocks after an order's deadline during which its result and proof are still accepted.
		#[pallet::constant]
		type CompletionGrace: Get<BlockNumberFor<Self>>;

		/// The fixed part of a judging round, in blocks.
		#[pallet::constant]
		type VerificationWindow: Get<BlockNumberFor<Self>>;

		/// The part of a judging round that grows with the order: this share of its rented time,
		/// since replaying segments takes longer for a longer training.
		#[pallet::constant]
		type VerificationShare: Get<Perbill>;

		/// Rounds of judging, each with the next validator of the panel, before a proof or a
		/// dispute counts as unjudged. At most `MAX_PANEL`.
		#[pallet::constant]
		type JudgingRounds: Get<u32>;

		/// Most expiry entries `on_initialize` handles in one block; more wait for later blocks.
		#[pallet::constant]
		type MaxExpiriesPerBlock: Get<u32>;

		/// Most accounts in the validator set.
		#[pallet::constant]
		type MaxValidators: Get<u32>;

		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A registered machine's deposit: its owner's stake.
		MachineDeposit,
		/// An open order's payment, held from the buyer.
		OrderEscrow,
		/// A dispute's bond, held from the disputer.
		DisputeBond,
	}

	/// Registered machines by id.
	#[pallet::storage]
	pub type Machines<T: Config> = StorageMap<_, Blake2_128Concat, MachineId, MachineOf<T>>;

	/// Open orders by id. An order is removed when it closes (settled, rejected, failed or
	/// expired), so the map holds at most one order in training per machine plus the orders in
	/// their verification and dispute windows.
	#[pallet::storage]
	pub type Orders<T: Config> = StorageMap<_, Blake2_128Concat, OrderId, OrderOf<T>>;

	/// Accounts allowed to judge proofs and disputes.
	#[pallet::storage]
	pub type Validators<T: Config> = StorageValue<_, BoundedVec<T::AccountId, T::MaxValidators>, ValueQuery>;

	/// Every open order under the block at which its current stage times out (its
	/// `expires_at`), exactly once: an order's entry moves when its stage changes and goes when it
	/// closes.
	#[pallet::storage]
	pub type ExpiryQueue<T: Config> =
		StorageDoubleMap<_, Twox64Concat, BlockNumberFor<T>, Blake2_128Concat, OrderId, ()>;

	/// The oldest block whose expiry entries are not all handled yet, when earlier blocks had more
	/// than `MaxExpiriesPerBlock` of them; `None` when the queue is up to date.
	#[pallet::storage]
	pub type ExpiryBacklog<T: Config> = StorageValue<_, BlockNumberFor<T>>;

	#[pallet::genesis_config]
	#[derive(frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		pub validators: Vec<T::AccountId>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			let mut validators = self.validators.clone();
			validators.sort();
			validators.dedup();
			let validators: BoundedVec<_, T::MaxValidators> =
				validators.try_into().expect("genesis lists more validators than MaxValidators");
			Validators::<T>::put(validators);
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A machine was registered and `deposit` held from its owner.
		MachineAdded { machine_id: MachineId, owner: T::AccountId, deposit: BalanceOf<T>, metadata: MachineMetadata },
		/// A machine was unregistered and its deposit released.
		MachineRemoved { machine_id: MachineId, owner: T::AccountId, deposit_released: BalanceOf<T> },
		/// The owner added `amount` to the machine's deposit, which is now `deposit`.
		DepositAdded { machine_id: MachineId, owner: T::AccountId, amount: BalanceOf<T>, deposit: BalanceOf<T> },
		/// The machine is listed (or re-priced); `deposit` is what is held for it now.
		OfferMade { machine_id: MachineId, owner: T::AccountId, offer: Offer<BalanceOf<T>>, deposit: BalanceOf<T> },
		/// The machine was delisted, by its owner or by a slash.
		OfferCancelled { machine_id: MachineId, owner: T::AccountId },
		/// An order was placed: `total` is held from the buyer, `collateral` of the machine's
		/// deposit is at stake.
		OrderPlaced {
			order_id: OrderId,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			duration_hours: u32,
			price_per_hour: BalanceOf<T>,
			total: BalanceOf<T>,
			collateral: BalanceOf<T>,
			deadline: BlockNumberFor<T>,
			metadata: OrderMetadata,
		},
		/// The buyer extended the order by `extra_hours` and paid `extra_amount` more into escrow.
		OrderRenewed {
			order_id: OrderId,
			buyer: T::AccountId,
			extra_hours: u32,
			extra_amount: BalanceOf<T>,
			duration_hours: u32,
			escrow: BalanceOf<T>,
			collateral: BalanceOf<T>,
			deadline: BlockNumberFor<T>,
		},
		/// The trainer reported the job done; its proof is due before the deadline plus grace.
		OrderCompleted {
			order_id: OrderId,
			seller: T::AccountId,
			machine_id: MachineId,
			score: u32,
			result: ResultMetadata,
		},
		/// The trainer gave up: the buyer got the whole escrow back, plus `slashed` of the
		/// machine's deposit for the rented time the order held their funds; the machine is free.
		OrderFailed {
			order_id: OrderId,
			seller: T::AccountId,
			buyer: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
			slashed: BalanceOf<T>,
			result: ResultMetadata,
		},
		/// The trainer committed its Proof of Training. The hash of `challenge_block` (the block
		/// that included this) seeds the segments a validator replays and the panel drawn next.
		PotSubmitted {
			order_id: OrderId,
			seller: T::AccountId,
			machine_id: MachineId,
			proof: ProofData,
			challenge_block: BlockNumberFor<T>,
		},
		/// A panel was drawn to judge the order's proof (or its dispute): `panel[r]` may judge
		/// from block `from + r * round_blocks`, and the last round ends at `until`.
		PanelDrawn {
			order_id: OrderId,
			panel: Panel<T::AccountId>,
			from: BlockNumberFor<T>,
			round_blocks: BlockNumberFor<T>,
			until: BlockNumberFor<T>,
		},
		/// A validator judged a proof. On a pass the dispute window runs until `dispute_until`; on
		/// a fail the buyer got `refunded` plus `slashed` collateral and the machine was delisted.
		PotVerified {
			order_id: OrderId,
			validator: T::AccountId,
			verdict: Verdict,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
			slashed: BalanceOf<T>,
			dispute_until: Option<BlockNumberFor<T>>,
		},
		/// No validator of the panel judged the proof: it stands as passed, open to disputes
		/// until `dispute_until`.
		PotUnjudged { order_id: OrderId, dispute_until: BlockNumberFor<T> },
		/// `disputer` claims `segment` of the verified proof was forged and holds `bond` on it.
		DisputeRaised { order_id: OrderId, disputer: T::AccountId, segment: u32, bond: BalanceOf<T> },
		/// A validator replayed the disputed segment. `Fail`: the forgery is proven, the buyer got
		/// `refunded` and `slashed` less `reward`, the disputer `reward` and the bond back, and the
		/// machine was delisted. `Pass`: the segment is honest and the bond went to the seller; the
		/// order is open to disputes again until `dispute_until`, or settles when that has passed
		/// (`None`, with `OrderSettled`).
		DisputeResolved {
			order_id: OrderId,
			validator: T::AccountId,
			verdict: Verdict,
			disputer: T::AccountId,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
			slashed: BalanceOf<T>,
			reward: BalanceOf<T>,
			bond_forfeited: BalanceOf<T>,
			dispute_until: Option<BlockNumberFor<T>>,
		},
		/// No validator judged the dispute: the bond went back, and the order is open to
		/// disputes again until `dispute_until`, or settles when that has passed (`None`).
		DisputeUnjudged {
			order_id: OrderId,
			disputer: T::AccountId,
			bond_returned: BalanceOf<T>,
			dispute_until: Option<BlockNumberFor<T>>,
		},
		/// The order closed with the escrow `paid` to the seller.
		OrderSettled {
			order_id: OrderId,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			paid: BalanceOf<T>,
		},
		/// The order passed its deadline and grace period without a proof: the buyer got the
		/// escrow back plus `slashed` of the collateral, and the machine was delisted.
		OrderExpired {
			order_id: OrderId,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
			slashed: BalanceOf<T>,
		},
		/// The account may now judge proofs and disputes.
		ValidatorAdded { validator: T::AccountId },
		/// The account may no longer judge.
		ValidatorRemoved { validator: T::AccountId },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// A machine with this id is already registered; pick a fresh UUID.
		MachineExists,
		/// No machine has this id.
		UnknownMachine,
		/// Only the machine's owner may do this.
		NotOwner,
		/// The machine is rented by an order in training or awaiting its verdict; wait until the
		/// order moves on.
		MachineRented,
		/// The machine's deposit still backs orders in their dispute window; remove it after they
		/// settle.
		CollateralLocked,
		/// The machine is not listed on the market.
		NotListed,
		/// The seller named in the order does not own the machine.
		WrongSeller,
		/// A machine's owner cannot rent their own machine.
		OwnMachine,
		/// The offer's price is above the buyer's limit: the seller re-priced. Check the offer
		/// and place the order again with a limit you accept.
		PriceAboveLimit,
		/// The machine's free deposit does not cover this order's collateral; its owner must
		/// `add_deposit`, or rent it for fewer hours.
		CollateralTooLow,
		/// An open order with this id exists; pick a fresh UUID.
		OrderExists,
		/// No open order has this id (it never existed, or it closed).
		UnknownOrder,
		/// Only the order's buyer may do this.
		NotBuyer,
		/// Only the order's seller may do this.
		NotSeller,
		/// The order is not in a state that allows this call.
		WrongOrderState,
		/// The order's deadline has passed; it can no longer be renewed.
		DeadlinePassed,
		/// The price per hour must be above zero.
		ZeroPrice,
		/// The duration must be at least one hour.
		ZeroDuration,
		/// The amount must be above zero.
		ZeroAmount,
		/// The offer's maximum duration must be between 1 and `MaxDurationHours`.
		InvalidMaxDuration,
		/// The order would last longer than the offer allowed when it was placed.
		DurationAboveOffer,
		/// An amount does not fit in a balance.
		Overflow,
		/// The caller's free balance cannot cover the deposit, the order total or the bond.
		InsufficientBalance,
		/// Metadata or result JSON is longer than its bound.
		MetadataTooLong,
		/// Metadata must not be empty.
		EmptyMetadata,
		/// The proof commitment is longer than its bound.
		ProofTooLong,
		/// The proof commitment must not be empty.
		EmptyProof,
		/// The caller is not an authorised validator.
		NotValidator,
		/// The caller is not the validator assigned to judge this order in the current round; see
		/// the order's `PanelDrawn` event.
		NotAssigned,
		/// The account is already a validator.
		AlreadyValidator,
		/// The validator set is full.
		TooManyValidators,
		/// The order's current stage timed out; call `expire_order` (or wait for the next block).
		OrderOverdue,
		/// The order's current stage has not timed out yet.
		NotDue,
		/// The seller cannot dispute their own proof.
		SellerCannotDispute,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let (handled, scanned) = Self::expire_due(now);
			T::WeightInfo::expiry_scan(scanned).saturating_add(Self::expiry_weight().saturating_mul(handled.into()))
		}

		fn integrity_test() {
			assert!(!T::BlocksPerHour::get().is_zero(), "BlocksPerHour must be above zero");
			// Expiries are always scheduled after the current block, which has run its hook.
			assert!(!T::VerificationWindow::get().is_zero(), "VerificationWindow must be above zero");
			assert!(!T::DisputeWindow::get().is_zero(), "DisputeWindow must be above zero");
			assert!((1..=MAX_PANEL).contains(&T::JudgingRounds::get()), "JudgingRounds must be in 1..=MAX_PANEL");
			assert!(T::MaxExpiriesPerBlock::get() > 0, "MaxExpiriesPerBlock must be above zero");
			assert!(T::MaxDurationHours::get() > 0, "MaxDurationHours must be above zero");
			// A verified order's collateral, in its machine's `locked`, keeps the machine registered.
			assert!(!T::CollateralRatio::get().is_zero(), "CollateralRatio must be above zero");
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(now: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			Self::do_try_state(now)
		}
	}

	#[pallet::call(weight(<T as Config>::WeightInfo))]
	impl<T: Config> Pallet<T> {
		/// Registers a machine under a fresh id, holding `MachineDeposit` from the caller.
		///
		/// Origin: signed, the owner. Emits `MachineAdded`. Weight: `O(1)`.
		#[pallet::call_index(0)]
		pub fn add_machine(origin: OriginFor<T>, id: MachineId, metadata: Vec<u8>) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let metadata = Self::bounded_metadata(metadata)?;
			ensure!(!Machines::<T>::contains_key(id), Error::<T>::MachineExists);
			let deposit = T::MachineDeposit::get();
			Self::hold(HoldReason::MachineDeposit, &owner, deposit)?;
			Machines::<T>::insert(
				id,
				Machine {
					owner: owner.clone(),
					metadata: metadata.clone(),
					deposit,
					locked: Zero::zero(),
					offer: None,
					last_order: None,
				},
			);
			Self::deposit_event(Event::MachineAdded { machine_id: id, owner, deposit, metadata });
			Ok(())
		}

		/// Unregisters a machine that no open order relies on and releases its deposit.
		///
		/// Origin: signed, the owner. Emits `MachineRemoved`. Weight: `O(1)`.
		#[pallet::call_index(1)]
		pub fn remove_machine(origin: OriginFor<T>, id: MachineId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let machine = Self::owned_machine(&id, &owner)?;
			ensure!(!Self::is_rented(&id, &machine), Error::<T>::MachineRented);
			ensure!(machine.locked.is_zero(), Error::<T>::CollateralLocked);
			T::Currency::release(&HoldReason::MachineDeposit.into(), &owner, machine.deposit, Precision::Exact)?;
			Machines::<T>::remove(id);
			Self::deposit_event(Event::MachineRemoved { machine_id: id, owner, deposit_released: machine.deposit });
			Ok(())
		}

		/// Lists the machine, or changes its terms. Open orders keep the terms they were placed
		/// at. A deposit below `MachineDeposit` (after a slash) is topped up to it first.
		///
		/// Origin: signed, the owner. Emits `OfferMade`. Weight: `O(1)`.
		#[pallet::call_index(2)]
		pub fn make_offer(
			origin: OriginFor<T>,
			id: MachineId,
			price_per_hour: BalanceOf<T>,
			max_duration_hours: u32,
			disk_gb: u32,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let mut machine = Self::owned_machine(&id, &owner)?;
			ensure!(!price_per_hour.is_zero(), Error::<T>::ZeroPrice);
			ensure!((1..=T::MaxDurationHours::get()).contains(&max_duration_hours), Error::<T>::InvalidMaxDuration);
			let shortfall = T::MachineDeposit::get().saturating_sub(machine.deposit);
			if !shortfall.is_zero() {
				Self::hold(HoldReason::MachineDeposit, &owner, shortfall)?;
				machine.deposit = machine.deposit.saturating_add(shortfall);
			}
			let offer = Offer { price_per_hour, max_duration_hours, disk_gb };
			machine.offer = Some(offer.clone());
			let deposit = machine.deposit;
			Machines::<T>::insert(id, machine);
			Self::deposit_event(Event::OfferMade { machine_id: id, owner, offer, deposit });
			Ok(())
		}

		/// Delists a machine that is not rented.
		///
		/// Origin: signed, the owner. Emits `OfferCancelled`. Weight: `O(1)`.
		#[pallet::call_index(3)]
		pub fn cancel_offer(origin: OriginFor<T>, id: MachineId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let mut machine = Self::owned_machine(&id, &owner)?;
			ensure!(machine.offer.is_some(), Error::<T>::NotListed);
			ensure!(!Self::is_rented(&id, &machine), Error::<T>::MachineRented);
			machine.offer = None;
			Machines::<T>::insert(id, machine);
			Self::deposit_event(Event::OfferCancelled { machine_id: id, owner });
			Ok(())
		}

		/// Rents a listed machine for `duration_hours`. The total is the offer's price times the
		/// duration, computed here, refused if the price is above `max_price_per_hour` (so a
		/// seller who re-prices first cannot take more than the buyer agreed to), and held from
		/// the buyer until the order closes. `CollateralRatio` of the total must be covered by the
		/// machine's deposit beyond what earlier orders still lock.
		///
		/// Origin: signed, the buyer. Emits `OrderPlaced`. Weight: `O(1)`.
		#[pallet::call_index(4)]
		pub fn place_order(
			origin: OriginFor<T>,
			id: OrderId,
			seller: AccountIdLookupOf<T>,
			machine_id: MachineId,
			duration_hours: u32,
			max_price_per_hour: BalanceOf<T>,
			metadata: Vec<u8>,
		) -> DispatchResult {
			let buyer = ensure_signed(origin)?;
			let seller = T::Lookup::lookup(seller)?;
			let metadata = Self::bounded_metadata(metadata)?;
			ensure!(!Orders::<T>::contains_key(id), Error::<T>::OrderExists);
			let mut machine = Machines::<T>::get(machine_id).ok_or(Error::<T>::UnknownMachine)?;
			ensure!(machine.owner == seller, Error::<T>::WrongSeller);
			ensure!(buyer != seller, Error::<T>::OwnMachine);
			let offer = machine.offer.clone().ok_or(Error::<T>::NotListed)?;
			ensure!(offer.price_per_hour <= max_price_per_hour, Error::<T>::PriceAboveLimit);
			ensure!(!Self::is_rented(&machine_id, &machine), Error::<T>::MachineRented);
			ensure!(duration_hours > 0, Error::<T>::ZeroDuration);
			ensure!(duration_hours <= offer.max_duration_hours, Error::<T>::DurationAboveOffer);
			let total = Self::cost(offer.price_per_hour, duration_hours)?;
			let collateral = Self::collateral(total);
			Self::ensure_covered(&machine, collateral)?;
			Self::hold(HoldReason::OrderEscrow, &buyer, total)?;

			let placed_at = frame_system::Pallet::<T>::block_number();
			let deadline = placed_at.saturating_add(Self::hours_to_blocks(duration_hours));
			let expires_at = deadline.saturating_add(T::CompletionGrace::get());
			ExpiryQueue::<T>::insert(expires_at, id, ());
			machine.last_order = Some(id);
			Machines::<T>::insert(machine_id, machine);
			Orders::<T>::insert(
				id,
				Order {
					buyer: buyer.clone(),
					seller: seller.clone(),
					machine_id,
					price_per_hour: offer.price_per_hour,
					duration_hours,
					max_duration_hours: offer.max_duration_hours,
					escrow: total,
					collateral,
					metadata: metadata.clone(),
					status: OrderStatus::Training,
					placed_at,
					deadline,
					expires_at,
					result: None,
					score: None,
					proof: None,
					seed_block: None,
					judging: None,
					verified_by: None,
					dispute: None,
				},
			);
			Self::deposit_event(Event::OrderPlaced {
				order_id: id,
				buyer,
				seller,
				machine_id,
				duration_hours,
				price_per_hour: offer.price_per_hour,
				total,
				collateral,
				deadline,
				metadata,
			});
			Ok(())
		}

		/// Extends an order in training by `duration_hours`, before its deadline, at the price and
		/// within the maximum duration it was placed at. The machine's deposit must cover the
		/// larger collateral.
		///
		/// Origin: signed, the buyer. Emits `OrderRenewed`. Weight: `O(1)`.
		#[pallet::call_index(5)]
		pub fn renew_order(origin: OriginFor<T>, order_id: OrderId, duration_hours: u32) -> DispatchResult {
			let buyer = ensure_signed(origin)?;
			let mut order = Orders::<T>::get(order_id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(order.buyer == buyer, Error::<T>::NotBuyer);
			ensure!(order.status == OrderStatus::Training, Error::<T>::WrongOrderState);
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(now < order.deadline, Error::<T>::DeadlinePassed);
			ensure!(duration_hours > 0, Error::<T>::ZeroDuration);
			let total_hours = order.duration_hours.checked_add(duration_hours).ok_or(Error::<T>::Overflow)?;
			ensure!(total_hours <= order.max_duration_hours, Error::<T>::DurationAboveOffer);
			let extra_amount = Self::cost(order.price_per_hour, duration_hours)?;
			let escrow = order.escrow.checked_add(&extra_amount).ok_or(Error::<T>::Overflow)?;
			let collateral = Self::collateral(escrow);
			let machine = Machines::<T>::get(order.machine_id).ok_or(Error::<T>::UnknownMachine)?;
			Self::ensure_covered(&machine, collateral)?;
			Self::hold(HoldReason::OrderEscrow, &buyer, extra_amount)?;

			order.deadline = order.deadline.saturating_add(Self::hours_to_blocks(duration_hours));
			let expires_at = order.deadline.saturating_add(T::CompletionGrace::get());
			Self::reschedule(order_id, &mut order, expires_at);
			order.duration_hours = total_hours;
			order.escrow = escrow;
			order.collateral = collateral;
			Self::deposit_event(Event::OrderRenewed {
				order_id,
				buyer,
				extra_hours: duration_hours,
				extra_amount,
				duration_hours: total_hours,
				escrow,
				collateral,
				deadline: order.deadline,
			});
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// The trainer reports the job done with its result (model URI, hashes, metrics) and score.
		/// Payment still waits for the Proof of Training and its verdict.
		///
		/// Origin: signed, the seller. Emits `OrderCompleted`. Weight: `O(1)`.
		#[pallet::call_index(6)]
		pub fn order_completed(
			origin: OriginFor<T>,
			order_id: OrderId,
			metadata: Vec<u8>,
			score: u32,
		) -> DispatchResult {
			let seller = ensure_signed(origin)?;
			let result = Self::bounded_result(metadata)?;
			let mut order = Self::sold_order(&order_id, &seller)?;
			ensure!(order.status == OrderStatus::Training, Error::<T>::WrongOrderState);
			Self::ensure_not_overdue(&order)?;
			order.status = OrderStatus::Completed;
			order.result = Some(result.clone());
			order.score = Some(score);
			Self::deposit_event(Event::OrderCompleted {
				order_id,
				seller,
				machine_id: order.machine_id,
				score,
				result,
			});
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// The trainer gives up on an order that has no proof yet: the buyer is refunded in full
		/// and paid `NoShowSlash` of the collateral in proportion to the rented time that has
		/// passed (giving up at once costs nothing, holding the buyer's funds to the deadline
		/// costs as much as not showing up); the machine is free for the next order.
		///
		/// Origin: signed, the seller. Emits `OrderFailed`. Weight: `O(1)`.
		#[pallet::call_index(7)]
		pub fn order_failed(origin: OriginFor<T>, order_id: OrderId, metadata: Vec<u8>) -> DispatchResult {
			let seller = ensure_signed(origin)?;
			let result = Self::bounded_result(metadata)?;
			let order = Self::sold_order(&order_id, &seller)?;
			ensure!(
				matches!(order.status, OrderStatus::Training | OrderStatus::Completed),
				Error::<T>::WrongOrderState
			);
			let now = frame_system::Pallet::<T>::block_number();
			let rented: u64 = order.deadline.saturating_sub(order.placed_at).unique_saturated_into();
			let used: u64 = now.saturating_sub(order.placed_at).unique_saturated_into();
			let slash = Perbill::from_rational(used.min(rented), rented) * (T::NoShowSlash::get() * order.collateral);
			let refunded = Self::refund_buyer(&order)?;
			let slashed = Self::slash_collateral(&order, slash, false)?;
			Self::close(order_id, &order);
			Self::deposit_event(Event::OrderFailed {
				order_id,
				seller,
				buyer: order.buyer,
				machine_id: order.machine_id,
				refunded,
				slashed,
				result,
			});
			Ok(())
		}

		/// The trainer commits the Proof of Training of a completed order. The hash of the block
		/// that includes this call seeds the verifier's segment challenge, and, from the next
		/// block, the draw of the panel that judges it: nobody can pick their judge.
		///
		/// Origin: signed, the seller. Emits `PotSubmitted`. Weight: `O(1)`.
		#[pallet::call_index(8)]
		pub fn submit_pot(origin: OriginFor<T>, order_id: OrderId, proofsdata: Vec<u8>) -> DispatchResult {
			let seller = ensure_signed(origin)?;
			ensure!(!proofsdata.is_empty(), Error::<T>::EmptyProof);
			let proof = ProofData::try_from(proofsdata).map_err(|_| Error::<T>::ProofTooLong)?;
			let mut order = Self::sold_order(&order_id, &seller)?;
			ensure!(order.status == OrderStatus::Completed, Error::<T>::WrongOrderState);
			Self::ensure_not_overdue(&order)?;
			let now = frame_system::Pallet::<T>::block_number();
			Self::reschedule(order_id, &mut order, now.saturating_add(One::one()));
			order.status = OrderStatus::PotSubmitted;
			order.proof = Some(proof.clone());
			order.seed_block = Some(now);
			Self::deposit_event(Event::PotSubmitted {
				order_id,
				seller,
				machine_id: order.machine_id,
				proof,
				challenge_block: now,
			});
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// The verdict of the validator assigned to the current round, on a submitted proof or on
		/// a disputed segment.
		///
		/// On a proof: `Pass` opens the dispute window (the seller is paid when it closes) and
		/// frees the machine for its next order; `Fail` refunds the buyer, pays them the order's
		/// whole collateral and delists the machine. On a dispute: `Fail` (the segment does not
		/// replay) refunds the buyer, slashes the collateral (`DisputeReward` of it to the
		/// disputer, the rest to the buyer), returns the bond and delists the machine; `Pass`
		/// pays the bond to the seller and settles the order.
		///
		/// Origin: signed, the assigned validator (never a party to the order). Emits
		/// `PotVerified`, or `DisputeResolved`, and `OfferCancelled` or `OrderSettled`. Weight:
		/// `O(1)`, charged for the path taken.
		#[pallet::call_index(9)]
		#[pallet::weight(Pallet::<T>::verify_pot_weight())]
		pub fn verify_pot(origin: OriginFor<T>, order_id: OrderId, verdict: Verdict) -> DispatchResultWithPostInfo {
			let validator = ensure_signed(origin)?;
			ensure!(Validators::<T>::get().contains(&validator), Error::<T>::NotValidator);
			let mut order = Orders::<T>::get(order_id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(
				matches!(order.status, OrderStatus::PotSubmitted | OrderStatus::Disputed),
				Error::<T>::WrongOrderState
			);
			Self::ensure_not_overdue(&order)?;
			ensure!(Self::assignee(&order).as_ref() == Some(&validator), Error::<T>::NotAssigned);

			let weight = match (order.status, verdict) {
				(OrderStatus::PotSubmitted, Verdict::Pass) => {
					let now = frame_system::Pallet::<T>::block_number();
					let dispute_until = now.saturating_add(T::DisputeWindow::get());
					Self::adjust_locked(&order, Saturating::saturating_add)?;
					Self::open_dispute_window(order_id, &mut order, dispute_until);
					order.verified_by = Some(validator.clone());
					Self::deposit_event(Event::PotVerified {
						order_id,
						validator,
						verdict,
						buyer: order.buyer.clone(),
						seller: order.seller.clone(),
						machine_id: order.machine_id,
						refunded: Zero::zero(),
						slashed: Zero::zero(),
						dispute_until: Some(dispute_until),
					});
					Orders::<T>::insert(order_id, order);
					T::WeightInfo::verify_pot_pass()
				},
				(OrderStatus::PotSubmitted, Verdict::Fail) => {
					let refunded = Self::refund_buyer(&order)?;
					let slashed = Self::slash_collateral(&order, order.collateral, true)?;
					Self::close(order_id, &order);
					Self::deposit_event(Event::PotVerified {
						order_id,
						validator,
						verdict,
						buyer: order.buyer,
						seller: order.seller,
						machine_id: order.machine_id,
						refunded,
						slashed,
						dispute_until: None,
					});
					T::WeightInfo::verify_pot_fail()
				},
				(_, Verdict::Fail) => {
					let dispute = order.dispute.clone().ok_or(Error::<T>::WrongOrderState)?;
					let refunded = Self::refund_buyer(&order)?;
					let slashed = Self::slash_collateral(&order, order.collateral, true)?;
					let reward = T::DisputeReward::get() * slashed;
					T::Currency::transfer(&order.buyer, &dispute.disputer, reward, Preservation::Expendable)?;
					T::Currency::release(
						&HoldReason::DisputeBond.into(),
						&dispute.disputer,
						dispute.bond,
						Precision::Exact,
					)?;
					Self::close(order_id, &order);
					Self::deposit_event(Event::DisputeResolved {
						order_id,
						validator,
						verdict,
						disputer: dispute.disputer,
						buyer: order.buyer,
						seller: order.seller,
						machine_id: order.machine_id,
						refunded,
						slashed,
						reward,
						bond_forfeited: Zero::zero(),
						dispute_until: None,
					});
					T::WeightInfo::verify_dispute_forged()
				},
				(_, Verdict::Pass) => {
					let dispute = order.dispute.clone().ok_or(Error::<T>::WrongOrderState)?;
					let bond_forfeited = T::Currency::transfer_on_hold(
						&HoldReason::DisputeBond.into(),
						&dispute.disputer,
						&order.seller,
						dispute.bond,
						Precision::Exact,
						Restriction::Free,
						Fortitude::Force,
					)?;
					let now = frame_system::Pallet::<T>::block_number();
					let dispute_until = (now < dispute.window_end).then_some(dispute.window_end);
					Self::deposit_event(Event::DisputeResolved {
						order_id,
						validator,
						verdict,
						disputer: dispute.disputer,
						buyer: order.buyer.clone(),
						seller: order.seller.clone(),
						machine_id: order.machine_id,
						refunded: Zero::zero(),
						slashed: Zero::zero(),
						reward: Zero::zero(),
						bond_forfeited,
						dispute_until,
					});
					Self::resume_or_settle(order_id, order, now)?;
					T::WeightInfo::verify_dispute_honest()
				},
			};
			Ok(Some(weight).into())
		}

		/// Authorises an account to judge proofs and disputes.
		///
		/// Origin: `AdminOrigin`. Emits `ValidatorAdded`. Weight: `O(MaxValidators)`.
		#[pallet::call_index(10)]
		pub fn add_validator(origin: OriginFor<T>, validator: AccountIdLookupOf<T>) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			let validator = T::Lookup::lookup(validator)?;
			Validators::<T>::try_mutate(|validators| {
				ensure!(!validators.contains(&validator), Error::<T>::AlreadyValidator);
				validators.try_push(validator.clone()).map_err(|_| Error::<T>::TooManyValidators)
			})?;
			Self::deposit_event(Event::ValidatorAdded { validator });
			Ok(())
		}

		/// Withdraws an account's authority to judge; panels it sits on lose its rounds.
		///
		/// Origin: `AdminOrigin`. Emits `ValidatorRemoved`. Weight: `O(MaxValidators)`.
		#[pallet::call_index(11)]
		pub fn remove_validator(origin: OriginFor<T>, validator: AccountIdLookupOf<T>) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			let validator = T::Lookup::lookup(validator)?;
			Validators::<T>::try_mutate(|validators| {
				let position = validators.iter().position(|v| v == &validator).ok_or(Error::<T>::NotValidator)?;
				validators.remove(position);
				Ok::<_, Error<T>>(())
			})?;
			Self::deposit_event(Event::ValidatorRemoved { validator });
			Ok(())
		}

		/// Adds `amount` to a machine's deposit, so that it can take larger orders (each needs
		/// `CollateralRatio` of its total free in the deposit).
		///
		/// Origin: signed, the owner. Emits `DepositAdded`. Weight: `O(1)`.
		#[pallet::call_index(12)]
		pub fn add_deposit(origin: OriginFor<T>, id: MachineId, amount: BalanceOf<T>) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
			let mut machine = Self::owned_machine(&id, &owner)?;
			let deposit = machine.deposit.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
			Self::hold(HoldReason::MachineDeposit, &owner, amount)?;
			machine.deposit = deposit;
			Machines::<T>::insert(id, machine);
			Self::deposit_event(Event::DepositAdded { machine_id: id, owner, amount, deposit });
			Ok(())
		}

		/// Moves an order whose current stage has timed out on, as `on_initialize` would: an
		/// order without a proof by its deadline plus grace is refunded and `NoShowSlash` of its
		/// collateral paid to the buyer; a submitted proof gets its panel; an unjudged proof
		/// stands as passed; a closed dispute window pays the seller. Anyone may call it, so no
		/// refund waits for the expiry queue's backlog.
		///
		/// Origin: signed, anyone. Emits what the stage's timeout emits. Weight: `O(1)`, charged
		/// for the path taken.
		#[pallet::call_index(13)]
		#[pallet::weight(Pallet::<T>::expiry_weight())]
		pub fn expire_order(origin: OriginFor<T>, order_id: OrderId) -> DispatchResultWithPostInfo {
			ensure_signed(origin)?;
			let order = Orders::<T>::get(order_id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(frame_system::Pallet::<T>::block_number() >= order.expires_at, Error::<T>::NotDue);
			let weight = Self::expire(order_id, order)?;
			Ok(Some(weight).into())
		}

		/// Disputes a verified proof by naming one `segment` that does not replay, holding
		/// `DisputeBond` from the caller until a validator drawn from the next block's seed (not a
		/// party, not the disputer, not the validator who passed it) replays that segment.
		///
		/// Origin: signed, anyone but the seller, before the dispute window closes. Emits
		/// `DisputeRaised`. Weight: `O(1)`.
		#[pallet::call_index(14)]
		pub fn dispute(origin: OriginFor<T>, order_id: OrderId, segment: u32) -> DispatchResult {
			let disputer = ensure_signed(origin)?;
			let mut order = Orders::<T>::get(order_id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(order.status == OrderStatus::Verified, Error::<T>::WrongOrderState);
			ensure!(disputer != order.seller, Error::<T>::SellerCannotDispute);
			Self::ensure_not_overdue(&order)?;
			let bond = T::DisputeBond::get();
			Self::hold(HoldReason::DisputeBond, &disputer, bond)?;
			let now = frame_system::Pallet::<T>::block_number();
			let window_end = order.expires_at;
			Self::reschedule(order_id, &mut order, now.saturating_add(One::one()));
			order.status = OrderStatus::Disputed;
			order.dispute = Some(Dispute { disputer: disputer.clone(), segment, bond, window_end });
			order.seed_block = Some(now);
			Orders::<T>::insert(order_id, order);
			Self::deposit_event(Event::DisputeRaised { order_id, disputer, segment, bond });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
		/// What `verify_pot` is charged before dispatch: its dearest path.
		pub fn verify_pot_weight() -> Weight {
			T::WeightInfo::verify_pot_pass()
				.max(T::WeightInfo::verify_pot_fail())
				.max(T::WeightInfo::verify_dispute_forged())
				.max(T::WeightInfo::verify_dispute_honest())
		}

		/// What one expiry costs at most, in the hook or through `expire_order`.
		pub fn expiry_weight() -> Weight {
			T::WeightInfo::expire_no_show().max(T::WeightInfo::expire_draw()).max(T::WeightInfo::expire_settle())
		}

		/// The validator who may judge `order` in the current round: `panel[r]` during round `r`.
		/// `None` before the panel is drawn, when nobody is eligible, or after the last round.
		pub fn assignee(order: &OrderOf<T>) -> Option<T::AccountId> {
			let judging = order.judging.as_ref()?;
			let now = frame_system::Pallet::<T>::block_number();
			let elapsed = now.checked_sub(&judging.from)?;
			let round: u32 = (elapsed / judging.round_blocks).unique_saturated_into();
			judging.panel.get(round as usize).cloned()
		}

		fn bounded_metadata(metadata: Vec<u8>) -> Result<MachineMetadata, Error<T>> {
			ensure!(!metadata.is_empty(), Error::<T>::EmptyMetadata);
			metadata.try_into().map_err(|_| Error::<T>::MetadataTooLong)
		}

		fn bounded_result(metadata: Vec<u8>) -> Result<ResultMetadata, Error<T>> {
			metadata.try_into().map_err(|_| Error::<T>::MetadataTooLong)
		}

		fn owned_machine(id: &MachineId, owner: &T::AccountId) -> Result<MachineOf<T>, Error<T>> {
			let machine = Machines::<T>::get(id).ok_or(Error::<T>::UnknownMachine)?;
			ensure!(&machine.owner == owner, Error::<T>::NotOwner);
			Ok(machine)
		}

		fn sold_order(id: &OrderId, seller: &T::AccountId) -> Result<OrderOf<T>, Error<T>> {
			let order = Orders::<T>::get(id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(&order.seller == seller, Error::<T>::NotSeller);
			Ok(order)
		}

		fn cost(price_per_hour: BalanceOf<T>, hours: u32) -> Result<BalanceOf<T>, Error<T>> {
			price_per_hour.checked_mul(&hours.into()).ok_or(Error::<T>::Overflow)
		}

		fn hours_to_blocks(hours: u32) -> BlockNumberFor<T> {
			T::BlocksPerHour::get().saturating_mul(hours.into())
		}

		/// Holds `amount`; a shortfall of free balance is `InsufficientBalance`, any other failure
		/// (too many holds, arithmetic) is passed on as it is.
		fn hold(reason: HoldReason, who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
			T::Currency::hold(&reason.into(), who, amount).map_err(|error| match error {
				DispatchError::Token(TokenError::FundsUnavailable | TokenError::BelowMinimum) => {
					Error::<T>::InsufficientBalance.into()
				},
				other => other,
			})
		}

		/// The machine's deposit beyond what finished orders lock must cover `collateral`.
		fn ensure_covered(machine: &MachineOf<T>, collateral: BalanceOf<T>) -> DispatchResult {
			let free = machine.deposit.saturating_sub(machine.locked);
			ensure!(free >= collateral, Error::<T>::CollateralTooLow);
			Ok(())
		}

		/// Whether the machine's latest order is open and still occupies it. A closed order's id
		/// may be placed again on another machine, so the open order must be on this one.
		fn is_rented(id: &MachineId, machine: &MachineOf<T>) -> bool {
			machine
				.last_order
				.and_then(Orders::<T>::get)
				.is_some_and(|order| &order.machine_id == id && order.status.occupies_machine())
		}

		/// `CollateralRatio` of an order's `escrow`, rounded up: every order puts something at
		/// stake, so that an order in its dispute window always counts in its machine's `locked`
		/// and keeps the machine (which it settles against) registered.
		fn collateral(escrow: BalanceOf<T>) -> BalanceOf<T> {
			T::CollateralRatio::get().mul_ceil(escrow)
		}

		/// An open order past its expiry block only waits for `expire_order` or the hook.
		fn ensure_not_overdue(order: &OrderOf<T>) -> DispatchResult {
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(now < order.expires_at, Error::<T>::OrderOverdue);
			Ok(())
		}

		/// Moves the order's expiry entry to `at`, a block after the current one.
		fn reschedule(order_id: OrderId, order: &mut OrderOf<T>, at: BlockNumberFor<T>) {
			ExpiryQueue::<T>::remove(order.expires_at, order_id);
			ExpiryQueue::<T>::insert(at, order_id, ());
			order.expires_at = at;
		}

		/// Removes a closed order and its expiry entry.
		fn close(order_id: OrderId, order: &OrderOf<T>) {
			ExpiryQueue::<T>::remove(order.expires_at, order_id);
			Orders::<T>::remove(order_id);
		}

		/// Returns the whole escrow to the buyer.
		fn refund_buyer(order: &OrderOf<T>) -> Result<BalanceOf<T>, DispatchError> {
			T::Currency::release(&HoldReason::OrderEscrow.into(), &order.buyer, order.escrow, Precision::Exact)
		}

		/// Pays `amount` (at most the order's collateral) of the machine's deposit to the buyer,
		/// releases the rest of what the order locked, and delists the machine when `delist`.
		fn slash_collateral(
			order: &OrderOf<T>,
			amount: BalanceOf<T>,
			delist: bool,
		) -> Result<BalanceOf<T>, DispatchError> {
			let mut machine = Machines::<T>::get(order.machine_id).ok_or(Error::<T>::UnknownMachine)?;
			let slashed = if amount.is_zero() {
				Zero::zero()
			} else {
				T::Currency::transfer_on_hold(
					&HoldReason::MachineDeposit.into(),
					&order.seller,
					&order.buyer,
					amount.min(order.collateral),
					Precision::Exact,
					Restriction::Free,
					Fortitude::Force,
				)?
			};
			let unlocks = Self::locks_collateral(order);
			if !slashed.is_zero() || delist || unlocks {
				machine.deposit = machine.deposit.saturating_sub(slashed);
				if unlocks {
					machine.locked = machine.locked.saturating_sub(order.collateral);
				}
				if delist && machine.offer.take().is_some() {
					Self::deposit_event(Event::OfferCancelled {
						machine_id: order.machine_id,
						owner: machine.owner.clone(),
					});
				}
				Machines::<T>::insert(order.machine_id, machine);
			}
			Ok(slashed)
		}

		/// Orders past their first verdict no longer occupy the machine; their collateral is
		/// counted in the machine's `locked` until they close.
		fn locks_collateral(order: &OrderOf<T>) -> bool {
			matches!(order.status, OrderStatus::Verified | OrderStatus::Disputed)
		}

		/// Moves the order's collateral into (`saturating_add`) or out of (`saturating_sub`) its
		/// machine's `locked`: in when a verdict frees the machine, out when the order settles.
		fn adjust_locked(order: &OrderOf<T>, adjust: fn(BalanceOf<T>, BalanceOf<T>) -> BalanceOf<T>) -> DispatchResult {
			Machines::<T>::try_mutate(order.machine_id, |machine| {
				let machine = machine.as_mut().ok_or(Error::<T>::UnknownMachine)?;
				machine.locked = adjust(machine.locked, order.collateral);
				Ok(())
			})
		}

		/// Pays the escrow to the seller, unlocks the collateral and closes the order.
		fn settle(order_id: OrderId, order: &OrderOf<T>) -> DispatchResult {
			let paid = T::Currency::transfer_on_hold(
				&HoldReason::OrderEscrow.into(),
				&order.buyer,
				&order.seller,
				order.escrow,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			)?;
			Self::adjust_locked(order, Saturating::saturating_sub)?;
			Self::close(order_id, order);
			Self::deposit_event(Event::OrderSettled {
				order_id,
				buyer: order.buyer.clone(),
				seller: order.seller.clone(),
				machine_id: order.machine_id,
				paid,
			});
			Ok(())
		}

		/// After a dispute that proved nothing: the order is open to disputes again for the rest
		/// of the window it interrupted, or settles if that window has closed meanwhile.
		fn resume_or_settle(order_id: OrderId, mut order: OrderOf<T>, now: BlockNumberFor<T>) -> DispatchResult {
			let window_end = order.dispute.take().map_or(now, |dispute| dispute.window_end);
			if now >= window_end {
				return Self::settle(order_id, &order);
			}
			Self::open_dispute_window(order_id, &mut order, window_end);
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// Makes the order `Verified`, open to disputes until `until`; the caller stores it.
		fn open_dispute_window(order_id: OrderId, order: &mut OrderOf<T>, until: BlockNumberFor<T>) {
			Self::reschedule(order_id, order, until);
			order.status = OrderStatus::Verified;
			order.judging = None;
		}

		/// Draws the panel that judges `order` from the hash of its `seed_block`: the
		/// eligible validators (not buyer, seller, disputer, or whoever passed the proof) in set
		/// order, rotated to a random start, up to `JudgingRounds` of them.
		fn draw_panel(order_id: OrderId, order: &OrderOf<T>) -> Panel<T::AccountId> {
			let seed_block = order.seed_block.unwrap_or(order.placed_at);
			let block_hash = frame_system::Pallet::<T>::block_hash(seed_block);
			let seed = T::Hashing::hash_of(&(b"matrixai/panel", order_id, block_hash));
			let disputer = order.dispute.as_ref().map(|dispute| &dispute.disputer);
			let eligible: Vec<T::AccountId> = Validators::<T>::get()
				.into_iter()
				.filter(|validator| {
					validator != &order.buyer
						&& validator != &order.seller
						&& Some(validator) != disputer
						&& Some(validator) != order.verified_by.as_ref()
				})
				.collect();
			if eligible.is_empty() {
				return Panel::default();
			}
			let start = u64::decode(&mut seed.as_ref()).unwrap_or_default() % eligible.len() as u64;
			let panel: Vec<_> = eligible
				.iter()
				.cycle()
				.skip(start as usize)
				.take(eligible.len().min(T::JudgingRounds::get() as usize))
				.cloned()
				.collect();
			Panel::truncate_from(panel)
		}

		/// Blocks in one judging round of an order: `VerificationWindow` plus
		/// `VerificationShare` of its rented time.
		fn round_blocks(order: &OrderOf<T>) -> BlockNumberFor<T> {
			let rented = order.deadline.saturating_sub(order.placed_at);
			T::VerificationWindow::get().saturating_add(T::VerificationShare::get() * rented)
		}

		/// Handles at most `MaxExpiriesPerBlock` expiry entries, oldest block first, from the
		/// backlog (if any) up to `now`, looking at no more than `MAX_BACKLOG_SCAN` blocks, and
		/// records where the next block must start. Returns the entries handled and the blocks
		/// looked at, which set the hook's weight.
		fn expire_due(now: BlockNumberFor<T>) -> (u32, u32) {
			let budget = T::MaxExpiriesPerBlock::get();
			let backlog = ExpiryBacklog::<T>::get();
			let mut block = backlog.unwrap_or(now);
			let (mut handled, mut scanned) = (0u32, 0u32);
			let next_backlog = loop {
				scanned += 1;
				let mut entries = ExpiryQueue::<T>::iter_prefix(block);
				let drained = loop {
					let Some((order_id, ())) = entries.next() else { break true };
					if handled == budget {
						break false;
					}
					let expired = Orders::<T>::get(order_id)
						.filter(|order| order.expires_at == block)
						.map(|order| frame_support::storage::with_storage_layer(|| Self::expire(order_id, order)));
					if !matches!(expired, Some(Ok(_))) {
						// Cannot happen while the queue holds every open order once; an entry
						// that no order backs is dropped rather than retried every block.
						ExpiryQueue::<T>::remove(block, order_id);
					}
					handled += 1;
				};
				if !drained {
					break Some(block);
				}
				if block >= now {
					break None;
				}
				block = block.saturating_add(One::one());
				if handled == budget || scanned == MAX_BACKLOG_SCAN {
					break Some(block);
				}
			};
			if next_backlog != backlog {
				ExpiryBacklog::<T>::set(next_backlog);
			}
			(handled, scanned)
		}

		/// Moves on an order whose stage timed out (see `expire_order`); returns the weight of
		/// the path taken.
		fn expire(order_id: OrderId, mut order: OrderOf<T>) -> Result<Weight, DispatchError> {
			let now = frame_system::Pallet::<T>::block_number();
			match order.status {
				OrderStatus::Training | OrderStatus::Completed => {
					let slash = T::NoShowSlash::get() * order.collateral;
					let refunded = Self::refund_buyer(&order)?;
					let slashed = Self::slash_collateral(&order, slash, true)?;
					Self::close(order_id, &order);
					Self::deposit_event(Event::OrderExpired {
						order_id,
						buyer: order.buyer,
						seller: order.seller,
						machine_id: order.machine_id,
						refunded,
						slashed,
					});
					Ok(T::WeightInfo::expire_no_show())
				},
				OrderStatus::PotSubmitted | OrderStatus::Disputed if order.judging.is_none() => {
					let panel = Self::draw_panel(order_id, &order);
					if panel.is_empty() {
						return Self::unjudged(order_id, order, now).map(|()| T::WeightInfo::expire_draw());
					}
					let round_blocks = Self::round_blocks(&order);
					let rounds = panel.len() as u32;
					let until = now.saturating_add(round_blocks.saturating_mul(rounds.into()));
					Self::reschedule(order_id, &mut order, until);
					order.judging = Some(Judging { panel: panel.clone(), from: now, round_blocks });
					Orders::<T>::insert(order_id, order);
					Self::deposit_event(Event::PanelDrawn { order_id, panel, from: now, round_blocks, until });
					Ok(T::WeightInfo::expire_draw())
				},
				OrderStatus::PotSubmitted | OrderStatus::Disputed => {
					Self::unjudged(order_id, order, now).map(|()| T::WeightInfo::expire_settle())
				},
				OrderStatus::Verified => Self::settle(order_id, &order).map(|()| T::WeightInfo::expire_settle()),
			}
		}

		/// Nobody judged: an unjudged proof stands as passed and its dispute window opens (the
		/// model is delivered, and silence of the network's validators is no proof of fault; the
		/// buyer keeps the dispute); an unjudged dispute returns the bond and hands back the rest
		/// of the dispute window.
		fn unjudged(order_id: OrderId, mut order: OrderOf<T>, now: BlockNumberFor<T>) -> DispatchResult {
			if let Some(dispute) = order.dispute.clone() {
				let bond_returned = T::Currency::release(
					&HoldReason::DisputeBond.into(),
					&dispute.disputer,
					dispute.bond,
					Precision::Exact,
				)?;
				Self::deposit_event(Event::DisputeUnjudged {
					order_id,
					disputer: dispute.disputer,
					bond_returned,
					dispute_until: (now < dispute.window_end).then_some(dispute.window_end),
				});
				return Self::resume_or_settle(order_id, order, now);
			}
			let dispute_until = now.saturating_add(T::DisputeWindow::get());
			Self::adjust_locked(&order, Saturating::saturating_add)?;
			Self::open_dispute_window(order_id, &mut order, dispute_until);
			Orders::<T>::insert(order_id, order);
			Self::deposit_event(Event::PotUnjudged { order_id, dispute_until });
			Ok(())
		}
	}

	#[cfg(any(test, feature = "try-runtime"))]
	impl<T: Config> Pallet<T> {
		/// The market's invariants, checked after every block by the tests and by try-runtime:
		/// - what each account has on hold for each reason is exactly the deposits of its
		///   machines, the escrows of its open orders and the bonds of its open disputes;
		/// - each machine's `locked` is the collateral of its orders in their dispute window, and
		///   its deposit covers that plus the collateral of the order that occupies it;
		/// - every open order has exactly one expiry entry, at its `expires_at`, which is not
		///   behind the queue (after `now`, or in the backlog still to handle), and the queue
		///   holds nothing else;
		/// - an order that occupies its machine is the machine's `last_order`;
		/// - no party to an order sits on the panel that judges it.
		pub fn do_try_state(now: BlockNumberFor<T>) -> Result<(), sp_runtime::TryRuntimeError> {
			use alloc::collections::btree_map::BTreeMap;
			use frame_support::traits::fungible::InspectHold;
			let mut deposits = BTreeMap::<T::AccountId, BalanceOf<T>>::new();
			let mut escrows = BTreeMap::<T::AccountId, BalanceOf<T>>::new();
			let mut bonds = BTreeMap::<T::AccountId, BalanceOf<T>>::new();
			let mut locked = BTreeMap::<MachineId, BalanceOf<T>>::new();
			let mut occupying = BTreeMap::<MachineId, BalanceOf<T>>::new();
			fn add<K: Ord, B: Saturating + Zero + Copy>(map: &mut BTreeMap<K, B>, key: K, amount: B) {
				let entry = map.entry(key).or_insert_with(Zero::zero);
				*entry = entry.saturating_add(amount);
			}
			let backlog = ExpiryBacklog::<T>::get();
			let mut orders = 0usize;
			for (order_id, order) in Orders::<T>::iter() {
				orders += 1;
				add(&mut escrows, order.buyer.clone(), order.escrow);
				if let Some(dispute) = &order.dispute {
					ensure!(order.status == OrderStatus::Disputed, "only a disputed order has a dispute");
					add(&mut bonds, dispute.disputer.clone(), dispute.bond);
				}
				let machine = Machines::<T>::get(order.machine_id).ok_or("an open order's machine is gone")?;
				if order.status.occupies_machine() {
					ensure!(machine.last_order == Some(order_id), "the occupying order is not the machine's last");
					ensure!(!occupying.contains_key(&order.machine_id), "two orders occupy one machine");
					occupying.insert(order.machine_id, order.collateral);
				} else {
					add(&mut locked, order.machine_id, order.collateral);
				}
				ensure!(ExpiryQueue::<T>::contains_key(order.expires_at, order_id), "an open order is not queued");
				ensure!(
					order.expires_at > now || backlog.is_some_and(|start| order.expires_at >= start),
					"an open order was left behind by the expiry queue"
				);
				if let Some(judging) = &order.judging {
					let disputer = order.dispute.as_ref().map(|dispute| &dispute.disputer);
					ensure!(
						judging.panel.iter().all(|validator| validator != &order.buyer
							&& validator != &order.seller
							&& Some(validator) != disputer),
						"a party sits on its order's panel"
					);
				}
			}
			ensure!(ExpiryQueue::<T>::iter_keys().count() == orders, "the expiry queue holds stale entries");
			for (machine_id, machine) in Machines::<T>::iter() {
				add(&mut deposits, machine.owner.clone(), machine.deposit);
				let expected = locked.get(&machine_id).copied().unwrap_or_else(Zero::zero);
				ensure!(machine.locked == expected, "a machine's locked collateral is not its verified orders'");
				let needed = occupying.get(&machine_id).copied().unwrap_or_else(Zero::zero);
				ensure!(
					machine.deposit >= machine.locked.saturating_add(needed),
					"a deposit does not cover its collateral"
				);
			}
			for (reason, expected) in [
				(HoldReason::MachineDeposit, &deposits),
				(HoldReason::OrderEscrow, &escrows),
				(HoldReason::DisputeBond, &bonds),
			] {
				for (who, amount) in expected {
					ensure!(
						T::Currency::balance_on_hold(&reason.clone().into(), who) == *amount,
						"an account's hold differs from what the market accounts for"
					);
				}
			}
			Ok(())
		}
	}
}
