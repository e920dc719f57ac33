#!/usr/bin/env bash
# Issue 25 items 4-5 (branch par2): the batched-inference schedule A/B on 2
# threads, fresh processes alternated A B A B: A = HPCNN_INFER_SCHEDULE=ops
# (each op split over both threads: the schedule before), B = the default
# (one chunk per thread where the batch has a chunk per thread). Per process:
# `hpcnn infer`'s median ms of a batch and the process's CPU time (perf stat
# task-clock, which also counts the accuracy pass over the split). Rows:
# mnist-cnn batch 512 (a training checkpoint: Model::evaluate) and
# MobileNetV2 0.35 96x96 batch 64, FP32 and int8 (quant::Engine).
#   bash results/peers/par2-ab.sh            # ROUNDS (5) pairs a row
#   BASE=old/hpcnn THREADS=1 ROWS=mnist bash results/peers/par2-ab.sh   # against another binary
# Needs a release build, datasets/fashion-mnist and the MobileNet files of
# results/mobilenet-infer/run.sh (results/runs/mobilenet-infer/model-*.h5).
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
ROUNDS=${ROUNDS:-5}
WORK=${HPCNN_WORK:-results/runs/par2-ab}
MOB=${HPCNN_MOBILENET:-results/runs/mobilenet-infer}
MOBDATA=${HPCNN_MOBILENET_DATA:-datasets/mobilenet-infer/parts}
MNIST=${HPCNN_MNIST_DATA:-datasets/fashion-mnist}
mkdir -p "$WORK"
if [[ ! -f $WORK/mnist/model.h5 ]]; then
  $HPCNN train -q --force --model mnist-cnn --data "$MNIST" --batch 2 --max-steps 1 --threads 2 \
    --verify-data never --checkpoint-every off --out "$WORK/mnist" > /dev/null
fi
# A: HPCNN_INFER_SCHEDULE=ops, or with BASE=PATH that binary (e.g. main's
# before this branch: the max pool's argmax too). THREADS (2) threads;
# OMP_WAIT_POLICY is passed on (passive: no spinning counted as CPU time).
THREADS=${THREADS:-2}
# one MODE CKPT DATA SPLIT BATCH: "median_ms cpu_s" of one fresh process.
one() {
  local mode=$1 ckpt=$2 data=$3 split=$4 batch=$5 envs=() bin=$HPCNN
  [[ $mode == ops && -z ${BASE:-} ]] && envs=(HPCNN_INFER_SCHEDULE=ops)
  [[ $mode == ops && -n ${BASE:-} ]] && bin=$BASE
  local out
  out=$(env "${envs[@]}" OMP_NUM_THREADS=$THREADS perf stat -x, -e task-clock -o "$WORK/perf.txt" \
    "$bin" infer -q -c "$ckpt" -d "$data" --split "$split" --threads $THREADS --batch-sizes "$batch" --repeats 20)
  local ms cpu
  ms=$(awk -v b="$batch" '$1 == b && NF == 4 {print $2}' <<< "$out")
  cpu=$(awk -F, '/task-clock/ {printf "%.3f", $1 / 1000}' "$WORK/perf.txt")
  echo "$ms $cpu"
}
row() {
  local name=$1 ckpt=$2 data=$3 split=$4 batch=$5
  local a_ms=() b_ms=() a_cpu=() b_cpu=()
  for ((r = 0; r < ROUNDS; ++r)); do
    read -r m c < <(one ops "$ckpt" "$data" "$split" "$batch")
    a_ms+=("$m") a_cpu+=("$c")
    read -r m c < <(one default "$ckpt" "$data" "$split" "$batch")
    b_ms+=("$m") b_cpu+=("$c")
  done
  python3 - "$name" "${a_ms[*]}" "${b_ms[*]}" "${a_cpu[*]}" "${b_cpu[*]}" "$(uptime | sed 's/.*average: //')" <<'EOF'
import statistics as st, sys
name, a, b, ac, bc, load = sys.argv[1:]
f = lambda s: [float(x) for x in s.split()]
a, b, ac, bc = map(f, (a, b, ac, bc))
print(f"| {name} | {st.median(a):.2f} | {st.median(b):.2f} | {st.median(a) / st.median(b):.2f}x | "
      f"{st.median(ac):.2f} | {st.median(bc):.2f} | {st.median(ac) / st.median(bc):.2f}x | {load} |")
EOF
}
a=$([[ -n ${BASE:-} ]] && echo "base" || echo "ops")
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%FT%TZ), $ROUNDS alternated pairs of fresh processes," \
  "$THREADS thread(s), A: ${BASE:-HPCNN_INFER_SCHEDULE=ops}, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
echo "| row ($THREADS threads) | $a: ms | new: ms | speed-up | $a: CPU s | new: CPU s | CPU ratio | load after |"
echo "|---|---|---|---|---|---|---|---|"
for r in ${ROWS:-mnist fp32 int8}; do
  case $r in
    mnist) row "mnist-cnn batch 512 (Model::evaluate)" "$WORK/mnist/model.h5" "$MNIST" test 512 ;;
    fp32) row "MobileNetV2 0.35 96x96 FP32 batch 64 (Engine)" "$MOB/model-fp32.h5" "$MOBDATA" test 64 ;;
    int8) row "MobileNetV2 0.35 96x96 int8 batch 64 (Engine)" "$MOB/model-int8.h5" "$MOBDATA" test 64 ;;
  esac
done
