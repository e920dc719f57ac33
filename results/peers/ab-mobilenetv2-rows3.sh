#!/usr/bin/env bash
# MobileNetV2 0.35 engine at 96x96, batch 64, 1 thread: CPU time (perf task-clock) of
# `hpcnn infer --repeats 30`, main's build (A) against this branch's (B), alternated.
A=${A:-/work/main/build/release/bin/hpcnn}
B=${B:-build/release/bin/hpcnn}
M=${M:-/work/main/results/runs/mobilenet-infer/model-fp32.h5}
for r in 1 2 3 4 5 6 7; do
  for v in A B; do
    bin=${!v}
    ms=$(OMP_NUM_THREADS=1 perf stat -x, -e task-clock $bin infer -q -c $M --data /work/main/datasets/mobilenet-infer/parts --split test --batch-sizes 64 --repeats 30 --threads 1 2>&1 >/dev/null | grep task-clock | cut -d, -f1)
    echo "$v $ms"
  done
done | sort -k1,1 -k2n | awk '{a[$1]=a[$1]" "$2; c[$1]++; v[$1,c[$1]]=$2} END{for(k in a) print k, "median", v[k,int((c[k]+1)/2)], "ms CPU:", a[k]}'
