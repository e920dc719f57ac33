#!/usr/bin/env bash
# Packs a build for a GPU machine that lacks this project's other libraries
# (Open MPI, HDF5, oneDNN, Boost, ...): the binaries, tools/gpu/verify.sh and
# every shared library they load except the C library family, the NVIDIA
# driver and CUDA's own libraries (cuBLAS, cuDNN, NCCL: the GPU machine has
# them, from its toolkit or pip wheels; verify.sh finds both), plus Open MPI's
# plugins. Then, there: tar -xzf the bundle and run verify.sh --bundle FILE.
# --cuda-libs also packs cuBLAS, cuDNN (all its engine libraries, which it
# loads at run time) and NCCL from this toolkit, for a machine with only the
# NVIDIA driver (R580+) installed: about 1-2 GB instead of about 30 MB.
#
#   tools/gpu/bundle.sh [--build DIR] [--out FILE] [--cuda-libs]   # [build/release] [hpcnn-gpu-bundle.tar.gz]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build/release out=$PWD/hpcnn-gpu-bundle.tar.gz cuda_libs=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cuda-libs) cuda_libs=1; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bundle.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
bins=("$build/bin/hpcnn" "$build/bin/hpcnn-merge" "$build/tests/hpcnn_gpu_tests")
for b in "${bins[@]}"; do [[ -x $b ]] || { echo "bundle.sh: no $b (build first)" >&2; exit 2; }; done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
dir=$stage/hpcnn-gpu-bundle
mkdir -p "$dir/bin" "$dir/lib" "$dir/tools/gpu"
cp "${bins[@]}" "$dir/bin/"
cp "$here/verify.sh" "$dir/tools/gpu/"
mkdir -p "$dir/tools/bench/peers" && cp "$root/tools/bench/peers/peers.py" "$dir/tools/bench/peers/"
skip='^(libc|libm|libdl|librt|libpthread|ld-linux.*|libcuda|libnvidia.*|libcudnn.*|libcublas.*|libnccl|libcudart)\.so'
for b in "${bins[@]}"; do
  ldd "$b" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  name=$(basename "$lib")
  [[ $name =~ $skip ]] || cp -L "$lib" "$dir/lib/"
done
# CUDA's own libraries, for a driver-only machine: each one hpcnn links and
# its siblings of the same family (cuDNN 9 dlopens libcudnn_engines_*, ...).
if [[ $cuda_libs -eq 1 ]]; then
  ldd "$build/bin/hpcnn" | awk '/(libcublas|libcublasLt|libcudnn|libnccl)\.so/{print $3}' | sort -u | while read -r lib; do
    family=$(basename "$lib" | sed -E 's/\.so.*//')
    cp -L "$(dirname "$lib")/$family"*.so* "$dir/lib/" 2> /dev/null || true
  done
  echo "bundle: with CUDA's libraries ($(du -sh "$dir/lib" | cut -f1) of libraries)"
fi
# Open MPI loads its components at run time, even for one process.
mpi_plugins=$(dirname "$(ldd "$build/bin/hpcnn" | awk '/libmpi\.so/{print $3}')")/openmpi
[[ -d $mpi_plugins ]] && cp -rL "$mpi_plugins" "$dir/lib/openmpi"
cat > "$dir/env.sh" << 'ENV'
# Sourced by verify.sh --bundle: the bundle's libraries first.
b=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LD_LIBRARY_PATH="$b/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[[ -d $b/lib/openmpi ]] && export OPAL_PREFIX="$b" OMPI_MCA_mca_base_component_path="$b/lib/openmpi/lib/openmpi3"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ENV
tar -czf "$out" -C "$stage" hpcnn-gpu-bundle
echo "bundle: $out ($(du -h "$out" | cut -f1)); on the GPU machine: tools/gpu/verify.sh --bundle $(basename "$out")"
