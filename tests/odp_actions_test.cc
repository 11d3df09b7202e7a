// Tests for compile_actions(): every supported action compiles to the
// expected records, every unsupported one is refused with a message naming
// it, malformed input is refused, and random input never crashes.
#include "odp_actions.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/openvswitch.h>

#include <cerrno>
#include <memory>
#include <random>
#include <string>
#include <vector>

// GCC 12 at -O3 reports a false -Wnonnull inside NlWriter::put (a clone of it
// with data == nullptr, which only runs with len == 0); see the report.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnonnull"
#include "nlattr.h"
#pragma GCC diagnostic pop

namespace dpx {
namespace {

struct ProgramDeleter {
  void operator()(ActionProgram* p) const { free_action_program(p); }
};
using ProgramPtr = std::unique_ptr<ActionProgram, ProgramDeleter>;

// Checks the structural invariants any compiled program must satisfy: every
// record's data lies inside the allocation and every clone body lies inside
// its enclosing range.
void check_invariants(const ActionProgram& p) {
  const auto* base = reinterpret_cast<const uint8_t*>(&p);
  ASSERT_EQ(p.alloc_size % 16, 0u);
  ASSERT_GE(p.alloc_size, sizeof(ActionProgram) + p.n_actions * sizeof(Action));
  for (const Action* a = p.begin(); a < p.end(); ++a) {
    ASSERT_LE(static_cast<uint8_t>(a->op), static_cast<uint8_t>(ActionOp::kTrunc));
    if (a->data_len) {
      ASSERT_NE(a->data_off, 0u);
      ASSERT_GE(a->data(), reinterpret_cast<const uint8_t*>(p.end()));
      ASSERT_LE(a->data() + a->data_len, base + p.alloc_size);
    }
    if (a->op == ActionOp::kClone) {
      ASSERT_GE(a->arg0, 1u);
      ASSERT_LE(a + 1 + a->arg0, p.end());
    }
  }
}

ProgramPtr compile_ok(const NlBuf& buf) {
  ActionProgram* p = nullptr;
  std::string err;
  int rc = compile_actions(buf, &p, &err);
  EXPECT_EQ(rc, 0) << err;
  if (rc != 0) return nullptr;
  EXPECT_TRUE(err.empty());
  check_invariants(*p);
  return ProgramPtr(p);
}

// Expects EINVAL with a message containing `needle`, and *out untouched.
void compile_fails(const NlBuf& buf, const std::string& needle) {
  ActionProgram* sentinel = reinterpret_cast<ActionProgram*>(0x1234);
  ActionProgram* p = sentinel;
  std::string err;
  EXPECT_EQ(compile_actions(buf, &p, &err), EINVAL);
  EXPECT_EQ(p, sentinel);
  EXPECT_NE(err.find(needle), std::string::npos) << "message: " << err;
}

template <class T>
void put_set(NlWriter& w, uint16_t key_type, const T& v) {
  size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
  w.put(key_type, v);
  w.end_nested(s);
}

template <class T>
void put_set_masked(NlWriter& w, uint16_t key_type, const T& v, const T& m) {
  size_t s = w.begin_nested(OVS_ACTION_ATTR_SET_MASKED);
  uint8_t buf[2 * sizeof(T)];
  std::memcpy(buf, &v, sizeof v);
  std::memcpy(buf + sizeof v, &m, sizeof m);
  w.put(key_type, buf, sizeof buf);
  w.end_nested(s);
}

TEST(OdpActions, EmptyListIsAnEmptyProgram) {
  NlBuf b;
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->empty());
  EXPECT_TRUE(program_has_only_outputs(*p));
}

TEST(OdpActions, OutputsOnly) {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 3);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 7);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->n_actions, 2u);
  EXPECT_EQ(p->n_outputs, 2u);
  EXPECT_EQ(p->begin()[0].op, ActionOp::kOutput);
  EXPECT_EQ(p->begin()[0].arg0, 3u);
  EXPECT_EQ(p->begin()[1].arg0, 7u);
  EXPECT_TRUE(program_has_only_outputs(*p));
  EXPECT_FALSE(p->flags & kProgModifiesPacket);
}

