#!/usr/bin/env bash
# Reproduces results/canvas/: the model behind the README's "Try the model in
# a browser", and what it does with drawings. Builds nothing: build first
# (cmake --preset release && cmake --build --preset release). Steps:
#   1. Fashion-MNIST (Debian's dataset-fashion-mnist) -> datasets/fashion-mnist
#   2. keras-cnn, 3 epochs, batch 128, Adam 1e-3, seed 42, all cores ->
#      results/runs/canvas/model.h5, the checkpoint the README serves
#      (git-ignored: 19 MB; this folder keeps its metrics.json and log.txt)
#   3. drawings.json: the first 1,000 test images through `hpcnn predict` as
#      they are (--framing none: must match `hpcnn infer`) and redrawn the way
#      a person draws (dark on white, 10x larger, off-centre; default framing)
#   4. screenshot.png, page.json: the page in headless Chromium, trousers drawn
#      with filled legs (tests/integration/serve_browser.py)
#   5. latency.json: 1,000 requests from 8 clients (tests/integration/serve_load.py)
#
#   bash results/canvas/run.sh              # everything (~5 min on 2 cores)
#   HPCNN_CANVAS_EPOCHS=1 bash results/canvas/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
hpcnn=$root/build/release/bin/hpcnn
python=${PYTHON:-/usr/bin/python3}
here=results/canvas
run=results/runs/canvas  # relative: the logs and metrics kept here name no machine's paths
tests=$root/tests/integration
epochs=${HPCNN_CANVAS_EPOCHS:-3}
server_pid=""
scratch=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-canvas-XXXXXX")
cleanup() {
  [[ -z $server_pid ]] || kill "$server_pid" 2> /dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# 1-2. Data and model.
[[ -f datasets/fashion-mnist/manifest.json ]] || "$hpcnn" data import-idx -q > /dev/null
rm -rf "$run"
"$hpcnn" train --model keras-cnn --epochs "$epochs" --batch 128 --seed 42 --data datasets/fashion-mnist \
  --out "$run" 2>&1 | grep -v '^\[hpcnn[^]]*\] epoch [0-9]*/[0-9]* step' | tee "$here/log.txt"
cp "$run/metrics.json" "$here/metrics.json"

# 3. Test images as files, as they are and as drawings.
"$hpcnn" infer -q --checkpoint "$run/model.h5" --batch-sizes 1 --repeats 3 > "$scratch/infer.txt"
PYTHONPATH=$tests "$python" - "$scratch" << 'PY'
import os, sys
import numpy as np
from serve_png import drawing, test_samples, write_png
out = sys.argv[1]
x, y = test_samples("datasets/fashion-mnist", 1000)
os.makedirs(f"{out}/raw")
os.makedirs(f"{out}/drawn")
rng = np.random.default_rng(0)
for i in range(1000):
    write_png(f"{out}/raw/{i:04d}.png", x[i])
    write_png(f"{out}/drawn/{i:04d}.png", drawing(x[i], left=int(rng.integers(0, 120)), top=int(rng.integers(0, 80))))
np.save(f"{out}/labels.npy", y)
PY
"$hpcnn" predict -q -c "$run/model.h5" --framing none --json "$scratch"/raw/*.png > "$scratch/raw.json"
"$hpcnn" predict -q -c "$run/model.h5" --json "$scratch"/drawn/*.png > "$scratch/drawn.json"
"$python" - "$scratch" "$here/drawings.json" << 'PY'
import json, re, sys
import numpy as np
scratch, dest = sys.argv[1:]
y = np.load(f"{scratch}/labels.npy")
raw = [p["class"] for p in json.load(open(f"{scratch}/raw.json"))["predictions"]]
drawn = [p["class"] for p in json.load(open(f"{scratch}/drawn.json"))["predictions"]]
infer = open(f"{scratch}/infer.txt").read()
result = {
    "images": len(y),
    "accuracy_as_stored": float(np.mean(np.array(raw) == y)),
    "accuracy_as_drawings": float(np.mean(np.array(drawn) == y)),
    "drawing_answer_equals_stored_answer": float(np.mean(np.array(raw) == np.array(drawn))),
    "infer_accuracy_whole_test_split": float(re.search(r"accuracy ([0-9.]+)", infer).group(1)),
    "drawings": "dark on white, 10x larger (nearest), at a random offset on a 400x360 page; default framing (fill)",
}
json.dump(result, open(dest, "w"), indent=2)
print(json.dumps(result, indent=2))
PY

# 4-5. The page in a browser, and load.
"$hpcnn" serve -q --checkpoint "$run/model.h5" --port 0 > "$scratch/serve.out" 2> "$scratch/serve.err" &
server_pid=$!
for _ in $(seq 200); do
  url=$(sed -n 's/^listening on //p' "$scratch/serve.out")
  [[ -n $url ]] && break
  sleep 0.1
done
[[ -n $url ]] || { echo "hpcnn serve did not start: $(cat "$scratch/serve.err")" >&2; exit 1; }
timeout 120 "$python" "$tests/serve_browser.py" "$url" "$scratch/browser" --shape trousers
cp "$scratch/browser/screenshot.png" "$scratch/browser/page.json" "$here/"
PYTHONPATH=$tests "$python" -c "
from serve_png import drawing, test_samples, write_png
x, _ = test_samples('datasets/fashion-mnist', 1)
write_png('$scratch/canvas.png', drawing(x[0], scale=8, left=28, top=28, width=280, height=280))"
timeout 180 "$python" "$tests/serve_load.py" "$url" "$scratch/canvas.png" "$here/latency.json"
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "results in $here; the checkpoint: $run/model.h5"
