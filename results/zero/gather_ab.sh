#!/usr/bin/env bash
# Issue 30, brief zag item 3: the pipelined all-gather (comm::BlockGatherer;
# since brief zstep, on one node the default `pipelined` is comm::DirectGatherer,
# and GATHER=thread gives the BlockGatherer: see README part g)
# against the all-gather after the optimizer pass, and both against the plain
# step, alternated in one loop (REPEATS rounds, default 5): per round
#   plain      $HPCNN without --shard-optimizer
#   sharded    $HPCNN --shard-optimizer            (the build under test)
#   before     HPCNN_SHARD_GATHER=after $HPCNN --shard-optimizer: the same
#              build gathering after the whole optimizer pass, as before the
#              change; or, when HPCNN_BASE names a build without the change,
#              $HPCNN_BASE --shard-optimizer
# on part b's setting (mlp:3200-1600-832, 2 ranks x 1 thread, global batch
# 100, ring, 40 steps). Per run: the median over steps 6-40 of the slower
# rank's step, optimizer and allgather phases; `uptime` before each run.
# Output: results/zero/gather_ab.md (or $AB_OUT).
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
HPCNN_BASE=${HPCNN_BASE:-}
RUNS=${HPCNN_RUNS:-results/runs/zero}/gather-ab
OUTMD=${AB_OUT:-results/zero/gather_ab.md}
REPEATS=${REPEATS:-5}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
mkdir -p "$RUNS"
[[ -f datasets/mlp-table/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 1000 --test 1000 --out datasets/mlp-table > /dev/null
modes="plain sharded before"
echo "run,load_before" > "$RUNS/loads.csv"
for rep in $(seq "$REPEATS"); do
  for mode in $modes; do
    bin=$HPCNN flag=(--shard-optimizer) gather=${GATHER:-pipelined}
    [[ $mode == plain ]] && flag=()
    [[ $mode == before ]] && gather=after
    [[ $mode == before && -n $HPCNN_BASE ]] && bin=$HPCNN_BASE
    dir=$RUNS/$mode-r$rep
    echo "$mode-r$rep,$(uptime | sed 's/.*load average: //' | tr ',' ' ')" >> "$RUNS/loads.csv"
    HPCNN_SHARD_GATHER=$gather "${MPIRUN[@]}" -n 2 "$bin" train -q --force --data datasets/mlp-table --model mlp:3200-1600-832 --threads 1 \
      --seed 42 --checkpoint-every off --allreduce ring --global-batch 100 --epochs 4 --max-steps 40 "${flag[@]}" \
      --out "$dir" --checkpoint /tmp/hpcnn-zero-ab.h5 > /dev/null
  done
done
rm -f /tmp/hpcnn-zero-ab.h5
PYTHONPATH=results/zero /usr/bin/python3 - "$RUNS" "$REPEATS" "$modes" > "$OUTMD" <<'PY'
import csv, statistics, sys
runs, repeats, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
loads = {r["run"]: r["load_before"] for r in csv.DictReader(open(f"{runs}/loads.csv"))}
from timeline import phase_median as med  # the slower rank, steps after the warm-up
print("mlp:3200-1600-832, 2 ranks x 1 thread, global batch 100, ring, 40 steps; per run the median over steps 6-40")
print("of the slower rank, ms; runs alternated " + " / ".join(modes) + " in each round; load 1/5/15 min before each.\n")
cols = [f"{m} step / opt / gather" for m in modes]
print("| round | " + " | ".join(cols) + " | sharded / plain |" + (" before / plain | sharded / before |" if "before" in modes else "") + " loads |")
print("| ---: |" + " --- |" * len(cols) + " ---: |" + (" ---: | ---: |" if "before" in modes else "") + " --- |")
ratios = {"sharded/plain": [], "before/plain": [], "sharded/before": []}
for rep in range(1, repeats + 1):
    step = {m: med(f"{runs}/{m}-r{rep}", "step") for m in modes}
    cells = [f"{step[m] * 1e3:.1f} / {med(f'{runs}/{m}-r{rep}', 'optimizer') * 1e3:.1f} / "
             f"{med(f'{runs}/{m}-r{rep}', 'allgather') * 1e3:.1f}" for m in modes]
    row = f"| {rep} | " + " | ".join(cells) + f" | {step['sharded'] / step['plain']:.3f} |"
    ratios["sharded/plain"].append(step["sharded"] / step["plain"])
    if "before" in modes:
        ratios["before/plain"].append(step["before"] / step["plain"])
        ratios["sharded/before"].append(step["sharded"] / step["before"])
        row += f" {step['before'] / step['plain']:.3f} | {step['sharded'] / step['before']:.3f} |"
    print(row + " " + "; ".join(loads[f"{m}-r{rep}"] for m in modes) + " |")
print()
for k, v in ratios.items():
    if v:
        print(f"Median {k}: **{statistics.median(v):.3f}** ({min(v):.3f}-{max(v):.3f})  ")
PY
cat "$OUTMD"