TEST(OdpActions, Userspace) {
  NlBuf b;
  NlWriter w(&b);
  size_t u = w.begin_nested(OVS_ACTION_ATTR_USERSPACE);
  w.put<uint32_t>(OVS_USERSPACE_ATTR_PID, 4242);
  const uint8_t cookie[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  w.put(OVS_USERSPACE_ATTR_USERDATA, cookie, sizeof cookie);
  w.put<uint32_t>(OVS_USERSPACE_ATTR_EGRESS_TUN_PORT, 9);
  w.put_flag(OVS_USERSPACE_ATTR_ACTIONS);
  w.end_nested(u);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->n_actions, 2u);
  const Action& a = p->begin()[0];
  EXPECT_EQ(a.op, ActionOp::kUserspace);
  EXPECT_EQ(a.userspace_pid(), 4242u);
  ASSERT_EQ(a.userdata().size(), sizeof cookie);
  EXPECT_EQ(std::memcmp(a.userdata().data(), cookie, sizeof cookie), 0);
  EXPECT_TRUE(a.has_egress_tun_port());
  EXPECT_EQ(a.egress_tun_port(), 9u);
  EXPECT_TRUE(a.userspace_wants_actions());
  EXPECT_TRUE(p->flags & kProgHasUserspace);
  EXPECT_FALSE(program_has_only_outputs(*p));

  // Minimal form: pid only.
  NlBuf b2;
  NlWriter w2(&b2);
  u = w2.begin_nested(OVS_ACTION_ATTR_USERSPACE);
  w2.put<uint32_t>(OVS_USERSPACE_ATTR_PID, 1);
  w2.end_nested(u);
  auto p2 = compile_ok(b2);
  ASSERT_TRUE(p2);
  EXPECT_TRUE(p2->begin()[0].userdata().empty());
  EXPECT_FALSE(p2->begin()[0].has_egress_tun_port());
  EXPECT_FALSE(p2->begin()[0].userspace_wants_actions());
}

TEST(OdpActions, PushPopVlan) {
  NlBuf b;
  NlWriter w(&b);
  ovs_action_push_vlan v{htons(0x88a8), htons(0x1000 | 0x2064)};
  w.put(OVS_ACTION_ATTR_PUSH_VLAN, v);
  w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->n_actions, 2u);
  EXPECT_EQ(p->begin()[0].op, ActionOp::kPushVlan);
  EXPECT_EQ(p->begin()[0].arg0, htons(0x88a8));
  EXPECT_EQ(p->begin()[0].arg1, htons(0x2064));  // CFI cleared
  EXPECT_EQ(p->begin()[1].op, ActionOp::kPopVlan);
  EXPECT_TRUE(p->flags & kProgModifiesPacket);
}

TEST(OdpActions, SetWithoutMaskMasksEverythingWritable) {
  NlBuf b;
  NlWriter w(&b);
  ovs_key_ipv4 k{htonl(0x0a000001), htonl(0x0a000002), 6, 0x10, 64, 0};
  put_set(w, OVS_KEY_ATTR_IPV4, k);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  const Action& a = p->begin()[0];
  ASSERT_EQ(a.op, ActionOp::kSetIpv4);
  ASSERT_EQ(a.data_len, 2 * sizeof(ovs_key_ipv4));
  ovs_key_ipv4 v, m;
  std::memcpy(&v, a.data(), sizeof v);
  std::memcpy(&m, a.data() + sizeof v, sizeof m);
  EXPECT_EQ(v.ipv4_src, k.ipv4_src);
  EXPECT_EQ(v.ipv4_dst, k.ipv4_dst);
  EXPECT_EQ(v.ipv4_ttl, 64);
  EXPECT_EQ(m.ipv4_src, 0xffffffffu);
  EXPECT_EQ(m.ipv4_tos, 0xff);
  EXPECT_EQ(m.ipv4_proto, 0);  // never written
  EXPECT_EQ(m.ipv4_frag, 0);
}

