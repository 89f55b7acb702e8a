// This file is part of MatrixAI. Licensed under the Apache License, Version 2.0.
//
// State: the dev genesis plus 1000000 endowed accounts; writes in batches of 1000 keys.

//! What one storage read and one storage write cost in ParityDB on the development machine: the
//! runtime's `DbWeight`, which prices the reads and writes every call's weight counts.
//!
//! THIS FILE WAS AUTO-GENERATED USING THE SUBSTRATE BENCHMARK CLI VERSION 64.0.0
//! DATE: 2026-11-25 (Y/M/D), HOSTNAME: `vm`, CPU: `AMD EPYC`
//! DATABASE: `ParityDb`, BLOCK-NUM: `Number(0)`, STATE-VERSION: `V1`
//! METRIC: `Average`, WEIGHT-MUL: `1.0`, WEIGHT-ADD: `0`

// Executed Command:
// matrixai-node
// benchmark
// storage
// --chain
// $WORK/spec.json
// --base-path
// $WORK/db
// --db
// paritydb
// --state-version
// 1
// --batch-size
// 1000
// --template-path
// chain/scripts/storage-weight-template.hbs
// --header
// $WORK/HEADER
// --weight-path
// chain/runtime/src

use frame_support::{
	parameter_types,
	weights::{constants::WEIGHT_REF_TIME_PER_NANOS, RuntimeDbWeight},
};

parameter_types! {
	pub const ParityDbWeight: RuntimeDbWeight = RuntimeDbWeight {
		// Time to read one storage item: the *Average* of all
		// values times `1.0` plus `0`.
		//
		// Stats nanoseconds:
		//   Min, Max: 961, 1_047_212
		//   Average:  5_367
		//   Median:   5_068
		//   Std-Dev:  3329.68
		//
		// Percentiles nanoseconds:
		//   99th: 10_636
		//   95th: 6_580
		//   75th: 5_438
		read: 5_367 * WEIGHT_REF_TIME_PER_NANOS,

		// Time to write one storage item, amortised over a block's batch of writes: the
		// *Average* of all batches times `1.0` plus `0`.
		//
		// Stats nanoseconds:
		//   Min, Max: 11_579, 67_859
		//   Average:  15_978
		//   Median:   14_683
		//   Std-Dev:  4704.23
		//
		// Percentiles nanoseconds:
		//   99th: 40_301
		//   95th: 21_099
		//   75th: 15_435
		write: 15_978 * WEIGHT_REF_TIME_PER_NANOS,
	};
}

#[cfg(test)]
mod tests {
	use super::ParityDbWeight;
	use frame_support::weights::constants::WEIGHT_REF_TIME_PER_MICROS;

	/// A regenerated file still prices storage sanely: a read at least 1 µs, a write at least a
	/// read, neither above 1 ms.
	#[test]
	fn prices_are_sane() {
		let weight = ParityDbWeight::get();
		assert!(weight.read >= WEIGHT_REF_TIME_PER_MICROS, "{weight:?}");
		assert!(weight.write >= weight.read, "{weight:?}");
		assert!(weight.write <= 1_000 * WEIGHT_REF_TIME_PER_MICROS, "{weight:?}");
	}
}
