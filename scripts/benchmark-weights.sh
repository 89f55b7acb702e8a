#!/usr/bin/env bash
# Benchmarks the MatrixAI pallets on this machine with `matrixai-node benchmark pallet`, rewrites
# their weights.rs, and writes the comparison against pallet_balances' transfer_keep_alive (from
# the same run) to docs/benchmarks.md.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -x "$MATRIXAI_NODE" ] || "$REPO_ROOT/scripts/build-node.sh"
cd "$REPO_ROOT"
STEPS="${STEPS:-50}" REPEAT="${REPEAT:-20}"
out="$(mktemp -d)"

bench() { # pallet, output file, extrinsics
	"$MATRIXAI_NODE" benchmark pallet --chain dev --pallet "$1" --extrinsic "${3:-*}" \
		--steps "$STEPS" --repeat "$REPEAT" --wasm-execution compiled --heap-pages 4096 \
		--template chain/scripts/frame-weight-template.hbs --header chain/scripts/HEADER \
		--output "$2"
	# The command line in the header names the binary, not where this machine keeps it.
	sed -i "s|^// .*/matrixai-node$|// matrixai-node|" "$2"
}
bench pallet_hashrate_market chain/pallets/hashrate-market/src/weights.rs
bench pallet_faucet chain/pallets/faucet/src/weights.rs
bench pallet_balances "$out/balances.rs" transfer_keep_alive

python3 "$REPO_ROOT/scripts/weights_table.py" \
	--anchor "$out/balances.rs:transfer_keep_alive" --db-weights chain/runtime/src/paritydb_weights.rs \
	chain/pallets/hashrate-market/src/weights.rs chain/pallets/faucet/src/weights.rs \
	--command "STEPS=$STEPS REPEAT=$REPEAT scripts/benchmark-weights.sh" \
	--update docs/benchmarks.md
