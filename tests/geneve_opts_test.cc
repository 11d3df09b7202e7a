// Geneve options through every stage that carries them: the ODP codec
// (attributes and the ovs-dpctl text), decapsulation into the flow key, the
// megaflow classifier matching an option value, and set(tunnel(...,
// geneve(...))) run by the action executor and encapsulated, byte for byte
// against packets scapy built (tests/data/gen_tunnel_fixtures.py:
// tunnel_geneve_opts*.pcap). Bad option streams are refused with a message.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "actions.h"
#include "classifier.h"
#include "eal_env.h"
#include "flow_table.h"
#include "key_extract.h"
#include "odp_actions.h"
#include "odp_key.h"
#include "odp_text.h"
#include "pmd.h"
#include "rcu.h"
#include "support/tunnel_fixtures.h"
#include "tunnel_decap.h"

namespace dpx::test {
namespace {

using Bytes = Packet;

constexpr uint8_t kPortMac[6] = {0x02, 0, 0, 0, 0xaa, 0x01};
constexpr uint8_t kNhMac[6] = {0x02, 0, 0, 0, 0xbb, 0x02};
constexpr uint32_t kUnderlayOdp = 1, kGeneveOdp = 6;

// The options of tunnel_geneve_opts.pcap (rx_opts() below) in OVS's text.
constexpr const char* kRxOptsText =
    "geneve({class=0x102,type=0x5,len=4,0x61626364}{class=0xffff,type=0x10,len=8,"
    "0x3031323334353637})";

uint32_t ip4(const char* s) {
  in_addr a;
  EXPECT_EQ(inet_pton(AF_INET, s, &a), 1);
  return a.s_addr;
}

Bytes opts_of(const FlowKey& k) {
  return Bytes(k.tun_opts_data(), k.tun_opts_data() + k.tun_opts_len);
}

// The key and mask attributes of a flow in ovs-dpctl syntax.
void parse_flow(const std::string& text, NlBuf* key, NlBuf* mask) {
  std::string err;
  ASSERT_EQ(odp_flow_from_string(text, key, mask, &err), 0) << err;
}

// A tunnel nest {ID, IPV4_DST, TTL, GENEVE_OPTS = opts}.
void put_tunnel_nest(NlWriter& w, const Bytes& opts) {
  size_t c = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
  w.put<uint64_t>(OVS_TUNNEL_KEY_ATTR_ID, htobe64(42));
  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, ip4("10.0.0.2"));
  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64);
  w.put(OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS, opts.data(), opts.size());
  w.end_nested(c);
}

// A flow key (or mask) of that tunnel nest and in_port.
NlBuf tunnel_key_with_opts(const Bytes& opts) {
  NlBuf b;
  NlWriter w(&b);
  put_tunnel_nest(w, opts);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, kGeneveOdp);
  return b;
}

// The options the fixtures and tests use, built by hand from their fields.
Bytes option(uint16_t cls, uint8_t type, const Bytes& data) {
  Bytes o(4 + data.size());
  o[0] = uint8_t(cls >> 8);
  o[1] = uint8_t(cls);
  o[2] = type;
  o[3] = uint8_t(data.size() / 4);
  std::copy(data.begin(), data.end(), o.begin() + 4);
  return o;
}

Bytes rx_opts() {
  const Bytes a = option(0x0102, 0x05, {'a', 'b', 'c', 'd'});
  const Bytes b = option(0xffff, 0x10, {'0', '1', '2', '3', '4', '5', '6', '7'});
  Bytes o(a.size() + b.size());
  std::copy(a.begin(), a.end(), o.begin());
  std::copy(b.begin(), b.end(), o.begin() + static_cast<long>(a.size()));
  return o;
}

// ---- the ODP codec ----------------------------------------------------------

