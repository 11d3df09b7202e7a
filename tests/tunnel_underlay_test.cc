// The underlay tables without DPDK: longest-prefix match over routes,
// encap resolution through a snapshot, the neighbour state machine driven
// by explicit times (request on miss, reply learned, retries, aging with
// probes, static entries), ARP frames, Neighbour Discovery frames against
// scapy's (tests/data/nd_ns_na.pcap), and the tunnel control messages'
// codec (round trips and strict refusals).
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "neighbour.h"
#include "support/pcap_file.h"
#include "tunnel_msg.h"
#include "underlay.h"

namespace dpx {
namespace {

uint32_t ip4(const char* s) {
  uint32_t a = 0;
  EXPECT_TRUE(parse_ipv4(s, &a)) << s;
  return a;
}

Ip6 ip6(const char* s) {
  Ip6 a{};
  EXPECT_TRUE(parse_ipv6(s, &a)) << s;
  return a;
}

Route6 route6(const char* prefix, uint8_t plen, uint32_t odp, const char* gw = nullptr) {
  Route6 r;
  r.prefix = ip6(prefix);
  r.plen = plen;
  r.odp = odp;
  r.gateway = gw ? ip6(gw) : Ip6{};
  return r;
}

Route route(const char* prefix, uint8_t plen, uint32_t odp, const char* gw = nullptr) {
  Route r;
  r.prefix = ip4(prefix);
  r.plen = plen;
  r.odp = odp;
  r.gateway = gw ? ip4(gw) : 0;
  return r;
}

TEST(RouteTable, LongestPrefixWins) {
  RouteTable t;
  ASSERT_EQ(t.add(route("0.0.0.0", 0, 1, "10.0.0.254")), 0);
  ASSERT_EQ(t.add(route("10.0.0.0", 8, 2)), 0);
  ASSERT_EQ(t.add(route("10.1.0.0", 16, 3)), 0);
  ASSERT_EQ(t.add(route("10.1.2.0", 24, 4)), 0);
  ASSERT_EQ(t.add(route("10.1.2.3", 32, 5)), 0);
  ASSERT_EQ(t.add(route("10.1.3.0", 24, 6)), 0);
  struct {
    const char* dst;
    uint32_t odp;
  } cases[] = {{"10.1.2.3", 5}, {"10.1.2.4", 4},  {"10.1.3.9", 6},  {"10.1.4.1", 3},
               {"10.2.0.1", 2}, {"192.0.2.1", 1}, {"10.1.2.255", 4}};
  for (const auto& c : cases) {
    const Route* r = t.lookup(ip4(c.dst));
    ASSERT_NE(r, nullptr) << c.dst;
    EXPECT_EQ(r->odp, c.odp) << c.dst;
  }
  EXPECT_EQ(t.size(), 6u);
  ASSERT_EQ(t.del(ip4("10.1.2.0"), 24), 0);
  EXPECT_EQ(t.lookup(ip4("10.1.2.4"))->odp, 3u);
  EXPECT_EQ(t.del(ip4("10.1.2.0"), 24), ENOENT);
  ASSERT_EQ(t.del(ip4("0.0.0.0"), 0), 0);
  EXPECT_EQ(t.lookup(ip4("192.0.2.1")), nullptr);
}

TEST(RouteTable, RefusesDuplicatesAndHostBits) {
  RouteTable t;
  ASSERT_EQ(t.add(route("10.0.0.0", 24, 1)), 0);
  EXPECT_EQ(t.add(route("10.0.0.0", 24, 2)), EEXIST);
  EXPECT_EQ(t.add(route("10.0.0.1", 24, 2)), EINVAL);
  Route bad = route("10.0.0.0", 24, 2);
  bad.plen = 33;
  EXPECT_EQ(t.add(bad), EINVAL);
}

TEST(RouteTable, ListIsLongestFirstAndRemovePortClears) {
  RouteTable t;
  ASSERT_EQ(t.add(route("10.0.0.0", 8, 1)), 0);
  ASSERT_EQ(t.add(route("192.168.0.0", 24, 2)), 0);
  ASSERT_EQ(t.add(route("10.9.0.0", 16, 1)), 0);
  ASSERT_EQ(t.add(route("10.1.0.0", 16, 2)), 0);
  auto l = t.list();
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].plen, 24);
  EXPECT_EQ(l[1].prefix, ip4("10.1.0.0"));
  EXPECT_EQ(l[2].prefix, ip4("10.9.0.0"));
  EXPECT_EQ(l[3].plen, 8);
  t.remove_port(1);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.lookup(ip4("10.9.1.1")), nullptr);
  EXPECT_EQ(t.lookup(ip4("10.1.1.1"))->odp, 2u);
}

