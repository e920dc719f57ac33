#!/usr/bin/env bash
# hpcnn bench allreduce under mpirun: every algorithm reports #wrong = 0 on
# 2 and 3 ranks (and over pretend nodes), writes its CSV, and an unknown
# algorithm is a usage error on every rank.
source "$(dirname "$0")/lib.sh"
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)
export OMP_NUM_THREADS=1
for np in 2 3; do
  "${MPIRUN[@]}" -n $np "$HPCNN" bench allreduce -q --sizes 4,4K,1M --iters 2 --warmup 1 --csv ar$np.csv > table$np.txt
  for a in ring tree rhd central mpi shm hier; do
    [[ $(grep -c "^ *$a " table$np.txt) -eq 3 ]] && pass || fail "$np ranks: $a rows missing: $(cat table$np.txt)"
  done
  [[ $(awk -F, 'NR > 1 && $9 != 0' ar$np.csv | wc -l) -eq 0 && $(wc -l < ar$np.csv) -eq 22 ]] && pass \
    || fail "$np ranks: CSV wrong or #wrong > 0: $(cat ar$np.csv)"
done
"${MPIRUN[@]}" -n 4 "$HPCNN" bench allreduce -q --algo hier,shm,auto --sizes 1M --iters 2 --ranks-per-node 2 > pretend.txt
grep -q "2 node(s) of 2 (pretend)" pretend.txt && pass || fail "pretend nodes: $(cat pretend.txt)"
grep -q "shm  skipped" pretend.txt && pass || fail "shm not skipped over 2 nodes"
grep -Eq "^ +hier +262144 +1048576 .* 0$" pretend.txt && pass || fail "hier row: $(cat pretend.txt)"
start=$SECONDS
rc=0
"${MPIRUN[@]}" -n 2 "$HPCNN" bench allreduce -q --algo butterfly > out.txt 2> err.txt || rc=$?
# mpirun adds its own banner; the error itself must appear once, from rank 0.
[[ $rc -ne 0 && $(grep -c "usage error: unknown all-reduce algorithm 'butterfly'" err.txt) -eq 1 ]] && pass \
  || fail "bad algorithm: exit $rc, stderr: $(cat err.txt)"
(( SECONDS - start < 30 )) && pass || fail "bad algorithm took $((SECONDS - start)) s to end"
# NCCL reduces GPU buffers: without a GPU, one usage error and a non-zero exit.
if "$HPCNN" info | grep -qE '^GPUs +0'; then
  rc=0
  "${MPIRUN[@]}" -n 2 "$HPCNN" bench allreduce -q --algo nccl --sizes 1M --iters 2 > out.txt 2> err.txt || rc=$?
  [[ $rc -ne 0 ]] && grep -qE "usage error: --backend cuda: (no usable GPU|this build has no CUDA backend)" err.txt &&
    pass || fail "--algo nccl without a GPU: exit $rc, stderr: $(head -3 err.txt)"
fi
finish
