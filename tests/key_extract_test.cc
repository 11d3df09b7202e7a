// Key extraction and flow hash tests. Packets are built byte by byte on the
// stack; expected keys are spelled out field by field and compared with the
// whole 192-byte key, so a stray byte anywhere fails the test.
#include "key_extract.h"

#include <arpa/inet.h>
#include <endian.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "flow_hash.h"
#include "flow_key.h"

namespace dpx {
namespace {

// ---- packet building ----

struct Pkt {
  uint8_t b[512] = {};
  uint32_t n = 0;

  Pkt& u8(uint8_t v) {
    b[n++] = v;
    return *this;
  }
  Pkt& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Pkt& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  Pkt& bytes(const uint8_t* p, size_t k) {
    std::memcpy(b + n, p, k);
    n += static_cast<uint32_t>(k);
    return *this;
  }
  Pkt& fill(uint8_t v, size_t k) {
    std::memset(b + n, v, k);
    n += static_cast<uint32_t>(k);
    return *this;
  }
  void put16(uint32_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
  }
};

constexpr uint8_t kMacDst[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr uint8_t kMacSrc[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
constexpr uint32_t kIp4Src = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kIp4Dst = 0xc0a80102;  // 192.168.1.2
constexpr uint8_t kIp6Src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
constexpr uint8_t kIp6Dst[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0xff, 0xfe, 0, 0, 0x02};

void eth_addrs(Pkt& p) { p.bytes(kMacDst, 6).bytes(kMacSrc, 6); }

// An IPv4 header without options; total length = 20 + l4_len.
uint32_t ipv4(Pkt& p, uint8_t proto, uint32_t l4_len, uint16_t frag_off = 0x4000,
              uint8_t tos = 0x2e, uint8_t ttl = 64) {
  uint32_t at = p.n;
  p.u8(0x45).u8(tos).u16(static_cast<uint16_t>(20 + l4_len)).u16(0x1234).u16(frag_off);
  p.u8(ttl).u8(proto).u16(0xbeef).u32(kIp4Src).u32(kIp4Dst);
  return at;
}

void tcp(Pkt& p, uint16_t sport, uint16_t dport, uint16_t flags) {
  p.u16(sport).u16(dport).u32(1000).u32(2000).u16(static_cast<uint16_t>(0x5000 | flags));
  p.u16(65535).u16(0xabcd).u16(0);
}

void udp(Pkt& p, uint16_t sport, uint16_t dport, uint16_t payload) {
  p.u16(sport).u16(dport).u16(static_cast<uint16_t>(8 + payload)).u16(0);
  p.fill(0x5a, payload);
}

// An IPv6 header: version 6, traffic class `tc`, flow label `label`.
void ipv6(Pkt& p, uint8_t next, uint16_t payload_len, uint8_t tc = 0xb8, uint32_t label = 0x12345,
          uint8_t hlim = 64) {
  p.u32((6u << 28) | (uint32_t{tc} << 20) | label).u16(payload_len).u8(next).u8(hlim);
  p.bytes(kIp6Src, 16).bytes(kIp6Dst, 16);
}

// ---- expected keys ----

constexpr PacketMetadata kMd = {5, 7, 0x11223344, 0x55, 9, nullptr};

FlowKey base_key(uint16_t eth_type, const PacketMetadata& md = kMd) {
  FlowKey k;
  k.clear();
  k.in_port = md.in_port;
  k.recirc_id = md.recirc_id;
  k.dp_hash = md.dp_hash;
  k.skb_mark = md.skb_mark;
  k.priority = md.priority;
  std::memcpy(k.eth_dst, kMacDst, 6);
  std::memcpy(k.eth_src, kMacSrc, 6);
  k.eth_type = htons(eth_type);
  return k;
}

FlowKey ipv4_key(uint8_t proto, uint8_t tos = 0x2e, uint8_t ttl = 64) {
  FlowKey k = base_key(0x0800);
  k.ipv4_src = htonl(kIp4Src);
  k.ipv4_dst = htonl(kIp4Dst);
  k.nw_proto = proto;
  k.nw_tos = tos;
  k.nw_ttl = ttl;
  return k;
}

FlowKey ipv6_key(uint8_t proto, uint8_t tc = 0xb8, uint32_t label = 0x12345, uint8_t hlim = 64) {
  FlowKey k = base_key(0x86dd);
  std::memcpy(k.ipv6_src, kIp6Src, 16);
  std::memcpy(k.ipv6_dst, kIp6Dst, 16);
  k.ipv6_label = htonl(label);
  k.nw_proto = proto;
  k.nw_tos = tc;
  k.nw_ttl = hlim;
  return k;
}

std::string diff(const FlowKey& got, const FlowKey& want) {
  std::ostringstream os;
  const auto* g = reinterpret_cast<const uint8_t*>(&got);
  const auto* w = reinterpret_cast<const uint8_t*>(&want);
  for (size_t i = 0; i < FlowKey::kHeadBytes; ++i) {  // the options are compared by ==
    if (g[i] != w[i]) {
      os << " [byte " << i << ": got 0x" << std::hex << int{g[i]} << " want 0x" << int{w[i]}
         << std::dec << "]";
    }
  }
  return os.str();
}

// Extracts into a key pre-filled with garbage, to prove every byte is written.
ExtractDrop run(const Pkt& p, FlowKey* key, const PacketMetadata& md = kMd) {
  std::memset(static_cast<void*>(key), 0xa5, sizeof *key);
  return extract_key(p.b, p.n, md, key);
}

#define EXPECT_KEY(got, want) EXPECT_TRUE((got) == (want)) << diff(got, want)

// ---- well-formed packets ----

TEST(KeyExtractTest, Ipv4Tcp) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 6, 20);
  tcp(p, 40000, 80, 0x112);  // NS + ACK + SYN: all 12 flag bits are kept
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv4_key(6);
  want.tp_src = htons(40000);
  want.tp_dst = htons(80);
  want.tcp_flags = htons(0x112);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, Ipv4UdpWithEthernetPadding) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 17, 8 + 4);
  udp(p, 1234, 4789, 4);
  Pkt padded = p;
  padded.fill(0xee, 60 - padded.n);  // minimum frame padding: not part of IP
  FlowKey k1, k2;
  ASSERT_EQ(run(p, &k1), ExtractDrop::kNone);
  ASSERT_EQ(run(padded, &k2), ExtractDrop::kNone);
  FlowKey want = ipv4_key(17);
  want.tp_src = htons(1234);
  want.tp_dst = htons(4789);
  EXPECT_KEY(k1, want);
  EXPECT_KEY(k2, want);
}

