#!/usr/bin/env bash
# Seed 004 (thesis) batch-size sweeps, item 4 of issue 15: solar-cnn at batch
# 2, 8, 32, 128, 512 and 1024, and a representative subset of the MLP family
# (widths 50, 400 and 3200, one per width decade, at depths 1, 2 and 3: nine
# nets) at batch 100, 500 and 1000. Same number of epochs for every batch
# size, as in the thesis, so a larger batch means fewer (and longer) steps.
# Reduced to fit 2 shared cores (~12 min of training): solar-cnn on a
# 2,048-map synthetic sky (256 test maps), 1 epoch (CNN_EPOCHS; batch 2 is
# 1,024 steps of ~0.2 s); the MLPs on a 10,000-row synthetic solar table
# (2,000 test rows), 2 epochs (MLP_EPOCHS). solar-cnn: one run per point
# (the thesis timed one run per point too); the MLPs, whose steps are short
# enough for the other users of the shared cores to distort them: MLP_REPEATS
# (default 3) repeats, nets and batch sizes in reversed order every other
# repeat, medians in the table. 1 rank x 2 threads throughout.
# Records time per epoch, median time per step (timing/rank-00000.csv, first
# step left out: it builds the oneDNN primitives), and the final train and
# test loss (MSE: both are regressions, there is no accuracy).
#
#   bash results/batch-sweep/run.sh
#   HPCNN=/path/hpcnn bash results/batch-sweep/run.sh     # another build
# Runs already finished (metrics.json present) are kept: an interrupted sweep continues.
# Writes results/batch-sweep/{sweep.csv,sweep.md,time_vs_batch.png,loss_vs_batch.png,cpu.txt}.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
PY=${PYTHON:-/usr/bin/python3}
OUT=results/batch-sweep
RUNS=${RUNS:-results/runs/batch-sweep}
CNN_EPOCHS=${CNN_EPOCHS:-1} MLP_EPOCHS=${MLP_EPOCHS:-2}
CNN_BATCHES=${CNN_BATCHES:-"2 8 32 128 512 1024"}
MLP_BATCHES=${MLP_BATCHES:-"100 500 1000"}
MLP_WIDTHS=${MLP_WIDTHS:-"50 400 3200"} MLP_REPEATS=${MLP_REPEATS:-3}
mkdir -p "$OUT" "$RUNS"
lscpu | grep "Model name" | tee "$OUT/cpu.txt"
[[ -f datasets/sweep-solar-maps/manifest.json ]] ||
  $HPCNN data synth solar-maps -q --train 2048 --test 256 --out datasets/sweep-solar-maps > /dev/null
[[ -f datasets/sweep-solar-table/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 10000 --test 2000 --out datasets/sweep-solar-table > /dev/null

train() {  # train MODEL DATA BATCH EPOCHS DIR
  [[ ! -f $5/metrics.json ]] || return 0
  $HPCNN train -q --force --model "$1" --data "$2" --epochs "$4" --batch "$3" --threads 2 \
    --seed 42 --checkpoint-every off --out "$5" --checkpoint /tmp/hpcnn-batch-sweep.h5 > /dev/null
  rm -f /tmp/hpcnn-batch-sweep.h5
  echo "$1 batch $3: $($PY -c "import json; print(round(json.load(open('$5/metrics.json'))['train_seconds'], 2))") s training"
}
for b in $CNN_BATCHES; do train solar-cnn datasets/sweep-solar-maps "$b" "$CNN_EPOCHS" "$RUNS/solar-cnn-b$b"; done
mlps=()
for w in $MLP_WIDTHS; do
  for m in "$w" "$w-$((w / 2))" "$w-$((w / 2))-$(((w * 26 + 50) / 100))"; do
    for b in $MLP_BATCHES; do mlps+=("$m:$b"); done
  done
done
for rep in $(seq 1 "$MLP_REPEATS"); do
  order=("${mlps[@]}")
  if (( rep % 2 == 0 )); then order=(); for ((i = ${#mlps[@]} - 1; i >= 0; i--)); do order+=("${mlps[$i]}"); done; fi
  for mb in "${order[@]}"; do
    m=${mb%:*} b=${mb#*:}
    train "mlp:$m" datasets/sweep-solar-table "$b" "$MLP_EPOCHS" "$RUNS/mlp-$m-b$b-r$rep"
  done
done
$PY "$OUT/summarise.py" "$RUNS" "$OUT"
cat "$OUT/sweep.md"
