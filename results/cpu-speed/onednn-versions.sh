#!/usr/bin/env bash
# The oneDNN version decision (issue 11), by measurement: builds the three
# microbenchmarks in src/ against Debian's oneDNN 2.6.3 (libdnnl-dev) and
# against oneDNN 3.2 from PyPI (onednn-cpu-gomp + onednn-devel-cpu-gomp
# 2023.2.0, GNU OpenMP, unpacked under /tmp), and runs keras-cnn's conv2 and
# the dense layers of keras-cnn and mlp:3200-1600-832 on 1 thread, versions
# alternated. Needs pip (PyPI) and g++.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
w=/tmp/hpcnn-onednn-versions
mkdir -p $w && cd $w
if [[ ! -d x ]]; then
  python3 -m pip download -q --no-deps -d whl onednn-cpu-gomp==2023.2.0 onednn-devel-cpu-gomp==2023.2.0
  mkdir -p x && for f in whl/*.whl; do python3 -m zipfile -e "$f" x; done
fi
inc3=$(dirname "$(find x -name dnnl.hpp -path '*oneapi*' | head -1)")/../..
lib3=$(dirname "$(find x -name 'libdnnl.so.3' | head -1)")
for b in conv_bench ip_bench matmul_bench; do
  g++ -O2 -o ${b}26 "$here/src/$b.cpp" -ldnnl
  g++ -O2 -I"$inc3" -o ${b}32 "$here/src/$b.cpp" -L"$lib3" -l:libdnnl.so.3
done
lscpu | grep 'Model name'
export OMP_NUM_THREADS=1
for rep in 1 2; do
  for layout in nchw nhwc any; do
    ./conv_bench26 $layout 32 64 26
    LD_LIBRARY_PATH=$lib3 ./conv_bench32 $layout 32 64 26
  done
  for shape in "128 9216 128" "100 3200 1600"; do
    ./ip_bench26 $shape
    LD_LIBRARY_PATH=$lib3 ./ip_bench32 $shape
  done
done
for shape in "128 9216 128" "100 3200 1600"; do ./matmul_bench26 $shape; done
