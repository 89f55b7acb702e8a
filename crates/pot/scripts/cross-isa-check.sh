#!/usr/bin/env bash
# Cross-CPU determinism check for the Proof of Training engine.
#
# Builds `matrixai-pot` three times with different instruction sets allowed to the compiler
# (x86-64 baseline SSE2; x86-64-v3 = AVX2 + FMA; x86-64-v4 = AVX-512), trains every example
# spec with each binary that this CPU can run, with 1 and 3 threads, and requires every
# transcript root to be identical. Different vector widths and FMA availability are exactly
# what differs between a trainer's and a validator's CPU. scripts/test.sh (CI) runs it.
#
#   crates/pot/scripts/cross-isa-check.sh build [BIN_DIR]  # compile the three binaries
#   crates/pot/scripts/cross-isa-check.sh run [BIN_DIR]    # train and compare (any x86-64 CPU)
#   crates/pot/scripts/cross-isa-check.sh [all [BIN_DIR]]  # both
#
# Each level builds in its own target directory under $POT_ISA_DIR (default: pot-isa/ in the
# project cache of scripts/env.sh, ~/.cache/matrixai), so later runs and CI recompile only
# what changed. The AVX-512 binary is built even on a CPU that cannot run it: the build is
# what catches code that does not compile for that target, and with a warm cache it costs
# only the recompilation of matrixai-pot (see docs/proof-of-training.md, "Cross-CPU results").
set -euo pipefail

repo="$(cd "$(dirname "$0")/../../.." && pwd)"
source "$repo/scripts/env.sh"
levels=(x86-64 x86-64-v3 x86-64-v4)
isa_dir="${POT_ISA_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/pot-isa}}"
isa_dir="${isa_dir:-$CACHE_ROOT/pot-isa}"
mode="${1:-all}"
bin_dir="${2:-$isa_dir/bin}"

build() {
  # An explicit --target keeps RUSTFLAGS off build scripts and proc-macros, which run here
  # (a proc-macro built for AVX-512 would crash rustc on a CPU without it).
  local host
  host="$(rustc -vV | sed -n 's/^host: //p')"
  mkdir -p "$bin_dir"
  for level in "${levels[@]}"; do
    echo "building matrixai-pot for target-cpu=$level" >&2
    CARGO_TARGET_DIR="$isa_dir/target-$level" \
    RUSTFLAGS="-C target-cpu=$level" \
      cargo build --release --locked -p matrixai-pot --target "$host" --manifest-path "$repo/Cargo.toml" >&2
    cp "$isa_dir/target-$level/$host/release/matrixai-pot" "$bin_dir/matrixai-pot-$level"
  done
}

# Why this CPU cannot run `level`, or nothing when it can.
missing_features() {
  local flag needed=()
  case "$1" in
    x86-64-v3) needed=(avx avx2 bmi1 bmi2 f16c fma movbe abm) ;;
    x86-64-v4) needed=(avx512f avx512bw avx512cd avx512dq avx512vl) ;;
  esac
  for flag in "${needed[@]}"; do
    grep -qw "$flag" /proc/cpuinfo || printf '%s ' "$flag"
  done
}

run() {
  local work reference failures=0 runs=0 runnable=() level missing
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  for level in "${levels[@]}"; do
    missing="$(missing_features "$level")"
    if [[ -n "$missing" ]]; then
      echo "$level: built, not run (this CPU lacks ${missing% })"
    else
      runnable+=("$level")
    fi
  done
  if [[ ${#runnable[@]} -lt 2 ]]; then
    echo "only ${runnable[*]} can run on this CPU: thread counts are compared, instruction sets are not"
  fi
  for spec in "$repo"/crates/pot/specs/*.json; do
    name="$(basename "$spec" .json)"
    reference=""
    for level in "${runnable[@]}"; do
      for threads in 1 3; do
        out="$work/$name-$level-$threads"
        root="$(RUST_LOG=warn "$bin_dir/matrixai-pot-$level" train --spec "$spec" --out "$out" --threads "$threads" | sed -E 's/.*"root":"([0-9a-f]+)".*/\1/')"
        rm -rf "$out"
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
  echo "$((runs - failures)) of $runs runs gave their spec's root (levels run: ${runnable[*]}); $failures differed"
  [[ $failures -eq 0 ]]
}

case "$mode" in
  build) build ;;
  run) run ;;
  all) build && run ;;
  *) echo "usage: $0 [build|run|all] [BIN_DIR]" >&2; exit 64 ;;
esac
