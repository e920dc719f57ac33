#!/usr/bin/env bash
# Denormals: the optimizer phase of a long MLP run, early steps against late
# ones. Adam's moments drift towards denormal range after a few hundred steps;
# without flush-to-zero every pass over them slows down.
#
#   bash results/denormals/run.sh [HPCNN_BINARY...]    (default build/release/bin/hpcnn)
#
# Alternate two binaries (e.g. one built before the change) to compare them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=("$root/build/release/bin/hpcnn")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; mlp:800-400-208, batch 100, 2 threads, 900 steps"
"${bins[0]}" data synth solar-table -q --out "$work/table" > /dev/null
for round in 1 2; do
  for b in "${bins[@]}"; do
    rm -rf "$work/run"
    OMP_NUM_THREADS=2 "$b" train -q --model mlp:800-400-208 --data "$work/table" --batch 100 --threads 2 \
      --max-steps 900 --out "$work/run" > /dev/null
    /usr/bin/python3 - "$b" "$round" "$work/run/timing/rank-00000.csv" << 'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[3])))
opt = [float(r["seconds"]) * 1e3 for r in rows if r["phase"] == "optimizer"]
print(f"round {sys.argv[2]} {sys.argv[1]}: optimizer phase median {statistics.median(opt[10:310]):.3f} ms "
      f"(steps 11-310), {statistics.median(opt[610:810]):.3f} ms (steps 611-810)")
PY
  done
done
