#!/usr/bin/env python3
"""Predicted training scaling from per-layer times and simulated all-reduces.

  scale.py --layers layers.csv --batch 64 --sim DIR --ranks 16,64 --out DIR [--model NAME --platform NAME]
  scale.py --sizes-of layers.csv      (the reducer's sizes in bytes: buffer, 1 MiB block, head block)
  scale.py --self-test                (checks the schedule and the line; exit 1 on a failure)

layers.csv: `hpcnn-merge summary`'s layers.csv (median ms) or
results/traces/layer_min.py's layers-min.csv (minimum ms, and an `optimizer`
row used when --optimizer-ms is not given), measured at --batch samples per
rank; rank 0 is used. DIR/npP.csv: hpcnn-sim's CSV on P ranks (network only)
with the sizes the gradient reducer issues; a size not simulated at P (too
much memory) is read off the line through the simulated sizes >= 256 KiB.
Every all-reduce of S bytes also costs the reduction's compute,
gamma x S x (p-1)/p (--gamma-ns-per-byte, divided like the compute by
--compute-speedup). Writes scaling-MODEL.md/.csv/.png, labelled *simulated*.

The step on p ranks, per-rank batch b (compute taken as proportional to b):
  forward, then backward (layers in reverse; a layer's gradients are ready
  when its backward ends), the reducer's blocks (1 MiB, aligned to the
  buffer's end, issued last first once wholly covered) reduced one after
  another on the communication thread from the moment they are ready, and
  the optimizer:
  with overlap  step = forward + max(backward end, last block done) + optimizer,
                backward running --slowdown times slower while a block is in
                flight (compute and communication share the core and memory);
  without       step = forward + backward + one all-reduce of the buffer + optimizer.
"""
import argparse
import csv
import math
import os
import sys

K_REDUCE_BLOCK = 1 << 18  # floats, src/comm/gradient_reducer.hpp
EXTRAPOLATE_FROM = 256 * 1024  # bytes: sizes on the all-reduce's bandwidth line


def read_layers(path):
    """(layer rows of rank 0, forward/backward column names, optimizer ms of the trace or None)."""
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r["rank"] == "0"]
    stat = "min" if "forward_ms_min" in rows[0] else "median"
    opt = [float(r[f"forward_ms_{stat}"]) for r in rows if r["kind"] == "optimizer"]
    layers = [r for r in rows if r["kind"] != "optimizer"]
    return layers, (f"forward_ms_{stat}", f"backward_ms_{stat}"), (opt[0] if opt else None)


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
    """bytes -> seconds of one all-reduce (network only), and the algorithm, from hpcnn-sim's CSV."""
    times, algo = {}, None
    with open(path) as f:
        for r in csv.DictReader(f):
            times[int(r["bytes"])] = float(r["time_us"]) * 1e-6
            algo = r["algo"]
    return times, algo


def line_through(times):
    """Least-squares time = a + b x bytes over the simulated sizes >= 256 KiB."""
    pts = [(s, t) for s, t in times.items() if s >= EXTRAPOLATE_FROM]
    if len(pts) < 2:
        raise SystemExit(f"scale.py: need two simulated sizes >= {EXTRAPOLATE_FROM} bytes to extend, got {pts}")
    mx = sum(s for s, _ in pts) / len(pts)
    my = sum(t for _, t in pts) / len(pts)
    b = sum((s - mx) * (t - my) for s, t in pts) / sum((s - mx) ** 2 for s, _ in pts)
    return my - b * mx, b


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


def blocks_of(n):
    """The reducer's blocks (start, end) in floats: 1 MiB aligned to the buffer's end, a short head first."""
    head = n % K_REDUCE_BLOCK
    starts = ([0] if head else []) + list(range(head, n, K_REDUCE_BLOCK))
    blocks = [(s, min(s + K_REDUCE_BLOCK, n) if s >= head else head) for s in starts]
    return [(s, e) for s, e in blocks if e > s]


