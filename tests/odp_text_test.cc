// ODP text syntax: text -> attributes -> text round trips in OVS's canonical
// dump-flows form for every supported key attribute and action, checks on
// the attributes the text produces, and rejection of malformed text.
#include "odp_text.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/openvswitch.h>

#include "odp_key.h"

namespace dpx {
namespace {

std::vector<uint16_t> types(std::span<const uint8_t> buf) {
  std::vector<uint16_t> t;
  NlIter it(buf);
  NlAttr a;
  while (it.next(&a)) t.push_back(a.type);
  return t;
}

// Each string is what OVS prints for the flow it parses into.
const char* kFlows[] = {
    "recirc_id(0),in_port(1),eth(src=00:01:02:03:04:05,dst=ff:ff:ff:ff:ff:ff/01:00:00:00:00:00),"
    "eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.0/255.255.255.0,proto=17,tos=0,ttl=64,frag=no),"
    "udp(src=1,dst=2)",
    "skb_priority(0x1),skb_mark(0x5/0xff),dp_hash(0x10/0xff),recirc_id(0x1),in_port(2),eth(),"
    "eth_type(0x0806),arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=00:00:00:00:00:01,tha=00:00:00:00:00:"
    "00)",
    "in_port(1/0xff),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x8100),"
    "vlan(vid=10,pcp=0),encap(eth_type(0x0800),ipv4(frag=no))",
    "eth(),eth_type(0x88a8),vlan(vid=100,pcp=3),encap(eth_type(0x8100),vlan(vid=10),"
    "encap(eth_type(0x86dd),ipv6(src=2001:db8::1,dst=2001:db8::/ffff:ffff::,label=0x12345,proto=6,"
    "tclass=0x10,hlimit=64,frag=no),tcp(dst=80),tcp_flags(syn|ack)))",
    "eth_type(0x0800),ipv4(proto=6,tos=0x4/0xfc,frag=no),tcp(src=1024/"
    "0xfc00),tcp_flags(-fin+syn-rst)",
    "eth_type(0x0800),ipv4(proto=1,frag=no),icmp(type=8,code=0)",
    "eth_type(0x86dd),ipv6(label=0x5/0xff,proto=58,frag=no),icmpv6(type=135,code=0),"
    "nd(target=fe80::1,sll=00:11:22:33:44:55)",
    "eth_type(0x0800),ipv4(proto=132,frag=first),sctp(src=5000,dst=6000)",
    "eth_type(0x0800),ipv4(frag=later)",
    "tunnel(tun_id=0x5,src=172.31.110.12,dst=172.31.110.11,ttl=64,flags(-df-csum+key)),in_port(3),"
    "eth(),eth_type(0x0800),ipv4(frag=no)",
    "tunnel(ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tos=0x10,ttl=64,tp_src=1000/0xff00,"
    "tp_dst=4789,flags(-df+csum)),in_port(4)",
    "tunnel(tun_id=0x1/0xff,dst=1.1.1.1,ttl=64,flags(+oam+key)),eth()",
    "eth_type(0x8100),vlan(cfi=0),encap()",
    "eth_type(0x8100),vlan(vid=5/0xf,pcp=1/0x1),encap(eth_type(0x0806),arp(op=2))",
};

TEST(OdpText, FlowRoundTrips) {
  for (const char* f : kFlows) {
    NlBuf key, mask;
    std::string err;
    ASSERT_EQ(odp_flow_from_string(f, &key, &mask, &err), 0) << f << ": " << err;
    EXPECT_EQ(odp_flow_to_string(key, mask), f);
  }
}

TEST(OdpText, FlowAttributes) {
  NlBuf key, mask;
  std::string err;
  ASSERT_EQ(odp_flow_from_string("in_port(1),eth(src=00:01:02:03:04:05),eth_type(0x0800),"
                                 "ipv4(src=10.0.0.1/255.0.0.0,frag=no),tcp_flags(0x12/0x12)",
                                 &key, &mask, &err),
            0)
      << err;
  std::vector<uint16_t> want = {OVS_KEY_ATTR_IN_PORT, OVS_KEY_ATTR_ETHERNET, OVS_KEY_ATTR_ETHERTYPE,
                                OVS_KEY_ATTR_IPV4, OVS_KEY_ATTR_TCP_FLAGS};
  EXPECT_EQ(types(key), want);
  EXPECT_EQ(types(mask), want);
  NlIter it(mask);
  NlAttr a;
  ovs_key_ipv4 ip{};
  uint16_t flags = 0;
  ovs_key_ethernet eth{};
  while (it.next(&a)) {
    bool ok = a.type == OVS_KEY_ATTR_IPV4        ? a.get(&ip)
              : a.type == OVS_KEY_ATTR_TCP_FLAGS ? a.get(&flags)
              : a.type == OVS_KEY_ATTR_ETHERNET  ? a.get(&eth)
                                                 : true;
    ASSERT_TRUE(ok) << a.type;
  }
  EXPECT_EQ(ip.ipv4_src, htonl(0xff000000));
  EXPECT_EQ(ip.ipv4_dst, 0u);  // omitted: wildcarded
  EXPECT_EQ(ip.ipv4_frag, 0xff);
  EXPECT_EQ(flags, htons(0x12));
  EXPECT_EQ(eth.eth_src[0], 0xff);
  EXPECT_EQ(eth.eth_dst[0], 0);
  EXPECT_EQ(odp_flow_to_string(key, mask),
            "in_port(1),eth(src=00:01:02:03:04:05),eth_type(0x0800),ipv4(src=10.0.0.1/255.0.0.0,"
            "frag=no),tcp_flags(+syn+ack)");

  // A flow parsed from text is accepted by the key/mask codec.
  NlBuf k2, m2;
  ASSERT_EQ(odp_flow_from_string(kFlows[0], &k2, &m2, &err), 0);
  FlowKey fk, fm;
  ASSERT_EQ(odp_key_from_attrs(k2, &fk, &err), 0) << err;
  ASSERT_EQ(odp_mask_from_attrs(m2, k2, &fm, &err), 0) << err;
  EXPECT_EQ(fk.in_port, 1u);
  EXPECT_EQ(fm.ipv4_dst, htonl(0xffffff00));
  EXPECT_EQ(fm.eth_dst[0], 0x01);
  EXPECT_EQ(fm.tp_dst, 0xffff);
}

TEST(OdpText, KernelStyleDump) {
  // What dpxctl prints for a flow ovs-vswitchd put with a typical megaflow
  // mask: metadata OVS does not match is left out.
  FlowKey k, m;
  k.clear();
  m.clear();
  k.in_port = 1;
  k.eth_src[5] = 1;
  k.eth_dst[5] = 2;
  k.eth_type = htons(0x0800);
  k.ipv4_src = htonl(0x0a000001);
  k.ipv4_dst = htonl(0x0a000002);
  k.nw_proto = 17;
  k.nw_ttl = 64;
  k.tp_src = htons(1);
  k.tp_dst = htons(2);
  m.recirc_id = m.in_port = 0xffffffff;
  std::memset(m.eth_src, 0xff, 6);
  std::memset(m.eth_dst, 0xff, 6);
  m.eth_type = 0xffff;
  m.ipv4_src = m.ipv4_dst = 0xffffffff;
  m.nw_proto = m.nw_tos = m.nw_ttl = 0xff;
  m.nw_frag = kFragAny | kFragLater;
  m.tp_src = m.tp_dst = 0xffff;
  NlBuf key, mask;
  odp_key_to_attrs(k, &key);
  odp_mask_to_attrs(m, k, &mask);
  EXPECT_EQ(
      odp_flow_to_string(key, mask),
      "recirc_id(0),in_port(1),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
      "ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)");
  // Without a mask every field is printed, unmasked.
  EXPECT_EQ(odp_flow_to_string(key, {}),
            "recirc_id(0),dp_hash(0),skb_priority(0),in_port(1),skb_mark(0),"
            "eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),"
            "ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,tos=0,ttl=64,frag=no),udp(src=1,dst=2)");
  EXPECT_EQ(odp_flow_to_string({}, {}), "<empty>");
}

TEST(OdpText, Ufid) {
  NlBuf key, mask;
  Ufid u{};
  bool has = false;
  std::string err;
  ASSERT_EQ(odp_flow_from_string("ufid:c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1,in_port(1)", &key,
                                 &mask, &u, &has, &err),
            0)
      << err;
  EXPECT_TRUE(has);
  EXPECT_EQ(u.w[0], 0xc2ae0e6au);
  EXPECT_EQ(u.w[1], 0x5e8f4b73u);
  EXPECT_EQ(u.w[2], 0x9f0fd5d5u);
  EXPECT_EQ(u.w[3], 0xb6a9a1f1u);
  EXPECT_EQ(ufid_to_string(u), "c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1");
  EXPECT_EQ(odp_flow_to_string(key, mask), "in_port(1)");
  Ufid v;
  EXPECT_FALSE(ufid_from_string("c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f", &v));
  EXPECT_FALSE(ufid_from_string("c2ae0e6a+5e8f-4b73-9f0f-d5d5b6a9a1f1", &v));
  EXPECT_FALSE(ufid_from_string("g2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1", &v));
  key.clear();
  mask.clear();
  EXPECT_EQ(odp_flow_from_string("ufid:c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1,in_port(1)", &key,
                                 &mask, &err),
            EINVAL);
  EXPECT_EQ(odp_flow_from_string("ufid:12,in_port(1)", &key, &mask, &u, &has, &err), EINVAL);
}

// Each string is what OVS prints for the actions it parses into.
const char* kActions[] = {
    "drop",
    "2",
    "1,2,3",
    "trunc(100),2",
    "recirc(0x1)",
    "hash(l4(0)),recirc(0x2)",
    "hash(sym_l4(5))",
    "push_vlan(vid=10,pcp=0),2",
    "push_vlan(tpid=0x88a8,vid=100,pcp=5),2",
    "push_vlan(vid=1,pcp=0,cfi=0)",
    "pop_vlan,3",
    "set(eth(src=00:01:02:03:04:05,dst=ff:ff:ff:ff:ff:ff))",
    "set(eth(dst=00:00:00:00:00:09))",
    "set(ipv4(src=1.2.3.4/255.255.255.0))",
    "set(ipv4(ttl=63))",
    "set(ipv4(src=1.1.1.1,dst=2.2.2.2,proto=6,tos=0,ttl=64,frag=no))",
    "set(ipv6(src=::1,dst=::2,label=0,proto=6,tclass=0,hlimit=64,frag=no))",
    "set(ipv6(dst=2001:db8::1,hlimit=5))",
    "set(tcp(src=80,dst=8080))",
    "set(udp(dst=53))",
    "set(tunnel(tun_id=0x5,dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df|key)))",
    "set(tunnel(ipv6_dst=2001:db8::2,ttl=64,flags(0)))",
    "clone(set(ipv4(ttl=63)),2),3",
    "clone(drop)",
    "userspace(pid=1)",
    "userspace(pid=4294967295,userdata(0102030405060708),actions,tunnel_out_port=4)",
    "userspace(pid=7,userdata())",
};

TEST(OdpText, ActionRoundTrips) {
  for (const char* s : kActions) {
    NlBuf acts;
    std::string err;
    ASSERT_EQ(odp_actions_from_string(s, &acts, &err), 0) << s << ": " << err;
    EXPECT_EQ(odp_actions_to_string(acts), s);
  }
}

TEST(OdpText, ActionAttributes) {
  NlBuf a;
  std::string err;
  ASSERT_EQ(odp_actions_from_string("set(ipv4(src=1.2.3.4/255.255.255.0)),set(tcp(src=1,dst=2)),2",
                                    &a, &err),
            0);
  std::vector<uint16_t> want = {OVS_ACTION_ATTR_SET_MASKED, OVS_ACTION_ATTR_SET,
                                OVS_ACTION_ATTR_OUTPUT};
  EXPECT_EQ(types(a), want);
  NlIter it(a);
  NlAttr x;
  ASSERT_TRUE(it.next(&x));
  NlIter in(x.payload);
  NlAttr k;
  ASSERT_TRUE(in.next(&k));
  EXPECT_EQ(k.type, OVS_KEY_ATTR_IPV4);
  ASSERT_EQ(k.payload.size(), 2 * sizeof(ovs_key_ipv4));  // value then mask
  ovs_key_ipv4 v, m;
  std::memcpy(&v, k.payload.data(), sizeof v);
  std::memcpy(&m, k.payload.data() + sizeof v, sizeof m);
  EXPECT_EQ(v.ipv4_src, htonl(0x01020304));
  EXPECT_EQ(m.ipv4_src, htonl(0xffffff00));
  EXPECT_EQ(m.ipv4_ttl, 0);

  a.clear();
  ASSERT_EQ(odp_actions_from_string(" 5 , push_vlan(vid=10,pcp=2) ", &a, &err), 0) << err;
  NlIter it2(a);
  ASSERT_TRUE(it2.next(&x));
  uint32_t port;
  ASSERT_TRUE(x.get(&port));
  EXPECT_EQ(port, 5u);
  ASSERT_TRUE(it2.next(&x));
  ovs_action_push_vlan pv;
  ASSERT_TRUE(x.get(&pv));
  EXPECT_EQ(pv.vlan_tpid, htons(0x8100));
  EXPECT_EQ(pv.vlan_tci, htons(0x1000 | (2 << 13) | 10));

  // Unsupported actions are printed the way OVS prints unknown ones.
  NlBuf u;
  NlWriter(&u).put<uint32_t>(OVS_ACTION_ATTR_DEC_TTL + 5, 0x01020304);
  EXPECT_EQ(odp_actions_to_string(u),
            "action" + std::to_string(OVS_ACTION_ATTR_DEC_TTL + 5) + "(04 03 02 01)");
  NlBuf bad;
  NlWriter(&bad).put<uint16_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  EXPECT_EQ(odp_actions_to_string(bad), "bad length 2, expected 4 for: action1(01 00)");
}

void expect_flow_error(const char* s, const char* needle) {
  NlBuf key, mask;
  std::string err;
  EXPECT_EQ(odp_flow_from_string(s, &key, &mask, &err), EINVAL) << s;
  EXPECT_NE(err.find(needle), std::string::npos) << s << " -> " << err;
  EXPECT_NE(err.find("offset"), std::string::npos) << err;
}

TEST(OdpText, MalformedFlows) {
  expect_flow_error("in_port(1", "expected ')'");
  expect_flow_error("eth(src=00:01)", "expected ':'");
  expect_flow_error("ipv4(frag=maybe)", "frag=no, first or later");
  expect_flow_error("ct_state(trk)", "unsupported key attribute 'ct_state'");
  expect_flow_error("ipv4(src=1.2.3.4),foo(1)", "'foo'");
  expect_flow_error("tcp_flags(bogus)", "unknown flag");
  expect_flow_error("ipv4(bogus=1)", "unknown field 'bogus'");
  expect_flow_error("ipv4(ttl=256)", "out of range");
  expect_flow_error("vlan(vid=4096)", "out of range");
  expect_flow_error("ipv6(label=0x100000)", "out of range");
  expect_flow_error("ipv6(src=1::2::3)", "IPv6 address");
  expect_flow_error("in_port(1)x", "expected ','");
  expect_flow_error("encap(in_port(1)", "unterminated encap");
  expect_flow_error("tunnel(flags(df|bogus))", "unknown flag");
}

TEST(OdpText, MalformedActions) {
  const std::pair<const char*, const char*> cases[] = {
      {"output:2", "unknown or unsupported action"},
      {"set(ipv4(ttl=63)", "expected ')'"},
      {"push_vlan(vid=5000,pcp=0)", "out of range"},
      {"clone(2", "unterminated clone"},
      {"2 3x", "expected ','"},
      {"ct(commit)", "unknown or unsupported action"},
      {"hash(foo(1))", "hash(l4(N))"},
      {"userspace(pid=1,userdata(123))", "odd number of hex digits"},
      {"recirc(0x100000000)", "out of range"},
  };
  for (auto [s, needle] : cases) {
    NlBuf a = {1, 2, 3};
    std::string err;
    EXPECT_EQ(odp_actions_from_string(s, &a, &err), EINVAL) << s;
    EXPECT_NE(err.find(needle), std::string::npos) << s << " -> " << err;
    EXPECT_EQ(a, (NlBuf{1, 2, 3})) << "a failed parse must not append";
  }
}

}  // namespace
}  // namespace dpx
