//! PROVISIONAL: replaced by `scripts/benchmark-weights.sh` output (frame-benchmarking).
#![allow(unused_parens)]
use core::marker::PhantomData;
use frame_support::{traits::Get, weights::{constants::RocksDbWeight, Weight}};

pub trait WeightInfo {
	fn add_machine() -> Weight;
	fn remove_machine() -> Weight;
	fn make_offer() -> Weight;
	fn cancel_offer() -> Weight;
	fn place_order() -> Weight;
	fn renew_order() -> Weight;
	fn order_completed() -> Weight;
	fn order_failed() -> Weight;
	fn submit_pot() -> Weight;
	fn verify_pot() -> Weight;
	fn add_validator() -> Weight;
	fn remove_validator() -> Weight;
	fn on_initialize(n: u32) -> Weight;
}
pub struct SubstrateWeight<T>(PhantomData<T>);
macro_rules! provisional { ($db:expr) => {
	fn add_machine() -> Weight { $db.reads_writes(3, 3) }
	fn remove_machine() -> Weight { $db.reads_writes(3, 3) }
	fn make_offer() -> Weight { $db.reads_writes(3, 3) }
	fn cancel_offer() -> Weight { $db.reads_writes(1, 1) }
	fn place_order() -> Weight { $db.reads_writes(5, 5) }
	fn renew_order() -> Weight { $db.reads_writes(5, 5) }
	fn order_completed() -> Weight { $db.reads_writes(1, 1) }
	fn order_failed() -> Weight { $db.reads_writes(5, 5) }
	fn submit_pot() -> Weight { $db.reads_writes(3, 3) }
	fn verify_pot() -> Weight { $db.reads_writes(8, 8) }
	fn add_validator() -> Weight { $db.reads_writes(1, 1) }
	fn remove_validator() -> Weight { $db.reads_writes(1, 1) }
	fn on_initialize(n: u32) -> Weight { $db.reads_writes(1 + 5 * n as u64, 1 + 5 * n as u64) }
} }
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> { provisional!(T::DbWeight::get()); }
impl WeightInfo for () { provisional!(RocksDbWeight::get()); }
