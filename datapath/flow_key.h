// The compact flow key: what key extraction fills from a packet and its
// metadata, what the exact-match cache compares, what the megaflow
// classifier masks and hashes, and what ODP key attributes parse into.
//
// Layout rules (everything else in the datapath depends on them):
//  - 192 bytes, 24 64-bit words, 64-byte aligned. Masking, hashing and
//    comparing work word by word; a megaflow subtable only touches the words
//    its mask makes non-zero, so the order below puts the fields nearly every
//    megaflow matches in the first cache line and the tunnel metadata, which
//    is zero for most traffic, in the last.
//  - Packet fields are stored in network byte order, exactly as they appear
//    in the packet and in the `struct ovs_key_*` of linux/openvswitch.h, so a
//    mask from ovs-vswitchd applies byte for byte and set actions copy bytes.
//    Metadata that OVS carries as host-order u32 attributes (in_port,
//    recirc_id, dp_hash, skb_mark, priority) is stored in host order.
//  - A field the packet does not have is zero. Key extraction writes every
//    byte (it zeroes the key first), so two packets of one microflow produce
//    byte-identical keys, which the exact-match cache relies on.
//
// Thread-safety: plain data; a FlowKey is owned by whoever holds it.
#pragma once

#include <smmintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dpx {

// Values of FlowKey::nw_frag, the same bits as OVS_FRAG_TYPE_* use on the
// wire format side (ovs_key_ipv4.ipv4_frag is an enum there; the ODP parser
// converts). Bit 0: the packet is a fragment; bit 1: a later fragment.
inline constexpr uint8_t kFragAny = 1 << 0;
inline constexpr uint8_t kFragLater = 1 << 1;

// The VLAN "present" bit inside a TCI, as OVS uses it (VLAN_CFI): a key with
// vlan[i].tci == 0 has no i-th tag; a tag with TCI 0 is stored as 0x1000.
inline constexpr uint16_t kVlanCfi = 0x1000;

// Tunnel flags stored in FlowKey::tun_flags (host order). Same meaning as
// OVS's FLOW_TNL_F_* so the ODP converter maps them one to one.
inline constexpr uint16_t kTunFlagDontFragment = 1 << 0;
inline constexpr uint16_t kTunFlagCsum = 1 << 1;
inline constexpr uint16_t kTunFlagKey = 1 << 2;
inline constexpr uint16_t kTunFlagOam = 1 << 3;

struct VlanTag {
  uint16_t tpid;  // be16: 0x8100 or 0x88a8; 0 when absent
  uint16_t tci;   // be16, with kVlanCfi (in network order) set when present
};

