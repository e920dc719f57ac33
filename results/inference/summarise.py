#!/usr/bin/python3
"""results/inference: latency.csv, latency.md and latency.png from the raw
`hpcnn infer` outputs of run.sh (raw/MODEL-tT-rR.txt). Usage: summarise.py OUT_DIR"""
import glob
import os
import re
import statistics
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["solar-cnn", "keras-cnn", "mlp:50", "mlp:800-400-208", "mlp:3200-1600-832"]


def main():
    out = sys.argv[1]
    data = {}  # (model, threads, batch) -> [median ms per repeat]
    params = {}
    for path in glob.glob(os.path.join(out, "raw", "*.txt")):
        m = re.match(r"(.+)-t(\d+)-r(\d+)\.txt$", os.path.basename(path))
        model, threads = m.group(1).replace("_", ":"), int(m.group(2))
        text = open(path).read()
        params[model] = int(re.search(r"\((\d+) params", text).group(1))
        for line in text.splitlines():
            f = line.split()
            if len(f) == 4 and f[0].isdigit():
                data.setdefault((model, threads, int(f[0])), []).append(float(f[1]))
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout
    cpu = cpu.split(":")[-1].strip()
    rows = sorted(data, key=lambda k: (ORDER.index(k[0]), k[1], k[2]))
    with open(os.path.join(out, "latency.csv"), "w") as f:
        f.write("model,params,threads,batch,repeats,median_ms,min_ms,max_ms,samples_per_second\n")
        for k in rows:
            v = data[k]
            med = statistics.median(v)
            f.write(f"{k[0]},{params[k[0]]},{k[1]},{k[2]},{len(v)},{med:.4f},{min(v):.4f},{max(v):.4f},"
                    f"{k[2] / (med / 1e3):.1f}\n")
    batches = sorted({k[2] for k in data})
    lines = [f"CPU: {cpu} (2 cores, shared with another engineer's builds). Latency of one batch, ms: "
             f"median of {len(next(iter(data.values())))} alternated repeats, each the median of 5 timed batches "
             "after a warm-up; samples/s in brackets.", "",
             "| model | params | threads | " + " | ".join(f"batch {b}" for b in batches) + " |",
             "| --- | ---: | ---: | " + " | ".join("---:" for _ in batches) + " |"]
    for model in ORDER:
        for t in (1, 2):
            cells = []
            for b in batches:
                v = data.get((model, t, b))
                if not v:
                    cells.append("-")
                    continue
                med = statistics.median(v)
                cells.append(f"{med:.3g} ({b / (med / 1e3):,.0f}/s)")
            lines.append(f"| `{model}` | {params[model]:,} | {t} | " + " | ".join(cells) + " |")
    with open(os.path.join(out, "latency.md"), "w") as f:
        f.write("\n".join(lines) + "\n")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, model in enumerate(ORDER):
        for t, style in ((1, "--o"), (2, "-o")):
            pts = [(b, statistics.median(data[(model, t, b)])) for b in batches if (model, t, b) in data]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colours[i], markersize=4,
                    label=f"{model}, {t} thread{'s' if t > 1 else ''}")
    ax.axhline(1000, color="k", linewidth=1)
    ax.text(2, 1100, "1 s (the thesis: CPUs miss it at 1024 maps)", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(batches)
    ax.set_xticklabels([str(b) for b in batches])
    ax.set_xlabel("batch (samples)")
    ax.set_ylabel("latency of one batch (ms)")
    ax.set_title(f"hpcnn infer on {cpu}, 2 cores")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.savefig(os.path.join(out, "latency.png"), dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main()
