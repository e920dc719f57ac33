#!/usr/bin/env bash
# Predicted training scaling on a simulated cluster (issue 29, item 6).
#
#   bash tools/sim/scale.sh --platform fattree-100g --ranks 16,64,256,1024 --model keras-cnn
#        [--layers layers.csv --batch 64 --optimizer-ms 2.3] [--global-batch 1024] [--algo auto]
#        [--cost-model cost_model.json] [--compute-speedup X] [--out results/sim/scale-MODEL-PLATFORM]
#
# Compute is not run: per-layer forward/backward times measured with
# `hpcnn train --trace` (hpcnn-merge summary's layers.csv, rank 0) are
# injected, scaled with the per-rank batch. Communication is simulated:
# hpcnn-sim runs the real all-reduce (--algo, default auto: the cost model's
# choice) on the platform for every block size the gradient reducer issues
# (1 MiB blocks, the short head block) and for the whole buffer. scale.py
# then schedules the blocks as the reducer does (each once backward has
# finished it, last block first, one after another) and writes weak and
# strong scaling tables with and without overlap, labelled *simulated*.
# --compute-speedup X divides the measured compute (ranks X times faster:
# what the same network does for GPUs); the tables then go to
# scaling-compute-xX.{md,csv}.
#
# --model keras-cnn takes results/traces/keras-cnn/layers.csv (batch 64 a
# rank, 1 thread, optimizer 2.29 ms: results/traces/README.md); another model
# needs --layers, --batch and --optimizer-ms.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
platform=fattree-100g ranks=16,64,256 model= layers= batch= opt= global=1024 algo=auto cost_model= speedup=1 out=
command="bash tools/sim/scale.sh $*"
while [[ $# -gt 0 ]]; do
  case $1 in
    --platform) platform=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --layers) layers=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --optimizer-ms) opt=$2; shift 2 ;;
    --global-batch) global=$2; shift 2 ;;
    --algo) algo=$2; shift 2 ;;
    --cost-model) cost_model=$(realpath "$2"); shift 2 ;;
    --compute-speedup) speedup=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "scale.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
if [[ $model == keras-cnn && -z $layers ]]; then
  layers=$root/results/traces/keras-cnn/layers.csv batch=${batch:-64} opt=${opt:-2.293}
fi
[[ -n $layers && -n $batch ]] || { echo "scale.sh: give --model keras-cnn, or --layers FILE --batch N" >&2; exit 2; }
[[ -f $layers ]] || { echo "scale.sh: $layers not found" >&2; exit 2; }
name=${model:-$(basename "$(dirname "$layers")")}
out=${out:-$root/results/sim/scale-${name//:/-}-$platform}
mkdir -p "$out"
[[ -n $cost_model ]] && export HPCNN_COST_MODEL=$cost_model
# The reducer's sizes: the buffer, its 1 MiB blocks and the short head block.
floats=$(python3 -c "
import csv, sys; sys.argv = ['scale.py']
exec(open('$here/scale.py').read().split('def main')[0])
rows = [r for r in csv.DictReader(open('$layers')) if r['rank'] == '0']
print(sum(params_per_layer(rows, 1)))")
head=$((floats % 262144))
sizes=$((floats * 4)),1048576
((head > 0)) && sizes=$sizes,$((head * 4))
log=$out/sim.log
echo "# $command  ($(date -u +%FT%TZ), $(git -C "$root" rev-parse --short HEAD)); $floats floats, sizes $sizes" >"$log"
for p in ${ranks//,/ }; do
  start=$(date +%s)
  /usr/bin/time -f "## $p ranks: %e s wall, %M KB peak" -a -o "$log" bash "$here/run.sh" --platform "$platform" \
    --nodes "$p" -- --algo "$algo" --sizes "$sizes" --iters 2 --warmup 1 --shared on --csv "$out/np$p.csv" >>"$log" 2>&1
done
python3 "$here/scale.py" --layers "$layers" --batch "$batch" --optimizer-ms "${opt:-0}" --sim "$out" --ranks "$ranks" \
  --global-batch "$global" --compute-speedup "$speedup" --model "$name" --platform "$platform" --command "$command" --out "$out"
