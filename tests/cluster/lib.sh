# Shared by the cluster tests (sourced): the integration helpers, plus an
# emulated cluster (tools/cluster/cluster.sh) that is torn down when the test
# exits, however it exits, and a check that nothing of it is left behind.
# Skips (exit 77) where network namespaces cannot be made (not root, no netns).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
: "${SOURCE_DIR:?set SOURCE_DIR to the checkout}"
CLUSTER=$SOURCE_DIR/tools/cluster/cluster.sh
export HPCNN_CLUSTER_STATE=$WORK/cluster-state
chmod 0711 "$WORK"   # the cluster's munged runs as user munge and must reach its socket
reason=$(bash "$CLUSTER" check) || { echo "SKIP: $reason"; exit 77; }

# leftovers: prints whatever of an emulated cluster is still there (namespaces,
# the guard route, recorded processes still running); empty when clean.
leftovers() {
  ip netns list 2> /dev/null | awk '{print $1}' | grep '^hpcnn-' | sed 's/^/netns /' || true
  ip route show type unreachable 2> /dev/null | grep '^unreachable 10.213.0.0/24' | sed 's/^/route /' || true
  if [[ -n ${CLUSTER_PIDS:-} && -f $CLUSTER_PIDS ]]; then
    local pid comm where
    local stat
    while read -r pid comm where; do
      [[ -d /proc/$pid && $(cat "/proc/$pid/comm" 2> /dev/null) == "$comm" ]] || continue
      stat=$(cat "/proc/$pid/stat" 2> /dev/null) || continue
      stat=${stat##*) }
      [[ ${stat%% *} == Z ]] && continue   # dead, waiting for init to reap it
      echo "process $pid $comm ($where)"
    done < "$CLUSTER_PIDS"
  fi
  return 0
}

cluster_teardown() {
  local rc=$?
  if [[ -d $HPCNN_CLUSTER_STATE ]]; then
    cp "$HPCNN_CLUSTER_STATE/pids" "$WORK/pids.last" 2> /dev/null || true
    bash "$CLUSTER" down > "$WORK/down.log" 2>&1 || true
  fi
  CLUSTER_PIDS=$WORK/pids.last
  local left
  left=$(leftovers)
  if [[ -n $left ]]; then
    echo "FAIL: left behind after teardown: $left" >&2
    rc=1
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cluster_teardown EXIT

# cluster_up ARGS...: brings the cluster up (a stale one from a killed run is
# removed first).
cluster_up() {
  if [[ -n $(leftovers) ]]; then
    echo "removing a stale emulated cluster: $(leftovers | tr '\n' ' ')"
    bash "$CLUSTER" down > /dev/null 2>&1 || true
  fi
  bash "$CLUSTER" up "$@" > "$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "cluster up"; exit 1; }
}

# on NODE CMD...: runs CMD in NODE's namespaces.   crun CMD...: on the login node with the cluster's environment.
on() { bash "$CLUSTER" exec "$@"; }
crun() { bash "$CLUSTER" run "$@"; }
