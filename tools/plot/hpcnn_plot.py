#!/usr/bin/env python3
"""Plots from hpcnn-merge outputs (matplotlib, Debian's python3-matplotlib).

  hpcnn_plot.py scaling  SCALING_JSON --out DIR   speedup_efficiency.png, phases.png
  hpcnn_plot.py allreduce ALLREDUCE_CSV --out DIR busbw.png (one panel per rank count)
  hpcnn_plot.py mlp RUN_DIR... --out DIR          train_time_vs_params.png/.csv/.md (a line per device kind)
  hpcnn_plot.py curves RUN... --out DIR           learning_curves.png: loss and accuracy per epoch (train,
                                                  validation, test) of each run (RUN: a run directory or its
                                                  metrics.json; --name FILE.png, --title, --labels A,B)

Inputs are the files hpcnn-merge writes (docs/formats.md): scaling.json from
`hpcnn-merge scaling`, allreduce.csv from `hpcnn-merge allreduce`, and for
`mlp` and `curves` the run directories of `hpcnn train` (metrics.json, run.json). Each
PNG is written under a temporary name and renamed into place.
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = ["data", "forward", "backward", "allreduce", "optimizer"]


class PlotError(Exception):
    pass


def load_json(path, fmt):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise PlotError(f"{path}: cannot read JSON ({e})")
    if doc.get("format") != fmt:
        raise PlotError(f"{path}: not a {fmt} file (format is {doc.get('format')!r})")
    return doc


def save(fig, out_dir, name):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    print(f"hpcnn_plot: wrote {path}", file=sys.stderr)


def plot_scaling(args):
    doc = load_json(args.input, "hpcnn-merge-scaling")
    points = doc["points"]
    if not points:
        raise PlotError(f"{args.input}: no points")
    mode = doc["mode"]
    model = points[0]["model"]
    ranks = [p["ranks"] for p in points]
    p0 = ranks[0]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(ranks, [p["speedup"] for p in points], "o-", label="measured")
    ax1.plot(ranks, [r / p0 for r in ranks], "k--", label="ideal")
    ax1.set_xlabel("ranks")
    ax1.set_ylabel("scaled speed-up" if mode == "weak" else "speed-up")
    ax1.set_xticks(ranks)
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.plot(ranks, [p["efficiency"] for p in points], "o-")
    ax2.axhline(1.0, color="k", linestyle="--")
    ax2.set_ylim(0, 1.1)
    ax2.set_xlabel("ranks")
    ax2.set_ylabel("parallel efficiency")
    ax2.set_xticks(ranks)
    ax2.grid(alpha=0.3)
    fig.suptitle(f"{mode.capitalize()} scaling: {model}")
    save(fig, args.out, "speedup_efficiency.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [str(r) for r in ranks]
    bottom = [0.0] * len(points)
    for phase in PHASES:
        values = [1e3 * p["phase_mean_s"][phase] for p in points]
        ax.bar(labels, values, bottom=bottom, label=phase)
        bottom = [b + v for b, v in zip(bottom, values)]
    other = [max(0.0, 1e3 * p["phase_mean_s"]["step"] - b) for p, b in zip(points, bottom)]
    ax.bar(labels, other, bottom=bottom, label="other", color="lightgrey")
    ax.set_xlabel("ranks")
    ax.set_ylabel("mean time per step and rank (ms)")
    ax.set_title(f"Where the step time goes ({mode} scaling, {model})")
    ax.legend(fontsize="small")
    save(fig, args.out, "phases.png")


def plot_allreduce(args):
    try:
        with open(args.input, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise PlotError(f"{args.input}: {e}")
    need = {"ranks", "nodes", "bytes", "algo", "busbw_gbs", "wrong"}
    if not rows or not need <= set(rows[0]):
        raise PlotError(f"{args.input}: not an hpcnn-merge allreduce.csv (columns {sorted(need)})")
    groups = sorted({(int(r["ranks"]), int(r["nodes"])) for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4), squeeze=False)
    for ax, (ranks, nodes) in zip(axes[0], groups):
        mine = [r for r in rows if int(r["ranks"]) == ranks and int(r["nodes"]) == nodes]
        algos = list(dict.fromkeys(r["algo"] for r in mine))
        for algo in algos:
            pts = sorted((int(r["bytes"]), float(r["busbw_gbs"])) for r in mine
                         if r["algo"] == algo and int(r["wrong"]) == 0 and int(r["bytes"]) > 0)
            if pts:
                style = "k-o" if algo == "mpi" else "-o"
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, markersize=3, label=algo)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("message size (bytes)")
        ax.set_ylabel("busBw (GB/s)")
        ax.set_title(f"{ranks} ranks, {nodes} node(s)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle("All-reduce bus bandwidth by algorithm")
    save(fig, args.out, "busbw.png")


def plot_mlp(args):
    series = {}
    for run in args.input:
        metrics = load_json(os.path.join(run, "metrics.json"), "hpcnn-metrics")
        try:
            with open(os.path.join(run, "run.json")) as f:
                kind = json.load(f).get("device", {}).get("kind", "cpu")
        except (OSError, ValueError):
            kind = "cpu"
        series.setdefault(kind, []).append(
            (metrics["params"], metrics["train_seconds"], metrics["model"], metrics["samples_per_second"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=kind.upper())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("training time (s)")
    ax.set_title("MLP family: training time vs parameter count")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save(fig, args.out, "train_time_vs_params.png")
    rows = sorted((p[0], kind, p[2], p[1], p[3]) for kind, pts in series.items() for p in pts)
    write_text(args.out, "train_time_vs_params.csv",
               "device,model,params,train_seconds,samples_per_second\n" +
               "".join(f"{k},{m},{n},{t:.6g},{r:.6g}\n" for n, k, m, t, r in rows))
    write_text(args.out, "train_time_vs_params.md",
               "| device | model | params | training s | samples/s |\n| --- | --- | ---: | ---: | ---: |\n" +
               "".join(f"| {k} | `{m}` | {n:,} | {t:.2f} | {r:.0f} |\n" for n, k, m, t, r in rows))


def plot_curves(args):
    """Loss and accuracy per epoch from metrics.json: the epoch's training
    mean (solid), the validation split after the epoch (dashed, when the run
    had one) and the test split after the last epoch (a star). Regression
    runs (no accuracy) get the loss panel only."""
    runs = []
    labels = args.labels.split(",") if args.labels else []
    if labels and len(labels) != len(args.input):
        raise PlotError(f"--labels names {len(labels)} runs but {len(args.input)} were given")
    for i, run in enumerate(args.input):
        path = os.path.join(run, "metrics.json") if os.path.isdir(run) else run
        metrics = load_json(path, "hpcnn-metrics")
        if not metrics.get("epochs"):
            raise PlotError(f"{path}: no finished epoch to plot")
        name = labels[i] if labels else os.path.basename(os.path.dirname(os.path.abspath(path)))
        runs.append((name, metrics))
    classification = any(e.get("accuracy", -1) >= 0 for _, m in runs for e in m["epochs"])
    panels = [("loss", "loss")] + ([("accuracy", "accuracy")] if classification else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, ylabel) in zip(axes[0], panels):
        for i, (name, m) in enumerate(runs):
            c = colours[i % len(colours)]
            ep = [e["epoch"] for e in m["epochs"]]
            train = [e.get(key, -1) for e in m["epochs"]]
            if all(v is not None and v >= 0 for v in train):
                ax.plot(ep, train, "-o", color=c, markersize=3, label=f"{name} train")
            val = [(e["epoch"], e["validation"].get(key, -1)) for e in m["epochs"] if e.get("validation")]
            val = [(x, v) for x, v in val if v is not None and v >= 0]
            if val:
                ax.plot([x for x, _ in val], [v for _, v in val], "--s", color=c, markersize=3,
                        label=f"{name} validation")
            test = (m.get("test") or {}).get(key, -1)
            if test is not None and test >= 0:
                ax.plot([ep[-1]], [test], "*", color=c, markersize=12, label=f"{name} test ({test:.4g})")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        if key == "loss":
            ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")
    fig.suptitle(args.title or "Learning curves")
    save(fig, args.out, args.name)


def write_text(out_dir, name, text):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print(f"hpcnn_plot: wrote {path}", file=sys.stderr)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("scaling", help="speed-up/efficiency and per-phase step time from scaling.json")
    p.add_argument("input", help="scaling.json from hpcnn-merge scaling")
    p.set_defaults(run=plot_scaling)
    p = sub.add_parser("allreduce", help="busBw vs message size per algorithm from allreduce.csv")
    p.add_argument("input", help="allreduce.csv from hpcnn-merge allreduce")
    p.set_defaults(run=plot_allreduce)
    p = sub.add_parser("mlp", help="training time vs parameter count from run directories")
    p.add_argument("input", nargs="+", help="hpcnn train run directories")
    p.set_defaults(run=plot_mlp)
    p = sub.add_parser("curves", help="loss and accuracy per epoch (train, validation, test) from metrics.json")
    p.add_argument("input", nargs="+", help="hpcnn train run directories or their metrics.json files")
    p.add_argument("--name", default="learning_curves.png", help="PNG file name in --out [learning_curves.png]")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--labels", default="", help="comma-separated legend names, one per run [the run directories]")
    p.set_defaults(run=plot_curves)
    for p in sub.choices.values():
        p.add_argument("--out", "-o", required=True, help="output directory for the PNGs")
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except PlotError as e:
        print(f"hpcnn_plot: error: {e}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as e:
        print(f"hpcnn_plot: error: unexpected input ({e!r})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
