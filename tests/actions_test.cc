// Tests for the action executor on real mbufs: every action byte-exact
// against packets built independently with the expected fields, checksums
// recomputed from scratch, copies and their failures, and the pool's free
// count back to its start after every test (catching leaks and double frees).
#include "actions.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/openvswitch.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ip.h>
#include <rte_tcp.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "eal_env.h"
// GCC 12 at -O3 reports a false -Wnonnull inside NlWriter::put (a clone of it
// with data == nullptr, which only runs with len == 0); see the report.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnonnull"
#include "nlattr.h"
#pragma GCC diagnostic pop
#include "odp_actions.h"

namespace dpx {
namespace {

using Bytes = std::vector<uint8_t>;

// ---- packets -------------------------------------------------------------

struct Pkt {
  std::array<uint8_t, 6> dst{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::array<uint8_t, 6> src{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  std::vector<std::pair<uint16_t, uint16_t>> vlans;  // (tpid, tci), outer first, host order
  uint16_t eth_type = 0x0800;                        // host order; 0x86dd for IPv6
  // IPv4, host order.
  uint32_t ip4_src = 0x0a000001, ip4_dst = 0x0a000002;
  uint8_t tos = 0, ttl = 64;
  uint16_t frag = 0x4000;  // DF, offset 0
  // IPv6.
  std::array<uint8_t, 16> ip6_src{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::array<uint8_t, 16> ip6_dst{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  uint8_t tclass = 0, hlim = 64;
  uint32_t label = 0x12345;
  bool hop_by_hop = false;
  // L4.
  uint8_t proto = IPPROTO_TCP;
  uint16_t sport = 1000, dport = 80;
  size_t payload = 26;
  bool udp_zero_csum = false;
};

uint16_t raw_sum(const uint8_t* p, size_t n) { return rte_raw_cksum(p, n); }

// L4 checksum from scratch: pseudo-header plus the L4 bytes (field zeroed).
uint16_t l4_cksum_ref(const uint8_t* src, const uint8_t* dst, size_t alen, uint8_t proto,
                      const uint8_t* l4, size_t l4_len) {
  uint8_t ph[40] = {};
  std::memcpy(ph, src, alen);
  std::memcpy(ph + alen, dst, alen);
  size_t n;
  if (alen == 4) {
    ph[9] = proto;
    uint16_t l = htons(static_cast<uint16_t>(l4_len));
    std::memcpy(ph + 10, &l, 2);
    n = 12;
  } else {
    uint32_t l = htonl(static_cast<uint32_t>(l4_len));
    std::memcpy(ph + 32, &l, 4);
    ph[39] = proto;
    n = 40;
  }
  uint32_t s = uint32_t{raw_sum(ph, n)} + raw_sum(l4, l4_len);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  uint16_t c = static_cast<uint16_t>(~s);
  if (c == 0 && proto == IPPROTO_UDP) c = 0xffff;
  return c;
}

Bytes build(const Pkt& p) {
  Bytes b;
  auto put16 = [&](uint16_t v) {
    b.push_back(v >> 8);
    b.push_back(v & 0xff);
  };
  b.insert(b.end(), p.dst.begin(), p.dst.end());
  b.insert(b.end(), p.src.begin(), p.src.end());
  for (auto [tpid, tci] : p.vlans) {
    put16(tpid);
    put16(tci);
  }
  put16(p.eth_type);
  size_t l3 = b.size();
  size_t l4_hdr = p.proto == IPPROTO_TCP ? 20 : p.proto == IPPROTO_UDP ? 8 : 4;
  size_t l4_len = l4_hdr + p.payload;
  const uint8_t* src;
  const uint8_t* dst;
  size_t alen;
  if (p.eth_type == 0x0800) {
    put16(0x4500 | p.tos);
    put16(static_cast<uint16_t>(20 + l4_len));
    put16(0x1234);
    put16(p.frag);
    b.push_back(p.ttl);
    b.push_back(p.proto);
    put16(0);
    put16(p.ip4_src >> 16);
    put16(p.ip4_src & 0xffff);
    put16(p.ip4_dst >> 16);
    put16(p.ip4_dst & 0xffff);
    alen = 4;
  } else {
    uint32_t w = 6u << 28 | uint32_t{p.tclass} << 20 | p.label;
    put16(w >> 16);
    put16(w & 0xffff);
    put16(static_cast<uint16_t>(l4_len + (p.hop_by_hop ? 8 : 0)));
    b.push_back(p.hop_by_hop ? 0 : p.proto);
    b.push_back(p.hlim);
    b.insert(b.end(), p.ip6_src.begin(), p.ip6_src.end());
    b.insert(b.end(), p.ip6_dst.begin(), p.ip6_dst.end());
    if (p.hop_by_hop) {
      const uint8_t hbh[8] = {p.proto, 0, 1, 4, 0, 0, 0, 0};  // PadN option
      b.insert(b.end(), hbh, hbh + 8);
    }
    alen = 16;
  }
  size_t l4 = b.size();
  if (p.proto == IPPROTO_TCP) {
    put16(p.sport);
    put16(p.dport);
    put16(0x0102), put16(0x0304);  // seq
    put16(0), put16(0);            // ack
    put16(0x5010);                 // data offset 5, ACK
    put16(0xffff);                 // window
    put16(0), put16(0);            // checksum, urgent
  } else if (p.proto == IPPROTO_UDP) {
    put16(p.sport);
    put16(p.dport);
    put16(static_cast<uint16_t>(l4_len));
    put16(0);
  } else {  // ICMPv6 echo request
    b.push_back(128);
    b.push_back(0);
    put16(0);
  }
  for (size_t i = 0; i < p.payload; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 3));
  if (p.eth_type == 0x0800) {
    src = &b[l3 + 12];
    dst = &b[l3 + 16];
    uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(&b[l3]));
    std::memcpy(&b[l3 + 10], &c, 2);
  } else {
    src = &b[l3 + 8];
    dst = &b[l3 + 24];
  }
  size_t co = p.proto == IPPROTO_TCP ? 16 : p.proto == IPPROTO_UDP ? 6 : 2;
  if (!(p.proto == IPPROTO_UDP && p.udp_zero_csum)) {
    uint16_t c = l4_cksum_ref(src, dst, alen, p.proto, &b[l4], l4_len);  // memory order
    std::memcpy(&b[l4 + co], &c, 2);
  }
  return b;
}

// ---- mbufs -----------------------------------------------------------------

rte_mbuf* mbuf_from(const Bytes& b, rte_mempool* mp = nullptr) {
  rte_mbuf* m = rte_pktmbuf_alloc(mp ? mp : test::test_pool());
  if (!m) return nullptr;
  char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(b.size()));
  EXPECT_NE(d, nullptr);
  std::memcpy(d, b.data(), b.size());
  return m;
}

Bytes bytes_of(const rte_mbuf* m) {
  Bytes b(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, b.size(), b.data());
  if (p != b.data()) std::memcpy(b.data(), p, b.size());
  return b;
}

// Recomputes the IPv4 header and TCP/UDP checksums of the packet in `b`
// (IPv4 or IPv6 without extension headers, L3 at `l3`) with DPDK's functions
// and checks them against the stored values.
void expect_checksums_valid(const Bytes& b, size_t l3) {
  Bytes c = b;
  uint8_t* ip = &c[l3];
  if ((ip[0] >> 4) == 4) {
    auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
    uint16_t stored = h->hdr_checksum;
    h->hdr_checksum = 0;
    EXPECT_EQ(rte_ipv4_cksum(h), stored) << "IPv4 header checksum";
    h->hdr_checksum = stored;
    uint8_t* l4 = ip + (ip[0] & 0xf) * 4;
    size_t co = h->next_proto_id == IPPROTO_TCP ? 16 : 6;
    uint16_t l4_stored;
    std::memcpy(&l4_stored, l4 + co, 2);
    if (h->next_proto_id == IPPROTO_UDP && l4_stored == 0) return;
    std::memset(l4 + co, 0, 2);
    EXPECT_EQ(rte_ipv4_udptcp_cksum(h, l4), l4_stored) << "L4 checksum";
  } else {
    auto* h = reinterpret_cast<rte_ipv6_hdr*>(ip);
    uint8_t* l4 = ip + 40;
    size_t co = h->proto == IPPROTO_TCP ? 16 : h->proto == IPPROTO_UDP ? 6 : 2;
    uint16_t l4_stored;
    std::memcpy(&l4_stored, l4 + co, 2);
    std::memset(l4 + co, 0, 2);
    EXPECT_EQ(rte_ipv6_udptcp_cksum(h, l4), l4_stored) << "L4 checksum";
  }
}

// ---- sink ----------------------------------------------------------------

struct TestSink {
  struct Upcall {
    Bytes bytes;
    uint32_t orig_len;
    PacketState st;
    uint32_t pid;
    Bytes userdata;
  };