TEST(OdpActions, SetMaskedPremasksValue) {
  NlBuf b;
  NlWriter w(&b);
  ovs_key_ethernet v{}, m{};
  std::memset(v.eth_src, 0xab, 6);
  std::memset(v.eth_dst, 0xcd, 6);
  m.eth_dst[5] = 0x0f;
  put_set_masked(w, OVS_KEY_ATTR_ETHERNET, v, m);
  ovs_key_tcp tv{htons(1234), htons(80)}, tm{htons(0xffff), 0};
  put_set_masked(w, OVS_KEY_ATTR_TCP, tv, tm);
  ovs_key_udp uv{htons(53), htons(5353)};
  put_set(w, OVS_KEY_ATTR_UDP, uv);
  put_set_masked<uint32_t>(w, OVS_KEY_ATTR_SKB_MARK, 0x12345678, 0x0000ffff);
  put_set<uint32_t>(w, OVS_KEY_ATTR_PRIORITY, 7);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->n_actions, 5u);
  const Action* a = p->begin();
  EXPECT_EQ(a[0].op, ActionOp::kSetEth);
  ovs_key_ethernet cv;
  std::memcpy(&cv, a[0].data(), sizeof cv);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(cv.eth_src[i], 0);
  EXPECT_EQ(cv.eth_dst[5], 0x0d);
  EXPECT_EQ(cv.eth_dst[0], 0);

  EXPECT_EQ(a[1].op, ActionOp::kSetTcp);
  uint32_t want_v, want_m;
  ovs_key_tcp mv{htons(1234), 0};
  std::memcpy(&want_v, &mv, 4);
  std::memcpy(&want_m, &tm, 4);
  EXPECT_EQ(a[1].arg0, want_v);
  EXPECT_EQ(a[1].arg1, want_m);

  EXPECT_EQ(a[2].op, ActionOp::kSetUdp);
  EXPECT_EQ(a[2].arg1, 0xffffffffu);
  EXPECT_EQ(a[3].op, ActionOp::kSetSkbMark);
  EXPECT_EQ(a[3].arg0, 0x5678u);
  EXPECT_EQ(a[3].arg1, 0xffffu);
  EXPECT_EQ(a[4].op, ActionOp::kSetPriority);
  EXPECT_EQ(a[4].arg0, 7u);
  EXPECT_EQ(a[4].arg1, 0xffffffffu);
}

TEST(OdpActions, SetIpv6) {
  NlBuf b;
  NlWriter w(&b);
  ovs_key_ipv6 k{};
  k.ipv6_src[3] = htonl(1);
  k.ipv6_dst[3] = htonl(2);
  k.ipv6_label = htonl(0xabcde);
  k.ipv6_tclass = 0x20;
  k.ipv6_hlimit = 9;
  k.ipv6_proto = 17;
  put_set(w, OVS_KEY_ATTR_IPV6, k);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ovs_key_ipv6 v, m;
  std::memcpy(&v, p->begin()->data(), sizeof v);
  std::memcpy(&m, p->begin()->data() + sizeof v, sizeof m);
  EXPECT_EQ(v.ipv6_label, htonl(0xabcde));
  EXPECT_EQ(m.ipv6_label, htonl(0xfffff));
  EXPECT_EQ(m.ipv6_proto, 0);
  EXPECT_EQ(v.ipv6_proto, 0);
  EXPECT_EQ(m.ipv6_hlimit, 0xff);
  EXPECT_EQ(v.ipv6_src[3], htonl(1));
}

// with_geneve: two Geneve options, class 0x0102 type 0x80 (critical) with
// one word of data and class 0xffff type 1 with none.
constexpr uint8_t kGeneveOpts[12] = {0x01, 0x02, 0x80, 0x01, 0xde, 0xad,
                                     0xbe, 0xef, 0xff, 0xff, 0x01, 0x00};

