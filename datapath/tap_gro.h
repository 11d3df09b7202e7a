// Receive-side coalescing for a tap port's transmit burst (issue 6).
//
// A tap port hands the kernel TCP in GSO frames of up to 64 KB (tap_port.h),
// but traffic that reached dpxd already cut to the MTU -- decapsulated
// VXLAN, AF_XDP, a sender with TSO off -- would be written to the tap one
// segment per system call and taken by the container's TCP one by one.
// tap_gro_merge() merges the consecutive TCP/IPv4 segments of each
// connection in a burst into one chained mbuf marked as a TSO frame
// (RTE_MBUF_F_TX_TCP_SEG, tso_segsz = the first segment's payload), which
// the tap writes with one writev() and a GSO_TCPV4 virtio-net header.
//
// The merging is DPDK's rte_gro (rte_gro_reassemble_burst, the lightweight
// mode: its tables live on the caller's stack, nothing is allocated). Its
// rules in DPDK 22.11: same Ethernet and IPv4 addresses, ports and ACK
// number, TCP flags exactly ACK (a segment with PSH, FIN, SYN, RST, URG,
// ECE or CWR is never merged), same TCP options, contiguous sequence
// numbers, and consecutive IP IDs unless DF is set; at most 64 KB of IP
// packet. DPDK 22.11 has no TCP/IPv6 GRO, so IPv6 segments pass unmerged.
//
// Order: rte_gro returns merged frames grouped by connection and the
// packets it did not take after them. To keep every packet that is not a
// merge candidate where it was (a FIN after its data, a UDP datagram
// between two TCP bursts), only runs of consecutive candidates are handed
// to rte_gro, and every other packet ends a run. Within a run, packets of
// one connection keep their order; connections may interleave differently.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace dpx {

struct TapGroCounts {
  uint64_t frames = 0;    // frames that came out of merging two or more segments
  uint64_t segments = 0;  // the segments that went into them
};

// Merges in place: on return pkts[0, result) are the burst's packets in
// transmit order, the merged segments chained behind their frame's first
// mbuf (so freeing a frame frees its segments). Adds to *counts. Packets
// that do not merge are untouched, except that a TCP/IPv4 candidate's
// l2/l3/l4 lengths, packet_type and tso_segsz are set.
//
// Cost per burst: a header parse per packet, and for each run of two or
// more candidates one rte_gro_reassemble_burst() call, which zeroes its
// on-stack tables (all four GRO types', some 21 KB in 22.11, whatever
// types are asked for) and then scans the run's connections linearly per
// packet. Measured with callgrind (tests/tap_gro_test): about 80
// instructions per packet here, 200 per candidate in rte_gro, and the
// 21 KB memset per call, which is worth it against the one writev() and
// one trip through the container's stack saved per merged segment. No
// system calls, locks or allocation.
uint16_t tap_gro_merge(rte_mbuf** pkts, uint16_t n, TapGroCounts* counts);

}  // namespace dpx
