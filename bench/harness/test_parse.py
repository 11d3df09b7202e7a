"""Tests of the parts of the harness that turn text into numbers.

The fixtures are output captured from the real tools on the benchmark
machine (testpmd 22.11, ovs-vswitchd-dpdk 3.1, dpxctl), trimmed. Run from
bench/: python3 -m unittest harness.test_parse (ctest: bench_parse_test).
"""

import os
import struct
import subprocess
import tempfile
import unittest

from . import (containers, flowsetup, latency, measure, parse, report, scenarios, summary,
               vxlan)

TESTPMD = """\
testpmd> show port stats all

  ######################## NIC statistics for port 0  ########################
  RX-packets: 255744224  RX-missed: 0          RX-bytes:  16367630336
  RX-errors: 0
  RX-nombuf:  0         
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:     48078868          Rx-bps:  24616380672
  Tx-pps:            0          Tx-bps:            0
  ############################################################################

  ######################## NIC statistics for port 1  ########################
  RX-packets: 0          RX-missed: 0          RX-bytes:  0
  RX-errors: 0
  RX-nombuf:  0         
  TX-packets: 255358752  TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:            0          Rx-bps:            0
  Tx-pps:     48079387          Tx-bps:            0
  ############################################################################
testpmd> """

OVS_DPCTL = """\
netdev@ovs-netdev:
  lookups: hit:132418187 missed:1 lost:15988
  flows: 1
  port 0: ovs-netdev (tap)
    RX packets:0 errors:0 dropped:0 overruns:0 frame:0
    TX packets:0 errors:0 dropped:0 aborted:0 carrier:0
    collisions:0
    RX bytes:0  TX bytes:0
  port 2: sink (dpdk: configured_rx_queues=1, configured_rxq_descriptors=2048, mtu=1500)
    RX packets:0 errors:0 dropped:0 overruns:? frame:?
    TX packets:132418188 errors:0 dropped:0 aborted:? carrier:?
    collisions:?
    RX bytes:0  TX bytes:0
  port 3: src (dpdk: configured_rx_queues=1, configured_rxq_descriptors=2048, mtu=1500)
    RX packets:132434208 errors:0 dropped:0 overruns:? frame:?
    TX packets:0 errors:0 dropped:0 aborted:? carrier:?
    collisions:?
    RX bytes:8475789312 (7.9 GiB)  TX bytes:0
"""

DPXCTL_SHOW = """\
dpx@dpxd:
  lookups: hit:27363200 missed:0 lost:0
  flows: 1
  masks: hit:32 total:1 hit/pkt:0.00
  emc hits: 27363168
  upcall queue drops: 0
  flow limit: 200000
  port 1: src (dpdk: devargs=net_pcap0,rx_pcap=/tmp/bx/f1.pcap,infinite_rx=1)
    link:up speed:10000Mbps mtu:1500 mac:02:70:63:61:70:00 rxq:1 txq:1
    RX packets:27363520 errors:0 dropped:0
    TX packets:0 errors:0 dropped:0
    RX bytes:1751265280  TX bytes:0
    rxq 0: packets:27363520 bytes:1751265280 dropped:0
    txq 0: packets:0 bytes:0 dropped:0
  port 2: sink (dpdk: devargs=net_null0,no-rx=1)
    link:up speed:10000Mbps mtu:1500 mac:be:cb:54:29:9b:9f rxq:1 txq:1
    RX packets:0 errors:0 dropped:0
    TX packets:27363584 errors:0 dropped:0
    RX bytes:0  TX bytes:1751269376
    rxq 0: packets:0 bytes:0 dropped:0
    txq 0: packets:27363584 bytes:1751269376 dropped:0
"""

OVS_PMD = """\
pmd thread numa_id 0 core_id 1:
  packets received: 32652448
  packet recirculations: 0
  avg. datapath passes per packet: 1.00
  phwol hits: 0
  mfex opt hits: 0
  simple match hits: 32652416
  emc hits: 0
  smc hits: 0
  megaflow hits: 0
  avg. subtable lookups per megaflow hit: 0.00
  miss with success upcall: 0
  miss with failed upcall: 0
  avg. packets per output batch: 32.00
  idle cycles: 0 (0.00%)
  processing cycles: 4629202720 (100.00%)
  avg cycles per packet: 141.77 (4629202720/32652448)
  avg processing cycles per packet: 141.77 (4629202720/32652448)
main thread:
  packets received: 0
  packet recirculations: 0
  emc hits: 0
  megaflow hits: 7
"""

DPX_PMD = """\
pmd thread numa_id 0 core_id 1:
  packets received: 11694880
  packet recirculations: 0
  avg. datapath passes per packet: 1.00
  emc hits: 66485 (0.6 %)
  megaflow hits: 11628363 (99.4 %)
  miss with success upcall: 0
  miss with failed upcall: 0
  avg. packets per rx batch: 32.00
  idle cycles: 1000 (0.50 %)
  processing cycles: 4622122374 (99.50 %)
  avg cycles per packet: 395.23 (4622122374/11694880)
  avg processing cycles per packet: 393.25 (4622122374/11694880)
  sleeps: 0 (0 us total)
"""


