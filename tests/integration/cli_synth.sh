#!/usr/bin/env bash
# Synthetic datasets from the command line: deterministic (identical shards
# for the same seed), readable by h5py with the declared shapes, verifiable.
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with h5py}"

for kind in circuits solar-maps solar-table; do
  "$HPCNN" data synth "$kind" --train 300 --validation 20 --test 60 --shards 2 --seed 5 --out "$kind-a" -q > /dev/null
  "$HPCNN" data synth "$kind" --train 300 --validation 20 --test 60 --shards 2 --seed 5 --out "$kind-b" -q > /dev/null
  "$HPCNN" data synth "$kind" --train 300 --validation 20 --test 60 --shards 2 --seed 6 --out "$kind-c" -q > /dev/null
  cmp -s "$kind-a/train-00001-of-00002.h5" "$kind-b/train-00001-of-00002.h5" && pass || fail "$kind: same seed, different shard bytes"
  cmp -s "$kind-a/manifest.json" "$kind-b/manifest.json" && pass || fail "$kind: same seed, different manifests"
  cmp -s "$kind-a/train-00001-of-00002.h5" "$kind-c/train-00001-of-00002.h5" && fail "$kind: another seed, same data" || pass
  expect_exit 0 "" "$HPCNN" data verify "$kind-a" -q
done

"$PYTHON" - <<'PY' && pass || fail "h5py reads the synthetic shards"
import h5py, json, numpy as np
expect = {"circuits": ((1, 64, 64), "uint8", "labels"),
          "solar-maps": ((1, 50, 50), "float32", "targets"),
          "solar-table": ((50, 1, 1), "float32", "targets")}
for kind, (shape, dtype, answer) in expect.items():
    m = json.load(open(f"{kind}-a/manifest.json"))
    assert tuple(m["sample_shape"]) == shape, (kind, m["sample_shape"])
    total = 0
    counts = np.zeros(4, int)
    for shard in m["splits"]["train"]["shards"]:
        with h5py.File(f"{kind}-a/{shard['file']}", "r") as f:
            x, y = f["samples"], f[answer]
            assert x.shape[1:] == shape and x.dtype == dtype, (kind, x.shape, x.dtype)
            assert x.fletcher32 and x.chunks is not None
            assert y.shape[0] == x.shape[0]
            assert f.attrs["first_index"] == shard["first_index"]
            total += x.shape[0]
            if answer == "labels":
                counts += np.bincount(y[:], minlength=4)
            else:
                assert np.isfinite(y[:]).all() and 0 < y[:].min() and y[:].max() < 1.2
    assert total == 300, total
    if answer == "labels":
        assert list(counts) == [75] * 4, counts   # balanced over the split
print("h5py ok")
PY
finish
