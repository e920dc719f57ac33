#!/usr/bin/env bash
# Load: 1,000 POST /predict requests of a 280x280 canvas PNG from 8
# concurrent clients on localhost, within 120 s, with 0 errors and the same
# answer every time; p50/p99 latency and requests/s are printed and written to
# $TEST_OUTPUT_DIR/serve_load/latency.json (reported, not asserted). The
# server runs with its defaults (1 compute thread, 16 HTTP threads); set
# HPCNN_LOAD_REQUESTS / HPCNN_LOAD_CLIENTS to change the load.
source "$(dirname "$0")/serve_lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"
OUT="${TEST_OUTPUT_DIR:-$WORK/test-output}/serve_load"
mkdir -p "$OUT"

train_model run 300
"$PYTHON" -c "
from serve_png import drawing, test_samples, write_png
x, _ = test_samples('fm', 1)
write_png('canvas.png', drawing(x[0], scale=8, left=28, top=28, width=280, height=280))"
start_server run/model.h5
timeout 180 "$PYTHON" "$SERVE_DIR/serve_load.py" "$URL" canvas.png "$OUT/latency.json" \
  --requests "${HPCNN_LOAD_REQUESTS:-1000}" --clients "${HPCNN_LOAD_CLIENTS:-8}" --deadline 120 \
  && pass || fail "load run"
kill -0 "$SERVER_PID" && pass || fail "the server died under load: $(cat serve.err)"
stop_server
finish
