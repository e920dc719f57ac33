#!/usr/bin/env bash
# Seed 004 (thesis) thread sweep, item 4 of issue 15: solar-cnn at a fixed
# global batch of 64 on 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x
# 1 thread (the same 2 cores as 1x2, split into ranks: data parallel with an
# all-reduce of the 17.4 MB of gradients every step). STEPS (default 24)
# training steps of the synthetic sky of results/batch-sweep (2,048 maps);
# REPEATS (default 3) repeats, the three layouts alternated within each repeat
# and their order reversed every other repeat; the table quotes medians of
# hpcnn-merge's samples/s (first step left out) and median step times.
#
#   bash results/threads/run.sh
#   HPCNN=/path/hpcnn HPCNN_MERGE=/path/hpcnn-merge bash results/threads/run.sh
# Writes results/threads/{threads.csv,threads.md,raw/*.json,cpu.txt}.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
MERGE=${HPCNN_MERGE:-build/release/bin/hpcnn-merge}
PY=${PYTHON:-/usr/bin/python3}
OUT=results/threads
RUNS=${RUNS:-results/runs/threads}
REPEATS=${REPEATS:-3} STEPS=${STEPS:-24} GLOBAL_BATCH=${GLOBAL_BATCH:-64}
# shellcheck disable=SC2054  # self,vader is one argument
MPIRUN=(mpirun --allow-run-as-root --bind-to none --mca btl self,vader)
mkdir -p "$OUT/raw" "$RUNS"
rm -f "$OUT"/raw/*.json
lscpu | grep "Model name" | tee "$OUT/cpu.txt"
[[ -f datasets/sweep-solar-maps/manifest.json ]] ||
  $HPCNN data synth solar-maps -q --train 2048 --test 256 --out datasets/sweep-solar-maps > /dev/null
layouts=(1x1 1x2 2x1)
for rep in $(seq 1 "$REPEATS"); do
  order=("${layouts[@]}")
  (( rep % 2 )) || order=(2x1 1x2 1x1)
  for l in "${order[@]}"; do
    ranks=${l%x*} threads=${l#*x}
    dir=$RUNS/$l-r$rep
    OMP_NUM_THREADS=$threads "${MPIRUN[@]}" -n "$ranks" -x OMP_NUM_THREADS "$HPCNN" train -q --force \
      --model solar-cnn --data datasets/sweep-solar-maps --global-batch "$GLOBAL_BATCH" --threads "$threads" \
      --max-steps "$STEPS" --seed 42 --checkpoint-every off --out "$dir" \
      --checkpoint /tmp/hpcnn-threads.h5 > /dev/null
    rm -f /tmp/hpcnn-threads.h5
    $MERGE summary "$dir" > /dev/null
    cp "$dir/merged/summary.json" "$OUT/raw/$l-r$rep.json"
    echo "repeat $rep $l: $($PY -c "import json; print(round(json.load(open('$dir/merged/summary.json'))['samples_per_second'], 1))") samples/s"
  done
done
$PY "$OUT/summarise.py" "$OUT"
cat "$OUT/threads.md"
