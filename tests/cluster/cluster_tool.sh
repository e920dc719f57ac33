#!/usr/bin/env bash
# tools/cluster/cluster.sh keeps its rules: nodes with their own names,
# addresses and counters; the subnet unreachable from the root namespace
# while up and never routed out of a node; links shaped when asked; every
# process recorded by PID; a second `up` refused; nothing stopped by name (a
# decoy `slurmd`/`munged` survives everything); and nothing left behind by
# `down`, also when the script using the cluster fails half-way or is killed.
source "$(dirname "$0")/lib.sh"

# A decoy named like the daemons, in the root namespace: nothing may stop it.
mkdir -p decoy
ln -s "$(command -v sleep)" decoy/slurmd
ln -s "$(command -v sleep)" decoy/munged
decoy/slurmd 300 & decoy1=$!
decoy/munged 300 & decoy2=$!
trap 'rc=$?; kill $decoy1 $decoy2 2> /dev/null; (exit $rc); cluster_teardown' EXIT

expect_exit 2 "--nodes takes 1..4" bash "$CLUSTER" up --nodes 9
# Without root it refuses with the reason and 77 (what ctest reports as skipped).
rc=0
runuser -u nobody -- bash "$CLUSTER" check > out.txt 2>&1 || rc=$?
[[ $rc -eq 77 ]] && grep -q "skipped: needs root and network namespaces" out.txt && pass \
  || fail "check as nobody: exit $rc: $(cat out.txt)"
cluster_up --nodes 2 --link 1gbit
grep -q "up: 2 node(s)" up.log && pass || fail "up: $(cat up.log)"

# Names, addresses, /etc/hosts of the cluster inside every node.
[[ $(on node1 hostname) == node1 && $(on node2 hostname) == node2 && $(on login hostname) == login ]] && pass \
  || fail "hostnames"
on node1 getent hosts node2 | grep -q "^10.213.0.2 " && pass || fail "node2 does not resolve on node1"
[[ $(hostname) != node1 ]] && pass || fail "the root namespace's hostname changed"
# Traffic stays inside: unreachable from the root namespace; no default route in a node.
ip route get 10.213.0.1 > out.txt 2>&1 && fail "10.213.0.1 is routable from the root namespace: $(cat out.txt)" || pass
grep -q "No route to host" out.txt && pass || fail "guard route missing: $(cat out.txt)"
on node1 ip route get 192.0.2.1 > out.txt 2>&1 && fail "node1 routes outside the subnet: $(cat out.txt)" || pass
[[ -z $(on node1 ip route show default) ]] && pass || fail "node1 has a default route"
# The link is shaped in both directions.
on node1 tc qdisc show dev eth0 | grep -q "tbf .*rate 1Gbit" && pass || fail "node1 egress not shaped"
tc -n hpcnn-sw qdisc show dev p-node1 | grep -q "tbf .*rate 1Gbit" && pass || fail "node1 ingress not shaped"
# Counters move when a node talks (bounded: one TCP connection, 1 MB).
read -r tx0 _ < <(bash "$CLUSTER" counters node1)
on node2 timeout 20 python3 -c "
import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('10.213.0.2', 5077)); s.listen(1)
c,_=s.accept(); n=0
while True:
    b=c.recv(65536)
    if not b: break
    n+=len(b)
print(n)" > got.txt &
srv=$!
sleep 0.5
on node1 timeout 20 python3 -c "
import socket; c=socket.create_connection(('node2', 5077)); c.sendall(b'x' * (1 << 20)); c.close()"
wait $srv
read -r tx1 _ < <(bash "$CLUSTER" counters node1)
[[ $(cat got.txt) == 1048576 ]] && (( tx1 - tx0 >= 1048576 )) && pass || fail "1 MiB node1 -> node2: got $(cat got.txt), tx grew $((tx1 - tx0))"

