#!/usr/bin/env bash
#SBATCH --job-name=hpcnn-scaling-strong
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --output=hpcnn-%x-%j.out
#
# Strong scaling: the same global batch on 1, 2, 4, ... ranks (up to the
# job's tasks), then speed-up, efficiency and plots.
#
#   sbatch jobs/slurm/scaling_strong.sh
#   sbatch --ntasks=16 --cpus-per-task=4 jobs/slurm/scaling_strong.sh
#
# Environment (defaults in brackets), besides those in jobs/slurm/lib.sh:
#   HPCNN_MODEL [keras-cnn]  HPCNN_DATA [datasets/fashion-mnist]
#   HPCNN_GLOBAL_BATCH [128]  HPCNN_MAX_STEPS [100 per run]  HPCNN_ALLREDUCE [auto]
#   HPCNN_SCALING_RANKS ["1 2 4 ... ntasks"]  HPCNN_TRAIN_ARGS [extra train options]
# Writes results/slurm/scaling-strong-JOBID/: np1/, np2/, ... (runs, each with
# merged/), scaling.md/.csv/.json, speedup_efficiency.png, phases.png,
# commands.txt, job.log.
set -euo pipefail
source "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/jobs/slurm/lib.sh"
job_init scaling-strong
ensure_data
scaling_sweep strong --global-batch "${HPCNN_GLOBAL_BATCH:-128}"
echo "[job] done: $RESULTS"
