// Tunnel encap and decap on real mbufs, byte for byte against reference
// packets that scapy built independently (tests/data/tunnel_*.pcap, from
// tests/data/gen_tunnel_fixtures.py): every file holds an inner frame and its
// encapsulation with the parameters repeated below. Then a table of malformed
// tunnel packets, each dropped with its own counted reason; the burst stage
// with plain, decapped, punted and dropped packets mixed; and the encap
// drops (no route, unresolved neighbour with its resolve report, MTU).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ip.h>
#include <rte_ring.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "eal_env.h"
#include "support/pcap_file.h"
#include "support/tunnel_fixtures.h"
#include "support/tunnel_hosts.h"
#include "tunnel_decap.h"
#include "tunnel_encap.h"

namespace dpx::test {
namespace {

using Bytes = Packet;

// The IPv4-underlay tunnel stages on real mbufs (tunnel_fixtures.h).
class TunnelCodecTest : public TunnelStageTest {};

// The metadata set(tunnel(...)) gives for each fixture.
TunnelMeta meta(uint64_t vni, uint16_t flags, uint8_t ttl = 64, uint8_t tos = 0) {
  TunnelMeta t{};
  t.tun_id = rte_cpu_to_be_64(vni);
  t.ipv4_src = 0;  // the route picks the local VTEP
  t.ipv4_dst = ip4("10.0.0.2");
  t.flags = flags | kTunFlagKey;
  t.ttl = ttl;
  t.tos = tos;
  return t;
}

struct EncapCase {
  const char* fixture;
  uint32_t odp;
  uint8_t slot;
  TunnelMeta tun;
  uint16_t ip_id;  // the PMD's identification counter before the packet
};

TEST_F(TunnelCodecTest, EncapMatchesScapyByteForByte) {
  auto s = host_view("10.0.0.1", kPortMac, "10.0.0.2", kNhMac);
  publish(s.get());
  TunnelMeta nodf = meta(0xabcdef, 0, 17, 0xb8);
  nodf.tp_dst = htons(8472);
  const EncapCase cases[] = {
      {"vxlan_basic", kVxlanOdp, 0, meta(42, kTunFlagDontFragment), 0},
      {"vxlan_csum", kVxlanOdp, 0, meta(42, kTunFlagDontFragment | kTunFlagCsum), 0},
      {"vxlan_nodf", kVxlanOdp, 0, nodf, 0x1234},
      {"geneve_basic", kGeneveOdp, 1, meta(42, kTunFlagDontFragment), 0},
      {"geneve_oam", kGeneveOdp, 1, meta(42, kTunFlagDontFragment | kTunFlagOam), 0},
  };
  for (const EncapCase& c : cases) {
    SCOPED_TRACE(c.fixture);
    const auto f = tunnel_fixture(c.fixture);
    pmd_->ip_id = c.ip_id;
    uint32_t port = 0;
    rte_mbuf* m = encap(f[0], c.odp, c.slot, c.tun, 1000, &port);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(port, kUnderlayOdp);
    EXPECT_EQ(hex_of(bytes_of(m)), hex_of(f[1]));
    rte_pktmbuf_free(m);
  }
  EXPECT_EQ(pmd_->counters.encap[0].packets.load(), 3u);
  EXPECT_EQ(pmd_->counters.encap[1].packets.load(), 2u);
  EXPECT_EQ(pmd_->counters.encap[0].bytes.load(), 3u * 60);
  // One template per (destination, source, tunnel port), built once.
  EXPECT_EQ(pmd_->counters.template_builds.load(), 2u);
}

TEST_F(TunnelCodecTest, DecapMatchesScapyAndFillsTheMetadata) {
  // The receiving host: VTEP 10.0.0.2 on a port with the next hop's MAC.
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  struct Case {
    const char* fixture;
    uint32_t odp;
    uint64_t vni;
    uint16_t flags;
    uint8_t ttl, tos;
    uint16_t dport;
  } cases[] = {
      {"vxlan_basic", kVxlanOdp, 42, kTunFlagKey, 64, 0, 4789},
      {"vxlan_csum", kVxlanOdp, 42, kTunFlagKey | kTunFlagCsum, 64, 0, 4789},
      {"vxlan_nodf", kVxlan8472Odp, 0xabcdef, kTunFlagKey, 17, 0xb8, 8472},
      {"geneve_basic", kGeneveOdp, 42, kTunFlagKey, 64, 0, 6081},
      {"geneve_oam", kGeneveOdp, 42, kTunFlagKey | kTunFlagOam, 64, 0, 6081},
      {"geneve_opts", kGeneveOdp, 7, kTunFlagKey, 64, 0, 6081},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    const auto f = tunnel_fixture(c.fixture);
    rte_mbuf* m = mbuf_from(f[1]);
    DecapResult r;
    ASSERT_EQ(underlay_classify(*s, s->ports[0], m, &r), UnderlayVerdict::kDecap);
    EXPECT_EQ(hex_of(bytes_of(m)), hex_of(f[0]));
    EXPECT_EQ(r.tunnel_odp, c.odp);
    EXPECT_EQ(r.tun.tun_id, rte_cpu_to_be_64(c.vni));
    EXPECT_EQ(r.tun.ipv4_src, ip4("10.0.0.1"));
    EXPECT_EQ(r.tun.ipv4_dst, ip4("10.0.0.2"));
    EXPECT_EQ(r.tun.flags, c.flags);
    EXPECT_EQ(r.tun.ttl, c.ttl);
    EXPECT_EQ(r.tun.tos, c.tos);
    EXPECT_EQ(r.tun.tp_src, htons(49152));
    EXPECT_EQ(r.tun.tp_dst, htons(c.dport));
    rte_pktmbuf_free(m);
  }
}

TEST_F(TunnelCodecTest, EncapThenDecapRoundTripsThroughAnOddSizedFrame) {
  auto tx = host_view("10.0.0.1", kPortMac, "10.0.0.2", kNhMac);
  auto rx = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(tx.get());
  Bytes inner = tunnel_fixture("vxlan_basic")[0];
  inner.push_back(0x5a);  // 61 bytes: odd lengths exercise the checksum tail
  TunnelMeta t = meta(0x123456, kTunFlagCsum, 3, 0x10);
  rte_mbuf* m = encap(inner, kGeneveOdp, 1, t);
  ASSERT_NE(m, nullptr);
  DecapResult r;
  ASSERT_EQ(underlay_classify(*rx, rx->ports[0], m, &r), UnderlayVerdict::kDecap);
  EXPECT_EQ(bytes_of(m), inner);
  EXPECT_EQ(r.tun.tun_id, t.tun_id);
  EXPECT_EQ(r.tun.flags, kTunFlagKey | kTunFlagCsum);
  EXPECT_EQ(r.tun.ttl, 3);
  EXPECT_EQ(r.tun.tos, 0x10);
  rte_pktmbuf_free(m);
}

// ---- malformed tunnel packets ----------------------------------------------

struct Malformed {
  const char* name;
  const char* fixture;
  void (*mutate)(Bytes&);
  TunnelDrop why;
};

const Malformed kMalformed[] = {
    {"vxlan header cut short", "vxlan_basic", [](Bytes& b) { cut(b, 14 + 20 + 8 + 4); },
     TunnelDrop::kDecapTruncated},
    {"wrong IPv4 header checksum", "vxlan_basic", [](Bytes& b) { b[25] ^= 0x01; },
     TunnelDrop::kDecapBadIpChecksum},
    {"IPv4 total length past the frame", "vxlan_basic",
     [](Bytes& b) {
       set16(b, 16, static_cast<uint16_t>(get16(b, 16) + 1));
       fix_ip_csum(b);
     },
     TunnelDrop::kDecapBadIpLength},
    {"frame cut inside the inner packet", "vxlan_basic", [](Bytes& b) { b.resize(b.size() - 1); },
     TunnelDrop::kDecapBadIpLength},
    {"IPv4 total length below header + UDP", "vxlan_basic",
     [](Bytes& b) {
       set16(b, 16, 27);
       fix_ip_csum(b);
     },
     TunnelDrop::kDecapBadIpLength},
    {"outer first fragment (MF)", "vxlan_basic",
     [](Bytes& b) {
       set16(b, 20, 0x2000);
       fix_ip_csum(b);
     },
     TunnelDrop::kDecapIpFragment},
    {"UDP length past the IP payload", "vxlan_basic",
     [](Bytes& b) { set16(b, 38, static_cast<uint16_t>(get16(b, 38) + 1)); },
     TunnelDrop::kDecapBadUdpLength},
    {"UDP length below its header", "vxlan_basic", [](Bytes& b) { set16(b, 38, 7); },
     TunnelDrop::kDecapBadUdpLength},
    {"wrong UDP checksum", "vxlan_csum", [](Bytes& b) { b[b.size() - 1] ^= 0xff; },
     TunnelDrop::kDecapBadUdpChecksum},
    {"VXLAN without the I flag", "vxlan_basic", [](Bytes& b) { b[42] = 0x00; },
     TunnelDrop::kVxlanNoIFlag},
    {"VXLAN with another flag", "vxlan_basic", [](Bytes& b) { b[42] = 0x88; },
     TunnelDrop::kVxlanReservedBits},
    {"VXLAN reserved byte after the VNI", "vxlan_basic", [](Bytes& b) { b[49] = 0x01; },
     TunnelDrop::kVxlanReservedBits},
    {"Geneve version 1", "geneve_basic", [](Bytes& b) { b[42] |= 0x40; },
     TunnelDrop::kGeneveBadVersion},
    {"Geneve option length past the packet", "geneve_basic", [](Bytes& b) { b[42] = 0x3f; },
     TunnelDrop::kGeneveBadOptionLength},
    {"Geneve options that do not add up", "geneve_opts", [](Bytes& b) { b[53] = 0x02; },
     TunnelDrop::kGeneveBadOptionLength},
    {"Geneve carrying IPv4, not Ethernet", "geneve_basic", [](Bytes& b) { set16(b, 44, 0x0800); },
     TunnelDrop::kGeneveBadProtocol},
    {"inner frame shorter than Ethernet", "vxlan_basic", [](Bytes& b) { cut(b, 50 + 13); },
     TunnelDrop::kDecapInnerRunt},
};

TEST_F(TunnelCodecTest, MalformedTunnelPacketsAreDroppedAndCountedByReason) {
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(s.get());
  std::array<uint64_t, kTunnelDropCount> expected{};
  for (const Malformed& c : kMalformed) {
    SCOPED_TRACE(c.name);
    Bytes b = tunnel_fixture(c.fixture)[1];
    c.mutate(b);
    rte_mbuf* m = mbuf_from(b);
    // Through the burst stage, so that the drop is freed and counted.
    rte_mbuf* pkts[1] = {m};
    rte_mbuf* dec[1];
    PacketState st[1];
    uint32_t n_dec = 99;
    EXPECT_EQ(tunnel_underlay_rx(*pmd_, shared_, 0, kUnderlayOdp, pkts, 1, dec, st, &n_dec), 0u);
    EXPECT_EQ(n_dec, 0u);
    expected[static_cast<size_t>(c.why)]++;
    for (size_t i = 0; i < kTunnelDropCount; ++i)
      EXPECT_EQ(pmd_->counters.drops_of(static_cast<TunnelDrop>(i)), expected[i])
          << tunnel_drop_name(static_cast<TunnelDrop>(i));
  }
  // Every decap drop reason is exercised by the table.
  for (size_t i = 0; i <= static_cast<size_t>(TunnelDrop::kDecapInnerRunt); ++i)
    EXPECT_GT(expected[i], 0u) << tunnel_drop_name(static_cast<TunnelDrop>(i));
}

TEST_F(TunnelCodecTest, OtherTrafficOnTheUnderlayIsLeftAlone) {
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  const Bytes good = tunnel_fixture("vxlan_basic")[1];
  struct Case {
    const char* name;
    void (*mutate)(Bytes&);
  } cases[] = {
      {"another UDP port", [](Bytes& b) { set16(b, 36, 4790); }},
      {"not a local VTEP",
       [](Bytes& b) {
         b[33] = 9;
         fix_ip_csum(b);
       }},
      {"another destination MAC", [](Bytes& b) { b[5] = 0x03; }},
      {"TCP, not UDP",
       [](Bytes& b) {
         b[23] = 6;
         fix_ip_csum(b);
       }},
      {"IPv6 ethertype", [](Bytes& b) { set16(b, 12, 0x86dd); }},
      {"runt", [](Bytes& b) { b.resize(10); }},
      {"UDP header cut off", [](Bytes& b) { b.resize(14 + 20 + 4); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Bytes b = good;
    c.mutate(b);
    rte_mbuf* m = mbuf_from(b);
    DecapResult r;
    EXPECT_EQ(underlay_classify(*s, s->ports[0], m, &r), UnderlayVerdict::kPlain);
    EXPECT_EQ(bytes_of(m), b) << "a plain packet must not be modified";
    rte_pktmbuf_free(m);
  }
}

Bytes arp(uint16_t op, const uint8_t* eth_dst, const char* sender, const char* target) {
  Bytes b(42, 0);
  std::memcpy(b.data(), eth_dst, 6);
  const uint8_t sha[6] = {0x02, 0, 0, 0, 0xcc, 0x03};
  std::memcpy(b.data() + 6, sha, 6);
  set16(b, 12, 0x0806);
  set16(b, 14, 1);
  set16(b, 16, 0x0800);
  b[18] = 6;
  b[19] = 4;
  set16(b, 20, op);
  std::memcpy(b.data() + 22, sha, 6);
  uint32_t a = ip4(sender);
  std::memcpy(b.data() + 28, &a, 4);
  a = ip4(target);
  std::memcpy(b.data() + 38, &a, 4);
  return b;
}

TEST_F(TunnelCodecTest, BurstSplitsPlainDecapPuntAndDropInOrder) {
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(s.get());
  const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  Bytes plain = tunnel_fixture("vxlan_basic")[0];
  Bytes vx = tunnel_fixture("vxlan_basic")[1];
  Bytes gn = tunnel_fixture("geneve_basic")[1];
  Bytes bad = vx;
  bad[42] = 0;
  const std::vector<Bytes> in = {plain, vx, arp(1, bcast, "10.0.0.1", "10.0.0.2"),
                                 bad,   gn, arp(1, bcast, "10.0.0.1", "10.0.0.7"),
                                 plain};
  // Every burst size up to the maximum, with canaries after the arrays.
  for (uint32_t n = 0; n <= 32; ++n) {
    SCOPED_TRACE(n);
    pmd_->counters.reset();
    rte_mbuf* pkts[33];
    rte_mbuf* dec[33];
    PacketState st[33];
    rte_mbuf* const canary = reinterpret_cast<rte_mbuf*>(uintptr_t{0xdeadbeef});
    pkts[n] = dec[n] = canary;
    for (uint32_t i = 0; i < n; ++i) pkts[i] = mbuf_from(in[i % in.size()]);
    uint32_t n_dec = 0;
    const uint32_t n_plain =
        tunnel_underlay_rx(*pmd_, shared_, 0, kUnderlayOdp, pkts, n, dec, st, &n_dec);
    EXPECT_EQ(pkts[n], canary);
    EXPECT_EQ(dec[n], canary);
    uint32_t want_plain = 0, want_dec = 0, want_punt = 0, want_drop = 0;
    for (uint32_t i = 0; i < n; ++i) {
      switch (i % in.size()) {
        case 0:
        case 5:
        case 6:
          want_plain++;
          break;
        case 1:
        case 4:
          want_dec++;
          break;
        case 2:
          want_punt++;
          break;
        case 3:
          want_drop++;
          break;
      }
    }
    ASSERT_EQ(n_plain, want_plain);
    ASSERT_EQ(n_dec, want_dec);
    for (uint32_t i = 0; i < n_dec; ++i) {
      EXPECT_EQ(bytes_of(dec[i]), plain);
      EXPECT_EQ(st[i].in_port, i % 2 == 0 ? kVxlanOdp : kGeneveOdp);
      EXPECT_EQ(st[i].recirc_id, 0u);
      rte_pktmbuf_free(dec[i]);
    }
    for (uint32_t i = 0; i < n_plain; ++i) rte_pktmbuf_free(pkts[i]);
    const auto ev = events();
    EXPECT_EQ(ev.size(), want_punt);
    for (const TunnelEvent& e : ev) {
      EXPECT_EQ(e.kind, TunnelEvent::kArpPacket);
      EXPECT_EQ(e.odp, kUnderlayOdp);
      rte_pktmbuf_free(e.m);
    }
    EXPECT_EQ(pmd_->counters.drops_of(TunnelDrop::kVxlanNoIFlag), want_drop);
    EXPECT_EQ(pmd_->counters.arp_punted.load(), want_punt);
  }
}

// ---- decap runs (more in tunnel_decap_run_test.cc) ------------------------

// A packet with the outer headers of the packet before it except one broken
// field must not pass as a member of its run: each malformed variant, between
// two good packets of its fixture, is dropped for its own reason.
TEST_F(TunnelCodecTest, MalformedPacketsInsideARunAreDroppedByReason) {
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(s.get());
  for (const Malformed& c : kMalformed) {
    SCOPED_TRACE(c.name);
    pmd_->counters.reset();
    const auto f = tunnel_fixture(c.fixture);
    Bytes bad = f[1];
    c.mutate(bad);
    rte_mbuf* pkts[3] = {mbuf_from(f[1]), mbuf_from(bad), mbuf_from(f[1])};
    rte_mbuf* dec[3];
    uint16_t tp_src[3];
    DecapRun runs[3];
    uint32_t n_runs = 0;
    ASSERT_EQ(tunnel_underlay_rx_runs(*pmd_, shared_, 0, kUnderlayOdp, pkts, 3, dec, tp_src, runs,
                                      &n_runs),
              0u);
    ASSERT_EQ(n_runs, c.fixture == std::string("geneve_opts") ? 2u : 1u);
    EXPECT_EQ(runs[0].n + (n_runs == 2 ? runs[1].n : 0), 2u);
    EXPECT_EQ(pmd_->counters.drops_of(c.why), 1u);
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(bytes_of(dec[i]), f[0]);
      rte_pktmbuf_free(dec[i]);
    }
  }
}

TEST_F(TunnelCodecTest, NothingIsDecappedWithoutASnapshotOrOnOtherPorts) {
  Bytes vx = tunnel_fixture("vxlan_basic")[1];
  rte_mbuf* pkts[1] = {mbuf_from(vx)};
  rte_mbuf* dec[1];
  PacketState st[1];
  uint32_t n_dec = 0;
  EXPECT_EQ(tunnel_underlay_rx(*pmd_, shared_, 0, kUnderlayOdp, pkts, 1, dec, st, &n_dec), 1u);
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(s.get());
  EXPECT_EQ(tunnel_underlay_rx(*pmd_, shared_, 0, 9, pkts, 1, dec, st, &n_dec), 1u);
  EXPECT_EQ(n_dec, 0u);
  EXPECT_EQ(bytes_of(pkts[0]), vx);
  rte_pktmbuf_free(pkts[0]);
}

// ---- encap drops and template rebuilds --------------------------------------

TEST_F(TunnelCodecTest, EncapDropsAreCountedByReason) {
  auto s = host_view("10.0.0.1", kPortMac, "10.0.0.2", kNhMac);
  publish(s.get());
  const Bytes inner = tunnel_fixture("vxlan_basic")[0];

  TunnelMeta t = meta(1, 0);
  t.ipv4_dst = ip4("192.0.2.1");
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, t), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapNoRoute), 1u);

