#!/usr/bin/env python3
"""Checks an imported IDX dataset with h5py and NumPy only (no hpcnn code):
manifest checksums, shard layout, and pixels/labels equal to the IDX source
byte for byte. Usage: check_idx_dataset.py DATASET_DIR IDX_DIR"""
import gzip
import hashlib
import json
import os
import sys

import h5py
import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    assert data[0] == 0 and data[1] == 0 and data[2] == 8, "expected unsigned-byte IDX"
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(idx_dir, base):
    for suffix in ("", ".gz"):
        if os.path.exists(os.path.join(idx_dir, base + suffix)):
            return os.path.join(idx_dir, base + suffix)
    raise FileNotFoundError(base)


def load_split(ds_dir, manifest, split):
    xs, ys = [], []
    expected_first = 0
    for shard in manifest["splits"][split]["shards"]:
        path = os.path.join(ds_dir, shard["file"])
        with open(path, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == shard["sha256"], f"{path}: sha256"
        with h5py.File(path, "r") as f:
            x, y = f["samples"], f["labels"]
            assert x.dtype == np.uint8 and y.dtype == np.int32, (x.dtype, y.dtype)
            assert x.shape == (shard["num_samples"], *manifest["sample_shape"]), x.shape
            assert x.chunks is not None and x.fletcher32 and y.fletcher32, "chunked + fletcher32"
            assert f.attrs["first_index"] == shard["first_index"] == expected_first
            assert f.attrs["split"] in (split, split.encode())
            expected_first += shard["num_samples"]
            xs.append(x[:])
            ys.append(y[:])
    return np.concatenate(xs), np.concatenate(ys)


def main():
    ds_dir, idx_dir = sys.argv[1], sys.argv[2]
    manifest = json.load(open(os.path.join(ds_dir, "manifest.json")))
    assert manifest["format"] == "hpcnn-dataset" and manifest["layout"] == "NCHW"
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = read_idx(find(idx_dir, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(find(idx_dir, f"{prefix}-labels-idx1-ubyte"))
        x, y = load_split(ds_dir, manifest, split)
        assert x.shape == (images.shape[0], 1, images.shape[1], images.shape[2]), x.shape
        assert np.array_equal(x[:, 0], images), f"{split}: pixels differ from the IDX source"
        assert np.array_equal(y, labels.astype(np.int32)), f"{split}: labels differ"
        print(f"{split}: {x.shape[0]} samples equal to {prefix}-images byte for byte")
    return 0


if __name__ == "__main__":
    sys.exit(main())
