#!/usr/bin/env bash
# Reproduces results/fashion-mnist/keras-cnn/: keras-cnn on Fashion-MNIST,
# 10 epochs, batch 128, Adam 1e-3, 2 threads, seed 42.
set -euo pipefail
cd "$(dirname "$0")/../.."
build/release/bin/hpcnn data import-idx -q --force > /dev/null
build/release/bin/hpcnn train --model keras-cnn --epochs 10 --batch 128 --threads 2 --seed 42 \
  --data datasets/fashion-mnist --out results/fashion-mnist/keras-cnn --checkpoint /tmp/hpcnn-keras-cnn.h5 \
  2>&1 | grep -v '^\[hpcnn\] epoch [0-9]*/[0-9]* step' | tee results/fashion-mnist/keras-cnn/log.txt
