#!/usr/bin/env bash
# Issue 30, part b's step taken apart (brief zag, item 1): mlp:3200-1600-832
# on 2 ranks, global batch 100, 1 thread per rank, ring, 40 steps, plain and
# --shard-optimizer alternated (REPEATS pairs, default 3). For every phase of
# the step timeline (timing/rank-*.csv: data, forward, backward,
# allreduce_wait, optimizer, allgather; allreduce is the communication
# thread's busy time inside the reductions, which overlap backward) the
# median over steps 6-40 of the slower rank's time, per mode, over all runs of
# that mode, and "rest": the step minus the phases that tile it (data +
# forward + backward + allreduce_wait + optimizer + allgather). `uptime` load
# is written beside each run. Output: results/zero/step_phases.md (or
# $PHASES_OUT). Extra flags for the sharded runs: SHARD_FLAGS. ANALYZE=DIR
# runs nothing and analyses runs already there (DIR/step-{0,1}-r{1..REPEATS},
# e.g. the step-*-r* of `PARTS=b bash results/zero/run.sh`, in results/runs/zero).
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
RUNS=${ANALYZE:-${HPCNN_RUNS:-results/runs/zero}/phases}
OUTMD=${PHASES_OUT:-results/zero/step_phases.md}
REPEATS=${REPEATS:-3}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
mkdir -p "$RUNS"
[[ -f datasets/mlp-table/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 1000 --test 1000 --out datasets/mlp-table > /dev/null
if [[ -z ${ANALYZE:-} ]]; then
load() { uptime | sed 's/.*load average: //' | tr ',' ' '; }
echo "run,shard,load_before" > "$RUNS/loads.csv"
for rep in $(seq "$REPEATS"); do
  for shard in 0 1; do
    flag=()
    [[ $shard == 1 ]] && flag=(--shard-optimizer ${SHARD_FLAGS:-})
    dir=$RUNS/step-$shard-r$rep
    echo "$dir,$shard,$(load)" >> "$RUNS/loads.csv"
    "${MPIRUN[@]}" -n 2 $HPCNN train -q --force --data datasets/mlp-table --model mlp:3200-1600-832 --threads 1 \
      --seed 42 --checkpoint-every off --allreduce ring --global-batch 100 --epochs 4 --max-steps 40 "${flag[@]}" \
      --out "$dir" --checkpoint /tmp/hpcnn-zero-phases.h5 > /dev/null
  done
done
rm -f /tmp/hpcnn-zero-phases.h5
fi
/usr/bin/python3 - "$RUNS" "$REPEATS" > "$OUTMD" <<'PY'
import csv, statistics, sys
runs, repeats = sys.argv[1], int(sys.argv[2])
try:
    loads = {r["run"].rsplit("/", 1)[-1]: r["load_before"] for r in csv.DictReader(open(f"{runs}/loads.csv"))}
except FileNotFoundError:
    loads = {}
TILE = ["data", "forward", "backward", "allreduce_wait", "optimizer", "allgather"]
PHASES = TILE + ["allreduce", "rest", "step"]
def per_step(d):
    """{phase: [slower rank's seconds per step, steps 6-40]}, "rest" = step - the tiling phases."""
    t = {}
    for r in (0, 1):
        for row in csv.DictReader(open(f"{d}/timing/rank-{r:05d}.csv")):
            k = (int(row["epoch"]), int(row["step"]))
            t.setdefault(k, {}).setdefault(r, {})[row["phase"]] = float(row["seconds"])
    out = {p: [] for p in PHASES}
    for k in sorted(t)[5:]:
        for p in PHASES:
            vals = []
            for r, ph in t[k].items():
                vals.append(ph.get("step", 0) - sum(ph.get(q, 0) for q in TILE) if p == "rest" else ph.get(p, 0.0))
            out[p].append(max(vals))
    return out
print("mlp:3200-1600-832, 2 ranks x 1 thread, global batch 100, ring, 40 steps; median over steps 6-40 and over")
print(f"{repeats} alternated runs per mode of the slower rank's time per phase, ms. `rest` = step - (data + forward +")
print("backward + allreduce_wait + optimizer + allgather): the timeline's own gaps. `allreduce` is the communication")
print("thread's busy time (overlaps backward), not part of the sum.\n")
print("| phase | plain ms | sharded ms | sharded - plain ms |")
print("| --- | ---: | ---: | ---: |")
med = {}
for shard in (0, 1):
    allp = {p: [] for p in PHASES}
    for rep in range(1, repeats + 1):
        for p, v in per_step(f"{runs}/step-{shard}-r{rep}").items():
            allp[p] += v
    med[shard] = {p: statistics.median(v) for p, v in allp.items()}
for p in PHASES:
    print(f"| {p} | {med[0][p] * 1e3:.2f} | {med[1][p] * 1e3:.2f} | {(med[1][p] - med[0][p]) * 1e3:+.2f} |")
print("\nPer run (step ms, median of the slower rank; load 1/5/15 min before):\n")
print("| repeat | plain | sharded | ratio | load plain | load sharded |")
print("| ---: | ---: | ---: | ---: | --- | --- |")
ratios = []
for rep in range(1, repeats + 1):
    a, b = f"{runs}/step-0-r{rep}", f"{runs}/step-1-r{rep}"
    sa, sb = statistics.median(per_step(a)["step"]), statistics.median(per_step(b)["step"])
    ratios.append(sb / sa)
    print(f"| {rep} | {sa * 1e3:.1f} | {sb * 1e3:.1f} | {sb / sa:.3f} | {loads.get(a.rsplit('/', 1)[-1], 'n/a')} | {loads.get(b.rsplit('/', 1)[-1], 'n/a')} |")
print(f"\nMedian ratio sharded / plain: **{statistics.median(ratios):.3f}**")
PY
cat "$OUTMD"
