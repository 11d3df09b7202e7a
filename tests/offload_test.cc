// Tests for software offload completion (offload.h) on real mbufs, with no
// running dpxd: a 64 KB TCP/IPv4 segment cut into MSS-sized frames whose
// checksums verify against an independent RFC 1071 sum and whose payloads
// concatenate to the original; the same for TCP/IPv6 (dpxd's own
// segmenter), with sequence numbers and TCP flags; checksum completion for TCP and UDP over
// IPv4 and IPv6; a set action on a packet with a partial checksum followed
// by completion; refusals with their reasons; windowed key extraction of a
// chained frame. Every test checks that the pools get all their mbufs back.
#include "offload.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/openvswitch.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "actions.h"
#include "eal_env.h"
#include "key_extract.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnonnull"
#include "nlattr.h"
#pragma GCC diagnostic pop
#include "odp_actions.h"
#include "support/checksum.h"
#include "support/mbuf_chain.h"

namespace dpx {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kL2 = 14, kL3v4 = 20, kL3v6 = 40;

using test::fold;
using test::sum16;
// True if the IPv4 header checksum verifies.
bool ipv4_ok(const uint8_t* ip) { return fold(sum16(ip, (ip[0] & 0xf) * 4u)) == 0xffff; }
// True if the L4 checksum (with the pseudo-header) of an IPv4 or IPv6 packet
// starting at ip verifies.
bool l4_ok(const uint8_t* ip) {
  uint32_t s;
  const uint8_t* l4;
  uint32_t l4_len;
  if ((ip[0] >> 4) == 4) {
    const uint32_t ihl = (ip[0] & 0xf) * 4u;
    l4_len = (ip[2] << 8 | ip[3]) - ihl;
    s = sum16(ip + 12, 8) + ip[9] + l4_len;
    l4 = ip + ihl;
  } else {
    l4_len = ip[4] << 8 | ip[5];
    s = sum16(ip + 8, 32) + ip[6] + l4_len;
    l4 = ip + 40;
  }
  return fold(sum16(l4, l4_len, s)) == 0xffff;
}

// An Ethernet + IPv4 or IPv6 + TCP (with 12 bytes of options) or UDP packet
// with a patterned payload; checksums valid (IPv4) or left as the
// pseudo-header sum of Linux's convention when `partial`.
Bytes build(bool v6, uint8_t proto, size_t payload, bool partial, uint32_t seq = 1000) {
  const uint32_t l3 = v6 ? kL3v6 : kL3v4;
  const uint32_t l4 = proto == IPPROTO_TCP ? 32 : 8;
  Bytes p(kL2 + l3 + l4 + payload, 0);
  for (int i = 0; i < 6; ++i) p[i] = static_cast<uint8_t>(0x02 + i), p[6 + i] = 0x12;
  p[12] = v6 ? 0x86 : 0x08;
  p[13] = v6 ? 0xdd : 0x00;
  uint8_t* ip = p.data() + kL2;
  if (v6) {
    ip[0] = 0x60;
    const uint32_t plen = static_cast<uint32_t>(l4 + payload);
    ip[4] = static_cast<uint8_t>(plen >> 8), ip[5] = static_cast<uint8_t>(plen);
    ip[6] = proto;
    ip[7] = 64;
    ip[8] = 0x20, ip[9] = 0x01, ip[23] = 1;
    ip[24] = 0x20, ip[25] = 0x01, ip[39] = 2;
  } else {
    ip[0] = 0x45;
    const uint32_t tot = static_cast<uint32_t>(l3 + l4 + payload);
    ip[2] = static_cast<uint8_t>(tot >> 8), ip[3] = static_cast<uint8_t>(tot);
    ip[4] = 0x12, ip[5] = 0x34;  // id
    ip[6] = 0x40;                // DF
    ip[8] = 64;
    ip[9] = proto;
    ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
    const uint16_t c = static_cast<uint16_t>(~fold(sum16(ip, 20)));
    ip[10] = static_cast<uint8_t>(c >> 8), ip[11] = static_cast<uint8_t>(c);
  }
  uint8_t* t = ip + l3;
  t[0] = 0x9c, t[1] = 0x40, t[2] = 0x00, t[3] = 0x50;  // 40000 -> 80
  if (proto == IPPROTO_TCP) {
    t[4] = static_cast<uint8_t>(seq >> 24), t[5] = static_cast<uint8_t>(seq >> 16);
    t[6] = static_cast<uint8_t>(seq >> 8), t[7] = static_cast<uint8_t>(seq);
    t[12] = (32 / 4) << 4;
    t[13] = 0x18;  // PSH|ACK
    t[14] = 0xff, t[15] = 0xff;
    t[20] = 1, t[21] = 1, t[22] = 8, t[23] = 10;  // NOP NOP timestamp
  } else {
    t[4] = static_cast<uint8_t>((l4 + payload) >> 8), t[5] = static_cast<uint8_t>(l4 + payload);
  }
  for (size_t i = 0; i < payload; ++i) t[l4 + i] = static_cast<uint8_t>(i * 7 + i / 251);
  const size_t co = proto == IPPROTO_TCP ? 16 : 6;
  uint32_t phdr;
  const uint32_t l4_len = static_cast<uint32_t>(l4 + payload);
  phdr = v6 ? sum16(ip + 8, 32) + proto + l4_len : sum16(ip + 12, 8) + proto + l4_len;
  uint16_t c = partial ? fold(phdr) : static_cast<uint16_t>(~fold(sum16(t, l4_len, phdr)));
  t[co] = static_cast<uint8_t>(c >> 8), t[co + 1] = static_cast<uint8_t>(c);
  return p;
}

Bytes bytes_of(const rte_mbuf* m) {
  Bytes b(m->pkt_len);
  const void* d = rte_pktmbuf_read(m, 0, m->pkt_len, b.data());
  if (d != b.data()) std::memcpy(b.data(), d, m->pkt_len);
  return b;
}

class OffloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pool_ = test::test_pool();
    // One pool for every suite of this binary (names are global in DPDK).
    static rte_mempool* ind = offload_indirect_pool("dpx_test_indirect", 1024, SOCKET_ID_ANY);
    indirect_ = ind;
  }
  void SetUp() override {
    ASSERT_NE(pool_, nullptr);
    ASSERT_NE(indirect_, nullptr);
    avail_ = rte_mempool_avail_count(pool_);
    avail_ind_ = rte_mempool_avail_count(indirect_);
  }
  void TearDown() override {
    EXPECT_EQ(rte_mempool_avail_count(pool_), avail_) << "packet mbufs leaked";
    EXPECT_EQ(rte_mempool_avail_count(indirect_), avail_ind_) << "indirect mbufs leaked";
  }

  // A chain of buffers holding `b`, each at most `seg` bytes, as the tap
  // port's rx makes them (the headers in the first).
  rte_mbuf* chain(const Bytes& b, uint32_t seg = 2048) { return test::mbuf_chain(pool_, b, seg); }
  void free_all(rte_mbuf** v, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) rte_pktmbuf_free(v[i]);
  }

  static inline rte_mempool* pool_ = nullptr;
  static inline rte_mempool* indirect_ = nullptr;
  unsigned avail_ = 0, avail_ind_ = 0;
};

