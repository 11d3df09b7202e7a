#include "offload.h"

#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dpx {

namespace {

constexpr uint32_t kTcpMinHdr = 20;
constexpr uint32_t kUdpHdr = 8;

// The complemented L4 checksum over [l4_off, l4_off + l4_len) of the packet
// (across segments) plus the folded pseudo-header sum `phdr`. The checksum
// field must be zero in the packet.
uint16_t l4_checksum(const rte_mbuf* m, uint32_t l4_off, uint32_t l4_len, uint16_t phdr, bool udp) {
  uint16_t raw = 0;
  rte_raw_cksum_mbuf(m, l4_off, l4_len, &raw);
  uint32_t s = uint32_t{raw} + phdr;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  const uint16_t c = static_cast<uint16_t>(~s);
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  return (udp && c == 0) ? 0xffff : c;
}

}  // namespace

PmdDrop ipv6_upper(const uint8_t* ip6, uint32_t l3_len, Ipv6Upper* out) {
  if (l3_len < sizeof(rte_ipv6_hdr)) return PmdDrop::kOffloadBadMetadata;
  uint8_t proto = ip6[6];
  const uint8_t* dst = ip6 + 24;
  bool routed = false;
  // Every header is at least 8 bytes, and l3_len at most 511 (its field's
  // width): the walk ends.
  for (uint32_t off = sizeof(rte_ipv6_hdr); off < l3_len;) {
    const uint8_t* h = ip6 + off;
    switch (proto) {
      case IPPROTO_HOPOPTS:
        // RFC 8200 4.1: only right after the IPv6 header.
        if (off != sizeof(rte_ipv6_hdr)) return PmdDrop::kOffloadBadMetadata;
        break;
      case IPPROTO_DSTOPTS:
      case IPPROTO_ROUTING:
        break;
      case IPPROTO_FRAGMENT:
        return PmdDrop::kOffloadIpv6Fragment;
      case IPPROTO_TCP:
      case IPPROTO_UDP:
      case IPPROTO_ICMPV6:
      case IPPROTO_NONE:
        return PmdDrop::kOffloadBadMetadata;  // l3_len runs past the last header
      default:
        return PmdDrop::kOffloadUnsupported;  // AH, ESP, anything else
    }
    // Hop-by-hop, destination options and routing headers share their
    // first two bytes: next header, length in 8-byte units past the first
    // 8 (DPDK's rte_ipv6_get_next_ext() is still experimental in 22.11).
    if (off + 2 > l3_len) return PmdDrop::kOffloadBadMetadata;
    const uint8_t next = h[0];
    const uint32_t len = (h[1] + 1u) * 8;
    if (off + len > l3_len) return PmdDrop::kOffloadBadMetadata;
    if (proto == IPPROTO_DSTOPTS) {
      // Mobile IPv6's home address option (RFC 6275 6.3) would make the
      // pseudo-header's source the home address: not done here.
      for (uint32_t i = 2; i < len;) {
        if (h[i] == 0) {  // Pad1
          ++i;
          continue;
        }
        if (i + 2 > len || i + 2 + h[i + 1] > len) return PmdDrop::kOffloadBadMetadata;
        if (h[i] == 0xc9) return PmdDrop::kOffloadUnsupported;
        i += 2 + h[i + 1];
      }
    } else if (proto == IPPROTO_ROUTING) {
      if (routed) return PmdDrop::kOffloadUnsupported;  // RFC 8200 4.1: at most one
      routed = true;
      const uint8_t type = h[2], segments_left = h[3];
      const uint32_t n_addr = h[1] / 2;  // 16-byte addresses after the 8-byte start
      if (segments_left != 0) {
        // The final destination: the last address of a type 0 (RFC 2460)
        // or type 2 (RFC 6275) header, the first of a segment routing
        // header's list (RFC 8754 4.1: the list is in reverse order).
        if (n_addr == 0) return PmdDrop::kOffloadBadMetadata;
        if (type == 0 || type == 2)
          dst = h + 8 + 16 * (n_addr - 1);
        else if (type == 4)
          dst = h + 8;
        else
          return PmdDrop::kOffloadUnsupported;
      }
    }
    off += len;
    proto = next;
  }
  out->proto = proto;
  out->pseudo_dst = dst;
  return PmdDrop::kCount;
}

