#include "tap_gro.h"

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_gro.h>
#include <rte_ip.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>

namespace dpx {

namespace {

// The biggest run handed to rte_gro at once: its burst tables hold this
// many packets, and a longer run would leave the excess unmerged.
constexpr uint16_t kMaxRun = RTE_GRO_MAX_BURST_ITEM_NUM;

constexpr uint32_t kL2 = sizeof(rte_ether_hdr);

// True if m is a TCP/IPv4 segment rte_gro may merge and whose merged frame
// the tap can write as GSO_TCPV4; then sets what rte_gro reads (l2/l3/l4
// lengths, packet_type) and stashes the segment's payload length in
// tso_segsz, which is free while RTE_MBUF_F_TX_TCP_SEG is clear.
bool candidate(rte_mbuf* m) {
  // One direct segment that nobody else references: merging rewrites the
  // head's headers (IP length and checksum, the TCP checksum), and the
  // merged frame's chain is then exactly its segments.
  if (m->nb_segs != 1 || !RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1) return false;
  // Nothing left for the port to do but, at most, TCP's checksum (which a
  // merged frame leaves to the kernel anyway): no TSO frame, no tunnel or
  // IP checksum request.
  const uint64_t ol = m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK;
  const uint64_t l4 = ol & RTE_MBUF_F_TX_L4_MASK;
  if ((ol & ~(RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IPV4)) != 0 ||
      (l4 != RTE_MBUF_F_TX_L4_NO_CKSUM && l4 != RTE_MBUF_F_TX_TCP_CKSUM))
    return false;
  const uint32_t len = m->data_len;
  if (len < kL2 + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr)) return false;
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  // Plain Ethernet only: rte_gro's flow key has no VLAN tag, so tagged
  // frames of two VLANs could merge.
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return false;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
  const uint32_t l3 = rte_ipv4_hdr_len(ip);
  if ((ip->version_ihl >> 4) != 4 || l3 < sizeof(rte_ipv4_hdr) || ip->next_proto_id != IPPROTO_TCP)
    return false;
  // Fragments are not segments (rte_gro assumes whole packets).
  if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
    return false;
  if (kL2 + l3 + sizeof(rte_tcp_hdr) > len) return false;
  const auto* tcp = reinterpret_cast<const rte_tcp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + l3);
  const uint32_t l4_len = (tcp->data_off >> 4) * 4u;
  const uint32_t ip_len = rte_be_to_cpu_16(ip->total_length);
  // rte_gro's own rules, checked here so that it takes every candidate
  // (what it refuses it would return after the merged frames, out of
  // order): exactly ACK, a 20-60 byte TCP header, some payload.
  if (tcp->tcp_flags != RTE_TCP_ACK_FLAG || l4_len < sizeof(rte_tcp_hdr) ||
      kL2 + l3 + l4_len > len || ip_len > len - kL2 || ip_len <= l3 + l4_len)
    return false;
  m->l2_len = kL2;
  m->l3_len = l3;
  m->l4_len = l4_len;
  m->packet_type = RTE_PTYPE_L2_ETHER | RTE_PTYPE_L3_IPV4 | RTE_PTYPE_L4_TCP;
  m->tso_segsz = static_cast<uint16_t>(ip_len - l3 - l4_len);
  return true;
}

// Turns a frame rte_gro built from several segments into a TSO frame for
// the tap (tap_port.cc mbuf_to_vnet() writes the GSO_TCPV4 header and the
// pseudo-header checksum the kernel expects). Returns its segment count.
uint32_t finish_merged(rte_mbuf* m) {
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, m->l2_len);
  // The kernel checks the IPv4 header checksum of what the tap gives it;
  // rte_gro changed the length and left the checksum.
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(m->pkt_len - m->l2_len));
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  // Each mbuf of the chain is one segment's payload (candidates are one
  // mbuf each; rte_gro strips the headers of all but the first). The GSO
  // size is the largest of them, so that the kernel, should it segment
  // the frame again, cuts no segment above the size it came with.
  uint32_t mss = m->data_len - (m->l2_len + m->l3_len + m->l4_len);
  for (const rte_mbuf* s = m->next; s; s = s->next) mss = std::max<uint32_t>(mss, s->data_len);
  m->tso_segsz = static_cast<uint16_t>(mss);
  m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_TX_L4_MASK) | RTE_MBUF_F_TX_IPV4 |
                RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_TCP_SEG;
  return m->nb_segs;
}

}  // namespace

uint16_t tap_gro_merge(rte_mbuf** pkts, uint16_t n, TapGroCounts* counts) {
  // The burst API needs no context: tables on its stack, sized by the run.
  rte_gro_param param{};
  param.gro_types = RTE_GRO_TCP_IPV4;
  param.max_flow_num = kMaxRun;
  param.max_item_per_flow = 1;  // items = flows * items per flow, shared by all flows

  uint16_t w = 0;  // packets kept so far, in pkts[0, w)
  uint16_t run = 0;
  // Merges the run of candidates that ends before index `end` and moves
  // its frames to pkts[w...].
  auto flush = [&](uint16_t end) {
    rte_mbuf** first = pkts + (end - run);
    uint16_t out = run;
    if (run >= 2) {
      out = rte_gro_reassemble_burst(first, run, &param);
      for (uint16_t k = 0; k < out; ++k) {
        rte_mbuf* m = first[k];
        if (m->nb_segs < 2) continue;
        counts->frames += 1;
        counts->segments += finish_merged(m);
      }
    }
    if (first != pkts + w) std::memmove(pkts + w, first, out * sizeof *pkts);
    w = static_cast<uint16_t>(w + out);
    run = 0;
  };
  for (uint16_t i = 0; i < n; ++i) {
    if (candidate(pkts[i])) {
      if (run == kMaxRun) flush(i);
      ++run;
      continue;
    }
    if (run) flush(i);
    pkts[w++] = pkts[i];
  }
  if (run) flush(n);
  return w;
}

}  // namespace dpx