  rte_mempool* copy_pool = nullptr;  // test_pool() unless a test says otherwise
  std::vector<std::pair<uint32_t, rte_mbuf*>> outputs;
  std::vector<std::pair<rte_mbuf*, PacketState>> recircs;
  std::vector<Upcall> upcalls;
  std::array<int, kActionDropCount> drops{};
  int copies = 0;

  void output(uint32_t port, rte_mbuf* m) { outputs.emplace_back(port, m); }
  void userspace(rte_mbuf* m, const PacketState& st, const Action& a) {
    Bytes b = bytes_of(m);
    if (st.trunc_max_len && b.size() > st.trunc_max_len) b.resize(st.trunc_max_len);
    upcalls.push_back({b, rte_pktmbuf_pkt_len(m), st, a.userspace_pid(),
                       Bytes(a.userdata().begin(), a.userdata().end())});
  }
  void recirculate(rte_mbuf* m, const PacketState& st) { recircs.emplace_back(m, st); }
  void drop(rte_mbuf* m, ActionDrop r) {
    ++drops[static_cast<size_t>(r)];
    rte_pktmbuf_free(m);
  }
  rte_mbuf* copy(rte_mbuf* m) {
    ++copies;
    return rte_pktmbuf_copy(m, copy_pool ? copy_pool : test::test_pool(), 0, UINT32_MAX);
  }

