#!/usr/bin/env bash
# Issue 25 item 5's last row on a quiet machine (the coordinator's run, ~4
# min on 2 idle cores): mnist-cnn inference at batches 2, 64 and 512 against
# PyTorch and Keras on 1 and 2 threads (3 fresh processes per tool, tools
# alternated), then Model::evaluate's chunking alone (hpcnn-eval-chunks,
# choices alternated in one process): the cache rule now ("rule", with its
# weights term), its L2 term alone (the rule before, "l2"), the whole batch
# (0) and chunks of 32 and 64. Writes results/peers/*-TAG.* and
# prints the tables. HPCNN: the hpcnn binary [build/release/bin/hpcnn]; TAG:
# the files' suffix [rows3-quiet].
set -euo pipefail
cd "$(dirname "$0")/../.."
export HPCNN="${HPCNN:-build/release/bin/hpcnn}"
bin=$(dirname "$HPCNN")
out=results/peers
tag=${TAG:-rows3-quiet}
for t in 1 2; do
  s=$([ "$t" = 1 ] && echo 1thread || echo 2threads)
  echo "# $(uptime)" >&2
  tools/bench/peers/run.sh --networks mnist-cnn --infer --threads $t --repeats 3 \
    --json $out/peers-infer-$s-$tag.json \
    > $out/peers-infer-$s-$tag.txt 2> >(tee $out/peers-infer-$s-$tag.log >&2)
  for b in 512 64; do
    OMP_NUM_THREADS=$t "$bin/hpcnn-eval-chunks" --batch $b --threads $t --rounds 9 --passes $((5120 / b)) \
      --chunks l2,rule,0,32,64
  done > $out/eval-chunks-mnist-$s-$tag.txt
done
echo "# $(uptime)" >&2
cat $out/peers-infer-*-$tag.txt $out/eval-chunks-mnist-*-$tag.txt