TEST(Route6Table, LongestPrefixWinsAcrossEveryLength) {
  Route6Table t;
  ASSERT_EQ(t.add(route6("::", 0, 1, "2001:db8::fe")), 0);
  ASSERT_EQ(t.add(route6("2001:db8::", 32, 2)), 0);
  ASSERT_EQ(t.add(route6("2001:db8:1::", 48, 3)), 0);
  ASSERT_EQ(t.add(route6("2001:db8:1:2::", 64, 4)), 0);
  // Prefix lengths that are not byte multiples, on both sides of bit 64
  // (the present-bitmap's word boundary) and 127/128.
  ASSERT_EQ(t.add(route6("2001:db8:1:2:8000::", 65, 5)), 0);
  ASSERT_EQ(t.add(route6("2001:db8:1:2::", 63, 6)), 0);
  ASSERT_EQ(t.add(route6("2001:db8:1:2::a", 127, 7)), 0);
  ASSERT_EQ(t.add(route6("2001:db8:1:2::b", 128, 8)), 0);
  ASSERT_EQ(t.add(route6("2001:db8:1:2:8000::1", 128, 9)), 0);
  struct Case {
    const char* dst;
    uint32_t odp;
  } cases[] = {
      {"2001:db8:1:2::1", 4},      {"2001:db8:1:2:7fff::", 4}, {"2001:db8:1:2:8000::2", 5},
      {"2001:db8:1:2:8000::1", 9}, {"2001:db8:1:2::a", 7},     {"2001:db8:1:2::b", 8},
      {"2001:db8:1:2::c", 4},      {"2001:db8:1:3::1", 6},     {"2001:db8:1:4::1", 3},
      {"2001:db8:ffff::1", 2},     {"2001:db9::1", 1},         {"fe80::1", 1},
  };
  for (const auto& c : cases) {
    const Route6* r = t.lookup(ip6(c.dst));
    ASSERT_NE(r, nullptr) << c.dst;
    EXPECT_EQ(r->odp, c.odp) << c.dst;
  }
  EXPECT_EQ(t.lookup(ip6("2001:db9::1"))->gateway, ip6("2001:db8::fe"));
  ASSERT_EQ(t.del(ip6("::"), 0), 0);
  EXPECT_EQ(t.lookup(ip6("2001:db9::1")), nullptr);
  EXPECT_EQ(t.del(ip6("::"), 0), ENOENT);
  EXPECT_EQ(t.del(ip6("2001:db8:1:2::a"), 128), ENOENT) << "plen is part of the key";
  ASSERT_EQ(t.del(ip6("2001:db8:1:2::a"), 127), 0);
  EXPECT_EQ(t.lookup(ip6("2001:db8:1:2::a"))->odp, 4u);
}

TEST(Route6Table, RefusesDuplicatesAndHostBitsListsAndRemoves) {
  Route6Table t;
  ASSERT_EQ(t.add(route6("2001:db8::", 64, 1)), 0);
  EXPECT_EQ(t.add(route6("2001:db8::", 64, 2)), EEXIST);
  EXPECT_EQ(t.add(route6("2001:db8::1", 64, 2)), EINVAL);
  EXPECT_EQ(t.add(route6("2001:db8::8000", 112, 2)), EINVAL) << "bit 112 is a host bit of /112";
  EXPECT_EQ(t.add(route6("2001:db8:0:1::", 63, 2)), EINVAL) << "bit 63 is a host bit of /63";
  EXPECT_EQ(t.add(route6("2001:db8::", 129, 2)), EINVAL);
  ASSERT_EQ(t.add(route6("2001:db8::", 48, 2)), 0);
  ASSERT_EQ(t.add(route6("2001:db7::", 64, 2)), 0);
  Route6 c = route6("2001:db9::", 64, 1);
  c.connected = true;
  ASSERT_EQ(t.add(c), 0);
  const auto l = t.list();
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0].prefix, ip6("2001:db7::"));
  EXPECT_EQ(l[1].prefix, ip6("2001:db8::"));
  EXPECT_EQ(l[1].plen, 64);
  EXPECT_EQ(l[2].prefix, ip6("2001:db9::"));
  EXPECT_EQ(l[3].plen, 48);
  t.remove_connected(ip6("2001:db8::"), 64, 1);  // not connected: stays
  EXPECT_EQ(t.size(), 4u);
  t.remove_connected(ip6("2001:db9::"), 64, 1);
  EXPECT_EQ(t.size(), 3u);
  t.remove_port(2);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.lookup(ip6("2001:db8::5"))->odp, 1u);
  EXPECT_EQ(t.lookup(ip6("2001:db8:0:1::5")), nullptr);
}

