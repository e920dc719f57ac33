#!/usr/bin/env python3
"""Where a training step's time goes, layer by layer: hpcnn, PyTorch and Keras/TensorFlow side by side.

For each network, the forward and backward time of every layer at the
network's batch (peers.py's DEFAULT_BATCH), in milliseconds, median over the
timed steps:

  hpcnn   `hpcnn bench layers` (synchronises after every layer)
  torch   eager PyTorch, the same nn.Sequential as peers.py; forward from
          forward pre/post hooks, backward from full-backward pre-hooks (a
          layer's backward runs from the moment its output gradient is ready
          until the next layer's is; the first layer's until backward() returns)
  keras   each Keras layer in its own tf.function on the activation the
          model feeds it: forward alone, and forward + tape.gradient (input
          and weights); backward = the difference. Keras's real step is one
          graph that Grappler may fuse further, so this is an upper bound on
          what each layer costs inside it; the cost of calling an empty
          tf.function (measured first) is subtracted from every call.

Random data of the network's input shape (timings do not depend on the
values). The loss and the optimizer are outside every layer.

    tools/bench/peers/layers.py --python ~/.cache/hpcnn-peers/venv/bin/python --networks keras-cnn --threads 2
    tools/bench/peers/layers.py --json out.json --markdown out.md

Prints one table per network and the CPU model; --markdown writes them.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peers  # noqa: E402  (build_torch, build_keras, parse_token, DEFAULT_BATCH, ...)

NETWORKS = ["keras-cnn", "tiny-cnn", "mnist-cnn", "solar-cnn", "mlp:3200-1600-832"]


def groups_for(tokens):
    """How many nn.Sequential modules each hpcnn layer became in peers.build_torch."""
    out, flat = [], False
    for tok in tokens:
        l = peers.parse_token(tok)
        n = 1
        if l["kind"] == "conv":
            n = 1 if "same" not in tok else 2  # asymmetric 'same' gets a ZeroPad2d (checked below)
        if l["kind"] == "dense" and not flat:
            n = 2  # an implicit Flatten first
        if l["kind"] in ("flatten", "dense"):
            flat = True
        out.append(n)
    return out


def worker_torch(w):
    import torch

    torch.set_num_threads(w["threads"])
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = peers.build_torch(tuple(w["input"]), w["layers"])
    mods = list(model)
    # Map modules to hpcnn layers: a conv with symmetric 'same' padding is one module, not two.
    counts, i = [], 0
    for tok, n in zip(w["layers"], groups_for(w["layers"])):
        if n == 2 and peers.parse_token(tok)["kind"] == "conv" and not isinstance(mods[i], torch.nn.ZeroPad2d):
            n = 1
        counts.append(n)
        i += n
    assert i == len(mods), (i, len(mods))
    owner = [k for k, n in enumerate(counts) for _ in range(n)]
    L = len(counts)
    fwd, bwd = [[] for _ in range(L)], [[] for _ in range(L)]
    marks = {}

    def pre(idx):
        def hook(m, inp):
            marks[("f", idx)] = time.perf_counter()
        return hook

    def post(idx):
        def hook(m, inp, out):
            marks[("fe", idx)] = time.perf_counter()
        return hook

    def bpre(idx):
        def hook(m, grad_out):
            marks[("b", idx)] = time.perf_counter()
        return hook

    for idx, m in enumerate(mods):
        m.register_forward_pre_hook(pre(idx))
        m.register_forward_hook(post(idx))
        m.register_full_backward_pre_hook(bpre(idx))
    classification = w["classes"] > 1
    n = w["batch"]
    x = torch.randn(n, *w["input"])
    y = torch.randint(0, w["classes"], (n,)) if classification else torch.rand(n, 1)
    loss_fn = torch.nn.CrossEntropyLoss() if classification else torch.nn.MSELoss()
    model.train()
    for step in range(w["warmup"] + w["steps"]):
        marks.clear()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        t_end = time.perf_counter()
        model.zero_grad(set_to_none=True)
        if step < w["warmup"]:
            continue
        per_f, per_b = [0.0] * L, [0.0] * L
        for idx in range(len(mods)):
            per_f[owner[idx]] += marks[("fe", idx)] - marks[("f", idx)]
            # Module idx's backward: from its output gradient until the one before it has its own.
            start = marks.get(("b", idx))
            if start is None:
                continue
            stop = marks.get(("b", idx - 1), t_end) if idx > 0 else t_end
            per_b[owner[idx]] += stop - start
        for k in range(L):
            fwd[k].append(per_f[k] * 1e3)
            bwd[k].append(per_b[k] * 1e3)
    return dict(fwd=[statistics.median(v) for v in fwd], bwd=[statistics.median(v) for v in bwd])


def worker_keras(w):
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(w["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    model = peers.build_keras(tuple(w["input"]), w["layers"])
    c, h, wd = w["input"]
    x = tf.constant(np.random.default_rng(0).standard_normal((w["batch"], h, wd, c)).astype("float32"))
    # Keras layers map one to one onto hpcnn's, except an implicit Flatten before the first dense.
    counts = [n if peers.parse_token(t)["kind"] != "conv" else 1 for t, n in zip(w["layers"], groups_for(w["layers"]))]
    layers = model.layers
    assert sum(counts) == len(layers), (counts, [l.name for l in layers])
    owner = [k for k, n in enumerate(counts) for _ in range(n)]
    L = len(counts)
    fwd, bwd = [0.0] * L, [0.0] * L

    def median_ms(fn, inp):
        for _ in range(w["warmup"]):
            r = fn(inp)
        ts = []
        for _ in range(w["steps"]):
            t0 = time.perf_counter()
            r = fn(inp)
            # Results are eager tensors: touching one waits for the op.
            (r[0] if isinstance(r, list) else r).numpy()
            ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)

    # What calling a tf.function and reading its result costs with no work
    # in it, subtracted from every layer's times (the real step is one graph).
    overhead = median_ms(tf.function(lambda v: v + 0.0), x)
    act = x
    for idx, layer in enumerate(layers):
        inp = act
        act = layer(inp, training=True)
        dy = tf.ones_like(act)

        @tf.function
        def forward(v, layer=layer):
            return layer(v, training=True)

        @tf.function
        def both(v, layer=layer, dy=dy):
            with tf.GradientTape() as tape:
                tape.watch(v)
                out = layer(v, training=True)
            return tape.gradient(out, [v] + layer.trainable_variables, output_gradients=dy)

        f = max(median_ms(forward, inp) - overhead, 0.0)
        fb = max(median_ms(both, inp) - overhead, 0.0)
        fwd[owner[idx]] += f
        bwd[owner[idx]] += max(fb - f, 0.0)
    return dict(fwd=fwd, bwd=bwd, call_overhead_ms=overhead)


def run_hpcnn(args, net, batch):
    cmd = [args.hpcnn, "bench", "layers", "-q", "--model", net, "--batch", str(batch), "--threads",
           str(args.threads), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        peers.die(f"{' '.join(cmd)} failed: {peers.tail(r, 3)}")
    fwd, bwd, step = [], [], None
    for line in r.stdout.splitlines():
        m = re.match(r"^\d+ \S+\s+([0-9.]+)\s+([0-9.]+)\s+[0-9.]+%$", line.strip())
        if m:
            fwd.append(float(m.group(1)))
            bwd.append(float(m.group(2)))
        s = re.search(r"([0-9.]+) ms/step", line)
        if s:
            step = float(s.group(1))
    return dict(fwd=fwd, bwd=bwd, step_ms=step)


def run_worker(args, tool, net, batch, input_shape, layers, classes):
    spec = dict(tool=tool, batch=batch, input=list(input_shape), layers=layers, classes=classes,
                threads=args.threads, warmup=args.warmup, steps=args.steps)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    r = subprocess.run([args.python, os.path.abspath(__file__), "--worker", json.dumps(spec)], capture_output=True,
                       text=True, env=env, timeout=args.timeout)
    line = [l for l in r.stdout.splitlines() if l.startswith("LAYERS-RESULT ")]
    if r.returncode != 0 or not line:
        peers.die(f"{tool} worker failed on {net}: {peers.tail(r, 5)}")
    return json.loads(line[-1][len("LAYERS-RESULT "):])


def table(net, batch, layers, res):
    tools = [t for t in ("hpcnn", "torch", "keras") if t in res]
    lines = [f"### {net}, batch {batch}", "",
             "| layer | " + " | ".join(f"{t} fwd | {t} bwd" for t in tools) + " |",
             "| --- | " + " | ".join("---: | ---:" for _ in tools) + " |"]
    for k, tok in enumerate(layers):
        cells = [f"{res[t]['fwd'][k]:.2f} | {res[t]['bwd'][k]:.2f}" for t in tools]
        lines.append(f"| {k + 1} {tok} | " + " | ".join(cells) + " |")
    sums = [f"**{sum(res[t]['fwd']):.2f}** | **{sum(res[t]['bwd']):.2f}**" for t in tools]
    lines.append("| all layers | " + " | ".join(sums) + " |")
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", default=",".join(NETWORKS), help="comma-separated [%(default)s]")
    p.add_argument("--threads", type=int, default=2, help="compute threads for every tool [%(default)s]")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first [%(default)s]")
    p.add_argument("--steps", type=int, default=10, help="timed steps (medians) [%(default)s]")
    p.add_argument("--tools", default="hpcnn,torch,keras", help="any of hpcnn, torch, keras [%(default)s]")
    p.add_argument("--hpcnn", default=os.environ.get("HPCNN", os.path.join(peers.REPO, "build/release/bin/hpcnn")))
    p.add_argument("--python", default=os.path.expanduser("~/.cache/hpcnn-peers/venv/bin/python"),
                   help="the Python that has torch and keras [%(default)s]")
    p.add_argument("--timeout", type=int, default=900, help="seconds per worker [%(default)s]")
    p.add_argument("--json", help="write every table's numbers here")
    p.add_argument("--markdown", help="write the tables here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        w = json.loads(args.worker)
        peers.set_thread_env(w["threads"])
        r = worker_torch(w) if w["tool"] == "torch" else worker_keras(w)
        print("LAYERS-RESULT " + json.dumps(r))
        return 0
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in ("hpcnn", "torch", "keras"):
            peers.die(f"--tools: unknown tool '{t}' (hpcnn, torch, keras)", 2)
    if any(t != "hpcnn" for t in tools) and not os.path.exists(args.python):
        peers.die(f"--python {args.python}: not found (tools/bench/peers/setup.sh makes the venv)", 2)
    cpu = peers.cpu_model()
    out, doc = [f"CPU: {cpu}; {args.threads} thread(s); medians of {args.steps} steps after {args.warmup}.", ""], {}
    for net in [n.strip() for n in args.networks.split(",") if n.strip()]:
        batch = peers.DEFAULT_BATCH.get(net, 64)
        input_shape, layers, _ = peers.hpcnn_summary(args.hpcnn, net)
        classes = 1 if net.startswith("mlp:") or net == "solar-cnn" else int(peers.parse_token(layers[-1])["units"])
        res = {}
        for t in tools:
            peers.log(f"{net}: {t}")
            res[t] = run_hpcnn(args, net, batch) if t == "hpcnn" else run_worker(args, t, net, batch, input_shape,
                                                                                layers, classes)
            if len(res[t]["fwd"]) != len(layers):
                peers.die(f"{t} gave {len(res[t]['fwd'])} layers for {net}'s {len(layers)}")
        out += table(net, batch, layers, res) + [""]
        doc[net] = dict(batch=batch, layers=layers, **res)
    print("\n".join(out))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(out) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(cpu=cpu, threads=args.threads, networks=doc), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
