#!/usr/bin/env bash
# Verifies the CUDA backend on a machine with a GPU, in one command (issue 10):
#
#   tools/gpu/verify.sh                       # a build tree: build/release (built here if missing)
#   tools/gpu/verify.sh --build DIR           # another build tree
#   tools/gpu/verify.sh --bundle FILE.tar.gz  # a bundle made by tools/gpu/bundle.sh on a build machine
#   tools/gpu/verify.sh --out DIR             # where the runs and the report go [a temporary directory]
#
# It runs the GPU op tests (every op against the reference backend: bitwise
# for the element-wise ops, pooling, dropout and optimizers, 1e-5 for conv and
# dense; each op's worst error printed), trains circuit-cnn 50 steps on onednn
# and twice on cuda and prints the largest step-loss difference cuda vs onednn
# over the first 20 steps (fails above 1e-4), whether the two cuda runs are
# bit-identical, samples/s per backend, hpcnn against PyTorch eager on the
# same GPU (tools/bench/peers, when python3 has torch with CUDA; recorded, not
# asserted), NCCL against the staged ring on 2
# ranks when there are 2 GPUs and mpirun, compute-sanitizer memcheck and
# racecheck on the op tests when it is installed, and ends with
# "N passed, M failed" (exit 1 when M > 0). Without a GPU it says so and
# exits 77. About 2-5 minutes.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="" bundle="" out=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "verify.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $build && -n $bundle ]] && { echo "verify.sh: --build and --bundle exclude each other" >&2; exit 2; }
out=${out:-$(mktemp -d /tmp/hpcnn-gpu-verify-XXXXXX)}
mkdir -p "$out" || { echo "verify.sh: cannot make $out" >&2; exit 2; }
PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
finish() { echo "$PASSED passed, $FAILED failed"; [[ $FAILED -eq 0 ]]; exit $?; }

# --- the binaries ----------------------------------------------------------------
if [[ -n $bundle ]]; then
  [[ -f $bundle ]] || { echo "verify.sh: no bundle at $bundle" >&2; exit 2; }
  tar -xzf "$bundle" -C "$out" || { echo "verify.sh: cannot unpack $bundle" >&2; exit 2; }
  bin=$out/hpcnn-gpu-bundle/bin
  # shellcheck source=/dev/null
  source "$out/hpcnn-gpu-bundle/env.sh"
else
  build=${build:-$root/build/release}
  if [[ ! -x $build/bin/hpcnn ]]; then
    echo "[verify] no build at $build: configuring and building (CUDA required)"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHPCNN_REQUIRE_CUDA=ON > "$out/cmake.log" 2>&1 &&
      cmake --build "$build" -j"$(nproc)" > "$out/build.log" 2>&1 ||
      { echo "verify.sh: the build failed (see $out/cmake.log, $out/build.log)" >&2; exit 1; }
  fi
  bin=$build/bin
  [[ -x $build/tests/hpcnn_gpu_tests ]] && cp "$build/tests/hpcnn_gpu_tests" "$bin/" 2> /dev/null
fi
# CUDA's libraries from the toolkit or from pip wheels (nvidia-*), if present.
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib $(python3 -c 'import glob, os, nvidia; [print(p) for p in glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib"))]' 2> /dev/null); do
  [[ -d $d ]] && export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
done
HPCNN=$bin/hpcnn
[[ -x $HPCNN ]] || { echo "verify.sh: no hpcnn at $HPCNN" >&2; exit 2; }
echo "[verify] $("$HPCNN" version)"
"$HPCNN" info | tee "$out/info.txt"
gpus=$(sed -nE 's/^GPUs +([0-9]+).*/\1/p' "$out/info.txt")
if [[ ${gpus:-0} -lt 1 ]]; then
  echo "SKIP: no GPU visible to hpcnn ($(grep '^GPUs' "$out/info.txt"))"
  exit 77
fi

# --- op tests ------------------------------------------------------------------------
if [[ -x $bin/hpcnn_gpu_tests ]]; then
  HPCNN_REQUIRE_GPU=1 "$bin/hpcnn_gpu_tests" > "$out/gpu-tests.txt" 2>&1 && pass "GPU op tests" ||
    fail "GPU op tests (see $out/gpu-tests.txt)"
  grep -E '^op ' "$out/gpu-tests.txt" | sort -u
  if command -v compute-sanitizer > /dev/null; then
    for tool in memcheck racecheck; do
      compute-sanitizer --tool $tool --error-exitcode 3 "$bin/hpcnn_gpu_tests" "[gpu]" > "$out/sanitizer-$tool.txt" 2>&1 &&
        pass "compute-sanitizer $tool" || fail "compute-sanitizer $tool (see $out/sanitizer-$tool.txt)"
    done
  else
    echo "[verify] compute-sanitizer not installed: memcheck/racecheck skipped"
  fi
