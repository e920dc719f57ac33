#!/usr/bin/env bash
# Issue 25 item 5's rows on a quiet machine (the coordinator's run): the two
# MLPs' training against PyTorch eager, torch.compile and Keras, and
# mnist-cnn inference (batches 2, 64, 512), each on 1 and 2 threads, 3 fresh
# processes per tool, tools alternated; then Model::evaluate's chunking on
# mnist-cnn alone (hpcnn-eval-chunks: the cache rule against the whole batch,
# alternated in one process). HPCNN: the hpcnn binary [build/release/bin/hpcnn].
set -euo pipefail
cd "$(dirname "$0")/../.."
export HPCNN="${HPCNN:-build/release/bin/hpcnn}"
bin=$(dirname "$HPCNN")
out=results/peers
for t in 1 2; do
  s=$([ "$t" = 1 ] && echo 1thread || echo 2threads)
  uptime
  tools/bench/peers/run.sh --networks mlp:800-400-208,mlp:3200-1600-832 --threads $t --repeats 3 \
    --tools hpcnn,torch,torch-compile,keras --json $out/peers-$s-rows-quiet.json \
    > $out/peers-$s-rows-quiet.txt 2> >(tee $out/peers-$s-rows-quiet.log >&2)
  tools/bench/peers/run.sh --networks mnist-cnn --infer --threads $t --repeats 3 \
    --json $out/peers-infer-$s-rows-quiet.json \
    > $out/peers-infer-$s-rows-quiet.txt 2> >(tee $out/peers-infer-$s-rows-quiet.log >&2)
  for b in 512 64; do
    OMP_NUM_THREADS=$t "$bin/hpcnn-eval-chunks" --batch $b --threads $t --rounds 9 --passes $((5120 / b)) \
      --chunks 0,rule,32
  done > $out/eval-chunks-mnist-$s-rows-quiet.txt
done
cat $out/peers-*-rows-quiet.txt $out/eval-chunks-mnist-*-rows-quiet.txt
