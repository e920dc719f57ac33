#!/usr/bin/env bash
# Weak scaling of keras-cnn, batch 128 per rank, 1 thread per rank: warm-step
# throughput on 1 and 2 ranks (difference of a 5-step and a 25-step run, so
# start-up and primitive creation cancel out), twice.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
M=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
secs() {  # secs RANKS STEPS
  "${M[@]}" -n "$1" build/release/bin/hpcnn train -q --model keras-cnn --data datasets/fashion-mnist --batch 128 \
    --threads 1 --max-steps "$2" --out /tmp/hpcnn-weak >/dev/null 2>&1
  python3 -c "import json; print(json.load(open('/tmp/hpcnn-weak/metrics.json'))['train_seconds'])"
}
for rep in 1 2; do
  a1=$(secs 1 5); b1=$(secs 1 25); a2=$(secs 2 5); b2=$(secs 2 25)
  python3 -c "r1=20*128/($b1-$a1); r2=20*256/($b2-$a2); print(f'1 rank: {r1:.0f} samples/s  2 ranks: {r2:.0f} samples/s  efficiency vs 2x: {r2/(2*r1):.2f}')"
done
