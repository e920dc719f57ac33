#!/usr/bin/env bash
# An emulated multi-node cluster on one Linux machine, for trying and testing
# hpcnn across a real network: every node is a network namespace (its own
# network stack, address and interface counters) with its own UTS namespace
# (hostname) and mount namespace (a private /etc/hosts naming the cluster, a
# sysfs of its own). The nodes hang off a bridge through veth links; Open MPI
# launches across them over TCP (tools/cluster/nsrsh plays ssh), and one
# slurmd per node with a slurmctld on the login node is a genuine multi-node
# Slurm. PIDs stay global (no PID namespace): shared memory works inside a
# node, and every process can be stopped by its PID from the root namespace.
#
#   cluster.sh check                      can namespaces be made here? (exit 77 with the reason if not)
#   cluster.sh up [--nodes N] [--link RATE] [--mtu BYTES]
#                                         login + node1..nodeN (N = 2 by default, at most 4);
#                                         --link shapes every link with tc tbf (e.g. 1gbit);
#                                         --mtu sets the links' MTU (default 1500; 9000 = jumbo frames)
#   cluster.sh shape RATE | unshape       (re)shape or unshape every link of a running cluster
#   cluster.sh exec NODE CMD...           run CMD in NODE's namespaces (NODE: login, node1, ...)
#   cluster.sh run [--on NODE] CMD...     run CMD on the login node (or NODE) with the cluster's
#                                         environment: Open MPI over the cluster subnet, nsrsh as its
#                                         ssh, yield_when_idle, SLURM_CONF of the cluster's Slurm
#   cluster.sh hosts [SLOTS]              the nodes, one per line ("node1 slots=SLOTS" with SLOTS)
#   cluster.sh counters NODE              bytes sent and received on NODE's link: "TX RX"
#   cluster.sh slurm start|stop           private munged, slurmctld on login, one slurmd per node
#   cluster.sh status                     nodes, addresses, shaping, recorded processes
#   cluster.sh down                       stop everything it started (by PID) and delete the namespaces
#
# Rules it keeps (tests/cluster/ checks each):
# - Traffic stays inside: the subnet 10.213.0.0/24 is never routed. No node
#   has a default route, the root namespace is not on the bridge, and while
#   the cluster is up an `unreachable` route for the subnet sits in the root
#   namespace, so a client started there by mistake fails at once instead of
#   sending packets out of the machine.
# - Every process it starts is recorded with its PID in $STATE/pids and is
#   stopped by that PID; `down` also stops, by PID, whatever else still runs
#   inside the cluster's own namespaces (jobs, orted, slurmstepd). Nothing is
#   ever stopped by name. `up` and `slurm start` tear down what they made when
#   they fail half-way.
# - OMPI_MCA_mpi_yield_when_idle=1 in `run`: the nodes share the machine's
#   cores, and Open MPI cannot see that oversubscription; it would busy-poll
#   (about 100x slower). And TCP messages up to 512 KiB sent eagerly into 4 MiB
#   socket buffers (see cluster_env).
#
# State: $HPCNN_CLUSTER_STATE (default /run/hpcnn-cluster). Needs root,
# iproute2 (ip, tc), util-linux (nsenter, unshare); Open MPI for `run mpirun`;
# munge, slurmctld, slurmd, slurm-client and slurm-wlm-basic-plugins (mpi/pmix)
# for `slurm`. Exit status: 0 ok, 1 failure, 2 usage, 77 namespaces unavailable.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${HPCNN_CLUSTER_STATE:-/run/hpcnn-cluster}
export HPCNN_CLUSTER_STATE=$STATE
NS_PREFIX=hpcnn-                 # every namespace it makes: hpcnn-sw, hpcnn-login, hpcnn-node1, ...
SWITCH=${NS_PREFIX}sw
NET=10.213.0                     # the private test subnet (/24), never routed
SUBNET=$NET.0/24
MAX_NODES=4
SLURM_DIR=$STATE/slurm
SLURM_CONF_FILE=$SLURM_DIR/slurm.conf

die() { echo "[cluster] error: $*" >&2; exit 1; }
usage() { echo "[cluster] usage: $*" >&2; exit 2; }
log() { echo "[cluster] $*"; }

