#!/usr/bin/env bash
# One environment switch A/B at batch 1 (ab_bands.sh, ab_serial.sh): FP32 and
# int8, HPCNN_THREADS threads (default 2), side A with the switch `VAR=VALUE`,
# side B the default, fresh processes alternated (ab.sh), HPCNN_REPEATS rounds
# (default 7). Reads the inference files run.sh wrote; ~1 min on 2 idle cores.
#
#   bash results/mobilenet-infer/ab_env.sh VAR=VALUE "what B is"
set -euo pipefail
cd "$(dirname "$0")/../.."
switch=${1:?usage: ab_env.sh VAR=VALUE LABEL} label=${2:-default}
HPCNN=${HPCNN:-build/release/bin/hpcnn}
WORK=${HPCNN_WORK:-results/runs/mobilenet-infer}
DATA=${HPCNN_DATA:-datasets/mobilenet-infer}
for precision in fp32 int8; do
  echo "== $precision, ${HPCNN_THREADS:-2} threads, batch 1: A = $switch, B = $label"
  A=$HPCNN B=$HPCNN A_ENV="$switch" \
    bash results/mobilenet-infer/ab.sh "$WORK/model-$precision.h5" "$DATA/parts" 1 "${HPCNN_INFER_REPEATS:-2000}" \
    "${HPCNN_THREADS:-2}" "${HPCNN_REPEATS:-7}"
done
