#include "tunnel_encap.h"

#include <rte_byteorder.h>
#include <rte_ip.h>

#include <type_traits>

#include "geneve_opts.h"

namespace dpx {

namespace {

inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// The part of an outer-header template both families share after the IP
// header: the UDP destination port and the tunnel header's first word
// (VXLAN flags, or Geneve's protocol type).
void template_udp(uint8_t* udp, TunnelType type, uint16_t udp_port) {
  put16(udp + 2, udp_port);
  uint8_t* th = udp + kUdpHdrLen;
  put32(th, rte_cpu_to_be_32(type == TunnelType::kVxlan ? kVxlanFlagI : kGeneveProtoEthernet));
}

// Bytes of Geneve options the outer header carries: the packet's options on
// a Geneve port; a VXLAN port has nowhere to put them and ignores them, as
// Linux's vxlan does.
inline uint32_t geneve_opts_len(TunnelType type, const TunnelMeta& tun) {
  return type == TunnelType::kGeneve ? tun.opts_len : 0;
}

// Writes the options after the Geneve header at `th` (a template copy, whose
// option length is 0 and C flag clear) and sets both, as OVS's and Linux's
// Geneve senders do: Opt Len in 4-byte words, C if an option is critical.
void put_geneve_opts(uint8_t* th, const TunnelMeta& tun) {
  th[0] = static_cast<uint8_t>(tun.opts_len / 4);  // version 0
  if (geneve_opts_critical(tun.opts, tun.opts_len)) th[1] |= kGeneveFlagCritical >> 16;
  std::memcpy(th + kTunnelHdrLen, tun.opts, tun.opts_len);
}

// Makes room for `need` bytes in front of a packet. The 128 bytes of
// headroom an mbuf starts with hold any outer header without options, but
// not one with up to 252 bytes of Geneve options; such a packet is moved
// back within its own buffer when the tailroom allows (a copy, on this rare
// path only; no allocation). False: no room either way.
bool ensure_headroom(rte_mbuf* m, uint32_t need) {
  const uint32_t head = rte_pktmbuf_headroom(m);
  if (head >= need) [[likely]]
    return true;
  const uint32_t shift = need - head;
  if (m->nb_segs != 1 || !RTE_MBUF_DIRECT(m) || rte_mbuf_refcnt_read(m) != 1 ||
      rte_pktmbuf_tailroom(m) < shift)
    return false;
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  std::memmove(d + shift, d, m->data_len);
  m->data_off = static_cast<uint16_t>(m->data_off + shift);
  return true;
}

// The UDP checksum (to store) of the `ulen`-byte datagram at `l4_off` in `m`
// (it may span segments), given the pseudo-header sum `phdr`.
uint16_t udp_checksum_from(uint32_t phdr, const rte_mbuf* m, uint32_t l4_off, uint32_t ulen) {
  uint32_t sum = phdr;
  uint16_t l4 = 0;
  rte_raw_cksum_mbuf(m, l4_off, ulen, &l4);
  sum += l4;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  const uint16_t c = static_cast<uint16_t>(~sum);
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  return c == 0 ? 0xffff : c;
}

// The UDP checksum of the datagram after the IPv4 header `ip`.
[[gnu::always_inline]] inline uint16_t udp_checksum(const rte_mbuf* m, const uint8_t* ip,
                                                    uint32_t ulen) {
  return udp_checksum_from(rte_ipv4_phdr_cksum(reinterpret_cast<const rte_ipv4_hdr*>(ip), 0), m,
                           kEthHdrLen + kIpv4HdrLen, ulen);
}

// The UDP checksum of the datagram after the IPv6 header `ip`.
uint16_t udp6_checksum(const rte_mbuf* m, const uint8_t* ip, uint32_t ulen) {
  return udp_checksum_from(rte_ipv6_phdr_cksum(reinterpret_cast<const rte_ipv6_hdr*>(ip), 0), m,
                           kEthHdrLen + kIpv6HdrLen, ulen);
}

// Rebuilds cache entry `e` (EncapEntry for IPv4, Encap6Entry for IPv6) for the
// key (dst, src, tunnel_odp) from snapshot `s`. An entry that cannot be used
// records why.
template <typename Entry, typename Addr>
void rebuild(Entry& e, const UnderlaySnapshot& s, const Addr& dst, const Addr& src,
             uint32_t tunnel_odp) {
  constexpr bool kV6 = std::is_same_v<Entry, Encap6Entry>;
  e.generation = s.generation;
  e.dst = dst;
  e.src = src;
  e.tunnel_odp = tunnel_odp;
  e.next_report_ms = 0;
  const TunnelPortInfo* tp = s.tunnel_port(tunnel_odp);
  if (!tp) {
    // The port is going away; its packets have nowhere to go.
    e.state = EncapEntry::kUnusable;
    e.why = TunnelDrop::kEncapNoRoute;
    return;
  }
  e.type = tp->type;
  e.udp_port = tp->udp_port;
  std::conditional_t<kV6, UnderlaySnapshot::Resolution6, UnderlaySnapshot::Resolution> r;
  if constexpr (kV6) {
    e.why = s.resolve6(dst, src, &r);
  } else {
    e.why = s.resolve(dst, src, &r);
  }
  e.underlay_odp = r.odp;
  e.resolve_ip = r.next_hop;
  if (e.why != TunnelDrop::kCount) {
    e.state = EncapEntry::kUnusable;
    return;
  }
  e.mtu = r.port->mtu;
  if constexpr (kV6) {
    encap_build_template6(r, tp->type, tp->udp_port, dst, e.hdr);
  } else {
    encap_build_template(r, tp->type, tp->udp_port, dst, e.hdr);
  }
  e.state = EncapEntry::kReady;
}

}  // namespace

void encap_build_template6(const UnderlaySnapshot::Resolution6& r, TunnelType type,
                           uint16_t udp_port, const Ip6& dst, uint8_t* hdr) {
  eth_frame_start(hdr, kOuterIpv6Len, r.mac, r.port->mac, 0x86dd);
  uint8_t* ip = hdr + kEthHdrLen;
  ip[0] = 0x60;
  ip[6] = IPPROTO_UDP;
  std::memcpy(ip + 8, r.src.data(), 16);
  std::memcpy(ip + 24, dst.data(), 16);
  template_udp(ip + kIpv6HdrLen, type, udp_port);
}

void encap_build_template(const UnderlaySnapshot::Resolution& r, TunnelType type, uint16_t udp_port,
                          uint32_t dst, uint8_t* hdr) {
  eth_frame_start(hdr, kOuterIpv4Len, r.mac, r.port->mac, 0x0800);
  uint8_t* ip = hdr + kEthHdrLen;
  ip[0] = 0x45;
  ip[9] = IPPROTO_UDP;
  put32(ip + 12, r.src);
  put32(ip + 16, dst);
  template_udp(ip + kIpv4HdrLen, type, udp_port);
}

namespace {

// The header writers, specialised on whether Geneve options follow the
// header, so that packets without them run the code they ran before
// options existed (the choice is one branch in the public wrappers).
template <bool kOpts>
TunnelDrop write6(const uint8_t* tmpl, uint32_t mtu, TunnelType type, rte_mbuf* m,
                  const TunnelMeta& tun, uint16_t udp_src) {
  const uint32_t olen = kOpts ? tun.opts_len : 0;
  const uint32_t ulen = rte_pktmbuf_pkt_len(m) + kUdpHdrLen + kTunnelHdrLen + olen;
  if (kIpv6HdrLen + ulen > mtu) return TunnelDrop::kEncapTooBig;
  if (kOpts && !ensure_headroom(m, kOuterIpv6Len + olen)) return TunnelDrop::kEncapNoHeadroom;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kOuterIpv6Len + olen));
  if (!p) return TunnelDrop::kEncapNoHeadroom;
  std::memcpy(p, tmpl, kOuterIpv6Len);
  if (kOpts) put_geneve_opts(p + kOuterIpv6Len - kTunnelHdrLen, tun);
  uint8_t* ip = p + kEthHdrLen;
  // Version 6, traffic class = tos across the first two bytes, flow label 0.
  ip[0] = static_cast<uint8_t>(0x60 | tun.tos >> 4);
  ip[1] = static_cast<uint8_t>(tun.tos << 4);
  put16(ip + 4, rte_cpu_to_be_16(static_cast<uint16_t>(ulen)));
  ip[7] = tun.ttl ? tun.ttl : kTunnelDefaultTtl;
  uint8_t* udp = ip + kIpv6HdrLen;
  put16(udp, udp_src);
  if (tun.tp_dst) put16(udp + 2, tun.tp_dst);
  put16(udp + 4, rte_cpu_to_be_16(static_cast<uint16_t>(ulen)));
  uint8_t* th = udp + kUdpHdrLen;
  put32(th + 4, rte_cpu_to_be_32(static_cast<uint32_t>(rte_be_to_cpu_64(tun.tun_id)) << 8));
  if (type == TunnelType::kGeneve && (tun.flags & kTunFlagOam)) th[1] |= 0x80;
  put16(udp + 6, udp6_checksum(m, ip, ulen));
  m->ol_flags &= ~RTE_MBUF_F_TX_OFFLOAD_MASK;
  m->tx_offload = 0;
  m->packet_type = 0;
  return TunnelDrop::kCount;
}

}  // namespace

