#!/usr/bin/env bash
# Runs every test of the project: the chain workspace (pallets, runtime, metadata freshness),
# then the root workspace (off-chain crates and the integration tests against a real node).
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/scripts/setup.sh"

echo "== formatting (rustfmt; chain/rustfmt.toml keeps polkadot-sdk's tabs)"
(cd "$REPO_ROOT" && cargo fmt --check) && (cd "$REPO_ROOT/chain" && cargo fmt --check)

echo "== chain: building matrixai-node"
"$REPO_ROOT/scripts/build-node.sh"

echo "== chain: pallet and runtime tests"
# The whole workspace with the node's features, so the tests reuse the node build's artifacts.
(cd "$REPO_ROOT/chain" && CARGO_TARGET_DIR="$CHAIN_TARGET_DIR" cargo test --locked --release \
	--workspace --features "matrixai-node/$NODE_FEATURES")

echo "== databases for the indexer's tests: PostgreSQL and MariaDB on loopback"
eval "$("$REPO_ROOT/scripts/test-databases.sh")"
export MATRIXAI_REQUIRE_ALL_DATABASES=1

echo "== schemathesis (PyPI), the indexer API's fuzzer"
command -v schemathesis >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check \
	--root-user-action=ignore "schemathesis==4.32.5"
export MATRIXAI_REQUIRE_SCHEMATHESIS=1

echo "== storage servers for the storage tests: moto (S3) and Kubo (IPFS), from PyPI"
eval "$("$REPO_ROOT/scripts/test-storage.sh")"
export MATRIXAI_REQUIRE_STORAGE_SERVERS=1

echo "== root workspace: off-chain crates and integration tests"
(cd "$REPO_ROOT" && CARGO_TARGET_DIR="$ROOT_TARGET_DIR" cargo test --locked --release --workspace)

echo "== web UI: locked npm packages, type check, production build"
"$REPO_ROOT/scripts/build-ui.sh"
# npm ci regenerated the descriptors from artifacts/metadata.scale: their committed version
# names the metadata's hash, so a UI generated from other metadata shows here.
git -C "$REPO_ROOT" diff --exit-code -- ui/.papi/descriptors/package.json || {
	echo "test.sh: ui/.papi/descriptors/package.json changed: commit the descriptors regenerated from artifacts/metadata.scale" >&2
	exit 1
}

echo "== web UI: browser tests (Debian's Chromium through playwright-core)"
if ! command -v chromium >/dev/null; then
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
(cd "$REPO_ROOT/ui" && npm test)

echo "== root workspace: matrixai-pot gives one transcript root per spec across instruction sets"
# Builds SSE2, AVX2+FMA and AVX-512 binaries (under the cache, so later runs recompile only
# matrixai-pot), runs those this CPU supports and says which it skipped; see
# docs/proof-of-training.md, "Cross-CPU results".
"$REPO_ROOT/crates/pot/scripts/cross-isa-check.sh"