TEST(Route6Table, MaskedKeepsExactlyThePrefixBits) {
  const Ip6 all = ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  EXPECT_EQ(ip6_masked(all, 0), Ip6{});
  EXPECT_EQ(ip6_masked(all, 1), ip6("8000::"));
  EXPECT_EQ(ip6_masked(all, 12), ip6("fff0::"));
  EXPECT_EQ(ip6_masked(all, 64), ip6("ffff:ffff:ffff:ffff::"));
  EXPECT_EQ(ip6_masked(all, 127), ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
  EXPECT_EQ(ip6_masked(all, 128), all);
}

TEST(UnderlaySnapshot, Ipv6VtepsAreLocal) {
  UnderlaySnapshot s;
  s.vteps6[s.n_vteps6++] = {ip6("2001:db8::1"), 64, 1};
  s.vteps6[s.n_vteps6++] = {ip6("2001:db8:1::1"), 64, 2};
  EXPECT_TRUE(s.is_local6(ip6("2001:db8::1").data()));
  EXPECT_TRUE(s.is_local6(ip6("2001:db8:1::1").data()));
  EXPECT_FALSE(s.is_local6(ip6("2001:db8::2").data()));
  EXPECT_TRUE(s.is_local6_on(ip6("2001:db8::1").data(), 1));
  EXPECT_FALSE(s.is_local6_on(ip6("2001:db8::1").data(), 2));
  EXPECT_EQ(s.vtep6_of_port(2), ip6("2001:db8:1::1"));
  EXPECT_EQ(s.vtep6_of_port(3), Ip6{});
}

TEST(UnderlaySnapshot, ResolveThroughGatewayAndConnectedRoutes) {
  UnderlaySnapshot s;
  s.generation = 1;
  s.vteps[s.n_vteps++] = {ip4("10.0.0.1"), 24, 1};
  s.ports[s.n_ports++] = {1, {2, 0, 0, 0, 0, 1}, 1500};
  Route c = route("10.0.0.0", 24, 1);
  c.connected = true;
  ASSERT_EQ(s.routes.add(c), 0);
  ASSERT_EQ(s.routes.add(route("172.16.0.0", 12, 1, "10.0.0.254")), 0);
  NeighbourEntry gw{1, ip4("10.0.0.254"), {2, 0, 0, 0, 0, 0xfe}};
  s.neighbours.push_back(gw);

  UnderlaySnapshot::Resolution r;
  EXPECT_EQ(s.resolve(ip4("172.17.0.5"), 0, &r), TunnelDrop::kCount);
  EXPECT_EQ(r.next_hop, ip4("10.0.0.254"));
  EXPECT_EQ(r.src, ip4("10.0.0.1"));
  EXPECT_EQ(r.mac[5], 0xfe);
  // An on-link destination is its own next hop, still unresolved here.
  EXPECT_EQ(s.resolve(ip4("10.0.0.7"), 0, &r), TunnelDrop::kEncapNeighbourUnresolved);
  EXPECT_EQ(r.next_hop, ip4("10.0.0.7"));
  EXPECT_EQ(r.odp, 1u);
  // A source asked for by set(tunnel) is kept.
  EXPECT_EQ(s.resolve(ip4("172.17.0.5"), ip4("10.0.0.9"), &r), TunnelDrop::kCount);
  EXPECT_EQ(r.src, ip4("10.0.0.9"));
  EXPECT_EQ(s.resolve(ip4("192.0.2.1"), 0, &r), TunnelDrop::kEncapNoRoute);
  // A route out of a port without a VTEP address cannot be used.
  ASSERT_EQ(s.routes.add(route("192.0.2.0", 24, 9)), 0);
  EXPECT_EQ(s.resolve(ip4("192.0.2.1"), 0, &r), TunnelDrop::kEncapNoVtep);

  EXPECT_TRUE(s.is_local(ip4("10.0.0.1")));
  EXPECT_TRUE(s.is_local_on(ip4("10.0.0.1"), 1));
  EXPECT_FALSE(s.is_local_on(ip4("10.0.0.1"), 2));
  EXPECT_FALSE(s.is_local(ip4("10.0.0.2")));
}

// ---- neighbours ---------------------------------------------------------------

const uint8_t kMacA[6] = {2, 0, 0, 0, 0, 0xa};
const uint8_t kMacB[6] = {2, 0, 0, 0, 0, 0xb};

TEST(NeighbourTable, MissSendsOneRequestThenRetriesThenGivesUp) {
  NeighbourTable t({60000, 1000, 3});
  NeighbourTable::Request q;
  ASSERT_TRUE(t.miss(1, ip4("10.0.0.2"), 100, &q));
  EXPECT_FALSE(q.unicast);
  EXPECT_EQ(q.ip, ip4("10.0.0.2"));
  EXPECT_FALSE(t.miss(1, ip4("10.0.0.2"), 150, &q)) << "one request per retransmit interval";
  std::vector<NeighbourTable::Request> reqs;
  EXPECT_FALSE(t.tick(1099, &reqs));
  EXPECT_TRUE(reqs.empty());
  t.tick(1100, &reqs);
  t.tick(2100, &reqs);
  EXPECT_EQ(reqs.size(), 2u);  // three requests in all
  int resolved = 0;
  t.for_each_resolved([&](const auto&) { ++resolved; });
  EXPECT_EQ(resolved, 0) << "an incomplete entry is not published";
  reqs.clear();
  EXPECT_FALSE(t.tick(3100, &reqs)) << "forgetting an incomplete entry changes nothing published";
  EXPECT_TRUE(reqs.empty());
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.miss(1, ip4("10.0.0.2"), 3200, &q)) << "the next miss starts again";
}

