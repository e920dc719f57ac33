# Shared helpers for the integration tests (sourced). Needs $HPCNN; $PYTHON
# for the h5py checks. Each test runs in its own scratch directory.
set -euo pipefail
: "${HPCNN:?set HPCNN to the hpcnn binary}"
TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)  # tests/integration, for its helper scripts
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

# same_weights DIR_A DIR_B: two run directories' model.h5 parameters are equal
# bit for bit and their metrics.json step losses are the same.
same_weights() {
  "$PYTHON" - "$1" "$2" << 'PY'
import json, sys
import h5py, numpy as np
a, b = (h5py.File(f"{d}/model.h5")["params"][()] for d in sys.argv[1:])
assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), f"weights differ: max |diff| {np.abs(a - b).max()}"
la, lb = (json.load(open(f"{d}/metrics.json"))["step_losses"] for d in sys.argv[1:])
assert la == lb, "step losses differ"
PY
}

# status_of DIR: run.json's status of run directory DIR.
status_of() { "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["status"])' "$1/run.json"; }

# set_run_status DIR STATUS: rewrites run.json's status, as a run stopped
# in that state (or a requeued job) leaves it.
set_run_status() {
  "$PYTHON" - "$1" "$2" << 'PY'
import json, sys
run = json.load(open(sys.argv[1] + "/run.json")); run["status"] = sys.argv[2]
json.dump(run, open(sys.argv[1] + "/run.json", "w"))
PY
}

finish() {
  echo "$CHECKS checks passed, $FAILS failed"
  [[ $FAILS -eq 0 ]]
}
