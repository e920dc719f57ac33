#!/usr/bin/env python3
"""Image folders for the Edge Impulse seed's study (results/edge-impulse/run.sh).

Writes PNG trees that `hpcnn data import-images` reads (DIR/<split>/<class>/N.png):

  fashion/   the pretraining set: Fashion-MNIST (Debian's dataset-fashion-mnist),
             grey 28x28, the first --fashion-train training and --fashion-test
             test images; import-images scales them to 96x96 and copies grey to RGB.
  parts/     the transfer set, as small as the seed's (50 photos per class of 3
             classes): resistor, capacitor and inductor symbols from an hpcnn
             circuits dataset (hpcnn data synth circuits), tinted with a random
             ink and paper colour per image so they are RGB and unlike anything
             in the pretraining set. 40 per class train, 10 per class test.
  parts-extra/  600 more images (DIR/<class>/N.png) of the same three classes from other samples,
             a larger held-out set to measure accuracy with less noise.

PNG is written with zlib (no imaging library needed).
"""
import argparse
import gzip
import os
import struct
import zlib

import h5py
import numpy as np

FASHION = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def png(path, img):
    """img: (H, W) or (H, W, 3) uint8."""
    h, w = img.shape[:2]
    colour = 0 if img.ndim == 2 else 2
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_fashion(src, out, n_train, n_test):
    for split, stem, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x = idx(os.path.join(src, f"{stem}-images-idx3-ubyte.gz"))[:n]
        y = idx(os.path.join(src, f"{stem}-labels-idx1-ubyte.gz"))[:n]
        for name in FASHION:
            os.makedirs(os.path.join(out, split, name), exist_ok=True)
        for i, (img, label) in enumerate(zip(x, y)):
            png(os.path.join(out, split, FASHION[label], f"{i:05d}.png"), img)


def circuits(path):
    """All samples and labels of one split of an hpcnn dataset directory, and its class names."""
    import json
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    xs, ys = [], []
    for shard in manifest["splits"]["train"]["shards"]:
        with h5py.File(os.path.join(path, shard["file"]), "r") as f:
            xs.append(f["samples"][:])
            ys.append(f["labels"][:])
    return np.concatenate(xs), np.concatenate(ys), manifest["class_names"]


def tint(img, rng):
    """Grey symbol (dark ink on light paper or the reverse) -> RGB with a random ink and paper colour."""
    g = img.astype(np.float32) / 255.0
    if g.mean() > 0.5:  # light paper: make ink the bright end
        g = 1.0 - g
    paper = rng.uniform(150, 255, size=3)
    ink = rng.uniform(0, 110, size=3)
    rgb = paper[None, None, :] * (1.0 - g[..., None]) + ink[None, None, :] * g[..., None]
    rgb += rng.normal(0, 6, size=rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def write_parts(circ_dir, out, extra_out, per_class_train, per_class_test, per_class_extra, seed):
    x, y, names = circuits(circ_dir)
    if x.ndim == 4:
        x = x[:, 0]
    rng = np.random.default_rng(seed)
    wanted = ["resistor", "capacitor", "inductor"]
    for label, name in enumerate(names):
        if name not in wanted:
            continue
        pick = np.flatnonzero(y == label)
        rng.shuffle(pick)
        need = per_class_train + per_class_test + per_class_extra
        assert len(pick) >= need, f"{name}: {len(pick)} samples, need {need}"
        groups = ((out, "train", pick[:per_class_train]),
                  (out, "test", pick[per_class_train:per_class_train + per_class_test]),
                  (extra_out, "", pick[per_class_train + per_class_test:need]))
        for root, split, rows in groups:
            d = os.path.join(root, split, name) if split else os.path.join(root, name)
            os.makedirs(d, exist_ok=True)
            for i in rows:
                png(os.path.join(d, f"{i:05d}.png"), tint(x[i], rng))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder to write fashion/, parts/ and parts-extra/ into")
    ap.add_argument("--fashion-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--fashion-train", type=int, default=20000)
    ap.add_argument("--fashion-test", type=int, default=2000)
    ap.add_argument("--circuits", required=True, help="an hpcnn circuits dataset (hpcnn data synth circuits)")
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    write_fashion(a.fashion_dir, os.path.join(a.out, "fashion"), a.fashion_train, a.fashion_test)
    write_parts(a.circuits, os.path.join(a.out, "parts"), os.path.join(a.out, "parts-extra"), 40, 10, 200, a.seed)
    print(f"make_images: {a.out}/fashion ({a.fashion_train} + {a.fashion_test}), parts (120 + 30), parts-extra (600)")


if __name__ == "__main__":
    main()
