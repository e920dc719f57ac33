#!/usr/bin/env bash
# Bad input at the command line: each is a one-line error naming the option
# or file, a non-zero exit (2 for usage errors), and no output left behind.
source "$(dirname "$0")/lib.sh"

# --- usage errors: exit 2 ---------------------------------------------------
expect_exit 2 "unrecognised option '--bogus'" "$HPCNN" data import-idx --bogus -q
expect_exit 2 "--bucket-mb: 'nan' is not a number" "$HPCNN" train -q --bucket-mb nan
expect_exit 2 "bucket-mb" "$HPCNN" train -q --bucket-mb -1
expect_exit 2 "shards must be between 1 and 65536 \(got 0\)" "$HPCNN" data import-idx --shards 0 -q
expect_exit 2 "option '--shards' is invalid" "$HPCNN" data import-idx --shards many -q
expect_exit 2 "validation-fraction must be between" "$HPCNN" data import-idx --validation-fraction 1.5 -q
expect_exit 2 "unknown command 'trian'" "$HPCNN" trian
expect_exit 2 "unknown command 'hpcnn data imprt'" "$HPCNN" data imprt
expect_exit 2 "unknown synthetic dataset 'clouds'" "$HPCNN" data synth clouds -q
expect_exit 2 "target-sensor must be between 0 and 9" "$HPCNN" data synth solar-table --sensors 10 --target-sensor 10 -q
expect_exit 2 "dir.*required" "$HPCNN" data verify -q
printf 'shardz = 3\n' > bad.ini
expect_exit 2 "bad.ini.*shardz" "$HPCNN" data synth circuits --config bad.ini -q
expect_exit 2 "missing.ini: cannot open" "$HPCNN" data synth circuits --config missing.ini -q
for cmd in "data import-idx" "data synth" "data inspect" "data verify" "info"; do
  # shellcheck disable=SC2086
  expect_exit 0 "" "$HPCNN" $cmd --help
  grep -q "^Usage: hpcnn $cmd" out.txt && pass || fail "$cmd --help prints no usage line"
done

# --- bad IDX files: exit 1, file named, no output ----------------------------
# A valid 2-image 2x2 file and its labels, then damaged variants.
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08' > images.idx
printf '\x00\x00\x08\x01\x00\x00\x00\x02\x00\x01' > labels.idx
printf '\x00\x00\x09\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08' > badtype.idx
printf '\x08\x03\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08' > magic.idx
head -c 20 images.idx > truncated.idx
{ cat images.idx; printf '\x09'; } > long.idx
printf '\x00\x00\x08\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' > overflow.idx
import_bad() {  # import_bad PATTERN IMAGES
  expect_exit 1 "$1" "$HPCNN" data import-idx --train-images "$2" --train-labels labels.idx --out out -q
  [[ ! -e out ]] && pass || fail "import of $2 left output behind"
  compgen -G ".out.partial*" >/dev/null && fail "import of $2 left a staging directory" || pass
}
import_bad "magic.idx: not an IDX file \(bad magic number" magic.idx
import_bad "truncated.idx: truncated IDX data" truncated.idx
import_bad "long.idx: IDX size mismatch" long.idx
import_bad "overflow.idx: truncated IDX data|overflow" overflow.idx
import_bad "badtype.idx: images must be unsigned bytes" badtype.idx
import_bad "nothere.idx: cannot open" nothere.idx
expect_exit 0 "" "$HPCNN" data import-idx --train-images images.idx --train-labels labels.idx --out good -q
[[ -f good/manifest.json ]] && pass || fail "good import wrote no manifest"
expect_exit 1 "good: already exists \(use --force" "$HPCNN" data import-idx --train-images images.idx --train-labels labels.idx --out good -q
expect_exit 0 "" "$HPCNN" data import-idx --train-images images.idx --train-labels labels.idx --out good --force -q

# --- damaged datasets ----------------------------------------------------------
"$HPCNN" data synth circuits --train 400 --test 40 --shards 2 --out ds -q > /dev/null
expect_exit 0 "" "$HPCNN" data verify ds -q
mkdir nomanifest
expect_exit 1 "nomanifest: not a dataset directory \(manifest.json is missing\)" "$HPCNN" data inspect nomanifest -q
expect_exit 1 "nowhere: not a dataset directory" "$HPCNN" data verify nowhere -q

cp -r ds corrupt
# Flip one byte in the middle of a shard (inside the pixel chunk).
f=corrupt/train-00001-of-00002.h5
size=$(stat -c %s "$f")
off=$((size / 2))
orig=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
printf "$(printf '\\%03o' $(( (orig + 1) % 256 )))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
expect_exit 1 "train-00001-of-00002.h5: checksum mismatch" "$HPCNN" data verify corrupt -q
grep -q "4 shards checked, 1 bad" out.txt && pass || fail "verify summary: $(cat out.txt)"

cp -r ds missing
rm missing/test-00000-of-00002.h5
expect_exit 1 "test-00000-of-00002.h5: shard is missing" "$HPCNN" data verify missing -q
expect_exit 1 "test-00000-of-00002.h5: no such file" "$HPCNN" data inspect missing -q

# --- an import killed midway leaves nothing that looks whole -------------------
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
  ( timeout -s KILL 0.4 "$HPCNN" data import-idx --out killed -q > /dev/null 2>&1 || true ) 2>/dev/null
  if [[ -e killed ]]; then
    "$HPCNN" data verify killed -q > /dev/null 2>&1 && pass || fail "killed import left a damaged dataset"
  else
    pass
  fi
fi

finish