# The login node's environment: Open MPI over the cluster subnet, yielding when idle.
crun env > env.txt
grep -qx "OMPI_MCA_mpi_yield_when_idle=1" env.txt && grep -qx "OMPI_MCA_btl_tcp_if_include=10.213.0.0/24" env.txt \
  && grep -qx "OMPI_MCA_btl_tcp_eager_limit=524288" env.txt && grep -qx "OMPI_MCA_btl_tcp_sndbuf=4194304" env.txt \
  && [[ $(crun hostname) == login ]] && pass || fail "run's environment: $(grep OMPI env.txt)"

# Every process it started is recorded with its PID.
pids=$HPCNN_CLUSTER_STATE/pids
[[ $(grep -c " sleep " "$pids") -eq 3 ]] && pass || fail "anchors not recorded: $(cat "$pids")"
while read -r pid comm where; do
  [[ $(cat /proc/"$pid"/comm) == "$comm" ]] || fail "recorded pid $pid ($where) is not $comm"
done < "$pids"
expect_exit 1 "already up" bash "$CLUSTER" up
bash "$CLUSTER" slurm start > slurm.log 2>&1 && pass || fail "slurm start: $(cat slurm.log)"
[[ $(grep -c -- "-hpcnn " "$pids") -eq 4 ]] && pass || fail "daemons not recorded: $(cat "$pids")"
crun timeout 30 srun -N 2 hostname | sort | tr '\n' ' ' > out.txt
[[ $(cat out.txt) == "node1 node2 " ]] && pass || fail "srun -N 2 hostname: $(cat out.txt)"
bash "$CLUSTER" slurm stop > /dev/null 2>&1
[[ $(grep -c -- "-hpcnn " "$pids") -eq 0 ]] && pass || fail "daemons still listed after slurm stop"

# down: nothing left; the decoys live on.
cp "$pids" pids.up
bash "$CLUSTER" down > down1.log 2>&1 && pass || fail "down: $(cat down1.log)"
left=$(CLUSTER_PIDS=pids.up leftovers)
[[ -z $left ]] && pass || fail "after down: $left"
[[ ! -d $HPCNN_CLUSTER_STATE ]] && pass || fail "state directory left"

# A script that fails half-way (cluster, Slurm and an MPI job running) leaves nothing.
cat > failing.sh <<'SH'
source "$SOURCE_DIR/tests/cluster/lib.sh"
cluster_up --nodes 2
bash "$CLUSTER" slurm start > /dev/null
crun mpirun -H node1:1,node2:1 -np 2 sleep 300 > /dev/null 2>&1 &
for _ in $(seq 100); do ip netns pids hpcnn-node2 | grep -q . && [[ $(ip netns pids hpcnn-node2 | wc -l) -ge 3 ]] && break; sleep 0.1; done
cp "$HPCNN_CLUSTER_STATE/pids" "$OUT/pids.failing"
echo "failing on purpose" >&2
exit 3
SH
rc=0
OUT=$WORK bash failing.sh > failing.log 2>&1 || rc=$?
[[ $rc -eq 3 ]] && pass || fail "failing script: exit $rc: $(cat failing.log)"
left=$(CLUSTER_PIDS=pids.failing leftovers)
[[ -z $left ]] && pass || fail "after a failing script: $left"
[[ $(wc -l < pids.failing) -ge 7 ]] && pass || fail "the failing script recorded $(cat pids.failing)"

# A script killed with SIGKILL cannot clean up: the next user removes the stale cluster.
bash "$CLUSTER" up --nodes 1 > /dev/null 2>&1
cp "$HPCNN_CLUSTER_STATE/pids" pids.killed
rm -rf "$HPCNN_CLUSTER_STATE"   # as if the state were lost too
expect_exit 1 "exists but no cluster is recorded" bash "$CLUSTER" up
bash "$CLUSTER" down > /dev/null 2>&1
left=$(CLUSTER_PIDS=pids.killed leftovers)
[[ -z $left ]] && pass || fail "stale cluster not removed by down: $left"

kill -0 $decoy1 2> /dev/null && kill -0 $decoy2 2> /dev/null && pass || fail "a decoy slurmd/munged was stopped"
finish