TEST(GeneveOptsCodec, KeyAndMaskGoIntoTheFlowKeyAndBack) {
  const std::string text =
      "in_port(6),tunnel(tun_id=0x2a,src=10.0.0.1,dst=10.0.0.2,ttl=64,tp_dst=6081," +
      std::string(kRxOptsText) + ",flags(+key)),eth(),eth_type(0x0800),ipv4(frag=no)";
  NlBuf key, mask;
  parse_flow(text, &key, &mask);
  FlowKey k, m;
  std::string err;
  ASSERT_EQ(odp_key_from_attrs(key, &k, &err), 0) << err;
  ASSERT_EQ(odp_mask_from_attrs(mask, key, &m, &err), 0) << err;
  EXPECT_EQ(k.tun_opts_len, 20);
  EXPECT_EQ(opts_of(k), rx_opts());
  // The mask matches the length exactly and every option byte but the
  // reserved bits of each option header.
  EXPECT_EQ(m.tun_opts_len, 0xff);
  const uint8_t* mo = m.tun_opts + sizeof m.tun_opts - 20;
  EXPECT_EQ(Bytes(mo, mo + 4), (Bytes{0xff, 0xff, 0xff, 0x1f}));
  EXPECT_EQ(Bytes(mo + 4, mo + 8), Bytes(4, 0xff));
  EXPECT_TRUE(
      std::all_of(static_cast<const uint8_t*>(m.tun_opts), mo, [](uint8_t b) { return b == 0; }));

  // FlowKey -> attributes -> FlowKey gives the same key and mask.
  NlBuf key2, mask2;
  odp_key_to_attrs(k, &key2);
  odp_mask_to_attrs(m, k, &mask2);
  FlowKey k2, m2;
  ASSERT_EQ(odp_key_from_attrs(key2, &k2, &err), 0) << err;
  ASSERT_EQ(odp_mask_from_attrs(mask2, key2, &m2, &err), 0) << err;
  EXPECT_TRUE(keys_equal(k, k2));
  EXPECT_TRUE(keys_equal(m, m2));
  EXPECT_NE(odp_flow_to_string(key2, mask2).find(kRxOptsText), std::string::npos)
      << odp_flow_to_string(key2, mask2);
}

TEST(GeneveOptsCodec, TextRoundTripsAsOvsDpctlPrintsIt) {
  // Exact, a partial data mask, a wildcarded class and data, and an option
  // without data.
  const std::string flows[] = {
      "in_port(6),tunnel(tun_id=0x2a,dst=10.0.0.2,ttl=64," + std::string(kRxOptsText) +
          ",flags(+key)),eth(),eth_type(0x0800),ipv4(frag=no)",
      "in_port(6),tunnel(tun_id=0x2a,dst=10.0.0.2,ttl=64,"
      "geneve({class=0x102,type=0x80,len=4,0xa0b0c0d/0xffff0000}),flags(+key)),eth(),"
      "eth_type(0x0800),ipv4(frag=no)",
      "in_port(6),tunnel(tun_id=0x2a,dst=10.0.0.2,ttl=64,"
      "geneve({type=0x80/0xf0,len=4,0}{class=0xffff,type=0x1,len=0}),flags(+key)),eth(),"
      "eth_type(0x0800),ipv4(frag=no)",
  };
  for (const std::string& f : flows) {
    SCOPED_TRACE(f);
    NlBuf key, mask;
    parse_flow(f, &key, &mask);
    EXPECT_EQ(odp_flow_to_string(key, mask), f);
    // And dpxd accepts it.
    FlowKey k, m;
    std::string err;
    EXPECT_EQ(odp_key_from_attrs(key, &k, &err), 0) << err;
    EXPECT_EQ(odp_mask_from_attrs(mask, key, &m, &err), 0) << err;
  }
}

