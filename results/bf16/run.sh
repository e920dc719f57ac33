#!/usr/bin/env bash
# Reproduces results/bf16/: keras-cnn on Fashion-MNIST, 10 epochs, batch 128,
# 2 threads, once in FP32 and once with --precision bf16 (needs a CPU with
# AVX512-BF16 or AMX; hpcnn refuses elsewhere), then the step time of both
# side by side with `hpcnn bench layers`, alternated, 1 and 2 threads.
# HPCNN: the hpcnn binary [build/release/bin/hpcnn]; DATA: an imported
# Fashion-MNIST [datasets/fashion-mnist, made by `hpcnn data import-idx`].
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN="${HPCNN:-build/release/bin/hpcnn}"
DATA="${DATA:-datasets/fashion-mnist}"
out=results/bf16
[[ -f $DATA/manifest.json ]] || "$HPCNN" data import-idx --out "$DATA"
lscpu | grep 'Model name' | tee $out/cpu.txt
for p in fp32 bf16; do
  OMP_NUM_THREADS=2 "$HPCNN" train --data "$DATA" --model keras-cnn --epochs 10 --batch 128 --threads 2 \
    --precision $p --out /tmp/hpcnn-bf16-$p --force 2>&1 | tee $out/train-$p.log
  cp /tmp/hpcnn-bf16-$p/metrics.json $out/metrics-$p.json
done
: > $out/bench.txt
for t in 1 2; do
  for rep in 1 2 3; do
    for p in fp32 bf16; do
      echo "threads $t precision $p: $(OMP_NUM_THREADS=$t "$HPCNN" bench layers --model keras-cnn --batch 128 \
        --threads $t --steps 10 --precision $p -q | head -1)" | tee -a $out/bench.txt
    done
  done
done