// The 64 KB segment of the kernel's TSO, cut for a port without TSO.
void check_segments(const Bytes& orig, rte_mbuf** out, uint32_t n, uint32_t mss,
                    bool want_single_segment) {
  const uint32_t hdr = kL2 + kL3v4 + 32;
  const uint32_t payload = static_cast<uint32_t>(orig.size()) - hdr;
  ASSERT_EQ(n, (payload + mss - 1) / mss);
  Bytes joined;
  const uint32_t seq0 = orig[hdr - 32 + 4] << 24 | orig[hdr - 32 + 5] << 16 |
                        orig[hdr - 32 + 6] << 8 | orig[hdr - 32 + 7];
  const uint16_t id0 = static_cast<uint16_t>(orig[kL2 + 4] << 8 | orig[kL2 + 5]);
  for (uint32_t i = 0; i < n; ++i) {
    SCOPED_TRACE("segment " + std::to_string(i));
    rte_mbuf* m = out[i];
    if (want_single_segment) {
      EXPECT_EQ(m->nb_segs, 1);
    }
    EXPECT_EQ(m->ol_flags & kTxOffloadRequests, 0u) << "nothing left for the device";
    const Bytes b = bytes_of(m);
    const uint32_t this_payload = std::min(mss, payload - i * mss);
    ASSERT_EQ(b.size(), hdr + this_payload);
    EXPECT_LE(b.size() - kL2, 1500u) << "fits a 1500-byte MTU";
    const uint8_t* ip = b.data() + kL2;
    EXPECT_EQ(uint32_t(ip[2] << 8 | ip[3]), b.size() - kL2) << "IP total length";
    EXPECT_EQ(uint16_t(ip[4] << 8 | ip[5]), uint16_t(id0 + i)) << "IP ids count up";
    EXPECT_TRUE(ipv4_ok(ip));
    EXPECT_TRUE(l4_ok(ip));
    const uint8_t* t = ip + kL3v4;
    EXPECT_EQ(uint32_t(t[4] << 24 | t[5] << 16 | t[6] << 8 | t[7]), seq0 + i * mss);
    const bool last = i + 1 == n;
    EXPECT_EQ(t[13] & 0x08, last ? 0x08 : 0) << "PSH only on the last segment";
    EXPECT_TRUE(std::equal(orig.begin(), orig.begin() + kL2, b.begin())) << "Ethernet header";
    EXPECT_TRUE(std::equal(orig.begin() + hdr - 12, orig.begin() + hdr, b.begin() + hdr - 12))
        << "TCP options";
    joined.insert(joined.end(), b.begin() + hdr, b.end());
  }
  EXPECT_TRUE(std::equal(joined.begin(), joined.end(), orig.begin() + hdr) &&
              joined.size() == payload)
      << "payloads concatenate to the original";
}