uint16_t ipv6_phdr_sum(const uint8_t* ip6, const Ipv6Upper& up, uint32_t len) {
  uint8_t ph[40];
  std::memcpy(ph, ip6 + 8, 16);
  std::memcpy(ph + 16, up.pseudo_dst, 16);
  const uint32_t be_len = rte_cpu_to_be_32(len), be_proto = rte_cpu_to_be_32(up.proto);
  std::memcpy(ph + 32, &be_len, 4);
  std::memcpy(ph + 36, &be_proto, 4);
  return rte_raw_cksum(ph, sizeof ph);
}

rte_mempool* offload_indirect_pool(const char* name, uint32_t n, int socket) {
  return rte_pktmbuf_pool_create(name, n, 256, 0, 0, socket);
}

SwOffload::SwOffload(rte_mempool* direct, rte_mempool* indirect) {
  gso_.direct_pool = direct;
  gso_.indirect_pool = indirect;
  gso_.gso_types = RTE_ETH_TX_OFFLOAD_TCP_TSO;
  gso_.flag = 0;  // incrementing IP ids, as a TSO NIC or the kernel's GSO would
  gso_.gso_size = 0;
}

PmdDrop SwOffload::complete(rte_mbuf* m, uint64_t capa, rte_mbuf** out, uint32_t* n_out) {
  const uint64_t ol = m->ol_flags;
  PmdDrop r = PmdDrop::kCount;
  if ((ol & RTE_MBUF_F_TX_TCP_SEG) && !(capa & RTE_ETH_TX_OFFLOAD_TCP_TSO)) {
    return (ol & RTE_MBUF_F_TX_IPV6) ? segment_tcp6(m, capa, out, n_out)
                                     : segment_tcp4(m, capa, out, n_out);
  }
  if ((ol & RTE_MBUF_F_TX_UDP_SEG) && !(capa & RTE_ETH_TX_OFFLOAD_UDP_TSO)) {
    r = PmdDrop::kOffloadUnsupported;
  } else {
    r = finish(&m, capa);
  }
  if (r != PmdDrop::kCount) {
    rte_pktmbuf_free(m);
    return r;
  }
  out[(*n_out)++] = m;
  return r;
}

PmdDrop SwOffload::segment_tcp4(rte_mbuf* m, uint64_t capa, rte_mbuf** out, uint32_t* n_out) {
  const uint64_t ol = m->ol_flags;
  const uint32_t l2 = m->l2_len, l3 = m->l3_len, l4 = m->l4_len;
  const uint32_t hdr = l2 + l3 + l4;
  PmdDrop why = PmdDrop::kCount;
  if (!(ol & RTE_MBUF_F_TX_IPV4) || l3 < sizeof(rte_ipv4_hdr) || l4 < kTcpMinHdr ||
      hdr > rte_pktmbuf_data_len(m) || m->tso_segsz == 0 || hdr + m->tso_segsz > UINT16_MAX ||
      hdr + m->tso_segsz < RTE_GSO_SEG_SIZE_MIN) {
    why = PmdDrop::kOffloadBadMetadata;
  } else {
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, l2);
    const auto* tcp = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2 + l3);
    if ((ip->version_ihl >> 4) != 4 || rte_ipv4_hdr_len(ip) != l3 ||
        ip->next_proto_id != IPPROTO_TCP || (tcp[12] >> 4) * 4u != l4 ||
        rte_be_to_cpu_16(ip->total_length) + l2 != m->pkt_len)
      why = PmdDrop::kOffloadBadMetadata;
  }
  if (why != PmdDrop::kCount) {
    rte_pktmbuf_free(m);
    return why;
  }

  gso_.gso_size = static_cast<uint16_t>(hdr + m->tso_segsz);
  rte_mbuf** segs = out + *n_out;
  const int n = rte_gso_segment(m, &gso_, segs, kMaxGsoSegments);
  if (n < 0) {
    rte_pktmbuf_free(m);
    return n == -ENOMEM ? PmdDrop::kOffloadNoMbuf : PmdDrop::kOffloadUnsupported;
  }
  // What every output still needs: fresh IPv4 and TCP checksums (rte_gso
  // rewrote lengths, ids and sequence numbers but no checksum).
  const uint64_t seg_ol = (ol & ~(RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK)) |
                          RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IP_CKSUM;
  if (n == 0) {
    // It already fits one segment: only the checksums are left to do.
    m->ol_flags = seg_ol;
    if (PmdDrop r = finish(&m, capa); r != PmdDrop::kCount) {
      rte_pktmbuf_free(m);
      return r;
    }
    out[(*n_out)++] = m;
    return PmdDrop::kCount;
  }
  // The segments hold references to m's data through their indirect mbufs.
  rte_pktmbuf_free(m);
  for (int i = 0; i < n; ++i) {
    rte_mbuf* s = segs[i];
    s->ol_flags = seg_ol;
    s->l2_len = l2;
    s->l3_len = l3;
    s->l4_len = l4;
    s->tso_segsz = 0;
    if (PmdDrop r = finish(&segs[i], capa); r != PmdDrop::kCount) {
      // All or nothing: a stream with a hole is worse than a lost packet
      // that TCP retransmits whole.
      for (int j = 0; j < n; ++j) rte_pktmbuf_free(segs[j]);
      return r;
    }
  }
  *n_out += static_cast<uint32_t>(n);
  return PmdDrop::kCount;
}

