"""The three things that forward the benchmark traffic, behind one interface.

Each switch is started for one measurement with the same source (net_pcap
replaying a pcap file, infinite_rx=1) and the same sink (net_null, no-rx=1),
with its one PMD / forwarding lcore on the same CPU, and stopped afterwards.
A switch reads its rates from its own counters:

  Testpmd   DPDK testpmd in io mode: no lookup at all, the harness ceiling
  OvsDpdk   Debian's ovs-vswitchd-dpdk with its own ovsdb-server, run
            directory and database in a temporary directory (a system OVS,
            if there is one, is never touched), datapath_type=netdev
  DpxOvs    dpxd from the build tree programmed by our ovs-vswitchd
            (<build>/ovs/ovs-vswitchd, datapath_type=dpx) with exactly the
            OpenFlow rules OVS-DPDK gets: the comparison that counts
  Dpxd      dpxd from the build tree, configured through dpxctl with the
            megaflows OVS-DPDK would install (an extra row)

Port numbers are the same everywhere: the source is port 1 (OpenFlow port
for OVS, odp port for dpxd) and the sink port 2, so a scenario's rules are
written once per switch kind and need no lookup of numbers. Scenarios with
more ports (flow setup: a second source and sink) list them in the spec as
(name, devargs, number); the source port is always added last, after the
rules, because it starts sending as soon as it is up.
"""

import concurrent.futures
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from . import parse, vxlan

SRC_PORT = 1
SINK_PORT = 2
SINK_DEVARGS = "net_null0,no-rx=1"


def src_devargs(pcap):
    return f"net_pcap0,rx_pcap={pcap},infinite_rx=1"


def _die_with_harness():
    """preexec_fn of every long-lived child: SIGTERM it when the harness
    dies, even by SIGKILL, so no busy-polling switch outlives a run."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(cmd, **kw):
    return subprocess.Popen(cmd, preexec_fn=_die_with_harness, **kw)


def remove_hugepage_files(prefix):
    """Removes the hugepage files and the runtime directory an EAL with
    --file-prefix `prefix` left.

    dpxd and testpmd run --in-memory and leave none; ovs-vswitchd-dpdk maps
    files named <prefix>map_N under the hugetlbfs mount, which stay (and
    keep their pages) if it was killed. Only our own prefix is touched.
    """
    for mount in ("/dev/hugepages", "/mnt/huge"):
        try:
            names = os.listdir(mount)
        except OSError:
            continue
        for n in names:
            if n.startswith(prefix + "map_") or n == prefix + "map":
                try:
                    os.unlink(os.path.join(mount, n))
                except OSError:
                    pass
    # The EAL's runtime directory for the prefix: empty once the process
    # is gone (--in-memory / --no-shconf keep no files in it), but left.
    rundir = os.path.join("/var/run/dpdk", prefix)
    for n in ("dpdk_telemetry.v2", "telemetry", "mp_socket"):
        try:
            os.unlink(os.path.join(rundir, n))
        except OSError:
            pass
    try:
        os.rmdir(rundir)
    except OSError:
        pass


def keep_off_cpu(pid, cpu):
    """Moves every thread of `pid` that may run on `cpu`, other than those
    pinned to it alone (the PMD), to the other CPUs.

    The harness starts every switch off the PMD's CPU, but ovs-vswitchd
    widens its own affinity: OVS 3.1's TSC estimate (dpif-netdev-perf.c,
    linked into our ovs-vswitchd too) pins the thread for a moment and
    "restores" all CPUs, and its handler and revalidator threads, created
    later, inherit that. They would then take the PMD's CPU from dpxd's PMD
    during upcalls and flow dumps.
    """
    others = set(range(os.cpu_count() or 1)) - {cpu}
    if not others:
        return
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return
    for tid in tids:
        try:
            allowed = os.sched_getaffinity(int(tid))
            if cpu in allowed and allowed != {cpu}:
                os.sched_setaffinity(int(tid), others)
        except OSError:
            pass  # the thread exited meanwhile


class SwitchError(RuntimeError):
    """A switch failed to start, to configure, or died while measured."""


def run(cmd, env=None, timeout=120, check=True):
    """Runs a command, returns its stdout; raises SwitchError on failure."""
    try:
        p = subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, text=True)
    except subprocess.TimeoutExpired as e:
        raise SwitchError(f"{' '.join(cmd)}: timed out after {timeout}s") from e
    if check and p.returncode != 0:
        raise SwitchError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p.stdout


def wait_for(cond, what, timeout=60.0, interval=0.05):
    """Polls cond() until it returns a true value; the bound only stops a hang."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (SwitchError, parse.ParseError) as e:
            last_exc = e
        time.sleep(interval)
    raise SwitchError(f"timed out waiting for {what}"
                      + (f" (last error: {last_exc})" if last_exc else ""))


