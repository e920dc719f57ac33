#!/usr/bin/env bash
# hpcnn data import-images: folder-per-class trees of tiny PNGs written with
# python3's zlib (RGB, grey, grey+alpha, RGBA, palette with tRNS, 16-bit RGB),
# imported and checked with `data inspect`, `data verify` and h5py against the
# pixels written; the train/test folder layout, --grayscale, the default
# 96x96 resize, a model trained on the result; then bad trees, corrupt files
# and bad options, each a one-line error (exit 2 for usage, 1 for bad input)
# leaving no output directory behind.
source "$(dirname "$0")/lib.sh"
: "${PYTHON:?set PYTHON to a python3 with numpy and h5py}"

"$PYTHON" - <<'PY'
import json, os, struct, zlib

def png(path, w, h, rows, color_type, bit_depth=8, palette=None, trns=None):
    """rows: one list of sample values per row (16-bit values for bit_depth 16)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    fmt = ">%dH" if bit_depth == 16 else "%dB"
    raw = b"".join(b"\0" + struct.pack(fmt % len(r), *r) for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if palette: out += chunk(b"PLTE", bytes(palette))
    if trns: out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(out)

H, W = 5, 6
expect = {}  # path -> (label, [R plane, G plane, B plane] as flat lists)

def rgb_image(path, label, seed):
    px = [[(seed * 31 + y * 17 + x * 5 + c * 70) % 256 for x in range(W) for c in range(3)] for y in range(H)]
    png(path, W, H, px, 2)
    expect[path] = (label, [[px[y][x * 3 + c] for y in range(H) for x in range(W)] for c in range(3)])

# cat (label 0): RGB and grey, dog (label 1): RGBA, grey+alpha, palette, 16-bit; names sort by bytes
for i in range(4):
    rgb_image(f"tree/cat/c{i}.png", 0, i)
g = [[(y * W + x) * 8 for x in range(W)] for y in range(H)]
png("tree/cat/grey.PNG", W, H, g, 0)
expect["tree/cat/grey.PNG"] = (0, [sum(g, [])] * 3)
rgba = [[v for x in range(W) for v in (x * 40, y * 50, 9, 128)] for y in range(H)]
png("tree/dog/a_rgba.png", W, H, rgba, 6)
expect["tree/dog/a_rgba.png"] = (1, [[x * 40 for y in range(H) for x in range(W)],
                                     [y * 50 for y in range(H) for x in range(W)], [9] * (H * W)])
ga = [[v for x in range(W) for v in (200 - x, 0)] for y in range(H)]
png("tree/dog/b_grey_alpha.png", W, H, ga, 4)
expect["tree/dog/b_grey_alpha.png"] = (1, [[200 - x for y in range(H) for x in range(W)]] * 3)
pal = [10, 20, 30, 250, 128, 0]
idx = [[(x + y) % 2 for x in range(W)] for y in range(H)]
png("tree/dog/c_palette.png", W, H, idx, 3, palette=pal, trns=[0])
expect["tree/dog/c_palette.png"] = (1, [[pal[i * 3 + c] for row in idx for i in row] for c in range(3)])
d16 = [[(x * 10000 + y * 997 + c * 3) % 65536 for x in range(W) for c in range(3)] for y in range(H)]
png("tree/dog/d_16bit.png", W, H, d16, 2, bit_depth=16)
expect["tree/dog/d_16bit.png"] = (1, [[round(d16[y][x * 3 + c] * 255 / 65535) for y in range(H) for x in range(W)]
                                      for c in range(3)])
open("tree/dog/notes.txt", "w").write("not an image, skipped\n")
json.dump(expect, open("expect.json", "w"))

# train/ test/ layout
for split, n in (("train", 3), ("test", 2)):
    for cls in ("ant", "bee", "wasp"):
        for i in range(n):
            png(f"splits/{split}/{cls}/{i}.png", 4, 4, [[i * 60 + y] * 12 for y in range(4)], 2)

# bad trees
png("one/only/a.png", 2, 2, [[1] * 6] * 2, 2)
for d in ("emptyclass/a", "emptyclass/b", "notimage/a", "notimage/b", "corrupt/a", "corrupt/b",):
    os.makedirs(d, exist_ok=True)
for d in ("emptyclass/a", "notimage/a", "notimage/b", "corrupt/a", "corrupt/b"):
    png(f"{d}/ok.png", 2, 2, [[1] * 6] * 2, 2)
open("emptyclass/b/readme.txt", "w").write("no images here\n")
open("notimage/b/photo.jpg", "w").write("plain text named .jpg\n")
raw = bytearray(open("corrupt/b/ok.png", "rb").read())
raw[-20] ^= 0xFF  # inside IDAT: zlib's check (and the chunk's CRC) no longer match
open("corrupt/b/zz.png", "wb").write(bytes(raw))
PY

# --- good trees -----------------------------------------------------------------
expect_exit 0 "" "$HPCNN" data import-images tree --size 5x6 --seed 0 --out ds -q
grep -q "(C, H, W) = (3, 5, 6)" out.txt && pass || fail "tree: no (3, 5, 6) samples: $(cat out.txt)"
grep -q "split train *9 samples" out.txt && pass || fail "tree: no 9-sample train split: $(cat out.txt)"
expect_exit 0 "" "$HPCNN" data inspect ds -q
grep -qE "^ +0 cat +5" out.txt && grep -qE "^ +1 dog +4" out.txt && pass || fail "inspect: class histogram: $(cat out.txt)"
expect_exit 0 "" "$HPCNN" data verify ds -q
grep -q "0 bad" out.txt && pass || fail "verify: $(cat out.txt)"
"$PYTHON" - <<'PY' && pass || fail "h5py check of the imported pixels"
import json
import h5py, numpy as np
m = json.load(open("ds/manifest.json"))
assert m["class_names"] == ["cat", "dog"] and m["sample_shape"] == [3, 5, 6] and m["num_classes"] == 2, m
with h5py.File("ds/" + m["splits"]["train"]["shards"][0]["file"], "r") as f:
    x, y = f["samples"][...], f["labels"][...]
expect = json.load(open("expect.json"))
paths = sorted(p for p in expect if p.startswith("tree/cat/")) + sorted(p for p in expect if p.startswith("tree/dog/"))
assert x.dtype == np.uint8 and x.shape == (9, 3, 5, 6), x.shape
for i, p in enumerate(paths):  # --seed 0: class, then file name (byte) order
    label, planes = expect[p]
    assert y[i] == label, (p, y[i])
    want = np.array(planes, dtype=np.uint8).reshape(3, 5, 6)
    assert (x[i] == want).all(), (p, x[i], want)
PY

expect_exit 0 "" "$HPCNN" data import-images tree --size 5x6 --grayscale --seed 0 --out ds-grey -q
grep -q "(C, H, W) = (1, 5, 6)" out.txt && pass || fail "--grayscale: not one channel: $(cat out.txt)"
"$PYTHON" - <<'PY' && pass || fail "h5py check of --grayscale"
import h5py, numpy as np
with h5py.File("ds-grey/train-00000-of-00001.h5", "r") as f, h5py.File("ds/train-00000-of-00001.h5", "r") as g:
    grey, rgb = f["samples"][...].astype(int), g["samples"][...].astype(int)
want = (299 * rgb[:, 0] + 587 * rgb[:, 1] + 114 * rgb[:, 2] + 500) // 1000
assert (grey[:, 0] == want).all()
PY
expect_exit 0 "" "$HPCNN" data import-images tree --test-fraction 0.2 --validation-fraction 0.3 --shards 2 -o ds-96 -q
grep -q "(C, H, W) = (3, 96, 96)" out.txt && pass || fail "default --size is not 96x96: $(cat out.txt)"
grep -qE "split test +2 samples" out.txt && grep -qE "split validation +2 samples" out.txt \
  && pass || fail "fractions: $(cat out.txt)"
expect_exit 0 "" "$HPCNN" data verify ds-96 -q
# The same seed gives the same shards, whatever the thread count.
expect_exit 0 "" "$HPCNN" data import-images tree --test-fraction 0.2 --validation-fraction 0.3 --shards 2 -o ds-96b \
  --threads 1 -q
"$PYTHON" -c "import json; a, b = (json.load(open(d + '/manifest.json'))['splits'] for d in ('ds-96', 'ds-96b')); assert a == b" \
  && pass || fail "same seed, different shards"

expect_exit 0 "" "$HPCNN" data import-images splits --size 4x4 --out ds-splits -q
grep -qE "split train +9 samples" out.txt && grep -qE "split test +6 samples" out.txt \
  && pass || fail "train/ test/ folders: $(cat out.txt)"
# A model trains on it.
expect_exit 0 "" "$HPCNN" train -q --model 'flatten dense:3' --data ds-splits --epochs 1 --batch 4 --threads 1 --out run

# --- usage errors: exit 2 ---------------------------------------------------------
expect_exit 0 "" "$HPCNN" data import-images --help
grep -q "^Usage: hpcnn data import-images \[options\] DIR" out.txt && pass || fail "--help prints no usage line"
grep -q -- "--grayscale" out.txt && grep -q -- "--size HxW (=96x96)" out.txt && pass || fail "--help: $(cat out.txt)"
"$HPCNN" --help | grep -q "data import-images" && pass || fail "hpcnn --help does not list data import-images"
expect_exit 2 "input.*required" "$HPCNN" data import-images -q
expect_exit 2 "--size: '0x5' is not HxW" "$HPCNN" data import-images tree --size 0x5 -o bad1 -q
expect_exit 2 "test-fraction must be between" "$HPCNN" data import-images tree --test-fraction 1 -o bad1 -q

# --- bad input: exit 1, the folder or file named ---------------------------------
expect_exit 1 "missing: no such folder" "$HPCNN" data import-images missing -o bad1 -q
expect_exit 1 "one: found 1 class folder \(need at least 2" "$HPCNN" data import-images one -o bad1 -q
expect_exit 1 "emptyclass/b: no .png, .jpg or .jpeg images" "$HPCNN" data import-images emptyclass -o bad1 -q
expect_exit 1 "notimage/b/photo.jpg: not a PNG or JPEG image" "$HPCNN" data import-images notimage -o bad1 -q
expect_exit 1 "corrupt/b/zz.png: bad PNG: " "$HPCNN" data import-images corrupt -o bad1 -q
expect_exit 1 "has train/ and test/ folders; --test-fraction" "$HPCNN" data import-images splits --test-fraction 0.1 -o bad1 -q
expect_exit 1 "cannot cut the 6 images of test into --shards 7" "$HPCNN" data import-images splits --shards 7 -o bad1 -q
[[ ! -e bad1 ]] && pass || fail "a failed import left bad1/ behind"
ls -a | grep -q "partial" && fail "a failed import left a staging directory: $(ls -a)" || pass
# An existing directory is kept unless --force; --force replaces only a dataset.
expect_exit 1 "ds: already exists" "$HPCNN" data import-images tree --size 5x6 --out ds -q
mkdir notadataset && touch notadataset/precious
expect_exit 1 "notadataset" "$HPCNN" data import-images tree --out notadataset --force -q
[[ -e notadataset/precious ]] && pass || fail "--force removed a directory that is not a dataset"
expect_exit 0 "" "$HPCNN" data import-images tree --size 5x6 --out ds --force -q

finish
