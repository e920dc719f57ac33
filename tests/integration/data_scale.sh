#!/usr/bin/env bash
# The training input pipeline end to end: the background reader changes no
# result; local sampling through a tiny block cache trains exactly as with
# the shards preloaded and reads each rank's own data once per epoch; a shard
# damaged mid-epoch ends the run (1 and 2 ranks) naming it, without a hang;
# hpcnn-merge reports read throughput; hpcnn bench read runs every path.
source "$(dirname "$0")/lib.sh"
: "${HPCNN_MERGE:?set HPCNN_MERGE}"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data synth circuits -q --train 3001 --test 100 --shards 5 --image-size 16 --out c5 > /dev/null
MODEL='conv:4x3:same relu maxpool:2 flatten dense:16 relu dense:4'
TRAIN=(train -q --data c5 --model "$MODEL" --epochs 2 --threads 1)

# --- the background reader changes nothing ------------------------------------------
"$HPCNN" "${TRAIN[@]}" --batch 32 --prefetch 0 --out g0 > /dev/null
"$HPCNN" "${TRAIN[@]}" --batch 32 --prefetch 3 --cache-mb 0 --out g3 > /dev/null
same_weights g0 g3 && pass || fail "global sampling: --prefetch 3 from storage differs from --prefetch 0 preloaded"

# --- local sampling: cache or not, the same run; each rank reads its own shards once an epoch
"${MPIRUN[@]}" -n 2 "$HPCNN" "${TRAIN[@]}" --global-batch 32 --sampling local --out l-pre > /dev/null
"${MPIRUN[@]}" -n 2 "$HPCNN" "${TRAIN[@]}" --global-batch 32 --sampling local --cache-mb 0 --out l-cache \
  > /dev/null 2> err.txt && pass || fail "local sampling with the smallest cache: $(cat err.txt)"
same_weights l-pre l-cache && pass || fail "local sampling: block cache and preloaded runs differ"
"$HPCNN_MERGE" summary -q --warmup 0 l-cache > /dev/null
"$PYTHON" - << 'PY' && pass || fail "local sampling: bytes read per rank"
import csv, json
m = json.load(open("c5/manifest.json"))
shards = m["splits"]["train"]["shards"]
per_sample = 16 * 16 + 4  # uint8 pixels and an int32 label
# Shards dealt largest first to the least loaded rank: 601 + 600 to rank 0, 600 + 600 + 600 to rank 1.
sizes = sorted((s["num_samples"] for s in shards), reverse=True)
load = [0, 0]
for n in sizes:
    load[load.index(min(load))] += n
for rank in (0, 1):
    rows = [r for r in csv.DictReader(open(f"l-cache/timing/rank-0000{rank}.csv")) if r["phase"] == "data"]
    # Epoch 1 reads exactly the rank's own data; epoch 2 at most that again (blocks still cached are not re-read).
    read = [sum(int(r["bytes"]) for r in rows if r["epoch"] == e) for e in ("1", "2")]
    assert read[0] == load[rank] * per_sample and read[1] <= read[0], (rank, read, load)
    assert sum(int(r["samples"]) for r in rows) == 2 * load[rank]
s = json.load(open("l-cache/merged/summary.json"))
assert 3001 * per_sample <= s["bytes_read"] <= 2 * 3001 * per_sample and s["read_mb_per_s_total"] > 0, s
assert 0 <= s["data_wait_fraction"] <= 1 and s["mean_queue_depth"] >= 1, s
PY
grep -q "read from storage" l-cache/merged/summary.md && pass || fail "summary.md lacks the read line"
# Local sampling resumes on its own rank count only.
"${MPIRUN[@]}" -n 2 "$HPCNN" "${TRAIN[@]}" --global-batch 32 --sampling local --max-steps 20 --out l-resume > /dev/null
expect_exit 1 "--sampling local ran on 2 ranks, here on 1" "$HPCNN" train -q --resume l-resume --max-steps 40

# --- a shard damaged mid-epoch: the run ends naming it, no hang ----------------------
cp -r c5 bad
bad_shard=$("$PYTHON" -c 'import json; print(json.load(open("bad/manifest.json"))["splits"]["train"]["shards"][3]["file"])')
echo "not HDF5 any more" > "bad/$bad_shard"
for ranks in 1 2; do
  start=$SECONDS
  rc=0
  timeout 120 "${MPIRUN[@]}" -n "$ranks" "$HPCNN" train -q --data bad --model "$MODEL" --threads 1 --global-batch 32 \
    --cache-mb 0 --verify-data never --timeout 30 --out bad-$ranks > out.txt 2> err.txt || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] && pass || fail "$ranks rank(s), damaged shard: exit $rc"
  ((SECONDS - start < 60)) && pass || fail "$ranks rank(s), damaged shard: took $((SECONDS - start)) s"
  grep -q "$bad_shard" err.txt && pass || fail "$ranks rank(s): the damaged shard is not named: $(head -5 err.txt)"
done
expect_exit 2 "--sampling must be global or local" "$HPCNN" "${TRAIN[@]}" --sampling random --out x
expect_exit 2 "--prefetch must be between 0 and 1024" "$HPCNN" "${TRAIN[@]}" --prefetch -1 --out x

# --- hpcnn bench read: every path, the same bytes -------------------------------------
"${MPIRUN[@]}" -n 2 "$HPCNN" bench read -q --data c5 --repeats 1 --csv read.csv > out.txt 2> err.txt &&
  pass || fail "bench read: $(cat err.txt)"
"$PYTHON" - << 'PY' && pass || fail "bench read CSV: $(cat read.csv)"
import csv
rows = {r["mode"]: r for r in csv.DictReader(open("read.csv"))}
assert set(rows) == {"serial", "mpio-independent", "mpio-collective", "posix"}, rows
for mode in ("serial", "mpio-independent", "mpio-collective"):
    assert int(rows[mode]["bytes"]) == 3001 * 16 * 16, rows[mode]
    assert float(rows[mode]["mb_per_s_total"]) > 0
PY
finish
