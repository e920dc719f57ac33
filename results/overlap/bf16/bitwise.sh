#!/usr/bin/env bash
# Do two builds train bit for bit alike on 2 emulated nodes at 1 Gbit/s
# (issue 30)? The communication thread's waits across nodes (paced: tests
# and sleeps, src/comm/mpi/exchange.cpp) only run across nodes, which the
# ctest suite's one-node MPI runs never reach; a change to them must not
# change a single bit. keras-cnn, global batch 128, buckets, bf16 and FP32
# messages, 20 steps with each build; compares model.h5's parameters and the
# step losses.
#
#   bash results/overlap/bf16/bitwise.sh BIN_A BIN_B     (root; ~2 min)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
a=${1:?BIN_A (the bin directory of a build)} b=${2:?BIN_B}
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-bitwise
work=$(mktemp -d /tmp/hpcnn-bitwise-XXXXXX)
trap 'bash "$C" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$a/hpcnn" data import-idx -q --train-images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
  --train-labels /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz --out "$work/fm" > /dev/null
bash "$C" up --nodes 2 --link 1gbit > /dev/null
for mode in bf16 fp32; do
  extra=(--bucket-mb 1)
  [[ $mode == bf16 ]] && extra+=(--grad-compression bf16)
  for side in a b; do
    bin=$a
    [[ $side == b ]] && bin=$b
    bash "$C" run timeout 600 mpirun -x OMP_NUM_THREADS=1 -H node1:1,node2:1 -np 2 "$bin/hpcnn" train -q \
      --model keras-cnn --data "$work/fm" --global-batch 128 --threads 1 --max-steps 20 "${extra[@]}" \
      --out "$work/$mode-$side" > /dev/null 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
  done
  "${PYTHON:-/usr/bin/python3}" - "$work/$mode-a" "$work/$mode-b" "$mode" << 'PY'
import json, sys
import h5py, numpy as np
a, b = (h5py.File(f"{d}/model.h5")["params"][()] for d in sys.argv[1:3])
la, lb = (json.load(open(f"{d}/metrics.json"))["step_losses"] for d in sys.argv[1:3])
same = np.array_equal(a.view(np.uint32), b.view(np.uint32)) and la == lb
print(f"{sys.argv[3]}: {'bitwise equal' if same else 'DIFFERENT'} ({a.size} parameters, {len(la)} step losses)")
sys.exit(0 if same else 1)
PY
done
