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

"$VERIFY" --help | grep -q "N passed, M failed" && pass || fail "verify.sh --help"
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

if "$HPCNN" info | grep -qE '^GPUs +0'; then
  rc=0
  "$VERIFY" --build "$BUILD" --out v1 > v1.out 2>&1 || rc=$?
  [[ $rc -eq 77 ]] && grep -q "^SKIP: no GPU visible to hpcnn" v1.out && pass || fail "verify.sh without a GPU: exit $rc: $(tail -3 v1.out)"
  rc=0
  "$VERIFY" --bundle b.tar.gz --out v2 > v2.out 2>&1 || rc=$?
  [[ $rc -eq 77 ]] && grep -q "^SKIP: no GPU visible to hpcnn" v2.out && pass ||
    fail "verify.sh --bundle without a GPU: exit $rc: $(tail -3 v2.out)"
fi
finish
