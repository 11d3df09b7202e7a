// Tunnel encapsulation: what happens to a packet output to a tunnel port.
//
// set(tunnel(...)) has left the tunnel metadata in the packet's state; the
// output to the tunnel port then
//  1. finds the outer headers for (destination, source, tunnel port) in the
//     PMD's template cache (tunnel_pmd.h), or builds them from the current
//     underlay snapshot: route by longest prefix, next hop, source address,
//     the underlay port's MAC and MTU, the next hop's MAC from the
//     neighbour table. A template is valid for one snapshot generation, so
//     a route or neighbour change rebuilds it on its next use. A next hop
//     without a neighbour entry is reported to the control thread (at most
//     every kResolveReportMs per cache entry), which sends an ARP request;
//     the packets meanwhile are dropped and counted
//     (encap_neighbour_unresolved), not queued.
//  2. prepends the 50 bytes of Ethernet, IPv4, UDP and VXLAN or Geneve
//     headers and fills in the per-packet fields: IPv4 total length, TOS,
//     TTL (64 when set(tunnel) gave 0), DF from flags(df), identification
//     (0 with DF, a per-PMD counter without), header checksum; UDP source
//     port from the inner flow's hash (kTunnelSrcPortMin..Max), destination
//     port from tp_dst if set(tunnel) gave one, else the tunnel port's;
//     UDP length; UDP checksum 0, or computed with flags(csum); the VNI from
//     the low 24 bits of tun_id; Geneve's O bit from flags(oam).
//  3. a packet whose outer IPv4 packet would exceed the underlay port's MTU
//     is dropped and counted (encap_too_big): no fragmentation.
// Then the packet is sent to the underlay port like any other output.
//
// Over an IPv6 underlay (set(tunnel(ipv6_dst=...))) the same with its own
// cache (Encap6Cache) and a 70-byte template: Ethernet, IPv6 (traffic class
// = tos, flow label 0, hop limit = ttl or 64), UDP, VXLAN/Geneve. The UDP
// checksum is always computed over IPv6, whatever flags(csum) says: RFC 8200
// requires it, and the zero-checksum allowance of RFC 6935 is one that the
// receiver must opt into (Linux: udp6zerocsumrx), so a computed checksum is
// what every peer accepts. DF has no meaning (IPv6 routers never fragment).
// The MTU check is on the outer IPv6 packet (40 + payload). IPv6 next hops
// are resolved by Neighbour Discovery (reported like IPv4 ones, as
// kResolve6 events).
//
// Thread-safety: PMD thread, on its own TunnelPmd.
#pragma once

#include <nmmintrin.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <cstring>

#include "actions.h"
#include "flow_key.h"
#include "tunnel_hdr.h"
#include "tunnel_pmd.h"
#include "underlay.h"