TEST(NeighbourTable, ReplyIsLearnedAndAgedEntriesAreProbedThenForgotten) {
  NeighbourTable t({60000, 1000, 3});
  NeighbourTable::Request q;
  ASSERT_TRUE(t.miss(1, ip4("10.0.0.2"), 0, &q));
  EXPECT_TRUE(t.learn(1, ip4("10.0.0.2"), kMacA, 10)) << "resolution changes the published table";
  EXPECT_FALSE(t.learn(1, ip4("10.0.0.2"), kMacA, 20)) << "a confirmation changes nothing";
  EXPECT_TRUE(t.learn(1, ip4("10.0.0.2"), kMacB, 30)) << "a new MAC does";
  std::vector<NeighbourTable::Request> reqs;
  EXPECT_FALSE(t.tick(60029, &reqs));
  EXPECT_TRUE(reqs.empty());
  // Aged: probed by unicast while still in use.
  EXPECT_FALSE(t.tick(60030, &reqs));
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].unicast);
  EXPECT_EQ(std::memcmp(reqs[0].mac, kMacB, 6), 0);
  int resolved = 0;
  t.for_each_resolved([&](const auto&) { ++resolved; });
  EXPECT_EQ(resolved, 1);
  // A reply ends the probe.
  EXPECT_FALSE(t.learn(1, ip4("10.0.0.2"), kMacB, 60500));
  EXPECT_EQ(t.list()[0].state, NeighbourTable::State::kReachable);
  // Aged again, and silent this time: three probes, then gone.
  reqs.clear();
  t.tick(120500, &reqs);
  t.tick(121500, &reqs);
  t.tick(122500, &reqs);
  EXPECT_EQ(reqs.size(), 3u);
  EXPECT_TRUE(t.tick(123500, &reqs)) << "removing a published entry is a change";
  EXPECT_EQ(t.size(), 0u);
}

TEST(NeighbourTable, StaticEntriesNeverAgeAndSurviveFlush) {
  NeighbourTable t({1000, 100, 1});
  EXPECT_TRUE(t.set_static(1, ip4("10.0.0.9"), kMacA, 0));
  EXPECT_FALSE(t.learn(1, ip4("10.0.0.9"), kMacB, 1)) << "ARP does not override a static entry";
  EXPECT_TRUE(t.learn(1, ip4("10.0.0.2"), kMacB, 1));
  std::vector<NeighbourTable::Request> reqs;
  t.tick(100000, &reqs);
  EXPECT_EQ(reqs.size(), 1u) << "only the learned entry is probed";
  EXPECT_TRUE(t.flush());
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.list()[0].state, NeighbourTable::State::kStatic);
  EXPECT_EQ(std::memcmp(t.list()[0].mac, kMacA, 6), 0);
  EXPECT_TRUE(t.remove_port(1));
  EXPECT_EQ(t.size(), 0u);
}

TEST(Neighbour6Table, MissLearnAgeAndStatic) {
  Neighbour6Table t(NeighbourTimers{1000, 100, 2});
  Neighbour6Table::Request q;
  ASSERT_TRUE(t.miss(1, ip6("2001:db8::2"), 0, &q));
  EXPECT_EQ(q.ip, ip6("2001:db8::2"));
  EXPECT_FALSE(q.unicast);
  EXPECT_FALSE(t.miss(1, ip6("2001:db8::2"), 10, &q)) << "one request per miss";
  int resolved = 0;
  t.for_each_resolved([&](const auto&) { ++resolved; });
  EXPECT_EQ(resolved, 0) << "incomplete entries are not published";
  const uint8_t mac[6] = {2, 0, 0, 0, 0, 2};
  EXPECT_TRUE(t.learn(1, ip6("2001:db8::2"), mac, 50));
  EXPECT_FALSE(t.learn(1, ip6("2001:db8::2"), mac, 60)) << "same MAC: nothing to republish";
  t.for_each_resolved([&](const auto& e) {
    ++resolved;
    EXPECT_EQ(e.state, NeighbourState::kReachable);
  });
  EXPECT_EQ(resolved, 1);
  // Aged: probed by unicast, then forgotten after max_probes silent ones.
  std::vector<Neighbour6Table::Request> reqs;
  EXPECT_FALSE(t.tick(1060, &reqs));
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(reqs[0].unicast);
  EXPECT_EQ(std::memcmp(reqs[0].mac, mac, 6), 0);
  reqs.clear();
  EXPECT_FALSE(t.tick(1160, &reqs));
  EXPECT_EQ(reqs.size(), 1u);
  EXPECT_TRUE(t.tick(1260, &reqs)) << "a published entry went";
  EXPECT_EQ(t.size(), 0u);
  // Static entries never age and survive a flush; entries are listed in
  // numeric address order.
  EXPECT_TRUE(t.set_static(1, ip6("2001:db8::10"), mac, 0));
  EXPECT_TRUE(t.learn(1, ip6("2001:db8::9"), mac, 0));
  const auto l = t.list();
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].ip, ip6("2001:db8::9"));
  EXPECT_TRUE(t.flush());
  reqs.clear();
  EXPECT_FALSE(t.tick(1000000, &reqs));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t.list()[0].state, NeighbourState::kStatic);
}

