#!/usr/bin/env bash
# The README's two commands. Each installs what it needs, builds, then:
#   quickstart.sh main   imports Fashion-MNIST (Debian's package) and trains keras-cnn on it
#   quickstart.sh test   builds the fuzz harnesses too, then runs the whole test suite through ctest
# Environment: HPCNN_PRESET (default release), HPCNN_JOBS (default: all cores),
# HPCNN_EPOCHS (main job's epochs, default 1).
set -euo pipefail
mode=${1:-}
if [[ $mode != main && $mode != test ]]; then
  echo "usage: $0 main|test" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
preset=${HPCNN_PRESET:-release}
jobs=${HPCNN_JOBS:-$(nproc)}

bash tools/setup/install_deps.sh
echo "[setup] configuring and building ($preset, $jobs jobs)"
# Where the CUDA toolkit is installed the GPU backend must build (sm_80 and
# sm_90, warnings as errors): a broken CUDA build fails here instead of being
# left out silently.
cuda=()
[[ -x /usr/local/cuda/bin/nvcc ]] && cuda=(-DHPCNN_REQUIRE_CUDA=ON)
cmake --preset "$preset" "${cuda[@]}" >/dev/null
cmake --build --preset "$preset" -j "$jobs" >/dev/null

if [[ $mode == main ]]; then
  # Main job: import Fashion-MNIST into shards, train keras-cnn for one epoch
  # on all cores, print test accuracy, throughput and where the time went.
  bash tools/setup/main_job.sh "build/$preset/bin"
else
  # The libFuzzer harnesses (tests/fuzz) build separately with clang; ctest's
  # fuzz.* tests run each for 30 s and skip when this build is missing.
  echo "[setup] configuring and building the fuzz harnesses (fuzz preset)"
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j "$jobs" >/dev/null
  ctest --preset "$preset" -j "$jobs"
fi
