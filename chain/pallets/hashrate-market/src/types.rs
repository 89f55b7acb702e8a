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

/// Most validators on one judging panel, and so most judging rounds.
pub const MAX_PANEL: u32 = 4;
/// The validators assigned to judge an order, one per round, in order.
pub type Panel<AccountId> = BoundedVec<AccountId, ConstU32<MAX_PANEL>>;

/// The terms under which a machine is listed on the market.
#[derive(Clone, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Offer<Balance> {
	pub price_per_hour: Balance,
	pub max_duration_hours: u32,
	pub disk_gb: u32,
}

/// A registered machine and the stake its owner holds for it.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Machine<AccountId, Balance> {
	pub owner: AccountId,
	pub metadata: MachineMetadata,
	/// Held from the owner: at least `MachineDeposit` when listed, and at least `locked` plus
	/// the collateral of the order in training. Slashes are paid from it.
	pub deposit: Balance,
	/// Collateral of this machine's finished orders that are still in their dispute window: it
	/// stays at stake until they settle, while the machine already serves the next order.
	pub locked: Balance,
	/// `None` while delisted.
	pub offer: Option<Offer<Balance>>,
	/// The latest order placed on the machine: the machine is rented while that order is in
	/// training or awaits its verdict. Not cleared when the order moves on, but read when renting
	/// or removing the machine, which saves a write on every verdict and expiry.
	pub last_order: Option<OrderId>,
}

/// Where an open order is in its life. Closed orders are removed from storage; their history is
/// in the events.
#[derive(Clone, Copy, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub enum OrderStatus {
	/// Placed and paid into escrow; the trainer is working.
	Training,
	/// The trainer reported a result; its Proof of Training is due before the deadline.
	Completed,
	/// The Proof of Training is committed and waits for the assigned validator's verdict.
	PotSubmitted,
	/// The proof passed (or no validator judged it): the payment is released to the seller when
	/// the dispute window closes without a dispute.
	Verified,
	/// Somebody disputed one segment of a verified proof; an assigned validator replays it.
	Disputed,
}

impl OrderStatus {
	/// Whether the order still occupies its machine: training, or waiting for the first verdict.
	pub fn occupies_machine(self) -> bool {
		matches!(self, Self::Training | Self::Completed | Self::PotSubmitted)
	}
}

/// The validators assigned to judge an order, and when each may do so: round `r` starts at
/// `from + r * round_blocks` and belongs to `panel[r]`.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Judging<AccountId, BlockNumber> {
	pub panel: Panel<AccountId>,
	pub from: BlockNumber,
	pub round_blocks: BlockNumber,
}

/// A challenge of one segment of a verified proof, and the bond that backs it.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Dispute<AccountId, Balance, BlockNumber> {
	pub disputer: AccountId,
	/// The segment (0-based, in the transcript's checkpoint order) the disputer says was forged.
	pub segment: u32,
	/// Held from the disputer: returned with a reward if the forgery is proven, paid to the seller
	/// if the segment replays honestly.
	pub bond: Balance,
	/// The end of the dispute window this dispute interrupted. A dispute that proves nothing
	/// (frivolous or unjudged) hands the rest of the window back, so a seller's own dispute from
	/// a second account cannot close the window before the buyer has checked the training.
	pub window_end: BlockNumber,
}

/// An open order: the escrow held from the buyer, the collateral at stake on the seller's
/// machine, and everything reported about the job.
#[derive(Clone, Encode, Decode, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub struct Order<AccountId, Balance, BlockNumber> {
	pub buyer: AccountId,
	pub seller: AccountId,
	pub machine_id: MachineId,
	/// The offer's price when the order was placed; renewals pay the same.
	pub price_per_hour: Balance,
	pub duration_hours: u32,
	/// The offer's maximum duration when the order was placed: renewals stay within it whatever
	/// the seller lists later.
	pub max_duration_hours: u32,
	/// Amount held from the buyer.
	pub escrow: Balance,
	/// The part of the machine's deposit this order can slash: `CollateralRatio` of `escrow`.
	pub collateral: Balance,
	pub metadata: OrderMetadata,
	pub status: OrderStatus,
	pub placed_at: BlockNumber,
	/// The rented time ends here; the job and its proof are due by `deadline` plus grace.
	pub deadline: BlockNumber,
	/// The block at which the order's current stage times out; its expiry-queue entry.
	pub expires_at: BlockNumber,
	pub result: Option<ResultMetadata>,
	pub score: Option<u32>,
	pub proof: Option<ProofData>,
	/// The block whose hash seeds the draw of the next panel: the one that included the proof
	/// (its hash also seeds the verifier's segment challenge), then the one that included a
	/// dispute.
	pub seed_block: Option<BlockNumber>,
	/// Who may judge the proof (or the dispute) now, and until when.
	pub judging: Option<Judging<AccountId, BlockNumber>>,
	/// The validator whose verdict passed the proof; `None` before, or when nobody judged it.
	pub verified_by: Option<AccountId>,
	pub dispute: Option<Dispute<AccountId, Balance, BlockNumber>>,
}

/// A validator's judgement: of a whole Proof of Training, or of the one segment a dispute names.
/// Encoded as one byte, `0` for `Fail` and `1` for `Pass`.
#[derive(Clone, Copy, Encode, Decode, DecodeWithMemTracking, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
pub enum Verdict {
	/// The proof (or the disputed segment) does not replay: the training was forged.
	Fail,
	/// The proof (or the disputed segment) replays as committed.
	Pass,
}
