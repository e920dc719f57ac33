#!/usr/bin/env python3
"""Predicted training scaling from per-layer times and simulated all-reduces.

  scale.py --layers layers.csv --batch 64 --sim DIR --ranks 16,64 --out DIR [--model NAME --platform NAME]

layers.csv: `hpcnn-merge summary` of a `hpcnn train --trace` run (median
forward/backward ms per layer and rank; rank 0 is used), measured at
--batch samples per rank. DIR/npP.csv: hpcnn-sim's CSV on P ranks with the
sizes the gradient reducer issues (the head block, 1 MiB blocks, the whole
buffer). Writes scaling.md and scaling.csv, labelled *simulated*.

The step on p ranks, per-rank batch b (compute taken as proportional to b):
  forward + backward (layers in reverse; a layer's gradients are ready when
  its backward ends) + optimizer, and the reducer's blocks (1 MiB, aligned to
  the buffer's end, issued last first once wholly covered) reduced one after
  another on the communication thread from the moment they are ready:
  with overlap  step = forward + max(backward end, last block done) + optimizer;
  without       step = forward + backward + one all-reduce of the buffer + optimizer.
"""
import argparse
import csv
import math
import os

K_REDUCE_BLOCK = 1 << 18  # floats, src/comm/gradient_reducer.hpp


def params_per_layer(rows, input_channels):
    """Parameters of each layer from its kind, name and output shape (conv:CxK, dense:N)."""
    out, channels, features = [], input_channels, None
    for r in rows:
        shape = [int(x) for x in r["output"].strip("()").split(",")]
        kind, name = r["kind"], r["name"].split(" ", 1)[1]
        n = 0
        if kind == "conv":
            c, k = (int(x) for x in name.split(":")[1].split("x"))
            n = c * (channels * k * k + 1)
        elif kind == "dense":
            n = shape[0] * (features + 1)
        channels = shape[0]
        features = math.prod(shape)
        out.append(n)
    return out


def sim_times(path):
    """bytes -> seconds of one all-reduce, and the algorithm, from hpcnn-sim's CSV."""
    times, algo = {}, None
    with open(path) as f:
        for r in csv.DictReader(f):
            times[int(r["bytes"])] = float(r["time_us"]) * 1e-6
            algo = r["algo"]
    return times, algo


def auto_picks(log):
    """ranks -> what auto picked for a 1 MiB block, from hpcnn-sim's output in sim.log."""
    picks, ranks = {}, None
    if not os.path.exists(log):
        return picks
    for line in open(log):
        if "simulated ranks" in line:
            ranks = int(line.split(":", 1)[1].split()[0])
        elif line.startswith("# auto picks ") and " for 1048576 bytes" in line:
            picks[ranks] = line.split()[3]
    return picks


def step_time(layers, params, scale, comm):
    """(step with overlap, step without, exposed comm with overlap) in seconds."""
    fwd = sum(float(r["forward_ms_median"]) for r in layers) * 1e-3 * scale
    n = sum(params)
    offsets, o = [], 0
    for p in params:
        offsets.append(o)
        o += p
    head = n % K_REDUCE_BLOCK
    starts = ([0] if head else []) + list(range(head, n, K_REDUCE_BLOCK))
    blocks = [(s, min(s + K_REDUCE_BLOCK, n) if s >= head else head) for s in starts]
    blocks = [(s, e) for s, e in blocks if e > s]
    # Backward in reverse layer order: the time each layer's gradients are done.
    t, covered_at = 0.0, {}
    for i in reversed(range(len(layers))):
        t += float(layers[i]["backward_ms_median"]) * 1e-3 * scale
        if params[i]:
            covered_at[i] = t
    bwd = t
    ready = []
    for b, (s, e) in enumerate(blocks):
        # A block is ready when every layer overlapping it has finished backward.
        r = max(covered_at[i] for i in range(len(layers)) if params[i] and offsets[i] < e and offsets[i] + params[i] > s)
        ready.append(r)
    # Issued last block first, each once it and every block after it are ready.
    finish, latest = 0.0, 0.0
    for b in reversed(range(len(blocks))):
        latest = max(latest, ready[b])
        size = (blocks[b][1] - blocks[b][0]) * 4
        finish = max(finish, latest) + comm[size]
    opt = layers_opt_ms * 1e-3 * scale
    with_overlap = fwd + max(bwd, finish) + opt
    without = fwd + bwd + comm[n * 4] + opt
    return with_overlap, without, max(0.0, finish - bwd), fwd + bwd + opt


