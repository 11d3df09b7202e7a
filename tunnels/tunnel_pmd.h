// What the tunnel stages share between the control thread and the PMD
// threads (TunnelShared), and what each PMD keeps for itself (TunnelPmd:
// counters and the encap template cache).
//
// Threading:
//  - TunnelShared is owned by the control thread's TunnelControl. `snapshot`
//    is published with release stores and read by PMDs with acquire loads;
//    a replaced snapshot is freed after an RCU grace period. `tunnel_slot`
//    entries are set before a tunnel port is published in the port table and
//    cleared before it is unpublished. `events[i]` is a single-producer
//    (PMD i) single-consumer (control thread) ring.
//  - TunnelPmd belongs to one PMD thread, which alone writes it; the control
//    thread only reads its counters (relaxed atomics, as PmdCounters) and
//    may reset them (racing with an increment, as pmd-stats-clear does).
#pragma once

#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "port.h"
#include "tunnel_hdr.h"
#include "underlay.h"

namespace dpx {

// A message from a PMD to the control thread, through TunnelShared::events.
struct TunnelEvent {
  enum Kind : uint32_t {
    kArpPacket = 1,  // m: an ARP or IPv6 ND frame for a local VTEP, received on `odp`
    kResolve = 2,    // no neighbour for next hop `ip` (be32) on underlay port `odp`
    kResolve6 = 3,   // no neighbour for IPv6 next hop `ip6` on underlay port `odp`
  };
  uint32_t kind;
  uint32_t odp;
  uint32_t ip;
  uint32_t reserved;
  rte_mbuf* m;  // owned by the event (kArpPacket), else null
  Ip6 ip6;      // kResolve6
};
static_assert(sizeof(TunnelEvent) == 40 && sizeof(TunnelEvent) % 4 == 0);

struct TunnelShared {
  std::atomic<const UnderlaySnapshot*> snapshot{nullptr};
  // odp port -> 1 + the tunnel port's counter slot; 0 for other ports. Lets
  // a PMD tell a tunnel port from any other output with one byte load.
  std::array<std::atomic<uint8_t>, kMaxPorts> tunnel_slot{};
  // Per PMD (by PMD index): events to the control thread.
  std::vector<rte_ring*> events;

  uint8_t slot_of(uint32_t odp) const {
    return odp < kMaxPorts ? tunnel_slot[odp].load(std::memory_order_relaxed) : 0;
  }
};

// Per-PMD counters of the tunnel stages. Slots index tunnel ports
// (TunnelPortInfo::slot).
struct TunnelPmdCounters {
  std::array<QueueCounters, UnderlaySnapshot::kMaxTunnelPorts> decap;  // per tunnel port
  std::array<QueueCounters, UnderlaySnapshot::kMaxTunnelPorts> encap;  // per tunnel port
  std::array<std::atomic<uint64_t>, kTunnelDropCount> drops{};
  std::atomic<uint64_t> arp_punted{0};       // ARP frames handed to the control thread
  std::atomic<uint64_t> resolve_events{0};   // neighbour misses reported
  std::atomic<uint64_t> template_builds{0};  // encap cache (re)builds