TEST(KeyExtractTest, Ipv4Icmp) {
  for (auto [type, code] : {std::pair<uint8_t, uint8_t>{8, 0}, {3, 4}, {255, 255}}) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x0800);
    ipv4(p, 1, 8);
    p.u8(type).u8(code).u16(0).u32(0x00010002);
    FlowKey k;
    ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
    FlowKey want = ipv4_key(1);
    want.tp_src = htons(type);
    want.tp_dst = htons(code);
    EXPECT_KEY(k, want);
  }
}

TEST(KeyExtractTest, Ipv4Sctp) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 132, 12);
  p.u16(5000).u16(6000).u32(0xdeadbeef).u32(0);
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv4_key(132);
  want.tp_src = htons(5000);
  want.tp_dst = htons(6000);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, Ipv4OtherProtocolHasNoPorts) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 47, 4);  // GRE
  p.u32(0x00006558);
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, ipv4_key(47));
}

TEST(KeyExtractTest, Ipv4OptionsAreSkipped) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  uint32_t ip = ipv4(p, 17, 4 + 8);
  p.b[ip] = 0x46;             // IHL 6: one word of options
  p.u8(1).u8(1).u8(1).u8(0);  // NOP NOP NOP EOL
  udp(p, 53, 33000, 0);
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv4_key(17);
  want.tp_src = htons(53);
  want.tp_dst = htons(33000);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, Ipv4Fragments) {
  struct Case {
    uint16_t frag_off;
    uint8_t want_frag;
    bool want_ports;
  } cases[] = {
      {0x4000, 0, true},                             // DF only: not a fragment
      {0x2000, kFragAny, true},                      // first fragment (MF, offset 0)
      {0x2000 | 185, kFragAny | kFragLater, false},  // middle fragment
      {185, kFragAny | kFragLater, false},           // last fragment
  };
  for (const Case& c : cases) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x0800);
    ipv4(p, 17, 8, c.frag_off);
    udp(p, 7, 9, 0);
    FlowKey k;
    ASSERT_EQ(run(p, &k), ExtractDrop::kNone) << c.frag_off;
    FlowKey want = ipv4_key(17);
    want.nw_frag = c.want_frag;
    if (c.want_ports) {
      want.tp_src = htons(7);
      want.tp_dst = htons(9);
    }
    EXPECT_KEY(k, want);
  }
  // A later fragment too short to hold a UDP header is fine: it has no L4.
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 6, 3, 100);
  p.fill(0, 3);
  FlowKey k;
  EXPECT_EQ(run(p, &k), ExtractDrop::kNone);
  EXPECT_EQ(k.nw_frag, kFragAny | kFragLater);
}

TEST(KeyExtractTest, SingleVlan) {
  for (uint16_t tci : {uint16_t{0x2064}, uint16_t{0}}) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x8100).u16(tci).u16(0x0800);
    ipv4(p, 17, 8);
    udp(p, 1, 2, 0);
    FlowKey k;
    ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
    FlowKey want = ipv4_key(17);
    want.vlan[0].tpid = htons(0x8100);
    want.vlan[0].tci = htons(tci | kVlanCfi);
    want.tp_src = htons(1);
    want.tp_dst = htons(2);
    EXPECT_KEY(k, want);
  }
}

TEST(KeyExtractTest, DoubleVlanQinQ) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x88a8).u16(0xa00a).u16(0x8100).u16(0x0014).u16(0x0800);
  ipv4(p, 6, 20);
  tcp(p, 22, 50000, 0x010);
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv4_key(6);
  want.vlan[0] = {htons(0x88a8), htons(0xa00a | kVlanCfi)};
  want.vlan[1] = {htons(0x8100), htons(0x0014 | kVlanCfi)};
  want.tp_src = htons(22);
  want.tp_dst = htons(50000);
  want.tcp_flags = htons(0x010);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, ThirdVlanTagStaysInPayload) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x88a8).u16(1).u16(0x8100).u16(2).u16(0x8100).u16(3).u16(0x0800);
  ipv4(p, 17, 8);
  udp(p, 1, 2, 0);
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = base_key(0x8100);
  want.vlan[0] = {htons(0x88a8), htons(1 | kVlanCfi)};
  want.vlan[1] = {htons(0x8100), htons(2 | kVlanCfi)};
  EXPECT_KEY(k, want);
}