def main():
    global layers_opt_ms
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", required=True)
    ap.add_argument("--batch", type=int, required=True, help="per-rank batch the layer times were measured at")
    ap.add_argument("--optimizer-ms", type=float, default=0.0)
    ap.add_argument("--input-channels", type=int, default=1)
    ap.add_argument("--compute-speedup", type=float, default=1.0,
                    help="divide the measured compute by this (what if the ranks were X times faster, e.g. GPUs)")
    ap.add_argument("--sim", required=True)
    ap.add_argument("--ranks", required=True)
    ap.add_argument("--global-batch", type=int, required=True, help="strong scaling's fixed global batch")
    ap.add_argument("--model", default="")
    ap.add_argument("--platform", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    layers_opt_ms = a.optimizer_ms
    if not a.compute_speedup > 0:
        ap.error("--compute-speedup must be > 0")
    with open(a.layers) as f:
        layers = [r for r in csv.DictReader(f) if r["rank"] == "0"]
    params = params_per_layer(layers, a.input_channels)
    n = sum(params)
    ranks = [int(x) for x in a.ranks.split(",")]
    rows = []
    picks = auto_picks(os.path.join(a.sim, "sim.log"))
    for p in [1] + ranks:
        comm, algo = ({}, "-") if p == 1 else sim_times(os.path.join(a.sim, f"np{p}.csv"))
        if algo == "auto" and p in picks:
            algo = f"auto ({picks[p]})"
        if p == 1:
            comm = {s: 0.0 for s in [n * 4, K_REDUCE_BLOCK * 4, (n % K_REDUCE_BLOCK) * 4]}
        for mode, b in (("weak", a.batch), ("strong", a.global_batch / p)):
            if b < 1:
                continue
            w, wo, exposed, compute = step_time(layers, params, b / a.batch / a.compute_speedup, comm)
            rows.append(dict(mode=mode, ranks=p, algo=algo, batch_per_rank=b, compute_ms=compute * 1e3,
                             step_ms=w * 1e3, step_no_overlap_ms=wo * 1e3, exposed_comm_ms=exposed * 1e3,
                             allreduce_buffer_ms=comm[n * 4] * 1e3))
    for mode in ("weak", "strong"):
        base = next(r for r in rows if r["mode"] == mode and r["ranks"] == 1)
        for r in rows:
            if r["mode"] != mode:
                continue
            if mode == "weak":  # samples/s per rank against 1 rank
                r["efficiency"] = base["step_ms"] / r["step_ms"]
                r["efficiency_no_overlap"] = base["step_no_overlap_ms"] / r["step_no_overlap_ms"]
            else:  # speed-up / p
                r["efficiency"] = base["step_ms"] / r["step_ms"] / r["ranks"]
                r["efficiency_no_overlap"] = base["step_no_overlap_ms"] / r["step_no_overlap_ms"] / r["ranks"]
            r["samples_per_s"] = r["batch_per_rank"] * r["ranks"] / (r["step_ms"] * 1e-3)
    os.makedirs(a.out, exist_ok=True)
    stem = "scaling" if a.compute_speedup == 1 else f"scaling-compute-x{a.compute_speedup:g}"
    cols = ["mode", "ranks", "algo", "batch_per_rank", "compute_ms", "allreduce_buffer_ms", "step_ms",
            "step_no_overlap_ms", "exposed_comm_ms", "samples_per_s", "efficiency", "efficiency_no_overlap"]
    with open(os.path.join(a.out, stem + ".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    with open(os.path.join(a.out, stem + ".md"), "w") as f:
        f.write(f"## *Simulated* scaling: {a.model} on {a.platform}\n\n")
        f.write(f"`{a.command}`\n\n")
        f.write(f"Gradient buffer {n} floats ({n * 4 / 1e6:.2f} MB) in blocks of 1 MiB; compute injected from "
                f"{a.layers} (rank 0, {a.batch} samples a rank), scaled with the per-rank batch"
                + (f" and divided by {a.compute_speedup:g} (--compute-speedup)" if a.compute_speedup != 1 else "")
                + "; every all-reduce "
                f"simulated (hpcnn-sim, SimGrid SMPI) with the real algorithm auto picked. Efficiency: weak = "
                f"step(1) / step(p), strong = speed-up / p. *Not measured: a prediction.*\n")
        for mode in ("weak", "strong"):
            f.write(f"\n### {mode.capitalize()} scaling ("
                    + (f"{a.batch} samples a rank" if mode == "weak" else f"global batch {a.global_batch}") + ")\n\n")
            f.write("| ranks | algo | batch/rank | compute ms | all-reduce of the buffer ms | step ms (overlap) | "
                    "exposed comm ms | samples/s | efficiency | efficiency without overlap |\n")
            f.write("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
            for r in rows:
                if r["mode"] == mode:
                    f.write(f"| {r['ranks']} | {r['algo']} | {r['batch_per_rank']:g} | {r['compute_ms']:.2f} | "
                            f"{r['allreduce_buffer_ms']:.2f} | {r['step_ms']:.2f} | {r['exposed_comm_ms']:.2f} | "
                            f"{r['samples_per_s']:.0f} | {r['efficiency'] * 100:.1f} % | "
                            f"{r['efficiency_no_overlap'] * 100:.1f} % |\n")
    print(open(os.path.join(a.out, stem + ".md")).read())


if __name__ == "__main__":
    main()
