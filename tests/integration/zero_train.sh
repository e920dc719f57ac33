#!/usr/bin/env bash
# --shard-optimizer (ZeRO stages 1-2, issue 30) in `hpcnn train`: on 1-4
# ranks, ring / rhd / hier, an MLP of 3 reduction blocks (the first one short)
# and a small CNN, with --freeze and with buckets, the sharded run's weights,
# optimizer state (gathered into the checkpoint) and step losses are bitwise
# the unsharded run's. A sharded run cut short resumes sharded on 2 ranks,
# unsharded on 1 and sharded on 4, bitwise as the unsharded run resumed the
# same way; a signal (USR1) mid-run resumes to the uninterrupted run.
# Algorithms without a reduce-scatter half are refused in one line, naming them.
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with h5py}"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data synth solar-table -q --train 480 --test 48 --out st > /dev/null
"$HPCNN" data synth circuits -q --train 480 --test 48 --out c > /dev/null
# 50 inputs -> 1000 -> 500 -> 1: 552,001 parameters, blocks of 27,713 + 2 x 262,144 floats.
MLP=(train -q --data st --model mlp:1000-500 --global-batch 24 --threads 1 --eval-batch 48)
CNN=(train -q --data c --model 'conv:8x3:same relu maxpool:2 flatten dense:32 relu dense:4' --global-batch 24
  --threads 1 --eval-batch 48)

# same_state A B: params, the optimizer's state and the step losses, bit for bit.
same_state() {
  "$PYTHON" - "$1" "$2" << 'PY'
import json, sys
import h5py, numpy as np
fa, fb = (h5py.File(f"{d}/model.h5", "r") for d in sys.argv[1:])
for name in ("params", "optimizer/a", "optimizer/b"):
    if name not in fa and name not in fb:
        continue
    a, b = fa[name][()], fb[name][()]
    assert a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32)), \
        f"{name} differs: max |diff| {np.abs(a - b).max()}"
assert fa.attrs["optimizer_steps"] == fb.attrs["optimizer_steps"]
la, lb = (json.load(open(f"{d}/metrics.json"))["step_losses"] for d in sys.argv[1:])
assert la == lb, "step losses differ"
PY
}

# run NP OUT ARGS...: one training run under mpirun (quiet), failing the test on an error.
run() {
  local np=$1 out=$2
  shift 2
  "${MPIRUN[@]}" -n "$np" "$HPCNN" "$@" --out "$out" > "$out.log" 2>&1 || fail "$out: $(tail -3 "$out.log")"
}

# --- the grid: sharded = unsharded, bitwise ----------------------------------------
for np in 1 2 3 4; do
  for algo in ring rhd hier; do
    extra=()
    [[ $algo == hier ]] && extra=(--ranks-per-node 2)  # nodes of 2 ranks (one of 1 at 3 ranks)
    for shard in 0 1; do
      flag=()
      [[ $shard == 1 ]] && flag=(--shard-optimizer)
      run "$np" mlp-$np-$algo-$shard "${MLP[@]}" --max-steps 4 --allreduce $algo "${extra[@]}" "${flag[@]}"
    done
    same_state mlp-$np-$algo-0 mlp-$np-$algo-1 && pass || fail "mlp on $np rank(s), $algo: sharded != unsharded"
  done
done
# The all-gather after the whole optimizer pass (HPCNN_SHARD_GATHER=after, the A/B switch of
# results/zero/gather_ab.sh), on the gather thread (thread: the default across nodes) and by
# messages on the caller's thread (direct: the default inside one node, forced here across pretend
# nodes) = the pipelined default of each grid run, bitwise; a bad value is refused in one line.
for np in 3 4; do
  for gather in after thread; do
    HPCNN_SHARD_GATHER=$gather run "$np" mlp-$np-rhd-$gather "${MLP[@]}" --max-steps 4 --allreduce rhd --shard-optimizer
    same_state mlp-$np-rhd-1 mlp-$np-rhd-$gather && pass || fail "mlp on $np ranks: gathered $gather != pipelined"
  done
  HPCNN_SHARD_GATHER=direct run "$np" mlp-$np-hier-direct "${MLP[@]}" --max-steps 4 --allreduce hier \
    --ranks-per-node 2 --shard-optimizer
  same_state mlp-$np-hier-1 mlp-$np-hier-direct && pass || fail "mlp on $np ranks, hier: direct != pipelined"
