#!/usr/bin/env python3
"""hpcnn against PyTorch 2.x and Keras 3 / TensorFlow: training throughput, side by side.

For each network, builds the same layers in PyTorch and in Keras from
`hpcnn summary --model NAME` (equal parameter counts are asserted), loads the
same hpcnn HDF5 training shards into memory, and trains with the same batch,
Adam (lr 1e-3, eps 1e-8), loss and thread count: W warm-up steps, then a timed
window of S steps. Every measurement is a fresh process; the tools alternate
(hpcnn, torch, [torch-compile], keras, hpcnn, ...) for R repeats, and the
table gives the median samples/s of each tool and hpcnn / best peer.

    tools/bench/peers/run.sh                                # the defaults below
    tools/bench/peers/run.sh --networks tiny-cnn --threads 2 --repeats 5
    tools/bench/peers/run.sh --tools hpcnn,torch,torch-compile,keras --json out.json

Needs the peers venv (tools/bench/peers/setup.sh; run.sh makes it once) and a
built hpcnn (--hpcnn, env HPCNN, default build/release/bin/hpcnn). Data is made
on first use in --data-dir: Fashion-MNIST (from Debian's dataset-fashion-mnist
via `hpcnn data import-idx`) for the 28x28 CNNs, `hpcnn data synth
solar-maps` for solar-cnn and `solar-table` for the MLPs.

hpcnn's window is read from its per-step timing file (start of step W+1 to the
end of step W+S); the peers time the same window with a wall clock around
their own steps. Start-up, data loading and warm-up are outside the window for
every tool.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# The batches (issue 11): network -> default batch.
DEFAULT_BATCH = {
    "keras-cnn": 128,
    "tiny-cnn": 32,
    "mnist-cnn": 64,
    "solar-cnn": 64,
    "mlp:800-400-208": 100,
    "mlp:3200-1600-832": 100,
}
DEFAULT_NETWORKS = list(DEFAULT_BATCH)
# Timed steps per network when --steps is 0: windows of roughly equal length
# (a few seconds on 2 cores) rather than equal step counts, so that the fast
# networks are not timed over a few milliseconds and the slow ones fit.
DEFAULT_STEPS = {
    "keras-cnn": 20,
    "tiny-cnn": 100,
    "mnist-cnn": 50,
    "solar-cnn": 10,
    "mlp:800-400-208": 100,
    "mlp:3200-1600-832": 20,
}
ALL_TOOLS = ["hpcnn", "torch", "torch-compile", "keras"]
ADAM_LR = 1e-3
ADAM_EPS = 1e-8  # hpcnn's and PyTorch's default; Keras's is 1e-7, so it is passed explicitly


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die(msg, code=1):
    msg = " | ".join(l.strip() for l in str(msg).splitlines() if l.strip())  # one line
    print(f"peers.py: {msg}", file=sys.stderr)
    sys.exit(code)


def tail(r, n=1):
    """The last n lines a finished process printed (stderr, else stdout)."""
    lines = (r.stderr.strip() or r.stdout.strip()).splitlines()
    return " / ".join(lines[-n:]) if lines else f"exit {r.returncode}, no output"


# ---------------------------------------------------------------- model spec


def hpcnn_summary(hpcnn, network):
    """(input (C, H, W), [layer tokens], total params) from `hpcnn summary`."""
    r = subprocess.run([hpcnn, "summary", "-q", "--model", network], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"`hpcnn summary --model {network}` failed: {tail(r)}")
    m = re.search(r"input \((\d+), (\d+), (\d+)\)", r.stdout)
    total = re.search(r"Total params: ([\d,]+)", r.stdout)
    if not m or not total:
        die(f"cannot read `hpcnn summary --model {network}` output")
    layers = re.findall(r"^\d+ (\S+)\s+\(", r.stdout, re.M)
    return tuple(int(v) for v in m.groups()), layers, int(total.group(1).replace(",", ""))


def parse_token(tok):
    """hpcnn's model-string grammar: conv:FxK[:sS][:same] maxpool:K[:sS] dense:N relu dropout:P flatten."""
    parts = tok.split(":")
    kind = parts[0]
    if kind == "conv":
        f, k = (int(v) for v in parts[1].split("x"))
        stride, same = 1, False
        for p in parts[2:]:
            if p == "same":
                same = True
            elif p == "valid":
                same = False
            elif p.startswith("s"):
                stride = int(p[1:])
            else:
                die(f"unknown conv option in '{tok}'")
        return dict(kind="conv", filters=f, kernel=k, stride=stride, same=same)
    if kind == "maxpool":
        k = int(parts[1])
        stride = k
        for p in parts[2:]:
            if p.startswith("s"):
                stride = int(p[1:])
            elif p != "valid":
                die(f"unknown maxpool option in '{tok}'")
        return dict(kind="maxpool", kernel=k, stride=stride)
    if kind == "dense":
        return dict(kind="dense", units=int(parts[1]))
    if kind == "dropout":
        return dict(kind="dropout", rate=float(parts[1]))
    if kind in ("relu", "flatten"):
        return dict(kind=kind)
    die(f"layer '{tok}' has no PyTorch/Keras translation here")