TEST(Arp, BuildAndParseRoundTrip) {
  ArpPacket a{};
  std::memset(a.eth_dst, 0xff, 6);
  std::memcpy(a.eth_src, kMacA, 6);
  a.op = kArpRequest;
  std::memcpy(a.sha, kMacA, 6);
  a.spa = ip4("10.0.0.1");
  a.tpa = ip4("10.0.0.2");
  uint8_t f[kArpFrameLen];
  arp_build(a, f);
  // The fixed part of an Ethernet/IPv4 ARP request, as on the wire.
  const uint8_t head[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0,  0xa, 0x08, 0x06,
                          0,    1,    0x08, 0,    6,    4,    0, 1, 2, 0, 0,  0,   0,    0xa,
                          10,   0,    0,    1,    0,    0,    0, 0, 0, 0, 10, 0,   0,    2};
  EXPECT_EQ(std::memcmp(f, head, sizeof head), 0);
  for (size_t i = sizeof head; i < kArpFrameLen; ++i) EXPECT_EQ(f[i], 0) << i;
  ArpPacket b;
  ASSERT_TRUE(arp_parse(f, kArpFrameLen, &b));
  EXPECT_EQ(b.op, kArpRequest);
  EXPECT_EQ(b.spa, a.spa);
  EXPECT_EQ(b.tpa, a.tpa);
  EXPECT_FALSE(arp_parse(f, 41, &b));
  f[19] = 16;  // protocol address length of IPv6
  EXPECT_FALSE(arp_parse(f, kArpFrameLen, &b));
}

// ---- control messages -------------------------------------------------------

// tests/data/nd_ns_na.pcap (gen_tunnel6_fixtures.py): [0] the NS
// 2001:db8::1 (02:00:00:00:aa:01) sends for 2001:db8::2, [1] the NA
// 2001:db8::2 (02:00:00:00:bb:02) answers with (solicited, override).
std::vector<test::Packet> nd_fixture() {
  std::vector<test::Packet> pkts;
  EXPECT_TRUE(test::read_pcap(std::string(DPX_TEST_DATA_DIR) + "/nd_ns_na.pcap", &pkts));
  EXPECT_EQ(pkts.size(), 2u);
  return pkts;
}

constexpr uint8_t kNdMacA[6] = {2, 0, 0, 0, 0xaa, 1}, kNdMacB[6] = {2, 0, 0, 0, 0xbb, 2};

TEST(Nd, SolicitationAndAdvertisementMatchScapy) {
  const auto f = nd_fixture();
  ASSERT_EQ(f.size(), 2u);
  NdPacket ns;
  ns.ip_src = ip6("2001:db8::1");
  ns.ip_dst = solicited_node(ip6("2001:db8::2"));
  EXPECT_EQ(ns.ip_dst, ip6("ff02::1:ff00:2"));
  ipv6_multicast_mac(ns.ip_dst, ns.eth_dst);
  std::memcpy(ns.eth_src, kNdMacA, 6);
  ns.type = kNdSolicit;
  ns.target = ip6("2001:db8::2");
  ns.has_lladdr = true;
  std::memcpy(ns.lladdr, kNdMacA, 6);
  std::vector<uint8_t> b(kNdFrameLen);
  nd_build(ns, b.data());
  EXPECT_EQ(b, f[0]);

  NdPacket na;
  std::memcpy(na.eth_dst, kNdMacA, 6);
  std::memcpy(na.eth_src, kNdMacB, 6);
  na.ip_src = ip6("2001:db8::2");
  na.ip_dst = ip6("2001:db8::1");
  na.type = kNdAdvert;
  na.flags = kNdFlagSolicited | kNdFlagOverride;
  na.target = ip6("2001:db8::2");
  na.has_lladdr = true;
  std::memcpy(na.lladdr, kNdMacB, 6);
  nd_build(na, b.data());
  EXPECT_EQ(b, f[1]);

  NdPacket p;
  ASSERT_TRUE(nd_parse(f[1].data(), static_cast<uint32_t>(f[1].size()), &p));
  EXPECT_EQ(p.type, kNdAdvert);
  EXPECT_EQ(p.flags, kNdFlagSolicited | kNdFlagOverride);
  EXPECT_EQ(p.target, ip6("2001:db8::2"));
  EXPECT_EQ(p.ip_src, ip6("2001:db8::2"));
  ASSERT_TRUE(p.has_lladdr);
  EXPECT_EQ(std::memcmp(p.lladdr, kNdMacB, 6), 0);
  ASSERT_TRUE(nd_parse(f[0].data(), static_cast<uint32_t>(f[0].size()), &p));
  EXPECT_EQ(p.type, kNdSolicit);
  EXPECT_EQ(p.target, ip6("2001:db8::2"));
  EXPECT_EQ(std::memcmp(p.lladdr, kNdMacA, 6), 0);
  EXPECT_EQ(std::memcmp(p.eth_dst, f[0].data(), 6), 0);
}

