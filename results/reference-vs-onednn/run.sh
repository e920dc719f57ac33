#!/usr/bin/env bash
# Item 10 / seed 002's "from scratch vs framework": tiny-cnn, one epoch of
# Fashion-MNIST (60,000 images), batch 32, Adam, seed 42, 2 threads, with
# hpcnn's reference backend (plain loops, the oracle the tests check oneDNN
# against) and with oneDNN. REPEATS (default 3) alternated runs of each,
# order reference, onednn, onednn, reference, ... Writes
# results/reference-vs-onednn/{times.csv,times.md,cpu.txt,logs/}.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=build/release/bin/hpcnn
PY=/usr/bin/python3
OUT=results/reference-vs-onednn
REPEATS=${REPEATS:-3}
RUNS=results/runs/reference-vs-onednn
mkdir -p "$OUT/logs" "$RUNS"
lscpu | grep "Model name" | tee "$OUT/cpu.txt"
[[ -f datasets/fashion-mnist/manifest.json ]] || $HPCNN data import-idx -q > /dev/null
echo "backend,repeat,train_seconds,samples_per_second,test_accuracy,test_loss,wall_seconds" > "$OUT/times.csv"
for rep in $(seq 1 "$REPEATS"); do
  if (( rep % 2 )); then order=(reference onednn); else order=(onednn reference); fi
  for backend in "${order[@]}"; do
    dir=$RUNS/$backend-r$rep
    t0=$(date +%s.%N)
    $HPCNN train -q --force --model tiny-cnn --epochs 1 --batch 32 --threads 2 --seed 42 --backend "$backend" \
      --data datasets/fashion-mnist --out "$dir" --checkpoint-every off > "$OUT/logs/$backend-r$rep.txt" 2>&1
    t1=$(date +%s.%N)
    $PY - "$dir/metrics.json" "$backend" "$rep" "$t0" "$t1" >> "$OUT/times.csv" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]},{sys.argv[3]},{m['train_seconds']:.2f},{m['samples_per_second']:.0f},"
      f"{m['test']['accuracy']:.4f},{m['test']['loss']:.4f},{float(sys.argv[5]) - float(sys.argv[4]):.2f}")
PY
    tail -1 "$OUT/times.csv"
  done
done
$PY - "$OUT" <<'PY'
import csv, statistics, subprocess, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/times.csv")))
cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1].strip()
med = {}
lines = [f"CPU: {cpu} (2 cores, 2 threads; shared with another engineer's builds). tiny-cnn, 1 epoch of "
         "Fashion-MNIST (60,000 images), batch 32, Adam, seed 42. Medians of "
         f"{len(rows) // 2} alternated runs (min-max in brackets).", "",
         "| backend | training s | samples/s | test accuracy | test loss |", "| --- | ---: | ---: | ---: | ---: |"]
for b in ("reference", "onednn"):
    r = [x for x in rows if x["backend"] == b]
    t = [float(x["train_seconds"]) for x in r]
    med[b] = statistics.median(t)
    acc = sorted({x["test_accuracy"] for x in r})
    lines.append(f"| {b} | **{med[b]:.1f}** ({min(t):.1f}-{max(t):.1f}) | "
                 f"{statistics.median(float(x['samples_per_second']) for x in r):,.0f} | {', '.join(acc)} | "
                 f"{', '.join(sorted({x['test_loss'] for x in r}))} |")
lines += ["", f"oneDNN is **{med['reference'] / med['onednn']:.1f}x** faster than the reference loops."]
open(f"{out}/times.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
