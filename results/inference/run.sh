#!/usr/bin/env bash
# Seed 004 (thesis) inference study: `hpcnn infer` latency of one batch of
# 2, 64, 512 and 1024 samples for solar-cnn, keras-cnn and three MLPs of the
# thesis family, on 1 and 2 threads. Weights: checkpoints after 20 training
# steps (the values do not change the arithmetic, only the timing matters).
# Each (model, threads) point is measured REPEATS times (default 3),
# alternating models and thread counts between repeats; each measurement is
# itself the median of --repeats 5 timed batches after a warm-up. The table
# quotes the median of the REPEATS medians.
# Writes results/inference/{latency.csv,latency.md,latency.png,cpu.txt,raw/}.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
OUT=results/inference
REPEATS=${REPEATS:-3}
RUNS=results/runs/inference
mkdir -p "$OUT/raw" "$RUNS"
rm -f "$OUT"/raw/*.txt
lscpu | grep "Model name" | tee "$OUT/cpu.txt"

# Data: synthetic solar maps and table (the thesis's shapes), Fashion-MNIST for keras-cnn.
[[ -f datasets/inf-solar-maps/manifest.json ]] ||
  $HPCNN data synth solar-maps -q --train 640 --test 1024 --out datasets/inf-solar-maps > /dev/null
[[ -f datasets/inf-solar-table/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 4000 --test 1024 --out datasets/inf-solar-table > /dev/null
[[ -f datasets/fashion-mnist/manifest.json ]] || $HPCNN data import-idx -q > /dev/null

MODELS=("solar-cnn:inf-solar-maps" "keras-cnn:fashion-mnist" "mlp:50:inf-solar-table"
        "mlp:800-400-208:inf-solar-table" "mlp:3200-1600-832:inf-solar-table")
name_of() { echo "${1%:*}"; }
data_of() { echo "${1##*:}"; }
safe() { echo "$1" | tr ':' '_'; }
for m in "${MODELS[@]}"; do
  model=$(name_of "$m") data=$(data_of "$m")
  [[ -f $RUNS/$(safe "$model")/model.h5 ]] ||
    $HPCNN train -q --force --model "$model" --data "datasets/$data" --batch 32 --max-steps 20 --threads 2 \
      --out "$RUNS/$(safe "$model")" > /dev/null
done

for rep in $(seq 1 "$REPEATS"); do
  # Alternate: odd repeats go models forward with 1 then 2 threads, even ones backward with 2 then 1.
  if (( rep % 2 )); then order=("${MODELS[@]}"); threads=(1 2); else
    order=(); for ((i = ${#MODELS[@]} - 1; i >= 0; i--)); do order+=("${MODELS[$i]}"); done; threads=(2 1); fi
  for m in "${order[@]}"; do
    model=$(name_of "$m") data=$(data_of "$m")
    for t in "${threads[@]}"; do
      f="$OUT/raw/$(safe "$model")-t$t-r$rep.txt"
      $HPCNN infer -q -c "$RUNS/$(safe "$model")/model.h5" --data "datasets/$data" --threads "$t" \
        --batch-sizes 2,64,512,1024 --repeats 5 > "$f"
      echo "repeat $rep: $model, $t thread(s): $(grep -E '^ +1024 ' "$f" | awk '{print $2" ms at 1024"}')"
    done
  done
done
$PY "$OUT/summarise.py" "$OUT"
cat "$OUT/latency.md"
