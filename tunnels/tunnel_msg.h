// Typed messages of the tunnel underlay part of the control protocol
// (DPX_CTL_TNL_IP_*, ROUTE_*, NEIGH_*, TNL_STATS in datapath/control_proto.h)
// and their encoding. The conventions are those of datapath/control_msg.h:
// encoders append attributes and return 0 or EMSGSIZE; decoders trust
// nothing (unknown, repeated, wrongly sized or missing attributes are EINVAL
// with a reason in *err) and overwrite *out on success.
//
// Addresses are in network byte order: IPv4 as a uint32_t, IPv6 as Ip6. An
// address attribute of 4 bytes is IPv4 and of 16 bytes IPv6; the addresses
// of one entry must all be of one family, which sets `v6` (VTEP addresses
// routes and neighbours).
//
// Thread-safety: pure functions over caller-owned data. No DPDK.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "control_proto.h"
#include "nlattr.h"
#include "tunnel_hdr.h"

namespace dpx {

// A local VTEP address on an underlay port.
struct TnlIpEntry {
  uint32_t addr = 0;   // be32 (IPv4)
  uint32_t plen = 32;  // prefix length of its connected subnet (0..32, or 0..128 for IPv6)
  std::string port;    // underlay port name
  uint32_t odp = 0;    // replies only
  bool v6 = false;     // addr6 holds the address, addr is 0
  Ip6 addr6{};
  friend bool operator==(const TnlIpEntry&, const TnlIpEntry&) = default;
};

struct RouteEntry {
  uint32_t prefix = 0;  // be32
  uint32_t plen = 0;
  uint32_t gateway = 0;    // be32, 0 = on-link
  std::string port;        // underlay port name
  uint32_t odp = 0;        // replies only
  uint32_t src = 0;        // be32 preferred source, 0 = the port's VTEP
  bool connected = false;  // replies only
  bool v6 = false;         // the *6 fields hold the addresses (all zero = absent)
  Ip6 prefix6{}, gateway6{}, src6{};
  friend bool operator==(const RouteEntry&, const RouteEntry&) = default;
};

struct NeighEntry {
  uint32_t addr = 0;  // be32
  std::array<uint8_t, 6> mac{};
  std::string port;                   // underlay port name
  uint32_t odp = 0;                   // replies only
  uint32_t state = DPX_NEIGH_STATIC;  // enum dpx_neigh_state, replies only
  uint64_t age_ms = 0;                // replies only
  bool v6 = false;                    // addr6 holds the address, addr is 0
  Ip6 addr6{};
  friend bool operator==(const NeighEntry&, const NeighEntry&) = default;
};

struct TnlPortStats {
  uint32_t odp = 0;
  std::string name, type;
  uint32_t udp_port = 0;
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  friend bool operator==(const TnlPortStats&, const TnlPortStats&) = default;
};
struct TnlCounter {
  std::string name;
  uint64_t value = 0;
  friend bool operator==(const TnlCounter&, const TnlCounter&) = default;
};
struct TnlStats {
  std::vector<TnlPortStats> ports;
  std::vector<TnlCounter> counters;  // every drop reason and ARP counter, zero or not
  friend bool operator==(const TnlStats&, const TnlStats&) = default;
};

// TNL_IP_ADD / TNL_IP_DEL request: one entry; TNL_IP_DUMP reply: a list.
int encode_tnl_ip(const TnlIpEntry&, NlBuf*);
int decode_tnl_ip_request(std::span<const uint8_t>, TnlIpEntry*, std::string* err);
int encode_tnl_ip_list(std::span<const TnlIpEntry>, NlBuf*);
int decode_tnl_ip_list(std::span<const uint8_t>, std::vector<TnlIpEntry>*, std::string* err);

// ROUTE_ADD / ROUTE_DEL request (DEL needs only prefix and plen); ROUTE_DUMP reply.
int encode_route(const RouteEntry&, NlBuf*);
int decode_route_request(std::span<const uint8_t>, RouteEntry*, bool need_port, std::string* err);
int encode_route_list(std::span<const RouteEntry>, NlBuf*);
int decode_route_list(std::span<const uint8_t>, std::vector<RouteEntry>*, std::string* err);

// NEIGH_SET request; NEIGH_DUMP reply.
int encode_neigh(const NeighEntry&, NlBuf*);
int decode_neigh_request(std::span<const uint8_t>, NeighEntry*, std::string* err);
int encode_neigh_list(std::span<const NeighEntry>, NlBuf*);
int decode_neigh_list(std::span<const uint8_t>, std::vector<NeighEntry>*, std::string* err);

// TNL_STATS reply.
int encode_tnl_stats(const TnlStats&, NlBuf*);
int decode_tnl_stats(std::span<const uint8_t>, TnlStats*, std::string* err);

// "10.0.0.1" <-> be32; "10.0.0.0/24" -> be32 and plen. False on bad syntax.
bool parse_ipv4(const std::string& s, uint32_t* out);
bool parse_ipv4_prefix(const std::string& s, uint32_t* addr, uint32_t* plen);
std::string ipv4_to_string(uint32_t be);
// The same for IPv6 ("2001:db8::1", "2001:db8::/64", plen 0..128).
bool parse_ipv6(const std::string& s, Ip6* out);
bool parse_ipv6_prefix(const std::string& s, Ip6* addr, uint32_t* plen);
std::string ipv6_to_string(const Ip6& a);
// "02:00:00:00:00:01" <-> bytes.
bool parse_mac(const std::string& s, std::array<uint8_t, 6>* out);
std::string mac_to_string(const uint8_t* mac);

}  // namespace dpx