class TestpmdTest(unittest.TestCase):
    def test_both_ports(self):
        p = parse.testpmd_port_stats(TESTPMD)
        self.assertEqual(p[0]["rx_packets"], 255744224)
        self.assertEqual(p[0]["tx_packets"], 0)
        self.assertEqual(p[1]["tx_packets"], 255358752)
        self.assertEqual(p[1]["rx_missed"], 0)

    def test_newest_block_wins(self):
        later = TESTPMD.replace("255358752", "300000000")
        self.assertEqual(parse.testpmd_port_stats(TESTPMD + later)[1]["tx_packets"], 300000000)

    def test_incomplete_block_is_not_a_result(self):
        # Output still arriving: port 1's block has no closing line yet.
        cut = TESTPMD[:TESTPMD.index("Tx-pps:     48079387")]
        self.assertNotIn(1, parse.testpmd_port_stats(cut))

    def test_no_stats_raises(self):
        with self.assertRaises(parse.ParseError):
            parse.testpmd_port_stats("show port stats all\r\ntestpmd> ")


class DpctlShowTest(unittest.TestCase):
    def test_ovs(self):
        d = parse.dpctl_show(OVS_DPCTL)
        self.assertEqual(d["ports"]["sink"]["tx_packets"], 132418188)
        self.assertEqual(d["ports"]["sink"]["port_no"], 2)
        self.assertEqual(d["ports"]["src"]["rx_packets"], 132434208)
        self.assertEqual(d["lookups"], {"hit": 132418187, "missed": 1, "lost": 15988})
        self.assertEqual(d["flows"], 1)

    def test_dpxctl(self):
        d = parse.dpctl_show(DPXCTL_SHOW)
        self.assertEqual(d["ports"]["sink"]["tx_packets"], 27363584)
        self.assertEqual(d["ports"]["src"]["rx_packets"], 27363520)
        self.assertEqual(d["ports"]["src"]["port_no"], 1)
        # The per-queue lines must not overwrite the port totals.
        self.assertEqual(d["ports"]["src"]["tx_packets"], 0)

    def test_without_stats_raises(self):
        # dpctl/show without -s prints ports but no counters.
        with self.assertRaises(parse.ParseError):
            parse.dpctl_show("netdev@ovs-netdev:\n  port 2: sink (dpdk)\n")
        with self.assertRaises(parse.ParseError):
            parse.dpctl_show("")


class PmdStatsTest(unittest.TestCase):
    def test_ovs_skips_main_thread(self):
        (p,) = parse.pmd_stats(OVS_PMD)
        self.assertEqual((p["core"], p["numa"]), (1, 0))
        self.assertEqual(p["packets"], 32652448)
        self.assertAlmostEqual(p["processing_cycles_per_packet"], 141.77)
        self.assertEqual(p["hits"]["simple_match"], 32652416)
        self.assertEqual(p["hits"]["megaflow"], 0)  # not the main thread's 7
        self.assertEqual(p["idle_pct"], 0.0)

    def test_dpxctl(self):
        (p,) = parse.pmd_stats(DPX_PMD)
        self.assertAlmostEqual(p["cycles_per_packet"], 395.23)
        self.assertAlmostEqual(p["processing_cycles_per_packet"], 393.25)
        self.assertEqual(p["hits"], {"emc": 66485, "megaflow": 11628363})
        self.assertAlmostEqual(p["idle_pct"], 0.5)

    def test_two_pmds(self):
        two = DPX_PMD + DPX_PMD.replace("core_id 1", "core_id 3")
        self.assertEqual([p["core"] for p in parse.pmd_stats(two)], [1, 3])

    def test_garbage_raises(self):
        with self.assertRaises(parse.ParseError):
            parse.pmd_stats("ovs-appctl: cannot connect")


class GbenchTest(unittest.TestCase):
    DOC = {
        "context": {"mhz_per_cpu": 2300},
        "benchmarks": [
            {"name": "BM_ExtractKey/ipv4_udp_64B", "run_type": "iteration",
             "items_per_second": 1.9087259076859364e+08},
            {"name": "BM_EmcHit/microflows:1", "run_type": "iteration",
             "ns/pkt": 1.3127831170421078e-08},
            {"name": "BM_OutputOnly", "run_type": "iteration",
             "items_per_second": 354.6e6, "per_pkt": 2.82003e-09},
            {"name": "BM_Broken", "run_type": "iteration", "error_occurred": True},
            {"name": "BM_X_mean", "run_type": "aggregate", "items_per_second": 1.0},
        ],
    }

    def test_rows(self):
        rows = {r["name"]: r for r in parse.gbench_ns_per_packet(self.DOC)}
        self.assertEqual(set(rows), {"BM_ExtractKey/ipv4_udp_64B", "BM_EmcHit/microflows:1",
                                     "BM_OutputOnly"})
        self.assertAlmostEqual(rows["BM_ExtractKey/ipv4_udp_64B"]["ns_per_packet"], 5.2391, 3)
        self.assertAlmostEqual(rows["BM_EmcHit/microflows:1"]["ns_per_packet"], 13.1278, 3)
        # The explicit per-packet counter wins over items_per_second.
        self.assertAlmostEqual(rows["BM_OutputOnly"]["ns_per_packet"], 2.82003, 4)
        self.assertAlmostEqual(rows["BM_EmcHit/microflows:1"]["cycles_per_packet"],
                               13.1278 * 2.3, 2)

    def test_no_figure_raises(self):
        with self.assertRaises(parse.ParseError):
            parse.gbench_ns_per_packet({"benchmarks": [{"name": "BM_Y"}]})


