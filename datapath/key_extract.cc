// Key extraction; the contract and the malformed-input policy are in
// key_extract.h.
//
// How the code stays in bounds: every parser gets a pointer and the number of
// bytes it may read from it, checks that number against the fixed size it is
// about to read before reading, and hands the remainder to the next layer.
// All loads are memcpy of a fixed size (unaligned-safe, one instruction each).
// The only loops are the VLAN loop (at most two rounds), the IPv6 extension
// header walk and the ND option walk, and each of those consumes at least 8
// bytes per round, so they end.

#include "key_extract.h"

#include <emmintrin.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace dpx {

namespace {

// A 16/32-bit constant in network byte order, for comparing with raw loads.
constexpr uint16_t be16(uint16_t v) {
  return std::endian::native == std::endian::little ? __builtin_bswap16(v) : v;
}
constexpr uint32_t be32(uint32_t v) {
  return std::endian::native == std::endian::little ? __builtin_bswap32(v) : v;
}

// Raw loads: the bytes as they are in the packet (network order).
inline uint16_t load_raw16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_raw32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
// Host-order loads, for lengths and offsets that the parser computes with.
inline uint16_t load_host16(const uint8_t* p) { return be16(load_raw16(p)); }
inline uint32_t load_host32(const uint8_t* p) { return be32(load_raw32(p)); }

constexpr uint32_t kEthHeaderLen = 14;
constexpr uint32_t kVlanTagLen = 4;
constexpr uint16_t kEthTypeMin = 0x0600;  // below: an 802.3 length field

constexpr uint16_t kEthTypeIpv4 = be16(0x0800);
constexpr uint16_t kEthTypeIpv6 = be16(0x86dd);
constexpr uint16_t kEthTypeArp = be16(0x0806);
constexpr uint16_t kEthTypeRarp = be16(0x8035);
constexpr uint16_t kEthTypeVlan = be16(0x8100);
constexpr uint16_t kEthTypeQinQ = be16(0x88a8);

constexpr uint8_t kIpProtoHopOpts = 0;
constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoRouting = 43;
constexpr uint8_t kIpProtoFragment = 44;
constexpr uint8_t kIpProtoAh = 51;
constexpr uint8_t kIpProtoIcmpv6 = 58;
constexpr uint8_t kIpProtoDstOpts = 60;
constexpr uint8_t kIpProtoSctp = 132;

constexpr uint32_t kIpv4MinHeaderLen = 20;
constexpr uint32_t kIpv6HeaderLen = 40;
constexpr uint32_t kArpEthIpv4Len = 28;
constexpr uint32_t kTcpHeaderLen = 20;
constexpr uint32_t kUdpHeaderLen = 8;
constexpr uint32_t kSctpHeaderLen = 12;
constexpr uint32_t kIcmpHeaderLen = 8;  // type, code, checksum, 4 bytes of rest

constexpr uint8_t kNdNeighborSolicit = 135;
constexpr uint8_t kNdNeighborAdvert = 136;
constexpr uint8_t kNdOptSourceLinkAddr = 1;
constexpr uint8_t kNdOptTargetLinkAddr = 2;

inline bool is_vlan_tpid(uint16_t raw_type) {
  return raw_type == kEthTypeVlan || raw_type == kEthTypeQinQ;
}

// The IPv6 extension headers that are walked to find the upper-layer
// protocol; the same set as OVS's parse_ipv6_ext_hdrs().
inline bool is_ipv6_ext_header(uint8_t next) {
  return next == kIpProtoHopOpts || next == kIpProtoRouting || next == kIpProtoDstOpts ||
         next == kIpProtoAh || next == kIpProtoFragment;
}

inline bool is_zero_mac(const uint8_t* mac) {
  static constexpr uint8_t kZero[6] = {};
  return std::memcmp(mac, kZero, sizeof kZero) == 0;
}

// The ethertype of an 802.3 frame, whose type/length field (already
// consumed) was below 0x600. `*off` is advanced past an Ethernet SNAP header
// when there is one, so parsing continues with the encapsulated protocol.
// Returns the raw (network order) ethertype. Same rules as OVS's
// parse_ethertype().
uint16_t parse_llc_snap(const uint8_t* pkt, uint32_t len, uint32_t* off) {
  constexpr uint32_t kLlcSnapLen = 8;  // DSAP, SSAP, control, OUI[3], type
  if (len - *off < kLlcSnapLen) {
    return be16(kEthTypeNone);
  }
  const uint8_t* llc = pkt + *off;
  if (llc[0] != 0xaa || llc[1] != 0xaa || llc[2] != 0x03 || llc[3] != 0 || llc[4] != 0 ||
      llc[5] != 0) {
    return be16(kEthTypeNone);
  }
  *off += kLlcSnapLen;
  uint16_t type = load_raw16(llc + 6);
  return be16(type) >= kEthTypeMin ? type : be16(kEthTypeNone);
}

// ICMPv6 Neighbour Discovery: target address and link-layer address options.
// `body` points just past the 8-byte ICMPv6 header. Never fails: a truncated
// message just carries fewer fields; a repeated option invalidates them all.
void parse_nd(const uint8_t* body, uint32_t size, FlowKey* key) {
  if (size < sizeof key->nd_target) {
    return;
  }
  std::memcpy(key->nd_target, body, sizeof key->nd_target);
  const uint8_t* opt = body + sizeof key->nd_target;
  uint32_t rem = size - sizeof key->nd_target;
  // Options are multiples of 8 bytes; an Ethernet link-layer address option
  // is exactly 8: type, length (in units of 8), MAC.
  while (rem >= 8) {
    uint32_t opt_len = opt[1] * 8u;
    if (opt_len == 0 || opt_len > rem) {
      return;
    }
    if (opt_len == 8 && (opt[0] == kNdOptSourceLinkAddr || opt[0] == kNdOptTargetLinkAddr)) {
      uint8_t* mac = opt[0] == kNdOptSourceLinkAddr ? key->arp_sha : key->arp_tha;
      if (!is_zero_mac(mac)) {
        std::memset(key->nd_target, 0, sizeof key->nd_target);
        std::memset(key->arp_sha, 0, sizeof key->arp_sha);
        std::memset(key->arp_tha, 0, sizeof key->arp_tha);
        return;
      }
      std::memcpy(mac, opt + 2, 6);
    }
    opt += opt_len;
    rem -= opt_len;
  }
}

// L4 of an unfragmented packet or a first fragment. `l4` holds `size` bytes:
// the IP payload, never the Ethernet padding after it. `kIpv6` picks ICMPv6
// over ICMP, as the kernel datapath does (OVS's ODP keys carry ICMP only
// for IPv4 and ICMPv6 only for IPv6).
template <bool kIpv6>
inline ExtractDrop parse_l4(const uint8_t* l4, uint32_t size, uint8_t proto, FlowKey* key) {
  if (proto == kIpProtoTcp) [[likely]] {
    if (size < kTcpHeaderLen) [[unlikely]] {
      return ExtractDrop::kTruncatedL4;
    }
    std::memcpy(&key->tp_src, l4, 4);  // source and destination port
    // The data offset shares the word with the flags; only the 12 flag bits
    // (including the reserved and NS bits) are part of the key.
    key->tcp_flags = load_raw16(l4 + 12) & be16(0x0fff);
  } else if (proto == kIpProtoUdp) [[likely]] {
    if (size < kUdpHeaderLen) [[unlikely]] {
      return ExtractDrop::kTruncatedL4;
    }
    std::memcpy(&key->tp_src, l4, 4);
  } else if (proto == kIpProtoSctp) {
    if (size < kSctpHeaderLen) {
      return ExtractDrop::kTruncatedL4;
    }
    std::memcpy(&key->tp_src, l4, 4);
  } else if (proto == (kIpv6 ? kIpProtoIcmpv6 : kIpProtoIcmp)) {
    if (size < kIcmpHeaderLen) {
      return ExtractDrop::kTruncatedL4;
    }
    key->tp_src = be16(l4[0]);  // type
    key->tp_dst = be16(l4[1]);  // code
    if constexpr (kIpv6) {
      if (l4[1] == 0 && (l4[0] == kNdNeighborSolicit || l4[0] == kNdNeighborAdvert)) {
        parse_nd(l4 + kIcmpHeaderLen, size - kIcmpHeaderLen, key);
      }
    }
  }
  return ExtractDrop::kNone;
}

// `size` is what is left of the frame; with kWindow, only the first `avail`
// bytes of it may be read (avail <= size), otherwise all of it.
template <bool kWindow>
inline ExtractDrop parse_ipv4(const uint8_t* l3, uint32_t size, uint32_t avail, FlowKey* key) {
  if (!kWindow) avail = size;
  if (avail < kIpv4MinHeaderLen) [[unlikely]] {
    return ExtractDrop::kBadIpv4Header;
  }
  uint32_t header_len = (l3[0] & 0x0fu) * 4;
  if (header_len < kIpv4MinHeaderLen || header_len > avail) [[unlikely]] {
    return ExtractDrop::kBadIpv4Header;
  }
  uint32_t total_len = load_host16(l3 + 2);
  if (total_len < header_len || total_len > size) [[unlikely]] {
    return ExtractDrop::kBadIpv4Length;
  }
  key->nw_tos = l3[1];
  key->nw_ttl = l3[8];
  key->nw_proto = l3[9];
  std::memcpy(&key->ipv4_src, l3 + 12, 8);  // source and destination, adjacent in both
  uint16_t frag_off = load_host16(l3 + 6);
  if (frag_off & 0x3fff) [[unlikely]] {  // MF or a non-zero offset
    if (frag_off & 0x1fff) {
      key->nw_frag = kFragAny | kFragLater;
      return ExtractDrop::kNone;  // later fragments carry no L4 header
    }
    key->nw_frag = kFragAny;
  }
  const uint32_t l4_len = (kWindow ? std::min(total_len, avail) : total_len) - header_len;
  return parse_l4<false>(l3 + header_len, l4_len, l3[9], key);
}

template <bool kWindow>
inline ExtractDrop parse_ipv6(const uint8_t* l3, uint32_t size, uint32_t avail, FlowKey* key) {
  if (!kWindow) avail = size;
  if (avail < kIpv6HeaderLen) [[unlikely]] {
    return ExtractDrop::kBadIpv6Header;
  }
  uint32_t payload_len = load_host16(l3 + 4);
  if (payload_len > size - kIpv6HeaderLen) [[unlikely]] {
    return ExtractDrop::kBadIpv6Length;
  }
  uint32_t ver_tc_flow = load_host32(l3);
  key->nw_tos = static_cast<uint8_t>(ver_tc_flow >> 20);
  key->ipv6_label = be32(ver_tc_flow & 0x000fffff);
  key->nw_ttl = l3[7];
  std::memcpy(key->ipv6_src, l3 + 8, 16);
  std::memcpy(key->ipv6_dst, l3 + 24, 16);

  uint8_t next = l3[6];
  const uint8_t* p = l3 + kIpv6HeaderLen;
  // With a window, the walk stops where the readable bytes end: an
  // extension or L4 header beyond them counts as cut short.
  uint32_t rem = kWindow ? std::min(payload_len, avail - kIpv6HeaderLen) : payload_len;
  // Walk the extension headers OVS walks. Each is at least 8 bytes and its
  // first byte is the next header; only the length encoding differs.
  while (is_ipv6_ext_header(next)) {
    if (rem < 8) {
      return ExtractDrop::kBadIpv6ExtHeader;
    }
    uint32_t ext_len;
    if (next == kIpProtoFragment) {
      ext_len = 8;
      uint16_t off_flags = load_host16(p + 2);  // offset (13 bits), reserved, M
      if (off_flags != 0) {
        if (off_flags & 0xfff8) {
          // A later fragment: no upper-layer header to look at. OVS and the
          // kernel report the fragment header itself as the protocol.
          key->nw_frag = kFragAny | kFragLater;
          key->nw_proto = kIpProtoFragment;
          return ExtractDrop::kNone;
        }
        key->nw_frag = kFragAny;
      }
    } else if (next == kIpProtoAh) {
      ext_len = (p[1] + 2u) * 4;  // in 4-byte units, minus 2
    } else {
      ext_len = (p[1] + 1u) * 8;  // in 8-byte units, not counting the first 8
    }
    if (ext_len > rem) {
      return ExtractDrop::kBadIpv6ExtHeader;
    }
    next = p[0];
    p += ext_len;
    rem -= ext_len;
  }
  key->nw_proto = next;
  return parse_l4<true>(p, rem, next, key);
}

ExtractDrop parse_arp(const uint8_t* arp, uint32_t size, FlowKey* key) {
  if (size < kArpEthIpv4Len) {
    return ExtractDrop::kBadArp;
  }
  // Only Ethernet hardware and IPv4 protocol addresses map to key fields.
  if (load_raw16(arp) != be16(1) || load_raw16(arp + 2) != kEthTypeIpv4 || arp[4] != 6 ||
      arp[5] != 4) {
    return ExtractDrop::kNone;
  }
  uint16_t op = load_host16(arp + 6);
  if (op <= 0xff) {  // the key has room for the low 8 bits only, like OVS
    key->nw_proto = static_cast<uint8_t>(op);
  }
  std::memcpy(key->arp_sha, arp + 8, 6);
  std::memcpy(&key->ipv4_src, arp + 14, 4);
  std::memcpy(key->arp_tha, arp + 18, 6);
  std::memcpy(&key->ipv4_dst, arp + 24, 4);
  return ExtractDrop::kNone;
}

}  // namespace