def spatial(n, k, s, same):
    """Output size and (before, after) padding, as hpcnn's model_spec.cpp (TensorFlow's 'same')."""
    if same:
        out = (n + s - 1) // s
        total = max((out - 1) * s + k - n, 0)
        return out, (total // 2, total - total // 2)
    return (n - k) // s + 1, (0, 0)


def build_torch(input_shape, tokens):
    import torch.nn as nn

    c, h, w = input_shape
    flat = None  # features once flattened
    mods = []
    for tok in tokens:
        l = parse_token(tok)
        if l["kind"] == "conv":
            oh, ph = spatial(h, l["kernel"], l["stride"], l["same"])
            ow, pw = spatial(w, l["kernel"], l["stride"], l["same"])
            if ph[0] == ph[1] and pw[0] == pw[1]:
                mods.append(nn.Conv2d(c, l["filters"], l["kernel"], l["stride"], padding=(ph[0], pw[0])))
            else:  # TensorFlow-style asymmetric 'same': the extra row/column after
                mods.append(nn.ZeroPad2d((pw[0], pw[1], ph[0], ph[1])))
                mods.append(nn.Conv2d(c, l["filters"], l["kernel"], l["stride"]))
            c, h, w = l["filters"], oh, ow
        elif l["kind"] == "maxpool":
            mods.append(nn.MaxPool2d(l["kernel"], l["stride"]))
            h, w = spatial(h, l["kernel"], l["stride"], False)[0], spatial(w, l["kernel"], l["stride"], False)[0]
        elif l["kind"] in ("flatten", "dense") and flat is None:
            mods.append(nn.Flatten())
            flat = c * h * w
        if l["kind"] == "dense":
            mods.append(nn.Linear(flat, l["units"]))
            flat = l["units"]
        elif l["kind"] == "relu":
            mods.append(nn.ReLU())
        elif l["kind"] == "dropout":
            mods.append(nn.Dropout(l["rate"]))
    return nn.Sequential(*mods)


def build_keras(input_shape, tokens):
    import keras
    from keras import layers as L

    c, h, w = input_shape
    mods = [keras.Input((h, w, c))]  # channels-last, Keras's CPU layout
    flat = False
    for tok in tokens:
        l = parse_token(tok)
        if l["kind"] == "conv":
            mods.append(L.Conv2D(l["filters"], l["kernel"], l["stride"], padding="same" if l["same"] else "valid"))
        elif l["kind"] == "maxpool":
            mods.append(L.MaxPooling2D(l["kernel"], l["stride"]))
        elif l["kind"] in ("flatten", "dense") and not flat:
            mods.append(L.Flatten())
            flat = True
        if l["kind"] == "dense":
            mods.append(L.Dense(l["units"]))
        elif l["kind"] == "relu":
            mods.append(L.ReLU())
        elif l["kind"] == "dropout":
            mods.append(L.Dropout(l["rate"]))
    return keras.Sequential(mods)


# ---------------------------------------------------------------- data


def dataset_for(network):
    if network.startswith("mlp:"):
        return "solar-table"
    if network == "solar-cnn":
        return "solar-maps"
    return "fashion-mnist"


def ensure_dataset(args, name):
    """Makes the dataset in --data-dir on first use; returns its directory."""
    out = os.path.join(args.data_dir, name)
    if os.path.exists(os.path.join(out, "manifest.json")):
        return out
    os.makedirs(args.data_dir, exist_ok=True)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if name == "fashion-mnist":
        src = args.fashion_mnist
        if not os.path.exists(os.path.join(src, "train-images-idx3-ubyte.gz")):
            die(f"no Fashion-MNIST in {src} (apt-get install dataset-fashion-mnist, or --fashion-mnist DIR)")
        # Train split only: hpcnn would otherwise evaluate the test split after training.
        cmd = [args.hpcnn, "data", "import-idx", "-q", "--out", tmp, "--name", "fashion-mnist",
               "--train-images", os.path.join(src, "train-images-idx3-ubyte.gz"),
               "--train-labels", os.path.join(src, "train-labels-idx1-ubyte.gz")]
    elif name == "solar-maps":
        cmd = [args.hpcnn, "data", "synth", "solar-maps", "-q", "--out", tmp, "--train", "8000", "--test", "0"]
    else:
        cmd = [args.hpcnn, "data", "synth", "solar-table", "-q", "--out", tmp, "--train", "50000", "--test", "0"]
    log(f"[data] making {out} (once): {' '.join(cmd)}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        die(f"making {name} failed: {r.stderr.strip()}")
    os.replace(tmp, out)
    return out


def load_train(data_dir):
    """The train split of an hpcnn dataset as numpy arrays: x float32 (N, C, H, W), y labels or targets."""
    import h5py
    import numpy as np

    manifest = json.load(open(os.path.join(data_dir, "manifest.json")))
    xs, ys = [], []
    key = "labels" if manifest["task"] == "classification" else "targets"
    for shard in manifest["splits"]["train"]["shards"]:
        with h5py.File(os.path.join(data_dir, shard["file"]), "r") as f:
            xs.append(f["samples"][:])
            ys.append(f[key][:])
    x = np.concatenate(xs)
    x = x.astype(np.float32) / 255.0 if manifest["sample_dtype"] == "uint8" else x.astype(np.float32)
    y = np.concatenate(ys)
    y = y.astype(np.int64) if key == "labels" else y.astype(np.float32)
    return x, y, manifest["task"] == "classification"


# ---------------------------------------------------------------- workers (in the venv)


def set_thread_env(threads):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def worker_torch(w, compile_):
    import numpy as np
    import torch

    torch.set_num_threads(w["threads"])
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    x, y, classification = load_train(w["data"])
    device = torch.device(w.get("device") or "cpu")
    x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    model = build_torch(tuple(w["input"]), w["layers"]).to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, eps=ADAM_EPS)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    loss_fn = torch.nn.CrossEntropyLoss() if classification else torch.nn.MSELoss()
    model.train()
    b, n = w["batch"], x.shape[0]
    perm = torch.from_numpy(np.random.default_rng(0).permutation(n)).to(device)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    if compile_:
        step = torch.compile(step)

    def run(i):
        start = (i * b) % max(n - b, 1)
        idx = perm[start:start + b]
        return step(x[idx], y[idx])

    for i in range(w["warmup"]):
        run(i)
    sync()
    t0 = time.perf_counter()
    for i in range(w["steps"]):
        loss = run(w["warmup"] + i)
    sync()
    seconds = time.perf_counter() - t0
    return dict(params=params, seconds=seconds, loss=float(loss))


def ddp_rank(rank, w, port, result_path):
    """One PyTorch DistributedDataParallel rank over gloo: the worker_torch
    step on this rank's slice of each global batch, gradients all-reduced by
    DDP's buckets. Rank 0 times the window between two barriers."""
    import numpy as np
    import torch
    import torch.distributed as dist

    set_thread_env(w["threads"])
    torch.set_num_threads(w["threads"])
    torch.set_num_interop_threads(1)
    ranks = w["ddp"]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=ranks)
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    x, y, classification = load_train(w["data"])
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = torch.nn.parallel.DistributedDataParallel(build_torch(tuple(w["input"]), w["layers"]))
    params = sum(p.numel() for p in model.module.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR, eps=ADAM_EPS)
    loss_fn = torch.nn.CrossEntropyLoss() if classification else torch.nn.MSELoss()
    model.train()
    b, n = w["batch"], x.shape[0]
    perm = torch.from_numpy(np.random.default_rng(0).permutation(n))

    def run(i):
        start = (i * b * ranks + rank * b) % max(n - b, 1)
        idx = perm[start:start + b]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss

    for i in range(w["warmup"]):
        run(i)
    dist.barrier()
    t0 = time.perf_counter()
    for i in range(w["steps"]):
        loss = run(w["warmup"] + i)
    dist.barrier()
    seconds = time.perf_counter() - t0
    if rank == 0:
        with open(result_path, "w") as f:
            json.dump(dict(params=params, seconds=seconds, loss=float(loss)), f)
    dist.destroy_process_group()