class MachineTest(unittest.TestCase):
    def test_lscpu(self):
        m = parse.lscpu_summary("Architecture: x86_64\nCPU(s):   2\n"
                                "Model name:  Intel(R) Xeon(R) Processor\n"
                                "NUMA node0 CPU(s): 0,1\n")
        self.assertEqual(m, {"CPU(s)": "2", "Model name": "Intel(R) Xeon(R) Processor"})

    def test_meminfo(self):
        self.assertAlmostEqual(parse.meminfo_total_gib("MemTotal:       24684096 kB\n"),
                               23.54, 2)


def _pcap(frames, magic=0xA1B2C3D4, order="<"):
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for f in frames:
        out += struct.pack(order + "IIII", 0, 0, len(f), len(f)) + f
    return out


class PcapTest(unittest.TestCase):
    def test_lengths_both_orders(self):
        frames = [b"\0" * 60, b"\1" * 570, b"\2" * 1518]
        self.assertEqual(parse.pcap_frame_lengths(_pcap(frames)), [60, 570, 1518])
        self.assertEqual(parse.pcap_frame_lengths(_pcap(frames, order=">")), [60, 570, 1518])

    def test_truncated_raises(self):
        with self.assertRaises(parse.ParseError):
            parse.pcap_frame_lengths(_pcap([b"\0" * 60])[:-1])
        with self.assertRaises(parse.ParseError):
            parse.pcap_frame_lengths(b"\0" * 24)


class SummaryTest(unittest.TestCase):
    def test_summarize(self):
        s = summary.summarize([10.0, 12.0, 11.0, None])
        self.assertEqual((s["median"], s["min"], s["max"], s["n"]), (11.0, 10.0, 12.0, 3))
        self.assertAlmostEqual(s["spread_pct"], 2 / 11 * 100)
        self.assertIsNone(summary.summarize([None]))

    def test_ratio_pairs_rounds(self):
        r = summary.ratio([20.0, None, 24.0], [10.0, 11.0, 8.0])
        self.assertAlmostEqual(r["of_medians"], 22.0 / 10.0)
        self.assertEqual((r["round_min"], r["round_max"]), (2.0, 3.0))
        self.assertIsNone(summary.ratio([1.0], []))

    def test_rate(self):
        self.assertEqual(summary.rate(100, 1100, 1.0, 3.0), 500.0)
        with self.assertRaises(ValueError):
            summary.rate(1100, 100, 1.0, 3.0)
        with self.assertRaises(ValueError):
            summary.rate(0, 1, 2.0, 2.0)


class ReportTest(unittest.TestCase):
    def test_table_cells(self):
        result = {
            "params": {"switches": ["ovs", "dpx", "testpmd"]},
            "cases": [{"key": "c", "scenario": 1, "label": "1", "not_for": {"ovs": "why"},
                       "frame_bytes_mean": 60}],
            "samples": [
                {"case": "c", "switch": "dpx", "mpps": 20.0, "cycles_per_packet": 110.0},
                {"case": "c", "switch": "dpx", "mpps": 22.0, "cycles_per_packet": 100.0},
                {"case": "c", "switch": "testpmd", "mpps": None, "cycles_per_packet": None,
                 "error": "testpmd exited"},
            ],
        }
        report.summarize_result(result)
        notes = []
        table = report.throughput_table(result, 1, "Microflows", notes)
        self.assertNotIn("dpxctl", table.splitlines()[0])
        row = table.splitlines()[2]
        self.assertIn("| 1 | failed[^1] | n/a[^2] | 21.00 (20.00–22.00) |", row)
        self.assertIn("| 105 |", row)
        self.assertEqual(notes, ["1, testpmd io (ceiling) failed: testpmd exited",
                                 "1, OVS-DPDK 3.1: why."])

    def test_ratio_is_ovs_programmed_dpxd_over_ovs(self):
        result = {
            "params": {"switches": ["ovs", "dpx", "dpxd"]},
            "cases": [{"key": "c", "scenario": 1, "label": "1", "not_for": {},
                       "frame_bytes_mean": 60}],
            "samples": [{"case": "c", "switch": sw, "mpps": v, "cycles_per_packet": None}
                        for sw, v in (("ovs", 10.0), ("dpx", 25.0), ("dpxd", 30.0),
                                      ("ovs", 10.0), ("dpx", 15.0), ("dpxd", 30.0))],
        }
        e = report.summarize_result(result)["c"]
        self.assertAlmostEqual(e["dpx_over_ovs"]["of_medians"], 2.0)
        self.assertAlmostEqual(e["dpx_over_ovs"]["round_min"], 1.5)
        self.assertAlmostEqual(e["dpxd_over_ovs"]["of_medians"], 3.0)
        row = report.throughput_table(result, 1, "Microflows", []).splitlines()[2]
        self.assertIn("| **2.00** (1.50–2.50) | **3.00** (3.00–3.00) |", row)

    def test_memory_and_settle(self):
        result = {
            "params": {"switches": ["ovs", "dpx"]},
            "cases": [{"key": "c", "scenario": 1, "label": "1,000"}],
            "samples": [{"case": "c", "switch": "ovs", "rss_mib": 50.0, "hugepages_mib": 762.0,
                         "settle_s": 1.0},
                        {"case": "c", "switch": "dpx", "rss_mib": 90.0, "hugepages_mib": 594.0,
                         "settle_s": 3.0},
                        {"case": "c", "switch": "dpx", "rss_mib": 92.0, "hugepages_mib": 594.0,
                         "settle_s": 5.0}],
        }
        table = report.memory_table(result).splitlines()
        self.assertEqual(table[1], "|---|---|---|---|---|")
        self.assertEqual(table[2], "| 1,000 | n/a | 50 / 762 | 91 / 594 | n/a |")
        self.assertIn("1,000: OVS-DPDK 3.1 1.0 s, dpxd (OVS) 4.0 s",
                      report.settle_times(result, 1))

    def test_setup_table(self):
        base = {"case": "s", "est_alone_mpps": 20.0, "est_after_mpps": 10.0, "misses": 9000,
                "lost": 0, "flows_set_up": 9000, "setup_s": 1.0}
        result = {
            "params": {"switches": ["ovs", "dpx"]},
            "cases": [{"key": "s", "scenario": 6, "label": "9,000 new", "kind": "setup"}],
            "samples": [dict(base, switch="ovs", flows_per_s=9000.0, est_storm_mpps=5.0,
                             control_cpu_us_per_flow={"revalidator": 2.0, "main": 0.5}),
                        dict(base, switch="dpx", flows_per_s=18000.0, est_storm_mpps=10.0,
                             control_cpu_us_per_flow={"handler": 6.0, "revalidator": 2.0,
                                                      "dpxd": 5.0}),
                        {"case": "s", "switch": "ovs", "error": "boom"}],
        }
        table = report.setup_table(result)
        self.assertIn("| OVS-DPDK 3.1 | 9,000 |", table)
        self.assertIn("| dpxd (OVS) | 18,000 |", table)
        # The failed second OVS round has no dpx round to pair with.
        self.assertIn("| OVS-DPDK 3.1 | 0.00 | 2.00 | 0.50 | 0.00 | 0.00 | 2.50 | "
                      "n/a (upcalls on the PMD) |", table)
        # dpxd's own CPU is not in the ovs-vswitchd-only rate: 1e6 / 8.
        self.assertIn("| dpxd (OVS) | 6.00 | 2.00 | 0.00 | 0.00 | 5.00 | 13.00 | 125,000 |",
                      table)
        self.assertIn("set-up rate **2.00** (2.00–2.00), established flow during the storm "
                      "**2.00** (2.00–2.00).", table)


