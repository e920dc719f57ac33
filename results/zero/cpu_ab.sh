#!/usr/bin/env bash
# Issue 30, brief zstep: CPU time per step of part b's setting
# (mlp:3200-1600-832, 2 ranks x 1 thread, global batch 100, ring), plain
# against --shard-optimizer, alternated in one loop. On the shared 2-core
# machine a rank's step is about its CPU time (all its threads) plus its
# waits, and CPU time depends far less on the load than the step time does.
#
# Per variant and round, two runs of LONG and SHORT steps (default 40 and
# 10; one epoch of a 5,000-sample table, so both end with the same single
# evaluation): CPU per step = (CPU(LONG) - CPU(SHORT)) / (LONG - SHORT) per
# rank, so start-up, the evaluation and the end cancel. Each rank runs under
# rank_cpu.py: its total CPU from wait4 (user + system, every thread) and
# each thread's CPU from /proc/.../schedstat (main thread `hpcnn`, the
# reduction thread `hpcnn-comm`, the pipelined gather `hpcnn-gather`, MPI's
# own threads).
#
# VARIANTS (default "plain sharded"; names, in the order run in each round):
#   plain         $HPCNN
#   sharded       $HPCNN --shard-optimizer
#   thread        HPCNN_SHARD_GATHER=thread $HPCNN --shard-optimizer (the gather thread)
#   direct        HPCNN_SHARD_GATHER=direct $HPCNN --shard-optimizer
#   after         HPCNN_SHARD_GATHER=after $HPCNN --shard-optimizer
#   base-plain    $HPCNN_BASE              (another build, e.g. main's)
#   base-sharded  $HPCNN_BASE --shard-optimizer
# REPEATS rounds (default 5). Output: results/zero/cpu_ab.md (or $CPU_OUT),
# with `uptime`'s load before each round. Ratios are against the round's
# first variant. The table also gives, from the long runs' timelines, the
# median (steps 6-LONG, slower rank) of the phases that differ: the
# exchange's exposed wait (allreduce_wait: the all-reduce, or sharded the
# reduce-scatter), the optimizer and the all-gather left after it.
# ANALYZE=1 tabulates the runs already in $RUNS without running anything.
#
# Under load the medians are not enough: Open MPI's blocking waits spin, so
# a rank whose peer is descheduled burns CPU for as long as it waits, and a
# short run inflated that way makes a difference small or even negative.
# Load only adds CPU, so the last table estimates each variant's unloaded
# cost from minima: (min over rounds of CPU(LONG) - min over rounds of
# CPU(SHORT)) / (LONG - SHORT) per rank, and the smallest step median.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
HPCNN_BASE=${HPCNN_BASE:-}
RUNS=${HPCNN_RUNS:-results/runs/zero}/cpu-ab
OUTMD=${CPU_OUT:-results/zero/cpu_ab.md}
REPEATS=${REPEATS:-5}
LONG=${LONG:-40}
SHORT=${SHORT:-10}
VARIANTS=${VARIANTS:-plain sharded}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
DATA=datasets/mlp-table-5k
if [[ ${ANALYZE:-0} != 1 ]]; then
rm -rf "$RUNS"
mkdir -p "$RUNS"
[[ -f $DATA/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 5000 --test 500 --out $DATA > /dev/null
echo "round,load_before" > "$RUNS/loads.csv"
for rep in $(seq "$REPEATS"); do
  echo "$rep,$(uptime | sed 's/.*load average: //' | tr ',' ' ')" >> "$RUNS/loads.csv"
  for v in $VARIANTS; do
    bin=$HPCNN flag=() gather=pipelined
    case $v in
      plain) ;;
      sharded) flag=(--shard-optimizer) ;;
      thread | direct | after) flag=(--shard-optimizer) gather=$v ;;
      base-plain) bin=$HPCNN_BASE ;;
      base-sharded) bin=$HPCNN_BASE flag=(--shard-optimizer) ;;
      *) echo "cpu_ab.sh: unknown variant '$v'" >&2; exit 2 ;;
    esac
    [[ -n $bin ]] || { echo "cpu_ab.sh: $v needs HPCNN_BASE" >&2; exit 2; }
    for steps in $SHORT $LONG; do
      dir=$RUNS/$v-r$rep-s$steps
      HPCNN_SHARD_GATHER=$gather "${MPIRUN[@]}" -n 2 /usr/bin/python3 results/zero/rank_cpu.py "$dir/cpu" \
        "$bin" train -q --force --data $DATA --model mlp:3200-1600-832 --threads 1 --seed 42 \
        --checkpoint-every off --allreduce ring --global-batch 100 --epochs 1 --max-steps "$steps" "${flag[@]}" \
        --out "$dir" --checkpoint /tmp/hpcnn-zero-cpu-ab.h5 > /dev/null
    done
  done
done
rm -f /tmp/hpcnn-zero-cpu-ab.h5
fi
PYTHONPATH=results/zero /usr/bin/python3 - "$RUNS" "$REPEATS" "$LONG" "$SHORT" "$VARIANTS" > "$OUTMD" <<'PY'
import csv, json, statistics, sys
from timeline import phase_median  # the slower rank, steps after the warm-up
runs, repeats, long_, short, variants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split()
loads = {r["round"]: r["load_before"] for r in csv.DictReader(open(f"{runs}/loads.csv"))}
def cpu(v, rep, steps, rank):
    return json.load(open(f"{runs}/{v}-r{rep}-s{steps}/cpu-{rank}.json"))
