#!/usr/bin/env bash
# Verifies the CUDA backend on a machine with GPUs: the acceptance test to run
# first (issues 10, 28, 33). Every check prints one line:
#   PASS|FAIL <check>: <op/shape or what ran>; worst <error>; repro: <command alone>
# and the script ends with "N passed, M failed" (exit 1 when M > 0) and
# writes OUT/verify.json (the same lines, for results/gpu/).
#
#   tools/gpu/verify.sh                       # a build tree: build/release (built here if missing)
#   tools/gpu/verify.sh --build DIR           # another build tree
#   tools/gpu/verify.sh --bundle FILE.tar.gz  # a bundle made by tools/gpu/bundle.sh on a build machine
#   tools/gpu/verify.sh --out DIR             # where the runs and the report go [a temporary directory]
#   tools/gpu/verify.sh --quick               # op tests + 20 cuda steps + 2-rank NCCL, no sanitizer,
#                                             # no PyTorch (under 2 minutes)
#   tools/gpu/verify.sh --gpus N              # use at most N GPUs [all visible]
#
# One GPU (a workstation, `salloc --gpus=1`): the op tests (every op against
# the reference backend: bitwise for the element-wise ops, pooling, dropout,
# optimizers and the bias-gradient tree, 1e-5 for conv and dense; each op's
# worst error and cuDNN's chosen algorithms printed), circuit-cnn 50 steps on
# onednn and twice on cuda (step losses within 1e-4, the two cuda runs
# bit-identical), compute-sanitizer memcheck on all kernels and racecheck on
# hpcnn's own (cuDNN/cuBLAS kernels give false race reports), and hpcnn
# against PyTorch eager (recorded, never asserted).
# Eight GPUs (one node, `salloc -N1 --gpus=8` or in an sbatch job): the above,
# then NCCL against the staged ring on 2 ranks (metrics.json must say
# world_size 2 and allreduce nccl), and jobs/slurm/train_8gpu.sh's own train
# command line on every visible GPU (one rank per GPU, --allreduce nccl).
#
# Without a GPU it prints "SKIP: no GPU visible to hpcnn" and exits 77; when
# nvidia-smi lists GPUs that hpcnn cannot use (a driver older than CUDA 13
# needs: R580+), it FAILs naming the driver. About 2-5 minutes (--quick: < 2).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="" bundle="" out="" quick=0 max_gpus=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --gpus) max_gpus=$2; shift 2 ;;
    -h | --help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "verify.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $build && -n $bundle ]] && { echo "verify.sh: --build and --bundle exclude each other" >&2; exit 2; }
