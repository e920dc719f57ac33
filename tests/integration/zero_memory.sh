#!/usr/bin/env bash
# Where a rank's memory goes (issue 30): a run's peak holds no second copy of
# the weights. metrics.json's ranks[].memory.other_bytes is the peak RSS minus
# the parts the trainer counts (weights, gradients, optimizer state,
# activations, communication, checkpoint): what is left is the process's base
# (libraries, data) and anything uncounted. An MLP of W = 65 MB of weights and
# tiny activations must leave about the same "other" as an MLP of 16 units,
# on 1 rank, on 2 ranks, and on 2 ranks with --shard-optimizer. Before the fix
# the run's start copied every parameter into a host vector to broadcast it
# (train/run_setup.cpp), so "other" grew by W: the peak of every run whose
# weights outweigh its activations (the 414 M MLP: 1.58 GB of 8.1 GB).
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with h5py}"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data synth solar-table -q --train 64 --test 16 --out st > /dev/null
TRAIN=(train -q --data st --global-batch 8 --threads 1 --max-steps 1 --eval-batch 16 --checkpoint-every off)

# run NP OUT ARGS...: one training run under mpirun (quiet), failing the test on an error.
run() {
  local np=$1 out=$2
  shift 2
  "${MPIRUN[@]}" -n "$np" "$HPCNN" "${TRAIN[@]}" "$@" --out "$out" > "$out.log" 2>&1 || fail "$out: $(tail -3 "$out.log")"
}

# extra_other SMALL BIG: every rank's "other" in BIG exceeds SMALL's by less
# than half of BIG's weights (it would exceed it by about W with a copy).
extra_other() {
  "$PYTHON" - "$1" "$2" << 'PY'
import json, sys
small, big = (json.load(open(f"{d}/metrics.json"))["ranks"] for d in sys.argv[1:])
base = max(r["memory"]["other_bytes"] for r in small)
for r in big:
    m = r["memory"]
    extra = m["other_bytes"] - base
    assert extra < m["weights_bytes"] / 2, (
        f"{sys.argv[2]} rank {r['rank']}: other {m['other_bytes'] / 2**20:.0f} MB, {extra / 2**20:.0f} MB above "
        f"{sys.argv[1]}'s, >= half the weights ({m['weights_bytes'] / 2**20:.0f} MB)")
PY
}

for np in 1 2; do
  for shard in 0 1; do
    [[ $np == 1 && $shard == 1 ]] && continue
    flag=()
    [[ $shard == 1 ]] && flag=(--shard-optimizer --allreduce ring)
    run "$np" small-$np-$shard --model mlp:16 "${flag[@]}"
    run "$np" big-$np-$shard --model mlp:4000-4000 "${flag[@]}"
    extra_other small-$np-$shard big-$np-$shard && pass || fail "$np rank(s), shard $shard: a second copy of the weights"
  done
done

finish
