// Simple match: the PMD's lookup shortcut for datapaths whose megaflows all
// match on nothing but in_port, recirc_id, the ethertype, the VLAN tags, the
// IP fragment bits and the IPv4 TOS. That is port-to-port forwarding (NFV
// chains, p2p benchmarks, "in_port=1 actions=output:2" rules), where OVS's
// own userspace datapath has the same idea (its "simple match" mode), and
// the same with a tunnel output: OVS matches the ECN bits of the TOS in
// every megaflow that outputs to a tunnel (it copies them to the outer
// header), so without the TOS in the simple key no tunnel output would be
// simple. Decapsulated packets add the tunnel metadata of their receive
// (tun_id, outer addresses, TOS, TTL, flags, UDP destination port): a
// megaflow of a tunnel port's traffic matches those, and they are one per
// run of packets from one remote VTEP (tunnel_decap.h), so the PMD looks
// the pair (simple key, run tunnel) up once per run, never per packet.
//
// In that mode no megaflow can tell two packets apart by any other field, so
// the PMD builds only a 16-byte SimpleKey per packet: packets of a burst
// with equal simple keys share one classifier lookup, and the exact-match
// cache, whose 192-byte full keys would only repeat the classifier's answer
// per microflow, is skipped. The classifier still decides (with a FlowKey
// holding the simple fields, the rest zero, which every mask zeroes anyway).
//
// Equivalence with full key extraction is the contract: simple_extract()
// accepts only IPv4 packets that key_extract.cc would accept with exactly
// these field values, and returns false for anything else (other
// ethertypes, 802.3 frames, IPv6, malformed headers), which then take the
// full path and get its verdicts and drop reasons.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "flow_key.h"