const char* extract_drop_name(ExtractDrop reason) {
  auto i = static_cast<size_t>(reason);
  return i < kExtractDropNames.size() ? kExtractDropNames[i] : "unknown";
}

template <bool kWindow>
inline ExtractDrop extract(const uint8_t* pkt, uint32_t len, uint32_t avail,
                           const PacketMetadata& md, FlowKey* key) {
  if (!kWindow) avail = len;
  // Zero the key with twelve aligned 16-byte stores, or eight and a copy of
  // the tunnel line. They are written out one by one on purpose: GCC turns a
  // loop of zero stores (or a memset) into `rep stos` under -mtune=generic,
  // whose start-up cost is larger than the whole rest of an IPv4 parse.
  auto* lines = reinterpret_cast<__m128i*>(key);
  const __m128i zero = _mm_setzero_si128();
  _mm_store_si128(lines + 0, zero);
  _mm_store_si128(lines + 1, zero);
  _mm_store_si128(lines + 2, zero);
  _mm_store_si128(lines + 3, zero);
  _mm_store_si128(lines + 4, zero);
  _mm_store_si128(lines + 5, zero);
  _mm_store_si128(lines + 6, zero);
  _mm_store_si128(lines + 7, zero);
  if (md.tunnel == nullptr) [[likely]] {
    _mm_store_si128(lines + 8, zero);
    _mm_store_si128(lines + 9, zero);
    _mm_store_si128(lines + 10, zero);
    _mm_store_si128(lines + 11, zero);
  } else if (md.tunnel != key) {
    const auto* tun = reinterpret_cast<const __m128i*>(md.tunnel);
    _mm_store_si128(lines + 8, _mm_load_si128(tun + 8));
    _mm_store_si128(lines + 9, _mm_load_si128(tun + 9));
    _mm_store_si128(lines + 10, _mm_load_si128(tun + 10));
    _mm_store_si128(lines + 11, _mm_load_si128(tun + 11));
    // Geneve options: only their defined bytes (flow_key.h).
    if (const uint32_t n = md.tunnel->tun_opts_len) [[unlikely]] {
      const size_t off = sizeof key->tun_opts - n;
      std::memcpy(key->tun_opts + off, md.tunnel->tun_opts + off, n);
    }
  }
  key->in_port = md.in_port;
  key->recirc_id = md.recirc_id;
  key->dp_hash = md.dp_hash;
  key->skb_mark = md.skb_mark;
  key->priority = md.priority;

  if (avail < kEthHeaderLen) [[unlikely]] {
    return ExtractDrop::kRunt;
  }
  std::memcpy(key->eth_dst, pkt, 12);  // destination and source MAC
  uint32_t off = 12;                   // at the type field
  uint16_t type = load_raw16(pkt + off);
  if (is_vlan_tpid(type)) [[unlikely]] {
    for (int i = 0; i < 2 && is_vlan_tpid(type); ++i) {
      if (avail - off < kVlanTagLen + 2) {
        return ExtractDrop::kBadVlan;
      }
      key->vlan[i].tpid = type;
      key->vlan[i].tci = load_raw16(pkt + off + 2) | be16(kVlanCfi);
      off += kVlanTagLen;
      type = load_raw16(pkt + off);
    }
  }
  off += 2;
  if (be16(type) < kEthTypeMin) [[unlikely]] {
    type = parse_llc_snap(pkt, avail, &off);
  }
  key->eth_type = type;

  if (type == kEthTypeIpv4) [[likely]] {
    return parse_ipv4<kWindow>(pkt + off, len - off, avail - off, key);
  }
  if (type == kEthTypeIpv6) {
    return parse_ipv6<kWindow>(pkt + off, len - off, avail - off, key);
  }
  if (type == kEthTypeArp || type == kEthTypeRarp) {
    return parse_arp(pkt + off, avail - off, key);
  }
  return ExtractDrop::kNone;
}

ExtractDrop extract_key(const uint8_t* pkt, uint32_t len, const PacketMetadata& md, FlowKey* key) {
  return extract<false>(pkt, len, len, md, key);
}

ExtractDrop extract_key_window(const uint8_t* pkt, uint32_t avail, uint32_t frame_len,
                               const PacketMetadata& md, FlowKey* key) {
  if (avail > frame_len) avail = frame_len;
  return extract<true>(pkt, frame_len, avail, md, key);
}

}  // namespace dpx