  int drop_count(ActionDrop r) const { return drops[static_cast<size_t>(r)]; }
  int total_drops() const {
    int n = 0;
    for (int d : drops) n += d;
    return n;
  }
  void release() {
    for (auto& [port, m] : outputs) rte_pktmbuf_free(m);
    for (auto& [m, st] : recircs) rte_pktmbuf_free(m);
    outputs.clear();
    recircs.clear();
  }
};
static_assert(ActionSink<TestSink>);

// ---- programs ------------------------------------------------------------

struct ProgramDeleter {
  void operator()(ActionProgram* p) const { free_action_program(p); }
};
using ProgramPtr = std::unique_ptr<ActionProgram, ProgramDeleter>;

ProgramPtr compile(const NlBuf& b) {
  ActionProgram* p = nullptr;
  std::string err;
  EXPECT_EQ(compile_actions(b, &p, &err), 0) << err;
  return ProgramPtr(p);
}

template <class T>
void put_set(NlWriter& w, uint16_t type, const T& v) {
  size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
  w.put(type, v);
  w.end_nested(s);
}

template <class T>
void put_set_masked(NlWriter& w, uint16_t type, const T& v, const T& m) {
  size_t s = w.begin_nested(OVS_ACTION_ATTR_SET_MASKED);
  uint8_t buf[2 * sizeof(T)];
  std::memcpy(buf, &v, sizeof v);
  std::memcpy(buf + sizeof v, &m, sizeof m);
  w.put(type, buf, sizeof buf);
  w.end_nested(s);
}

void put_output(NlWriter& w, uint32_t port) { w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, port); }

// ---- fixture -------------------------------------------------------------

class ActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = test::test_pool();
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
  }
  void TearDown() override {
    sink_.release();
    EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_) << "mbuf leak or double free";
  }

  // Runs `b` on a packet with bytes `pkt`; returns the input mbuf pointer.
  rte_mbuf* run(const NlBuf& b, const Bytes& pkt, FlowKey* key_in = nullptr) {
    auto prog = compile(b);
    if (!prog) return nullptr;
    rte_mbuf* m = mbuf_from(pkt);
    FlowKey key{};
    if (key_in) key = *key_in;
    st_ = PacketState::from_key(key);
    execute_actions(*prog, m, key, st_, sink_);
    return m;
  }

  // Runs a one-set program followed by output(1) and expects the output to
  // be exactly `want`.
  void expect_rewrite(const NlBuf& b, const Pkt& in, const Pkt& out, size_t l3) {
    Bytes want = build(out);
    run(b, build(in));
    ASSERT_EQ(sink_.total_drops(), 0);
    ASSERT_EQ(sink_.outputs.size(), 1u);
    Bytes got = bytes_of(sink_.outputs[0].second);
    EXPECT_EQ(got, want);
    expect_checksums_valid(got, l3);
  }

  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
  TestSink sink_;
  PacketState st_{};
};

// ---- output, drop --------------------------------------------------------

TEST_F(ActionsTest, LastOutputConsumesTheOriginal) {
  NlBuf b;
  NlWriter w(&b);
  put_output(w, 5);
  Bytes pkt = build(Pkt{});
  rte_mbuf* m = run(b, pkt);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(sink_.outputs[0].first, 5u);
  EXPECT_EQ(sink_.outputs[0].second, m);
  EXPECT_EQ(bytes_of(m), pkt);
  EXPECT_EQ(sink_.copies, 0);
  EXPECT_EQ(sink_.total_drops(), 0);
}

TEST_F(ActionsTest, MultiOutputGivesDistinctEqualCopies) {
  NlBuf b;
  NlWriter w(&b);
  put_output(w, 1);
  put_output(w, 2);
  put_output(w, 3);
  Bytes pkt = build(Pkt{});
  rte_mbuf* m = run(b, pkt);
  ASSERT_EQ(sink_.outputs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(sink_.outputs[i].first, static_cast<uint32_t>(i + 1));
    EXPECT_EQ(bytes_of(sink_.outputs[i].second), pkt);
  }
  EXPECT_NE(sink_.outputs[0].second, sink_.outputs[1].second);
  EXPECT_NE(sink_.outputs[0].second, m);
  EXPECT_NE(sink_.outputs[1].second, m);
  EXPECT_EQ(sink_.outputs[2].second, m);
  EXPECT_EQ(sink_.copies, 2);
}

TEST_F(ActionsTest, EmptyProgramDrops) {
  NlBuf b;
  run(b, build(Pkt{}));
  EXPECT_EQ(sink_.drop_count(ActionDrop::kEmptyActions), 1);
  EXPECT_EQ(sink_.total_drops(), 1);
  EXPECT_TRUE(sink_.outputs.empty());
}

TEST_F(ActionsTest, NoOutputDropsAndMetadataSetsApply) {
  NlBuf b;
  NlWriter w(&b);
  put_set_masked<uint32_t>(w, OVS_KEY_ATTR_SKB_MARK, 0xab00, 0xff00);
  put_set<uint32_t>(w, OVS_KEY_ATTR_PRIORITY, 6);
  FlowKey key{};
  key.skb_mark = 0x12345678;
  key.priority = 1;
  run(b, build(Pkt{}), &key);
  EXPECT_EQ(sink_.drop_count(ActionDrop::kNoOutput), 1);
  EXPECT_EQ(st_.skb_mark, 0x1234ab78u);
  EXPECT_EQ(st_.priority, 6u);
}