def per_step(v, rep):
    """ms per step: total per rank, and per thread name (mean over the ranks)."""
    tot, threads = [], {}
    for rank in (0, 1):
        a, b = cpu(v, rep, short, rank), cpu(v, rep, long_, rank)
        tot.append((b["total_s"] - a["total_s"]) / (long_ - short) * 1e3)
        for name in set(a["threads"]) | set(b["threads"]):
            d = (b["threads"].get(name, 0) - a["threads"].get(name, 0)) / (long_ - short) * 1e3
            threads[name] = threads.get(name, 0) + d / 2
    return tot, threads
def phase_ms(v, rep, phase):
    """Median `phase` (steps 6-LONG) of the slower rank in the long run's timeline, ms; 0 if it has none."""
    return phase_median(f"{runs}/{v}-r{rep}-s{long_}", phase, empty=0.0) * 1e3
def step_ms(v, rep):
    return phase_ms(v, rep, "step")
print(f"mlp:3200-1600-832, 2 ranks x 1 thread, global batch 100, ring. CPU per step = (CPU of {long_} steps - CPU of "
      f"{short} steps) / {long_ - short}, per rank (user + system, all threads, wait4); threads from schedstat, mean of "
      f"the 2 ranks; step = median step of the slower rank in the {long_}-step run. Variants alternated in each round; "
      f"load (1, 5, 15 min) before each round.\n")
print("| round | variant | CPU ms/step rank 0, 1 | mean | ratio to " + variants[0] +
      " | main thread | hpcnn-comm | hpcnn-gather | other threads | step ms | load |")
print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
ratios, means, steps = {v: [] for v in variants}, {v: [] for v in variants}, {v: [] for v in variants}
thread_cols = {v: {"hpcnn": [], "hpcnn-comm": [], "hpcnn-gather": [], "other": []} for v in variants}
for rep in range(1, repeats + 1):
    base = statistics.mean(per_step(variants[0], rep)[0])
    for v in variants:
        tot, th = per_step(v, rep)
        m = statistics.mean(tot)
        main_, comm, gather = th.get("hpcnn", 0), th.get("hpcnn-comm", 0), th.get("hpcnn-gather", 0)
        other = sum(th.values()) - main_ - comm - gather
        s = step_ms(v, rep)
        ratios[v].append(m / base); means[v].append(m); steps[v].append(s)
        for k, x in (("hpcnn", main_), ("hpcnn-comm", comm), ("hpcnn-gather", gather), ("other", other)):
            thread_cols[v][k].append(x)
        print(f"| {rep} | {v} | {tot[0]:.1f}, {tot[1]:.1f} | {m:.1f} | {m / base:.3f} | {main_:.1f} | {comm:.1f} | "
              f"{gather:.1f} | {other:.1f} | {s:.1f} | {loads[str(rep)]} |")
print(f"\nMedians over {repeats} rounds:\n")
print("| variant | CPU ms/step | ratio to " + variants[0] + " | main thread | hpcnn-comm | hpcnn-gather | other | step ms | "
      "step ratio to " + variants[0] + " | exchange wait ms | optimizer ms | all-gather ms |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
med = statistics.median
for v in variants:
    t = thread_cols[v]
    step_ratio = med(steps[v][i] / steps[variants[0]][i] for i in range(repeats))
    ph = {p: med(phase_ms(v, rep, p) for rep in range(1, repeats + 1))
          for p in ("allreduce_wait", "optimizer", "allgather")}
    print(f"| {v} | {med(means[v]):.1f} | **{med(ratios[v]):.3f}** | {med(t['hpcnn']):.1f} | {med(t['hpcnn-comm']):.1f} | "
          f"{med(t['hpcnn-gather']):.1f} | {med(t['other']):.1f} | {med(steps[v]):.1f} | {step_ratio:.3f} | "
          f"{ph['allreduce_wait']:.1f} | {ph['optimizer']:.1f} | {ph['allgather']:.1f} |")
print(f"\nFrom the minima over {repeats} rounds (load only adds; see cpu_ab.sh):\n")
print("| variant | CPU ms/step rank 0, 1 | mean | ratio to " + variants[0] + " | main thread | hpcnn-comm | hpcnn-gather | "
      "smallest step ms | ratio to " + variants[0] + " |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def min_cpu(v):
    per_rank, threads = [], {}
    for rank in (0, 1):
        runs_of = lambda steps: [cpu(v, rep, steps, rank) for rep in range(1, repeats + 1)]
        lo_long, lo_short = min(runs_of(long_), key=lambda c: c["total_s"]), min(runs_of(short), key=lambda c: c["total_s"])
        per_rank.append((lo_long["total_s"] - lo_short["total_s"]) / (long_ - short) * 1e3)
        for name in ("hpcnn", "hpcnn-comm", "hpcnn-gather"):
            a = min(c["threads"].get(name, 0.0) for c in runs_of(short))
            b = min(c["threads"].get(name, 0.0) for c in runs_of(long_))
            threads[name] = threads.get(name, 0.0) + (b - a) / (long_ - short) * 1e3 / 2
    return per_rank, threads
base_cpu = statistics.mean(min_cpu(variants[0])[0])
base_step = min(steps[variants[0]])
for v in variants:
    per_rank, th = min_cpu(v)
    m = statistics.mean(per_rank)
    print(f"| {v} | {per_rank[0]:.1f}, {per_rank[1]:.1f} | {m:.1f} | **{m / base_cpu:.3f}** | {th['hpcnn']:.1f} | "
          f"{th['hpcnn-comm']:.1f} | {th['hpcnn-gather']:.1f} | {min(steps[v]):.1f} | **{min(steps[v]) / base_step:.3f}** |")
PY
cat "$OUTMD"