TunnelDrop encap_write6(const uint8_t* tmpl, uint32_t mtu, TunnelType type, rte_mbuf* m,
                        const TunnelMeta& tun, uint16_t udp_src) {
  return geneve_opts_len(type, tun) ? write6<true>(tmpl, mtu, type, m, tun, udp_src)
                                    : write6<false>(tmpl, mtu, type, m, tun, udp_src);
}

namespace {

// The outer headers of one run of packets (one flow: one TunnelMeta, one
// template), prepared once: the template with every field the metadata
// decides filled in, and the IPv4 header's one's-complement sum without the
// two fields that change per packet (total length and identification), so
// that each packet's checksum is two additions and a fold.
struct PreparedIpv4 {
  alignas(16) uint8_t hdr[64];  // kOuterIpv4Len used
  uint32_t ip_sum;              // raw sum of the IPv4 header, length, id and checksum zero
};

void prepare_ipv4(const uint8_t* tmpl, TunnelType type, const TunnelMeta& tun, PreparedIpv4* h) {
  std::memcpy(h->hdr, tmpl, sizeof h->hdr);
  uint8_t* ip = h->hdr + kEthHdrLen;
  ip[1] = tun.tos;
  put16(ip + 6, (tun.flags & kTunFlagDontFragment) ? RTE_BE16(0x4000) : 0);
  ip[8] = tun.ttl ? tun.ttl : kTunnelDefaultTtl;
  uint8_t* udp = ip + kIpv4HdrLen;
  if (tun.tp_dst) put16(udp + 2, tun.tp_dst);
  uint8_t* th = udp + kUdpHdrLen;
  put32(th + 4, rte_cpu_to_be_32(static_cast<uint32_t>(rte_be_to_cpu_64(tun.tun_id)) << 8));
  if (type == TunnelType::kGeneve && (tun.flags & kTunFlagOam)) th[1] |= 0x80;
  // rte_raw_cksum's sum is of 16-bit words in memory order, as the header
  // stores them; the per-packet words are added the same way.
  h->ip_sum = __rte_raw_cksum(ip, kIpv4HdrLen, 0);
}

// Prepends the prepared headers `h` to m and completes them: IPv4 total
// length, identification `ip_id` (host order) and checksum, UDP source port
// `udp_src` (be16) and length, and the UDP checksum when `csum`. With kOpts,
// the Geneve options of `tun` follow the Geneve header (the IPv4 header's
// checksum does not cover them, so the prepared sum still holds). Returns
// TunnelDrop::kCount on success; kEncapTooBig (outer IPv4 packet longer than
// `mtu`) or kEncapNoHeadroom with m unchanged otherwise.
template <bool kOpts>
inline TunnelDrop encap_write(const PreparedIpv4& h, uint32_t mtu, bool csum, rte_mbuf* m,
                              uint16_t udp_src, uint16_t ip_id, const TunnelMeta& tun) {
  const uint32_t olen = kOpts ? tun.opts_len : 0;
  const uint32_t ip_len = rte_pktmbuf_pkt_len(m) + kIpv4HdrLen + kUdpHdrLen + kTunnelHdrLen + olen;
  if (ip_len > mtu) [[unlikely]]
    return TunnelDrop::kEncapTooBig;
  if (kOpts && !ensure_headroom(m, kOuterIpv4Len + olen)) return TunnelDrop::kEncapNoHeadroom;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kOuterIpv4Len + olen));
  if (!p) [[unlikely]]
    return TunnelDrop::kEncapNoHeadroom;
  std::memcpy(p, h.hdr, kOuterIpv4Len);
  if (kOpts) put_geneve_opts(p + kOuterIpv4Len - kTunnelHdrLen, tun);
  uint8_t* ip = p + kEthHdrLen;
  const uint16_t len_be = rte_cpu_to_be_16(static_cast<uint16_t>(ip_len));
  const uint16_t id_be = rte_cpu_to_be_16(ip_id);
  put16(ip + 2, len_be);
  put16(ip + 4, id_be);
  uint32_t sum = h.ip_sum + len_be + id_be;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  put16(ip + 10, static_cast<uint16_t>(~sum));
  uint8_t* udp = ip + kIpv4HdrLen;
  put16(udp, udp_src);
  put16(udp + 4, rte_cpu_to_be_16(static_cast<uint16_t>(ip_len - kIpv4HdrLen)));
  if (csum) [[unlikely]]
    put16(udp + 6, udp_checksum(m, ip, ip_len - kIpv4HdrLen));
  // Transmit offload requests described the inner headers, which are now
  // 50 bytes further in; a device acting on them would corrupt the packet.
  m->ol_flags &= ~RTE_MBUF_F_TX_OFFLOAD_MASK;
  m->tx_offload = 0;
  m->packet_type = 0;
  return TunnelDrop::kCount;
}

