#!/usr/bin/env bash
# ctest label sim (tests/CMakeLists.txt): hpcnn-sim on simulated clusters.
#   test_sim.sh exact    every algorithm sums exactly (#wrong 0) on 2, 3, 8 and 13 ranks of
#                        fat-tree, torus, dragonfly and lab platforms, with odd counts
#   test_sim.sh refusals shm and hier are refused by name on multi-rank nodes (SimGrid shares
#                        no MPI-3 window memory); auto is refused where it would pick them, and
#                        picks by its cost model from the link figures (hier on 1, rhd on 100 Gbit/s)
#   test_sim.sh shared   above 64 ranks the buffers are shared and the table says so (#wrong -);
#                        bad options exit 2
#   test_sim.sh fit      sweep_fit.sh + hpcnn-merge allreduce --fit (HPCNN_MERGE) make a cost model
#                        that auto then uses (HPCNN_COST_MODEL); auto_grid.sh tables auto against the best
#   test_sim.sh scale    scale.sh writes weak and strong tables labelled simulated, efficiency <= 100 %
#   test_sim.sh pacing   ring and rhd across 32 nodes (exchange's spin-then-back-off waits) take at
#                        most 1.25x the time of the same run with blocking MPI_Waitany (--pacing
#                        block); compute not injected, so the simulated times are deterministic
#   test_sim.sh calls    under --pacing block a ring or rhd step of one piece each way is one
#                        MPI_Sendrecv (SMPI's time-independent trace), not Irecv, Isend and two
#                        Waitany; --pacing poll keeps them
# Skips (77) without SimGrid (smpicxx, smpirun). Builds build/smpi with the smpi preset when
# hpcnn-sim is missing or stale (a lock keeps concurrent tests from building at once).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${SOURCE_DIR:-$(cd "$here/../.." && pwd)}
mode=${1:?usage: test_sim.sh exact|refusals|shared|fit|scale|pacing|calls}
if ! command -v smpicxx >/dev/null || ! command -v smpirun >/dev/null; then
  echo "SimGrid SMPI not installed (apt-get install libsimgrid-dev): skipped"
  exit 77
fi
mkdir -p "$root/build"
(
  flock 9
  cd "$root"
  [[ -f build/smpi/CMakeCache.txt ]] || cmake --preset smpi >/dev/null
  cmake --build --preset smpi -j2 >/dev/null
) 9>"$root/build/.smpi.lock"

fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# run PLATFORM NODES RANKS_PER_NODE [hpcnn-sim options]: the table in $out.
run() {
  local platform=$1 nodes=$2 per_node=$3
  shift 3
  HPCNN_SIM=$root/build/smpi/hpcnn-sim bash "$here/run.sh" --platform "$platform" --nodes "$nodes" \
    --ranks-per-node "$per_node" -- "$@" >"$out" 2>&1 || { cat "$out"; fail "$platform $nodes x $per_node: exit $?"; }
}
# Rows of the table: algo count bytes time algBw busBw #wrong.
rows() { awk '$1 ~ /^(ring|tree|rhd|central|mpi|shm|hier|auto)$/ && NF == 7' "$out"; }

