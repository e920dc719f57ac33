#!/usr/bin/env bash
# The trainer on the poisoned-device test backend (kernels/poisoned/): device
# memory the host cannot touch, reported as a GPU. Training with evaluation
# and checkpoints, a preempted and resumed run, and 2 ranks (the staged
# reducer) all finish without the host dereferencing device memory (it would
# die of SIGSEGV) and end bitwise where the reference backend ends; run.json
# says "gpu" and metrics.json has the host<->device bytes per step.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data synth circuits -q --train 320 --test 100 --out c > /dev/null
MODEL='conv:8x3:same relu maxpool:2 flatten dense:32 relu dropout:0.25 dense:4'
TRAIN=(train -q --data c --model "$MODEL" --epochs 2 --threads 1 --validation-split 0.1 --checkpoint-every 4)

"$HPCNN" "${TRAIN[@]}" --batch 32 --backend reference --out r1 > /dev/null && pass || fail "reference run"
"$HPCNN" "${TRAIN[@]}" --batch 32 --backend poisoned --out p1 > /dev/null 2> p1.err && pass ||
  fail "poisoned run: $(tail -3 p1.err)"
same_weights r1 p1 && pass || fail "1 rank: poisoned and reference differ"
"$PYTHON" - << 'PY' && pass || fail "run.json / metrics.json of the poisoned run"
import json
run, m = json.load(open("p1/run.json")), json.load(open("p1/metrics.json"))
assert run["device"] == {"backend": "poisoned", "kind": "gpu"}, run["device"]
t = m["device_transfers"]
# A batch of 32 images of 64x64 floats goes up every step; little comes down.
assert 32 * 64 * 64 * 4 * 0.8 < t["host_to_device_bytes_per_step"] < 32 * 64 * 64 * 4 * 1.2, t
assert t["device_to_host_bytes_per_step"] > 0, t
assert "device_transfers" not in json.load(open("r1/metrics.json"))
PY

# Preempted by SIGTERM mid-run, then resumed: bitwise the uninterrupted run.
"$HPCNN" "${TRAIN[@]}" --batch 32 --backend poisoned --out s1 > s1.out 2>&1 &
pid=$!
for _ in $(seq 1000); do
  [[ -f s1/timing/rank-00000.csv && $(wc -l < s1/timing/rank-00000.csv) -gt 50 ]] && break
  sleep 0.01
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc -eq 75 || $rc -eq 0 ]] && pass || fail "SIGTERM: exit $rc: $(tail -3 s1.out)"
"$HPCNN" train -q --resume s1 > /dev/null 2> s1.err && pass || fail "resume: $(cat s1.err)"
same_weights r1 s1 && pass || fail "preempted and resumed on poisoned: not the reference's weights"

# Two ranks: the staged reducer moves gradients through host buffers.
"${MPIRUN[@]}" -n 2 "$HPCNN" "${TRAIN[@]}" --global-batch 32 --backend reference --out r2 > /dev/null && pass ||
  fail "2-rank reference run"
"${MPIRUN[@]}" -n 2 "$HPCNN" "${TRAIN[@]}" --global-batch 32 --backend poisoned --out p2 > /dev/null 2> p2.err &&
  pass || fail "2-rank poisoned run: $(tail -5 p2.err)"
same_weights r2 p2 && pass || fail "2 ranks: poisoned and reference differ"
finish