// Reports the missing neighbour of entry e to the control thread, at most
// every kResolveReportMs. A full ring only delays the report to the next
// interval.
template <typename Entry>
void report_unresolved(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index, Entry& e,
                       uint64_t now_ms) {
  if (e.why != TunnelDrop::kEncapNeighbourUnresolved || now_ms < e.next_report_ms) return;
  TunnelEvent ev{};
  ev.odp = e.underlay_odp;
  if constexpr (std::is_same_v<Entry, Encap6Entry>) {
    ev.kind = TunnelEvent::kResolve6;
    ev.ip6 = e.resolve_ip;
  } else {
    ev.kind = TunnelEvent::kResolve;
    ev.ip = e.resolve_ip;
  }
  if (rte_ring_sp_enqueue_elem(sh.events[pmd_index], &ev, sizeof ev) == 0) {
    TunnelPmdCounters::bump(t.counters.resolve_events);
    e.next_report_ms = now_ms + kResolveReportMs;
  }
}

// Frees the n packets of a run that cannot be encapsulated, counted as `why`.
void drop_all(TunnelPmd& t, rte_mbuf** pkts, uint32_t n, TunnelDrop why) {
  rte_pktmbuf_free_bulk(pkts, n);
  t.counters.drop(why, n);
}

// Encapsulates the n packets of a run with `write(m, udp_src)` (returns
// TunnelDrop::kCount on success), compacting pkts to the ones written
// (order kept) and counting the rest by reason. Returns how many remain.
template <typename Write>
uint32_t encap_each(TunnelPmd& t, uint8_t slot, rte_mbuf** pkts, const uint32_t* hashes, uint32_t n,
                    Write write) {
  uint32_t k = 0;
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const uint32_t inner_len = rte_pktmbuf_pkt_len(m);
    const TunnelDrop why = write(m, tunnel_udp_src_port(hashes[i]));
    if (why != TunnelDrop::kCount) [[unlikely]] {
      rte_pktmbuf_free(m);
      t.counters.drop(why);
      continue;
    }
    bytes += inner_len;
    pkts[k++] = m;
  }
  if (k) t.counters.encap[slot].add(k, bytes);
  return k;
}

