#!/usr/bin/env bash
# 1,024 and 4,096 simulated ranks: one ring all-reduce of 17.4 MB on the 100 Gbit/s fat-tree (issue 29's
# "under 5 minutes on 2 cores" and "4,096 at all"), wall time, CPU time and peak anonymous memory of the
# simulation. Run it on a quiet machine (the simulation is one process, one core): the coordinator's step.
#
#   bash results/sim/scale-1024-4096.sh [RANKS ...]      # default 1024 4096; writes results/sim/scale-1024-4096.txt
#
# Memory: the message buffer is one SMPI_SHARED_MALLOC block mapped by every rank, so VmRSS counts it once per
# rank (RssFile: 1,024 x 17.4 MB = 18 GB at 1,024 ranks) although it is 17.4 MB of memory; what the simulation
# really holds is RssAnon (sampled every 2 s): 193 MB at 1,024 ranks (since the blocking waits, 85856d1), 340 MB
# for the set-up alone at 4,096.
# Expected on a quiet machine (one core busy): 1,024 ranks about 140 s (137 s of CPU measured at load 10-14,
# 918 s of wall time there); 4,096 ranks about 2,800 s (47 min; extrapolated as p^2.2 from 256-1,024 ranks:
# 6.7, 30.0, 137 s of CPU), under 1 GB of RssAnon. About 50 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/sim/scale-1024-4096.txt
[[ -x build/smpi/hpcnn-sim ]] || { cmake --preset smpi >/dev/null && cmake --build --preset smpi -j2 >/dev/null; }
{
  echo "# bash results/sim/scale-1024-4096.sh $* ($(date -u +%FT%TZ), $(git rev-parse --short HEAD), load: $(cut -d' ' -f1-3 /proc/loadavg))"
  grep -m1 "model name" /proc/cpuinfo
} >"$out"
for ranks in "${@:-1024 4096}"; do
  for p in $ranks; do
    log=$(mktemp)
    /usr/bin/time -f 'wall %e s, user %U s, sys %S s' -o "$log.time" \
      bash tools/sim/run.sh --platform fattree-100g --nodes "$p" -- --algo ring --sizes 17.4M --iters 1 --warmup 0 \
      >"$log" 2>&1 &
    pid=$!
    peak=0 header_at=
    start=$(date +%s)
    while kill -0 "$pid" 2>/dev/null; do
      for s in $(pgrep -f "smpimain.*hpcnn-sim" || true); do
        kb=$(awk '/RssAnon/ {print $2}' "/proc/$s/status" 2>/dev/null || echo 0)
        ((kb > peak)) && peak=$kb
      done
      [[ -z $header_at ]] && grep -q "^# hpcnn-sim" "$log" && header_at=$(($(date +%s) - start))
      sleep 2
    done
    wait "$pid" || true
    { grep -E "^# (platform|hpcnn-sim)|^ +ring" "$log"; cat "$log.time"
      echo "# $p ranks: set-up (until the table's header) ~${header_at:-?} s of wall time; peak RssAnon $((peak / 1024)) MB"; } >>"$out"
    rm -f "$log" "$log.time"
  done
done
cat "$out"
