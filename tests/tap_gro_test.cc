// tap_gro_merge() (datapath/tap_gro.h) on real mbufs through DPDK's rte_gro:
// consecutive ACK-only TCP/IPv4 segments of one connection become one TSO
// frame with the exact payload bytes, a valid IPv4 header and the offload
// fields the tap's virtio-net header is made from; everything else (other
// connections, UDP, PSH/FIN/RST, pure ACKs, IPv6, fragments, VLAN, chained
// or shared mbufs) passes unchanged and in place. Every test checks that the
// pool gets all its mbufs back.
#include "tap_gro.h"

#include <gtest/gtest.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <cstring>
#include <vector>

#include "eal_env.h"

namespace dpx::test {
namespace {

constexpr uint32_t kIsn = 1000;
constexpr uint16_t kMss = 1448;

// The stream's byte at sequence number `seq`: frames are checked byte by
// byte against it.
uint8_t stream_byte(uint32_t seq) { return static_cast<uint8_t>(seq * 7 + (seq >> 8)); }

struct Seg {
  uint16_t sport = 40000;
  uint32_t seq = kIsn;
  uint16_t len = kMss;
  uint8_t flags = RTE_TCP_ACK_FLAG;
  uint16_t ip_id = 0;
  bool df = true;
  uint16_t ether_type = RTE_ETHER_TYPE_IPV4;
  uint8_t proto = IPPROTO_TCP;
  uint16_t frag = 0;  // fragment_offset field, host order, without DF
};

class TapGroTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = test_pool();
    ASSERT_NE(pool_, nullptr);
    avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override { EXPECT_EQ(rte_mempool_avail_count(pool_), avail_) << "mbufs leaked"; }

  rte_mbuf* make(const Seg& s) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    EXPECT_NE(m, nullptr);
    const bool vlan = s.ether_type == RTE_ETHER_TYPE_VLAN;
    const uint32_t l2 = sizeof(rte_ether_hdr) + (vlan ? 4 : 0);
    const uint32_t l4 = s.proto == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr);
    const uint32_t total = l2 + sizeof(rte_ipv4_hdr) + l4 + s.len;
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(total)));
    std::memset(p, 0, total);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
    eth->dst_addr.addr_bytes[0] = 0x02;
    eth->src_addr.addr_bytes[0] = 0x04;
    eth->ether_type = rte_cpu_to_be_16(s.ether_type);
    if (vlan) {
      p[14] = 0;
      p[15] = 5;
      p[16] = 0x08;
      p[17] = 0x00;
    }
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + l2);
    ip->version_ihl = 0x45;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof *ip + l4 + s.len));
    ip->packet_id = rte_cpu_to_be_16(s.ip_id);
    ip->fragment_offset = rte_cpu_to_be_16(static_cast<uint16_t>((s.df ? 0x4000 : 0) | s.frag));
    ip->time_to_live = 64;
    ip->next_proto_id = s.proto;
    ip->src_addr = rte_cpu_to_be_32(0x0a000001);
    ip->dst_addr = rte_cpu_to_be_32(0x0a000002);
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    uint8_t* payload = p + l2 + sizeof *ip + l4;
    if (s.proto == IPPROTO_TCP) {
      auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
      tcp->src_port = rte_cpu_to_be_16(s.sport);
      tcp->dst_port = rte_cpu_to_be_16(5201);
      tcp->sent_seq = rte_cpu_to_be_32(s.seq);
      tcp->recv_ack = rte_cpu_to_be_32(77);
      tcp->data_off = 5 << 4;
      tcp->tcp_flags = s.flags;
      tcp->rx_win = rte_cpu_to_be_16(512);
    } else {
      auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
      udp->src_port = rte_cpu_to_be_16(s.sport);
      udp->dst_port = rte_cpu_to_be_16(5201);
      udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(l4 + s.len));
    }
    for (uint32_t i = 0; i < s.len; ++i) payload[i] = stream_byte(s.seq + i);
    return m;
  }

  // A copy of m's bytes, to check that a packet passed unchanged.
  static std::vector<uint8_t> bytes(const rte_mbuf* m) {
    std::vector<uint8_t> v(m->pkt_len);
    const auto* d = rte_pktmbuf_read(m, 0, m->pkt_len, v.data());
    if (d != v.data()) std::memcpy(v.data(), d, v.size());
    return v;
  }

  // Checks that m is a merged TSO frame of the connection from `sport`
  // carrying the stream bytes [seq, seq + len) in `segs` segments.
  static void expect_frame(rte_mbuf* m, uint16_t sport, uint32_t seq, uint32_t len, uint16_t segs) {
    const std::vector<uint8_t> b = bytes(m);
    constexpr uint32_t hdr = 14 + 20 + 20;
    ASSERT_EQ(b.size(), hdr + len);
    EXPECT_EQ(m->nb_segs, segs);
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(b.data() + 14);
    EXPECT_EQ(rte_be_to_cpu_16(ip->total_length), 20 + 20 + len);
    rte_ipv4_hdr zeroed = *ip;
    zeroed.hdr_checksum = 0;
    EXPECT_EQ(rte_ipv4_cksum(&zeroed), ip->hdr_checksum) << "IPv4 header checksum redone";
    const auto* tcp = reinterpret_cast<const rte_tcp_hdr*>(ip + 1);
    EXPECT_EQ(rte_be_to_cpu_16(tcp->src_port), sport);
    EXPECT_EQ(rte_be_to_cpu_32(tcp->sent_seq), seq);
    EXPECT_EQ(tcp->tcp_flags, RTE_TCP_ACK_FLAG);
    for (uint32_t i = 0; i < len; ++i)
      ASSERT_EQ(b[hdr + i], stream_byte(seq + i)) << "payload byte " << i;
    if (segs > 1) {
      EXPECT_EQ(m->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_L4_MASK),
                RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM);
      EXPECT_EQ(m->tso_segsz, kMss);
      EXPECT_EQ(m->l2_len, 14u);
      EXPECT_EQ(m->l3_len, 20u);
      EXPECT_EQ(m->l4_len, 20u);
    } else {
      EXPECT_FALSE(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) << "a lone segment stays a segment";
    }
  }

  static void free_all(rte_mbuf** pkts, uint16_t n) { rte_pktmbuf_free_bulk(pkts, n); }

  rte_mempool* pool_ = nullptr;
  unsigned avail_ = 0;
};

