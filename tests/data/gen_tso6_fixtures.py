#!/usr/bin/python3
"""Reference packets for the TCP/IPv6 segmentation and checksum completion
of packets with IPv6 extension headers (tests/offload_test.cc), built with
scapy, whose checksums take a routing header's final destination into the
pseudo-header on their own (scapy's in6_chksum).

Regenerate with

    /usr/bin/python3 tests/data/gen_tso6_fixtures.py tests/data

and commit the .pcap files.

tso6_<case>.pcap: frame 0 is the TSO frame as a sender's stack hands it
over (one TCP segment of PAYLOAD bytes, its checksum field holding the
pseudo-header sum only, as Linux leaves it), then the segments that cutting
it at MSS bytes must give, each built here on its own: its share of the
payload, sequence number, IPv6 payload length, FIN and PSH on the last one
only, CWR on the first one only, and a complete checksum.

csum6_<case>.pcap: one UDP or TCP packet with extension headers and a
complete checksum (the test blanks the checksum and asks for it).

refused6.pcap: TSO frames with headers the segmenter refuses, in the order
of the table in the C++ test.
"""
import sys

from scapy.all import Ether, IPv6, TCP, UDP, Raw, raw, wrpcap
from scapy.layers.inet6 import (HAO, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                                IPv6ExtHdrSegmentRouting, PadN, RouterAlert,
                                in6_pseudoheader)
from scapy.layers.ipsec import AH

PAYLOAD = 3500
MSS = 1000
SRC = "2001:db8:1::1"
DST = "2001:db8:2::2"
FINAL = "2001:db8:9::9"   # a routing header's final destination
VIA = "2001:db8:5::5"


def eth():
    return Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01")


def data(n):
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


# The extension header chains, between IPv6 and TCP.
CASES = {
    # Hop-by-hop options with a router alert.
    "hbh": lambda: IPv6ExtHdrHopByHop(options=[RouterAlert()]),
    # Hop-by-hop, destination options, routing (type 0, two addresses, two
    # segments left: the final destination is the last address),
    # destination options.
    "rh0": lambda: (IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\0\0\0\0")]) /
                    IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 12)]) /
                    IPv6ExtHdrRouting(type=0, segleft=2, addresses=[VIA, FINAL]) /
                    IPv6ExtHdrDestOpt()),
    # Mobile IPv6's type 2 routing header: one address, one segment left.
    "rh2": lambda: IPv6ExtHdrRouting(type=2, segleft=1, addresses=[FINAL]),
    # A segment routing header (type 4): the list in reverse order, the
    # final destination first.
    "srh": lambda: IPv6ExtHdrSegmentRouting(segleft=1, addresses=[FINAL, VIA]),
    # A routing header with no segment left: the IPv6 destination is final.
    "rh0_done": lambda: IPv6ExtHdrRouting(type=0, segleft=0, addresses=[VIA]),
}


def tcp_packet(ext, seq, flags, payload):
    return eth() / IPv6(src=SRC, dst=DST, hlim=64) / ext / TCP(
        sport=40000, dport=80, seq=seq, ack=7, flags=flags, window=512,
        options=[("NOP", None), ("NOP", None), ("Timestamp", (1, 2))]) / Raw(payload)


def tso_case(name, make_ext):
    seq0 = 0xFFFFF000  # the sequence numbers wrap
    body = data(PAYLOAD)
    big = tcp_packet(make_ext(), seq0, "CPAF", body)
    big = Ether(raw(big))
    # The sender's partial checksum: the pseudo-header sum alone (folded,
    # not complemented), over the whole segment's length.
    tcp = big[TCP]
    ph = raw(in6_pseudoheader(6, tcp, len(raw(tcp))))
    s = sum(int.from_bytes(ph[i:i + 2], "big") for i in range(0, len(ph), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    frame = bytearray(raw(big))
    off = len(frame) - len(raw(tcp))
    frame[off + 16:off + 18] = s.to_bytes(2, "big")
    out = [Ether(bytes(frame))]
    for i, start in enumerate(range(0, PAYLOAD, MSS)):
        last = start + MSS >= PAYLOAD
        flags = "A" + ("C" if i == 0 else "") + ("PF" if last else "")
        seg = tcp_packet(make_ext(), (seq0 + start) & 0xFFFFFFFF, flags,
                         body[start:start + MSS])
        out.append(Ether(raw(seg)))
    return out


def main(out_dir):
    for name, make_ext in CASES.items():
        wrpcap(f"{out_dir}/tso6_{name}.pcap", tso_case(name, make_ext))
    # Checksum completion alone, UDP and TCP, with a routing header.
    udp = eth() / IPv6(src=SRC, dst=DST) / CASES["rh0"]() / UDP(sport=5000, dport=53) / Raw(data(300))
    wrpcap(f"{out_dir}/csum6_udp_rh0.pcap", [Ether(raw(udp))])
    tcp = tcp_packet(CASES["srh"](), 12345, "PA", data(200))
    wrpcap(f"{out_dir}/csum6_tcp_srh.pcap", [Ether(raw(tcp))])
    # Refused.
    refused = [
        # A fragment header.
        IPv6ExtHdrFragment(id=1, m=1),
        # Destination options, then hop-by-hop (which must come first).
        IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop(),
        # An authentication header.
        AH(nh=6, spi=1, seq=1, icv=b"\0" * 12),
        # A home address option (Mobile IPv6).
        IPv6ExtHdrDestOpt(options=[HAO(hoa=VIA)]),
        # A routing header of type 3 (RPL, compressed) with segments left.
        IPv6ExtHdrRouting(type=3, segleft=1, addresses=[FINAL]),
        # Two routing headers.
        IPv6ExtHdrRouting(type=0, segleft=0, addresses=[VIA]) /
        IPv6ExtHdrRouting(type=0, segleft=0, addresses=[VIA]),
    ]
    wrpcap(f"{out_dir}/refused6.pcap",
           [Ether(raw(tcp_packet(e, 1, "PA", data(3000)))) for e in refused])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
