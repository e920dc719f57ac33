#!/usr/bin/env bash
# Formatting is a check, not a wish: every tracked C++ source must be as
# clang-format (the root .clang-format) writes it. Prints the files that are
# not and exits 1; `--fix` rewrites them instead. Option tables of
# Boost.Program_options stay one option per line inside clang-format off/on.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang-format > /dev/null || { echo "[format] error: clang-format not found (apt-get install clang-format)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.cu' '*.cuh')
if [[ ${1:-} == --fix ]]; then
  clang-format -i "${files[@]}"
  echo "[format] formatted ${#files[@]} files"
  exit 0
fi
bad=$(clang-format --dry-run "${files[@]}" 2>&1 | grep -oE '^[^:]+:[0-9]+:[0-9]+: warning' | cut -d: -f1 | sort -u || true)
if [[ -n $bad ]]; then
  echo "[format] not clang-formatted (fix: bash tools/setup/check_format.sh --fix):" >&2
  echo "$bad" | sed 's/^/  /' >&2
  exit 1
fi
echo "[format] ${#files[@]} C++ files clang-formatted ($(clang-format --version | grep -oE '[0-9]+\.[0-9.]+' | head -1))"
