#!/usr/bin/env bash
# Checkpoints verified on load (issue 26.4, 26.5): bytes flipped inside
# /params were resumed from without complaint and NaN parameters predicted
# "nan" with exit 0; a run whose checkpoints were all unusable restarted from
# step 0. Now every load checks each dataset's SHA-256 and refuses
# non-finite values; a resume takes the newest valid checkpoint and names
# the ones it skipped; with none valid it stops, keeps them, and only
# --restart-from-scratch starts again (keeping them aside). Old (version 1)
# checkpoints load with one warning line.
source "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=2
"$HPCNN" data synth circuits -q --train 320 --test 32 --out c > /dev/null
# Without -q where the test reads the log line that names what was skipped.
LOUD=(train --data c --model 'flatten dense:16 relu dense:4' --epochs 1 --batch 32 --threads 2)
TRAIN=(train -q "${LOUD[@]:1}")
"$HPCNN" "${TRAIN[@]}" --out run --checkpoint-every 3 --keep-checkpoints 5 --max-steps 8 > /dev/null
ls run/checkpoints/step-000000003.h5 run/checkpoints/step-000000006.h5 > /dev/null && pass || fail "no checkpoints"

# h5py edits: flip 64 bytes of /params (keeping the recorded checksum), or
# write NaN with a matching checksum, or strip every checksum (version 1).
edit() {
  "$PYTHON" - "$@" << 'PY'
import hashlib, sys
import h5py, numpy as np
what, path = sys.argv[1:3]
with h5py.File(path, "r+") as f:
    if what == "flip":
        p = f["params"][()]
        p[:16] = -p[:16] * 9e4 - 1
        f["params"][...] = p
    elif what == "nan":
        p = f["params"][()]
        p[3] = np.nan
        f["params"][...] = p
        f["params"].attrs["sha256"] = np.bytes_(hashlib.sha256(p.tobytes()).hexdigest())
    elif what == "v1":
        f.visititems(lambda n, o: o.attrs.__delitem__("sha256") if isinstance(o, h5py.Dataset) else None)
        f.attrs["version"] = np.int64(1)
PY
}

# --- predict / infer refuse a damaged or NaN checkpoint --------------------------------
cp run/model.h5 flipped.h5 && edit flip flipped.h5
expect_exit 1 "flipped.h5: /params fails its SHA-256 check" "$HPCNN" infer -q -c flipped.h5 --data c --batch-sizes ''
cp run/model.h5 nan.h5 && edit nan nan.h5
expect_exit 1 "nan.h5: /params holds 1 NaN or infinite value" "$HPCNN" infer -q -c nan.h5 --data c --batch-sizes ''
expect_exit 1 "nan.h5: /params holds 1 NaN" "$HPCNN" quantize -q -c nan.h5 --calibration c --out q.h5
[[ ! -e q.h5 ]] && pass || fail "quantize wrote an output from a NaN checkpoint"
cp run/model.h5 v1.h5 && edit v1 v1.h5
"$HPCNN" infer -q -c v1.h5 --data c --batch-sizes '' > out.txt 2> err.txt && pass || fail "a version 1 file: $(cat err.txt)"
[[ $(grep -c "version 1 checkpoint (no checksums)" err.txt) -eq 1 ]] && pass || fail "no one-line warning: $(cat err.txt)"

# --- resume skips the damaged newest checkpoint, naming it ----------------------------
cp -r run part
rm part/model.h5
set_run_status part preempted
edit flip part/checkpoints/step-000000006.h5
"$HPCNN" "${LOUD[@]}" --out part --checkpoint-every 3 --keep-checkpoints 5 --max-steps 8 > out.txt 2> err.txt \
  || fail "resume past a damaged checkpoint: $(cat err.txt)"
grep -q "from step-000000003.h5 (step 3); skipped invalid checkpoint(s): step-000000006.h5 (.*fails its SHA-256" err.txt \
  && pass || fail "the skipped checkpoint is not named: $(cat err.txt)"
"$PYTHON" -c 'import json, sys; r = json.load(open("part/run.json")); sys.exit(r["resumes"][-1]["from_step"] != 3)' \
  && pass || fail "did not resume from step 3"

# --- none valid: stop naming each, delete nothing; --restart-from-scratch keeps them ---
cp -r run bad
rm bad/model.h5
set_run_status bad preempted
edit flip bad/checkpoints/step-000000003.h5
edit nan bad/checkpoints/step-000000006.h5
before=$(ls bad/checkpoints | sort | tr '\n' ' ')
expect_exit 1 "no checkpoint can be resumed from, and none is deleted: step-000000003.h5 \(.*SHA-256.*step-000000006.h5 \(.*NaN.*--restart-from-scratch starts again" \
  "$HPCNN" "${TRAIN[@]}" --out bad --checkpoint-every 3 --max-steps 8
[[ $(ls bad/checkpoints | sort | tr '\n' ' ') == "$before" ]] && pass || fail "invalid checkpoints were removed"
"$HPCNN" "${LOUD[@]}" --out bad --checkpoint-every 3 --max-steps 8 --restart-from-scratch > out.txt 2> err.txt \
  || fail "--restart-from-scratch: $(cat err.txt)"
grep -q "starting again from step 0; kept the 2 refused checkpoint(s) in bad/checkpoints-refused" err.txt \
  && pass || fail "--restart-from-scratch does not say so: $(cat err.txt)"
[[ -f bad/checkpoints-refused/step-000000003.h5 && -f bad/checkpoints-refused/step-000000006.h5 ]] \
  && pass || fail "the refused checkpoints were not kept: $(ls -R bad)"
[[ -f bad/model.h5 ]] && pass || fail "the restarted run did not finish"
# A valid checkpoint is never thrown away by --restart-from-scratch.
cp -r run good && rm good/model.h5 && set_run_status good preempted
expect_exit 1 "--restart-from-scratch: good holds a valid checkpoint \(step-000000006.h5, step 6\)" \
  "$HPCNN" "${TRAIN[@]}" --out good --checkpoint-every 3 --max-steps 8 --restart-from-scratch
finish