  t.ipv4_dst = 0;
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, t), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapNoTunnelMetadata), 1u);
  t.ipv6_dst[15] = 1;  // no IPv6 route in this view
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, t), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapNoRoute), 2u);

  // The largest inner frame that fits a 1500-byte underlay MTU is 1464
  // bytes (an inner IP MTU of 1450): outer IPv4 + UDP + VXLAN add 36.
  t = meta(1, 0);
  Bytes big = inner;
  big.resize(1464);
  rte_mbuf* m = encap(big, kVxlanOdp, 0, t);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(rte_pktmbuf_pkt_len(m), 1500u + 14);
  rte_pktmbuf_free(m);
  big.push_back(0);
  EXPECT_EQ(encap(big, kVxlanOdp, 0, t), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapTooBig), 1u);
}

TEST_F(TunnelCodecTest, UnresolvedNeighbourIsReportedAtAPaceAndDropped) {
  auto s = host_view("10.0.0.1", kPortMac, nullptr, nullptr);
  publish(s.get());
  const Bytes inner = tunnel_fixture("vxlan_basic")[0];
  const TunnelMeta t = meta(1, 0);
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, t, 1000), nullptr);
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, t, 1000 + kResolveReportMs - 1), nullptr);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, TunnelEvent::kResolve);
  EXPECT_EQ(ev[0].odp, kUnderlayOdp);
  EXPECT_EQ(ev[0].ip, ip4("10.0.0.2"));
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, t, 1000 + kResolveReportMs), nullptr);
  EXPECT_EQ(events().size(), 1u);
  EXPECT_EQ(drops(TunnelDrop::kEncapNeighbourUnresolved), 3u);

  // A gateway route: the neighbour to resolve is the gateway.
  auto g = host_view("10.0.0.1", kPortMac, nullptr, nullptr, 2);
  Route r;
  r.prefix = ip4("172.16.0.0");
  r.plen = 12;
  r.gateway = ip4("10.0.0.254");
  r.odp = kUnderlayOdp;
  ASSERT_EQ(g->routes.add(r), 0);
  publish(g.get());
  TunnelMeta far = t;
  far.ipv4_dst = ip4("172.20.1.1");
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, far, 5000), nullptr);
  ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].ip, ip4("10.0.0.254"));

  // Once the neighbour is known (a new generation), the same destination
  // goes out to its MAC.
  NeighbourEntry n;
  n.odp = kUnderlayOdp;
  n.ip = ip4("10.0.0.254");
  std::memcpy(n.mac, kNhMac, 6);
  auto g3 = host_view("10.0.0.1", kPortMac, nullptr, nullptr, 3);
  ASSERT_EQ(g3->routes.add(r), 0);
  g3->neighbours.push_back(n);
  publish(g3.get());
  rte_mbuf* m = encap(inner, kVxlanOdp, 0, far, 5001);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), kNhMac, 6), 0);
  rte_pktmbuf_free(m);
}

