#!/usr/bin/env bash
# Which algorithm SMPI's MPI_Allreduce runs (smpi/coll-selector:ompi) at each
# point of the fat-tree fit grid: the `mpi` row next to the same all-reduce
# with each candidate forced by smpi/allreduce:NAME (SimGrid 3.32's
# allreduce__ompi picks among redbcast, rdb, lr, ompi_ring_segmented and
# rab_rdb). Network only, cross-traffic off, as results/sim/fit-fattree-100g-nocross.
#
#   bash results/sim/mpi-selector/run.sh [RANKS] > results/sim/mpi-selector/fattree.txt
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
ranks=${1:-2,3,4,5,8,13,16,32}
cfg=(--cfg=smpi/simulate-computation:no --cfg=network/crosstraffic:0)
echo "# $(date -u +%FT%TZ) $(git -C "$root" rev-parse --short HEAD): time (us) of MPI_Allreduce, default selector and each algorithm forced"
printf '%6s %9s %10s' ranks bytes default
for a in rdb lr ompi_ring_segmented rab_rdb redbcast; do printf ' %20s' $a; done
echo
for p in ${ranks//,/ }; do
  declare -A t=()
  for a in default rdb lr ompi_ring_segmented rab_rdb redbcast; do
    extra=()
    [[ $a == default ]] || extra=(--cfg=smpi/allreduce:$a)
    while read -r bytes us; do t[$a,$bytes]=$us; done < <(
      nice -n 10 bash "$root/tools/sim/run.sh" --platform fattree-100g --nodes "$p" "${cfg[@]}" "${extra[@]}" -- \
        --algo mpi --sizes 4K,64K,1M,16M --iters 2 --warmup 1 --shared on 2>/dev/null | awk '$1 == "mpi" {print $3, $4}')
  done
  for b in 4096 65536 1048576 16777216; do
    printf '%6s %9s %10s' "$p" "$b" "${t[default,$b]}"
    for a in rdb lr ompi_ring_segmented rab_rdb redbcast; do
      mark=""
      [[ ${t[$a,$b]} == "${t[default,$b]}" ]] && mark="="
      printf ' %20s' "${t[$a,$b]}$mark"
    done
    echo
  done
  unset t
done
