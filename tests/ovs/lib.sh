# Shell functions shared by the end-to-end tests that run Debian's
# ovsdb-server, our ovs-vswitchd and a real dpxd in one private directory
# (tests/ovs/ovs_e2e_test.sh, tests/cni/cni_test.sh). Sourced, not run.
#
# The caller sets, before calling any of them:
#   DIR       the private directory (mktemp -d); OVS_RUNDIR, OVS_DBDIR,
#             OVS_LOGDIR and OVS_SYSCONFDIR are pointed there by
#             ovs_env_init, so the system's Open vSwitch is never touched
#   VSWITCHD, DPXD, DPXCTL   the binaries under test
#   TAG       a string unique to this test process (names, DPDK file prefix)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "=== $*"; }

# poll N CMD...: runs CMD every 0.1 s until it succeeds, at most N times.
poll() {
  local n=$1
  shift
  for ((i = 0; i < n; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
DPXD_PID=

# Exports the variables that put every OVS and dpxd file into $DIR.
ovs_env_init() {
  export OVS_RUNDIR=$DIR OVS_DBDIR=$DIR OVS_LOGDIR=$DIR OVS_SYSCONFDIR=$DIR
  export DPXD_SOCKET=$DIR/dpxd.sock
}

# Fails unless the tools the daemons need are installed.
ovs_check_tools() {
  local tool
  for tool in ovsdb-tool ovsdb-server ovs-vsctl ovs-ofctl ovs-appctl ip "$@"; do
    command -v "$tool" >/dev/null || fail "$tool not found: run scripts/install-deps.sh"
  done
  [[ -f $SCHEMA ]] || fail "$SCHEMA not found: install openvswitch-common"
}

print_logs() {
  if [[ -n $DPXD_PID ]] && kill -0 "$DPXD_PID" 2>/dev/null; then
    echo "----- dpxctl show"
    "$DPXCTL" --socket "$DPXD_SOCKET" show 2>&1 || true
    "$DPXCTL" --socket "$DPXD_SOCKET" pmd-stats-show 2>&1 || true
  fi
  for f in "$DIR"/ovs-vswitchd.log "$DIR"/dpxd.log "$DIR"/ovsdb-server.log; do
    [[ -f $f ]] || continue
    echo "----- $f (last 60 lines)"
    tail -n 60 "$f"
  done
}

stop_pidfile() {
  local f=$DIR/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}

stop_dpxd() {
  [[ -n $DPXD_PID ]] || return 0
  kill "$DPXD_PID" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$DPXD_PID" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$DPXD_PID" 2>/dev/null || true
  wait "$DPXD_PID" 2>/dev/null || true
  DPXD_PID=
}

# Stops all three daemons (each only if it runs).
stop_daemons() {
  stop_pidfile ovs-vswitchd
  stop_dpxd
  stop_pidfile ovsdb-server
}

start_ovsdb() {
  ovsdb-tool create "$DIR/conf.db" "$SCHEMA"
  ovsdb-server "$DIR/conf.db" --remote="punix:$DIR/db.sock" --pidfile --detach --no-chdir \
    --log-file="$DIR/ovsdb-server.log" -vconsole:off
  ovs-vsctl --no-wait init
}

# dpxd's default pool (32768 mbufs): a pool just big enough for the ports'
# rings runs dry while a burst of misses waits in the upcall queue, and an
# AF_XDP port whose fill ring emptied then receives nothing again.
# DPXD_FILE_PREFIX (default dpx$TAG) keeps its DPDK files apart.
start_dpxd() {
  "$DPXD" --no-huge --socket-mem 512 --pmd-cores 1 --control-socket "$DPXD_SOCKET" \
    --file-prefix "${DPXD_FILE_PREFIX:-dpx$TAG}" --log-level info >>"$DIR/dpxd.log" 2>&1 &
  DPXD_PID=$!
  poll 300 "$DPXCTL" --socket "$DPXD_SOCKET" show || fail "dpxd did not come up"
}

start_vswitchd() {
  "$VSWITCHD" "unix:$DIR/db.sock" --pidfile --detach --no-chdir --log-file="$DIR/ovs-vswitchd.log" \
    --disable-system -vconsole:off -vfile:dpif_dpx:dbg
  poll 300 ovs-appctl -t ovs-vswitchd version || fail "ovs-vswitchd did not come up"
}