namespace {

// Appends `len` bytes of `src` from offset `off` to the chain `head`,
// taking buffers from `pool` as the last one fills. False if the pool ran
// dry (what was appended stays; the caller frees the chain).
bool append_from(rte_mbuf* head, const rte_mbuf* src, uint32_t off, uint32_t len,
                 rte_mempool* pool) {
  rte_mbuf* last = rte_pktmbuf_lastseg(head);
  while (len) {
    if (rte_pktmbuf_tailroom(last) == 0) {
      rte_mbuf* n = rte_pktmbuf_alloc(pool);
      if (!n) return false;
      last->next = n;
      head->nb_segs++;
      last = n;
    }
    const uint32_t k = std::min<uint32_t>(len, rte_pktmbuf_tailroom(last));
    uint8_t* dst = rte_pktmbuf_mtod_offset(last, uint8_t*, last->data_len);
    const void* p = rte_pktmbuf_read(src, off, k, dst);
    if (p != dst) std::memcpy(dst, p, k);
    last->data_len = static_cast<uint16_t>(last->data_len + k);
    head->pkt_len += k;
    off += k;
    len -= k;
  }
  return true;
}

}  // namespace

// TCP/IPv6 segmentation. DPDK 22.11's rte_gso has no TCP/IPv6, so this is
// ours: each segment is a fresh copy (the headers, then its share of the
// payload read out of the original chain), which keeps it simple and costs
// little more than the checksum pass that must read every byte anyway.
// Fixed per segment, as a TSO device or the kernel's GSO would: the IPv6
// payload length, the sequence number, FIN and PSH only on the last
// segment and CWR only on the first; the TCP checksum is then completed
// (or left to a port with TCP_CKSUM, as the pseudo-header sum with length).
// Extension headers (l3_len past 40) are copied into every segment as they
// are: none of those ipv6_upper() accepts changes per segment, and the
// routing header's final destination only changes the pseudo-header.
PmdDrop SwOffload::segment_tcp6(rte_mbuf* m, uint64_t capa, rte_mbuf** out, uint32_t* n_out) {
  const uint64_t ol = m->ol_flags;
  const uint32_t l2 = m->l2_len, l3 = m->l3_len, l4 = m->l4_len, mss = m->tso_segsz;
  const uint32_t hdr = l2 + l3 + l4;
  PmdDrop why = PmdDrop::kCount;
  Ipv6Upper up;
  if (l3 < sizeof(rte_ipv6_hdr) || l4 < kTcpMinHdr || hdr > rte_pktmbuf_data_len(m) || mss == 0) {
    why = PmdDrop::kOffloadBadMetadata;
  } else {
    const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, l2);
    const auto* tcp = rte_pktmbuf_mtod_offset(m, const uint8_t*, l2 + l3);
    if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6 ||
        rte_be_to_cpu_16(ip->payload_len) + l2 + sizeof(rte_ipv6_hdr) != m->pkt_len)
      why = PmdDrop::kOffloadBadMetadata;
    else
      why = ipv6_upper(reinterpret_cast<const uint8_t*>(ip), l3, &up);
    if (why != PmdDrop::kCount)
      ;  // refused above
    else if (up.proto != IPPROTO_TCP || (tcp[12] >> 4) * 4u != l4)
      why = PmdDrop::kOffloadBadMetadata;
    else if ((m->pkt_len - hdr + mss - 1) / mss > kMaxGsoSegments)
      why = PmdDrop::kOffloadUnsupported;
  }
  if (why != PmdDrop::kCount) {
    rte_pktmbuf_free(m);
    return why;
  }
  const uint32_t payload = m->pkt_len - hdr;
  const uint32_t seq0 =
      rte_be_to_cpu_32(rte_pktmbuf_mtod_offset(m, const rte_tcp_hdr*, l2 + l3)->sent_seq);
  const uint64_t seg_ol =
      (ol & ~(RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK)) | RTE_MBUF_F_TX_TCP_CKSUM;
  rte_mbuf** segs = out + *n_out;
  uint32_t n = 0;
  for (uint32_t off = 0; off < payload || n == 0; off += mss) {
    const uint32_t len = std::min(mss, payload - off);
    rte_mbuf* s = rte_pktmbuf_alloc(gso_.direct_pool);
    if (s) segs[n++] = s;
    if (!s || !append_from(s, m, 0, hdr, gso_.direct_pool) ||
        !append_from(s, m, hdr + off, len, gso_.direct_pool)) {
      for (uint32_t j = 0; j < n; ++j) rte_pktmbuf_free(segs[j]);
      rte_pktmbuf_free(m);
      return PmdDrop::kOffloadNoMbuf;
    }
    // The headers (at most 127 + 40 + 60 bytes, the widths of l2_len and a
    // TCP header) are all in s's first buffer.
    auto* ip = rte_pktmbuf_mtod_offset(s, rte_ipv6_hdr*, l2);
    auto* tcp = rte_pktmbuf_mtod_offset(s, rte_tcp_hdr*, l2 + l3);
    ip->payload_len = rte_cpu_to_be_16(static_cast<uint16_t>(l3 - sizeof(rte_ipv6_hdr) + l4 + len));
    tcp->sent_seq = rte_cpu_to_be_32(seq0 + off);
    if (off + len < payload)
      tcp->tcp_flags &= static_cast<uint8_t>(~(RTE_TCP_FIN_FLAG | RTE_TCP_PSH_FLAG));
    if (off != 0) tcp->tcp_flags &= static_cast<uint8_t>(~RTE_TCP_CWR_FLAG);
    // The pseudo-header sum with the length: RTE_MBUF_F_TX_TCP_SEG is off.
    // (up.pseudo_dst points into m, whose headers s copied unchanged.)
    tcp->cksum = ipv6_phdr_sum(reinterpret_cast<const uint8_t*>(ip), up, l4 + len);
    s->ol_flags = seg_ol;
    s->l2_len = l2;
    s->l3_len = l3;
    s->l4_len = l4;
    s->port = m->port;
  }
  rte_pktmbuf_free(m);
  for (uint32_t i = 0; i < n; ++i) {
    if (PmdDrop r = finish(&segs[i], capa); r != PmdDrop::kCount) {
      // All or nothing, as for IPv4.
      for (uint32_t j = 0; j < n; ++j) rte_pktmbuf_free(segs[j]);
      return r;
    }
  }
  *n_out += n;
  return PmdDrop::kCount;
}

