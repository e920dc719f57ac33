#!/usr/bin/env bash
# The README's main command, minus install and build: tools/setup/main_job.sh
# imports, verifies, summarises, trains keras-cnn (3 steps here) and merges.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${HPCNN_MERGE:?set HPCNN_MERGE}"
HPCNN_MAX_STEPS=3 HPCNN_MAIN_DATA=fm HPCNN_MAIN_OUT=run \
  bash "$SOURCE_DIR/tools/setup/main_job.sh" "$(dirname "$HPCNN")" > out.txt 2> err.txt \
  && pass || fail "main_job.sh: $(tail -5 err.txt)"
grep -q "Total params: 1,199,882" out.txt && pass || fail "no model summary: $(cat out.txt)"
grep -q "^result: model keras-cnn" out.txt && pass || fail "no result line: $(cat out.txt)"
grep -q "| ranks | 1 of 1 |" out.txt && pass || fail "no timing summary: $(cat out.txt)"
[[ -f run/merged/summary.json && -f run/model.h5 ]] && pass || fail "run directory incomplete: $(ls -R run)"
finish