TEST(GeneveOptsCodec, BadOptionStreamsAreRefused) {
  struct Case {
    const char* name;
    Bytes opts;
    const char* why;
  } cases[] = {
      {"not a multiple of 4", {0x01, 0x02, 0x05, 0x00, 0xaa, 0xbb}, "multiple of 4"},
      {"longer than 252 bytes", option(0x0102, 1, Bytes(252, 0)), "longer than 252"},
      {"option length past the attribute", {0x01, 0x02, 0x05, 0x02, 1, 2, 3, 4}, "past the end"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FlowKey k;
    std::string err;
    EXPECT_EQ(odp_key_from_attrs(tunnel_key_with_opts(c.opts), &k, &err), EINVAL);
    EXPECT_NE(err.find("GENEVE_OPTS"), std::string::npos) << err;
    EXPECT_NE(err.find(c.why), std::string::npos) << err;

    // The same stream in set(tunnel(...)).
    NlBuf acts;
    NlWriter w(&acts);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET);
    put_tunnel_nest(w, c.opts);
    w.end_nested(s);
    ActionProgram* prog = nullptr;
    err.clear();
    EXPECT_EQ(compile_actions(acts, &prog, &err), EINVAL);
    EXPECT_NE(err.find("GENEVE_OPTS"), std::string::npos) << err;
    EXPECT_EQ(prog, nullptr);
  }

  // A mask's options must be as long as the key's, and need key options...
  const NlBuf key = tunnel_key_with_opts(rx_opts());
  FlowKey m;
  std::string err;
  EXPECT_EQ(odp_mask_from_attrs(tunnel_key_with_opts(Bytes(16, 0xff)), key, &m, &err), EINVAL);
  EXPECT_NE(err.find("differs from the key's 20"), std::string::npos) << err;
  NlBuf plain;
  NlWriter w(&plain);
  size_t c = w.begin_nested(OVS_KEY_ATTR_TUNNEL);
  w.put<uint32_t>(OVS_TUNNEL_KEY_ATTR_IPV4_DST, ip4("10.0.0.2"));
  w.put<uint8_t>(OVS_TUNNEL_KEY_ATTR_TTL, 64);
  w.end_nested(c);
  EXPECT_EQ(odp_mask_from_attrs(tunnel_key_with_opts(Bytes(20, 0xff)), plain, &m, &err), EINVAL);
  EXPECT_NE(err.find("the key has none"), std::string::npos) << err;
  // ... except an empty one: "no options", exactly, as the kernel reads it.
  ASSERT_EQ(odp_mask_from_attrs(tunnel_key_with_opts({}), plain, &m, &err), 0) << err;
  EXPECT_EQ(m.tun_opts_len, 0xff);

  // Text the parser refuses.
  for (const char* bad : {"tunnel(dst=1.2.3.4,ttl=1,geneve({class=0x1,len=6,0x1}))",
                          "tunnel(dst=1.2.3.4,ttl=1,geneve({class=0x1,len=4,0x1122334455}))",
                          "tunnel(dst=1.2.3.4,ttl=1,geneve({class=0x1,len=4,0x1))"}) {
    NlBuf k2, m2;
    EXPECT_EQ(odp_flow_from_string(bad, &k2, &m2, &err), EINVAL) << bad;
  }
}

// ---- decap, key extraction, classifier ------------------------------------

class GeneveOptsStage : public TunnelStageTest {
 protected:
  // The receiving host: VTEP 10.0.0.2 with the next hop's MAC.
  std::unique_ptr<UnderlaySnapshot> rx_host() {
    auto s = std::make_unique<UnderlaySnapshot>();
    s->generation = 1;
    s->vteps[s->n_vteps++] = {ip4("10.0.0.2"), 24, kUnderlayOdp};
    UnderlayPortInfo& p = s->ports[s->n_ports++];
    p.odp = kUnderlayOdp;
    std::memcpy(p.mac, kNhMac, 6);
    p.mtu = 1500;
    s->tunnel_ports[s->n_tunnel_ports++] = {kGeneveOdp, TunnelType::kGeneve, htons(6081), 0};
    return s;
  }

  // Decapsulates `outer` and extracts the inner packet's key the way the
  // PMD does (its state -> metadata -> key), into a key whose option area
  // holds garbage first, as a reused key array does.
  void decap_to_key(const Bytes& outer, FlowKey* key) {
    auto s = rx_host();
    rte_mbuf* m = mbuf_from(outer);
    DecapResult r;
    ASSERT_EQ(underlay_classify(*s, s->ports[0], m, &r), UnderlayVerdict::kDecap);
    PacketState st{};
    st.in_port = r.tunnel_odp;
    st.tun = r.tun;
    alignas(64) FlowKey scratch;
    const PacketMetadata md = metadata_from_state(st, &scratch);
    std::memset(static_cast<void*>(key), 0xa5, sizeof *key);
    ASSERT_EQ(extract_key(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, md, key),
              ExtractDrop::kNone);
    rte_pktmbuf_free(m);
  }
};

