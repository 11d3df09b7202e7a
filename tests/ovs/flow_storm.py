#!/usr/bin/env python3
"""A storm of new flows for the upcall-storm test (ovs_upcall_storm_test.sh).

    flow_storm.py IFNAME DST_MAC STOP_FILE COUNT_FILE [RATE]

Sends Ethernet/IPv4/UDP frames out of IFNAME through a raw packet socket,
each from a source MAC address and IPv4 address never used before in the
run, until STOP_FILE exists. With OVS's NORMAL action every new source MAC
is a new megaflow (MAC learning puts eth_src in the match), so every frame
is a miss in the datapath and an upcall. The frames go to DST_MAC, the
sender's own MAC, which NORMAL learned on the same port: OVS drops them, so
the storm loads only the upcall path and not the other containers.
RATE (frames per second, default 0 = as fast as it can) paces the storm.
Writes the number of frames sent to COUNT_FILE when it stops.
"""
import os
import socket
import struct
import sys
import time


def checksum(data):
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(dst_mac, n):
    # Locally administered unicast source MAC 02:xx:xx:xx:xx:xx and source
    # address 172.31.x.x..: neither is on the containers' subnet, so nothing
    # answers them.
    src_mac = bytes([0x02, 0x5A]) + n.to_bytes(4, "big")
    src_ip = bytes([172, 16 + ((n >> 16) & 0x0F), (n >> 8) & 0xFF, n & 0xFF])
    dst_ip = bytes([172, 31, 255, 254])
    payload = b"storm" + bytes(13)
    udp = struct.pack("!HHHH", 1024 + (n & 0x7FFF), 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def main():
    ifname, dst, stop_file, count_file = sys.argv[1:5]
    rate = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    dst_mac = bytes.fromhex(dst.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    n = 0
    start = time.monotonic()
    try:
        while not os.path.exists(stop_file):
            if rate and n > rate * (time.monotonic() - start):
                time.sleep(0.001)
                continue
            # A thousand frames between looks at the stop file.
            for _ in range(1000):
                n += 1
                try:
                    s.send(frame(dst_mac, n))
                except BlockingIOError:
                    pass
    finally:
        with open(count_file, "w") as f:
            f.write(f"{n}\n")


if __name__ == "__main__":
    main()