TEST_F(TapGroTest, InOrderSegmentsOfOneConnectionBecomeOneTsoFrame) {
  rte_mbuf* pkts[10];
  for (uint32_t i = 0; i < 10; ++i) pkts[i] = make({.seq = kIsn + i * kMss});
  // As a tap rx with the checksum left to the kernel would hand them over.
  pkts[3]->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_IPV4;
  TapGroCounts c;
  ASSERT_EQ(tap_gro_merge(pkts, 10, &c), 1);
  expect_frame(pkts[0], 40000, kIsn, 10u * kMss, 10);
  EXPECT_EQ(c.frames, 1u);
  EXPECT_EQ(c.segments, 10u);
  free_all(pkts, 1);
}

TEST_F(TapGroTest, FramesStopAtTheIpv4LengthLimit) {
  // 50 segments are 72,400 bytes: more than one IPv4 packet can hold.
  constexpr uint16_t n = 50;
  rte_mbuf* pkts[n];
  for (uint32_t i = 0; i < n; ++i) pkts[i] = make({.seq = kIsn + i * kMss});
  TapGroCounts c;
  const uint16_t out = tap_gro_merge(pkts, n, &c);
  ASSERT_EQ(out, 2);
  const uint16_t first = static_cast<uint16_t>(pkts[0]->nb_segs);
  EXPECT_LE(pkts[0]->pkt_len - 14, 65535u);
  expect_frame(pkts[0], 40000, kIsn, first * kMss, first);
  expect_frame(pkts[1], 40000, kIsn + first * kMss, (n - first) * kMss,
               static_cast<uint16_t>(n - first));
  EXPECT_EQ(c.segments, n);
  free_all(pkts, out);
}

TEST_F(TapGroTest, ConnectionsNeverMergeWithEachOther) {
  rte_mbuf* pkts[6];
  for (uint32_t i = 0; i < 3; ++i) {
    pkts[2 * i] = make({.sport = 40000, .seq = kIsn + i * kMss});
    pkts[2 * i + 1] = make({.sport = 40001, .seq = kIsn + i * kMss});
  }
  TapGroCounts c;
  ASSERT_EQ(tap_gro_merge(pkts, 6, &c), 2);
  const bool a_first =
      rte_be_to_cpu_16(rte_pktmbuf_mtod_offset(pkts[0], rte_tcp_hdr*, 34)->src_port) == 40000;
  expect_frame(pkts[a_first ? 0 : 1], 40000, kIsn, 3u * kMss, 3);
  expect_frame(pkts[a_first ? 1 : 0], 40001, kIsn, 3u * kMss, 3);
  EXPECT_EQ(c.frames, 2u);
  EXPECT_EQ(c.segments, 6u);
  free_all(pkts, 2);
}

TEST_F(TapGroTest, OutOfOrderSegmentsMergeOnlyWhereContiguous) {
  // 1 3 2: 2 joins 1 (after it), 3 stays alone (rte_gro does not join two
  // frames it built). Then 6 5: 5 goes in front of 6. Each frame is in
  // sequence order, whatever order its segments came in.
  const uint32_t order[] = {1, 3, 2, 6, 5};
  rte_mbuf* pkts[5];
  for (int i = 0; i < 5; ++i) pkts[i] = make({.seq = kIsn + order[i] * kMss});
  TapGroCounts c;
  ASSERT_EQ(tap_gro_merge(pkts, 5, &c), 3);
  expect_frame(pkts[0], 40000, kIsn + 1 * kMss, 2u * kMss, 2);
  expect_frame(pkts[1], 40000, kIsn + 3 * kMss, kMss, 1);
  expect_frame(pkts[2], 40000, kIsn + 5 * kMss, 2u * kMss, 2);
  EXPECT_EQ(c.frames, 2u);
  EXPECT_EQ(c.segments, 4u);
  free_all(pkts, 3);
}

