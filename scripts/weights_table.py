#!/usr/bin/env python3
"""Turns generated weights.rs files into the weights table of docs/benchmarks.md.

Each weight is the full charge the runtime applies: the benchmarked base time plus its storage
reads and writes priced with ParityDB's weights (the database the node uses). Components (like
`n` in `on_initialize(n)`) are taken at their maximum, the worst case a block pays; hooks are
also reported at their minimum, what an idle block pays.
"""
import argparse
import re
import sys
from pathlib import Path

# frame_support::weights::constants::ParityDbWeight, in picoseconds.
READ_PS = 8_000_000
WRITE_PS = 50_000_000
# RuntimeBlockWeights: one second of computation per block.
BLOCK_COMPUTE_PS = 1_000_000_000_000

FN = re.compile(r"\tfn (\w+)\(([^)]*)\) -> Weight \{(.*?)\n\t\}", re.S)
RANGE = re.compile(r"/// The range of component `(\w+)` is `\[(\d+), (\d+)\]`")


def weights(path, at_max=True):
    """(name -> (ref_time_ps, proof_bytes)) for the SubstrateWeight impl of a weights.rs file,
    components at their maximum (or minimum)."""
    text = Path(path).read_text()
    impl = text.split("impl<T: frame_system::Config> WeightInfo for SubstrateWeight<T>", 1)[1]
    impl = impl.split("impl WeightInfo for ()", 1)[0]
    ranges = {m.group(1): int(m.group(3 if at_max else 2)) for m in RANGE.finditer(impl)}
    out = {}
    for name, params, body in FN.findall(impl):
        comps = {p.split(":")[0].strip().lstrip("_"): ranges.get(p.split(":")[0].strip().lstrip("_"), 0)
                 for p in params.split(",") if p.strip()}
        base = re.search(r"Weight::from_parts\(([\d_]+), (\d+)\)", body)
        ref_time, proof = int(base.group(1).replace("_", "")), int(base.group(2))
        for slope, comp in re.findall(r"Weight::from_parts\(([\d_]+), 0\)\.saturating_mul\((\w+)\.into\(\)\)", body):
            ref_time += int(slope.replace("_", "")) * comps[comp]
        for slope, comp in re.findall(r"Weight::from_parts\(0, (\d+)\)\.saturating_mul\((\w+)\.into\(\)\)", body):
            proof += int(slope) * comps[comp]
        reads = sum(int(r) for r in re.findall(r"reads\((\d+)_u64\)", body))
        writes = sum(int(w) for w in re.findall(r"writes\((\d+)_u64\)", body))
        for slope, comp in re.findall(r"reads\(\((\d+)_u64\)\.saturating_mul\((\w+)\.into\(\)\)\)", body):
            reads += int(slope) * comps[comp]
        for slope, comp in re.findall(r"writes\(\((\d+)_u64\)\.saturating_mul\((\w+)\.into\(\)\)\)", body):
            writes += int(slope) * comps[comp]
        out[name] = (ref_time + reads * READ_PS + writes * WRITE_PS, proof, comps)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--anchor", required=True, help="weights.rs:function to compare against")
    parser.add_argument("--command", required=True)
    parser.add_argument("--update", help="markdown file whose weights section is replaced")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    anchor_file, anchor_fn = args.anchor.rsplit(":", 1)
    anchor_ref, anchor_proof, _ = weights(anchor_file)[anchor_fn]
    lines = [
        "## Chain weights",
        "",
        f"Produced by `{args.command}` on the 2-core development machine. Each row is the weight the",
        "runtime charges: benchmarked time plus storage reads and writes at ParityDB prices,",
        "components at their maximum. The anchor is `pallet_balances::transfer_keep_alive`,",
        "benchmarked in the same run. Goal: no call above 3x the anchor's ref_time.",
        "",
        "| pallet | call | ref_time (µs) | proof_size (bytes) | ref_time / transfer |",
        "|---|---|---:|---:|---:|",
        f"| balances | transfer_keep_alive (anchor) | {anchor_ref / 1e6:.1f} | {anchor_proof} | 1.00 |",
    ]
    worst, worst_call, hooks = 0.0, "", []
    for path in args.files:
        pallet = Path(path).parts[-3]
        idle = weights(path, at_max=False)
        for name, (ref_time, proof, comps) in weights(path).items():
            ratio = ref_time / anchor_ref
            label = name + ("(" + ", ".join(f"{c}={v}" for c, v in comps.items()) + ")" if comps else "")
            lines.append(f"| {pallet} | {label} | {ref_time / 1e6:.1f} | {proof} | {ratio:.2f} |")
            if name.startswith("on_"):
                hooks.append((pallet, label, ref_time, idle[name]))
            elif ratio > worst:
                worst, worst_call = ratio, f"{pallet}::{name}"
    lines += ["", f"Largest call ratio: **{worst:.2f}x** ({worst_call}; {'within' if worst <= 3 else 'above'} the 3x goal)."]
    # Hooks are paid once per block, not per transaction: compare them with the block's budget.
    for pallet, label, ref_time, (idle_ref, _, idle_comps) in hooks:
        idle_label = ", ".join(f"{c}={v}" for c, v in idle_comps.items())
        lines.append(f"Hook {pallet}::{label}: {ref_time / 1e9:.1f} ms per block, "
                     f"{100 * ref_time / BLOCK_COMPUTE_PS:.1f} % of a block's {BLOCK_COMPUTE_PS // 10**12} s of computation; "
                     f"at {idle_label}: {idle_ref / 1e6:.1f} µs.")
    lines.append("")
    table = "\n".join(lines)
    print(table)
    if args.update:
        doc = Path(args.update)
        text = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
        section = re.compile(r"## Chain weights\n.*?(?=\n## |\Z)", re.S)
        text = section.sub(lambda _: table.rstrip("\n") + "\n", text) if section.search(text) else text.rstrip("\n") + "\n\n" + table
        doc.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
