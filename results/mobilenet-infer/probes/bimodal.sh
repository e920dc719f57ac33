#!/usr/bin/env bash
# The batch-1, 2-thread bimodality (../b1-bimodal.md) as a time series: each
# round, one line with the time of day, then
#   pingpong: median / min ns for one cache line's round trip between the two
#          threads (probes/pingpong.cpp; about 55: fast windows, about 320: slow),
#   corun: FMA thread CPU ms alone and per-thread speed at once / alone
#          (probes/corun.cpp; about 1.0: the two vCPUs do not slow each other),
#   hpcnn int8: median and min ms of 2000 passes (fresh process), with
#          HPCNN_INFER_BANDS_PROFILE=1: each thread's median work and barrier
#          wait per pass (us), and thread 0's work on the ops it runs alone,
#   tflite int8: median and min ms of 2000 invokes (fresh process; skipped
#          without the peers venv).
# Fast mode: hpcnn min about 0.134 ms; slow: about 0.165-0.17 (AMD EPYC, 2 vCPUs).
# Run on a quiet machine after run.sh (it reads run.sh's inference files):
#   bash results/mobilenet-infer/probes/bimodal.sh [ROUNDS]     # ~10 s a round
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-20}
HPCNN=${HPCNN:-build/release/bin/hpcnn}
WORK=${HPCNN_WORK:-results/runs/mobilenet-infer}
DATA=${HPCNN_DATA:-datasets/mobilenet-infer}
VENV=${HPCNN_PEERS_VENV:-$HOME/.cache/hpcnn-peers/venv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O2 -mavx512f -fopenmp results/mobilenet-infer/probes/corun.cpp -o "$tmp/corun"
g++ -O2 -fopenmp results/mobilenet-infer/probes/pingpong.cpp -o "$tmp/pingpong"
tfl=""
if [[ -x $VENV/bin/python ]]; then
  [[ -f $WORK/model-int8.tflite ]] ||
    "$VENV/bin/python" results/mobilenet-infer/probes/tflite_b1.py convert "$DATA/parts" "$WORK/model-int8.tflite" \
      > /dev/null 2>&1
  tfl="$VENV/bin/python results/mobilenet-infer/probes/tflite_b1.py run $WORK/model-int8.tflite 2000"
fi
echo "load before: $(uptime | sed 's/.*average: //')"
for r in $(seq "$rounds"); do
  pp=$("$tmp/pingpong" 1 | awk '{print "pingpong", $6 "/" $8}')
  c=$(OMP_WAIT_POLICY=passive "$tmp/corun" 1 | awk '{print "fma", $4, $8, $10}')
  HPCNN_INFER_BANDS_PROFILE=1 "$HPCNN" infer -q -c "$WORK/model-int8.h5" --data "$DATA/parts" --batch-sizes 1 \
    --repeats 2000 -t 2 > "$tmp/h" 2>&1
  h=$(awk '$1 == 1 && NF == 4 {print $2, $3}' "$tmp/h")
  p=$(awk '/bands profile: thread/ {printf " t%s work %s wait %s", $4, $6, $8}' "$tmp/h")
  # Thread 0's work on the steps thread 1 has no rows of (it runs them alone).
  alone=$(awk '/bands profile: (op|input)/ && /t1 rows 0-0/ {for (i = 1; i <= NF; ++i) if ($i == "t0") w += $(i + 4)}
               END {printf "%.1f", w}' "$tmp/h")
  t=$([[ -n $tfl ]] && $tfl 2> /dev/null || echo "-")
  echo "$(date -u +%T) $pp | $c | hpcnn $h$p alone $alone | tflite $t | load $(cut -d' ' -f1 /proc/loadavg)"
done
