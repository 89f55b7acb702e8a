// Public keys of the MatrixAI testnet (generated with `matrixai-node key generate`).
/// (BABE sr25519, GRANDPA ed25519) of each authority.
const TESTNET_AUTHORITIES: [([u8; 32], [u8; 32]); 3] = [([1; 32], [2; 32]), ([3; 32], [4; 32]), ([5; 32], [6; 32])];
const TESTNET_SUDO: [u8; 32] = [7; 32];
const TESTNET_VALIDATOR: [u8; 32] = [8; 32];
