#!/usr/bin/env bash
# Data-parallel training under mpirun: 1, 2 and 4 ranks at the same global
# batch give the same loss at every step up to rounding (rank_gap.py: step 1
# within 1e-5, the trajectory within 1e-3), with dropout too;
# only rank 0 writes; bad starts end every rank quickly with the cause named.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data import-idx -q --out fm > /dev/null

for np in 1 2 4; do
  "${MPIRUN[@]}" -n $np "$HPCNN" train -q --model tiny-cnn --data fm --global-batch 64 --max-steps 20 --threads 1 \
    --allreduce ring --out tiny$np > out$np.txt
done
for np in 1 3; do
  "${MPIRUN[@]}" -n $np "$HPCNN" train -q --model keras-cnn --data fm --global-batch 12 --max-steps 4 --threads 1 \
    --allreduce rhd --eval-batch 2000 --out keras$np > kout$np.txt
done
[[ $(grep -c "^result:" out4.txt) -eq 1 ]] && pass || fail "4 ranks printed $(grep -c '^result:' out4.txt) result lines"
"$PYTHON" "$TESTS/rank_gap.py" --steps 20 tiny1 tiny2 tiny4 && pass || fail "tiny-cnn step losses differ between rank counts"
"$PYTHON" "$TESTS/rank_gap.py" --steps 4 keras1 keras3 && pass || fail "keras-cnn step losses differ between rank counts"

# --- auto: run.json records the cost model's pick and its predictions ----------
"${MPIRUN[@]}" -n 2 "$HPCNN" train -q --model tiny-cnn --data fm --global-batch 16 --max-steps 2 --threads 1 \
  --allreduce auto --out auto2 > /dev/null
"$PYTHON" -c "
import json
r = json.load(open('auto2/run.json'))
a = r['allreduce_auto']
assert a['ranks'] == 2 and a['bytes'] > 0 and a['predicted_us'] > 0, a
assert a['algo'] in a['candidates_us'] and a['predicted_us'] == min(a['candidates_us'].values()), a
assert r['config']['allreduce'] == a['algo'], (r['config']['allreduce'], a)" && pass ||
  fail "run.json's allreduce_auto does not record the algorithm auto ran with"

# --- gradients reduced in buckets during backward = after it, bitwise -------------
# keras-cnn's 1.2 M parameters make 5 reduction blocks; 0.05 MB buckets start
# them layer by layer while backward runs, 0 starts one range after backward.
for bucket in 0 0.05; do
  for algo in ring shm; do
    "${MPIRUN[@]}" -n 3 "$HPCNN" train -q --model keras-cnn --data fm --global-batch 24 --max-steps 3 --threads 1 \
      --allreduce $algo --bucket-mb $bucket --out bucket-$algo-$bucket > /dev/null
  done
done
"$PYTHON" - <<'PY' && pass || fail "bucketed and unbucketed training differ"
import h5py, json
for algo in ("ring", "shm"):
    a, b = (h5py.File(f"bucket-{algo}-{x}/model.h5", "r")["params"][:] for x in ("0", "0.05"))
    assert a.tobytes() == b.tobytes(), algo
    m = json.load(open(f"bucket-{algo}-0.05/metrics.json"))
    assert m["config"]["bucket_mb"] == 0.05 and m["config"]["allreduce"] == algo, m["config"]
r = json.load(open("bucket-ring-0.05/run.json"))
assert r["config"]["allreduce"] == "ring" and r["device"] == {"backend": "onednn", "kind": "cpu"}, r
print("bucketed = unbucketed (ring, shm): bitwise")
PY
a=$("$PYTHON" -c "import json; print(json.load(open('tiny2/metrics.json'))['config']['allreduce'])")
[[ $a == ring ]] && pass || fail "metrics.json records allreduce '$a'"
"$PYTHON" -c "
import json; m = json.load(open('tiny1/metrics.json'))['config']
assert m['allreduce_requested'] == 'ring' and m['allreduce'] == 'ring', m
m = json.load(open('tiny2/metrics.json'))['config']
assert m['bucket_mb'] == 0, m  # auto: one node, reduce after backward" && pass || fail "allreduce_requested, bucket_mb"

