#!/usr/bin/env bash
#SBATCH --job-name=hpcnn-train-8gpu
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=hpcnn-%x-%j.out
#
# Data-parallel training on one node with 8 GPUs: one rank per GPU, gradients
# over NCCL when the build has it, then the timing summary.
#
#   sbatch -p PARTITION jobs/slurm/train_8gpu.sh
#   sbatch --test-only -p PARTITION jobs/slurm/train_8gpu.sh      # check the request only
#
# Environment (defaults in brackets), besides those in jobs/slurm/lib.sh:
#   HPCNN_MODEL [keras-cnn]  HPCNN_DATA [datasets/fashion-mnist]  HPCNN_EPOCHS [1]
#   HPCNN_BATCH [128, per GPU]  HPCNN_GLOBAL_BATCH [unset]  HPCNN_ALLREDUCE [nccl when built, else auto]
#   HPCNN_MAX_STEPS [0]  HPCNN_TRAIN_ARGS [extra train options]
# Writes results/slurm/train-8gpu-JOBID/ like train_cpu.sh.
#
# The job checks before it starts that this hpcnn build trains on GPUs
# (`hpcnn train --backend cuda`) and that GPUs are visible, and stops with a
# one-line reason otherwise rather than silently training on CPUs.
set -euo pipefail
source "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/jobs/slurm/lib.sh"
job_init train-8gpu
"$HPCNN" train --help | grep -q -- "--backend.*cuda" ||
  job_die "this hpcnn build has no GPU training backend (hpcnn train --backend offers: $("$HPCNN" train --help | sed -nE 's/.*--backend arg \(=[a-z]+\) *//p'))"
gpus=$("$HPCNN" info | sed -nE 's/^GPUs +([0-9]+).*/\1/p')
[[ ${gpus:-0} -ge 1 ]] || job_die "no GPU visible to hpcnn (hpcnn info: $("$HPCNN" info | grep '^GPUs'))"
ensure_data
# NCCL when this build's all-reduce offers it, else the automatic choice.
algo=auto
"$HPCNN" train --help | grep -A1 -- "--allreduce" | grep -q nccl && algo=nccl
# One rank per GPU. --map-by is mpirun's; srun rejects it (issue 33.8) and
# places --ntasks-per-node ranks itself.
[[ ${HPCNN_LAUNCHER:-mpirun} == mpirun ]] && MPIRUN+=(--map-by "ppr:${SLURM_NTASKS_PER_NODE:-8}:node")
train_and_summarise "$algo" --backend cuda
echo "[job] done: $RESULTS"
