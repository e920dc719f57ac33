#!/usr/bin/env bash
# --grad-compression bf16 and fp16 (issue 30) in `hpcnn train`: gradient messages in
# 16 bits on the ring, each hop adding in FP32 and rounding once. It changes
# results (the FP32 run differs), deterministically: two identical runs are
# bitwise equal, sharded = unsharded bitwise, a run cut short and resumed is
# bitwise the uninterrupted one, and a resume may not change it. 1, 2 and 4
# ranks at the same global batch agree: the first step's loss (before any
# update) as closely as FP32 (rank_gap.py), and the first update within the
# bound the roundings allow (below). Other algorithms are refused by name.
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with h5py}"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data synth solar-table -q --train 480 --test 48 --out st > /dev/null
BASE=(train -q --data st --model mlp:1000-500 --threads 1 --eval-batch 48 --allreduce ring)
MLP=("${BASE[@]}" --global-batch 24)
BF=(--grad-compression bf16)

run() {
  local np=$1 out=$2
  shift 2
  "${MPIRUN[@]}" -n "$np" "$HPCNN" "$@" --out "$out" > "$out.log" 2>&1 || fail "$out: $(tail -3 "$out.log")"
}

# --- deterministic, sharded = unsharded, and not a no-op --------------------------------
run 2 fp32 "${MLP[@]}" --max-steps 6
run 2 a "${MLP[@]}" --max-steps 6 "${BF[@]}"
run 2 b "${MLP[@]}" --max-steps 6 "${BF[@]}"
run 2 s "${MLP[@]}" --max-steps 6 "${BF[@]}" --shard-optimizer
same_weights a b && pass || fail "two identical bf16 runs differ"
same_weights a s && pass || fail "bf16 sharded != bf16 unsharded"
run 2 bucketed "${MLP[@]}" --max-steps 6 "${BF[@]}" --bucket-mb 0.3
same_weights a bucketed && pass || fail "bf16 in buckets during backward != bf16 after it"
! same_weights fp32 a 2> /dev/null && pass || fail "bf16 compression changed nothing"
"$PYTHON" -c "
import json
assert json.load(open('a/run.json'))['config']['grad_compression'] == 'bf16'
assert json.load(open('fp32/run.json'))['config']['grad_compression'] == 'none'" && pass ||
  fail "run.json does not record --grad-compression"

# The GPU code path on the poisoned backend: compressed blocks staged through
# the host, plain and sharded, bitwise the reference backend's host run.
SMALL=(train -q --data st --model mlp:64-32 --global-batch 24 --threads 1 --eval-batch 48 --allreduce ring
  --max-steps 4 "${BF[@]}")
run 2 ref-bf16 "${SMALL[@]}" --backend reference
run 2 poison-bf16 "${SMALL[@]}" --backend poisoned
run 2 poison-bf16-s "${SMALL[@]}" --backend poisoned --shard-optimizer
same_weights ref-bf16 poison-bf16 && pass || fail "poisoned backend bf16 (staged) != reference backend bf16"
same_weights ref-bf16 poison-bf16-s && pass || fail "poisoned backend bf16 sharded != reference backend bf16"

# --- resume: bit-identical, and the setting is checked --------------------------------
run 2 cut "${MLP[@]}" --max-steps 3 "${BF[@]}"
cp -r cut cut2
"${MPIRUN[@]}" -n 2 "$HPCNN" train -q --resume cut --max-steps 6 > /dev/null 2> err.txt || fail "resume: $(cat err.txt)"
same_weights a cut && pass || fail "bf16 run cut at 3 and resumed: not the uninterrupted run"
# (Refusals on one rank, without mpirun's abort banner: the same check on every rank count.)
expect_exit 1 "cannot resume cut2: --grad-compression is \"none\" here but \"bf16\" in the run being resumed" \
  "$HPCNN" train -q --resume cut2 --max-steps 6 --grad-compression none

# --- refusals ----------------------------------------------------------------------
for algo in rhd hier tree; do
  expect_exit 2 "^hpcnn: usage error: --grad-compression bf16 runs on the ring all-reduce only, not '$algo'" \
    "$HPCNN" train -q --data st --model mlp:8 --max-steps 1 --allreduce $algo "${BF[@]}" \
    --out refused-$algo
done
expect_exit 2 "unknown gradient compression 'fp8' \(expected none, bf16 or fp16\)" \
  "$HPCNN" train -q --data st --model mlp:8 --max-steps 1 --grad-compression fp8 --out refused-fp8

# --- fp16: the same guarantees (deterministic, sharded = unsharded, in buckets, resumes, recorded, checked) ---
FP=(--grad-compression fp16)
run 2 h1 "${MLP[@]}" --max-steps 6 "${FP[@]}"
run 2 h2 "${MLP[@]}" --max-steps 6 "${FP[@]}"
run 2 hs "${MLP[@]}" --max-steps 6 "${FP[@]}" --shard-optimizer --bucket-mb 0.3
same_weights h1 h2 && pass || fail "two identical fp16 runs differ"
same_weights h1 hs && pass || fail "fp16 sharded in buckets != fp16 unsharded"
! same_weights h1 a 2> /dev/null && ! same_weights h1 fp32 2> /dev/null && pass ||
  fail "fp16 compression gives the bf16 or the FP32 run"