done
HPCNN_SHARD_GATHER=later expect_exit 2 "HPCNN_SHARD_GATHER='later' \\(expected pipelined, direct, thread or after\\)" \
  "$HPCNN" "${MLP[@]}" --max-steps 1 --shard-optimizer --out bad-gather
# hier on the one real node (no pretend nodes): the node's shared-memory sum only.
run 3 hier-node-0 "${MLP[@]}" --max-steps 3 --allreduce hier
run 3 hier-node-1 "${MLP[@]}" --max-steps 3 --allreduce hier --shard-optimizer
same_state hier-node-0 hier-node-1 && pass || fail "hier on one node: sharded != unsharded"
# The CNN with SGD and momentum, with --freeze (the frozen conv is not reduced) and with buckets.
for np in 2 3; do
  for variant in plain freeze bucket; do
    case $variant in
      plain) extra=(--allreduce ring --optimizer sgd --momentum 0.5 --lr 0.05) ;;
      freeze) extra=(--allreduce rhd --freeze 1) ;;
      bucket) extra=(--allreduce ring --bucket-mb 0.002) ;;
    esac
    run "$np" cnn-$np-$variant-0 "${CNN[@]}" --max-steps 5 "${extra[@]}"
    run "$np" cnn-$np-$variant-1 "${CNN[@]}" --max-steps 5 "${extra[@]}" --shard-optimizer
    same_state cnn-$np-$variant-0 cnn-$np-$variant-1 && pass ||
      fail "cnn on $np ranks, $variant: sharded != unsharded"
  done
done
# A bucketed sharded MLP (blocks reduce-scattered while backward goes on) = the unbucketed one.
run 4 mlp-bucket "${MLP[@]}" --max-steps 4 --allreduce ring --bucket-mb 0.5 --shard-optimizer
same_state mlp-4-ring-0 mlp-bucket && pass || fail "bucketed sharded mlp != unbucketed unsharded"
"$PYTHON" -c "
import json
r = json.load(open('mlp-2-ring-1/run.json'))
assert r['config']['shard_optimizer'] is True and r['config']['allreduce'] == 'ring', r['config']
assert json.load(open('mlp-2-ring-0/run.json'))['config']['shard_optimizer'] is False" && pass ||
  fail "run.json does not record --shard-optimizer"
# The memory breakdown: at 2 ranks each rank keeps about half the optimizer
# state (within one reduction block), together exactly all of it; the parts
# fit in the peak RSS; hpcnn-merge summary shows them.
"$PYTHON" - << 'PY' && pass || fail "metrics.json memory breakdown"
import json
full = json.load(open("mlp-2-ring-0/metrics.json"))
half = json.load(open("mlp-2-ring-1/metrics.json"))
P = full["params"]
block = 262144 * 4 * 2  # one reduction block of Adam's m and v, bytes
opt = [r["memory"]["optimizer_state_bytes"] for r in half["ranks"]]
assert all(r["memory"]["optimizer_state_bytes"] == P * 8 for r in full["ranks"]), full["ranks"]
assert sum(opt) == P * 8 and all(abs(o - P * 4) <= block for o in opt), (opt, P)
for m in (r["memory"] for r in full["ranks"] + half["ranks"]):
    assert m["weights_bytes"] == P * 4 and m["device"] == "cpu", m
    # The host packs a sharded rank's reduced slices inside its gradient buffer: no second one.
    assert m["gradients_bytes"] == P * 4, m
    assert m["activations_bytes"] > 0 and m["communication_bytes"] > 0, m
    parts = sum(m[k] for k in ("weights_bytes", "gradients_bytes", "optimizer_state_bytes", "activations_bytes",
                               "communication_bytes", "checkpoint_bytes"))
    assert parts + m["other_bytes"] == m["peak_rss_bytes"] and 0 < parts <= m["peak_rss_bytes"], m