TEST_F(TunnelCodecTest, NewGenerationRebuildsTheTemplate) {
  auto s1 = host_view("10.0.0.1", kPortMac, "10.0.0.2", kNhMac, 1);
  publish(s1.get());
  const Bytes inner = tunnel_fixture("vxlan_basic")[0];
  const TunnelMeta t = meta(1, 0);
  rte_mbuf* m = encap(inner, kVxlanOdp, 0, t);
  ASSERT_NE(m, nullptr);
  rte_pktmbuf_free(m);
  const uint8_t moved[6] = {0x02, 0, 0, 0, 0xbb, 0x99};
  auto s2 = host_view("10.0.0.1", kPortMac, "10.0.0.2", moved, 2);
  publish(s2.get());
  m = encap(inner, kVxlanOdp, 0, t);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(m, uint8_t*), moved, 6), 0);
  rte_pktmbuf_free(m);
  EXPECT_EQ(pmd_->counters.template_builds.load(), 2u);
}

// A run of one flow's packets (what the PMD hands over for a set(tunnel)
// then output program): each packet comes out as the one-packet encap makes
// it, those that fail are dropped in place with their reason and the rest
// keep their order; the identification counter goes on across the run.
TEST_F(TunnelCodecTest, EncapRunMatchesOnePacketAtATimeAndDropsInPlace) {
  auto s = host_view("10.0.0.1", kPortMac, "10.0.0.2", kNhMac);
  publish(s.get());
  const Bytes inner = tunnel_fixture("vxlan_basic")[0];
  Bytes big = inner;
  big.resize(1465);  // one byte past the 1500-byte MTU once encapsulated
  const uint16_t cases[] = {0, kTunFlagDontFragment | kTunFlagCsum};
  for (const uint16_t flags : cases) {
    SCOPED_TRACE(flags);
    const TunnelMeta t = meta(7, flags, 0, 0x2e);
    // The reference: one packet at a time, as the executor's output does.
    std::vector<Bytes> want;
    pmd_->ip_id = 100;
    for (int i = 0; i < 4; ++i) {
      rte_mbuf* m = mbuf_from(inner);
      ASSERT_EQ(tunnel_encap(*pmd_, shared_, 0, kVxlanOdp, 0, m, t, hash_for_port(40000 + i), 1),
                kUnderlayOdp);
      want.push_back(bytes_of(m));
      rte_pktmbuf_free(m);
    }
    pmd_->ip_id = 100;
    rte_mbuf* pkts[6];
    uint32_t hashes[6];
    for (int i = 0, k = 0; i < 6; ++i) {
      const bool too_big = i == 1 || i == 4;
      pkts[i] = mbuf_from(too_big ? big : inner);
      hashes[i] = hash_for_port(static_cast<uint16_t>(40000 + (too_big ? 0 : k++)));
    }
    const uint64_t too_big_before = drops(TunnelDrop::kEncapTooBig);
    const uint64_t sent_before = pmd_->counters.encap[0].packets.load();
    uint32_t underlay = 0;
    ASSERT_EQ(tunnel_encap_run(*pmd_, shared_, 0, kVxlanOdp, 0, t, pkts, hashes, 6, 1, &underlay),
              4u);
    EXPECT_EQ(underlay, kUnderlayOdp);
    EXPECT_EQ(drops(TunnelDrop::kEncapTooBig) - too_big_before, 2u);
    EXPECT_EQ(pmd_->counters.encap[0].packets.load() - sent_before, 4u);
    uint16_t prev_id = 0;
    for (int i = 0; i < 4; ++i) {
      Bytes got = bytes_of(pkts[i]);
      ASSERT_EQ(got.size(), want[i].size());
      // The IPv4 header checksum verifies whatever the identification.
      EXPECT_EQ(rte_raw_cksum(got.data() + 14, 20), 0xffff) << i;
      if (!(flags & kTunFlagDontFragment)) {
        // Without DF each packet takes the next identification (a dropped
        // packet's turn included): compare the rest.
        const uint16_t id = static_cast<uint16_t>(got[18] << 8 | got[19]);
        if (i) {
          EXPECT_GT(id, prev_id) << i;
        }
        prev_id = id;
        for (const size_t off : {18u, 19u, 24u, 25u}) got[off] = want[i][off];
      }
      EXPECT_EQ(hex_of(got), hex_of(want[i])) << i;
      rte_pktmbuf_free(pkts[i]);
    }
  }
}

