#!/usr/bin/env bash
# Builds and starts a single-authority development chain (Alice) with its RPC on 127.0.0.1:9944,
# keeping every block's state (the indexer reads each block's events from it).
# Extra arguments go to matrixai-node, e.g. `scripts/run.sh --tmp`.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"
"$REPO_ROOT/scripts/build-node.sh"
exec "$MATRIXAI_NODE" --dev --state-pruning archive-canonical "$@"
