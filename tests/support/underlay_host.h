// One IPv4-underlay host as the tunnel stages see it, without GoogleTest so
// that the tunnel micro-benchmark (bench/tunnel_bench.cc) builds the same
// host views as the tests (support/tunnel_hosts.h).
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "underlay.h"

namespace dpx::test {

inline constexpr uint32_t kUnderlayOdp = 1;
inline constexpr uint32_t kVxlanOdp = 5, kGeneveOdp = 6, kVxlan8472Odp = 7;

// VTEP `vtep`/24 on underlay port 1 with MAC `mac`, a connected route, the
// peer `peer` (if any) resolved to `peer_mac`, and three tunnel ports
// (VXLAN 4789, Geneve 6081, VXLAN 8472). nullptr if an address does not
// parse or the route table refuses the route.
inline std::unique_ptr<UnderlaySnapshot> make_host_view(const char* vtep, const uint8_t* mac,
                                                        const char* peer, const uint8_t* peer_mac,
                                                        uint64_t generation = 1) {
  in_addr local, remote{};
  if (inet_pton(AF_INET, vtep, &local) != 1) return nullptr;
  if (peer && inet_pton(AF_INET, peer, &remote) != 1) return nullptr;
  auto s = std::make_unique<UnderlaySnapshot>();
  s->generation = generation;
  s->vteps[s->n_vteps++] = {local.s_addr, 24, kUnderlayOdp};
  UnderlayPortInfo& p = s->ports[s->n_ports++];
  p.odp = kUnderlayOdp;
  std::memcpy(p.mac, mac, 6);
  p.mtu = 1500;
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlanOdp, TunnelType::kVxlan, htons(4789), 0};
  s->tunnel_ports[s->n_tunnel_ports++] = {kGeneveOdp, TunnelType::kGeneve, htons(6081), 1};
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlan8472Odp, TunnelType::kVxlan, htons(8472), 2};
  Route r;
  r.prefix = local.s_addr & prefix_mask(24);
  r.plen = 24;
  r.odp = kUnderlayOdp;
  r.connected = true;
  if (s->routes.add(r) != 0) return nullptr;
  if (peer) {
    NeighbourEntry n;
    n.odp = kUnderlayOdp;
    n.ip = remote.s_addr;
    std::memcpy(n.mac, peer_mac, 6);
    s->neighbours.push_back(n);
  }
  return s;
}

}  // namespace dpx::test