rte_mbuf* as_tso(rte_mbuf* m, uint16_t mss) {
  m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
  m->l2_len = kL2;
  m->l3_len = kL3v4;
  m->l4_len = 32;
  m->tso_segsz = mss;
  return m;
}

TEST_F(OffloadTest, Segments64KTcpIpv4ForAPortWithoutChains) {
  const uint32_t payload = 65535 - kL3v4 - 32;  // the largest IPv4 packet
  const Bytes orig = build(false, IPPROTO_TCP, payload, true);
  rte_mbuf* m = as_tso(chain(orig), 1448);
  ASSERT_GT(m->nb_segs, 30);
  EXPECT_TRUE(offload_needed(m, 0));
  EXPECT_FALSE(offload_needed(m, RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                                     RTE_ETH_TX_OFFLOAD_MULTI_SEGS));
  SwOffload sw(pool_, indirect_);
  rte_mbuf* out[kMaxGsoSegments + 1];
  out[0] = nullptr;  // something already in the output array
  uint32_t n = 1;
  ASSERT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kCount);
  check_segments(orig, out + 1, n - 1, 1448, true);
  free_all(out + 1, n - 1);
}

TEST_F(OffloadTest, SegmentsKeepChainsForAPortThatTakesThem) {
  const Bytes orig = build(false, IPPROTO_TCP, 30000, true);
  rte_mbuf* m = as_tso(chain(orig, 1000), 1000);
  SwOffload sw(pool_, indirect_);
  rte_mbuf* out[kMaxGsoSegments];
  uint32_t n = 0;
  ASSERT_EQ(sw.complete(m, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, out, &n), PmdDrop::kCount);
  EXPECT_GT(out[0]->nb_segs, 1) << "header buffer + payload pointing into the original";
  check_segments(orig, out, n, 1000, false);
  free_all(out, n);
}