struct alignas(64) FlowKey {
  // ---- cache line 0: matched by almost every megaflow ----
  uint32_t in_port;      // 0: odp port number the packet arrived on (host)
  uint32_t recirc_id;    // 4: recirculation id, 0 on first pass (host)
  uint8_t eth_dst[6];    // 8
  uint8_t eth_src[6];    // 14
  uint16_t eth_type;     // 20: be16, innermost ethertype (after VLAN tags)
  uint8_t nw_frag;       // 22: kFragAny | kFragLater
  uint8_t nw_proto;      // 23: IP protocol / IPv6 next header; ARP opcode (low 8 bits)
  VlanTag vlan[2];       // 24: outer first
  uint32_t ipv4_src;     // 32: be32; ARP sender protocol address
  uint32_t ipv4_dst;     // 36: be32; ARP target protocol address
  uint16_t tp_src;       // 40: be16 L4 source port; ICMP/ICMPv6 type in the low byte (htons(type))
  uint16_t tp_dst;       // 42: be16 L4 destination port; ICMP/ICMPv6 code (htons(code))
  uint8_t nw_tos;        // 44: IPv4 TOS / IPv6 traffic class (DSCP+ECN)
  uint8_t nw_ttl;        // 45: IPv4 TTL / IPv6 hop limit
  uint16_t tcp_flags;    // 46: be16, low 12 bits of the TCP header's flags word
  uint8_t ipv6_src[16];  // 48
  // ---- cache line 1: IPv6, rarer metadata, ARP/ND ----
  uint8_t ipv6_dst[16];   // 64
  uint32_t ipv6_label;    // 80: be32, low 20 bits
  uint32_t dp_hash;       // 84: set by the hash action (host)
  uint32_t skb_mark;      // 88: host
  uint32_t priority;      // 92: skb priority (host); never set by dpxd itself
  uint8_t arp_sha[6];     // 96: ARP sender MAC; ND source link-layer address
  uint8_t arp_tha[6];     // 102: ARP target MAC; ND target link-layer address
  uint32_t pad0;          // 108: always zero
  uint8_t nd_target[16];  // 112: IPv6 ND target address
  // ---- cache line 2: tunnel metadata, zero for non-tunnel packets ----
  uint64_t tun_id;           // 128: be64 VNI / key
  uint32_t tun_ipv4_src;     // 136: be32 outer source
  uint32_t tun_ipv4_dst;     // 140: be32 outer destination
  uint8_t tun_ipv6_src[16];  // 144
  uint8_t tun_ipv6_dst[16];  // 160
  uint16_t tun_flags;        // 176: kTunFlag* (host)
  uint8_t tun_tos;           // 178
  uint8_t tun_ttl;           // 179
  uint16_t tun_tp_src;       // 180: be16 outer UDP source port
  uint16_t tun_tp_dst;       // 182: be16 outer UDP destination port
  uint64_t pad1;             // 184: reserved for Geneve option metadata, zero

  static constexpr size_t kWords = 24;

  const uint64_t* words() const { return reinterpret_cast<const uint64_t*>(this); }
  uint64_t* words() { return reinterpret_cast<uint64_t*>(this); }
  void clear() { std::memset(this, 0, sizeof *this); }
};

static_assert(sizeof(FlowKey) == 192, "FlowKey must stay 24 words");
static_assert(offsetof(FlowKey, eth_dst) == 8);
static_assert(offsetof(FlowKey, vlan) == 24);
static_assert(offsetof(FlowKey, ipv6_src) == 48);
static_assert(offsetof(FlowKey, ipv6_dst) == 64);
static_assert(offsetof(FlowKey, arp_sha) == 96);
static_assert(offsetof(FlowKey, nd_target) == 112);
static_assert(offsetof(FlowKey, tun_id) == 128);
static_assert(offsetof(FlowKey, pad1) == 184);

// Full-key equality, 16 bytes at a time (the key is 64-byte aligned). The
// line holding the IPv4 addresses and L4 ports is compared first and alone:
// it is where most microflows differ, so comparing two different keys (the
// PMD checks each packet against the previous one) usually costs one
// compare; equal keys are then confirmed with one OR-accumulated pass.
inline bool keys_equal(const FlowKey& a, const FlowKey& b) {
  const auto* x = reinterpret_cast<const __m128i*>(&a);
  const auto* y = reinterpret_cast<const __m128i*>(&b);
  __m128i d = _mm_xor_si128(_mm_load_si128(x + 2), _mm_load_si128(y + 2));
  if (!_mm_testz_si128(d, d)) return false;
  for (int i = 0; i < 12; ++i) {
    if (i == 2) continue;
    d = _mm_or_si128(d, _mm_xor_si128(_mm_load_si128(x + i), _mm_load_si128(y + i)));
  }
  return _mm_testz_si128(d, d);
}

inline bool operator==(const FlowKey& a, const FlowKey& b) { return keys_equal(a, b); }

// A 128-bit unique flow identifier, chosen by ovs-vswitchd (or dpxctl).
struct Ufid {
  uint32_t w[4];
  friend bool operator==(const Ufid&, const Ufid&) = default;
};

}  // namespace dpx
