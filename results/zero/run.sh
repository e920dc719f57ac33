#!/usr/bin/env bash
# Issue 30: what --shard-optimizer and --grad-compression bf16 buy. Parts
# (PARTS="a b c" by default; d only when named, on a quiet machine):
#  a  optimizer-state bytes per rank at 1, 2 and 4 ranks, from metrics.json's
#     memory breakdown (mlp:3200-1600-832, Adam, --shard-optimizer) -> state.md
#  b  mlp:3200-1600-832 on 2 ranks: median step time with and without
#     --shard-optimizer, runs alternated A B A B (REPEATS pairs, default 3),
#     `uptime` load written beside each run -> step_time.md
#  c  keras-cnn, 10 epochs of Fashion-MNIST on 2 ranks: test accuracy with
#     --grad-compression bf16 and without (C_MODES="none bf16 fp16" adds
#     fp16) -> accuracy.md. Duration: see results/zero/README.md, part c.
#     C_EPOCHS=1 C_MAX_STEPS=40 is a smoke run of the same commands
#     (-> $RUNS/accuracy-smoke.md)
#  d  mlp:25600-12800-6656 (414 M parameters): peak RSS of 1 rank unsharded
#     and of 2 ranks sharded, at the global batch 1000 of
#     results/mlp-family/largest.sh, 3 steps, with the breakdown -> largest.md.
#     The two configurations run one after the other, never at once; each is
#     refused unless MemAvailable >= 18 GB just before it starts (the 1-rank
#     run peaked at 17.0 GB on main in results/mlp-family, before the
#     checkpoint copies were cut; a sharded rank is expected at 6.5-10 GB, so
#     2 ranks at 13-19 GB: see README part d). About 5 minutes on 2 cores.
#  e  the 1/16 proxy of d, mlp:6400-3200-1664 (26 M parameters, W = 100 MB of
#     weights): peak RSS and breakdown of 1 rank unsharded and of 2 ranks
#     sharded, global batch 1000, 3 steps, final checkpoint written
#     (PARTS=e; about a minute, under 1.2 GB per process) -> memory.md.
#     E_MODEL=mlp:12800-6400-3328 E_OUT=memory-half.md: the half-width model
#     (103 M parameters, W = 396 MB > its activations, as at full size; about
#     5 minutes, 2.3 GB for the 1-rank run, 1.6 GB per sharded rank)
# Step times on a shared machine are noisy: compare only the ratios of
# alternated runs, at the load written beside them.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
PY=/usr/bin/python3
OUT=results/zero
RUNS=${HPCNN_RUNS:-results/runs/zero}
PARTS=" ${PARTS:-a b c} "
REPEATS=${REPEATS:-3}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
mkdir -p "$OUT" "$RUNS"
[[ -f datasets/mlp-table/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 1000 --test 1000 --out datasets/mlp-table > /dev/null
MLP=(train -q --force --data datasets/mlp-table --model mlp:3200-1600-832 --threads 1 --seed 42
  --checkpoint-every off --allreduce ring)
load() { uptime | sed 's/.*load average: //'; }

if [[ $PARTS == *" a "* ]]; then
  for p in 1 2 4; do
    "${MPIRUN[@]}" -n $p $HPCNN "${MLP[@]}" --global-batch 100 --max-steps 3 --shard-optimizer \
      --out "$RUNS/state-p$p" --checkpoint /tmp/hpcnn-zero-a.h5 > /dev/null
  done
  rm -f /tmp/hpcnn-zero-a.h5
  $PY - "$RUNS" > "$OUT/state.md" <<'PY'
import json, sys
runs = sys.argv[1]
full = None
print("| ranks | params | optimizer state per rank (MB) | full / ranks (MB) | max deviation from full / ranks | sum over ranks = full |")
print("| ---: | ---: | --- | ---: | ---: | --- |")
for p in (1, 2, 4):
    m = json.load(open(f"{runs}/state-p{p}/metrics.json"))
    state = [r["memory"]["optimizer_state_bytes"] for r in m["ranks"]]
    full = full or sum(state)
    dev = max(abs(s - full / p) for s in state)
    print(f"| {p} | {m['params']:,} | {', '.join(f'{s / 2**20:.2f}' for s in state)} | {full / p / 2**20:.2f} | "
          f"{dev / 2**20:.3f} MB ({dev / (262144 * 8):.2f} blocks) | {'yes' if sum(state) == full else 'NO'} |")
PY
  cat "$OUT/state.md"
fi

if [[ $PARTS == *" b "* ]]; then
  echo "run,shard,load_before" > "$OUT/step_time_runs.csv"
  for rep in $(seq "$REPEATS"); do
    for shard in 0 1; do
      flag=()
      [[ $shard == 1 ]] && flag=(--shard-optimizer)
      dir=$RUNS/step-$shard-r$rep
      echo "$dir,$shard,$(load | tr ',' ' ')" >> "$OUT/step_time_runs.csv"
      "${MPIRUN[@]}" -n 2 $HPCNN "${MLP[@]}" --global-batch 100 --epochs 4 --max-steps 40 "${flag[@]}" \
        --out "$dir" --checkpoint /tmp/hpcnn-zero-b.h5 > /dev/null
    done
  done
  rm -f /tmp/hpcnn-zero-b.h5
  PYTHONPATH=results/zero $PY - "$RUNS" "$REPEATS" "$OUT/step_time_runs.csv" > "$OUT/step_time.md" <<'PY'
import csv, statistics, sys
runs, repeats, loads = sys.argv[1], int(sys.argv[2]), {r["run"]: r["load_before"] for r in csv.DictReader(open(sys.argv[3]))}
from timeline import phase_median  # the slower rank, steps after the warm-up
# The trainer books a sharded run's all-gather as its own phase (allgather, since ac45e68): the optimizer column
# is the optimizer alone, the all-gather column what of it was not hidden behind the optimizer (issue 30).
print("| repeat | step ms, plain | step ms, sharded | ratio | optimizer ms, plain | optimizer ms, sharded | all-gather ms, sharded | load (1, 5, 15 min) before plain / sharded |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
ratios = []
for rep in range(1, repeats + 1):
    a, b = f"{runs}/step-0-r{rep}", f"{runs}/step-1-r{rep}"
    sa, sb = phase_median(a, "step"), phase_median(b, "step")
    ratios.append(sb / sa)
    print(f"| {rep} | {sa * 1e3:.1f} | {sb * 1e3:.1f} | {sb / sa:.3f} | {phase_median(a, 'optimizer') * 1e3:.1f} | "
          f"{phase_median(b, 'optimizer') * 1e3:.1f} | {phase_median(b, 'allgather') * 1e3:.1f} | {loads[a]} / {loads[b]} |")
print(f"\nMedian ratio sharded / plain over {repeats} alternated pairs: **{statistics.median(ratios):.3f}**")
PY
  cat "$OUT/step_time.md"
fi

if [[ $PARTS == *" c "* ]]; then
  # C_EPOCHS / C_MAX_STEPS shorten it to a smoke run (its table then goes to
  # $RUNS/accuracy-smoke.md, never over accuracy.md); C_MODES adds fp16.
  epochs=${C_EPOCHS:-10} max_steps=${C_MAX_STEPS:-0} modes=${C_MODES:-none bf16}
  table=$OUT/accuracy.md
  [[ $epochs == 10 && $max_steps == 0 ]] || table=$RUNS/accuracy-smoke.md
  [[ -f datasets/fashion-mnist/manifest.json ]] || $HPCNN data import-idx -q --out datasets/fashion-mnist > /dev/null
  for z in $modes; do
    echo "[zero c] $z: $epochs epochs (max steps $max_steps), load $(load), $(date -u +%H:%M:%S)"
    t0=$(date +%s)
    "${MPIRUN[@]}" -n 2 $HPCNN train -q --force --data datasets/fashion-mnist --model keras-cnn --epochs "$epochs" \
      --max-steps "$max_steps" --global-batch 128 --threads 1 --seed 42 --allreduce ring --grad-compression $z \
      --checkpoint-every off --out "$RUNS/acc-$z" > /dev/null
    echo "$(($(date +%s) - t0)) $(load)" > "$RUNS/acc-$z/wall.txt"
  done
  $PY - "$RUNS" "$epochs" "$max_steps" $modes > "$table" <<'PY'
import json, sys
runs, epochs, max_steps, modes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"keras-cnn, Fashion-MNIST, 2 ranks x 1 thread, global batch 128, ring, {epochs} epochs"
      + (f", at most {max_steps} steps (smoke run)" if max_steps != "0" else ""))
print()
print("| gradients | test accuracy | test loss | train s | wall s | load (1, 5, 15 min) after |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
acc = {}
for z in modes:
    m = json.load(open(f"{runs}/acc-{z}/metrics.json"))
    wall, load = open(f"{runs}/acc-{z}/wall.txt").read().split(" ", 1)
    acc[z] = m["test"]["accuracy"]
    print(f"| {'fp32' if z == 'none' else z} | {100 * acc[z]:.2f} % | {m['test']['loss']:.4f} | "
          f"{m['train_seconds']:.0f} | {wall} | {load.strip()} |")
print()
for z in modes:
    if z != "none" and "none" in acc:
        print(f"{z} - fp32: {100 * (acc[z] - acc['none']):+.2f} points (target for bf16: within 0.3)  ")
PY
  cat "$table"
fi

if [[ $PARTS == *" d "* ]]; then
  need_gb() {  # MemAvailable just before each configuration (they never run at once)
    local free_gb
    free_gb=$(awk '/MemAvailable/ {print int($2 / 1048576)}' /proc/meminfo)
    if ((free_gb < $1)); then echo "run.sh d: $2 needs ~$1 GB available, $free_gb GB here" >&2; exit 1; fi
  }
  BIG=(train -q --force --data datasets/mlp-table --model mlp:25600-12800-6656 --global-batch 1000
    --seed 42 --checkpoint-every off --allreduce ring --max-steps 3 --checkpoint /tmp/hpcnn-zero-d.h5)
  need_gb 18 "1 rank unsharded"
  $HPCNN "${BIG[@]}" --threads 2 --out "$RUNS/big-p1" > /dev/null
  need_gb 18 "2 ranks sharded"
  "${MPIRUN[@]}" -n 2 $HPCNN "${BIG[@]}" --threads 1 --shard-optimizer --out "$RUNS/big-p2-sharded" > /dev/null
  rm -f /tmp/hpcnn-zero-d.h5
  $PY - "$RUNS" > "$OUT/largest.md" <<'PY'
import json, sys
parts = ("weights", "gradients", "optimizer_state", "activations", "communication", "checkpoint", "other", "peak_rss")
print("| run | rank | " + " | ".join(f"{p.replace('_', ' ')} MB" for p in parts) + " |")
print("| --- | ---: |" + " ---: |" * len(parts))
peak = {}
for run in ("big-p1", "big-p2-sharded"):
    m = json.load(open(f"{sys.argv[1]}/{run}/metrics.json"))
    for r in m["ranks"]:
        mem = r["memory"]
        peak[run] = max(peak.get(run, 0), mem["peak_rss_bytes"])
        print(f"| {run} | {r['rank']} | " + " | ".join(f"{mem.get(p + '_bytes', 0) / 2**20:.0f}" for p in parts) + " |")
print(f"\nPeak RSS per rank, 2 sharded / 1 unsharded: **{peak['big-p2-sharded'] / peak['big-p1']:.3f}** (target <= 0.5)")
PY
  cat "$OUT/largest.md"
fi

if [[ $PARTS == *" e "* ]]; then
  E_MODEL=${E_MODEL:-mlp:6400-3200-1664}
  E_OUT=${E_OUT:-memory.md}
  ERUNS=$RUNS/${E_OUT%.md}  # a run directory per table
  PROXY=(train -q --force --data datasets/mlp-table --model "$E_MODEL" --global-batch 1000 --threads 1
    --seed 42 --checkpoint-every off --allreduce ring --max-steps 3 --checkpoint /tmp/hpcnn-zero-e.h5)
  load_before=$(load)
  $HPCNN "${PROXY[@]}" --out "$ERUNS/proxy-p1" > /dev/null
  "${MPIRUN[@]}" -n 2 $HPCNN "${PROXY[@]}" --shard-optimizer --out "$ERUNS/proxy-p2-sharded" > /dev/null
  rm -f /tmp/hpcnn-zero-e.h5
  $PY - "$ERUNS" > "$OUT/$E_OUT" <<'PY'
import json, sys
parts = ("weights", "gradients", "optimizer_state", "activations", "communication", "checkpoint", "other", "peak_rss")
print("| run | rank | " + " | ".join(f"{p.replace('_', ' ')} MB" for p in parts) + " |")
print("| --- | ---: |" + " ---: |" * len(parts))
peak = {}
for run in ("proxy-p1", "proxy-p2-sharded"):
    m = json.load(open(f"{sys.argv[1]}/{run}/metrics.json"))
    for r in m["ranks"]:
        mem = r["memory"]
        peak[run] = max(peak.get(run, 0), mem["peak_rss_bytes"])
        print(f"| {run} | {r['rank']} | " + " | ".join(f"{mem.get(p + '_bytes', 0) / 2**20:.0f}" for p in parts) + " |")
print(f"\nHighest peak RSS per rank, 2 sharded / 1 unsharded: **{peak['proxy-p2-sharded'] / peak['proxy-p1']:.3f}** (target <= 0.5)")
PY
  echo "(load average before / after: $load_before / $(load))" >> "$OUT/$E_OUT"
  cat "$OUT/$E_OUT"
fi
