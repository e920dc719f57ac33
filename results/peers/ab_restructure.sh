#!/usr/bin/env bash
# Issue 27's "no behaviour change" figure: hpcnn's training steps/s on
# keras-cnn and mlp:3200-1600-832 (the peers rows, as tools/bench/peers/
# peers.py times them) before the restructuring (47b04ad) and after it
# (main's HEAD), alternated A B A B in one run so that the machine's load
# falls on both alike; medians per network, with `uptime` beside each pair.
#
#   results/peers/ab_restructure.sh [ROUNDS]        (default 5 rounds)
#   env: OLD_REV (47b04ad), NEW_REV (main), NEW_BIN (skip building NEW_REV:
#        use this hpcnn), THREADS (2), OUT (results/peers/ab_restructure.txt)
#
# Builds each revision in a git worktree of its own (/tmp/ab-old, /tmp/ab-new;
# build/release inside, with ccache) unless its hpcnn is there already.
# Datasets as peers.py makes them: Fashion-MNIST's training split (needs
# Debian's dataset-fashion-mnist) and solar-table with 50,000 rows, under
# ~/.cache/hpcnn-peers/data (shared with peers.py). One step = one
# optimizer step at peers.py's batch (64 and 100), 5 warm-up steps, then
# peers.py's timed window (20 steps), timed from rank 0's timing CSV.
# A measurement needs a quiet machine: run it when nothing else runs.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-5}
old_rev=${OLD_REV:-47b04ad}
new_rev=${NEW_REV:-main}
threads=${THREADS:-2}
out=${OUT:-$repo/results/peers/ab_restructure.txt}
data_dir=${HPCNN_PEERS_DATA:-$HOME/.cache/hpcnn-peers/data}
export CCACHE_BASEDIR=/ CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache \
  CMAKE_CUDA_COMPILER_LAUNCHER=ccache

# build REV DIR: DIR/build/release/bin/hpcnn of REV (a detached worktree).
build() {
  local rev=$1 dir=$2
  if [[ ! -d $dir ]]; then git -C "$repo" worktree add --detach "$dir" "$rev" > /dev/null; fi
  [[ $(git -C "$dir" rev-parse HEAD) == $(git -C "$repo" rev-parse "$rev^{commit}") ]] ||
    { echo "$dir is not at $rev: remove it (git worktree remove $dir)" >&2; exit 1; }
  if [[ ! -x $dir/build/release/bin/hpcnn ]]; then
    echo "building $rev in $dir (hpcnn only, -j2)" >&2
    (cd "$dir" && cmake --preset release -DHPCNN_REQUIRE_CUDA=ON > /dev/null && cmake --build --preset release -j2 --target hpcnn > /dev/null)
  fi
  echo "$dir/build/release/bin/hpcnn"
}

old_bin=$(build "$old_rev" /tmp/ab-old)
new_bin=${NEW_BIN:-$(build "$new_rev" /tmp/ab-new)}
new_label=${NEW_BIN:+$(git -C "$repo" rev-parse --short HEAD) (NEW_BIN $NEW_BIN)}
new_label=${new_label:-$(git -C "$repo" rev-parse --short "$new_rev")}

# The datasets, made once by the new binary (the format did not change).
mkdir -p "$data_dir"
if [[ ! -f $data_dir/fashion-mnist/manifest.json ]]; then
  fm=/usr/share/datasets/fashion-mnist
  "$new_bin" data import-idx -q --out "$data_dir/fashion-mnist.tmp" --name fashion-mnist \
    --train-images "$fm/train-images-idx3-ubyte.gz" --train-labels "$fm/train-labels-idx1-ubyte.gz" > /dev/null
  mv "$data_dir/fashion-mnist.tmp" "$data_dir/fashion-mnist"
fi
if [[ ! -f $data_dir/solar-table/manifest.json ]]; then
  "$new_bin" data synth solar-table -q --out "$data_dir/solar-table.tmp" --train 50000 --test 0 > /dev/null
  mv "$data_dir/solar-table.tmp" "$data_dir/solar-table"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-ab-XXXXXX")
trap 'rm -rf "$work"' EXIT

# steps_per_s BIN NET DATA BATCH: peers.py's run_hpcnn, one fresh process.
steps_per_s() {
  local bin=$1 net=$2 data=$3 batch=$4 warmup=5 steps=20
  rm -rf "$work/run"
  OMP_NUM_THREADS=$threads "$bin" train -q --model "$net" --data "$data" --batch "$batch" --threads "$threads" \
    --max-steps $((warmup + steps)) --lr 0.001 --adam-epsilon 1e-08 --optimizer adam --verify-data never \
    --checkpoint-every off --out "$work/run" > /dev/null
  python3 - "$work/run/timing/rank-00000.csv" "$warmup" << 'PY'
import csv, sys
rows = sorted((float(r["start_s"]), float(r["seconds"])) for r in csv.DictReader(open(sys.argv[1])) if r["phase"] == "step")
w = rows[int(sys.argv[2]):]
print(f"{len(w) / (w[-1][0] + w[-1][1] - w[0][0]):.3f}")
PY
}

{
  echo "# hpcnn A/B: A = $old_rev (before issue 27), B = $new_label; $threads threads; steps/s, 20 timed steps after 5"
  echo "# $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) cores"
  echo "network,round,A_steps_per_s,B_steps_per_s,load_1min"
} > "$out"
for round in $(seq "$rounds"); do
  for spec in "keras-cnn:fashion-mnist:64" "mlp:3200-1600-832:solar-table:100"; do
    net=${spec%:*:*} rest=${spec#"$net":}
    data=$data_dir/${rest%%:*} batch=${rest##*:}
    # A B in this round, B A in the next: neither always runs first.
    if ((round % 2)); then a=$(steps_per_s "$old_bin" "$net" "$data" "$batch"); b=$(steps_per_s "$new_bin" "$net" "$data" "$batch")
    else b=$(steps_per_s "$new_bin" "$net" "$data" "$batch"); a=$(steps_per_s "$old_bin" "$net" "$data" "$batch"); fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "$net,$round,$a,$b,$load" | tee -a "$out" >&2
  done
done
python3 - "$out" << 'PY'
import csv, statistics, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r and not r[0].startswith("#") and r[0] != "network"]
print("\n| network | A median steps/s | B median steps/s | B / A | load (1 min) |")
print("| --- | --- | --- | --- | --- |")
for net in dict.fromkeys(r[0] for r in rows):
    a = statistics.median(float(r[2]) for r in rows if r[0] == net)
    b = statistics.median(float(r[3]) for r in rows if r[0] == net)
    loads = [float(r[4]) for r in rows if r[0] == net]
    print(f"| {net} | {a:.2f} | {b:.2f} | {b / a:.3f} | {min(loads):.1f}-{max(loads):.1f} |")
PY
