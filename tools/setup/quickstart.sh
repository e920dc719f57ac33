#!/usr/bin/env bash
# The README's two commands. Each installs what it needs, builds, then:
#   quickstart.sh main   runs the main job on the built-in default dataset
#   quickstart.sh test   runs the whole test suite through ctest
# Environment: HPCNN_PRESET (default release), HPCNN_JOBS (default: all cores).
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
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs" >/dev/null
bin="build/$preset/bin/hpcnn"

if [[ $mode == main ]]; then
  # Main job (for now): import Fashion-MNIST into shards and print its summary.
  "$bin" info
  "$bin" data import-idx --out datasets/fashion-mnist --force
  "$bin" data verify datasets/fashion-mnist
else
  ctest --preset "$preset" -j "$jobs"
fi
