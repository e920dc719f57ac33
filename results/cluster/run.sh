#!/usr/bin/env bash
# Cluster study: jobs/slurm/bench_allreduce.sh, unchanged, submitted to the
# Slurm of an emulated cluster (tools/cluster/cluster.sh) of 2 and 4 nodes,
# 1 and 2 ranks per node, links unshaped and shaped to 1 Gbit/s; then a
# summary table (busBw at 16 MiB against the link rate and MPI_Allreduce) and
# a plot of busBw against message size for every configuration.
#
#   bash results/cluster/run.sh [OUT_DIR]      (root; default results/cluster; ~10 min)
#
# Environment: HPCNN_BIN (default build/release/bin), HPCNN_SIZES
# (default 4K,64K,1M,4M,16M), HPCNN_ITERS (5), HPCNN_WARMUP (1).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "${1:-$root/results/cluster}" && cd "${1:-$root/results/cluster}" && pwd)
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-study
export HPCNN_ROOT=$root HPCNN_BIN=${HPCNN_BIN:-$root/build/release/bin}
export HPCNN_SIZES=${HPCNN_SIZES:-4K,64K,1M,4M,16M} HPCNN_ITERS=${HPCNN_ITERS:-5} HPCNN_WARMUP=${HPCNN_WARMUP:-1}
trap 'bash "$C" down > /dev/null 2>&1 || true' EXIT
rm -rf "$out/raw"
mkdir -p "$out/raw"
{
  echo "# $(date -Is) $(git -C "$root" rev-parse --short HEAD)"
  echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores shared by every emulated node"
  echo "# sizes $HPCNN_SIZES, $HPCNN_ITERS iterations after $HPCNN_WARMUP warm-up"
} > "$out/raw/machine.txt"
for nodes in 2 4; do
  bash "$C" up --nodes "$nodes" > /dev/null
  bash "$C" slurm start > /dev/null
  for link in unshaped 1gbit; do
    if [[ $link == unshaped ]]; then bash "$C" unshape; else bash "$C" shape "$link"; fi
    for rpn in 1 2; do
      name=${nodes}n-x${rpn}-$link
      echo "[study] $name: sbatch -N $nodes --ntasks-per-node=$rpn jobs/slurm/bench_allreduce.sh"
      HPCNN_RESULTS=$out/raw/$name timeout 1200 bash "$C" run sbatch --wait -N "$nodes" --ntasks-per-node="$rpn" \
        -o "$out/raw/$name.out" "$root/jobs/slurm/bench_allreduce.sh" > /dev/null
      mv "$out/raw/$name"/bench-allreduce-* "$out/raw/$name.d" && rmdir "$out/raw/$name"
      mv "$out/raw/$name.d" "$out/raw/$name"
      grep -E "^#|^ +(ring|hier|mpi|rhd) .* 16777216 " "$out/raw/$name/bench-np$((nodes * rpn)).txt" || true
    done
  done
  bash "$C" down > /dev/null
done
"${HPCNN_PYTHON:-/usr/bin/python3}" "$root/results/cluster/summarise.py" "$out/raw" "$out"