case $mode in
  exact)
    # Odd counts: 1 float (fewer than the ranks), 257, and 262147 (several 64 Ki-float chunks).
    sizes=4,1028,1048588
    for case in "fattree-100g 2" "torus-100g 3" "dragonfly-100g 8" "fattree-100g 13" "lab 3"; do
      set -- $case
      run "$1" "$2" 1 --algo ring,tree,rhd,central,mpi,hier --sizes $sizes --iters 1 --warmup 1
      n=$(rows | wc -l)
      [[ $n -eq 18 ]] || { cat "$out"; fail "$1 on $2 ranks: $n rows, expected 6 algorithms x 3 sizes"; }
      bad=$(rows | awk '$7 != "0"')
      [[ -z $bad ]] || { cat "$out"; fail "$1 on $2 ranks: wrong sums: $bad"; }
      grep -q "one per rank, real data" "$out" || fail "$2 ranks: buffers should be private"
      echo "ok: $1, $2 ranks: 6 algorithms x 3 sizes exact"
    done
    ;;
  refusals)
    # Two nodes of two ranks: hier needs a shared window inside each node.
    # Link figures of 1 Gbit/s make auto's cost model pick hier at 1 MiB
    # (it moves half of rhd's bytes between nodes).
    HPCNN_LINK=1Gbps,50us run fattree-100g 2 2 --algo ring,rhd,shm,hier,auto --sizes 4K,1M --iters 1
    cat "$out"
    grep -Eq '^ +hier +262144  refused: SimGrid SMPI does not share MPI-3 windows' "$out" || fail "hier not refused"
    grep -Eq '^ +shm +262144  skipped: ranks span 2 nodes' "$out" || fail "shm not skipped across nodes"
    grep -Eq '^ +auto +262144  picks hier, refused' "$out" || fail "auto should be refused where it picks hier"
    [[ $(rows | awk '$1 == "ring" || $1 == "rhd"' | awk '$7 == "0"' | wc -l) -eq 4 ]] || fail "ring/rhd rows"
    # The platform's own figures (100 Gbit/s): rhd, which needs no window, at 1 MiB.
    run fattree-100g 2 2 --algo auto --sizes 4K,1M --iters 1
    for bytes in 4096 1048576; do
      grep -q "^# auto picks rhd for $bytes bytes" "$out" || { cat "$out"; fail "auto on 100 Gbit/s should pick rhd"; }
    done
    [[ $(rows | awk '$1 == "auto" && $7 == "0"' | wc -l) -eq 2 ]] || { cat "$out"; fail "auto should run, exactly"; }
    # One node of three ranks: shm itself is refused.
    run fattree-100g 1 3 --algo shm --sizes 4K --iters 1
    grep -Eq '^ +shm +1024  refused: SimGrid SMPI' "$out" || { cat "$out"; fail "shm not refused"; }
    ;;
  shared)
    run fattree-100g 65 1 --algo ring,rhd --sizes 64K --iters 1 --warmup 0 --csv "$out.csv"
    cat "$out"
    grep -q "65 simulated ranks" "$out" || fail "not 65 ranks"
    grep -q "shared between ranks (SMPI_SHARED_MALLOC, above 64 ranks): timing only" "$out" || fail "no shared note"
    [[ $(rows | awk '$7 == "-"' | wc -l) -eq 2 ]] || fail "#wrong should read - with shared buffers"
    grep -q '^ring,65,65,16384,65536,.*,-1$' "$out.csv" || { cat "$out.csv"; fail "csv row (wrong -1: not checked)"; }
    rm -f "$out.csv"
    # ... and on request below that.
    run lab 2 1 --algo ring --sizes 4K --iters 1 --shared on
    grep -q "shared between ranks (SMPI_SHARED_MALLOC): timing only" "$out" || fail "--shared on"
    # A bad option: exit 2 and one line naming it.
    set +e
    HPCNN_SIM=$root/build/smpi/hpcnn-sim bash "$here/run.sh" --platform lab --nodes 2 -- --sizes 1X >"$out" 2>&1
    rc=$?
    set -e
    [[ $rc -eq 2 ]] || { cat "$out"; fail "bad --sizes: exit $rc, expected 2"; }
    [[ $(grep -c "hpcnn-sim: --sizes: bad size '1X'" "$out") -eq 1 ]] || { cat "$out"; fail "one error line"; }
    ;;
  fit)
    merge=${HPCNN_MERGE:-$root/build/release/bin/hpcnn-merge}
    [[ -x $merge ]] || fail "no hpcnn-merge at $merge (build the release preset or set HPCNN_MERGE)"
    dir=$(mktemp -d)
    HPCNN_SIM=$root/build/smpi/hpcnn-sim bash "$here/sweep_fit.sh" --ranks 2,3,4,8 --sizes 4K,64K,1M --out "$dir"
    "$merge" allreduce --fit -q "$dir"/np*.csv --out "$dir" >/dev/null
    for algo in ring tree rhd central mpi; do
      grep -q "^| $algo | 12 | " "$dir/fit.md" || { cat "$dir/fit.md"; fail "no fit of $algo over 12 rows"; }
    done
    python3 -c "
import json, sys; m = json.load(open(sys.argv[1]))
assert m['format'] == 'hpcnn-cost-model' and len(m['algorithms']) == 5, m
assert all(a['alpha_inter'] > 0 for a in m['algorithms'].values()), m" "$dir/cost_model.json" ||
      fail "cost_model.json"
    # auto with that model, over a small grid: every point tabled against the best.
    HPCNN_SIM=$root/build/smpi/hpcnn-sim HPCNN_MERGE=$merge bash "$here/auto_grid.sh" --model "$dir/cost_model.json" \
      --platforms lab --ranks 2,3 --sizes 4K,64K,1M --out "$dir/grid" >"$out"
    cat "$out"
    grep -q "model: fit $dir/cost_model.json" "$dir/grid/lab/grid.log" || fail "auto did not read HPCNN_COST_MODEL"
    grep -Eq "^lab: [0-9]+ of 6 points within 10 % of the best; worst: " "$out" || fail "auto against the best"
    rm -rf "$dir"
    ;;
  scale)
    dir=$(mktemp -d)
    HPCNN_SIM=$root/build/smpi/hpcnn-sim bash "$here/scale.sh" --platform lab --ranks 2,4 --model keras-cnn \
      --out "$dir" >"$out"
    grep -q "^## \*Simulated\* scaling: keras-cnn on lab" "$dir/scaling-keras-cnn.md" || { cat "$out"; fail "no simulated label"; }
    python3 -c "
