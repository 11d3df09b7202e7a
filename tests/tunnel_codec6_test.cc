// Encapsulation and decapsulation of VXLAN and Geneve over an IPv6
// underlay, on real mbufs, byte for byte against packets scapy built
// independently (tests/data/tunnel_{vxlan6,geneve6}_*.pcap, from
// tests/data/gen_tunnel6_fixtures.py: the inner frame, then its
// encapsulation, with the parameters repeated below). Then the encap drops
// (no route, no VTEP, unresolved neighbour, MTU), a table of malformed IPv6
// tunnel packets, each dropped and counted with its reason, and the IPv6
// traffic an underlay port must leave alone.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ring.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "eal_env.h"
#include "support/pcap_file.h"
#include "support/tunnel_fixtures.h"
#include "tunnel_decap.h"
#include "tunnel_encap.h"

namespace dpx::test {
namespace {

using Bytes = Packet;

constexpr uint8_t kRxMac[6] = {0x02, 0, 0, 0, 0xbb, 0x02};  // the decapsulating host
constexpr uint8_t kTxMac[6] = {0x02, 0, 0, 0, 0xaa, 0x01};  // the encapsulating host
constexpr uint32_t kUnderlayOdp = 1;
constexpr uint32_t kVxlanOdp = 5, kGeneveOdp = 6, kVxlan8472Odp = 7;

Ip6 ip6(const char* s) {
  Ip6 a{};
  EXPECT_EQ(inet_pton(AF_INET6, s, a.data()), 1) << s;
  return a;
}

// The receiving host: IPv6 VTEP 2001:db8::2 (and an IPv4 one, which must not
// matter) on underlay port 1, three tunnel ports.
std::unique_ptr<UnderlaySnapshot> rx_view() {
  auto s = std::make_unique<UnderlaySnapshot>();
  s->generation = 1;
  s->vteps[s->n_vteps++] = {htonl(0x0a000002), 24, kUnderlayOdp};
  s->vteps6[s->n_vteps6++] = {ip6("2001:db8::2"), 64, kUnderlayOdp};
  UnderlayPortInfo& p = s->ports[s->n_ports++];
  p.odp = kUnderlayOdp;
  std::memcpy(p.mac, kRxMac, 6);
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlanOdp, TunnelType::kVxlan, htons(4789), 0};
  s->tunnel_ports[s->n_tunnel_ports++] = {kGeneveOdp, TunnelType::kGeneve, htons(6081), 1};
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlan8472Odp, TunnelType::kVxlan, htons(8472), 2};
  return s;
}

// The sending host: VTEP 2001:db8::1/64 on underlay port 1 (connected
// route), the peer 2001:db8::2 a static neighbour, a default route via
// 2001:db8::fe (no neighbour entry), and port 2, an underlay without an IPv6
// address, that 2001:db8:2::/48 is routed out of.
std::unique_ptr<UnderlaySnapshot> tx_view(uint64_t generation = 1) {
  auto s = std::make_unique<UnderlaySnapshot>();
  s->generation = generation;
  s->vteps6[s->n_vteps6++] = {ip6("2001:db8::1"), 64, kUnderlayOdp};
  s->vteps[s->n_vteps++] = {htonl(0x0a000001), 24, 2};
  for (uint32_t odp : {kUnderlayOdp, 2u}) {
    UnderlayPortInfo& p = s->ports[s->n_ports++];
    p.odp = odp;
    std::memcpy(p.mac, kTxMac, 6);
    p.mtu = 1500;
  }
  s->tunnel_ports[s->n_tunnel_ports++] = {kVxlanOdp, TunnelType::kVxlan, htons(4789), 0};
  s->tunnel_ports[s->n_tunnel_ports++] = {kGeneveOdp, TunnelType::kGeneve, htons(6081), 1};
  Route6 c;
  c.prefix = ip6("2001:db8::");
  c.plen = 64;
  c.odp = kUnderlayOdp;
  c.src = ip6("2001:db8::1");
  c.connected = true;
  EXPECT_EQ(s->routes6.add(c), 0);
  Route6 d;
  d.gateway = ip6("2001:db8::fe");
  d.odp = kUnderlayOdp;
  EXPECT_EQ(s->routes6.add(d), 0);
  Route6 other;
  other.prefix = ip6("2001:db8:2::");
  other.plen = 48;
  other.odp = 2;
  EXPECT_EQ(s->routes6.add(other), 0);
  Neighbour6Entry n;
  n.odp = kUnderlayOdp;
  n.ip = ip6("2001:db8::2");
  std::memcpy(n.mac, kRxMac, 6);
  s->neighbours6.push_back(n);
  return s;
}

