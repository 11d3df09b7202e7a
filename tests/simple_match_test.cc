// simple_match.h must agree with full key extraction: whenever
// simple_extract() accepts a packet, extract_key() accepts it too and fills
// the simple fields (and the TCP flags) with the same values. Checked on
// hand-built packets and on a large set of random mutations of them.
#include "simple_match.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "key_extract.h"

namespace dpx {
namespace {

std::vector<uint8_t> ipv4_packet(uint8_t proto, int vlans, uint16_t frag, uint32_t l4_len) {
  const size_t l3 = 14 + 4 * static_cast<size_t>(vlans);
  std::vector<uint8_t> p(l3 + 20 + l4_len, 0x02);
  size_t off = 12;
  for (int i = 0; i < vlans; ++i, off += 4) {
    p[off] = i ? 0x81 : 0x88;  // outer 802.1ad, inner 802.1Q
    p[off + 1] = i ? 0x00 : 0xa8;
    p[off + 2] = 0x20;
    p[off + 3] = static_cast<uint8_t>(10 + i);
  }
  p[off] = 0x08;
  p[off + 1] = 0x00;
  const uint16_t tot = static_cast<uint16_t>(20 + l4_len);
  const uint8_t ip[20] = {0x45,
                          0,
                          static_cast<uint8_t>(tot >> 8),
                          static_cast<uint8_t>(tot),
                          0,
                          1,
                          static_cast<uint8_t>(frag >> 8),
                          static_cast<uint8_t>(frag),
                          64,
                          proto,
                          0,
                          0,
                          10,
                          0,
                          0,
                          1,
                          10,
                          0,
                          0,
                          2};
  for (size_t i = 0; i < 20; ++i) p[l3 + i] = ip[i];
  for (uint32_t i = 0; i < l4_len; ++i) p[l3 + 20 + i] = static_cast<uint8_t>(i * 37 + 1);
  return p;
}

// Runs both extractors; returns whether simple_extract accepted.
bool check_agreement(const std::vector<uint8_t>& p) {
  SimpleKey s{};
  uint16_t flags = 0xffff;
  uint32_t l3 = 0;
  const bool simple = simple_extract(p.data(), static_cast<uint32_t>(p.size()), 7, &s, &flags, &l3);
  PacketMetadata md;
  md.in_port = 7;
  FlowKey k;
  const ExtractDrop d = extract_key(p.data(), static_cast<uint32_t>(p.size()), md, &k);
  if (simple) {
    EXPECT_EQ(d, ExtractDrop::kNone) << ::testing::PrintToString(p);
    EXPECT_EQ(s.in_port, k.in_port);
    EXPECT_EQ(s.eth_type, k.eth_type);
    EXPECT_EQ(s.nw_frag, k.nw_frag);
    EXPECT_EQ(s.nw_tos, k.nw_tos);
    EXPECT_EQ(std::memcmp(s.vlan, k.vlan, sizeof s.vlan), 0);
    EXPECT_EQ(flags, __builtin_bswap16(k.tcp_flags));
    // The IPv4 header's offset: after the Ethernet header and the tags.
    EXPECT_EQ(l3, 14u + (s.vlan[0].tpid ? 4 : 0) + (s.vlan[1].tpid ? 4 : 0));
    const SimpleFlowFields f = simple_flow_fields(p.data() + l3, s);
    EXPECT_EQ(f.proto, k.nw_proto);
    EXPECT_EQ(std::memcmp(&f.addrs, &k.ipv4_src, 8), 0);
    EXPECT_EQ(std::memcmp(&f.ports, &k.tp_src, 4), 0);
    FlowKey fk;
    simple_to_flow_key(s, &fk);
    // Under any simple mask the two keys are the same key.
    EXPECT_EQ(fk.in_port, k.in_port);
    EXPECT_EQ(fk.recirc_id, 0u);
  }
  return simple;
}

TEST(SimpleMatch, AgreesWithKeyExtractionOnWellFormedPackets) {
  for (int vlans = 0; vlans <= 2; ++vlans)
    for (uint8_t proto : {6, 17, 132, 1, 47})
      for (uint16_t frag : {0x0000, 0x4000, 0x2000, 0x0010, 0x2010})
        EXPECT_TRUE(check_agreement(ipv4_packet(proto, vlans, frag, 40)))
            << int(proto) << " " << vlans << " " << frag;
}

TEST(SimpleMatch, LeavesOtherPacketsToTheFullPath) {
  auto p = ipv4_packet(6, 0, 0, 40);
  p[12] = 0x86;  // IPv6
  p[13] = 0xdd;
  EXPECT_FALSE(check_agreement(p));
  p[12] = 0x08;  // ARP
  p[13] = 0x06;
  EXPECT_FALSE(check_agreement(p));
  p[12] = 0x00;  // 802.3 length field
  p[13] = 0x40;
  EXPECT_FALSE(check_agreement(p));
  auto t = ipv4_packet(6, 0, 0, 12);  // TCP header cut short
  EXPECT_FALSE(check_agreement(t));
  auto h = ipv4_packet(17, 0, 0, 8);
  h[14] = 0x44;  // IHL 4
  EXPECT_FALSE(check_agreement(h));
  auto l = ipv4_packet(17, 1, 0, 8);
  l.resize(l.size() - 3);  // total length beyond the frame
  EXPECT_FALSE(check_agreement(l));
  EXPECT_FALSE(check_agreement(std::vector<uint8_t>(13, 0)));
}

TEST(SimpleMatch, RandomMutationsNeverDisagree) {
  std::mt19937 rng(4242);
  int accepted = 0;
  for (int iter = 0; iter < 200000; ++iter) {
    auto p = ipv4_packet(static_cast<uint8_t>(std::vector<int>{6, 17, 132, 1, 89}[rng() % 5]),
                         static_cast<int>(rng() % 3),
                         static_cast<uint16_t>(rng() % 4 == 0 ? rng() : 0), rng() % 48);
    const int flips = static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) p[rng() % p.size()] = static_cast<uint8_t>(rng());
    if (rng() % 4 == 0) p.resize(rng() % (p.size() + 1));
    accepted += check_agreement(p);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(accepted, 50000);  // the accepting path was really exercised
}

// simple_run_match() must accept a frame only if simple_extract() gives it
// exactly the run's key (the key the head came from) and the same TCP
// flags, and must accept every frame of a common key (untagged IPv4, not a
// fragment) without IPv4 options. Returns whether it accepted the frame.
bool check_run_match(const std::vector<uint8_t>& p) {
  const uint32_t len = static_cast<uint32_t>(p.size());
  SimpleKey s{};
  uint16_t flags = 0xffff;
  uint32_t l3 = 0;
  const bool simple = simple_extract(p.data(), len, 7, &s, &flags, &l3);
  const uint64_t head = simple ? simple_run_head(s) : kNoRunHead;
  int accepted = 0;
  if (head != kNoRunHead) {
    EXPECT_EQ(s.eth_type, 0x0008);
    EXPECT_EQ(s.nw_frag, 0);
    EXPECT_EQ(s.vlan[0].tpid | s.vlan[1].tpid, 0);
  }
  // Every head a run of a common key may have: each TOS.
  for (uint32_t tos = 0; tos < 256; ++tos) {
    SimpleKey k{};
    k.in_port = 7;
    k.eth_type = 0x0008;
    k.nw_tos = static_cast<uint8_t>(tos);
    const uint64_t h = simple_run_head(k);
    EXPECT_NE(h, kNoRunHead);
    uint16_t f = 0xeeee;
    if (simple_run_match(p.data(), len, h, &f)) {
      ++accepted;
      EXPECT_TRUE(simple) << ::testing::PrintToString(p);
      EXPECT_TRUE(simple_keys_equal(s, k)) << ::testing::PrintToString(p);
      EXPECT_EQ(f, flags);
    } else if (simple && simple_keys_equal(s, k)) {
      EXPECT_NE(p[14], 0x45) << "a common frame refused: " << ::testing::PrintToString(p);
    }
  }
  uint16_t f;
  EXPECT_FALSE(simple_run_match(p.data(), len, kNoRunHead, &f));
  EXPECT_LE(accepted, 1);  // one TOS at most
  return accepted != 0;
}

TEST(SimpleMatch, RunMatchAgreesWithSimpleExtract) {
  for (int vlans = 0; vlans <= 2; ++vlans)
    for (uint8_t proto : {6, 17, 132, 1, 47})
      for (uint16_t frag : {0x0000, 0x4000, 0x2000, 0x0010})
        for (uint32_t l4 : {0u, 7u, 8u, 12u, 19u, 20u, 40u}) {
          // Untagged, no fragment bits (DF is none) and a whole L4 header.
          const uint32_t min_l4 = proto == 6 ? 20 : proto == 132 ? 12 : proto == 47 ? 0 : 8;
          const bool common = vlans == 0 && (frag & 0x3fff) == 0 && l4 >= min_l4;
          EXPECT_EQ(check_run_match(ipv4_packet(proto, vlans, frag, l4)), common)
              << int(proto) << " " << vlans << " " << frag << " " << l4;
        }
  auto o = ipv4_packet(17, 0, 0, 16);
  o[14] = 0x46;  // IPv4 options: simple_extract's, not the run match's
  EXPECT_FALSE(check_run_match(o));
  std::mt19937 rng(777);
  int accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    auto p = ipv4_packet(static_cast<uint8_t>(std::vector<int>{6, 17, 132, 1, 89}[rng() % 5]),
                         static_cast<int>(rng() % 4 == 0),
                         static_cast<uint16_t>(rng() % 4 == 0 ? rng() : 0), rng() % 48);
    const int flips = static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the bytes the run match reads.
      const size_t at = rng() % 2 ? 12 + rng() % 36 : rng();
      p[at % p.size()] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0) p.resize(rng() % (p.size() + 1));
    accepted += check_run_match(p);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(accepted, 3000);  // the accepting path was really exercised
}

TEST(SimpleMatch, MaskClassification) {
  FlowKey m{};
  m.clear();
  EXPECT_TRUE(mask_is_simple(m));
  m.in_port = ~0u;
  m.eth_type = 0xffff;
  m.nw_frag = 0xff;
  m.vlan[0].tci = 0xffff;
  m.recirc_id = ~0u;
  m.nw_tos = 0x03;  // the ECN bits OVS's tunnel outputs match
  EXPECT_TRUE(mask_is_simple(m));
  FlowKey a = m;
  a.ipv4_dst = 0xffffffff;
  EXPECT_FALSE(mask_is_simple(a));
  FlowKey b = m;
  b.eth_src[5] = 1;
  EXPECT_FALSE(mask_is_simple(b));
  // The tunnel fields a decapsulated run shares are simple; the outer UDP
  // source port, which differs per inner flow, and Geneve options are not.
  FlowKey c = m;
  c.tun_id = ~0ull;
  c.tun_ipv4_src = c.tun_ipv4_dst = ~0u;
  c.tun_ipv6_dst[15] = 0xff;
  c.tun_flags = 0xffff;
  c.tun_tos = c.tun_ttl = 0xff;
  c.tun_tp_dst = 0xffff;
  EXPECT_TRUE(mask_is_simple(c));
  FlowKey e = c;
  e.tun_tp_src = 0xffff;
  EXPECT_FALSE(mask_is_simple(e));
  FlowKey g = c;
  g.tun_opts_len = 0xff;
  g.tun_opts[sizeof g.tun_opts - 1] = 0xff;
  EXPECT_FALSE(mask_is_simple(g));
  FlowKey d = m;
  d.nw_proto = 0xff;
  EXPECT_FALSE(mask_is_simple(d));
}

}  // namespace
}  // namespace dpx
