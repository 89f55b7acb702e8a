//! Storage and event types of the hashrate market.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{pallet_prelude::ConstU32, BoundedVec};
use scale_info::TypeInfo;

/// Client-chosen identifier of a machine (a UUID's 16 bytes).
pub type MachineId = [u8; 16];
/// Client-chosen identifier of an order (a UUID's 16 bytes).
pub type OrderId = [u8; 16];

/// Longest machine metadata JSON (hardware, region, performance assessment).
pub type MachineMetadata = BoundedVec<u8, ConstU32<2048>>;
/// Longest order metadata JSON (the task spec, or a hash and URI of it).
pub type OrderMetadata = BoundedVec<u8, ConstU32<2048>>;
/// Longest result JSON a trainer records on completion or failure (model URI, hashes, metrics).
pub type ResultMetadata = BoundedVec<u8, ConstU32<1024>>;
/// Longest Proof-of-Training commitment (transcript root, final model hash, bundle URI).
pub type ProofData = BoundedVec<u8, ConstU32<1024>>;

/// The terms under which a machine is listed on the market.
#[derive(Clone, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Offer<Balance> {
	pub price_per_hour: Balance,
	pub max_duration_hours: u32,
	pub disk_gb: u32,
}

/// A registered machine. `deposit` is what is currently held from the owner for it: it can be
/// lower than the configured deposit after a slash, and `make_offer` tops it up again.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Machine<AccountId, Balance> {
	pub owner: AccountId,
	pub metadata: MachineMetadata,
	pub deposit: Balance,
	/// `None` while delisted.
	pub offer: Option<Offer<Balance>>,
	/// The latest order placed on the machine: the machine is rented while that order is open.
	/// It is not cleared when the order ends but read when renting or removing the machine,
	/// which saves a write on every verdict, failure and expiry (writes cost six reads).
	pub last_order: Option<OrderId>,
}

/// Where an order is in its life. The last five are terminal.
#[derive(Clone, Copy, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub enum OrderStatus {
	/// Placed and paid into escrow; the trainer is working.
	Training,
	/// The trainer reported a result; its Proof of Training is due before the deadline.
	Completed,
	/// The Proof of Training is committed and waits for a validator's verdict.
	PotSubmitted,
	/// A validator accepted the proof; the seller was paid.
	Settled,
	/// A validator rejected the proof; the buyer was refunded and the deposit slashed.
	Rejected,
	/// The trainer reported failure; the buyer was refunded.
	Failed,
	/// The deadline and grace period passed without a submitted proof; the buyer was refunded.
	Expired,
	/// No validator judged the proof within the verification window; the buyer was refunded.
	PotExpired,
}

impl OrderStatus {
	pub fn is_terminal(self) -> bool {
		!matches!(self, Self::Training | Self::Completed | Self::PotSubmitted)
	}
}

/// An order: the escrow (`escrow`, held from the buyer) and everything reported about the job.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Order<AccountId, Balance, BlockNumber> {
	pub buyer: AccountId,
	pub seller: AccountId,
	pub machine_id: MachineId,
	/// The offer's price when the order was placed; renewals pay the same.
	pub price_per_hour: Balance,
	pub duration_hours: u32,
	/// Amount held from the buyer while the order is open; zero once terminal.
	pub escrow: Balance,
	pub metadata: OrderMetadata,
	pub status: OrderStatus,
	pub placed_at: BlockNumber,
	/// The rented time ends here; the job and its proof are due by `deadline` plus grace.
	pub deadline: BlockNumber,
	/// The block whose expiry queue holds this order while it is open.
	pub expires_at: BlockNumber,
	pub result: Option<ResultMetadata>,
	pub score: Option<u32>,
	pub proof: Option<ProofData>,
}

/// A validator's judgement of a Proof of Training, passed to `verify_pot` as a `u8`.
#[derive(Clone, Copy, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub enum Verdict {
	Fail,
	Pass,
}

impl Verdict {
	/// The seed's wire format: `0` fails the proof, `1` passes it; anything else is rejected.
	pub fn from_u8(result: u8) -> Option<Self> {
		match result {
			0 => Some(Self::Fail),
			1 => Some(Self::Pass),
			_ => None,
		}
	}
}
