#!/usr/bin/env bash
# The 30th net of the thesis's family, mlp:25600-12800-6656 (414 M parameters,
# ~17 GB: left out of run.sh's table on the shared machine), timed as run.sh
# times the others: the same 1,000-row table, 2 epochs, batch 100 and 1000,
# 2 threads, one run each (as the other widths >= 12800). Needs ~18 GB free.
# Writes largest.md and largest.csv here.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
PY=/usr/bin/python3
OUT=results/mlp-family
RUNS=${HPCNN_RUNS:-results/runs/mlp-family}
m=25600-12800-6656
free_gb=$(awk '/MemAvailable/ {print int($2 / 1048576)}' /proc/meminfo)
if (( free_gb < 18 )); then echo "largest.sh: mlp:$m needs ~18 GB, $free_gb GB available" >&2; exit 1; fi
[[ -f datasets/mlp-table/manifest.json ]] ||
  $HPCNN data synth solar-table -q --train 1000 --test 1000 --out datasets/mlp-table > /dev/null
echo "model,batch,params,train_seconds,epoch_seconds,median_step_s,steps,peak_rss_mb" > "$OUT/largest.csv"
for b in 100 1000; do
  dir=$RUNS/mlp-$m-b$b-r1
  echo "== mlp:$m batch $b"
  $HPCNN train -q --force --model "mlp:$m" --data datasets/mlp-table --epochs 2 --batch "$b" --threads 2 \
    --seed 42 --checkpoint-every off --out "$dir" --checkpoint /tmp/hpcnn-mlp-largest.h5 > /dev/null
  rm -f /tmp/hpcnn-mlp-largest.h5
  $PY - "$dir" "$m" "$b" >> "$OUT/largest.csv" <<'PY'
import csv, json, statistics, sys
d, m, b = sys.argv[1:]
j = json.load(open(f"{d}/metrics.json"))
steps = [float(r["seconds"]) for r in csv.DictReader(open(f"{d}/timing/rank-00000.csv")) if r["phase"] == "step"]
print(f"mlp:{m},{b},{j['params']},{j['train_seconds']:.3f},{statistics.median(e['seconds'] for e in j['epochs']):.3f},"
      f"{statistics.median(steps):.4f},{len(steps)},{j['ranks'][0]['peak_rss_mb']:.0f}")
PY
done
$PY - "$OUT" > "$OUT/largest.md" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/largest.csv")))
print("| model | batch | params | t_total s | t_epoch s (median) | t_total/t_epoch | t_it s (median) | N_it | t_total/(t_it N_it) | peak RSS MB |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in rows:
    t, te, ti, n = float(r["train_seconds"]), float(r["epoch_seconds"]), float(r["median_step_s"]), int(r["steps"])
    print(f"| {r['model']} | {r['batch']} | {int(r['params']):,} | {t:.2f} | {te:.2f} | {t / te:.3f} | {ti:.3f} | {n} | {t / (ti * n):.3f} | {r['peak_rss_mb']} |")
PY
cat "$OUT/largest.md"