TEST_F(ActionsTest, DropReasonNames) {
  EXPECT_STREQ(action_drop_name(ActionDrop::kPushVlanNoHeadroom), "push_vlan_no_headroom");
  EXPECT_STREQ(action_drop_name(ActionDrop::kSetOnWrongProto), "set_on_wrong_proto");
  EXPECT_STREQ(action_drop_name(ActionDrop::kEmptyActions), "empty_actions");
  EXPECT_STREQ(action_drop_name(ActionDrop::kCount), "unknown");
}

// ---- set -----------------------------------------------------------------

TEST_F(ActionsTest, SetEthernet) {
  Pkt in, out;
  out.src = {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
  out.dst = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
  ovs_key_ethernet k;
  std::memcpy(k.eth_src, out.src.data(), 6);
  std::memcpy(k.eth_dst, out.dst.data(), 6);
  NlBuf b;
  NlWriter w(&b);
  put_set(w, OVS_KEY_ATTR_ETHERNET, k);
  put_output(w, 1);
  expect_rewrite(b, in, out, 14);
}

TEST_F(ActionsTest, SetEthernetMaskedTouchesOnlyMaskedBits) {
  Pkt in, out;
  out.dst[5] = 0x0f;  // 0x01 -> low nibble set to 0xf
  ovs_key_ethernet v{}, m{};
  v.eth_dst[5] = 0x0f;
  m.eth_dst[5] = 0x0f;
  NlBuf b;
  NlWriter w(&b);
  put_set_masked(w, OVS_KEY_ATTR_ETHERNET, v, m);
  put_output(w, 1);
  expect_rewrite(b, in, out, 14);
}

ovs_key_ipv4 ipv4_key(const Pkt& p) {
  return ovs_key_ipv4{htonl(p.ip4_src), htonl(p.ip4_dst), p.proto, p.tos, p.ttl, 0};
}

TEST_F(ActionsTest, SetIpv4AllFieldsTcp) {
  Pkt in, out;
  out.ip4_src = 0xc0a80101;
  out.ip4_dst = 0xac100203;
  out.tos = 0xb8;
  out.ttl = 3;
  NlBuf b;
  NlWriter w(&b);
  put_set(w, OVS_KEY_ATTR_IPV4, ipv4_key(out));
  put_output(w, 1);
  expect_rewrite(b, in, out, 14);
}

TEST_F(ActionsTest, SetIpv4SrcOnlyUdpAndVlan) {
  Pkt in;
  in.proto = IPPROTO_UDP;
  in.vlans = {{0x88a8, 100}, {0x8100, 200}};
  Pkt out = in;
  out.ip4_src = 0x01020304;
  ovs_key_ipv4 v{}, m{};
  v.ipv4_src = htonl(out.ip4_src);
  m.ipv4_src = 0xffffffff;
  NlBuf b;
  NlWriter w(&b);
  put_set_masked(w, OVS_KEY_ATTR_IPV4, v, m);
  put_output(w, 1);
  expect_rewrite(b, in, out, 22);
}

TEST_F(ActionsTest, SetIpv4KeepsZeroUdpChecksum) {
  Pkt in;
  in.proto = IPPROTO_UDP;
  in.udp_zero_csum = true;
  Pkt out = in;
  out.ip4_dst = 0x08080808;
  NlBuf b;
  NlWriter w(&b);
  put_set(w, OVS_KEY_ATTR_IPV4, ipv4_key(out));
  put_output(w, 1);
  expect_rewrite(b, in, out, 14);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  Bytes got = bytes_of(sink_.outputs[0].second);
  EXPECT_EQ(got[14 + 20 + 6], 0);
  EXPECT_EQ(got[14 + 20 + 7], 0);
}

TEST_F(ActionsTest, SetIpv4OnLaterFragmentLeavesL4Alone) {
  Pkt in;
  in.frag = 0x0010;  // offset 128 bytes: no L4 header in this packet
  Pkt out = in;
  out.ip4_src = 0x0b0b0b0b;
  NlBuf b;
  NlWriter w(&b);
  put_set(w, OVS_KEY_ATTR_IPV4, ipv4_key(out));
  put_output(w, 1);
  Bytes orig = build(in);
  run(b, orig);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  Bytes got = bytes_of(sink_.outputs[0].second);
  Bytes want = build(out);
  // The IP header is rewritten with a valid checksum; the bytes after it are
  // the original ones.
  EXPECT_TRUE(std::equal(want.begin(), want.begin() + 34, got.begin()));
  EXPECT_TRUE(std::equal(orig.begin() + 34, orig.end(), got.begin() + 34));
}

TEST_F(ActionsTest, SetIpv4WithChecksumOffloadUpdatesPseudoHeaderSum) {
  Pkt in;
  Bytes pkt = build(in);
  rte_mbuf* m = mbuf_from(pkt);
  auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv4_hdr*, 14);
  auto* tcp = rte_pktmbuf_mtod_offset(m, rte_tcp_hdr*, 34);
  m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_TCP_CKSUM;
  m->l2_len = 14;
  m->l3_len = 20;
  ip->hdr_checksum = 0;  // what drivers want with IP checksum offload
  tcp->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);

  NlBuf b;
  NlWriter w(&b);
  Pkt out = in;
  out.ip4_src = 0x64400001;
  out.sport = 4444;
  put_set(w, OVS_KEY_ATTR_IPV4, ipv4_key(out));
  put_set(w, OVS_KEY_ATTR_TCP, ovs_key_tcp{htons(4444), htons(80)});
  put_output(w, 1);
  auto prog = compile(b);
  FlowKey key{};
  PacketState st = PacketState::from_key(key);
  execute_actions(*prog, m, key, st, sink_);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(ip->src_addr, htonl(0x64400001));
  EXPECT_EQ(tcp->src_port, htons(4444));
  EXPECT_EQ(ip->hdr_checksum, 0) << "left for the NIC";
  EXPECT_EQ(tcp->cksum, rte_ipv4_phdr_cksum(ip, m->ol_flags))
      << "pseudo-header sum, ports excluded";
}

