#!/usr/bin/env python3
"""Table and plot of the strategies study (results/strategies/run.sh).

  summarise.py OUT_DIR

Reads OUT_DIR/raw/SETTING-ALGO-rREP.{summary,metrics}.json (SETTING: np2,
np4 on one machine; 2n-np2, 2n-np4 on the emulated 2-node cluster); writes
OUT_DIR/strategies.csv, OUT_DIR/strategies.md and OUT_DIR/losses.png.
Per (setting, strategy): medians over the repeats of the slowest rank's
median step, the communication share (all-reduce seconds over step seconds)
and the exposed share (allreduce_wait over step), the algorithm `auto`
chose, and the largest |step loss - mpi's step loss| over the run's steps
(same setting and repeat).
"""
import csv
import glob
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ALGOS = ["central", "ring", "rhd", "mpi", "auto"]
SETTINGS = {"np2": "1 node, 2 ranks x 1 thread", "np4": "1 node, 4 ranks x 1 thread (oversubscribed)",
            "2n-np2": "emulated 2 nodes x 1 rank", "2n-np4": "emulated 2 nodes x 2 ranks"}


def main():
    out = sys.argv[1]
    runs = {}
    for path in glob.glob(os.path.join(out, "raw", "*.summary.json")):
        name = os.path.basename(path)[: -len(".summary.json")]
        stem, rep = name.rsplit("-r", 1)
        setting, algo = stem.rsplit("-", 1)
        s = json.load(open(path))
        m = json.load(open(path.replace(".summary.json", ".metrics.json")))
        runs[(setting, algo, int(rep))] = (s, m)
    rows = []
    for setting in SETTINGS:
        for algo in ALGOS:
            reps = sorted(r for (st, a, r) in runs if st == setting and a == algo)
            if not reps:
                continue
            ss = [runs[(setting, algo, r)][0] for r in reps]
            ms = [runs[(setting, algo, r)][1] for r in reps]
            diffs = []
            for r in reps:
                ref = runs.get((setting, "mpi", r))
                if ref:
                    a, b = runs[(setting, algo, r)][1]["step_losses"], ref[1]["step_losses"]
                    diffs.append(max(abs(x - y) for x, y in zip(a, b)) if len(a) == len(b) else float("nan"))
            first = ms[0]["step_losses"]
            rep_diff = max(max(abs(x - y) for x, y in zip(first, m["step_losses"])) for m in ms)
            rows.append({
                "setting": setting, "strategy": algo, "ran_as": ms[0]["config"]["allreduce"],
                "ranks": ss[0]["world_size"], "repeats": len(reps), "steps": len(first),
                "step_median_ms": 1000 * statistics.median(s["step_slowest"]["median_s"] for s in ss),
                "step_ms_repeats": " ".join(f"{1000 * s['step_slowest']['median_s']:.1f}" for s in ss),
                "comm_share": statistics.median(s["comm_fraction"] or 0.0 for s in ss),
                "exposed_comm_share": statistics.median(s["exposed_comm_fraction"] or 0.0 for s in ss),
                "samples_per_s": statistics.median(s["samples_per_second"] for s in ss),
                "max_abs_loss_diff_vs_mpi": max(diffs) if diffs else float("nan"),
                "max_abs_loss_diff_between_repeats": rep_diff,
                "final_step_loss": first[-1],
            })
    with open(os.path.join(out, "strategies.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    lines = []
    for setting, title in SETTINGS.items():
        rs = [r for r in rows if r["setting"] == setting]
        if not rs:
            continue
        cen = next((r["step_median_ms"] for r in rs if r["strategy"] == "central"), None)
        lines += [f"### {title} ({rs[0]['repeats']} repeat(s), {rs[0]['steps']} steps)", "",
                  "| strategy | ran as | median step (ms) | per repeat | vs central | comm share | exposed comm share "
                  "| samples/s | max abs step-loss diff vs mpi | between repeats |",
                  "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in rs:
            vs = f"{r['step_median_ms'] / cen:.2f}" if cen else ""
            lines.append(f"| {r['strategy']} | {r['ran_as']} | {r['step_median_ms']:.1f} | {r['step_ms_repeats']} | {vs} | "
                         f"{r['comm_share']:.1%} | {r['exposed_comm_share']:.1%} | {r['samples_per_s']:.0f} | "
                         f"{r['max_abs_loss_diff_vs_mpi']:.2e} | {r['max_abs_loss_diff_between_repeats']:.2e} |")
        lines.append("")
    with open(os.path.join(out, "strategies.md"), "w") as f:
        f.write("\n".join(lines))

    settings = [s for s in SETTINGS if any(k[0] == s for k in runs)]
    fig, axes = plt.subplots(2, len(settings), figsize=(4.5 * len(settings), 7), squeeze=False)
    for i, setting in enumerate(settings):
        ref = runs.get((setting, "mpi", 1))
        for algo in ALGOS:
            if (setting, algo, 1) not in runs:
                continue
            losses = runs[(setting, algo, 1)][1]["step_losses"]
            axes[0][i].plot(range(1, len(losses) + 1), losses, label=algo, lw=1)
            if ref and algo != "mpi":
                d = [abs(x - y) + 1e-12 for x, y in zip(losses, ref[1]["step_losses"])]
                axes[1][i].plot(range(1, len(d) + 1), d, label=algo, lw=1)
        axes[0][i].set_title(SETTINGS[setting], fontsize=9)
        axes[0][i].set_ylabel("step loss (cross-entropy)")
        axes[1][i].set_yscale("log")
        axes[1][i].set_ylabel("|loss - mpi's loss| (+1e-12)")
        axes[1][i].set_xlabel("step")
        for ax in axes[:, i]:
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle("mnist-cnn, global batch 64, repeat 1: loss per step by all-reduce strategy "
                 "(AMD EPYC, 2 shared cores)", fontsize=10)
    fig.tight_layout()
    tmp = os.path.join(out, "losses.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, os.path.join(out, "losses.png"))
    plt.close(fig)


if __name__ == "__main__":
    main()
