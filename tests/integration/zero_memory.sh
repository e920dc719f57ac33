#!/usr/bin/env bash
# Where a rank's memory goes (issue 30): a run's peak holds no second copy of
# the weights. metrics.json's ranks[].memory.other_bytes is the peak RSS minus
# the parts the trainer counts (weights, gradients, optimizer state,
# activations, communication, checkpoint): what is left is the process's base
# (libraries, data) and anything uncounted. An MLP of W = 139 MB of weights
# and tiny activations must leave about the same "other" (within W / 4) as an
# MLP of 16 units, on 1 rank, on 2 ranks, and on 2 and 4 ranks with
# --shard-optimizer. Before the fixes the run's start copied every parameter
# into a host vector to broadcast it (train/run_setup.cpp), so "other" grew
# by W: the peak of every run whose weights outweigh its activations (the
# 414 M MLP: 1.58 GB of 8.1 GB); and the model was built through a host
# vector of every parameter (model.cpp), 3 W with the weights and the zeroed
# gradients, above a sharded rank's 2.5 W at 4 ranks (+W / 2).
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
# than a quarter of BIG's weights (W with the start's copy, W / 2 at 4
# sharded ranks with the model's).
extra_other() {
  "$PYTHON" - "$1" "$2" << 'PY'
import json, sys
small, big = (json.load(open(f"{d}/metrics.json"))["ranks"] for d in sys.argv[1:])
base = max(r["memory"]["other_bytes"] for r in small)
for r in big:
    m = r["memory"]
    extra = m["other_bytes"] - base
    print(f"{sys.argv[2]} rank {r['rank']}: other {extra / 2**20:+.1f} MB over {sys.argv[1]}'s "
          f"(limit {m['weights_bytes'] / 4 / 2**20:.1f})")
    assert extra < m["weights_bytes"] / 4, (
        f"{sys.argv[2]} rank {r['rank']}: other {m['other_bytes'] / 2**20:.0f} MB, {extra / 2**20:.0f} MB above "
        f"{sys.argv[1]}'s, >= a quarter of the weights ({m['weights_bytes'] / 2**20:.0f} MB)")
PY
}

for config in 1-0 2-0 2-1 4-1; do
  np=${config%-*} shard=${config#*-}
  flag=()
  [[ $shard == 1 ]] && flag=(--shard-optimizer --allreduce ring)
  run "$np" small-$config --model mlp:16 "${flag[@]}"
  run "$np" big-$config --model mlp:6000-6000 "${flag[@]}"
  extra_other small-$config big-$config && pass || fail "$np rank(s), shard $shard: a second copy of the weights"
done

finish
