#!/usr/bin/env bash
# Runs one libFuzzer harness for a bounded time over its committed seed
# corpus (ctest: fuzz.NAME, label fuzz). New inputs go to a scratch directory,
# never into the repository; a crash, a sanitizer report, a leak or an escaped
# exception makes libFuzzer exit non-zero, and this test fails, leaving the
# input in $TEST_OUTPUT_DIR/fuzz/ (or the scratch directory) and printing it.
# Skips (77) when the fuzz build (cmake --preset fuzz) is absent.
#   run_fuzz.sh NAME [SECONDS]      environment: FUZZ_BIN_DIR, SOURCE_DIR
set -euo pipefail
name=${1:?usage: run_fuzz.sh NAME [SECONDS]}
seconds=${2:-${FUZZ_SECONDS:-30}}
src=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${FUZZ_BIN_DIR:-$src/build/fuzz/tests/fuzz}/fuzz_$name
if [[ ! -x $bin ]]; then
  echo "SKIP: $bin not built (cmake --preset fuzz && cmake --build --preset fuzz; docs/fuzzing.md)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-fuzz-$name-XXXXXX")
trap 'rm -rf "$work"' EXIT
# Findings are kept for a person to look at: outside the repository's sources.
artifacts=${TEST_OUTPUT_DIR:-$src/build/fuzz/artifacts}/fuzz
mkdir -p "$work/corpus" "$artifacts"
# HDF5 file locking is pointless on scratch files and slows every iteration.
export HDF5_USE_FILE_LOCKING=FALSE
# Leaks inside libhdf5 itself are not ours (lsan.supp says why).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/fuzz/lsan.supp}
# A damaged HDF5 file can make libhdf5 ask malloc for petabytes; glibc says
# NULL and HDF5 reports an error, so let ASan say NULL too instead of aborting
# (and keep libFuzzer's own malloc limit above any real request). Memory that
# is really used still meets -rss_limit_mb.
# asan.supp: memcpy overruns inside libhdf5 itself (upstream bugs, see there).
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:suppressions=$src/tests/fuzz/asan.supp}
# UBSan reports are findings too: stop at the first, with a stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A fixed seed (FUZZ_SEED, default 1) makes a CI run repeat the same mutations:
# a finding is reproducible, and a clean run does not turn red by chance.
# The longer runs of docs/fuzzing.md pick their own (FUZZ_SEED=0: random).
rc=0
"$bin" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1048576 -max_len=65536 -print_final_stats=1 \
  -artifact_prefix="$artifacts/$name-" "$work/corpus" "$src/tests/fuzz/corpus/$name" > "$work/log.txt" 2>&1 || rc=$?
tail -n 80 "$work/log.txt"
if [[ $rc -ne 0 ]]; then
  echo "FAIL: fuzz_$name found a problem (exit $rc); input saved as:"
  for f in "$artifacts"/"$name"-*; do
    [[ -f $f ]] || continue
    echo "  $f ($(stat -c %s "$f") bytes); reproduce: $bin $f"
  done
  exit 1
fi
echo "fuzz_$name: no findings in ${seconds}s"
