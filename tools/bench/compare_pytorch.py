#!/usr/bin/env python3
"""Training throughput of hpcnn vs PyTorch, side by side on this machine.

Both train the same model (same layers, Keras initialisation aside) on the
same Fashion-MNIST shards, same batch size, same thread count, Adam(1e-3),
for the same number of steps after a warm-up; run back to back, alternating,
and the median of --repeats runs is reported, with the ratio.

    python3 tools/bench/compare_pytorch.py --model keras-cnn --batch 128 --threads 2
    python3 tools/bench/compare_pytorch.py --model tiny-cnn --batch 32 --threads 2

Needs python3-torch and python3-h5py (Debian), and a built hpcnn
(--hpcnn, default build/release/bin/hpcnn) and dataset (--data).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch
import torch.nn as nn


def keras_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def tiny_cnn():
    # 2x2 "same" convolutions: TensorFlow pads the extra row/column after.
    return nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(1, 4, 2), nn.ReLU(), nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(4, 4, 2),
        nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(196, 128), nn.ReLU(), nn.Linear(128, 10))


MODELS = {"keras-cnn": (keras_cnn, 1199882), "tiny-cnn": (tiny_cnn, 26594)}


def load_train(data_dir):
    manifest = json.load(open(os.path.join(data_dir, "manifest.json")))
    xs, ys = [], []
    for shard in manifest["splits"]["train"]["shards"]:
        with h5py.File(os.path.join(data_dir, shard["file"]), "r") as f:
            xs.append(f["samples"][:])
            ys.append(f["labels"][:])
    x = torch.from_numpy(np.concatenate(xs).astype(np.float32) / 255.0)
    y = torch.from_numpy(np.concatenate(ys).astype(np.int64))
    return x, y


def torch_rate(args, x, y):
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = MODELS[args.model][0]()
    assert sum(p.numel() for p in model.parameters()) == MODELS[args.model][1]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    perm = torch.randperm(x.shape[0])
    b = args.batch

    def step(i):
        idx = perm[(i * b) % (x.shape[0] - b):][:b]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(args.warmup + i)
    return args.steps * b / (time.perf_counter() - t0)


def hpcnn_train_seconds(args, steps):
    with tempfile.TemporaryDirectory() as out:
        cmd = [args.hpcnn, "train", "-q", "--model", args.model, "--data", args.data, "--batch", str(args.batch),
               "--threads", str(args.threads), "--max-steps", str(steps), "--out", out]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        return json.load(open(os.path.join(out, "metrics.json")))["train_seconds"]


def hpcnn_rate(args):
    # Two runs, of `warmup` and of `warmup + steps` steps: the difference of
    # their training time is the time of `steps` warm steps, exactly what the
    # PyTorch loop times (start-up and warm-up excluded on both sides).
    short = hpcnn_train_seconds(args, args.warmup)
    full = hpcnn_train_seconds(args, args.warmup + args.steps)
    return args.steps * args.batch / (full - short)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(MODELS), default="keras-cnn")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default="datasets/fashion-mnist")
    p.add_argument("--hpcnn", default="build/release/bin/hpcnn")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    x, y = load_train(args.data)
    print(f"# {args.model}, batch {args.batch}, {args.threads} threads, {args.steps} steps after {args.warmup} warm-up, "
          f"median of {args.repeats}; torch {torch.__version__}")
    t_rates, h_rates = [], []
    for r in range(args.repeats):
        t_rates.append(torch_rate(args, x, y))
        h_rates.append(hpcnn_rate(args))
        print(f"run {r + 1}: pytorch {t_rates[-1]:8.1f} samples/s   hpcnn {h_rates[-1]:8.1f} samples/s", flush=True)
    t, h = statistics.median(t_rates), statistics.median(h_rates)
    print(f"median: pytorch {t:.1f} samples/s, hpcnn {h:.1f} samples/s, ratio {h / t:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "batch": args.batch, "threads": args.threads, "steps": args.steps,
                       "torch": torch.__version__, "pytorch_samples_per_second": t_rates,
                       "hpcnn_samples_per_second": h_rates, "ratio": h / t}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
