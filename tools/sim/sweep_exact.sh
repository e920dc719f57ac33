#!/usr/bin/env bash
# Correct at scale (issue 29, item 3): every algorithm on every rank count
# from 2 to 64 with real data, checked against the exact sum (#wrong), on the
# fat-tree; the other platforms and the 17.4 MB message at a few rank counts.
#
#   bash tools/sim/sweep_exact.sh [OUT]   (default results/sim/exact-2-64.txt)
#
# Writes every table, then a summary: tables, rows, rows with #wrong != 0.
# Exit 1 when any row is wrong or any run fails.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/results/sim/exact-2-64.txt}
mkdir -p "$(dirname "$out")"
algos=ring,tree,rhd,central,mpi,hier
small=4,1028,1048588   # 1, 257 and 262147 floats: uneven segments, several chunks
runs=() failed=0
for p in $(seq 2 64); do runs+=("fattree-100g $p $small"); done
for p in 2 3 5 8 13 16 31 32 47 64; do runs+=("fattree-100g $p 17.4M"); done
for platform in torus-100g dragonfly-100g lab; do
  for p in 5 16 31 64; do runs+=("$platform $p $small"); done
done
{
  echo "# bash tools/sim/sweep_exact.sh   ($(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD))"
  echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) cores; $(smpirun --version 2>&1 | head -1)"
  echo "# algorithms $algos (shm needs one node of several ranks: refused under SMPI, see docs/simulation.md)"
} >"$out"
for run in "${runs[@]}"; do
  set -- $run
  echo "## $1, $2 ranks, sizes $3" >>"$out"
  start=$(date +%s)
  if ! bash "$here/run.sh" --platform "$1" --nodes "$2" -- --algo $algos --sizes "$3" --iters 1 --warmup 0 \
    >>"$out" 2>&1; then
    echo "## FAILED" >>"$out"
    failed=$((failed + 1))
  fi
  echo "## wall $(($(date +%s) - start)) s" >>"$out"
done
rows=$(awk '$1 ~ /^(ring|tree|rhd|central|mpi|hier)$/ && NF == 7' "$out")
total=$(grep -c . <<<"$rows")
wrong=$(awk '$7 != "0"' <<<"$rows" | grep -c .)
summary="# summary: ${#runs[@]} runs ($failed failed), $total rows, $wrong with #wrong != 0"
echo "$summary" >>"$out"
echo "$summary"
[[ $failed -eq 0 && $wrong -eq 0 && $total -gt 0 ]]