void put_tunnel(NlWriter& w, bool with_geneve = false, bool with_vxlan_opts = false) {
  size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
  size_t t = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
  w.put<uint64_t>(OVS_TUNNEL_KEY_ATTR_ID, htobe64(5000));
  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_SRC, htonl(0xc0a80001));
  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, htonl(0xc0a80002));
  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TOS, 0x28);
  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64);
  w.put_flag(OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT);
  w.put_flag(OVS_TUNNEL_KEY_ATTR_CSUM);
  w.put<uint16_t>(OVS_TUNNEL_KEY_ATTR_TP_SRC, htons(33333));
  w.put<uint16_t>(OVS_TUNNEL_KEY_ATTR_TP_DST, htons(4789));
  if (with_geneve) w.put(OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS, kGeneveOpts, sizeof kGeneveOpts);
  if (with_vxlan_opts) w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_VXLAN_OPTS, 0);
  w.end_nested(t);
  w.end_nested(s);
}

TEST(OdpActions, SetTunnel) {
  NlBuf b;
  NlWriter w(&b);
  put_tunnel(w);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 4);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  const Action& a = p->begin()[0];
  ASSERT_EQ(a.op, ActionOp::kSetTunnel);
  ASSERT_EQ(a.data_len, sizeof(TunnelMeta));
  TunnelMeta t;
  std::memcpy(&t, a.data(), sizeof t);
  EXPECT_EQ(t.tun_id, htobe64(5000));
  EXPECT_EQ(t.ipv4_src, htonl(0xc0a80001));
  EXPECT_EQ(t.ipv4_dst, htonl(0xc0a80002));
  EXPECT_EQ(t.tos, 0x28);
  EXPECT_EQ(t.ttl, 64);
  EXPECT_EQ(t.flags, kTunFlagKey | kTunFlagDontFragment | kTunFlagCsum);
  EXPECT_EQ(t.tp_src, htons(33333));
  EXPECT_EQ(t.tp_dst, htons(4789));
  EXPECT_FALSE(p->flags & kProgModifiesPacket);
}

TEST(OdpActions, SetTunnelRefusals) {
  auto tunnel = [](auto&& fill) {
    NlBuf b;
    NlWriter w(&b);
    const size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
    const size_t t = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
    fill(w);
    w.end_nested(t);
    w.end_nested(s);
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 4);
    return b;
  };
  const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  // IPv6 endpoints compile (the underlay encapsulates over IPv6).
  auto p6 = compile_ok(tunnel([&](NlWriter& w) {
    w.put(OVS_TUNNEL_KEY_ATTR_IPV6_DST, v6, sizeof v6);
    w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64);
  }));
  ASSERT_TRUE(p6);
  compile_fails(tunnel([&](NlWriter& w) {
                  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, htonl(0x0a000002));
                  w.put(OVS_TUNNEL_KEY_ATTR_IPV6_SRC, v6, sizeof v6);
                  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64);
                }),
                "both IPv4 and IPv6");
  compile_fails(tunnel([&](NlWriter& w) { w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64); }),
                "no destination address");
  compile_fails(tunnel([&](NlWriter& w) {
                  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, htonl(0x0a000002));
                }),
                "no ttl");
}

TEST(OdpActions, RecircHashTruncClone) {
  NlBuf b;
  NlWriter w(&b);
  w.put(OVS_ACTION_ATTR_HASH, ovs_action_hash{kHashSymL4, 77});
  w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 100);
  size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
  size_t c2 = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 2);
  w.end_nested(c2);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  w.end_nested(c);
  w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, 0x55);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->n_actions, 8u);
  const Action* a = p->begin();
  EXPECT_EQ(a[0].op, ActionOp::kHash);
  EXPECT_EQ(a[0].arg0, kHashSymL4);
  EXPECT_EQ(a[0].arg1, 77u);
  EXPECT_EQ(a[1].op, ActionOp::kTrunc);
  EXPECT_EQ(a[1].arg0, 100u);
  EXPECT_EQ(a[2].op, ActionOp::kClone);
  EXPECT_EQ(a[2].arg0, 4u);  // pop_vlan, clone, output 2, output 1
  EXPECT_EQ(a[3].op, ActionOp::kPopVlan);
  EXPECT_EQ(a[4].op, ActionOp::kClone);
  EXPECT_EQ(a[4].arg0, 1u);
  EXPECT_EQ(a[5].arg0, 2u);
  EXPECT_EQ(a[6].arg0, 1u);
  EXPECT_EQ(a[7].op, ActionOp::kRecirc);
  EXPECT_EQ(a[7].arg0, 0x55u);
  EXPECT_EQ(p->n_outputs, 2u);
  EXPECT_TRUE(p->flags & kProgHasRecirc);
}

