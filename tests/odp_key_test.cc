// ODP key/mask attributes <-> FlowKey: round trips for every protocol, the
// kernel's attribute order and conventions, mask semantics, and every
// rejection path. Also the fixed-seed random-buffer robustness test.
#include "odp_key.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/openvswitch.h>

#include <functional>
#include <random>

#include "odp_text.h"
#include "simple_match.h"

namespace dpx {
namespace {

void mac(uint8_t* d, uint8_t last) {
  const uint8_t m[6] = {0x00, 0x11, 0x22, 0x33, 0x44, last};
  std::memcpy(d, m, 6);
}
void ip6(uint8_t* d, uint8_t last) {
  std::memset(d, 0, 16);
  d[0] = 0x20;
  d[1] = 0x01;
  d[15] = last;
}

FlowKey base() {
  FlowKey k;
  k.clear();
  k.in_port = 3;
  k.recirc_id = 7;
  k.dp_hash = 0x1234;
  k.skb_mark = 9;
  k.priority = 2;
  mac(k.eth_src, 1);
  mac(k.eth_dst, 2);
  return k;
}

FlowKey ipv4(uint8_t proto) {
  FlowKey k = base();
  k.eth_type = htons(0x0800);
  k.ipv4_src = htonl(0x0a000001);
  k.ipv4_dst = htonl(0x0a000002);
  k.nw_proto = proto;
  k.nw_tos = 0x10;
  k.nw_ttl = 64;
  return k;
}

FlowKey ipv6(uint8_t proto) {
  FlowKey k = base();
  k.eth_type = htons(0x86dd);
  ip6(k.ipv6_src, 1);
  ip6(k.ipv6_dst, 2);
  k.ipv6_label = htonl(0x12345);
  k.nw_proto = proto;
  k.nw_tos = 0x20;
  k.nw_ttl = 255;
  return k;
}

std::vector<uint16_t> types(std::span<const uint8_t> buf) {
  std::vector<uint16_t> t;
  NlIter it(buf);
  NlAttr a;
  while (it.next(&a)) t.push_back(a.type);
  return t;
}

void expect_round_trip(const FlowKey& k) {
  NlBuf attrs;
  odp_key_to_attrs(k, &attrs);
  FlowKey back;
  std::string err;
  ASSERT_EQ(odp_key_from_attrs(attrs, &back, &err), 0)
      << err << " for " << odp_flow_to_string(attrs, {});
  EXPECT_TRUE(back == k) << odp_flow_to_string(attrs, {});
  NlBuf again;
  odp_key_to_attrs(back, &again);
  EXPECT_EQ(again, attrs);
}

TEST(OdpKey, RoundTripEveryProtocol) {
  FlowKey tcp = ipv4(6);
  tcp.tp_src = htons(1234);
  tcp.tp_dst = htons(80);
  tcp.tcp_flags = htons(0x12);
  expect_round_trip(tcp);

  FlowKey udp = ipv4(17);
  udp.tp_src = htons(53);
  udp.tp_dst = htons(5353);
  expect_round_trip(udp);

  FlowKey sctp = ipv4(132);
  sctp.tp_src = htons(1);
  sctp.tp_dst = htons(2);
  expect_round_trip(sctp);

  FlowKey icmp = ipv4(1);
  icmp.tp_src = htons(8);
  icmp.tp_dst = htons(0);
  expect_round_trip(icmp);

  FlowKey first = ipv4(17);
  first.nw_frag = kFragAny;
  first.tp_src = htons(7);
  expect_round_trip(first);

  FlowKey later = ipv4(17);  // no L4 attribute for later fragments
  later.nw_frag = kFragAny | kFragLater;
  expect_round_trip(later);

  FlowKey tcp6 = ipv6(6);
  tcp6.tp_src = htons(22);
  tcp6.tcp_flags = htons(0x02);
  expect_round_trip(tcp6);

  FlowKey echo6 = ipv6(58);
  echo6.tp_src = htons(128);
  expect_round_trip(echo6);

  FlowKey ns = ipv6(58);
  ns.tp_src = htons(135);
  ip6(ns.nd_target, 9);
  mac(ns.arp_sha, 5);
  expect_round_trip(ns);

  FlowKey arp = base();
  arp.eth_type = htons(0x0806);
  arp.ipv4_src = htonl(0xc0a80001);
  arp.ipv4_dst = htonl(0xc0a80002);
  arp.nw_proto = 2;
  mac(arp.arp_sha, 7);
  mac(arp.arp_tha, 8);
  expect_round_trip(arp);

  FlowKey vlan = ipv4(17);
  vlan.vlan[0] = {htons(0x8100), htons(kVlanCfi | (3 << 13) | 10)};
  expect_round_trip(vlan);

  FlowKey qinq = ipv6(6);
  qinq.vlan[0] = {htons(0x88a8), htons(kVlanCfi | 100)};
  qinq.vlan[1] = {htons(0x8100), htons(kVlanCfi | 10)};
  expect_round_trip(qinq);

  FlowKey truncated = base();
  truncated.vlan[0] = {htons(0x8100), 0};
  expect_round_trip(truncated);

  FlowKey tun = udp;
  tun.tun_id = htobe64(0x5);
  tun.tun_ipv4_src = htonl(0xac1f6e0c);
  tun.tun_ipv4_dst = htonl(0xac1f6e0b);
  tun.tun_tos = 4;
  tun.tun_ttl = 64;
  tun.tun_tp_src = htons(50000);
  tun.tun_tp_dst = htons(4789);
  tun.tun_flags = kTunFlagKey | kTunFlagDontFragment | kTunFlagCsum | kTunFlagOam;
  expect_round_trip(tun);

  FlowKey tun6 = tcp;
  ip6(tun6.tun_ipv6_src, 1);
  ip6(tun6.tun_ipv6_dst, 2);
  tun6.tun_ttl = 1;
  expect_round_trip(tun6);

  FlowKey other = base();  // an ethertype with no L3 attribute
  other.eth_type = htons(0x88cc);
  expect_round_trip(other);
}

TEST(OdpKey, KernelOrderAndConventions) {
  FlowKey k = ipv4(6);
  k.tp_src = htons(1);
  NlBuf attrs;
  odp_key_to_attrs(k, &attrs);
  std::vector<uint16_t> want = {
      OVS_KEY_ATTR_RECIRC_ID, OVS_KEY_ATTR_DP_HASH,  OVS_KEY_ATTR_PRIORITY,  OVS_KEY_ATTR_IN_PORT,
      OVS_KEY_ATTR_SKB_MARK,  OVS_KEY_ATTR_ETHERNET, OVS_KEY_ATTR_ETHERTYPE, OVS_KEY_ATTR_IPV4,
      OVS_KEY_ATTR_TCP,       OVS_KEY_ATTR_TCP_FLAGS};
  EXPECT_EQ(types(attrs), want);

  // Fragment types: the wire enum becomes FlowKey bits.
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 1);
  w.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
  ovs_key_ipv4 ip{1, 2, 17, 0, 64, OVS_FRAG_TYPE_LATER};
  w.put(OVS_KEY_ATTR_IPV4, ip);
  FlowKey out;
  std::string err;
  ASSERT_EQ(odp_key_from_attrs(b, &out, &err), 0) << err;
  EXPECT_EQ(out.nw_frag, kFragAny | kFragLater);

