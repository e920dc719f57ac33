#!/usr/bin/env python3
"""results/circuits/: confusion matrices and the results table.

    summarise.py confusion PREDICTIONS.csv MANIFEST.json --out DIR
        DIR/confusion.csv (rows: true class, columns: predicted) and confusion.png
    summarise.py table RESULTS_DIR
        the Markdown table of the accuracy runs and the strategy runs (stdout)
"""
import argparse
import csv
import json
import os
import statistics
import sys


def confusion(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = json.load(open(args.manifest))["class_names"]
    k = len(names)
    m = [[0] * k for _ in range(k)]
    with open(args.predictions) as f:
        for row in csv.DictReader(f):
            m[int(row["label"])][int(row["predicted"])] += 1
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "confusion.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted"] + names)
        for name, row in zip(names, m):
            w.writerow([name] + row)
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    ax.imshow(m, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(m[i][j]), ha="center", va="center",
                    color="white" if m[i][j] > max(map(max, m)) / 2 else "black")
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = sum(map(sum, m))
    ax.set_title(f"{os.path.basename(os.path.normpath(args.out))}: "
                 f"{100 * sum(m[i][i] for i in range(k)) / total:.1f}% of {total}")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "confusion.png"), dpi=110)


def per_class_recall(path):
    rows = list(csv.reader(open(path)))
    names = rows[0][1:]
    out = []
    for r in rows[1:]:
        counts = list(map(int, r[1:]))
        out.append((r[0], counts[names.index(r[0])] / max(1, sum(counts))))
    return out


def table(args):
    d = args.dir
    print("# circuit-cnn on the synthetic circuit symbols (seed 000)\n")
    cpu = open(os.path.join(d, "cpu.txt")).read().split("\n")
    print(f"CPU: {cpu[0].split(':', 1)[-1].strip()}, {cpu[1].strip() if len(cpu) > 1 else '?'} cores.\n")
    runs = [r for r in ("augmented-1x2", "augmented-2x1", "plain-1x2") if os.path.isdir(os.path.join(d, r))]
    if runs:
        print("## 35 epochs, batch 32, Adam 1e-3 (test set: 2,000 images, 500 per class)\n")
        print("| run | ranks x threads | --augment | test accuracy | best validation acc. (epoch) "
              "| final train loss | s per epoch | per-class recall |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | --- |")
        for r in runs:
            m = json.load(open(os.path.join(d, r, "metrics.json")))
            cfg = m["config"]
            ep = m["epochs"]
            val = [(e["validation"]["accuracy"], e["epoch"]) for e in ep if e.get("validation")]
            best = max(val, key=lambda v: (v[0], -v[1])) if val else (float("nan"), 0)  # first epoch at the best
            rec = ", ".join(f"{n} {100 * v:.1f}" for n, v in per_class_recall(os.path.join(d, r, "confusion.csv")))
            print(f"| {r} | {cfg['world_size']} x {cfg['threads']} | {cfg.get('augment', 'off')} "
                  f"| **{100 * m['test']['accuracy']:.2f}%** | {100 * best[0]:.2f}% ({best[1]}) "
                  f"| {ep[-1]['loss']:.4f} | {statistics.median(e['seconds'] for e in ep):.1f} | {rec} |")
        print()
    sdir = os.path.join(d, "strategy")
    if os.path.isdir(sdir):
        by = {}
        for name in sorted(os.listdir(sdir)):
            algo = name.rsplit("-", 1)[0]
            s = json.load(open(os.path.join(sdir, name, "summary.json")))
            m = json.load(open(os.path.join(sdir, name, "metrics.json")))
            by.setdefault(algo, []).append((s, m))
        print("## Strategies: 2 ranks x 1 thread, global batch 32, 3 epochs, --augment on\n")
        print("Medians over the repeats (alternated). `comm` is all-reduce seconds over step seconds "
              "(hpcnn-merge's comm_fraction); `exposed` is the part the steps waited for (allreduce_wait).\n")
        print("| --allreduce | ran as | median step ms | samples/s | comm | exposed | s per epoch | "
              "max abs step-loss diff vs ring |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        ring = by.get("ring", [None])[0]
        for algo in ("central", "ring", "auto"):
            if algo not in by:
                continue
            xs = by[algo]
            diff = max(abs(a - b) for a, b in zip(xs[0][1]["step_losses"], ring[1]["step_losses"])) if ring else float("nan")
            print(f"| {algo} | {xs[0][0]['config']['allreduce']} "
                  f"| {1e3 * statistics.median(s['step_slowest']['median_s'] for s, _ in xs):.2f} "
                  f"| {statistics.median(s['samples_per_second'] for s, _ in xs):.0f} "
                  f"| {100 * statistics.median(s['comm_fraction'] for s, _ in xs):.1f}% "
                  f"| {100 * statistics.median(s['exposed_comm_fraction'] for s, _ in xs):.1f}% "
                  f"| {statistics.median(statistics.median(e['seconds'] for e in m['epochs']) for _, m in xs):.1f} "
                  f"| {diff:.2e} |")
        print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("confusion")
    c.add_argument("predictions")
    c.add_argument("manifest")
    c.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("dir")
    args = p.parse_args()
    confusion(args) if args.cmd == "confusion" else table(args)


if __name__ == "__main__":
    sys.exit(main())