def stop_process(proc, sig=signal.SIGTERM, timeout=15.0):
    """Signals one child process we started and reaps it (SIGKILL as a last resort)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Still exiting after SIGKILL (in the kernel, unmapping its
            # memory): it cannot run again; do not let cleanup stop here.
            print(f"harness: pid {proc.pid} still exiting after SIGKILL", flush=True)


def log_tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class Switch:
    """One switch instance for one measurement. Use as a context manager:
    __exit__ stops every process it started and removes its files, also when
    the measurement failed.

    Subclasses implement start(spec), counters(), pmd_clear(), pmd_cycles()
    and stop(). counters() returns {"sink_tx": n, "src_rx": n, "flows": n,
    "misses": n, "lost": n, "ports": {...}} read from the switch's own
    statistics (flows: datapath flows, misses: datapath lookups that missed
    or were lost, lost: those lost, ports: every port's counters by name as
    parse.dpctl_show gives them; none of these for testpmd); pmd_cycles() returns the PMD's processing cycles per packet
    since pmd_clear(), or None where the switch has no such counter. All of
    them are called from the harness's one thread; stop() may be called more
    than once and after a failed start().
    """

    name = ""
    label = ""

    def __init__(self, cpu=1, workdir=None):
        self.cpu = cpu
        self.dir = tempfile.mkdtemp(prefix=f"dpxbench-{self.name}.", dir=workdir)
        self.prefix = f"dpxbench{self.name}{os.getpid()}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            # The switch's own EAL, a v2v guest's ("g") and dpxd's under
            # ovs-vswitchd ("dp").
            for prefix in (self.prefix, self.prefix + "g", self.prefix + "dp"):
                remove_hugepage_files(prefix)
        return False

    def alive(self):
        return True

    def pid(self):
        """The process whose PMD thread runs on self.cpu, or None."""
        return None

    def describe_failure(self):
        return ""

    def memory_pids(self):
        """Every process of this switch whose memory scenario 9 counts."""
        return [p for p in (self.pid(),) if p]

    def poll_counters(self):
        """counters(), for polling often (scenario 6's storm): switches
        whose counters() starts a process override it with a cheaper way."""
        return self.counters()


class Unixctl:
    """A JSON-RPC connection to an OVS daemon's unixctl socket, the
    protocol ovs-appctl speaks, kept open: a call costs the daemon what an
    ovs-appctl command does, and this side no process (ovs-appctl's start-up
    would otherwise run beside the switch's own threads at every poll)."""

    def __init__(self, path, timeout=60.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0
        self.decoder = json.JSONDecoder()

    def call(self, method, *params):
        self.next_id += 1
        self.sock.sendall(json.dumps({"method": method, "params": list(params),
                                      "id": self.next_id}).encode())
        while True:
            text = self.buf.decode(errors="replace").lstrip()
            try:
                reply, end = self.decoder.raw_decode(text) if text else (None, 0)
            except ValueError:  # not all of it yet
                reply = None
            if reply is not None:
                self.buf = text[end:].encode()
                if reply.get("id") != self.next_id:
                    continue
                if reply.get("error") is not None:
                    raise SwitchError(f"{method}: {reply['error']}")
                return reply.get("result") or ""
            try:
                data = self.sock.recv(1 << 16)
            except OSError as e:
                raise SwitchError(f"{method}: {e}") from e
            if not data:
                raise SwitchError(f"{method}: the daemon closed its control socket")
            self.buf += data

    def close(self):
        self.sock.close()


class Testpmd(Switch):
    """dpdk-testpmd forwarding port 0 (pcap) to port 1 (null) in io mode.

    testpmd runs interactively with stdin and stdout on pipes: `start`
    begins forwarding and `show port stats all` prints the counters. Port 0
    is the pcap source and port 1 the sink because testpmd numbers vdevs in
    the order they are given. It has no rules: it is the ceiling of what the
    source and sink allow on this core.
    """

    name = "testpmd"
    label = "testpmd io (ceiling)"

    def __init__(self, binary="dpdk-testpmd", **kw):
        super().__init__(**kw)
        self.binary = binary
        self.proc = None
        self.buf = b""
        self.lock = threading.Lock()

    def start(self, spec):
        mbufs = max(32768, spec.pcap_packets + 32768)
        # stdbuf: testpmd prints its reports with stdio, which a pipe would
        # otherwise buffer until exit.
        cmd = ["stdbuf", "-oL", self.binary, "-l", f"0,{self.cpu}", "--main-lcore", "0",
               "--in-memory", "--no-pci", "--file-prefix", self.prefix, "--log-level", "*:warning",
               "--vdev", src_devargs(spec.pcap), "--vdev", SINK_DEVARGS,
               "--", "-i", "--forward-mode=io", "--nb-cores=1", "--rxq=1", "--txq=1",
               f"--total-num-mbufs={mbufs}"]
        self.proc = spawn(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        threading.Thread(target=self._reader, daemon=True).start()
        # The prompt carries no newline, so the reader works on raw chunks.
        wait_for(lambda: b"testpmd> " in self._raw() or not self.alive(), "testpmd prompt")
        if not self.alive():
            raise SwitchError("testpmd exited: " + self.describe_failure())
        self._send("start")

    def _reader(self):
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            with self.lock:
                self.buf += chunk

    def _raw(self):
        with self.lock:
            return self.buf

    def _send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def counters(self):
        pos = len(self._raw())
        self._send("show port stats all")

        def complete():
            ports = parse.testpmd_port_stats(self._raw()[pos:].decode(errors="replace"))
            return ports if 0 in ports and 1 in ports else None

        ports = wait_for(complete, "testpmd port stats", timeout=20, interval=0.005)
        return {"sink_tx": ports[1]["tx_packets"], "src_rx": ports[0]["rx_packets"]}

    def pmd_clear(self):
        pass

    def pmd_cycles(self):
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def describe_failure(self):
        return self._raw()[-3000:].decode(errors="replace")

    def stop(self):
        if self.alive():
            try:
                self._send("stop")
                self._send("quit")
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc)


def _dp_counters(text):
    """counters() of a switch that prints `dpctl/show -s`-style text."""
    d = parse.dpctl_show(text)
    ports = d["ports"]
    lk = d["lookups"] or {}
    return {"sink_tx": ports["sink"]["tx_packets"], "src_rx": ports["src"]["rx_packets"],
            "flows": d["flows"], "misses": lk.get("missed", 0) + lk.get("lost", 0),
            "lost": lk.get("lost", 0), "ports": ports}


class OvsDpdk(Switch):
    """Debian's ovs-vswitchd-dpdk (OVS 3.1, DPDK 22.11) on its own database.

    Everything lives in a temporary directory: the database, ovsdb-server's
    socket, ovs-vswitchd's control socket, pid and log files. OVS_RUNDIR and
    friends point the ovs-* tools there, and ovs-appctl gets the control
    socket by path, so nothing here can reach a system OVS. The bridge runs
    in fail_mode=secure so that only the scenario's OpenFlow rules exist (no
    NORMAL flow), with its one PMD on self.cpu (pmd-cpu-mask).
    """

    name = "ovs"
    label = "OVS-DPDK 3.1"
    VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
    SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
    DATAPATH_TYPE = "netdev"

    def __init__(self, **kw):
        super().__init__(**kw)
        d = self.dir
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d)
        self.db_sock = f"unix:{d}/db.sock"
        self.ctl = f"{d}/ovs-vswitchd.ctl"
        self.ovsdb = None
        self.vswitchd = None
        self.netns = None
        self.own_netns = False  # boot() made self.netns and deletes it
        self.guest = None
        # other_config:pmd-maxsleep (us): 0 busy-polls, as OVS-DPDK does by
        # default; rows whose PMDs share one CPU set it (scenario 7).
        self.pmd_maxsleep = 0
        self._unixctl = None  # poll_counters()'s connection
        # The bridge's own port is a tap device of that name (OVS-DPDK's,
        # or dpxd's for dpx) in the host's namespace: unique per run, so
        # that no other user's self.br gets in the way.
        self.br = f"dpxbr{os.getpid() % 100000}{self.name}"[:15]

    # A port OVS cannot configure leaves ovs-vsctl waiting for an OpenFlow
    # port number until this timeout.
    def vsctl(self, *args, timeout=30):
        return run(["ovs-vsctl", f"--db={self.db_sock}", f"--timeout={timeout}", *args],
                   env=self.env, timeout=timeout + 10)

    def appctl(self, *args):
        return run(["ovs-appctl", "-t", self.ctl, *args], env=self.env, timeout=60)

    def ofctl(self, *args, timeout=120):
        return run(["ovs-ofctl", *args], env=self.env, timeout=timeout)

    def _other_config(self):
        return ["other_config:dpdk-init=true",
                f"other_config:pmd-cpu-mask={1 << self.cpu:#x}",
                f'other_config:dpdk-extra="--file-prefix={self.prefix} --no-pci"'] + (
                    [f"other_config:pmd-maxsleep={self.pmd_maxsleep}"] if self.pmd_maxsleep
                    else [])

    def _vswitchd_cmd(self):
        d = self.dir
        return [self.VSWITCHD, self.db_sock, f"--pidfile={d}/ovs-vswitchd.pid",
                f"--unixctl={self.ctl}", f"--log-file={d}/ovs-vswitchd.log"]

    # OVS-DPDK tunnels natively (tnl_push/tnl_pop): it needs the VTEP
    # address on the bridge's tap port and one underlay rule more.
    NATIVE_TUNNEL = True

    def _tunnel_before_ports(self, tunnel):
        """Scenario 4, OVS-DPDK: VTEP address on the bridge's LOCAL tap (in
        ovs-vswitchd's own network namespace), the remote's MAC in OVS's
        tunnel neighbour table."""
        ns = ["ip", "netns", "exec", self.netns]
        run(ns + ["ip", "addr", "add", f"{vxlan.LOCAL_VTEP}/{vxlan.VTEP_PLEN}", "dev", self.br])
        run(ns + ["ip", "link", "set", self.br, "up"])
        # OVS learns the connected route from the kernel of its namespace;
        # wait for it before the neighbour entry, which needs the route.
        wait_for(lambda: vxlan.LOCAL_VTEP in self.appctl("ovs/route/show"), "OVS route to the VTEP")
        self.appctl("tnl/arp/set", self.br, vxlan.REMOTE_VTEP, vxlan.REMOTE_MAC)

    def _tunnel_after_ports(self, tunnel):
        pass

    def boot(self, netns=False, hwaddr=None, secure=True, dpdk=True, hold=False):
        """Starts ovsdb-server and ovs-vswitchd and creates the bridge self.br.

        netns: run ovs-vswitchd in a network namespace (its tap ports
        appear there): True for one of its own, made here and deleted by
        stop(), or the name of an existing one, left to its owner;
        hwaddr: the bridge's MAC; secure: fail_mode secure (only the
        harness's rules) rather than the NORMAL flow;
        dpdk: initialise DPDK (not needed for afxdp ports); hold: start with
        other_config:flow-restore-wait=true (no upcalls, no flows) until
        release().
        """
        d = self.dir
        run(["ovsdb-tool", "create", f"{d}/conf.db", self.SCHEMA], env=self.env)
        # Children in the foreground (no --detach), so they are ours to reap.
        self.ovsdb = spawn(
            ["ovsdb-server", f"{d}/conf.db", f"--remote=p{self.db_sock}",
             f"--pidfile={d}/ovsdb-server.pid", f"--unixctl={d}/ovsdb-server.ctl",
             f"--log-file={d}/ovsdb-server.log"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(f"{d}/db.sock"), "ovsdb-server socket")
        self.vsctl("--no-wait", "init")
        other = [o for o in self._other_config() if dpdk or "dpdk" not in o]
        if hold:
            other.append("other_config:flow-restore-wait=true")
        if other:
            self.vsctl("--no-wait", "set", "Open_vSwitch", ".", *other)
        cmd = self._vswitchd_cmd()
        if netns is True:
            self.netns = f"dpxbench{os.getpid()}{self.name}"
            run(["ip", "netns", "add", self.netns])
            self.own_netns = True
        elif netns:
            self.netns = netns
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.vswitchd = spawn(cmd, env=self.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Without --no-wait, ovs-vsctl returns once ovs-vswitchd applied it.
        br = ["add-br", self.br, "--", "set", "bridge", self.br,
              f"datapath_type={self.DATAPATH_TYPE}"]
        if secure:
            br.append("fail_mode=secure")
        if hwaddr:
            br.append(f"other_config:hwaddr={hwaddr}")
        self.vsctl(*br)
        # ovs-ofctl talks to the bridge's management socket, which can
        # appear a moment after ovs-vsctl returned.
        wait_for(lambda: os.path.exists(f"{d}/{self.br}.mgmt"), "the bridge's OpenFlow socket")
        keep_off_cpu(self.vswitchd.pid, self.cpu)

    def release(self):
        """Ends flow-restore-wait: OVS enables upcalls and flushes the
        datapath's flows, and the next packets set flows up with every port
        known to ofproto. Returns once ovs-vswitchd has applied it."""
        self.vsctl("set", "Open_vSwitch", ".", "other_config:flow-restore-wait=false")

    def start(self, spec):
        tunnel = getattr(spec, "tunnel", None)
        native = bool(tunnel) and self.NATIVE_TUNNEL
        # For native tunneling the bridge's tap gets the VTEP address: in a
        # namespace of its own, so the host's routing never sees it.
        # Upcalls wait (flow-restore-wait) until every port is added: dpxd
        # polls a port as soon as it exists, and the upcalls of packets
        # that arrive before ofproto has associated the port get OVS's
        # exact-match "unassociated datapath port" flows, which revalidation
        # never widens (docs/ovs.md). The same for OVS-DPDK, for fairness.
        self.boot(netns=native, hwaddr=vxlan.UNDERLAY_MAC if native else None, hold=True)
        if native:
            self._tunnel_before_ports(tunnel)
        self.add_port("sink", SINK_DEVARGS, SINK_PORT)
        for name, devargs, ofport in getattr(spec, "extra_ports", ()):
            self.add_port(name, devargs, ofport)
        if getattr(spec, "v2v", False):
            # Scenario 5: the guest serves the sockets, the switch connects.
            from . import v2v  # v2v uses this module's helpers
            self.add_guest_ports(v2v.Guest(self.dir, self.prefix),
                                 (("va", v2v.VHOST_A), ("vb", v2v.VHOST_B)))
        rules = list(spec.openflow_rules)
        if tunnel:
            self.vsctl("add-port", self.br, "vx", "--", "set", "interface", "vx", "type=vxlan",
                       f"options:remote_ip={vxlan.REMOTE_VTEP}", f"options:key={vxlan.VNI}",
                       f"ofport_request={vxlan.TUNNEL_OFPORT}")
            rules = vxlan.rules(tunnel, SINK_PORT, self.NATIVE_TUNNEL)
        self.add_flows(rules)
        # The source last: it starts sending as soon as it is up.
        self.add_port("src", src_devargs(spec.pcap), SRC_PORT)
        if tunnel:
            self._tunnel_after_ports(tunnel)
        self.release()
        # Threads started since (handlers, revalidators) too.
        keep_off_cpu(self.vswitchd.pid, self.cpu)

    def add_flows(self, rules):
        """Replaces the bridge's OpenFlow rules with `rules` (ovs-ofctl syntax)."""
        self.ofctl("del-flows", self.br)
        flows = os.path.join(self.dir, "flows.txt")
        with open(flows, "w") as f:
            f.write("\n".join(rules) + "\n")
        t0 = time.monotonic()
        self.ofctl("add-flows", self.br, flows, timeout=900)
        self.rules_s = time.monotonic() - t0

    def add_guest_ports(self, guest, ports):
        """Starts `guest`, a process that serves vhost-user sockets (v2v.Guest,
        latency.Latgen), and adds a `dpdkvhostuserclient` port for each of its
        sockets as it appears. ports: (name, OpenFlow port) in socket order."""
        self.guest = guest
        guest.start()
        for i, (name, ofport) in enumerate(ports):
            guest.wait_socket(i)
            self.vsctl("add-port", self.br, name, "--", "set", "interface", name,
                       "type=dpdkvhostuserclient",
                       f"options:vhost-server-path={guest.sockets[i]}", f"ofport_request={ofport}")

    def start_guest_only(self, guest, ports, rules):
        """Scenario 8: a bridge with only the guest's vhost-user ports and
        `rules`, no pcap source or sink. Upcalls wait until the rules are in,
        as in start()."""
        self.boot(hold=True)
        self.add_guest_ports(guest, ports)
        self.add_flows(rules)
        self.release()
        keep_off_cpu(self.vswitchd.pid, self.cpu)

    def add_port(self, name, devargs, ofport):
        """Adds a DPDK port (dpxd: the ethdev the devargs name) as OpenFlow port ofport."""
        self.vsctl("add-port", self.br, name, "--", "set", "interface", name, "type=dpdk",
                   f"options:dpdk-devargs={devargs}", f"ofport_request={ofport}")
        err = self.vsctl("get", "interface", name, "error").strip()
        if err not in ("[]", ""):
            raise SwitchError(f"OVS could not add {name}: {err}")

    def counters(self):
        return _dp_counters(self.appctl("dpctl/show", "-s"))

    def poll_counters(self):
        """The same dpctl/show, over one unixctl connection kept open. dpx
        (DpxOvs) inherits it: both switches are then polled the same way,
        through their ovs-vswitchd."""
        if self._unixctl is None:
            self._unixctl = Unixctl(self.ctl)
        return _dp_counters(self._unixctl.call("dpctl/show", "-s"))

    def pmd_clear(self):
        self.appctl("dpif-netdev/pmd-stats-clear")

    def pmd_cycles(self):
        pmds = [p for p in parse.pmd_stats(self.appctl("dpif-netdev/pmd-stats-show"))
                if p["core"] == self.cpu]
        return pmds[0]["processing_cycles_per_packet"] if pmds else None

    def alive(self):
        return self.vswitchd is not None and self.vswitchd.poll() is None

    def pid(self):
        return self.vswitchd.pid if self.vswitchd else None

    def describe_failure(self):
        return log_tail(f"{self.dir}/ovs-vswitchd.log")

    def _stop_ovs(self):
        if self._unixctl:
            self._unixctl.close()
            self._unixctl = None
        if self.alive():
            try:
                # --cleanup: delete the datapath and its ports, including
                # the bridge's tap, which would otherwise outlive OVS.
                run(["ovs-appctl", "-t", self.ctl, "exit", "--cleanup"], env=self.env,
                    timeout=30, check=False)
                self.vswitchd.wait(timeout=15)
            except (SwitchError, subprocess.TimeoutExpired):
                pass
        stop_process(self.vswitchd)
        stop_process(self.ovsdb)
        if self.guest:
            self.guest.stop()
        # If ovs-vswitchd died before it could clean up: its tap (ours by
        # name) goes too.
        if os.path.exists(f"/sys/class/net/{self.br}"):
            run(["ip", "link", "del", self.br], check=False)
        if self.netns and self.own_netns:
            run(["ip", "netns", "del", self.netns], check=False)
        self.netns = None

    def stop(self):
        self._stop_ovs()


class Dpxd(Switch):
    """dpxd from the build tree, configured with dpxctl.

    The scenario's forwarding decision is given as datapath flows (the
    megaflows OVS would install), put with `dpxctl add-flow`. The PMD
    busy-polls (--pmd-sleep-max-us 0) as OVS-DPDK's does by default.
    DpxOvs uses launch() alone and leaves ports and flows to ovs-vswitchd.
    """

    name = "dpxd"
    label = "dpxd (dpxctl)"

    def __init__(self, build_dir, **kw):
        super().__init__(**kw)
        self.dpxd = os.path.join(build_dir, "datapath", "dpxd")
        self.dpxctl_bin = os.path.join(build_dir, "datapath", "dpxctl")
        self.sock = os.path.join(self.dir, "dpxd.sock")
        self.log = os.path.join(self.dir, "dpxd.log")
        self.proc = None
        self.netns = None  # run dpxd in this network namespace (scenario 7)
        # --pmd-sleep-max-us: 0 busy-polls as OVS-DPDK does by default;
        # rows whose PMDs share one CPU let them back off (scenario 7).
        self.sleep_max_us = 0

    def dpxctl(self, *args, timeout=60):
        return run([self.dpxctl_bin, "--socket", self.sock, *args], timeout=timeout)

    def launch(self, spec, flow_limit):
        """Starts dpxd with no port and waits for its control socket."""
        # The pcap ports keep every packet of their files in mbufs
        # (infinite_rx), so the pool grows with the files.
        packets = spec.pcap_packets + getattr(spec, "extra_packets", 0) if spec else 0
        mbufs = max(32768, packets + 32768)
        socket_mem = 512 + mbufs * 2560 // (1 << 20)
        cmd = [self.dpxd, "--pmd-cores", str(self.cpu), "--control-core", "0",
               "--pmd-sleep-max-us", str(self.sleep_max_us), "--control-socket", self.sock,
               "--file-prefix", self.prefix, "--socket-mem", str(socket_mem),
               "--mbufs", str(mbufs), "--flow-limit", str(flow_limit),
               "--log-level", "warning", "--", "--no-pci"]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        with open(self.log, "w") as log:
            self.proc = spawn(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: not self.alive() or self.dpxctl("show"), "dpxd control socket")
        if not self.alive():
            raise SwitchError("dpxd exited: " + log_tail(self.log))

    def start(self, spec):
        self.launch(spec, max(200000, 2 * len(spec.dp_flows)))
        self.dpxctl("add-port", "sink", "dpdk", SINK_DEVARGS, "--port-no", str(SINK_PORT))
        for name, devargs, port_no in getattr(spec, "extra_ports", ()):
            self.dpxctl("add-port", name, "dpdk", devargs, "--port-no", str(port_no))
        tunnel = getattr(spec, "tunnel", None)
        if tunnel:
            self.dpxctl("add-port", "vxlan_sys_4789", "vxlan", "--port-no",
                        str(vxlan.TUNNEL_OFPORT))
        # One dpxctl process per flow; a few at a time, since most of the
        # cost is starting the process, not dpxd's work.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(self.dpxctl, "add-flow", flow, actions)
                      for flow, actions in spec.dp_flows]:
                f.result()
        self.dpxctl("add-port", "src", "dpdk", src_devargs(spec.pcap),
                    "--port-no", str(SRC_PORT))
        if tunnel:
            tunnel_underlay(self.dpxctl, tunnel)

    def counters(self):
        return _dp_counters(self.dpxctl("show"))

    def pmd_clear(self):
        self.dpxctl("pmd-stats-clear")

    def pmd_cycles(self):
        pmds = [p for p in parse.pmd_stats(self.dpxctl("pmd-stats-show")) if p["core"] == self.cpu]
        return pmds[0]["processing_cycles_per_packet"] if pmds else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def describe_failure(self):
        status = "" if self.proc is None or self.proc.poll() is None else \
            f"dpxd exit status {self.proc.returncode}\n"
        return status + log_tail(self.log)

    def stop(self):
        stop_process(self.proc)


def tunnel_underlay(dpxctl, tunnel):
    """dpxd's underlay for scenario 4. Decap: the VTEP on the source port,
    where the VXLAN packets arrive; encap: on the sink, the route's port,
    with the remote's MAC as a static neighbour."""
    port = "src" if tunnel == "decap" else "sink"
    dpxctl("tnl-ip", "add", f"{vxlan.LOCAL_VTEP}/{vxlan.VTEP_PLEN}", port)
    if tunnel == "encap":
        dpxctl("neigh", "set", port, vxlan.REMOTE_VTEP, vxlan.REMOTE_MAC)


class DpxOvs(OvsDpdk):
    """dpxd programmed by our ovs-vswitchd: datapath_type=dpx.

    The same ovsdb-server set-up, bridge, `dpdk` ports with the same
    dpdk-devargs and the same `ovs-ofctl add-flows` text as OvsDpdk; only
    the ovs-vswitchd binary (<build>/ovs/ovs-vswitchd, OVS 3.1 with the dpx
    dpif provider) and the datapath type differ. The provider passes each
    port's dpdk-devargs to dpxd (ovs/netdev-dpx.c), and megaflows reach dpxd
    through upcalls, as in OVS-DPDK. dpxd is started first, with the same
    options as the dpxctl row, on its own socket (DPXD_SOCKET). Counters are
    dpxd's own (`dpxctl show`, `dpxctl pmd-stats-show`); the memory of this
    switch is dpxd's plus ovs-vswitchd's.
    """

    name = "dpx"
    label = "dpxd (OVS)"
    DATAPATH_TYPE = "dpx"

    def __init__(self, build_dir, **kw):
        super().__init__(**kw)
        self.VSWITCHD = os.path.join(build_dir, "ovs", "ovs-vswitchd")
        self.dp = Dpxd(build_dir, cpu=self.cpu)
        self.dp.prefix = self.prefix + "dp"
        self.env["DPXD_SOCKET"] = self.dp.sock

    NATIVE_TUNNEL = False

    def _other_config(self):
        return []

    def _tunnel_after_ports(self, tunnel):
        """Scenario 4, dpxd: its own underlay, through dpxctl (ovs-vswitchd
        does not configure it)."""
        tunnel_underlay(self.dp.dpxctl, tunnel)

    def _vswitchd_cmd(self):
        return super()._vswitchd_cmd() + ["--disable-system"]

    def start(self, spec):
        # OVS's own flow limit (other_config:flow-limit, 200,000) bounds the
        # megaflows; dpxd's table must not refuse before it.
        self.dp.launch(spec, 400000)
        super().start(spec)

    def start_guest_only(self, guest, ports, rules):
        self.dp.launch(None, 1000)
        super().start_guest_only(guest, ports, rules)

    def counters(self):
        return self.dp.counters()

    def pmd_clear(self):
        self.dp.pmd_clear()

    def pmd_cycles(self):
        return self.dp.pmd_cycles()

    def alive(self):
        return super().alive() and self.dp.alive()

    def pid(self):
        return self.dp.pid()

    def memory_pids(self):
        return [p for p in (self.dp.pid(), super().pid()) if p]

    def describe_failure(self):
        return ("ovs-vswitchd.log:\n" + log_tail(f"{self.dir}/ovs-vswitchd.log", 20)
                + "dpxd:\n" + self.dp.describe_failure())

    def stop(self):
        self._stop_ovs()
        self.dp.stop()

    def __exit__(self, *exc):
        try:
            super().__exit__(*exc)
        finally:
            self.dp.__exit__(*exc)
        return False
