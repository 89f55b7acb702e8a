//! PROVISIONAL: replaced by `scripts/benchmark-weights.sh` output (frame-benchmarking).
use core::marker::PhantomData;
use frame_support::{traits::Get, weights::{constants::RocksDbWeight, Weight}};

pub trait WeightInfo {
	fn claim() -> Weight;
	fn top_up() -> Weight;
}
pub struct SubstrateWeight<T>(PhantomData<T>);
impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T> {
	fn claim() -> Weight { T::DbWeight::get().reads_writes(5, 4) }
	fn top_up() -> Weight { T::DbWeight::get().reads_writes(2, 2) }
}
impl WeightInfo for () {
	fn claim() -> Weight { RocksDbWeight::get().reads_writes(5, 4) }
	fn top_up() -> Weight { RocksDbWeight::get().reads_writes(2, 2) }
}