rte_mbuf* as_tso6(rte_mbuf* m, uint16_t mss) {
  m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
  m->l2_len = kL2;
  m->l3_len = kL3v6;
  m->l4_len = 32;
  m->tso_segsz = mss;
  return m;
}

// TCP/IPv6 segmentation is ours (rte_gso of DPDK 22.11 has none): every
// segment a correct TCP/IPv6 packet, payloads in order, sequence numbers
// and flags as a TSO device sets them; for a port with TCP checksum offload
// the checksum is left as the pseudo-header sum, for one with chains the
// segments may be chains. FIN and PSH only on the last segment, CWR only
// on the first.
TEST_F(OffloadTest, SegmentsTcpIpv6InSoftware) {
  struct Case {
    uint32_t payload, mss, seg;
    uint64_t capa;
  };
  for (const Case c :
       {Case{65535 - 32, 1440, 2048, 0}, Case{30000, 1000, 700, 0},
        Case{9000, 4000, 2048, RTE_ETH_TX_OFFLOAD_MULTI_SEGS},
        Case{5000, 1200, 2048, RTE_ETH_TX_OFFLOAD_TCP_CKSUM}, Case{1000, 1440, 2048, 0}}) {
    SCOPED_TRACE("payload " + std::to_string(c.payload) + " mss " + std::to_string(c.mss));
    Bytes orig = build(true, IPPROTO_TCP, c.payload, true, 0xfffff000);  // the sequence wraps
    const uint32_t hdr = kL2 + kL3v6 + 32;
    orig[kL2 + kL3v6 + 13] = 0x80 | 0x18 | 0x01;  // CWR|PSH|ACK|FIN
    rte_mbuf* m = as_tso6(chain(orig, c.seg), static_cast<uint16_t>(c.mss));
    EXPECT_TRUE(offload_needed(m, c.capa));
    SwOffload sw(pool_, indirect_);
    rte_mbuf* out[kMaxGsoSegments];
    uint32_t n = 0;
    ASSERT_EQ(sw.complete(m, c.capa, out, &n), PmdDrop::kCount);
    ASSERT_EQ(n, (c.payload + c.mss - 1) / c.mss);
    Bytes joined;
    for (uint32_t i = 0; i < n; ++i) {
      SCOPED_TRACE("segment " + std::to_string(i));
      if (!(c.capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) {
        EXPECT_EQ(out[i]->nb_segs, 1);
      }
      Bytes b = bytes_of(out[i]);
      const uint32_t len = std::min(c.mss, c.payload - i * c.mss);
      ASSERT_EQ(b.size(), hdr + len);
      uint8_t* ip = b.data() + kL2;
      EXPECT_EQ(uint32_t(ip[4] << 8 | ip[5]), 32 + len) << "IPv6 payload length";
      const uint8_t* t = ip + kL3v6;
      EXPECT_EQ(uint32_t(t[4] << 24 | t[5] << 16 | t[6] << 8 | t[7]), 0xfffff000 + i * c.mss);
      const bool last = i + 1 == n;
      EXPECT_EQ(t[13], (i == 0 ? 0x80 : 0) | 0x10 | (last ? 0x09 : 0)) << "TCP flags";
      if (c.capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) {
        // Left to the port: the request stays, with the pseudo-header sum
        // (with the length) in the field; completing it makes it verify.
        EXPECT_EQ(out[i]->ol_flags & RTE_MBUF_F_TX_L4_MASK, RTE_MBUF_F_TX_TCP_CKSUM);
        EXPECT_EQ(out[i]->ol_flags & RTE_MBUF_F_TX_TCP_SEG, 0u);
        const uint32_t phdr = sum16(ip + 8, 32) + IPPROTO_TCP + 32 + len;
        EXPECT_EQ(uint16_t(t[16] << 8 | t[17]), fold(phdr));
        uint8_t* f = ip + kL3v6 + 16;
        f[0] = f[1] = 0;
        const uint16_t full = static_cast<uint16_t>(~fold(sum16(ip + kL3v6, 32 + len, phdr)));
        f[0] = static_cast<uint8_t>(full >> 8), f[1] = static_cast<uint8_t>(full);
      } else {
        EXPECT_EQ(out[i]->ol_flags & kTxOffloadRequests, 0u) << "nothing left for the device";
      }
      EXPECT_TRUE(l4_ok(ip));
      EXPECT_TRUE(std::equal(orig.begin(), orig.begin() + kL2 + 4, b.begin()))
          << "Ethernet header, IPv6 version and flow label";
      EXPECT_TRUE(std::equal(orig.begin() + kL2 + 6, orig.begin() + kL2 + kL3v6, ip + 6))
          << "IPv6 next header, hop limit, addresses";
      EXPECT_TRUE(std::equal(orig.begin() + hdr - 12, orig.begin() + hdr, b.begin() + hdr - 12))
          << "TCP options";
      joined.insert(joined.end(), b.begin() + hdr, b.end());
    }
    EXPECT_TRUE(joined.size() == c.payload &&
                std::equal(joined.begin(), joined.end(), orig.begin() + hdr))
        << "payloads concatenate to the original";
    free_all(out, n);
  }
}

TEST_F(OffloadTest, SmallTsoPacketOnlyGetsChecksums) {
  const Bytes orig = build(false, IPPROTO_TCP, 500, true);
  rte_mbuf* m = as_tso(chain(orig), 1448);
  SwOffload sw(pool_, indirect_);
  rte_mbuf* out[kMaxGsoSegments];
  uint32_t n = 0;
  ASSERT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kCount);
  ASSERT_EQ(n, 1u);
  const Bytes b = bytes_of(out[0]);
  EXPECT_EQ(b.size(), orig.size());
  EXPECT_TRUE(ipv4_ok(b.data() + kL2));
  EXPECT_TRUE(l4_ok(b.data() + kL2));
  EXPECT_EQ(out[0]->ol_flags & kTxOffloadRequests, 0u);
  free_all(out, n);
}

