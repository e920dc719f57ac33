#!/usr/bin/env bash
#SBATCH --job-name=hpcnn-scaling-weak
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --output=hpcnn-%x-%j.out
#
# Weak scaling: the same per-rank batch on 1, 2, 4, ... ranks (up to the
# job's tasks), then scaled speed-up, efficiency and plots.
#
#   sbatch jobs/slurm/scaling_weak.sh
#   sbatch -N 4 --ntasks-per-node=8 jobs/slurm/scaling_weak.sh
#
# Environment (defaults in brackets), besides those in jobs/slurm/lib.sh:
#   HPCNN_MODEL [keras-cnn]  HPCNN_DATA [datasets/fashion-mnist]
#   HPCNN_BATCH [64 per rank]  HPCNN_MAX_STEPS [100 per run]  HPCNN_ALLREDUCE [auto]
#   HPCNN_SCALING_RANKS ["1 2 4 ... ntasks"]  HPCNN_TRAIN_ARGS [extra train options]
# Writes results/slurm/scaling-weak-JOBID/ like scaling_strong.sh.
set -euo pipefail
source "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/jobs/slurm/lib.sh"
job_init scaling-weak
ensure_data
scaling_sweep weak --batch "${HPCNN_BATCH:-64}"
echo "[job] done: $RESULTS"