def worker_torch_ddp(w):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="hpcnn-peers-ddp-") as tmp:
        path = os.path.join(tmp, "result.json")
        mp.spawn(ddp_rank, args=(w, port, path), nprocs=w["ddp"], join=True)
        return json.load(open(path))


def worker_keras(w):
    import keras
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(w["threads"])
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    x, y, classification = load_train(w["data"])
    x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))  # NCHW -> NHWC
    model = build_keras(tuple(w["input"]), w["layers"])
    params = int(model.count_params())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True) if classification else "mse"
    model.compile(optimizer=keras.optimizers.Adam(ADAM_LR, epsilon=ADAM_EPS), loss=loss)
    b, total = w["batch"], w["warmup"] + w["steps"]
    need = total * b
    if x.shape[0] < need:  # repeat the data so that one epoch holds every step
        reps = -(-need // x.shape[0])
        x, y = np.concatenate([x] * reps), np.concatenate([y] * reps)
    x, y = x[:need], y[:need]
    marks = {}

    class Window(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == w["warmup"]:
                marks["t0"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch == total - 1:
                marks["t1"] = time.perf_counter()
                marks["loss"] = float(logs["loss"]) if logs and "loss" in logs else float("nan")

    model.fit(x, y, batch_size=b, epochs=1, shuffle=True, verbose=0, callbacks=[Window()])
    return dict(params=params, seconds=marks["t1"] - marks["t0"], loss=marks["loss"],
                jit_compile=bool(getattr(model, "jit_compile", False)))


def median_ms(fn, repeats):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def worker_infer(w):
    """Forward-only latency per batch size: PyTorch eval() under
    inference_mode, Keras predict_on_batch (its compiled predict step)."""
    import numpy as np

    x, _, _ = load_train(w["data"])
    out = {}
    if w["tool"] == "torch":
        import torch

        torch.set_num_threads(w["threads"])
        torch.set_num_interop_threads(1)
        torch.manual_seed(0)
        model = build_torch(tuple(w["input"]), w["layers"]).eval()
        params = sum(p.numel() for p in model.parameters())
        for b in w["infer_batches"]:
            xb = torch.from_numpy(np.ascontiguousarray(x[:b] if x.shape[0] >= b else np.resize(x, (b,) + x.shape[1:])))
            with torch.inference_mode():
                out[str(b)] = median_ms(lambda: model(xb), w["infer_repeats"])
    else:
        import keras
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(w["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)
        keras.utils.set_random_seed(0)
        xk = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        model = build_keras(tuple(w["input"]), w["layers"])
        params = int(model.count_params())
        for b in w["infer_batches"]:
            xb = xk[:b] if xk.shape[0] >= b else np.resize(xk, (b,) + xk.shape[1:])
            out[str(b)] = median_ms(lambda: model.predict_on_batch(xb), w["infer_repeats"])
    return dict(params=params, ms=out)


def worker_versions():
    set_thread_env(1)
    out = {"python": platform.python_version()}
    try:
        import torch

        out["torch"] = torch.__version__
        cfg = torch.__config__.show()
        m = re.search(r"(?:oneDNN|MKL-DNN) v?([\d.]+)", cfg)
        out["torch_onednn"] = m.group(1) if m else None
        m = re.search(r"CPU capability usage: (\S+)", cfg)
        out["torch_cpu_capability"] = m.group(1) if m else None
    except ImportError:
        pass
    try:
        import keras
        import tensorflow as tf

        out["tensorflow"] = tf.__version__
        out["keras"] = keras.__version__
        out["tf_onednn"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86)")
    except ImportError:
        pass
    import h5py
    import numpy

    out["numpy"], out["h5py"] = numpy.__version__, h5py.__version__
    return out


def worker_main(spec_json):
    w = json.loads(spec_json)
    if w["tool"] == "versions":
        print(json.dumps(worker_versions()))
        return 0
    set_thread_env(w["threads"])
    if w.get("infer_batches"):
        r = worker_infer(w)
    elif w["tool"] == "torch" and w.get("ddp"):
        r = worker_torch_ddp(w)
    elif w["tool"] in ("torch", "torch-compile"):
        r = worker_torch(w, w["tool"] == "torch-compile")
    elif w["tool"] == "keras":
        r = worker_keras(w)
    else:
        die(f"unknown worker tool {w['tool']}")
    print("PEERS-RESULT " + json.dumps(r))
    return 0


# ---------------------------------------------------------------- driver


def run_hpcnn(args, net, batch, steps, data):
    total = args.warmup + steps
    with tempfile.TemporaryDirectory(prefix="hpcnn-peers-") as out:
        cmd = [args.hpcnn, "train", "-q", "--model", net, "--data", data, "--batch", str(batch),
               "--threads", str(args.threads), "--max-steps", str(total), "--lr", str(ADAM_LR),
               "--adam-epsilon", str(ADAM_EPS), "--optimizer", "adam", "--verify-data", "never",
               "--checkpoint-every", "off", "--out", os.path.join(out, "run")]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        if args.device == "cuda":
            cmd += ["--backend", "cuda"]
        if args.ddp:  # one process per rank, --batch per rank, --threads each
            cmd = ["mpirun", "-n", str(args.ddp), "--oversubscribe", "--bind-to", "none", "--mca", "btl",
                   "self,vader"] + cmd
            env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
        if r.returncode != 0:
            die(f"hpcnn failed ({' '.join(cmd)}): {tail(r)}")
        rows = []
        with open(os.path.join(out, "run", "timing", "rank-00000.csv")) as f:
            header = f.readline().strip().split(",")
            for line in f:
                d = dict(zip(header, line.strip().split(",")))
                if d["phase"] == "step":
                    rows.append((float(d["start_s"]), float(d["seconds"])))
        metrics = json.load(open(os.path.join(out, "run", "metrics.json")))
    if len(rows) != total:
        die(f"hpcnn ran {len(rows)} steps, expected {total}")
    rows.sort()
    window = rows[args.warmup:]
    seconds = window[-1][0] + window[-1][1] - window[0][0]
    loss = metrics["epochs"][-1].get("loss") if metrics.get("epochs") else None
    return dict(seconds=seconds, loss=loss)


def run_hpcnn_infer(args, checkpoint, data):
    """Median ms per batch from `hpcnn infer`'s timing table."""
    cmd = [args.hpcnn, "infer", "-q", "-c", checkpoint, "-d", data, "--split", "train", "--threads", str(args.threads),
           "--batch-sizes", ",".join(map(str, args.infer_batches)), "--repeats", str(args.infer_repeats)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if r.returncode != 0:
        die(f"hpcnn failed ({' '.join(cmd)}): {tail(r)}")
    return dict(ms=parse_infer_table(r.stdout, args.infer_batches))


def parse_infer_table(stdout, batches):
    """{batch: median ms} from `hpcnn infer`'s timing table (batch, median ms, min ms, samples/s)."""
    ms = {}
    for line in stdout.splitlines():
        m = re.match(r"^\s*(\d+)\s+([\d.]+)\s+[\d.]+\s+\d+\s*$", line)
        if m:
            ms[m.group(1)] = float(m.group(2))
    if sorted(ms, key=int) != [str(b) for b in sorted(batches)]:
        die(f"hpcnn infer printed no timing for every batch size: {stdout[-300:]}")
    return ms


def make_checkpoint(args, net, data, where):
    """One training step, for a checkpoint hpcnn infer can load (the weights do not matter for timing)."""
    cmd = [args.hpcnn, "train", "-q", "--model", net, "--data", data, "--batch", "2", "--max-steps", "1",
           "--threads", str(args.threads), "--verify-data", "never", "--out", where]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if r.returncode != 0:
        die(f"hpcnn failed ({' '.join(cmd)}): {tail(r)}")
    return os.path.join(where, "model.h5")


def run_worker(args, tool, net, batch, steps, data, input_shape, layers):
    spec = dict(tool=tool, network=net, batch=batch, data=data, input=list(input_shape), layers=layers,
                threads=args.threads, warmup=args.warmup, steps=steps, ddp=args.ddp, device=args.device,
                infer_batches=args.infer_batches if args.infer else None, infer_repeats=args.infer_repeats)
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.threads)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cmd = [args.python, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    line = [l for l in r.stdout.splitlines() if l.startswith("PEERS-RESULT ")]
    if r.returncode != 0 or not line:
        die(f"{tool} worker failed on {net}: {tail(r, 3)}")
    return json.loads(line[-1][len("PEERS-RESULT "):])


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hpcnn_versions(hpcnn):
    r = subprocess.run([hpcnn, "info", "-q"], capture_output=True, text=True)
    info = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(hpcnn|oneDNN|compiler|MPI)\s{2,}(.+)$", line)
        if m:
            info[m.group(1)] = m.group(2).strip()
    return info


def fmt_rate(v):
    return f"{v:,.0f}" if v is not None else "-"


def header_lines(versions, cpu, cores, load, what):
    hv = versions["hpcnn"]
    return [
        f"# hpcnn peers benchmark: {what}",
        f"# CPU: {cpu}, {cores} logical cores, load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"# hpcnn {hv.get('hpcnn', '?')}, oneDNN {hv.get('oneDNN', '?')}",
        f"# torch {versions.get('torch', '-')} (oneDNN {versions.get('torch_onednn', '?')}, "
        f"CPU {versions.get('torch_cpu_capability', '?')}); tensorflow {versions.get('tensorflow', '-')}, "
        f"keras {versions.get('keras', '-')}; python {versions.get('python', '-')}, numpy {versions.get('numpy', '-')}",
    ]


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def infer_mode(args, tools, plan, versions, cpu, cores, load):
    """--infer: median ms of one forward pass per network and batch size."""
    results = []
    with tempfile.TemporaryDirectory(prefix="hpcnn-peers-infer-") as tmp:
        for item in plan:
            net = item["network"]
            ckpt = make_checkpoint(args, net, item["data"], os.path.join(tmp, f"run-{len(results)}"))
            runs = {t: [] for t in tools}
            for rep in range(args.repeats):
                for tool in (tools if rep % 2 == 0 else list(reversed(tools))):
                    if tool == "hpcnn":
                        r = run_hpcnn_infer(args, ckpt, item["data"])
                    else:
                        r = run_worker(args, tool, net, 0, 0, item["data"], item["input"], item["layers"])
                        if r["params"] != item["params"]:
                            die(f"{tool}'s {net} has {r['params']} parameters, hpcnn's {item['params']}")
                    runs[tool].append(r["ms"])
                    log(f"[{net} infer] repeat {rep + 1}/{args.repeats} {tool:6s} " +
                        " ".join(f"b{b} {r['ms'][str(b)]:.3f} ms" for b in args.infer_batches))
            for b in args.infer_batches:
                med = {t: statistics.median(x[str(b)] for x in runs[t]) for t in tools}
                peers = {t: v for t, v in med.items() if t != "hpcnn"}
                best = min(peers, key=peers.get) if peers else None
                ratio = peers[best] / med["hpcnn"] if best and "hpcnn" in med else None
                results.append(dict(network=net, batch=b, params=item["params"], median_ms=med, best_peer=best,
                                    hpcnn_speedup_over_best_peer=ratio,
                                    runs={t: [x[str(b)] for x in runs[t]] for t in tools}))
    lines = header_lines(versions, cpu, cores, load,
                         "inference latency (ms per batch, lower is better), median of fresh processes") + [
        f"# threads {args.threads}; {args.infer_repeats} timed passes after 3 warm-up per process, {args.repeats} "
        "process(es) each tool; hpcnn infer, torch eval() + inference_mode, keras predict_on_batch",
        "#",
        f"#  {'network':<20s} {'batch':>5s} {'params':>10s}" + "".join(f" {t + ' ms':>11s}" for t in tools) +
        f" {'best peer':>10s} {'best/hpcnn':>10s}"]
    for r in results:
        row = f"   {r['network']:<20s} {r['batch']:>5d} {r['params']:>10,d}" + \
            "".join(f" {r['median_ms'][t]:>11.3f}" for t in tools)
        row += f" {r['best_peer'] or '-':>10s} " + (f"{r['hpcnn_speedup_over_best_peer']:>10.2f}"
                                                  if r["hpcnn_speedup_over_best_peer"] is not None else f"{'-':>10s}")
        lines.append(row)
    print("\n".join(lines), flush=True)
    if args.json:
        write_json(args.json, dict(cpu=cpu, cores=cores, load_average_at_start=load, versions=versions, mode="infer",
                                   threads=args.threads, repeats=args.repeats, infer_repeats=args.infer_repeats,
                                   tools=tools, results=results, table="\n".join(lines)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", default=",".join(DEFAULT_NETWORKS),
                   help="comma-separated hpcnn presets or model strings [%(default)s]")
    p.add_argument("--batch", type=int, default=0,
                   help="batch for every network (0: per-network defaults: " +
                   ", ".join(f"{k} {v}" for k, v in DEFAULT_BATCH.items()) + "; 32 for others)")
    p.add_argument("--threads", type=int, default=2, help="compute threads for every tool [%(default)s]")
    p.add_argument("--repeats", type=int, default=3, help="fresh processes per tool and network [%(default)s]")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first [%(default)s]")
    p.add_argument("--steps", type=int, default=0,
                   help="timed steps (0: per-network defaults: " +
                   ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + "; 20 for others)")
    p.add_argument("--tools", default="hpcnn,torch,keras",
                   help="comma-separated, from " + ",".join(ALL_TOOLS) + " [%(default)s]")
    p.add_argument("--hpcnn", default=os.environ.get("HPCNN", os.path.join(REPO, "build/release/bin/hpcnn")),
                   help="hpcnn binary [env HPCNN, else build/release/bin/hpcnn]")
    p.add_argument("--venv", default=os.environ.get("HPCNN_PEERS_VENV",
                                                    os.path.expanduser("~/.cache/hpcnn-peers/venv")),
                   help="the venv setup.sh made [env HPCNN_PEERS_VENV, else %(default)s]")
    p.add_argument("--data-dir", default=os.path.expanduser("~/.cache/hpcnn-peers/data"),
                   help="where the datasets are made on first use [%(default)s]")
    p.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist",
                   help="Fashion-MNIST IDX files [%(default)s]")
    p.add_argument("--timeout", type=int, default=900, help="seconds per process before giving up [%(default)s]")
    p.add_argument("--ddp", type=int, default=0, metavar="RANKS",
                   help="data parallel: RANKS processes per tool, --threads each, --batch per rank; hpcnn under "
                   "mpirun, PyTorch as DistributedDataParallel over gloo; rates are over all ranks. Keras is left "
                   "out (MultiWorkerMirroredStrategy needs a TF_CONFIG cluster per worker) [off]")
    p.add_argument("--infer", action="store_true",
                   help="inference instead of training: median ms of one forward pass per batch size (hpcnn infer; "
                   "PyTorch eval() under inference_mode; Keras predict_on_batch), fresh processes alternated")
    p.add_argument("--infer-batches", default="2,64,512", help="batch sizes for --infer [%(default)s]")
    p.add_argument("--infer-repeats", type=int, default=20, help="timed passes per batch size [%(default)s]")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="train on the CPU, or on one GPU: hpcnn --backend cuda against PyTorch on cuda "
                   "(Keras left out: the venv's TensorFlow is CPU-only) [%(default)s]")
    p.add_argument("--python", help="the Python that has the peers (torch, keras) [the venv's]")
    p.add_argument("--json", help="also write every repeat and the medians here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker_main(args.worker)

    tools = [t for t in args.tools.split(",") if t]
    bad = [t for t in tools if t not in ALL_TOOLS]
    if bad or not tools:
        die(f"--tools: unknown {','.join(bad) or '(none)'}; choose from {','.join(ALL_TOOLS)}", 2)
    if args.ddp < 0 or args.ddp == 1:
        die("--ddp takes 2 or more ranks", 2)
    try:
        args.infer_batches = sorted({int(b) for b in args.infer_batches.split(",") if b})
    except ValueError:
        die(f"--infer-batches: '{args.infer_batches}' is not a list of integers", 2)
    if args.infer and (not args.infer_batches or min(args.infer_batches) < 1 or args.infer_repeats < 1):
        die("--infer-batches and --infer-repeats must be positive", 2)
    if args.infer and args.ddp:
        die("--infer and --ddp do not go together", 2)
    if args.infer and "torch-compile" in tools:
        die("--infer compares hpcnn, torch and keras", 2)
    if args.ddp:
        if args.tools == p.get_default("tools"):
            tools = ["hpcnn", "torch"]
        elif any(t not in ("hpcnn", "torch") for t in tools):
            die("--ddp compares hpcnn and torch only (--tools hpcnn,torch)", 2)
        if not shutil.which("mpirun"):
            die("--ddp needs mpirun (Open MPI) for hpcnn", 2)
    for name, v in (("--threads", args.threads), ("--repeats", args.repeats)):
        if v < 1:
            die(f"{name} must be at least 1", 2)
    if args.warmup < 0 or args.batch < 0 or args.steps < 0:
        die("--warmup, --steps and --batch must not be negative", 2)
    networks = [n for n in args.networks.split(",") if n]
    if not networks:
        die("--networks is empty", 2)
    if not (os.path.isfile(args.hpcnn) and os.access(args.hpcnn, os.X_OK)):
        die(f"no hpcnn binary at {args.hpcnn} (build it, or --hpcnn / env HPCNN)", 2)
    args.python = args.python or os.path.join(args.venv, "bin", "python")
    if args.device == "cuda":
        if args.tools == p.get_default("tools"):
            tools = ["hpcnn", "torch"]
        elif any(t not in ("hpcnn", "torch") for t in tools):
            die("--device cuda compares hpcnn and torch only (--tools hpcnn,torch)", 2)
        if args.ddp or args.infer:
            die("--device cuda times single-GPU training only", 2)
    if any(t != "hpcnn" for t in tools) and not os.path.exists(args.python):
        die(f"no peers venv at {args.venv} (run tools/bench/peers/setup.sh)", 2)
    args.hpcnn = os.path.abspath(args.hpcnn)

    # Header: the machine and the versions, before anything is timed.
    versions = {"hpcnn": hpcnn_versions(args.hpcnn)}
    if os.path.exists(args.python):
        r = subprocess.run([args.python, os.path.abspath(__file__), "--worker", json.dumps({"tool": "versions"})],
                           capture_output=True, text=True)
        if r.returncode == 0:
            versions.update(json.loads(r.stdout.strip().splitlines()[-1]))
    cpu = cpu_model()
    cores = os.cpu_count()
    load = os.getloadavg()

    plan = []
    for net in networks:
        input_shape, layers, params = hpcnn_summary(args.hpcnn, net)
        batch = args.batch or DEFAULT_BATCH.get(net, 32)
        steps = args.steps or DEFAULT_STEPS.get(net, 20)
        data = ensure_dataset(args, dataset_for(net))
        plan.append(dict(network=net, batch=batch, steps=steps, data=data, input=input_shape, layers=layers, params=params))

    if args.infer:
        return infer_mode(args, tools, plan, versions, cpu, cores, load)

    results = []
    for item in plan:
        net, batch, steps = item["network"], item["batch"], item["steps"]
        runs = {t: [] for t in tools}
        extra = {}
        for rep in range(args.repeats):
            # Alternate: hpcnn, torch, ..., keras, then again, so that drift in
            # the machine's load falls on every tool alike.
            order = tools if rep % 2 == 0 else list(reversed(tools))
            for tool in order:
                if tool == "hpcnn":
                    r = run_hpcnn(args, net, batch, steps, item["data"])
                else:
                    r = run_worker(args, tool, net, batch, steps, item["data"], item["input"], item["layers"])
                    if r["params"] != item["params"]:
                        die(f"{tool}'s {net} has {r['params']} parameters, hpcnn's {item['params']}: "
                            "the translation is wrong")
                    if "jit_compile" in r:
                        extra["keras_jit_compile"] = r["jit_compile"]
                rate = steps * batch * max(args.ddp, 1) / r["seconds"]
                runs[tool].append(dict(samples_per_second=rate, seconds=r["seconds"], loss=r.get("loss")))
                log(f"[{net} b{batch}] repeat {rep + 1}/{args.repeats} {tool:13s} {rate:10,.1f} samples/s")
        med = {t: statistics.median(x["samples_per_second"] for x in runs[t]) for t in tools}
        peers = {t: v for t, v in med.items() if t != "hpcnn"}
        best = max(peers, key=peers.get) if peers else None
        ratio = med["hpcnn"] / peers[best] if best and "hpcnn" in med else None
        results.append(dict(network=net, batch=batch, steps=steps, params=item["params"], runs=runs, median=med, best_peer=best,
                            hpcnn_over_best_peer=ratio, **extra))

    # nccl-tests style: a header of what the figures depend on, then the table.
    lines = header_lines(versions, cpu, cores, load,
                         "training throughput (samples/s), median of fresh processes, tools alternated") + [
        f"# threads {args.threads}, Adam lr {ADAM_LR:g} eps {ADAM_EPS:g}, {args.warmup} warm-up steps then the "
        f"timed steps of each row, {args.repeats} repeat(s) each tool; data in memory",
        *([f"# data parallel: {args.ddp} ranks x {args.threads} thread(s), batch per rank, samples/s over all ranks; "
           "hpcnn under mpirun, torch DistributedDataParallel (gloo)"] if args.ddp else []),
        *(["# device: one GPU: hpcnn --backend cuda, torch on cuda (eager)"] if args.device == "cuda" else []),
        "#",
    ]
    cols = tools
    head = f"#  {'network':<20s} {'batch':>5s} {'steps':>5s} {'params':>10s}" + "".join(f" {t:>13s}" for t in cols) + \
        f" {'best peer':>13s} {'hpcnn/best':>10s}"
    lines.append(head)
    for r in results:
        row = f"   {r['network']:<20s} {r['batch']:>5d} {r['steps']:>5d} {r['params']:>10,d}" + \
            "".join(f" {fmt_rate(r['median'].get(t)):>13s}" for t in cols)
        row += f" {r['best_peer'] or '-':>13s} " + (f"{r['hpcnn_over_best_peer']:>10.2f}"
                                                   if r["hpcnn_over_best_peer"] is not None else f"{'-':>10s}")
        lines.append(row)
    print("\n".join(lines), flush=True)
    if args.json:
        doc = dict(cpu=cpu, cores=cores, load_average_at_start=load, versions=versions, threads=args.threads,
                   ddp_ranks=args.ddp,
                   warmup=args.warmup, steps=args.steps, repeats=args.repeats, tools=tools, adam_lr=ADAM_LR,
                   adam_epsilon=ADAM_EPS, results=results, table="\n".join(lines))
        write_json(args.json, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
