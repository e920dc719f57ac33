"""Summary of the cluster study (results/cluster/run.sh): busBw at 16 MiB for
every configuration against the link rate and MPI_Allreduce (summary.md,
summary.csv), and busBw against message size, one panel per configuration
(busbw.png). Input: the bench CSVs of jobs/slurm/bench_allreduce.sh."""
import csv
import glob
import os
import sys

raw, out = sys.argv[1], sys.argv[2]
LINK_GBS = {"1gbit": 0.125, "unshaped": None}   # 1 Gbit/s = 0.125 GB/s
configs = []
for d in sorted(glob.glob(os.path.join(raw, "*n-x*-*"))):
    if not os.path.isdir(d):
        continue
    name = os.path.basename(d)
    nodes, rpn, link = name.split("-")[0][:-1], name.split("-")[1][1:], name.split("-", 2)[2]
    rows = []
    for f in glob.glob(os.path.join(d, "bench-np*.csv")):
        rows += list(csv.DictReader(open(f)))
    configs.append((int(nodes), int(rpn), link, name, rows))
configs.sort(key=lambda c: (c[2] != "unshaped", c[0], c[1]))

size = 16 << 20
algos = ["ring", "tree", "rhd", "central", "mpi", "hier"]
lines = ["| nodes x ranks | link | " + " | ".join(algos) + " | best | best / mpi | best / link |",
         "| --- | --- | " + " | ".join("---:" for _ in algos) + " | --- | ---: | ---: |"]
table = [["nodes", "ranks_per_node", "link", "algo", "bytes", "busbw_gbs", "wrong"]]
for nodes, rpn, link, name, rows in configs:
    at = {r["algo"]: r for r in rows if int(r["bytes"]) == size}
    bw = {a: float(at[a]["busbw_gbs"]) for a in algos if a in at and int(at[a]["wrong"]) == 0}
    for r in rows:
        table.append([nodes, rpn, link, r["algo"], r["bytes"], r["busbw_gbs"], r["wrong"]])
    best = max(bw, key=bw.get)
    link_gbs = LINK_GBS[link]
    cells = [f"**{bw[a]:.3f}**" if a == best else (f"{bw[a]:.3f}" if a in bw else "-") for a in algos]
    # What each node's link carried: the best algorithm's algBw x 2(N-1)/N for
    # N nodes (the least any all-reduce must send per node); equals busBw at 1
    # rank per node.
    p = nodes * rpn
    node_bw = bw[best] * p / (2 * (p - 1)) * 2 * (nodes - 1) / nodes
    lines.append(f"| {nodes} x {rpn} | {link} | " + " | ".join(cells) + f" | {best} | {bw[best] / bw['mpi']:.2f} | "
                 + (f"{100 * node_bw / link_gbs:.0f} %" if link_gbs else "-") + " |")
md = ["# Cluster study: busBw (GB/s) at 16 MiB on emulated nodes", "",
      open(os.path.join(raw, "machine.txt")).read().strip().replace("# ", "- "), "",
      *lines, "",
      "busBw = algBw x 2(p-1)/p (nccl-tests). The 1 Gbit/s link carries at most 0.125 GB/s each way.",
      "best / link: the best algorithm's algBw x 2(N-1)/N over N nodes (what each node's link must carry at least)",
      "against 0.125 GB/s; with 1 rank per node it equals busBw / link.",
      "Made by `bash results/cluster/run.sh` (jobs/slurm/bench_allreduce.sh on the emulated cluster's Slurm)."]
open(os.path.join(out, "summary.md"), "w").write("\n".join(md) + "\n")
with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
    csv.writer(f).writerows(table)
print("\n".join(md))

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(0)
fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharex=True)
for ax, (nodes, rpn, link, name, rows) in zip(axes.flat, configs):
    for a in algos:
        pts = sorted((int(r["bytes"]), float(r["busbw_gbs"])) for r in rows if r["algo"] == a)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=a)
    if LINK_GBS[link]:
        ax.axhline(LINK_GBS[link], color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_title(f"{nodes} nodes x {rpn} ranks, {link}")
    ax.set_xlabel("bytes")
    ax.set_ylabel("busBw GB/s")
axes.flat[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(out, "busbw.png"), dpi=80)
print("wrote", os.path.join(out, "busbw.png"))