TEST(OdpActions, EmptyCloneIsDropped) {
  NlBuf b;
  NlWriter w(&b);
  w.end_nested(w.begin_nested(OVS_ACTION_ATTR_CLONE));
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->n_actions, 1u);
  EXPECT_EQ(p->begin()->op, ActionOp::kOutput);
}

TEST(OdpActions, UnsupportedActionsAreNamed) {
  struct Case {
    uint16_t type;
    size_t len;
    const char* name;
  } cases[] = {
      {OVS_ACTION_ATTR_SAMPLE, 8, "sample"},
      {OVS_ACTION_ATTR_PUSH_MPLS, 8, "push_mpls"},
      {OVS_ACTION_ATTR_POP_MPLS, 2, "pop_mpls"},
      {OVS_ACTION_ATTR_CT, 0, "ct"},
      {OVS_ACTION_ATTR_PUSH_ETH, 12, "push_eth"},
      {OVS_ACTION_ATTR_POP_ETH, 0, "pop_eth"},
      {OVS_ACTION_ATTR_CT_CLEAR, 0, "ct_clear"},
      {OVS_ACTION_ATTR_PUSH_NSH, 0, "push_nsh"},
      {OVS_ACTION_ATTR_POP_NSH, 0, "pop_nsh"},
      {OVS_ACTION_ATTR_METER, 4, "meter"},
      {OVS_ACTION_ATTR_CHECK_PKT_LEN, 0, "check_pkt_len"},
      {OVS_ACTION_ATTR_ADD_MPLS, 8, "add_mpls"},
      {OVS_ACTION_ATTR_DEC_TTL, 0, "dec_ttl"},
      {OVS_ACTION_ATTR_UNSPEC, 0, "unspec"},
      {99, 4, "unknown (type 99)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    NlBuf b;
    NlWriter w(&b);
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    std::vector<uint8_t> payload(c.len, 0);
    w.put(c.type, payload.data(), payload.size());
    compile_fails(b, std::string("action ") + c.name);
  }
}

TEST(OdpActions, UnsupportedSetKeysAreNamed) {
  struct Case {
    uint16_t type;
    size_t len;
    const char* msg;
  } cases[] = {
      {OVS_KEY_ATTR_MPLS, 4, "set(mpls)"},
      {OVS_KEY_ATTR_ARP, sizeof(ovs_key_arp), "set(arp)"},
      {OVS_KEY_ATTR_SCTP, 4, "set(sctp)"},
      {OVS_KEY_ATTR_ICMP, 2, "set(icmp)"},
      {OVS_KEY_ATTR_ND, sizeof(ovs_key_nd), "set(nd)"},
      {OVS_KEY_ATTR_CT_MARK, 4, "set(ct_mark)"},
      {OVS_KEY_ATTR_IN_PORT, 4, "set(in_port)"},
      {OVS_KEY_ATTR_DP_HASH, 4, "set(dp_hash)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.msg);
    NlBuf b;
    NlWriter w(&b);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
    std::vector<uint8_t> payload(c.len, 0);
    w.put(c.type, payload.data(), payload.size());
    w.end_nested(s);
    compile_fails(b, c.msg);
  }
  NlBuf b;
  NlWriter w(&b);
  put_tunnel(w, /*with_geneve=*/false, /*with_vxlan_opts=*/true);
  compile_fails(b, "vxlan_opts");
}

// Geneve options follow the TunnelMeta in the record's data.
TEST(OdpActions, SetTunnelWithGeneveOptions) {
  NlBuf b;
  NlWriter w(&b);
  put_tunnel(w, /*with_geneve=*/true);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  const Action& a = p->begin()[0];
  ASSERT_EQ(a.op, ActionOp::kSetTunnel);
  ASSERT_EQ(a.data_len, sizeof(TunnelMeta) + sizeof kGeneveOpts);
  TunnelMeta t;
  std::memcpy(&t, a.data(), sizeof t);
  EXPECT_EQ(t.opts_len, sizeof kGeneveOpts);
  EXPECT_EQ(std::memcmp(a.data() + sizeof t, kGeneveOpts, sizeof kGeneveOpts), 0);
}

TEST(OdpActions, MalformedAttributesAreRefused) {
  {
    NlBuf b;
    NlWriter w(&b);
    w.put<uint16_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    compile_fails(b, "bad length");
  }
  {
    NlBuf b(3, 0);  // shorter than an attribute header
    compile_fails(b, "malformed");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    b[0] = 200;  // nla_len past the end
    compile_fails(b, "malformed");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
    w.put<uint32_t>(OVS_KEY_ATTR_SKB_MARK, 1);
    w.put<uint32_t>(OVS_KEY_ATTR_PRIORITY, 1);
    w.end_nested(s);
    compile_fails(b, "exactly one key");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.end_nested(w.begin_nested(OVS_ACTION_ATTR_SET));
    compile_fails(b, "exactly one key");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    put_set<uint16_t>(w, OVS_KEY_ATTR_TCP, 1);
    compile_fails(b, "set(tcp): bad length");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    ovs_key_ipv4 k{};
    put_set(w, OVS_KEY_ATTR_IPV4, k);  // set_masked needs value + mask
    NlBuf b2;
    NlWriter w2(&b2);
    size_t s = w2.begin_nested(OVS_ACTION_ATTR_SET_MASKED);
    w2.put(OVS_KEY_ATTR_IPV4, k);
    w2.end_nested(s);
    compile_fails(b2, "set_masked(ipv4): bad length");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    ovs_key_ipv4 v{}, m{};
    m.ipv4_proto = 0xff;
    put_set_masked(w, OVS_KEY_ATTR_IPV4, v, m);
    compile_fails(b, "proto and frag");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    ovs_key_ipv6 k{};
    k.ipv6_label = htonl(0x100000);
    put_set(w, OVS_KEY_ATTR_IPV6, k);
    compile_fails(b, "20 bits");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x0800), htons(0x1001)});
    compile_fails(b, "TPID");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x8100), htons(5)});
    compile_fails(b, "CFI");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.put<uint32_t>(OVS_ACTION_ATTR_POP_VLAN, 0);
    compile_fails(b, "pop_vlan");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 13);
    compile_fails(b, "max_len");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    w.put(OVS_ACTION_ATTR_HASH, ovs_action_hash{7, 0});
    compile_fails(b, "algorithm 7");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    size_t u = w.begin_nested(OVS_ACTION_ATTR_USERSPACE);
    w.put(OVS_USERSPACE_ATTR_USERDATA, "x", 1);
    w.end_nested(u);
    compile_fails(b, "pid missing");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    size_t u = w.begin_nested(OVS_ACTION_ATTR_USERSPACE);
    w.put<uint32_t>(OVS_USERSPACE_ATTR_PID, 1);
    w.put<uint32_t>(9, 1);
    w.end_nested(u);
    compile_fails(b, "userspace: attribute 9");
  }
  {
    NlBuf b;
    NlWriter w(&b);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET_MASKED);
    w.begin_nested(OVS_KEY_ATTR_TUNNEL);
    w.end_nested(s);
    compile_fails(b, "set_masked(tunnel)");
  }
  {
    // Tunnel without a destination.
    NlBuf b;
    NlWriter w(&b);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
    size_t t = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
    w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64);
    w.end_nested(t);
    w.end_nested(s);
    compile_fails(b, "no destination");
  }
  {
    // A malformed attribute nested in a clone.
    NlBuf b;
    NlWriter w(&b);
    size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
    w.put<uint8_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    w.end_nested(c);
    compile_fails(b, "output (type 1) has bad length");
  }
}

