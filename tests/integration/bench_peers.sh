#!/usr/bin/env bash
# tools/bench/peers/ in a tiny configuration: tiny-cnn and a small MLP, 2 timed
# steps, 1 repeat, against PyTorch eager and Keras. Checks that the tool
# translates the networks (it asserts equal parameter counts), times every
# tool, prints the nccl-tests-style table and writes the JSON; then tiny-cnn
# with --ddp 2 (hpcnn under mpirun, PyTorch DDP) and --infer (latency per
# batch). No speed is asserted.
# Skips (77) when the peers venv (tools/bench/peers/setup.sh) is absent.
source "$(dirname "$0")/lib.sh"
: "${SOURCE_DIR:?set SOURCE_DIR to the repository}"
VENV="${HPCNN_PEERS_VENV:-$HOME/.cache/hpcnn-peers/venv}"
if [[ ! -f "$VENV/.hpcnn-peers-ok" ]]; then
  echo "SKIP: no peers venv at $VENV (make it with tools/bench/peers/setup.sh)"
  exit 77
fi
require_fashion_mnist
PEERS=("$VENV/bin/python" "$SOURCE_DIR/tools/bench/peers/peers.py" --hpcnn "$HPCNN" --venv "$VENV"
       --data-dir "$WORK/data" --threads 1 --repeats 1 --warmup 1 --steps 2)

if "${PEERS[@]}" --networks tiny-cnn,mlp:16-8 --tools hpcnn,torch,keras --json peers.json > table.txt 2> log.txt; then
  pass
else
  fail "peers.py exited $?: $(tail -5 log.txt)"
fi
cat table.txt
grep -q '^# CPU: ' table.txt && pass || fail "no CPU line in the header"
grep -qE '^# torch 2\.[0-9]+.*keras 3\.' table.txt && pass || fail "no torch 2.x / Keras 3 versions in the header"
grep -qE '^   tiny-cnn +32 +2 +26,594( +[0-9,]+){3} +(torch|keras) +[0-9.]+$' table.txt && pass ||
  fail "no tiny-cnn row with three rates and a ratio"
grep -qE '^   mlp:16-8 ' table.txt && pass || fail "no mlp:16-8 row"
"$PYTHON" - <<'PY' && pass || fail "peers.json: one run per tool, positive rates, the medians"
import json
d = json.load(open("peers.json"))
assert [r["network"] for r in d["results"]] == ["tiny-cnn", "mlp:16-8"], d["results"]
for r in d["results"]:
    for tool in ("hpcnn", "torch", "keras"):
        runs = r["runs"][tool]
        assert len(runs) == 1 and runs[0]["samples_per_second"] > 0, (tool, runs)
        assert r["median"][tool] == runs[0]["samples_per_second"]
    assert r["hpcnn_over_best_peer"] > 0
PY

# Data parallel: hpcnn under mpirun against PyTorch DDP over gloo, 2 ranks.
if "${PEERS[@]}" --networks tiny-cnn --ddp 2 --json ddp.json > ddp.txt 2> ddp.log; then
  pass
else
  fail "peers.py --ddp 2 exited $?: $(tail -5 ddp.log)"
fi
cat ddp.txt
grep -q '^# data parallel: 2 ranks x 1 thread' ddp.txt && pass || fail "no data-parallel line in the header"
grep -qE '^   tiny-cnn +32 +2 +26,594( +[0-9,]+){2} +torch +[0-9.]+$' ddp.txt && pass ||
  fail "no tiny-cnn row with hpcnn and torch DDP rates"
expect_exit 2 "--ddp compares hpcnn and torch only" "${PEERS[@]}" --networks tiny-cnn --ddp 2 --tools hpcnn,keras

# Inference: ms per batch for each tool.
if "${PEERS[@]}" --networks tiny-cnn --infer --infer-batches 2,8 --infer-repeats 2 > infer.txt 2> infer.log; then
  pass
else
  fail "peers.py --infer exited $?: $(tail -5 infer.log)"
fi
cat infer.txt
grep -qE '^   tiny-cnn +8 +26,594( +[0-9.]+){3} +(torch|keras) +[0-9.]+$' infer.txt && pass ||
  fail "no tiny-cnn batch-8 row with three latencies and a ratio"

# Edge inference: MobileNetV2 0.35 at 96x96x3, hpcnn's folded FP32 and int8
# files against TensorFlow Lite (tools/bench/peers/edge_infer.py), batch 1 and 2.
"$HPCNN" data synth circuits -q --train 1200 --test 4 --seed 11 --out "$WORK/circuits" > /dev/null
"$PYTHON" "$SOURCE_DIR/results/edge-impulse/make_images.py" --out "$WORK/images" --circuits "$WORK/circuits" \
  --fashion-train 4 --fashion-test 4 > /dev/null
"$HPCNN" data import-images -q "$WORK/images/parts" --out "$WORK/parts" > /dev/null
"$HPCNN" train -q --model mobilenetv2:0.35:3 --data "$WORK/parts" --batch 8 --max-steps 2 --threads 1 \
  --checkpoint-every off --out "$WORK/mobilenet" > /dev/null
"$HPCNN" quantize -q -c "$WORK/mobilenet/model.h5" --precision fp32 --out "$WORK/m-fp32.h5" > /dev/null
"$HPCNN" quantize -q -c "$WORK/mobilenet/model.h5" --calibration "$WORK/parts" --samples 16 \
  --out "$WORK/m-int8.h5" > /dev/null
EDGE=("$VENV/bin/python" "$SOURCE_DIR/tools/bench/peers/edge_infer.py" --hpcnn "$HPCNN" --venv "$VENV"
      --fp32 "$WORK/m-fp32.h5" --int8 "$WORK/m-int8.h5" --data "$WORK/parts")
if "${EDGE[@]}" --threads 1 --batches 1,2 --repeats 1 --infer-repeats 2 --json edge.json > edge.txt 2> edge.log; then
  pass
else
  fail "edge_infer.py exited $?: $(tail -5 edge.log)"
fi
cat edge.txt
for prec in fp32 int8; do
  grep -qE "^\| $prec \| 1 \| 2 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \|$" edge.txt && pass ||
    fail "no $prec batch-2 row with both latencies and a ratio"
done
grep -q '^# CPU: .*TFLite model parameters 420675' edge.txt && pass || fail "no CPU and parameter-count line"
expect_exit 2 "--int8 is required" "${EDGE[@]:0:8}" --data "$WORK/parts"
expect_exit 2 "--batches.*positive" "${EDGE[@]}" --batches 0

# Bad input: one line and a non-zero exit, nothing written.
expect_exit 2 "unknown bogus" "${PEERS[@]}" --networks tiny-cnn --tools hpcnn,bogus --json bad.json
[[ ! -e bad.json ]] && pass || fail "a failed run left bad.json"
expect_exit 1 "summary --model nosuch" "${PEERS[@]}" --networks nosuch --tools hpcnn
finish
