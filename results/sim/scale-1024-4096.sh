#!/usr/bin/env bash
# 1,024 to 4,096 simulated ranks: one all-reduce of 17.4 MB (ring by default) on the 100 Gbit/s fat-tree
# (issue 29's "under 5 minutes on 2 cores" and "4,096 at all"): wall time, CPU time and peak anonymous memory
# of the simulation. The simulation is one process on one core: on a shared machine its wall time is its CPU
# time plus what other work takes from it, so read the CPU time.
#
#   bash results/sim/scale-1024-4096.sh [RANKS ...]     # default 1024 4096; appends to results/sim/scale-1024-4096.txt
#   ALGO=rhd,tree bash results/sim/scale-1024-4096.sh 4096
#   NICE=10 ...                                         # niceness of the simulation (default 0)
#   SIZE=1M ...                                         # the all-reduce's size (default 17.4M)
#   RSS_LIMIT_MB=5000 ...                               # stop the simulation above this RssAnon (default 5000)
# rhd needs count/2 floats of private scratch a rank (4,096 x 8.7 MB = 36 GB at 17.4 MB): run it smaller.
#
# SimGrid setting added to run.sh's: smpi/send-is-detached-thresh:0 (every send a rendezvous). SimGrid 3.32
# keeps every detached (eager, < 64 KiB) send in flight in one list, scanned in full each time one of them
# completes (CommImpl::finish): O(p) a message when all p ranks have one in flight, as in a ring of 4 KiB
# messages at 4,096 ranks. Simulated time of the ring with it: +0.15 % at 256 ranks, +0.24 % at 512 (ring
# steps are symmetric: the send is done when the neighbour's receive is); it is not run.sh's default because
# small sends that a rank does not wait for change: tree +20 %, central +37 % at 4 KiB on 16 ranks
# (docs/simulation.md, "1,024 ranks").
#
# And smpi/shared-malloc-blocksize:33554432: SimGrid maps the shared buffer as blocks of this size (default
# 1 MiB), one mapping each per rank: 17.4 MB on 4,096 ranks is 73,000 mappings, over Linux's vm.max_map_count
# (65,530), and smpirun aborted (exit 134) once the set-up was done. With 32 MiB blocks it is one a rank.
# Simulated times do not depend on it (it only says which pages the ranks share).
#
# Memory: the message buffer is one SMPI_SHARED_MALLOC block mapped by every rank, so VmRSS counts it once per
# rank (RssFile: 1,024 x 17.4 MB = 18 GB at 1,024 ranks) although it is 17.4 MB of memory; what the simulation
# really holds is RssAnon, sampled every 2 s from the simulation this script started (not any other).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/sim/scale-1024-4096.txt
algo=${ALGO:-ring}
[[ -x build/smpi/hpcnn-sim ]] || { cmake --preset smpi >/dev/null && cmake --build --preset smpi -j2 >/dev/null; }
echo "# bash results/sim/scale-1024-4096.sh $* (ALGO=$algo SIZE=${SIZE:-17.4M} NICE=${NICE:-0}; $(date -u +%FT%TZ), $(git rev-parse --short HEAD), load: $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs))" >>"$out"
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
for p in ${@:-1024 4096}; do
  log=$(mktemp)
  /usr/bin/time -f 'wall %e s, user %U s, sys %S s' -o "$log.time" \
    nice -n "${NICE:-0}" bash tools/sim/run.sh --platform fattree-100g --nodes "$p" \
    --cfg=smpi/send-is-detached-thresh:0 --cfg=smpi/shared-malloc-blocksize:33554432 -- --algo "$algo" --sizes "${SIZE:-17.4M}" --iters 1 --warmup 0 >"$log" 2>&1 &
  pid=$!
  peak=0 header_at=
  start=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    for s in $(descendants "$pid"); do
      [[ $(cat "/proc/$s/comm" 2>/dev/null) == smpimain ]] || continue
      kb=$(awk '/RssAnon/ {print $2}' "/proc/$s/status" 2>/dev/null || echo 0)
      ((kb > peak)) && peak=$kb
      if ((kb > ${RSS_LIMIT_MB:-5000} * 1024)); then
        echo "# stopped: RssAnon $((kb / 1024)) MB over RSS_LIMIT_MB=${RSS_LIMIT_MB:-5000}" >>"$log"
        kill "$s"
      fi
    done
    [[ -z $header_at ]] && grep -q "^# hpcnn-sim" "$log" && header_at=$(($(date +%s) - start))
    sleep 2
  done
  wait "$pid" || tail -n 5 "$log" | sed 's/^/# error: /' >>"$log"
  { grep -E "^# (platform|hpcnn-sim|stopped|error)|^ +(ring|rhd|tree|central|mpi) " "$log"; cat "$log.time"
    echo "# $p ranks: set-up (until the table's header) ~${header_at:-?} s of wall time; peak RssAnon $((peak / 1024)) MB; load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"; } >>"$out"
  rm -f "$log" "$log.time"
done
tail -n 20 "$out"