TEST(OdpActions, NestingDepthIsBounded) {
  auto nested = [](int depth) {
    NlBuf b;
    NlWriter w(&b);
    std::vector<size_t> cookies;
    for (int i = 0; i < depth; ++i) cookies.push_back(w.begin_nested(OVS_ACTION_ATTR_CLONE));
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    for (int i = depth - 1; i >= 0; --i) w.end_nested(cookies[i]);
    return b;
  };
  auto p = compile_ok(nested(kMaxActionNesting));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->n_actions, static_cast<uint32_t>(kMaxActionNesting + 1));
  compile_fails(nested(kMaxActionNesting + 1), "nested more than");
}

TEST(OdpActions, ProgramSizeIsBounded) {
  NlBuf b;
  NlWriter w(&b);
  size_t max_records = (kMaxActionProgramBytes - sizeof(ActionProgram)) / sizeof(Action);
  for (size_t i = 0; i < max_records; ++i) w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  auto p = compile_ok(b);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->n_actions, max_records);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  compile_fails(b, "too large");
}

TEST(OdpActions, Names) {
  EXPECT_STREQ(odp_action_name(OVS_ACTION_ATTR_CT), "ct");
  EXPECT_STREQ(odp_action_name(OVS_ACTION_ATTR_CLONE), "clone");
  EXPECT_STREQ(odp_action_name(1000), "unknown");
  EXPECT_STREQ(odp_key_name(OVS_KEY_ATTR_MPLS), "mpls");
  EXPECT_STREQ(odp_key_name(OVS_KEY_ATTR_TUNNEL), "tunnel");
}

