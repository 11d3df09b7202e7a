"""The three things that forward the benchmark traffic, behind one interface.

Each switch is started for one measurement with the same source (net_pcap
replaying a pcap file, infinite_rx=1) and the same sink (net_null, no-rx=1),
with its one PMD / forwarding lcore on the same CPU, and stopped afterwards.
A switch reads its rates from its own counters:

  Testpmd   DPDK testpmd in io mode: no lookup at all, the harness ceiling
  OvsDpdk   Debian's ovs-vswitchd-dpdk with its own ovsdb-server, run
            directory and database in a temporary directory (a system OVS,
            if there is one, is never touched), datapath_type=netdev
  Dpxd      dpxd from the build tree, configured through dpxctl

Port numbers are the same everywhere: the source is port 1 (OpenFlow port
for OVS, odp port for dpxd) and the sink port 2, so a scenario's rules are
written once per switch kind and need no lookup of numbers.
"""

import concurrent.futures
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from . import parse

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
        proc.wait(timeout=timeout)


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
    "misses": n} read from the switch's own statistics (flows: datapath
    flows, misses: datapath lookups that missed or were lost; neither for
    testpmd); pmd_cycles() returns the PMD's processing cycles per packet
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
        return False

    def alive(self):
        return True

    def pid(self):
        """The process whose PMD thread runs on self.cpu, or None."""
        return None

    def describe_failure(self):
        return ""


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

    def __init__(self, **kw):
        super().__init__(**kw)
        d = self.dir
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_DBDIR=d, OVS_LOGDIR=d, OVS_SYSCONFDIR=d)
        self.db_sock = f"unix:{d}/db.sock"
        self.ctl = f"{d}/ovs-vswitchd.ctl"
        self.ovsdb = None
        self.vswitchd = None

    # A port OVS cannot configure leaves ovs-vsctl waiting for an OpenFlow
    # port number until this timeout.
    def vsctl(self, *args, timeout=30):
        return run(["ovs-vsctl", f"--db={self.db_sock}", f"--timeout={timeout}", *args],
                   env=self.env, timeout=timeout + 10)

    def appctl(self, *args):
        return run(["ovs-appctl", "-t", self.ctl, *args], env=self.env, timeout=60)

    def start(self, spec):
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
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   f"other_config:pmd-cpu-mask={1 << self.cpu:#x}",
                   f'other_config:dpdk-extra="--file-prefix={self.prefix} --no-pci"')
        self.vswitchd = spawn(
            [self.VSWITCHD, self.db_sock, f"--pidfile={d}/ovs-vswitchd.pid",
             f"--unixctl={self.ctl}", f"--log-file={d}/ovs-vswitchd.log"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Without --no-wait, ovs-vsctl returns once ovs-vswitchd applied it.
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
                   "fail_mode=secure")
        self._add_port("sink", SINK_DEVARGS, SINK_PORT)
        run(["ovs-ofctl", "del-flows", "br0"], env=self.env)
        flows = os.path.join(d, "flows.txt")
        with open(flows, "w") as f:
            f.write("\n".join(spec.openflow_rules) + "\n")
        run(["ovs-ofctl", "add-flows", "br0", flows], env=self.env, timeout=600)
        # The source last: it starts sending as soon as it is up.
        self._add_port("src", src_devargs(spec.pcap), SRC_PORT)

    def _add_port(self, name, devargs, ofport):
        self.vsctl("add-port", "br0", name, "--", "set", "interface", name, "type=dpdk",
                   f"options:dpdk-devargs={devargs}", f"ofport_request={ofport}")
        err = self.vsctl("get", "interface", name, "error").strip()
        if err not in ("[]", ""):
            raise SwitchError(f"OVS could not add {name}: {err}")

    def counters(self):
        d = parse.dpctl_show(self.appctl("dpctl/show", "-s"))
        ports = d["ports"]
        lk = d["lookups"] or {}
        return {"sink_tx": ports["sink"]["tx_packets"], "src_rx": ports["src"]["rx_packets"],
                "flows": d["flows"], "misses": lk.get("missed", 0) + lk.get("lost", 0)}

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

    def stop(self):
        if self.alive():
            try:
                run(["ovs-appctl", "-t", self.ctl, "exit"], env=self.env, timeout=30,
                    check=False)
                self.vswitchd.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        stop_process(self.vswitchd)
        stop_process(self.ovsdb)


class Dpxd(Switch):
    """dpxd from the build tree, configured with dpxctl.

    Until the OVS control plane drives dpxd, the scenario's forwarding
    decision is given as datapath flows (the megaflows OVS would install),
    put with `dpxctl add-flow`. The PMD busy-polls (--pmd-sleep-max-us 0)
    as OVS-DPDK's does by default.
    """

    name = "dpxd"
    label = "dpxd"

    def __init__(self, build_dir, **kw):
        super().__init__(**kw)
        self.dpxd = os.path.join(build_dir, "datapath", "dpxd")
        self.dpxctl_bin = os.path.join(build_dir, "datapath", "dpxctl")
        self.sock = os.path.join(self.dir, "dpxd.sock")
        self.log = os.path.join(self.dir, "dpxd.log")
        self.proc = None

    def dpxctl(self, *args, timeout=60):
        return run([self.dpxctl_bin, "--socket", self.sock, *args], timeout=timeout)

    def start(self, spec):
        # The pcap port keeps every packet of the file in an mbuf
        # (infinite_rx), so the pool grows with the file.
        mbufs = max(32768, spec.pcap_packets + 32768)
        socket_mem = 512 + mbufs * 2560 // (1 << 20)
        cmd = [self.dpxd, "--pmd-cores", str(self.cpu), "--control-core", "0",
               "--pmd-sleep-max-us", "0", "--control-socket", self.sock,
               "--file-prefix", self.prefix, "--socket-mem", str(socket_mem),
               "--mbufs", str(mbufs), "--flow-limit", str(max(200000, 2 * len(spec.dp_flows))),
               "--log-level", "warning", "--", "--no-pci"]
        with open(self.log, "w") as log:
            self.proc = spawn(cmd, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: not self.alive() or self.dpxctl("show"), "dpxd control socket")
        if not self.alive():
            raise SwitchError("dpxd exited: " + log_tail(self.log))
        self.dpxctl("add-port", "sink", "dpdk", SINK_DEVARGS, "--port-no", str(SINK_PORT))
        # One dpxctl process per flow; a few at a time, since most of the
        # cost is starting the process, not dpxd's work.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            for f in [pool.submit(self.dpxctl, "add-flow", flow, actions)
                      for flow, actions in spec.dp_flows]:
                f.result()
        self.dpxctl("add-port", "src", "dpdk", src_devargs(spec.pcap),
                    "--port-no", str(SRC_PORT))

    def counters(self):
        d = parse.dpctl_show(self.dpxctl("show"))
        ports = d["ports"]
        lk = d["lookups"] or {}
        return {"sink_tx": ports["sink"]["tx_packets"], "src_rx": ports["src"]["rx_packets"],
                "flows": d["flows"], "misses": lk.get("missed", 0) + lk.get("lost", 0)}

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
