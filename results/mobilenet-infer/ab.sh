#!/usr/bin/env bash
# A/B of two hpcnn builds (or two environments) on one inference file, fresh
# processes alternated A B A B: each process's median ms per batch from
# `hpcnn infer` and its CPU time (user + sys, whole process), medians over
# rounds. On a loaded machine the CPU time at 1 thread is the steadier figure.
#   A=old/hpcnn B=build/release/bin/hpcnn bash results/mobilenet-infer/ab.sh MODEL.h5 DATA BATCH REPEATS THREADS ROUNDS
# A_ENV / B_ENV: extra environment for each side (e.g. B_ENV="HPCNN_INFER_SERIAL=0").
set -euo pipefail
model=$1 data=$2 batch=$3 repeats=$4 threads=${5:-1} rounds=${6:-5}
A=${A:?A=path of hpcnn A} B=${B:?B=path of hpcnn B}
tmp=$(mktemp -d)
echo "load before: $(uptime | sed 's/.*average: //')"
for r in $(seq "$rounds"); do
  for side in A B; do
    bin=${!side}
    envs=$([[ $side == A ]] && echo "${A_ENV:-}" || echo "${B_ENV:-}")
    /usr/bin/time -f "%U %S" -o "$tmp/t" env $envs "$bin" infer -q -c "$model" --data "$data" --batch-sizes "$batch" \
      --repeats "$repeats" -t "$threads" > "$tmp/o" 2>&1
    ms=$(awk -v b="$batch" '$1 == b {print $2}' "$tmp/o")
    cpu=$(awk '{print $1 + $2}' "$tmp/t")
    echo "$side $ms $cpu" >> "$tmp/all"
  done
done
echo "load after: $(uptime | sed 's/.*average: //')"
for side in A B; do
  awk -v s=$side '$1 == s {print $2}' "$tmp/all" | sort -g > "$tmp/ms"
  awk -v s=$side '$1 == s {print $3}' "$tmp/all" | sort -g > "$tmp/cpu"
  echo "$side: median ms $(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$tmp/ms") (all: $(tr '\n' ' ' < "$tmp/ms"))" \
       " cpu s $(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$tmp/cpu") (all: $(tr '\n' ' ' < "$tmp/cpu"))"
done
rm -rf "$tmp"