// The IPv6 underlay: one packet at a time (the 70-byte template and the
// mandatory UDP checksum leave little to share across a run).
uint32_t encap_run6(TunnelPmd& t, const TunnelShared& sh, const UnderlaySnapshot& s,
                    uint32_t pmd_index, uint32_t tunnel_odp, uint8_t slot, const TunnelMeta& tun,
                    rte_mbuf** pkts, const uint32_t* hashes, uint32_t n, uint64_t now_ms,
                    uint32_t* underlay_odp) {
  Ip6 dst, src;
  std::memcpy(dst.data(), tun.ipv6_dst, 16);
  std::memcpy(src.data(), tun.ipv6_src, 16);
  if (ip6_is_zero(dst)) {
    drop_all(t, pkts, n, TunnelDrop::kEncapNoTunnelMetadata);
    return 0;
  }
  Encap6Entry& e = t.cache6.slot(dst, src, tunnel_odp);
  if (e.generation != s.generation || e.state == EncapEntry::kEmpty || e.dst != dst ||
      e.src != src || e.tunnel_odp != tunnel_odp) {
    rebuild(e, s, dst, src, tunnel_odp);
    TunnelPmdCounters::bump(t.counters.template_builds);
  }
  if (e.state != EncapEntry::kReady) {
    report_unresolved(t, sh, pmd_index, e, now_ms);
    drop_all(t, pkts, n, e.why);
    return 0;
  }
  *underlay_odp = e.underlay_odp;
  return encap_each(t, slot, pkts, hashes, n, [&](rte_mbuf* m, uint16_t udp_src) {
    return encap_write6(e.hdr, e.mtu, e.type, m, tun, udp_src);
  });
}

}  // namespace

