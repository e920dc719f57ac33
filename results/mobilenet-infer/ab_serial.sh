#!/usr/bin/env bash
# Quiet-machine check of the engine's one-thread rule for tiny ops
# (HPCNN_INFER_SERIAL_MACS, kernels/onednn/onednn_inference.cpp): 2 threads,
# batch 1, FP32 and int8, the rule off (A: HPCNN_INFER_SERIAL_MACS=0) against
# on (B: the default), fresh processes alternated, 7 rounds (ab.sh). Run after
# run.sh (it reads the inference files run.sh wrote); ~1 min on 2 idle cores.
# A 2-thread figure from a loaded machine measures the load, not the rule.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
WORK=${HPCNN_WORK:-results/runs/mobilenet-infer}
DATA=${HPCNN_DATA:-datasets/mobilenet-infer}
for precision in fp32 int8; do
  echo "== $precision, 2 threads, batch 1: A = HPCNN_INFER_SERIAL_MACS=0, B = default"
  A=$HPCNN B=$HPCNN A_ENV="HPCNN_INFER_SERIAL_MACS=0" \
    bash results/mobilenet-infer/ab.sh "$WORK/model-$precision.h5" "$DATA/parts" 1 "${HPCNN_INFER_REPEATS:-2000}" 2 "${HPCNN_REPEATS:-7}"
done
