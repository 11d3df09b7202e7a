#!/usr/bin/python3
"""Reference packets of VXLAN and Geneve over an IPv6 underlay, built with
scapy, for tests/tunnel_codec6_test.cc (the IPv4 ones are
gen_tunnel_fixtures.py's).

Regenerate with

    /usr/bin/python3 tests/data/gen_tunnel6_fixtures.py tests/data

and commit the .pcap files. Every file holds the inner frame first, then its
encapsulation; the parameters each file uses are repeated in the C++ test
next to the file name.
"""
import sys

from scapy.all import Ether, IP, IPv6, UDP, Raw, wrpcap
from scapy.layers.inet6 import (ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                                ICMPv6NDOptSrcLLAddr, IPv6ExtHdrDestOpt,
                                IPv6ExtHdrHopByHop, PadN, RouterAlert)
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.vxlan import VXLAN

PORT_MAC = "02:00:00:00:aa:01"    # the encapsulating host's underlay port
NH_MAC = "02:00:00:00:bb:02"      # the next hop (the remote VTEP itself)
LOCAL_VTEP = "2001:db8::1"
REMOTE_VTEP = "2001:db8::2"
SPORT = 49152                     # outer UDP source port


def inner():
    # The same 60-byte inner frame as the IPv4 fixtures.
    p = (Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") /
         IP(src="192.168.1.1", dst="192.168.1.2", ttl=64, id=7) /
         UDP(sport=1000, dport=2000) / Raw(bytes(range(18))))
    return Ether(bytes(p))


def outer(hlim=64, tc=0, fl=0, dport=4789):
    return (Ether(dst=NH_MAC, src=PORT_MAC) /
            IPv6(src=LOCAL_VTEP, dst=REMOTE_VTEP, hlim=hlim, tc=tc, fl=fl) /
            UDP(sport=SPORT, dport=dport))


def main(out_dir):
    i = inner()
    cases = {
        # VNI 42, hop limit 64, traffic class 0, UDP checksum computed.
        "vxlan6_basic": outer() / VXLAN(vni=42, flags=0x08) / i,
        # The same with a zero UDP checksum (RFC 6935).
        "vxlan6_zero_csum": outer() / VXLAN(vni=42, flags=0x08) / i,
        # Traffic class 0xb8, hop limit 17, flow label 0x12345, VNI
        # 0xabcdef, UDP port 8472.
        "vxlan6_tc": outer(hlim=17, tc=0xb8, fl=0x12345, dport=8472) /
                     VXLAN(vni=0xabcdef, flags=0x08) / i,
        # Encapsulation as dpx does it: traffic class 0xb8, hop limit 17,
        # flow label 0, VNI 0xabcdef, UDP port 8472, checksum computed.
        "vxlan6_hlim": outer(hlim=17, tc=0xb8, dport=8472) /
                       VXLAN(vni=0xabcdef, flags=0x08) / i,
        # VNI 42 behind a hop-by-hop header (a Router Alert option, which a
        # node may skip) and a destination options header (padding only):
        # decap walks them; UDP checksum computed.
        "vxlan6_exthdrs": (Ether(dst=NH_MAC, src=PORT_MAC) /
                           IPv6(src=LOCAL_VTEP, dst=REMOTE_VTEP, hlim=64) /
                           IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)]) /
                           IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")]) /
                           UDP(sport=SPORT, dport=4789) / VXLAN(vni=42, flags=0x08) / i),
        # Geneve, VNI 42, OAM, no options.
        "geneve6_oam": outer(dport=6081) / GENEVE(vni=42, proto=0x6558, oam=1) / i,
        # Geneve, VNI 7, OAM, two non-critical options.
        "geneve6_opts": outer(dport=6081) /
                        GENEVE(vni=7, proto=0x6558, oam=1, options=[
                            GeneveOptions(classid=0x0102, type=0x05, data=b"abcd"),
                            GeneveOptions(classid=0xffff, type=0x10, data=b"01234567")]) / i,
    }
    for name, pkt in cases.items():
        pkt = Ether(bytes(pkt))  # freeze lengths and checksums
        if name == "vxlan6_zero_csum":
            pkt[UDP].chksum = 0
            pkt = Ether(bytes(pkt))
        # Fixed timestamps so that regenerating gives the same files.
        i.time = 0
        pkt.time = 0
        wrpcap(f"{out_dir}/tunnel_{name}.pcap", [i, pkt])

    # Neighbour Discovery (tests/tunnel_underlay_test.cc): the solicitation
    # the local VTEP sends for the remote one (to its solicited-node
    # multicast group), then the remote's solicited advertisement.
    ns = (Ether(dst="33:33:ff:00:00:02", src=PORT_MAC) /
          IPv6(src=LOCAL_VTEP, dst="ff02::1:ff00:2", hlim=255) /
          ICMPv6ND_NS(tgt=REMOTE_VTEP) / ICMPv6NDOptSrcLLAddr(lladdr=PORT_MAC))
    na = (Ether(dst=PORT_MAC, src=NH_MAC) /
          IPv6(src=REMOTE_VTEP, dst=LOCAL_VTEP, hlim=255) /
          ICMPv6ND_NA(tgt=REMOTE_VTEP, R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr=NH_MAC))
    ns, na = Ether(bytes(ns)), Ether(bytes(na))
    ns.time = na.time = 0
    wrpcap(f"{out_dir}/nd_ns_na.pcap", [ns, na])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
