#!/usr/bin/env bash
# The indexer's figures for docs/benchmarks.md: market query latency on SQLite and PostgreSQL
# at 1k, 10k and 100k machines, catch-up throughput from a dev node, live lag. Prints markdown.
# Takes about 25 minutes, most of it waiting for the dev chain to grow 400 empty blocks (3 s each)
# for the empty-block catch-up figure.
set -euo pipefail
source "$(dirname "$0")/env.sh"
[ -x "$MATRIXAI_NODE" ] || "$REPO_ROOT/scripts/build-node.sh"
eval "$("$REPO_ROOT/scripts/test-databases.sh")"
cd "$REPO_ROOT"
CARGO_TARGET_DIR="$ROOT_TARGET_DIR" cargo bench --locked -p matrixai-indexer --bench indexer
