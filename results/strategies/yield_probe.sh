#!/usr/bin/env bash
# Side probe for results/strategies: why were 2 ranks on one node slower than
# 4? Open MPI busy-polls unless it sees more ranks than slots (4 ranks on 2
# cores) or is told mpi_yield_when_idle=1 (as tools/cluster/cluster.sh does).
# Runs the 2-rank `--allreduce mpi` training of run.sh with and without
# `--mca mpi_yield_when_idle 1`, REPEATS (default 3) alternated pairs, and
# prints the slowest rank's median step of each (hpcnn-merge summary).
#
#   bash results/strategies/yield_probe.sh | tee results/strategies/yield-probe.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=$(realpath "${HPCNN:-build/release/bin/hpcnn}")
MERGE=$(realpath "${HPCNN_MERGE:-build/release/bin/hpcnn-merge}")
PY=${PYTHON:-/usr/bin/python3}
RUNS=${RUNS:-results/runs/strategies-yield}
REPEATS=${REPEATS:-3}
[[ -f datasets/fashion-mnist/manifest.json ]] || $HPCNN data import-idx -q > /dev/null
echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# mnist-cnn, global batch 64, 2 ranks x 1 thread, --allreduce mpi, 60 steps; median step of the slowest rank (ms)"
for rep in $(seq 1 "$REPEATS"); do
  modes=(poll yield)
  (( rep % 2 )) || modes=(yield poll)
  for mode in "${modes[@]}"; do
    extra=()
    [[ $mode == poll ]] || extra=(--mca mpi_yield_when_idle 1)
    dir=$RUNS/$mode-r$rep
    # shellcheck disable=SC2054  # self,vader is one argument
    OMP_NUM_THREADS=1 mpirun --allow-run-as-root --bind-to none --mca btl self,vader --oversubscribe "${extra[@]}" -n 2 \
      -x OMP_NUM_THREADS "$HPCNN" train -q --force --model mnist-cnn --data datasets/fashion-mnist \
      --global-batch 64 --threads 1 --max-steps 60 --seed 42 --checkpoint-every off --allreduce mpi \
      --out "$dir" --checkpoint "$dir/model.h5" > /dev/null
    $MERGE summary "$dir" > /dev/null 2>&1
    echo "repeat $rep $mode: $($PY -c "import json; s=json.load(open('$dir/merged/summary.json')); print(round(1000 * s['step_slowest']['median_s'], 1), 'ms, exposed comm share', round(s['exposed_comm_fraction'], 3))")"
  done
done