ovs_key_ipv6 ipv6_key(const Pkt& p) {
  ovs_key_ipv6 k{};
  std::memcpy(k.ipv6_src, p.ip6_src.data(), 16);
  std::memcpy(k.ipv6_dst, p.ip6_dst.data(), 16);
  k.ipv6_label = htonl(p.label);
  k.ipv6_proto = p.proto;
  k.ipv6_tclass = p.tclass;
  k.ipv6_hlimit = p.hlim;
  return k;
}

Pkt v6(uint8_t proto) {
  Pkt p;
  p.eth_type = 0x86dd;
  p.proto = proto;
  return p;
}

TEST_F(ActionsTest, SetIpv6AllFields) {
  for (uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}, uint8_t{IPPROTO_ICMPV6}}) {
    SCOPED_TRACE(int{proto});
    Pkt in = v6(proto), out = in;
    out.ip6_src[3] = 0x77;
    out.ip6_src[15] = 0x42;
    out.ip6_dst[0] = 0xfd;
    out.tclass = 0x2e;
    out.label = 0xfedcb;
    out.hlim = 1;
    NlBuf b;
    NlWriter w(&b);
    put_set(w, OVS_KEY_ATTR_IPV6, ipv6_key(out));
    put_output(w, 1);
    expect_rewrite(b, in, out, 14);
    sink_.release();
  }
}

TEST_F(ActionsTest, SetIpv6MaskedDstBehindExtensionHeader) {
  Pkt in = v6(IPPROTO_UDP);
  in.hop_by_hop = true;
  Pkt out = in;
  out.ip6_dst[14] = 0xaa;
  ovs_key_ipv6 v{}, m{};
  reinterpret_cast<uint8_t*>(v.ipv6_dst)[14] = 0xaa;
  reinterpret_cast<uint8_t*>(m.ipv6_dst)[14] = 0xff;
  NlBuf b;
  NlWriter w(&b);
  put_set_masked(w, OVS_KEY_ATTR_IPV6, v, m);
  put_output(w, 1);
  Bytes want = build(out);  // checksum computed by the reference, ext header included
  run(b, build(in));
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(bytes_of(sink_.outputs[0].second), want);
}

TEST_F(ActionsTest, SetTcpAndUdpPorts) {
  struct Case {
    Pkt in;
    size_t l3;
  };
  Pkt v4udp;
  v4udp.proto = IPPROTO_UDP;
  Pkt vlan_tcp;
  vlan_tcp.vlans = {{0x8100, 5}};
  for (const Case& c : {Case{Pkt{}, 14}, Case{v4udp, 14}, Case{v6(IPPROTO_TCP), 14},
                        Case{v6(IPPROTO_UDP), 14}, Case{vlan_tcp, 18}}) {
    SCOPED_TRACE(int{c.in.proto});
    Pkt out = c.in;
    out.sport = 65535;
    out.dport = 8443;
    NlBuf b;
    NlWriter w(&b);
    if (c.in.proto == IPPROTO_TCP) {
      put_set(w, OVS_KEY_ATTR_TCP, ovs_key_tcp{htons(out.sport), htons(out.dport)});
    } else {
      put_set(w, OVS_KEY_ATTR_UDP, ovs_key_udp{htons(out.sport), htons(out.dport)});
    }
    put_output(w, 1);
    expect_rewrite(b, c.in, out, c.l3);
    sink_.release();
  }
}

TEST_F(ActionsTest, SetMaskedTcpDstOnly) {
  Pkt in, out;
  out.dport = 0x50ff;  // 80 = 0x0050: set the low byte only
  NlBuf b;
  NlWriter w(&b);
  put_set_masked(w, OVS_KEY_ATTR_TCP, ovs_key_tcp{0, htons(0x00ff)}, ovs_key_tcp{0, htons(0x00ff)});
  put_output(w, 1);
  in.dport = 0x5050;
  out.dport = 0x50ff;
  expect_rewrite(b, in, out, 14);
}

