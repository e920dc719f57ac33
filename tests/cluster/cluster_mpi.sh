#!/usr/bin/env bash
# MPI across 2 emulated nodes x 2 ranks, launched by mpirun on the login node
# (tools/cluster/nsrsh as its ssh): bench allreduce sees 2 real nodes (no
# --ranks-per-node), hier takes its real-node path, shm is refused with its
# reason, every algorithm has #wrong = 0 and bytes really crossed node1's
# link; training across the nodes gives the same per-step losses as the same
# global batch on 1 rank, up to rounding (integration/rank_gap.py). Bandwidth is reported, not asserted.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON}"
"$HPCNN" data import-idx -q --out fm > /dev/null
cluster_up --nodes 2

read -r tx0 rx0 < <(bash "$CLUSTER" counters node1)
crun timeout 180 mpirun -x OMP_NUM_THREADS=1 -H node1:2,node2:2 -np 4 "$HPCNN" bench allreduce -q \
  --sizes 4,4K,1M,4M --iters 2 --warmup 1 --csv "$WORK/ar.csv" > table.txt 2> err.txt \
  && pass || fail "bench across 2 nodes: $(cat err.txt)"
read -r tx1 rx1 < <(bash "$CLUSTER" counters node1)
cat table.txt
grep -q "4 ranks, 2 node(s) of 2," table.txt && grep -qv pretend table.txt && pass \
  || fail "not 2 real nodes: $(head -1 table.txt)"
grep -q "shm  skipped: ranks span 2 nodes" table.txt && pass || fail "shm not refused: $(cat table.txt)"
for a in ring tree rhd central mpi hier; do
  [[ $(grep -c "^ *$a " table.txt) -eq 4 ]] && pass || fail "$a rows missing"
done
[[ $(awk -F, 'NR > 1 && $9 != 0' ar.csv | wc -l) -eq 0 ]] && pass || fail "#wrong > 0: $(cat ar.csv)"
awk -F, 'NR > 1 && $3 != 2 {bad = 1} END {exit bad}' ar.csv && pass || fail "CSV nodes column is not 2"
# Every 4 MiB all-reduce moves at least half its bytes out of each node.
echo "node1 eth0: sent $(( (tx1 - tx0) / 1048576 )) MiB, received $(( (rx1 - rx0) / 1048576 )) MiB"
(( tx1 - tx0 > 6 * 4194304 && rx1 - rx0 > 6 * 4194304 )) && pass || fail "too few bytes crossed node1's link"
# hier's real-node path: the leaders' all-reduce crosses the link, shared memory inside.
grep -Eq "^ +hier +1048576 +4194304 .* 0$" table.txt && pass || fail "hier row: $(grep hier table.txt)"

# Training across 2 nodes = the same global batch on 1 rank, step by step.
export OMP_NUM_THREADS=1
"$HPCNN" train -q --model tiny-cnn --data fm --global-batch 64 --max-steps 12 --threads 1 --out one > /dev/null \
  && pass || fail "1-rank training"
crun timeout 180 mpirun -x OMP_NUM_THREADS=1 -H node1:2,node2:2 -np 4 "$HPCNN" train -q --model tiny-cnn \
  --data "$WORK/fm" --global-batch 64 --max-steps 12 --threads 1 --allreduce hier --out "$WORK/four" > out4.txt 2> err4.txt \
  && pass || fail "training across 2 nodes: $(cat err4.txt)"
"$PYTHON" - <<'PY' && pass || fail "the 2-node run's hosts or configuration"
import json
one, four = (json.load(open(f"{r}/metrics.json")) for r in ("one", "four"))
run = json.load(open("four/run.json"))
assert sorted(set(run["hosts"])) == ["node1", "node2"] and run["world_size"] == 4, run["hosts"]
assert run["config"]["bucket_mb"] == 1 and run["config"]["allreduce"] == "hier", run["config"]  # auto across nodes
PY
"$PYTHON" "$TESTS/rank_gap.py" --steps 12 one four && pass ||
  fail "per-step losses differ between 1 rank and 2 nodes x 2 ranks beyond rounding"
finish
