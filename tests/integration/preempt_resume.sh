#!/usr/bin/env bash
# Preemption signals at random moments (issue 32): SIGTERM or SIGUSR1, sent
# to a training process at a random time once it has started (during
# start-up, in the first steps, mid-run), always end in exit 75 with a checkpoint, and
# the resumed run ends bit-identical to the uninterrupted one. Before the
# signals were taken by a sigwait thread, 5-25 % of such runs died of a
# corrupt heap (exit 134/139), and one sent during start-up killed the run
# (exit 143). Rounds: HPCNN_SIGNAL_ROUNDS (default 40). Then the resume
# paths that used to destroy work: unreadable checkpoints are never deleted
# nor silently replaced by a run from step 0; --resume with --force and
# --force with an --init-from inside the run directory are refused; symbolic
# links planted as a run directory's files are not followed.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=2
rounds=${HPCNN_SIGNAL_ROUNDS:-40}
"$HPCNN" data synth circuits -q --train 1200 --test 64 --out c > /dev/null
TRAIN=(train -q --data c --model 'conv:8x3:same relu maxpool:2 flatten dense:64 relu dense:4' --epochs 2 --batch 32
  --threads 2)
"$HPCNN" "${TRAIN[@]}" --out ref > /dev/null
start=$(date +%s%N)
"$HPCNN" "${TRAIN[@]}" --out timed > /dev/null
run_ms=$((($(date +%s%N) - start) / 1000000))
echo "an uninterrupted run takes $run_ms ms; signals land within its first 60 %"
for i in $(seq "$rounds"); do
  sig=$([[ $((RANDOM % 2)) -eq 0 ]] && echo TERM || echo USR1)
  delay_ms=$((RANDOM % (run_ms * 6 / 10 + 1)))
  "$HPCNN" "${TRAIN[@]}" --out r$i > r$i.out 2>&1 &
  pid=$!
  # From the moment the run directory exists (a signal before main() runs,
  # while the loader maps the libraries, takes the default action: nothing
  # a program can do about that).
  for _ in $(seq 500); do [[ -f r$i/run.json ]] && break; sleep 0.01; done
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -$sig "$pid" 2> /dev/null || true
  rc=0
  wait "$pid" || rc=$?
  if [[ $rc -eq 0 && $(status_of r$i) == complete ]]; then
    pass  # finished before the signal arrived: nothing to resume
    continue
  fi
  if [[ $rc -ne 75 ]]; then
    fail "round $i: SIG$sig after $delay_ms ms: exit $rc, wanted 75: $(tail -3 r$i.out)"
    continue
  fi
  "$HPCNN" "${TRAIN[@]}" --out r$i > /dev/null 2> err.txt || { fail "round $i: resume: $(cat err.txt)"; continue; }
  same_weights ref r$i && pass || fail "round $i: SIG$sig after $delay_ms ms, resumed: not identical"
done

# --- every checkpoint unreadable: refuse, delete nothing ------------------------------
"$HPCNN" "${TRAIN[@]}" --out trunc --checkpoint-every 5 --max-steps 12 > /dev/null
set_run_status trunc preempted  # an interrupted run, as a requeued job finds it
"$PYTHON" - <<'PY'
import os
for name in os.listdir("trunc/checkpoints"):
    os.truncate(f"trunc/checkpoints/{name}", 1000)
os.remove("trunc/model.h5")
PY
before=$(ls trunc/checkpoints | sort | tr '\n' ' ')
expect_exit 1 "no checkpoint can be resumed from, and none is deleted: step-" "$HPCNN" train -q --resume trunc
[[ $(ls trunc/checkpoints | sort | tr '\n' ' ') == "$before" ]] && pass || fail "unreadable checkpoints were removed"
expect_exit 1 "none is deleted" "$HPCNN" "${TRAIN[@]}" --out trunc --checkpoint-every 5 --max-steps 12

# --- contradictory options -----------------------------------------------------------
expect_exit 2 "--resume ref and --force contradict each other" "$HPCNN" train -q --resume ref --force
expect_exit 2 "is inside the run directory ref that --force would clear first" "$HPCNN" "${TRAIN[@]}" --out ref \
  --force --init-from ref/model.h5
[[ -f ref/model.h5 ]] && pass || fail "--force deleted the model --init-from was to read"

# --- planted symbolic links in a run directory are not followed (32.4) ---------------
echo "keep me" > victim
mkdir -p sym1
ln -s "$PWD/victim" sym1/.lock
expect_exit 1 "sym1/.lock: cannot write into the run directory: it is a symbolic link" \
  "$HPCNN" "${TRAIN[@]}" --max-steps 2 --out sym1
"$HPCNN" "${TRAIN[@]}" --max-steps 2 --out sym2 > /dev/null
ln -sf "$PWD/victim" sym2/heartbeat/rank-00000
expect_exit 1 "rank-00000: cannot create the heartbeat file: it is a symbolic link" \
  "$HPCNN" train -q --resume sym2 --max-steps 4
[[ $(cat victim) == "keep me" ]] && pass || fail "a symlink in the run directory made train write its target"
echo "preempt_resume: $CHECKS checks passed, $FAILS failed"
[[ $FAILS -eq 0 ]]
