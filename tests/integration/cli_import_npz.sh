#!/usr/bin/env bash
# hpcnn data import-npz: tiny archives made with NumPy (np.savez and
# np.savez_compressed, Keras's x_train/y_train/x_test/y_test layout and one
# x/y pool), checked with h5py against the arrays; then bad archives and bad
# options, each a one-line error (exit 2 for usage, 1 for bad files) leaving
# no output directory behind.
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with numpy and h5py}"

"$PYTHON" - <<'PY'
import numpy as np
rng = np.random.default_rng(3)
x = rng.integers(0, 256, size=(50, 6, 5), dtype=np.uint8)
y = (np.arange(50) % 4).astype(np.int64)
xt = rng.integers(0, 256, size=(7, 6, 5), dtype=np.uint8)
yt = np.array([0, 1, 2, 3, 0, 1, 2], dtype=np.uint8)
np.savez("keras.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
np.savez_compressed("pool.npz", x=x.reshape(50, 30).astype(np.float64) / 255.0, y=y.astype(np.float32))
np.savez("nhwc.npz", images=x[:, :, :, None], labels=y[:, None].astype(np.int16))
np.savez("digits8.npz", x=(np.arange(4 * 64) % 17).reshape(4, 8, 8).astype(np.int32), y=np.array([0, 1, 2, 3]))
# damaged or unsuitable archives
np.savez("fewer_labels.npz", x=x, y=y[:40])
np.savez("badrange.npz", x=x.astype(np.int32) + 1, y=y)
np.savez("neglabel.npz", x=x, y=-y)
np.savez("fracrows.npz", x=x.reshape(50, 30), y=y)
np.savez("cube.npz", x=x.reshape(50, 2, 3, 5), y=y)
np.savez("objects.npz", x=np.array([{"a": 1}] * 50, dtype=object), y=y)
np.savez("bigendian.npz", x=x.astype(">u2"), y=y)
np.savez("fortran.npz", x=np.asfortranarray(x.astype(np.float32)), y=y)
np.savez("nolabels.npz", x=x)
open("notazip.npz", "wb").write(b"this is not an archive\n" * 4)
raw = bytearray(open("keras.npz", "rb").read())
raw[200] ^= 0xFF  # inside x_train's payload: the member's CRC-32 no longer matches
open("crc.npz", "wb").write(bytes(raw))
open("truncated.npz", "wb").write(bytes(raw[: len(raw) // 2]))
PY

# --- good archives ------------------------------------------------------------
expect_exit 0 "" "$HPCNN" data import-npz keras.npz --out ds-keras --seed 0 -q
grep -q "split test *7 samples" out.txt && pass || fail "keras layout: no 7-sample test split: $(cat out.txt)"
expect_exit 0 "" "$HPCNN" data import-npz pool.npz --image-shape 6x5 --max-value 1 --test-fraction 0.2 \
  --validation-fraction 0.25 --shards 2 --out ds-pool -q
expect_exit 0 "" "$HPCNN" data import-npz nhwc.npz --validation-fraction 0.1 --seed 0 -o ds-nhwc -q
expect_exit 0 "" "$HPCNN" data import-npz digits8.npz --max-value 16 --resize 28x28 -o ds-digits8 -q
grep -q "(C, H, W) = (1, 28, 28)" out.txt && pass || fail "--resize 28x28 did not give 28x28 samples"
expect_exit 0 "" "$HPCNN" data verify ds-pool -q
"$PYTHON" - <<'PY' && pass || fail "h5py check of the imported datasets"
import hashlib, json, os
import h5py, numpy as np

def split(ds, name):
    m = json.load(open(os.path.join(ds, "manifest.json")))
    xs, ys = [], []
    for s in m["splits"][name]["shards"]:
        p = os.path.join(ds, s["file"])
        assert hashlib.sha256(open(p, "rb").read()).hexdigest() == s["sha256"], p
        with h5py.File(p, "r") as f:
            xs.append(f["samples"][...]); ys.append(f["labels"][...])
    return np.concatenate(xs), np.concatenate(ys), m

k = np.load("keras.npz")
x, y, m = split("ds-keras", "train")
assert m["sample_shape"] == [1, 6, 5] and m["num_classes"] == 4, m
assert x.dtype == np.uint8 and x.shape == (50, 1, 6, 5)
assert (x[:, 0] == k["x_train"]).all() and (y == k["y_train"]).all()  # --seed 0: file order, byte for byte
x, y, _ = split("ds-keras", "test")
assert (x[:, 0] == k["x_test"]).all() and (y == k["y_test"]).all()

# pool: 10 test, 30 train, 10 validation; a permutation of the pool, floats scaled back to 0..255
x_tr, y_tr, m = split("ds-pool", "train")
x_va, y_va, _ = split("ds-pool", "validation")
x_te, y_te, _ = split("ds-pool", "test")
assert (len(x_tr), len(x_va), len(x_te)) == (30, 10, 10), (len(x_tr), len(x_va), len(x_te))
assert len(m["splits"]["train"]["shards"]) == 2
allx = np.concatenate([x_tr, x_va, x_te])[:, 0].reshape(50, 30)
ally = np.concatenate([y_tr, y_va, y_te])
order = np.lexsort(allx.T[::-1])
ref_x = k["x_train"].reshape(50, 30)
ref_order = np.lexsort(ref_x.T[::-1])
assert (allx[order] == ref_x[ref_order]).all() and (ally[order] == k["y_train"][ref_order]).all()
assert not (np.concatenate([y_tr, y_va, y_te]) == k["y_train"]).all(), "not shuffled"

x, y, _ = split("ds-nhwc", "validation")
assert (x[:, 0] == k["x_train"][45:]).all() and (y == k["y_train"][45:]).all()

x, _, _ = split("ds-digits8", "train")
assert x.shape == (4, 1, 28, 28) and x.max() == 255 and x.min() == 0
PY
# The same seed gives the same shards.
expect_exit 0 "" "$HPCNN" data import-npz pool.npz --image-shape 6x5 --max-value 1 --test-fraction 0.2 \
  --validation-fraction 0.25 --shards 2 --out ds-pool2 -q
cmp -s ds-pool/manifest.json ds-pool2/manifest.json || sed 's/ds-pool2/ds-pool/' ds-pool2/manifest.json | cmp -s - ds-pool/manifest.json \
  && pass || fail "same seed, different shards"
# A model trains on it.
expect_exit 0 "" "$HPCNN" train -q --model 'flatten dense:4' --data ds-pool --epochs 1 --batch 8 --threads 1 --out run-pool

# --- usage errors: exit 2 -------------------------------------------------------
expect_exit 2 "input.*required" "$HPCNN" data import-npz -q
expect_exit 2 "--resize: '28' is not HxW" "$HPCNN" data import-npz keras.npz --resize 28 -o bad1 -q
expect_exit 2 "--image-shape: '0x5' is not HxW" "$HPCNN" data import-npz keras.npz --image-shape 0x5 -o bad1 -q
expect_exit 2 "test-fraction must be between" "$HPCNN" data import-npz pool.npz --test-fraction 1 -o bad1 -q
expect_exit 2 "max-value must be between" "$HPCNN" data import-npz pool.npz --max-value 0 -o bad1 -q
expect_exit 2 "--test-images and --test-labels must be given together" "$HPCNN" data import-npz keras.npz --test-images x_test -o bad1 -q
expect_exit 0 "" "$HPCNN" data import-npz --help
grep -q "^Usage: hpcnn data import-npz" out.txt && pass || fail "import-npz --help prints no usage line"

# --- bad files: exit 1, file (and array) named ---------------------------------
expect_exit 1 "missing.npz: cannot open" "$HPCNN" data import-npz missing.npz -o bad1 -q
expect_exit 1 "notazip.npz: not an .npz \(zip\) archive" "$HPCNN" data import-npz notazip.npz -o bad1 -q
expect_exit 1 "crc.npz: member x_train.npy fails its CRC-32 check" "$HPCNN" data import-npz crc.npz -o bad1 -q
expect_exit 1 "truncated.npz" "$HPCNN" data import-npz truncated.npz -o bad1 -q
expect_exit 1 "fewer_labels.npz:y: 40 labels for 50 images" "$HPCNN" data import-npz fewer_labels.npz -o bad1 -q
expect_exit 1 "badrange.npz:x: value 256 of image [0-9]+ is outside \[0, 255\]" "$HPCNN" data import-npz badrange.npz -o bad1 -q
expect_exit 1 "neglabel.npz:y: label 1 is -1" "$HPCNN" data import-npz neglabel.npz -o bad1 -q
expect_exit 1 "fracrows.npz:x: rows of 30 values are not square images; give --image-shape HxW" "$HPCNN" data import-npz fracrows.npz -o bad1 -q
expect_exit 1 "fracrows.npz:x: rows of 30 values cannot be --image-shape 5x5" "$HPCNN" data import-npz fracrows.npz --image-shape 5x5 -o bad1 -q
expect_exit 1 "cube.npz:x: images must be \(N, H, W\)" "$HPCNN" data import-npz cube.npz -o bad1 -q
expect_exit 1 "objects.npz:x.npy: object arrays \(pickles\) are not supported" "$HPCNN" data import-npz objects.npz -o bad1 -q
expect_exit 1 "bigendian.npz:x.npy: big-endian dtype >u2" "$HPCNN" data import-npz bigendian.npz -o bad1 -q
expect_exit 1 "fortran.npz:x.npy: Fortran-ordered arrays" "$HPCNN" data import-npz fortran.npz -o bad1 -q
expect_exit 1 "nolabels.npz: no labels array" "$HPCNN" data import-npz nolabels.npz -o bad1 -q
expect_exit 1 "keras.npz: no array 'pixels' \(the archive holds: x_test, x_train, y_test, y_train\)" "$HPCNN" data import-npz keras.npz --images pixels -o bad1 -q
expect_exit 1 "has test arrays.*--test-fraction" "$HPCNN" data import-npz keras.npz --test-fraction 0.1 -o bad1 -q
[[ ! -e bad1 ]] && pass || fail "a failed import left bad1/ behind"
# An existing directory is kept unless --force; --force replaces only a dataset.
expect_exit 1 "ds-keras" "$HPCNN" data import-npz keras.npz --out ds-keras -q
mkdir notadataset && touch notadataset/precious
expect_exit 1 "notadataset" "$HPCNN" data import-npz keras.npz --out notadataset --force -q
[[ -e notadataset/precious ]] && pass || fail "--force removed a directory that is not a dataset"
expect_exit 0 "" "$HPCNN" data import-npz keras.npz --out ds-keras --force -q

finish