struct CsumCase {
  bool v6;
  uint8_t proto;
  size_t payload;
};

class ChecksumCompletion : public OffloadTest, public ::testing::WithParamInterface<CsumCase> {};

TEST_P(ChecksumCompletion, CompletesPartialChecksum) {
  const CsumCase c = GetParam();
  const Bytes orig = build(c.v6, c.proto, c.payload, true);
  const Bytes want = build(c.v6, c.proto, c.payload, false);
  ASSERT_NE(orig, want);
  rte_mbuf* m = chain(orig);
  const uint64_t l4 = c.proto == IPPROTO_TCP ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM;
  m->ol_flags = (c.v6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4) | l4;
  m->l2_len = kL2;
  m->l3_len = c.v6 ? kL3v6 : kL3v4;
  const uint64_t own =
      c.proto == IPPROTO_TCP ? RTE_ETH_TX_OFFLOAD_TCP_CKSUM : RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  EXPECT_FALSE(offload_needed(m, own | RTE_ETH_TX_OFFLOAD_MULTI_SEGS));
  SwOffload sw(pool_, indirect_);
  rte_mbuf* out[kMaxGsoSegments];
  uint32_t n = 0;
  // A port that has the other checksum offload only still needs ours done.
  const uint64_t other =
      c.proto == IPPROTO_TCP ? RTE_ETH_TX_OFFLOAD_UDP_CKSUM : RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  ASSERT_TRUE(offload_needed(m, other | RTE_ETH_TX_OFFLOAD_MULTI_SEGS));
  ASSERT_EQ(sw.complete(m, other | RTE_ETH_TX_OFFLOAD_MULTI_SEGS, out, &n), PmdDrop::kCount);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(bytes_of(out[0]), want) << "byte for byte the packet with a full checksum";
  EXPECT_EQ(out[0]->ol_flags & RTE_MBUF_F_TX_L4_MASK, 0u);
  free_all(out, n);
}

