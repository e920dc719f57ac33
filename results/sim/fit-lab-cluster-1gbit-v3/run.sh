#!/usr/bin/env bash
# The emulated cluster's all-reduce measurements again (issue 29), with today's
# tools/cluster settings (Open MPI's TCP eager limit 512 KiB, 4 MiB socket
# buffers, added after results/cluster/raw was measured), at the fit's steady
# sizes: 2 and 4 nodes of 1 and 2 ranks, 1 Gbit/s, every algorithm, 4 KiB,
# 4 and 16 MiB. Then the cost model fitted on them with the shaper's bucket.
#   bash results/sim/fit-lab-cluster-1gbit-v3/run.sh      (root; a quiet machine; ~5 min)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=$root/results/sim/fit-lab-cluster-1gbit-v3
C=$root/tools/cluster/cluster.sh
HPCNN=${HPCNN:-$root/build/release/bin/hpcnn}
export HPCNN_CLUSTER_STATE=/run/hpcnn-lab-fit-v3
trap 'bash "$C" down > /dev/null 2>&1 || true' EXIT
{
  echo "# $(date -Is) $(git -C "$root" rev-parse --short HEAD)"
  echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores shared by every emulated node; load $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
for nodes in 2 4; do
  bash "$C" up --nodes "$nodes" --link 1gbit > /dev/null
  for rpn in 1 2; do
    hosts=$(seq -s, -f "node%g:$rpn" 1 "$nodes") np=$((nodes * rpn))
    name=${nodes}n-x${rpn}-bench-np$np
    echo "[lab] $name"
    bash "$C" run timeout 900 mpirun -x OMP_NUM_THREADS=1 -H "$hosts" -np "$np" "$HPCNN" bench allreduce -q \
      --algo all --sizes 4K,4M,16M --iters 5 --warmup 1 --csv "$out/$name.csv" > "$out/$name.txt"
    grep -E "^ *(ring|tree|rhd|central|mpi|hier) .* 16777216 " "$out/$name.txt" || true
  done
  bash "$C" down > /dev/null
done
"$root/build/release/bin/hpcnn-merge" allreduce --fit --link-burst 256KiB "$out"/*-bench-np*.csv --out "$out" > /dev/null
grep -E "^\| (ring|tree|rhd|central|mpi|hier) \| [0-9]+ \| [0-9]+ \| 16 MiB" "$out/fit.md"
