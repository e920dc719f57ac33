#!/usr/bin/env bash
#SBATCH --job-name=hpcnn-mlp-family
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --output=hpcnn-%x-%j.out
#
# The thesis's MLP family on the solar table: for each width w, one hidden
# layer (w), two (w, w/2) and three (w, w/2, 0.26 w), trained for a fixed
# number of epochs; then training time vs parameter count (one line per
# device kind: run it once on CPUs and once with a GPU backend to see the
# crossover). By default the whole family of the thesis: 10 widths (50, 100,
# 200, ..., 25600) x 3 depths = 30 nets, from mlp:50 (2,601 parameters) to
# mlp:25600-12800-6656 (414 M parameters: ~17 GB of memory on one rank; leave
# it out with HPCNN_MLP_SKIP on a smaller node).
#
#   sbatch jobs/slurm/mlp_family.sh                                    # all 30 nets
#   HPCNN_MLP_SKIP="25600-12800-6656" sbatch jobs/slurm/mlp_family.sh  # 29 nets, ~12 GB at most
#   HPCNN_MLP_WIDTHS="50 100 200 400 800 1600" sbatch jobs/slurm/mlp_family.sh   # 18 small nets
#   HPCNN_TRAIN_ARGS="--backend cuda" sbatch --gpus=1 jobs/slurm/mlp_family.sh     # the GPU series
#
# Environment (defaults in brackets), besides those in jobs/slurm/lib.sh:
#   HPCNN_MLP_WIDTHS ["50 100 200 400 800 1600 3200 6400 12800 25600"]  HPCNN_MLP_DEPTHS ["1 2 3"]
#   HPCNN_MLP_SKIP ["": nets to leave out, by their layers, e.g. "25600-12800-6656 12800"]
#   HPCNN_DATA [datasets/solar-table, generated on first use]  HPCNN_EPOCHS [1]
#   HPCNN_BATCH [100]  HPCNN_MAX_STEPS [0]  HPCNN_TRAIN_ARGS [extra train options, e.g. --backend]
# Writes results/slurm/mlp-family-JOBID/: one run per model (mlp-W1-W2-W3/),
# train_time_vs_params.png/.csv/.md, commands.txt, job.log.
set -euo pipefail
source "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/jobs/slurm/lib.sh"
job_init mlp-family
DATA=${HPCNN_DATA:-$HPCNN_ROOT/datasets/solar-table}
if [[ ! -f $DATA/manifest.json ]]; then
  [[ -z ${HPCNN_DATA:-} ]] || job_die "$DATA: not a dataset (no manifest.json)"
  run_step "$HPCNN" data synth solar-table -q --out "$DATA"
fi
runs=()
skip=" ${HPCNN_MLP_SKIP:-} "
for w in ${HPCNN_MLP_WIDTHS:-50 100 200 400 800 1600 3200 6400 12800 25600}; do
  for depth in ${HPCNN_MLP_DEPTHS:-1 2 3}; do
    case $depth in
      1) layers=$w ;;
      2) layers=$w-$((w / 2)) ;;
      3) layers=$w-$((w / 2))-$(((w * 26 + 50) / 100)) ;;
      *) job_die "HPCNN_MLP_DEPTHS: $depth is not 1, 2 or 3" ;;
    esac
    if [[ $skip == *" $layers "* ]]; then echo "[job] skipping mlp:$layers (HPCNN_MLP_SKIP)"; continue; fi
    # shellcheck disable=SC2206
    run_step "${MPIRUN[@]}" -n "$RANKS" "$HPCNN" train -q --model "mlp:$layers" --data "$DATA" \
      --epochs "${HPCNN_EPOCHS:-1}" --batch "${HPCNN_BATCH:-100}" --threads "$THREADS" \
      --max-steps "${HPCNN_MAX_STEPS:-0}" --out "$RESULTS/mlp-$layers" ${HPCNN_TRAIN_ARGS:-}
    rm -f "$RESULTS/mlp-$layers/model.h5"   # the timing is the result; checkpoints of 30 models are not
    runs+=("$RESULTS/mlp-$layers")
  done
done
plot mlp "${runs[@]}"
echo "[job] done: $RESULTS"
