#!/usr/bin/env bash
# Quiet-machine check of the engine's one-thread rule for tiny ops
# (HPCNN_INFER_SERIAL_MACS, kernels/onednn/onednn_inference.cpp): 2 threads,
# batch 1, FP32 and int8, the rule off (A: HPCNN_INFER_SERIAL_MACS=0) against
# on (B: the default), fresh processes alternated, 7 rounds (ab.sh). Run after
# run.sh (it reads the inference files run.sh wrote); ~1 min on 2 idle cores.
# A 2-thread figure from a loaded machine measures the load, not the rule.
exec bash "$(dirname "$0")/ab_env.sh" HPCNN_INFER_SERIAL_MACS=0 "default"