TEST(Nd, InvalidFramesAreRefused) {
  const auto f = nd_fixture();
  ASSERT_EQ(f.size(), 2u);
  struct Case {
    const char* name;
    void (*mutate)(std::vector<uint8_t>&);
  } cases[] = {
      {"hop limit 64 (forwarded)", [](std::vector<uint8_t>& b) { b[21] = 64; }},
      {"wrong ICMPv6 checksum", [](std::vector<uint8_t>& b) { b[56] ^= 1; }},
      {"a changed target (checksum no longer covers it)",
       [](std::vector<uint8_t>& b) { b[77] ^= 1; }},
      {"ICMPv6 code 1", [](std::vector<uint8_t>& b) { b[55] = 1; }},
      {"an echo request, not ND", [](std::vector<uint8_t>& b) { b[54] = 128; }},
      {"UDP, not ICMPv6", [](std::vector<uint8_t>& b) { b[20] = 17; }},
      {"payload length past the frame", [](std::vector<uint8_t>& b) { b[19] += 8; }},
      {"payload below the ND header", [](std::vector<uint8_t>& b) { b[19] = 16; }},
      {"option of length 0", [](std::vector<uint8_t>& b) { b[79] = 0; }},
      {"option past the packet", [](std::vector<uint8_t>& b) { b[79] = 2; }},
      {"not IPv6", [](std::vector<uint8_t>& b) { b[12] = 0x08; }},
      {"cut short", [](std::vector<uint8_t>& b) { b.resize(60); }},
  };
  for (const auto& c : cases) {
    for (const auto& good : f) {
      SCOPED_TRACE(c.name);
      std::vector<uint8_t> b = good;
      c.mutate(b);
      NdPacket p;
      EXPECT_FALSE(nd_parse(b.data(), static_cast<uint32_t>(b.size()), &p));
    }
  }
  // A multicast target, with the checksum made right again.
  NdPacket ns;
  ASSERT_TRUE(nd_parse(f[0].data(), static_cast<uint32_t>(f[0].size()), &ns));
  ns.target = ip6("ff02::1");
  std::vector<uint8_t> b(kNdFrameLen);
  nd_build(ns, b.data());
  NdPacket p;
  EXPECT_FALSE(nd_parse(b.data(), kNdFrameLen, &p));
  // An NS from the unspecified address (duplicate address detection) with a
  // source link-layer option, and a solicited NA to a multicast group.
  ASSERT_TRUE(nd_parse(f[0].data(), static_cast<uint32_t>(f[0].size()), &ns));
  ns.ip_src = Ip6{};
  nd_build(ns, b.data());
  EXPECT_FALSE(nd_parse(b.data(), kNdFrameLen, &p));
  NdPacket na;
  ASSERT_TRUE(nd_parse(f[1].data(), static_cast<uint32_t>(f[1].size()), &na));
  na.ip_dst = ip6("ff02::1");
  nd_build(na, b.data());
  EXPECT_FALSE(nd_parse(b.data(), kNdFrameLen, &p));
  na.flags = kNdFlagOverride;  // unsolicited: fine to all nodes
  nd_build(na, b.data());
  EXPECT_TRUE(nd_parse(b.data(), kNdFrameLen, &p));
}

