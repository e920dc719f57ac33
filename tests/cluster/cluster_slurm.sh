#!/usr/bin/env bash
# The Slurm job scripts, unchanged, on a 2-node Slurm of emulated nodes:
# `sbatch -N 2 --ntasks-per-node=2 jobs/slurm/train_cpu.sh` with mpirun inside
# the allocation and with `srun --mpi=pmix` (HPCNN_LAUNCHER=srun), and
# jobs/slurm/bench_allreduce.sh; hpcnn-merge summarises the training runs,
# whose run.json names both nodes.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON}"
"$HPCNN" data import-idx -q --out fm > /dev/null
cluster_up --nodes 2
bash "$CLUSTER" slurm start > slurm.log 2>&1 && pass || { fail "slurm start: $(cat slurm.log)"; finish; }

export HPCNN_ROOT=$SOURCE_DIR HPCNN_BIN=$(dirname "$HPCNN") HPCNN_RESULTS=$WORK/results HPCNN_DATA=$WORK/fm
export HPCNN_MODEL=tiny-cnn HPCNN_MAX_STEPS=10 HPCNN_PYTHON=$PYTHON
JOBS=$SOURCE_DIR/jobs/slurm
mkdir -p logs
submit() { crun sbatch --parsable -o "$WORK/logs/%x-%j.out" -N 2 --ntasks-per-node=2 "$@"; }
train_mpirun=$(submit "$JOBS/train_cpu.sh")
train_srun=$(HPCNN_LAUNCHER=srun submit "$JOBS/train_cpu.sh")
bench=$(HPCNN_SIZES=4K,1M HPCNN_ITERS=2 HPCNN_WARMUP=1 HPCNN_ALGOS=ring,rhd,mpi,shm,hier submit "$JOBS/bench_allreduce.sh")
for id in "$train_mpirun" "$train_srun" "$bench"; do
  state=""
  for _ in $(seq 240); do
    state=$(crun scontrol show job "$id" 2> /dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2)
    [[ $state == COMPLETED || $state == FAILED || $state == CANCELLED || $state == TIMEOUT ]] && break
    sleep 0.5
  done
  [[ $state == COMPLETED ]] && pass || fail "job $id ended ${state:-unknown}: $(tail -20 logs/*-"$id".out)"
done

R=$WORK/results
"$PYTHON" - "$R/train-cpu-$train_mpirun" "$R/train-cpu-$train_srun" "$R/bench-allreduce-$bench" <<'PY' \
  && pass || fail "job outputs"
import json, sys
for run, launcher in zip(sys.argv[1:3], ("mpirun", "srun")):
    r = json.load(open(f"{run}/run/run.json"))
    assert r["world_size"] == 4 and sorted(set(r["hosts"])) == ["node1", "node2"], r["hosts"]
    s = json.load(open(f"{run}/run/merged/summary.json"))
    assert s["ranks_present"] == 4 and s["steps_used"] == 9, s
    cmds = open(f"{run}/commands.txt").read()
    assert cmds.startswith(launcher), cmds
    print(run.split("/")[-1], launcher, "hosts", r["hosts"], "samples/s", s.get("samples_per_second"))
bench = sys.argv[3]
table = open(f"{bench}/bench-np4.txt").read()
assert "4 ranks, 2 node(s) of 2," in table, table
assert "shm  skipped: ranks span 2 nodes" in table, table
a = json.load(open(f"{bench}/allreduce.json"))
assert {r["bytes"] for r in a["rows"]} == {4096, 1048576}, a["rows"]
assert open(f"{bench}/busbw.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
PY
grep -q "srun --mpi=pmix" "$R/train-cpu-$train_srun/commands.txt" && pass || fail "srun launcher not used"
finish
