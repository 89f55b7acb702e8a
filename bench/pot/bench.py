#!/usr/bin/env python3
"""Proof of Training benchmarks: the matrixai-pot engine against PyTorch on CPU.

Runs `matrixai-pot bench` (verification cost, engine throughput, detection rates) and, in the
same run, trains the same example specs with PyTorch (same layers, optimizer, batch size,
epochs and thread count), then prints the figures and rewrites the "Proof of Training" section
of docs/benchmarks.md. Every ratio is against an anchor measured in this run.
"""

import argparse
import csv
import datetime
import gzip
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "crates" / "pot" / "specs"
DATA = REPO / "crates" / "pot" / "data"
EXAMPLES = ["iris-softmax", "digits-mlp", "digits-cnn", "breast-cancer-mlp"]


def load_dataset(name):
    """Rows of a bundled dataset as (features, labels), from the same vendored files."""
    if name == "digits":
        text = gzip.decompress((DATA / "digits.csv.gz").read_bytes()).decode()
        rows = list(csv.reader(io.StringIO(text)))
    else:
        rows = list(csv.reader(io.StringIO((DATA / f"{name}.csv").read_text())))[1:]
    rows = [r for r in rows if r]
    features = torch.tensor([[float(v) for v in r[:-1]] for r in rows], dtype=torch.float32)
    labels = torch.tensor([int(r[-1]) for r in rows], dtype=torch.int64)
    return features, labels


def prepare(spec):
    features, labels = load_dataset(spec["dataset"]["name"])
    generator = torch.Generator().manual_seed(spec["split"]["seed"])
    order = torch.randperm(len(labels), generator=generator)
    eval_rows = len(labels) * spec["split"]["eval_ppm"] // 1_000_000
    train = order[eval_rows:]
    x, y = features[train].clone(), labels[train].clone()
    pre = spec.get("preprocess", {"kind": "none"})
    if pre["kind"] == "standardize":
        std = x.std(dim=0, unbiased=False)
        x = (x - x.mean(dim=0)) / torch.where(std > 0, std, torch.ones_like(std))
    elif pre["kind"] == "scale":
        x = x * pre["factor"]
    return x, y