namespace dpx {

struct alignas(16) SimpleKey {
  uint32_t in_port;
  uint16_t eth_type;  // be16
  uint8_t nw_frag;
  uint8_t nw_tos;  // IPv4 TOS: OVS matches its ECN bits in every tunnel output's megaflow
  VlanTag vlan[2];
};
static_assert(sizeof(SimpleKey) == 16);
// simple_extract() writes the key as two little-endian 64-bit words.
static_assert(offsetof(SimpleKey, eth_type) == 4 && offsetof(SimpleKey, nw_frag) == 6 &&
              offsetof(SimpleKey, nw_tos) == 7 && offsetof(SimpleKey, vlan) == 8);

inline bool simple_keys_equal(const SimpleKey& a, const SimpleKey& b) {
  uint64_t x[2], y[2];
  std::memcpy(x, &a, 16);
  std::memcpy(y, &b, 16);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
}

// True if `mask` matches nothing outside the simple fields and the run
// tunnel fields (SimpleTunnel below).
inline bool mask_is_simple(const FlowKey& mask) {
  FlowKey rest = mask;
  rest.in_port = 0;
  rest.recirc_id = 0;
  rest.eth_type = 0;
  rest.nw_frag = 0;
  rest.nw_tos = 0;
  rest.vlan[0] = {};
  rest.vlan[1] = {};
  rest.tun_id = 0;
  rest.tun_ipv4_src = 0;
  rest.tun_ipv4_dst = 0;
  std::memset(rest.tun_ipv6_src, 0, sizeof rest.tun_ipv6_src);
  std::memset(rest.tun_ipv6_dst, 0, sizeof rest.tun_ipv6_dst);
  rest.tun_flags = 0;
  rest.tun_tos = 0;
  rest.tun_ttl = 0;
  rest.tun_tp_dst = 0;
  const uint64_t* w = rest.words();
  uint64_t any = 0;
  for (size_t i = 0; i < FlowKey::kWords; ++i) any |= w[i];
  return any == 0;
}

// The tunnel metadata a simple-mode megaflow may match: FlowKey's tunnel
// line (tun_id .. tun_tp_dst, as TunnelMeta lays it out) without the outer
// UDP source port, which a VTEP sets per inner flow (so it differs from one
// packet to the next, where the rest of the line is one per remote VTEP)
// and which OVS never matches (tnl_wc_init() wildcards it). Without
// options: a Geneve packet with options is a run of its own (tunnel_decap.h).
// Plain packets have an all-zero one, as their full key's tunnel line.
struct SimpleTunnel {
  static constexpr uint32_t kWords = 7;  // 56 bytes: tun_id .. tun_tp_dst
  static constexpr uint32_t kTpSrcWord = 6;
  static constexpr uint64_t kTpSrcMask = uint64_t{0xffff} << 32;  // bytes 52-53 of the line
  uint64_t w[kWords];
};
static_assert(offsetof(FlowKey, tun_tp_src) - offsetof(FlowKey, tun_id) == 52 &&
              offsetof(FlowKey, tun_opts_len) - offsetof(FlowKey, tun_id) == 56);

// The SimpleTunnel of a tunnel line laid out as FlowKey's (at `line`).
inline SimpleTunnel simple_tunnel_of(const void* line) {
  SimpleTunnel t;
  std::memcpy(t.w, line, sizeof t.w);
  t.w[SimpleTunnel::kTpSrcWord] &= ~SimpleTunnel::kTpSrcMask;
  return t;
}

inline bool simple_tunnels_equal(const SimpleTunnel& a, const SimpleTunnel& b) {
  uint64_t d = 0;
  for (uint32_t i = 0; i < SimpleTunnel::kWords; ++i) d |= a.w[i] ^ b.w[i];
  return d == 0;
}

// The FlowKey the classifier looks up for a simple key (first pass:
// recirc_id 0, no other metadata) and, for a decapsulated packet, its
// tunnel (null: none).
inline void simple_to_flow_key(const SimpleKey& s, FlowKey* k, const SimpleTunnel* tun = nullptr) {
  k->clear_head();
  k->in_port = s.in_port;
  k->eth_type = s.eth_type;
  k->nw_frag = s.nw_frag;
  k->nw_tos = s.nw_tos;
  k->vlan[0] = s.vlan[0];
  k->vlan[1] = s.vlan[1];
  if (tun) std::memcpy(&k->tun_id, tun->w, sizeof tun->w);
}

namespace simple_detail {

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
constexpr uint16_t be16(uint16_t v) { return static_cast<uint16_t>(v << 8 | v >> 8); }

// The smallest L4 length key extraction accepts per IP protocol (0: any):
// TCP's 20-byte header (its flags go into the flow's stats), UDP's 8, SCTP's
// 12, ICMP's type, code, checksum and 4 more bytes.
struct MinL4 {
  uint8_t len[256];
  constexpr MinL4() : len{} {
    len[6] = 20;
    len[17] = 8;
    len[132] = 12;
    len[1] = 8;
  }
};
inline constexpr MinL4 kMinL4;

}  // namespace simple_detail

// Fills *k and *tcp_flags (host order, for flow stats) from an Ethernet
// frame of `len` bytes received on `in_port`. Returns false when the packet
// must take full key extraction instead (see the contract above).
//
// The PMD runs this on every packet in simple mode, so it is written for
// the common frame, untagged IPv4: fields are read in network order and
// compared with byte-swapped constants, and the key is built in two 64-bit
// words, which the caller then compares with the previous packet's key in
// registers.
//
// *l3_off receives the offset of the IPv4 header (for simple_flow_fields()).
inline bool simple_extract(const uint8_t* p, uint32_t len, uint32_t in_port, SimpleKey* k,
                           uint16_t* tcp_flags, uint32_t* l3_off) {
  using simple_detail::be16;
  using simple_detail::load_u16;
  // Ethernet and a minimal IPv4 header: no packet shorter than this passes
  // the checks below whatever its tags.
  if (len < 14 + 20) return false;
  uint32_t off = 14;  // the IPv4 header of an untagged frame
  uint64_t vlans = 0;
  if (uint16_t type = load_u16(p + 12); type != be16(0x0800)) [[unlikely]] {
    off = 12;
    for (int i = 0; i < 2 && (type == be16(0x8100) || type == be16(0x88a8)); ++i) {
      if (len - off < 6) return false;
      const uint16_t tci = load_u16(p + off + 2) | be16(kVlanCfi);
      vlans |= (uint64_t{type} | uint64_t{tci} << 16) << (32 * i);
      off += 4;
      type = load_u16(p + off);
    }
    if (type != be16(0x0800)) return false;
    off += 2;
    if (len - off < 20) return false;  // untagged, len >= 34 says so already
  }
  // The same IPv4 checks as key extraction; failures take the full path,
  // which drops the packet with the precise reason. (hlen <= size follows
  // from hlen <= tot <= size.)
  const uint32_t size = len - off;
  const uint8_t* ip = p + off;
  const uint32_t hlen = (ip[0] & 0x0fu) * 4;
  const uint32_t tot = be16(load_u16(ip + 2));
  if (hlen < 20 || tot < hlen || tot > size) return false;
  const uint16_t frag = load_u16(ip + 6);  // network order
  uint64_t nw_frag = 0;
  *tcp_flags = 0;
  bool l4_checks = true;
  if (frag & be16(0x3fff)) [[unlikely]] {
    nw_frag = kFragAny;
    if (frag & be16(0x1fff)) {
      nw_frag = kFragAny | kFragLater;
      l4_checks = false;  // later fragments carry no L4 header
    }
  }
  if (l4_checks) {
    const uint8_t proto = ip[9];
    if (tot - hlen < simple_detail::kMinL4.len[proto]) return false;
    if (proto == 6) *tcp_flags = static_cast<uint16_t>(be16(load_u16(ip + hlen + 12)) & 0x0fff);
  }
  // SimpleKey's layout: in_port, eth_type, nw_frag, nw_tos | vlan[0], vlan[1].
  const uint64_t w[2] = {
      in_port | uint64_t{be16(0x0800)} << 32 | nw_frag << 48 | uint64_t{ip[1]} << 56, vlans};
  std::memcpy(k, w, sizeof w);
  *l3_off = off;
  return true;
}

// The common run: untagged IPv4 that is not a fragment. Within a run of
// packets of one simple key the PMD only needs to know whether the next
// packet has that key too, and for such a key that takes fewer checks than
// simple_extract() makes: the frame's bytes 12-15 (ethertype, IPv4 version
// and header length, TOS) are one 32-bit compare with the key's (`head`
// below, for a 20-byte header), which also settles the header length that
// the other checks depend on.
//
// simple_run_head() gives that head for key k, or kNoRunHead when k is not
// such a key (tagged, a fragment, and the like), so that no frame matches.
inline constexpr uint64_t kNoRunHead = ~uint64_t{0};  // wider than any 32-bit head

inline uint64_t simple_run_head(const SimpleKey& k) {
  using simple_detail::be16;
  uint64_t vlans;
  std::memcpy(&vlans, k.vlan, sizeof vlans);
  if (k.eth_type != be16(0x0800) || k.nw_frag != 0 || vlans != 0) return kNoRunHead;
  return be16(0x0800) | uint32_t{0x45} << 16 | uint32_t{k.nw_tos} << 24;
}

namespace simple_detail {

// Per IP protocol, what the run check needs: the smallest total length
// simple_extract() accepts for an IPv4 packet with a 20-byte header (20 +
// its MinL4), and whether it has TCP flags. One entry, so that the check
// needs the protocol number for one load.
struct RunProto {
  uint8_t min_tot;
  bool tcp;
};
static_assert(sizeof(RunProto) == 2 && offsetof(RunProto, tcp) == 1);
struct RunProtos {
  RunProto p[256];
  constexpr RunProtos() : p{} {
    for (int i = 0; i < 256; ++i) p[i] = {static_cast<uint8_t>(20 + kMinL4.len[i]), i == 6};
  }
};
inline constexpr RunProtos kRunProtos;

}  // namespace simple_detail

// True if the frame (`len` bytes at p, received on the port of the key that
// `head` came from) is one simple_extract() accepts with exactly that key, a
// 20-byte IPv4 header and no fragment bits; *tcp_flags then receives what
// simple_extract() would give. False for every other frame, including some
// of that key (IPv4 options): the caller then asks simple_extract().
inline bool simple_run_match(const uint8_t* p, uint32_t len, uint64_t head, uint16_t* tcp_flags) {
  using simple_detail::be16;
  using simple_detail::load_u16;
  if (len < 14 + 20) return false;
  uint32_t h;
  std::memcpy(&h, p + 12, 4);
  if (h != head) return false;
  // simple_extract()'s checks with hlen = 20: 20 <= tot <= len - 14, no
  // fragment bits, and the L4 header's minimal length, which (with
  // min_tot >= 20) covers tot >= hlen.
  // The total length from a 32-bit load (with the ID after it): 32-bit
  // operations throughout keep the compiler from spilling 16-bit values.
  uint32_t tot_id;
  std::memcpy(&tot_id, p + 16, 4);
  const uint32_t tot = __builtin_bswap32(tot_id) >> 16;
  // The protocol's entry in one load (RunProto's two bytes, little-endian).
  const uint32_t proto = load_u16(&simple_detail::kRunProtos.p[p[23]].min_tot);
  if (tot > len - 14 || tot < (proto & 0xffu) || (load_u16(p + 20) & be16(0x3fff))) return false;
  *tcp_flags = proto >> 8 ? static_cast<uint16_t>(be16(load_u16(p + 14 + 20 + 12)) & 0x0fff) : 0;
  return true;
}

// What full key extraction would put in nw_proto, ipv4_src and ipv4_dst
// (`addrs`, the two as they lie in FlowKey) and tp_src and tp_dst (`ports`,
// likewise) for a packet that simple_extract() accepted with key k, whose
// IPv4 header is at `ip` (the frame at the l3 offset it gave): the fields a
// tunnel output hashes for its UDP source port (tunnel_flow_hash), which the
// simple pass has no full key for.
struct SimpleFlowFields {
  uint64_t addrs;
  uint32_t ports;
  uint8_t proto;
};

inline SimpleFlowFields simple_flow_fields(const uint8_t* ip, const SimpleKey& k) {
  // simple_extract() checked that the header and L4 bytes read here are in
  // the frame.
  SimpleFlowFields f;
  f.proto = ip[9];
  std::memcpy(&f.addrs, ip + 12, 8);
  f.ports = 0;
  if (k.nw_frag & kFragLater) return f;  // no L4 header
  const uint8_t* l4 = ip + (ip[0] & 0x0fu) * 4;
  switch (f.proto) {
    case 6:    // TCP
    case 17:   // UDP
    case 132:  // SCTP
      std::memcpy(&f.ports, l4, 4);
      break;
    case 1: {  // ICMP: htons(type), htons(code)
      const uint8_t tc[4] = {0, l4[0], 0, l4[1]};
      std::memcpy(&f.ports, tc, 4);
      break;
    }
    default:
      break;
  }
  return f;
}

}  // namespace dpx
