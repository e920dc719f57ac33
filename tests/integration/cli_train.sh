#!/usr/bin/env bash
# hpcnn train / infer / summary end to end on Fashion-MNIST (short runs):
# learning happens, metrics.json and the checkpoint are written, the same seed
# and threads give bit-identical weights, infer on the checkpoint reproduces
# the training run's test metrics, and bad input is a clear error.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"
# One thread: ctest runs tests side by side, and spinning OpenMP threads
# on oversubscribed cores slow everything down by orders of magnitude.
export OMP_NUM_THREADS=1
"$HPCNN" data import-idx -q --out fm > /dev/null

# --- a short run learns and writes its outputs ----------------------------------
"$HPCNN" train -q --model tiny-cnn --data fm --batch 32 --max-steps 150 --threads 1 --out run1 > out1.txt
grep -q "^result: model tiny-cnn, 1 epoch(s)" out1.txt && pass || fail "result line: $(cat out1.txt)"
[[ -f run1/metrics.json && -f run1/model.h5 ]] && pass || fail "run1 lacks metrics.json or model.h5"
"$PYTHON" - <<'PY' && pass || fail "metrics.json content"
import json
m = json.load(open("run1/metrics.json"))
assert m["format"] == "hpcnn-metrics" and m["params"] == 26594, m
e = m["epochs"][0]
assert e["steps"] == 150 and e["samples"] == 150 * 32, e
assert m["test"]["samples"] == 10000 and m["test"]["accuracy"] > 0.6, m["test"]   # chance is 0.1
assert m["samples_per_second"] > 0
PY

# --- determinism: same seed and threads => identical weights -------------------
"$HPCNN" train -q --model tiny-cnn --data fm --batch 32 --max-steps 60 --threads 1 --seed 7 --out det-a > /dev/null
"$HPCNN" train -q --model tiny-cnn --data fm --batch 32 --max-steps 60 --threads 1 --seed 7 --out det-b > /dev/null
"$HPCNN" train -q --model tiny-cnn --data fm --batch 32 --max-steps 60 --threads 1 --seed 8 --out det-c > /dev/null
"$PYTHON" - <<'PY' && pass || fail "determinism"
import h5py, numpy as np
a, b, c = (h5py.File(f"det-{x}/model.h5", "r")["params"][:] for x in "abc")
assert a.tobytes() == b.tobytes(), "same seed, different weights"
assert not np.array_equal(a, c), "another seed, same weights"
PY
"$HPCNN" train -q --model keras-cnn --data fm --batch 16 --max-steps 8 --threads 1 --seed 3 --out drop-a > /dev/null
"$HPCNN" train -q --model keras-cnn --data fm --batch 16 --max-steps 8 --threads 1 --seed 3 --out drop-b > /dev/null
cmp -s <("$PYTHON" -c "import h5py; print(h5py.File('drop-a/model.h5')['params'][:].tobytes().hex())") \
       <("$PYTHON" -c "import h5py; print(h5py.File('drop-b/model.h5')['params'][:].tobytes().hex())") \
  && pass || fail "keras-cnn (dropout) not deterministic"

# --- checkpoints: h5py-readable, and infer reproduces the test metrics --------
"$PYTHON" - <<'PY' && pass || fail "checkpoint layout"
import h5py, numpy as np
f = h5py.File("run1/model.h5", "r")
assert f.attrs["format"] in (b"hpcnn-checkpoint", "hpcnn-checkpoint")
p = f["params"][:]
assert p.shape == (26594,)
w = f["layers/01_conv/weights"][:]
assert w.shape == (4, 1, 2, 2) and np.array_equal(w.ravel(), p[:16])
assert f["optimizer/a"].shape == (26594,) and f["optimizer/b"].shape == (26594,)
PY
"$HPCNN" infer -q --checkpoint run1/model.h5 --data fm --batch-sizes 2,64 --repeats 2 > infer.txt
"$PYTHON" - <<'PY' && pass || fail "infer does not reproduce the run's test metrics: $(cat infer.txt)"
import json, re
m = json.load(open("run1/metrics.json"))["test"]
text = open("infer.txt").read()
acc = float(re.search(r"accuracy ([0-9.]+)", text).group(1))
loss = float(re.search(r"loss ([0-9.]+)", text).group(1))
assert abs(acc - m["accuracy"]) < 1e-4 and abs(loss - m["loss"]) < 1e-4, (acc, loss, m)
assert re.search(r"^\s+64\s+[0-9.]+", text, re.M), text
PY

# --- summary ---------------------------------------------------------------------
"$HPCNN" summary -q --model keras-cnn > summary.txt
grep -q "Total params: 1,199,882" summary.txt && pass || fail "summary total"

# --- bad input ---------------------------------------------------------------------
expect_exit 1 "unknown layer 'pool:2'" "$HPCNN" train -q --data fm --model "conv:4x3 relu pool:2 flatten dense:10"
expect_exit 1 "kernel larger than its input" "$HPCNN" train -q --data fm --model "conv:4x40 flatten dense:10"
expect_exit 1 "has 10 outputs but dataset 'circuits' needs 4" bash -c \
  "'$HPCNN' data synth circuits -q --train 40 --test 8 --out circ >/dev/null && '$HPCNN' train -q --data circ --model keras-cnn"
expect_exit 1 "expects input \(1, 28, 28\)" "$HPCNN" infer -q --checkpoint run1/model.h5 --data circ
expect_exit 1 "not an hpcnn checkpoint|not a valid HDF5 file" "$HPCNN" infer -q --checkpoint fm/manifest.json --data fm
expect_exit 2 "--batch must be between" "$HPCNN" train -q --data fm --batch 0
expect_exit 2 "unknown optimizer 'adagrad'" "$HPCNN" train -q --data fm --optimizer adagrad
expect_exit 2 "--batch-sizes: bad batch size 'x'" "$HPCNN" infer -q --checkpoint run1/model.h5 --data fm --batch-sizes 2,x
# A NaN in the data: training stops at the step that met it, naming it.
"$PYTHON" - <<'PY'
import h5py, hashlib, json, os, numpy as np
os.makedirs("nan", exist_ok=True)
x = np.random.default_rng(0).random((64, 50, 1, 1), dtype=np.float32)
x[40, 3] = np.nan
y = np.zeros((64, 1), np.float32)
with h5py.File("nan/train-00000-of-00001.h5", "w") as f:
    f.create_dataset("samples", data=x, chunks=(64, 50, 1, 1), fletcher32=True)
    f.create_dataset("targets", data=y, chunks=(64, 1), fletcher32=True)
sha = hashlib.sha256(open("nan/train-00000-of-00001.h5", "rb").read()).hexdigest()
json.dump(dict(format="hpcnn-dataset", version=1, name="nan", task="regression", sample_dtype="float32",
               sample_shape=[50, 1, 1], target_dim=1, generator=None,
               splits=dict(train=dict(num_samples=64, shards=[dict(file="train-00000-of-00001.h5", num_samples=64,
                                                                   first_index=0, sha256=sha)]))),
          open("nan/manifest.json", "w"))
PY
expect_exit 1 "non-finite loss at epoch 1, step [0-9]+" "$HPCNN" train -q --data nan --model mlp:8 --batch 8
finish