void arp_body(Pkt& p, uint16_t op) {
  static constexpr uint8_t kTha[6] = {0, 0, 0, 0, 0, 0};
  p.u16(1).u16(0x0800).u8(6).u8(4).u16(op);
  p.bytes(kMacSrc, 6).u32(kIp4Src).bytes(op == 2 ? kMacDst : kTha, 6).u32(kIp4Dst);
}

TEST(KeyExtractTest, ArpRequestAndReply) {
  for (uint16_t op : {uint16_t{1}, uint16_t{2}}) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x0806);
    arp_body(p, op);
    p.fill(0, 18);  // padding to 60 bytes
    FlowKey k;
    ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
    FlowKey want = base_key(0x0806);
    want.nw_proto = static_cast<uint8_t>(op);
    want.ipv4_src = htonl(kIp4Src);
    want.ipv4_dst = htonl(kIp4Dst);
    std::memcpy(want.arp_sha, kMacSrc, 6);
    if (op == 2) {
      std::memcpy(want.arp_tha, kMacDst, 6);
    }
    EXPECT_KEY(k, want);
  }
}

TEST(KeyExtractTest, ArpVariants) {
  // RARP is parsed like ARP.
  Pkt rarp;
  eth_addrs(rarp);
  rarp.u16(0x8035);
  arp_body(rarp, 3);
  FlowKey k;
  ASSERT_EQ(run(rarp, &k), ExtractDrop::kNone);
  EXPECT_EQ(k.nw_proto, 3);
  EXPECT_EQ(k.ipv4_src, htonl(kIp4Src));

  // An opcode above 0xff does not fit the key: nw_proto stays 0, addresses kept.
  Pkt big_op;
  eth_addrs(big_op);
  big_op.u16(0x0806);
  arp_body(big_op, 0x0101);
  ASSERT_EQ(run(big_op, &k), ExtractDrop::kNone);
  EXPECT_EQ(k.nw_proto, 0);
  EXPECT_EQ(k.ipv4_dst, htonl(kIp4Dst));

  // Non-Ethernet hardware type: a valid ARP whose addresses the key cannot hold.
  Pkt other;
  eth_addrs(other);
  other.u16(0x0806);
  arp_body(other, 1);
  other.put16(14, 6);
  ASSERT_EQ(run(other, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, base_key(0x0806));
}

TEST(KeyExtractTest, Ipv6TcpAndUdp) {
  Pkt t;
  eth_addrs(t);
  t.u16(0x86dd);
  ipv6(t, 6, 20);
  tcp(t, 443, 51000, 0x018);
  FlowKey k;
  ASSERT_EQ(run(t, &k), ExtractDrop::kNone);
  FlowKey want = ipv6_key(6);
  want.tp_src = htons(443);
  want.tp_dst = htons(51000);
  want.tcp_flags = htons(0x018);
  EXPECT_KEY(k, want);

  Pkt u;
  eth_addrs(u);
  u.u16(0x86dd);
  ipv6(u, 17, 8 + 10, 0x00, 0xfffff, 1);
  udp(u, 546, 547, 10);
  ASSERT_EQ(run(u, &k), ExtractDrop::kNone);
  want = ipv6_key(17, 0x00, 0xfffff, 1);
  want.tp_src = htons(546);
  want.tp_dst = htons(547);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, Ipv6ExtensionHeaderChain) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x86dd);
  ipv6(p, 0, 8 + 16 + 8 + 12 + 8);
  p.u8(43).u8(0).fill(1, 6);                // hop-by-hop, 8 bytes
  p.u8(60).u8(1).u8(0).u8(0).fill(0, 12);   // routing, 16 bytes
  p.u8(51).u8(0).fill(1, 6);                // destination options, 8 bytes
  p.u8(17).u8(1).u16(0).u32(0x100).u32(1);  // AH, (1 + 2) * 4 = 12 bytes
  udp(p, 500, 4500, 0);
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv6_key(17);
  want.tp_src = htons(500);
  want.tp_dst = htons(4500);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, Ipv6TerminalNextHeaders) {
  for (uint8_t next : {uint8_t{50}, uint8_t{59}, uint8_t{253}}) {  // ESP, none, experimental
    Pkt p;
    eth_addrs(p);
    p.u16(0x86dd);
    ipv6(p, 0, 8 + 8);
    p.u8(next).u8(0).fill(0, 6);
    p.fill(0xff, 8);  // would look like a header if the walk went on
    FlowKey k;
    ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
    EXPECT_KEY(k, ipv6_key(next));
  }
}

TEST(KeyExtractTest, Ipv6Fragments) {
  struct Case {
    uint16_t off_flags;
    uint8_t want_frag;
    uint8_t want_proto;
    bool want_ports;
  } cases[] = {
      {0x0000, 0, 6, true},                              // atomic fragment
      {0x0001, kFragAny, 6, true},                       // first fragment
      {100 << 3 | 1, kFragAny | kFragLater, 44, false},  // middle fragment
      {100 << 3, kFragAny | kFragLater, 44, false},      // last fragment
  };
  for (const Case& c : cases) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x86dd);
    ipv6(p, 44, 8 + 20);
    p.u8(6).u8(0).u16(c.off_flags).u32(0xcafe);
    tcp(p, 1111, 2222, 0x002);
    FlowKey k;
    ASSERT_EQ(run(p, &k), ExtractDrop::kNone) << c.off_flags;
    FlowKey want = ipv6_key(c.want_proto);
    want.nw_frag = c.want_frag;
    if (c.want_ports) {
      want.tp_src = htons(1111);
      want.tp_dst = htons(2222);
      want.tcp_flags = htons(0x002);
    }
    EXPECT_KEY(k, want);
  }
}