addr_of() { if [[ $1 == login ]]; then echo "$NET.100"; else echo "$NET.${1#node}"; fi; }
hosts_up() { cat "$STATE/hosts" 2>/dev/null || true; }
nodes_up() { hosts_up | grep -v '^login$' || true; }
anchor_of() { cat "$STATE/$1.pid" 2>/dev/null || true; }
is_up() { [[ -s $STATE/hosts ]]; }

# record PID NAME WHERE: every process this tool starts goes into $STATE/pids.
record() { echo "$1 $2 $3" >> "$STATE/pids"; }

# alive PID COMM: true when PID still runs the program it was recorded for
# (guards against a recycled PID). A zombie waiting to be reaped is not alive.
alive() {
  [[ -d /proc/$1 && $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]] || return 1
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# stop_pids COMM PID...: TERM to every PID still running COMM, wait up to 10 s
# for all of them, then KILL what is left.
stop_pids() {
  local comm=$1 pid live
  shift
  for pid in "$@"; do alive "$pid" "$comm" && kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 100); do
    live=0
    for pid in "$@"; do alive "$pid" "$comm" && live=1; done
    [[ $live -eq 1 ]] || return 0
    sleep 0.1
  done
  for pid in "$@"; do alive "$pid" "$comm" && kill -9 "$pid" 2>/dev/null || true; done
}

check() {
  [[ $(id -u) -eq 0 ]] || { echo "skipped: needs root and network namespaces (not root)"; return 77; }
  local tool
  for tool in ip tc nsenter unshare; do
    command -v "$tool" > /dev/null || { echo "skipped: needs root and network namespaces ($tool not found)"; return 77; }
  done
  local probe=${NS_PREFIX}probe-$$
  if ! ip netns add "$probe" 2> /dev/null; then
    echo "skipped: needs root and network namespaces (ip netns add failed)"
    return 77
  fi
  local ok=0
  ip -n "$probe" link add p0 type veth peer name p1 2> /dev/null || ok=1
  ip netns del "$probe" 2> /dev/null || true
  [[ $ok -eq 0 ]] || { echo "skipped: needs root and network namespaces (no veth links)"; return 77; }
  return 0
}

# start_anchor HOST: one `sleep infinity` in HOST's net namespace plus its own
# UTS and mount namespaces; other processes join the node with nsenter -t PID.
start_anchor() {
  local h=$1
  mkdir -p "$STATE/cg-$h"
  # Own hostname and /etc/hosts; a sysfs of this netns (so /sys/class/net shows
  # the node's own eth0 and its counters), with the machine's cgroup mounts
  # kept under it (slurmd refuses to start without /sys/fs/cgroup).
  nsenter --net="/run/netns/$NS_PREFIX$h" -- unshare --uts --mount --propagation private -- /bin/sh -c "
    hostname $h && mount --bind '$STATE/etc-hosts' /etc/hosts &&
    mount --rbind /sys/fs/cgroup '$STATE/cg-$h' && mount -t sysfs sysfs /sys &&
    mount --move '$STATE/cg-$h' /sys/fs/cgroup && exec sleep infinity" \
    < /dev/null > "$STATE/anchor-$h.log" 2>&1 &
  local pid=$!
  echo "$pid" > "$STATE/$h.pid"
  record "$pid" sleep "$h"
}

