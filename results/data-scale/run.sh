#!/usr/bin/env bash
# The data-at-scale study (issue 14): one command, about 15 minutes on 2 cores.
#   bash results/data-scale/run.sh [BUILD_BIN]       (root: it makes a memory cgroup)
# 1. Out of core: solar-cnn on 2 ranks over a synthetic solar-maps set of
#    about 4.8 GB, each rank held to 1 GiB (a memory cgroup of 2 GiB around
#    the job, page cache included): local sampling with and without the
#    background reader, and global sampling for comparison. Peak RSS per rank,
#    bytes read, exposed data time.
# 2. local vs global on 1, 2, 4 ranks (a 400 MB set, 8 shards, --cache-mb 1024:
#    each rank preloads what it reads): bytes read and peak RSS per rank, step
#    time, loss.
# 3. Read paths (hpcnn bench read) on one 600 MB file: serial, MPI-IO
#    independent and collective, and plain reads, 1, 2 and 4 ranks.
# Big datasets go to $HPCNN_SCRATCH (default /tmp/hpcnn-data-scale) and are
# removed at the end. Writes results/data-scale/{*.csv,*.json,summary.md}.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/release/bin}
H=$bin/hpcnn
M=$bin/hpcnn-merge
scratch=${HPCNN_SCRATCH:-/tmp/hpcnn-data-scale}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
cg_parent=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
cg=$cg_parent/hpcnn-data-scale-$$
cleanup() {
  rmdir "$cg" 2> /dev/null || true
  [[ -n ${HPCNN_KEEP_SCRATCH:-} ]] || rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -p "$scratch"
cpu=$(lscpu | sed -n 's/^Model name: *//p')
echo "# CPU: $cpu, $(nproc --all) cores; $(free -g | awk '/^Mem/ {print $2}') GiB; hpcnn $("$H" version | head -1)"

# In a memory cgroup of LIMIT bytes: the job's processes, page cache included.
in_cgroup() {
  local limit=$1
  shift
  mkdir -p "$cg"
  echo 0 > "$cg/memory.max_usage_in_bytes" 2> /dev/null || true
  echo "$limit" > "$cg/memory.limit_in_bytes"
  sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$cg" "$@"
}

# --- 1. out of core --------------------------------------------------------------
if [[ -z ${HPCNN_SKIP_OOC:-} ]]; then
big=$scratch/solar-big
if [[ ! -f $big/manifest.json ]]; then
  echo "[data-scale] generating $big (480,000 maps, 16 shards; streamed to disk)"
  /usr/bin/time -f "%e s, peak RSS %M kB" "$H" data synth solar-maps -q --train 480000 --test 2000 --shards 16 \
    --out "$big" 2> "$scratch/synth-time.txt" > /dev/null
fi
cat "$scratch/synth-time.txt"
size_gb=$(du -sb "$big" | awk '{printf "%.2f", $1 / 1e9}')
limit=$((2 * 1024 * 1024 * 1024))  # 1 GiB per rank, 2 ranks
steps=${HPCNN_STUDY_STEPS:-200}
ooc=()
# HPCNN_OOC_MODES: a subset to (re)run, its rows added to those already in the scratch table.
[[ -n ${HPCNN_OOC_MODES:-} ]] || rm -f "$scratch/ooc.csv"
for mode in ${HPCNN_OOC_MODES:-local-prefetch local-noprefetch global-prefetch global-prefetch-64}; do
  case $mode in
    local-prefetch) extra=(--sampling local --prefetch 2 --cache-mb 256) ;;
    local-noprefetch) extra=(--sampling local --prefetch 0 --cache-mb 256) ;;
    # Global sampling reads rows at random through HDF5's chunk caches (16
    # shards x cache-mb/16): with 256 MB of them next to solar-cnn's ~0.9 GB
    # the rank passes 1 GiB; with 64 MB it fits and shows the read cost.
    global-prefetch) extra=(--sampling global --prefetch 2 --cache-mb 256) ;;
    global-prefetch-64) extra=(--sampling global --prefetch 2 --cache-mb 64) ;;
  esac
  run=$scratch/ooc-$mode
  # Out of the page cache: the files were just written, so their pages are cached.
  /usr/bin/python3 -c '
import os, sys
for name in os.listdir(sys.argv[1]):
    fd = os.open(os.path.join(sys.argv[1], name), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)' "$big"
  # Global sampling reads random rows: a few steps show its cost.
  s=$steps
  [[ $mode == global-* ]] && s=$((steps / 4))
  echo "[data-scale] out of core: $mode, $s steps"
  rc=0
  in_cgroup "$limit" "${MPIRUN[@]}" -n 2 "$H" train -q --data "$big" --model solar-cnn --global-batch 128 \
    --threads 1 --eval-batch 64 --max-steps "$s" --verify-data never --out "$run" --force "${extra[@]}" \
    > /dev/null 2> "$scratch/err-$mode.txt" || rc=$?
  max_usage=$(cat "$cg/memory.max_usage_in_bytes")
  failcnt=$(cat "$cg/memory.failcnt")
  if [[ $rc -ne 0 ]]; then
    # Killed by the memory limit (or failed): recorded as such, the study goes on.
    steps_done=$(( $(wc -l < "$run/timing/rank-00000.csv") / 7 ))
    echo "$mode,$size_gb,$steps_done,,,,,$((max_usage / 1048576)),$failcnt,,,killed (exit $rc)" | tee -a "$scratch/ooc.csv"
    continue
  fi
  "$M" summary -q --warmup 5 "$run" > /dev/null
  /usr/bin/python3 - "$run" "$mode" "$max_usage" "$failcnt" "$size_gb" << 'PY' | tee -a "$scratch/ooc.csv"