TEST_F(ActionsTest, SetOnWrongProtocolDrops) {
  Pkt udp;
  udp.proto = IPPROTO_UDP;
  Bytes arp(60, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  struct Case {
    NlBuf b;
    Bytes pkt;
  };
  std::vector<Case> cases;
  {
    NlBuf b;
    NlWriter w(&b);
    put_set(w, OVS_KEY_ATTR_TCP, ovs_key_tcp{1, 2});
    put_output(w, 1);
    cases.push_back({b, build(udp)});
  }
  {
    NlBuf b;
    NlWriter w(&b);
    put_set(w, OVS_KEY_ATTR_IPV4, ipv4_key(Pkt{}));
    put_output(w, 1);
    cases.push_back({b, build(v6(IPPROTO_TCP))});
  }
  {
    NlBuf b;
    NlWriter w(&b);
    put_set(w, OVS_KEY_ATTR_IPV6, ipv6_key(v6(IPPROTO_TCP)));
    put_output(w, 1);
    cases.push_back({b, arp});
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    run(cases[i].b, cases[i].pkt);
    EXPECT_EQ(sink_.drop_count(ActionDrop::kSetOnWrongProto), static_cast<int>(i + 1));
    EXPECT_TRUE(sink_.outputs.empty());
  }
}

TEST_F(ActionsTest, SetOnTruncatedHeaderDrops) {
  Bytes pkt = build(Pkt{});
  pkt.resize(14 + 12);  // IPv4 header cut short
  NlBuf b;
  NlWriter w(&b);
  put_set(w, OVS_KEY_ATTR_IPV4, ipv4_key(Pkt{}));
  put_output(w, 1);
  run(b, pkt);
  EXPECT_EQ(sink_.drop_count(ActionDrop::kHeaderTruncated), 1);
  EXPECT_TRUE(sink_.outputs.empty());
}

// ---- VLAN ----------------------------------------------------------------

TEST_F(ActionsTest, PushAndPopVlanExactBytes) {
  Pkt in;
  Pkt one = in;
  one.vlans = {{0x8100, 0x2005}};
  Pkt two = in;
  two.vlans = {{0x88a8, 0x0064}, {0x8100, 0x2005}};
  {
    NlBuf b;
    NlWriter w(&b);
    w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x8100), htons(0x1000 | 0x2005)});
    put_output(w, 1);
    w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x88a8), htons(0x1000 | 0x0064)});
    put_output(w, 2);
    w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
    w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
    w.put_flag(OVS_ACTION_ATTR_POP_VLAN);  // no tag left: a no-op
    put_output(w, 3);
    run(b, build(in));
  }
  ASSERT_EQ(sink_.outputs.size(), 3u);
  EXPECT_EQ(bytes_of(sink_.outputs[0].second), build(one));
  EXPECT_EQ(bytes_of(sink_.outputs[1].second), build(two));
  EXPECT_EQ(bytes_of(sink_.outputs[2].second), build(in));
  EXPECT_EQ(sink_.total_drops(), 0);
}

TEST_F(ActionsTest, PushVlanKeepsOffloadL2LenTrue) {
  NlBuf b;
  NlWriter w(&b);
  w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x8100), htons(0x1001)});
  put_output(w, 1);
  w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
  w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
  put_output(w, 2);
  auto prog = compile(b);
  Pkt in;
  in.vlans = {{0x8100, 7}};
  rte_mbuf* m = mbuf_from(build(in));
  m->l2_len = 18;
  FlowKey key{};
  PacketState st = PacketState::from_key(key);
  execute_actions(*prog, m, key, st, sink_);
  ASSERT_EQ(sink_.outputs.size(), 2u);
  EXPECT_EQ(sink_.outputs[0].second->l2_len, 22);
  EXPECT_EQ(sink_.outputs[1].second->l2_len, 14);
}

TEST_F(ActionsTest, PushVlanWithoutHeadroomDrops) {
  NlBuf b;
  NlWriter w(&b);
  w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x8100), htons(0x1001)});
  put_output(w, 1);
  auto prog = compile(b);
  Bytes pkt = build(Pkt{});
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  m->data_off = 2;  // less headroom than a tag needs
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(pkt.size())), pkt.data(), pkt.size());
  FlowKey key{};
  PacketState st = PacketState::from_key(key);
  execute_actions(*prog, m, key, st, sink_);
  EXPECT_EQ(sink_.drop_count(ActionDrop::kPushVlanNoHeadroom), 1);
  EXPECT_TRUE(sink_.outputs.empty());
}

// ---- clone, trunc, userspace, recirc, hash, tunnel ------------------------

TEST_F(ActionsTest, CloneIsolatesPacketAndMetadata) {
  Pkt in, changed;
  changed.dst = {0x0e, 0x0e, 0x0e, 0x0e, 0x0e, 0x0e};
  ovs_key_ethernet k;
  std::memcpy(k.eth_src, changed.src.data(), 6);
  std::memcpy(k.eth_dst, changed.dst.data(), 6);
  NlBuf b;
  NlWriter w(&b);
  size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  put_set(w, OVS_KEY_ATTR_ETHERNET, k);
  put_set<uint32_t>(w, OVS_KEY_ATTR_SKB_MARK, 99);
  w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, 5);
  w.end_nested(c);
  put_output(w, 2);
  rte_mbuf* m = run(b, build(in));
  ASSERT_EQ(sink_.recircs.size(), 1u);
  EXPECT_EQ(bytes_of(sink_.recircs[0].first), build(changed));
  EXPECT_EQ(sink_.recircs[0].second.skb_mark, 99u);
  EXPECT_EQ(sink_.recircs[0].second.recirc_id, 5u);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(sink_.outputs[0].second, m);
  EXPECT_EQ(bytes_of(m), build(in));
  EXPECT_EQ(st_.skb_mark, 0u);
  EXPECT_EQ(st_.recirc_id, 0u);
}