class VxlanTest(unittest.TestCase):
    """The decap traffic file: every frame wrapped in a valid VXLAN header."""

    def test_wrap_pcap(self):
        inner = [bytes(range(60)), bytes(range(100, 164))]
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "in.pcap"), os.path.join(d, "out.pcap")
            with open(src, "wb") as f:
                f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
                for i, fr in enumerate(inner):
                    f.write(struct.pack("<IIII", 7, i, len(fr), len(fr)) + fr)
            self.assertEqual(vxlan.wrap_pcap(src, out), 2)
            with open(out, "rb") as f:
                data = f.read()
        self.assertEqual(parse.pcap_frame_lengths(data), [110, 114])
        pkt = data[24 + 16:24 + 16 + 110]
        self.assertEqual(pkt[:6], bytes.fromhex("027063617000"))
        self.assertEqual(pkt[12:14], b"\x08\x00")
        ip = pkt[14:34]
        self.assertEqual(vxlan.ipv4_checksum(ip), 0)  # a valid header sums to 0xffff
        self.assertEqual(struct.unpack("!H", ip[2:4])[0], 96)
        self.assertEqual(ip[12:16], bytes([198, 18, 0, 2]))
        self.assertEqual(ip[16:20], bytes([198, 18, 0, 1]))
        sport, dport, ulen, csum = struct.unpack("!HHHH", pkt[34:42])
        self.assertEqual((sport, dport, ulen, csum), (49152, 4789, 76, 0))
        self.assertEqual(pkt[42:50], bytes.fromhex("0800000000002a00"))
        self.assertEqual(pkt[50:], inner[0])
        second = data[24 + 16 + 110 + 16:]
        self.assertEqual(struct.unpack("!H", second[34:36])[0], 49153)
        self.assertEqual(second[50:], inner[1])

    def test_ipv4_checksum_known_header(self):
        # RFC 1071 style example: the classic 20-byte header with checksum b861.
        hdr = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
        self.assertEqual(vxlan.ipv4_checksum(hdr), 0xB861)

    def test_rules(self):
        self.assertEqual(vxlan.rules("decap", 2, False), ["in_port=3,actions=output:2"])
        self.assertEqual(vxlan.rules("encap", 2, True),
                         ["in_port=1,actions=output:3", "in_port=LOCAL,actions=output:2"])


class Iperf3Test(unittest.TestCase):
    """containers.iperf3_result on trimmed `iperf3 -J` output of iperf 3.12."""

    UDP = {"start": {"test_start": {"protocol": "UDP", "blksize": 18}},
           "end": {"sum": {"seconds": 1.000776, "packets": 383770, "lost_packets": 278950,
                           "bits_per_second": 55262051.07, "sender": True},
                   "sum_sent": {"seconds": 1.000015, "packets": 383770, "lost_packets": 0,
                                "bits_per_second": 55262051.07},
                   "sum_received": {"seconds": 1.000776, "bytes": 1886760, "packets": 383770,
                                    "lost_packets": 278950, "lost_percent": 72.69,
                                    "bits_per_second": 15082376.08}}}
    TCP = {"start": {"test_start": {"protocol": "TCP"}},
           "end": {"sum_sent": {"seconds": 1.0, "bits_per_second": 14.6e9},
                   "sum_received": {"seconds": 1.009028,
                                    "bits_per_second": 14551835754.8}}}

    def test_udp_counts_what_arrived(self):
        r = containers.iperf3_result(self.UDP)
        self.assertAlmostEqual(r["pps"], (383770 - 278950) / 1.000776)
        self.assertAlmostEqual(r["bps"], 15082376.08)
        self.assertAlmostEqual(r["lost_pct"], 72.69)

    def test_tcp_is_the_receiver_rate(self):
        r = containers.iperf3_result(self.TCP)
        self.assertAlmostEqual(r["bps"], 14551835754.8)
        self.assertIsNone(r["pps"])

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "unable to connect"):
            containers.iperf3_result({"error": "unable to connect to server"})
        with self.assertRaises(ValueError):
            containers.iperf3_result({"start": self.TCP["start"], "end": {}})

    def test_table(self):
        samples = [{"variant": "bridge", "tcp_gbps": g, "udp_kpps": k, "error": None}
                   for g, k in ((10.0, 100.0), (12.0, 300.0), (11.0, 200.0))]
        samples.append({"variant": "macvlan", "tcp_gbps": None, "udp_kpps": None,
                        "error": "SwitchError: a|b"})
        t = containers.table(samples)
        self.assertIn("| Linux bridge + veth | 11.00 (10.00–12.00) | 200 (100–300) |", t)
        self.assertIn("failed: SwitchError: a/b", t)
        self.assertEqual(containers.table([]), "")


