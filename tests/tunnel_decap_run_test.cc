// Decapsulation in runs (tunnel_decap.h, DecapRun) on real mbufs: runs
// broken by another tunnel and not by a bad packet inside them, every
// packet keeping its outer UDP source port; and random variants of tunnel
// frames, each after a good one, classified exactly as on their own, so
// that the run's shortcut for the outer headers never accepts what full
// classification would not. (Malformed packets inside a run, by reason:
// tunnel_codec_test.cc.)
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it

#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "eal_env.h"
#include "support/pcap_file.h"
#include "support/tunnel_fixtures.h"
#include "support/tunnel_hosts.h"
#include "tunnel_decap.h"

namespace dpx::test {
namespace {

using Bytes = Packet;

class TunnelDecapRunTest : public TunnelStageTest {};

// `b` (an outer VXLAN frame without a UDP checksum) with another UDP source
// port and VNI: neither is in the IPv4 header, whose checksum stays right.
Bytes vxlan_variant(Bytes b, uint16_t sport, uint32_t vni) {
  set16(b, 34, sport);
  b[46] = static_cast<uint8_t>(vni >> 16);
  b[47] = static_cast<uint8_t>(vni >> 8);
  b[48] = static_cast<uint8_t>(vni);
  return b;
}

TEST_F(TunnelDecapRunTest, DecapRunsBreakOnAnotherTunnelAndKeepEachSourcePort) {
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(s.get());
  const Bytes inner = tunnel_fixture("vxlan_basic")[0];
  const Bytes vx = tunnel_fixture("vxlan_basic")[1];
  const Bytes gopts = tunnel_fixture("geneve_opts")[1];
  Bytes bad_ck = vxlan_variant(vx, 1004, 42);
  bad_ck[25] ^= 0x01;
  Bytes other_ttl = vxlan_variant(vx, 1005, 42);  // another TTL (TunnelMeta.ttl): another run
  other_ttl[22] = 17;
  fix_ip_csum(other_ttl);
  const Bytes csum = tunnel_fixture("vxlan_csum")[1];  // flags csum: another run
  const std::vector<Bytes> in = {vxlan_variant(vx, 1000, 42),
                                 vxlan_variant(vx, 1001, 42),
                                 vxlan_variant(vx, 1002, 43),
                                 vxlan_variant(vx, 1003, 42),
                                 bad_ck,
                                 vxlan_variant(vx, 1006, 42),
                                 other_ttl,
                                 csum,
                                 gopts,
                                 gopts,
                                 vxlan_variant(vx, 1007, 42)};
  rte_mbuf* pkts[16];
  rte_mbuf* dec[16];
  uint16_t tp_src[16];
  DecapRun runs[16];
  for (size_t i = 0; i < in.size(); ++i) pkts[i] = mbuf_from(in[i]);
  uint32_t n_runs = 0;
  ASSERT_EQ(tunnel_underlay_rx_runs(*pmd_, shared_, 0, kUnderlayOdp, pkts,
                                    static_cast<uint32_t>(in.size()), dec, tp_src, runs, &n_runs),
            0u);
  // The packet with the bad checksum is dropped without breaking its run;
  // another VNI, TTL or flag set breaks it; Geneve packets with options are
  // runs of their own.
  struct Want {
    uint32_t first, n, odp;
    uint32_t vni;
    uint8_t ttl;
    uint16_t flags;
  };
  const Want want[] = {
      {0, 2, kVxlanOdp, 42, 64, kTunFlagKey},
      {2, 1, kVxlanOdp, 43, 64, kTunFlagKey},
      {3, 2, kVxlanOdp, 42, 64, kTunFlagKey},
      {5, 1, kVxlanOdp, 42, 17, kTunFlagKey},
      {6, 1, kVxlanOdp, 42, 64, kTunFlagKey | kTunFlagCsum},
      {7, 1, kGeneveOdp, 7, 64, kTunFlagKey},
      {8, 1, kGeneveOdp, 7, 64, kTunFlagKey},
      {9, 1, kVxlanOdp, 42, 64, kTunFlagKey},
  };
  ASSERT_EQ(n_runs, std::size(want));
  for (uint32_t r = 0; r < n_runs; ++r) {
    SCOPED_TRACE(r);
    EXPECT_EQ(runs[r].first, want[r].first);
    EXPECT_EQ(runs[r].n, want[r].n);
    EXPECT_EQ(runs[r].tunnel_odp, want[r].odp);
    EXPECT_EQ(runs[r].tun.tun_id, rte_cpu_to_be_64(want[r].vni));
    EXPECT_EQ(runs[r].tun.ttl, want[r].ttl);
    EXPECT_EQ(runs[r].tun.flags, want[r].flags);
    EXPECT_EQ(runs[r].tun.ipv4_src, ip4("10.0.0.1"));
    EXPECT_EQ(runs[r].tun.opts_len, want[r].odp == kGeneveOdp ? 20 : 0);  // the fixture's options
  }
  // Each Geneve run's options are its own packet's.
  EXPECT_NE(runs[5].tun.opts, runs[6].tun.opts);
  const uint16_t want_sport[] = {1000, 1001, 1002, 1003, 1006, 1005};
  for (uint32_t i = 0; i < std::size(want_sport); ++i)
    EXPECT_EQ(tp_src[i], htons(want_sport[i])) << i;
  EXPECT_EQ(tp_src[9], htons(1007));
  const Bytes csum_inner = tunnel_fixture("vxlan_csum")[0];
  const Bytes gopts_inner = tunnel_fixture("geneve_opts")[0];
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_EQ(bytes_of(dec[i]), i == 6 ? csum_inner : i == 7 || i == 8 ? gopts_inner : inner) << i;
    rte_pktmbuf_free(dec[i]);
  }
  EXPECT_EQ(pmd_->counters.drops_of(TunnelDrop::kDecapBadIpChecksum), 1u);
  EXPECT_EQ(pmd_->counters.decap[0].packets.load(), 8u);
  EXPECT_EQ(pmd_->counters.decap[1].packets.load(), 2u);

