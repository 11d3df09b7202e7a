#include "tunnel_decap.h"

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <smmintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace dpx {

namespace {

inline uint16_t be16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t be32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

constexpr uint16_t kEthTypeIpv4Be = RTE_BE16(0x0800);
constexpr uint16_t kEthTypeArpBe = RTE_BE16(0x0806);
constexpr uint16_t kEthTypeIpv6Be = RTE_BE16(0x86dd);
constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// An Ethernet/IPv4 ARP frame whose target protocol address is a VTEP
// address of this port.
bool is_arp_for_us(const UnderlaySnapshot& s, const UnderlayPortInfo& port, const uint8_t* p,
                   uint32_t len) {
  if (len < kEthHdrLen + 28) return false;
  const uint8_t* a = p + kEthHdrLen;
  // htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4.
  if (be16_at(a) != RTE_BE16(1) || be16_at(a + 2) != kEthTypeIpv4Be || a[4] != 6 || a[5] != 4)
    return false;
  return s.is_local_on(be32_at(a + 24), port.odp);
}

// An ICMPv6 Neighbour Solicitation for a VTEP address of this port (to
// that address or its solicited-node group, at our MAC or the group's), or
// an Advertisement to one of them at our MAC. Only what picks the frame
// out; the control thread validates it (nd_parse).
bool is_nd_for_us(const UnderlaySnapshot& s, const UnderlayPortInfo& port, const uint8_t* p,
                  uint32_t len) {
  if (len < kEthHdrLen + kIpv6HdrLen + 24) return false;
  const uint8_t* ip = p + kEthHdrLen;
  const uint8_t type = ip[kIpv6HdrLen];
  if (type == 135) {
    const uint8_t* target = ip + kIpv6HdrLen + 8;
    if (!s.is_local6_on(target, port.odp)) return false;
    // 33:33:ff + the target's low 24 bits: its solicited-node group.
    const uint8_t group_mac[6] = {0x33, 0x33, 0xff, target[13], target[14], target[15]};
    return std::memcmp(p, port.mac, 6) == 0 || std::memcmp(p, group_mac, 6) == 0;
  }
  return type == 136 && std::memcmp(p, port.mac, 6) == 0 && s.is_local6_on(ip + 24, port.odp);
}

// Whether a packet with tunnel metadata `a` joins the run of `b`
// (DecapRun): the same metadata but for tp_src, and no Geneve options.
// TunnelMeta's first 64 bytes are compared as words; pad is zero.
bool same_run(const TunnelMeta& a, const TunnelMeta& b) {
  static_assert(offsetof(TunnelMeta, tp_src) == 52 && offsetof(TunnelMeta, opts_len) == 56 &&
                offsetof(TunnelMeta, opts) == 64);
  uint64_t x[8], y[8];
  std::memcpy(x, &a, sizeof x);
  std::memcpy(y, &b, sizeof y);
  x[6] ^= (x[6] ^ y[6]) & (uint64_t{0xffff} << 32);  // tp_src (bytes 52-53) as b's
  uint64_t diff = 0;
  for (int i = 0; i < 8; ++i) diff |= x[i] ^ y[i];
  return diff == 0 && a.opts_len == 0;
}

UnderlayVerdict fail(DecapResult* out, TunnelDrop why) {
  out->why = why;
  return UnderlayVerdict::kDrop;
}

// Verifies the UDP checksum of a datagram of `ulen` bytes at `udp` inside
// the IPv4 packet `ip` (all in the first segment).
bool udp_checksum_ok(const uint8_t* ip, const uint8_t* udp, uint16_t ulen) {
  uint32_t sum = rte_raw_cksum(ip + 12, 8);  // source and destination addresses
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(ulen);
  sum += rte_raw_cksum(udp, ulen);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// The same inside the IPv6 packet `ip`: the pseudo-header holds both
// 16-byte addresses, the upper-layer length and next header 17 (RFC 8200
// 8.1), which add up like IPv4's.
bool udp6_checksum_ok(const uint8_t* ip, const uint8_t* udp, uint16_t ulen) {
  uint32_t sum = rte_raw_cksum(ip + 8, 32);
  sum += rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(ulen);
  sum += rte_raw_cksum(udp, ulen);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// The tunnel header and what follows, once the outer IP layer validated:
// `udp` is the UDP header of a datagram of `ulen` bytes for tunnel port
// `tp`, `l3_end` the offset of `udp` in the frame. `t` already holds the
// outer addresses, TOS and TTL. Validates the tunnel header, fills the rest
// of the metadata and strips the outer headers.
UnderlayVerdict decap_tunnel(const TunnelPortInfo& tp, rte_mbuf* m, const uint8_t* udp,
                             uint32_t ulen, uint32_t l3_end, DecapResult* out, TunnelMeta& t) {
  if (ulen < kUdpHdrLen + kTunnelHdrLen) return fail(out, TunnelDrop::kDecapTruncated);
  const uint8_t* th = udp + kUdpHdrLen;
  const uint32_t w0 = rte_be_to_cpu_32(be32_at(th));
  const uint32_t w1 = rte_be_to_cpu_32(be32_at(th + 4));
  uint32_t hdr_len = kTunnelHdrLen;
  uint16_t flags = kTunFlagKey;
  if (tp.type == TunnelType::kVxlan) {
    if (!(w0 & kVxlanFlagI)) return fail(out, TunnelDrop::kVxlanNoIFlag);
    if ((w0 & ~kVxlanFlagI) || (w1 & 0xff)) return fail(out, TunnelDrop::kVxlanReservedBits);
  } else {
    if (w0 & kGeneveVersionMask) return fail(out, TunnelDrop::kGeneveBadVersion);
    if ((w0 & 0xffff) != kGeneveProtoEthernet) return fail(out, TunnelDrop::kGeneveBadProtocol);
    const uint32_t opt_len = ((w0 & kGeneveOptLenMask) >> kGeneveOptLenShift) * 4;
    if (kUdpHdrLen + kTunnelHdrLen + opt_len > ulen)
      return fail(out, TunnelDrop::kGeneveBadOptionLength);
    // Each option: class (16), type (8), 3 reserved bits and a 5-bit length
    // in 4-byte units; together they must fill the option space exactly.
    for (uint32_t off = 0; off < opt_len;) {
      if (off + 4 > opt_len) return fail(out, TunnelDrop::kGeneveBadOptionLength);
      off += 4 + (th[kTunnelHdrLen + off + 3] & 0x1fu) * 4;
      if (off > opt_len) return fail(out, TunnelDrop::kGeneveBadOptionLength);
    }
    // Options, critical ones (C bit) included, go into the flow key as the
    // kernel's collect-metadata Geneve gives them to its datapath: the
    // flows decide, and ovs-vswitchd drops a packet whose critical option
    // it does not know (RFC 8926 section 3.4).
    if (w0 & kGeneveFlagOam) flags |= kTunFlagOam;
    t.opts_len = static_cast<uint8_t>(opt_len);
    t.opts = th + kTunnelHdrLen;
    hdr_len += opt_len;
  }
  const uint32_t inner_off = l3_end + kUdpHdrLen + hdr_len;
  const uint32_t inner_len = ulen - kUdpHdrLen - hdr_len;
  if (inner_len < kEthHdrLen) return fail(out, TunnelDrop::kDecapInnerRunt);
  if (be16_at(udp + 6) != 0) flags |= kTunFlagCsum;

  t.tun_id = rte_cpu_to_be_64(uint64_t{w1 >> 8});
  t.flags = flags;
  std::memcpy(&t.tp_src, udp, 2);
  std::memcpy(&t.tp_dst, udp + 2, 2);
  out->tunnel_odp = tp.odp;
  out->slot = tp.slot;

  // Strip the outer headers and any bytes past the UDP datagram (padding of
  // a short outer frame). The outer frame's receive offload flags say
  // nothing about the inner one.
  rte_pktmbuf_adj(m, static_cast<uint16_t>(inner_off));
  if (rte_pktmbuf_pkt_len(m) > inner_len)
    rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - inner_len));
  m->ol_flags = 0;
  m->packet_type = 0;
  return UnderlayVerdict::kDecap;
}

// Whether the IPv4 header `ip` of `ihl` bytes has a checksum that verifies.
// The common 20-byte header is summed as five 32-bit words (one's-complement
// addition is the same at any word size once folded), not as rte_raw_cksum's
// ten 16-bit ones.
bool ipv4_header_checksum_ok(const uint8_t* ip, uint32_t ihl) {
  if (ihl != kIpv4HdrLen) [[unlikely]]
    return rte_raw_cksum(ip, ihl) == 0xffff;
  uint64_t sum = 0;
  for (uint32_t i = 0; i < kIpv4HdrLen; i += 4) sum += be32_at(ip + i);
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// A non-zero UDP checksum must verify (the NIC's verdict if it gave one).
bool l4_checksum_bad(const rte_mbuf* m, bool (*verify)(const uint8_t*, const uint8_t*, uint16_t),
                     const uint8_t* ip, const uint8_t* udp, uint32_t ulen) {
  const uint64_t l4_ck = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
  return l4_ck == RTE_MBUF_F_RX_L4_CKSUM_BAD ||
         (l4_ck != RTE_MBUF_F_RX_L4_CKSUM_GOOD && !verify(ip, udp, static_cast<uint16_t>(ulen)));
}

UnderlayVerdict classify_ipv4(const UnderlaySnapshot& s, const UnderlayPortInfo& port, rte_mbuf* m,
                              const uint8_t* p, uint32_t len, DecapResult* out, TunnelMeta& t) {
  if (len < kEthHdrLen + kIpv4HdrLen) return UnderlayVerdict::kPlain;
  const uint8_t* ip = p + kEthHdrLen;
  if (ip[9] != IPPROTO_UDP || (ip[0] >> 4) != 4) return UnderlayVerdict::kPlain;
  if (!s.is_local(be32_at(ip + 16)) || std::memcmp(p, port.mac, 6) != 0)
    return UnderlayVerdict::kPlain;
  const uint32_t ihl = (ip[0] & 0x0fu) * 4;
  if (ihl < kIpv4HdrLen || kEthHdrLen + ihl + kUdpHdrLen > len) return UnderlayVerdict::kPlain;
  const uint8_t* udp = ip + ihl;
  const TunnelPortInfo* tp = s.tunnel_by_udp_port(be16_at(udp + 2));
  if (!tp) return UnderlayVerdict::kPlain;

  // A packet for one of our tunnel ports: from here on, anything wrong is a
  // counted drop.
  const uint64_t ip_ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (ip_ck == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
      (ip_ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD && !ipv4_header_checksum_ok(ip, ihl)))
    return fail(out, TunnelDrop::kDecapBadIpChecksum);
  const uint32_t tot = rte_be_to_cpu_16(be16_at(ip + 2));
  if (tot < ihl + kUdpHdrLen || kEthHdrLen + tot > len)
    return fail(out, TunnelDrop::kDecapBadIpLength);
  if (be16_at(ip + 6) & RTE_BE16(0x3fff)) return fail(out, TunnelDrop::kDecapIpFragment);
  const uint32_t ulen = rte_be_to_cpu_16(be16_at(udp + 4));
  if (ulen < kUdpHdrLen || ulen > tot - ihl) return fail(out, TunnelDrop::kDecapBadUdpLength);
  if (ulen < kUdpHdrLen + kTunnelHdrLen) return fail(out, TunnelDrop::kDecapTruncated);
  if (be16_at(udp + 6) != 0 && l4_checksum_bad(m, udp_checksum_ok, ip, udp, ulen))
    return fail(out, TunnelDrop::kDecapBadUdpChecksum);

  t = TunnelMeta{};
  std::memcpy(&t.ipv4_src, ip + 12, 4);
  std::memcpy(&t.ipv4_dst, ip + 16, 4);
  t.tos = ip[1];
  t.ttl = ip[8];
  return decap_tunnel(*tp, m, udp, ulen, kEthHdrLen + ihl, out, t);
}

// IPv6 extension headers that may sit between the fixed header and UDP.
bool is_ipv6_ext_header(uint8_t nh) {
  return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51 || nh == 135 || nh == 139 ||
         nh == 140;
}

// Walks the hop-by-hop and destination options headers after the fixed
// IPv6 header at `ip` (`avail` bytes from there) up to an upper-layer
// header. True if that header is UDP, with *l3_len = the bytes before it.
// False (drop) for any other extension header, more than kMaxIpv6Options
// headers, a hop-by-hop header anywhere but first (RFC 8200 4.1), a header
// past the frame, or an option whose type says "discard if unrecognised"
// (RFC 8200 4.2: the two high bits not 00): dpx implements no option, so it
// skips only Pad1, PadN and the types a node may ignore.
bool ipv6_skip_options(const uint8_t* ip, uint32_t avail, uint32_t* l3_len) {
  constexpr int kMaxIpv6Options = 4;
  uint8_t next = ip[6];
  uint32_t off = kIpv6HdrLen;
  for (int i = 0; i < kMaxIpv6Options && (next == 0 || next == 60); ++i) {
    if (next == 0 && i != 0) return false;
    if (off + 8 > avail) return false;
    const uint8_t* h = ip + off;
    const uint32_t hlen = (uint32_t{h[1]} + 1) * 8;
    if (off + hlen > avail) return false;
    for (uint32_t o = 2; o < hlen;) {
      const uint8_t type = h[o];
      if (type == 0) {  // Pad1
        ++o;
        continue;
      }
      if (o + 2 > hlen || o + 2 + h[o + 1] > hlen) return false;
      if (type != 1 && (type >> 6) != 0) return false;  // not PadN, not skippable
      o += 2 + h[o + 1];
    }
    next = h[0];
    off += hlen;
  }
  if (next != IPPROTO_UDP) return false;
  *l3_len = off;
  return true;
}

UnderlayVerdict classify_ipv6(const UnderlaySnapshot& s, const UnderlayPortInfo& port, rte_mbuf* m,
                              const uint8_t* p, uint32_t len, DecapResult* out, TunnelMeta& t) {
  if (len < kEthHdrLen + kIpv6HdrLen || s.n_vteps6 == 0) return UnderlayVerdict::kPlain;
  const uint8_t* ip = p + kEthHdrLen;
  const uint8_t nh = ip[6];
  if ((ip[0] >> 4) != 6) return UnderlayVerdict::kPlain;
  if (nh == IPPROTO_ICMPV6) [[unlikely]]
    return is_nd_for_us(s, port, p, len) ? UnderlayVerdict::kPunt : UnderlayVerdict::kPlain;
  if (nh != IPPROTO_UDP && !is_ipv6_ext_header(nh)) return UnderlayVerdict::kPlain;
  if (!s.is_local6(ip + 24) || std::memcmp(p, port.mac, 6) != 0) return UnderlayVerdict::kPlain;
  // To a VTEP address of ours with extension headers: hop-by-hop and
  // destination options are walked (ipv6_skip_options), anything else
  // (routing, fragment, AH, ESP, ...) is dropped with its own reason rather
  // than bridged as if it were someone else's: dpx reassembles nothing and
  // those addresses exist for the tunnels.
  uint32_t l3_len = kIpv6HdrLen;
  if (nh != IPPROTO_UDP) [[unlikely]] {
    if (!ipv6_skip_options(ip, len - kEthHdrLen, &l3_len))
      return fail(out, TunnelDrop::kDecapIpv6ExtHeader);
  }
  if (kEthHdrLen + l3_len + kUdpHdrLen > len) {
    return l3_len == kIpv6HdrLen ? UnderlayVerdict::kPlain
                                 : fail(out, TunnelDrop::kDecapBadIpLength);
  }
  const uint8_t* udp = ip + l3_len;
  const TunnelPortInfo* tp = s.tunnel_by_udp_port(be16_at(udp + 2));
  if (!tp) return UnderlayVerdict::kPlain;

  // Ours: from here on, anything wrong is a counted drop. IPv6 has no
  // header checksum; the payload length must cover the extension headers
  // and UDP and fit the frame (0 would be a jumbogram, which needs a
  // hop-by-hop option dpx does not accept).
  const uint32_t ext_len = l3_len - kIpv6HdrLen;
  const uint32_t plen = rte_be_to_cpu_16(be16_at(ip + 4));
  if (plen < ext_len + kUdpHdrLen || kEthHdrLen + kIpv6HdrLen + plen > len)
    return fail(out, TunnelDrop::kDecapBadIpLength);
  const uint32_t ulen = rte_be_to_cpu_16(be16_at(udp + 4));
  if (ulen < kUdpHdrLen || ulen > plen - ext_len) return fail(out, TunnelDrop::kDecapBadUdpLength);
  if (ulen < kUdpHdrLen + kTunnelHdrLen) return fail(out, TunnelDrop::kDecapTruncated);
  // A zero UDP checksum is accepted: RFC 6935 and 6936 allow it for tunnel
  // protocols over IPv6, and VXLAN (RFC 7348) and Geneve (RFC 8926) use the
  // allowance; the inner frame carries its own checksums. A non-zero one
  // must verify.
  if (be16_at(udp + 6) != 0 && l4_checksum_bad(m, udp6_checksum_ok, ip, udp, ulen))
    return fail(out, TunnelDrop::kDecapBadUdpChecksum);

  t = TunnelMeta{};
  std::memcpy(t.ipv6_src, ip + 8, 16);
  std::memcpy(t.ipv6_dst, ip + 24, 16);
  t.tos = static_cast<uint8_t>((ip[0] & 0x0f) << 4 | ip[1] >> 4);  // traffic class
  t.ttl = ip[7];                                                   // hop limit
  return decap_tunnel(*tp, m, udp, ulen, kEthHdrLen + l3_len, out, t);
}

// underlay_classify(), with the tunnel metadata of a decapsulated packet
// written to `t` (all of it: the burst stage passes the packet's next-pass
// state, which it does not clear first).
UnderlayVerdict classify(const UnderlaySnapshot& s, const UnderlayPortInfo& port, rte_mbuf* m,
                         DecapResult* out, TunnelMeta& t) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  // Chained frames (large offloaded frames of a tap or vhost port) are not
  // tunnel traffic: the PMD handles them as plain packets.
  if (len < kEthHdrLen || m->nb_segs != 1) return UnderlayVerdict::kPlain;
  const uint16_t type = be16_at(p + 12);
  // The cheap tests that decide "is this ours at all" come first, in the
  // order that rejects ordinary traffic soonest.
  if (type == kEthTypeIpv4Be) [[likely]]
    return classify_ipv4(s, port, m, p, len, out, t);
  if (type == kEthTypeIpv6Be) return classify_ipv6(s, port, m, p, len, out, t);
  if (type == kEthTypeArpBe) [[unlikely]] {
    const bool to_us = std::memcmp(p, port.mac, 6) == 0 || std::memcmp(p, kBroadcast, 6) == 0;
    return to_us && is_arp_for_us(s, port, p, len) ? UnderlayVerdict::kPunt
                                                   : UnderlayVerdict::kPlain;
  }
  return UnderlayVerdict::kPlain;
}

// The outer headers of the last packet decapsulated by classify(), for
// the packets after it with the same ones: a sender's packets to one VTEP
// and VNI differ only in the IPv4 total length, identification and
// checksum and the UDP source port and length. Such a packet needs only
// those checked (lengths, header checksum); everything classify() decided
// from the other bytes (ours, which tunnel port, VXLAN flags, the metadata)
// holds for it too. Only plain IPv4 headers (20 bytes) with a zero UDP
// checksum and no Geneve options are kept, so that the 50 bytes compared
// are all there is, and the metadata (whose csum flag the UDP checksum
// decides) is the same.
struct RunHeader {
  bool valid = false;
  uint64_t w[6];    // bytes 0..47 of the outer frame
  uint16_t tail;    // bytes 48..49: the end of the VXLAN/Geneve header
  uint32_t ip_sum;  // raw sum of the IPv4 header with length, id and checksum zero
};

// Bytes compared of words 2, 3 and 4 (the others are compared whole):
// word 2 (bytes 16..23) without the IPv4 total length and identification,
// word 3 (24..31) without the header checksum, word 4 (32..39) without the
// UDP source port and length. Little-endian: byte i of a word is bits 8i..8i+7.
constexpr uint64_t kRunMask2 = 0xffffffff00000000ull;
constexpr uint64_t kRunMask3 = 0xffffffffffff0000ull;
constexpr uint64_t kRunMask4 = 0x0000ffff0000ffffull;

// Keeps m's outer headers (m as received, `hdr_len` bytes of tunnel
// header) in h if they qualify, else invalidates h.
void run_header_keep(RunHeader* h, const uint8_t* p, uint32_t hdr_len) {
  const uint8_t* ip = p + kEthHdrLen;
  h->valid = ip[0] == 0x45 && hdr_len == kTunnelHdrLen && be16_at(ip + kIpv4HdrLen + 6) == 0;
  if (!h->valid) return;
  std::memcpy(h->w, p, sizeof h->w);
  std::memcpy(&h->tail, p + 48, 2);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < kIpv4HdrLen; i += 2)
    if (i != 2 && i != 4 && i != 10) sum += be16_at(ip + i);
  h->ip_sum = static_cast<uint32_t>(sum);
}

// A packet with the headers kept in h, validated as classify() would and
// stripped: returns false, m untouched, if it is not one (or fails any
// check: classify() then says why). *tp_src receives its UDP source port.
bool run_header_decap(const RunHeader& h, rte_mbuf* m, uint16_t* tp_src) {
  static_assert(kEthHdrLen + kIpv4HdrLen + kUdpHdrLen + kTunnelHdrLen == 50);
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < 50 + kEthHdrLen || m->nb_segs != 1) return false;
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  // The compare in three 16-byte vectors (the masks keep the compared
  // bytes), then the tail.
  const auto* q = reinterpret_cast<const __m128i*>(p);
  const auto* c = reinterpret_cast<const __m128i*>(h.w);
  const __m128i d0 = _mm_xor_si128(_mm_loadu_si128(q), _mm_loadu_si128(c));
  const __m128i d1 = _mm_and_si128(
      _mm_xor_si128(_mm_loadu_si128(q + 1), _mm_loadu_si128(c + 1)),
      _mm_set_epi64x(static_cast<int64_t>(kRunMask3), static_cast<int64_t>(kRunMask2)));
  const __m128i d2 = _mm_and_si128(_mm_xor_si128(_mm_loadu_si128(q + 2), _mm_loadu_si128(c + 2)),
                                   _mm_set_epi64x(-1, static_cast<int64_t>(kRunMask4)));
  const __m128i d = _mm_or_si128(d0, _mm_or_si128(d1, d2));
  uint16_t tail;
  std::memcpy(&tail, p + 48, 2);
  if (!_mm_testz_si128(d, d) || tail != h.tail) return false;
  const uint8_t* ip = p + kEthHdrLen;
  const uint8_t* udp = ip + kIpv4HdrLen;
  const uint32_t tot = rte_be_to_cpu_16(be16_at(ip + 2));
  const uint32_t ulen = rte_be_to_cpu_16(be16_at(udp + 4));
  if (tot > len - kEthHdrLen || tot < kIpv4HdrLen || ulen > tot - kIpv4HdrLen ||
      ulen < kUdpHdrLen + kTunnelHdrLen + kEthHdrLen)
    return false;
  // The header checksum, unless the NIC verified it (a NIC's "bad" goes to
  // classify(), which counts the drop).
  const uint64_t ip_ck = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
  if (ip_ck != RTE_MBUF_F_RX_IP_CKSUM_GOOD) {
    if (ip_ck == RTE_MBUF_F_RX_IP_CKSUM_BAD) return false;
    uint32_t sum = h.ip_sum + be16_at(ip + 2) + be16_at(ip + 4) + be16_at(ip + 10);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff) return false;
  }
  std::memcpy(tp_src, udp, 2);
  // Strip, as classify() does with rte_pktmbuf_adj() and _trim(), written
  // out: one segment, and the inner frame (ulen - 16 <= tot - 36 <= len -
  // 50 bytes) is all that is left of it.
  const auto inner_len = static_cast<uint16_t>(ulen - kUdpHdrLen - kTunnelHdrLen);
  m->data_off = static_cast<uint16_t>(m->data_off + 50);
  m->data_len = inner_len;
  m->pkt_len = inner_len;
  m->ol_flags = 0;
  m->packet_type = 0;
  return true;
}

}  // namespace

