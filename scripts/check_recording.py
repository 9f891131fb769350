#!/usr/bin/env python3
"""Checks a `scout demo` recording with the Rerun CLI (pip install rerun-sdk).

    python3 scripts/check_recording.py scout-demo/recording.rrd [--frames N]
    python3 scripts/check_recording.py scout-demo/flight.rrd --flight [--frames N]

1. `rerun rrd verify FILE`: the viewer of that version can load it.
2. `rerun rrd print FILE`: every entity path the demo logs is there (see
   viz/src/recording.rs), with a row per frame for the per-frame ones when
   --frames is given; prints rows and size per entity. `--flight` checks
   the drone's closed-loop flight (`flight.rrd`: the VIO, the map, the
   MI planner's plans, the true path) instead of the VIO replay.

Exits 1 with the missing paths named.
"""

import argparse
import collections
import re
import subprocess
import sys

# The VIO replay (recording.rrd): logged for every frame.
PER_FRAME = [
    "/world/body/cam0/image",
    "/world/body/cam1/image",
    "/world/body/cam0/tracks",
    "/world/body/cam0/tails",
    "/world/body/cam1/matches",
    "/world/landmarks",
    "/stats/time_ms/frontend",
    "/stats/time_ms/backend",
]
# The VIO replay: logged at least once.
ONCE = [
    "/world",
    "/world/body",
    "/world/body/cam0",
    "/world/body/cam1",
    "/world/trajectory",
    "/world/ground_truth",
    "/world/map/voxels",
    "/world/map/slice",
    "/stats/ate_mm",
    "/stats/dram_kB/frontend",
    "/stats/dram_kB/backend",
    "/stats/dram_kB/map",
    "/stats/energy_uJ/frontend",
    "/stats/energy_uJ/backend",
    "/stats/energy_uJ/map",
    "/stats/time_ms/map",
]
# The flight (flight.rrd): its camera frame by frame, and the whole loop on
# the sensor timeline: estimated and true paths, the map growing, each plan.
FLIGHT_PER_FRAME = [
    "/world/body/cam0/image",
    "/world/body/cam0/tracks",
    "/world/body/cam0/tails",
    "/world/landmarks",
    "/stats/time_ms/frontend",
    "/stats/time_ms/backend",
]
FLIGHT_ONCE = [
    "/world/trajectory",
    "/world/ground_truth",
    "/world/map/voxels",
    "/world/map/slice",
    "/stats/time_ms/map",
] + [
    f"/explore/mi/{part}" for part in ("map", "mi", "goal", "path", "travelled", "robot")
] + ["/stats/coverage/mi"]

CHUNK = re.compile(r"^Chunk\(\S+\) with (\d+) rows \(([\d.]+) ([KMG]i)?B\) - (\S+)")
UNIT = {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rrd")
    parser.add_argument("--frames", type=int, help="frames of the VIO run")
    parser.add_argument("--flight", action="store_true", help="a flight.rrd")
    args = parser.parse_args()
    once, per_frame = (FLIGHT_ONCE, FLIGHT_PER_FRAME) if args.flight else (ONCE, PER_FRAME)

    verify = subprocess.run(["rerun", "rrd", "verify", args.rrd], capture_output=True, text=True)
    print((verify.stdout + verify.stderr).strip().splitlines()[-1:] or ["(no output)"])
    if verify.returncode != 0:
        print(f"{args.rrd}: rerun rrd verify failed:\n{verify.stdout}{verify.stderr}")
        return 1

    printed = subprocess.run(["rerun", "rrd", "print", args.rrd], capture_output=True, text=True)
    if printed.returncode != 0:
        print(f"{args.rrd}: rerun rrd print failed:\n{printed.stderr}")
        return 1
    rows = collections.Counter()
    size = collections.Counter()
    blueprint = False
    for line in printed.stdout.splitlines():
        if "Blueprint," in line:
            blueprint = True
        m = CHUNK.match(line)
        if m:
            n, value, unit, path = m.groups()
            rows[path] += int(n)
            size[path] += float(value) * UNIT[unit]

    problems = []
    if not blueprint:
        problems.append("no blueprint")
    for path in once + per_frame:
        if rows[path] == 0:
            problems.append(f"{path}: missing")
    if args.frames:
        for path in per_frame:
            if 0 < rows[path] < args.frames:
                problems.append(f"{path}: {rows[path]} rows for {args.frames} frames")

    for path in sorted(p for p in rows if not p.startswith(("/view", "/container"))):
        print(f"  {rows[path]:6d} rows {size[path] / 1e6:8.2f} MB  {path}")
    if problems:
        print(f"{args.rrd}: " + "; ".join(problems))
        return 1
    print(f"{args.rrd}: verified, {len(once) + len(per_frame)} expected entity paths present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
