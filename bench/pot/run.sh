#!/usr/bin/env bash
# Proof of Training benchmarks in one command: builds matrixai-pot, prepares a PyTorch venv
# (outside the repo), measures everything in one run and rewrites the "Proof of Training"
# section of docs/benchmarks.md.
#
#   bench/pot/run.sh [--threads 1 2] [--repeats 3] [--trials 200]
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/matrixai/target}"
cargo build --release --locked -p matrixai-pot

venv="${POT_BENCH_VENV:-$HOME/.cache/matrixai/pot-bench-venv}"
if ! "$venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r bench/pot/requirements.txt
fi
"$venv/bin/python" bench/pot/bench.py \
  --pot-bin "$CARGO_TARGET_DIR/release/matrixai-pot" \
  --write docs/benchmarks.md \
  --command "bench/pot/run.sh $*" \
  "$@"