up() {
  local n=2 link="" mtu=1500
  while [[ $# -gt 0 ]]; do
    case $1 in
      --nodes|-n) n=${2:?}; shift 2 ;;
      --link) link=${2:?}; shift 2 ;;
      --mtu) mtu=${2:?}; shift 2 ;;
      *) usage "up [--nodes N] [--link RATE] [--mtu BYTES]" ;;
    esac
  done
  [[ $n =~ ^[1-9]$ ]] && (( n <= MAX_NODES )) || usage "--nodes takes 1..$MAX_NODES, not '$n'"
  [[ $mtu =~ ^[0-9]+$ ]] && (( mtu >= 576 && mtu <= 65535 )) || usage "--mtu takes 576..65535, not '$mtu'"
  local reason rc=0
  reason=$(check) || rc=$?
  [[ $rc -eq 0 ]] || { echo "[cluster] $reason" >&2; exit "$rc"; }
  if is_up; then die "already up ($(hosts_up | tr '\n' ' ')); run '$0 down' first"; fi
  local list="login" i h
  for i in $(seq 1 "$n"); do list+=" node$i"; done
  for h in $list sw; do
    if ip netns list | awk '{print $1}' | grep -qx "$NS_PREFIX$h"; then
      die "network namespace $NS_PREFIX$h exists but no cluster is recorded in $STATE: run '$0 down' to remove it"
    fi
  done
  mkdir -p "$STATE"
  : > "$STATE/pids"
  # From here on a failure tears down whatever was made.
  trap 'rc=$?; if [[ $rc -ne 0 ]]; then echo "[cluster] up failed; tearing down" >&2; down > /dev/null 2>&1; fi' EXIT
  { echo "127.0.0.1 localhost"; for h in $list; do echo "$(addr_of "$h") $h"; done; } > "$STATE/etc-hosts"
  # The guard: from the root namespace the subnet is unreachable (it would
  # otherwise follow the default route out of the machine).
  ip route replace unreachable "$SUBNET"
  echo "$SUBNET" > "$STATE/guard-route"
  ip netns add "$SWITCH"
  ip -n "$SWITCH" link add br0 type bridge
  ip -n "$SWITCH" link set br0 up
  for h in $list; do
    ip netns add "$NS_PREFIX$h"
    echo "$h" >> "$STATE/hosts"
    ip -n "$SWITCH" link add "p-$h" type veth peer name eth0 netns "$NS_PREFIX$h"
    ip -n "$SWITCH" link set "p-$h" mtu "$mtu"
    ip -n "$NS_PREFIX$h" link set eth0 mtu "$mtu"
    ip -n "$SWITCH" link set "p-$h" master br0 up
    ip -n "$NS_PREFIX$h" link set lo up
    ip -n "$NS_PREFIX$h" addr add "$(addr_of "$h")/24" dev eth0
    ip -n "$NS_PREFIX$h" link set eth0 up
    start_anchor "$h"
  done
  for h in $list; do
    local pid=""
    for _ in $(seq 50); do
      pid=$(anchor_of "$h")
      [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */sleep ]] && break
      sleep 0.1
    done
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */sleep ]] ||
      die "node $h did not come up: $(cat "$STATE/anchor-$h.log")"
  done
  if [[ -n $link ]]; then shape "$link"; fi
  trap - EXIT
  for h in $list; do
    log "$h: $(addr_of "$h") (netns $NS_PREFIX$h, anchor pid $(anchor_of "$h"))"
  done
  log "up: $(nodes_up | wc -l) node(s) + login on $SUBNET${link:+, links shaped to $link}, MTU $mtu"
}

shape() {
  local rate=${1:-} burst=${2:-256kb}
  [[ -n $rate ]] || usage "shape RATE [BURST], e.g. shape 1gbit"
  is_up || die "the cluster is not up"
  local h
  for h in $(hosts_up); do
    # Both directions of every link: the node's egress and the switch port's
    # egress (the node's ingress). tbf only: this kernel has no netem.
    tc -n "$NS_PREFIX$h" qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 5ms
    tc -n "$SWITCH" qdisc replace dev "p-$h" root tbf rate "$rate" burst "$burst" latency 5ms
  done
  echo "$rate" > "$STATE/link"
}

unshape() {
  is_up || die "the cluster is not up"
  local h
  for h in $(hosts_up); do
    tc -n "$NS_PREFIX$h" qdisc del dev eth0 root 2> /dev/null || true
    tc -n "$SWITCH" qdisc del dev "p-$h" root 2> /dev/null || true
  done
  rm -f "$STATE/link"
}

