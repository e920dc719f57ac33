#!/usr/bin/env python3
"""Tables and plots of the batch-size sweep (results/batch-sweep/run.sh).

  summarise.py RUNS_DIR OUT_DIR

Reads each run's metrics.json and timing/rank-00000.csv; writes sweep.csv,
sweep.md, time_vs_batch.png and loss_vs_batch.png into OUT_DIR.
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


def step_times(run):
    """Step seconds of rank 0, first step of the run left out (primitive creation)."""
    with open(os.path.join(run, "timing", "rank-00000.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["phase"] == "step"]
    t = [float(r["seconds"]) for r in rows]
    return t[1:] if len(t) > 1 else t


def mean_baseline(data):
    """Test MSE of predicting the training targets' mean (None when the dataset is not here)."""
    try:
        import h5py
        import numpy as np
        tr = np.concatenate([h5py.File(p)["targets"][()] for p in sorted(glob.glob(os.path.join(data, "train-*.h5")))])
        te = np.concatenate([h5py.File(p)["targets"][()] for p in sorted(glob.glob(os.path.join(data, "test-*.h5")))])
        return float(((te - tr.mean()) ** 2).mean())
    except Exception:  # noqa: BLE001 - the line is a courtesy
        return None


def main():
    runs_dir, out = sys.argv[1], sys.argv[2]
    runs = {}
    for name in sorted(os.listdir(runs_dir)):
        run = os.path.join(runs_dir, name)
        mpath = os.path.join(run, "metrics.json")
        if not os.path.isfile(mpath):
            continue
        m = json.load(open(mpath))
        runs.setdefault((m["model"], m["config"]["batch"]), []).append((m, step_times(run)))
    rows = []
    for (model, batch), reps in runs.items():
        m = reps[0][0]
        epochs = m["epochs"]
        epoch_s = [statistics.median(e["seconds"] for e in r[0]["epochs"]) for r in reps]
        step_s = [statistics.median(r[1]) for r in reps]
        same = all(r[0]["step_losses"] == m["step_losses"] and r[0]["test"]["loss"] == m["test"]["loss"] for r in reps)
        rows.append({
            "model": model,
            "params": m["params"],
            "batch": batch,
            "repeats": len(reps),
            "epochs": len(epochs),
            "steps_per_epoch": epochs[0]["steps"],
            "epoch_s": statistics.median(epoch_s),
            "step_median_s": statistics.median(step_s),
            "per_sample_ms": 1000 * statistics.median(step_s) / batch,
            "samples_per_s": statistics.median(r[0]["samples_per_second"] for r in reps),
            "train_s": statistics.median(r[0]["train_seconds"] for r in reps),
            "epoch_s_repeats": " ".join(f"{v:.4g}" for v in epoch_s),
            "step_s_repeats": " ".join(f"{v:.3g}" for v in step_s),
            "losses_identical_across_repeats": same,
            "train_loss": epochs[-1]["loss"],
            "test_loss": m["test"]["loss"],
        })
    rows.sort(key=lambda r: (r["model"] != "solar-cnn", r["params"], r["model"], r["batch"]))
    keys = list(rows[0].keys())
    with open(os.path.join(out, "sweep.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)

    def fmt(k, v):
        if isinstance(v, float):
            if k in ("train_loss", "test_loss"):
                return f"{v:.5f}"
            if k == "samples_per_s":
                return f"{v:.0f}"
            return f"{v:.4g}"
        return f"{v:,}" if k == "params" else str(v)

    head = ["model", "params", "batch", "steps/epoch", "s/epoch", "median s/step", "ms/sample",
            "samples/s", "train MSE (last epoch)", "test MSE", "repeats: median s/step each"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 3) + "---|"]
    for r in rows:
        vals = [r[k] for k in ("model", "params", "batch", "steps_per_epoch", "epoch_s", "step_median_s",
                               "per_sample_ms", "samples_per_s", "train_loss", "test_loss")]
        ks = ["model", "params", "batch", "steps_per_epoch", "epoch_s", "step_median_s", "per_sample_ms",
              "samples_per_s", "train_loss", "test_loss"]
        lines.append("| " + " | ".join(fmt(k, v) for k, v in zip(ks, vals)) + f" | {r['step_s_repeats']} |")
    with open(os.path.join(out, "sweep.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    models = []
    for r in rows:
        if r["model"] not in models:
            models.append(r["model"])
    for what, ykey, ylabel, fname in (
        ("time", "epoch_s", "seconds per epoch", "time_vs_batch.png"),
        ("loss", "test_loss", "test MSE after the last epoch", "loss_vs_batch.png"),
    ):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        for ax, group in zip(axes, ("solar-cnn", "mlp")):
            for model in models:
                if (model == "solar-cnn") != (group == "solar-cnn"):
                    continue
                pts = sorted((r["batch"], r[ykey]) for r in rows if r["model"] == model)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=model)
            if what == "loss":
                data = next((json.load(open(os.path.join(runs_dir, n, "metrics.json")))["config"]["data"]
                             for n in sorted(os.listdir(runs_dir)) if n.startswith(group)
                             and os.path.isfile(os.path.join(runs_dir, n, "metrics.json"))), None)
                base = mean_baseline(data) if data else None
                if base is not None:
                    ax.axhline(base, color="k", ls="--", lw=1, label=f"predict the training mean ({base:.4f})")
            ax.set_xscale("log", base=2)
            if what == "time":
                ax.set_yscale("log")
            ax.set_xlabel("batch size")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{group}: {ylabel} vs batch")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        fig.suptitle("hpcnn, 1 rank x 2 threads, AMD EPYC (2 shared cores), synthetic solar data")
        fig.tight_layout()
        tmp = os.path.join(out, fname + ".tmp.png")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, os.path.join(out, fname))
        plt.close(fig)


if __name__ == "__main__":
    main()
