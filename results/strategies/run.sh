#!/usr/bin/env bash
# Seeds 000 and 004, item 7 of issue 15: training with the seeds' central
# strategy (TensorFlow's ReductionToOneDevice: every gradient to one device,
# summed there, sent back) against hpcnn's ring, recursive halving-doubling
# (rhd), MPI_Allreduce (mpi) and auto (the choice hpcnn makes by itself), on 2
# and 4 ranks x 1 thread (4 oversubscribe the 2 cores), same model, seed and
# global batch. Model: mnist-cnn (347,146 parameters, 1.39 MB of gradients per
# step) on Fashion-MNIST at global batch 64: its steps are short (a few ms of
# compute per rank), so the all-reduce is a visible share of the step, as
# with the seeds' small nets; solar-cnn's 17 MB would mostly measure memory
# bandwidth. STEPS (default 60) steps; REPEATS (default 3) repeats with the
# strategies alternated (order reversed every other repeat). Per run:
# hpcnn-merge summary (median step of the slowest rank, communication share
# = all-reduce seconds over step seconds, exposed share = allreduce_wait over
# step) and the per-step losses (metrics.json), compared with mpi's.
# CLUSTER=1 (root) adds the same on the emulated 2-node cluster
# (tools/cluster/cluster.sh: namespaces + veth over a bridge, Open MPI over
# TCP): 1 and 2 ranks per node, CLUSTER_REPEATS (default 1) repeats; the
# cluster is taken down on exit, whatever happens.
#
#   bash results/strategies/run.sh                 # one machine: 2 and 4 ranks
#   CLUSTER=1 bash results/strategies/run.sh       # and the emulated 2-node cluster
#   HPCNN=/path/hpcnn HPCNN_MERGE=/path/hpcnn-merge bash results/strategies/run.sh
# Writes results/strategies/{strategies.csv,strategies.md,losses.png,raw/,cpu.txt}.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
HPCNN=$(realpath "${HPCNN:-build/release/bin/hpcnn}")
MERGE=$(realpath "${HPCNN_MERGE:-build/release/bin/hpcnn-merge}")
PY=${PYTHON:-/usr/bin/python3}
OUT=results/strategies
RUNS=${RUNS:-results/runs/strategies}
REPEATS=${REPEATS:-3} STEPS=${STEPS:-60} GLOBAL_BATCH=${GLOBAL_BATCH:-64}
CLUSTER=${CLUSTER:-0} CLUSTER_REPEATS=${CLUSTER_REPEATS:-1}
ALGOS=(central ring rhd mpi auto)
# shellcheck disable=SC2054  # self,vader is one argument
FLAGS=(--allow-run-as-root --bind-to none --mca btl self,vader --oversubscribe)
mkdir -p "$OUT/raw" "$RUNS"
rm -f "$OUT"/raw/*.json
lscpu | grep "Model name" | tee "$OUT/cpu.txt"
[[ -f datasets/fashion-mnist/manifest.json ]] || $HPCNN data import-idx -q > /dev/null

keep() {  # keep RUN_DIR NAME: merge the run's timing; keep its summary and metrics
  $MERGE summary "$1" > /dev/null
  cp "$1/merged/summary.json" "$OUT/raw/$2.summary.json"
  cp "$1/metrics.json" "$OUT/raw/$2.metrics.json"
  echo "$2: median step $($PY -c "import json; s=json.load(open('$1/merged/summary.json')); print(round(s['step_slowest']['median_s'] * 1000, 2), 'ms, comm share', round(s['comm_fraction'] or 0, 3))")"
}
train_args() {  # train_args ALGO DIR
  echo --model mnist-cnn --data "$root/datasets/fashion-mnist" --global-batch "$GLOBAL_BATCH" --threads 1 \
    --max-steps "$STEPS" --seed 42 --checkpoint-every off --allreduce "$1" --out "$2" --checkpoint "$2/model.h5"
}

for rep in $(seq 1 "$REPEATS"); do
  order=("${ALGOS[@]}")
  (( rep % 2 )) || order=(auto mpi rhd ring central)
  for np in 2 4; do
    for a in "${order[@]}"; do
      dir=$RUNS/np$np-$a-r$rep
      # shellcheck disable=SC2046
      OMP_NUM_THREADS=1 mpirun "${FLAGS[@]}" -n "$np" -x OMP_NUM_THREADS "$HPCNN" train -q --force \
        $(train_args "$a" "$root/$dir") > /dev/null
      rm -f "$dir/model.h5"
      keep "$dir" "np$np-$a-r$rep"
    done
  done
done

if [[ $CLUSTER == 1 ]]; then
  C=$root/tools/cluster/cluster.sh
  export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-strategies
  trap 'bash "$C" down > /dev/null 2>&1 || true' EXIT
  bash "$C" up --nodes 2 > /dev/null
  for rep in $(seq 1 "$CLUSTER_REPEATS"); do
    for rpn in 1 2; do
      np=$((2 * rpn))
      for a in "${ALGOS[@]}"; do
        dir=$RUNS/2n-np$np-$a-r$rep
        # shellcheck disable=SC2046
        timeout 600 bash "$C" run mpirun -x OMP_NUM_THREADS=1 -H "node1:$rpn,node2:$rpn" -np "$np" "$HPCNN" train \
          -q --force $(train_args "$a" "$root/$dir") > /dev/null
        rm -f "$dir/model.h5"
        keep "$dir" "2n-np$np-$a-r$rep"
      done
    done
  done
  bash "$C" down > /dev/null
  trap - EXIT
fi
$PY "$OUT/summarise.py" "$OUT"
cat "$OUT/strategies.md"
