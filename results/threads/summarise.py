#!/usr/bin/env python3
"""Table of the thread sweep (results/threads/run.sh).

  summarise.py OUT_DIR

Reads OUT_DIR/raw/LAYOUT-rREP.json (hpcnn-merge summaries); writes
OUT_DIR/threads.csv and OUT_DIR/threads.md: per layout (ranks x threads) the
median samples/s and step time over the repeats, the repeats themselves,
and the speedup over 1 x 1.
"""
import csv
import glob
import json
import os
import statistics
import sys


def main():
    out = sys.argv[1]
    by = {}
    for path in sorted(glob.glob(os.path.join(out, "raw", "*.json"))):
        layout, rep = os.path.basename(path)[:-5].rsplit("-r", 1)
        s = json.load(open(path))
        by.setdefault(layout, []).append((int(rep), s))
    rows = []
    for layout in ("1x1", "1x2", "2x1"):
        if layout not in by:
            continue
        runs = [s for _, s in sorted(by[layout], key=lambda t: t[0])]
        sps = [s["samples_per_second"] for s in runs]
        step = [s["step_slowest"]["median_s"] for s in runs]
        comm = [s["exposed_comm_fraction"] or 0.0 for s in runs]
        rows.append({
            "layout": layout, "ranks": runs[0]["world_size"],
            "threads": runs[0]["config"]["threads"], "allreduce": runs[0]["config"]["allreduce"],
            "repeats": len(runs), "samples_per_s_median": statistics.median(sps),
            "samples_per_s_repeats": " ".join(f"{v:.1f}" for v in sps),
            "step_median_s": statistics.median(step),
            "exposed_comm_fraction_median": statistics.median(comm),
        })
    base = rows[0]["samples_per_s_median"] if rows and rows[0]["layout"] == "1x1" else None
    for r in rows:
        r["speedup_vs_1x1"] = r["samples_per_s_median"] / base if base else ""
    with open(os.path.join(out, "threads.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    lines = ["| ranks x threads | all-reduce | samples/s (median) | repeats | median step (s) | "
             "exposed comm share | speedup vs 1x1 |", "|---|---|---:|---|---:|---:|---:|"]
    for r in rows:
        sp = f"{r['speedup_vs_1x1']:.2f}" if base else ""
        lines.append(f"| {r['ranks']} x {r['threads']} | {r['allreduce'] if r['ranks'] > 1 else '-'} | "
                     f"{r['samples_per_s_median']:.1f} | {r['samples_per_s_repeats']} | {r['step_median_s']:.3f} | "
                     f"{r['exposed_comm_fraction_median']:.1%} | {sp} |")
    with open(os.path.join(out, "threads.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
