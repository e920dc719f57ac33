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
# NaN and infinity compare false with every bound: each floating-point option
# of each command must still refuse them, naming the option (issue 12).
for bad in nan inf -inf; do
  for opt in lr momentum adam-epsilon validation-split; do
    expect_exit 2 "--$opt must be a finite number" "$HPCNN" train -q --$opt=$bad
  done
  for opt in noise horizon interval; do
    expect_exit 2 "--$opt must be a finite number" "$HPCNN" data synth circuits -q --out nan-ds --$opt=$bad
  done
  expect_exit 2 "--validation-fraction must be a finite number" "$HPCNN" data import-idx -q --validation-fraction=$bad
  expect_exit 2 "--step-factor must be a finite number" "$HPCNN" bench allreduce -q --step-factor=$bad
done
[[ ! -e nan-ds ]] && pass || fail "data synth --noise nan wrote a dataset"
# Boost's error messages looped forever on a value holding their own
# placeholder (found by tests/fuzz/fuzz_config).
expect_exit 2 "the argument \('%value%'\) for option '--epochs' is invalid" timeout 10 "$HPCNN" train -q --epochs %value%
printf 'epochs = %%canonical_option%%\n' > percent.ini
expect_exit 2 "percent.ini.*%canonical_option%" timeout 10 "$HPCNN" train -q --config percent.ini
printf 'lr = nan\n' > nan.ini
expect_exit 2 "--lr must be a finite number" "$HPCNN" train -q --config nan.ini

# Model strings whose sizes overflow: exit 1 naming the layer and the value,
# never a wrong parameter count or a crash (issue 12).
expect_exit 1 "'conv:4x2147483648:same': kernel 2147483648" "$HPCNN" summary -q --model 'conv:4x2147483648:same relu' --input 1x28x28
expect_exit 1 "layer 1 'conv:100000x4096:same'.*weights" "$HPCNN" summary -q --model 'conv:100000x4096:same' --input 1x28x28
expect_exit 1 "layer 2 'dense:2147483647'.*weights" "$HPCNN" summary -q --model 'flatten dense:2147483647' --input 1x28x28
expect_exit 1 "input shape \(65536, 65536, 65536\)" "$HPCNN" summary -q --model 'flatten dense:10' --input 65536x65536x65536
expect_exit 1 "layer 3 'dense:32768'.*total parameter count" "$HPCNN" summary -q --model 'dense:32768 relu dense:32768 relu dense:32768' --input 32768
# GPUs: --allreduce nccl needs the cuda backend; --backend cuda needs a GPU
# (or says the build has none); both before any training step.
"$HPCNN" data synth circuits -q --train 8 --test 4 --out tiny-ds > /dev/null
expect_exit 2 "^hpcnn: usage error: --allreduce nccl reduces GPU memory: it needs --backend cuda" \
  "$HPCNN" train -q --data tiny-ds --model circuit-cnn --allreduce nccl --out nccl-run
[[ ! -e nccl-run/model.h5 ]] && pass || fail "--allreduce nccl on onednn trained anyway"
# Pre-flight: a bad --freeze and an unwritable --checkpoint are refused before
# the run directory is claimed, so no run directory is left behind (both
# were refused only after it was made, issue 27).
expect_exit 1 "model 'circuit-cnn': no layer 'nope'" \
  "$HPCNN" train -q --data tiny-ds --model circuit-cnn --freeze nope --out frozen-run
[[ ! -e frozen-run ]] && pass || fail "a refused --freeze left its run directory behind"
expect_exit 1 "--freeze 15 freezes every parameter of model 'circuit-cnn'" \
  "$HPCNN" train -q --data tiny-ds --model circuit-cnn --freeze 15 --out frozen-run
[[ ! -e frozen-run ]] && pass || fail "a --freeze of every layer left its run directory behind"
printf 'a file\n' > plain-file
expect_exit 1 "--checkpoint plain-file/model.h5: cannot create its directory" \
  "$HPCNN" train -q --data tiny-ds --model circuit-cnn --checkpoint plain-file/model.h5 --out probe-run
