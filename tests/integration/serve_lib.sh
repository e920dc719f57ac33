# Helpers for the hpcnn predict / serve tests (sourced; sources lib.sh).
# A short training run gives the model; start_server runs `hpcnn serve` on a
# free localhost port in the background and kills it, by PID, on exit. Every
# wait is bounded.
SERVE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$SERVE_DIR/lib.sh"
# One compute thread per process (the tests share 2 cores with the server),
# and the Python helpers beside this file (serve_png.py) importable.
export OMP_NUM_THREADS=1
export PYTHONPATH="$SERVE_DIR${PYTHONPATH:+:$PYTHONPATH}"
SERVER_PID=""
URL=""
trap 'stop_server_now; rm -rf "$WORK"' EXIT

# train_model DIR [STEPS]: Fashion-MNIST into fm/ (once), then tiny-cnn for
# STEPS steps of 32 (default 300, ~1 s) with its checkpoint in DIR/model.h5.
train_model() {
  local dir=$1 steps=${2:-300}
  [[ -d fm ]] || "$HPCNN" data import-idx -q --out fm > /dev/null
  "$HPCNN" train -q --model tiny-cnn --data fm --batch 32 --max-steps "$steps" --threads 1 --out "$dir" > /dev/null
}

# start_server CHECKPOINT [OPTION...]: sets SERVER_PID and URL (http://127.0.0.1:PORT/).
start_server() {
  local ckpt=$1
  shift
  "$HPCNN" serve -q --checkpoint "$ckpt" --port 0 --threads 1 "$@" > serve.out 2> serve.err &
  SERVER_PID=$!
  for _ in $(seq 200); do  # 20 s at most
    URL=$(sed -n 's/^listening on //p' serve.out)
    [[ -n $URL ]] && return 0
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "FAIL: hpcnn serve did not start: $(cat serve.err)" >&2
  exit 1
}

# stop_server: SIGTERM, then the exit status must be 0 within 10 s.
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID"
  local rc=0
  for _ in $(seq 100); do
    kill -0 "$SERVER_PID" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2> /dev/null; then
    fail "hpcnn serve still running 10 s after SIGTERM"
    kill -KILL "$SERVER_PID"
  fi
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [[ $rc -eq 0 ]] && pass || fail "hpcnn serve exited with $rc after SIGTERM: $(cat serve.err)"
}

stop_server_now() {
  if [[ -n $SERVER_PID ]]; then
    kill -KILL "$SERVER_PID" 2> /dev/null || true
    wait "$SERVER_PID" 2> /dev/null || true
  fi
}
