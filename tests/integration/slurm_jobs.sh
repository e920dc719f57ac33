#!/usr/bin/env bash
# The Slurm job suite under a real single-node Slurm: starts it as root
# (tools/slurm/start_local_slurm.sh), submits train_cpu.sh, bench_allreduce.sh,
# scaling_strong.sh, scaling_weak.sh and mlp_family.sh with sbatch, sends train_cpu.sh the
# USR1 its --signal asks for (the job checkpoints, requeues itself and resumes
# to the same weights as an unsignalled job), waits, and checks the merged outputs; checks
# train_8gpu.sh with `sbatch --test-only` against a node declaring 8 GPUs.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
started_slurm=0
if [[ $(id -u) -ne 0 ]] && ! sinfo > /dev/null 2>&1; then
  echo "SKIP: needs root to start a local Slurm (or a running Slurm)"
  exit 77
fi
if [[ $(id -u) -eq 0 ]]; then
  # A Slurm this test starts is stopped again when it ends (by the PIDs the
  # script recorded); one that was already running is left as it was.
  if ! sinfo -h > /dev/null 2>&1; then
    started_slurm=1
    trap 'bash "$SOURCE_DIR/tools/slurm/start_local_slurm.sh" --stop > /dev/null; rm -rf "$WORK"' EXIT
  fi
  bash "$SOURCE_DIR/tools/slurm/start_local_slurm.sh" || { fail "start_local_slurm.sh"; finish; }
fi
: "${HPCNN_MERGE:?set HPCNN_MERGE}"
"$HPCNN" data import-idx -q --out fm > /dev/null
export HPCNN_ROOT=$SOURCE_DIR HPCNN_BIN=$(dirname "$HPCNN") HPCNN_RESULTS=$WORK/results HPCNN_DATA=$WORK/fm
export HPCNN_MODEL=tiny-cnn HPCNN_MAX_STEPS=12 HPCNN_PYTHON=${PYTHON:-/usr/bin/python3}
export HPCNN_MPIRUN_FLAGS="--mca btl self,vader --bind-to none --oversubscribe"
JOBS=$SOURCE_DIR/jobs/slurm
mkdir -p logs

submit() {  # submit SCRIPT [sbatch options]: prints the job id
  local script=$1
  shift
  sbatch --parsable -o "logs/%x-%j.out" -p cpu "$@" "$JOBS/$script"
}
job_state() { scontrol show job "$1" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | cut -d= -f2; }
wait_job() {  # wait_job ID: waits up to 10 minutes; true when it COMPLETED
  local id=$1 state=""
  for _ in $(seq 600); do
    state=$(job_state "$id")
    case $state in COMPLETED) return 0 ;; FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) break ;; esac
    sleep 1
  done
  echo "job $id ended $state: $(cat logs/*-"$id".out 2>/dev/null | tail -20)" >&2
  return 1
}

# --- train_8gpu.sh: the request fits a node with 8 GPUs, 9 do not ---------------
sbatch --test-only -p gpu "$JOBS/train_8gpu.sh" > out.txt 2>&1 && pass || fail "8-GPU --test-only: $(cat out.txt)"
grep -q "on nodes gpunode01 in partition gpu" out.txt && pass || fail "8-GPU --test-only: $(cat out.txt)"
if sbatch --test-only -p gpu --gpus-per-node=9 "$JOBS/train_8gpu.sh" > out.txt 2>&1; then
  fail "9 GPUs accepted: the test node is not checking GPUs"
else
  pass
fi
sbatch --test-only -p cpu "$JOBS/train_cpu.sh" > /dev/null 2>&1 && pass || fail "train_cpu.sh --test-only"

# --- real jobs: they share 2 CPUs, so Slurm runs them one after another ---------------
# 1,000 steps over 5 epochs: the signal below comes after ~30 steps and must
# find the job still training. With 400 steps of 1 epoch (234 steps on 2
# ranks) an idle machine finished the epoch in 1.2 s, before the signal
# arrived, and the job ended without requeueing.
train=$(HPCNN_EPOCHS=5 HPCNN_MAX_STEPS=1000 submit train_cpu.sh)
plain=$(HPCNN_EPOCHS=5 HPCNN_MAX_STEPS=1000 submit train_cpu.sh)  # the same job, never signalled
bench=$(HPCNN_SIZES=1K,64K,1M HPCNN_ITERS=3 HPCNN_WARMUP=1 HPCNN_ALGOS=ring,rhd,mpi,shm submit bench_allreduce.sh)
strong=$(HPCNN_GLOBAL_BATCH=64 submit scaling_strong.sh)
weak=$(HPCNN_BATCH=32 submit scaling_weak.sh)
"$HPCNN" data synth solar-table -q --train 2000 --test 200 --out table > /dev/null
mlp=$(HPCNN_DATA=$WORK/table HPCNN_MLP_WIDTHS="50 100" HPCNN_MLP_DEPTHS="1 3" HPCNN_MLP_SKIP="100 100-50-26" \
  HPCNN_MAX_STEPS=5 submit mlp_family.sh)
