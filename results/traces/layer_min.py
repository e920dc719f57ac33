#!/usr/bin/env python3
"""Per-layer minimum over steps from a `hpcnn train --trace` run (rank 0).

  layer_min.py RUN_DIR --warmup 5 > layers-min.csv

The shared machine's load slows some steps; the minimum over the steps after
the warm-up is the closest to an unloaded core (the median is in
hpcnn-merge summary's layers.csv). Columns as layers.csv, with *_ms_min,
plus one row `optimizer` (kind `optimizer`) for the optimizer phase.
"""
import argparse
import csv
import json
import sys

ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("--warmup", type=int, default=5)
a = ap.parse_args()
ev = json.load(open(f"{a.run}/trace/rank-00000.json"))["traceEvents"]
steps = sorted({(e["args"]["epoch"], e["args"]["step"]) for e in ev if e.get("ph") == "X" and e["name"] == "step"})
keep = set(steps[a.warmup:])
layers, opt = {}, []
for e in ev:
    if e.get("ph") != "X" or (e["args"]["epoch"], e["args"]["step"]) not in keep:
        continue
    if e.get("cat") == "layer":
        g = e["args"]
        r = layers.setdefault(g["layer"], dict(name=e["name"].rsplit(" ", 1)[0], kind=g["kind"], output=g["output"],
                                                forward=[], backward=[]))
        r[g["pass"]].append(e["dur"] / 1e3)
    elif e["name"] == "optimizer":
        opt.append(e["dur"] / 1e3)
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(["rank", "layer", "name", "kind", "output", "steps", "forward_ms_min", "backward_ms_min"])
for i in sorted(layers):
    r = layers[i]
    w.writerow([0, i, r["name"], r["kind"], r["output"], len(r["forward"]), f"{min(r['forward']):.4f}",
                f"{min(r['backward']):.4f}"])
w.writerow([0, len(layers) + 1, "optimizer", "optimizer", "", len(opt), f"{min(opt):.4f}", "0"])
