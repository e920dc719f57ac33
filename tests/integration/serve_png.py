"""PNG files from numpy arrays, with the standard library only (zlib, struct).

Used by the predict / serve tests to turn dataset samples into the pictures a
person would hand over: as they are (white on black, 28x28) or "drawn" (dark
on white paper, larger, off-centre).
"""
import struct
import zlib

import numpy as np


def png_bytes(pixels):
    """8-bit grey (H, W) or RGB (H, W, 3) array -> PNG bytes."""
    a = np.asarray(pixels, dtype=np.uint8)
    colour = 2 if a.ndim == 3 else 0
    h, w = a.shape[:2]
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def write_png(path, pixels):
    with open(path, "wb") as f:
        f.write(png_bytes(pixels))


def drawing(sample, scale=10, left=40, top=25, width=400, height=360, rgb=False):
    """A 28x28 white-on-black sample as a drawing: dark on white, scaled up, off-centre."""
    page = np.full((height, width), 255, np.uint8)
    big = np.kron(255 - np.asarray(sample, np.uint8), np.ones((scale, scale), np.uint8))
    page[top:top + big.shape[0], left:left + big.shape[1]] = big
    return np.stack([page] * 3, axis=-1) if rgb else page


def test_samples(dataset_dir, count):
    """The first `count` test images (count, 28, 28) uint8 and labels of an hpcnn dataset."""
    import h5py
    import json
    import os

    manifest = json.load(open(os.path.join(dataset_dir, "manifest.json")))
    shard = manifest["splits"]["test"]["shards"][0]["file"]
    with h5py.File(os.path.join(dataset_dir, shard), "r") as f:
        return f["samples"][:count, 0], f["labels"][:count]
