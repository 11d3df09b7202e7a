// The underlay as the fast path sees it: local VTEP addresses, tunnel ports,
// underlay ports, routes and resolved neighbours, in one immutable snapshot.
//
// The control thread (tunnel_ctl.h) owns the tables and publishes a new
// UnderlaySnapshot whenever any of them changes; PMD threads read the
// current one through TunnelShared::snapshot and the old one is freed after
// an RCU grace period. Nothing in a published snapshot ever changes, so
// readers take no locks and the per-PMD encap cache (tunnel_encap.h) only
// has to compare the snapshot's generation to know its templates are
// current: a route or neighbour change is a new generation, and every
// template is rebuilt from it on its next use.
//
// Routes are looked up only when a template is (re)built, once per
// destination per generation, never per packet; that is why the table is a
// small longest-prefix-match structure of its own (a sorted array per prefix
// length, binary searched from /32 down) and not DPDK's rte_lpm, whose
// 2^24-entry first-level table costs 64 MB per instance for what is, on an
// underlay, a handful of routes.
//
// IPv6 has its own VTEP list and route table (Route6Table, the same sorted
// arrays, 129 prefix lengths): DPDK's rte_lpm6 was rejected for the same
// reason as rte_lpm, its first level is also 2^24 entries (64 MB per
// instance, in hugepages, and a snapshot would need its own). IPv6
// neighbours are static entries only until Neighbour Discovery exists
// (docs/tunnels.md).
//
// Addresses are stored in network byte order (as in packets and FlowKey);
// prefix lengths and odp port numbers in host order.
//
// Thread-safety: a snapshot is built by one thread and then only read, by
// any number of threads. RouteTable is not thread-safe while being changed.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tunnel_hdr.h"

namespace dpx {

// A route to an IPv4 prefix, out of an underlay port.
struct Route {
  uint32_t prefix = 0;     // be32, host bits zero
  uint8_t plen = 0;        // 0..32
  uint32_t gateway = 0;    // be32 next hop; 0 = on-link (the destination is the next hop)
  uint32_t odp = 0;        // underlay port
  uint32_t src = 0;        // be32 preferred source; 0 = the port's first VTEP address
  bool connected = false;  // added with a VTEP address, removed with it
  friend bool operator==(const Route&, const Route&) = default;
};

// be32 netmask of a prefix length (0..32).
inline uint32_t prefix_mask(uint8_t plen);

// Longest-prefix match over IPv4 routes. Lookup cost: one binary search per
// prefix length in use, longest first.
class RouteTable {
 public:
  // Adds a route. EINVAL for plen > 32 or host bits set in the prefix,
  // EEXIST if a route to the same prefix/plen exists.
  int add(const Route& r);
  // Removes the route to prefix/plen; ENOENT if there is none.
  int del(uint32_t prefix, uint8_t plen);
  // Removes every route out of `odp` (when the port goes away).
  void remove_port(uint32_t odp);
  // Removes the connected routes out of `odp` to prefix/plen.
  void remove_connected(uint32_t prefix, uint8_t plen, uint32_t odp);
  // The most specific route covering `dst` (be32), or nullptr.
  const Route* lookup(uint32_t dst) const;
  // Every route, longest prefixes first, then by prefix.
  std::vector<Route> list() const;
  size_t size() const;