class MarkdownTest(unittest.TestCase):
    """write_markdown on a small result with every kind of section."""

    def test_sections(self):
        m = {"cpu": {"Model name": "x"}, "uname": "Linux", "mem_gib": 1.0, "hugepages": "1",
             "dpdk": "22.11", "ovs": "3.1.0", "dpx_commit": "abc", "load_start": "0",
             "load_end": "0"}
        cases = [{"key": "s1-flows-1", "scenario": 1, "label": "1", "not_for": {},
                  "frame_bytes_mean": 60, "kind": "throughput"},
                 {"key": "s4-vxlan-encap", "scenario": 4, "label": "encap",
                  "not_for": {"testpmd": "no encap"}, "frame_bytes_mean": 60,
                  "kind": "throughput"},
                 {"key": "s6", "scenario": 6, "label": "storm", "not_for": {}, "kind": "setup"},
                 {"key": "s8-latency", "scenario": 8, "label": "lat", "not_for": {},
                  "kind": "latency"}]
        samples = [{"case": "s1-flows-1", "scenario": 1, "switch": sw, "mpps": v,
                    "cycles_per_packet": 100.0, "rss_mib": 40.0, "hugepages_mib": 600.0,
                    "datapath_flows": 1, "settle_s": 1.0}
                   for sw, v in (("ovs", 10.0), ("dpx", 20.0), ("testpmd", 30.0))]
        samples += [{"case": "s4-vxlan-encap", "scenario": 4, "switch": sw, "mpps": 5.0,
                     "cycles_per_packet": 300.0} for sw in ("ovs", "dpx", "dpxd")]
        samples += [{"case": "s6", "scenario": 6, "switch": "ovs", "mpps": None,
                     "cycles_per_packet": None, "flows_per_s": 1000.0, "setup_s": 9.0,
                     "flows_set_up": 9000, "est_alone_mpps": 5.0, "est_storm_mpps": 1.0,
                     "est_after_mpps": 2.0, "misses": 9000, "lost": 0}]
        samples += [LatgenTest.sample(sw, 0, 2000) for sw in ("ovs", "dpx")]
        result = {"generated": "now", "machine": m, "cases": cases, "samples": samples,
                  "params": {"quick": True, "cpu": 1, "window_s": 1, "warmup_s": 0.3,
                             "rounds": 3, "other_rounds": 2, "switches": ["ovs", "dpx", "testpmd"],
                             "iperf_s": 1, "container_rounds": 1, "latency_s": 0.5,
                             "latency_warmup_s": 0.2},
                  "containers": [{"variant": "bridge", "tcp_gbps": 5.0, "udp_kpps": 50.0,
                                  "error": None}]}
        report.summarize_result(result)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "b.md")
            report.write_markdown(result, path, {})
            with open(path) as f:
                md = f.read()
        for heading in ("## Summary", "## Scenario 1", "## Scenario 4", "## Scenario 6",
                        "## Scenario 7: containers", "## Scenario 8", "## Scenario 9",
                        "## Notes"):
            self.assertIn(heading, md)
        self.assertIn("dpxd (OVS) 20.00 Mpps, OVS-DPDK 10.00 Mpps, ratio 2.00", md)
        self.assertIn("| Linux bridge + veth | 5.00 | 50 |", md)
        self.assertIn("| encap | n/a[^1] | 5.00 | 5.00 | 5.00 |", md)
        # Scenarios that ran are not listed as not measured.
        missing = md.split("## Scenarios not measured yet")[1]
        self.assertNotIn("| 7 |", missing)
        self.assertNotIn("| 8 |", missing)
        self.assertIn("0.2 s warm-up at its rate that is not measured, then 0.5 s", md)
        self.assertIn("**Latency** (scenario 8)", md)
        self.assertIn("| 5 |", missing)