// An ICMPv6 ND message with hop limit 255; `opts` are appended verbatim.
Pkt nd_packet(uint8_t type, uint8_t code, const std::vector<uint8_t>& opts) {
  static constexpr uint8_t kTarget[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                          0,    0,    0,    0,    0, 0, 0, 0x99};
  Pkt p;
  eth_addrs(p);
  p.u16(0x86dd);
  ipv6(p, 58, static_cast<uint16_t>(8 + 16 + opts.size()), 0, 0, 255);
  p.u8(type).u8(code).u16(0).u32(type == 136 ? 0x60000000 : 0);
  p.bytes(kTarget, 16);
  p.bytes(opts.data(), opts.size());
  return p;
}

constexpr uint8_t kNdTarget[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99};

TEST(KeyExtractTest, NeighbourSolicitationWithSourceLinkAddress) {
  // A nonce option (type 14, 8 bytes) first, to be skipped.
  Pkt p = nd_packet(135, 0, {14, 1, 1, 2, 3, 4, 5, 6, 1, 1, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee});
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv6_key(58, 0, 0, 255);
  want.tp_src = htons(135);
  std::memcpy(want.nd_target, kNdTarget, 16);
  const uint8_t sll[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
  std::memcpy(want.arp_sha, sll, 6);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, NeighbourAdvertisementWithTargetLinkAddress) {
  Pkt p = nd_packet(136, 0, {2, 1, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55});
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  FlowKey want = ipv6_key(58, 0, 0, 255);
  want.tp_src = htons(136);
  std::memcpy(want.nd_target, kNdTarget, 16);
  const uint8_t tll[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  std::memcpy(want.arp_tha, tll, 6);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, NeighbourDiscoveryEdgeCases) {
  FlowKey k;
  FlowKey plain = ipv6_key(58, 0, 0, 255);
  plain.tp_src = htons(135);

  // A repeated source link-layer option invalidates all ND fields.
  Pkt dup = nd_packet(135, 0, {1, 1, 2, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0, 2});
  ASSERT_EQ(run(dup, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, plain);

  // A zero-length option ends parsing; the target is kept.
  Pkt zero_len = nd_packet(135, 0, {1, 0, 2, 0, 0, 0, 0, 1});
  ASSERT_EQ(run(zero_len, &k), ExtractDrop::kNone);
  FlowKey want = plain;
  std::memcpy(want.nd_target, kNdTarget, 16);
  EXPECT_KEY(k, want);

  // An option claiming more than the payload ends parsing; the target is kept.
  Pkt long_opt = nd_packet(135, 0, {1, 2, 2, 0, 0, 0, 0, 1});
  ASSERT_EQ(run(long_opt, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, want);

  // A non-zero code is not ND.
  Pkt code1 = nd_packet(135, 1, {1, 1, 2, 0, 0, 0, 0, 1});
  ASSERT_EQ(run(code1, &k), ExtractDrop::kNone);
  want = plain;
  want.tp_dst = htons(1);
  EXPECT_KEY(k, want);

  // A message cut before the end of the target carries type and code only.
  Pkt cut;
  eth_addrs(cut);
  cut.u16(0x86dd);
  ipv6(cut, 58, 8 + 15, 0, 0, 255);
  cut.u8(135).u8(0).u16(0).u32(0).fill(0x77, 15);
  ASSERT_EQ(run(cut, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, plain);

  // Echo request: type only.
  Pkt echo;
  eth_addrs(echo);
  echo.u16(0x86dd);
  ipv6(echo, 58, 8, 0, 0, 255);
  echo.u8(128).u8(0).u16(0).u32(0x00010001);
  ASSERT_EQ(run(echo, &k), ExtractDrop::kNone);
  want = ipv6_key(58, 0, 0, 255);
  want.tp_src = htons(128);
  EXPECT_KEY(k, want);
}

TEST(KeyExtractTest, LlcAndSnap) {
  FlowKey k;
  // 802.2 LLC (spanning tree): no ethertype.
  Pkt llc;
  eth_addrs(llc);
  llc.u16(38).u8(0x42).u8(0x42).u8(0x03).fill(0, 35);
  ASSERT_EQ(run(llc, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, base_key(kEthTypeNone));

  // Too short for an LLC/SNAP header.
  Pkt short_llc;
  eth_addrs(short_llc);
  short_llc.u16(3).u8(0xaa).u8(0xaa).u8(0x03);
  ASSERT_EQ(run(short_llc, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, base_key(kEthTypeNone));

  // SNAP with OUI 0 carrying IPv4: parsed through.
  Pkt snap;
  eth_addrs(snap);
  snap.u16(8 + 20 + 8).u8(0xaa).u8(0xaa).u8(0x03).u8(0).u8(0).u8(0).u16(0x0800);
  ipv4(snap, 17, 8);
  udp(snap, 10, 20, 0);
  ASSERT_EQ(run(snap, &k), ExtractDrop::kNone);
  FlowKey want = ipv4_key(17);
  want.tp_src = htons(10);
  want.tp_dst = htons(20);
  EXPECT_KEY(k, want);

  // SNAP with a non-zero OUI: no ethertype.
  snap.b[17] = 0x0c;
  ASSERT_EQ(run(snap, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, base_key(kEthTypeNone));
}

TEST(KeyExtractTest, OtherEthertypeHasL2Only) {
  Pkt p;
  eth_addrs(p);
  p.u16(0x8847).u32(0x00064140).fill(0x45, 30);  // MPLS is not parsed
  FlowKey k;
  ASSERT_EQ(run(p, &k), ExtractDrop::kNone);
  EXPECT_KEY(k, base_key(0x8847));
}

TEST(KeyExtractTest, TunnelMetadataIsCopied) {
  FlowKey tun;
  std::memset(static_cast<void*>(&tun), 0x3c, sizeof tun);  // only offsets 128..191 count,
  tun.tun_id = htobe64(5000);                               // and the options
  tun.tun_ipv4_src = htonl(0x01020304);
  tun.tun_flags = kTunFlagKey;
  tun.tun_opts_len = 8;
  std::memset(tun.pad1, 0, sizeof tun.pad1);
  const uint8_t opts[8] = {0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef};
  std::memcpy(tun.tun_opts_data(), opts, 8);
  PacketMetadata md = kMd;
  md.tunnel = &tun;
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 17, 8);
  udp(p, 1, 2, 0);
  FlowKey k;
  ASSERT_EQ(run(p, &k, md), ExtractDrop::kNone);
  FlowKey want = ipv4_key(17);
  want.tp_src = htons(1);
  want.tp_dst = htons(2);
  std::memcpy(want.words() + 16, tun.words() + 16, 64);
  std::memcpy(want.tun_opts_data(), opts, 8);
  EXPECT_KEY(k, want);
  EXPECT_EQ(std::memcmp(k.tun_opts_data(), opts, 8), 0);

  // The decap stage may have written the tunnel line into the key itself.
  FlowKey in_place = tun;
  md.tunnel = &in_place;
  ASSERT_EQ(extract_key(p.b, p.n, md, &in_place), ExtractDrop::kNone);
  EXPECT_KEY(in_place, want);
}

TEST(KeyExtractTest, SameMicroflowGivesIdenticalKeys) {
  auto build = [](uint16_t ip_id, uint8_t fill, uint32_t pad) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x0800);
    uint32_t ip = ipv4(p, 6, 20 + 10);
    p.put16(ip + 4, ip_id);
    p.put16(ip + 10, static_cast<uint16_t>(ip_id ^ 0xffff));  // checksum differs too
    tcp(p, 3333, 4444, 0x018);
    p.fill(fill, 10);
    p.fill(0xee, pad);
    return p;
  };
  Pkt a = build(1, 0x11, 0);
  Pkt b = build(2, 0x22, 6);
  FlowKey ka, kb;
  std::memset(static_cast<void*>(&ka), 0x00, sizeof ka);
  std::memset(static_cast<void*>(&kb), 0xff, sizeof kb);
  ASSERT_EQ(extract_key(a.b, a.n, kMd, &ka), ExtractDrop::kNone);
  ASSERT_EQ(extract_key(b.b, b.n, kMd, &kb), ExtractDrop::kNone);
  // The whole head; the option area is undefined without options (flow_key.h).
  EXPECT_EQ(std::memcmp(&ka, &kb, FlowKey::kHeadBytes), 0) << diff(ka, kb);
  EXPECT_EQ(ka.tun_opts_len, 0);
  EXPECT_EQ(hash_key(ka), hash_key(kb));
}

// ---- malformed packets ----

Pkt tcp_packet() {
  Pkt p;
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 6, 20);
  tcp(p, 1000, 2000, 0x002);
  return p;
}

TEST(KeyExtractMalformedTest, RuntFrames) {
  FlowKey k;
  EXPECT_EQ(extract_key(nullptr, 0, kMd, &k), ExtractDrop::kRunt);
  EXPECT_EQ(k.in_port, kMd.in_port);  // metadata is filled even for drops
  Pkt p = tcp_packet();
  p.n = 13;
  EXPECT_EQ(run(p, &k), ExtractDrop::kRunt);
  p.n = 14;
  EXPECT_EQ(run(p, &k), ExtractDrop::kBadIpv4Header);
}

// Cut a TCP packet at every length, copying into an exactly-sized heap buffer
// so that a sanitizer build catches any read past the end.
TEST(KeyExtractMalformedTest, TcpTruncatedAtEveryOffset) {
  const Pkt full = tcp_packet();
  ASSERT_EQ(full.n, 54u);
  for (uint32_t len = 0; len <= full.n; ++len) {
    std::unique_ptr<uint8_t[]> buf(new uint8_t[len + 1]);
    std::memcpy(buf.get(), full.b, len);
    FlowKey k;
    ExtractDrop want = len < 14   ? ExtractDrop::kRunt
                       : len < 34 ? ExtractDrop::kBadIpv4Header
                       : len < 54 ? ExtractDrop::kBadIpv4Length
                                  : ExtractDrop::kNone;
    EXPECT_EQ(extract_key(buf.get(), len, kMd, &k), want) << "len " << len;

    // The same cut with the IP total length fixed up to match: the IP layer is
    // fine and the TCP header is what is short.
    if (len >= 34) {
      Pkt fixed = full;
      fixed.n = len;
      fixed.put16(16, static_cast<uint16_t>(len - 14));
      std::memcpy(buf.get(), fixed.b, len);
      EXPECT_EQ(extract_key(buf.get(), len, kMd, &k),
                len < 54 ? ExtractDrop::kTruncatedL4 : ExtractDrop::kNone)
          << "len " << len;
      EXPECT_EQ(k.ipv4_src, htonl(kIp4Src));
    }
  }
}

TEST(KeyExtractMalformedTest, Ipv4HeaderChecks) {
  FlowKey k;
  for (uint8_t ver_ihl : {0x40, 0x44, 0x04}) {  // IHL 0, IHL 4, version 0 with IHL 4
    Pkt p = tcp_packet();
    p.b[14] = ver_ihl;
    EXPECT_EQ(run(p, &k), ExtractDrop::kBadIpv4Header) << int{ver_ihl};
  }
  Pkt long_ihl = tcp_packet();
  long_ihl.b[14] = 0x4f;  // 60-byte header in a 40-byte IP packet
  long_ihl.put16(16, 40);
  EXPECT_EQ(run(long_ihl, &k), ExtractDrop::kBadIpv4Header);

  Pkt ihl_past_total = tcp_packet();
  ihl_past_total.b[14] = 0x4f;  // header fits the frame but not the total length
  ihl_past_total.fill(0, 40);
  EXPECT_EQ(run(ihl_past_total, &k), ExtractDrop::kBadIpv4Length);

  Pkt beyond = tcp_packet();
  beyond.put16(16, 41);  // one byte more than the frame holds
  EXPECT_EQ(run(beyond, &k), ExtractDrop::kBadIpv4Length);

  Pkt below = tcp_packet();
  below.put16(16, 19);
  EXPECT_EQ(run(below, &k), ExtractDrop::kBadIpv4Length);
}

TEST(KeyExtractMalformedTest, Ipv6Checks) {
  FlowKey k;
  Pkt p;
  eth_addrs(p);
  p.u16(0x86dd);
  ipv6(p, 17, 8);
  udp(p, 1, 2, 0);
  Pkt short_hdr = p;
  short_hdr.n = 14 + 39;
  EXPECT_EQ(run(short_hdr, &k), ExtractDrop::kBadIpv6Header);
  Pkt long_payload = p;
  long_payload.put16(18, 9);
  EXPECT_EQ(run(long_payload, &k), ExtractDrop::kBadIpv6Length);
  Pkt short_udp = p;
  short_udp.put16(18, 7);
  EXPECT_EQ(run(short_udp, &k), ExtractDrop::kTruncatedL4);

  // Extension header length running past the payload.
  Pkt ext;
  eth_addrs(ext);
  ext.u16(0x86dd);
  ipv6(ext, 60, 16);
  ext.u8(17).u8(1).fill(0, 14);                        // claims 16 bytes: fits exactly
  EXPECT_EQ(run(ext, &k), ExtractDrop::kTruncatedL4);  // ... and no UDP after it
  ext.b[14 + 40 + 1] = 2;                              // now claims 24
  EXPECT_EQ(run(ext, &k), ExtractDrop::kBadIpv6ExtHeader);

  // Fewer than 8 bytes left for an extension header.
  Pkt tiny;
  eth_addrs(tiny);
  tiny.u16(0x86dd);
  ipv6(tiny, 0, 7);
  tiny.fill(0, 7);
  EXPECT_EQ(run(tiny, &k), ExtractDrop::kBadIpv6ExtHeader);

  // AH length past the end.
  Pkt ah;
  eth_addrs(ah);
  ah.u16(0x86dd);
  ipv6(ah, 51, 8);
  ah.u8(6).u8(1).fill(0, 6);  // (1 + 2) * 4 = 12 > 8
  EXPECT_EQ(run(ah, &k), ExtractDrop::kBadIpv6ExtHeader);
}

TEST(KeyExtractMalformedTest, VlanAndArpTruncation) {
  FlowKey k;
  Pkt vlan;
  eth_addrs(vlan);
  vlan.u16(0x8100).u16(5).u16(0x0800);
  for (uint32_t len = 14; len < 18; ++len) {
    vlan.n = len;
    EXPECT_EQ(run(vlan, &k), ExtractDrop::kBadVlan) << len;
  }
  vlan.n = 18;
  EXPECT_EQ(run(vlan, &k), ExtractDrop::kBadIpv4Header);

  Pkt arp;
  eth_addrs(arp);
  arp.u16(0x0806);
  arp_body(arp, 1);
  arp.n -= 1;
  EXPECT_EQ(run(arp, &k), ExtractDrop::kBadArp);
}

TEST(KeyExtractMalformedTest, TruncatedL4PerProtocol) {
  struct Case {
    uint8_t proto;
    uint32_t fixed;
  } cases[] = {{6, 20}, {17, 8}, {132, 12}, {1, 8}};
  for (const Case& c : cases) {
    Pkt p;
    eth_addrs(p);
    p.u16(0x0800);
    ipv4(p, c.proto, c.fixed - 1);
    p.fill(0, c.fixed - 1);
    FlowKey k;
    EXPECT_EQ(run(p, &k), ExtractDrop::kTruncatedL4) << int{c.proto};
  }
}

TEST(KeyExtractTest, DropNames) {
  std::set<std::string> names;
  for (size_t i = 0; i < static_cast<size_t>(ExtractDrop::kCount); ++i) {
    const char* name = extract_drop_name(static_cast<ExtractDrop>(i));
    ASSERT_NE(name, nullptr);
    EXPECT_TRUE(names.insert(name).second) << "duplicate " << name;
  }
  EXPECT_STREQ(extract_drop_name(ExtractDrop::kRunt), "runt_frame");
  EXPECT_STREQ(extract_drop_name(ExtractDrop::kTruncatedL4), "truncated_l4");
  EXPECT_STREQ(extract_drop_name(ExtractDrop::kCount), "unknown");
}

// ---- pseudo-random and mutated input ----

std::vector<Pkt> seed_packets() {
  std::vector<Pkt> seeds;
  seeds.push_back(tcp_packet());
  Pkt p;
  eth_addrs(p);
  p.u16(0x88a8).u16(1).u16(0x8100).u16(2).u16(0x0800);
  ipv4(p, 17, 8);
  udp(p, 1, 2, 0);
  seeds.push_back(p);
  p = Pkt();
  eth_addrs(p);
  p.u16(0x0806);
  arp_body(p, 1);
  seeds.push_back(p);
  p = Pkt();
  eth_addrs(p);
  p.u16(0x86dd);
  ipv6(p, 0, 8 + 8 + 12 + 20);
  p.u8(44).u8(0).fill(1, 6);
  p.u8(51).u8(0).u16(0x0001).u32(7);
  p.u8(6).u8(1).u16(0).u32(0).u32(0);
  tcp(p, 5, 6, 0x3f);
  seeds.push_back(p);
  seeds.push_back(nd_packet(135, 0, {1, 1, 2, 0, 0, 0, 0, 1, 2, 1, 2, 0, 0, 0, 0, 2}));
  p = Pkt();
  eth_addrs(p);
  p.u16(0x0800);
  ipv4(p, 1, 8, 0x2000);
  p.u8(8).u8(0).u16(0).u32(0);
  seeds.push_back(p);
  return seeds;
}

bool all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) {
      return false;
    }
  }
  return true;
}

// Invariants that hold for every input; returns a description of the first
// violation, or an empty string.
std::string check_invariants(const FlowKey& k, ExtractDrop r, uint32_t len,
                             const PacketMetadata& md) {
  if (r >= ExtractDrop::kCount) return "reason out of range";
  if (k.in_port != md.in_port || k.recirc_id != md.recirc_id || k.dp_hash != md.dp_hash ||
      k.skb_mark != md.skb_mark || k.priority != md.priority) {
    return "metadata";
  }
  if (k.pad0 != 0) return "pad0";
  if (md.tunnel ? std::memcmp(k.words() + 16, md.tunnel->words() + 16, 64) != 0
                : !all_zero(k.words() + 16, 64)) {
    return "tunnel line";
  }
  if ((r == ExtractDrop::kRunt) != (len < 14)) return "runt iff len < 14";
  if (r != ExtractDrop::kNone) return "";
  uint16_t type = ntohs(k.eth_type);
  if (type < 0x600 && type != kEthTypeNone) return "eth_type not set";
  for (const VlanTag& t : k.vlan) {
    if ((t.tpid == 0) != (t.tci == 0)) return "vlan tpid/tci";
    if (t.tci != 0 && !(ntohs(t.tci) & kVlanCfi)) return "vlan cfi";
  }
  if (k.vlan[1].tci != 0 && k.vlan[0].tci == 0) return "inner tag without outer";
  bool ip4 = type == 0x0800, ip6 = type == 0x86dd, arp = type == 0x0806 || type == 0x8035;
  if (!ip4 && !ip6 && !arp) {
    if (!all_zero(reinterpret_cast<const uint8_t*>(&k) + 22, 2) ||
        !all_zero(&k.ipv4_src, 64 - 32) || !all_zero(&k.ipv6_dst, 84 - 64) ||
        !all_zero(k.arp_sha, 128 - 96)) {
      return "L3 fields for a non-IP, non-ARP frame";
    }
  }
  if (!ip6 && (!all_zero(k.ipv6_src, 16) || !all_zero(k.ipv6_dst, 16) || k.ipv6_label != 0 ||
               !all_zero(k.nd_target, 16))) {
    return "IPv6 fields outside IPv6";
  }
  if (k.nw_frag != 0 && !ip4 && !ip6) return "frag bits outside IP";
  if ((k.nw_frag & kFragLater) && !(k.nw_frag & kFragAny)) return "later without any";
  if ((k.nw_frag & kFragLater) && (k.tp_src || k.tp_dst || k.tcp_flags)) return "L4 in later";
  if (k.tcp_flags != 0 && k.nw_proto != 6) return "tcp_flags without TCP";
  if (k.tcp_flags & ~htons(0x0fff)) return "tcp_flags beyond 12 bits";
  if (ip6 && (!all_zero(k.nd_target, 16) || !all_zero(k.arp_sha, 12))) {
    if (k.nw_proto != 58 || (k.tp_src != htons(135) && k.tp_src != htons(136)) || k.tp_dst != 0) {
      return "ND fields outside ND";
    }
  }
  if (ip4 && !all_zero(k.arp_sha, 12)) return "ARP MACs in IPv4";
  return "";
}

TEST(KeyExtractRandomTest, MutatedAndRandomPackets) {
  const std::vector<Pkt> seeds = seed_packets();
  std::mt19937_64 rng(0x5eed);
  FlowKey tun;
  std::memset(static_cast<void*>(&tun), 0x77, sizeof tun);
  size_t counts[static_cast<size_t>(ExtractDrop::kCount)] = {};
  uint8_t scratch[512];

  for (int iter = 0; iter < 200000; ++iter) {
    uint32_t len;
    uint64_t mode = rng() % 8;
    if (mode == 0) {
      len = static_cast<uint32_t>(rng() % 200);
      for (uint32_t i = 0; i < len; ++i) scratch[i] = static_cast<uint8_t>(rng());
    } else {
      const Pkt& s = seeds[rng() % seeds.size()];
      std::memcpy(scratch, s.b, s.n);
      len = s.n;
      // Flip a few bytes, biased toward the headers where decisions are made.
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        uint32_t at = static_cast<uint32_t>(rng() % (rng() % 2 ? 64 : len));
        if (at < len) scratch[at] = static_cast<uint8_t>(rng());
      }
      if (mode == 1) len = static_cast<uint32_t>(rng() % (len + 1));  // truncate
      if (mode == 2) {                                                // extend with junk
        uint32_t extra = static_cast<uint32_t>(rng() % 64);
        for (uint32_t i = 0; i < extra; ++i) scratch[len + i] = static_cast<uint8_t>(rng());
        len += extra;
      }
    }
    std::unique_ptr<uint8_t[]> buf(len ? new uint8_t[len] : nullptr);
    if (len) std::memcpy(buf.get(), scratch, len);

    PacketMetadata md = kMd;
    md.in_port = static_cast<uint32_t>(iter);
    md.tunnel = (iter & 1) ? &tun : nullptr;
    FlowKey k1, k2;
    std::memset(static_cast<void*>(&k1), 0x00, sizeof k1);
    std::memset(static_cast<void*>(&k2), 0xff, sizeof k2);
    ExtractDrop r1 = extract_key(buf.get(), len, md, &k1);
    ExtractDrop r2 = extract_key(buf.get(), len, md, &k2);
    ASSERT_EQ(r1, r2) << "iteration " << iter;
    ASSERT_TRUE(k1 == k2) << "iteration " << iter << diff(k1, k2);
    std::string bad = check_invariants(k1, r1, len, md);
    ASSERT_TRUE(bad.empty()) << "iteration " << iter << ": " << bad << " (reason "
                             << extract_drop_name(r1) << ", len " << len << ")";
    ++counts[static_cast<size_t>(r1)];
  }
  // The mutator must reach the interesting outcomes, or this test proves little.
  for (ExtractDrop r :
       {ExtractDrop::kNone, ExtractDrop::kRunt, ExtractDrop::kBadIpv4Header,
        ExtractDrop::kBadIpv4Length, ExtractDrop::kBadIpv6Length, ExtractDrop::kBadIpv6ExtHeader,
        ExtractDrop::kTruncatedL4, ExtractDrop::kBadArp, ExtractDrop::kBadVlan}) {
    EXPECT_GT(counts[static_cast<size_t>(r)], 0u) << extract_drop_name(r);
  }
}

