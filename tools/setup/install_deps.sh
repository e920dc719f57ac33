#!/usr/bin/env bash
# Installs everything hpcnn needs from Debian 12's archive. Idempotent: when
# every package is already present it touches nothing (no apt-get update).
# The GPU backend additionally needs the CUDA toolkit with cuDNN and NCCL
# under /usr/local/cuda (not in Debian's archive); without it hpcnn builds
# CPU-only.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  openmpi-bin libopenmpi-dev              # MPI
  libhdf5-openmpi-dev hdf5-tools          # parallel HDF5, h5dump
  libdnnl-dev                             # oneDNN
  libboost-program-options-dev            # CLI
  nlohmann-json3-dev libssl-dev zlib1g-dev
  libpng-dev libcpp-httplib-dev           # hpcnn predict / serve
  libjpeg62-turbo-dev                     # hpcnn data import-images (with libpng)
  catch2 clang-format                     # tests, the formatting check (.ci/run)
  clang-14 libclang-rt-14-dev             # tests/fuzz: libFuzzer, ASan and UBSan runtimes
  python3 python3-h5py python3-numpy      # interop checks
  python3-matplotlib                      # tools/plot
  chromium chromium-driver python3-selenium   # serve's page, tested in a real (headless) browser
  libjs-katex                             # serve's expression page renders LaTeX with it, served locally
  munge slurmctld slurmd slurm-client     # jobs/slurm, tested on a local Slurm
  slurm-wlm-basic-plugins                 # srun --mpi=pmix
  iproute2                                # tools/cluster: network namespaces, veth, tc
  libsimgrid-dev                          # tools/sim: SimGrid SMPI (smpicxx, smpirun; preset smpi)
  dataset-fashion-mnist                   # the built-in default dataset
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "[setup] all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "[setup] error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "[setup] installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "[setup] done"
