#!/usr/bin/env bash
# tools/gpu/verify.sh and tools/gpu/bundle.sh on this machine: their options,
# the bundle's contents, and, without a GPU, verify.sh's clean skip (77, the
# reason printed) from a build tree and from a bundle. On a machine with a
# GPU the skip checks give way to nothing: verify.sh is run by hand there.
source "$(dirname "$0")/lib.sh"
: "${SOURCE_DIR:?set SOURCE_DIR to the repository}"
VERIFY=$SOURCE_DIR/tools/gpu/verify.sh
BUNDLE=$SOURCE_DIR/tools/gpu/bundle.sh
BUILD=$(cd "$(dirname "$HPCNN")/.." && pwd)

# The CUDA sources' launch discipline (issue 28.1, 28.3), checked on the text:
# every kernel launch takes its grid from launch_config.hpp (or is <<<1, 1>>>)
# and is followed by its own launch check, within 8 lines and before any
# other launch (so a check names the kernel that failed).
CUDA_SRC=("$SOURCE_DIR"/kernels/cuda/*.cu)
unchecked=$(awk 'l && FNR>l && /cudaGetLastError/{l=0}
                 l && (FNR==l+8 || (FNR>l && /<<</)){print name; l=0}
                 /<<</{l=FNR; name=FILENAME":"FNR}' "${CUDA_SRC[@]}")
[[ -z $unchecked ]] && pass || fail "kernel launches without a launch check: $unchecked"
# Since issue 27 there is one launch in the CUDA sources: launch_on, the
# helper in cuda_kernels.cu that takes every grid from launch_config.hpp and
# queues nothing for empty work; every kernel is queued through it.
launches=$(grep -n "<<<" "${CUDA_SRC[@]}" || true)
helper="$SOURCE_DIR/kernels/cuda/cuda_kernels.cu"
[[ $(grep -c . <<<"$launches") == 1 && $launches == "$helper:"* ]] &&
  grep -q "if (work <= 0) return;" "$helper" && grep -q "launch::per_element(work, name)" "$helper" &&
  grep -q "launch::per_channel(work, maths::kTreeLanes, name)" "$helper" && pass ||
  fail "kernel launches outside the one launch helper (launch_on in cuda_kernels.cu): $launches"

"$VERIFY" --help > help.txt
for want in "N passed, M failed" "--quick" "One GPU" "Eight GPUs" "repro:" "verify.json"; do
  grep -qF -- "$want" help.txt && pass || fail "verify.sh --help lacks '$want'"
done
expect_exit 2 "--gpus wants a positive count" "$VERIFY" --gpus 0
expect_exit 2 "unknown option '--bogus'" "$VERIFY" --bogus
expect_exit 2 "exclude each other" "$VERIFY" --build x --bundle y
expect_exit 2 "unknown option '--nope'" "$BUNDLE" --nope

"$BUNDLE" --build "$BUILD" --out b.tar.gz > bundle.out 2>&1 && pass || fail "bundle.sh: $(tail -3 bundle.out)"
tar -tzf b.tar.gz > list.txt
for f in bin/hpcnn bin/hpcnn_gpu_tests tools/gpu/verify.sh env.sh; do
  grep -q "^hpcnn-gpu-bundle/$f$" list.txt && pass || fail "bundle lacks $f"
done
grep -q "^hpcnn-gpu-bundle/lib/libdnnl" list.txt && pass || fail "bundle lacks oneDNN"
! grep -qE "^hpcnn-gpu-bundle/lib/(libcuda|libcublas|libcudnn|libnccl)" list.txt && pass ||
  fail "bundle carries CUDA's own libraries"
# On a machine with only the driver, what the bundle's hpcnn takes from
# outside the bundle must be the C library family and CUDA's libraries (which
# bundle.sh --cuda-libs adds), nothing else.
tar -xzf b.tar.gz
outside=$(LD_LIBRARY_PATH=$PWD/hpcnn-gpu-bundle/lib ldd hpcnn-gpu-bundle/bin/hpcnn | awk '/=> \//{print $3}' |
  grep -v "^$PWD/hpcnn-gpu-bundle/lib/" | xargs -r -n1 basename | sed -E 's/\.so.*//' |
  grep -vE '^(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux.*|libcublas|libcublasLt|libcudnn|libnccl)$' |
  tr '\n' ' ' || true)
[[ -z $outside ]] && pass || fail "the bundle's hpcnn loads from outside the bundle: $outside"
"$BUNDLE" --help | grep -q -- "--cuda-libs" && pass || fail "bundle.sh --help lacks --cuda-libs"

if "$HPCNN" info | grep -qE '^GPUs +0'; then
  rc=0
  "$VERIFY" --build "$BUILD" --out v1 > v1.out 2>&1 || rc=$?
  [[ $rc -eq 77 ]] && grep -q "^SKIP: no GPU visible to hpcnn" v1.out && pass || fail "verify.sh without a GPU: exit $rc: $(tail -3 v1.out)"
  rc=0
  "$VERIFY" --bundle b.tar.gz --out v2 > v2.out 2>&1 || rc=$?
  [[ $rc -eq 77 ]] && grep -q "^SKIP: no GPU visible to hpcnn" v2.out && pass ||
    fail "verify.sh --bundle without a GPU: exit $rc: $(tail -3 v2.out)"
  # Issue 33.2: GPUs that the driver lists but CUDA 13 cannot use (a driver
  # older than R580) are a FAIL naming the driver, not a skip. A stand-in
  # nvidia-smi plays the driver's part.
  mkdir -p fakebin
  cat > fakebin/nvidia-smi << 'SMI'
#!/usr/bin/env bash
case "$*" in
  -L) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-00000000-0000-0000-0000-000000000000)" ;;
  *driver_version*) echo "535.183.01" ;;
esac
SMI
  chmod +x fakebin/nvidia-smi
  rc=0
  PATH=$PWD/fakebin:$PATH "$VERIFY" --build "$BUILD" --out v3 > v3.out 2>&1 || rc=$?
  [[ $rc -eq 1 ]] && grep -q "^FAIL driver: nvidia-smi lists 1 GPU(s), driver 535.183.01, but hpcnn sees none" v3.out &&
    grep -q "R580" v3.out && grep -q '"failed": 1' v3/verify.json && pass ||
    fail "verify.sh with an old driver: exit $rc: $(tail -3 v3.out)"
fi
finish
