# Shared by the job scripts in jobs/slurm/ (sourced, not run).
#
# Finds the hpcnn checkout and binaries, makes the job's own results
# directory, logs every command it runs to commands.txt (so a study can be
# re-run by hand), and keeps a copy of the job's output in job.log.
#
# Environment (all optional):
#   HPCNN_ROOT         the checkout (default: the directory sbatch was run from)
#   HPCNN_BIN          folder with hpcnn and hpcnn-merge (default $HPCNN_ROOT/build/release/bin)
#   HPCNN_RESULTS      parent of the job's results directory (default $HPCNN_ROOT/results/slurm)
#   HPCNN_MPIRUN_FLAGS extra mpirun flags, e.g. "--mca btl self,vader --bind-to none"
#   HPCNN_LAUNCHER     how ranks start: mpirun (default) or srun (`srun --mpi=pmix`,
#                      inside a Slurm allocation; HPCNN_SRUN_FLAGS adds flags)
#   HPCNN_PYTHON       python3 with matplotlib for the plots (default /usr/bin/python3)
#   HPCNN_RANKS        ranks when run outside Slurm (inside: SLURM_NTASKS)
#   HPCNN_THREADS      threads per rank outside Slurm (inside: SLURM_CPUS_PER_TASK)
# The scripts also run without Slurm (bash jobs/slurm/train_cpu.sh): the job
# id is then "local-YYYYmmdd-HHMMSS".

job_die() { echo "[job] error: $*" >&2; exit 1; }

# job_init NAME: sets HPCNN, MERGE, RESULTS, RANKS, THREADS, NODES, MPIRUN.
job_init() {
  local name=$1
  HPCNN_ROOT=$(cd "${HPCNN_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}" && pwd)
  [[ -f $HPCNN_ROOT/jobs/slurm/lib.sh ]] ||
    job_die "$HPCNN_ROOT is not an hpcnn checkout: submit from the checkout or set HPCNN_ROOT"
  local bin=${HPCNN_BIN:-$HPCNN_ROOT/build/release/bin}
  HPCNN=$bin/hpcnn
  MERGE=$bin/hpcnn-merge
  [[ -x $HPCNN && -x $MERGE ]] ||
    job_die "no hpcnn/hpcnn-merge in $bin: build first (cmake --preset release && cmake --build --preset release) or set HPCNN_BIN"
  JOB_ID=${SLURM_JOB_ID:-local-$(date +%Y%m%d-%H%M%S)}
  RESULTS=${HPCNN_RESULTS:-$HPCNN_ROOT/results/slurm}/$name-$JOB_ID
  mkdir -p "$RESULTS"
  exec > >(tee -a "$RESULTS/job.log") 2>&1
  RANKS=${SLURM_NTASKS:-${HPCNN_RANKS:-2}}
  THREADS=${SLURM_CPUS_PER_TASK:-${HPCNN_THREADS:-1}}
  NODES=${SLURM_JOB_NUM_NODES:-1}
  export OMP_NUM_THREADS=$THREADS
  if [[ $(id -u) -eq 0 ]]; then  # Open MPI refuses root unless told
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  # shellcheck disable=SC2206  # word splitting of the flags is intended
  case ${HPCNN_LAUNCHER:-mpirun} in
    mpirun) MPIRUN=(mpirun ${HPCNN_MPIRUN_FLAGS:-}) ;;
    srun)
      [[ -n ${SLURM_JOB_ID:-} ]] || job_die "HPCNN_LAUNCHER=srun needs a Slurm allocation (sbatch/salloc)"
      MPIRUN=(srun --mpi=pmix --kill-on-bad-exit=1 ${HPCNN_SRUN_FLAGS:-}) ;;
    *) job_die "HPCNN_LAUNCHER must be mpirun or srun, not '$HPCNN_LAUNCHER'" ;;
  esac
  # Preemption: Slurm sends USR1 to this shell before the time limit
  # (--signal=B:USR1@120); a preempting scheduler or scancel sends TERM. Either
  # is passed to the running step as USR1: every rank finishes its step, rank 0
  # writes a checkpoint, and `hpcnn train` exits 75; the job then requeues
  # itself (--requeue) and, started again, resumes from that checkpoint.
  trap 'job_signal USR1' USR1
  trap 'job_signal TERM' TERM
  echo "[job] $name $JOB_ID: $NODES node(s), $RANKS rank(s) x $THREADS thread(s); results in $RESULTS"
  "$HPCNN" version
}

# Exit status of `hpcnn train` stopped on a signal with a checkpoint written.
HPCNN_PREEMPTED=75

# job_signal NAME: records the signal and asks the running step to stop cleanly.
job_signal() {
  echo "[job] SIG$1 at $(date +%T): asking the running step to checkpoint and stop"
  date -Is >> "$RESULTS/signal-${1,,}.txt"
  if [[ -n ${STEP_PID:-} ]]; then kill -USR1 "$STEP_PID" 2>/dev/null || true; fi
}

# run_step CMD...: logs the command to commands.txt, runs it, and waits for it
# through any signal the trap above handles. Returns its exit status.
run_step() {
  printf '%q ' "$@" >> "$RESULTS/commands.txt"
  echo >> "$RESULTS/commands.txt"
  echo "[job] + $*"
  "$@" &
  local pid=$! rc=0
  STEP_PID=$pid
  while true; do
    rc=0
    wait "$pid" || rc=$?
    if [[ $rc -gt 128 ]] && kill -0 "$pid" 2>/dev/null; then continue; fi  # a trapped signal, not the step
    break
  done
  STEP_PID=
  if [[ $rc -eq $HPCNN_PREEMPTED ]]; then
    echo "[job] step stopped on a signal with a checkpoint written: $*" >&2
  elif [[ $rc -ne 0 ]]; then
    echo "[job] step failed with exit status $rc: $*" >&2
  fi
  return $rc
}