# Only a sharded rank 0 holds part of the gathered state while writing the
# checkpoint: one 1 MiB window, not the full vector (issue 30 stage 2; this
# model has more than one window of parameters).
assert P > 262144, P
ckpt = [(r["rank"], r["memory"]["checkpoint_bytes"]) for r in full["ranks"] + half["ranks"]]
assert ckpt == [(0, 0), (1, 0), (0, 262144 * 4), (1, 0)], ckpt
print("optimizer state per rank at 2 ranks:", opt, "of", P * 8)
PY
"$HPCNN_MERGE" summary -q mlp-2-ring-1 > summary.md 2> err.txt || fail "merge summary: $(cat err.txt)"
grep -q "| rank | weights MB | gradients MB | optimizer state MB" summary.md && pass ||
  fail "hpcnn-merge summary shows no memory breakdown: $(cat summary.md)"
"$PYTHON" -c "
import json
s = json.load(open('mlp-2-ring-1/merged/summary.json'))
assert [m['rank'] for m in s['memory']] == [0, 1] and s['memory'][0]['optimizer_state_bytes'] > 0, s['memory']" &&
  pass || fail "summary.json has no memory breakdown"
# The sharded run's all-gather of the weights is its own phase (0 s and 0 bytes unsharded; sharded, its
# bytes are the weights', and its time what the optimizer pass did not hide: pipelined with the pass, it
# can be 0 s), and the summary shows checkpoint_bytes (a sharded rank 0 gathered a state vector to write
# the final checkpoint).
"$HPCNN_MERGE" summary -q mlp-2-ring-0 > /dev/null 2> err.txt || fail "merge summary: $(cat err.txt)"
"$PYTHON" - << 'PY' && pass || fail "allgather phase or checkpoint_bytes missing from the summary"
import csv, json
for run, sharded in (("mlp-2-ring-0", False), ("mlp-2-ring-1", True)):
    for r in (0, 1):
        rows = [x for x in csv.DictReader(open(f"{run}/timing/rank-{r:05d}.csv")) if x["phase"] == "allgather"]
        assert len(rows) == 4 and all((int(x["bytes"]) > 0) == sharded for x in rows), (run, rows)
        assert all(float(x["seconds"]) >= 0 if sharded else float(x["seconds"]) == 0 for x in rows), (run, rows)
    s = json.load(open(f"{run}/merged/summary.json"))
    assert "allgather" in s["phases"] and (sharded or s["phases"]["allgather"]["total_s"] == 0), s["phases"]
    assert [m["checkpoint_bytes"] > 0 for m in s["memory"]] == [sharded, False], s["memory"]
PY
grep -q "| communication MB | checkpoint MB | other MB |" summary.md && pass ||
  fail "hpcnn-merge summary shows no checkpoint column: $(cat summary.md)"
# auto resolves among the algorithms with a reduce-scatter half.
run 2 mlp-auto "${MLP[@]}" --max-steps 2 --allreduce auto --shard-optimizer
a=$("$PYTHON" -c "import json; print(json.load(open('mlp-auto/run.json'))['config']['allreduce'])")
[[ $a == ring || $a == rhd || $a == hier ]] && pass || fail "--shard-optimizer with auto ran '$a'"

# The GPU code path on the poisoned backend (device memory the host cannot
# touch, reported as a GPU): the staged sharded reducer, bitwise the staged
# unsharded one and the reference backend's host run.
run 2 poison-0 "${CNN[@]}" --max-steps 4 --allreduce ring --backend poisoned
run 2 poison-1 "${CNN[@]}" --max-steps 4 --allreduce ring --backend poisoned --shard-optimizer
run 2 poison-ref "${CNN[@]}" --max-steps 4 --allreduce ring --backend reference --shard-optimizer
same_state poison-0 poison-1 && pass || fail "poisoned backend: sharded (staged) != unsharded"
same_state poison-ref poison-1 && pass || fail "poisoned backend sharded != reference backend sharded"