def overlapped_backward(bwd, params, blocks, comm_s, slowdown):
    """(backward end, last block done) in s: the reducer's schedule, backward slowed while a block is in flight.

    bwd: backward seconds per layer (forward order), comm_s: seconds per block."""
    offsets, o = [], 0
    for p in params:
        offsets.append(o)
        o += p
    # The reverse-order index after which each block is wholly covered.
    order = list(reversed(range(len(bwd))))
    pos = {layer: j for j, layer in enumerate(order)}
    need = [max(pos[i] for i in range(len(bwd)) if params[i] and offsets[i] < e and offsets[i] + params[i] > s)
            for s, e in blocks]
    queue = list(reversed(range(len(blocks))))  # issued last block first
    t, j, left = 0.0, 0, (bwd[order[0]] if order else 0.0)
    busy_until, done = None, -1  # the block in flight ends at busy_until; layers done: order[:done+1]
    while j < len(order) or queue or busy_until is not None:
        if busy_until is None and queue and need[queue[0]] <= done:
            busy_until = t + comm_s[queue.pop(0)]
        if j < len(order):
            rate = slowdown if busy_until is not None else 1.0
            layer_end = t + left * rate
            if busy_until is not None and busy_until < layer_end:
                left -= (busy_until - t) / rate
                t, busy_until = busy_until, None
            else:
                t, done, j = layer_end, j, j + 1
                left = bwd[order[j]] if j < len(order) else 0.0
                if j == len(order):
                    bwd_end = t
        elif busy_until is not None:
            t, busy_until = busy_until, None
        else:  # backward over, the next block never became ready: cannot happen with every layer done
            raise AssertionError("a block was never ready")
    if not order:
        bwd_end = 0.0
    return bwd_end, max(t, bwd_end)


def step_time(layers, cols, params, scale, comm, opt_ms, slowdown):
    """(step with overlap, step without, exposed comm with overlap, compute) in seconds."""
    fwd = sum(float(r[cols[0]]) for r in layers) * 1e-3 * scale
    bwd = [float(r[cols[1]]) * 1e-3 * scale for r in layers]
    n = sum(params)
    blocks = blocks_of(n)
    bwd_end, finish = overlapped_backward(bwd, params, blocks, [comm[(e - s) * 4] for s, e in blocks], slowdown)
    opt = opt_ms * 1e-3 * scale
    with_overlap = fwd + max(bwd_end, finish) + opt
    without = fwd + sum(bwd) + comm[n * 4] + opt
    return with_overlap, without, max(0.0, finish - bwd_end), fwd + sum(bwd) + opt


def reducer_sizes(n):
    """The byte sizes the reducer issues for n floats: the buffer, the 1 MiB block, the head block."""
    sizes = {n * 4, K_REDUCE_BLOCK * 4} if n >= K_REDUCE_BLOCK else {n * 4}
    if n % K_REDUCE_BLOCK:
        sizes.add(n % K_REDUCE_BLOCK * 4)
    return sorted(sizes)