# job_requeue: after a preempted step. Inside Slurm the job requeues itself and
# resumes when it starts again; outside, it says how to resume and exits 75.
job_requeue() {
  if [[ -z ${SLURM_JOB_ID:-} ]]; then
    echo "[job] preempted: run the same command again to resume from the checkpoint"
    exit "$HPCNN_PREEMPTED"
  fi
  echo "[job] preempted: requeueing job $SLURM_JOB_ID; it resumes from the checkpoint when it starts again"
  trap - TERM  # Slurm ends this shell with TERM once the requeue is under way
  scontrol requeue "$SLURM_JOB_ID" ||
    job_die "scontrol requeue $SLURM_JOB_ID failed: submit the job again with the same HPCNN_RESULTS to resume"
  while true; do sleep 5; done
}

# run_complete DIR: true when DIR holds a run that completed (run.json's status).
run_complete() {
  [[ -f $1/run.json ]] && grep -q '"status": "complete"' "$1/run.json"
}

# ensure_data: sets DATA (HPCNN_DATA, default datasets/fashion-mnist) and
# imports Fashion-MNIST there when the default is asked for and missing.
ensure_data() {
  DATA=${HPCNN_DATA:-$HPCNN_ROOT/datasets/fashion-mnist}
  if [[ ! -f $DATA/manifest.json ]]; then
    [[ -z ${HPCNN_DATA:-} ]] || job_die "$DATA: not a dataset (no manifest.json)"
    run_step "$HPCNN" data import-idx -q --out "$DATA"
  fi
}

# plot KIND INPUT: PNGs into $RESULTS; a missing matplotlib is a warning, not a failure.
plot() {
  local py=${HPCNN_PYTHON:-/usr/bin/python3}
  if ! "$py" -c "import matplotlib" 2>/dev/null; then
    echo "[job] warning: $py has no matplotlib (apt-get install python3-matplotlib): no plots" >&2
    return 0
  fi
  run_step "$py" "$HPCNN_ROOT/tools/plot/hpcnn_plot.py" "$@" --out "$RESULTS"
}

# power_of_two_counts MAX: "1 2 4 ... MAX" (MAX itself last even when not a power of two).
power_of_two_counts() {
  local max=$1 p=1 out=""
  while (( p < max )); do out+="$p "; p=$((p * 2)); done
  echo "$out$max"
}

# scaling_sweep strong|weak TRAIN_OPTIONS...: one training run per rank count
# (HPCNN_SCALING_RANKS, default 1 2 4 ... the job's tasks) into $RESULTS/npP,
# each summarised, then hpcnn-merge scaling and the plots.
scaling_sweep() {
  local mode=$1 p
  shift
  local runs=()
  for p in ${HPCNN_SCALING_RANKS:-$(power_of_two_counts "$RANKS")}; do
    # shellcheck disable=SC2206
    run_step "${MPIRUN[@]}" -n "$p" "$HPCNN" train -q --model "${HPCNN_MODEL:-keras-cnn}" --data "$DATA" \
      --threads "$THREADS" --allreduce "${HPCNN_ALLREDUCE:-auto}" --max-steps "${HPCNN_MAX_STEPS:-100}" \
      --out "$RESULTS/np$p" "$@" ${HPCNN_TRAIN_ARGS:-}
    run_step "$MERGE" summary -q "$RESULTS/np$p" > /dev/null
    runs+=("$RESULTS/np$p")
  done
  run_step "$MERGE" scaling -q "--$mode" "${runs[@]}" --out "$RESULTS"
  plot scaling "$RESULTS/scaling.json"
}

# train_and_summarise DEFAULT_ALLREDUCE [TRAIN_OPTION...]: one training run on
# the job's ranks into $RESULTS/run (HPCNN_MODEL, HPCNN_EPOCHS, HPCNN_BATCH,
# HPCNN_GLOBAL_BATCH, HPCNN_ALLREDUCE, HPCNN_MAX_STEPS, HPCNN_TRAIN_ARGS), then
# its timing summary.
train_and_summarise() {
  local algo=$1
  shift
  local args=("$@" --model "${HPCNN_MODEL:-keras-cnn}" --data "$DATA" --epochs "${HPCNN_EPOCHS:-1}"
              --batch "${HPCNN_BATCH:-128}" --threads "$THREADS" --allreduce "${HPCNN_ALLREDUCE:-$algo}"
              --max-steps "${HPCNN_MAX_STEPS:-0}" --out "$RESULTS/run")
  [[ -z ${HPCNN_GLOBAL_BATCH:-} ]] || args+=(--global-batch "$HPCNN_GLOBAL_BATCH")
  # shellcheck disable=SC2206
  args+=(${HPCNN_TRAIN_ARGS:-})
  if run_complete "$RESULTS/run"; then
    echo "[job] $RESULTS/run is complete (a requeued job): not training again"
  else
    # An unfinished run in $RESULTS/run (a requeued job) is resumed by the same command.
    local rc=0
    run_step "${MPIRUN[@]}" -n "$RANKS" "$HPCNN" train "${args[@]}" || rc=$?
    [[ $rc -ne $HPCNN_PREEMPTED ]] || job_requeue
    [[ $rc -eq 0 ]] || return $rc
  fi
  run_step "$MERGE" summary -q "$RESULTS/run"
}