INSTANTIATE_TEST_SUITE_P(All, ChecksumCompletion,
                         ::testing::Values(CsumCase{false, IPPROTO_TCP, 100},
                                           CsumCase{false, IPPROTO_UDP, 333},
                                           CsumCase{true, IPPROTO_TCP, 100},
                                           CsumCase{true, IPPROTO_UDP, 4001},
                                           CsumCase{false, IPPROTO_TCP, 9000}));

TEST_F(OffloadTest, UdpChecksumThatComputesToZeroIsSentAsOnes) {
  // Find a payload word that makes the UDP sum come out as zero (one of
  // the 65536 values does).
  for (int v = 0; v < 65536; ++v) {
    Bytes full = build(false, IPPROTO_UDP, 2, false);
    full[kL2 + 28] = static_cast<uint8_t>(v >> 8);
    full[kL2 + 29] = static_cast<uint8_t>(v);
    full[kL2 + 26] = full[kL2 + 27] = 0;
    const uint8_t* ip = full.data() + kL2;
    uint32_t s = sum16(ip + 12, 8) + IPPROTO_UDP + 10;
    if (static_cast<uint16_t>(~fold(sum16(ip + 20, 10, s))) != 0) continue;
    Bytes partial = full;
    const uint16_t ph = fold(s);
    partial[kL2 + 26] = static_cast<uint8_t>(ph >> 8), partial[kL2 + 27] = static_cast<uint8_t>(ph);
    rte_mbuf* m = chain(partial);
    m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM;
    m->l2_len = kL2;
    m->l3_len = kL3v4;
    SwOffload sw(pool_, indirect_);
    rte_mbuf* out[kMaxGsoSegments];
    uint32_t n = 0;
    ASSERT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kCount);
    const Bytes b = bytes_of(out[0]);
    EXPECT_EQ(b[kL2 + 26], 0xff);
    EXPECT_EQ(b[kL2 + 27], 0xff);
    free_all(out, n);
    return;
  }
  FAIL() << "no payload gives a zero sum: the search is wrong";
}

struct ProgramDeleter {
  void operator()(ActionProgram* p) const { free_action_program(p); }
};

// The executor's sink for one output.
struct OneOutput {
  rte_mbuf* out = nullptr;
  void output(uint32_t, rte_mbuf* m) { out = m; }
  void userspace(rte_mbuf*, const PacketState&, const Action&) {}
  void recirculate(rte_mbuf* m, const PacketState&) { rte_pktmbuf_free(m); }
  void drop(rte_mbuf* m, ActionDrop) {
    if (m) rte_pktmbuf_free(m);
  }
  rte_mbuf* copy(rte_mbuf*) { return nullptr; }
};