# dpx-latgen's output (tools/latgen.cc) through dpxd programmed by dpxctl,
# captured while others compiled on both CPUs (hence the huge tails).
LATGEN = """\
{"tool": "dpx-latgen", "tsc_hz": 2300000000, "frame_bytes": 60, "phases": [
  {"rate": "max", "target_pps": 0.0, "sent": 1807552, "received": 1805760, "lost": 1792, "duplicates": 0, "reordered": 0, "tx_ring_full": 29758848, "bad_stamp": 0, "unexpected": 0, "warmup_sent": 208288, "warmup_received": 208000, "schedule_skips": 0, "stopped_early": false, "tx_seconds": 1.0000, "tx_pps": 1807553.9, "rx_pps": 1805761.9, "latency_ns": {"samples": 1805760, "min": 83711, "mean": 578911.1, "p50": 105983, "p90": 164863, "p99": 16187391, "p999": 27000831, "max": 32310358}},
  {"rate": "10%", "target_pps": 180576.2, "sent": 111319, "received": 111319, "lost": 0, "duplicates": 0, "reordered": 0, "tx_ring_full": 69257, "bad_stamp": 0, "unexpected": 0, "warmup_sent": 23320, "warmup_received": 23320, "schedule_skips": 0, "stopped_early": false, "tx_seconds": 1.0000, "tx_pps": 111319.7, "rx_pps": 111319.7, "latency_ns": {"samples": 111319, "min": 935, "mean": 5333736.0, "p50": 3997695, "p90": 13369343, "p99": 17170431, "p999": 19922943, "max": 20082654}},
  {"rate": "80%", "target_pps": 1444609.5, "sent": 396393, "received": 396393, "lost": 0, "duplicates": 0, "reordered": 0, "tx_ring_full": 1040961, "bad_stamp": 0, "unexpected": 0, "warmup_sent": 91651, "warmup_received": 91651, "schedule_skips": 151, "stopped_early": false, "tx_seconds": 1.0000, "tx_pps": 396393.1, "rx_pps": 396393.1, "latency_ns": {"samples": 396393, "min": 741, "mean": 1951177.8, "p50": 1687, "p90": 11665407, "p99": 16056319, "p999": 20185087, "max": 20240997}}
]}
"""


class LatgenTest(unittest.TestCase):
    def test_phases(self):
        doc = parse.latgen_result(LATGEN)
        self.assertEqual(doc["tsc_hz"], 2300000000)
        self.assertEqual([p["rate"] for p in doc["phases"]], ["max", "10%", "80%"])
        self.assertEqual(doc["phases"][0]["lost"], 1792)
        self.assertAlmostEqual(doc["phases"][0]["rx_pps"], 1805761.9)
        eighty = doc["phases"][2]
        self.assertEqual(eighty["latency_ns"]["p50"], 1687)
        self.assertEqual(eighty["schedule_skips"], 151)

    def test_inconsistent_or_broken_output_raises(self):
        import json
        good = json.loads(LATGEN)
        bad_docs = []
        for path, value in ((("phases", 1, "lost"), 5),       # lost != sent - received
                            (("phases", 1, "latency_ns", "samples"), 3),
                            (("phases", 1, "latency_ns", "p50"), 99999999),  # out of order
                            (("phases", 0, "sent"), -1),
                            (("phases", 0, "received"), "1"),
                            (("tsc_hz",), 0),
                            (("tool",), "other")):
            d = json.loads(LATGEN)
            node = d
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
            bad_docs.append(json.dumps(d))
        no_phases = dict(good, phases=[])
        bad_docs += [json.dumps(no_phases), "", "{", LATGEN[:200]]
        for text in bad_docs:
            with self.assertRaises(parse.ParseError, msg=text[:120]):
                parse.latgen_result(text)

    @staticmethod
    def result(samples):
        return {"cases": [{"key": "s8-latency", "scenario": 8, "kind": "latency",
                           "label": "lat", "not_for": {}}],
                "samples": samples}

    @staticmethod
    def sample(sw, rnd, p50, lost=0, error=None):
        phases = []
        for rate in ("max", "10%", "80%"):
            phases.append({"rate": rate, "tx_pps": 1e6, "target_pps": 6e5, "sent": 1000,
                           "lost": lost,
                           "duplicates": 0, "reordered": 1 if sw == "ovs" else 0,
                           "latency_ns": {"p50": p50, "p90": p50 * 2, "p99": p50 * 4,
                                          "p999": p50 * 8, "max": p50 * 16 + rnd}})
        return {"case": "s8-latency", "scenario": 8, "switch": sw, "round": rnd,
                "pmd_on_cpu_pct": 90.0 + rnd,
                "mpps": 5.0 + rnd, "cycles_per_packet": None,
                "phases": [] if error else phases, "error": error}

    def test_table_medians_ratios_and_failures(self):
        samples = [self.sample("ovs", r, p) for r, p in enumerate((2000, 4000, 3000))]
        samples += [self.sample("dpx", r, p, lost=1) for r, p in enumerate((1000, 1500, 2000))]
        samples.append(self.sample("dpx", 3, 0, error="dpx-latgen exit 1: boom"))
        t = latency.table(self.result(samples), report.SWITCHES)
        self.assertIn("| OVS-DPDK 3.1 | 6.00 (5.00–7.00) | 10% | 1.000 (0.600) | 3.0 (2.0–4.0) | "
                      "6.0 (4.0–8.0) | 12.0 (8.0–16.0) | 24.0 (16.0–32.0) | 64.0 | 0 / 3,000 | "
                      "91 % |", t)
        # The PMD's share is given once per switch, on its first row.
        self.assertIn("| 64.0 | 0 / 3,000 |  |", t)
        # The round that failed is a row of its own; the good ones count.
        self.assertIn("| dpxd (OVS) | 6.00 (5.00–7.00) | 10% | 1.000 (0.600) | 1.5 (1.0–2.0) |", t)
        self.assertIn("| 3 / 3,000 |", t)
        self.assertIn("1 round(s) failed: dpx-latgen exit 1: boom", t)
        self.assertIn("at 10% load p50 0.50, p99 0.50", t)
        self.assertIn("OVS-DPDK 3.1 at 80%: 0 duplicate(s), 3 reordered", t)
        self.assertEqual(latency.table({"cases": [], "samples": []}, report.SWITCHES), "")

    def test_latgen_command(self):
        g = latency.Latgen("/b/dpx-latgen", "/tmp/x", "pfx", 0.5, 0.2)
        cmd = g.command()
        self.assertEqual(cmd[:3], ["/b/dpx-latgen", "-l", "0"])
        self.assertIn("net_virtio_user0,queue_size=1024,server=1,path=/tmp/x/la.sock", cmd)
        self.assertEqual(cmd[cmd.index("--") + 1:],
                         ["--rates", "max,10%,80%", "--duration", "0.5", "--warmup", "0.2"])