import json, sys
run, mode, max_usage, failcnt, size_gb = sys.argv[1:]
s = json.load(open(f"{run}/merged/summary.json"))
m = json.load(open(f"{run}/metrics.json"))
data = s["phases"]["data"]["total_s"]
step = s["phases"]["step"]["total_s"]
rss = max(r["peak_rss_mb"] for r in m["ranks"])
io = sum(r["read_call_bytes"] for r in m["ranks"]) / 1e6
disk = sum(r["storage_read_bytes"] for r in m["ranks"]) / 1e6
print(f"{mode},{size_gb},{s['steps_used']},{1000 * s['step_slowest']['median_s']:.1f},{100 * data / step:.2f},"
      f"{100 * s['data_wait_fraction']:.1f},{rss:.0f},{int(max_usage) / 2**20:.0f},{failcnt},{io:.0f},{disk:.0f},"
      f"{s['samples_per_second']:.1f}")
PY
  ooc+=("$run")
done
[[ -n ${HPCNN_KEEP_SCRATCH:-} ]] || rm -rf "$big"
fi
rm -f "$scratch/lg.csv"

# --- 2. local vs global on 1, 2, 4 ranks ------------------------------------------
mid=$scratch/solar-mid
"$H" data synth solar-maps -q --train 40000 --test 2000 --shards 8 --out "$mid" --force > /dev/null
small_model='conv:8x3:s2 relu conv:16x3:s2 relu flatten dense:32 relu dense:1'
for round in 1 2; do
  for ranks in 1 2 4; do
    for sampling in global local; do
      run=$scratch/lg-$sampling-$ranks-$round
      echo "[data-scale] $sampling sampling, $ranks rank(s), round $round"
      "${MPIRUN[@]}" -n "$ranks" "$H" train -q --data "$mid" --model "$small_model" --global-batch 128 --threads 1 \
        --epochs 1 --cache-mb 1024 --eval-batch 256 --verify-data never --sampling "$sampling" --out "$run" --force > /dev/null
      "$M" summary -q --warmup 5 "$run" > /dev/null
      /usr/bin/python3 - "$run" "$sampling" "$ranks" "$round" << 'PY' >> "$scratch/lg.csv"
import json, sys
run, sampling, ranks, rnd = sys.argv[1:]
s = json.load(open(f"{run}/merged/summary.json"))
m = json.load(open(f"{run}/metrics.json"))
per_rank_logical = s["bytes_read"] / int(ranks) / 1e6
per_rank_io = sum(r["read_call_bytes"] for r in m["ranks"]) / int(ranks) / 1e6
rss = max(r["peak_rss_mb"] for r in m["ranks"])
print(f"{sampling},{ranks},{rnd},{per_rank_logical:.1f},{per_rank_io:.1f},{1000 * s['step_slowest']['median_s']:.2f},"
      f"{100 * s['data_wait_fraction']:.1f},{m['epochs'][-1]['loss']:.5f},{m['test']['loss']:.5f},{rss:.0f}")
PY
    done
  done
done
rm -rf "$mid"

# --- 3. read paths on one shared file ---------------------------------------------------
one=$scratch/solar-one
"$H" data synth solar-maps -q --train 60000 --test 0 --shards 1 --out "$one" --force > /dev/null
rm -f "$scratch/read.csv"
for ranks in 1 2 4; do
  "${MPIRUN[@]}" -n "$ranks" "$H" bench read -q --data "$one" --repeats 3 --csv "$scratch/read-$ranks.csv"
  tail -n +2 "$scratch/read-$ranks.csv" >> "$scratch/read.csv"
done

# --- tables --------------------------------------------------------------------------
{
  echo "out_of_core_run,dataset_gb,steps,step_ms_median,data_time_pct,steps_waited_pct,peak_rss_mb_max_rank,cgroup_peak_mb,cgroup_limit_hits,read_call_mb,storage_read_mb,samples_per_s"
  cat "$scratch/ooc.csv"
} > "$here/out_of_core.csv"
{
  echo "sampling,ranks,round,mb_read_per_rank_logical,mb_read_calls_per_rank,step_ms_median,steps_waited_pct,train_loss,test_mse,peak_rss_mb_max_rank"
  cat "$scratch/lg.csv"
} > "$here/local_vs_global.csv"
{
  echo "mode,ranks,nodes,bytes,median_s,mb_per_s_total,mb_per_s_per_rank"
  cat "$scratch/read.csv"
} > "$here/read_paths.csv"
echo "# CPU: $cpu, $(nproc --all) cores" > "$here/machine.txt"
cat "$scratch/synth-time.txt" >> "$here/machine.txt"
/usr/bin/python3 "$here/summarise.py"
echo "[data-scale] wrote $here/out_of_core.csv local_vs_global.csv read_paths.csv summary.md"