// set(ipv4) and set(tcp) on a packet whose TCP checksum is still the
// pseudo-header sum: the address change must move that sum (the opposite
// sense of a full checksum's update), the port change must not touch it;
// completed afterwards, the checksum must verify over the new headers.
TEST_F(OffloadTest, SetActionsOnPartialChecksumThenCompletion) {
  for (const bool tso : {false, true}) {
    SCOPED_TRACE(tso ? "TSO" : "checksum only");
    const Bytes orig = build(false, IPPROTO_TCP, tso ? 20000 : 700, true);
    rte_mbuf* m = chain(orig);
    if (tso) {
      as_tso(m, 1448);
    } else {
      m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
      m->l2_len = kL2;
      m->l3_len = kL3v4;
    }
    NlBuf b;
    NlWriter w(&b);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
    ovs_key_ipv4 k{};
    k.ipv4_src = htonl(0xc0a80101);
    k.ipv4_dst = htonl(0xac100202);
    k.ipv4_proto = IPPROTO_TCP;
    k.ipv4_ttl = 63;
    w.put(OVS_KEY_ATTR_IPV4, k);
    w.end_nested(s);
    s = w.begin_nested(OVS_ACTION_ATTR_SET);
    w.put(OVS_KEY_ATTR_TCP, ovs_key_tcp{htons(5555), htons(8080)});
    w.end_nested(s);
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    ActionProgram* raw = nullptr;
    std::string err;
    ASSERT_EQ(compile_actions(b, &raw, &err), 0) << err;
    std::unique_ptr<ActionProgram, ProgramDeleter> prog(raw);
    FlowKey key{};
    PacketState st = PacketState::from_key(key);
    OneOutput sink;
    execute_actions(*prog, m, key, st, sink);
    ASSERT_EQ(sink.out, m);
    // The field is now the pseudo-header sum of the new addresses.
    const uint8_t* ip = rte_pktmbuf_mtod_offset(m, const uint8_t*, kL2);
    const uint16_t field = static_cast<uint16_t>(ip[kL3v4 + 16] << 8 | ip[kL3v4 + 17]);
    const uint32_t tcp_len = m->pkt_len - kL2 - kL3v4;
    EXPECT_EQ(field, fold(sum16(ip + 12, 8) + IPPROTO_TCP + tcp_len));
    SwOffload sw(pool_, indirect_);
    rte_mbuf* out[kMaxGsoSegments];
    uint32_t n = 0;
    ASSERT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kCount);
    ASSERT_GE(n, 1u);
    for (uint32_t i = 0; i < n; ++i) {
      const Bytes pb = bytes_of(out[i]);
      EXPECT_TRUE(ipv4_ok(pb.data() + kL2)) << i;
      EXPECT_TRUE(l4_ok(pb.data() + kL2)) << i;
      EXPECT_EQ(pb[kL2 + kL3v4], 5555 >> 8);
      EXPECT_EQ(pb[kL2 + 12], 192);
      EXPECT_EQ(pb[kL2 + 8], 63);
    }
    free_all(out, n);
  }
}

TEST_F(OffloadTest, RefusesWhatItCannotDo) {
  SwOffload sw(pool_, indirect_);
  rte_mbuf* out[kMaxGsoSegments];
  uint32_t n = 0;
  // TSO of TCP/IPv6 whose l3_len runs into the TCP header (extension
  // headers: offload_ext6_test.cc).
  rte_mbuf* m = as_tso6(chain(build(true, IPPROTO_TCP, 5000, true)), 1400);
  m->l3_len = kL3v6 + 8;
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  // TCP/IPv6 whose lengths do not describe it.
  m = as_tso6(chain(build(true, IPPROTO_TCP, 5000, true)), 1400);
  m->l4_len = 20;
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  m = as_tso6(chain(build(true, IPPROTO_UDP, 5000, true)), 1400);  // not TCP
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  m = as_tso6(chain(build(true, IPPROTO_TCP, 5000, true)), 0);
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  // More segments than an output array holds.
  m = as_tso6(chain(build(true, IPPROTO_TCP, 60000, true)), 100);
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadUnsupported);
  // Lengths that do not describe the headers.
  m = as_tso(chain(build(false, IPPROTO_TCP, 5000, true)), 1400);
  m->l4_len = 20;  // the TCP header is 32 bytes
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  m = as_tso(chain(build(false, IPPROTO_TCP, 5000, true)), 0);
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  m = chain(build(false, IPPROTO_UDP, 100, true));
  m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;  // it is UDP
  m->l2_len = kL2, m->l3_len = kL3v4;
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  m = chain(build(false, IPPROTO_TCP, 100, true));
  m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
  m->l2_len = kL2, m->l3_len = 200;  // past the first segment
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadBadMetadata);
  // A chain too large for one buffer, to a port that takes no chains.
  m = chain(build(false, IPPROTO_UDP, 5000, false));
  EXPECT_TRUE(offload_needed(m, 0));
  EXPECT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kOffloadUnsupported);
  EXPECT_EQ(n, 0u) << "nothing appended on failure";
}

