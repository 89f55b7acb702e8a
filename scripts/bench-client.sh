#!/usr/bin/env bash
# The trainer agent's figures for docs/benchmarks.md: the device GEMM against numpy/OpenBLAS on
# this machine (numpy from PyPI in a virtual environment under the cache). Prints markdown.
set -euo pipefail
source "$(dirname "$0")/env.sh"
venv="$CACHE_ROOT/bench-venv"
if ! "$venv/bin/python" -c "import numpy" 2>/dev/null; then
	python3 -m venv "$venv"
	"$venv/bin/pip" install --quiet --disable-pip-version-check "numpy==2.4.6"
fi
cd "$REPO_ROOT"
MATRIXAI_BENCH_PYTHON="$venv/bin/python" CARGO_TARGET_DIR="$ROOT_TARGET_DIR" \
	cargo bench --locked -p matrixai-client --bench device
