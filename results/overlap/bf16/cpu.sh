#!/usr/bin/env bash
# Where the CPU of a bf16 bucket step goes (issue 30): keras-cnn at global
# batch 128 on 2 emulated nodes (1 rank of 1 thread each) at 1 Gbit/s, as
# run.sh, but counting CPU time per step rather than wall time, so that it
# means something on a loaded machine too. Each variant runs twice per round,
# for S1 and S2 steps, and everything is the difference divided by S2 - S1
# (start-up, data loading and the final checkpoint cancel). Variants
# alternate round by round (A B A B), medians over rounds.
#
#   bash results/overlap/bf16/cpu.sh [OUT_FILE]     (root; about 1 min per variant and round)
#
# Per rank (cpu_wrap.py): the process's user+system CPU (exact, getrusage),
# the communication thread's ('hpcnn-comm') CPU and voluntary context
# switches (its wake-ups), the compute (main) thread's CPU (total minus the
# other threads) and involuntary context switches (preemptions), Open MPI's
# other threads. System-wide (/proc/stat, every CPU, so other load counts
# too): softirq and system time, and the ksoftirqd threads' CPU.
#
# Environment: HPCNN_VARIANTS (space-separated NAME=BINDIR[,VAR=VALUE...];
# default "bf16=build/release/bin"), HPCNN_MODES (compute-only bf16), HPCNN_ROUNDS (3),
# HPCNN_S1 (15), HPCNN_S2 (75), HPCNN_LINK (1gbit), HPCNN_NICE (0: the jobs' nice
# value; -5 gives them most of a loaded machine, the communication thread
# staying at its own -10).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
here=$root/results/overlap/bf16
out_file=${1:-$here/cpu.md}
read -r -a variants <<< "${HPCNN_VARIANTS:-bf16=$root/build/release/bin}"
read -r -a modes <<< "${HPCNN_MODES:-compute-only bf16}"
rounds=${HPCNN_ROUNDS:-3} s1=${HPCNN_S1:-15} s2=${HPCNN_S2:-75}
C=$root/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=/run/hpcnn-cluster-cpu
work=$(mktemp -d /tmp/hpcnn-cpu-XXXXXX)
trap 'bash "$C" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
first_bin=${variants[0]#*=}
first_bin=${first_bin%%,*}
# No test split: no evaluation at the end to blur the differences.
"$first_bin/hpcnn" data import-idx -q --train-images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \
  --train-labels /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz --out "$work/fm" > /dev/null
bash "$C" up --nodes 2 --link "${HPCNN_LINK:-1gbit}" > /dev/null

sys_snapshot() {  # user system softirq (ticks, all CPUs) and the ksoftirqd threads' ticks
  local k=0 pid
  for pid in /proc/[0-9]*; do
    [[ $(cat "$pid/comm" 2> /dev/null) == ksoftirqd/* ]] || continue
    local s
    s=$(cat "$pid/stat" 2> /dev/null) || continue
    s=${s##*) }
    read -r -a f <<< "$s"
    k=$((k + f[11] + f[12]))
  done
  awk -v k="$k" '/^cpu /{print $2 + $3, $4, $8, k}' /proc/stat
}

echo "# $(date -Is) $(git -C "$root" rev-parse --short HEAD); variants: ${variants[*]}; modes: ${modes[*]}; nice ${HPCNN_NICE:-0}; load before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$work/log"
for round in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    name=${v%%=*} spec=${v#*=}
    bin=${spec%%,*}
    envs=()
    [[ $spec == *,* ]] && IFS=, read -r -a envs <<< "${spec#*,}"
    xs=()
    for e in "${envs[@]}"; do xs+=(-x "$e"); done
    for mode in "${modes[@]}"; do
      case $mode in
        compute-only) extra=(--compute-only) ;;
        bf16) extra=(--bucket-mb 1 --grad-compression bf16) ;;
        fp32) extra=(--bucket-mb 1) ;;
        *) echo "unknown mode $mode" >&2; exit 2 ;;
      esac
      for steps in "$s1" "$s2"; do
        run=$work/$name-$mode-$round-$steps
        before=$(sys_snapshot)
        nice -n "${HPCNN_NICE:-0}" bash "$C" run env "${envs[@]}" timeout 600 mpirun -x OMP_NUM_THREADS=1 "${xs[@]}" -H node1:1,node2:1 -np 2 \
          python3 "$here/cpu_wrap.py" "$run-cpu" "$bin/hpcnn" train -q --model keras-cnn --data "$work/fm" \
          --global-batch 128 --threads 1 --max-steps "$steps" "${extra[@]}" --out "$run" > /dev/null 2> "$work/err.txt" ||
          { cat "$work/err.txt" >&2; exit 1; }
        after=$(sys_snapshot)
        echo "$before" > "$run-sys-before"
        echo "$after" > "$run-sys-after"
        "$bin/hpcnn-merge" summary -q --warmup 5 "$run" > /dev/null
      done
      echo "[cpu] round $round $name $mode (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$work/log"
python3 - "$work" "$rounds" "$s1" "$s2" "$out_file" "${modes[*]}" "${variants[@]%%=*}" << 'PY'
import json, os, statistics, sys
work, rounds, s1, s2, out_file, modes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6].split()
names = sys.argv[7:]
tick = os.sysconf("SC_CLK_TCK")
COUNTERS = ["voluntary_switches", "involuntary_switches", "tests", "untested_sleeps", "backoff_sleeps", "read_syscalls",
            "write_syscalls", "exchanges", "pieces", "blocks"]

def per_rank(prefix):
    ranks = []
    for r in (0, 1):
        d = json.load(open(f"{prefix}-cpu-{r}.json"))
        th = d["threads"]
        comm = [t for t in th if t["name"] == "hpcnn-comm"]
        other = [t for t in th if t["name"] != "hpcnn-comm" and not t["main"]]
        cpu = lambda ts: sum(t["user_s"] + t["sys_s"] for t in ts)
        total = d["user_s"] + d["sys_s"]
        ranks.append({
            "total": total, "sys": d["sys_s"], "comm": cpu(comm), "other": cpu(other),
            "comm_sys": sum(t["sys_s"] for t in comm),
            "compute": total - cpu(comm) - cpu(other),
            "comm_wakes": sum(t["vcsw"] for t in comm),
            "compute_preempt": sum(t["ivcsw"] for t in th if t["main"]),
        })
        c = f"{prefix}-cpu-comm-{r}.json"  # the thread's own counters (HPCNN_COMM_COUNTERS), absent for compute-only
        own = json.load(open(c)) if os.path.exists(c) else {}
        for k in COUNTERS:
            ranks[-1][k] = own.get(k, 0)
        ranks[-1]["own_cpu"] = own.get("user_s", 0) + own.get("sys_s", 0)
        ranks[-1]["own_sys"] = own.get("sys_s", 0)
    return {k: sum(r[k] for r in ranks) / 2 for k in ranks[0]}  # mean over the 2 ranks

def system(prefix):
    b = list(map(int, open(f"{prefix}-sys-before").read().split()))
    a = list(map(int, open(f"{prefix}-sys-after").read().split()))
    return {k: (a[i] - b[i]) / tick for i, k in enumerate(["sys_user", "sys_system", "sys_softirq", "ksoftirqd"])}

def step_ms(run):
    s = json.load(open(f"{run}/merged/summary.json"))
    return s["step_slowest"]["median_s"] * 1e3, s["phases"]["backward"]["median_s"] * 1e3

cols = [("step ms", "step"), ("backward ms", "backward"), ("CPU ms/step per rank", "total"),
        ("compute thread ms", "compute"), ("comm thread ms", "comm"), ("of which kernel", "comm_sys"), ("other threads ms", "other"),
        ("system ms per rank", "sys"), ("comm wake-ups", "comm_wakes"), ("compute preemptions", "compute_preempt"),
        ("softirq ms (machine)", "sys_softirq"), ("ksoftirqd ms", "ksoftirqd"), ("kernel ms (machine)", "sys_system")]
lines = [l for l in open(f"{work}/log").read().splitlines()]
lines += ["", "Per step: (S2-step run - S1-step run) / (S2 - S1), S1 = %d, S2 = %d; medians over %d rounds; "
          "per-rank figures are the mean of the 2 ranks; machine-wide ones count every CPU (other load too) "
          "and both ranks." % (s1, s2, rounds), "",
          "| variant | mode | " + " | ".join(c[0] for c in cols) + " |",
          "| --- | --- | " + " | ".join("---:" for _ in cols) + " |"]
own_cols = [("CPU ms", "own_cpu"), ("of which kernel", "own_sys"), ("wake-ups (voluntary switches)", "voluntary_switches"),
            ("preemptions", "involuntary_switches"), ("MPI tests", "tests"), ("untested sleeps", "untested_sleeps"),
            ("back-off sleeps", "backoff_sleeps"), ("socket reads (readv)", "read_syscalls"),
            ("socket writes (writev)", "write_syscalls"), ("exchanges", "exchanges"), ("pieces", "pieces"),
            ("blocks", "blocks")]
own = ["", "The communication thread's own counters per step and rank (HPCNN_COMM_COUNTERS: getrusage "
       "RUSAGE_THREAD, /proc/thread-self/io, the exchange's waits):", "",
       "| variant | mode | " + " | ".join(c[0] for c in own_cols) + " |",
       "| --- | --- | " + " | ".join("---:" for _ in own_cols) + " |"]
per_round = []
for name in names:
    for mode in modes:
        rows = []
        for r in range(1, rounds + 1):
            a, b = f"{work}/{name}-{mode}-{r}-{s1}", f"{work}/{name}-{mode}-{r}-{s2}"
            pa, pb = per_rank(a), per_rank(b)
            sa, sb = system(a), system(b)
            row = {k: (pb[k] - pa[k]) / (s2 - s1) for k in pa}
            row.update({k: (sb[k] - sa[k]) / (s2 - s1) for k in sa})
            for k in row:
                if k not in ["comm_wakes", "compute_preempt"] + COUNTERS:
                    row[k] *= 1e3
            row["step"], row["backward"] = step_ms(b)
            rows.append(row)
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        lines.append(f"| {name} | {mode} | " + " | ".join(f"{med[c[1]]:.1f}" for c in cols) + " |")
        if med["exchanges"] > 0:
            own.append(f"| {name} | {mode} | " + " | ".join(f"{med[c[1]]:.1f}" for c in own_cols) + " |")
        per_round.append(f"- {name} {mode}, per round: comm thread ms " + ", ".join(f"{r['comm']:.1f}" for r in rows) +
                         "; wake-ups " + ", ".join(f"{r['comm_wakes']:.0f}" for r in rows) +
                         "; compute thread ms " + ", ".join(f"{r['compute']:.1f}" for r in rows))
lines += own + [""] + per_round
text = "\n".join(lines) + "\n"
open(out_file, "w").write(text)
print(text)
PY
