#!/usr/bin/env bash
# Starts a single-node Slurm on this machine (munge, slurmctld, slurmd), as
# root, for trying and testing jobs/slurm/ without a cluster. Idempotent: when
# the controller already answers and the node is idle, it does nothing.
#
#   bash tools/slurm/start_local_slurm.sh          # start (installs packages if missing)
#   bash tools/slurm/start_local_slurm.sh --stop   # stop the daemons it started
#
# Daemons are stopped only by the PIDs this script recorded (the pid files
# named in its slurm.conf, and munged's when this script started munged),
# after checking that each PID still runs that program: never by name, so
# another slurmd on the machine (an emulated cluster's, tools/cluster/) is
# never touched.
#
# Configuration written to /etc/slurm (only when no foreign slurm.conf is
# there; ours carries the marker line below):
#   partition "cpu" (default): this machine, its real CPUs and memory (slurmd -C)
#   partition "gpu": "gpunode01", a node that declares 8 GPUs (Gres=gpu:8) and
#                    runs no slurmd: a powered-down cloud node (State=CLOUD), so
#                    `sbatch --test-only -p gpu` can validate 8-GPU job scripts
#                    against it. Never submit there for real: the node never
#                    comes up and such a job fails after ResumeTimeout.
# Logs: /var/log/slurm/{slurmctld,slurmd}.log. State: /var/spool/slurm*.
set -euo pipefail
MARKER="# written by hpcnn tools/slurm/start_local_slurm.sh"
CONF=/etc/slurm/slurm.conf
log() { echo "[slurm] $*"; }
die() { echo "[slurm] error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (starts munged, slurmctld and slurmd)"

STATE=/run/hpcnn-local-slurm   # munged.started: munged's PID when this script started it
CTLD_PID=/run/slurmctld.pid SLURMD_PID=/run/slurmd.pid MUNGED_PID=/run/munge/munged.pid

# stop_recorded NAME PIDFILE: stops the PID in PIDFILE if it still runs NAME.
stop_recorded() {
  local name=$1 file=$2 pid
  pid=$(cat "$file" 2>/dev/null) || return 0
  if [[ $pid =~ ^[0-9]+$ && -d /proc/$pid && $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]; then
    kill "$pid"
    for _ in $(seq 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    [[ ! -d /proc/$pid ]] || kill -9 "$pid" 2>/dev/null || true
    log "stopped $name ($pid)"
  fi
  rm -f "$file"
}

stop_daemons() {
  # Only a configuration we wrote names pid files we own.
  [[ -f $CONF ]] && grep -qF "$MARKER" "$CONF" || return 0
  stop_recorded slurmd "$SLURMD_PID"
  stop_recorded slurmctld "$CTLD_PID"
}

if [[ ${1:-} == --stop ]]; then
  stop_daemons
  if [[ -s $STATE/munged.started ]]; then
    printf '%s\n' "$(cat "$STATE/munged.started")" > "$STATE/munged.pid"
    stop_recorded munged "$STATE/munged.pid"
    rm -f "$STATE/munged.started"
  fi
  exit 0
fi

node_ready() {
  local state
  state=$(sinfo -h -p cpu -o %t 2>/dev/null | head -1) || return 1
  [[ $state == idle || $state == mix || $state == alloc ]]
}

missing=()
for p in munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

if [[ -f $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
  die "$CONF exists and was not written by this script: refusing to touch a real Slurm configuration"
fi

# --- munge: the authentication daemon every Slurm call goes through -----------
mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
chmod 0700 /etc/munge /var/log/munge /var/lib/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n 2>/dev/null | unmunge > /dev/null 2>&1; then
  # A munged of ours that no longer answers: stop it by its recorded PID.
  if [[ -s $STATE/munged.started ]]; then
    cp "$STATE/munged.started" "$STATE/munged.pid"
    stop_recorded munged "$STATE/munged.pid"
  fi
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge > /dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge > /dev/null 2>&1 || die "munged did not start (see /var/log/munge/munged.log)"
  mkdir -p "$STATE"
  cat "$MUNGED_PID" > "$STATE/munged.started"
  log "munged started ($(cat "$MUNGED_PID"))"
fi

# --- slurm.conf ------------------------------------------------------------------
host=$(hostname -s)
node_line=$(slurmd -C | head -1)   # NodeName=HOST CPUs=.. Boards=.. ... RealMemory=..
[[ $node_line == NodeName=$host* ]] || die "slurmd -C gave an unexpected line: $node_line"
# Leave 5% of the memory to the system so slurmd never drains the node for it.
mem=$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<< "$node_line")
node_line=$(sed -E "s/RealMemory=[0-9]+/RealMemory=$((mem * 95 / 100))/" <<< "$node_line")
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
new_conf=$(cat <<CONF
$MARKER
# Single-node test cluster; see the script for what each part is for.
ClusterName=hpcnn-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
GresTypes=gpu
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=10
MinJobAge=3600
# gpunode01 is a powered-down cloud node: schedulable on paper, never started.
SuspendProgram=/bin/true
ResumeProgram=/bin/true
SuspendTime=600
ResumeTimeout=30
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
NodeName=gpunode01 NodeAddr=192.0.2.8 CPUs=64 Boards=1 SocketsPerBoard=2 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=512000 Gres=gpu:8 State=CLOUD
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=gpunode01 Default=NO MaxTime=INFINITE State=UP
CONF
)
if [[ -f $CONF && $(cat "$CONF") == "$new_conf" ]] && node_ready; then
  log "already running: $(sinfo -h -p cpu -o '%P: %D node(s), %t, %c CPUs')"
  exit 0
fi
printf '%s\n' "$new_conf" > "$CONF.tmp"
mv "$CONF.tmp" "$CONF"
printf '%s\nNodeName=gpunode01 Name=gpu File=/dev/nvidia[0-7]\n' "$MARKER" > /etc/slurm/gres.conf

# --- daemons -----------------------------------------------------------------------
stop_daemons
# -c: start from a clean state (the configuration changed; this is a test cluster).
/usr/sbin/slurmctld -c -i
/usr/sbin/slurmd
for _ in $(seq 60); do node_ready && break; sleep 0.5; done
if ! node_ready; then
  scontrol update nodename="$host" state=resume 2>/dev/null || true
  sleep 1
fi
node_ready || die "node $host is not idle: $(sinfo -h -N -o '%N %t %E' 2>&1 | head -3); see /var/log/slurm/"
log "running: $(sinfo -h -p cpu -o '%P: %D node(s), %t, %c CPUs'); gpu partition (for --test-only): gpunode01, 8 GPUs, powered down"
