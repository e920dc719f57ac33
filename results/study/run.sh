#!/usr/bin/env bash
# Reproduces results/study/: the reference study of this machine (2 cores,
# no GPU), made through the Slurm job suite on a local single-node Slurm
# (tools/slurm/start_local_slurm.sh), as root:
#   strong/      keras-cnn, global batch 128, 200 steps, on 1 and 2 ranks x 1 thread
#   allreduce/   every algorithm, 8 B .. 32 MiB, on 2 and 4 ranks (4 oversubscribed)
#   mlp-family/  MLPs of widths 50 .. 3200 and 1-3 hidden layers, 1 epoch of the
#                synthetic solar table at batch 100, 1 rank x 2 threads (the CPU
#                series of the thesis's CPU-vs-GPU plot)
# Each folder keeps the job's commands.txt and job.log, the Markdown tables,
# the plots and the raw run files (checkpoints and merged traces are not kept,
# nor the MLP runs' per-step timing).
#
#   bash results/study/run.sh                    # all three
#   bash results/study/run.sh strong allreduce   # some
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(strong allreduce mlp-family)
bash tools/slurm/start_local_slurm.sh
export HPCNN_RESULTS=$root/results/study/jobs HPCNN_MPIRUN_FLAGS="--mca btl self,vader --bind-to none --oversubscribe"

keep() {  # keep JOB_DIR DEST: the study's files without checkpoints and traces
  local dest=$root/$2
  rm -rf "$dest"
  mkdir -p "$dest"
  (cd "$1" && find . -type f ! -name model.h5 ! -name trace.json -print0 | xargs -0 cp --parents -t "$dest")
  # Paths inside the reports point at the job folder; make them relative.
  find "$dest" -maxdepth 1 -type f \( -name '*.md' -o -name '*.csv' -o -name '*.json' \) -exec sed -i "s|$1/||g" {} +
}
for part in "${parts[@]}"; do
  case $part in
    strong)
      id=$(HPCNN_MODEL=keras-cnn HPCNN_GLOBAL_BATCH=128 HPCNN_MAX_STEPS=200 \
        sbatch --parsable --wait -o /dev/null jobs/slurm/scaling_strong.sh)
      keep "$HPCNN_RESULTS/scaling-strong-$id" results/study/strong ;;
    allreduce)
      id=$(HPCNN_BENCH_RANKS="2 4" sbatch --parsable --wait -o /dev/null jobs/slurm/bench_allreduce.sh)
      keep "$HPCNN_RESULTS/bench-allreduce-$id" results/study/allreduce ;;
    mlp-family)
      [[ -f datasets/solar-table/manifest.json ]] || build/release/bin/hpcnn data synth solar-table -q > /dev/null
      id=$(HPCNN_MLP_WIDTHS="50 100 200 400 800 1600 3200" HPCNN_DATA=$root/datasets/solar-table \
        sbatch --parsable --wait -o /dev/null jobs/slurm/mlp_family.sh)
      keep "$HPCNN_RESULTS/mlp-family-$id" results/study/mlp-family
      rm -rf results/study/mlp-family/mlp-*/timing ;;   # 21 x 1000 steps: metrics.json is the result
    *) echo "unknown part '$part' (strong, allreduce, mlp-family)" >&2; exit 2 ;;
  esac
done
rm -rf "$HPCNN_RESULTS"
for f in strong/scaling.md allreduce/allreduce.md mlp-family/train_time_vs_params.md; do
  [[ -f results/study/$f ]] && cat "results/study/$f"
done