# --- refusals: one line, naming the algorithm --------------------------------------
# (Checked before anything collective, the same on every rank count: one rank
# shows the one line without mpirun's abort banner.)
for algo in tree central mpi shm; do
  expect_exit 2 "--shard-optimizer needs an all-reduce with a reduce-scatter half .* not '$algo'" \
    "$HPCNN" "${MLP[@]}" --max-steps 2 --allreduce $algo --shard-optimizer --out refused-$algo
done
[[ ! -e refused-tree ]] && pass || fail "a refused run left a run directory"

# --- checkpoints: gathered on save, scattered on load --------------------------------
# Cut at step 5, then resumed to step 10: sharded on 2 ranks, unsharded on 1,
# sharded on 4; each as the unsharded run resumed the same way.
for shard in 0 1; do
  flag=()
  [[ $shard == 1 ]] && flag=(--shard-optimizer)
  run 2 cut-$shard "${MLP[@]}" --max-steps 5 --allreduce ring "${flag[@]}"
  for to in 2 1 4; do
    cp -r cut-$shard res-$shard-$to
    again=()
    [[ $shard == 1 && $to != 1 ]] && again=(--shard-optimizer)  # not restored: the resuming command decides
    "${MPIRUN[@]}" -n $to "$HPCNN" train -q --resume res-$shard-$to --max-steps 10 "${again[@]}" > /dev/null \
      2> err.txt || fail "resume res-$shard-$to: $(cat err.txt)"
  done
done
same_state cut-0 cut-1 && pass || fail "the sharded checkpoint at step 5 is not the unsharded one"
run 2 ref2 "${MLP[@]}" --max-steps 10 --allreduce ring
same_state ref2 res-1-2 && pass || fail "2 sharded ranks cut and resumed: not the uninterrupted run"
for to in 1 4; do
  same_state res-0-$to res-1-$to && pass || fail "sharded 2 -> $to ranks: not as the unsharded run resumed so"
done
"$PYTHON" -c "
import json
assert json.load(open('res-1-4/run.json'))['config']['shard_optimizer'] is True
assert json.load(open('res-1-1/run.json'))['config']['shard_optimizer'] is False
assert json.load(open('res-1-4/metrics.json'))['resumed_from_step'] == 5" && pass || fail "resume records"
# --resume without the flag resumes the sharded run unsharded, on the same 2 ranks.
cp -r cut-1 plain
"${MPIRUN[@]}" -n 2 "$HPCNN" train -q --resume plain --max-steps 10 > /dev/null 2> err.txt ||
  fail "unsharded resume of a sharded run: $(cat err.txt)"
same_state ref2 plain && pass || fail "sharded 2 ranks resumed unsharded on 2: not the uninterrupted run"
# SIGUSR1 mid-run: every rank stops after the step with a checkpoint (exit 75); the same command resumes.
SIG=("${MLP[@]}" --epochs 20 --max-steps 400 --allreduce ring --shard-optimizer --checkpoint-every off)
run 2 sigref "${SIG[@]}"
"${MPIRUN[@]}" -n 2 "$HPCNN" "${SIG[@]}" --out sig > sig.log 2>&1 &
mpi=$!
for _ in $(seq 500); do [[ -f sig/run.json ]] && break; sleep 0.01; done
sleep 1
kill -USR1 "$mpi" 2> /dev/null || true
rc=0
wait "$mpi" || rc=$?
if [[ $rc -eq 75 || $rc -eq 0 ]]; then
  [[ $rc -eq 0 ]] && echo "the signalled run finished before the signal (nothing to resume)"
  "${MPIRUN[@]}" -n 2 "$HPCNN" "${SIG[@]}" --out sig > /dev/null 2> err.txt || [[ $rc -eq 0 ]] ||
    fail "resume after USR1: $(cat err.txt)"
  same_state sigref sig && pass || fail "sharded run stopped by USR1 and resumed: not identical"
else
  fail "sharded run signalled: exit $rc, wanted 75: $(tail -3 sig.log)"
fi
finish
