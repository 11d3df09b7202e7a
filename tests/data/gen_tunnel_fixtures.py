#!/usr/bin/python3
"""Reference packets for tests/tunnel_codec_test.cc, built with scapy.

The tunnel encapsulation and decapsulation code is checked byte for byte
against these packets, which scapy builds from the field values below,
independently of dpx's own code. Regenerate with

    /usr/bin/python3 tests/data/gen_tunnel_fixtures.py tests/data

(needs python3-scapy) and commit the .pcap files. Every file holds the inner
frame first, then its encapsulation; the parameters each file uses are
repeated in the C++ test next to the file name.
"""
import sys

from scapy.all import Ether, IP, UDP, Raw, wrpcap
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.vxlan import VXLAN

PORT_MAC = "02:00:00:00:aa:01"    # the local underlay port
NH_MAC = "02:00:00:00:bb:02"      # the next hop (the remote VTEP itself)
LOCAL_VTEP = "10.0.0.1"
REMOTE_VTEP = "10.0.0.2"
SPORT = 49152                     # outer UDP source port the test asks for


def inner():
    # An inner frame of 64 bytes with the FCS (60 without), as pktgen sends.
    p = (Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") /
         IP(src="192.168.1.1", dst="192.168.1.2", ttl=64, id=7) /
         UDP(sport=1000, dport=2000) / Raw(bytes(range(18))))
    return Ether(bytes(p))


def outer(ttl=64, tos=0, df=True, ip_id=0, dport=4789):
    return (Ether(dst=NH_MAC, src=PORT_MAC) /
            IP(src=LOCAL_VTEP, dst=REMOTE_VTEP, ttl=ttl, tos=tos,
               flags="DF" if df else 0, id=ip_id) /
            UDP(sport=SPORT, dport=dport))


def main(out_dir):
    i = inner()
    cases = {
        # VNI 42, DF, TTL 64, TOS 0, UDP checksum 0.
        "vxlan_basic": outer() / VXLAN(vni=42, flags=0x08) / i,
        # The same with flags(csum): scapy computes the UDP checksum.
        "vxlan_csum": outer() / VXLAN(vni=42, flags=0x08) / i,
        # No DF: IPv4 id 0x1234 (the test passes it), TOS 0xb8, TTL 17,
        # VNI 0xabcdef, destination port 8472 taken from set(tunnel(tp_dst)).
        "vxlan_nodf": outer(ttl=17, tos=0xb8, df=False, ip_id=0x1234, dport=8472) /
                      VXLAN(vni=0xabcdef, flags=0x08) / i,
        # Geneve, VNI 42, no options.
        "geneve_basic": outer(dport=6081) / GENEVE(vni=42, proto=0x6558) / i,
        # Geneve with the OAM bit (flags(oam) in set(tunnel)).
        "geneve_oam": outer(dport=6081) / GENEVE(vni=42, proto=0x6558, oam=1) / i,
        # Geneve with two non-critical options (decap: they go into the
        # flow key's tunnel metadata byte for byte).
        "geneve_opts": outer(dport=6081) /
                       GENEVE(vni=7, proto=0x6558, options=[
                           GeneveOptions(classid=0x0102, type=0x05, data=b"abcd"),
                           GeneveOptions(classid=0xffff, type=0x10, data=b"01234567")]) / i,
        # Encap of set(tunnel(...,geneve({class=0x102,type=0x80,len=4,
        # 0xa0b0c0d}{class=0xffff,type=0x10,len=8,0x3031323334353637}))):
        # Opt Len 5 (words), and the C flag because type 0x80 is critical,
        # as OVS and Linux set them (scapy is told, not asked).
        "geneve_opts_tx": outer(dport=6081) /
                          GENEVE(vni=42, proto=0x6558, critical=1, options=[
                              GeneveOptions(classid=0x0102, type=0x80,
                                            data=bytes([0x0a, 0x0b, 0x0c, 0x0d])),
                              GeneveOptions(classid=0xffff, type=0x10, data=b"01234567")]) / i,
        # The largest single option (124 bytes with its header): the outer
        # headers no longer fit a fresh mbuf's 128 bytes of headroom. Opt
        # Len (31 words) is given: scapy's GENEVE.post_build masks the
        # length it computes with 0x2f instead of 0x3f, which loses bit 4.
        "geneve_opts_big": outer(dport=6081) /
                           GENEVE(vni=42, proto=0x6558, optionlen=31, options=[
                               GeneveOptions(classid=0x0104, type=0x01,
                                             data=bytes(range(120)))]) / i,
    }
    for name, pkt in cases.items():
        pkt = Ether(bytes(pkt))  # freeze lengths and checksums
        if name != "vxlan_csum":
            pkt[UDP].chksum = 0
            pkt = Ether(bytes(pkt))
        wrpcap(f"{out_dir}/tunnel_{name}.pcap", [i, pkt])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
