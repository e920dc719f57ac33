#!/usr/bin/env bash
# Makes corpus/checkpoint/adam-dense-v2.h5, fuzz_checkpoint's seed in the
# current checkpoint format (version 2: a SHA-256 attribute on every
# dataset, docs/formats.md), so the fuzzer starts from files that pass the
# checksum checks as well as from the version 1 seeds (adam-dense.h5,
# sgd-conv.h5, written before checksums). The model is adam-dense.h5's:
# a tiny Adam run of `flatten dense:2 relu dense:4` on 8x8 circuits.
# Rerun it when the checkpoint format changes (the version goes up), and
# keep the file under the harness's -max_len of 65536 bytes.
#   tests/fuzz/make_checkpoint_seed.sh [HPCNN]   (default: build/release/bin/hpcnn)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
hpcnn=${1:-$src/build/release/bin/hpcnn}
work=$(mktemp -d "${TMPDIR:-/tmp}/hpcnn-seed-XXXXXX")
trap 'rm -rf "$work"' EXIT
"$hpcnn" data synth circuits -q --train 8 --test 4 --image-size 8 --seed 1 --out "$work/data" > /dev/null
"$hpcnn" train -q --data "$work/data" --model 'flatten dense:2 relu dense:4' --optimizer adam --epochs 1 \
  --batch 4 --threads 1 --seed 1 --checkpoint-every off --out "$work/run" > /dev/null
out=$src/tests/fuzz/corpus/checkpoint/adam-dense-v2.h5
size=$(stat -c %s "$work/run/model.h5")
if ((size > 65536)); then
  echo "the checkpoint is $size bytes, over fuzz_checkpoint's -max_len 65536" >&2
  exit 1
fi
cp "$work/run/model.h5" "$out"
echo "wrote $out ($size bytes)"
