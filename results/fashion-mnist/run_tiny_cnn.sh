#!/usr/bin/env bash
# Reproduces results/fashion-mnist/tiny-cnn/: tiny-cnn on Fashion-MNIST,
# 1 epoch, batch 32, Adam 1e-3, 2 threads, seed 42 (the 2018 report's run).
set -euo pipefail
cd "$(dirname "$0")/../.."
build/release/bin/hpcnn data import-idx -q --force > /dev/null
mkdir -p results/fashion-mnist/tiny-cnn
build/release/bin/hpcnn train --model tiny-cnn --epochs 1 --batch 32 --threads 2 --seed 42 \
  --data datasets/fashion-mnist --out results/fashion-mnist/tiny-cnn --checkpoint /tmp/hpcnn-tiny-cnn.h5 \
  2>&1 | grep -v '^\[hpcnn\] epoch [0-9]*/[0-9]* step' | tee results/fashion-mnist/tiny-cnn/log.txt