# --- the run directory: manifest, one timing file per rank, traces ----------------
"${MPIRUN[@]}" -n 2 "$HPCNN" train -q --model tiny-cnn --data fm --global-batch 32 --max-steps 6 --threads 1 \
  --allreduce shm --trace --out timed > /dev/null
"$PYTHON" - <<'PY' && pass || fail "run directory content"
import csv, json
run = json.load(open("timed/run.json"))
assert run["format"] == "hpcnn-run" and run["world_size"] == 2 and len(run["hosts"]) == 2, run
assert run["config"]["allreduce"] == "shm" and run["git_revision"], run
for r in (0, 1):
    rows = list(csv.DictReader(open(f"timed/timing/rank-{r:05d}.csv")))
    assert len(rows) == 6 * 8, len(rows)                      # 6 steps x 8 phases
    assert {x["phase"] for x in rows} == {"data", "forward", "backward", "allreduce", "allreduce_wait",
                                          "optimizer", "allgather", "step"}
    assert all(x["rank"] == str(r) for x in rows)
    steps = [x for x in rows if x["phase"] == "step"]
    assert [int(x["step"]) for x in steps] == list(range(1, 7))
    assert all(int(x["bytes"]) == 26594 * 4 and int(x["samples"]) == 16 for x in steps)
    for x in steps:   # the phases fit inside their step (allreduce overlaps backward: its wait counts)
        parts = [y for y in rows if y["step"] == x["step"] and y["phase"] not in ("step", "allreduce")]
        assert sum(float(y["seconds"]) for y in parts) <= float(x["seconds"]) + 1e-4, x
    trace = json.load(open(f"timed/trace/rank-{r:05d}.json"))
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    phases = [e for e in spans if e.get("cat") != "layer"]  # then 9 layers x 2 passes x 6 steps
    assert len(phases) == 48 and len(spans) == 48 + 108 and all(e["pid"] == r for e in spans)
assert not __import__("os").path.exists("timed/timing/rank-00002.csv")
PY

# --- bad starts: every rank ends quickly, the cause named ------------------------
timed() {  # timed PATTERN CMD... : non-zero exit within 60 s and PATTERN on stderr
  local pattern=$1 start=$SECONDS rc=0
  shift
  timeout 120 "$@" > out.txt 2> err.txt || rc=$?
  if [[ $rc -eq 0 || $rc -eq 124 ]]; then fail "$* -> exit $rc (wanted a quick failure)"; return; fi
  (( SECONDS - start < 60 )) || { fail "$* took $((SECONDS - start)) s"; return; }
  grep -qE -- "$pattern" err.txt && pass || fail "$* -> stderr lacks /$pattern/: $(cat err.txt)"
}
timed "unknown all-reduce algorithm 'star'" "${MPIRUN[@]}" -n 2 "$HPCNN" train -q --data fm --allreduce star
"$HPCNN" data synth circuits -q --train 3 --test 0 --out three > /dev/null
timed "cannot train on 4 ranks: the dataset has only 3 training samples" \
  "${MPIRUN[@]}" -n 4 "$HPCNN" train -q --data three --model circuit-cnn --threads 1
timed "ranks disagree on the configuration" \
  "${MPIRUN[@]}" -n 1 "$HPCNN" train -q --data fm --model tiny-cnn --threads 1 --max-steps 2 --out mix : \
                 -n 1 "$HPCNN" train -q --data fm --model mnist-cnn --threads 1 --max-steps 2 --out mix
# Options that only change results (or deadlocked, --validation-split) stop every rank at start.
for option in "--validation-split 0.1" "--adam-epsilon 1e-8" "--momentum 0.5 --optimizer sgd" "--backend reference"; do
  # shellcheck disable=SC2086  # the option and its value are two words
  timed "ranks disagree on the configuration" \
    "${MPIRUN[@]}" -n 1 "$HPCNN" train -q --data fm --model tiny-cnn --threads 1 --max-steps 2 --out mix2 : \
                   -n 1 "$HPCNN" train -q --data fm --model tiny-cnn --threads 1 --max-steps 2 --out mix2 $option
done
timed "nowhere: not a dataset directory" \
  "${MPIRUN[@]}" -n 1 "$HPCNN" train -q --data fm --model tiny-cnn --threads 1 --max-steps 2 --out miss : \
                 -n 1 "$HPCNN" train -q --data nowhere --model tiny-cnn --threads 1 --max-steps 2 --out miss
finish
