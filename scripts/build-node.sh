#!/usr/bin/env bash
# Builds matrixai-node (release) into the chain's target directory.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT/chain"
CARGO_TARGET_DIR="$CHAIN_TARGET_DIR" cargo build --locked --release -p matrixai-node --features "$NODE_FEATURES" "$@"
