#!/usr/bin/env bash
# The MLP rooflines (issue 25, item 5): both peers MLPs, batch 100, 1 and 2
# threads, each against the oneDNN matmul ceiling at its GEMM shapes and the
# triad bandwidth; then the dense backward passes as matmuls (the default)
# against inner products, alternated in one process order (A B A B).
# Run on a quiet machine from the repository root after a Release build:
#   bash results/roofline/run.sh [build/release/bin]
set -euo pipefail
bin=${1:-build/release/bin}
out=$(dirname "$0")
for threads in 1 2; do
  for model in mlp:800-400-208 mlp:3200-1600-832; do
    uptime
    OMP_NUM_THREADS=$threads "$bin/hpcnn-roofline" --model "$model" --batch 100 --threads "$threads" --repeats 21 \
      --steps 41 | tee "$out/roofline-${model#mlp:}-${threads}t.txt"
  done
done
