#!/usr/bin/env python3
"""Checks the cost model's main-memory traffic against a cache simulation.

Runs `scout replay SEQ` under `valgrind --tool=cachegrind` with a Raspberry
Pi 4's caches (Cortex-A72: 48 KiB 3-way L1I, 32 KiB 2-way L1D, 1 MiB 16-way
L2, 64-byte lines), attributes the simulated last-level misses of every
function to the pipeline stage its symbol belongs to, and compares each
stage's missed bytes
(64 per miss, reads and writes) with the DRAM bytes the model counts for it
(`Residence::Main` in OUT/cost.json). Prints a table and exits non-zero when a
stage is off by more than --tolerance (2x by default).

A third of the misses fall in libc's memcpy/memset and in generic std code,
which belong to whichever stage called them. So the same replay also runs
under `valgrind --tool=callgrind --cache-sim=yes` (cachegrind's cache
simulator with a call graph; its totals are printed beside cachegrind's to
show they agree), and the misses of generic code are handed to the stages of
their callers, in proportion to the misses of each call.

Usage: python3 scripts/cachegrind_stages.py SEQ [--scout BIN] [--out DIR]
       [--tolerance 2]
SEQ is an EuRoC/ASL folder (for example ../shared/data/euroc/V1_01_easy_micro
or one made by `scout synth`). Needs valgrind. Takes a few minutes.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

LINE = 64

# Symbol prefixes (demangled Rust paths) of each stage, checked in order. The
# image decoder (the sequence reader: PNG inflate) is the source, which the
# model does not count; allocator and libc copies are reported apart.
# A stage's parts ("stage/part") are compared too, for information.
STAGES = [
    ("frontend/pyramid", [r"vio::frontend::pyramid"]),
    ("frontend/klt", [r"vio::frontend::klt"]),
    ("frontend/other", [r"vio::frontend", r"vio::camera", r"vio::imu::"]),
    ("backend", [r"vio::backend", r"vio::preintegration", r"vio::so3", r"nalgebra::"]),
    ("map/stereo", [r"mapping::stereo"]),
    ("map/insert", [r"mapping::", r"scout::mapper"]),
    ("source", [r"datasets::", r"png::", r"fdeflate", r"miniz_oxide", r"crc32fast", r"adler"]),
    ("libc", [r"^mem", r"^__mem", r"malloc", r"free", r"realloc", r"calloc", r"^_int_", r"__libc", r"^str"]),
]


# The model's kernels in those parts.
KERNEL_PART = {
    ("frontend", "pyramid"): "frontend/pyramid",
    ("frontend", "tracking"): "frontend/klt",
    ("frontend", "stereo"): "frontend/klt",
}


def model_part(stage, kernel):
    if (stage, kernel) in KERNEL_PART:
        return KERNEL_PART[(stage, kernel)]
    if stage == "frontend":
        return "frontend/other"
    if stage == "map":
        return "map/insert" if kernel.startswith("map_") else "map/stereo"
    return stage


def part_of(fn):
    name = fn.lstrip("<")
    for part, patterns in STAGES:
        for p in patterns:
            if re.search(p, name):
                return part
    return "other"


def stage_of(fn):
    return part_of(fn).split("/")[0]


def parse_cachegrind(path):
    """Sums the events of every function of a cachegrind output file."""
    events = None
    per_fn = {}
    fn = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("fn="):
                fn = line[3:].strip()
                per_fn.setdefault(fn, [0] * len(events))
            elif line[:1].isdigit() and fn is not None:
                acc = per_fn[fn]
                for i, v in enumerate(line.split()[1:]):
                    acc[i] += int(v)
    return events, per_fn


def parse_callgrind(path):
    """Self events per function and inclusive events per (caller, callee)."""
    names = {}
    events = None
    fn = cfn = None
    in_call = False
    self_cost = {}
    calls = {}

    def name_of(spec):
        m = re.match(r"\((\d+)\)(?: (.*))?", spec)
        if not m:
            return spec
        if m.group(2) is not None:
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), "?")

    def add(d, k, vals):
        cur = d.get(k)
        if cur is None:
            d[k] = vals
        else:
            for j, v in enumerate(vals):
                cur[j] += v

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("fn="):
                fn = name_of(line[3:])
                in_call = False
            elif line.startswith("cfn="):
                cfn = name_of(line[4:])
            elif line.startswith("calls="):
                in_call = True
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                vals = [int(x) for x in parts[1:]]
                vals += [0] * (len(events) - len(vals))
                if in_call:
                    add(calls, (fn, cfn), vals)
                    in_call = False
                else:
                    add(self_cost, fn, vals)
    return events, self_cost, calls


def attribute(events, self_cost, calls, depth=6):
    """Missed bytes per stage: a function's own misses go to its stage; those
    of generic code (libc copies, allocators, std and closures: stage libc or
    other) go to the stages of its callers, in proportion to the misses of
    each call, up to `depth` callers up."""
    i1, i2 = events.index("DLmr"), events.index("DLmw")
    miss = lambda v: v[i1] + v[i2]
    callers = {}
    for (a, b), v in calls.items():
        if a != b:
            callers.setdefault(b, []).append((a, miss(v)))
    out = {}
    unresolved = {}

    def give(fn, amount, d, seen):
        st = stage_of(fn)
        if st not in ("libc", "other") or d == 0:
            key = part_of(fn)
            out[key] = out.get(key, 0) + amount
            if st in ("libc", "other"):
                unresolved[fn] = unresolved.get(fn, 0) + amount
            return
        ups = [(c, m) for c, m in callers.get(fn, []) if c not in seen and m > 0]
        total = sum(m for _, m in ups)
        if total == 0:
            out[st] = out.get(st, 0) + amount
            unresolved[fn] = unresolved.get(fn, 0) + amount
            return
        for c, m in ups:
            give(c, amount * m / total, d - 1, seen | {fn})

    for fn, v in self_cost.items():
        if miss(v) > 0:
            give(fn, miss(v), depth, frozenset())
    return {k: LINE * v for k, v in out.items()}, unresolved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seq")
    ap.add_argument("--scout", default="target/release/scout")
    ap.add_argument("--out", default=None)
    ap.add_argument("--tolerance", type=float, default=2.0)
    args = ap.parse_args()

    out = args.out or tempfile.mkdtemp(prefix="scout-cachegrind-")
    caches = ["--I1=49152,3,64", "--D1=32768,2,64", "--LL=1048576,16,64"]
    replay = [args.scout, "-q", "replay", args.seq, "--out", out]
    cg_out = os.path.join(out, "cachegrind.out")
    cl_out = os.path.join(out, "callgrind.out")
    for cmd in (
        ["valgrind", "--tool=cachegrind", "--cache-sim=yes", *caches,
         f"--cachegrind-out-file={cg_out}", *replay],
        ["valgrind", "--tool=callgrind", "--cache-sim=yes", *caches,
         f"--callgrind-out-file={cl_out}", *replay],
    ):
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    events, per_fn = parse_cachegrind(cg_out)
    idx = {e: i for i, e in enumerate(events)}
    cg_total = LINE * sum(v[idx["DLmr"]] + v[idx["DLmw"]] for v in per_fn.values())
    cl_events, self_cost, calls = parse_callgrind(cl_out)
    parts, unresolved = attribute(cl_events, self_cost, calls)
    cl_total = sum(parts.values())
    missed = {}
    for part, b in parts.items():
        missed[part.split("/")[0]] = missed.get(part.split("/")[0], 0) + b

    with open(os.path.join(out, "cost.json"), encoding="utf-8") as f:
        report = json.load(f)
    frames = max(report["frames"], 1)
    model = {}
    model_parts = {}
    for st in report["stages"]:
        main = sum(k["main"]["read"] + k["main"]["written"] for k in st["kernels"])
        model[st["stage"]] = main
        for k in st["kernels"]:
            part = model_part(st["stage"], k["kernel"])
            model_parts[part] = model_parts.get(part, 0) + k["main"]["read"] + k["main"]["written"]

    print(f"\n{report['source']}: {frames} frames; Pi 4 caches (L1D 32 KiB 2-way, L2 1 MiB 16-way)")
    print(f"{'stage':<10} {'model DRAM kB/frame':>20} {'simulated kB/frame':>19} {'sim/model':>10}")
    failed = []
    for stage in ["frontend", "backend", "map"]:
        m = model.get(stage, 0) / frames / 1e3
        s = missed.get(stage, 0) / frames / 1e3
        ratio = s / m if m > 0 else float("inf")
        ok = 1 / args.tolerance <= ratio <= args.tolerance
        if not ok:
            failed.append(stage)
        print(f"{stage:<10} {m:>20.1f} {s:>19.1f} {ratio:>10.2f}{'' if ok else '  <- off by more than %gx' % args.tolerance}")
        for part in sorted(p for p in set(parts) | set(model_parts) if p.startswith(stage + "/")):
            pm = model_parts.get(part, 0) / frames / 1e3
            ps = parts.get(part, 0) / frames / 1e3
            pr = f"{ps / pm:10.2f}" if pm > 0 else f"{'-':>10}"
            print(f"  {part:<18} {pm:>10.1f} {ps:>19.1f} {pr}")
    for stage in ["source", "libc", "other"]:
        s = missed.get(stage, 0) / frames / 1e3
        print(f"{stage:<10} {'(not modelled)':>20} {s:>19.1f}")
    print(f"all L2 misses: cachegrind {cg_total / frames / 1e3:.1f} kB/frame, "
          f"callgrind (same simulator, with the call graph) {cl_total / frames / 1e3:.1f} kB/frame")
    top = sorted(per_fn.items(), key=lambda kv: -(kv[1][idx["DLmr"]] + kv[1][idx["DLmw"]]))[:20]
    print("\nfunctions with the most simulated L2 misses of their own (cachegrind; kB/frame, stage):")
    for fn, ev in top:
        b = LINE * (ev[idx["DLmr"]] + ev[idx["DLmw"]]) / frames / 1e3
        print(f"  {b:9.1f}  {stage_of(fn):<9} {fn[:110]}")
    left = sorted(unresolved.items(), key=lambda kv: -kv[1])[:5]
    if left:
        print("\ngeneric code whose callers could not be told (kB/frame):")
        for fn, m in left:
            print(f"  {LINE * m / frames / 1e3:9.1f}  {fn[:110]}")
    if failed:
        print(f"\nFAILED: {', '.join(failed)} outside {args.tolerance}x")
        return 1
    print(f"\nevery stage within {args.tolerance}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
