#!/usr/bin/env bash
# Seed 004's Chrome traces, hpcnn's way (issue 15, item 8): the thesis read
# MatMul times off a TensorFlow trace per device; `hpcnn train --trace` records
# every layer's forward and backward inside each step's phases on every rank,
# and `hpcnn-merge summary` merges the ranks into one trace.json and writes
# layers.md/layers.csv (median ms per layer and rank).
#
#   bash results/traces/run.sh      # ~1 min: keras-cnn and mlp:800-400-208, 2 ranks x 1 thread, 30 steps
# Keeps here: layers.md/csv and summary.md of each run, and keras-cnn's merged
# trace.json (open it in chrome://tracing or https://ui.perfetto.dev).
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
MERGE=${HPCNN_MERGE:-build/release/bin/hpcnn-merge}
OUT=results/traces
RUNS=${HPCNN_RUNS:-results/runs/traces}
MPIRUN=(mpirun --allow-run-as-root --bind-to none --mca btl self,vader --mca mpi_yield_when_idle 1)
lscpu | grep "Model name" | tee "$OUT/cpu.txt"
nproc --all >> "$OUT/cpu.txt"
[[ -f datasets/fashion-mnist/manifest.json ]] || $HPCNN data import-idx -q --out datasets/fashion-mnist > /dev/null
[[ -f datasets/solar-table/manifest.json ]] || $HPCNN data synth solar-table -q --out datasets/solar-table > /dev/null
for spec in "keras-cnn fashion-mnist 128" "mlp:800-400-208 solar-table 1000"; do
  read -r model data batch <<< "$spec"
  name=${model//:/-}
  echo "== $model: 2 ranks x 1 thread, global batch $batch, 30 steps, --trace"
  "${MPIRUN[@]}" -n 2 -x OMP_NUM_THREADS=1 $HPCNN train -q --force --model "$model" --data datasets/$data \
    --global-batch "$batch" --threads 1 --max-steps 30 --checkpoint-every off --trace --out "$RUNS/$name" > /dev/null
  $MERGE summary -q "$RUNS/$name" --warmup 5 -o "$OUT/$name" > /dev/null
  rm -f "$OUT/$name/summary.json" "$OUT/$name/summary.csv"
  [[ $model == keras-cnn ]] || rm -f "$OUT/$name/trace.json"
  cat "$OUT/$name/layers.md"
done
