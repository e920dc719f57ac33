#!/usr/bin/env bash
# docs/formats.md shows how to build a dataset with h5py alone. Run that very
# code block and check that hpcnn accepts the result (verify + inspect).
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with h5py}"
awk '/^### Making a dataset with h5py/{on=1} on && /^```python/{grab=1; next} grab && /^```/{exit} grab' \
  "$SOURCE_DIR/docs/formats.md" > example.py
[[ -s example.py ]] && pass || fail "no python example found in docs/formats.md"
"$PYTHON" example.py && pass || fail "the docs example does not run"
expect_exit 0 "" "$HPCNN" data verify mydata -q
grep -q "2 shards checked, 0 bad" out.txt && pass || fail "verify: $(cat out.txt)"
"$HPCNN" data inspect mydata -q > summary.txt
grep -q "split train           1000 samples in 2 shards" summary.txt && pass || fail "inspect: $(cat summary.txt)"
finish
