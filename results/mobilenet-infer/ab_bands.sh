#!/usr/bin/env bash
# Quiet-machine A/B of the band schedule at batch 1 (src/quant/band_schedule.hpp):
# 2 threads, FP32 and int8, the usual schedule (A: HPCNN_INFER_BANDS=0, one
# oneDNN fork-join per op) against one parallel region with row bands (B: the
# default), fresh processes alternated (ab.sh), 7 rounds. Run after run.sh (it
# reads the inference files run.sh wrote); ~1 min on 2 idle cores. Prints
# each side's median ms per inference and CPU seconds per process. A
# 2-thread figure from a loaded machine measures the load, not the schedule.
exec bash "$(dirname "$0")/ab_env.sh" HPCNN_INFER_BANDS=0 "default (bands)"