out=${out:-$(mktemp -d /tmp/hpcnn-gpu-verify-XXXXXX)}
mkdir -p "$out" || { echo "verify.sh: cannot make $out" >&2; exit 2; }
[[ -z $max_gpus || $max_gpus =~ ^[1-9][0-9]*$ ]] || { echo "verify.sh: --gpus wants a positive count" >&2; exit 2; }
PASSED=0 FAILED=0
# Each check: one line (also kept for verify.json).
pass() { PASSED=$((PASSED + 1)); echo "PASS $*" | tee -a "$out/checks.txt"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL $*" | tee -a "$out/checks.txt"; }
finish() {
  echo "$PASSED passed, $FAILED failed"
  python3 - "$out" "$PASSED" "$FAILED" << 'PY' 2> /dev/null || true
import json, os, sys
out, passed, failed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(os.path.join(out, "checks.txt")).read().splitlines() if os.path.exists(os.path.join(out, "checks.txt")) else []
info = open(os.path.join(out, "info.txt")).read() if os.path.exists(os.path.join(out, "info.txt")) else ""
json.dump({"format": "hpcnn-gpu-verify", "version": 1, "info": info, "passed": passed, "failed": failed,
           "checks": [{"result": l.split(" ", 1)[0], "line": l.split(" ", 1)[1] if " " in l else ""} for l in lines]},
          open(os.path.join(out, "verify.json"), "w"), indent=1)
PY
  [[ $FAILED -eq 0 ]]
  exit $?
}

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
# CUDA's libraries: the toolkit's first. pip wheels (nvidia-*) only come
# after it, and only when the toolkit has no cuDNN: a torch wheel for CUDA 12
# ships a libcudnn.so.9 that would otherwise load ahead of CUDA 13's (issue
# 33.2: the loop used to prepend them).
cuda_dirs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [[ -d $d ]] && cuda_dirs="$cuda_dirs:$d"; done
if ! ls /usr/local/cuda/lib64/libcudnn.so.9* > /dev/null 2>&1; then
  for d in $(python3 -c 'import glob, os, nvidia; [print(p) for p in glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib"))]' 2> /dev/null); do
    [[ -d $d ]] && cuda_dirs="$cuda_dirs:$d"
  done
fi
[[ -n $cuda_dirs ]] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH}$cuda_dirs"
LD_LIBRARY_PATH=${LD_LIBRARY_PATH#:}
HPCNN=$bin/hpcnn
[[ -x $HPCNN ]] || { echo "verify.sh: no hpcnn at $HPCNN" >&2; exit 2; }
# Libraries the loader cannot find (a driver-only machine and a bundle made
# without --cuda-libs): one FAIL naming them and where they come from.
missing=$(ldd "$HPCNN" 2> /dev/null | awk '/not found/{print $1}' | tr '\n' ' ')
if [[ -n $missing ]]; then
  fail "loader: hpcnn needs ${missing% } and they are not on LD_LIBRARY_PATH ($LD_LIBRARY_PATH); install the CUDA 13 toolkit (or the pip wheels nvidia-cublas, nvidia-cudnn-cu13, nvidia-nccl-cu13) or make the bundle with tools/gpu/bundle.sh --cuda-libs; repro: ldd $HPCNN"
  finish
fi
echo "[verify] $("$HPCNN" version)"
"$HPCNN" info | tee "$out/info.txt"
gpus=$(sed -nE 's/^GPUs +([0-9]+).*/\1/p' "$out/info.txt")
if [[ ${gpus:-0} -lt 1 ]]; then
  # GPUs the driver lists but CUDA cannot use: not a skip (issue 33.2). CUDA
  # 13's runtime, cuBLAS 13 and cuDNN/NCCL for CUDA 13 need driver R580 or
  # newer; R535-R570 (common on H100 clusters) fails cudaGetDeviceCount.
  smi_gpus=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU ' || true)
  if [[ ${smi_gpus:-0} -ge 1 ]]; then
    driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2> /dev/null | head -1)
    fail "driver: nvidia-smi lists $smi_gpus GPU(s), driver ${driver:-?}, but hpcnn sees none ($(grep '^GPUs' "$out/info.txt")); CUDA 13 needs driver R580+: update the driver, or load cuda-compat for CUDA 13 (LD_LIBRARY_PATH=/usr/local/cuda/compat), or build with a CUDA 12 toolkit; repro: $HPCNN info"
    finish
  fi
  echo "SKIP: no GPU visible to hpcnn ($(grep '^GPUs' "$out/info.txt"))"
  exit 77
fi
[[ -n $max_gpus && $max_gpus -lt $gpus ]] && gpus=$max_gpus

