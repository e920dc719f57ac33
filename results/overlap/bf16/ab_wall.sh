#!/usr/bin/env bash
# Wall-clock A/B of builds (issue 30): keras-cnn at global batch 128 on 2
# emulated nodes at 1 Gbit/s, buckets of 1 MB, bf16 messages, as
# results/overlap/run.sh runs it, with compute-only for the floor; builds
# alternated round by round (A B A B), medians of each run's per-step medians
# (after 5 warm-up steps) over rounds. Step times are only quotable from a
# quiet machine; under load, "waited for" (the step's wait for the exchange
# after backward) is the figure that says whether later wake-ups cost time.
#
#   HPCNN_VARIANTS="before=OLD_BIN after=build/release/bin" bash results/overlap/bf16/ab_wall.sh [OUT_FILE]
#                                                            (root; ~1 min per variant and round)
# Environment: HPCNN_VARIANTS (NAME=BINDIR ...), HPCNN_ROUNDS (3), HPCNN_STEPS (40), HPCNN_LINK (1gbit).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
out_file=${1:-/dev/stdout}
read -r -a variants <<< "${HPCNN_VARIANTS:?NAME=BINDIR ...}"
rounds=${HPCNN_ROUNDS:-3} steps=${HPCNN_STEPS:-40}
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-abwall
work=$(mktemp -d /tmp/hpcnn-abwall-XXXXXX)
trap 'bash "$C" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
first=${variants[0]#*=}
"$first/hpcnn" data import-idx -q --out "$work/fm" > /dev/null
bash "$C" up --nodes 2 --link "${HPCNN_LINK:-1gbit}" > /dev/null
echo "# $(date -Is) $(git -C "$root" rev-parse --short HEAD); ${variants[*]}; load before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$work/log"
runs=()
for round in $(seq "$rounds"); do
  for v in "${variants[@]}" "compute-only=$first"; do
    name=${v%%=*} bin=${v#*=}
    extra=(--bucket-mb 1 --grad-compression bf16)
    [[ $name == compute-only ]] && extra=(--compute-only)
    run=$work/$name-$round
    bash "$C" run timeout 600 mpirun -x OMP_NUM_THREADS=1 -H node1:1,node2:1 -np 2 "$bin/hpcnn" train -q \
      --model keras-cnn --data "$work/fm" --global-batch 128 --threads 1 --max-steps "$steps" "${extra[@]}" \
      --out "$run" > /dev/null 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
    "$bin/hpcnn-merge" summary -q --warmup 5 "$run" > /dev/null
    echo "[ab_wall] round $round $name (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$work/log"
/usr/bin/python3 - "$work" "$rounds" "compute-only" "${variants[@]%%=*}" << 'PY' > "$out_file"
import json, statistics, sys
work, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(open(f"{work}/log").read().rstrip())
print("\n| variant | step ms | per round | backward ms | all-reduce ms | waited for ms |\n| --- | ---: | --- | ---: | ---: | ---: |")
for n in names:
    s = [json.load(open(f"{work}/{n}-{r}/merged/summary.json")) for r in range(1, rounds + 1)]
    med = lambda f: statistics.median(f(x) for x in s)
    ph = lambda k: med(lambda x: x["phases"][k]["median_s"] * 1e3)
    print(f"| {n} | {med(lambda x: x['step_slowest']['median_s'] * 1e3):.1f} | "
          + ", ".join(f"{x['step_slowest']['median_s'] * 1e3:.1f}" for x in s)
          + f" | {ph('backward'):.1f} | {ph('allreduce'):.1f} | {ph('allreduce_wait'):.1f} |")
PY
