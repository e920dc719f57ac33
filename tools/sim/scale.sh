#!/usr/bin/env bash
# Predicted training scaling on a simulated cluster (issue 29, item 6).
#
#   bash tools/sim/scale.sh --platform fattree-100g --ranks 16,64,256,1024 \
#        --model keras-cnn[,solar-cnn,mlp:3200-1600-832]
#        [--layers layers.csv --batch 64 --optimizer-ms 2.3] [--global-batch 1024] [--algo auto]
#        [--cost-model cost_model.json] [--compute-speedup X] [--slowdown S] [--gamma-ns-per-byte G]
#        [--sim-bytes-budget B] [--reuse] [--out DIR]
#
# Compute is not run: per-layer forward/backward times of one traced run
# (results/traces/*/layers-min.csv: 1 rank x 1 thread, the minimum over
# steps; or --layers, any `hpcnn-merge summary` layers.csv) are injected,
# scaled with the per-rank batch. Communication is simulated: hpcnn-sim runs
# the real all-reduce (--algo, default auto: the cost model's choice) on the
# platform, network only (smpi/simulate-computation:no: deterministic, not
# slowed by this machine's load), for every size the gradient reducer issues
# (its 1 MiB blocks and short head block) and for the whole buffer. The
# reduction's own compute is added by scale.py (--gamma-ns-per-byte, measured
# here: docs/simulation.md). SMPI holds about p x size bytes (rhd's scratch,
# messages in flight), so sizes above --sim-bytes-budget / p (default 1.5e9)
# are not simulated: scale.py extends the line through the simulated sizes
# of >= 256 KiB at that p (checked where both exist: docs/simulation.md).
# scale.py then schedules the blocks as the reducer does (each once backward
# has finished it, last block first, one after another), with backward
# --slowdown times slower while a block is in flight (default 1.32: fitted
# to the 2-node emulated run, results/sim/validate-keras-cnn-lab), and writes weak and strong scaling with and without
# overlap, labelled *simulated*, one scaling-MODEL.{md,csv,png} per model.
# --compute-speedup X divides the measured compute (GPU-like ranks): the
# files get a -compute-xX suffix. --reuse keeps npP.csv already in --out
# (add 1,024 ranks to a finished study).
#
# Models with a trace here: keras-cnn (results/traces/keras-cnn-1rank, 64 a
# rank), solar-cnn (64), mlp:3200-1600-832 (100); another needs --layers and
# --batch (one model).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
platform=fattree-100g ranks=16,64,256 models= layers= batch= opt= global=1024 algo=auto cost_model= speedup=1 out=
slowdown=1.32 gamma=0.11 budget=1.5e9 reuse=0
command="bash tools/sim/scale.sh $*"
while [[ $# -gt 0 ]]; do
  case $1 in
    --platform) platform=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --model) models=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --optimizer-ms) opt=$2; shift 2 ;;
    --global-batch) global=$2; shift 2 ;;
    --algo) algo=$2; shift 2 ;;
    --cost-model) cost_model=$(realpath "$2"); shift 2 ;;
    --compute-speedup) speedup=$2; shift 2 ;;
    --slowdown) slowdown=$2; shift 2 ;;
    --gamma-ns-per-byte) gamma=$2; shift 2 ;;
    --sim-bytes-budget) budget=$2; shift 2 ;;
    --reuse) reuse=1; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,39p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "scale.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
# name layers batch optimizer-ms (empty: the trace's optimizer row) per model
specs=()
if [[ -n $layers ]]; then
  [[ -n $batch && $models != *,* ]] || { echo "scale.sh: --layers needs --batch and one --model name" >&2; exit 2; }
  [[ -f $layers ]] || { echo "scale.sh: $layers not found" >&2; exit 2; }
  name=${models:-$(basename "$(dirname "$layers")")}
  specs+=("${name//:/-} $(realpath "$layers") $batch ${opt:--}")
else
  [[ -n $models ]] || { echo "scale.sh: give --model keras-cnn,solar-cnn,mlp:3200-1600-832, or --layers FILE --batch N" >&2; exit 2; }
  for m in ${models//,/ }; do
    case $m in
      keras-cnn) specs+=("keras-cnn $root/results/traces/keras-cnn-1rank/layers-min.csv 64 -") ;;
      solar-cnn) specs+=("solar-cnn $root/results/traces/solar-cnn/layers-min.csv 64 -") ;;
      mlp:3200-1600-832) specs+=("mlp-3200-1600-832 $root/results/traces/mlp-3200-1600-832/layers-min.csv 100 -") ;;
      *) echo "scale.sh: no trace for '$m' here: give --layers FILE --batch N" >&2; exit 2 ;;
    esac
  done
fi
if [[ -z $out ]]; then
  if ((${#specs[@]} == 1)); then out=$root/results/sim/scale-${specs[0]%% *}-$platform
  else out=$root/results/sim/scale-$platform; fi
fi
mkdir -p "$out"
[[ -n $cost_model ]] && export HPCNN_COST_MODEL=$cost_model
# The reducer's sizes for every model: the buffer, its 1 MiB blocks and the short head block.
all_sizes=1048576
for s in "${specs[@]}"; do
  read -r name file _ _ <<< "$s"
  all_sizes+=,$(python3 "$here/scale.py" --sizes-of "$file")
done
log=$out/sim.log
((reuse)) && [[ -f $log ]] || : >"$log"
echo "# $command  ($(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD)); sizes $all_sizes; load: $(uptime)" >>"$log"
for p in ${ranks//,/ }; do
  ((reuse)) && [[ -f $out/np$p.csv ]] && { echo "## $p ranks: kept np$p.csv (--reuse)" >>"$log"; continue; }
  sizes=$(python3 -c "
sizes = sorted({int(x) for x in '$all_sizes'.split(',')})
print(','.join(str(s) for s in sizes if s <= 1048576 or s <= float('$budget') / $p))")
  echo "## $p ranks: sizes $sizes (budget $budget bytes / p)" >>"$log"
  /usr/bin/time -f "## $p ranks: %e s wall, %U s user, %M KB peak" -a -o "$log" nice bash "$here/run.sh" \
    --platform "$platform" --nodes "$p" --cfg=smpi/simulate-computation:no -- --algo "$algo" --sizes "$sizes" \
    --iters 2 --warmup 1 --shared on --csv "$out/np$p.csv" >>"$log" 2>&1
done
py=python3  # the plots need matplotlib (tools/setup/install_deps.sh installs Debian's)
python3 -c 'import matplotlib' 2>/dev/null || { /usr/bin/python3 -c 'import matplotlib' 2>/dev/null && py=/usr/bin/python3; }
for s in "${specs[@]}"; do
  read -r name file b o <<< "$s"
  optarg=()
  [[ $o != - ]] && optarg=(--optimizer-ms "$o")
  $py "$here/scale.py" --layers "$file" --batch "$b" ${optarg[@]+"${optarg[@]}"} --sim "$out" --ranks "$ranks" \
    --global-batch "$global" --compute-speedup "$speedup" --slowdown "$slowdown" --gamma-ns-per-byte "$gamma" \
    --model "$name" --platform "$platform" --command "$command" --out "$out"
done