class MainTest(unittest.TestCase):
    def test_describe_sample(self):
        from . import __main__ as main
        self.assertEqual(main.describe_sample({"mpps": 1.5, "cycles_per_packet": 200.0}),
                         "1.50 Mpps, 200 cycles/pkt")
        self.assertIn("9,000 flows/s", main.describe_sample(
            {"flows_per_s": 9000.0, "est_storm_mpps": 1.0, "est_alone_mpps": 2.0}))
        self.assertEqual(main.describe_sample({"mpps": None}), "-")
        lat = LatgenTest.sample("dpx", 0, 2000)
        self.assertEqual(main.describe_sample(lat),
                         "max 5.00 Mpps; 10%: p50 2.0 us, p99 8.0 us, lost 0; "
                         "80%: p50 2.0 us, p99 8.0 us, lost 0")


class StormTest(unittest.TestCase):
    """flowsetup.storm_timeline: the span is from the last poll at the base
    flow count to the first poll with every storm flow."""

    def test_full_storm(self):
        polls = [(0.0, 1, 0, 0, 0), (0.1, 1, 1000, 0, 0), (0.2, 1, 2000, 5, 0),
                 (0.3, 500, 2500, 600, 1), (0.5, 1001, 3000, 1200, 3), (0.6, 1001, 4000, 1200, 3)]
        t = flowsetup.storm_timeline(polls, 1, 1000)
        self.assertEqual(t["flows_set_up"], 1000)
        self.assertAlmostEqual(t["setup_s"], 0.3)
        self.assertAlmostEqual(t["flows_per_s"], 1000 / 0.3)
        self.assertAlmostEqual(t["est_storm_mpps"], 1000 / 0.3 / 1e6)
        self.assertEqual((t["misses"], t["lost"]), (1195, 3))

    def test_storm_that_stops_short(self):
        polls = [(0.0, 1, 0, 0, 0), (1.0, 400, 10, 0, 0), (2.0, 700, 20, 0, 0),
                 (9.0, 700, 90, 0, 0)]
        t = flowsetup.storm_timeline(polls, 1, 1000)
        self.assertEqual(t["flows_set_up"], 699)
        self.assertAlmostEqual(t["setup_s"], 2.0)

    def test_no_rise_is_an_error(self):
        with self.assertRaises(ValueError):
            flowsetup.storm_timeline([(0.0, 1, 0, 0, 0), (1.0, 1, 5, 0, 0)], 1, 10)
        # A rise already in the first poll has no "before" to start from.
        with self.assertRaises(ValueError):
            flowsetup.storm_timeline([(0.0, 5, 0, 0, 0), (1.0, 9, 5, 0, 0)], 1, 10)


class ScenarioTest(unittest.TestCase):
    """The rules must match the packets dpx-pcapgen writes."""

    def test_microflow_formula_matches_pcapgen(self):
        pcapgen = os.environ.get("DPX_PCAPGEN")
        if not pcapgen:
            self.skipTest("DPX_PCAPGEN not set (ctest sets it)")
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.pcap")
            subprocess.run([pcapgen, "--out", path, "--flows", "70000", "--count", "70000"],
                           check=True)
            with open(path, "rb") as f:
                data = f.read()
        off = 24
        checked = 0
        for i in range(70000):
            incl = struct.unpack_from("<I", data, off + 8)[0]
            pkt = data[off + 16:off + 16 + incl]
            off += 16 + incl
            if i % 997 and i not in (64511, 64512, 69999):
                continue
            src_ip = ".".join(str(b) for b in pkt[26:30])
            dst_ip = ".".join(str(b) for b in pkt[30:34])
            sport, dport = struct.unpack_from(">HH", pkt, 34)
            self.assertEqual((src_ip, sport, dst_ip, dport), scenarios.microflow(i), f"packet {i}")
            self.assertEqual(pkt[23], 17)
            checked += 1
        self.assertGreater(checked, 70)

    def test_storm_rules_one_per_microflow_to_the_second_sink(self):
        (c,) = scenarios.scenario6(quick=True)
        self.assertEqual(c.openflow_rules[0], "in_port=1,actions=output:2")
        storm = c.openflow_rules[1:]
        self.assertEqual(len(storm), scenarios.STORM_FLOWS)
        # Below OVS's initial flow limit of 10,000 datapath flows.
        self.assertLess(scenarios.STORM_FLOWS + 1, 10000)
        self.assertEqual(storm[5], "in_port=3,udp,nw_src=10.1.0.0,nw_dst=10.0.0.1,"
                                   "tp_src=1029,tp_dst=5001,actions=output:4")
        self.assertEqual(len(set(storm)), len(storm))
        self.assertEqual(set(c.not_for), {"dpxd", "testpmd"})

    def test_exact_rules(self):
        of, dp = scenarios.exact_5tuple_rules(64513)
        self.assertEqual(of[64512], "in_port=1,udp,nw_src=10.1.0.1,nw_dst=10.0.0.1,"
                                    "tp_src=1024,tp_dst=5001,actions=output:2")
        self.assertEqual(dp[0], ("in_port(1),eth(),eth_type(0x0800),ipv4(src=10.1.0.0,"
                                 "dst=10.0.0.1,proto=17,frag=no),udp(src=1024,dst=5001)", "2"))

    def test_subtable_rules_use_20_masks_and_are_disjoint(self):
        of, dp = scenarios.subtable_rules(1000)
        masks = set()
        for flow, _ in dp:
            # The mask of a rule: its field names and prefix lengths.
            masks.add(",".join(part.split("=")[0] + ("/" + part.split("/")[1]
                                                      if "/" in part else "")
                               for part in flow.replace("(", ",").replace(")", ",").split(",")
                               if "=" in part))
        self.assertEqual(len(masks), 20)
        src_ports = [int(f.split("tp_src=")[1].split(",")[0]) for f in of]
        self.assertEqual(len(set(src_ports)), 1000)
        self.assertIn("nw_src=10.1.0.0/16", " ".join(of))
        with self.assertRaises(ValueError):
            scenarios.subtable_rules(64513)



