"""Scenario 5: v2v through two vhost-user ports.

The "guest" is `dpdk-testpmd` with two `net_virtio_user` ports in io
forwarding mode, serving both vhost-user sockets (server=1), the way a DPDK
container attaches (docs/vhost.md). The switch connects to them as
`dpdkvhostuserclient` ports (OVS-DPDK, and dpxd through our ovs-vswitchd,
whose provider makes them dpxd `vhostuserclient` ports). The loop, as
tests/vhost_test.cc: the pcap source (port 1) -> rule -> vhost port A
(OpenFlow port 3) -> testpmd io -> vhost port B (port 4) -> rule -> the sink
(port 2). Every packet crosses two vhost-user ports; the rate is the sink's,
from the switch's own counters, as in the other scenarios.

testpmd runs both of its lcores on CPU 0 (--lcores 0@0,1@0), the switch's
PMD on the PMD CPU: the guest's forwarding is part of what each row
measures, the same for both switches.
"""

import os
import subprocess

from .switches import SwitchError, log_tail, spawn, stop_process, wait_for

VHOST_A, VHOST_B = 3, 4


def rules(src, sink):
    return [f"in_port={src},actions=output:{VHOST_A}", f"in_port={VHOST_B},actions=output:{sink}"]


class Guest:
    """dpdk-testpmd serving two vhost-user sockets in `directory`."""

    def __init__(self, directory, prefix):
        self.dir = directory
        self.prefix = prefix + "g"
        self.sockets = [os.path.join(directory, "va.sock"), os.path.join(directory, "vb.sock")]
        self.log = os.path.join(directory, "testpmd.log")
        self.proc = None

    def start(self):
        # Without hugepages (memfd-backed memory the switch can map), as
        # the vhost tests run it; stdin stays open so that testpmd keeps
        # forwarding ("Press enter to exit").
        cmd = ["stdbuf", "-oL", "dpdk-testpmd", "--lcores", "0@0,1@0", "--main-lcore", "1",
               "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix", self.prefix,
               "--log-level", "notice"]
        for i, path in enumerate(self.sockets):
            cmd += ["--vdev", f"net_virtio_user{i},queue_size=1024,server=1,path={path}"]
        cmd += ["--", "--no-mlockall", "--nb-cores=1", "--total-num-mbufs=16384",
                "--forward-mode=io", "--auto-start"]
        with open(self.log, "w") as log:
            self.proc = spawn(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)

    def wait_socket(self, i):
        """Waits for socket i. virtio-user in server mode waits at start-up
        for the backend to connect to one socket before it opens the next,
        so the switch must connect to each as it appears."""
        wait_for(lambda: not self.alive() or os.path.exists(self.sockets[i]),
                 f"testpmd's vhost-user socket {self.sockets[i]}", timeout=30)
        if not self.alive():
            raise SwitchError("testpmd (guest) exited: " + log_tail(self.log))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            try:
                self.proc.stdin.write(b"\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.proc)