TEST(TunnelMsg, RoundTrips) {
  TnlIpEntry ip{ip4("10.0.0.1"), 24, "eth0", 3};
  NlBuf b;
  ASSERT_EQ(encode_tnl_ip(ip, &b), 0);
  TnlIpEntry ip2;
  std::string err;
  ASSERT_EQ(decode_tnl_ip_request(b, &ip2, &err), 0) << err;
  EXPECT_EQ(ip2, ip);

  std::vector<RouteEntry> routes = {{ip4("10.0.0.0"), 24, 0, "eth0", 3, ip4("10.0.0.1"), true},
                                    {ip4("0.0.0.0"), 0, ip4("10.0.0.254"), "eth0", 3, 0, false}};
  b.clear();
  ASSERT_EQ(encode_route_list(routes, &b), 0);
  std::vector<RouteEntry> routes2;
  ASSERT_EQ(decode_route_list(b, &routes2, &err), 0) << err;
  EXPECT_EQ(routes2, routes);

  std::vector<NeighEntry> ns = {
      {ip4("10.0.0.2"), {2, 0, 0, 0, 0, 2}, "eth0", 3, DPX_NEIGH_REACHABLE, 1234}};
  b.clear();
  ASSERT_EQ(encode_neigh_list(ns, &b), 0);
  std::vector<NeighEntry> ns2;
  ASSERT_EQ(decode_neigh_list(b, &ns2, &err), 0) << err;
  EXPECT_EQ(ns2, ns);

  // IPv6 VTEP addresses and routes: the address size says the family.
  TnlIpEntry ip6e{0, 64, "eth0", 3};
  ip6e.v6 = true;
  ip6e.addr6 = ip6("2001:db8::1");
  b.clear();
  ASSERT_EQ(encode_tnl_ip(ip6e, &b), 0);
  ASSERT_EQ(decode_tnl_ip_request(b, &ip2, &err), 0) << err;
  EXPECT_EQ(ip2, ip6e);
  std::vector<RouteEntry> r6(3);
  r6[0] = {0, 64, 0, "eth0", 3, 0, true};
  r6[0].prefix6 = ip6("2001:db8::");
  r6[0].src6 = ip6("2001:db8::1");
  r6[1] = {0, 0, 0, "eth0", 3, 0, false};
  r6[1].gateway6 = ip6("fe80::1");
  r6[2] = {0, 128, 0, "eth0", 3, 0, false};
  r6[2].prefix6 = ip6("2001:db8:ffff::5");
  for (auto& r : r6) r.v6 = true;
  r6.push_back(routes[0]);  // families may mix across entries of a list
  b.clear();
  ASSERT_EQ(encode_route_list(r6, &b), 0);
  ASSERT_EQ(decode_route_list(b, &routes2, &err), 0) << err;
  EXPECT_EQ(routes2, r6);

  TnlStats s;
  s.ports.push_back({5, "vxlan_sys_4789", "vxlan", 4789, 1, 2, 3, 4});
  s.counters.push_back({"decap_truncated", 7});
  b.clear();
  ASSERT_EQ(encode_tnl_stats(s, &b), 0);
  TnlStats s2;
  ASSERT_EQ(decode_tnl_stats(b, &s2, &err), 0) << err;
  EXPECT_EQ(s2, s);
}

TEST(TunnelMsg, DecodersAreStrict) {
  std::string err;
  TnlIpEntry ip;
  EXPECT_EQ(decode_tnl_ip_request({}, &ip, &err), EINVAL);
  NlBuf b;
  {
    NlWriter w(&b);
    size_t c = w.begin_nested(DPX_CTL_A_TNL_IP);
    w.put<uint32_t>(DPX_TNL_IP_A_ADDR, ip4("10.0.0.1"));
    w.put<uint32_t>(DPX_TNL_IP_A_PLEN, 33);
    w.put(DPX_TNL_IP_A_PORT_NAME, "eth0", 5);
    w.end_nested(c);
  }
  EXPECT_EQ(decode_tnl_ip_request(b, &ip, &err), EINVAL);
  EXPECT_NE(err.find("PLEN"), std::string::npos) << err;

  // A missing port, an unknown attribute, a repeated one, a short address.
  auto one = [](auto fill) {
    NlBuf x;
    NlWriter w(&x);
    size_t c = w.begin_nested(DPX_CTL_A_ROUTE);
    fill(w);
    w.end_nested(c);
    return x;
  };
  RouteEntry r;
  const NlBuf no_port = one([](NlWriter& w) {
    w.put<uint32_t>(DPX_ROUTE_A_PREFIX, 0);
    w.put<uint32_t>(DPX_ROUTE_A_PLEN, 0);
  });
  EXPECT_EQ(decode_route_request(no_port, &r, true, &err), EINVAL);
  EXPECT_EQ(decode_route_request(no_port, &r, false, &err), 0) << "ROUTE_DEL needs no port";
  EXPECT_EQ(decode_route_request(one([](NlWriter& w) {
                                   w.put<uint32_t>(DPX_ROUTE_A_PREFIX, 0);
                                   w.put<uint32_t>(DPX_ROUTE_A_PLEN, 0);
                                   w.put<uint32_t>(99, 0);
                                 }),
                                 &r, false, &err),
            EINVAL);
  EXPECT_EQ(decode_route_request(one([](NlWriter& w) {
                                   w.put<uint32_t>(DPX_ROUTE_A_PREFIX, 0);
                                   w.put<uint32_t>(DPX_ROUTE_A_PREFIX, 0);
                                   w.put<uint32_t>(DPX_ROUTE_A_PLEN, 0);
                                 }),
                                 &r, false, &err),
            EINVAL);
  EXPECT_EQ(decode_route_request(one([](NlWriter& w) {
                                   w.put<uint16_t>(DPX_ROUTE_A_PREFIX, 0);
                                   w.put<uint32_t>(DPX_ROUTE_A_PLEN, 0);
                                 }),
                                 &r, false, &err),
            EINVAL);
  // Two entries where one is expected.
  NlBuf two = no_port;
  two.insert(two.end(), no_port.begin(), no_port.end());
  EXPECT_EQ(decode_route_request(two, &r, false, &err), EINVAL);
  // Truncated framing.
  NlBuf cut = no_port;
  cut.pop_back();
  EXPECT_EQ(decode_route_request(cut, &r, false, &err), EINVAL);

  // IPv6: /128 is fine, /129 is not; IPv4 stays limited to /32; families
  // cannot mix inside one entry; addresses of other sizes are refused.
  const Ip6 a6 = ip6("2001:db8::");
  auto v6route = [&](uint32_t plen) {
    return one([&](NlWriter& w) {
      w.put(DPX_ROUTE_A_PLEN, plen);
      w.put(DPX_ROUTE_A_PREFIX, a6.data(), 16);
    });
  };
  ASSERT_EQ(decode_route_request(v6route(128), &r, false, &err), 0) << err;
  EXPECT_TRUE(r.v6);
  EXPECT_EQ(r.prefix6, a6);
  EXPECT_EQ(r.plen, 128u);
  EXPECT_EQ(decode_route_request(v6route(129), &r, false, &err), EINVAL);
  EXPECT_NE(err.find("0..128"), std::string::npos) << err;
  EXPECT_EQ(decode_route_request(one([](NlWriter& w) {
                                   w.put<uint32_t>(DPX_ROUTE_A_PREFIX, 0);
                                   w.put<uint32_t>(DPX_ROUTE_A_PLEN, 64);
                                 }),
                                 &r, false, &err),
            EINVAL);
  EXPECT_NE(err.find("0..32"), std::string::npos) << err;
  EXPECT_EQ(decode_route_request(one([&](NlWriter& w) {
                                   w.put(DPX_ROUTE_A_PREFIX, a6.data(), 16);
                                   w.put<uint32_t>(DPX_ROUTE_A_PLEN, 0);
                                   w.put<uint32_t>(DPX_ROUTE_A_GATEWAY, ip4("10.0.0.1"));
                                 }),
                                 &r, false, &err),
            EINVAL);
  EXPECT_NE(err.find("mixed"), std::string::npos) << err;
  EXPECT_EQ(decode_route_request(one([&](NlWriter& w) {
                                   w.put(DPX_ROUTE_A_PREFIX, a6.data(), 8);
                                   w.put<uint32_t>(DPX_ROUTE_A_PLEN, 0);
                                 }),
                                 &r, false, &err),
            EINVAL);
  // A neighbour's address may be IPv6.
  b.clear();
  {
    NlWriter w(&b);
    size_t c = w.begin_nested(DPX_CTL_A_NEIGH);
    w.put(DPX_NEIGH_A_ADDR, a6.data(), 16);
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
    w.put(DPX_NEIGH_A_MAC, mac, 6);
    w.put(DPX_NEIGH_A_PORT_NAME, "eth0", 5);
    w.end_nested(c);
  }
  NeighEntry n;
  ASSERT_EQ(decode_neigh_request(b, &n, &err), 0) << err;
  EXPECT_TRUE(n.v6);
  EXPECT_EQ(n.addr6, a6);
  EXPECT_EQ(n.addr, 0u);
}

