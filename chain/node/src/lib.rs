//! The MatrixAI node: BABE block production, GRANDPA finality and ParityDB storage around the
//! MatrixAI runtime.

pub mod chain_spec;
pub mod cli;
pub mod command;
pub mod rpc;
pub mod service;
