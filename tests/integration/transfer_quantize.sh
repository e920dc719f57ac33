#!/usr/bin/env bash
# Transfer learning and int8 (issue 16) through the CLI, on a small residual
# network with batch norm: pretrain, --init-from / --init-until / --freeze
# (frozen weights unchanged, optimizer state only for the trainable part, a
# frozen run resumes), hpcnn quantize to int8 and folded FP32, infer on every
# form (the folded FP32 accuracy equals the checkpoint's; int8 within a few
# samples), 2 ranks with --freeze, and the errors.
source "$(dirname "$0")/lib.sh"

"$HPCNN" data synth circuits -q --train 256 --test 64 --image-size 32 --out circ > /dev/null
MODEL='conv:16x3:s2:same:nobias bn:m0.9 relu6@a dwconv:3:same:nobias bn:m0.9 relu6 conv:16x1:nobias bn:m0.9 add:a zeropad:0:1:0:1 dwconv:3:s2:nobias bn:m0.9 relu6@backbone conv:8x1 relu dropout:0.1 flatten dense:4'
common=(-q --force --threads 2 --batch 32 --data circ --model "$MODEL")

# Pretrain, then transfer with the backbone frozen.
"$HPCNN" train "${common[@]}" --epochs 4 --out pre --checkpoint-every off > /dev/null
"$HPCNN" train "${common[@]:1}" --checkpoint-every off --epochs 2 --out tl --init-from pre/model.h5 \
  --init-until backbone --freeze backbone > tl.err 2>&1
"$PYTHON" - << 'PY' && pass || fail "frozen layers changed, or the optimizer state has the wrong size"
import h5py, numpy as np
pre, tl = h5py.File("pre/model.h5"), h5py.File("tl/model.h5")
off = int(tl.attrs["trainable_offset"])
assert int(tl.attrs["frozen_layers"]) == 13, tl.attrs["frozen_layers"]
a, b = pre["params"][()], tl["params"][()]
assert off > 0 and np.array_equal(a[:off], b[:off]), "the frozen backbone moved"
assert not np.array_equal(a[off:], b[off:]), "the head did not train"
assert tl["optimizer/a"].shape == (len(b) - off,), tl["optimizer/a"].shape
assert "gamma" in tl["layers/02_bn"] and "moving_variance" in tl["layers/02_bn"]
PY
grep -q "init: layers 1-13" tl.err && pass || fail "no init line: $(cat tl.err)"
# A frozen run stopped early resumes to the same weights as one that was not.
"$HPCNN" train "${common[@]}" --epochs 2 --out tl-a --init-from pre/model.h5 --freeze backbone --max-steps 5 \
  --checkpoint-every 3 > /dev/null
"$HPCNN" train -q --resume tl-a --max-steps 0 > /dev/null
"$HPCNN" train "${common[@]}" --checkpoint-every off --epochs 2 --out tl-b --init-from pre/model.h5 --freeze backbone \
  > /dev/null
"$PYTHON" - << 'PY' && pass || fail "a resumed frozen run differs from an uninterrupted one"
import h5py, numpy as np
a, b = (h5py.File(f"{d}/model.h5")["params"][()] for d in ("tl-a", "tl-b"))
assert np.array_equal(a, b), np.abs(a - b).max()
PY

# Quantise: int8 and folded FP32; infer runs all three forms.
expect_exit 0 "" "$HPCNN" quantize -q -c tl/model.h5 --calibration circ --out tl/int8.h5
grep -q "int8, .* ops; weights [0-9]* bytes, FP32 [0-9]* bytes" out.txt && pass || fail "quantize said: $(cat out.txt)"
expect_exit 0 "" "$HPCNN" quantize -q -c tl/model.h5 --precision fp32 --out tl/fp32.h5
for f in model fp32 int8; do
  "$HPCNN" infer -q -c tl/$f.h5 --data circ --batch-sizes 1,8 --repeats 2 --predictions $f.csv > $f.txt
done
grep -q "(int8, [0-9]* ops" int8.txt && pass || fail "infer on int8: $(cat int8.txt)"
"$PYTHON" - << 'PY' && pass || fail "folded FP32 or int8 predictions disagree with the checkpoint"
import csv
rows = {f: list(csv.DictReader(open(f"{f}.csv"))) for f in ("model", "fp32", "int8")}
assert len(rows["model"]) == 64 == len(rows["int8"])
same = lambda a, b: sum(x["predicted"] == y["predicted"] for x, y in zip(rows[a], rows[b]))
assert same("model", "fp32") == 64, same("model", "fp32")
assert same("model", "int8") >= 60, same("model", "int8")
for x, y in zip(rows["model"], rows["fp32"]):
    assert all(abs(float(x[f"p_{k}"]) - float(y[f"p_{k}"])) < 1e-4 for k in range(4))
PY
"$PYTHON" - << 'PY' && pass || fail "the inference file is not what docs/formats.md says"
import h5py
f = h5py.File("tl/int8.h5")
text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
assert text(f.attrs["format"]) == "hpcnn-inference" and text(f.attrs["precision"]) == "int8"
ops = f["ops"]
assert len(ops) == int(f.attrs["num_ops"])
conv = [ops[k] for k in ops if text(ops[k].attrs["kind"]) == "conv"]
assert conv and all(c["weights"].dtype == "int8" and c["weight_scales"].shape == (c["weights"].shape[0],) for c in conv)
assert any("bn" in text(c.attrs["layers"]) for c in conv), "no batch norm was folded"
assert any("zeropad" in text(c.attrs["layers"]) for c in conv), "the zero padding was not folded"
PY

# 2 ranks with a frozen backbone.
expect_exit 0 "" mpirun --allow-run-as-root --oversubscribe -n 2 -x OMP_NUM_THREADS=1 "$HPCNN" train -q --force \
  --threads 1 --checkpoint-every off --batch 16 --data circ --model "$MODEL" --epochs 1 --out tl2 \
  --init-from pre/model.h5 --freeze backbone --allreduce ring

# Errors: one line, non-zero.
expect_exit 1 "no layer 'nope'" "$HPCNN" train "${common[@]}" --out x --freeze nope
expect_exit 2 "--init-until 3 needs --init-from" "$HPCNN" train "${common[@]}" --out x --init-until 3
expect_exit 2 "--init-from missing.h5: no such checkpoint file" "$HPCNN" train "${common[@]}" --out x --init-from missing.h5
expect_exit 1 "layer 1 is 'conv:16x3:s2:same:nobias' on \(1, 32, 32\) there but 'conv:8x3'" "$HPCNN" train -q --force \
  --threads 2 --data circ --model 'conv:8x3 relu flatten dense:4' --out x --init-from pre/model.h5 --init-until 2
expect_exit 1 "freezes every parameter" "$HPCNN" train "${common[@]}" --out x --freeze 18
expect_exit 2 "--precision int8 needs --calibration" "$HPCNN" quantize -q -c tl/model.h5 --out x.h5
expect_exit 2 "--precision must be int8 or fp32" "$HPCNN" quantize -q -c tl/model.h5 --precision bf16 --out x.h5
"$HPCNN" data synth circuits -q --train 8 --test 4 --image-size 24 --out small > /dev/null
expect_exit 1 "samples of \(1, 24, 24\), the checkpoint's model takes \(1, 32, 32\)" "$HPCNN" quantize -q \
  -c tl/model.h5 --calibration small --out x.h5
[[ ! -e x.h5 ]] && pass || fail "a failed quantize left x.h5 behind"
expect_exit 1 "expects input \(1, 32, 32\)" "$HPCNN" infer -q -c tl/int8.h5 --data small --batch-sizes ''

finish
