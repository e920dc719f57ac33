#!/usr/bin/env bash
# The default import: Fashion-MNIST from Debian's dataset-fashion-mnist into
# 3 shards; h5py must read 60,000 + 10,000 samples equal to the IDX source
# byte for byte, and `verify` must pass.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${PYTHON:?set PYTHON to a python3 with h5py}"

"$HPCNN" data import-idx --shards 3 --out fmnist -q > summary.txt
grep -q "split train          60000 samples in 3 shards" summary.txt && pass || fail "summary: $(cat summary.txt)"
grep -q "split test           10000 samples in 3 shards" summary.txt && pass || fail "summary: $(cat summary.txt)"
grep -q "Ankle boot" summary.txt && pass || fail "class names missing"
expect_exit 0 "" "$HPCNN" data verify fmnist -q
grep -q "6 shards checked, 0 bad" out.txt && pass || fail "verify: $(cat out.txt)"
"$HPCNN" data inspect fmnist --json -q > inspect.json
"$PYTHON" -c "import json,sys; j=json.load(open('inspect.json')); assert j['splits']['train']['class_counts']==[6000]*10, j" \
  && pass || fail "inspect --json class counts"
"$PYTHON" "$SOURCE_DIR/tests/integration/check_idx_dataset.py" fmnist "$FMNIST" && pass || fail "h5py check"
finish
