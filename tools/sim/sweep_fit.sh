#!/usr/bin/env bash
# Measurements for the cost model (issue 29, item 4): ring, tree, rhd,
# central and mpi on a simulated platform over rank counts and sizes, one
# hpcnn-sim CSV per rank count, then `hpcnn-merge allreduce --fit` over them.
#
#   bash tools/sim/sweep_fit.sh [--platform fattree-100g] [--ranks 2,3,4,8,16,32] [--sizes 4K,64K,1M,16M]
#                               [--out results/sim/fit-fattree-100g] [--cfg=SIMGRID_SETTING ...]
#
# Buffers are shared (--shared on: timing only, the checked runs are
# results/sim/exact-2-64.txt), 2 timed iterations after 1 warm-up.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
platform=fattree-100g ranks=2,3,4,8,16,32 sizes=4K,64K,1M,16M algos=ring,tree,rhd,central,mpi out=
cfg=()  # --cfg=... settings for smpirun (run.sh), e.g. --cfg=smpi/simulate-computation:no
while [[ $# -gt 0 ]]; do
  case $1 in
    --platform) platform=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --algo) algos=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cfg=*) cfg+=("$1"); shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "sweep_fit.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
out=${out:-$root/results/sim/fit-$platform}
mkdir -p "$out"
log=$out/sweep.log
echo "# bash tools/sim/sweep_fit.sh --platform $platform --ranks $ranks --sizes $sizes --algo $algos ${cfg[*]-} ($(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD))" >"$log"
for p in ${ranks//,/ }; do
  start=$(date +%s)
  bash "$here/run.sh" --platform "$platform" --nodes "$p" ${cfg[@]+"${cfg[@]}"} -- --algo "$algos" --sizes "$sizes" --iters 2 --warmup 1 \
    --shared on --csv "$out/np$p.csv" >>"$log" 2>&1
  echo "## $p ranks: wall $(($(date +%s) - start)) s" >>"$log"
done
