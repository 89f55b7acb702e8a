# Sourced by the other scripts: where builds go and where the node binary ends up.
# Build outputs live outside the clone so they survive fresh clones and are reused by CI.
# CARGO_TARGET_DIR, when set, is honoured: the root workspace builds there, the chain in its
# `chain/` subfolder (the two workspaces pin different dependency versions).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/matrixai"
export ROOT_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_ROOT/target}"
export CHAIN_TARGET_DIR="${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/chain}"
export CHAIN_TARGET_DIR="${CHAIN_TARGET_DIR:-$CACHE_ROOT/target-chain}"
# The node is built with runtime benchmarks so that `benchmark pallet` works from the same binary.
export NODE_FEATURES="runtime-benchmarks"
export MATRIXAI_NODE="${MATRIXAI_NODE:-$CHAIN_TARGET_DIR/release/matrixai-node}"
# The runtime's wasm build looks for Cargo.lock upwards from the target directory; ours is elsewhere.
export WASM_BUILD_WORKSPACE_HINT="$REPO_ROOT/chain"
