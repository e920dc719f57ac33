#!/usr/bin/env bash
# Reproduces results/fashion-mnist/compare-pytorch-*.{txt,json}: training
# throughput of hpcnn vs PyTorch 1.13 (Debian's python3-torch), same model,
# data, batch and threads, back to back, median of 3.
set -euo pipefail
cd "$(dirname "$0")/../.."
build/release/bin/hpcnn data import-idx -q --force > /dev/null
out=results/fashion-mnist
/usr/bin/python3 tools/bench/compare_pytorch.py --model keras-cnn --batch 128 --threads 2 --steps 20 \
  --json $out/compare-pytorch-keras-cnn.json | tee $out/compare-pytorch-keras-cnn.txt
/usr/bin/python3 tools/bench/compare_pytorch.py --model tiny-cnn --batch 32 --threads 2 --steps 300 --warmup 20 \
  --json $out/compare-pytorch-tiny-cnn.json | tee $out/compare-pytorch-tiny-cnn.txt