  static void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void drop(TunnelDrop d, uint64_t n = 1) { bump(drops[static_cast<size_t>(d)], n); }
  uint64_t drops_of(TunnelDrop d) const {
    return drops[static_cast<size_t>(d)].load(std::memory_order_relaxed);
  }
  void reset() {
    for (auto& c : decap) c.reset();
    for (auto& c : encap) c.reset();
    for (auto& c : drops) c.store(0, std::memory_order_relaxed);
    arp_punted.store(0, std::memory_order_relaxed);
    resolve_events.store(0, std::memory_order_relaxed);
    template_builds.store(0, std::memory_order_relaxed);
  }
};

// One cached encapsulation: the outer headers for one (destination, source,
// tunnel port), valid for one snapshot generation. Two cache lines: the key
// and state first, the 50-byte header template in the second.
struct alignas(64) EncapEntry {
  enum State : uint8_t { kEmpty = 0, kReady = 1, kUnusable = 2 };
  // ---- line 0: key and state ----
  uint64_t generation;      // 0: snapshot this entry was built from
  uint32_t dst;             // 8: be32 tunnel destination (key)
  uint32_t src;             // 12: be32 source set(tunnel) asked for, 0 = any (key)
  uint32_t tunnel_odp;      // 16: key
  uint32_t underlay_odp;    // 20: where the packet goes out
  uint32_t mtu;             // 24: largest outer IPv4 total length
  uint32_t resolve_ip;      // 28: kUnusable for lack of a neighbour: the next hop (be32)
  uint64_t next_report_ms;  // 32: kUnusable: when to report the miss again
  State state;              // 40
  TunnelDrop why;           // 41: kUnusable: the drop reason
  TunnelType type;          // 42
  uint8_t pad0;             // 43
  uint16_t udp_port;        // 44: be16 default destination port
  uint8_t pad1[18];         // 46
  // ---- line 1: the outer headers ----
  uint8_t hdr[64];  // 64: Ethernet, IPv4, UDP, VXLAN/Geneve; kOuterIpv4Len used
};
static_assert(sizeof(EncapEntry) == 128);
static_assert(offsetof(EncapEntry, hdr) == 64);

// A direct-mapped cache of encapsulations. A collision evicts; a stale entry
// (older generation) is rebuilt in place.
class EncapCache {
 public:
  static constexpr uint32_t kEntries = 256;

  EncapEntry& slot(uint32_t dst, uint32_t src, uint32_t tunnel_odp) {
    uint32_t h = dst * 0x9e3779b1u ^ src * 0x85ebca6bu ^ tunnel_odp * 0xc2b2ae35u;
    h ^= h >> 16;
    return entries_[h & (kEntries - 1)];
  }
  void clear() {
    for (auto& e : entries_) e.state = EncapEntry::kEmpty;
  }

 private:
  std::array<EncapEntry, kEntries> entries_{};
};

// The same for an IPv6 underlay: 16-byte keys and a 70-byte template make
// it three cache lines. A cache of its own keeps the IPv4 entries at two.
struct alignas(64) Encap6Entry {
  // ---- line 0: key and state ----
  uint64_t generation;      // 0
  Ip6 dst;                  // 8: key
  Ip6 src;                  // 24: key, all zero = any
  uint32_t tunnel_odp;      // 40: key
  uint32_t underlay_odp;    // 44
  uint32_t mtu;             // 48: largest outer IPv6 packet (header + payload)
  EncapEntry::State state;  // 52
  TunnelDrop why;           // 53
  TunnelType type;          // 54
  uint8_t pad0;             // 55
  uint16_t udp_port;        // 56: be16 default destination port
  uint8_t pad1[6];          // 58
  // ---- lines 1-2: the outer headers, then what a miss needs ----
  uint8_t hdr[80];          // 64: Ethernet, IPv6, UDP, VXLAN/Geneve; kOuterIpv6Len used
  Ip6 resolve_ip;           // 144: kUnusable for lack of a neighbour: the next hop
  uint64_t next_report_ms;  // 160: kUnusable: when to report the miss again
};
static_assert(sizeof(Encap6Entry) == 192);
static_assert(offsetof(Encap6Entry, hdr) == 64);

class Encap6Cache {
 public:
  static constexpr uint32_t kEntries = 64;
  Encap6Entry& slot(const Ip6& dst, const Ip6& src, uint32_t tunnel_odp) {
    uint64_t a, b, c, d;
    std::memcpy(&a, dst.data(), 8);
    std::memcpy(&b, dst.data() + 8, 8);
    std::memcpy(&c, src.data(), 8);
    std::memcpy(&d, src.data() + 8, 8);
    uint64_t h = (a ^ b * 0x9e3779b97f4a7c15ull) ^ (c ^ d) * 0xc2b2ae3d27d4eb4full ^ tunnel_odp;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return entries_[h & (kEntries - 1)];
  }

 private:
  std::array<Encap6Entry, kEntries> entries_{};
};

// Everything one PMD keeps for the tunnel stages.
struct TunnelPmd {
  TunnelPmdCounters counters;
  EncapCache cache;
  Encap6Cache cache6;
  uint16_t ip_id = 0;  // IPv4 identification of outer packets without DF
};

}  // namespace dpx
