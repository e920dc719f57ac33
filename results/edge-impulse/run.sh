#!/usr/bin/env bash
# Seed 003 (Edge Impulse): MobileNetV2 0.35 at 96x96 by transfer learning,
# then int8 post-training quantisation, end to end on this machine:
#
#   data      PNG trees (make_images.py) imported with `hpcnn data import-images`:
#             Fashion-MNIST as 96x96 RGB (pretraining), and a 150-image 3-class
#             set of tinted circuit symbols (120 train / 30 test, as small as the
#             seed's photos) plus 600 more of them for a steadier accuracy
#   pretrain  mobilenetv2:0.35:10:m0.99 on Fashion-MNIST (no ImageNet weights
#             can be downloaded here; batch-norm momentum 0.99 so the running
#             statistics settle within the run)
#   transfer  mobilenetv2:0.35:3 from the pretrained backbone (--init-from,
#             --init-until backbone), the seed's recipe: backbone frozen, head
#             Dense 8 + ReLU, Dropout 0.1, Dense 3, Adam 5e-4; and a second run
#             that fine-tunes every layer, with --augment on
#   quantize  hpcnn quantize to int8 (calibrated on the 120 training images) and
#             to folded FP32 (the like-for-like baseline)
#   report    accuracy of checkpoint / folded FP32 / int8 on the 30 test and 600
#             extra images, weight bytes, latency at batch 1 / 64 / 512
#             (alternated, medians) -> table.md, results.json
#
#   bash results/edge-impulse/run.sh                    # all (~25 min on 2 idle cores)
#   bash results/edge-impulse/run.sh quantize report    # some stages
# Knobs: HPCNN_PRETRAIN_SAMPLES (30000), HPCNN_PRETRAIN_EPOCHS (5),
# HPCNN_TRANSFER_EPOCHS (60), HPCNN_REPEATS (latency repeats per batch size, 20).
# Needs a release build and /usr/bin/python3 with numpy and h5py.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
PY=/usr/bin/python3
OUT=results/edge-impulse
WORK=${HPCNN_WORK:-results/runs/edge-impulse}
DATA=${HPCNN_DATA:-datasets/edge-impulse}
PRE_N=${HPCNN_PRETRAIN_SAMPLES:-30000}
PRE_EPOCHS=${HPCNN_PRETRAIN_EPOCHS:-5}
TL_EPOCHS=${HPCNN_TRANSFER_EPOCHS:-60}
REPEATS=${HPCNN_REPEATS:-20}
THREADS=2
export OMP_NUM_THREADS=$THREADS
stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(data pretrain transfer quantize report)
mkdir -p "$OUT" "$WORK" "$DATA"
{ lscpu | grep -E 'Model name|^Flags' | sed -E 's/^(Flags:).*/\1 (int8: '"$(lscpu | grep -o -E 'avx512_vnni|amx_int8' | sort -u | tr '\n' ' ')"')/'; nproc --all; } | tee "$OUT/cpu.txt"
common=(-q --force --threads $THREADS --checkpoint-every off --seed 42)

stage_data() {
  rm -rf "$WORK/images"
  [[ -f $DATA/circuits/manifest.json ]] ||
    $HPCNN data synth circuits -q --train 2400 --test 4 --seed 11 --out "$DATA/circuits" > /dev/null
  $PY $OUT/make_images.py --out "$WORK/images" --circuits "$DATA/circuits" --fashion-train "$PRE_N" --fashion-test 2000
  $HPCNN data import-images -q --force "$WORK/images/fashion" --out "$DATA/fashion96" > /dev/null
  $HPCNN data import-images -q --force "$WORK/images/parts" --out "$DATA/parts" > /dev/null
  $HPCNN data import-images -q --force "$WORK/images/parts-extra" --out "$DATA/parts-extra" > /dev/null
  $HPCNN data inspect "$DATA/parts" -q | tee "$OUT/parts.txt"
}

stage_pretrain() {
  $HPCNN train "${common[@]}" --data "$DATA/fashion96" --model mobilenetv2:0.35:10:m0.99 --epochs "$PRE_EPOCHS" \
    --batch 32 --lr 1e-3 --out "$WORK/pretrain" 2>&1 | tee "$OUT/pretrain.log"
  cp "$WORK/pretrain/metrics.json" "$OUT/pretrain-metrics.json"
}

stage_transfer() {
  local init=(--init-from "$WORK/pretrain/model.h5" --init-until backbone)
  $HPCNN train "${common[@]}" --data "$DATA/parts" --model mobilenetv2:0.35:3:m0.99 --epochs "$TL_EPOCHS" \
    --batch 32 --lr 5e-4 "${init[@]}" --freeze backbone --out "$WORK/frozen" 2>&1 | tee "$OUT/transfer-frozen.log"
  $HPCNN train "${common[@]}" --data "$DATA/parts" --model mobilenetv2:0.35:3:m0.99 --epochs "$TL_EPOCHS" \
    --batch 32 --lr 5e-4 "${init[@]}" --augment on --out "$WORK/finetune" 2>&1 | tee "$OUT/transfer-finetune.log"
  cp "$WORK/frozen/metrics.json" "$OUT/transfer-frozen-metrics.json"
  cp "$WORK/finetune/metrics.json" "$OUT/transfer-finetune-metrics.json"
}

stage_quantize() {
  : > "$OUT/quantize.log"
  for run in frozen finetune; do
    $HPCNN quantize -q -c "$WORK/$run/model.h5" --calibration "$DATA/parts" --split train \
      --out "$WORK/$run/model-int8.h5" | tee -a "$OUT/quantize.log"
    $HPCNN quantize -q -c "$WORK/$run/model.h5" --precision fp32 --out "$WORK/$run/model-fp32.h5" |
      tee -a "$OUT/quantize.log"
  done
}

stage_report() {
  local raw="$OUT/raw" && rm -rf "$raw" && mkdir -p "$raw"
  for run in frozen finetune; do
    for kind in checkpoint fp32 int8; do
      local file="$WORK/$run/model.h5"
      [[ $kind == checkpoint ]] || file="$WORK/$run/model-$kind.h5"
      for split in test extra; do
        local data="$DATA/parts" s=test
        [[ $split == extra ]] && data="$DATA/parts-extra" s=train
        $HPCNN infer -q -c "$file" --data "$data" --split $s --batch-sizes '' --threads $THREADS \
          > "$raw/$run-$kind-$split.txt"
      done
    done
  done
  # Latency: the three forms of the frozen run alternated, batch 1 / 64 / 512 (the extra set, wrapping).
  for rep in 1 2 3; do
    for kind in checkpoint fp32 int8; do
      local file="$WORK/frozen/model.h5"
      [[ $kind == checkpoint ]] || file="$WORK/frozen/model-$kind.h5"
      $HPCNN infer -q -c "$file" --data "$DATA/parts-extra" --split train --batch-sizes 1,64,512 \
        --repeats "$REPEATS" --threads $THREADS > "$raw/latency-$kind-$rep.txt"
    done
  done
  $HPCNN infer -v -c "$WORK/frozen/model-int8.h5" --data "$DATA/parts" --batch-sizes '' --threads $THREADS 2>&1 |
    grep -E 'conv|dense' | sed 's/^\[hpcnn\] //' > "$OUT/int8-kernels.txt" || true
  $PY $OUT/summarise.py --out "$OUT" --work "$WORK"
}

for s in "${stages[@]}"; do
  echo "== $s" >&2
  "stage_$s"
done
