// Software TCP/IPv6 segmentation and checksum completion (offload.h) of
// packets with IPv6 extension headers between the IPv6 header and TCP or
// UDP, byte for byte against packets scapy built on its own
// (tests/data/gen_tso6_fixtures.py writes tests/data/tso6_*.pcap,
// csum6_*.pcap and refused6.pcap): every segment's headers, payload share,
// sequence number, IPv6 payload length, flags and checksum, whose
// pseudo-header takes a routing header's final destination. Headers the
// segmenter cannot handle are refused with their drop reasons, fragments
// with their own. Part of the offload_test binary.
#include <gtest/gtest.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ip.h>
#include <rte_tcp.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "eal_env.h"
#include "offload.h"
#include "support/checksum.h"
#include "support/mbuf_chain.h"
#include "support/pcap_file.h"

namespace dpx {
namespace {

using test::Packet;

constexpr uint32_t kL2 = 14;
constexpr uint32_t kTcpHdr = 32;  // the fixtures' TCP header: 20 + NOP NOP timestamp
constexpr uint32_t kTsoPayload = 3500, kMss = 1000;  // gen_tso6_fixtures.py's

std::vector<Packet> fixture(const std::string& name) {
  std::vector<Packet> v;
  EXPECT_TRUE(test::read_pcap(std::string(DPX_TEST_DATA_DIR) + "/" + name, &v)) << name;
  return v;
}

Packet bytes_of(const rte_mbuf* m) {
  Packet b(m->pkt_len);
  const void* d = rte_pktmbuf_read(m, 0, m->pkt_len, b.data());
  if (d != b.data()) std::memcpy(b.data(), d, m->pkt_len);
  return b;
}

// Where the first difference is, for a readable failure.
std::string diff_at(const Packet& got, const Packet& want) {
  if (got == want) return "";
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return "differs at byte " + std::to_string(i) + " (sizes " + std::to_string(got.size()) +
         " and " + std::to_string(want.size()) + ")";
}

class OffloadExt6Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = test::test_pool();
    static rte_mempool* ind = offload_indirect_pool("dpx_test_ind6", 1024, SOCKET_ID_ANY);
    indirect_ = ind;
  }
  void SetUp() override {
    ASSERT_NE(pool_, nullptr);
    ASSERT_NE(indirect_, nullptr);
    avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override {
    EXPECT_EQ(rte_mempool_avail_count(pool_), avail_) << "packet mbufs leaked";
  }

  // A chain of buffers of at most `seg` bytes holding `b` (the headers in
  // the first), as the tap port's rx makes them.
  rte_mbuf* chain(const Packet& b, uint32_t seg = 1024) { return test::mbuf_chain(pool_, b, seg); }

  // A TSO request on m, as the tap port's rx sets one.
  static rte_mbuf* as_tso6(rte_mbuf* m, uint32_t l3, uint16_t mss) {
    m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
    m->l2_len = kL2;
    m->l3_len = l3;
    m->l4_len = kTcpHdr;
    m->tso_segsz = mss;
    return m;
  }

  static inline rte_mempool* pool_ = nullptr;
  static inline rte_mempool* indirect_ = nullptr;
  unsigned avail_ = 0;
};

struct TsoCase {
  const char* file;
  uint32_t ext_len;  // the extension headers' bytes (so l3_len = 40 + ext_len)
};

class SegmentsWithExtensionHeaders : public OffloadExt6Test,
                                     public ::testing::WithParamInterface<TsoCase> {};

// The TSO frame cut for a port without offloads: the segments are scapy's,
// byte for byte (headers copied with their extension headers, payload
// lengths, sequence numbers, flags, checksums over the final destination).
// For a port with TCP checksum offload the checksum is left as the
// pseudo-header sum with the segment's TCP length, which completing in
// software then turns into scapy's checksum.
TEST_P(SegmentsWithExtensionHeaders, ByteForByteAsScapy) {
  const TsoCase c = GetParam();
  const std::vector<Packet> f = fixture(c.file);
  const uint32_t n_want = (kTsoPayload + kMss - 1) / kMss;
  ASSERT_EQ(f.size(), 1 + n_want);
  const uint32_t l3 = 40 + c.ext_len;
  ASSERT_EQ(f[0].size(), kL2 + l3 + kTcpHdr + kTsoPayload) << "fixture and table disagree";

  for (const uint64_t capa : {uint64_t{0}, uint64_t{RTE_ETH_TX_OFFLOAD_TCP_CKSUM}}) {
    SCOPED_TRACE(capa ? "port with TCP checksum offload" : "port without offloads");
    rte_mbuf* m = as_tso6(chain(f[0]), l3, kMss);
    ASSERT_GT(m->nb_segs, 1);
    ASSERT_TRUE(offload_needed(m, capa));
    SwOffload sw(pool_, indirect_);
    rte_mbuf* out[kMaxGsoSegments];
    uint32_t n = 0;
    ASSERT_EQ(sw.complete(m, capa, out, &n), PmdDrop::kCount);
    ASSERT_EQ(n, n_want);
    for (uint32_t i = 0; i < n; ++i) {
      SCOPED_TRACE("segment " + std::to_string(i));
      const Packet& want = f[1 + i];
      EXPECT_EQ(out[i]->nb_segs, 1);
      EXPECT_EQ(out[i]->l3_len, l3);
      if (capa) {
        ASSERT_EQ(out[i]->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK),
                  RTE_MBUF_F_TX_TCP_CKSUM);
        Packet got = bytes_of(out[i]);
        // Everything but the checksum field is final already.
        const size_t ck = kL2 + l3 + 16;
        EXPECT_TRUE(std::equal(got.begin(), got.begin() + ck, want.begin()));
        EXPECT_TRUE(std::equal(got.begin() + ck + 2, got.end(), want.begin() + ck + 2));
        // The field holds the folded pseudo-header sum: the complement of
        // the final checksum less the TCP segment's own sum.
        const uint32_t tcp_len = static_cast<uint32_t>(want.size()) - kL2 - l3;
        Packet zeroed(want.begin() + kL2 + l3, want.end());
        zeroed[16] = zeroed[17] = 0;
        const uint16_t final_ck = static_cast<uint16_t>(want[ck] << 8 | want[ck + 1]);
        const uint16_t field = static_cast<uint16_t>(got[ck] << 8 | got[ck + 1]);
        EXPECT_EQ(test::fold(uint32_t{field} + test::sum16(zeroed.data(), tcp_len)),
                  static_cast<uint16_t>(~final_ck));
        // Completed in software, it is scapy's packet.
        rte_mbuf* done[kMaxGsoSegments];
        uint32_t k = 0;
        ASSERT_EQ(sw.complete(out[i], 0, done, &k), PmdDrop::kCount);
        ASSERT_EQ(k, 1u);
        out[i] = done[0];
      }
      EXPECT_EQ(out[i]->ol_flags & kTxOffloadRequests, 0u);
      const Packet got = bytes_of(out[i]);
      EXPECT_EQ(diff_at(got, want), "");
    }
    for (uint32_t i = 0; i < n; ++i) rte_pktmbuf_free(out[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ext6, SegmentsWithExtensionHeaders,
    ::testing::Values(TsoCase{"tso6_hbh.pcap", 8},         // hop-by-hop, router alert
                      TsoCase{"tso6_rh0.pcap", 72},        // HBH, dest opts, routing 0, dest opts
                      TsoCase{"tso6_rh2.pcap", 24},        // Mobile IPv6 type 2 routing
                      TsoCase{"tso6_srh.pcap", 40},        // segment routing header
                      TsoCase{"tso6_rh0_done.pcap", 24}),  // no segments left
    [](const auto& info) {
      std::string s = info.param.file;
      s = s.substr(5, s.size() - 10);  // tso6_X.pcap -> X
      return s;
    });

// Checksum completion alone (no segmentation) of a UDP packet behind a
// type 0 routing header and a TCP packet behind a segment routing header,
// whatever the checksum field held: scapy's packets, byte for byte.
TEST_F(OffloadExt6Test, CompletesChecksumsBehindExtensionHeaders) {
  struct Case {
    const char* file;
    uint32_t l3;
    uint64_t l4_flag;
    uint32_t ck_off;  // of the checksum field in the L4 header
  };
  for (const Case c : {Case{"csum6_udp_rh0.pcap", 40 + 72, RTE_MBUF_F_TX_UDP_CKSUM, 6},
                       Case{"csum6_tcp_srh.pcap", 40 + 40, RTE_MBUF_F_TX_TCP_CKSUM, 16}}) {
    SCOPED_TRACE(c.file);
    const std::vector<Packet> f = fixture(c.file);
    ASSERT_EQ(f.size(), 1u);
    Packet partial = f[0];
    partial[kL2 + c.l3 + c.ck_off] = 0x12;  // garbage: recomputed from scratch
    partial[kL2 + c.l3 + c.ck_off + 1] = 0x34;
    rte_mbuf* m = chain(partial, 160);  // headers in the first buffer, payload in more
    m->ol_flags = RTE_MBUF_F_TX_IPV6 | c.l4_flag;
    m->l2_len = kL2;
    m->l3_len = c.l3;
    SwOffload sw(pool_, indirect_);
    rte_mbuf* out[kMaxGsoSegments];
    uint32_t n = 0;
    ASSERT_EQ(sw.complete(m, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, out, &n), PmdDrop::kCount);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(out[0]->ol_flags & kTxOffloadRequests, 0u);
    EXPECT_EQ(diff_at(bytes_of(out[0]), f[0]), "");
    rte_pktmbuf_free(out[0]);
  }
}

// Headers the segmenter does not handle, each refused with its reason and
// nothing appended; the same packets asking only for a checksum are refused
// alike. The order is refused6.pcap's.
TEST_F(OffloadExt6Test, RefusesFragmentsAndUnsupportedHeaders) {
  struct Case {
    const char* what;
    uint32_t ext_len;
    PmdDrop why;
  };
  const Case cases[] = {
      {"fragment header", 8, PmdDrop::kOffloadIpv6Fragment},
      {"hop-by-hop after destination options", 16, PmdDrop::kOffloadBadMetadata},
      {"authentication header", 24, PmdDrop::kOffloadUnsupported},
      {"home address option", 24, PmdDrop::kOffloadUnsupported},
      {"RPL routing header with segments left", 24, PmdDrop::kOffloadUnsupported},
      {"two routing headers", 48, PmdDrop::kOffloadUnsupported},
  };
  const std::vector<Packet> f = fixture("refused6.pcap");
  ASSERT_EQ(f.size(), std::size(cases));
  SwOffload sw(pool_, indirect_);
  for (size_t i = 0; i < f.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.what);
    const uint32_t l3 = 40 + c.ext_len;
    ASSERT_EQ(f[i].size(), kL2 + l3 + kTcpHdr + 3000) << "fixture and table disagree";
    rte_mbuf* out[kMaxGsoSegments];
    uint32_t n = 0;
    EXPECT_EQ(sw.complete(as_tso6(chain(f[i]), l3, 1000), 0, out, &n), c.why);
    rte_mbuf* m = chain(f[i]);
    m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
    m->l2_len = kL2;
    m->l3_len = l3;
    EXPECT_EQ(sw.complete(m, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, out, &n), c.why);
    EXPECT_EQ(n, 0u);
  }
  // The fragment drop has a name of its own in the counters.
  EXPECT_STREQ(pmd_drop_name(PmdDrop::kOffloadIpv6Fragment), "offload_ipv6_fragment");
}

// The header walk on its own: the pseudo-header destination of each
// routing header, and l3_len values that do not end on a header.
TEST(Ipv6Upper, FinalDestinationAndBounds) {
  const std::vector<Packet> rh0 = fixture("tso6_rh0.pcap");
  ASSERT_FALSE(rh0.empty());
  const uint8_t* ip = rh0[0].data() + kL2;
  Ipv6Upper up;
  ASSERT_EQ(ipv6_upper(ip, 40 + 72, &up), PmdDrop::kCount);
  EXPECT_EQ(up.proto, IPPROTO_TCP);
  const uint8_t final_dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
  EXPECT_EQ(std::memcmp(up.pseudo_dst, final_dst, 16), 0) << "the last address of the header";
  // Cut inside a header, or past the TCP header's start.
  EXPECT_EQ(ipv6_upper(ip, 40 + 4, &up), PmdDrop::kOffloadBadMetadata);
  EXPECT_EQ(ipv6_upper(ip, 40 + 70, &up), PmdDrop::kOffloadBadMetadata);
  EXPECT_EQ(ipv6_upper(ip, 40 + 80, &up), PmdDrop::kOffloadBadMetadata);
  EXPECT_EQ(ipv6_upper(ip, 39, &up), PmdDrop::kOffloadBadMetadata);
  // Stopping after the hop-by-hop header leaves the next one as the
  // "upper" protocol: the caller's check of TCP refuses it.
  ASSERT_EQ(ipv6_upper(ip, 40 + 8, &up), PmdDrop::kCount);
  EXPECT_EQ(up.proto, IPPROTO_DSTOPTS);
  // Without segments left, the IPv6 destination is final.
  const std::vector<Packet> done = fixture("tso6_rh0_done.pcap");
  ASSERT_FALSE(done.empty());
  ASSERT_EQ(ipv6_upper(done[0].data() + kL2, 40 + 24, &up), PmdDrop::kCount);
  EXPECT_EQ(up.pseudo_dst, done[0].data() + kL2 + 24);
}

}  // namespace
}  // namespace dpx