  // ICMP type/code land in tp_src/tp_dst in network order.
  NlBuf c;
  NlWriter wc(&c);
  wc.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  wc.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
  ovs_key_ipv4 ip2{1, 2, 1, 0, 64, OVS_FRAG_TYPE_FIRST};
  wc.put(OVS_KEY_ATTR_IPV4, ip2);
  wc.put(OVS_KEY_ATTR_ICMP, ovs_key_icmp{3, 4});
  ASSERT_EQ(odp_key_from_attrs(c, &out, &err), 0) << err;
  EXPECT_EQ(out.tp_src, htons(3));
  EXPECT_EQ(out.tp_dst, htons(4));
  EXPECT_EQ(out.nw_frag, kFragAny);

  // A tunnel ID sets the key flag; a VLAN keeps its CFI bit.
  FlowKey v = ipv4(17);
  v.vlan[0] = {htons(0x8100), htons(kVlanCfi | 5)};
  NlBuf va;
  odp_key_to_attrs(v, &va);
  std::vector<uint16_t> vt = types(va);
  ASSERT_GE(vt.size(), 9u);
  EXPECT_EQ(vt[6], OVS_KEY_ATTR_ETHERTYPE);
  EXPECT_EQ(vt[7], OVS_KEY_ATTR_VLAN);
  EXPECT_EQ(vt[8], OVS_KEY_ATTR_ENCAP);
  EXPECT_NE(odp_flow_to_string(va, {}).find(
                ",eth_type(0x8100),vlan(vid=5,pcp=0),encap(eth_type(0x0800),ipv4("),
            std::string::npos)
      << odp_flow_to_string(va, {});
}

TEST(OdpMask, EmptyMaskIsExactOnKeyFields) {
  FlowKey k = ipv4(17);
  k.tp_src = htons(1);
  NlBuf key;
  odp_key_to_attrs(k, &key);
  FlowKey m;
  std::string err;
  ASSERT_EQ(odp_mask_from_attrs({}, key, &m, &err), 0) << err;
  EXPECT_EQ(m.in_port, 0xffffffffu);
  EXPECT_EQ(m.eth_type, 0xffff);
  EXPECT_EQ(m.ipv4_src, 0xffffffffu);
  EXPECT_EQ(m.nw_proto, 0xff);
  EXPECT_EQ(m.nw_frag, kFragAny | kFragLater);
  EXPECT_EQ(m.tp_src, 0xffff);
  EXPECT_EQ(m.eth_src[5], 0xff);
  EXPECT_EQ(m.ipv6_src[0], 0);  // no IPv6 attribute in the key
  EXPECT_EQ(m.tun_ttl, 0);
  EXPECT_EQ(m.tcp_flags, 0);

  FlowKey t = k;
  t.tun_ipv4_dst = htonl(1);
  t.tun_ttl = 5;
  NlBuf tkey;
  odp_key_to_attrs(t, &tkey);
  ASSERT_EQ(odp_mask_from_attrs({}, tkey, &m, &err), 0) << err;
  EXPECT_EQ(m.tun_ipv4_dst, 0xffffffffu);
  EXPECT_EQ(m.tun_ttl, 0xff);
  EXPECT_EQ(m.tun_flags, kTunFlagDontFragment | kTunFlagCsum | kTunFlagOam);
}

TEST(OdpMask, PartialMasksRoundTrip) {
  FlowKey k = ipv4(6);
  k.vlan[0] = {htons(0x8100), htons(kVlanCfi | 10)};
  k.tun_ipv4_dst = htonl(0x01020304);
  k.tun_ttl = 64;
  k.tun_id = htobe64(42);
  k.tun_flags = kTunFlagKey;
  FlowKey m;
  m.clear();
  m.recirc_id = 0xffffffff;
  m.in_port = 0xffffffff;
  m.eth_dst[0] = 0x01;
  m.vlan[0] = {0xffff, htons(0x1fff)};
  m.eth_type = 0xffff;
  m.ipv4_dst = htonl(0xffffff00);
  m.nw_proto = 0xff;
  m.nw_frag = kFragAny | kFragLater;
  m.tp_dst = htons(0xff00);
  m.tcp_flags = htons(0x0012);
  m.tun_ipv4_dst = 0xffffffff;
  m.tun_id = ~uint64_t{0};
  m.tun_flags = kTunFlagKey | kTunFlagDontFragment;
  NlBuf key, mask;
  odp_key_to_attrs(k, &key);
  odp_mask_to_attrs(m, k, &mask);
  FlowKey back;
  std::string err;
  ASSERT_EQ(odp_mask_from_attrs(mask, key, &back, &err), 0) << err;
  // The key has no second tag: its absence is matched exactly, as always.
  m.vlan[1].tci = 0xffff;
  EXPECT_TRUE(back == m);
  EXPECT_EQ(
      odp_flow_to_string(key, mask),
      "recirc_id(0x7),tunnel(tun_id=0x2a,dst=1.2.3.4,flags(-df+key)),in_port(3),"
      "eth(dst=00:11:22:33:44:02/01:00:00:00:00:00),eth_type(0x8100),vlan(vid=10),"
      "encap(eth_type(0x0800),ipv4(dst=10.0.0.2/255.255.255.0,proto=6,frag=no),tcp(dst=0/0xff00),"
      "tcp_flags(-syn-ack))");
}

// odp_flow_from_attrs() (FLOW_PUT's one decode of a flow's key) gives what
// odp_key_from_attrs() and odp_mask_from_attrs() give, for an explicit
// mask, an empty (exact) one, a tunnel key, and its refusals.
TEST(OdpMask, FlowFromAttrsIsKeyThenMask) {
  FlowKey k = ipv4(6);
  k.tun_ipv4_dst = htonl(0x01020304);
  k.tun_id = htobe64(7);
  k.tun_flags = kTunFlagKey;
  FlowKey m;
  m.clear();
  m.in_port = 0xffffffff;
  m.eth_type = 0xffff;
  m.ipv4_dst = htonl(0xffff0000);
  m.nw_proto = 0xff;
  m.nw_frag = kFragAny | kFragLater;
  m.tun_id = ~uint64_t{0};
  NlBuf key, mask;
  odp_key_to_attrs(k, &key);
  odp_mask_to_attrs(m, k, &mask);
  std::string err;
  const NlBuf* const masks[] = {&mask, nullptr};
  for (const NlBuf* mk : masks) {
    const std::span<const uint8_t> ms =
        mk ? std::span<const uint8_t>(*mk) : std::span<const uint8_t>();
    FlowKey want_k, want_m, got_k, got_m;
    ASSERT_EQ(odp_key_from_attrs(key, &want_k, &err), 0) << err;
    ASSERT_EQ(odp_mask_from_attrs(ms, key, &want_m, &err), 0) << err;
    ASSERT_EQ(odp_flow_from_attrs(key, ms, &got_k, &got_m, &err), 0) << err;
    EXPECT_TRUE(got_k == want_k);
    EXPECT_TRUE(got_m == want_m);
    EXPECT_EQ(got_m.tun_opts_len, mk ? want_m.tun_opts_len : 0xff);
  }
  // A mask the key refuses, and a key that is not one.
  NlBuf bad;
  NlWriter w(&bad);
  w.put(OVS_KEY_ATTR_UDP, ovs_key_udp{0xffff, 0xffff});
  FlowKey ok, om;
  EXPECT_EQ(odp_flow_from_attrs(key, bad, &ok, &om, &err), EINVAL);
  EXPECT_NE(err.find("OVS_KEY_ATTR_UDP"), std::string::npos) << err;
  const NlBuf truncated(key.begin(), key.begin() + 3);
  EXPECT_EQ(odp_flow_from_attrs(truncated, mask, &ok, &om, &err), EINVAL);
}

TEST(OdpMask, MaskRulesOfTheKernel) {
  FlowKey k = ipv4(6);
  NlBuf key;
  odp_key_to_attrs(k, &key);
  std::string err;
  FlowKey out;

  // An L4 mask needs an exact IP protocol match.
  FlowKey m;
  m.clear();
  m.eth_type = 0xffff;
  m.nw_proto = 0x0f;
  m.tp_dst = 0xffff;
  NlBuf mask;
  odp_mask_to_attrs(m, k, &mask);
  EXPECT_EQ(odp_mask_from_attrs(mask, key, &out, &err), EINVAL);
  EXPECT_NE(err.find("OVS_KEY_ATTR_TCP"), std::string::npos) << err;

  // A VLAN key's mask matches the TPID exactly and the CFI bit.
  FlowKey v = ipv4(17);
  v.vlan[0] = {htons(0x8100), htons(kVlanCfi | 1)};
  NlBuf vkey;
  odp_key_to_attrs(v, &vkey);
  FlowKey vm;
  vm.clear();
  vm.vlan[0] = {0x00ff, 0xffff};
  NlBuf vmask;
  odp_mask_to_attrs(vm, v, &vmask);
  EXPECT_EQ(odp_mask_from_attrs(vmask, vkey, &out, &err), EINVAL);
  vm.vlan[0] = {0xffff, htons(0x0fff)};
  vmask.clear();
  odp_mask_to_attrs(vm, v, &vmask);
  EXPECT_EQ(odp_mask_from_attrs(vmask, vkey, &out, &err), EINVAL);
  EXPECT_NE(err.find("CFI"), std::string::npos) << err;

  // A mask attribute for a protocol the key does not have.
  NlBuf bad = {};
  NlWriter w(&bad);
  w.put(OVS_KEY_ATTR_UDP, ovs_key_udp{0xffff, 0xffff});
  EXPECT_EQ(odp_mask_from_attrs(bad, key, &out, &err), EINVAL);
  EXPECT_NE(err.find("OVS_KEY_ATTR_UDP"), std::string::npos) << err;
}

// ---- rejections ----

NlBuf ip_key(std::function<void(NlWriter&)> extra = {}) {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 1);
  w.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
  w.put(OVS_KEY_ATTR_IPV4, ovs_key_ipv4{1, 2, 17, 0, 64, 0});
  w.put(OVS_KEY_ATTR_UDP, ovs_key_udp{1, 2});
  if (extra) extra(w);
  return b;
}

