#!/usr/bin/env bash
# Safe output paths (issue 26.1, 26.3): `train --checkpoint /dev/null`
# replaced the device with an HDF5 file, --checkpoint onto an unrelated file
# or the dataset's own shard overwrote it, and refused --out directories got
# a stray .lock. Here with a FIFO and a device node made in the scratch
# directory (never the real /dev/null).
source "$(dirname "$0")/lib.sh"
: "${HPCNN_MERGE:?set HPCNN_MERGE}"
export OMP_NUM_THREADS=2
"$HPCNN" data synth circuits -q --train 96 --test 32 --image-size 16 --out c > /dev/null
TRAIN=(train -q --data c --model 'flatten dense:4' --epochs 1 --batch 32 --threads 2)

# --- not a regular file: refused, even with --force, and left as it was -------------
mkfifo fifo
expect_exit 1 "--checkpoint fifo: exists and is not a regular file" "$HPCNN" "${TRAIN[@]}" --out r1 --checkpoint fifo
expect_exit 1 "--checkpoint fifo: exists and is not a regular file" "$HPCNN" "${TRAIN[@]}" --out r1 --checkpoint fifo \
  --force
[[ -p fifo ]] && pass || fail "the FIFO was replaced"
[[ ! -e r1 ]] && pass || fail "a refused run still created its directory"
if mknod nulldev c 1 3 2> /dev/null; then
  expect_exit 1 "--checkpoint nulldev: exists and is not a regular file" "$HPCNN" "${TRAIN[@]}" --out r2 \
    --checkpoint nulldev
  [[ -c nulldev ]] && pass || fail "the device node was replaced"
fi

# --- an existing file hpcnn did not write needs --force; a shard never --------------
echo precious > notes.txt
expect_exit 1 "--checkpoint notes.txt: exists and is not a file hpcnn wrote: --force replaces it" \
  "$HPCNN" "${TRAIN[@]}" --out r3 --checkpoint notes.txt
[[ $(cat notes.txt) == precious ]] && pass || fail "notes.txt was overwritten"
shard=$(ls c/train-*.h5 | head -1)
expect_exit 1 "is inside c, which this command reads" "$HPCNN" "${TRAIN[@]}" --out r4 --checkpoint "$shard" --force
"$HPCNN" data verify c > /dev/null 2>&1 && pass || fail "the dataset was damaged"
"$HPCNN" "${TRAIN[@]}" --out r5 --checkpoint notes.txt --force > /dev/null 2> err.txt && pass \
  || fail "--force onto a foreign file: $(cat err.txt)"
"$HPCNN" "${TRAIN[@]}" --out r6 --checkpoint notes.txt > /dev/null 2> err.txt && pass \
  || fail "replacing hpcnn's own checkpoint needs no --force: $(cat err.txt)"

# --- a refused --out gets nothing written into it -----------------------------------
mkdir mine && echo keep > mine/keep.txt
expect_exit 1 "mine: holds files hpcnn did not write \(keep.txt\)" "$HPCNN" "${TRAIN[@]}" --out mine
[[ $(ls -A mine) == keep.txt ]] && pass || fail "something was written into a refused --out: $(ls -A mine)"

# --- infer --predictions and quantize --out follow the same rule --------------------
"$HPCNN" "${TRAIN[@]}" --out r7 > /dev/null
expect_exit 2 "--predictions notes.txt: exists and is not a file hpcnn wrote" \
  "$HPCNN" infer -q -c r7/model.h5 --data c --batch-sizes '' --predictions notes.txt
expect_exit 2 "--predictions fifo: exists and is not a regular file" \
  "$HPCNN" infer -q -c r7/model.h5 --data c --batch-sizes '' --predictions fifo
"$HPCNN" infer -q -c r7/model.h5 --data c --batch-sizes '' --predictions p.csv > /dev/null && pass || fail "infer"
"$HPCNN" infer -q -c r7/model.h5 --data c --batch-sizes '' --predictions p.csv > /dev/null && pass \
  || fail "infer could not replace its own predictions"
echo precious > q.h5
expect_exit 2 "--out q.h5: exists and is not a file hpcnn wrote" \
  "$HPCNN" quantize -q -c r7/model.h5 --precision fp32 --out q.h5
[[ $(cat q.h5) == precious ]] && pass || fail "quantize overwrote a foreign file"
expect_exit 2 "--out fifo: exists and is not a regular file" "$HPCNN" quantize -q -c r7/model.h5 --precision fp32 \
  --out fifo --force
"$HPCNN" quantize -q -c r7/model.h5 --precision fp32 --out q.h5 --force > /dev/null && pass || fail "quantize --force"
"$HPCNN" quantize -q -c r7/model.h5 --precision fp32 --out q.h5 > /dev/null && pass \
  || fail "quantize could not replace its own output"
[[ -p fifo ]] && pass || fail "the FIFO was replaced"

# --- data synth --force replaces only hpcnn's dataset files (26.2) ---------------------
echo mine > c/NOTES.txt
mkdir -p c/mine && echo keep > c/mine/keep
"$HPCNN" data synth circuits -q --train 64 --test 32 --image-size 16 --shards 2 --out c --force > /dev/null 2> err.txt \
  || fail "data synth --force: $(cat err.txt)"
[[ $(cat c/NOTES.txt) == mine && $(cat c/mine/keep) == keep ]] && pass || fail "data --force deleted user files"
grep -q "c: --force replaced only hpcnn's files; kept 2 it did not write: NOTES.txt, mine" err.txt && pass \
  || fail "data --force does not name the files it kept: $(cat err.txt)"
[[ $(ls c/train-*.h5 | wc -l) -eq 2 ]] && pass || fail "the old shards were not replaced: $(ls c)"
"$HPCNN" data verify c > /dev/null 2>&1 && pass || fail "the replaced dataset does not verify"

# --- hpcnn-merge: --out must be a directory, and no file in it a FIFO ----------------
expect_exit 2 "--out fifo: exists and is not a directory" "$HPCNN_MERGE" summary -q r7 --out fifo
mkdir m && mkfifo m/summary.md
expect_exit 2 "--out m/summary.md: exists and is not a regular file" "$HPCNN_MERGE" summary -q r7 --out m
[[ -p fifo && -p m/summary.md ]] && pass || fail "hpcnn-merge replaced a FIFO"
finish
