#!/usr/bin/env python3
"""auto against the best from stored rows, without simulating: network-only runs are deterministic, so
auto's time is the row of the algorithm choose_by_model picks. Needs ./pred (pred.cpp, built as below).

  g++ -std=c++20 -O1 $(mpicxx --showme:compile) -Isrc pred.cpp build/release/src/libhpcnn_cost_model.a \
      build/release/src/libhpcnn_core.a build/release/src/libhpcnn_base.a $(mpicxx --showme:link) -o pred
  python3 grid.py MODEL.json DIR_WITH_npP.csv
"""
import csv
import glob
import os
import subprocess
import sys

model, d = sys.argv[1], sys.argv[2]
pred_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pred")
files = [g for g in glob.glob(d + "/np*.csv") if "-" not in os.path.basename(g)]
for f in sorted(files, key=lambda x: int(os.path.basename(x)[2:-4])):
    rows = list(csv.DictReader(open(f)))
    by = {}
    for r in rows:
        by.setdefault(int(r["bytes"]), {})[r["algo"]] = float(r["time_us"])
    p = int(rows[0]["ranks"])
    for b, t in sorted(by.items()):
        out = subprocess.run([pred_bin, model, str(p), str(b)], capture_output=True, text=True).stdout.splitlines()
        pick = [l.split()[1] for l in out if l.startswith("pick")][0]
        pred = {l.split()[0]: float(l.split()[1]) for l in out if l and not l.startswith("pick")}
        best = min(t, key=t.get)
        slow = (t[pick] - t[best]) / t[best] * 100
        print(f"{p:5d} {b:9d} pick {pick:7s} {t[pick]:9.1f} (predicted {pred[pick]:8.1f}) best {best:7s} "
              f"{t[best]:9.1f} {slow:5.1f} %{'  MISS' if slow > 10 else ''}")
