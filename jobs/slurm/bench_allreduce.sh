#!/usr/bin/env bash
#SBATCH --job-name=hpcnn-bench-allreduce
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
#SBATCH --signal=B:USR1@60
#SBATCH --output=hpcnn-%x-%j.out
#
# All-reduce comparison: every algorithm over message sizes on the job's
# ranks (and optionally fewer), then the comparison table and busBw plot.
#
#   sbatch jobs/slurm/bench_allreduce.sh
#   sbatch -N 2 --ntasks-per-node=4 jobs/slurm/bench_allreduce.sh
#
# Environment (defaults in brackets), besides those in jobs/slurm/lib.sh:
#   HPCNN_ALGOS [all]  HPCNN_SIZES [the bench's sweep: 8 B x4 up to 32 MiB]
#   HPCNN_ITERS [10]  HPCNN_WARMUP [3]  HPCNN_BENCH_RANKS [the job's tasks]
#   HPCNN_BENCH_ARGS [extra bench options]
# Writes results/slurm/bench-allreduce-JOBID/: bench-npN.csv and .txt per rank
# count, allreduce.md/.csv/.json, busbw.png, commands.txt, job.log.
set -euo pipefail
source "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/jobs/slurm/lib.sh"
job_init bench-allreduce
csvs=()
for p in ${HPCNN_BENCH_RANKS:-$RANKS}; do
  args=(-q --algo "${HPCNN_ALGOS:-all}" --iters "${HPCNN_ITERS:-10}" --warmup "${HPCNN_WARMUP:-3}"
        --csv "$RESULTS/bench-np$p.csv")
  [[ -z ${HPCNN_SIZES:-} ]] || args+=(--sizes "$HPCNN_SIZES")
  # shellcheck disable=SC2206
  args+=(${HPCNN_BENCH_ARGS:-})
  run_step "${MPIRUN[@]}" -n "$p" "$HPCNN" bench allreduce "${args[@]}" > "$RESULTS/bench-np$p.txt"
  cat "$RESULTS/bench-np$p.txt"
  csvs+=("$RESULTS/bench-np$p.csv")
done
run_step "$MERGE" allreduce -q "${csvs[@]}" --out "$RESULTS"
plot allreduce "$RESULTS/allreduce.csv"
echo "[job] done: $RESULTS"