else
  fail "no hpcnn_gpu_tests beside hpcnn"
fi

# --- training: onednn once, cuda twice -------------------------------------------------------
cd "$out" || exit 2
"$HPCNN" data synth circuits -q --train 1600 --test 200 --out circuits > /dev/null || fail "data synth"
TRAIN=(train -q --data circuits --model circuit-cnn --batch 32 --max-steps 50 --checkpoint-every off --force)
"$HPCNN" "${TRAIN[@]}" --backend onednn --threads "$(nproc)" --out run-onednn > /dev/null && pass "train onednn" ||
  fail "train onednn"
for r in a b; do
  "$HPCNN" "${TRAIN[@]}" --backend cuda --out run-cuda-$r > /dev/null 2> cuda-$r.err && pass "train cuda ($r)" ||
    fail "train cuda ($r): $(tail -2 cuda-$r.err)"
done
python3 - << 'PY' && pass "cuda vs onednn step losses, cuda reruns bit-identical" || fail "cuda vs onednn or cuda reruns"
import json, sys
m = {k: json.load(open(f"run-{k}/metrics.json")) for k in ("onednn", "cuda-a", "cuda-b")}
la, lc, lc2 = (m[k]["step_losses"] for k in ("onednn", "cuda-a", "cuda-b"))
worst = max(abs(a - c) for a, c in zip(la[:20], lc[:20]))
print(f"[verify] largest step-loss difference cuda vs onednn over 20 steps: {worst:.3g} (limit 1e-4)")
print(f"[verify] the two cuda runs are bit-identical: {lc == lc2}")
for k in m:
    print(f"[verify] samples/s {k}: {m[k]['samples_per_second']:.1f}")
print(f"[verify] host<->device per step (cuda): {m['cuda-a'].get('device_transfers')}")
sys.exit(0 if worst <= 1e-4 and lc == lc2 else 1)
PY

# --- against PyTorch eager on the same GPU (recorded, not asserted) ----------------------
# tools/bench/peers/peers.py --device cuda with the python that has torch;
# Fashion-MNIST is not needed to time steps: a random stand-in of its shape.
peers=$root/tools/bench/peers/peers.py
[[ -f $peers ]] || peers=$(dirname "$0")/../bench/peers/peers.py
if [[ -f $peers ]] && python3 -c 'import torch, h5py; assert torch.cuda.is_available()' 2> /dev/null; then
  mkdir -p peers-data
  python3 -c 'import numpy as np; r = np.random.default_rng(0); np.savez("fm.npz", x_train=r.integers(0, 256, (8000, 28, 28), dtype=np.uint8), y_train=r.integers(0, 10, 8000))' &&
    "$HPCNN" data import-npz -q fm.npz --name fashion-mnist --out peers-data/fashion-mnist > /dev/null
  python3 "$peers" --device cuda --python "$(command -v python3)" --hpcnn "$HPCNN" --data-dir peers-data \
    --networks tiny-cnn,keras-cnn,solar-cnn --repeats 3 > peers-gpu.txt 2> peers-gpu.log &&
    { cat peers-gpu.txt; pass "hpcnn vs PyTorch eager on the GPU (targets: tiny-cnn, keras-cnn >= 2x; solar-cnn >= 1x)"; } ||
    fail "peers --device cuda: $(tail -3 peers-gpu.log)"
else
  echo "[verify] no PyTorch with CUDA (and h5py) here: the comparison with PyTorch eager skipped"
fi

# --- NCCL against the staged ring, 2 ranks --------------------------------------------------
if [[ ${gpus:-0} -ge 2 ]] && command -v mpirun > /dev/null; then
  MPI=(mpirun -n 2 --allow-run-as-root --oversubscribe --bind-to none)
  for algo in nccl ring; do
    "${MPI[@]}" "$HPCNN" "${TRAIN[@]}" --backend cuda --allreduce $algo --max-steps 20 --global-batch 64 \
      --out run-2gpu-$algo > /dev/null 2> 2gpu-$algo.err && pass "2 GPUs, --allreduce $algo" ||
      fail "2 GPUs, --allreduce $algo: $(tail -2 2gpu-$algo.err)"
  done
  python3 - << 'PY' && pass "nccl and staged ring agree" || fail "nccl vs staged ring"
import json, sys
a, b = (json.load(open(f"run-2gpu-{k}/metrics.json")) for k in ("nccl", "ring"))
worst = max(abs(x - y) for x, y in zip(a["step_losses"], b["step_losses"]))
print(f"[verify] nccl vs staged ring, 20 steps: largest step-loss difference {worst:.3g}; "
      f"samples/s {a['samples_per_second']:.1f} vs {b['samples_per_second']:.1f}")
sys.exit(0 if worst <= 1e-4 else 1)
PY
else
  echo "[verify] fewer than 2 GPUs or no mpirun: NCCL across ranks not exercised"
fi
finish
