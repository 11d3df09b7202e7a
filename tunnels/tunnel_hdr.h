// Tunnel wire formats and the drop reasons of the tunnel stages.
//
// VXLAN (RFC 7348) and Geneve (RFC 8926) over IPv4/UDP, as dpxd encapsulates
// and decapsulates them (and decapsulates over IPv6/UDP). The outer headers of both are the same
// size without Geneve options: Ethernet 14 + IPv4 20 + UDP 8 + tunnel header 8 = 50 bytes.
//
// Thread-safety: constants and pure functions only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dpx {

// An IPv6 address, network byte order (as in packets and FlowKey).
using Ip6 = std::array<uint8_t, 16>;

enum class TunnelType : uint8_t { kNone = 0, kVxlan = 1, kGeneve = 2 };

// Zeroes the `len`-byte frame at `out` and writes its Ethernet header;
// `ethertype` in host order. (Outer tunnel headers, ARP and ND frames.)
inline void eth_frame_start(uint8_t* out, uint32_t len, const uint8_t* dst, const uint8_t* src,
                            uint16_t ethertype) {
  std::memset(out, 0, len);
  std::memcpy(out, dst, 6);
  std::memcpy(out + 6, src, 6);
  out[12] = static_cast<uint8_t>(ethertype >> 8);
  out[13] = static_cast<uint8_t>(ethertype);
}

// IANA ports, the defaults of the two port types (host order).
inline constexpr uint16_t kVxlanUdpPort = 4789;
inline constexpr uint16_t kGeneveUdpPort = 6081;

inline constexpr uint32_t kEthHdrLen = 14;
inline constexpr uint32_t kIpv4HdrLen = 20;
inline constexpr uint32_t kIpv6HdrLen = 40;
inline constexpr uint32_t kUdpHdrLen = 8;
inline constexpr uint32_t kTunnelHdrLen = 8;  // VXLAN, and Geneve without options
inline constexpr uint32_t kOuterIpv4Len = kEthHdrLen + kIpv4HdrLen + kUdpHdrLen + kTunnelHdrLen;
inline constexpr uint32_t kOuterIpv6Len = kEthHdrLen + kIpv6HdrLen + kUdpHdrLen + kTunnelHdrLen;

// VXLAN: the first word holds the flags; only I (VNI valid) may be set. The
// second word holds the VNI in its upper 24 bits.
inline constexpr uint32_t kVxlanFlagI = 0x08000000;  // host order, first word

// Geneve base header fields (host order views of the first word).
inline constexpr uint32_t kGeneveVersionMask = 0xc0000000;
inline constexpr uint32_t kGeneveOptLenMask = 0x3f000000;  // in 4-byte units
inline constexpr uint32_t kGeneveOptLenShift = 24;
inline constexpr uint32_t kGeneveFlagOam = 0x00800000;
inline constexpr uint32_t kGeneveFlagCritical = 0x00400000;
inline constexpr uint16_t kGeneveProtoEthernet = 0x6558;  // Transparent Ethernet Bridging

// UDP source ports of encapsulated packets are drawn from the inner flow's
// hash within this range, Linux's default ephemeral range, so that ECMP and
// RSS in the underlay spread flows while one flow keeps one port.
inline constexpr uint16_t kTunnelSrcPortMin = 32768;
inline constexpr uint16_t kTunnelSrcPortMax = 61000;  // exclusive

// Default TTL of the outer header when set(tunnel) gives ttl 0 (Linux's
// ip_default_ttl).
inline constexpr uint8_t kTunnelDefaultTtl = 64;

// ---------------------------------------------------------------------------
// Drop reasons of the tunnel stages: underlay receive (decap, ARP punt) and
// tunnel output (encap). One table; the names are the counter names that
// `dpxctl tnl-stats` and `pmd-stats-show` print.
// ---------------------------------------------------------------------------
#define DPX_TUNNEL_DROPS(X)                                                                     \
  /* decap: outer headers */                                                                    \
  X(kDecapTruncated, "decap_truncated") /* outer headers past the frame */                      \
  X(kDecapBadIpChecksum, "decap_bad_ip_checksum")                                               \
  X(kDecapBadIpLength, "decap_bad_ip_length")   /* total length vs header/frame */              \
  X(kDecapIpFragment, "decap_ip_fragment")      /* outer fragments: no reassembly */            \
  X(kDecapBadUdpLength, "decap_bad_udp_length") /* UDP length vs IP payload */                  \
  X(kDecapBadUdpChecksum, "decap_bad_udp_checksum")                                             \
  X(kVxlanNoIFlag, "vxlan_no_i_flag")          /* VNI-valid flag clear */                       \
  X(kVxlanReservedBits, "vxlan_reserved_bits") /* other flags or reserved bits set */           \
  X(kGeneveBadVersion, "geneve_bad_version")                                                    \
  X(kGeneveBadOptionLength, "geneve_bad_option_length") /* options past the packet */           \
  X(kGeneveBadProtocol, "geneve_bad_protocol")          /* not Ethernet inside */               \
  X(kDecapInnerRunt, "decap_inner_runt")                /* inner frame < 14 bytes */            \
  X(kDecapIpv6ExtHeader, "decap_ipv6_ext_header")       /* to a VTEP, not walked */             \
  /* underlay ARP */                                                                            \
  X(kArpPuntQueueFull, "arp_punt_queue_full") /* control thread behind */                       \
  /* encap */                                                                                   \
  X(kEncapNoTunnelMetadata, "encap_no_tunnel_metadata") /* no set(tunnel) before */             \
  X(kEncapNoRoute, "encap_no_route")                                                            \
  X(kEncapNoVtep, "encap_no_local_vtep")                     /* route's port has no address */  \
  X(kEncapNeighbourUnresolved, "encap_neighbour_unresolved") /* ARP pending */                  \
  X(kEncapTooBig, "encap_too_big")                           /* bigger than the underlay MTU */ \
  X(kEncapNoHeadroom, "encap_no_headroom")

enum class TunnelDrop : uint8_t {
#define DPX_X(e, s) e,
  DPX_TUNNEL_DROPS(DPX_X)
#undef DPX_X
      kCount
};
inline constexpr size_t kTunnelDropCount = static_cast<size_t>(TunnelDrop::kCount);

inline const char* tunnel_drop_name(TunnelDrop d) {
  static constexpr std::array<const char*, kTunnelDropCount> kNames = {
#define DPX_X(e, s) s,
      DPX_TUNNEL_DROPS(DPX_X)
#undef DPX_X
  };
  return static_cast<size_t>(d) < kTunnelDropCount ? kNames[static_cast<size_t>(d)] : "?";
}

// Internet checksum helpers over raw memory (RFC 1071), independent of
// DPDK so the tables and their tests need no EAL.
inline uint32_t csum_add_bytes(uint32_t sum, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i]) << 8 | p[i + 1];
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1]) << 8;
  return sum;
}
// Folds to 16 bits and complements: the value to store (host order).
inline uint16_t csum_finish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace dpx
