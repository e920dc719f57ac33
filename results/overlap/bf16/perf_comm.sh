#!/usr/bin/env bash
# Where the communication thread's CPU goes, by function (issue 30): keras-cnn
# at global batch 128, buckets, bf16, on 2 emulated nodes at 1 Gbit/s, as
# cpu.sh; per build, `perf record -g` (cpu-clock) of the run's two ranks for
# PERF_S seconds in the middle of a 200-step run, then the `hpcnn-comm` threads' samples by symbol
# (self time) and the share of the 16-bit conversions and of the kernel.
#
#   bash results/overlap/bf16/perf_comm.sh NAME=BINDIR [NAME=BINDIR...] > out.txt    (root; ~1 min per build)
#
# Environment: PERF_S (6), HPCNN_LINK (1gbit), PERF_KEEP (a directory to keep the perf.data files in).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-perf
work=$(mktemp -d /tmp/hpcnn-perf-XXXXXX)
trap 'bash "$C" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
first=${1:?NAME=BINDIR}
first=${first#*=}
"$first/hpcnn" data import-idx -q --train-images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
  --train-labels /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz --out "$work/fm" > /dev/null
bash "$C" up --nodes 2 --link "${HPCNN_LINK:-1gbit}" > /dev/null
for v in "$@"; do
  name=${v%%=*} bin=${v#*=}
  bash "$C" run timeout 600 mpirun -x OMP_NUM_THREADS=1 -H node1:1,node2:1 -np 2 "$bin/hpcnn" train -q \
    --model keras-cnn --data "$work/fm" --global-batch 128 --threads 1 --max-steps 200 --bucket-mb 1 \
    --grad-compression bf16 --out "$work/run-$name" > /dev/null 2> "$work/err-$name.txt" &
  job=$!
  sleep 8  # past start-up and the first steps
  # This run's two ranks only, by PID: other jobs on the machine (another
  # build's tests) have threads named hpcnn-comm too.
  pids=()
  for exe in /proc/[0-9]*/exe; do
    [[ $(readlink "$exe" 2> /dev/null) == "$(realpath "$bin/hpcnn")" ]] || continue
    pid=${exe#/proc/}
    pids+=("${pid%/exe}")
  done
  [[ ${#pids[@]} -eq 2 ]] || { echo "expected 2 ranks of $bin/hpcnn, found ${#pids[@]}" >&2; exit 1; }
  # Stopped by SIGINT after PERF_S s (with a `-- sleep` workload the second
  # variant's perf record ended the script with SIGTERM).
  timeout -s INT "${PERF_S:-6}" perf record -q -g -e cpu-clock -p "$(IFS=,; echo "${pids[*]}")" \
    -o "$work/$name.data" > /dev/null 2>&1 || true
  wait "$job" || { cat "$work/err-$name.txt" >&2; exit 1; }
  [[ -n ${PERF_KEEP:-} ]] && mkdir -p "$PERF_KEEP" && cp "$work/$name.data" "$PERF_KEEP/"
  echo "## $name ($bin), load $(cut -d' ' -f1-3 /proc/loadavg)"
  # Shares of the hpcnn-comm threads' own samples (--percentage relative).
  perf report -q -i "$work/$name.data" --comm hpcnn-comm --no-children --percentage relative --sort dso,symbol \
    --percent-limit 1 -g none 2> /dev/null | sed 's/  */ /g' | cut -c1-150 | head -40
  perf report -q -i "$work/$name.data" --comm hpcnn-comm --no-children --percentage relative --sort dso,symbol \
    -g none 2> /dev/null |
    awk '{ p = $1; sub(/%/, "", p); total += p; if ($0 ~ /\[k\]/) kernel += p;
           if ($0 ~ /Codec16|exchange16|Loops|via<|Bf16|Fp16|ring_phase/) conv += p }
         END { printf("samples of hpcnn-comm: kernel %.1f %%, 16-bit conversions (and ring_phase) %.1f %%\n\n", kernel, conv) }'
done
