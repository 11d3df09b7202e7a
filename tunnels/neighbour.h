// The neighbour tables of the underlay (ARP for IPv4, Neighbour Discovery
// for IPv6: one state machine, a template over the address), as the control
// thread keeps them, and the ARP and ND frames. No DPDK: the table is driven by explicit times so its
// state machine is unit-tested without clocks or packets.
//
// States, in the manner of Linux's neighbour subsystem, reduced to what an
// endpoint that only ever sends tunnel packets needs:
//  - incomplete: a packet needed the next hop (miss()), a broadcast ARP
//    request went out; up to max_probes requests retrans_ms apart, then the
//    entry is forgotten (the next miss starts again). Not published: the
//    fast path has no MAC to use.
//  - reachable: confirmed by an ARP reply, or by a request from it to one of
//    our addresses. Published.
//  - probe: reachable_ms after the last confirmation. Still published and
//    used (traffic never stops for a re-check), while up to max_probes
//    unicast requests ask it again; no answer removes it.
//  - static: set by the operator (`dpxctl neigh set`), never ages, is not
//    changed by ARP, survives `neigh flush`.
//
// Thread-safety: control thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "tunnel_hdr.h"

namespace dpx {

struct NeighbourTimers {
  uint64_t reachable_ms = 60000;  // confirmation lifetime before probing
  uint64_t retrans_ms = 1000;     // between requests for one entry
  uint32_t max_probes = 3;        // requests per resolution or probe phase
};

// One table per address family: Addr is uint32_t (IPv4, be32; requests
// are ARP) or Ip6 (requests are Neighbour Solicitations).
enum class NeighbourState : uint8_t { kIncomplete, kReachable, kProbe, kStatic };

template <class Addr>
class BasicNeighbourTable {
 public:
  using State = NeighbourState;
  struct Entry {
    uint32_t odp = 0;
    Addr ip{};  // network order
    uint8_t mac[6] = {};
    State state = State::kIncomplete;
    uint64_t confirmed_ms = 0;     // last confirmation (or creation)
    uint64_t last_request_ms = 0;  // last request sent for it
    uint32_t probes = 0;           // requests sent in the current phase
  };
  // An ARP request to send: broadcast (unicast == false) or to `mac`.
  struct Request {
    uint32_t odp = 0;
    Addr ip{};  // target
    bool unicast = false;
    uint8_t mac[6] = {};
  };

  explicit BasicNeighbourTable(NeighbourTimers t = {}) : t_(t) {}
  const NeighbourTimers& timers() const { return t_; }

  // A packet needs `ip` on `odp` and the fast path has no MAC for it. Returns
  // true with *req filled when a request should go out now (a new entry);
  // an incomplete entry's retries come from tick().
  bool miss(uint32_t odp, const Addr& ip, uint64_t now_ms, Request* req);
  // An ARP packet from `ip` with `mac` arrived on `odp` (a reply, or a
  // request to one of our addresses). Creates or confirms the entry (a
  // static one is left alone). Returns true if what the fast path sees
  // changed (a new resolved entry or a new MAC).
  bool learn(uint32_t odp, const Addr& ip, const uint8_t* mac, uint64_t now_ms);
  // Sets a static entry. Returns true if the published table changed.
  bool set_static(uint32_t odp, const Addr& ip, const uint8_t* mac, uint64_t now_ms);
  // Forgets every entry that is not static. Returns true if a published
  // one went.
  bool flush();
  // Forgets every entry on `odp`. Returns true if a published one went.
  bool remove_port(uint32_t odp);
  // Ages entries: appends the requests due now to *reqs and returns true if
  // a published entry was removed.
  bool tick(uint64_t now_ms, std::vector<Request>* reqs);

