#!/usr/bin/env bash
# Measures one storage read and one storage write in ParityDB (the node's only database) on this
# machine with `matrixai-node benchmark storage`, and writes them as the runtime's DbWeight:
# chain/runtime/src/paritydb_weights.rs. The state is the dev genesis plus ACCOUNTS endowed
# accounts; writes are amortised over blocks of BATCH changed keys.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -x "$MATRIXAI_NODE" ] || "$REPO_ROOT/scripts/build-node.sh"
cd "$REPO_ROOT"
ACCOUNTS="${ACCOUNTS:-1000000}" BATCH="${BATCH:-1000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$MATRIXAI_NODE" build-spec --chain dev --raw >"$work/dev.json" 2>/dev/null
python3 scripts/storage_state.py "$work/dev.json" "$ACCOUNTS" >"$work/spec.json"
{
	cat chain/scripts/HEADER
	echo "//"
	echo "// State: the dev genesis plus $ACCOUNTS endowed accounts; writes in batches of $BATCH keys."
} >"$work/HEADER"
"$MATRIXAI_NODE" benchmark storage --chain "$work/spec.json" --base-path "$work/db" --db paritydb \
	--state-version 1 --batch-size "$BATCH" --template-path chain/scripts/storage-weight-template.hbs \
	--header "$work/HEADER" --weight-path chain/runtime/src
# The command line in the header names the binary and the spec, not where this run kept them.
sed -i -e "s|^// .*/matrixai-node$|// matrixai-node|" -e "s|^// $work/|// \$WORK/|" \
	chain/runtime/src/paritydb_weights.rs
# DbWeight is one of the runtime's constants in the metadata the off-chain client is built from.
"$REPO_ROOT/scripts/update-metadata.sh"
