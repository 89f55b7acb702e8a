//! The indexer against real nodes, in one test binary so that its tests, which mostly wait for
//! blocks, run side by side.

mod common;

#[path = "against_node/crash.rs"]
mod crash;
#[path = "against_node/market.rs"]
mod market;