# --- op tests: one line per test case, its worst error and how to rerun it alone ---------------
if [[ -x $bin/hpcnn_gpu_tests ]]; then
  "$bin/hpcnn_gpu_tests" --list-test-names-only 2> /dev/null | grep -E '^cuda: ' > "$out/gpu-test-names.txt"
  [[ -s $out/gpu-test-names.txt ]] || fail "GPU op tests: none listed; repro: $bin/hpcnn_gpu_tests --list-test-names-only"
  i=0
  while IFS= read -r name; do
    i=$((i + 1))
    log=$out/gpu-test-$i.txt
    # Catch reads ',' in a test spec as "or" and '[' as a tag: escape them (and '\\').
    spec=$(printf '%s' "$name" | sed -e 's/[][\\,]/\\&/g')
    repro="HPCNN_REQUIRE_GPU=1 $bin/hpcnn_gpu_tests '$spec'"
    rc=0
    HPCNN_REQUIRE_GPU=1 "$bin/hpcnn_gpu_tests" "$spec" > "$log" 2>&1 || rc=$?
    # "op NAME worst relative error E" / "op NAME elements differing D of N": the worst of each kind.
    worst=$(awk '/^op .* worst relative error /{e=$NF+0; if (e>=w) {w=e; o=$0}} /^op .* elements differing /{d=$(NF-2)+0; if (d>=dd) {dd=d; od=$0}}
                 END {if (o!="") printf "%s", o; if (od!="") printf "%s%s", (o!=""?"; ":""), od}' "$log")
    where=$(grep -m1 -E 'trial|with message|FAILED' "$log" | tr -s ' ' | head -c 200)
    if [[ $rc -eq 0 ]]; then
      pass "op test \"$name\": worst ${worst:-n/a}; repro: $repro"
    else
      fail "op test \"$name\" (exit $rc, ${where:-see $log}): worst ${worst:-n/a}; log $log; repro: $repro"
    fi
  done < "$out/gpu-test-names.txt"
  grep -h '^cudnn conv' "$out"/gpu-test-*.txt 2> /dev/null | sort -u > "$out/cudnn-algorithms.txt"
  echo "[verify] cuDNN algorithms chosen: $(wc -l < "$out/cudnn-algorithms.txt") shapes (see $out/cudnn-algorithms.txt)"
  if [[ $quick -eq 1 ]]; then
    echo "[verify] --quick: compute-sanitizer skipped"
  elif command -v compute-sanitizer > /dev/null; then
    # memcheck on everything; racecheck on hpcnn's own kernels only: it reports
    # false hazards inside cuDNN and cuBLAS kernels (issue 33.8).
    for tool in memcheck racecheck synccheck; do
      filter=()
      [[ $tool != memcheck ]] && filter=(--kernel-name kns=hpcnn)
      scmd=(compute-sanitizer --tool "$tool" "${filter[@]}" --error-exitcode 3 "$bin/hpcnn_gpu_tests" "[gpu]")
      "${scmd[@]}" > "$out/sanitizer-$tool.txt" 2>&1 && pass "compute-sanitizer $tool: all op tests; repro: ${scmd[*]}" ||
        fail "compute-sanitizer $tool: $(grep -m1 -E '=========  ?[A-Z]' "$out/sanitizer-$tool.txt" | head -c 200); log $out/sanitizer-$tool.txt; repro: ${scmd[*]}"
    done
  else
    echo "[verify] compute-sanitizer not installed: memcheck/racecheck skipped"
  fi
else
  fail "GPU op tests: no hpcnn_gpu_tests beside hpcnn ($bin); repro: build the hpcnn_gpu_tests target"
fi

# --- training: onednn once, cuda twice -------------------------------------------------------
cd "$out" || exit 2
steps=50
[[ $quick -eq 1 ]] && steps=20
"$HPCNN" data synth circuits -q --train 1600 --test 200 --out circuits > /dev/null ||
  fail "data synth: circuits; repro: $HPCNN data synth circuits --train 1600 --test 200 --out circuits"
# Without --max-steps: each run gives its own (an option given twice is a
# usage error, which the 2-GPU runs of main 9f91d3b would have hit).
TRAIN=(train -q --data circuits --model circuit-cnn --batch 32 --checkpoint-every off --force)
cmd="$HPCNN ${TRAIN[*]} --max-steps $steps --backend onednn --threads $(nproc) --out run-onednn"
$cmd > /dev/null 2> onednn.err && pass "train onednn: circuit-cnn batch 32, $steps steps; repro: $cmd" ||
  fail "train onednn: $(tail -1 onednn.err); repro: $cmd"
for r in a b; do
  cmd="$HPCNN ${TRAIN[*]} --max-steps $steps --backend cuda --out run-cuda-$r"
  $cmd > /dev/null 2> cuda-$r.err && pass "train cuda ($r): circuit-cnn batch 32, $steps steps; repro: $cmd" ||
    fail "train cuda ($r): $(tail -1 cuda-$r.err); repro: $cmd"
done
line=$(python3 - << 'PY'
import json
m = {k: json.load(open(f"run-{k}/metrics.json")) for k in ("onednn", "cuda-a", "cuda-b")}
la, lc, lc2 = (m[k]["step_losses"] for k in ("onednn", "cuda-a", "cuda-b"))
worst = max(abs(a - c) for a, c in zip(la[:20], lc[:20]))
ok = worst <= 1e-4 and lc == lc2
print(("PASS" if ok else "FAIL") + f" cuda vs onednn: circuit-cnn step losses 1-20; worst {worst:.3g} (limit 1e-4); "
      f"cuda reruns bit-identical: {lc == lc2}; samples/s " +
      ", ".join(f"{k} {m[k]['samples_per_second']:.1f}" for k in m) +
      f"; host<->device per step (cuda): {m['cuda-a'].get('device_transfers')}")
PY
)
case $line in
  PASS*) pass "${line#PASS }; repro: the two train lines above" ;;
  FAIL*) fail "${line#FAIL }; repro: the two train lines above" ;;
  *) fail "cuda vs onednn: metrics.json unreadable (a run failed above); repro: the train lines above" ;;
esac

# --- against PyTorch eager on the same GPU (recorded, never asserted) -------------------------
# tools/bench/peers/peers.py --device cuda with the python that has torch;
# Fashion-MNIST is not needed to time steps: a random stand-in of its shape.
# Its failure is reported as INFO, not FAIL: the comparison is not a check.
peers=$root/tools/bench/peers/peers.py
[[ -f $peers ]] || peers=$(dirname "$0")/../bench/peers/peers.py
if [[ $quick -eq 1 ]]; then
  echo "[verify] --quick: the comparison with PyTorch eager skipped"