void expect_reject(const NlBuf& b, const std::string& needle) {
  FlowKey out;
  std::string err;
  EXPECT_EQ(odp_key_from_attrs(b, &out, &err), EINVAL) << needle;
  EXPECT_NE(err.find(needle), std::string::npos) << "error was: " << err;
}

TEST(OdpKeyReject, UnsupportedAttributesByName) {
  struct {
    uint16_t type;
    size_t len;
    const char* name;
  } cases[] = {
      {OVS_KEY_ATTR_CT_STATE, 4, "OVS_KEY_ATTR_CT_STATE"},
      {OVS_KEY_ATTR_CT_ZONE, 2, "OVS_KEY_ATTR_CT_ZONE"},
      {OVS_KEY_ATTR_CT_MARK, 4, "OVS_KEY_ATTR_CT_MARK"},
      {OVS_KEY_ATTR_CT_LABELS, 16, "OVS_KEY_ATTR_CT_LABELS"},
      {OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4, 16, "OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4"},
      {OVS_KEY_ATTR_MPLS, 4, "OVS_KEY_ATTR_MPLS"},
      {OVS_KEY_ATTR_NSH, 0, "OVS_KEY_ATTR_NSH"},
      {OVS_KEY_ATTR_PACKET_TYPE, 4, "OVS_KEY_ATTR_PACKET_TYPE"},
      {OVS_KEY_ATTR_ND_EXTENSIONS, 8, "OVS_KEY_ATTR_ND_EXTENSIONS"},
      {OVS_KEY_ATTR_IPV6_EXTHDRS, 2, "OVS_KEY_ATTR_IPV6_EXTHDRS"},
      {OVS_KEY_ATTR_UNSPEC, 0, "type 0"},
      {60, 4, "type 60"},
  };
  for (auto& c : cases) {
    std::vector<uint8_t> zero(c.len);
    expect_reject(ip_key([&](NlWriter& w) { w.put(c.type, zero.data(), zero.size()); }), c.name);
  }
}

