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
		//   Min, Max: 891, 956_016
		//   Average:  5_275
		//   Median:   5_007
		//   Std-Dev:  3216.17
		//
		// Percentiles nanoseconds:
		//   99th: 10_286
		//   95th: 6_270
		//   75th: 5_348
		read: 5_275 * WEIGHT_REF_TIME_PER_NANOS,

		// Time to write one storage item, amortised over a block's batch of writes: the
		// *Average* of all batches times `1.0` plus `0`.
		//
		// Stats nanoseconds:
		//   Min, Max: 11_549, 71_021
		//   Average:  15_469
		//   Median:   14_269
		//   Std-Dev:  4695.75
		//
		// Percentiles nanoseconds:
		//   99th: 38_794
		//   95th: 21_547
		//   75th: 14_677
		write: 15_469 * WEIGHT_REF_TIME_PER_NANOS,
	};
}