TunnelMeta meta6(const char* dst, uint64_t vni, uint16_t flags, uint8_t ttl = 64, uint8_t tos = 0) {
  TunnelMeta t{};
  t.tun_id = rte_cpu_to_be_64(vni);
  const Ip6 d = ip6(dst);
  std::memcpy(t.ipv6_dst, d.data(), 16);
  t.flags = flags | kTunFlagKey;
  t.ttl = ttl;
  t.tos = tos;
  return t;
}

// Frame offsets of the outer headers: IPv6 at 14, UDP at 54, tunnel at 62.
constexpr size_t kIp = 14, kUdp = 54, kTh = 62;

// The UDP checksum of the frame's datagram recomputed, or zeroed.
void fix_udp_csum(Bytes& b) {
  const uint16_t ulen = get16(b, kUdp + 4);
  set16(b, kUdp + 6, 0);
  if (kUdp + ulen > b.size()) return;  // lengths deliberately wrong: leave it 0
  uint32_t sum = csum_add_bytes(0, b.data() + kIp + 8, 32);
  sum += ulen + IPPROTO_UDP;
  sum = csum_add_bytes(sum, b.data() + kUdp, ulen);
  uint16_t c = csum_finish(sum);
  set16(b, kUdp + 6, c == 0 ? 0xffff : c);
}

// The IPv6-underlay tunnel stages on real mbufs (tunnel_fixtures.h).
class TunnelCodec6Test : public TunnelStageTest {};

TEST_F(TunnelCodec6Test, DecapMatchesScapyAndFillsTheIpv6Metadata) {
  auto s = rx_view();
  struct Case {
    const char* fixture;
    uint32_t odp;
    uint64_t vni;
    uint16_t flags;
    uint8_t ttl, tos;
    uint16_t dport;
  } cases[] = {
      {"vxlan6_basic", kVxlanOdp, 42, kTunFlagKey | kTunFlagCsum, 64, 0, 4789},
      {"vxlan6_zero_csum", kVxlanOdp, 42, kTunFlagKey, 64, 0, 4789},
      {"vxlan6_tc", kVxlan8472Odp, 0xabcdef, kTunFlagKey | kTunFlagCsum, 17, 0xb8, 8472},
      {"geneve6_opts", kGeneveOdp, 7, kTunFlagKey | kTunFlagCsum | kTunFlagOam, 64, 0, 6081},
      // Hop-by-hop (Router Alert) and destination options headers, walked.
      {"vxlan6_exthdrs", kVxlanOdp, 42, kTunFlagKey | kTunFlagCsum, 64, 0, 4789},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    const auto f = tunnel_fixture(c.fixture);
    rte_mbuf* m = mbuf_from(f[1]);
    DecapResult r;
    ASSERT_EQ(underlay_classify(*s, s->ports[0], m, &r), UnderlayVerdict::kDecap);
    EXPECT_EQ(bytes_of(m), f[0]);
    EXPECT_EQ(r.tunnel_odp, c.odp);
    EXPECT_EQ(r.tun.tun_id, rte_cpu_to_be_64(c.vni));
    EXPECT_EQ(std::memcmp(r.tun.ipv6_src, ip6("2001:db8::1").data(), 16), 0);
    EXPECT_EQ(std::memcmp(r.tun.ipv6_dst, ip6("2001:db8::2").data(), 16), 0);
    EXPECT_EQ(r.tun.ipv4_src, 0u);
    EXPECT_EQ(r.tun.ipv4_dst, 0u);
    EXPECT_EQ(r.tun.flags, c.flags);
    EXPECT_EQ(r.tun.ttl, c.ttl);
    EXPECT_EQ(r.tun.tos, c.tos);
    EXPECT_EQ(r.tun.tp_src, htons(49152));
    EXPECT_EQ(r.tun.tp_dst, htons(c.dport));
    rte_pktmbuf_free(m);
  }
}