TEST_F(GeneveOptsStage, DecapPutsTheOptionsInTheKeyByteForByte) {
  const auto f = tunnel_fixture("geneve_opts");
  // Where scapy put them: after Ethernet, IPv4, UDP and the Geneve header.
  const Bytes wire(f[1].begin() + 50, f[1].begin() + 70);
  ASSERT_EQ(wire, rx_opts());
  alignas(64) FlowKey k;
  decap_to_key(f[1], &k);
  EXPECT_EQ(k.in_port, kGeneveOdp);
  EXPECT_EQ(k.tun_id, htobe64(7));
  EXPECT_EQ(k.tun_opts_len, 20);
  EXPECT_EQ(opts_of(k), wire);
  // What an upcall would carry: OVS's text of them.
  NlBuf attrs;
  odp_key_to_attrs(k, &attrs);
  EXPECT_NE(odp_flow_to_string(attrs, {}).find(kRxOptsText), std::string::npos)
      << odp_flow_to_string(attrs, {});

  // A packet without options leaves tun_opts_len 0, whatever the area holds.
  alignas(64) FlowKey plain;
  decap_to_key(tunnel_fixture("geneve_basic")[1], &plain);
  EXPECT_EQ(plain.tun_opts_len, 0);
  EXPECT_FALSE(keys_equal(plain, k));

  // The critical flag no longer drops the packet: its options are matched.
  Bytes crit = f[1];
  crit[43] |= 0x40;
  alignas(64) FlowKey kc;
  decap_to_key(crit, &kc);
  EXPECT_EQ(opts_of(kc), wire);
}