TEST(OdpKeyReject, StructuralErrors) {
  // Wrong payload sizes.
  NlBuf b;
  NlWriter(&b).put(OVS_KEY_ATTR_IN_PORT, uint16_t{1});
  expect_reject(b, "OVS_KEY_ATTR_IN_PORT in key has length 2, expected 4");
  b.clear();
  uint8_t eleven[11] = {};
  NlWriter(&b).put(OVS_KEY_ATTR_IPV4, eleven, sizeof eleven);
  expect_reject(b, "expected 12");
  // Duplicates.
  expect_reject(ip_key([](NlWriter& w) { w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 2); }),
                "duplicate OVS_KEY_ATTR_IN_PORT");
  // Truncated buffer: the last attribute loses its last byte.
  NlBuf t = ip_key();
  t.resize(t.size() - 1);
  expect_reject(t, "truncated");
  NlBuf junk = {5, 0};
  expect_reject(junk, "truncated");
  // Attributes that do not fit the packet.
  expect_reject(ip_key([](NlWriter& w) {
                  w.put(OVS_KEY_ATTR_TCP, ovs_key_tcp{1, 2});
                }),
                "unexpected OVS_KEY_ATTR_TCP");
  expect_reject(ip_key([](NlWriter& w) { w.put<uint16_t>(OVS_KEY_ATTR_VLAN, htons(0x1005)); }),
                "unexpected OVS_KEY_ATTR_VLAN");
  // Missing attributes the ethertype/protocol require.
  NlBuf m;
  NlWriter wm(&m);
  wm.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  wm.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
  expect_reject(m, "missing OVS_KEY_ATTR_IPV4");
  wm.put(OVS_KEY_ATTR_IPV4, ovs_key_ipv4{1, 2, 6, 0, 64, 0});
  expect_reject(m, "missing OVS_KEY_ATTR_TCP");
  // No Ethernet header.
  NlBuf l3;
  NlWriter(&l3).put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
  expect_reject(l3, "Ethernet");
}