"$PYTHON" -c "import json; assert json.load(open('h1/run.json'))['config']['grad_compression'] == 'fp16'" && pass ||
  fail "run.json does not record --grad-compression fp16"
run 2 hcut "${MLP[@]}" --max-steps 3 "${FP[@]}"
cp -r hcut hcut2
"${MPIRUN[@]}" -n 2 "$HPCNN" train -q --resume hcut --max-steps 6 > /dev/null 2> err.txt || fail "resume: $(cat err.txt)"
same_weights h1 hcut && pass || fail "fp16 run cut at 3 and resumed: not the uninterrupted run"
expect_exit 1 "cannot resume hcut2: --grad-compression is \"bf16\" here but \"fp16\" in the run being resumed" \
  "$HPCNN" train -q --resume hcut2 --max-steps 6 --grad-compression bf16
expect_exit 2 "^hpcnn: usage error: --grad-compression fp16 runs on the ring all-reduce only, not 'rhd'" \
  "$HPCNN" train -q --data st --model mlp:8 --max-steps 1 --allreduce rhd "${FP[@]}" --out refused-fp16

# --- 1, 2 and 4 ranks ----------------------------------------------------------------
# One SGD step (momentum 0, lr 1): w1 = w0 - g, in FP32. p ranks send their
# shares g_r around the ring in bf16: the p - 1 partial sums are each rounded
# once when sent (unit roundoff u = 2^-8) and the owner's sum once more, so
#   |g_bf16 - g| <= p u max_k |S_k| + (p - 1) 2^-24 sum_r |g_r|
# over the partial sums S_k. That needs sum_r |g_r| and |S_k|, unknown from
# outside in general; on a dataset of one image repeated, every sample's
# gradient is the same, so the shares all have the sign of g and every
# |S_k| <= sum_r |g_r| = |g|. The FP32 sums (24 samples in a batch) add
# (G + p) 2^-24 |g|. Measured g = (w0 - w1) / lr carries the FP32
# subtractions' half ulps of w0 and w1. 1 rank compresses nothing.
"$PYTHON" - << 'PY'
import numpy as np
rng = np.random.default_rng(7)
one = rng.integers(0, 256, size=(8, 8), dtype=np.uint8)
np.savez("same.npz", x_train=np.repeat(one[None], 48, 0), y_train=np.full(48, 2, np.uint8),
         x_test=np.repeat(one[None], 4, 0), y_test=np.full(4, 2, np.uint8))
PY
"$HPCNN" data import-npz -q same.npz --classes 4 --out same > /dev/null
SAME=(train -q --data same --model 'flatten dense:256 relu dense:4' --global-batch 24 --threads 1 --eval-batch 4
  --allreduce ring --max-steps 1 --optimizer sgd)
for np in 1 2 4; do
  run $np one-$np "${SAME[@]}" --lr 1 "${BF[@]}"
done
run 1 init "${SAME[@]}" --lr 1e-12
"$PYTHON" - << 'PY' && pass || fail "1, 2 and 4 ranks outside the bf16 rounding bound"
import h5py, numpy as np
w0 = h5py.File("init/model.h5", "r")["params"][()].astype(np.float64)  # lr 1e-12: w0 but where w0 = 0
w = {p: h5py.File(f"one-{p}/model.h5", "r")["params"][()] for p in (1, 2, 4)}
half_ulp = lambda x: np.spacing(np.abs(x).astype(np.float32)).astype(np.float64) / 2
g1 = w0 - w[1].astype(np.float64)  # the FP32 step's g (one rank: nothing rounded), to half_ulp(w1)
for p in (2, 4):
    gp = w0 - w[p].astype(np.float64)
    g = np.abs(g1) + half_ulp(w[1]) + 1e-12 * np.abs(g1)  # >= |g|
    bound = (p * 2.0 ** -8 + (24 + p) * 2.0 ** -24) * g + half_ulp(w[1]) + half_ulp(w[p]) + 2e-12 * np.abs(g1)
    err = np.abs(gp - g1)
    assert (err <= bound).all(), f"{p} ranks: {(err > bound).sum()} elements outside, worst {(err - bound).max()}"
    assert (gp != g1).any(), f"{p} ranks: nothing was rounded"
    print(f"{p} ranks: worst error / bound {(err / np.maximum(bound, 1e-300)).max():.3f}")
PY
for np in 1 2 4; do
  run $np traj-$np "${MLP[@]}" --max-steps 6 "${BF[@]}"
done
"$PYTHON" "$TESTS/rank_gap.py" --steps 6 traj-1 traj-2 traj-4 && pass ||
  fail "bf16: 1, 2 and 4 ranks do not follow one trajectory"
finish