TEST_F(ActionsTest, LastCloneRunsOnTheOriginal) {
  NlBuf b;
  NlWriter w(&b);
  put_output(w, 1);
  size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  put_output(w, 2);
  w.end_nested(c);
  rte_mbuf* m = run(b, build(Pkt{}));
  ASSERT_EQ(sink_.outputs.size(), 2u);
  EXPECT_EQ(sink_.outputs[1].second, m);
  EXPECT_EQ(sink_.copies, 1);
}

TEST_F(ActionsTest, CloneWithoutOutputCountsNoOutput) {
  NlBuf b;
  NlWriter w(&b);
  size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
  w.end_nested(c);
  put_output(w, 2);
  run(b, build(Pkt{}));
  EXPECT_EQ(sink_.drop_count(ActionDrop::kNoOutput), 1);
  EXPECT_EQ(sink_.outputs.size(), 1u);
}

TEST_F(ActionsTest, TruncAppliesToTheNextOutputOnly) {
  Pkt in;
  in.payload = 200;
  Bytes pkt = build(in);
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 60);
  put_output(w, 1);
  put_output(w, 2);
  w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 100);
  put_output(w, 3);
  run(b, pkt);
  ASSERT_EQ(sink_.outputs.size(), 3u);
  EXPECT_EQ(bytes_of(sink_.outputs[0].second), Bytes(pkt.begin(), pkt.begin() + 60));
  EXPECT_EQ(bytes_of(sink_.outputs[1].second), pkt);
  EXPECT_EQ(bytes_of(sink_.outputs[2].second), Bytes(pkt.begin(), pkt.begin() + 100));
}

TEST_F(ActionsTest, TruncFreesTrailingSegments) {
  Pkt in;
  in.payload = 100;
  Bytes pkt = build(in);
  // Three segments: 60 + 50 + the rest.
  rte_mbuf* segs[3];
  size_t cut[4] = {0, 60, 110, pkt.size()};
  for (int i = 0; i < 3; ++i) {
    segs[i] = rte_pktmbuf_alloc(pool_);
    std::memcpy(rte_pktmbuf_append(segs[i], static_cast<uint16_t>(cut[i + 1] - cut[i])),
                pkt.data() + cut[i], cut[i + 1] - cut[i]);
  }
  ASSERT_EQ(rte_pktmbuf_chain(segs[0], segs[1]), 0);
  ASSERT_EQ(rte_pktmbuf_chain(segs[0], segs[2]), 0);
  rte_mbuf* m = segs[0];
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 80);
  put_output(w, 1);
  auto prog = compile(b);
  FlowKey key{};
  PacketState st = PacketState::from_key(key);
  execute_actions(*prog, m, key, st, sink_);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(m->nb_segs, 2);
  EXPECT_EQ(rte_pktmbuf_pkt_len(m), 80u);
  EXPECT_EQ(bytes_of(m), Bytes(pkt.begin(), pkt.begin() + 80));
  // The third segment went back to the pool; TearDown's count proves it.
}

TEST_F(ActionsTest, UserspaceDeliversWithoutConsuming) {
  Pkt in;
  in.payload = 100;
  Bytes pkt = build(in);
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 64);
  size_t u = w.begin_nested(OVS_ACTION_ATTR_USERSPACE);
  w.put<uint32_t>(OVS_USERSPACE_ATTR_PID, 77);
  w.put(OVS_USERSPACE_ATTR_USERDATA, "sflow-cookie", 12);
  w.end_nested(u);
  put_set<uint32_t>(w, OVS_KEY_ATTR_SKB_MARK, 3);
  put_output(w, 9);
  rte_mbuf* m = run(b, pkt);
  ASSERT_EQ(sink_.upcalls.size(), 1u);
  const auto& up = sink_.upcalls[0];
  EXPECT_EQ(up.pid, 77u);
  EXPECT_EQ(up.userdata, Bytes({'s', 'f', 'l', 'o', 'w', '-', 'c', 'o', 'o', 'k', 'i', 'e'}));
  EXPECT_EQ(up.bytes, Bytes(pkt.begin(), pkt.begin() + 64));
  EXPECT_EQ(up.orig_len, pkt.size());
  EXPECT_EQ(up.st.skb_mark, 0u);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(sink_.outputs[0].second, m);
  EXPECT_EQ(bytes_of(m), pkt) << "trunc was consumed by the userspace action";
  EXPECT_EQ(sink_.copies, 0);
}

TEST_F(ActionsTest, RecircLastAndNotLast) {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, 7);
  put_output(w, 1);
  w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, 8);
  FlowKey key{};
  key.in_port = 4;
  key.recirc_id = 1;
  rte_mbuf* m = run(b, build(Pkt{}), &key);
  ASSERT_EQ(sink_.recircs.size(), 2u);
  EXPECT_NE(sink_.recircs[0].first, m);
  EXPECT_EQ(sink_.recircs[0].second.recirc_id, 7u);
  EXPECT_EQ(sink_.recircs[0].second.in_port, 4u);
  EXPECT_EQ(sink_.recircs[1].first, m);
  EXPECT_EQ(sink_.recircs[1].second.recirc_id, 8u);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(bytes_of(sink_.outputs[0].second), bytes_of(m));
}

