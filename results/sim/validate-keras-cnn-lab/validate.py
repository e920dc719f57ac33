#!/usr/bin/env python3
"""The training-step predictor (tools/sim/scale.py) against keras-cnn measured on the emulated cluster.

  python3 results/sim/validate-keras-cnn-lab/validate.py      (after run-emulated.sh; runs hpcnn-sim on the lab platform)

For each measured set (2 nodes at MTU 1500 and 9000: results/overlap; 4 nodes:
measured-4n.csv here, run-emulated.sh) the predictor gets the compute the
same set measured with --compute-only (backward, and step - backward for
forward + optimizer + data), spread over the layers as results/traces/keras-cnn
(the 2-rank trace) spreads it, and the lab platform's simulated all-reduces
(network only, tools/sim/run.sh --platform lab, plus the reduction's compute
gamma = 0.11 ns a byte x (p-1)/p). It predicts the step without overlap
(--bucket-mb 0) and with it (--bucket-mb 1), the latter with backward not
slowed (s = 1) and slowed by s while a block is in flight, s fitted so that
the predicted backward of the 2-node MTU-1500 set equals its measured one.
Writes validate.md and lab-npN.csv here.
"""
import csv
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, "../../.."))
sys.path.insert(0, os.path.join(root, "tools/sim"))
import scale  # noqa: E402

GAMMA = 0.11e-9  # s a byte, docs/simulation.md


def measured(path):
    with open(path) as f:
        return {r["run"]: {k: float(v) for k, v in r.items() if k.endswith("_ms") and k != "per_round_step_ms"}
                for r in csv.DictReader(f)}


def lab_comm(p, sizes):
    out = os.path.join(here, f"lab-np{p}.csv")
    if not os.path.exists(out):
        subprocess.run(["nice", "bash", os.path.join(root, "tools/sim/run.sh"), "--platform", "lab", "--nodes", str(p),
                        "--cfg=smpi/simulate-computation:no", "--", "--algo", "auto", "--sizes",
                        ",".join(map(str, sizes)), "--iters", "2", "--warmup", "1", "--csv", out],
                       check=True, stdout=subprocess.DEVNULL)
    net, _ = scale.sim_times(out)
    with open(out) as f:
        algo = {int(r["bytes"]): r["algo"] for r in csv.DictReader(f)}
    return {s: t + GAMMA * s * (p - 1) / p for s, t in net.items()}


def predict(m, p, s):
    layers, cols, _ = scale.read_layers(os.path.join(root, "results/traces/keras-cnn/layers.csv"))
    params = scale.params_per_layer(layers, 1)
    n = sum(params)
    c = m["compute-only"]
    fb = sum(float(r[cols[1]]) for r in layers)
    ff = sum(float(r[cols[0]]) for r in layers)
    bwd = [float(r[cols[1]]) * 1e-3 * c["backward_ms"] / fb for r in layers]
    rest = (c["step_ms"] - c["backward_ms"]) * 1e-3
    comm = lab_comm(p, scale.reducer_sizes(n))
    blocks = scale.blocks_of(n)
    bwd_end, finish = scale.overlapped_backward(bwd, params, blocks, [comm[(e - b) * 4] for b, e in blocks], s)
    return dict(without=(rest + sum(bwd) + comm[n * 4]) * 1e3, comm=comm[n * 4] * 1e3,
                overlap=(rest + max(bwd_end, finish)) * 1e3, backward=bwd_end * 1e3)


def main():
    sets = [("2 nodes, MTU 1500 (results/overlap)", 2, os.path.join(root, "results/overlap/summary.csv")),
            ("2 nodes, MTU 9000 (results/overlap/mtu9000)", 2, os.path.join(root, "results/overlap/mtu9000/summary.csv")),
            ("4 nodes, MTU 1500, medians (measured-4n.csv)", 4, os.path.join(here, "measured-4n.csv")),
            ("4 nodes, MTU 1500, minimum over steps (measured-4n-min.csv)", 4, os.path.join(here, "measured-4n-min.csv"))]
    sets = [x for x in sets if os.path.exists(x[2])]
    m0 = measured(sets[0][2])
    lo, hi = 1.0, 3.0  # s: the predicted backward of the first set equals its measured one
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if predict(m0, sets[0][1], mid)["backward"] < m0["bucket-1"]["backward_ms"] else (lo, mid)
    s_fit = (lo + hi) / 2
    lines = ["# The step predictor against keras-cnn on the emulated cluster (1 Gbit/s, 1 rank of 1 thread a node)", "",
             "`python3 results/sim/validate-keras-cnn-lab/validate.py` (validate.py's docstring says how). "
             f"Backward slow-down fitted on the first set: s = **{s_fit:.3f}** (backward runs s times slower while "
             "a block is in flight). Times in ms; error = (predicted - measured) / measured.", "",
             "| set | run | measured step | predicted, s = 1 | error | predicted, s fitted | error | "
             "measured backward | predicted backward (s fitted) | measured all-reduce | simulated all-reduce |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, p, path in sets:
        m = measured(path)
        a, b = predict(m, p, 1.0), predict(m, p, s_fit)
        for run, key in (("no overlap (bucket 0)", "without"), ("overlap (bucket 1 MiB)", "overlap")):
            meas = m["bucket-0" if key == "without" else "bucket-1"]
            e1, e2 = (a[key] - meas["step_ms"]) / meas["step_ms"], (b[key] - meas["step_ms"]) / meas["step_ms"]
            bw = f"{meas['backward_ms']:.1f} | {b['backward'] if key == 'overlap' else m['compute-only']['backward_ms']:.1f}"
            lines.append(f"| {name} | {run} | {meas['step_ms']:.1f} | {a[key]:.1f} | {e1 * 100:+.1f} % | {b[key]:.1f} | "
                         f"{e2 * 100:+.1f} % | {bw} | {meas['allreduce_ms']:.1f} | {a['comm']:.1f} |")
    lines += ["", "Reading it: on 2 nodes (1 rank a core) the slow-down closes a third of the overlap's miss; what "
              "remains on every set is the all-reduce inside training, slower than the simulated one (and than "
              "`bench allreduce`, which the simulator matches within 9 %: ../validate-lab.txt). The 4-node sets "
              "put 4 ranks on the machine's 2 cores (at load 10-18 from other work, machine-4n.txt): with overlap, "
              "measured backward is half the compute-only one, because a rank waiting on the 1 Gbit/s link leaves "
              "its core to the others, so compute is not the fixed quantity the predictor takes and the overlap "
              "rows are no check of it; the no-overlap rows (communication after compute) are."]
    text = "\n".join(lines) + "\n"
    open(os.path.join(here, "validate.md"), "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
