#!/usr/bin/env bash
# hpcnn-merge and tools/plot on real runs: summaries of a 1- and a 2-rank run,
# a strong-scaling study with plots, an all-reduce comparison, a damaged run
# (cut-off and missing rank files: warnings, never a crash) and bad input.
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${HPCNN_MERGE:?set HPCNN_MERGE to the hpcnn-merge binary}"
: "${PYTHON:?set PYTHON to a python3 with matplotlib}"
PLOT="$SOURCE_DIR/tools/plot/hpcnn_plot.py"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data import-idx -q --out fm > /dev/null
for np in 1 2; do
  "${MPIRUN[@]}" -n $np "$HPCNN" train -q --model tiny-cnn --data fm --global-batch 64 --max-steps 12 --threads 1 \
    --out runs/np$np > /dev/null
done

# --- summaries ---------------------------------------------------------------
for np in 1 2; do
  "$HPCNN_MERGE" summary -q runs/np$np > md$np.txt 2> err$np.txt && pass || fail "summary np$np: $(cat err$np.txt)"
  [[ ! -s err$np.txt ]] && pass || fail "summary np$np warned: $(cat err$np.txt)"
  grep -q "| ranks | $np of $np |" md$np.txt && pass || fail "summary np$np table: $(cat md$np.txt)"
done
"$PYTHON" - <<'PY' && pass || fail "summary files"
import csv, json
for np in (1, 2):
    s = json.load(open(f"runs/np{np}/merged/summary.json"))
    assert s["format"] == "hpcnn-merge-summary" and s["ranks_present"] == np, s
    assert s["steps_used"] == 11 and s["warmup_skipped"] == 1, s
    assert s["samples"] == 11 * 64 and s["samples_per_second"] > 0, s
    # the slowest-rank total equals the sum of per-step maxima from the raw files
    rows = []
    for r in range(np):
        rows += [x for x in csv.DictReader(open(f"runs/np{np}/timing/rank-{r:05d}.csv")) if x["phase"] == "step"]
    per_step = {}
    for x in rows:
        if int(x["step"]) > 1:
            per_step[x["step"]] = max(per_step.get(x["step"], 0.0), float(x["seconds"]))
    assert abs(sum(per_step.values()) - s["train_seconds"]) < 1e-5, (sum(per_step.values()), s["train_seconds"])
    # one rank has no all-reduce at all; two have some (how much varies with load)
    assert (np == 1) == (s["comm_fraction"] == 0), s["comm_fraction"]
    phases = [r["phase"] for r in csv.DictReader(open(f"runs/np{np}/merged/summary.csv"))]
    assert phases == ["data", "forward", "backward", "allreduce", "allreduce_wait", "optimizer", "allgather", "step",
                      "step_slowest"], phases
    assert (s["hidden_fraction"] is None) == (np == 1) and (np == 1 or 0 <= s["hidden_fraction"] <= 1), s
    trace = json.load(open(f"runs/np{np}/merged/trace.json"))
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == np * 12 * 8 and {e["pid"] for e in spans} == set(range(np)), len(spans)
PY

# --- strong scaling and plots -----------------------------------------------
"$HPCNN_MERGE" scaling -q --strong runs/np1 runs/np2 --out study > scaling.txt 2> err.txt \
  && pass || fail "scaling: $(cat err.txt)"
grep -q "## Strong scaling: tiny-cnn" scaling.txt && pass || fail "scaling table: $(cat scaling.txt)"
"$PYTHON" - <<'PY' && pass || fail "scaling.json"
import json
s = json.load(open("study/scaling.json"))
p = s["points"]
assert s["mode"] == "strong" and [x["ranks"] for x in p] == [1, 2] and p[0]["speedup"] == 1.0, s
assert abs(p[1]["efficiency"] - p[1]["speedup"] / 2) < 1e-9 and p[1]["global_batch"] == 64, p
PY
"$HPCNN_MERGE" scaling -q --weak runs/np1 runs/np2 --out weak > /dev/null 2> err.txt
grep -q "per-rank batch 32 differs from the baseline's 64" err.txt && pass || fail "weak mismatch not warned: $(cat err.txt)"
"$HPCNN_MERGE" allreduce -q "$SOURCE_DIR/results/allreduce/np2-sweep.csv" --out study > /dev/null && pass || fail "allreduce"
"$PYTHON" "$PLOT" scaling study/scaling.json --out study 2> /dev/null && pass || fail "plot scaling"
"$PYTHON" "$PLOT" allreduce study/allreduce.csv --out study 2> /dev/null && pass || fail "plot allreduce"
"$PYTHON" "$PLOT" mlp runs/np1 runs/np2 --out study 2> /dev/null && pass || fail "plot mlp"
for png in speedup_efficiency phases busbw train_time_vs_params; do
  [[ $(head -c 8 study/$png.png | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] && pass || fail "$png.png is not a PNG"
done
grep -q "^| cpu | \`tiny-cnn\` | 26,594 |" study/train_time_vs_params.md && pass || fail "mlp table: $(cat study/train_time_vs_params.md)"
expect_exit 1 "not a hpcnn-merge-scaling file" "$PYTHON" "$PLOT" scaling study/allreduce.json --out study

# --- a damaged run: rank 1 cut off mid-line, rank 2 never wrote ---------------
"${MPIRUN[@]}" -n 3 "$HPCNN" train -q --model tiny-cnn --data fm --global-batch 48 --max-steps 8 --threads 1 \
  --out runs/damaged > /dev/null
f=runs/damaged/timing/rank-00001.csv
head -c $(( $(stat -c %s $f) - 30 )) $f > cut && mv cut $f
rm runs/damaged/timing/rank-00002.csv
"$HPCNN_MERGE" summary -q runs/damaged > md.txt 2> err.txt && pass || fail "damaged run: exit $?: $(cat err.txt)"
grep -q "timing/rank-00001.csv: cut off mid-line" err.txt && pass || fail "cut-off not named: $(cat err.txt)"
grep -q "timing/rank-00002.csv: missing" err.txt && pass || fail "missing rank not named: $(cat err.txt)"
grep -q "| throughput | n/a samples/s |" md.txt && pass || fail "throughput with a rank missing: $(cat md.txt)"
grep -q "| ranks | 2 of 3 |" md.txt && pass || fail "rank count: $(cat md.txt)"
rc=0; "$HPCNN_MERGE" summary -q --strict runs/damaged --out strict > /dev/null 2> err.txt || rc=$?
[[ $rc -eq 1 ]] && grep -q "error: 5 warning(s) and --strict" err.txt && pass || fail "--strict: exit $rc: $(cat err.txt)"
expect_exit 1 "no throughput" "$HPCNN_MERGE" scaling -q --strong runs/np1 runs/damaged --out nope

# --- bad input ------------------------------------------------------------------
expect_exit 1 "nowhere: not a directory" "$HPCNN_MERGE" summary -q nowhere
expect_exit 1 "fm: no timing/ folder" "$HPCNN_MERGE" summary -q fm
expect_exit 2 "exactly one of --strong and --weak" "$HPCNN_MERGE" scaling -q runs/np1
expect_exit 2 "unknown command 'sumary'" "$HPCNN_MERGE" sumary runs/np1
expect_exit 1 "not an .hpcnn bench allreduce --csv. file" "$HPCNN_MERGE" allreduce -q runs/np1/timing/rank-00000.csv
"$HPCNN_MERGE" --help | grep -q "scaling --strong|--weak" && pass || fail "--help"
finish