  // The burst stage with states spelled out gives each packet its own
  // source port and the rest of its run's metadata.
  for (size_t i = 0; i < in.size(); ++i) pkts[i] = mbuf_from(in[i]);
  PacketState st[16];
  uint32_t n_dec = 0;
  ASSERT_EQ(tunnel_underlay_rx(*pmd_, shared_, 0, kUnderlayOdp, pkts,
                               static_cast<uint32_t>(in.size()), dec, st, &n_dec),
            0u);
  ASSERT_EQ(n_dec, 10u);
  for (uint32_t i = 0; i < n_dec; ++i) {
    EXPECT_EQ(st[i].tun.tp_src, tp_src[i]) << i;
    EXPECT_EQ(st[i].in_port, i == 7 || i == 8 ? kGeneveOdp : kVxlanOdp) << i;
    EXPECT_EQ(st[i].tun.tun_id, rte_cpu_to_be_64(i == 2 ? 43 : i == 7 || i == 8 ? 7 : 42)) << i;
    rte_pktmbuf_free(dec[i]);
  }
}

// A packet after one whose outer headers it may share (the run's) is
// classified exactly as on its own: random variants of VXLAN and Geneve
// frames (bytes flipped, mostly in the outer headers, lengths cut, the IPv4
// checksum fixed or not), each after a good frame, get the verdict, drop
// reason, inner bytes and metadata underlay_classify() gives them alone.
TEST_F(TunnelDecapRunTest, RunMembersAreClassifiedAsOnTheirOwn) {
  auto s = host_view("10.0.0.2", kNhMac, nullptr, nullptr);
  publish(s.get());
  std::mt19937 rng(5);
  uint32_t joined = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const char* fx = iter % 3 == 2 ? "geneve_basic" : "vxlan_basic";
    const Bytes good = tunnel_fixture(fx)[1];
    Bytes v = good;
    const int flips = static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      const size_t at = rng() % 2 ? rng() % 50 : rng() % v.size();
      v[at] = rng() % 4 ? static_cast<uint8_t>(v[at] ^ (1u << (rng() % 8)))
                        : static_cast<uint8_t>(rng());
    }
    if (rng() % 8 == 0) v.resize(1 + rng() % v.size());  // bytes_of() needs a byte
    if (v.size() >= 34 && rng() % 2) fix_ip_csum(v);
    SCOPED_TRACE(hex_of(v));
    // Alone.
    rte_mbuf* alone = mbuf_from(v);
    DecapResult want;
    const UnderlayVerdict verdict = underlay_classify(*s, s->ports[0], alone, &want);
    // After a good frame.
    pmd_->counters.reset();
    rte_mbuf* pkts[2] = {mbuf_from(good), mbuf_from(v)};
    rte_mbuf* dec[2];
    uint16_t tp_src[2];
    DecapRun runs[2];
    uint32_t n_runs = 0;
    const uint32_t n_plain = tunnel_underlay_rx_runs(*pmd_, shared_, 0, kUnderlayOdp, pkts, 2, dec,
                                                     tp_src, runs, &n_runs);
    ASSERT_GE(n_runs, 1u);
    const uint32_t n_dec = runs[n_runs - 1].first + runs[n_runs - 1].n;
    switch (verdict) {
      case UnderlayVerdict::kDecap: {
        ASSERT_EQ(n_dec, 2u);
        ASSERT_EQ(n_plain, 0u);
        EXPECT_EQ(bytes_of(dec[1]), bytes_of(alone));
        EXPECT_EQ(tp_src[1], want.tun.tp_src);
        const DecapRun& r = runs[n_runs - 1];
        EXPECT_EQ(r.tunnel_odp, want.tunnel_odp);
        TunnelMeta got = r.tun;
        got.tp_src = want.tun.tp_src;
        EXPECT_EQ(std::memcmp(&got, &want.tun, kTunnelMetaKeyBytes), 0);
        EXPECT_EQ(got.opts_len, want.tun.opts_len);
        joined += n_runs == 1;
        break;
      }
      case UnderlayVerdict::kDrop:
        EXPECT_EQ(n_dec, 1u);
        EXPECT_EQ(pmd_->counters.drops_of(want.why), 1u);
        break;
      case UnderlayVerdict::kPlain:
        EXPECT_EQ(n_dec, 1u);
        ASSERT_EQ(n_plain, 1u);
        EXPECT_EQ(bytes_of(pkts[0]), v);
        rte_pktmbuf_free(pkts[0]);
        break;
      case UnderlayVerdict::kPunt:
        ADD_FAILURE() << "a tunnel frame variant punted";
        break;
    }
    for (uint32_t i = 0; i < n_dec; ++i) rte_pktmbuf_free(dec[i]);
    rte_pktmbuf_free(alone);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(joined, 5000u);  // the run's shortcut was really taken
}

}  // namespace
}  // namespace dpx::test