uint32_t hash_of(uint32_t alg, uint32_t basis, const FlowKey& key) {
  NlBuf b;
  NlWriter w(&b);
  w.put(OVS_ACTION_ATTR_HASH, ovs_action_hash{alg, basis});
  auto prog = compile(b);
  TestSink sink;
  rte_mbuf* m = mbuf_from(build(Pkt{}));
  PacketState st = PacketState::from_key(key);
  execute_actions(*prog, m, key, st, sink);
  EXPECT_EQ(sink.drop_count(ActionDrop::kNoOutput), 1);
  return st.dp_hash;
}

TEST_F(ActionsTest, HashL4AndSymmetricL4) {
  FlowKey k{};
  k.eth_type = htons(0x0800);
  k.nw_proto = IPPROTO_TCP;
  k.ipv4_src = htonl(0x0a000001);
  k.ipv4_dst = htonl(0x0a000002);
  k.tp_src = htons(1000);
  k.tp_dst = htons(80);
  FlowKey r = k;  // the reverse direction
  std::swap(r.ipv4_src, r.ipv4_dst);
  std::swap(r.tp_src, r.tp_dst);
  FlowKey other = k;
  other.tp_src = htons(1001);

  uint32_t h = hash_of(kHashL4, 0, k);
  EXPECT_NE(h, 0u);
  EXPECT_EQ(hash_of(kHashL4, 0, k), h) << "deterministic";
  EXPECT_NE(hash_of(kHashL4, 1, k), h) << "basis matters";
  EXPECT_NE(hash_of(kHashL4, 0, other), h) << "ports matter";
  EXPECT_NE(hash_of(kHashL4, 0, r), h) << "L4 is directional";
  EXPECT_EQ(hash_of(kHashSymL4, 5, r), hash_of(kHashSymL4, 5, k)) << "symmetric";
  EXPECT_NE(hash_of(kHashSymL4, 5, other), hash_of(kHashSymL4, 5, k));

  FlowKey k6{};
  k6.eth_type = htons(0x86dd);
  k6.nw_proto = IPPROTO_UDP;
  k6.ipv6_src[15] = 1;
  k6.ipv6_dst[15] = 2;
  FlowKey r6 = k6;
  std::swap(r6.ipv6_src, r6.ipv6_dst);
  EXPECT_EQ(hash_of(kHashSymL4, 0, r6), hash_of(kHashSymL4, 0, k6));
  EXPECT_NE(hash_of(kHashL4, 0, r6), hash_of(kHashL4, 0, k6));
}

TEST_F(ActionsTest, SetTunnelFillsMetadata) {
  NlBuf b;
  NlWriter w(&b);
  size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
  size_t t = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
  w.put<uint64_t>(OVS_TUNNEL_KEY_ATTR_ID, htobe64(42));
  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, htonl(0xc0a80002));
  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 32);
  w.put<uint16_t>(OVS_TUNNEL_KEY_ATTR_TP_DST, htons(6081));
  w.end_nested(t);
  w.end_nested(s);
  put_output(w, 10);
  FlowKey key{};
  key.tun_id = htobe64(7);  // arrived on another tunnel
  key.tun_ipv4_src = htonl(1);
  run(b, build(Pkt{}), &key);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(st_.tun.tun_id, htobe64(42));
  EXPECT_EQ(st_.tun.ipv4_dst, htonl(0xc0a80002));
  EXPECT_EQ(st_.tun.ipv4_src, 0u) << "set(tunnel) replaces all of it";
  EXPECT_EQ(st_.tun.ttl, 32);
  EXPECT_EQ(st_.tun.tp_dst, htons(6081));
  EXPECT_EQ(st_.tun.flags, kTunFlagKey);
}

// ---- copy failures ---------------------------------------------------------

TEST_F(ActionsTest, CopyFailuresAreCountedWithoutLeaks) {
  rte_mempool* tiny = rte_pktmbuf_pool_create("dpx_actions_tiny", 4, 0, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(tiny, nullptr);
  std::vector<rte_mbuf*> held;
  while (rte_mbuf* x = rte_pktmbuf_alloc(tiny)) held.push_back(x);
  ASSERT_EQ(rte_mempool_avail_count(tiny), 0u);
  sink_.copy_pool = tiny;

  NlBuf b;
  NlWriter w(&b);
  put_output(w, 1);  // copy fails
  size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  put_output(w, 2);
  w.end_nested(c);                             // copy fails
  w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, 3);  // copy fails
  put_output(w, 4);                            // the original
  rte_mbuf* m = run(b, build(Pkt{}));
  EXPECT_EQ(sink_.drop_count(ActionDrop::kOutputCopyFailed), 1);
  EXPECT_EQ(sink_.drop_count(ActionDrop::kCloneCopyFailed), 1);
  EXPECT_EQ(sink_.drop_count(ActionDrop::kRecircCopyFailed), 1);
  ASSERT_EQ(sink_.outputs.size(), 1u);
  EXPECT_EQ(sink_.outputs[0].first, 4u);
  EXPECT_EQ(sink_.outputs[0].second, m);
  EXPECT_TRUE(sink_.recircs.empty());

  for (rte_mbuf* x : held) rte_pktmbuf_free(x);
  EXPECT_EQ(rte_mempool_avail_count(tiny), 4u);
  rte_mempool_free(tiny);
}

}  // namespace
}  // namespace dpx