TEST_F(TunnelCodec6Test, BurstHandsOnTheTunnelPortAndMetadata) {
  auto s = rx_view();
  shared_.snapshot.store(s.get());
  const auto f = tunnel_fixture("vxlan6_tc");
  rte_mbuf* pkts[2] = {mbuf_from(f[1]), mbuf_from(f[0])};
  rte_mbuf* dec[2];
  PacketState st[2];
  uint32_t n_dec = 0;
  ASSERT_EQ(tunnel_underlay_rx(*pmd_, shared_, 0, kUnderlayOdp, pkts, 2, dec, st, &n_dec), 1u);
  ASSERT_EQ(n_dec, 1u);
  EXPECT_EQ(st[0].in_port, kVxlan8472Odp);
  EXPECT_EQ(st[0].tun.ttl, 17);
  EXPECT_EQ(std::memcmp(st[0].tun.ipv6_src, ip6("2001:db8::1").data(), 16), 0);
  EXPECT_EQ(pmd_->counters.decap[2].packets.load(), 1u);
  EXPECT_EQ(pmd_->counters.decap[2].bytes.load(), 60u);
  EXPECT_EQ(bytes_of(pkts[0]), f[0]) << "the plain packet stays, untouched";
  rte_pktmbuf_free(pkts[0]);
  rte_pktmbuf_free(dec[0]);
  shared_.snapshot.store(nullptr);
}

TEST_F(TunnelCodec6Test, EncapMatchesScapyByteForByte) {
  auto s = tx_view();
  shared_.snapshot.store(s.get());
  TunnelMeta hlim = meta6("2001:db8::2", 0xabcdef, 0, 17, 0xb8);
  hlim.tp_dst = htons(8472);
  struct Case {
    const char* fixture;
    uint32_t odp;
    uint8_t slot;
    TunnelMeta tun;
  } cases[] = {
      // The UDP checksum is computed over IPv6 with or without flags(csum).
      {"vxlan6_basic", kVxlanOdp, 0, meta6("2001:db8::2", 42, 0)},
      {"vxlan6_basic", kVxlanOdp, 0, meta6("2001:db8::2", 42, kTunFlagCsum | kTunFlagDontFragment)},
      {"vxlan6_hlim", kVxlanOdp, 0, hlim},
      {"geneve6_oam", kGeneveOdp, 1, meta6("2001:db8::2", 42, kTunFlagOam)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    const auto f = tunnel_fixture(c.fixture);
    uint32_t port = 0;
    rte_mbuf* m = encap(f[0], c.odp, c.slot, c.tun, 1000, &port);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(port, kUnderlayOdp);
    EXPECT_EQ(bytes_of(m), f[1]);
    EXPECT_EQ(m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK, 0u);
    rte_pktmbuf_free(m);
  }
  EXPECT_EQ(pmd_->counters.encap[0].packets.load(), 3u);
  EXPECT_EQ(pmd_->counters.encap[1].packets.load(), 1u);
  EXPECT_EQ(pmd_->counters.encap[0].bytes.load(), 3u * 60);
  // One template per (destination, source, tunnel port) and generation.
  EXPECT_EQ(pmd_->counters.template_builds.load(), 2u);
  auto s2 = tx_view(2);
  shared_.snapshot.store(s2.get());
  rte_pktmbuf_free(
      encap(tunnel_fixture("vxlan6_basic")[0], kVxlanOdp, 0, meta6("2001:db8::2", 42, 0)));
  EXPECT_EQ(pmd_->counters.template_builds.load(), 3u) << "a new generation rebuilds";
  shared_.snapshot.store(nullptr);
}

TEST_F(TunnelCodec6Test, EncapThenDecapRoundTripsThroughAnOddSizedFrame) {
  auto tx = tx_view();
  auto rx = rx_view();
  shared_.snapshot.store(tx.get());
  Bytes inner = tunnel_fixture("vxlan6_basic")[0];
  inner.push_back(0x5a);  // odd lengths exercise the checksum tail
  TunnelMeta t = meta6("2001:db8::2", 0x123456, 0, 3, 0x2c);
  rte_mbuf* m = encap(inner, kGeneveOdp, 1, t);
  ASSERT_NE(m, nullptr);
  DecapResult r;
  ASSERT_EQ(underlay_classify(*rx, rx->ports[0], m, &r), UnderlayVerdict::kDecap);
  EXPECT_EQ(bytes_of(m), inner);
  EXPECT_EQ(r.tunnel_odp, kGeneveOdp);
  EXPECT_EQ(r.tun.tun_id, t.tun_id);
  EXPECT_EQ(r.tun.flags, kTunFlagKey | kTunFlagCsum);
  EXPECT_EQ(r.tun.ttl, 3);
  EXPECT_EQ(r.tun.tos, 0x2c);
  EXPECT_EQ(std::memcmp(r.tun.ipv6_src, ip6("2001:db8::1").data(), 16), 0);
  rte_pktmbuf_free(m);
  shared_.snapshot.store(nullptr);
}

TEST_F(TunnelCodec6Test, EncapDropsAreCounted) {
  auto s = tx_view();
  shared_.snapshot.store(s.get());
  const Bytes inner = tunnel_fixture("vxlan6_basic")[0];
  // Via the default route's gateway, which has no neighbour entry: the
  // control thread is told which next hop to solicit, once per interval.
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, meta6("2001:db9::7", 1, 0)), nullptr);
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, meta6("2001:db9::7", 1, 0)), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapNeighbourUnresolved), 2u);
  TunnelEvent ev;
  ASSERT_EQ(rte_ring_sc_dequeue_elem(ring_, &ev, sizeof ev), 0);
  EXPECT_EQ(ev.kind, TunnelEvent::kResolve6);
  EXPECT_EQ(ev.odp, kUnderlayOdp);
  EXPECT_EQ(ev.ip6, ip6("2001:db8::fe"));
  EXPECT_EQ(ev.m, nullptr);
  EXPECT_NE(rte_ring_sc_dequeue_elem(ring_, &ev, sizeof ev), 0) << "one report per 100 ms";
  EXPECT_EQ(pmd_->counters.resolve_events.load(), 1u);
  // Out of a port without an IPv6 VTEP address.
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, meta6("2001:db8:2::7", 1, 0)), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapNoVtep), 1u);
  // A source set(tunnel) asks for is used as given (the template is keyed on it).
  TunnelMeta with_src = meta6("2001:db8::2", 42, 0);
  const Ip6 src = ip6("2001:db8::99");
  std::memcpy(with_src.ipv6_src, src.data(), 16);
  rte_mbuf* m = encap(inner, kVxlanOdp, 0, with_src);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(m, uint8_t*) + kIp + 8, src.data(), 16), 0);
  rte_pktmbuf_free(m);
  // The largest inner frame a 1500-byte MTU carries is 1444 bytes: IPv6,
  // UDP and VXLAN add 56.
  Bytes big = inner;
  big.resize(1444);
  m = encap(big, kVxlanOdp, 0, meta6("2001:db8::2", 42, 0));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(rte_pktmbuf_pkt_len(m), 14u + 1500);
  rte_pktmbuf_free(m);
  big.push_back(0);
  EXPECT_EQ(encap(big, kVxlanOdp, 0, meta6("2001:db8::2", 42, 0)), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapTooBig), 1u);
  // No snapshot: no route.
  shared_.snapshot.store(nullptr);
  EXPECT_EQ(encap(inner, kVxlanOdp, 0, meta6("2001:db8::2", 42, 0)), nullptr);
  EXPECT_EQ(drops(TunnelDrop::kEncapNoRoute), 1u);
}