elif [[ -f $peers ]] && python3 -c 'import torch, h5py; assert torch.cuda.is_available()' 2> /dev/null; then
  mkdir -p peers-data
  python3 -c 'import numpy as np; r = np.random.default_rng(0); np.savez("fm.npz", x_train=r.integers(0, 256, (8000, 28, 28), dtype=np.uint8), y_train=r.integers(0, 10, 8000))' &&
    "$HPCNN" data import-npz -q fm.npz --name fashion-mnist --out peers-data/fashion-mnist > /dev/null
  if python3 "$peers" --device cuda --python "$(command -v python3)" --hpcnn "$HPCNN" --data-dir peers-data \
    --networks tiny-cnn,keras-cnn,solar-cnn --repeats 3 > peers-gpu.txt 2> peers-gpu.log; then
    cat peers-gpu.txt
    echo "INFO hpcnn vs PyTorch eager on the GPU recorded in $out/peers-gpu.txt (targets: tiny-cnn, keras-cnn >= 2x; solar-cnn >= 1x)"
  else
    echo "INFO peers --device cuda did not complete (not a check): $(tail -1 peers-gpu.log)"
  fi
else
  echo "[verify] no PyTorch with CUDA (and h5py) here: the comparison with PyTorch eager skipped"
fi

# --- NCCL against the staged ring, 2 ranks; then train_8gpu.sh's command on every GPU ----------
# metrics.json must say what ran: world_size and allreduce (issue 33.8: a
# run that fell back to one rank used to pass).
ran_as() {  # DIR RANKS ALGO: prints a reason when metrics.json disagrees
  python3 - "$@" << 'PY'
import json, sys
d, ranks, algo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
c = json.load(open(f"{d}/metrics.json"))["config"]
if c.get("world_size") != ranks or c.get("allreduce") != algo:
    print(f"metrics.json says world_size {c.get('world_size')}, allreduce {c.get('allreduce')}")
PY
}
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
if [[ $gpus -ge 2 ]] && command -v mpirun > /dev/null; then
  for algo in nccl ring; do
    cmd="${MPI[*]} -n 2 $HPCNN ${TRAIN[*]} --backend cuda --allreduce $algo --max-steps 20 --global-batch 64 --out run-2gpu-$algo"
    if $cmd > /dev/null 2> 2gpu-$algo.err; then
      why=$(ran_as run-2gpu-$algo 2 $algo 2>&1)
      [[ -z $why ]] && pass "2 GPUs, --allreduce $algo: circuit-cnn global batch 64, 20 steps, 2 ranks confirmed; repro: $cmd" ||
        fail "2 GPUs, --allreduce $algo: $why; repro: $cmd"
    else
      fail "2 GPUs, --allreduce $algo: $(tail -1 2gpu-$algo.err); repro: $cmd"
    fi
  done
  line=$(python3 - << 'PY' 2>&1
import json
a, b = (json.load(open(f"run-2gpu-{k}/metrics.json")) for k in ("nccl", "ring"))
worst = max(abs(x - y) for x, y in zip(a["step_losses"], b["step_losses"]))
print(("PASS" if worst <= 1e-4 else "FAIL") + f" nccl vs staged ring: 2 ranks, 20 step losses; worst {worst:.3g} (limit 1e-4); "
      f"samples/s {a['samples_per_second']:.1f} vs {b['samples_per_second']:.1f}")
PY
)
  case $line in
    PASS*) pass "${line#PASS }; repro: the two 2-GPU lines above" ;;
    *) fail "${line#FAIL }; repro: the two 2-GPU lines above" ;;
  esac
  # jobs/slurm/train_8gpu.sh's train command (train_and_summarise's options,
  # keras-cnn on a small synthetic stand-in), on every GPU here.
  if [[ $quick -eq 0 ]]; then
    algo=nccl
    cmd="${MPI[*]} -n $gpus $HPCNN train -q --backend cuda --model circuit-cnn --data circuits --epochs 1 --batch 32 --threads 1 --allreduce $algo --max-steps 20 --checkpoint-every off --force --out run-${gpus}gpu"
    if $cmd > /dev/null 2> ${gpus}gpu.err; then
      why=$(ran_as run-${gpus}gpu "$gpus" $algo 2>&1)
      [[ -z $why ]] && pass "train_8gpu.sh's command on $gpus GPUs: one rank per GPU, --allreduce nccl, 20 steps; repro: $cmd" ||
        fail "train_8gpu.sh's command on $gpus GPUs: $why; repro: $cmd"
    else
      fail "train_8gpu.sh's command on $gpus GPUs: $(tail -1 ${gpus}gpu.err); repro: $cmd"
    fi
  fi
else
  echo "[verify] fewer than 2 GPUs or no mpirun: NCCL across ranks not exercised"
fi
finish