def build_model(spec):
    """nn.Sequential equal to the spec's layers; images go in as NCHW (the engine uses HWC)."""
    shape = {"iris": [4], "breast_cancer": [30], "digits": [8, 8, 1]}[spec["dataset"]["name"]]
    image = (shape[2], shape[0], shape[1]) if len(shape) == 3 else None
    flat = shape[0] if len(shape) == 1 else None
    layers = []
    for layer in spec["model"]["layers"]:
        kind = layer["type"]
        if kind == "dense":
            layers.append(torch.nn.Linear(flat, layer["units"]))
            flat = layer["units"]
        elif kind == "relu":
            layers.append(torch.nn.ReLU())
        elif kind == "conv2d":
            c, h, w = image
            k, p = layer["kernel"], layer["padding"]
            layers.append(torch.nn.Conv2d(c, layer["out_channels"], k, padding=p))
            image = (layer["out_channels"], h + 2 * p - k + 1, w + 2 * p - k + 1)
        elif kind == "max_pool2d":
            c, h, w = image
            s = layer["size"]
            layers.append(torch.nn.MaxPool2d(s))
            image = (c, h // s, w // s)
        elif kind == "flatten":
            layers.append(torch.nn.Flatten())
            flat = math.prod(image)
            image = None
        else:
            raise ValueError(f"unknown layer {kind}")
    return torch.nn.Sequential(*layers), shape


def make_optimizer(spec, params):
    o = spec["optimizer"]
    if o["kind"] == "sgd":
        return torch.optim.SGD(params, lr=o["lr"], momentum=o.get("momentum", 0.0),
                               weight_decay=o.get("weight_decay", 0.0), nesterov=o.get("nesterov", False))
    return torch.optim.Adam(params, lr=o["lr"], betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                            eps=o.get("eps", 1e-8), weight_decay=o.get("weight_decay", 0.0))


def torch_train_seconds(spec, x, y):
    """One full training run of the spec (shuffle, batches, forward, backward, step)."""
    torch.manual_seed(spec["init_seed"])
    model, shape = build_model(spec)
    if len(shape) == 3:
        x = x.reshape(-1, shape[0], shape[1], shape[2]).permute(0, 3, 1, 2).contiguous()
    optimizer = make_optimizer(spec, model.parameters())
    batch = spec["batch_size"]
    n = len(y)
    started = time.perf_counter()
    for _ in range(spec["epochs"]):
        order = torch.randperm(n)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
    return time.perf_counter() - started


def run_engine(pot_bin, threads, repeats, trials, scales, work_dir):
    command = [str(pot_bin), "bench", "--threads", str(threads), "--repeats", str(repeats),
               "--trials", str(trials), "--work-dir", str(work_dir), "--scales", *map(str, scales)]
    result = subprocess.run(command, check=True, capture_output=True, text=True,
                            env={**os.environ, "RUST_LOG": "warn"})
    return json.loads(result.stdout)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def markdown(results, args):
    engine_1 = results["engine"][args.threads[0]]
    out = []
    out.append("## Proof of Training\n")
    out.append(f"Produced by `{args.command.strip()}` on {datetime.date.today()}, {cpu_model()}, "
               f"{os.cpu_count()} logical CPUs, PyTorch {torch.__version__}, Python {platform.python_version()}. "
               "Each time is the median of "
               f"{engine_1['repeats']} runs; every ratio is against an anchor measured in the same run. "
               "The machine was shared with other builds, so absolute times are noisy; the ratios are "
               "what the goals are about.\n")
    out.append(f"### Verification cost as a fraction of training ({args.threads[0]} thread)\n")
    out.append("Anchors, measured in the same run: *compute* = the bare training loop (no checkpoints); "
               "*trainer* = `train_bundle`, what the trainer really runs (training, every checkpoint file "
               "written, manifest, evaluation). Verification = a full `Verifier::verify`: manifest against "
               "the spec and transcript, spec, Merkle root, init, final model, accuracy recomputed, then the "
               "2s checkpoints of s segments read, checked against their leaves and replayed; *static* is "
               "that without the replay. Each cell: time, % of compute / % of trainer. Goal: at most 5% at s = 4. "
               "Scale x10 runs the same example with 10 times the epochs and checkpoint interval "
               "(same segment count), to show how the fixed part (static checks, one evaluation pass) "
               "is amortised once training is longer than a few milliseconds.\n")
    out.append("| model | scale | steps | segments (k) | compute | trainer | static | s = 1 | s = 4 | s = 16 |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in sorted(engine_1["models"], key=lambda m: (EXAMPLES.index(m["name"]), m["scale"])):
        interval = m["checkpoint_interval"]
        cells = " | ".join(f"{v['seconds'] * 1000:.1f} ms: {v['fraction_of_engine'] * 100:.1f}% / "
                           f"{v['fraction_of_train_bundle'] * 100:.1f}%" for v in m["verify"])
        out.append(f"| {m['name']} | x{m['scale']} | {m['total_steps']} | {m['segments']} ({interval}) | "
                   f"{m['engine_seconds'] * 1000:.1f} ms | {m['train_bundle_seconds'] * 1000:.1f} ms | "
                   f"{m['check_seconds'] * 1000:.1f} ms | {cells} |")
    out.append("")
    out.append("### Training throughput against PyTorch (same model, data, optimizer, batch size, epochs, threads)\n")
    out.append("Samples/s of a whole training run (epochs x training rows / seconds, shuffling included, "
               "no checkpoints). Ratio = engine / PyTorch; goal: at least 1.\n")
    out.append("| model | batch | threads | engine samples/s | PyTorch samples/s | ratio |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for threads in args.threads:
        engine = results["engine"][threads]
        for m in (m for m in engine["models"] if m["scale"] == 1):
            t = results["torch"][threads][m["name"]]
            ratio = m["engine_samples_per_second"] / t["samples_per_second"]
            out.append(f"| {m['name']} | {m['batch_size']} | {threads} | {m['engine_samples_per_second']:,.0f} | "
                       f"{t['samples_per_second']:,.0f} | {ratio:.1f}x |")
    out.append("")
    detection = engine_1["detection"]
    if detection:
        first = detection[0]
        out.append(f"### Detection probability (measured over {first['trials']} random challenges per cell)\n")
        out.append(f"{first['model']}, N = {first['segments']} segments; a cheater skipped m segments "
                   "(their end is not what training from their start gives) and kept the last one honest, "
                   "which is the cheater's best case since the last segment is always replayed. "
                   "Predicted = 1 - C(N-1-m, s-1) / C(N-1, s-1); roughly 1 - (1 - m/N)^(s-1).\n")
        out.append("| forged m (fraction) | s = 1 measured / predicted | s = 4 | s = 16 |")
        out.append("|---|---:|---:|---:|")
        by_forged = {}
        for cell in detection:
            by_forged.setdefault(cell["forged_segments"], []).append(cell)
        for forged, cells in by_forged.items():
            row = " | ".join(f"{c['measured_rate']:.3f} / {c['predicted_rate']:.3f}" for c in cells)
            out.append(f"| {forged} ({cells[0]['forged_fraction'] * 100:.0f}%) | {row} |")
        out.append("")
    return "\n".join(out) + "\n"


# Subsection of the Proof of Training section that another command measures
# (crates/pot/scripts/cross-isa-check.sh); kept as it is when the section is rewritten.
KEPT_SUBSECTION = "### Cross-ISA check"


def write_section(path, section):
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = text.find("## Proof of Training")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        old = text[start:end + 1] if end >= 0 else text[start:]
        kept = old.find(KEPT_SUBSECTION)
        if kept >= 0:
            section = section.rstrip("\n") + "\n\n" + old[kept:].rstrip("\n") + "\n\n"
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    path.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pot-bin", required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10],
                        help="epoch multipliers for the verification-cost table (first thread count only)")
    parser.add_argument("--work-dir", default=str(Path.home() / ".cache" / "matrixai" / "pot-bench"))
    parser.add_argument("--write", help="markdown file whose Proof of Training section is replaced")
    parser.add_argument("--command", default="bench/pot/run.sh")
    args = parser.parse_args()

    results = {"engine": {}, "torch": {}}
    for index, threads in enumerate(args.threads):
        print(f"matrixai-pot bench, {threads} thread(s)...", file=sys.stderr)
        first = index == 0
        results["engine"][threads] = run_engine(args.pot_bin, threads, args.repeats,
                                                args.trials if first else 0,
                                                args.scales if first else [1], args.work_dir)
        torch.set_num_threads(threads)
        results["torch"][threads] = {}
        for name in EXAMPLES:
            spec = json.loads((SPECS / f"{name}.json").read_text())
            x, y = prepare(spec)
            print(f"PyTorch {name}, {threads} thread(s)...", file=sys.stderr)
            torch_train_seconds(spec, x, y)  # warm-up: allocator, dispatcher caches
            seconds = statistics.median(torch_train_seconds(spec, x, y) for _ in range(args.repeats))
            results["torch"][threads][name] = {
                "seconds": seconds,
                "samples_per_second": spec["epochs"] * len(y) / seconds,
            }
    section = markdown(results, args)
    print(section)
    print(json.dumps(results, indent=1), file=sys.stderr)
    if args.write:
        write_section(REPO / args.write, section)
        print(f"wrote {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
