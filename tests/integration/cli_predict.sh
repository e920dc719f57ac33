#!/usr/bin/env bash
# hpcnn predict end to end on Fashion-MNIST: test images as PNG files reach
# the model exactly as training feeds them (a linear model checked against
# numpy), drawings of them (dark on white, 10x, off-centre, grey or RGB) get
# the answers of the originals, --save-input shows what the model saw, and
# bad files and options are one-line errors.
source "$(dirname "$0")/serve_lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"

train_model run 300
"$HPCNN" train -q --model "flatten dense:10" --data fm --batch 32 --max-steps 100 --threads 1 --out lin > /dev/null
"$PYTHON" - << 'PY'
import os
import numpy as np
from serve_png import drawing, test_samples, write_png
x, y = test_samples("fm", 200)
os.makedirs("raw")
os.makedirs("drawn")
for i in range(200):
    write_png(f"raw/{i:03d}.png", x[i])
for i in range(60):
    write_png(f"drawn/{i:03d}.png", drawing(x[i], left=13 + i, top=7 + i // 2, rgb=i % 2 == 1))
write_png("blank.png", np.full((50, 60), 255, np.uint8))
PY

# --- exactly the training input: a linear model's probabilities from numpy ---------
"$HPCNN" predict -q -c lin/model.h5 --framing none --json raw/*.png > lin.json
"$PYTHON" - << 'PY' && pass || fail "predict --framing none differs from softmax(W x/255 + b) in numpy"
import json, h5py, numpy as np
from serve_png import test_samples
x, _ = test_samples("fm", 200)
p = h5py.File("lin/model.h5", "r")["params"][:]
w, b = p[:7840].reshape(10, 784).astype(np.float64), p[7840:].astype(np.float64)
inputs = x.reshape(200, 784).astype(np.float32) * np.float32(1 / 255)  # the reader's conversion
z = inputs.astype(np.float64) @ w.T + b
want = np.exp(z - z.max(1, keepdims=True))
want /= want.sum(1, keepdims=True)
doc = json.load(open("lin.json"))
assert doc["format"] == "hpcnn-predictions" and doc["framing"] == "none", doc.keys()
# The keys docs/formats.md lists, no more, no fewer.
assert set(doc) == {"format", "version", "model", "dataset", "framing", "class_names", "predictions"}, sorted(doc)
assert set(doc["predictions"][0]) == {"file", "class", "name", "probability", "top", "probabilities",
                                      "inverted"}, sorted(doc["predictions"][0])
got = np.array([q["probabilities"] for q in doc["predictions"]])
assert [q["file"] for q in doc["predictions"]] == [f"raw/{i:03d}.png" for i in range(200)]
err = np.abs(got - want).max()
assert err < 1e-5, err
assert all(not q["inverted"] for q in doc["predictions"])
PY

# --- drawings get the originals' answers (default framing: fill) --------------------
"$HPCNN" predict -q -c run/model.h5 --json raw/0[0-5]?.png > raw.json
"$HPCNN" predict -q -c run/model.h5 --json drawn/*.png > drawn.json
"$PYTHON" - << 'PY' && pass || fail "drawings and originals disagree"
import json
raw = json.load(open("raw.json"))["predictions"]
drawn = json.load(open("drawn.json"))["predictions"]
assert len(raw) == len(drawn) == 60
assert all(d["inverted"] for d in drawn) and not any(r["inverted"] for r in raw)
same = sum(r["class"] == d["class"] for r, d in zip(raw, drawn))
print(f"drawings with the original's class: {same}/60")
assert same >= 57, same
names = json.load(open("raw.json"))["class_names"]
assert names[0] == "T-shirt/top" and names[9] == "Ankle boot", names   # from the checkpoint
assert all(r["name"] == names[r["class"]] and len(r["top"]) == 3 for r in raw)
PY

# --- the table, and --save-input -----------------------------------------------------
"$HPCNN" predict -q -c run/model.h5 raw/000.png drawn/001.png --save-input seen > table.txt
[[ $(head -1 table.txt) =~ ^image\ +class\ +name\ +probability$ ]] && pass || fail "table header: $(cat table.txt)"
grep -qE '^drawn/001.png +[0-9] +[A-Za-z/ -]+ +0\.[0-9]{4}$' table.txt && pass || fail "table row: $(cat table.txt)"
[[ -f seen/000.input.png && -f seen/001.input.png ]] && pass || fail "--save-input wrote $(ls seen)"
# What the model saw, fed back unframed, gives the same probabilities.
"$HPCNN" predict -q -c run/model.h5 --json drawn/001.png > a.json
"$HPCNN" predict -q -c run/model.h5 --json --framing none seen/001.input.png > b.json
"$PYTHON" -c "
import json
a, b = (json.load(open(f))['predictions'][0]['probabilities'] for f in ('a.json', 'b.json'))
assert max(abs(p - q) for p, q in zip(a, b)) < 1e-6, (a, b)" && pass || fail "saved input does not reproduce"

# --- bad files: exit 1 naming the file; bad options: exit 2 ----------------------------
echo "hello" > text.png
head -c 100 raw/000.png > cut.png
expect_exit 1 "missing.png: cannot open" "$HPCNN" predict -q -c run/model.h5 raw/000.png missing.png
expect_exit 1 "text.png: not a PNG image" "$HPCNN" predict -q -c run/model.h5 text.png
expect_exit 1 "cut.png: bad or truncated PNG" "$HPCNN" predict -q -c run/model.h5 cut.png
expect_exit 1 "blank.png: blank image" "$HPCNN" predict -q -c run/model.h5 blank.png
expect_exit 1 "not an hpcnn checkpoint|not a valid HDF5 file" "$HPCNN" predict -q -c fm/manifest.json raw/000.png
"$HPCNN" data synth circuits -q --train 40 --test 8 --out circ > /dev/null
expect_exit 1 "dataset 'circuits' has 4 classes but the model has 10 outputs" \
  "$HPCNN" predict -q -c run/model.h5 --data circ raw/000.png
expect_exit 2 "no IMAGE given" "$HPCNN" predict -q -c run/model.h5
expect_exit 2 "unknown framing 'centre' \(expected one of: fill, mnist, none\)" \
  "$HPCNN" predict -q -c run/model.h5 --framing centre raw/000.png
expect_exit 2 "--top-k must be between 1 and 1000" "$HPCNN" predict -q -c run/model.h5 -k 0 raw/000.png
expect_exit 2 "checkpoint.*required" "$HPCNN" predict -q raw/000.png
for cmd in predict serve; do
  expect_exit 0 "" "$HPCNN" $cmd --help
  grep -q "^Usage: hpcnn $cmd" out.txt && pass || fail "$cmd --help prints no usage line"
done

# --- hostile inputs and outputs (issue 32.5, 32.7, 32.8) ----------------------------
expect_exit 1 "/dev/zero: not a regular file" "$HPCNN" predict -q -c lin/model.h5 /dev/zero
expect_exit 2 "--config /dev/urandom: not a regular file" "$HPCNN" predict -q --config /dev/urandom -c lin/model.h5 raw/000.png
cp fm/manifest.json manifest.before
expect_exit 2 "--predictions fm/manifest.json is inside fm, which this command reads" \
  "$HPCNN" infer -q -c lin/model.h5 --data fm --batch-sizes '' --predictions fm/manifest.json
cmp -s fm/manifest.json manifest.before && pass || fail "infer --predictions overwrote the dataset's manifest"
expect_exit 2 "--predictions lin/model.h5 is also an input" \
  "$HPCNN" infer -q -c lin/model.h5 --data fm --batch-sizes '' --predictions lin/model.h5
expect_exit 2 "--predictions /dev/null: exists and is not a regular file" \
  "$HPCNN" infer -q -c lin/model.h5 --data fm --batch-sizes '' --predictions /dev/null
[[ -c /dev/null ]] && pass || fail "/dev/null is no longer a device"
mkdir -p a b
cp raw/000.png a/x.png
cp raw/001.png b/x.png
"$HPCNN" predict -q -c lin/model.h5 --save-input same a/x.png b/x.png raw/002.png > /dev/null
[[ -f same/x.0.input.png && -f same/x.1.input.png && -f same/002.input.png ]] && pass ||
  fail "--save-input with two x.png kept: $(ls same)"
cmp -s same/x.0.input.png same/x.1.input.png && fail "the two x.png inputs saved the same picture" || pass
finish