uint32_t tunnel_encap_run(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index,
                          uint32_t tunnel_odp, uint8_t slot, const TunnelMeta& tun, rte_mbuf** pkts,
                          const uint32_t* hashes, uint32_t n, uint64_t now_ms,
                          uint32_t* underlay_odp) {
  if (n == 0) return 0;
  const UnderlaySnapshot* s = sh.snapshot.load(std::memory_order_acquire);
  if (!s) [[unlikely]] {
    drop_all(t, pkts, n, TunnelDrop::kEncapNoRoute);
    return 0;
  }
  if (!tun.ipv4_dst) [[unlikely]]
    return encap_run6(t, sh, *s, pmd_index, tunnel_odp, slot, tun, pkts, hashes, n, now_ms,
                      underlay_odp);
  // One template lookup, and its validity check, for the whole run.
  EncapEntry& e = t.cache.slot(tun.ipv4_dst, tun.ipv4_src, tunnel_odp);
  if (e.generation != s->generation || e.state == EncapEntry::kEmpty || e.dst != tun.ipv4_dst ||
      e.src != tun.ipv4_src || e.tunnel_odp != tunnel_odp) [[unlikely]] {
    rebuild(e, *s, tun.ipv4_dst, tun.ipv4_src, tunnel_odp);
    TunnelPmdCounters::bump(t.counters.template_builds);
  }
  if (e.state != EncapEntry::kReady) [[unlikely]] {
    report_unresolved(t, sh, pmd_index, e, now_ms);
    drop_all(t, pkts, n, e.why);
    return 0;
  }
  *underlay_odp = e.underlay_odp;
  const bool df = tun.flags & kTunFlagDontFragment;
  PreparedIpv4 h;
  prepare_ipv4(e.hdr, e.type, tun, &h);
  const bool csum = tun.flags & kTunFlagCsum;
  // Identification: 0 with DF (RFC 6864 lets atomic datagrams carry any
  // value), else a per-PMD counter.
  if (geneve_opts_len(e.type, tun)) [[unlikely]]
    return encap_each(t, slot, pkts, hashes, n, [&](rte_mbuf* m, uint16_t udp_src) {
      return encap_write<true>(h, e.mtu, csum, m, udp_src, df ? 0 : t.ip_id++, tun);
    });
  return encap_each(t, slot, pkts, hashes, n, [&](rte_mbuf* m, uint16_t udp_src) {
    return encap_write<false>(h, e.mtu, csum, m, udp_src, df ? 0 : t.ip_id++, tun);
  });
}

uint32_t tunnel_encap(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index, uint32_t tunnel_odp,
                      uint8_t slot, rte_mbuf* m, const TunnelMeta& tun, uint32_t flow_hash,
                      uint64_t now_ms) {
  uint32_t underlay = kTunnelNoPort;
  return tunnel_encap_run(t, sh, pmd_index, tunnel_odp, slot, tun, &m, &flow_hash, 1, now_ms,
                          &underlay)
             ? underlay
             : kTunnelNoPort;
}

}  // namespace dpx