// tests/data/nd_ns_na.pcap: [0] an NS from 2001:db8::1 for 2001:db8::2
// (to its solicited-node group), [1] the NA 2001:db8::2 answers with.
std::vector<Bytes> nd_frames() {
  std::vector<Packet> pkts;
  EXPECT_TRUE(read_pcap(std::string(DPX_TEST_DATA_DIR) + "/nd_ns_na.pcap", &pkts));
  EXPECT_EQ(pkts.size(), 2u);
  return pkts;
}

TEST_F(TunnelCodec6Test, NeighbourDiscoveryForOurAddressesIsPunted) {
  auto rx = rx_view();  // 2001:db8::2 on port 1, MAC kRxMac
  const auto nd = nd_frames();
  ASSERT_EQ(nd.size(), 2u);
  DecapResult r;
  // The solicitation for 2001:db8::2, to its group MAC and to our MAC.
  Bytes ns = nd[0];
  rte_mbuf* m = mbuf_from(ns);
  EXPECT_EQ(underlay_classify(*rx, rx->ports[0], m, &r), UnderlayVerdict::kPunt);
  rte_pktmbuf_free(m);
  std::memcpy(ns.data(), kRxMac, 6);
  m = mbuf_from(ns);
  EXPECT_EQ(underlay_classify(*rx, rx->ports[0], m, &r), UnderlayVerdict::kPunt);
  rte_pktmbuf_free(m);
  // An advertisement to us (as if 2001:db8::1 answered one of ours).
  auto tx = tx_view();  // 2001:db8::1 on port 1, MAC kTxMac
  m = mbuf_from(nd[1]);
  EXPECT_EQ(underlay_classify(*tx, tx->ports[0], m, &r), UnderlayVerdict::kPunt);
  rte_pktmbuf_free(m);
  // Not ours: a solicitation for another target, one to another group MAC,
  // on a port without the address, an advertisement to someone else.
  m = mbuf_from(nd[0]);
  EXPECT_EQ(underlay_classify(*tx, tx->ports[0], m, &r), UnderlayVerdict::kPlain);
  rte_pktmbuf_free(m);
  ns = nd[0];
  ns[5] = 0x03;
  m = mbuf_from(ns);
  EXPECT_EQ(underlay_classify(*rx, rx->ports[0], m, &r), UnderlayVerdict::kPlain);
  EXPECT_EQ(bytes_of(m), ns);
  rte_pktmbuf_free(m);
  UnderlayPortInfo other = rx->ports[0];
  other.odp = 9;
  m = mbuf_from(nd[0]);
  EXPECT_EQ(underlay_classify(*rx, other, m, &r), UnderlayVerdict::kPlain);
  rte_pktmbuf_free(m);
  m = mbuf_from(nd[1]);
  EXPECT_EQ(underlay_classify(*rx, rx->ports[0], m, &r), UnderlayVerdict::kPlain);
  rte_pktmbuf_free(m);
}

