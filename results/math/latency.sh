#!/usr/bin/env bash
# /transcribe latency for a 12-glyph expression (results/math/twelve-glyphs.png),
# one command, to be rerun on a quiet machine (the p99 under load follows the
# machine's load; see README.md):
#   1. the cost of one request: request_ab.py alternates single requests
#      between `hpcnn serve --engine model` (the training Model, the default),
#      `--engine folded` (the model folded for inference, src/quant) and, given
#      a second checkpoint, the tool's setting (--ensemble SECOND), 200 rounds
#      -> request_ab.json
#   2. the existing 8-client load test (tests/integration/serve_load.py
#      --path /transcribe): 1,000 requests on the tool's setting, 1 compute
#      thread, 16 HTTP threads -> latency.json
# Both print the load average next to their figures; latency.txt has them all.
#   bash results/math/latency.sh [CHECKPOINT [SECOND]]
#   (default: results/runs/math/model/model.h5 and results/runs/math/model-s43/model.h5, as run.sh trains them)
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
OUT=results/math
CKPT=${1:-results/runs/math/model/model.h5}
SECOND=${2:-results/runs/math/model-s43/model.h5}
PNG=$OUT/twelve-glyphs.png
scratch=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-latency-XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
start_server() {  # NAME ARGS...: starts hpcnn serve, sets url_NAME
  local name=$1
  shift
  $HPCNN serve -q -c "$CKPT" --port 0 --threads 1 "$@" > "$scratch/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do grep -q "^listening on" "$scratch/$name.out" && break; sleep 0.1; done
  printf -v "url_$name" '%s' "$(sed -n "s|^listening on \(.*\)/$|\1|p" "$scratch/$name.out")"
}
start_server model --engine model
start_server folded --engine folded
servers=(model="$url_model" folded="$url_folded")
tool=$url_model
if [[ -f $SECOND ]]; then
  start_server ensemble --ensemble "$SECOND"
  servers+=(ensemble="$url_ensemble")
  tool=$url_ensemble
fi
{
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(lscpu | sed -n 's/^Model name: *//p'), uptime:$(uptime | sed 's/.*load average/ load average/')"
  echo "1. one request at a time (server-side milliseconds), A B alternated:"
  $PY $OUT/request_ab.py "$PNG" "$OUT/request_ab.json" "${servers[@]}" --rounds 200
  echo "2. 8 clients, 1,000 requests, the tool's setting ($([[ $tool == "$url_model" ]] && echo "one model" || echo "ensemble of 2")):"
  $PY tests/integration/serve_load.py "$tool" "$PNG" "$OUT/latency.json" --path /transcribe \
    --requests 1000 --clients 8
  echo "uptime after:$(uptime | sed 's/.*load average/ load average/')"
} | tee "$OUT/latency.txt"