[[ ! -e probe-run ]] && pass || fail "an unwritable --checkpoint left its run directory behind"
if ! "$HPCNN" bench layers -q --backend cuda --model tiny-cnn --batch 2 --steps 1 --warmup 0 > cuda.out 2>&1; then
  rc=0
  "$HPCNN" bench layers -q --backend cuda --model tiny-cnn --batch 2 --steps 1 --warmup 0 > /dev/null 2>&1 || rc=$?
  [[ $rc -eq 2 ]] && pass || fail "--backend cuda without a GPU: exit $rc, wanted 2"
  grep -qE "^hpcnn: usage error: --backend cuda: (no usable GPU \(cudaGetDeviceCount: .+\)|this build has no CUDA backend)" \
    cuda.out && pass || fail "--backend cuda refusal: $(cat cuda.out)"
  [[ $(wc -l < cuda.out) -eq 1 ]] && pass || fail "--backend cuda refusal is not one line: $(cat cuda.out)"
fi
# --precision: a name check, the backends that have it, the CPUs that have it.
expect_exit 2 "--precision: unknown precision 'fp16' \(expected fp32 or bf16\)" "$HPCNN" bench layers -q --precision fp16
expect_exit 2 "--precision bf16: only the onednn backend has it, not reference" \
  "$HPCNN" bench layers -q --backend reference --precision bf16
if "$HPCNN" bench layers -q --model tiny-cnn --batch 2 --steps 1 --warmup 0 --precision bf16 > bf16.out 2>&1; then
  pass  # this CPU computes BF16 (AVX512-BF16 or AMX)
else
  grep -q "^hpcnn: --precision bf16: this CPU has no BF16 arithmetic (oneDNN's best ISA here is" bf16.out && pass ||
    fail "bf16 refusal: $(cat bf16.out)"
fi
expect_exit 1 "'conv:2x3:s2147483648:same': kernel 3 and stride 2147483648" "$HPCNN" bench layers -q --backend reference --model 'conv:2x3:s2147483648:same flatten dense:2' --input 1x28x28
expect_exit 1 "a batch of 1000000 samples.*GiB" "$HPCNN" bench layers -q --backend reference --model 'conv:1024x3:same' --input 1x1024x1024 --batch 1000000
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

# --force replaces an hpcnn dataset or an empty directory, nothing else.
mkdir -p precious && echo data > precious/thesis.tex
expect_exit 1 "precious: exists and is not an hpcnn dataset" "$HPCNN" data import-idx --train-images images.idx --train-labels labels.idx --out precious --force -q
expect_exit 1 "precious: exists and is not an hpcnn dataset" "$HPCNN" data synth circuits --train 8 --test 0 --out precious --force -q
[[ -f precious/thesis.tex ]] && pass || fail "--force deleted a directory that is not a dataset"
mkdir empty-out
expect_exit 0 "" "$HPCNN" data import-idx --train-images images.idx --train-labels labels.idx --out empty-out --force -q

# Staging directories of killed imports (.NAME.partial.PID) are removed by the
# next import to the same place; a live process's are left alone.
# 4194305 is above any Linux pid_max: that process is dead.
mkdir -p .staged.partial.4194305/junk ".staged.partial.$$/junk"
expect_exit 0 "" "$HPCNN" data import-idx --train-images images.idx --train-labels labels.idx --out staged -q
[[ ! -e .staged.partial.4194305 ]] && pass || fail "a dead import's staging directory was left behind"
[[ -d .staged.partial.$$ ]] && pass || fail "a live process's staging directory was removed"

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

# A manifest whose counts disagree with its shards, or that asks for absurd
# sizes, is refused naming the value (inspect once ran for minutes on one).
cp -r ds wrongcount
sed -i 's/"num_samples": 400/"num_samples": 500/' wrongcount/manifest.json
expect_exit 1 "split 'train' claims 500 samples but its shards hold 400" "$HPCNN" data verify wrongcount -q
cp -r ds manyclasses
sed -i 's/"num_classes": 4/"num_classes": 2000000000/' manyclasses/manifest.json
expect_exit 1 "num_classes is 2000000000 \(expected 1..65536\)" timeout 20 "$HPCNN" data inspect manyclasses -q

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
