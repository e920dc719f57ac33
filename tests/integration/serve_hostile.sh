#!/usr/bin/env bash
# hpcnn serve under hostile clients (issue 26 items 9-12, issue 32 item 6):
# slowloris and idle connections, a chunked body far over the limit, bad and
# duplicated Content-Length, foreign Host and Origin headers, endless headers,
# pipelining, PUT/DELETE, a warning when listening beyond loopback, and
# SIGTERM with slow clients connected. The checks are serve_hostile.py.
source "$(dirname "$0")/serve_lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3}"
HOSTILE="$SERVE_DIR/serve_hostile.py"

train_model run 100
start_server run/model.h5 --timeout 3
for check in slowloris deadline chunked content-length host origin headers pipelining methods; do
  timeout 60 "$PYTHON" "$HOSTILE" "$check" "$URL" "$SERVER_PID" && pass || fail "serve: $check"
done
kill -0 "$SERVER_PID" && pass || fail "the server died during the checks: $(cat serve.err)"
timeout 30 "$PYTHON" "$HOSTILE" sigterm "$URL" "$SERVER_PID" && pass || fail "serve: exit within 2 s of SIGTERM"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[[ $rc -eq 0 ]] && pass || fail "serve exited with $rc after SIGTERM: $(cat serve.err)"

# Beyond loopback: a warning line on stderr, even with -q.
for host in 0.0.0.0 ::; do
  rm -f wide.out wide.err  # the background job creates them: no stale line from the last round
  "$HPCNN" serve -q -c run/model.h5 --port 0 --threads 1 --host "$host" > wide.out 2> wide.err &
  pid=$!
  for _ in $(seq 200); do
    grep -qs '^listening on' wide.out && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  if grep -qs 'cannot listen' wide.err; then
    echo "skip: cannot listen on $host here"
  else
    grep -q "^warning: listening on $host, beyond loopback" wide.err && pass || fail "no warning for --host $host: $(cat wide.err)"
  fi
  kill -TERM "$pid" 2> /dev/null
  wait "$pid" || true
done
grep -q warning serve.err && fail "a warning on loopback: $(cat serve.err)" || pass
finish
