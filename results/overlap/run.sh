#!/usr/bin/env bash
# Overlap study: keras-cnn at global batch 128 on 2 emulated nodes (1 rank of
# 1 thread each) joined by a 1 Gbit/s link (tools/cluster/cluster.sh), three
# ways, alternated round by round: the gradient exchange skipped
# (--compute-only, the floor), reduced after backward (--bucket-mb 0), and
# reduced in buckets while backward runs (--bucket-mb 1, the default).
# Writes summary.md / summary.csv beside this script (or into OUT_DIR).
# HPCNN_STUDY=bf16 runs issue 30's comparison instead: compute-only, buckets
# with FP32 messages (bucket-1) and buckets with bf16 messages
# (bucket-1-bf16, --grad-compression bf16, which is the ring), alternated
# round by round, into results/overlap/bf16/.
#
#   bash results/overlap/run.sh [OUT_DIR]                   (root; ~5 min)
#   HPCNN_STUDY=bf16 bash results/overlap/run.sh [OUT_DIR]  (root; ~5 min)
#
# Environment: HPCNN_BIN (build/release/bin), HPCNN_ROUNDS (3), HPCNN_STEPS (40),
# HPCNN_LINK (1gbit), HPCNN_MTU (1500), HPCNN_ALLREDUCE (auto), HPCNN_STUDY
# (fp32 | bf16), HPCNN_BUCKET_MB (1: the bucketed runs' --bucket-mb).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
study=${HPCNN_STUDY:-fp32}
case $study in
  fp32) modes=(compute-only bucket-0 bucket-1) default_out=$root/results/overlap ;;
  bf16) modes=(compute-only bucket-1 bucket-1-bf16) default_out=$root/results/overlap/bf16 ;;
  *) echo "HPCNN_STUDY: fp32 or bf16, not '$study'" >&2; exit 2 ;;
esac
bucket_mb=${HPCNN_BUCKET_MB:-1}
out=$(mkdir -p "${1:-$default_out}" && cd "${1:-$default_out}" && pwd)
bin=${HPCNN_BIN:-$root/build/release/bin}
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-overlap
work=$(mktemp -d /tmp/hpcnn-overlap-XXXXXX)
trap 'bash "$C" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
"$bin/hpcnn" data import-idx -q --out "$work/fm" > /dev/null
bash "$C" up --nodes 2 --link "${HPCNN_LINK:-1gbit}" --mtu "${HPCNN_MTU:-1500}" > /dev/null
rounds=${HPCNN_ROUNDS:-3} steps=${HPCNN_STEPS:-40}
{
  echo "# $(date -Is) $(git -C "$root" rev-parse --short HEAD); CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
  echo "# keras-cnn, global batch 128, 2 nodes x 1 rank x 1 thread, link ${HPCNN_LINK:-1gbit} (MTU ${HPCNN_MTU:-1500}), $steps steps, $rounds rounds, --allreduce ${HPCNN_ALLREDUCE:-auto}, buckets of $bucket_mb MB"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
for round in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    case $mode in
      compute-only) extra=(--compute-only) ;;
      bucket-0) extra=(--bucket-mb 0) ;;
      bucket-1) extra=(--bucket-mb "$bucket_mb") ;;
      bucket-1-bf16) extra=(--bucket-mb "$bucket_mb" --grad-compression bf16) ;;
    esac
    run=$work/$mode-$round
    bash "$C" run timeout 600 mpirun -x OMP_NUM_THREADS=1 -H node1:1,node2:1 -np 2 "$bin/hpcnn" train -q \
      --model keras-cnn --data "$work/fm" --global-batch 128 --threads 1 --max-steps "$steps" \
      --allreduce "${HPCNN_ALLREDUCE:-auto}" "${extra[@]}" --out "$run" > /dev/null 2> "$work/err.txt" ||
      { cat "$work/err.txt" >&2; exit 1; }
    "$bin/hpcnn-merge" summary -q --warmup 5 "$run" > /dev/null
    echo "[overlap] round $round $mode (load $(cut -d' ' -f1 /proc/loadavg)): $(python3 -c "import json; s=json.load(open('$run/merged/summary.json')); print(round(s['step_slowest']['median_s']*1e3,1), 'ms per step')")"
  done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
