#!/usr/bin/env python3
"""MobileNetV2 inference: hpcnn's folded FP32 and int8 engines against TensorFlow Lite, side by side.

The Edge Impulse seed deploys MobileNetV2 0.35 (96x96x3, a Dense 8 + Dense 3
head) with TensorFlow Lite, so TFLite (XNNPACK, from the tensorflow-cpu wheel)
is the peer for edge inference (issue 25, item 4). For each thread count, in
fresh processes alternated (hpcnn-fp32, tflite-fp32, hpcnn-int8, tflite-int8,
then again) for --repeats rounds, this times one forward pass per batch size
(median of --infer-repeats passes after 3 warm-up passes) and prints the
median over rounds, and hpcnn / TFLite per precision.

    tools/bench/peers/edge_infer.py --venv ~/.cache/hpcnn-peers/venv \\
        --fp32 run/model-fp32.h5 --int8 run/model-int8.h5 --data datasets/edge-impulse/parts

hpcnn: `hpcnn infer` on the files `hpcnn quantize` wrote (--precision fp32 and
int8). TFLite: keras.applications.MobileNetV2(alpha=0.35, include_top=False,
weights=None) plus the seed's head, converted with TFLiteConverter: FP32 as
is, int8 by full-integer post-training quantisation calibrated on the same
dataset's training images, with float input and output (as `hpcnn infer`
takes float input: both quantise at the edge). Weights do not change the
timing; equal parameter counts are asserted against `hpcnn summary`.
Results: a markdown table on stdout, and --json FILE with every measurement.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
from peers import parse_infer_table  # noqa: E402  (the same `hpcnn infer` table reader)


def die(msg, code=1):
    print(f"edge_infer.py: {' | '.join(l.strip() for l in str(msg).splitlines() if l.strip())}", file=sys.stderr)
    sys.exit(code)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- worker (in the venv)


def load_images(data_dir, n):
    """The first n training images of an hpcnn dataset as float32 NHWC in [0, 1]."""
    import h5py
    import numpy as np

    manifest = json.load(open(os.path.join(data_dir, "manifest.json")))
    xs, have = [], 0
    for shard in manifest["splits"]["train"]["shards"]:
        with h5py.File(os.path.join(data_dir, shard["file"]), "r") as f:
            xs.append(f["samples"][: n - have])
            have += xs[-1].shape[0]
        if have >= n:
            break
    x = np.concatenate(xs).astype(np.float32)
    if manifest["sample_dtype"] == "uint8":
        x /= 255.0
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def keras_model(classes):
    import keras

    base = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False, weights=None)
    x = keras.layers.Reshape((-1, base.output.shape[3]))(base.output)
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(base.input, out)


def worker_tflite(w):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras_model(w["classes"])
    x = load_images(w["data"], 64)
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if w["precision"] == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([x[i : i + 1]] for i in range(min(32, x.shape[0])))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    blob = conv.convert()
    out = {}
    for b in w["batches"]:
        interp = tf.lite.Interpreter(model_content=blob, num_threads=w["threads"])
        inp = interp.get_input_details()[0]["index"]
        interp.resize_tensor_input(inp, [b, 96, 96, 3])
        interp.allocate_tensors()
        xb = np.resize(x, (b, 96, 96, 3)).astype(np.float32)
        interp.set_tensor(inp, xb)
        for _ in range(3):
            interp.invoke()
        times = []
        for _ in range(w["repeats"]):
            t0 = time.perf_counter()
            interp.invoke()
            times.append((time.perf_counter() - t0) * 1e3)
        out[str(b)] = statistics.median(times)
    return dict(params=int(model.count_params()), ms=out, tflite_bytes=len(blob))


# ---------------------------------------------------------------- driver


def run_hpcnn(args, path, threads):
    cmd = [args.hpcnn, "infer", "-q", "-c", path, "-d", args.data, "--split", "train", "--threads", str(threads),
           "--batch-sizes", ",".join(map(str, args.batches)), "--repeats", str(args.infer_repeats)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    if r.returncode != 0:
        die(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    return parse_infer_table(r.stdout, args.batches)


def run_tflite(args, precision, threads):
    spec = dict(precision=precision, threads=threads, batches=args.batches, repeats=args.infer_repeats,
                data=os.path.abspath(args.data), classes=args.classes)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
               TF_NUM_INTEROP_THREADS="1", TF_CPP_MIN_LOG_LEVEL="3")
    r = subprocess.run([os.path.join(args.venv, "bin", "python"), __file__, "--worker", json.dumps(spec)],
                       capture_output=True, text=True, env=env)
    line = next((l for l in r.stdout.splitlines() if l.startswith("EDGE-RESULT ")), None)
    if r.returncode != 0 or line is None:
        die(f"TFLite {precision} worker failed: {(r.stderr or r.stdout).strip()[-400:]}")
    return json.loads(line[len("EDGE-RESULT "):])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--hpcnn", default=os.environ.get("HPCNN", os.path.join(REPO, "build/release/bin/hpcnn")))
    p.add_argument("--venv", default=os.environ.get("HPCNN_PEERS_VENV",
                                                    os.path.expanduser("~/.cache/hpcnn-peers/venv")))
    p.add_argument("--fp32", help="hpcnn inference file, folded FP32 (hpcnn quantize --precision fp32)")
    p.add_argument("--int8", help="hpcnn inference file, int8 (hpcnn quantize)")
    p.add_argument("--data", help="96x96x3 dataset (the int8 calibration images for TFLite, the input for both)")
    p.add_argument("--classes", type=int, default=3, help="classes of the head [%(default)s]")
    p.add_argument("--threads", default="1,2", help="thread counts [%(default)s]")
    p.add_argument("--batches", default="1,64", help="batch sizes [%(default)s]")
    p.add_argument("--repeats", type=int, default=3, help="alternated rounds of fresh processes [%(default)s]")
    p.add_argument("--infer-repeats", type=int, default=20, help="timed passes per batch size [%(default)s]")
    p.add_argument("--json", help="write every measurement here")
    args = p.parse_args()
    if args.worker:
        print("EDGE-RESULT " + json.dumps(worker_tflite(json.loads(args.worker))))
        return 0
    for name in ("fp32", "int8", "data"):
        if not getattr(args, name):
            die(f"--{name} is required", 2)
    for path in (args.fp32, args.int8, os.path.join(args.data, "manifest.json"), args.hpcnn):
        if not os.path.exists(path):
            die(f"{path}: no such file", 2)
    if not os.path.exists(os.path.join(args.venv, "bin", "python")):
        die(f"no peers venv at {args.venv} (tools/bench/peers/setup.sh makes it)", 2)
    try:
        args.batches = sorted({int(b) for b in args.batches.split(",") if b})
        threads = sorted({int(t) for t in args.threads.split(",") if t})
    except ValueError:
        die("--batches and --threads take comma-separated integers", 2)
    if not args.batches or min(args.batches) < 1 or not threads or min(threads) < 1 or args.repeats < 1:
        die("--batches, --threads and --repeats must be positive", 2)

    cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True)
                .stdout.splitlines() if l.startswith("Model name")), "unknown")
    runs = {}  # (tool, precision, threads) -> list of {batch: ms}
    params = None
    for rep in range(args.repeats):
        for t in threads if rep % 2 == 0 else reversed(threads):
            for prec in ("fp32", "int8") if rep % 2 == 0 else ("int8", "fp32"):
                ms = run_hpcnn(args, args.fp32 if prec == "fp32" else args.int8, t)
                runs.setdefault(("hpcnn", prec, t), []).append(ms)
                r = run_tflite(args, prec, t)
                params = r["params"]
                runs.setdefault(("tflite", prec, t), []).append(r["ms"])
                log(f"round {rep + 1}/{args.repeats}, {t} thread(s), {prec}: hpcnn " +
                    " ".join(f"b{b} {ms[str(b)]:.3f}" for b in args.batches) + " | tflite " +
                    " ".join(f"b{b} {r['ms'][str(b)]:.3f}" for b in args.batches) + " ms")
    summary = subprocess.run([args.hpcnn, "summary", "-q", "--model", f"mobilenetv2:0.35:{args.classes}"],
                             capture_output=True, text=True)
    m = re.search(r"Total params: ([\d,]+)", summary.stdout)
    if not m or int(m.group(1).replace(",", "")) != params:
        die(f"parameter counts differ: hpcnn mobilenetv2:0.35:{args.classes} {m.group(1) if m else '?'}, "
            f"Keras/TFLite {params}")
    med = {k: {str(b): statistics.median(m[str(b)] for m in v) for b in args.batches} for k, v in runs.items()}
    print(f"# MobileNetV2 0.35, 96x96x3, {args.classes} classes: median ms per batch over {args.repeats} alternated "
          f"fresh processes (each the median of {args.infer_repeats} passes after 3 warm-up)")
    print(f"# CPU: {cpu}; TFLite model parameters {params}")
    print("| precision | threads | batch | hpcnn ms | TFLite ms | hpcnn / TFLite speed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for prec in ("fp32", "int8"):
        for t in threads:
            for b in args.batches:
                h, f = med[("hpcnn", prec, t)][str(b)], med[("tflite", prec, t)][str(b)]
                print(f"| {prec} | {t} | {b} | {h:.3f} | {f:.3f} | {f / h:.2f}x |")
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(dict(cpu=cpu, batches=args.batches, threads=threads, repeats=args.repeats,
                           infer_repeats=args.infer_repeats, tflite_params=params,
                           hpcnn_params=params,
                           runs=[dict(tool=k[0], precision=k[1], threads=k[2], ms=v) for k, v in runs.items()],
                           median=[dict(tool=k[0], precision=k[1], threads=k[2], ms=v) for k, v in med.items()]),
                      f, indent=1)
        os.replace(args.json + ".tmp", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
