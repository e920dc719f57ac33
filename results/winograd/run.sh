#!/usr/bin/env bash
# keras-cnn on Fashion-MNIST, 10 epochs, batch 128, Adam 1e-3, 2 threads:
# direct convolutions against Winograd (hpcnn's default for 3x3 stride-1
# convolutions with 16-channel blocks), same seed, one after the other.
# HPCNN: the hpcnn binary [build/release/bin/hpcnn]. About 9 minutes on an
# idle 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
hpcnn="${HPCNN:-build/release/bin/hpcnn}"
out=results/winograd
lscpu > $out/cpu.txt
for algo in direct auto; do
  HPCNN_ONEDNN_CONV_ALGO=$algo "$hpcnn" train --data datasets/fashion-mnist --model keras-cnn --epochs 10 \
    --batch 128 --threads 2 --out /tmp/hpcnn-winograd-$algo --force 2>&1 | tee $out/train-$algo.log
  cp /tmp/hpcnn-winograd-$algo/metrics.json $out/metrics-$algo.json
done
