#!/usr/bin/env bash
# Reproduces results/study/: the reference scaling study of this machine
# (2 cores, no GPU), made through the Slurm job suite on a local single-node
# Slurm (tools/slurm/start_local_slurm.sh), as root:
#   strong/     keras-cnn, global batch 128, 200 steps, on 1 and 2 ranks x 1 thread
#   allreduce/  every algorithm, 8 B .. 64 MiB, on 2 and 4 ranks (4 oversubscribed)
# Each folder keeps the job's commands.txt and job.log, the Markdown tables,
# the plots and the raw per-rank timing (checkpoints are not kept).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bash tools/slurm/start_local_slurm.sh
export HPCNN_RESULTS=$root/results/study/jobs HPCNN_MPIRUN_FLAGS="--mca btl self,vader --bind-to none --oversubscribe"
strong=$(HPCNN_MODEL=keras-cnn HPCNN_GLOBAL_BATCH=128 HPCNN_MAX_STEPS=200 \
  sbatch --parsable --wait -o /dev/null jobs/slurm/scaling_strong.sh)
bench=$(HPCNN_BENCH_RANKS="2 4" sbatch --parsable --wait -o /dev/null jobs/slurm/bench_allreduce.sh)

keep() {  # keep JOB_DIR DEST: the study's files without checkpoints
  rm -rf "$2"
  mkdir -p "$2"
  (cd "$1" && find . -type f ! -name model.h5 ! -name trace.json -print0 | xargs -0 cp --parents -t "$2")
}
keep "$HPCNN_RESULTS/scaling-strong-$strong" results/study/strong
keep "$HPCNN_RESULTS/bench-allreduce-$bench" results/study/allreduce
rm -rf "$HPCNN_RESULTS"
# Paths inside the copied reports point at the job folders; make them relative.
sed -i "s|$HPCNN_RESULTS/scaling-strong-$strong/||g; s|$HPCNN_RESULTS/bench-allreduce-$bench/||g" \
  results/study/strong/scaling.* results/study/allreduce/allreduce.*
cat results/study/strong/scaling.md results/study/allreduce/allreduce.md
