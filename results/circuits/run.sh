#!/usr/bin/env bash
# Seed 000 (Image2Circuit): circuit-cnn, 35 epochs, batch 32, Adam 1e-3, with
# augmentation when data is loaded (--augment on), on the synthetic circuit
# symbols (hpcnn data synth circuits: 8,000 training / 2,000 test images,
# 4 balanced classes; 10% of training held out for validation).
#
#   accuracy/  35 epochs: 1 rank x 2 threads with and without --augment, and
#              2 ranks x 1 thread (ring) with it: test accuracy, curves,
#              confusion matrix (PNG + CSV) of each
#   strategy/  the seeds' ReductionToOneDevice (`central`) against `ring`
#              and `auto` on 2 ranks x 1 thread, 3 epochs each, alternated:
#              time per epoch and the communication share (hpcnn-merge)
#
#   bash results/circuits/run.sh                 # all (~35 min on 2 idle cores)
#   bash results/circuits/run.sh strategy        # one part
#   HPCNN_EPOCHS=1 HPCNN_STRATEGY_EPOCHS=1 bash results/circuits/run.sh   # a quick check of the script
# Knobs: HPCNN_CIRCUIT_RUNS (accuracy runs, default "augmented-1x2 augmented-2x1
# plain-1x2"), HPCNN_STRATEGY_REPEATS (default 2).
# Needs a release build and /usr/bin/python3 with numpy, h5py, matplotlib.
set -euo pipefail
cd "$(dirname "$0")/../.."
HPCNN=${HPCNN:-build/release/bin/hpcnn}
MERGE=${HPCNN_MERGE:-build/release/bin/hpcnn-merge}
PY=/usr/bin/python3
OUT=results/circuits
RUNS=${HPCNN_RUNS:-results/runs/circuits}
DATA=datasets/circuits
MPIRUN=(mpirun --allow-run-as-root --bind-to none --mca btl self,vader)
parts=("$@")
[[ ${#parts[@]} -gt 0 ]] || parts=(accuracy strategy)
lscpu | grep "Model name" | tee "$OUT/cpu.txt"
nproc --all >> "$OUT/cpu.txt"
if [[ ! -f $DATA/manifest.json ]]; then
  $HPCNN data synth circuits -q --train 8000 --test 2000 --shards 4 --out $DATA > /dev/null
fi
$HPCNN data augment -q $DATA --augment on --samples 8 --epochs 6 --out $OUT/augmented.png
common=(train -q --force --model circuit-cnn --data $DATA --validation-split 0.1 --seed 42 --checkpoint-every off)

run_accuracy() {
  # name ranks threads augment
  local name=$1 ranks=$2 threads=$3 augment=$4 dir=$RUNS/$1
  local launch=()
  [[ $ranks -gt 1 ]] && launch=("${MPIRUN[@]}" -n "$ranks" -x OMP_NUM_THREADS="$threads")
  echo "== $name: $ranks rank(s) x $threads thread(s), --augment $augment, ${HPCNN_EPOCHS:-35} epochs"
  OMP_NUM_THREADS=$threads "${launch[@]}" $HPCNN "${common[@]}" --epochs "${HPCNN_EPOCHS:-35}" --global-batch 32 \
    --threads "$threads" --augment "$augment" --allreduce ring --out "$dir" | grep '^result:' | tee "$OUT/$name.result.txt"
  $HPCNN infer -q -c "$dir/model.h5" --data $DATA --batch-sizes '' --predictions "$dir/predictions.csv" > /dev/null
  mkdir -p "$OUT/$name"
  cp "$dir/metrics.json" "$dir/run.json" "$OUT/$name/"
  $PY $OUT/summarise.py confusion "$dir/predictions.csv" $DATA/manifest.json --out "$OUT/$name"
}

for part in "${parts[@]}"; do
  case $part in
    accuracy)
      for name in ${HPCNN_CIRCUIT_RUNS:-augmented-1x2 augmented-2x1 plain-1x2}; do
        case $name in
          augmented-1x2) run_accuracy $name 1 2 on ;;
          augmented-2x1) run_accuracy $name 2 1 on ;;
          plain-1x2) run_accuracy $name 1 2 off ;;
          *) echo "unknown run '$name'" >&2; exit 2 ;;
        esac
      done
      curves=() labels=()
      for name in augmented-1x2 augmented-2x1 plain-1x2; do
        [[ -d $OUT/$name ]] || continue
        curves+=("$OUT/$name")
        labels+=("$name")
      done
      $PY tools/plot/hpcnn_plot.py curves "${curves[@]}" --labels "$(IFS=,; echo "${labels[*]}")" \
        --title "circuit-cnn, synthetic circuits, batch 32" --out $OUT > /dev/null
      ;;
    strategy)
      rm -rf "$OUT/strategy"
      mkdir -p "$OUT/strategy"
      for rep in $(seq "${HPCNN_STRATEGY_REPEATS:-2}"); do
        for algo in central ring auto; do
          dir=$RUNS/strategy-$algo-$rep
          echo "== strategy $algo, repeat $rep: 2 ranks x 1 thread, 3 epochs"
          "${MPIRUN[@]}" -n 2 -x OMP_NUM_THREADS=1 $HPCNN "${common[@]}" --epochs "${HPCNN_STRATEGY_EPOCHS:-3}" --global-batch 32 --threads 1 \
            --augment on --allreduce $algo --out "$dir" > /dev/null
          $MERGE summary -q "$dir" --no-trace -o "$OUT/strategy/$algo-$rep" > /dev/null
          cp "$dir/metrics.json" "$OUT/strategy/$algo-$rep/"
        done
      done
      ;;
    *) echo "unknown part '$part' (accuracy, strategy)" >&2; exit 2 ;;
  esac
done
$PY $OUT/summarise.py table $OUT > $OUT/results.md
cat $OUT/results.md