import csv, sys; rows = list(csv.DictReader(open(sys.argv[1])))
assert sorted((r['mode'], int(r['ranks'])) for r in rows) == [(m, p) for m in ('strong', 'weak') for p in (1, 2, 4)], rows
for r in rows:
    assert 0 < float(r['efficiency']) <= 1.0 + 1e-9 and float(r['step_ms']) >= float(r['compute_ms']) - 1e-9, r
    assert int(r['ranks']) == 1 or float(r['allreduce_buffer_ms']) > 0, r" "$dir/scaling-keras-cnn.csv" ||
      { cat "$dir/scaling-keras-cnn.md"; fail "scaling.csv"; }
    rm -rf "$dir"
    ;;
  pacing)
    # hpcnn-sim --pacing poll waits across nodes as hpcnn does on a real
    # cluster (detail::exchange tests, spins, then sleeps); --pacing block (the
    # simulator's default, cheaper to simulate) waits in MPI_Waitany. Same 32
    # hosts, same chunks and windows: the waits are the only difference.
    # Before the back-off (50 us sleeps once waits averaged 300 us) the paced
    # ring took 2.2-2.7x as long as blocking waits: 1118.9 against 498.0 us at
    # 4 KiB with SMPI's default latency factors (results/sim/pacing.txt).
    declare -A paced blocking
    for pacing in poll block; do
      HPCNN_SIM=$root/build/smpi/hpcnn-sim bash "$here/run.sh" --platform fattree-100g --nodes 32 \
        --cfg=smpi/simulate-computation:no -- --algo ring,rhd --sizes 4K,64K --iters 3 --warmup 1 \
        --pacing $pacing >"$out" 2>&1 || { cat "$out"; fail "32 nodes, --pacing $pacing: exit $?"; }
      grep -q "^# waits across nodes: $( [[ $pacing == poll ]] && echo polled || echo blocking)" "$out" ||
        { cat "$out"; fail "--pacing $pacing not in the header"; }
      while read -r algo bytes us; do
        if [[ $pacing == poll ]]; then paced[$algo.$bytes]=$us; else blocking[$algo.$bytes]=$us; fi
      done < <(rows | awk '{print $1, $3, $4}')
    done
    [[ ${#paced[@]} -eq 4 && ${#blocking[@]} -eq 4 ]] || { cat "$out"; fail "expected 4 rows each"; }
    for key in "${!paced[@]}"; do
      echo "$key: paced ${paced[$key]} us, blocking ${blocking[$key]} us"
      awk -v a="${paced[$key]}" -v b="${blocking[$key]}" 'BEGIN { exit !(a <= 1.25 * b) }' ||
        fail "$key: paced waits took ${paced[$key]} us, over 1.25x the blocking ${blocking[$key]} us"
    done
    # The polled waits cost their simulated 1 us tests somewhere: identical
    # times everywhere would mean --pacing poll never reached the exchange.
    differ=0
    for key in "${!paced[@]}"; do [[ ${paced[$key]} == "${blocking[$key]}" ]] || differ=1; done
    [[ $differ -eq 1 ]] || fail "--pacing poll gave the blocking times exactly: the polled waits did not run"
    ;;
  calls)
    # Every MPI call under SMPI costs two reads of the thread's CPU clock
    # (system calls) and SimGrid's request layer: at 4,096 ranks the ring's
    # steps are most of the simulation's work (docs/simulation.md, "1,024
    # ranks"). SMPI's time-independent trace lists each rank's MPI calls.
    trace=$(mktemp -d)
    trap 'rm -f "$out"; rm -rf "$trace"' EXIT
    for pacing in block poll; do
      rm -rf "$trace"/*
      HPCNN_SIM=$root/build/smpi/hpcnn-sim bash "$here/run.sh" --platform fattree-100g --nodes 4 \
        --cfg=tracing:yes --cfg=tracing/smpi:yes --cfg=tracing/smpi/format:TI --cfg=tracing/filename:"$trace/ti" \
        -- --algo ring,rhd --sizes 64K --iters 1 --warmup 0 --pacing $pacing >"$out" 2>&1 ||
        { cat "$out"; fail "4 nodes, --pacing $pacing: exit $?"; }
      bad=$(rows | awk '$7 != "0"')
      [[ -z $bad ]] || { cat "$out"; fail "--pacing $pacing: wrong sums: $bad"; }
      files=("$trace"/ti_files/*rank-*.txt)
      [[ ${#files[@]} -eq 4 ]] || fail "--pacing $pacing: ${#files[@]} trace files, expected 4"
      # Per rank, checked and timed run: ring 2 x 2 x (p-1) = 12 steps, rhd 2 x 2 x log2 p = 8.
      sendrecv=$(cat "${files[@]}" | awk '$2 == "sendRecv"' | wc -l)
      waits=$(cat "${files[@]}" | awk '$2 ~ /^(isend|irecv|waitany|testany|wait|test)$/' | wc -l)
      echo "--pacing $pacing: $sendrecv sendRecv, $waits isend/irecv/wait/test calls (4 ranks)"
      if [[ $pacing == block ]]; then
        [[ $sendrecv -eq $((4 * 20)) && $waits -eq 0 ]] ||
          fail "--pacing block: expected 80 sendRecv and no isend/irecv/waits, got $sendrecv and $waits"
      else
        [[ $sendrecv -eq 0 && $waits -gt 0 ]] ||
          fail "--pacing poll: expected exchange's Irecv/Isend/Testany, got $sendrecv sendRecv and $waits"
      fi
    done
    ;;
  *) fail "unknown mode $mode" ;;
esac
echo "sim $mode: ok"
