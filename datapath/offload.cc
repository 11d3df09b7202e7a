#include "offload.h"

#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

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
    return segment_tcp4(m, capa, out, n_out);
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
  if (ol & RTE_MBUF_F_TX_IPV6) {
    why = PmdDrop::kOffloadUnsupported;  // rte_gso of DPDK 22.11 has no TCP/IPv6
  } else if (!(ol & RTE_MBUF_F_TX_IPV4) || l3 < sizeof(rte_ipv4_hdr) || l4 < kTcpMinHdr ||
             hdr > rte_pktmbuf_data_len(m) || m->tso_segsz == 0 ||
             hdr + m->tso_segsz > UINT16_MAX || hdr + m->tso_segsz < RTE_GSO_SEG_SIZE_MIN) {
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
      // Extension headers between IPv6 and L4 would need the pseudo-header
      // of the final destination; the tap port never hands those over.
      auto* ip = reinterpret_cast<rte_ipv6_hdr*>(l3p);
      const uint32_t plen = rte_be_to_cpu_16(ip->payload_len);
      if (l3 != sizeof(rte_ipv6_hdr) || ip->proto != want_proto || plen < l4_need ||
          l2 + l3 + plen > m->pkt_len)
        return l3 != sizeof(rte_ipv6_hdr) ? PmdDrop::kOffloadUnsupported
                                          : PmdDrop::kOffloadBadMetadata;
      std::memset(field, 0, 2);
      const uint16_t c = l4_checksum(m, l2 + l3, plen, rte_ipv6_phdr_cksum(ip, 0), udp);
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
