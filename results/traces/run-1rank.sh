#!/usr/bin/env bash
# Per-layer traces of the three seed models for the simulated scaling
# (issue 29 item 6, tools/sim/scale.sh): ONE process of 1 thread, niced, at
# the per-rank batch of each model's weak scaling (keras-cnn and solar-cnn 64,
# mlp:3200-1600-832 100 as in results/peers), 40 steps, --trace.
# hpcnn-merge summary gives the median per layer over the steps after 5
# warm-up steps (layers.csv), layer_min.py the minimum (layers-min.csv, with
# the optimizer as a last row): the shared machine's load slows steps, and
# the minimum is the closest to an idle core. machine.txt records the load
# (uptime) before and after each run. keras-cnn goes to keras-cnn-1rank/
# (keras-cnn/ is results/traces/run.sh's 2-rank trace).
#
#   bash results/traces/run-1rank.sh        # ~1 min on an idle core
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
MERGE=${HPCNN_MERGE:-build/release/bin/hpcnn-merge}
OUT=results/traces
work=$(mktemp -d /tmp/hpcnn-traces-XXXXXX)
trap 'rm -rf "$work"' EXIT
$HPCNN data import-idx -q --out "$work/fashion-mnist" > /dev/null
$HPCNN data synth solar-maps -q --train 2000 --test 200 --out "$work/solar-maps" > /dev/null
$HPCNN data synth solar-table -q --train 20000 --test 200 --out "$work/solar-table" > /dev/null
for spec in "keras-cnn fashion-mnist 64" "solar-cnn solar-maps 64" "mlp:3200-1600-832 solar-table 100"; do
  read -r model data batch <<< "$spec"
  name=${model//:/-}
  [[ $model == keras-cnn ]] && name=keras-cnn-1rank
  mkdir -p "$OUT/$name"
  echo "== $model: 1 rank x 1 thread, batch $batch, 40 steps, --trace"
  { echo "# $(date -u +%FT%TZ) $(git rev-parse --short HEAD); $(lscpu | sed -n 's/^Model name: *//p'); 1 rank x 1 thread, batch $batch, nice 10"
    echo "# load before: $(uptime)"; } > "$OUT/$name/machine.txt"
  OMP_NUM_THREADS=1 nice -n 10 $HPCNN train -q --force --model "$model" --data "$work/$data" --global-batch "$batch" \
    --threads 1 --max-steps 40 --checkpoint-every off --trace --out "$work/run-$name" > /dev/null
  echo "# load after: $(uptime)" >> "$OUT/$name/machine.txt"
  $MERGE summary -q "$work/run-$name" --warmup 5 -o "$OUT/$name" > /dev/null
  python3 results/traces/layer_min.py "$work/run-$name" --warmup 5 > "$OUT/$name/layers-min.csv"
  rm -f "$OUT/$name/summary.json" "$OUT/$name/summary.csv" "$OUT/$name/trace.json"
  cat "$OUT/$name/machine.txt" "$OUT/$name/layers-min.csv"
done