TEST(OdpKeyReject, ValuesTheKernelRejects) {
  auto with_ip = [](uint8_t frag) {
    NlBuf b;
    NlWriter w(&b);
    w.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
    w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
    w.put(OVS_KEY_ATTR_IPV4, ovs_key_ipv4{1, 2, 0, 0, 64, frag});
    return b;
  };
  expect_reject(with_ip(3), "ipv4_frag 3 out of range");

  NlBuf v6;
  NlWriter w6(&v6);
  w6.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  w6.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x86dd));
  ovs_key_ipv6 k6{};
  k6.ipv6_label = htonl(0x100000);
  w6.put(OVS_KEY_ATTR_IPV6, k6);
  expect_reject(v6, "flow label");

  NlBuf arp;
  NlWriter wa(&arp);
  wa.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  wa.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0806));
  ovs_key_arp ka{};
  ka.arp_op = htons(256);
  wa.put(OVS_KEY_ATTR_ARP, ka);
  expect_reject(arp, "ARP opcode 256");
}

NlBuf vlan_key(uint16_t tci, std::function<void(NlWriter&)> inner) {
  NlBuf b;
  NlWriter w(&b);
  w.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x8100));
  w.put<uint16_t>(OVS_KEY_ATTR_VLAN, htons(tci));
  size_t c = w.begin_nested(OVS_KEY_ATTR_ENCAP);
  if (inner) inner(w);
  w.end_nested(c);
  return b;
}

TEST(OdpKeyReject, VlanNesting) {
  expect_reject(vlan_key(0x0005, {}), "CFI");
  expect_reject(
      vlan_key(0, [](NlWriter& w) { w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800)); }),
      "truncated VLAN header");
  // Three tags.
  expect_reject(vlan_key(0x1001,
                         [](NlWriter& w) {
                           w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x8100));
                           w.put<uint16_t>(OVS_KEY_ATTR_VLAN, htons(0x1002));
                           size_t c = w.begin_nested(OVS_KEY_ATTR_ENCAP);
                           w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x8100));
                           w.put<uint16_t>(OVS_KEY_ATTR_VLAN, htons(0x1003));
                           size_t d = w.begin_nested(OVS_KEY_ATTR_ENCAP);
                           w.end_nested(d);
                           w.end_nested(c);
                         }),
                "more than two VLAN tags");
  // Metadata and Ethernet inside ENCAP.
  expect_reject(vlan_key(0x1001, [](NlWriter& w) { w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 1); }),
                "unexpected OVS_KEY_ATTR_IN_PORT in key ENCAP");
  // Garbage inside ENCAP.
  NlBuf g = vlan_key(0x1001, [](NlWriter& w) { w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0); });
  g[g.size() - 8] = 0xff;  // the inner attribute's length
  expect_reject(g, "truncated or malformed attribute in key ENCAP");
  // VLAN ethertype without VLAN/ENCAP.
  NlBuf nv;
  NlWriter wn(&nv);
  wn.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  wn.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x8100));
  expect_reject(nv, "VLAN ethertype without");
}

NlBuf tunnel_key(std::function<void(NlWriter&)> f) {
  NlBuf b;
  NlWriter w(&b);
  size_t c = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
  f(w);
  w.end_nested(c);
  w.put(OVS_KEY_ATTR_ETHERNET, ovs_key_ethernet{});
  return b;
}

