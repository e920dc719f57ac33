#!/usr/bin/env bash
# Quiet-machine A/B of the band schedule at batch 1 (src/quant/band_schedule.hpp):
# 2 threads, FP32 and int8, the usual schedule (A: HPCNN_INFER_BANDS=0, one
# oneDNN fork-join per op) against one parallel region with row bands (B: the
# default), fresh processes alternated (ab.sh), 7 rounds. Run after run.sh (it
# reads the inference files run.sh wrote); ~1 min on 2 idle cores. Prints
# each side's median ms per inference and CPU seconds per process. A
# 2-thread figure from a loaded machine measures the load, not the schedule.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
WORK=${HPCNN_WORK:-results/runs/mobilenet-infer}
DATA=${HPCNN_DATA:-datasets/mobilenet-infer}
for precision in fp32 int8; do
  echo "== $precision, ${HPCNN_THREADS:-2} threads, batch 1: A = HPCNN_INFER_BANDS=0, B = default (bands)"
  A=$HPCNN B=$HPCNN A_ENV="HPCNN_INFER_BANDS=0" \
    bash results/mobilenet-infer/ab.sh "$WORK/model-$precision.h5" "$DATA/parts" 1 "${HPCNN_INFER_REPEATS:-2000}" \
    "${HPCNN_THREADS:-2}" "${HPCNN_REPEATS:-7}"
done