PmdDrop SwOffload::finish(rte_mbuf** mp, uint64_t capa) {
  rte_mbuf* m = *mp;
  uint64_t ol = m->ol_flags;
  const uint64_t l4req = ol & RTE_MBUF_F_TX_L4_MASK;
  const bool do_l4 = (l4req == RTE_MBUF_F_TX_TCP_CKSUM && !(capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)) ||
                     (l4req == RTE_MBUF_F_TX_UDP_CKSUM && !(capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM));
  if (l4req == RTE_MBUF_F_TX_SCTP_CKSUM && !(capa & RTE_ETH_TX_OFFLOAD_SCTP_CKSUM))
    return PmdDrop::kOffloadUnsupported;
  const bool do_ip = (ol & RTE_MBUF_F_TX_IP_CKSUM) && !(capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM);

  if (do_l4 || do_ip) {
    const uint32_t l2 = m->l2_len, l3 = m->l3_len;
    const bool udp = l4req == RTE_MBUF_F_TX_UDP_CKSUM;
    const uint32_t l4_need = do_l4 ? (udp ? kUdpHdr : kTcpMinHdr) : 0;
    if (l3 < sizeof(rte_ipv4_hdr) || l2 + l3 + l4_need > rte_pktmbuf_data_len(m))
      return PmdDrop::kOffloadBadMetadata;
    auto* l3p = rte_pktmbuf_mtod_offset(m, uint8_t*, l2);
    const uint8_t version = l3p[0] >> 4;
    const uint8_t want_proto = udp ? IPPROTO_UDP : IPPROTO_TCP;
    uint8_t* field = l3p + l3 + (udp ? 6 : 16);
    if (version == 4 && !(ol & RTE_MBUF_F_TX_IPV6)) {
      auto* ip = reinterpret_cast<rte_ipv4_hdr*>(l3p);
      const uint32_t tot = rte_be_to_cpu_16(ip->total_length);
      if (rte_ipv4_hdr_len(ip) != l3 || tot < l3 + l4_need || l2 + tot > m->pkt_len)
        return PmdDrop::kOffloadBadMetadata;
      if (do_ip) {
        ip->hdr_checksum = 0;
        ip->hdr_checksum = rte_ipv4_cksum(ip);
        ol &= ~RTE_MBUF_F_TX_IP_CKSUM;
      }
      if (do_l4) {
        if (ip->next_proto_id != want_proto) return PmdDrop::kOffloadBadMetadata;
        std::memset(field, 0, 2);
        const uint16_t c = l4_checksum(m, l2 + l3, tot - l3, rte_ipv4_phdr_cksum(ip, 0), udp);
        std::memcpy(field, &c, 2);
      }
    } else if (version == 6 && !do_ip) {
      // Extension headers: walked for the upper-layer protocol and the
      // pseudo-header's final destination.
      const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(l3p);
      const uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
      Ipv6Upper up;
      if (const PmdDrop r = ipv6_upper(l3p, l3, &up); r != PmdDrop::kCount) return r;
      const uint32_t ext = l3 - sizeof(rte_ipv6_hdr);
      if (up.proto != want_proto || plen < ext + l4_need ||
          l2 + sizeof(rte_ipv6_hdr) + plen > m->pkt_len)
        return PmdDrop::kOffloadBadMetadata;
      std::memset(field, 0, 2);
      const uint16_t c =
          l4_checksum(m, l2 + l3, plen - ext, ipv6_phdr_sum(l3p, up, plen - ext), udp);
      std::memcpy(field, &c, 2);
    } else {
      return PmdDrop::kOffloadBadMetadata;
    }
    if (do_l4) ol &= ~RTE_MBUF_F_TX_L4_MASK;
    m->ol_flags = ol;
  }

  if (m->nb_segs > 1 && !(capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) {
    // The port cannot send a chain: copy it into one buffer if it fits.
    // rte_pktmbuf_copy fills each new buffer before taking the next.
    rte_mbuf* c = rte_pktmbuf_copy(m, gso_.direct_pool, 0, UINT32_MAX);
    if (!c) return PmdDrop::kOffloadNoMbuf;
    if (c->nb_segs != 1) {
      rte_pktmbuf_free(c);
      return PmdDrop::kOffloadUnsupported;  // a frame larger than one buffer
    }
    rte_pktmbuf_free(m);
    *mp = c;
  }
  return PmdDrop::kCount;
}

}  // namespace dpx
