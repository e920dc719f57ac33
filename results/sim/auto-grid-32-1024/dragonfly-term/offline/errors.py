#!/usr/bin/env python3
"""Predicted against simulated time per algorithm over the dragonfly grid, for two models.

  python3 errors.py MODEL.json [MODEL.json ...]   (from results/sim/auto-grid-32-1024; needs ./pred as grid.py)
"""
import csv
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
pred_bin = os.path.join(here, "pred")
rows = {}
for p in (32, 64, 128, 256):
    for r in csv.DictReader(open(os.path.join(here, "..", "dragonfly-100g", f"np{p}.csv"))):
        rows.setdefault((p, int(r["bytes"])), {})[r["algo"]] = float(r["time_us"])
for model in sys.argv[1:]:
    print(f"== {os.path.basename(model)}: predicted / simulated - 1, per algorithm")
    worst = {}
    print(f"{'ranks':>5} {'bytes':>9} " + " ".join(f"{a:>8}" for a in ("ring", "tree", "rhd", "central", "mpi")))
    for (p, b), t in sorted(rows.items()):
        out = subprocess.run([pred_bin, model, str(p), str(b)], capture_output=True, text=True).stdout.split("\n")
        pred = {l.split()[0]: float(l.split()[1]) for l in out if l and not l.startswith("pick")}
        cells = []
        for a in ("ring", "tree", "rhd", "central", "mpi"):
            if a in pred and a in t:
                e = pred[a] / t[a] - 1
                worst[a] = max(worst.get(a, 0), abs(e))
                cells.append(f"{100 * e:7.1f}%")
            else:
                cells.append(f"{'-':>8}")
        print(f"{p:5d} {b:9d} " + " ".join(cells))
    print("worst |error|: " + ", ".join(f"{a} {100 * w:.1f} %" for a, w in worst.items()))
