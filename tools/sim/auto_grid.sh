#!/usr/bin/env bash
# auto against the best algorithm over a grid (issue 29, item 5): on each
# platform and rank count, hpcnn-sim runs ring, tree, rhd, central, mpi and
# auto (the algorithm auto's cost model predicts fastest); then
# `hpcnn-merge allreduce --fit` per platform tables auto's time against the
# best measured one at every point (fit.md, "auto against the best").
#
#   bash tools/sim/auto_grid.sh [--model cost_model.json] [--platforms fattree-100g,torus-100g,dragonfly-100g]
#                               [--ranks 2,4,8,16,32,64] [--sizes S,S,..] [--out results/sim/auto-grid]
#                               [--cfg=SIMGRID_SETTING ...] [--algo ring,tree,rhd,central] [--reuse]
#
# --reuse: where DIR/npP.csv already holds the other algorithms (e.g. from
# sweep_fit.sh with the same --cfg), run only auto into DIR/auto-npP.csv: with
# the compute not injected a run is deterministic, so a new model is checked
# without simulating the rest again.
#
# --model: the cost model auto uses (HPCNN_COST_MODEL; default: none, i.e.
# each platform's link figures). Sizes (default) 4 KiB to 64 MiB up to 16
# ranks, to 16 MiB above (64 MiB on 64 ranks took minutes of wall time here).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
model= platforms=fattree-100g,torus-100g,dragonfly-100g ranks=2,4,8,16,32,64 sizes_given= out=$root/results/sim/auto-grid
algos=ring,tree,rhd,central,mpi,auto  # --algo: what runs beside auto (leave mpi out with a model without it)
cfg=()  # --cfg=... settings for smpirun (run.sh), e.g. --cfg=smpi/simulate-computation:no
reuse=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) model=$(realpath "$2"); shift 2 ;;
    --platforms) platforms=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --sizes) sizes_given=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --algo) algos=$2,auto; shift 2 ;;
    --cfg=*) cfg+=("$1"); shift ;;
    --reuse) reuse=1; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "auto_grid.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
merge=${HPCNN_MERGE:-$root/build/release/bin/hpcnn-merge}
[[ -n $model ]] && export HPCNN_COST_MODEL=$model
for platform in ${platforms//,/ }; do
  dir=$out/$platform
  mkdir -p "$dir"
  log=$dir/grid.log
  echo "# bash tools/sim/auto_grid.sh ${model:+--model $model} --ranks $ranks ${cfg[*]-} ($(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD))" >"$log"
  for p in ${ranks//,/ }; do
    sizes=4K,64K,1M,16M
    ((p <= 16)) && sizes=$sizes,64M
    [[ -n $sizes_given ]] && sizes=$sizes_given
    start=$(date +%s)
    run_algos=$algos csv=$dir/np$p.csv
    if ((reuse)) && [[ -s $csv ]]; then run_algos=auto csv=$dir/auto-np$p.csv; fi
    bash "$here/run.sh" --platform "$platform" --nodes "$p" ${cfg[@]+"${cfg[@]}"} -- --algo "$run_algos" --sizes "$sizes" \
      --iters 2 --warmup 1 --shared on --csv "$csv" >>"$log" 2>&1
    echo "## $p ranks: wall $(($(date +%s) - start)) s" >>"$log"
  done
  "$merge" allreduce --fit -q "$dir"/*np*.csv --out "$dir" >/dev/null
  grep -A2 "^### auto against" "$dir/fit.md" | tail -1 | sed "s/^/$platform: /"
done