TEST(OdpKeyReject, Tunnel) {
  expect_reject(tunnel_key([](NlWriter& w) { w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, 1); }),
                "no TTL");
  expect_reject(tunnel_key([](NlWriter& w) { w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 1); }),
                "no destination");
  expect_reject(tunnel_key([](NlWriter& w) {
                  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, 1);
                  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 1);
                  uint8_t opt[4] = {0xff, 0xff, 0x01, 0x01};  // one word of data, missing
                  w.put(OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS, opt, sizeof opt);
                }),
                "OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS: option length past the end");
  expect_reject(tunnel_key([](NlWriter& w) {
                  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, 1);
                  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 1);
                  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS, 0);
                }),
                "OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS is not supported");
  expect_reject(tunnel_key([](NlWriter& w) {
                  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, 1);
                  uint8_t a6[16] = {1};
                  w.put(OVS_TUNNEL_KEY_ATTR_IPV6_DST, a6, 16);
                  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 1);
                }),
                "mixes IPv4 and IPv6");
  expect_reject(tunnel_key([](NlWriter& w) { w.put<uint16_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, 1); }),
                "OVS_TUNNEL_KEY_ATTR_IPV4_DST has length 2");
  expect_reject(tunnel_key([](NlWriter& w) {
                  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 1);
                  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 2);
                }),
                "duplicate OVS_TUNNEL_KEY_ATTR_TTL");
}

// 100,000 random and mutated buffers with a fixed seed: the parsers either
// accept or return EINVAL, never crash (run under ASan/UBSan too), and the
// formatter never crashes on anything.
TEST(OdpRandom, HundredThousandBuffers) {
  std::mt19937 rng(12345);
  std::vector<NlBuf> seeds;
  for (uint8_t proto : {6, 17, 132, 1}) {
    FlowKey k = ipv4(proto);
    k.vlan[0] = {htons(0x8100), htons(kVlanCfi | 1)};
    k.tun_ipv4_dst = 1;
    k.tun_ttl = 1;
    NlBuf b;
    odp_key_to_attrs(k, &b);
    seeds.push_back(b);
  }
  FlowKey ns = ipv6(58);
  ns.tp_src = htons(135);
  NlBuf nb;
  odp_key_to_attrs(ns, &nb);
  seeds.push_back(nb);
  int accepted = 0;
  for (int i = 0; i < 100000; ++i) {
    NlBuf b;
    if (i % 4 == 0) {
      b.resize(rng() % 96);
      for (auto& x : b) x = uint8_t(rng());
    } else {
      b = seeds[rng() % seeds.size()];
      int flips = 1 + int(rng() % 4);
      for (int f = 0; f < flips && !b.empty(); ++f) b[rng() % b.size()] = uint8_t(rng());
      if (rng() % 8 == 0) b.resize(rng() % (b.size() + 1));
    }
    FlowKey out;
    std::string err;
    int r = odp_key_from_attrs(b, &out, &err);
    ASSERT_TRUE(r == 0 || r == EINVAL);
    if (r == EINVAL) {
      ASSERT_FALSE(err.empty());
    }
    const NlBuf& seed = seeds[rng() % seeds.size()];
    int rm = odp_mask_from_attrs(b, seed, &out, &err);
    ASSERT_TRUE(rm == 0 || rm == EINVAL);
    if (r == 0) {
      ++accepted;
      NlBuf again;
      odp_key_to_attrs(out, &again);
    }
    std::string s = odp_flow_to_string(b, seed);
    s += odp_flow_to_string(seed, b);
    s += odp_actions_to_string(b);
    ASSERT_FALSE(s.empty());
  }
  EXPECT_GT(accepted, 100);  // the mutations must also reach the accepting paths
}

// VLAN masks follow the kernel's ovs_nla_get_match(), which matches both
// TCIs exactly ("Always match on tci") before reading the mask: a flow
// without vlan() matches only untagged frames, a single-tagged one only
// single-tagged frames, and only a tag the key has can be wildcarded (down
// to its CFI bit).

// Whether a packet's key falls in the flow (key, mask), as the classifier
// decides it: equal under the mask, word by word.
bool in_flow(const FlowKey& pkt, const FlowKey& key, const FlowKey& mask) {
  for (size_t i = 0; i < FlowKey::kWords; ++i) {
    if ((pkt.words()[i] & mask.words()[i]) != (key.words()[i] & mask.words()[i])) return false;
  }
  return true;
}

struct TextFlow {
  FlowKey key, mask;
  NlBuf key_attrs, mask_attrs;
};

TextFlow text_flow(const std::string& text) {
  TextFlow f;
  std::string err;
  EXPECT_EQ(odp_flow_from_string(text, &f.key_attrs, &f.mask_attrs, &err), 0) << err;
  EXPECT_EQ(odp_flow_from_attrs(f.key_attrs, f.mask_attrs, &f.key, &f.mask, &err), 0)
      << err << " for " << text;
  return f;
}