def plot(rows, path, title):
    # tools/sim/platform.py would shadow the standard library's platform module that matplotlib imports.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    if os.path.dirname(os.path.abspath(getattr(sys.modules.get("platform"), "__file__", "") or "/")) == here:
        del sys.modules["platform"]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"scale.py: matplotlib missing (apt-get install python3-matplotlib): {path} not written")
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, mode in zip(axes, ("weak", "strong")):
        rs = [r for r in rows if r["mode"] == mode]
        p = [r["ranks"] for r in rs]
        ax.plot(p, [r["efficiency"] * 100 for r in rs], "o-", label="overlap (1 MiB blocks)")
        ax.plot(p, [r["efficiency_no_overlap"] * 100 for r in rs], "s--", label="no overlap")
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 105)
        ax.set_xlabel("ranks")
        ax.set_ylabel("parallel efficiency %")
        ax.set_title(f"{mode} scaling (simulated)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def self_test():
    """Checks of the schedule and the line (no simulator needed); exit 1 on a failure."""
    ok = True

    def check(what, got, want):
        nonlocal ok
        good = abs(got - want) <= 1e-12 + 1e-9 * abs(want)
        ok &= good
        print(f"{'ok' if good else 'FAILED'}: {what}: {got:.9g} (expected {want:.9g})")

    # Two layers of one block each (forward order): layer 0 has 2^18 floats, layer 1 has 2^18.
    params, blocks = [K_REDUCE_BLOCK, K_REDUCE_BLOCK], blocks_of(2 * K_REDUCE_BLOCK)
    # Backward: layer 1 (1 s), then layer 0 (1 s); each block takes 0.5 s to reduce.
    end, done = overlapped_backward([1.0, 1.0], params, blocks, [0.5, 0.5], 1.0)
    check("no slow-down: backward end", end, 2.0)
    check("no slow-down: the second block is done 0.5 s after backward", done, 2.5)
    # s = 2: layer 0 runs 0.5 s beside block 1 (0.25 s of its work), then 0.75 s alone: 1 + 0.5 + 0.75.
    end, done = overlapped_backward([1.0, 1.0], params, blocks, [0.5, 0.5], 2.0)
    check("slow-down 2: backward end", end, 2.25)
    check("slow-down 2: the last block starts when backward ends", done, 2.75)
    # A block as long as all backward: backward runs s times slower from the first block on.
    end, done = overlapped_backward([1.0, 1.0], params, blocks, [10.0, 10.0], 1.5)
    check("slow-down 1.5 under one long block: backward end", end, 2.5)
    check("slow-down 1.5 under one long block: blocks back to back", done, 21.0)
    a, b = line_through({262144: 1.0 + 2.0 * 262144, 1048576: 1.0 + 2.0 * 1048576, 4799528: 1.0 + 2.0 * 4799528})
    check("line through exact points: intercept", a, 1.0)
    check("line through exact points: slope", b, 2.0)
    check("the reducer's blocks cover the buffer", sum(e - s for s, e in blocks_of(1199882)), 1199882)
    check("keras-cnn: a head block of 151306 floats first", blocks_of(1199882)[0][1], 151306)
    return 0 if ok else 1


def main():
    if "--self-test" in sys.argv[1:]:
        raise SystemExit(self_test())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-of", help="print the reducer's sizes for this layers.csv and exit")
    ap.add_argument("--layers")
    ap.add_argument("--batch", type=int, help="per-rank batch the layer times were measured at")
    ap.add_argument("--optimizer-ms", type=float, help="default: the trace's optimizer row, else 0")
    ap.add_argument("--input-channels", type=int, default=1)
    ap.add_argument("--compute-speedup", type=float, default=1.0,
                    help="divide the measured compute by this (what if the ranks were X times faster, e.g. GPUs)")
    ap.add_argument("--slowdown", type=float, default=1.0,
                    help="backward runs this many times slower while a block is in flight")
    ap.add_argument("--gamma-ns-per-byte", type=float, default=0.0,
                    help="the reduction's compute per byte of buffer, added to every all-reduce x (p-1)/p")
    ap.add_argument("--sim")
    ap.add_argument("--ranks")
    ap.add_argument("--global-batch", type=int, help="strong scaling's fixed global batch")
    ap.add_argument("--model", default="")
    ap.add_argument("--platform", default="")
    ap.add_argument("--command", default="")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.sizes_of:
        layers, _, _ = read_layers(a.sizes_of)
        print(",".join(str(s) for s in reducer_sizes(sum(params_per_layer(layers, a.input_channels)))))
        return
    for req in ("layers", "batch", "sim", "ranks", "global_batch", "out"):
        if getattr(a, req) is None:
            ap.error(f"--{req.replace('_', '-')} is required")
    if not a.compute_speedup > 0 or a.slowdown < 1:
        ap.error("--compute-speedup must be > 0 and --slowdown >= 1")
    layers, cols, trace_opt = read_layers(a.layers)
    opt_ms = a.optimizer_ms if a.optimizer_ms is not None else (trace_opt or 0.0)
    params = params_per_layer(layers, a.input_channels)
    n = sum(params)
    ranks = [int(x) for x in a.ranks.split(",")]
    rows, notes = [], []
    picks = auto_picks(os.path.join(a.sim, "sim.log"))
    gamma = a.gamma_ns_per_byte * 1e-9 / a.compute_speedup
    for p in [1] + ranks:
        if p == 1:
            comm, algo = {s: 0.0 for s in reducer_sizes(n)}, "-"
        else:
            net, algo = sim_times(os.path.join(a.sim, f"np{p}.csv"))
            if algo == "auto" and p in picks:
                algo = f"auto ({picks[p]})"
            comm = {}
            for s in reducer_sizes(n):
                if s in net:
                    comm[s] = net[s]
                else:
                    c, b = line_through(net)
                    comm[s] = c + b * s
                    notes.append(f"{p} ranks: the {s}-byte buffer's all-reduce extended from the simulated sizes "
                                 f"{', '.join(str(x) for x in sorted(net) if x >= EXTRAPOLATE_FROM)}")
                    if s == n * 4:
                        algo += "*"
                comm[s] += gamma * s * (p - 1) / p
        for mode, b in (("weak", a.batch), ("strong", a.global_batch / p)):
            if b < 1:
                continue
            w, wo, exposed, compute = step_time(layers, cols, params, b / a.batch / a.compute_speedup, comm, opt_ms,
                                                a.slowdown)
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
    name = a.model.replace(":", "-") or "model"
    stem = f"scaling-{name}" + ("" if a.compute_speedup == 1 else f"-compute-x{a.compute_speedup:g}")
    cols_out = ["mode", "ranks", "algo", "batch_per_rank", "compute_ms", "allreduce_buffer_ms", "step_ms",
                "step_no_overlap_ms", "exposed_comm_ms", "samples_per_s", "efficiency", "efficiency_no_overlap"]
    with open(os.path.join(a.out, stem + ".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols_out, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    shown = os.path.relpath(a.layers, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
    with open(os.path.join(a.out, stem + ".md"), "w") as f:
        f.write(f"## *Simulated* scaling: {a.model} on {a.platform}\n\n")
        f.write(f"`{a.command}`\n\n")
        f.write(f"Gradient buffer {n} floats ({n * 4 / 1e6:.2f} MB) in blocks of 1 MiB; compute injected from "
                f"{shown} ({cols[0].split('_')[-1]} ms, rank 0, {a.batch} samples a rank, optimizer {opt_ms:g} ms), "
                f"scaled with the per-rank batch"
                + (f" and divided by {a.compute_speedup:g} (--compute-speedup)" if a.compute_speedup != 1 else "")
                + f"; every all-reduce's network time simulated (hpcnn-sim, SimGrid SMPI, network only) with the "
                f"real algorithm auto picked, plus the reduction's compute ({a.gamma_ns_per_byte:g} ns a byte"
                + (f" / {a.compute_speedup:g}" if a.compute_speedup != 1 else "")
                + f" x (p-1)/p); backward {a.slowdown:g}x slower while a block is in flight (overlap only). "
                f"Efficiency: weak = step(1) / step(p), strong = speed-up / p. *Not measured: a prediction.*\n")
        if notes:
            f.write("\n* " + "; ".join(sorted(set(notes))) + " (the line time = a + b x bytes: "
                    "docs/simulation.md, \"Predicted training scaling\").\n")
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
    plot(rows, os.path.join(a.out, stem + ".png"), f"{a.model} on {a.platform}: simulated, not measured"
         + (f" (compute / {a.compute_speedup:g})" if a.compute_speedup != 1 else ""))
    print(open(os.path.join(a.out, stem + ".md")).read())


if __name__ == "__main__":
    main()