TEST_F(TapGroTest, OtherPacketsPassUnchangedAndStayInPlace) {
  std::vector<rte_mbuf*> in = {
      make({.seq = kIsn}),                                    // 0 merges with 1
      make({.seq = kIsn + kMss}),                             // 1
      make({.sport = 53, .len = 100, .proto = IPPROTO_UDP}),  // 2 UDP
      make({.seq = kIsn + 2 * kMss}),                         // 3 alone: UDP before, PSH after
      make({.seq = kIsn + 3 * kMss, .flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG}),  // 4
      make({.seq = kIsn + 4 * kMss}),            // 5 merges with 6
      make({.seq = kIsn + 5 * kMss}),            // 6
      make({.seq = kIsn + 6 * kMss, .len = 0}),  // 7 pure ACK
      make({.seq = kIsn + 6 * kMss, .len = 10, .flags = RTE_TCP_ACK_FLAG | RTE_TCP_FIN_FLAG}),
      make({.seq = kIsn + 7 * kMss, .flags = RTE_TCP_RST_FLAG}),           // 9
      make({.seq = kIsn + 8 * kMss, .frag = 0x2000}),                      // 10 MF: a fragment
      make({.seq = kIsn + 9 * kMss, .ether_type = RTE_ETHER_TYPE_VLAN}),   // 11 tagged
      make({.seq = kIsn + 10 * kMss, .ether_type = RTE_ETHER_TYPE_VLAN}),  // 12 tagged
  };
  // 13, 14: shared (a clone's data) and chained mbufs are not merged either.
  rte_mbuf* shared = make({.seq = kIsn + 11 * kMss});
  rte_mbuf_refcnt_update(shared, 1);
  in.push_back(shared);
  rte_mbuf* chained = make({.seq = kIsn + 12 * kMss});
  rte_mbuf* tail = rte_pktmbuf_alloc(pool_);
  ASSERT_EQ(rte_pktmbuf_chain(chained, tail), 0);
  in.push_back(chained);
  in.push_back(make({.seq = kIsn + 13 * kMss}));  // 15: alone after the chained one

  std::vector<std::vector<uint8_t>> before;
  for (rte_mbuf* m : in) before.push_back(bytes(m));
  std::vector<rte_mbuf*> pkts = in;
  TapGroCounts c;
  const uint16_t out = tap_gro_merge(pkts.data(), static_cast<uint16_t>(pkts.size()), &c);
  ASSERT_EQ(out, in.size() - 2);
  expect_frame(pkts[0], 40000, kIsn, 2u * kMss, 2);
  expect_frame(pkts[4], 40000, kIsn + 4 * kMss, 2u * kMss, 2);
  // Everything else: the same mbuf, same bytes, same order.
  const std::vector<size_t> kept = {2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const std::vector<size_t> at = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  for (size_t k = 0; k < kept.size(); ++k) {
    ASSERT_EQ(pkts[at[k]], in[kept[k]]) << "packet " << kept[k] << " moved";
    EXPECT_EQ(bytes(pkts[at[k]]), before[kept[k]]) << "packet " << kept[k] << " changed";
    EXPECT_FALSE(pkts[at[k]]->ol_flags & RTE_MBUF_F_TX_TCP_SEG);
  }
  EXPECT_EQ(c.frames, 2u);
  EXPECT_EQ(c.segments, 4u);
  rte_pktmbuf_free(shared);  // the extra reference
  free_all(pkts.data(), out);
}

TEST_F(TapGroTest, NonAtomicSegmentsNeedConsecutiveIpIds) {
  // Without DF, rte_gro merges only segments whose IP IDs follow each other.
  rte_mbuf* pkts[4] = {make({.seq = kIsn, .ip_id = 1, .df = false}),
                       make({.seq = kIsn + kMss, .ip_id = 2, .df = false}),
                       make({.seq = kIsn + 2 * kMss, .ip_id = 9, .df = false}),
                       make({.seq = kIsn + 3 * kMss, .ip_id = 10, .df = false})};
  TapGroCounts c;
  ASSERT_EQ(tap_gro_merge(pkts, 4, &c), 2);
  expect_frame(pkts[0], 40000, kIsn, 2u * kMss, 2);
  expect_frame(pkts[1], 40000, kIsn + 2 * kMss, 2u * kMss, 2);
  free_all(pkts, 2);
}

TEST_F(TapGroTest, SingleAndEmptyBurstsAreUntouched) {
  TapGroCounts c;
  EXPECT_EQ(tap_gro_merge(nullptr, 0, &c), 0);
  rte_mbuf* one = make({});
  EXPECT_EQ(tap_gro_merge(&one, 1, &c), 1);
  expect_frame(one, 40000, kIsn, kMss, 1);
  EXPECT_EQ(c.frames, 0u);
  rte_pktmbuf_free(one);
}

}  // namespace
}  // namespace dpx::test