node_exec() {
  local h=${1:-}
  [[ -n $h ]] || usage "exec NODE CMD..."
  shift
  [[ $# -gt 0 ]] || usage "exec NODE CMD..."
  local pid
  pid=$(anchor_of "$h")
  [[ -n $pid ]] || die "unknown node '$h' (up: $(hosts_up | tr '\n' ' '))"
  exec nsenter -t "$pid" -n -u -m --wd="$PWD" -- "$@"
}

# The environment of `run`: what a login shell on the cluster would have.
cluster_env() {
  echo "HPCNN_CLUSTER_STATE=$STATE"
  echo "SLURM_CONF=$SLURM_CONF_FILE"
  echo "OMPI_ALLOW_RUN_AS_ROOT=1"
  echo "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
  echo "OMPI_MCA_plm_rsh_agent=$HERE/nsrsh"
  echo "OMPI_MCA_btl=tcp,self,vader"
  echo "OMPI_MCA_btl_tcp_if_include=$SUBNET"
  echo "OMPI_MCA_oob_tcp_if_include=$SUBNET"
  echo "OMPI_MCA_hwloc_base_binding_policy=none"
  echo "OMPI_MCA_rmaps_base_oversubscribe=1"
  # Kept at 1 (issue 30): with 0 a bf16 step's communication thread used the
  # same CPU (3.8 against 3.6 ms a step and rank, medians of 5 rounds under
  # load) in more tests and wake-ups (91 / 73 against 64 / 46: without the
  # yield's pause it tests sooner), and every rank's blocking MPI calls (the
  # loss sums) would spin without giving way to the other threads on the
  # shared cores (results/overlap/bf16/README.md, "Cheaper conversions and
  # waits").
  echo "OMPI_MCA_mpi_yield_when_idle=1"
  # Whole 256 KiB pieces (hpcnn's chunks, src/comm/mpi/common.hpp) sent eagerly
  # into socket buffers that hold them: Open MPI's TCP default sends 64 KiB and
  # the rest only once the receiver, inside an MPI call, has answered, so every
  # piece waited for a round trip through both ranks' polling threads. A 1 MiB
  # ring all-reduce on 2 nodes at 1 Gbit/s under load 14: 8.8-13.9 ms and
  # 0.34-0.47 s CPU per rank for 110 of them, against 13.7-28.0 ms and
  # 0.50-0.56 s (results/overlap/bf16/README.md, issue 30).
  echo "OMPI_MCA_btl_tcp_eager_limit=524288"
  echo "OMPI_MCA_btl_tcp_sndbuf=4194304"
  echo "OMPI_MCA_btl_tcp_rcvbuf=4194304"
}

run() {
  local on=login
  if [[ ${1:-} == --on ]]; then on=${2:?}; shift 2; fi
  [[ $# -gt 0 ]] || usage "run [--on NODE] CMD..."
  is_up || die "the cluster is not up (run '$0 up' first)"
  local vars=()
  mapfile -t vars < <(cluster_env)
  node_exec "$on" env "${vars[@]}" "$@"
}

hosts_cmd() {
  local slots=${1:-} h
  for h in $(nodes_up); do
    if [[ -n $slots ]]; then echo "$h slots=$slots"; else echo "$h"; fi
  done
}

counters() {
  local h=${1:-}
  [[ -n $h ]] || usage "counters NODE"
  local pid
  pid=$(anchor_of "$h")
  [[ -n $pid ]] || die "unknown node '$h'"
  nsenter -t "$pid" -n -u -m -- sh -c 'echo "$(cat /sys/class/net/eth0/statistics/tx_bytes) $(cat /sys/class/net/eth0/statistics/rx_bytes)"'
}

# --- Slurm -------------------------------------------------------------------------
slurm_start() {
  is_up || die "the cluster is not up (run '$0 up' first)"
  if grep -q ' slurmctld-hpcnn ' "$STATE/pids" 2> /dev/null; then die "Slurm already started: '$0 slurm stop' first"; fi
  local p
  for p in munged slurmctld slurmd; do
    [[ -x /usr/sbin/$p ]] || die "/usr/sbin/$p not found (apt-get install munge slurmctld slurmd slurm-client)"
  done
  [[ -e /usr/lib/x86_64-linux-gnu/slurm-wlm/mpi_pmix.so ]] ||
    log "warning: no mpi/pmix plugin (apt-get install slurm-wlm-basic-plugins): srun --mpi=pmix will fail"
  local nodes first last
  nodes=$(nodes_up | tr '\n' ' ')
  first=$(nodes_up | head -1); last=$(nodes_up | tail -1)
  trap 'rc=$?; if [[ $rc -ne 0 ]]; then echo "[cluster] slurm start failed; stopping its daemons" >&2; slurm_stop > /dev/null 2>&1; fi' EXIT
  # Clean state every start: job ids restart at 1, so stale per-step sockets
  # (stepd.*.pmix) or pmix app dirs from an earlier run would collide.
  rm -rf "$SLURM_DIR"
  mkdir -p "$SLURM_DIR"/{munge,ctld,log,run,bin}
  for p in $nodes; do mkdir -p "$SLURM_DIR/spool/$p" "$SLURM_DIR/tmp/$p"; done
  runuser -u munge -- test -x "$SLURM_DIR" ||
    die "user munge cannot reach $SLURM_DIR (a parent directory is private): choose another HPCNN_CLUSTER_STATE"
  # The daemons run under names of their own, so that nothing else that
  # matches slurmd/munged by name can be confused with them (and our stop,
  # which checks /proc/PID/comm, never stops another program).
  ln -s /usr/sbin/munged "$SLURM_DIR/bin/munged-hpcnn"
  ln -s /usr/sbin/slurmctld "$SLURM_DIR/bin/slurmctld-hpcnn"
  ln -s /usr/sbin/slurmd "$SLURM_DIR/bin/slurmd-hpcnn"

  # munge: a private instance; a pathname unix socket is reachable from every
  # network namespace.
  local m=$SLURM_DIR/munge
  dd if=/dev/urandom of="$m/munge.key" bs=1 count=1024 status=none
  chown -R munge:munge "$m"
  chmod 0400 "$m/munge.key"
  chmod 0711 "$m"
  runuser -u munge -- "$SLURM_DIR/bin/munged-hpcnn" --socket="$m/munge.socket" --key-file="$m/munge.key" \
    --pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed"
  for _ in $(seq 50); do [[ -s $m/munged.pid ]] && break; sleep 0.1; done
  [[ -s $m/munged.pid ]] || die "munged did not start: $(tail -3 "$m/munged.log" 2>/dev/null)"
  record "$(cat "$m/munged.pid")" munged-hpcnn root
  munge -S "$m/munge.socket" -n | unmunge -S "$m/munge.socket" > /dev/null || die "munge does not answer"

  cat > "$SLURM_CONF_FILE" << CONF
# written by hpcnn tools/cluster/cluster.sh: the emulated cluster's Slurm
ClusterName=hpcnn-emulated
SlurmctldHost=login($(addr_of login))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$m/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$SLURM_DIR/ctld
SlurmdSpoolDir=$SLURM_DIR/spool/%n
# Per-node TmpFS: mpi/pmix puts its per-step directories there, which would
# collide between nodes sharing one /tmp.
TmpFS=$SLURM_DIR/tmp/%n
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd-%n.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd-%n.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=600
NodeName=node[${first#node}-${last#node}] NodeAddr=$NET.[${first#node}-${last#node}] CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=cluster Nodes=node[${first#node}-${last#node}] Default=YES MaxTime=60 State=UP
CONF

  # Foreground daemons (-D) started in the background: $! is the daemon itself,
  # since nsenter without -p execs without forking.
  nsenter -t "$(anchor_of login)" -n -u -m -- "$SLURM_DIR/bin/slurmctld-hpcnn" -D -c -i -f "$SLURM_CONF_FILE" \
    < /dev/null > "$SLURM_DIR/log/slurmctld.out" 2>&1 &
  record $! slurmctld-hpcnn login
  for p in $nodes; do
    nsenter -t "$(anchor_of "$p")" -n -u -m -- "$SLURM_DIR/bin/slurmd-hpcnn" -D -f "$SLURM_CONF_FILE" \
      < /dev/null > "$SLURM_DIR/log/slurmd-$p.out" 2>&1 &
    record $! slurmd-hpcnn "$p"
  done
  local want idle=""
  want=$(nodes_up | wc -l)
  for _ in $(seq 120); do
    idle=$(run sinfo -h -N -o %t 2> /dev/null | grep -c '^idle' || true)
    [[ $idle -eq $want ]] && break
    sleep 0.5
  done
  [[ $idle -eq $want ]] || die "Slurm nodes not idle: $(run sinfo -h -N -o '%N %t %E' 2>&1 | tr '\n' ';'); see $SLURM_DIR/log"
  trap - EXIT
  log "Slurm up: partition 'cluster', nodes $(nodes_up | tr '\n' ' ')(submit with: $0 run sbatch ...)"
}

slurm_stop() {
  [[ -s $STATE/pids ]] || return 0
  local kind pid comm where pids
  # slurmd first, then slurmctld, munged last
  for kind in slurmd-hpcnn slurmctld-hpcnn munged-hpcnn; do
    pids=()
    while read -r pid comm where; do
      [[ $comm == "$kind" ]] && alive "$pid" "$comm" && pids+=("$pid") && log "stopping $comm $pid ($where)"
    done < "$STATE/pids"
    [[ ${#pids[@]} -eq 0 ]] || stop_pids "$kind" "${pids[@]}"
  done
  grep -v -- '-hpcnn ' "$STATE/pids" > "$STATE/pids.tmp" || true
  mv "$STATE/pids.tmp" "$STATE/pids"
}

down() {
  local h pid ns
  # 1. The Slurm daemons, by their recorded PIDs.
  slurm_stop || true
  # 2. Anything still running inside one of our namespaces (a job, orted,
  #    slurmstepd) was started there by us or our daemons: stop it by PID, the
  #    anchors last. Namespaces with our prefix are ours even when the state
  #    directory was lost.
  local ours
  ours=$(ip netns list 2> /dev/null | awk '{print $1}' | grep "^$NS_PREFIX" || true)
  local anchors=" "
  while read -r pid comm where; do [[ $comm == sleep ]] && anchors+="$pid "; done < <(cat "$STATE/pids" 2> /dev/null || true)
  for sig in TERM KILL; do
    local left=0
    for ns in $ours; do
      for pid in $(ip netns pids "$ns" 2> /dev/null); do
        [[ $anchors == *" $pid "* ]] && continue
        [[ $sig == TERM ]] && log "stopping pid $pid left in $ns: $(tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | cut -c1-80)"
        kill -s "$sig" "$pid" 2> /dev/null || true
        left=1
      done
    done
    [[ $left -eq 1 && $sig == TERM ]] && sleep 2   # slurmstepd ignores TERM: KILL comes next
  done
  # shellcheck disable=SC2086  # the anchors' PIDs, one word each
  stop_pids sleep $anchors
  # Anchors of a lost state directory: whatever still lives in our namespaces.
  for ns in $ours; do
    for pid in $(ip netns pids "$ns" 2> /dev/null); do kill -9 "$pid" 2> /dev/null || true; done
  done
  # 3. The namespaces (the switch last: deleting a node's namespace deletes its veth pair).
  for ns in $ours; do
    [[ $ns == "$SWITCH" ]] && continue
    ip netns del "$ns" 2> /dev/null && log "deleted netns $ns" || true
  done
  if ip netns list 2> /dev/null | awk '{print $1}' | grep -qx "$SWITCH"; then
    ip netns del "$SWITCH" && log "deleted netns $SWITCH"
  fi
  # 4. The guard route, once nothing of the cluster is left.
  if ip route show type unreachable 2> /dev/null | grep -q "^unreachable $SUBNET"; then
    ip route del unreachable "$SUBNET" && log "removed the guard route (unreachable $SUBNET)"
  fi
  rm -rf "$STATE"
  log "down"
}

status() {
  if ! is_up; then
    echo "no cluster up (state: $STATE)"
    return 0
  fi
  local h
  for h in $(hosts_up); do
    echo "$h $(addr_of "$h") netns=$NS_PREFIX$h anchor=$(anchor_of "$h")"
  done
  echo "link: $(cat "$STATE/link" 2> /dev/null || echo unshaped)"
  echo "processes (pid name where):"
  sed 's/^/  /' "$STATE/pids"
}

cmd=${1:-}
shift || true
case $cmd in
  check) rc=0; check || rc=$?; [[ $rc -ne 0 ]] || echo "ok: network namespaces can be made here"; exit "$rc" ;;
  up) up "$@" ;;
  down) down ;;
  shape) shape "$@" ;;
  unshape) unshape ;;
  exec) node_exec "$@" ;;
  run) run "$@" ;;
  hosts) hosts_cmd "$@" ;;
  counters) counters "$@" ;;
  slurm)
    case ${1:-} in
      start) slurm_start ;;
      stop) slurm_stop ;;
      *) usage "slurm start|stop" ;;
    esac ;;
  status) status ;;
  -h|--help|help) sed -n '2,45p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '12,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