# USR1 to the train job's batch shell (what --signal sends before the limit),
# once its training has taken some steps: the ranks checkpoint and stop, the
# job requeues itself, starts again and resumes from the checkpoint.
for _ in $(seq 600); do
  [[ $(cat "$WORK/results/train-cpu-$train/run/timing/rank-00000.csv" 2>/dev/null | wc -l) -gt 200 ]] && break
  sleep 0.2
done
scancel --batch --signal=USR1 "$train" && pass || fail "could not signal job $train"
for id in "$train" "$plain" "$bench" "$strong" "$weak" "$mlp"; do
  wait_job "$id" && pass || fail "job $id did not complete"
done

R=$WORK/results
scontrol show job "$train" | grep -q "Restarts=1" && pass || fail "job $train was not requeued once: $(scontrol show job "$train" | grep -o 'Restarts=[0-9]*')"
"$PYTHON" - "$R/train-cpu-$train" "$R/train-cpu-$plain" <<'PY' && pass || fail "preempted-and-requeued job vs uninterrupted job"
import json, sys
import h5py, numpy as np
signalled, plain = sys.argv[1:]
log = open(f"{signalled}/job.log").read()
assert "requeueing job" in log and "resuming the preempted run" in log, log[-3000:]
run = json.load(open(f"{signalled}/run/run.json"))
assert run["status"] == "complete" and len(run["resumes"]) == 1, run
a = h5py.File(f"{signalled}/run/model.h5")["params"][()]
b = h5py.File(f"{plain}/run/model.h5")["params"][()]
assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), "weights differ from the uninterrupted job"
m1, m2 = (json.load(open(f"{d}/run/metrics.json")) for d in (signalled, plain))
assert m1["step_losses"] == m2["step_losses"] and m1["test"]["loss"] == m2["test"]["loss"]
assert m1["resumed_from_step"] > 0 and "resumed_from_step" not in m2
PY
"$PYTHON" - "$R/train-cpu-$train" "$R/bench-allreduce-$bench" "$R/scaling-strong-$strong" "$R/scaling-weak-$weak" "$R/mlp-family-$mlp" <<'PY' \
  && pass || fail "job outputs"
import json, os, sys
train, bench, strong, weak, mlp = sys.argv[1:]
s = json.load(open(f"{train}/run/merged/summary.json"))
assert s["ranks_present"] == 2 and s["world_size"] == 2 and s["steps_used"] == 999, s  # 1,000 steps, the first a warm-up
assert json.load(open(f"{train}/run/metrics.json"))["config"]["world_size"] == 2
assert os.path.exists(f"{train}/signal-usr1.txt"), "USR1 not recorded"
assert "SIGUSR1" in open(f"{train}/job.log").read()
assert s["warnings"] == [], s["warnings"]  # resumed: the timing rows line up with one uninterrupted run
cmds = open(f"{train}/commands.txt").read()
assert "mpirun" in cmds and "hpcnn-merge summary" in cmds, cmds
a = json.load(open(f"{bench}/allreduce.json"))
assert {r["bytes"] for r in a["rows"]} == {1024, 65536, 1048576}, a["rows"]
assert all(set(r["algos"]) == {"ring", "rhd", "mpi", "shm"} and r["best"] for r in a["rows"]), a["rows"]
for study, mode in ((strong, "strong"), (weak, "weak")):
    sc = json.load(open(f"{study}/scaling.json"))
    assert sc["mode"] == mode and [p["ranks"] for p in sc["points"]] == [1, 2], sc
    assert not sc["warnings"], sc["warnings"]
    for png in ("speedup_efficiency.png", "phases.png"):
        assert open(f"{study}/{png}", "rb").read(8) == b"\x89PNG\r\n\x1a\n", png
assert open(f"{bench}/busbw.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
table = open(f"{mlp}/train_time_vs_params.csv").read().splitlines()
assert [r.split(",")[1:3] for r in table[1:]] == [["mlp:50", "2601"], ["mlp:50-25-13", "4177"]], table
assert open(f"{mlp}/train_time_vs_params.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
PY
# A job whose step fails ends FAILED with the reason in its log.
bad=$(HPCNN_DATA=$WORK/nowhere submit train_cpu.sh)
wait_job "$bad" 2> /dev/null && fail "job with a missing dataset completed" || pass
grep -q "nowhere: not a dataset" logs/*-"$bad".out && pass || fail "reason not in the log: $(cat logs/*-"$bad".out)"

# Stopping stops the daemons it recorded, by PID, and nothing else named like them.
if [[ $started_slurm -eq 1 ]]; then
  mkdir -p decoy
  ln -s "$(command -v sleep)" decoy/slurmd
  decoy/slurmd 120 &
  decoy=$!
  ctld=$(cat /run/slurmctld.pid) slurmd=$(cat /run/slurmd.pid)
  bash "$SOURCE_DIR/tools/slurm/start_local_slurm.sh" --stop > stop.txt 2>&1 && pass || fail "--stop: $(cat stop.txt)"
  [[ ! -d /proc/$ctld && ! -d /proc/$slurmd ]] && pass || fail "slurmctld $ctld or slurmd $slurmd still running"
  kill -0 "$decoy" 2> /dev/null && pass || fail "--stop stopped a process it did not start (a decoy named slurmd)"
  kill "$decoy"
fi
finish