TEST_F(GeneveOptsStage, ClassifierMatchesAnOptionValue) {
  // A megaflow on the first option's class, type and length exactly and on
  // the first two bytes of its data ("ab"), the option stream 20 bytes long.
  NlBuf key, mask;
  parse_flow(
      "in_port(6),tunnel(tun_id=0x7,src=10.0.0.1,dst=10.0.0.2,ttl=64/0,"
      "geneve({class=0x102,type=0x5,len=4,0x61620000/0xffff0000}"
      "{class=0/0,type=0/0,len=8/0,0/0}),flags(+key)),eth(),eth_type(0x0800),ipv4(frag=no)",
      &key, &mask);
  FlowKey fkey, fmask;
  std::string err;
  ASSERT_EQ(odp_key_from_attrs(key, &fkey, &err), 0) << err;
  ASSERT_EQ(odp_mask_from_attrs(mask, key, &fmask, &err), 0) << err;
  const FlowPtr flow(Flow::create(fkey, fmask));
  ASSERT_TRUE(flow->has_opts);
  Rcu rcu(1);
  Classifier cls(&rcu);
  cls.insert(flow.get());

  const auto f = tunnel_fixture("geneve_opts");
  auto variant = [&](size_t off, uint8_t v) {
    Bytes b = f[1];
    b[off] = v;
    return b;
  };
  struct Case {
    const char* name;
    Bytes outer;
    bool hit;
  } cases[] = {
      {"the packet of the fixture", f[1], true},
      {"another value past the masked bytes", variant(56, 'x'), true},
      {"the second option's data differs", variant(64, 'x'), true},
      {"the masked data differs", variant(54, 'x'), false},
      {"another class", variant(51, 0x03), false},
      {"no options", tunnel_fixture("geneve_basic")[1], false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    alignas(64) FlowKey k;
    decap_to_key(c.outer, &k);
    if (std::string(c.name) == "no options") k.tun_id = htobe64(7);  // only the options differ
    EXPECT_EQ(cls.lookup(k), c.hit ? flow.get() : nullptr);
    const FlowKey* kp = &k;
    const Flow* out = nullptr;
    cls.lookup_batch(&kp, 1, &out);
    EXPECT_EQ(out, c.hit ? flow.get() : nullptr);
  }
  cls.remove(flow.get());
  rcu.synchronize();
}

// The kernel's contract (net/openvswitch/flow_netlink.c) for a megaflow
// whose mask has no GENEVE_OPTS: its option length, option bytes and the
// TUNNEL_GENEVE_OPT flag stay wildcarded, so it matches packets with any
// options or none; ovs-vswitchd installs such megaflows for packets that had
// no options (tun-metadata.c puts a mask's options only when the key has
// them). A put without a mask is exact over the whole tunnel key, that flag
// included: a tunnel key without options then matches only packets without.
TEST_F(GeneveOptsStage, MegaflowsWithoutOptionsInTheMaskIgnoreOptions) {
  const auto f = tunnel_fixture("geneve_opts");
  alignas(64) FlowKey with_opts, other_opts, no_opts;
  decap_to_key(f[1], &with_opts);
  Bytes other = f[1];
  other[54] ^= 0x5a;  // option data
  decap_to_key(other, &other_opts);
  decap_to_key(tunnel_fixture("geneve_basic")[1], &no_opts);
  no_opts.tun_id = htobe64(7);  // only the options differ
  ASSERT_EQ(with_opts.tun_opts_len, 20);
  ASSERT_EQ(no_opts.tun_opts_len, 0);

  NlBuf key, mask;
  parse_flow(
      "in_port(6),tunnel(tun_id=0x7,src=10.0.0.1,dst=10.0.0.2,ttl=64/0,flags(+key)),eth(),"
      "eth_type(0x0800),ipv4(frag=no)",
      &key, &mask);
  FlowKey fkey, fmask;
  std::string err;
  ASSERT_EQ(odp_key_from_attrs(key, &fkey, &err), 0) << err;
  ASSERT_EQ(odp_mask_from_attrs(mask, key, &fmask, &err), 0) << err;
  EXPECT_EQ(fmask.tun_opts_len, 0);
  const FlowPtr wild(Flow::create(fkey, fmask));
  EXPECT_FALSE(wild->has_opts);

  // The exact flow of the option-less packet, put without a mask.
  alignas(64) FlowKey plain = with_opts;
  plain.tun_opts_len = 0;
  NlBuf plain_attrs;
  odp_key_to_attrs(plain, &plain_attrs);
  FlowKey pkey, pmask;
  ASSERT_EQ(odp_key_from_attrs(plain_attrs, &pkey, &err), 0) << err;
  ASSERT_EQ(odp_mask_from_attrs({}, plain_attrs, &pmask, &err), 0) << err;
  EXPECT_EQ(pmask.tun_opts_len, 0xff) << "no options, exactly";
  const FlowPtr exact(Flow::create(pkey, pmask));
  EXPECT_FALSE(exact->has_opts);
  // Its mask dumps as an empty GENEVE_OPTS, which parses back to the same.
  NlBuf pmask_attrs;
  odp_mask_to_attrs(pmask, pkey, &pmask_attrs);
  FlowKey back;
  ASSERT_EQ(odp_mask_from_attrs(pmask_attrs, plain_attrs, &back, &err), 0) << err;
  EXPECT_TRUE(keys_identical(back, pmask));

  Rcu rcu(1);
  {
    Classifier cls(&rcu);
    cls.insert(wild.get());
    EXPECT_EQ(cls.lookup(with_opts), wild.get());
    EXPECT_EQ(cls.lookup(other_opts), wild.get());
    EXPECT_EQ(cls.lookup(no_opts), wild.get());
    cls.remove(wild.get());

    cls.insert(exact.get());
    EXPECT_EQ(cls.lookup(plain), exact.get());
    EXPECT_EQ(cls.lookup(with_opts), nullptr);
    EXPECT_EQ(cls.lookup(other_opts), nullptr);
    cls.remove(exact.get());
    rcu.synchronize();
  }
}

// ---- set(tunnel(geneve(...))) and encap ----------------------------------

// The executor's sink: outputs to the Geneve port are encapsulated as the
// PMD's sink does it (Pmd::Sink::output).
struct EncapSink {
  TunnelPmd* pmd;
  const TunnelShared* shared;
  std::vector<rte_mbuf*> out;
  void output(uint32_t, rte_mbuf* m) { out.push_back(m); }
  void output(uint32_t port, rte_mbuf* m, const PacketState& st, const FlowKey&) {
    if (tunnel_encap(*pmd, *shared, 0, port, 0, m, st.tun, hash_for_port(49152), 0) !=
        kTunnelNoPort)
      out.push_back(m);
  }
  void userspace(rte_mbuf*, const PacketState&, const Action&) {}
  void recirculate(rte_mbuf* m, const PacketState&) { rte_pktmbuf_free(m); }
  void drop(rte_mbuf* m, ActionDrop) { rte_pktmbuf_free(m); }
  rte_mbuf* copy(rte_mbuf* m) { return rte_pktmbuf_copy(m, test_pool(), 0, UINT32_MAX); }
};

TEST_F(GeneveOptsStage, SetTunnelWithOptionsEncapsulatesAsScapy) {
  // The sending host: VTEP 10.0.0.1, the peer 10.0.0.2 resolved.
  auto s = std::make_unique<UnderlaySnapshot>();
  s->generation = 1;
  s->vteps[s->n_vteps++] = {ip4("10.0.0.1"), 24, kUnderlayOdp};
  UnderlayPortInfo& p = s->ports[s->n_ports++];
  p.odp = kUnderlayOdp;
  std::memcpy(p.mac, kPortMac, 6);
  p.mtu = 1500;
  s->tunnel_ports[s->n_tunnel_ports++] = {kGeneveOdp, TunnelType::kGeneve, htons(6081), 0};
  Route r;
  r.prefix = ip4("10.0.0.0");
  r.plen = 24;
  r.odp = kUnderlayOdp;
  r.connected = true;
  ASSERT_EQ(s->routes.add(r), 0);
  NeighbourEntry n;
  n.odp = kUnderlayOdp;
  n.ip = ip4("10.0.0.2");
  std::memcpy(n.mac, kNhMac, 6);
  s->neighbours.push_back(n);
  publish(s.get());

  struct Case {
    const char* fixture;
    const char* geneve;
  } cases[] = {
      // A critical option (type 0x80) sets the C flag.
      {"geneve_opts_tx",
       "geneve({class=0x102,type=0x80,len=4,0xa0b0c0d}{class=0xffff,type=0x10,len=8,"
       "0x3031323334353637})"},
      // 124 bytes of options: more than a fresh mbuf's headroom leaves.
      {"geneve_opts_big",
       "geneve({class=0x104,type=0x1,len=120,"
       "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
       "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
       "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
       "606162636465666768696a6b6c6d6e6f7071727374757677})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fixture);
    const auto f = tunnel_fixture(c.fixture);
    NlBuf acts;
    std::string err;
    ASSERT_EQ(odp_actions_from_string(std::string("set(tunnel(tun_id=0x2a,dst=10.0.0.2,ttl=64,") +
                                          c.geneve + ",flags(df|key))),6",
                                      &acts, &err),
              0)
        << err;
    ActionProgram* prog = nullptr;
    ASSERT_EQ(compile_actions(acts, &prog, &err), 0) << err;
    rte_mbuf* m = mbuf_from(f[0]);
    alignas(64) FlowKey key;
    key.clear();
    PacketState st = PacketState::from_key(key);
    EncapSink sink{pmd_.get(), &shared_, {}};
    execute_actions(*prog, m, key, st, sink);
    free_action_program(prog);
    ASSERT_EQ(sink.out.size(), 1u);
    EXPECT_EQ(hex_of(bytes_of(sink.out[0])), hex_of(f[1]));
    rte_pktmbuf_free(sink.out[0]);
  }
  EXPECT_EQ(pmd_->counters.encap[0].packets.load(), 2u);
}

}  // namespace
}  // namespace dpx::test
