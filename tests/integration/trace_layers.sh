#!/usr/bin/env bash
# hpcnn train --trace: per-layer events. Each rank's trace and hpcnn-merge's
# merged trace hold one forward and one backward event per layer per step,
# each inside its step's forward/backward phase event; hpcnn-merge writes
# layers.csv / layers.md for a traced run only; a run without --trace writes
# what it always did; and tracing does not change the weights (bit for bit).
source "$(dirname "$0")/lib.sh"
require_fashion_mnist
: "${HPCNN_MERGE:?set HPCNN_MERGE to the hpcnn-merge binary}"
: "${PYTHON:?set PYTHON to a python3 with h5py}"
export OMP_NUM_THREADS=1
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
"$HPCNN" data import-idx -q --out fm > /dev/null

# tiny-cnn on 2 ranks, with and without --trace; keras-cnn (dropout) on 1 rank.
for mode in traced plain; do
  flag=$([[ $mode == traced ]] && echo --trace || true)
  # shellcheck disable=SC2086  # an empty $flag is no argument
  "${MPIRUN[@]}" -n 2 "$HPCNN" train -q --model tiny-cnn --data fm --global-batch 32 --max-steps 5 --threads 1 \
    --seed 11 $flag --out tiny-$mode > /dev/null && pass || fail "train tiny-cnn $mode"
  # shellcheck disable=SC2086
  "$HPCNN" train -q --model keras-cnn --data fm --batch 8 --max-steps 3 --threads 1 --seed 4 $flag \
    --out keras-$mode > /dev/null && pass || fail "train keras-cnn $mode"
  for run in tiny-$mode keras-$mode; do
    "$HPCNN_MERGE" summary -q $run > /dev/null 2> merge-err.txt && pass || fail "merge $run: $(cat merge-err.txt)"
    [[ ! -s merge-err.txt ]] && pass || fail "merge $run warned: $(cat merge-err.txt)"
  done
done

# --- bit-reproducibility: tracing times, it does not change the computation ------
same_weights tiny-traced tiny-plain && pass || fail "tiny-cnn: --trace changed the weights"
same_weights keras-traced keras-plain && pass || fail "keras-cnn: --trace changed the weights"

# --- the layer events: one per layer, pass and step, nested in their phase -------
"$PYTHON" - <<'PY' && pass || fail "layer events"
import collections, json

EPS = 1e-3  # microseconds: the phase and layer times are sums of the same doubles

def check(path, ranks, steps, layers):
    events = [e for e in json.load(open(path))["traceEvents"] if e["ph"] == "X"]
    phases = {(e["pid"], e["args"]["epoch"], e["args"]["step"], e["name"]): e
              for e in events if e.get("cat") != "layer"}
    layer_events = [e for e in events if e.get("cat") == "layer"]
    assert len(layer_events) == len(ranks) * steps * 2 * len(layers), (path, len(layer_events))
    seen = collections.Counter()
    for e in layer_events:
        a = e["args"]
        assert a["pass"] in ("forward", "backward"), e
        assert e["name"] == f"{layers[a['layer'] - 1]} {a['pass']}", e
        assert a["kind"] == layers[a["layer"] - 1].split(" ")[1].split(":")[0], e
        assert a["output"].startswith("("), e
        phase = phases[(e["pid"], a["epoch"], a["step"], a["pass"])]
        assert e["tid"] == phase["tid"], (e, phase)
        assert e["dur"] >= 0 and e["ts"] >= phase["ts"] - EPS, (e, phase)
        assert e["ts"] + e["dur"] <= phase["ts"] + phase["dur"] + EPS, (e, phase)
        seen[(e["pid"], a["epoch"], a["step"], a["pass"], a["layer"])] += 1
    want = {(r, 1, s, p, l) for r in ranks for s in range(1, steps + 1) for p in ("forward", "backward")
            for l in range(1, len(layers) + 1)}
    assert set(seen) == want and set(seen.values()) == {1}, (path, set(seen) ^ want)

tiny = ["1 conv:4x2:same", "2 relu", "3 conv:4x2:same", "4 relu", "5 maxpool:4", "6 flatten", "7 dense:128",
        "8 relu", "9 dense:10"]
keras = ["1 conv:32x3", "2 relu", "3 conv:64x3", "4 relu", "5 maxpool:2", "6 dropout:0.25", "7 flatten",
         "8 dense:128", "9 relu", "10 dropout:0.5", "11 dense:10"]
for r in (0, 1):
    check(f"tiny-traced/trace/rank-{r:05d}.json", [r], 5, tiny)
check("tiny-traced/merged/trace.json", [0, 1], 5, tiny)
check("keras-traced/trace/rank-00000.json", [0], 3, keras)
check("keras-traced/merged/trace.json", [0], 3, keras)
PY

# --- hpcnn-merge's per-layer summary ----------------------------------------------
"$PYTHON" - <<'PY' && pass || fail "layers.csv / layers.md"
import csv
rows = list(csv.DictReader(open("tiny-traced/merged/layers.csv")))
assert [(int(r["rank"]), int(r["layer"])) for r in rows] == [(k, l) for k in (0, 1) for l in range(1, 10)], rows
assert all(int(r["steps"]) == 4 for r in rows), rows  # 5 steps, the first is warm-up
assert rows[0]["name"] == "1 conv:4x2:same" and rows[0]["kind"] == "conv" and rows[0]["output"] == "(4, 28, 28)"
assert all(float(r["forward_ms_median"]) >= 0 and float(r["backward_ms_median"]) >= 0 for r in rows)
assert all(float(r["forward_ms_median"]) > 0 for r in rows if r["kind"] in ("conv", "dense")), rows
md = open("tiny-traced/merged/layers.md").read()
assert "## Rank 1" in md and "| 7 dense:128 | (128, 1, 1) |" in md, md
PY

# --- without --trace: no trace, no layer events, the same timing rows -------------
"$PYTHON" - <<'PY' && pass || fail "a run without --trace"
import csv, json, os
for run, ranks, steps in (("tiny-plain", 2, 5), ("keras-plain", 1, 3)):
    assert not os.path.exists(f"{run}/trace"), run
    assert not os.path.exists(f"{run}/merged/layers.csv") and not os.path.exists(f"{run}/merged/layers.md"), run
    trace = json.load(open(f"{run}/merged/trace.json"))["traceEvents"]
    assert not [e for e in trace if e.get("cat") == "layer"] and len([e for e in trace if e["ph"] == "X"]) == ranks * steps * 8
    traced = run.replace("plain", "traced")
    for r in range(ranks):
        a = list(csv.reader(open(f"{run}/timing/rank-{r:05d}.csv")))
        b = list(csv.reader(open(f"{traced}/timing/rank-{r:05d}.csv")))
        assert a[0] == b[0] and len(a) == len(b) == 1 + steps * 8, (len(a), len(b))
        assert [x[:4] for x in a] == [x[:4] for x in b]  # the same rows, the times aside
PY
finish