UnderlayVerdict underlay_classify(const UnderlaySnapshot& s, const UnderlayPortInfo& port,
                                  rte_mbuf* m, DecapResult* out) {
  return classify(s, port, m, out, out->tun);
}

uint32_t tunnel_underlay_rx_runs(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index,
                                 uint32_t in_odp, rte_mbuf** pkts, uint32_t n, rte_mbuf** dec_pkts,
                                 uint16_t* dec_tp_src, DecapRun* runs, uint32_t* n_runs) {
  *n_runs = 0;
  const UnderlaySnapshot* s = sh.snapshot.load(std::memory_order_acquire);
  if (!s) return n;
  const UnderlayPortInfo* port = s->port(in_odp);
  if (!port) return n;
  uint32_t k = 0, d = 0, r = 0;
  // The decap counters, per tunnel port, added once per run rather than
  // per packet.
  uint64_t run_bytes = 0;
  TunnelMeta cur;
  RunHeader last;  // of the last packet decapsulated, which is in runs[r - 1]
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    // The common case: the outer headers of the packet before (the run's).
    if (last.valid && run_header_decap(last, m, &dec_tp_src[d])) [[likely]] {
      ++runs[r - 1].n;
      run_bytes += rte_pktmbuf_pkt_len(m);
      dec_pkts[d++] = m;
      continue;
    }
    const uint8_t* outer = rte_pktmbuf_mtod(m, const uint8_t*);
    DecapResult res;
    switch (classify(*s, *port, m, &res, cur)) {
      case UnderlayVerdict::kPlain:
        pkts[k++] = m;
        break;
      case UnderlayVerdict::kDecap:
        if (r == 0 || runs[r - 1].tunnel_odp != res.tunnel_odp || !same_run(cur, runs[r - 1].tun))
            [[unlikely]] {
          if (r) t.counters.decap[runs[r - 1].slot].add(runs[r - 1].n, run_bytes);
          run_bytes = 0;
          DecapRun& nr = runs[r++];
          nr.first = d;
          nr.n = 0;
          nr.tunnel_odp = res.tunnel_odp;
          nr.slot = res.slot;
          nr.tun = cur;
        }
        ++runs[r - 1].n;
        run_bytes += rte_pktmbuf_pkt_len(m);
        dec_tp_src[d] = cur.tp_src;
        dec_pkts[d++] = m;
        // The stripped headers are still there, in front of the inner frame.
        run_header_keep(&last, outer,
                        static_cast<uint32_t>(rte_pktmbuf_mtod(m, const uint8_t*) - outer) -
                            (kEthHdrLen + kIpv4HdrLen + kUdpHdrLen));
        break;
      case UnderlayVerdict::kPunt: {
        TunnelEvent ev{TunnelEvent::kArpPacket, in_odp, 0, 0, m, {}};
        if (rte_ring_sp_enqueue_elem(sh.events[pmd_index], &ev, sizeof ev) != 0) {
          rte_pktmbuf_free(m);
          t.counters.drop(TunnelDrop::kArpPuntQueueFull);
        } else {
          TunnelPmdCounters::bump(t.counters.arp_punted);
        }
        break;
      }
      case UnderlayVerdict::kDrop:
        rte_pktmbuf_free(m);
        t.counters.drop(res.why);
        break;
    }
  }
  if (r) t.counters.decap[runs[r - 1].slot].add(runs[r - 1].n, run_bytes);
  *n_runs = r;
  return k;
}