TEST_F(OffloadTest, LinearisesASmallChainForAPortWithoutChains) {
  const Bytes orig = build(false, IPPROTO_UDP, 1400, false);
  rte_mbuf* m = chain(orig, 500);
  ASSERT_EQ(m->nb_segs, 3);
  SwOffload sw(pool_, indirect_);
  rte_mbuf* out[kMaxGsoSegments];
  uint32_t n = 0;
  ASSERT_EQ(sw.complete(m, 0, out, &n), PmdDrop::kCount);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(out[0]->nb_segs, 1);
  EXPECT_EQ(bytes_of(out[0]), orig);
  free_all(out, n);
}

// The executor's copies (clone, userspace) use rte_pktmbuf_copy: the copy
// of an offloaded chain must keep its requests and metadata, with the
// headers still in its first segment, or it would leave with a partial
// checksum.
TEST_F(OffloadTest, CopiesKeepOffloadRequests) {
  const Bytes orig = build(false, IPPROTO_TCP, 20000, true);
  rte_mbuf* m = as_tso(chain(orig), 1448);
  rte_mbuf* c = rte_pktmbuf_copy(m, pool_, 0, UINT32_MAX);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->ol_flags, m->ol_flags);
  EXPECT_EQ(c->tx_offload, m->tx_offload);
  EXPECT_GE(rte_pktmbuf_data_len(c), kL2 + kL3v4 + 32);
  EXPECT_EQ(bytes_of(c), orig);
  rte_pktmbuf_free(m);
  rte_pktmbuf_free(c);
}

// Key extraction of a chained 64 KB frame reads its first segment only and
// agrees with extraction from the whole frame.
TEST_F(OffloadTest, WindowedKeyExtractionOfAChain) {
  const Bytes orig = build(false, IPPROTO_TCP, 60000, true);
  PacketMetadata md;
  md.in_port = 3;
  alignas(64) FlowKey whole, win;
  ASSERT_EQ(extract_key(orig.data(), static_cast<uint32_t>(orig.size()), md, &whole),
            ExtractDrop::kNone);
  ASSERT_EQ(extract_key_window(orig.data(), 2048, static_cast<uint32_t>(orig.size()), md, &win),
            ExtractDrop::kNone);
  EXPECT_EQ(std::memcmp(&whole, &win, FlowKey::kHeadBytes), 0);  // no options: the head is the key
  // The TCP header beyond the window is cut short, never read.
  EXPECT_EQ(extract_key_window(orig.data(), kL2 + kL3v4 + 10, static_cast<uint32_t>(orig.size()),
                               md, &win),
            ExtractDrop::kTruncatedL4);
  // The IP length is checked against the frame, not the window.
  EXPECT_EQ(extract_key_window(orig.data(), 2048, 30000, md, &win), ExtractDrop::kBadIpv4Length);
  const Bytes v6 = build(true, IPPROTO_UDP, 40000, true);
  ASSERT_EQ(extract_key(v6.data(), static_cast<uint32_t>(v6.size()), md, &whole),
            ExtractDrop::kNone);
  ASSERT_EQ(extract_key_window(v6.data(), 100, static_cast<uint32_t>(v6.size()), md, &win),
            ExtractDrop::kNone);
  EXPECT_EQ(std::memcmp(&whole, &win, FlowKey::kHeadBytes), 0);  // no options: the head is the key
}

}  // namespace
}  // namespace dpx