// Every run length a burst can hand over, with a canary past the end: all
// encapsulated, nothing read or written past n.
TEST_F(TunnelCodecTest, EncapRunOfEveryBurstSize) {
  auto s = host_view("10.0.0.1", kPortMac, "10.0.0.2", kNhMac);
  publish(s.get());
  const Bytes inner = tunnel_fixture("vxlan_basic")[0];
  const TunnelMeta t = meta(42, kTunFlagDontFragment);
  const Bytes want = tunnel_fixture("vxlan_basic")[1];
  rte_mbuf* canary = mbuf_from(inner);
  for (uint32_t n = 0; n <= 32; ++n) {
    SCOPED_TRACE(n);
    rte_mbuf* pkts[33];
    uint32_t hashes[33];
    for (uint32_t i = 0; i < n; ++i) {
      pkts[i] = mbuf_from(inner);
      hashes[i] = hash_for_port(49152);
    }
    pkts[n] = canary;
    hashes[n] = 0;
    uint32_t underlay = kTunnelNoPort;
    ASSERT_EQ(tunnel_encap_run(*pmd_, shared_, 0, kVxlanOdp, 0, t, pkts, hashes, n, 1, &underlay),
              n);
    EXPECT_EQ(underlay, n ? kUnderlayOdp : kTunnelNoPort);
    EXPECT_EQ(pkts[n], canary);
    for (uint32_t i = 0; i < n; ++i) {
      EXPECT_EQ(hex_of(bytes_of(pkts[i])), hex_of(want));
      rte_pktmbuf_free(pkts[i]);
    }
  }
  EXPECT_EQ(hex_of(bytes_of(canary)), hex_of(inner));
  rte_pktmbuf_free(canary);
  EXPECT_EQ(pmd_->counters.encap[0].packets.load(), 32u * 33 / 2);
}

TEST(TunnelFlowHash, OneFlowOnePortAndFlowsSpread) {
  FlowKey a{};
  a.eth_type = htons(0x0800);
  a.nw_proto = 6;
  a.ipv4_src = ip4("192.168.1.1");
  a.ipv4_dst = ip4("192.168.1.2");
  a.tp_src = htons(1000);
  a.tp_dst = htons(80);
  FlowKey b = a;
  b.tcp_flags = htons(0x10);
  b.nw_ttl = 3;
  EXPECT_EQ(tunnel_flow_hash(a), tunnel_flow_hash(b)) << "TCP flags or TTL changed the port";
  std::set<uint16_t> ports;
  for (uint16_t p = 0; p < 256; ++p) {
    b = a;
    b.tp_src = htons(static_cast<uint16_t>(1000 + p));
    const uint16_t port = ntohs(tunnel_udp_src_port(tunnel_flow_hash(b)));
    EXPECT_GE(port, kTunnelSrcPortMin);
    EXPECT_LT(port, kTunnelSrcPortMax);
    ports.insert(port);
  }
  EXPECT_GT(ports.size(), 200u);
}

}  // namespace
}  // namespace dpx::test