uint32_t tunnel_underlay_rx(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index,
                            uint32_t in_odp, rte_mbuf** pkts, uint32_t n, rte_mbuf** dec_pkts,
                            PacketState* dec_states, uint32_t* n_dec) {
  // In chunks, so that the runs fit on the stack whatever n is.
  constexpr uint32_t kChunk = 32;
  uint32_t k = 0, d = 0;
  for (uint32_t off = 0; off < n; off += kChunk) {
    const uint32_t c = std::min(kChunk, n - off);
    uint16_t tp_src[kChunk];
    DecapRun runs[kChunk];
    uint32_t n_runs = 0;
    const uint32_t plain = tunnel_underlay_rx_runs(t, sh, pmd_index, in_odp, pkts + off, c,
                                                   dec_pkts + d, tp_src, runs, &n_runs);
    std::memmove(pkts + k, pkts + off, plain * sizeof *pkts);  // k <= off
    k += plain;
    for (uint32_t r = 0; r < n_runs; ++r)
      for (uint32_t j = runs[r].first; j < runs[r].first + runs[r].n; ++j)
        decap_state(runs[r], tp_src[j], &dec_states[d + j]);
    if (n_runs) d += runs[n_runs - 1].first + runs[n_runs - 1].n;
  }
  *n_dec = d;
  return k;
}

}  // namespace dpx