// A packet key: UDP over IPv4 with the given tags (TCIs without CFI).
FlowKey udp_pkt(uint16_t tpid0 = 0, uint16_t tci0 = 0, uint16_t tpid1 = 0, uint16_t tci1 = 0) {
  FlowKey k = ipv4(17);
  k.in_port = 1;
  k.recirc_id = 0;
  k.tp_src = htons(7);
  k.tp_dst = htons(9);
  if (tpid0) k.vlan[0] = {htons(tpid0), htons(tci0 | kVlanCfi)};
  if (tpid1) k.vlan[1] = {htons(tpid1), htons(tci1 | kVlanCfi)};
  return k;
}

TEST(OdpVlanMask, FlowWithoutVlanMatchesOnlyUntaggedFrames) {
  for (const char* text : {"in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)",
                           // OVS's usual megaflow, every field spelled out
                           "recirc_id(0),in_port(1),eth(src=00:00:00:00:00:00/00:00:00:00:00:00,"
                           "dst=00:00:00:00:00:00/00:00:00:00:00:00),eth_type(0x0800),"
                           "ipv4(src=0.0.0.0/0.0.0.0,dst=0.0.0.0/0.0.0.0,proto=0/0,tos=0/0,"
                           "ttl=0/0,frag=no)"}) {
    SCOPED_TRACE(text);
    TextFlow f = text_flow(text);
    // Both tags' absence matched exactly, the TPIDs not at all.
    EXPECT_EQ(f.mask.vlan[0].tpid, 0);
    EXPECT_EQ(f.mask.vlan[0].tci, 0xffff);
    EXPECT_EQ(f.mask.vlan[1].tpid, 0);
    EXPECT_EQ(f.mask.vlan[1].tci, 0xffff);
    EXPECT_TRUE(in_flow(udp_pkt(), f.key, f.mask));
    EXPECT_FALSE(in_flow(udp_pkt(0x8100, 10), f.key, f.mask));
    EXPECT_FALSE(in_flow(udp_pkt(0x8100, 0), f.key, f.mask));  // a priority tag is a tag
    EXPECT_FALSE(in_flow(udp_pkt(0x88a8, 100, 0x8100, 10), f.key, f.mask));
    // Still a simple mask (simple_match.h): the VLAN tags are simple fields.
    EXPECT_TRUE(mask_is_simple(f.mask));
    // The attributes (what a dump returns) still have no VLAN, and their
    // text parses back to the same attributes.
    for (uint16_t t : types(f.mask_attrs)) EXPECT_NE(t, OVS_KEY_ATTR_VLAN);
    TextFlow again = text_flow(odp_flow_to_string(f.key_attrs, f.mask_attrs));
    EXPECT_EQ(again.key_attrs, f.key_attrs);
    EXPECT_EQ(again.mask_attrs, f.mask_attrs);
    EXPECT_TRUE(again.mask == f.mask);
  }
}

TEST(OdpVlanMask, ExactMaskOfAnUntaggedKeyMatchesNoTag) {
  FlowKey k = udp_pkt();
  NlBuf key;
  odp_key_to_attrs(k, &key);
  FlowKey m;
  std::string err;
  ASSERT_EQ(odp_mask_from_attrs({}, key, &m, &err), 0) << err;
  EXPECT_EQ(m.vlan[0].tci, 0xffff);
  EXPECT_EQ(m.vlan[1].tci, 0xffff);
  EXPECT_TRUE(in_flow(udp_pkt(), k, m));
  EXPECT_FALSE(in_flow(udp_pkt(0x8100, 10), k, m));
  // Dumped, the mask still has no VLAN attribute (the key's shape decides).
  NlBuf back;
  odp_mask_to_attrs(m, k, &back);
  for (uint16_t t : types(back)) EXPECT_NE(t, OVS_KEY_ATTR_VLAN);
}

TEST(OdpVlanMask, WildcardedVidMatchesEveryTagButNotItsAbsence) {
  TextFlow one =
      text_flow("in_port(1),eth(),eth_type(0x8100),vlan(),encap(eth_type(0x0800),ipv4(frag=no))");
  EXPECT_EQ(one.mask.vlan[0].tpid, 0xffff);
  EXPECT_EQ(one.mask.vlan[0].tci, htons(kVlanCfi));
  EXPECT_EQ(one.mask.vlan[1].tci, 0xffff);  // the inner tag's absence
  EXPECT_TRUE(in_flow(udp_pkt(0x8100, 10), one.key, one.mask));
  EXPECT_TRUE(in_flow(udp_pkt(0x8100, (5 << 13) | 4094), one.key, one.mask));
  EXPECT_TRUE(in_flow(udp_pkt(0x8100, 0), one.key, one.mask));
  EXPECT_FALSE(in_flow(udp_pkt(), one.key, one.mask));
  EXPECT_FALSE(in_flow(udp_pkt(0x88a8, 10), one.key, one.mask));  // TPID matched
  EXPECT_FALSE(in_flow(udp_pkt(0x8100, 10, 0x8100, 20), one.key, one.mask));

  TextFlow two = text_flow(
      "in_port(1),eth(),eth_type(0x88a8),vlan(vid=100),encap(eth_type(0x8100),vlan(),"
      "encap(eth_type(0x0800),ipv4(frag=no)))");
  EXPECT_EQ(two.mask.vlan[0].tci, htons(kVlanCfi | 0x0fff));
  EXPECT_EQ(two.mask.vlan[1].tpid, 0xffff);
  EXPECT_EQ(two.mask.vlan[1].tci, htons(kVlanCfi));
  EXPECT_TRUE(in_flow(udp_pkt(0x88a8, 100, 0x8100, 10), two.key, two.mask));
  EXPECT_TRUE(in_flow(udp_pkt(0x88a8, 100, 0x8100, 11), two.key, two.mask));
  EXPECT_FALSE(in_flow(udp_pkt(0x88a8, 101, 0x8100, 10), two.key, two.mask));
  EXPECT_FALSE(in_flow(udp_pkt(0x88a8, 100), two.key, two.mask));
}

