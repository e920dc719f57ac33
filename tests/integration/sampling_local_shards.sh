#!/usr/bin/env bash
# --sampling local with fewer shards than ranks (issue 26.6): 1 shard on 2
# ranks ran with exit 0, rank 1 got no data and every step held 16 samples
# while the log said global batch 32. Now refused with the remedy; with one
# shard per rank every step of the full epoch holds the logged global batch.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader -n 2)
"$HPCNN" data synth circuits -q --train 512 --test 32 --image-size 16 --out one > /dev/null
"$HPCNN" data synth circuits -q --train 512 --test 32 --image-size 16 --shards 2 --out two > /dev/null
TRAIN=(train -q --model 'flatten dense:4' --epochs 1 --global-batch 32 --threads 1 --sampling local)
rc=0
"${MPIRUN[@]}" "$HPCNN" "${TRAIN[@]}" --data one --out r1 > out.txt 2> err.txt || rc=$?
[[ $rc -ne 0 ]] && pass || fail "1 shard on 2 ranks with --sampling local ran (exit 0)"
grep -q "the training data has 1 shard(s) for 2 ranks, so rank 1 would get no samples.*--shards 2 or more.*--sampling global" \
  err.txt && pass || fail "no remedy named: $(cat err.txt)"
"${MPIRUN[@]}" "$HPCNN" "${TRAIN[@]}" --data two --out r2 > /dev/null 2> err.txt || fail "2 shards: $(cat err.txt)"
"$PYTHON" - << 'PY' && pass || fail "the steps do not hold the logged global batch"
import json
m = json.load(open("r2/metrics.json"))
assert m["config"]["global_batch"] == 32, m["config"]
assert len(m["step_losses"]) == 512 // 32, len(m["step_losses"])
PY
finish