 private:
  // by_plen_[p]: the routes of prefix length p, sorted by host-order prefix.
  std::array<std::vector<Route>, 33> by_plen_;
  uint64_t present_ = 0;  // bit p set when by_plen_[p] is non-empty
};

// A route to an IPv6 prefix, out of an underlay port.
struct Route6 {
  Ip6 prefix{};            // host bits zero
  uint8_t plen = 0;        // 0..128
  Ip6 gateway{};           // next hop; all zero = on-link
  uint32_t odp = 0;        // underlay port
  Ip6 src{};               // preferred source; all zero = the port's first IPv6 VTEP address
  bool connected = false;  // added with a VTEP address, removed with it
  friend bool operator==(const Route6&, const Route6&) = default;
};

// `a` with the bits past plen (0..128) cleared.
Ip6 ip6_masked(const Ip6& a, uint8_t plen);
inline bool ip6_is_zero(const Ip6& a) { return a == Ip6{}; }

// Longest-prefix match over IPv6 routes, as RouteTable: one binary search
// per prefix length in use, longest first. Byte-wise order of network-order
// addresses is their numeric order, so the arrays sort with Ip6's <.
class Route6Table {
 public:
  // EINVAL for plen > 128 or host bits set, EEXIST for a duplicate prefix/plen.
  int add(const Route6& r);
  int del(const Ip6& prefix, uint8_t plen);  // ENOENT if there is none
  void remove_port(uint32_t odp);
  void remove_connected(const Ip6& prefix, uint8_t plen, uint32_t odp);
  const Route6* lookup(const Ip6& dst) const;
  std::vector<Route6> list() const;  // longest prefixes first, then by prefix
  size_t size() const;

 private:
  std::array<std::vector<Route6>, 129> by_plen_;
  std::array<uint64_t, 3> present_{};  // bit p of the 129: by_plen_[p] non-empty
};

// A local tunnel endpoint address, assigned to an underlay port.
struct VtepAddr {
  uint32_t ip = 0;  // be32
  uint8_t plen = 0;
  uint32_t odp = 0;  // the underlay port it lives on
  friend bool operator==(const VtepAddr&, const VtepAddr&) = default;
};

struct VtepAddr6 {
  Ip6 ip{};
  uint8_t plen = 0;
  uint32_t odp = 0;
  friend bool operator==(const VtepAddr6&, const VtepAddr6&) = default;
};

// What the fast path needs of an underlay port.
struct UnderlayPortInfo {
  uint32_t odp = 0;
  uint8_t mac[6] = {};
  uint32_t mtu = 1500;  // largest outer IPv4 packet (total length) it sends
};

// A tunnel port (vxlan_sys_4789, ...).
struct TunnelPortInfo {
  uint32_t odp = 0;
  TunnelType type = TunnelType::kNone;
  uint16_t udp_port = 0;  // be16 destination port it receives on and sends to
  uint8_t slot = 0;       // index of its per-PMD counters (TunnelShared::tunnel_slot)
};

// A resolved neighbour (only resolved ones are published).
struct NeighbourEntry {
  uint32_t odp = 0;
  uint32_t ip = 0;  // be32
  uint8_t mac[6] = {};
};

// A resolved IPv6 neighbour (static entries until Neighbour Discovery).
struct Neighbour6Entry {
  uint32_t odp = 0;
  Ip6 ip{};
  uint8_t mac[6] = {};
};

struct UnderlaySnapshot {
  static constexpr uint32_t kMaxVteps = 16;
  static constexpr uint32_t kMaxTunnelPorts = 8;
  static constexpr uint32_t kMaxUnderlayPorts = 8;

  uint64_t generation = 0;  // strictly increasing per publication, never 0

  uint32_t n_vteps = 0;
  std::array<VtepAddr, kMaxVteps> vteps{};
  uint32_t n_vteps6 = 0;
  std::array<VtepAddr6, kMaxVteps> vteps6{};
  uint32_t n_tunnel_ports = 0;
  std::array<TunnelPortInfo, kMaxTunnelPorts> tunnel_ports{};
  uint32_t n_ports = 0;  // underlay ports: those with at least one VTEP address
  std::array<UnderlayPortInfo, kMaxUnderlayPorts> ports{};
  RouteTable routes;
  Route6Table routes6;
  std::vector<NeighbourEntry> neighbours;    // sorted by (odp, ip)
  std::vector<Neighbour6Entry> neighbours6;  // sorted by (odp, ip)