// A tagged key's mask without ENCAP: the kernel keeps both TCIs exact,
// leaves the TPIDs unmatched and reads the inner masks at the top level.
TEST(OdpVlanMask, MaskWithoutEncapKeepsTheTagsExact) {
  FlowKey k = udp_pkt(0x8100, 10);
  NlBuf key;
  odp_key_to_attrs(k, &key);
  NlBuf mask;
  NlWriter w(&mask);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 0xffffffff);
  w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
  w.put(OVS_KEY_ATTR_IPV4, ovs_key_ipv4{0, htonl(0xffffffff), 0, 0, 0, 0xff});
  FlowKey m;
  std::string err;
  ASSERT_EQ(odp_mask_from_attrs(mask, key, &m, &err), 0) << err;
  EXPECT_EQ(m.vlan[0].tpid, 0);
  EXPECT_EQ(m.vlan[0].tci, 0xffff);
  EXPECT_EQ(m.vlan[1].tci, 0xffff);
  EXPECT_EQ(m.eth_type, 0xffff);
  EXPECT_EQ(m.ipv4_dst, 0xffffffff);
  EXPECT_EQ(m.nw_frag, kFragAny | kFragLater);
  EXPECT_TRUE(in_flow(k, k, m));
  EXPECT_FALSE(in_flow(udp_pkt(0x8100, 11), k, m));
  EXPECT_FALSE(in_flow(udp_pkt(), k, m));

  // A VLAN attribute there is refused, as the kernel refuses it.
  w.put<uint16_t>(OVS_KEY_ATTR_VLAN, 0xffff);
  EXPECT_EQ(odp_mask_from_attrs(mask, key, &m, &err), EINVAL);
  EXPECT_NE(err.find("without OVS_KEY_ATTR_ENCAP"), std::string::npos) << err;
}

TEST(OdpVlanMask, RefusedAsTheKernelRefusesThem) {
  auto mask_error = [](const FlowKey& k, std::function<void(NlWriter&)> fill) {
    NlBuf key, mask;
    odp_key_to_attrs(k, &key);
    NlWriter w(&mask);
    fill(w);
    FlowKey m;
    std::string err;
    EXPECT_EQ(odp_mask_from_attrs(mask, key, &m, &err), EINVAL);
    return err;
  };
  auto inner = [](NlWriter& w) {
    size_t c = w.begin_nested(OVS_KEY_ATTR_ENCAP);
    w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
    w.end_nested(c);
  };
  const FlowKey tagged = udp_pkt(0x8100, 10);
  // ENCAP without the TCI mask (which would wildcard the tag's presence).
  EXPECT_NE(mask_error(tagged,
                       [&](NlWriter& w) {
                         w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
                         inner(w);
                       })
                .find("without OVS_KEY_ATTR_VLAN"),
            std::string::npos);
  // ENCAP without the TPID mask.
  EXPECT_NE(mask_error(tagged,
                       [&](NlWriter& w) {
                         w.put<uint16_t>(OVS_KEY_ATTR_VLAN, 0xffff);
                         inner(w);
                       })
                .find("without OVS_KEY_ATTR_ETHERTYPE"),
            std::string::npos);
  // A TCI mask of 0 (no CFI bit).
  EXPECT_NE(mask_error(tagged,
                       [&](NlWriter& w) {
                         w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
                         w.put<uint16_t>(OVS_KEY_ATTR_VLAN, 0);
                         inner(w);
                       })
                .find("CFI"),
            std::string::npos);
  // An untagged key's mask cannot wildcard the tag: VLAN or ENCAP there
  // does not fit the key.
  EXPECT_NE(mask_error(udp_pkt(),
                       [&](NlWriter& w) {
                         w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
                         w.put<uint16_t>(OVS_KEY_ATTR_VLAN, 0);
                       })
                .find("unexpected OVS_KEY_ATTR_VLAN in mask"),
            std::string::npos);
  EXPECT_NE(mask_error(udp_pkt(),
                       [&](NlWriter& w) {
                         w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
                         inner(w);
                       })
                .find("unexpected OVS_KEY_ATTR_ENCAP in mask"),
            std::string::npos);
}

}  // namespace
}  // namespace dpx