TEST(TunnelMsg, TextHelpers) {
  uint32_t a, p;
  ASSERT_TRUE(parse_ipv4_prefix("10.1.2.0/24", &a, &p));
  EXPECT_EQ(ipv4_to_string(a), "10.1.2.0");
  EXPECT_EQ(p, 24u);
  ASSERT_TRUE(parse_ipv4_prefix("10.1.2.3", &a, &p));
  EXPECT_EQ(p, 32u);
  EXPECT_FALSE(parse_ipv4_prefix("10.1.2.0/33", &a, &p));
  EXPECT_FALSE(parse_ipv4_prefix("10.1.2.0/", &a, &p));
  EXPECT_FALSE(parse_ipv4_prefix("10.1.2/24", &a, &p));
  Ip6 a6;
  ASSERT_TRUE(parse_ipv6_prefix("2001:db8:0:1::/64", &a6, &p));
  EXPECT_EQ(ipv6_to_string(a6), "2001:db8:0:1::");
  EXPECT_EQ(p, 64u);
  ASSERT_TRUE(parse_ipv6_prefix("2001:db8::1", &a6, &p));
  EXPECT_EQ(p, 128u);
  EXPECT_FALSE(parse_ipv6_prefix("2001:db8::/129", &a6, &p));
  EXPECT_FALSE(parse_ipv6_prefix("2001:db8::/", &a6, &p));
  EXPECT_FALSE(parse_ipv6_prefix("10.0.0.0/8", &a6, &p));
  EXPECT_FALSE(parse_ipv6_prefix("2001:db8:::1/64", &a6, &p));
  std::array<uint8_t, 6> m;
  ASSERT_TRUE(parse_mac("02:00:00:aa:bb:0c", &m));
  EXPECT_EQ(mac_to_string(m.data()), "02:00:00:aa:bb:0c");
  EXPECT_FALSE(parse_mac("02:00:00:aa:bb", &m));
  EXPECT_FALSE(parse_mac("02:00:00:aa:bb:0c:", &m));
}

}  // namespace
}  // namespace dpx
