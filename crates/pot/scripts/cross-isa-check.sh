#!/usr/bin/env bash
# Cross-CPU determinism check for the Proof of Training engine.
#
# Builds `matrixai-pot` three times with different instruction sets allowed to the compiler
# (x86-64 baseline SSE2; x86-64-v3 = AVX2 + FMA; x86-64-v4 = AVX-512), trains every example
# spec with each binary that this CPU can run, with 1 and 3 threads, and requires every
# transcript root to be identical. Different vector widths and FMA availability are exactly
# what differs between a trainer's and a validator's CPU.
#
#   crates/pot/scripts/cross-isa-check.sh build BIN_DIR   # compile the three binaries
#   crates/pot/scripts/cross-isa-check.sh run BIN_DIR     # train and compare (any x86-64 CPU)
#   crates/pot/scripts/cross-isa-check.sh                 # both, with BIN_DIR under the cache
set -euo pipefail

repo="$(cd "$(dirname "$0")/../../.." && pwd)"
levels=(x86-64 x86-64-v3 x86-64-v4)
mode="${1:-all}"
bin_dir="${2:-${HOME}/.cache/matrixai/pot-isa/bin}"

build() {
  # An explicit --target keeps RUSTFLAGS off build scripts and proc-macros, which run here
  # (a proc-macro built for AVX-512 would crash rustc on a CPU without it).
  local host
  host="$(rustc -vV | sed -n 's/^host: //p')"
  mkdir -p "$bin_dir"
  for level in "${levels[@]}"; do
    echo "building matrixai-pot for target-cpu=$level" >&2
    CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" \
    CARGO_TARGET_DIR="${HOME}/.cache/matrixai/pot-isa/target-$level" \
    RUSTFLAGS="-C target-cpu=$level" \
      cargo build --release --locked -p matrixai-pot --target "$host" --manifest-path "$repo/Cargo.toml" >&2
    cp "${HOME}/.cache/matrixai/pot-isa/target-$level/$host/release/matrixai-pot" "$bin_dir/matrixai-pot-$level"
  done
}

cpu_supports() {
  case "$1" in
    x86-64) return 0 ;;
    x86-64-v3) grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo ;;
    x86-64-v4) grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo ;;
  esac
}

run() {
  local work reference="" failures=0 runs=0
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  for spec in "$repo"/crates/pot/specs/*.json; do
    name="$(basename "$spec" .json)"
    reference=""
    for level in "${levels[@]}"; do
      binary="$bin_dir/matrixai-pot-$level"
      if ! cpu_supports "$level"; then
        echo "$name $level skipped (this CPU lacks the instructions)"
        continue
      fi
      for threads in 1 3; do
        out="$work/$name-$level-$threads"
        root="$(RUST_LOG=warn "$binary" train --spec "$spec" --out "$out" --threads "$threads" | sed -E 's/.*"root":"([0-9a-f]+)".*/\1/')"
        runs=$((runs + 1))
        echo "$name $level threads=$threads root=$root"
        if [[ -z "$reference" ]]; then
          reference="$root"
        elif [[ "$root" != "$reference" ]]; then
          echo "MISMATCH: $name $level threads=$threads differs from $reference" >&2
          failures=$((failures + 1))
        fi
      done
    done
  done
  echo "$((runs - failures)) passed, $failures failed"
  [[ $failures -eq 0 ]]
}

case "$mode" in
  build) build ;;
  run) run ;;
  all) build && run ;;
  *) echo "usage: $0 [build|run|all] [BIN_DIR]" >&2; exit 64 ;;
esac