// ---- flow hash ----

TEST(FlowHashTest, SingleBitChangesAreNotCollisions) {
  FlowKey base;
  base.clear();
  base.eth_type = htons(0x0800);
  std::set<uint32_t> seen = {hash_key(base)};
  for (size_t bit = 0; bit < FlowKey::kHeadBytes * 8; ++bit) {
    FlowKey k = base;
    reinterpret_cast<uint8_t*>(&k)[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_TRUE(seen.insert(hash_key(k)).second) << "bit " << bit;
  }
  // Geneve options count, but only their defined bytes (flow_key.h).
  FlowKey opts = base;
  opts.tun_opts_len = 8;
  std::memset(opts.tun_opts_data(), 0x11, 8);
  const uint32_t h = hash_key(opts);
  EXPECT_TRUE(seen.insert(h).second);
  opts.tun_opts[0] ^= 0xff;  // outside the options: undefined, not hashed
  EXPECT_EQ(hash_key(opts), h);
  opts.tun_opts_data()[7] ^= 1;
  EXPECT_NE(hash_key(opts), h);
}

TEST(FlowHashTest, BasisLengthAndOrderMatter) {
  uint64_t w[24];
  for (int i = 0; i < 24; ++i) w[i] = 0x0101010101010101ULL * static_cast<uint64_t>(i + 1);
  uint32_t h = hash_words_crc(w, 24, 0);
  EXPECT_EQ(h, hash_words_crc(w, 24, 0));
  EXPECT_NE(h, hash_words_crc(w, 24, 1));
  EXPECT_NE(h, hash_words_crc(w, 23, 0));
  EXPECT_NE(hash_words_crc(w, 0, 0), hash_words_crc(w, 0, 1));
  std::swap(w[0], w[1]);  // same words in different lanes
  EXPECT_NE(h, hash_words_crc(w, 24, 0));
  std::swap(w[0], w[1]);
  std::swap(w[0], w[4]);  // same lane, different order
  EXPECT_NE(h, hash_words_crc(w, 24, 0));
}

TEST(FlowHashTest, SpreadsSimilarKeysOverLowAndHighBits) {
  // 64k keys differing only in source port and low address bits, as in a
  // port scan, into 1024 buckets by the low and by the high 10 bits.
  constexpr int kKeys = 65536, kBuckets = 1024;
  std::vector<int> low(kBuckets), high(kBuckets);
  FlowKey k = base_key(0x0800);
  for (int i = 0; i < kKeys; ++i) {
    k.tp_src = htons(static_cast<uint16_t>(i));
    k.ipv4_src = htonl(0x0a000000u | static_cast<uint32_t>(i >> 12));
    uint32_t h = hash_key(k);
    ++low[h % kBuckets];
    ++high[h >> 22];
  }
  // Mean 64, standard deviation 8: 128 is eight deviations out.
  for (int b = 0; b < kBuckets; ++b) {
    EXPECT_LT(low[b], 128) << b;
    EXPECT_LT(high[b], 128) << b;
    EXPECT_GT(low[b], 16) << b;
    EXPECT_GT(high[b], 16) << b;
  }
}

}  // namespace
}  // namespace dpx
