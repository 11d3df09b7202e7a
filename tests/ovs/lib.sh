# Helpers shared by the OVS end-to-end tests (tests/ovs/*_test.sh). Sourced,
# not run; bash only, and the caller runs under `set -euo pipefail`.
#
# The caller sets VSWITCHD, DPXD and DPXCTL (the binaries under test).
#
# An "instance" is one emulated host's control plane: Debian's ovsdb-server,
# our ovs-vswitchd and a dpxd, with every file (database, sockets, pid files,
# logs) in one directory and, optionally, running inside a network namespace.
# `use_instance DIR [NETNS]` makes it the current one: it exports OVS_RUNDIR,
# OVS_DBDIR, OVS_LOGDIR, OVS_SYSCONFDIR and DPXD_SOCKET, which ovs-vsctl,
# ovs-appctl, ovs-ofctl and the dpx provider follow, so the plain commands
# then talk to that instance and the system's Open vSwitch is never touched.
#
# Cleanup: on exit, failed or not, every instance's logs are printed if the
# test failed and its daemons are stopped; then the commands registered with
# `at_exit CMD...` run in reverse order of registration. The trap is
# installed by `lib_init`.

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "=== $*"; }

# poll N CMD...: runs CMD every 0.1 s until it succeeds, at most N times.
# The bound only stops a broken test from hanging; nothing waits for a time.
poll() {
  local n=$1 i
  shift
  for ((i = 0; i < n; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# require_tools TOOL...: fails with a hint if one is missing.
require_tools() {
  local tool
  ((EUID == 0)) || fail "needs root (network namespaces, veth pairs, AF_XDP)"
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool not found: run scripts/install-deps.sh"
  done
  [[ -f $OVS_SCHEMA ]] || fail "$OVS_SCHEMA not found: install openvswitch-common"
}
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema

# A short tag unique to this run, for names (interface names are at most 15
# characters, so prefixes should be at most 6).
TAG=$(printf '%x' $(($$ % 65536)))

_AT_EXIT=()
_INSTANCES=()
at_exit() { _AT_EXIT+=("$*"); }

_lib_cleanup() {
  local rc=$? i d
  set +e
  if [[ -n ${DPX_TEST_KEEP:-} ]]; then
    # For debugging a test by hand: leave everything as it is.
    echo "DPX_TEST_KEEP: left running; files in $DIR" >&2
    exit $rc
  fi
  for d in "${_INSTANCES[@]}"; do
    use_instance $d
    ((rc == 0)) || print_logs
    stop_instance
  done
  for ((i = ${#_AT_EXIT[@]} - 1; i >= 0; i--)); do eval "${_AT_EXIT[i]}" 2>/dev/null; done
  ((rc == 0)) && echo "PASS" || echo "FAILED (exit $rc)"
  exit $rc
}

# lib_init: installs the cleanup trap and makes the run's directory $DIR.
lib_init() {
  DIR=$(mktemp -d /tmp/dpx-ovs-e2e.XXXXXX)
  trap _lib_cleanup EXIT
  at_exit "rm -rf '$DIR'"
}

# use_instance DIR [NETNS]: makes DIR (and NETNS, "" for the test's own)
# the current instance.
use_instance() {
  INST_DIR=$1
  INST_NS=${2:-}
  export OVS_RUNDIR=$INST_DIR OVS_DBDIR=$INST_DIR OVS_LOGDIR=$INST_DIR OVS_SYSCONFDIR=$INST_DIR
  export DPXD_SOCKET=$INST_DIR/dpxd.sock
}

# in_ns CMD...: runs CMD in the current instance's network namespace.
in_ns() {
  if [[ -n $INST_NS ]]; then ip netns exec "$INST_NS" "$@"; else "$@"; fi
}

dpxctl() { "$DPXCTL" --socket "$DPXD_SOCKET" "$@"; }

# new_instance DIR [NETNS]: creates the instance's directory, makes it
# current and registers it for log printing and cleanup.
new_instance() {
  mkdir -p "$1"
  use_instance "$1" "${2:-}"
  _INSTANCES+=("$1 ${2:-}")
}

print_logs() {
  local f
  echo "##### instance $INST_DIR ${INST_NS:+(netns $INST_NS)}"
  if dpxd_running; then
    echo "----- dpxctl show"
    dpxctl show 2>&1 || true
    dpxctl pmd-stats-show 2>&1 || true
  fi
  for f in "$INST_DIR"/ovs-vswitchd.log "$INST_DIR"/dpxd.log "$INST_DIR"/ovsdb-server.log; do
    [[ -f $f ]] || continue
    echo "----- $f (last 60 lines)"
    tail -n 60 "$f"
  done
}

# pid_alive PID: the process exists and is not a zombie (dpxd is the
# test's child and stays one until waited for).
pid_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# stop_pidfile NAME: stops the daemon whose pid is in the instance's
# NAME.pid: SIGTERM, then SIGKILL after 10 s.
stop_pidfile() {
  local f=$INST_DIR/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f" 2>/dev/null) || return 0
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do pid_alive "$pid" || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true # reaps our own children (dpxd)
  rm -f "$f"
}

start_ovsdb() {
  ovsdb-tool create "$INST_DIR/conf.db" "$OVS_SCHEMA"
  ovsdb-server "$INST_DIR/conf.db" --remote="punix:$INST_DIR/db.sock" --pidfile --detach \
    --no-chdir --log-file="$INST_DIR/ovsdb-server.log" -vconsole:off
  ovs-vsctl --no-wait init
}

# start_dpxd [DPXD_OPTION...]: starts dpxd in the instance's namespace with
# an EAL file prefix of its own (so that several dpxd processes coexist) on
# PMD core 1 (core 0 on a single-core machine). Idle PMDs sleep (dpxd's
# default --pmd-sleep-max-us), so several dpxd may share the core.
# dpxd's default pool (32768 mbufs): a pool just big enough for the ports'
# rings runs dry while a burst of misses waits in the upcall queue, and an
# AF_XDP port whose fill ring emptied then receives nothing again.
start_dpxd() {
  local core=1 prefix
  (($(nproc) > 1)) || core=0
  prefix=dpxovs$TAG$(basename "$INST_DIR")
  local cmd=("$DPXD" --no-huge --socket-mem 512 --pmd-cores $core --control-socket "$DPXD_SOCKET"
    --file-prefix "$prefix" --log-level info "$@")
  [[ -z $INST_NS ]] || cmd=(ip netns exec "$INST_NS" "${cmd[@]}")
  # A simple command, not a function (which would run in a subshell): $! is
  # dpxd's pid, as `ip netns exec` replaces itself with dpxd.
  "${cmd[@]}" >>"$INST_DIR/dpxd.log" 2>&1 &
  echo $! >"$INST_DIR/dpxd.pid"
  poll 300 dpxctl show || fail "dpxd did not come up"
}

dpxd_running() {
  [[ -f $INST_DIR/dpxd.pid ]] && pid_alive "$(cat "$INST_DIR/dpxd.pid")"
}

stop_dpxd() {
  stop_pidfile dpxd
}

start_vswitchd() {
  in_ns "$VSWITCHD" "unix:$INST_DIR/db.sock" --pidfile --detach --no-chdir \
    --log-file="$INST_DIR/ovs-vswitchd.log" --disable-system -vconsole:off -vfile:dpif_dpx:dbg
  poll 300 ovs-appctl -t ovs-vswitchd version || fail "ovs-vswitchd did not come up"
}

# start_instance [DPXD_OPTION...]: ovsdb-server, dpxd, ovs-vswitchd.
start_instance() {
  start_ovsdb
  start_dpxd "$@"
  start_vswitchd
}

stop_instance() {
  stop_pidfile ovs-vswitchd
  stop_dpxd
  stop_pidfile ovsdb-server
}

log_has() { grep -q -- "$1" "$INST_DIR/ovs-vswitchd.log"; }

# add_container NETNS IFNAME IP/PLEN [HOST_NETNS] [MTU]: a "container": a
# network namespace whose eth0 is one end of a veth pair; the other end,
# IFNAME, is left up in HOST_NETNS (default: ours) for the switch. IPv6 is
# off (no stray router solicitations), and so is tx checksum offload: the
# container's kernel would leave checksums to a NIC that is not there
# (CHECKSUM_PARTIAL), and a userspace switch forwards frames as they are.
add_container() {
  local ns=$1 ifname=$2 addr=$3 host_ns=${4:-} mtu=${5:-}
  ip netns add "$ns"
  at_exit "ip netns del '$ns'"
  ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
  if [[ -n $host_ns ]]; then
    ip -n "$host_ns" link add "$ifname" type veth peer name eth0 netns "$ns"
    ip -n "$host_ns" link set "$ifname" up
  else
    ip link add "$ifname" type veth peer name eth0 netns "$ns"
    at_exit "ip link del '$ifname'"
    ip link set "$ifname" up
  fi
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  [[ -z $mtu ]] || ip -n "$ns" link set eth0 mtu "$mtu"
  ip -n "$ns" addr add "$addr" dev eth0
  ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
}

# mac_of NETNS [IFNAME]: the interface's MAC address.
mac_of() { ip -n "$1" link show "${2:-eth0}" | awk '/link\/ether/ {print $2}'; }

# Counters of the namespace's eth0 (/sys/class/net/eth0/statistics/$2).
ifcount() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }

# dpxd_port_count PORT RX|TX: dpxd's packet counter of a port, from dpxctl.
dpxd_port_count() {
  dpxctl show | sed -n "/: $1 (/,/$2 packets/p" | sed -n "s/.*$2 packets:\([0-9]*\).*/\1/p"
}
# Misses dpxd could not send up (its datapath "lost" counter).
dpxd_lost() { dpxctl show | sed -n 's/.*lookups:.* lost:\([0-9]*\).*/\1/p'; }
# Everything dpxd dropped or could not send up: its per-reason drop
# counters, lost misses and upcall queue drops.
dpxd_drops() {
  dpxctl pmd-stats-show | awk '/^  drops:/ {d = 1; next} d && /^    / {n += $2} END {print n + 0}'
}
# odp_port NAME: the port's number in dpctl/show.
odp_port() { ovs-appctl dpctl/show | sed -n "s/.*port \([0-9]*\): $1[ (].*/\1/p;s/.*port \([0-9]*\): $1\$/\1/p"; }

# wait_listening NETNS PORT tcp|udp: polls until something listens there.
wait_listening() {
  local opt=-ltnH
  [[ $3 == udp ]] && opt=-lunH
  poll 100 sh -c "ip netns exec $1 ss $opt 'sport = :$2' | grep -q ." ||
    fail "nothing listens on $3 port $2 in $1"
}
