#!/usr/bin/env bash
# One command: makes the peers venv on first use (setup.sh), then runs
# peers.py with the venv's python. Options go to peers.py (see --help).
#
#   tools/bench/peers/run.sh [--hpcnn BIN] [--networks A,B] [--threads N] ...
#
# Env: HPCNN (the hpcnn binary), HPCNN_PEERS_VENV (the venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${HPCNN_PEERS_VENV:-$HOME/.cache/hpcnn-peers/venv}"
case " $* " in
  *" -h "*|*" --help "*) exec python3 "$here/peers.py" --help ;;
esac
if [[ ! -f "$venv/.hpcnn-peers-ok" ]]; then
  echo "run.sh: no peers venv at $venv yet: making it (once; downloads ~3 GB from PyPI)" >&2
  bash "$here/setup.sh" --venv "$venv" >&2
fi
exec "$venv/bin/python" "$here/peers.py" --venv "$venv" "$@"