namespace dpx {

inline constexpr uint32_t kTunnelNoPort = UINT32_MAX;
// How often one cache entry reports a missing neighbour to the control
// thread while packets keep arriving for it.
inline constexpr uint64_t kResolveReportMs = 100;

// Hash of the inner flow for the outer UDP source port: addresses, protocol
// and L4 ports (MAC addresses for non-IP), never fields that change within a
// connection (TCP flags, TTL), so one flow keeps one source port.
//
// For IPv4, of the fields as FlowKey holds them: `proto` (nw_proto),
// `addrs` (ipv4_src and ipv4_dst as they lie in memory), `ports` (tp_src
// and tp_dst likewise). The simple-match pass, which has no FlowKey, hashes
// the same fields read from the packet (simple_flow_fields).
inline uint32_t tunnel_flow_hash_ipv4(uint8_t proto, uint64_t addrs, uint32_t ports) {
  uint32_t h = _mm_crc32_u32(0, uint32_t{RTE_BE16(0x0800)} << 8 | proto);
  h = static_cast<uint32_t>(_mm_crc32_u64(h, addrs));
  return _mm_crc32_u32(h, ports);
}

inline uint32_t tunnel_flow_hash(const FlowKey& k) {
  uint64_t w;
  uint32_t ports;
  std::memcpy(&ports, &k.tp_src, 4);
  if (k.eth_type == RTE_BE16(0x0800)) {
    std::memcpy(&w, &k.ipv4_src, 8);
    return tunnel_flow_hash_ipv4(k.nw_proto, w, ports);
  }
  uint32_t h = _mm_crc32_u32(0, uint32_t{k.eth_type} << 8 | k.nw_proto);
  if (k.eth_type == RTE_BE16(0x86dd)) {
    for (int i = 0; i < 16; i += 8) {
      std::memcpy(&w, k.ipv6_src + i, 8);
      h = static_cast<uint32_t>(_mm_crc32_u64(h, w));
      std::memcpy(&w, k.ipv6_dst + i, 8);
      h = static_cast<uint32_t>(_mm_crc32_u64(h, w));
    }
  } else {
    std::memcpy(&w, k.eth_dst, 8);
    h = static_cast<uint32_t>(_mm_crc32_u64(h, w));
    std::memcpy(&w, k.eth_src + 2, 4);
    h = _mm_crc32_u32(h, static_cast<uint32_t>(w));
  }
  return _mm_crc32_u32(h, ports);
}

// The outer UDP source port (be16) for a flow hash.
inline uint16_t tunnel_udp_src_port(uint32_t hash) {
  const uint32_t range = kTunnelSrcPortMax - kTunnelSrcPortMin;
  return rte_cpu_to_be_16(
      static_cast<uint16_t>(kTunnelSrcPortMin + ((uint64_t{hash} * range) >> 32)));
}

// Writes the kOuterIpv4Len-byte header template for a tunnel of `type` to
// `dst` (be32) resolved as `r`, towards UDP port `udp_port` (be16). The
// per-packet fields (lengths, TOS, TTL, DF, id, checksums, source port,
// VNI) are left zero.
void encap_build_template(const UnderlaySnapshot::Resolution& r, TunnelType type, uint16_t udp_port,
                          uint32_t dst, uint8_t* hdr);

// The IPv6 template: kOuterIpv6Len bytes to `dst`, and its completion:
// prepends it to m and fills in the per-packet fields for metadata `tun`,
// udp_src (be16) the UDP source port. Returns TunnelDrop::kCount on
// success; kEncapTooBig (outer IPv6 packet, header included, longer than
// `mtu`) or kEncapNoHeadroom with m unchanged otherwise.
void encap_build_template6(const UnderlaySnapshot::Resolution6& r, TunnelType type,
                           uint16_t udp_port, const Ip6& dst, uint8_t* hdr);
TunnelDrop encap_write6(const uint8_t* tmpl, uint32_t mtu, TunnelType type, rte_mbuf* m,
                        const TunnelMeta& tun, uint16_t udp_src);

// The tunnel output of a PMD for a run of n packets of one flow: all sent
// to tunnel port `tunnel_odp` (counter slot `slot`) with metadata `tun`;
// hashes[i] is tunnel_flow_hash() of packet i's key. The template is looked
// up, and the fields the metadata decides are filled in, once per run; each
// packet then costs a 50-byte copy and its lengths, identification, IPv4
// checksum and UDP source port. The packets encapsulated are compacted at
// the front of pkts, in order, and their number returned, with *underlay_odp
// the port to transmit them on (set only when the return value is non-zero).
// The others are freed and their reasons counted in t.counters. Missing
// neighbours are reported through sh.events[pmd_index]; now_ms paces those
// reports.
uint32_t tunnel_encap_run(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index,
                          uint32_t tunnel_odp, uint8_t slot, const TunnelMeta& tun, rte_mbuf** pkts,
                          const uint32_t* hashes, uint32_t n, uint64_t now_ms,
                          uint32_t* underlay_odp);

// The same for one packet: returns the underlay port to transmit m on, or
// kTunnelNoPort when m was freed and the reason counted.
uint32_t tunnel_encap(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index, uint32_t tunnel_odp,
                      uint8_t slot, rte_mbuf* m, const TunnelMeta& tun, uint32_t flow_hash,
                      uint64_t now_ms);

}  // namespace dpx
