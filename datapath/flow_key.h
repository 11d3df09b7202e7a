// The compact flow key: what key extraction fills from a packet and its
// metadata, what the exact-match cache compares, what the megaflow
// classifier masks and hashes, and what ODP key attributes parse into.
//
// Layout rules (everything else in the datapath depends on them):
//  - A 192-byte head (24 64-bit words, 64-byte aligned) that key extraction
//    writes in full for every packet, then a 256-byte area for Geneve
//    options that it writes only for packets that carry options. Masking,
//    hashing and comparing work word by word; a megaflow subtable only
//    touches the words its mask makes non-zero, so the order below puts the
//    fields nearly every megaflow matches in the first cache line, the
//    tunnel metadata, which is zero for most traffic, in the third, and the
//    options, which only flows matching tun_metadata look at, after it.
//  - Geneve options follow the Linux kernel datapath (sw_flow_key.tun_opts):
//    they are right-aligned in tun_opts, so a key with tun_opts_len = L has
//    them in its last L bytes, and ONLY those bytes are defined: the area in
//    front of them holds whatever an earlier packet left there. That is
//    safe because a mask that covers option bytes always matches
//    tun_opts_len exactly (the ODP parser enforces it) and covers only the
//    last L bytes for a flow whose key has L bytes of options: a packet with
//    another length fails on the length, whatever its other bytes hash to,
//    and a packet with the same length has every masked byte defined. So
//    packets without options never pay for the area (docs/tunnels.md).
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
  uint8_t tun_opts_len;  // 184: bytes of Geneve options (0..252, a multiple of 4); mask: 0 or 0xff
  uint8_t pad1[7];       // 185: always zero
  // ---- cache lines 3..6: Geneve options, defined only in their last tun_opts_len bytes ----
  uint8_t tun_opts[256];  // 192: the option TLVs as on the wire, right-aligned

  static constexpr size_t kWords = 56;      // all of it, for masks and flow keys
  static constexpr size_t kHeadWords = 24;  // what key extraction always writes
  static constexpr size_t kHeadBytes = kHeadWords * 8;

  // The options of a key (not of a mask, whose tun_opts_len is 0xff).
  const uint8_t* tun_opts_data() const { return tun_opts + sizeof tun_opts - tun_opts_len; }
  uint8_t* tun_opts_data() { return tun_opts + sizeof tun_opts - tun_opts_len; }

  const uint64_t* words() const { return reinterpret_cast<const uint64_t*>(this); }
  uint64_t* words() { return reinterpret_cast<uint64_t*>(this); }
  void clear() { std::memset(this, 0, sizeof *this); }
  // Zeroes the head only: a key without options (tun_opts_len 0), for the
  // per-packet paths that must not pay for the option area.
  void clear_head() { std::memset(this, 0, kHeadBytes); }
};

// A key's head alone: what the exact-match cache stores (emc.h).
struct alignas(64) FlowKeyHead {
  uint64_t w[FlowKey::kHeadWords];
};
static_assert(sizeof(FlowKeyHead) == FlowKey::kHeadBytes);

// The longest Geneve option stream a key carries, as in the kernel datapath
// (whose tun_opts_len is a byte, and whose option lengths are multiples of 4).
inline constexpr uint32_t kTunOptsMax = 252;

static_assert(sizeof(FlowKey) == 448, "FlowKey must stay 56 words");
static_assert(offsetof(FlowKey, eth_dst) == 8);
static_assert(offsetof(FlowKey, vlan) == 24);
static_assert(offsetof(FlowKey, ipv6_src) == 48);
static_assert(offsetof(FlowKey, ipv6_dst) == 64);
static_assert(offsetof(FlowKey, arp_sha) == 96);
static_assert(offsetof(FlowKey, nd_target) == 112);
static_assert(offsetof(FlowKey, tun_id) == 128);
static_assert(offsetof(FlowKey, tun_opts_len) == 184);
static_assert(offsetof(FlowKey, tun_opts) == FlowKey::kHeadBytes);

// Equality of the 192-byte heads, 16 bytes at a time (keys are 64-byte
// aligned). The line holding the IPv4 addresses and L4 ports is compared
// first and alone: it is where most microflows differ, so comparing two
// different keys (the PMD checks each packet against the previous one)
// usually costs one compare; equal keys are then confirmed with one
// OR-accumulated pass.
inline bool key_heads_equal(const void* a, const void* b) {
  const auto* x = static_cast<const __m128i*>(a);
  const auto* y = static_cast<const __m128i*>(b);
  __m128i d = _mm_xor_si128(_mm_load_si128(x + 2), _mm_load_si128(y + 2));
  if (!_mm_testz_si128(d, d)) return false;
  for (int i = 0; i < 12; ++i) {
    if (i == 2) continue;
    d = _mm_or_si128(d, _mm_xor_si128(_mm_load_si128(x + i), _mm_load_si128(y + i)));
  }
  return _mm_testz_si128(d, d);
}

// Full-key equality: the heads, then the defined option bytes, if any
// (equal heads have equal tun_opts_len; a mask's 0xff compares the 255
// bytes a mask can use).
inline bool keys_equal(const FlowKey& a, const FlowKey& b) {
  if (!key_heads_equal(&a, &b)) return false;
  if (a.tun_opts_len == 0) [[likely]]
    return true;
  const size_t off = sizeof a.tun_opts - a.tun_opts_len;
  return std::memcmp(a.tun_opts + off, b.tun_opts + off, a.tun_opts_len) == 0;
}

inline bool operator==(const FlowKey& a, const FlowKey& b) { return keys_equal(a, b); }

// Equality of every byte, option area included: for keys that are defined
// in full, which masks and masked megaflow keys are (the ODP parser clears
// them first), and for which the classifier must agree with its own
// word-by-word matching whatever the option length says.
inline bool keys_identical(const FlowKey& a, const FlowKey& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// A 128-bit unique flow identifier, chosen by ovs-vswitchd (or dpxctl).
struct Ufid {
  uint32_t w[4];
  friend bool operator==(const Ufid&, const Ufid&) = default;
};

}  // namespace dpx
