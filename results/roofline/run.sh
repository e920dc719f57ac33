#!/usr/bin/env bash
# The MLP rooflines (issue 25, item 5): both peers MLPs, batch 100, 1 and 2
# threads, each against the oneDNN matmul ceiling at its GEMM shapes and the
# triad bandwidth (hpcnn-roofline, tools/bench/roofline/). 1 thread is timed
# on the process's CPU clock (robust to a shared machine), 2 threads on the
# wall clock (needs a quiet machine). From the repository root after a
# Release build:
#   bash results/roofline/run.sh [build/release/bin]
set -euo pipefail
bin=${1:-build/release/bin}
out=$(dirname "$0")
for model in mlp:800-400-208 mlp:3200-1600-832; do
  OMP_NUM_THREADS=1 "$bin/hpcnn-roofline" --model "$model" --threads 1 --repeats 9 --steps 15 --clock cpu \
    | tee "$out/roofline-${model#mlp:}-1t-cpu.txt"
  OMP_NUM_THREADS=2 "$bin/hpcnn-roofline" --model "$model" --threads 2 --repeats 21 --steps 41 \
    | tee "$out/roofline-${model#mlp:}-2t-wall.txt"
done
