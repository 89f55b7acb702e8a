#!/usr/bin/env bash
# Regenerates artifacts/metadata.scale (the source of the off-chain client's types) from the runtime.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$REPO_ROOT/chain"
UPDATE_METADATA=1 CARGO_TARGET_DIR="$CHAIN_TARGET_DIR" cargo test --locked --release \
	--workspace --features "matrixai-node/$NODE_FEATURES" --test metadata
echo "wrote $REPO_ROOT/artifacts/metadata.scale"
