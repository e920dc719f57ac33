#!/usr/bin/env bash
# The quick start's main job, on an already built hpcnn: import Fashion-MNIST
# (Debian's dataset-fashion-mnist), verify it, print the model, train keras-cnn
# on all cores, then summarise the run's timing.
#   bash tools/setup/main_job.sh BIN_DIR
# Environment: HPCNN_EPOCHS (1), HPCNN_MAX_STEPS (0: whole epochs),
# HPCNN_MAIN_DATA (datasets/fashion-mnist), HPCNN_MAIN_OUT (results/runs/quickstart-keras-cnn).
set -euo pipefail
bin=${1:?usage: $0 BIN_DIR}
data=${HPCNN_MAIN_DATA:-datasets/fashion-mnist}
out=${HPCNN_MAIN_OUT:-results/runs/quickstart-keras-cnn}
"$bin/hpcnn" info
"$bin/hpcnn" data import-idx -q --out "$data" --force > /dev/null
"$bin/hpcnn" data verify -q "$data"
"$bin/hpcnn" summary -q --model keras-cnn
"$bin/hpcnn" train --model keras-cnn --data "$data" --epochs "${HPCNN_EPOCHS:-1}" --batch 128 \
  --threads "$(nproc)" --max-steps "${HPCNN_MAX_STEPS:-0}" --out "$out" --force  # a new run each time
"$bin/hpcnn-merge" summary -q "$out"
