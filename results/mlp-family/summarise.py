#!/usr/bin/python3
"""results/mlp-family: timing.csv/.md/.png (the 30 MLPs at batch 100 and
1000; medians over repeats of training time, time per epoch and per
iteration, and the thesis's ratios) and accuracy.md (test MSE of the
results/study/mlp-family runs beside the baselines). Usage: summarise.py RUNS OUT"""
import csv
import glob
import json
import os
import re
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def step_times(run):
    with open(os.path.join(run, "timing", "rank-00000.csv")) as f:
        return [float(r["seconds"]) for r in csv.DictReader(f) if r["phase"] == "step"]


def main():
    runs, out = sys.argv[1:3]
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout
    cpu = cpu.split(":")[-1].strip()
    pts = {}
    for d in glob.glob(os.path.join(runs, "mlp-*-b*-r*")):
        m = re.match(r"mlp-(.+)-b(\d+)-r(\d+)$", os.path.basename(d))
        if not m or not os.path.exists(os.path.join(d, "metrics.json")):
            continue
        met = json.load(open(os.path.join(d, "metrics.json")))
        steps = step_times(d)
        t_total = met["train_seconds"]
        t_epoch = statistics.median(e["seconds"] for e in met["epochs"])
        t_it = statistics.median(steps)
        pts.setdefault((m.group(1), int(m.group(2))), []).append(
            dict(params=met["params"], epochs=len(met["epochs"]), n_it=len(steps), t_total=t_total,
                 t_epoch=t_epoch, t_it=t_it, r_epoch=t_total / t_epoch, r_it=t_total / (t_it * len(steps))))
    keys = sorted(pts, key=lambda k: (pts[k][0]["params"], k[1]))
    med = {k: {f: statistics.median(p[f] for p in pts[k]) for f in pts[k][0]} for k in keys}
    with open(os.path.join(out, "timing.csv"), "w") as f:
        f.write("model,params,batch,repeats,epochs,n_it,t_total_s,t_epoch_s,t_it_ms,t_total_over_t_epoch,"
                "t_total_over_t_it_n_it\n")
        for k in keys:
            v = med[k]
            f.write(f"mlp:{k[0]},{v['params']},{k[1]},{len(pts[k])},{v['epochs']},{v['n_it']},{v['t_total']:.4f},"
                    f"{v['t_epoch']:.4f},{1e3 * v['t_it']:.4f},{v['r_epoch']:.4f},{v['r_it']:.4f}\n")
    lines = [f"CPU: {cpu} (2 cores, 2 threads; shared with another engineer's builds). 1,000-row solar table, "
             "2 epochs, Adam. Medians over the repeats (column n).", "",
             "| model | params | batch | n | t_total s | t_epoch s | t_it ms | t_total/t_epoch | "
             "t_total/(t_it·N_it) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for k in keys:
        v = med[k]
        lines.append(f"| `mlp:{k[0]}` | {v['params']:,} | {k[1]} | {len(pts[k])} | {v['t_total']:.3f} | "
                     f"{v['t_epoch']:.3f} | {1e3 * v['t_it']:.2f} | {v['r_epoch']:.3f} | {v['r_it']:.3f} |")
    open(os.path.join(out, "timing.md"), "w").write("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for b, style in ((100, "o-"), (1000, "s--")):
        ks = [k for k in keys if k[1] == b]
        ax.plot([med[k]["params"] for k in ks], [med[k]["t_total"] / (2 * 1000) * 1e6 for k in ks], style,
                markersize=4, label=f"batch {b}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("training time per sample (µs)")
    ax.set_title(f"The 30 thesis MLPs on {cpu}, 2 cores")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.savefig(os.path.join(out, "timing.png"), dpi=100, bbox_inches="tight")

    base = json.load(open(os.path.join(out, "baselines.json")))
    study = []
    for f in glob.glob("results/study/mlp-family/*/metrics.json"):
        met = json.load(open(f))
        study.append((met["test"]["loss"], met["model"], met["params"]))
    study.sort()
    b_rows = [("predict the training mean", base["mse_train_mean"]),
              ("persistence (sensor %d now)" % base["target_sensor"], base["mse_persistence"]),
              ("mean of the 50 sensors now", base["mse_sensor_mean"]),
              ("least-squares linear model of the 50 readings", base["mse_linear_least_squares"])]
    lines = ["Test MSE on the synthetic solar table (seed 42, 100,000 training and 10,000 test rows; target "
             f"variance {base['test_target_variance']:.5f}). Models: results/study/mlp-family/ (1 epoch, batch 100, "
             "Adam 1e-3).", "", "| predictor | test MSE | vs 50-sensor mean |", "| --- | ---: | ---: |"]
    for name, v in b_rows:
        lines.append(f"| baseline: {name} | {v:.5f} | {v / base['mse_sensor_mean']:.3f} |")
    for loss, model, params in study:
        lines.append(f"| `{model}` ({params:,} params) | {loss:.5f} | {loss / base['mse_sensor_mean']:.3f} |")
    open(os.path.join(out, "accuracy.md"), "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
