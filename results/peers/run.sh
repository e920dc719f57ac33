#!/usr/bin/env bash
# Reproduces results/peers/: hpcnn against PyTorch eager and Keras 3/TensorFlow,
# default networks and batches, 3 fresh processes per tool and network,
# tools alternated; once with 2 threads, once with 1. Makes the peers venv on
# first use (tools/bench/peers/setup.sh). HPCNN: the hpcnn binary
# [build/release/bin/hpcnn].
set -euo pipefail
cd "$(dirname "$0")/../.."
export HPCNN="${HPCNN:-build/release/bin/hpcnn}"
out=results/peers
tools/bench/peers/run.sh --threads 2 --repeats 3 --json $out/peers-2threads.json \
  > $out/peers-2threads.txt 2> >(tee $out/peers-2threads.log >&2)
tools/bench/peers/run.sh --threads 1 --repeats 3 --json $out/peers-1thread.json \
  > $out/peers-1thread.txt 2> >(tee $out/peers-1thread.log >&2)
cat $out/peers-2threads.txt $out/peers-1thread.txt
