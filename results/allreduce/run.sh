#!/usr/bin/env bash
# Reproduces results/allreduce/: every algorithm, 8 B .. 32 MiB (x4 steps, the sweep under --max-bytes 64M) and
# the solar-cnn gradient (17.4 MB), on 2 ranks and on 4 ranks (oversubscribed
# on the 2-core development machine), 1 thread per rank.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
for np in 2 4; do
  "${MPIRUN[@]}" -n $np build/release/bin/hpcnn bench allreduce -q --algo all --iters 10 --warmup 3 \
    --csv results/allreduce/np$np-sweep.csv | tee results/allreduce/np$np-sweep.txt
  "${MPIRUN[@]}" -n $np build/release/bin/hpcnn bench allreduce -q --algo all --sizes 17410564 --iters 30 \
    --warmup 5 --csv results/allreduce/np$np-solar-cnn.csv | tee results/allreduce/np$np-solar-cnn.txt
done