  // Every entry, by (odp, ip).
  std::vector<Entry> list() const;
  // The entries the fast path may use (reachable, probe, static).
  template <class F>
  void for_each_resolved(F f) const {
    for (const auto& [k, e] : entries_)
      if (e.state != State::kIncomplete) f(e);
  }
  size_t size() const { return entries_.size(); }

 private:
  // (odp, ip in numeric order), for ordered dumps: byte order is numeric
  // order for Ip6, IPv4 is swapped to host order.
  using Key = std::pair<uint32_t, Addr>;
  static Key key(uint32_t odp, const Addr& ip) {
    if constexpr (std::is_same_v<Addr, uint32_t>)
      return {odp, __builtin_bswap32(ip)};
    else
      return {odp, ip};
  }

  NeighbourTimers t_;
  std::map<Key, Entry> entries_;
};

using NeighbourTable = BasicNeighbourTable<uint32_t>;
using Neighbour6Table = BasicNeighbourTable<Ip6>;
extern template class BasicNeighbourTable<uint32_t>;
extern template class BasicNeighbourTable<Ip6>;

// ---- ARP frames (Ethernet/IPv4 only) ----

inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;
// ARP frames are padded to the Ethernet minimum (60 bytes without FCS).
inline constexpr uint32_t kArpFrameLen = 60;

struct ArpPacket {
  uint8_t eth_dst[6];
  uint8_t eth_src[6];
  uint16_t op;  // host order
  uint8_t sha[6];
  uint32_t spa;  // be32
  uint8_t tha[6];
  uint32_t tpa;  // be32
};

// Parses an Ethernet/IPv4 ARP frame of `len` bytes. False for anything else
// (other hardware or protocol types, short frames).
bool arp_parse(const uint8_t* p, uint32_t len, ArpPacket* out);
// Writes a kArpFrameLen-byte frame for `a` to out.
void arp_build(const ArpPacket& a, uint8_t* out);

// ---- IPv6 Neighbour Discovery frames (RFC 4861), Ethernet only ----

inline constexpr uint8_t kNdSolicit = 135;
inline constexpr uint8_t kNdAdvert = 136;
// NA flags (the first byte after the checksum).
inline constexpr uint8_t kNdFlagRouter = 0x80;
inline constexpr uint8_t kNdFlagSolicited = 0x40;
inline constexpr uint8_t kNdFlagOverride = 0x20;
// An NS or NA with one link-layer address option: Ethernet 14, IPv6 40,
// ICMPv6 24, option 8.
inline constexpr uint32_t kNdFrameLen = 86;

struct NdPacket {
  uint8_t eth_dst[6];
  uint8_t eth_src[6];
  Ip6 ip_src{};
  Ip6 ip_dst{};
  uint8_t type = 0;   // kNdSolicit or kNdAdvert
  uint8_t flags = 0;  // NA: kNdFlag*
  Ip6 target{};
  bool has_lladdr = false;  // NS: source, NA: target link-layer address option
  uint8_t lladdr[6] = {};
};

// Parses and validates an NS or NA frame as RFC 4861 7.1.1/7.1.2 ask: IPv6
// hop limit 255, ICMPv6 code 0 and a correct checksum, at least 24 bytes of
// ICMPv6, a target that is not multicast, options of non-zero length within
// the packet, no source link-layer option on an NS from the unspecified
// address, and an NA to a multicast address not flagged solicited. False for
// anything else (other types, extension headers, short frames).
bool nd_parse(const uint8_t* p, uint32_t len, NdPacket* out);
// Writes a kNdFrameLen-byte frame for `n` (with its link-layer address
// option; hop limit 255, checksum computed) to out.
void nd_build(const NdPacket& n, uint8_t* out);
// The solicited-node multicast address of `a` (ff02::1:ffXX:XXXX) and the
// Ethernet address of an IPv6 multicast address (33:33 + its low 32 bits).
Ip6 solicited_node(const Ip6& a);
void ipv6_multicast_mac(const Ip6& group, uint8_t* mac);

}  // namespace dpx
