#!/usr/bin/env bash
# The measured side of the predictor's validation (issue 29 item 6, docs/simulation.md):
# keras-cnn at 64 samples a rank on N emulated nodes (tools/cluster/, 1 rank of 1
# thread each, 1 Gbit/s links), as results/overlap/run.sh does on 2 nodes, three
# ways alternated round by round: --compute-only (the compute the predictor is
# given), --bucket-mb 0 (no overlap) and --bucket-mb 1 (overlap). Writes
# measured-Nn.csv (medians over rounds of the per-step medians after 5
# warm-up steps: step, forward, backward, optimizer, all-reduce, waited),
# measured-Nn-min.csv (the same phases, each the minimum over every step
# after the warm-up of every round, a step's phase taken on its slowest rank:
# the figure least disturbed by other load) and machine-Nn.txt (load before
# and after) beside this script.
#
#   bash results/sim/validate-keras-cnn-lab/run-emulated.sh 4    (root; ~4 min on 4 nodes)
# Environment: HPCNN_BIN (build/release/bin), HPCNN_ROUNDS (2), HPCNN_STEPS (30).
set -euo pipefail
nodes=${1:-4}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
bin=${HPCNN_BIN:-$root/build/release/bin}
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-simtrain
work=$(mktemp -d /tmp/hpcnn-validate-XXXXXX)
trap 'bash "$C" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$bin/hpcnn" data import-idx -q --out "$work/fm" > /dev/null
bash "$C" up --nodes "$nodes" --link 1gbit > /dev/null
rounds=${HPCNN_ROUNDS:-2} steps=${HPCNN_STEPS:-30}
hosts=$(seq -s, -f "node%g:1" 1 "$nodes")
{ echo "# $(date -u +%FT%TZ) $(git -C "$root" rev-parse --short HEAD); CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
  echo "# keras-cnn, global batch $((64 * nodes)), $nodes nodes x 1 rank x 1 thread, link 1gbit, $steps steps, $rounds rounds"
  echo "# load before: $(uptime)"; } > "$here/machine-${nodes}n.txt"
for round in $(seq "$rounds"); do
  for mode in compute-only bucket-0 bucket-1; do
    case $mode in
      compute-only) extra=(--compute-only) ;;
      bucket-0) extra=(--bucket-mb 0) ;;
      bucket-1) extra=(--bucket-mb 1) ;;
    esac
    run=$work/$mode-$round
    bash "$C" run timeout 600 mpirun -x OMP_NUM_THREADS=1 -H "$hosts" -np "$nodes" "$bin/hpcnn" train -q \
      --model keras-cnn --data "$work/fm" --global-batch $((64 * nodes)) --threads 1 --max-steps "$steps" \
      --allreduce auto "${extra[@]}" --out "$run" > /dev/null 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
    "$bin/hpcnn-merge" summary -q --warmup 5 "$run" > /dev/null
    echo "[validate] $nodes nodes, round $round $mode: $(python3 -c "import json; s=json.load(open('$run/merged/summary.json')); print(round(s['step_slowest']['median_s']*1e3,1), 'ms per step')")"
  done
done
echo "# load after: $(uptime)" >> "$here/machine-${nodes}n.txt"
python3 - "$work" "$rounds" "$here/measured-${nodes}n-min.csv" << 'PY'
import collections, csv, glob, sys
work, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
phases = ("step", "forward", "backward", "optimizer", "allreduce", "allreduce_wait")
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["run"] + [f"{p}_ms" for p in phases] + ["steps"])
    for mode in ("compute-only", "bucket-0", "bucket-1"):
        best, steps = {p: float("inf") for p in phases}, 0
        for r in range(1, rounds + 1):
            per = collections.defaultdict(float)  # (epoch, step, phase) -> slowest rank's seconds
            for path in glob.glob(f"{work}/{mode}-{r}/timing/rank-*.csv"):
                for row in csv.DictReader(open(path)):
                    k = (int(row["epoch"]), int(row["step"]), row["phase"])
                    per[k] = max(per[k], float(row["seconds"]))
            keys = sorted({(e, s) for e, s, _ in per})[5:]
            steps += len(keys)
            for p in phases:
                vals = [per[(e, s, p)] * 1e3 for e, s in keys if (e, s, p) in per]
                if vals:
                    best[p] = min(best[p], min(vals))
        w.writerow([mode] + [round(best[p], 3) if best[p] != float("inf") else 0.0 for p in phases] + [steps])
print(open(out).read())
PY
python3 - "$work" "$rounds" "$here/measured-${nodes}n.csv" << 'PY'
import csv, json, statistics, sys
work, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["run", "step_ms", "forward_ms", "backward_ms", "optimizer_ms", "allreduce_ms", "allreduce_wait_ms", "per_round_step_ms"])
    for mode in ("compute-only", "bucket-0", "bucket-1"):
        runs = [json.load(open(f"{work}/{mode}-{r}/merged/summary.json")) for r in range(1, rounds + 1)]
        ph = lambda name: statistics.median(s["phases"][name]["median_s"] * 1e3 for s in runs)
        w.writerow([mode, round(statistics.median(s["step_slowest"]["median_s"] * 1e3 for s in runs), 3),
                    round(ph("forward"), 3), round(ph("backward"), 3), round(ph("optimizer"), 3),
                    round(ph("allreduce"), 3), round(ph("allreduce_wait"), 3),
                    " ".join(str(round(s["step_slowest"]["median_s"] * 1e3, 1)) for s in runs)])
print(open(out).read())
PY
