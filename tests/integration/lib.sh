# Shared helpers for the integration tests (sourced). Needs $HPCNN; $PYTHON
# for the h5py checks. Each test runs in its own scratch directory.
set -euo pipefail
: "${HPCNN:?set HPCNN to the hpcnn binary}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-it-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
FAILS=0
CHECKS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { CHECKS=$((CHECKS + 1)); }

# expect_exit CODE PATTERN CMD... : runs CMD, wants exit CODE, one stderr line
# (config echo is silenced with -q by the callers) matching PATTERN.
expect_exit() {
  local want=$1 pattern=$2
  shift 2
  local rc=0
  "$@" >out.txt 2>err.txt || rc=$?
  if [[ $rc -ne $want ]]; then
    fail "$* -> exit $rc, wanted $want; stderr: $(cat err.txt)"
    return
  fi
  if [[ -n $pattern ]] && ! grep -qE -- "$pattern" err.txt; then
    fail "$* -> stderr does not match /$pattern/: $(cat err.txt)"
    return
  fi
  if [[ $want -ne 0 ]]; then
    local lines
    lines=$(grep -c . err.txt || true)
    if [[ $lines -ne 1 ]]; then
      fail "$* -> wanted a one-line error, got $lines lines: $(cat err.txt)"
      return
    fi
  fi
  pass
}

# Skips the test (ctest's SKIP_RETURN_CODE 77) when Debian's Fashion-MNIST
# package is missing, and names it in FMNIST.
FMNIST=/usr/share/datasets/fashion-mnist
require_fashion_mnist() {
  if [[ ! -d $FMNIST ]]; then
    echo "SKIP: $FMNIST not present (apt-get install dataset-fashion-mnist)"
    exit 77
  fi
}

finish() {
  echo "$CHECKS checks passed, $FAILS failed"
  [[ $FAILS -eq 0 ]]
}