/usr/bin/python3 - "$work" "$rounds" "$out" "${modes[@]}" << 'PY'
import csv, json, statistics, sys
work, rounds, out, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
rows = {}
for mode in modes:
    runs = [json.load(open(f"{work}/{mode}-{r}/merged/summary.json")) for r in range(1, rounds + 1)]
    med = lambda f: statistics.median(f(s) for s in runs)
    rows[mode] = {
        "step_ms": med(lambda s: s["step_slowest"]["median_s"] * 1e3),
        "backward_ms": med(lambda s: s["phases"]["backward"]["median_s"] * 1e3),
        "comm_ms": med(lambda s: s["phases"]["allreduce"]["median_s"] * 1e3),
        "exposed_ms": med(lambda s: s["phases"]["allreduce_wait"]["median_s"] * 1e3),
        "steps": runs[0]["steps_used"],
        "per_round": [round(s["step_slowest"]["median_s"] * 1e3, 1) for s in runs],
    }
base, buck = rows["compute-only"], rows["bucket-1"]
title = ("# bf16-compressed gradients with buckets, on 2 emulated nodes" if "bucket-1-bf16" in rows else
         "# Overlap of the gradient all-reduce with backward, on 2 emulated nodes")
lines = [title, "",
         *("- " + l.lstrip("# ") for l in open(f"{out}/machine.txt").read().splitlines()), "",
         "| run | step ms (median) | per round | vs compute-only | backward ms | all-reduce ms | waited for ms |",
         "| --- | ---: | --- | ---: | ---: | ---: | ---: |"]
for mode, r in rows.items():
    lines.append(f"| {mode} | {r['step_ms']:.1f} | {', '.join(map(str, r['per_round']))} | "
                 f"{r['step_ms'] / base['step_ms']:.3f}x | {r['backward_ms']:.1f} | {r['comm_ms']:.1f} | {r['exposed_ms']:.1f} |")
if "bucket-0" in rows:
    unb = rows["bucket-0"]
    hidden = 1 - buck["exposed_ms"] / unb["comm_ms"] if unb["comm_ms"] > 0 else float("nan")
    lines += ["", f"Communication hidden by buckets: 1 - waited (bucketed) / all-reduce (unbucketed) = "
              f"1 - {buck['exposed_ms']:.1f} / {unb['comm_ms']:.1f} = **{100 * hidden:.0f} %**; bucketed step / "
              f"compute-only step = **{buck['step_ms'] / base['step_ms']:.3f}x**."]
if "bucket-1-bf16" in rows:
    bf = rows["bucket-1-bf16"]
    lines += ["", f"bf16 messages in buckets: step / compute-only step = **{bf['step_ms'] / base['step_ms']:.3f}x** "
              f"(target <= 1.15x; FP32 in buckets {buck['step_ms'] / base['step_ms']:.3f}x); all-reduce "
              f"{bf['comm_ms']:.1f} ms vs {buck['comm_ms']:.1f} ms, waited for {bf['exposed_ms']:.1f} ms vs "
              f"{buck['exposed_ms']:.1f} ms. Load averages in machine.txt (lines above): compute inflates under "
              "load, so a loaded machine flatters the ratio."]
lines += ["", "Medians per step over the steps after 5 warm-up steps (`hpcnn-merge summary --warmup 5`), then the "
          "median over rounds. Made by `" + ("HPCNN_STUDY=bf16 " if "bucket-1-bf16" in rows else "") +
          "bash results/overlap/run.sh`."]
open(f"{out}/summary.md", "w").write("\n".join(lines) + "\n")
with open(f"{out}/summary.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["run", "step_ms", "backward_ms", "allreduce_ms", "allreduce_wait_ms"])
    for mode, r in rows.items():
        w.writerow([mode, r["step_ms"], r["backward_ms"], r["comm_ms"], r["exposed_ms"]])
print("\n".join(lines))
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit(0)
# Phase plot: where one step's time goes, per run; the all-reduce's own time
# beside it (it overlaps backward when bucketed).
fig, ax = plt.subplots(figsize=(8, 4))
names = list(rows)
other = [r["step_ms"] - r["backward_ms"] - r["exposed_ms"] for r in rows.values()]
back = [r["backward_ms"] for r in rows.values()]
wait = [r["exposed_ms"] for r in rows.values()]
x = range(len(names))
ax.bar(x, other, 0.4, label="data + forward + optimizer", color="#bbbbbb")
ax.bar(x, back, 0.4, bottom=other, label="backward", color="#4c72b0")
ax.bar(x, wait, 0.4, bottom=[a + b for a, b in zip(other, back)], label="waiting for the all-reduce", color="#dd8452")
ax.bar([i + 0.42 for i in x], [r["comm_ms"] for r in rows.values()], 0.3, label="all-reduce (communication thread)",
       color="#55a868")
ax.set_xticks([i + 0.2 for i in x])
ax.set_xticklabels(names)
ax.set_ylabel("ms per step (median)")
ax.set_title("keras-cnn, 2 emulated nodes, 1 Gbit/s")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(f"{out}/phases.png", dpi=80)
print("wrote", f"{out}/phases.png")
PY
