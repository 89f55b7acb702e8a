//! # Hashrate market
//!
//! The MatrixAI compute marketplace. Owners register machines (holding a deposit) and list them
//! with an hourly price; buyers rent a listed machine by placing an order whose total is computed
//! here from the snapshotted price and held in escrow. The trainer reports completion or failure
//! and commits a Proof of Training; an authorised validator's verdict decides where the escrow
//! goes: to the seller on a pass, back to the buyer (plus part of the machine deposit) on a fail.
//!
//! Orders that outlive their deadline plus a grace period without a proof, and proofs that no
//! validator judges within the verification window, are refunded to the buyer from a block-keyed
//! expiry queue. Scheduling is one write and never fails; `on_initialize` handles at most
//! `MaxExpiriesPerBlock` entries a block and leaves the rest as a backlog for the next blocks.
//!
//! Every state change emits an event carrying everything an indexer needs, so indexers never read
//! storage.

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
	use frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{Inspect, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Restriction},
		},
	};
	use frame_system::pallet_prelude::*;
	use sp_runtime::{
		traits::{CheckedMul, One, Saturating, Zero},
		Perbill,
	};

	pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
	pub type MachineOf<T> = Machine<<T as frame_system::Config>::AccountId, BalanceOf<T>>;
	pub type OrderOf<T> = Order<<T as frame_system::Config>::AccountId, BalanceOf<T>, BlockNumberFor<T>>;

	/// Most blocks of expiry backlog `on_initialize` looks at in one block. Above one, the backlog
	/// left by a burst of expiries shrinks even while later blocks stay empty.
	pub const MAX_BACKLOG_SCAN: u32 = 8;

	#[pallet::pallet]
	pub struct Pallet<T>(_);

	#[pallet::config]
	pub trait Config: frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency that deposits and escrows are held in.
		type Currency: Mutate<Self::AccountId> + MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		type RuntimeHoldReason: From<HoldReason>;

		/// Who may add and remove validators.
		type AdminOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Held from a machine's owner while the machine is registered.
		#[pallet::constant]
		type MachineDeposit: Get<BalanceOf<Self>>;

		/// Part of the machine deposit paid to the buyer when a proof fails verification.
		#[pallet::constant]
		type PotFailSlash: Get<Perbill>;

		/// Blocks in one hour of rented time.
		#[pallet::constant]
		type BlocksPerHour: Get<BlockNumberFor<Self>>;

		/// Longest rental an offer may allow, in hours.
		#[pallet::constant]
		type MaxDurationHours: Get<u32>;

		/// Blocks after an order's deadline during which its result and proof are still accepted.
		#[pallet::constant]
		type CompletionGrace: Get<BlockNumberFor<Self>>;

		/// Blocks a submitted proof waits for a verdict before the buyer is refunded.
		#[pallet::constant]
		type VerificationWindow: Get<BlockNumberFor<Self>>;

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
		/// A registered machine's deposit.
		MachineDeposit,
		/// An open order's payment, held from the buyer.
		OrderEscrow,
	}

	#[pallet::storage]
	pub type Machines<T: Config> = StorageMap<_, Blake2_128Concat, MachineId, MachineOf<T>>;

	#[pallet::storage]
	pub type Orders<T: Config> = StorageMap<_, Blake2_128Concat, OrderId, OrderOf<T>>;

	/// Accounts allowed to judge proofs.
	#[pallet::storage]
	pub type Validators<T: Config> = StorageValue<_, BoundedVec<T::AccountId, T::MaxValidators>, ValueQuery>;

	/// Orders under the block at which they expire if nothing else happens first. An entry stays
	/// when its order moves on (a verdict, a renewal, a submitted proof): removing it would cost a
	/// write on every transition, so `on_initialize` skips entries whose order no longer expires
	/// at their block instead.
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
		MachineAdded {
			machine_id: MachineId,
			owner: T::AccountId,
			deposit: BalanceOf<T>,
			metadata: MachineMetadata,
		},
		MachineRemoved {
			machine_id: MachineId,
			owner: T::AccountId,
			deposit_released: BalanceOf<T>,
		},
		/// The machine is listed (or re-priced); `deposit` is what is held for it now.
		OfferMade {
			machine_id: MachineId,
			owner: T::AccountId,
			offer: Offer<BalanceOf<T>>,
			deposit: BalanceOf<T>,
		},
		OfferCancelled {
			machine_id: MachineId,
			owner: T::AccountId,
		},
		OrderPlaced {
			order_id: OrderId,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			duration_hours: u32,
			price_per_hour: BalanceOf<T>,
			total: BalanceOf<T>,
			deadline: BlockNumberFor<T>,
			metadata: OrderMetadata,
		},
		OrderRenewed {
			order_id: OrderId,
			buyer: T::AccountId,
			extra_hours: u32,
			extra_amount: BalanceOf<T>,
			duration_hours: u32,
			escrow: BalanceOf<T>,
			deadline: BlockNumberFor<T>,
		},
		OrderCompleted {
			order_id: OrderId,
			seller: T::AccountId,
			machine_id: MachineId,
			score: u32,
			result: ResultMetadata,
		},
		/// The trainer gave up; the buyer got the whole escrow back and the machine is free.
		OrderFailed {
			order_id: OrderId,
			seller: T::AccountId,
			buyer: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
			result: ResultMetadata,
		},
		PotSubmitted {
			order_id: OrderId,
			seller: T::AccountId,
			machine_id: MachineId,
			proof: ProofData,
			verify_by: BlockNumberFor<T>,
		},
		/// A validator judged a proof. On a pass the seller got `paid`; on a fail the buyer got
		/// `refunded` plus `slashed` from the machine deposit, and the machine was delisted.
		PotVerified {
			order_id: OrderId,
			validator: T::AccountId,
			verdict: Verdict,
			buyer: T::AccountId,
			seller: T::AccountId,
			machine_id: MachineId,
			paid: BalanceOf<T>,
			refunded: BalanceOf<T>,
			slashed: BalanceOf<T>,
		},
		/// The order passed its deadline and grace period without a proof; buyer refunded.
		OrderExpired {
			order_id: OrderId,
			buyer: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
		},
		/// No validator judged the proof within the window; buyer refunded, seller not slashed.
		PotExpired {
			order_id: OrderId,
			buyer: T::AccountId,
			machine_id: MachineId,
			refunded: BalanceOf<T>,
		},
		ValidatorAdded {
			validator: T::AccountId,
		},
		ValidatorRemoved {
			validator: T::AccountId,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// A machine with this id is already registered; pick a fresh UUID.
		MachineExists,
		/// No machine has this id.
		UnknownMachine,
		/// Only the machine's owner may do this.
		NotOwner,
		/// The machine is rented by an open order; wait until the order ends.
		MachineRented,
		/// The machine is not listed on the market.
		NotListed,
		/// The seller named in the order does not own the machine.
		WrongSeller,
		/// A machine's owner cannot rent their own machine.
		OwnMachine,
		/// An order with this id already exists; pick a fresh UUID.
		OrderExists,
		/// No order has this id.
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
		/// The offer's maximum duration must be between 1 and `MaxDurationHours`.
		InvalidMaxDuration,
		/// The order would last longer than the offer's maximum duration.
		DurationAboveOffer,
		/// Price times duration does not fit in a balance.
		Overflow,
		/// The caller cannot cover the deposit or the order total.
		InsufficientBalance,
		/// Metadata or result JSON is longer than its bound.
		MetadataTooLong,
		/// Metadata must not be empty.
		EmptyMetadata,
		/// The proof commitment is longer than its bound.
		ProofTooLong,
		/// The proof commitment must not be empty.
		EmptyProof,
		/// `results` must be 0 (fail) or 1 (pass).
		InvalidVerdict,
		/// The caller is not an authorised validator.
		NotValidator,
		/// The account is already a validator.
		AlreadyValidator,
		/// The validator set is full.
		TooManyValidators,
		/// The order fell due (its deadline plus grace, or its verification window, passed) and
		/// waits for its refund.
		OrderOverdue,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let (handled, scanned) = Self::expire_due(now);
			T::WeightInfo::on_initialize(handled, scanned)
		}

		fn integrity_test() {
			assert!(!T::BlocksPerHour::get().is_zero(), "BlocksPerHour must be above zero");
			// Expiries are always scheduled after the current block, which has run its hook.
			assert!(!T::VerificationWindow::get().is_zero(), "VerificationWindow must be above zero");
			assert!(T::MaxExpiriesPerBlock::get() > 0, "MaxExpiriesPerBlock must be above zero");
			assert!(T::MaxDurationHours::get() > 0, "MaxDurationHours must be above zero");
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Registers a machine under a fresh id, holding `MachineDeposit` from the caller.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::add_machine())]
		pub fn add_machine(origin: OriginFor<T>, id: MachineId, metadata: Vec<u8>) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let metadata = Self::bounded_metadata(metadata)?;
			ensure!(!Machines::<T>::contains_key(id), Error::<T>::MachineExists);
			let deposit = T::MachineDeposit::get();
			Self::hold(HoldReason::MachineDeposit, &owner, deposit)?;
			Machines::<T>::insert(
				id,
				Machine { owner: owner.clone(), metadata: metadata.clone(), deposit, offer: None, last_order: None },
			);
			Self::deposit_event(Event::MachineAdded { machine_id: id, owner, deposit, metadata });
			Ok(())
		}

		/// Unregisters an idle machine and releases its deposit.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::remove_machine())]
		pub fn remove_machine(origin: OriginFor<T>, id: MachineId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let machine = Self::owned_machine(&id, &owner)?;
			ensure!(!Self::is_rented(&machine), Error::<T>::MachineRented);
			T::Currency::release(&HoldReason::MachineDeposit.into(), &owner, machine.deposit, Precision::Exact)?;
			Machines::<T>::remove(id);
			Self::deposit_event(Event::MachineRemoved { machine_id: id, owner, deposit_released: machine.deposit });
			Ok(())
		}

		/// Lists the machine, or changes its terms. Open orders keep the price they were placed at.
		/// A deposit reduced by a slash is topped up to `MachineDeposit` first.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::make_offer())]
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

		/// Delists an idle machine.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::cancel_offer())]
		pub fn cancel_offer(origin: OriginFor<T>, id: MachineId) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			let mut machine = Self::owned_machine(&id, &owner)?;
			ensure!(machine.offer.is_some(), Error::<T>::NotListed);
			ensure!(!Self::is_rented(&machine), Error::<T>::MachineRented);
			machine.offer = None;
			Machines::<T>::insert(id, machine);
			Self::deposit_event(Event::OfferCancelled { machine_id: id, owner });
			Ok(())
		}

		/// Rents a listed machine for `duration_hours`. The total is the offer's price times the
		/// duration, computed here and held from the buyer until a verdict or a refund.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::place_order())]
		pub fn place_order(
			origin: OriginFor<T>,
			id: OrderId,
			seller: T::AccountId,
			machine_id: MachineId,
			duration_hours: u32,
			metadata: Vec<u8>,
		) -> DispatchResult {
			let buyer = ensure_signed(origin)?;
			let metadata = Self::bounded_metadata(metadata)?;
			ensure!(!Orders::<T>::contains_key(id), Error::<T>::OrderExists);
			let mut machine = Machines::<T>::get(machine_id).ok_or(Error::<T>::UnknownMachine)?;
			ensure!(machine.owner == seller, Error::<T>::WrongSeller);
			ensure!(buyer != seller, Error::<T>::OwnMachine);
			let offer = machine.offer.clone().ok_or(Error::<T>::NotListed)?;
			ensure!(!Self::is_rented(&machine), Error::<T>::MachineRented);
			ensure!(duration_hours > 0, Error::<T>::ZeroDuration);
			ensure!(duration_hours <= offer.max_duration_hours, Error::<T>::DurationAboveOffer);
			let total = Self::cost(offer.price_per_hour, duration_hours)?;
			Self::hold(HoldReason::OrderEscrow, &buyer, total)?;

			let placed_at = frame_system::Pallet::<T>::block_number();
			let deadline = placed_at.saturating_add(Self::hours_to_blocks(duration_hours));
			let expires_at = deadline.saturating_add(T::CompletionGrace::get());
			Self::schedule(id, expires_at);
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
					escrow: total,
					metadata: metadata.clone(),
					status: OrderStatus::Training,
					placed_at,
					deadline,
					expires_at,
					result: None,
					score: None,
					proof: None,
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
				deadline,
				metadata,
			});
			Ok(())
		}

		/// Extends a training order by `duration_hours` at the price it was placed at, before its
		/// deadline and within the offer's maximum duration.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::renew_order())]
		pub fn renew_order(origin: OriginFor<T>, order_id: OrderId, duration_hours: u32) -> DispatchResult {
			let buyer = ensure_signed(origin)?;
			let mut order = Orders::<T>::get(order_id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(order.buyer == buyer, Error::<T>::NotBuyer);
			ensure!(order.status == OrderStatus::Training, Error::<T>::WrongOrderState);
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(now < order.deadline, Error::<T>::DeadlinePassed);
			ensure!(duration_hours > 0, Error::<T>::ZeroDuration);
			let max_hours = Machines::<T>::get(order.machine_id)
				.and_then(|machine| machine.offer)
				.map(|offer| offer.max_duration_hours)
				.ok_or(Error::<T>::NotListed)?;
			let total_hours = order.duration_hours.checked_add(duration_hours).ok_or(Error::<T>::Overflow)?;
			ensure!(total_hours <= max_hours, Error::<T>::DurationAboveOffer);
			let extra_amount = Self::cost(order.price_per_hour, duration_hours)?;
			Self::hold(HoldReason::OrderEscrow, &buyer, extra_amount)?;

			order.deadline = order.deadline.saturating_add(Self::hours_to_blocks(duration_hours));
			order.expires_at = order.deadline.saturating_add(T::CompletionGrace::get());
			Self::schedule(order_id, order.expires_at);
			order.duration_hours = total_hours;
			order.escrow = order.escrow.saturating_add(extra_amount);
			Self::deposit_event(Event::OrderRenewed {
				order_id,
				buyer,
				extra_hours: duration_hours,
				extra_amount,
				duration_hours: total_hours,
				escrow: order.escrow,
				deadline: order.deadline,
			});
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// The trainer reports the job done with its result (model URI, hashes, metrics) and score.
		/// Payment still waits for the Proof of Training and a validator's verdict.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::order_completed())]
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
		/// and the machine is free for the next order.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::order_failed())]
		pub fn order_failed(origin: OriginFor<T>, order_id: OrderId, metadata: Vec<u8>) -> DispatchResult {
			let seller = ensure_signed(origin)?;
			let result = Self::bounded_result(metadata)?;
			let mut order = Self::sold_order(&order_id, &seller)?;
			ensure!(
				matches!(order.status, OrderStatus::Training | OrderStatus::Completed),
				Error::<T>::WrongOrderState
			);
			let refunded = Self::refund_buyer(&mut order)?;
			order.result = Some(result.clone());
			order.status = OrderStatus::Failed;
			Self::deposit_event(Event::OrderFailed {
				order_id,
				seller,
				buyer: order.buyer.clone(),
				machine_id: order.machine_id,
				refunded,
				result,
			});
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// The trainer commits the Proof of Training of a completed order; a validator must judge
		/// it within `VerificationWindow` blocks.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::submit_pot())]
		pub fn submit_pot(origin: OriginFor<T>, order_id: OrderId, proofsdata: Vec<u8>) -> DispatchResult {
			let seller = ensure_signed(origin)?;
			ensure!(!proofsdata.is_empty(), Error::<T>::EmptyProof);
			let proof = ProofData::try_from(proofsdata).map_err(|_| Error::<T>::ProofTooLong)?;
			let mut order = Self::sold_order(&order_id, &seller)?;
			ensure!(order.status == OrderStatus::Completed, Error::<T>::WrongOrderState);
			Self::ensure_not_overdue(&order)?;
			order.expires_at = frame_system::Pallet::<T>::block_number().saturating_add(T::VerificationWindow::get());
			Self::schedule(order_id, order.expires_at);
			order.status = OrderStatus::PotSubmitted;
			order.proof = Some(proof.clone());
			Self::deposit_event(Event::PotSubmitted {
				order_id,
				seller,
				machine_id: order.machine_id,
				proof,
				verify_by: order.expires_at,
			});
			Orders::<T>::insert(order_id, order);
			Ok(())
		}

		/// A validator's verdict on a submitted proof: `results` 1 passes it and pays the seller;
		/// 0 fails it, refunds the buyer, pays the buyer `PotFailSlash` of the machine deposit
		/// and delists the machine. A pass is charged its own, lower, weight.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::verify_pot_fail().max(T::WeightInfo::verify_pot_pass()))]
		pub fn verify_pot(origin: OriginFor<T>, order_id: OrderId, results: u8) -> DispatchResultWithPostInfo {
			let validator = ensure_signed(origin)?;
			ensure!(Validators::<T>::get().contains(&validator), Error::<T>::NotValidator);
			let verdict = Verdict::from_u8(results).ok_or(Error::<T>::InvalidVerdict)?;
			let mut order = Orders::<T>::get(order_id).ok_or(Error::<T>::UnknownOrder)?;
			ensure!(order.status == OrderStatus::PotSubmitted, Error::<T>::WrongOrderState);
			Self::ensure_not_overdue(&order)?;

			let (mut paid, mut refunded, mut slashed) = (Zero::zero(), Zero::zero(), Zero::zero());
			match verdict {
				Verdict::Pass => {
					paid = T::Currency::transfer_on_hold(
						&HoldReason::OrderEscrow.into(),
						&order.buyer,
						&order.seller,
						order.escrow,
						Precision::Exact,
						Restriction::Free,
						Fortitude::Force,
					)?;
					order.escrow = Zero::zero();
					order.status = OrderStatus::Settled;
				},
				Verdict::Fail => {
					refunded = Self::refund_buyer(&mut order)?;
					slashed = Self::slash_deposit(&order)?;
					order.status = OrderStatus::Rejected;
				},
			}
			Self::deposit_event(Event::PotVerified {
				order_id,
				validator,
				verdict,
				buyer: order.buyer.clone(),
				seller: order.seller.clone(),
				machine_id: order.machine_id,
				paid,
				refunded,
				slashed,
			});
			Orders::<T>::insert(order_id, order);
			Ok(Some(match verdict {
				Verdict::Pass => T::WeightInfo::verify_pot_pass(),
				Verdict::Fail => T::WeightInfo::verify_pot_fail(),
			})
			.into())
		}

		/// Authorises an account to judge proofs.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::add_validator())]
		pub fn add_validator(origin: OriginFor<T>, validator: T::AccountId) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			Validators::<T>::try_mutate(|validators| {
				ensure!(!validators.contains(&validator), Error::<T>::AlreadyValidator);
				validators.try_push(validator.clone()).map_err(|_| Error::<T>::TooManyValidators)
			})?;
			Self::deposit_event(Event::ValidatorAdded { validator });
			Ok(())
		}

		/// Withdraws an account's authority to judge proofs.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::remove_validator())]
		pub fn remove_validator(origin: OriginFor<T>, validator: T::AccountId) -> DispatchResult {
			T::AdminOrigin::ensure_origin(origin)?;
			Validators::<T>::try_mutate(|validators| {
				let position = validators.iter().position(|v| v == &validator).ok_or(Error::<T>::NotValidator)?;
				validators.remove(position);
				Ok::<_, Error<T>>(())
			})?;
			Self::deposit_event(Event::ValidatorRemoved { validator });
			Ok(())
		}
	}

	impl<T: Config> Pallet<T> {
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

		fn hold(reason: HoldReason, who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
			T::Currency::hold(&reason.into(), who, amount).map_err(|_| Error::<T>::InsufficientBalance.into())
		}

		/// Queues `order_id` to expire at `at`, a block after the current one.
		fn schedule(order_id: OrderId, at: BlockNumberFor<T>) {
			ExpiryQueue::<T>::insert(at, order_id, ());
		}

		/// An open order past its expiry block only waits for `on_initialize` to refund it.
		fn ensure_not_overdue(order: &OrderOf<T>) -> DispatchResult {
			let now = frame_system::Pallet::<T>::block_number();
			ensure!(now < order.expires_at, Error::<T>::OrderOverdue);
			Ok(())
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
					ExpiryQueue::<T>::remove(block, order_id);
					Self::expire(order_id, block);
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

		/// Returns the whole escrow to the buyer.
		fn refund_buyer(order: &mut OrderOf<T>) -> Result<BalanceOf<T>, DispatchError> {
			let refunded =
				T::Currency::release(&HoldReason::OrderEscrow.into(), &order.buyer, order.escrow, Precision::Exact)?;
			order.escrow = Zero::zero();
			Ok(refunded)
		}

		/// Pays `PotFailSlash` of the machine's deposit to the buyer and delists the machine.
		fn slash_deposit(order: &OrderOf<T>) -> Result<BalanceOf<T>, DispatchError> {
			let mut machine = Machines::<T>::get(order.machine_id).ok_or(Error::<T>::UnknownMachine)?;
			let slash = T::PotFailSlash::get() * machine.deposit;
			let slashed = T::Currency::transfer_on_hold(
				&HoldReason::MachineDeposit.into(),
				&order.seller,
				&order.buyer,
				slash,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			)?;
			machine.deposit = machine.deposit.saturating_sub(slashed);
			machine.offer = None;
			Machines::<T>::insert(order.machine_id, machine);
			Ok(slashed)
		}

		/// Whether the machine's latest order is still open.
		fn is_rented(machine: &MachineOf<T>) -> bool {
			machine.last_order.and_then(Orders::<T>::get).is_some_and(|order| !order.status.is_terminal())
		}

		/// Refunds the order of an expiry entry of `block`, unless the order has moved on since
		/// the entry was made: closed, or rescheduled to another block.
		fn expire(order_id: OrderId, block: BlockNumberFor<T>) {
			let Some(mut order) = Orders::<T>::get(order_id) else { return };
			if order.expires_at != block {
				return;
			}
			let pot_unjudged = match order.status {
				OrderStatus::Training | OrderStatus::Completed => false,
				OrderStatus::PotSubmitted => true,
				_ => return,
			};
			// Releasing exactly what this pallet held cannot fail; if it ever did, the order
			// would keep its escrow rather than lose funds.
			let Ok(refunded) = Self::refund_buyer(&mut order) else { return };
			order.status = if pot_unjudged { OrderStatus::PotExpired } else { OrderStatus::Expired };
			let (buyer, machine_id) = (order.buyer.clone(), order.machine_id);
			Orders::<T>::insert(order_id, order);
			Self::deposit_event(if pot_unjudged {
				Event::PotExpired { order_id, buyer, machine_id, refunded }
			} else {
				Event::OrderExpired { order_id, buyer, machine_id, refunded }
			});
		}
	}
}
