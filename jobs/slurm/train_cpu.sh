#!/usr/bin/env bash
#SBATCH --job-name=hpcnn-train-cpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=hpcnn-%x-%j.out
#
# Data-parallel training on CPUs: N nodes x M ranks per node, T threads per
# rank (oneDNN), then the timing summary.
#
#   sbatch jobs/slurm/train_cpu.sh                                   # 1 node x 2 ranks x 1 thread
#   sbatch -N 4 --ntasks-per-node=8 --cpus-per-task=4 jobs/slurm/train_cpu.sh
#   HPCNN_MODEL=tiny-cnn HPCNN_EPOCHS=3 sbatch jobs/slurm/train_cpu.sh
#
# Environment (defaults in brackets), besides those in jobs/slurm/lib.sh:
#   HPCNN_MODEL [keras-cnn]      preset or model string
#   HPCNN_DATA  [datasets/fashion-mnist, imported on first use]  on a shared filesystem
#   HPCNN_EPOCHS [1]  HPCNN_BATCH [128, per rank]  HPCNN_GLOBAL_BATCH [unset: batch x ranks]
#   HPCNN_ALLREDUCE [auto]  HPCNN_MAX_STEPS [0: whole epochs]  HPCNN_TRAIN_ARGS [extra train options]
# Writes results/slurm/train-cpu-JOBID/: run/ (run.json, metrics.json, timing/,
# model.h5), run/merged/ (summary.md/.csv/.json, trace.json), commands.txt, job.log.
set -euo pipefail
source "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/jobs/slurm/lib.sh"
job_init train-cpu
ensure_data
train_and_summarise auto
echo "[job] done: $RESULTS"