// A valid program with every supported action, the seed for mutation.
NlBuf rich_program() {
  NlBuf b;
  NlWriter w(&b);
  size_t u = w.begin_nested(OVS_ACTION_ATTR_USERSPACE);
  w.put<uint32_t>(OVS_USERSPACE_ATTR_PID, 1);
  w.put(OVS_USERSPACE_ATTR_USERDATA, "cookie!!", 8);
  w.end_nested(u);
  w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x8100), htons(0x1005)});
  put_set(w, OVS_KEY_ATTR_IPV4, ovs_key_ipv4{1, 2, 6, 0, 64, 0});
  put_set_masked(w, OVS_KEY_ATTR_UDP, ovs_key_udp{1, 2}, ovs_key_udp{0xffff, 0});
  put_tunnel(w);
  size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
  w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
  w.put<uint32_t>(OVS_ACTION_ATTR_TRUNC, 64);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 2);
  w.end_nested(c);
  w.put(OVS_ACTION_ATTR_HASH, ovs_action_hash{0, 1});
  w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, 3);
  return b;
}

TEST(OdpActions, RandomAndMutatedInputNeverCrashes) {
  std::mt19937 rng(12345);
  const NlBuf seed = rich_program();
  ASSERT_TRUE(compile_ok(seed));
  int accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    NlBuf b;
    if (i % 2 == 0) {
      // Mutate a few bytes of the valid program, sometimes truncating it.
      b = seed;
      int flips = 1 + rng() % 4;
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      if (rng() % 4 == 0) b.resize(rng() % b.size());
    } else {
      // Random attribute-shaped records: plausible lengths and types.
      size_t n = rng() % 6;
      NlWriter w(&b);
      for (size_t k = 0; k < n; ++k) {
        std::vector<uint8_t> payload(rng() % 48);
        for (auto& x : payload) x = static_cast<uint8_t>(rng());
        w.put(static_cast<uint16_t>(rng() % 26), payload.data(), payload.size());
      }
      if (!b.empty() && rng() % 3 == 0) b[rng() % b.size()] ^= static_cast<uint8_t>(rng());
    }
    ActionProgram* p = nullptr;
    std::string err;
    int rc = compile_actions(b, &p, &err);
    if (rc == 0) {
      ++accepted;
      ASSERT_NE(p, nullptr);
      check_invariants(*p);
      free_action_program(p);
    } else {
      ASSERT_EQ(rc, EINVAL);
      ASSERT_FALSE(err.empty());
    }
  }
  // The mutation must exercise both outcomes to be worth anything.
  EXPECT_GT(accepted, 100);
  EXPECT_LT(accepted, 50000);
}

}  // namespace
}  // namespace dpx
