#!/usr/bin/env bash
# hpcnn infer --predictions FILE (one CSV row per sample: docs/formats.md,
# "Predictions CSV") for a classification and a regression dataset, checked
# with NumPy/h5py against the dataset and the printed metrics; and
# tools/plot/hpcnn_plot.py curves (loss and accuracy per epoch) on the runs.
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with numpy and h5py}"
: "${SOURCE_DIR:?set SOURCE_DIR to the source tree}"
PLOT="$SOURCE_DIR/tools/plot/hpcnn_plot.py"

# A tiny 3-class image set: the class is which third of the picture is bright.
"$PYTHON" - <<'PY'
import numpy as np
rng = np.random.default_rng(5)
y = rng.integers(0, 3, size=300)
x = rng.integers(0, 60, size=(300, 6, 6))
for i, c in enumerate(y):
    x[i, :, 2 * c:2 * c + 2] += 180
np.savez("three.npz", x=x.astype(np.uint8), y=y.astype(np.uint8))
PY
expect_exit 0 "" "$HPCNN" data import-npz three.npz --test-fraction 0.2 --validation-fraction 0.1 -o ds-three -q
expect_exit 0 "" "$HPCNN" train -q --model 'flatten dense:16 relu dense:3' --data ds-three --epochs 3 --batch 16 \
  --threads 1 --out run-three
expect_exit 0 "" "$HPCNN" infer -q -c run-three/model.h5 --data ds-three --predictions pred.csv --batch-sizes 2 --repeats 2
cp out.txt infer-three.txt
grep -q "predictions: pred.csv (60 rows)" infer-three.txt && pass || fail "no predictions line: $(cat infer-three.txt)"
grep -q "median ms" infer-three.txt && pass || fail "--predictions dropped the timing table"
"$PYTHON" - <<'PY' && pass || fail "classification predictions CSV"
import csv, re
import h5py, numpy as np
rows = list(csv.reader(open("pred.csv")))
assert rows[0] == ["index", "label", "predicted", "p_0", "p_1", "p_2"], rows[0]
d = np.array(rows[1:], dtype=float)
assert d.shape == (60, 6), d.shape
assert (d[:, 0] == np.arange(60)).all()
with h5py.File("ds-three/test-00000-of-00001.h5", "r") as f:
    labels = f["labels"][...]
assert (d[:, 1] == labels).all(), "labels differ from the dataset's"
p = d[:, 3:]
assert np.allclose(p.sum(axis=1), 1, atol=1e-4) and (p >= 0).all()
assert (d[:, 2] == p.argmax(axis=1)).all(), "predicted is not the most probable class"
printed = float(re.search(r"accuracy ([0-9.]+)", open("infer-three.txt").read()).group(1))
assert abs((d[:, 1] == d[:, 2]).mean() - printed) < 1e-4, (printed, (d[:, 1] == d[:, 2]).mean())
# cross-entropy from the probabilities = the printed loss
loss = float(re.search(r"loss ([0-9.]+)", open("infer-three.txt").read()).group(1))
ce = -np.log(np.maximum(p[np.arange(60), d[:, 1].astype(int)], 1e-30)).mean()
assert abs(ce - loss) < 2e-3, (ce, loss)
PY
# The validation split, and only the CSV when --batch-sizes is empty.
expect_exit 0 "" "$HPCNN" infer -q -c run-three/model.h5 --data ds-three --split validation --predictions val.csv --batch-sizes ''
grep -q "median ms" out.txt && fail "--batch-sizes '' still timed" || pass
[[ $(wc -l < val.csv) -eq 25 ]] && pass || fail "validation CSV has $(wc -l < val.csv) lines, wanted 25"

# Regression: solar-table (50 sensors -> one sensor 10 s ahead).
expect_exit 0 "" "$HPCNN" data synth solar-table --train 400 --validation 100 --test 50 -o ds-table -q
expect_exit 0 "" "$HPCNN" train -q --model mlp:16 --data ds-table --epochs 2 --batch 50 --threads 1 --out run-table
expect_exit 0 "" "$HPCNN" infer -q -c run-table/model.h5 --data ds-table --predictions reg.csv --batch-sizes ''
cp out.txt infer-table.txt
"$PYTHON" - <<'PY' && pass || fail "regression predictions CSV"
import csv, re
import h5py, numpy as np
rows = list(csv.reader(open("reg.csv")))
assert rows[0] == ["index", "target", "predicted"], rows[0]
d = np.array(rows[1:], dtype=float)
assert d.shape == (50, 3)
with h5py.File("ds-table/test-00000-of-00001.h5", "r") as f:
    t = f["targets"][...].reshape(-1)
assert np.allclose(d[:, 1], t, rtol=1e-6), "targets differ from the dataset's"
loss = float(re.search(r"loss ([0-9.]+)", open("infer-table.txt").read()).group(1))
mse = ((d[:, 1] - d[:, 2]) ** 2).mean()
assert abs(mse - loss) <= 1e-4 * max(1.0, loss) + 1e-4, (mse, loss)  # infer prints the mean squared error
PY

# Errors: exit 1 naming the file, nothing left behind.
expect_exit 1 "no-such-dir/p.csv" "$HPCNN" infer -q -c run-three/model.h5 --data ds-three --predictions no-such-dir/p.csv --batch-sizes ''
[[ ! -e no-such-dir ]] && pass || fail "a failed --predictions left no-such-dir/"

# Learning curves: a PNG from a run directory and from a metrics.json path.
"$PYTHON" "$PLOT" curves run-three run-table/metrics.json --out plots --title "curves test" 2> plot.err \
  && pass || fail "plot curves: $(cat plot.err)"
head -c 8 plots/learning_curves.png | od -An -c | grep -q "P   N   G" && pass || fail "learning_curves.png is not a PNG"
"$PYTHON" "$PLOT" curves run-three --out plots --name one.png --labels three 2> plot.err && [[ -s plots/one.png ]] \
  && pass || fail "plot curves --name: $(cat plot.err)"
expect_exit 1 "not a hpcnn-metrics file" "$PYTHON" "$PLOT" curves ds-three/manifest.json --out plots
expect_exit 1 "--labels names 2 runs but 1 were given" "$PYTHON" "$PLOT" curves run-three --labels a,b --out plots

finish