  // ---- fast path (per packet) ----
  // Whether `ip` (be32) is a local VTEP address (on any underlay port: the
  // weak host model, as Linux).
  bool is_local(uint32_t ip) const {
    for (uint32_t i = 0; i < n_vteps; ++i)
      if (vteps[i].ip == ip) return true;
    return false;
  }
  // Whether `ip` is a VTEP address of underlay port `odp` (ARP answers only
  // for those).
  bool is_local_on(uint32_t ip, uint32_t odp) const {
    for (uint32_t i = 0; i < n_vteps; ++i)
      if (vteps[i].ip == ip && vteps[i].odp == odp) return true;
    return false;
  }
  // Whether the 16 bytes at `ip` are a local IPv6 VTEP address.
  bool is_local6(const uint8_t* ip) const {
    for (uint32_t i = 0; i < n_vteps6; ++i)
      if (std::memcmp(vteps6[i].ip.data(), ip, 16) == 0) return true;
    return false;
  }
  bool is_local6_on(const uint8_t* ip, uint32_t odp) const {
    for (uint32_t i = 0; i < n_vteps6; ++i)
      if (vteps6[i].odp == odp && std::memcmp(vteps6[i].ip.data(), ip, 16) == 0) return true;
    return false;
  }
  // The tunnel port receiving on UDP destination port `be_port`, or nullptr.
  const TunnelPortInfo* tunnel_by_udp_port(uint16_t be_port) const {
    for (uint32_t i = 0; i < n_tunnel_ports; ++i)
      if (tunnel_ports[i].udp_port == be_port) return &tunnel_ports[i];
    return nullptr;
  }
  const TunnelPortInfo* tunnel_port(uint32_t odp) const {
    for (uint32_t i = 0; i < n_tunnel_ports; ++i)
      if (tunnel_ports[i].odp == odp) return &tunnel_ports[i];
    return nullptr;
  }
  const UnderlayPortInfo* port(uint32_t odp) const {
    for (uint32_t i = 0; i < n_ports; ++i)
      if (ports[i].odp == odp) return &ports[i];
    return nullptr;
  }

  // ---- slow path (template rebuilds) ----
  // The resolved neighbour `ip` on `odp`, or nullptr.
  const NeighbourEntry* neighbour(uint32_t odp, uint32_t ip) const;
  // The first VTEP address on `odp` (be32), 0 if none.
  uint32_t vtep_of_port(uint32_t odp) const;
  // The first IPv6 VTEP address on `odp`, all zero if none.
  Ip6 vtep6_of_port(uint32_t odp) const;

  // Where a packet to `dst` goes: the route, its next hop, the source
  // address (src_hint if non-zero, else the route's, else the port's VTEP),
  // the port and the next hop's MAC. Returns TunnelDrop::kCount when
  // everything is known; otherwise the reason, with next_hop/odp filled as
  // far as known (kEncapNeighbourUnresolved: next_hop and odp say what to
  // resolve).
  struct Resolution {
    uint32_t next_hop = 0;  // be32
    uint32_t odp = 0;
    uint32_t src = 0;  // be32
    const UnderlayPortInfo* port = nullptr;
    const uint8_t* mac = nullptr;  // next hop MAC, inside this snapshot
  };
  TunnelDrop resolve(uint32_t dst, uint32_t src_hint, Resolution* out) const;

  // The same over IPv6 (an all-zero address is "none").
  const Neighbour6Entry* neighbour6(uint32_t odp, const Ip6& ip) const;
  struct Resolution6 {
    Ip6 next_hop{};
    uint32_t odp = 0;
    Ip6 src{};
    const UnderlayPortInfo* port = nullptr;
    const uint8_t* mac = nullptr;
  };
  TunnelDrop resolve6(const Ip6& dst, const Ip6& src_hint, Resolution6* out) const;
};

inline uint32_t prefix_mask(uint8_t plen) {
  const uint32_t host = plen == 0 ? 0 : (plen >= 32 ? 0xffffffffu : ~(0xffffffffu >> plen));
  return __builtin_bswap32(host);
}

}  // namespace dpx
