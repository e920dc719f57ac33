#!/usr/bin/env bash
# MobileNetV2 0.35 inference at 96x96x3 (the Edge Impulse seed's network):
# hpcnn's folded FP32 and int8 engines against TensorFlow Lite (XNNPACK) FP32
# and int8, batch 1 and 64, 1 and 2 threads, fresh processes alternated
# (tools/bench/peers/edge_infer.py). Issue 25, item 4.
#
#   bash results/mobilenet-infer/run.sh          # ~10 min on 2 idle cores
# Knobs: HPCNN_REPEATS (alternated rounds, 3), HPCNN_INFER_REPEATS (passes, 20).
# Needs a release build, the peers venv (tools/bench/peers/setup.sh) and
# Debian's dataset-fashion-mnist (make_images.py reads it).
# Writes results/mobilenet-infer/{table.md,results.json,cpu.txt}.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
VENV=${HPCNN_PEERS_VENV:-$HOME/.cache/hpcnn-peers/venv}
OUT=results/mobilenet-infer
WORK=${HPCNN_WORK:-results/runs/mobilenet-infer}
DATA=${HPCNN_DATA:-datasets/mobilenet-infer}
mkdir -p "$OUT" "$WORK" "$DATA"
{ lscpu | grep -E 'Model name'; lscpu | grep -o -E 'avx512_vnni|avx512_bf16|amx_int8' | sort -u | tr '\n' ' '; echo; } |
  tee "$OUT/cpu.txt"
# Data: the seed's tinted circuit symbols as 96x96 RGB PNGs (results/edge-impulse/make_images.py).
if [[ ! -f $DATA/parts/manifest.json ]]; then
  $HPCNN data synth circuits -q --train 1200 --test 4 --seed 11 --out "$DATA/circuits" > /dev/null
  rm -rf "$WORK/images"
  /usr/bin/python3 results/edge-impulse/make_images.py --out "$WORK/images" --circuits "$DATA/circuits" \
    --fashion-train 10 --fashion-test 10 > /dev/null
  $HPCNN data import-images -q --force "$WORK/images/parts" --out "$DATA/parts" > /dev/null
fi
# Weights do not change the timing: a few training steps give a checkpoint to fold and quantise.
$HPCNN train -q --force --model mobilenetv2:0.35:3 --data "$DATA/parts" --batch 16 --max-steps 4 --threads 2 \
  --checkpoint-every off --out "$WORK/run" > /dev/null
$HPCNN quantize -q -c "$WORK/run/model.h5" --precision fp32 --out "$WORK/model-fp32.h5" > /dev/null
$HPCNN quantize -q -c "$WORK/run/model.h5" --calibration "$DATA/parts" --out "$WORK/model-int8.h5" > /dev/null
$HPCNN infer -v -c "$WORK/model-int8.h5" --data "$DATA/parts" --split test --batch-sizes '' 2>&1 |
  grep -i -E 'kernel|isa|int8' | head -20 > "$OUT/int8-kernels.txt" || true
"$VENV/bin/python" tools/bench/peers/edge_infer.py --venv "$VENV" --hpcnn "$HPCNN" \
  --fp32 "$WORK/model-fp32.h5" --int8 "$WORK/model-int8.h5" --data "$DATA/parts" \
  --repeats "${HPCNN_REPEATS:-3}" --infer-repeats "${HPCNN_INFER_REPEATS:-20}" --json "$OUT/results.json" |
  tee "$OUT/table.md"
