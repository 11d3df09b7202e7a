"""dpx-latgen against a real dpxd (ctest: latgen_dpxd_test).

dpxd (this build, --no-huge) gets two vhost-user server ports and one flow
from port 1 to port 2 through dpxctl; dpx-latgen connects two
net_virtio_user ports to them and runs two low-rate phases of a fixed
packet count. Every packet must come back exactly once and in order, with a
latency above zero, and dpxd's own counters must have seen them: this
checks latgen's sequence, stamp and loss accounting and the harness's
parser (parse.latgen_result) on real output. No assertion depends on how
long anything takes; the bounds only stop a hang.

Needs root (DPDK, vhost-user sockets); the paths of the binaries come from
ctest's environment (DPX_DPXD, DPX_DPXCTL, DPX_LATGEN).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from . import parse
from .switches import spawn, stop_process

DPXD = os.environ.get("DPX_DPXD", "")
DPXCTL = os.environ.get("DPX_DPXCTL", "")
LATGEN = os.environ.get("DPX_LATGEN", "")
PACKETS = 1000


def _rmdir_runtime(prefix):
    shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)


@unittest.skipUnless(os.geteuid() == 0, "needs root (DPDK, vhost-user)")
@unittest.skipUnless(all(os.access(p, os.X_OK) for p in (DPXD, DPXCTL, LATGEN)),
                     "DPX_DPXD, DPX_DPXCTL and DPX_LATGEN must name the built binaries")
class LatgenThroughDpxd(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="dpxlatgen.")
        self.sock = os.path.join(self.dir, "dpxd.sock")
        tag = f"{os.getpid()}"
        self.prefixes = [f"dpxlat{tag}", f"dpxlatg{tag}"]
        self.dpxd = None
        self.latgen = None
        self.dpxd_log = None
        self.addCleanup(self._cleanup)

    def _start_dpxd(self):
        pmd = "1" if (os.cpu_count() or 1) > 1 else "0"
        self.dpxd_log = open(os.path.join(self.dir, "dpxd.log"), "w")
        self.dpxd = spawn([DPXD, "--no-huge", "--socket-mem", "256", "--mbufs", "8192",
                           "--upcall-queue-size", "1024",
                           "--pmd-cores", pmd, "--pmd-sleep-max-us", "0",
                           "--control-socket", self.sock, "--file-prefix", self.prefixes[0],
                           "--log-level", "warning"],
                          stdout=self.dpxd_log, stderr=subprocess.STDOUT)
        self._poll(lambda: self.dpxd.poll() is not None or self._ctl("show", check=False) == 0,
                   "dpxd's control socket")
        self.assertIsNone(self.dpxd.poll(), "dpxd exited:\n" + self._log("dpxd.log"))

    def _cleanup(self):
        stop_process(self.latgen)
        if self.dpxd is not None and self.dpxd.poll() is None:
            self.dpxd.send_signal(signal.SIGTERM)
            try:
                self.dpxd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_process(self.dpxd)
        if self.dpxd_log:
            self.dpxd_log.close()
        for p in self.prefixes:
            _rmdir_runtime(p)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _log(self, name):
        try:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def _poll(self, cond, what, bound_s=60):
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        self.fail(f"timed out waiting for {what}")

    def _ctl(self, *args, check=True):
        p = subprocess.run([DPXCTL, "--socket", self.sock, *args], capture_output=True,
                           text=True, timeout=60)
        if check:
            self.assertEqual(p.returncode, 0, f"dpxctl {' '.join(args)}: {p.stderr}")
            return p.stdout
        return p.returncode

    def _latgen(self, app_args, vdevs=True):
        cmd = [LATGEN, "-l", "0", "--no-pci", "--no-huge", "-m", "256", "--no-shconf",
               "--file-prefix", self.prefixes[1], "--log-level", "notice"]
        if vdevs:
            for i, name in enumerate(("la", "lb")):
                cmd += ["--vdev", f"net_virtio_user{i},queue_size=1024,"
                        f"path={os.path.join(self.dir, name + '.sock')}"]
        with open(os.path.join(self.dir, "latgen.out"), "w") as out, \
                open(os.path.join(self.dir, "latgen.err"), "w") as err:
            self.latgen = spawn(cmd + ["--"] + app_args, stdout=out, stderr=err)
            self.latgen.wait(timeout=300)
        with open(os.path.join(self.dir, "latgen.out")) as f:
            return self.latgen.returncode, f.read(), self._log("latgen.err")

    def test_every_packet_arrives_once_in_order_with_a_latency(self):
        self._start_dpxd()
        for name, port_no in (("la", 1), ("lb", 2)):
            self._ctl("add-port", name, "vhostuser", os.path.join(self.dir, name + ".sock"),
                      "--port-no", str(port_no))
        self._ctl("add-flow", "in_port(1),eth(),eth_type(0x0800),ipv4()", "2")
        # Low rates, so that a guest ring of 1024 holds what arrives while
        # either side is off its CPU on a busy machine: nothing may be
        # lost. The first phase is a percentage of a given maximum.
        rc, out, err = self._latgen(["--max-pps", "50000", "--rates", "10%,2000",
                                     "--packets", str(PACKETS), "--warmup", "0.05",
                                     "--drain-ms", "5000"])
        self.assertEqual(rc, 0, f"dpx-latgen failed:\n{err}\ndpxd:\n{self._log('dpxd.log')}")
        doc = parse.latgen_result(out)
        self.assertGreater(doc["tsc_hz"], 0)
        self.assertEqual(doc["frame_bytes"], 60)
        self.assertEqual([ph["rate"] for ph in doc["phases"]], ["10%", "2000"])
        self.assertEqual([ph["target_pps"] for ph in doc["phases"]], [5000, 2000])
        total = 0
        for ph in doc["phases"]:
            with self.subTest(rate=ph["rate"]):
                self.assertFalse(ph["stopped_early"])
                self.assertEqual(ph["sent"], PACKETS)
                self.assertEqual(ph["received"], PACKETS)
                self.assertEqual(ph["lost"], 0)
                self.assertEqual(ph["duplicates"], 0)
                self.assertEqual(ph["reordered"], 0)
                self.assertEqual(ph["bad_stamp"], 0)
                self.assertGreater(ph["warmup_sent"], 0)
                self.assertEqual(ph["warmup_received"], ph["warmup_sent"])
                lat = ph["latency_ns"]
                self.assertEqual(lat["samples"], PACKETS)
                self.assertGreater(lat["min"], 0)
                self.assertLessEqual(lat["min"], lat["p50"])
                self.assertLessEqual(lat["p50"], lat["p99"])
                self.assertLessEqual(lat["p99"], lat["max"])
                self.assertGreater(ph["tx_seconds"], 0)
                total += ph["sent"] + ph["warmup_sent"]
        # dpxd forwarded them: port 1 received and port 2 sent at least
        # every measured and warm-up packet (plus latgen's readiness probes).
        ports = parse.dpctl_show(self._ctl("show"))["ports"]
        self.assertGreaterEqual(ports["la"]["rx_packets"], total)
        self.assertGreaterEqual(ports["lb"]["tx_packets"], total)
        self.assertEqual(ports["lb"]["tx_packets"], ports["la"]["rx_packets"])
        # latgen disconnected cleanly; dpxd shuts down cleanly too.
        self.dpxd.send_signal(signal.SIGTERM)
        self.assertEqual(self.dpxd.wait(timeout=60), 0, self._log("dpxd.log"))

    def test_missing_ports_are_a_clear_error(self):
        rc, out, err = self._latgen(["--rates", "1000"], vdevs=False)
        self.assertEqual(rc, 1)
        self.assertEqual(out, "")
        self.assertIn("port 0 does not exist", err)

    def test_percent_rate_without_a_base_is_refused(self):
        rc, out, err = self._latgen(["--rates", "10%"], vdevs=False)
        self.assertEqual(rc, 2)
        self.assertEqual(out, "")
        self.assertIn("needs a \"max\" phase before it or --max-pps", err)


if __name__ == "__main__":
    unittest.main()
