// The IPv4-underlay host views and frame edits the tunnel stage tests share
// (tunnel_codec_test.cc, tunnel_decap_run_test.cc).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "support/tunnel_fixtures.h"
#include "underlay.h"

namespace dpx::test {

inline constexpr uint8_t kPortMac[6] = {0x02, 0, 0, 0, 0xaa, 0x01};  // the encapsulating host
inline constexpr uint8_t kNhMac[6] = {0x02, 0, 0, 0, 0xbb, 0x02};    // the remote VTEP
inline constexpr uint32_t kUnderlayOdp = 1;
inline constexpr uint32_t kVxlanOdp = 5, kGeneveOdp = 6, kVxlan8472Odp = 7;

inline uint32_t ip4(const char* s) {
  in_addr a;
  EXPECT_EQ(inet_pton(AF_INET, s, &a), 1);
  return a.s_addr;
}

// One host's view of the underlay: VTEP `vtep`/24 on underlay port 1 with
// MAC `mac`, a connected route, the peer `peer` resolved to `peer_mac`, and
// three tunnel ports (VXLAN 4789, Geneve 6081, VXLAN 8472).
inline std::unique_ptr<UnderlaySnapshot> host_view(const char* vtep, const uint8_t* mac,
                                                   const char* peer, const uint8_t* peer_mac,
                                                   uint64_t generation = 1) {
  auto s = std::make_unique<UnderlaySnapshot>();
  s->generation = generation;
  s->vteps[s->n_vteps++] = {ip4(vtep), 24, kUnderlayOdp};
  UnderlayPortInfo& p = s->ports[s->n_ports++];
  p.odp = kUnderlayOdp;
  std::memcpy(p.mac, mac, 6);
  p.mtu = 1500;
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlanOdp, TunnelType::kVxlan, htons(4789), 0};
  s->tunnel_ports[s->n_tunnel_ports++] = {kGeneveOdp, TunnelType::kGeneve, htons(6081), 1};
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlan8472Odp, TunnelType::kVxlan, htons(8472), 2};
  Route r;
  r.prefix = ip4(vtep) & prefix_mask(24);
  r.plen = 24;
  r.odp = kUnderlayOdp;
  r.connected = true;
  EXPECT_EQ(s->routes.add(r), 0);
  if (peer) {
    NeighbourEntry n;
    n.odp = kUnderlayOdp;
    n.ip = ip4(peer);
    std::memcpy(n.mac, peer_mac, 6);
    s->neighbours.push_back(n);
  }
  return s;
}

// Fixes the outer IPv4 header checksum of a frame.
inline void fix_ip_csum(Packet& b) {
  set16(b, 24, 0);
  set16(b, 24, csum_finish(csum_add_bytes(0, b.data() + 14, 20)));
}
// Makes the outer IPv4 and UDP lengths describe a frame cut to `len` bytes.
inline void cut(Packet& b, size_t len) {
  b.resize(len);
  set16(b, 16, static_cast<uint16_t>(len - 14));
  set16(b, 38, static_cast<uint16_t>(len - 34));
  fix_ip_csum(b);
}

}  // namespace dpx::test