class MemTest(unittest.TestCase):
    def test_memory_mib_sums_processes(self):
        one = measure.memory_mib([os.getpid()])
        two = measure.memory_mib([os.getpid(), os.getpid()])
        self.assertGreater(one[0], 1)
        self.assertAlmostEqual(two[0], 2 * one[0], delta=one[0] * 0.1)
        self.assertEqual(measure.memory_mib([]), (None, None))
        self.assertEqual(measure.memory_mib([2 ** 22 + 12345]), (None, None))

    def test_fields(self):
        status = "Name:\tdpxd\nVmRSS:\t  123456 kB\nThreads:\t5\n"
        self.assertEqual(parse.meminfo_field_kb(status, "VmRSS"), 123456)
        self.assertEqual(parse.meminfo_field_kb("HugePages_Free:     930\n",
                                                "HugePages_Free"), 930)
        with self.assertRaises(parse.ParseError):
            parse.meminfo_field_kb(status, "VmHWM")


class SchedTest(unittest.TestCase):
    def test_schedstat(self):
        self.assertEqual(parse.schedstat("2011396087 1884 96\n"), (2011396087, 1884))
        with self.assertRaises(parse.ParseError):
            parse.schedstat("")

    def test_cpus_allowed(self):
        self.assertEqual(parse.cpus_allowed("Name:\tpmd-c01/id:8\nCpus_allowed:\t2\n"
                                            "Cpus_allowed_list:\t1\n"), "1")

    def test_control_threads_leave_the_pmd_out(self):
        import threading
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, name="pmdlike")
        t.start()
        try:
            tid = t.native_id
            os.sched_setaffinity(tid, {0})
            with open(f"/proc/self/task/{tid}/comm", "w") as f:
                f.write("pmdlike")
            paths = measure.control_threads([os.getpid()], 0)
            names = [n.split(":", 1)[1] for n in paths]
            self.assertNotIn("pmdlike", names)
            os.sched_setaffinity(tid, {0, 1})
            paths = measure.control_threads([os.getpid()], 0)
            self.assertIn("pmdlike", [n.split(":", 1)[1] for n in paths])
            cpu = measure.thread_cpu_ns(paths)
            self.assertEqual(set(cpu), set(paths))
            self.assertTrue(all(v >= 0 for v in cpu.values()))
        finally:
            stop.set()
            t.join()

    def test_cpu_per_flow_by_group(self):
        before = {"ovs-vswitchd:ovs-vswitchd": 1000, "ovs-vswitchd:handler1": 0,
                  "ovs-vswitchd:revalidator2": 5000, "dpxd:dpxd": 2000,
                  "ovs-vswitchd:gone": 7}
        after = {"ovs-vswitchd:ovs-vswitchd": 3000, "ovs-vswitchd:handler1": 40000,
                 "ovs-vswitchd:handler2": 20000, "ovs-vswitchd:revalidator2": 9000,
                 "ovs-vswitchd:urcu3": 1000, "dpxd:dpxd": 12000, "dpxd:telemetry-v2": 2000,
                 "ovs-vswitchd-dp:pmd-c01/id:6": 3000}
        # Per flow over 10 flows, in microseconds.
        self.assertEqual(summary.cpu_per_flow(before, after, 10),
                         {"dpxd": 1.2, "handler": 6.0, "main": 0.2, "ovs other": 0.4,
                          "revalidator": 0.4})
        self.assertEqual(summary.cpu_per_flow(before, after, 0), {})
        # OVS-DPDK's main thread is named after its 15-character comm.
        self.assertEqual(summary.thread_group("ovs-vswitchd-dp:ovs-vswitchd-dp"), "main")

    def test_steal(self):
        stat = ("cpu  10 0 5 100 0 0 0 7 0 0\ncpu0 5 0 2 50 0 0 0 3 0 0\n"
                "cpu1 5 0 3 50 0 0 0 4 0 0\nintr 1\n")
        self.assertEqual(parse.proc_stat_steal(stat, 1), 4)
        with self.assertRaises(parse.ParseError):
            parse.proc_stat_steal(stat, 2)


if __name__ == "__main__":
    unittest.main()