struct Malformed {
  const char* name;
  const char* fixture;
  void (*mutate)(Bytes&);
  TunnelDrop why;
};

const Malformed kMalformed[] = {
    {"payload length past the frame", "vxlan6_zero_csum",
     [](Bytes& b) { set16(b, kIp + 4, static_cast<uint16_t>(get16(b, kIp + 4) + 1)); },
     TunnelDrop::kDecapBadIpLength},
    {"frame cut inside the inner packet", "vxlan6_zero_csum",
     [](Bytes& b) { b.resize(b.size() - 1); }, TunnelDrop::kDecapBadIpLength},
    {"payload length below UDP", "vxlan6_zero_csum", [](Bytes& b) { set16(b, kIp + 4, 7); },
     TunnelDrop::kDecapBadIpLength},
    {"payload length 0 (jumbogram without its option)", "vxlan6_zero_csum",
     [](Bytes& b) { set16(b, kIp + 4, 0); }, TunnelDrop::kDecapBadIpLength},
    {"UDP length past the payload", "vxlan6_zero_csum",
     [](Bytes& b) { set16(b, kUdp + 4, static_cast<uint16_t>(get16(b, kUdp + 4) + 1)); },
     TunnelDrop::kDecapBadUdpLength},
    {"UDP length below its header", "vxlan6_zero_csum", [](Bytes& b) { set16(b, kUdp + 4, 7); },
     TunnelDrop::kDecapBadUdpLength},
    {"VXLAN header cut short", "vxlan6_zero_csum",
     [](Bytes& b) {
       b.resize(kTh + 4);
       set16(b, kIp + 4, 12);
       set16(b, kUdp + 4, 12);
     },
     TunnelDrop::kDecapTruncated},
    {"wrong UDP checksum", "vxlan6_basic", [](Bytes& b) { b[b.size() - 1] ^= 0xff; },
     TunnelDrop::kDecapBadUdpChecksum},
    {"UDP checksum of the wrong source address", "vxlan6_basic",
     [](Bytes& b) { b[kIp + 8 + 15] ^= 0x01; }, TunnelDrop::kDecapBadUdpChecksum},
    {"VXLAN without the I flag", "vxlan6_basic",
     [](Bytes& b) {
       b[kTh] = 0;
       fix_udp_csum(b);
     },
     TunnelDrop::kVxlanNoIFlag},
    {"VXLAN reserved byte after the VNI", "vxlan6_zero_csum", [](Bytes& b) { b[kTh + 7] = 1; },
     TunnelDrop::kVxlanReservedBits},
    {"Geneve version 1", "geneve6_opts",
     [](Bytes& b) {
       b[kTh] |= 0x40;
       fix_udp_csum(b);
     },
     TunnelDrop::kGeneveBadVersion},
    {"Geneve options that do not add up", "geneve6_opts",
     [](Bytes& b) {
       b[kTh + 11] = 0x02;
       fix_udp_csum(b);
     },
     TunnelDrop::kGeneveBadOptionLength},
    {"inner frame shorter than Ethernet", "vxlan6_zero_csum",
     [](Bytes& b) {
       b.resize(kTh + 8 + 13);
       set16(b, kIp + 4, 8 + 8 + 13);
       set16(b, kUdp + 4, 8 + 8 + 13);
     },
     TunnelDrop::kDecapInnerRunt},
    {"hop-by-hop options header", "vxlan6_zero_csum", [](Bytes& b) { b[kIp + 6] = 0; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"fragment header", "vxlan6_zero_csum", [](Bytes& b) { b[kIp + 6] = 44; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"routing header", "vxlan6_zero_csum", [](Bytes& b) { b[kIp + 6] = 43; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"destination options header", "vxlan6_zero_csum", [](Bytes& b) { b[kIp + 6] = 60; },
     TunnelDrop::kDecapIpv6ExtHeader},
    // vxlan6_exthdrs: hop-by-hop at 54 (next 60, Router Alert at 56),
    // destination options at 62 (next UDP), UDP at 70.
    {"hop-by-hop option to discard if unknown", "vxlan6_exthdrs", [](Bytes& b) { b[56] = 0xc5; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"hop-by-hop header after the first", "vxlan6_exthdrs", [](Bytes& b) { b[54] = 0; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"fragment header after destination options", "vxlan6_exthdrs", [](Bytes& b) { b[62] = 44; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"option running past its header", "vxlan6_exthdrs", [](Bytes& b) { b[65] = 5; },
     TunnelDrop::kDecapIpv6ExtHeader},
    {"payload length inside the extension headers", "vxlan6_exthdrs",
     [](Bytes& b) { set16(b, kIp + 4, 12); }, TunnelDrop::kDecapBadIpLength},
};

TEST_F(TunnelCodec6Test, MalformedIpv6TunnelPacketsAreDroppedAndCountedByReason) {
  auto s = rx_view();
  shared_.snapshot.store(s.get());
  std::array<uint64_t, kTunnelDropCount> expected{};
  for (const Malformed& c : kMalformed) {
    SCOPED_TRACE(c.name);
    Bytes b = tunnel_fixture(c.fixture)[1];
    c.mutate(b);
    rte_mbuf* pkts[1] = {mbuf_from(b)};
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
  // Every decap reason except the IPv4-only ones (header checksum,
  // fragment flags) is exercised over IPv6.
  for (size_t i = 0; i <= static_cast<size_t>(TunnelDrop::kDecapIpv6ExtHeader); ++i) {
    const auto d = static_cast<TunnelDrop>(i);
    if (d == TunnelDrop::kDecapBadIpChecksum || d == TunnelDrop::kDecapIpFragment ||
        d == TunnelDrop::kGeneveBadProtocol || d == TunnelDrop::kArpPuntQueueFull)
      continue;
    if (i > static_cast<size_t>(TunnelDrop::kDecapInnerRunt) &&
        d != TunnelDrop::kDecapIpv6ExtHeader)
      continue;
    EXPECT_GT(expected[i], 0u) << tunnel_drop_name(d);
  }
  shared_.snapshot.store(nullptr);
}

TEST_F(TunnelCodec6Test, OtherIpv6TrafficOnTheUnderlayIsLeftAlone) {
  auto s = rx_view();
  const Bytes good = tunnel_fixture("vxlan6_basic")[1];
  struct Case {
    const char* name;
    void (*mutate)(Bytes&);
  } cases[] = {
      {"another UDP port", [](Bytes& b) { set16(b, kUdp + 2, 4790); }},
      {"not a local VTEP", [](Bytes& b) { b[kIp + 24 + 15] = 9; }},
      {"another destination MAC", [](Bytes& b) { b[5] = 0x03; }},
      {"TCP, not UDP", [](Bytes& b) { b[kIp + 6] = 6; }},
      {"ICMPv6 to our VTEP", [](Bytes& b) { b[kIp + 6] = 58; }},
      {"extension header to another address",
       [](Bytes& b) {
         b[kIp + 6] = 0;
         b[kIp + 24 + 15] = 9;
       }},
      {"IP version 4 in an IPv6 frame", [](Bytes& b) { b[kIp] = 0x40; }},
      {"IPv6 header cut off", [](Bytes& b) { b.resize(kIp + 39); }},
      {"UDP header cut off", [](Bytes& b) { b.resize(kUdp + 4); }},
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
  // Without an IPv6 VTEP address, a valid IPv6 tunnel packet is plain too.
  auto v4only = rx_view();
  v4only->n_vteps6 = 0;
  rte_mbuf* m = mbuf_from(good);
  DecapResult r;
  EXPECT_EQ(underlay_classify(*v4only, v4only->ports[0], m, &r), UnderlayVerdict::kPlain);
  rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace dpx::test
