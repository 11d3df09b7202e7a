#include "odp_key.h"

#include <arpa/inet.h>
#include <linux/openvswitch.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "geneve_opts.h"

namespace dpx {
namespace {

constexpr uint16_t kEthTypeVlan = 0x8100;
constexpr uint16_t kEthTypeQinQ = 0x88a8;
constexpr uint16_t kEthTypeIp = 0x0800;
constexpr uint16_t kEthTypeIpv6 = 0x86dd;
constexpr uint16_t kEthTypeArp = 0x0806;
constexpr uint16_t kEthTypeRarp = 0x8035;
constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kIpProtoUdp = 17;
constexpr uint8_t kIpProtoSctp = 132;
constexpr uint8_t kIpProtoIcmp = 1;
constexpr uint8_t kIpProtoIcmpv6 = 58;
constexpr uint8_t kNdSolicit = 135;
constexpr uint8_t kNdAdvert = 136;

int fail(std::string* err, const std::string& msg) {
  if (err) *err = msg;
  return EINVAL;
}

std::string attr_name(uint16_t type) {
  const char* n = odp_key_attr_name(type);
  return n ? n : "key attribute " + std::to_string(type);
}

// The attributes of one nesting level (the top level or one ENCAP), indexed
// by type, after the structural checks every level needs.
struct Level {
  // Payloads by type, valid where `present` has the type's bit: left
  // uninitialised, because a decode has six levels and zeroing their
  // ~500 bytes each was a good part of the cost of decoding a FLOW_PUT's
  // key and mask, on the control thread, per new flow.
  const uint8_t* data[OVS_KEY_ATTR_MAX + 1];
  size_t len[OVS_KEY_ATTR_MAX + 1];
  uint64_t present = 0;
  uint64_t used = 0;  // attributes the decoder consumed

  bool has(uint16_t t) const { return (present >> t) & 1; }
  // Attribute t's payload, empty if absent.
  std::span<const uint8_t> a(uint16_t t) const {
    return has(t) ? std::span<const uint8_t>(data[t], len[t]) : std::span<const uint8_t>();
  }
  template <class T>
  T get(uint16_t t) {
    T v{};
    if (has(t)) {
      std::memcpy(&v, data[t], sizeof v);
      used |= uint64_t{1} << t;
    }
    return v;
  }
  void use(uint16_t t) { used |= uint64_t{1} << t; }
};
static_assert(OVS_KEY_ATTR_MAX < 64, "Level keeps attribute types in a 64-bit set");

int collect(std::span<const uint8_t> buf, Level* lv, const char* what, std::string* err) {
  NlIter it(buf);
  NlAttr a;
  while (it.next(&a)) {
    if (a.type == OVS_KEY_ATTR_UNSPEC || a.type > OVS_KEY_ATTR_MAX) {
      return fail(err,
                  std::string("unknown ") + what + " attribute type " + std::to_string(a.type));
    }
    if (!odp_key_attr_supported(a.type)) {
      return fail(err, attr_name(a.type) + " is not supported by dpx");
    }
    const int want = odp_key_attr_len(a.type);
    if (want >= 0 && a.payload.size() != size_t(want)) {
      return fail(err, attr_name(a.type) + " in " + what + " has length " +
                           std::to_string(a.payload.size()) + ", expected " + std::to_string(want));
    }
    if (lv->has(a.type)) return fail(err, "duplicate " + attr_name(a.type) + " in " + what);
    lv->present |= uint64_t{1} << a.type;
    lv->data[a.type] = a.payload.data();
    lv->len[a.type] = a.payload.size();
  }
  if (!it.ok()) return fail(err, std::string("truncated or malformed attribute in ") + what);
  return 0;
}

// The length of the GENEVE_OPTS attribute in a key's tunnel nest, or -1.
int key_geneve_opts_len(std::span<const uint8_t> key_nest) {
  NlIter it(key_nest);
  NlAttr a;
  while (it.next(&a)) {
    if (a.type == OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS) return static_cast<int>(a.payload.size());
  }
  return -1;
}

// Geneve options, as the kernel's genev_tun_opt_from_nlattr(): right-aligned
// in tun_opts; a key records their length, a mask must have the key's length
// and then matches the length exactly (flow_key.h explains why it must).
int decode_geneve_opts(std::span<const uint8_t> opts, std::span<const uint8_t> key_nest,
                       bool is_mask, FlowKey* out, std::string* err) {
  if (!is_mask) {
    if (const char* why = geneve_opts_check(opts)) {
      return fail(err, std::string("OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS: ") + why);
    }
    out->tun_opts_len = static_cast<uint8_t>(opts.size());
  } else {
    // A key without the attribute has no options: an empty mask attribute
    // then says "exactly no options", as the kernel reads it.
    const int klen = key_geneve_opts_len(key_nest);
    if (klen < 0 && !opts.empty())
      return fail(err, "mask has OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS but the key has none");
    if (opts.size() != size_t(std::max(klen, 0))) {
      return fail(err, "OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS mask length " +
                           std::to_string(opts.size()) + " differs from the key's " +
                           std::to_string(klen));
    }
    out->tun_opts_len = 0xff;
  }
  if (!opts.empty()) {
    std::memcpy(out->tun_opts + sizeof out->tun_opts - opts.size(), opts.data(), opts.size());
  }
  return 0;
}

// `key_nest` is the key's OVS_KEY_ATTR_TUNNEL payload (the same as `nest`
// for a key): a mask's GENEVE_OPTS is read against the key's.
int decode_tunnel(std::span<const uint8_t> nest, std::span<const uint8_t> key_nest, bool is_mask,
                  FlowKey* out, std::string* err) {
  static constexpr const char* kName[OVS_TUNNEL_KEY_ATTR_MAX + 1] = {
      "ID",  "IPV4_SRC",    "IPV4_DST",         "TOS",    "TTL",        "DONT_FRAGMENT", "CSUM",
      "OAM", "GENEVE_OPTS", "TP_SRC",           "TP_DST", "VXLAN_OPTS", "IPV6_SRC",      "IPV6_DST",
      "PAD", "ERSPAN_OPTS", "IPV4_INFO_BRIDGE",
  };
  uint32_t seen = 0;
  NlIter it(nest);
  NlAttr a;
  while (it.next(&a)) {
    if (a.type > OVS_TUNNEL_KEY_ATTR_MAX) {
      return fail(err, "unknown tunnel attribute type " + std::to_string(a.type));
    }
    std::string name = std::string("OVS_TUNNEL_KEY_ATTR_") + kName[a.type];
    // The kernel pads its own dumps with PAD attributes; they carry nothing.
    if (a.type == OVS_TUNNEL_KEY_ATTR_PAD) continue;
    if (!odp_tun_attr_supported(a.type)) {
      return fail(err, name + " is not supported by dpx");
    }
    if (a.type == OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS) {
      if (seen & (1u << a.type)) return fail(err, "duplicate " + name);
      seen |= 1u << a.type;
      if (int r = decode_geneve_opts(a.payload, key_nest, is_mask, out, err)) return r;
      continue;
    }
    const int want = odp_tun_attr_len(a.type);
    if (a.payload.size() != size_t(want)) {
      return fail(err, name + " has length " + std::to_string(a.payload.size()) + ", expected " +
                           std::to_string(want));
    }
    if (seen & (1u << a.type)) return fail(err, "duplicate " + name);
    seen |= 1u << a.type;
    const uint8_t* p = a.payload.data();
    switch (a.type) {
      case OVS_TUNNEL_KEY_ATTR_ID:
        std::memcpy(&out->tun_id, p, 8);
        out->tun_flags |= kTunFlagKey;
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV4_SRC:
        std::memcpy(&out->tun_ipv4_src, p, 4);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV4_DST:
        std::memcpy(&out->tun_ipv4_dst, p, 4);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV6_SRC:
        std::memcpy(out->tun_ipv6_src, p, 16);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV6_DST:
        std::memcpy(out->tun_ipv6_dst, p, 16);
        break;
      case OVS_TUNNEL_KEY_ATTR_TOS:
        out->tun_tos = p[0];
        break;
      case OVS_TUNNEL_KEY_ATTR_TTL:
        out->tun_ttl = p[0];
        break;
      case OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT:
        out->tun_flags |= kTunFlagDontFragment;
        break;
      case OVS_TUNNEL_KEY_ATTR_CSUM:
        out->tun_flags |= kTunFlagCsum;
        break;
      case OVS_TUNNEL_KEY_ATTR_OAM:
        out->tun_flags |= kTunFlagOam;
        break;
      case OVS_TUNNEL_KEY_ATTR_TP_SRC:
        std::memcpy(&out->tun_tp_src, p, 2);
        break;
      case OVS_TUNNEL_KEY_ATTR_TP_DST:
        std::memcpy(&out->tun_tp_dst, p, 2);
        break;
    }
  }
  if (!it.ok()) return fail(err, "truncated or malformed attribute in OVS_KEY_ATTR_TUNNEL");
  if (is_mask) return 0;
  bool v4 = seen & ((1u << OVS_TUNNEL_KEY_ATTR_IPV4_SRC) | (1u << OVS_TUNNEL_KEY_ATTR_IPV4_DST));
  bool v6 = seen & ((1u << OVS_TUNNEL_KEY_ATTR_IPV6_SRC) | (1u << OVS_TUNNEL_KEY_ATTR_IPV6_DST));
  if (v4 && v6) return fail(err, "tunnel key mixes IPv4 and IPv6 addresses");
  if (!(seen & (1u << OVS_TUNNEL_KEY_ATTR_TTL))) return fail(err, "tunnel key has no TTL");
  static constexpr uint8_t kZero16[16] = {};
  if (v6 ? std::memcmp(out->tun_ipv6_dst, kZero16, 16) == 0 : out->tun_ipv4_dst == 0) {
    return fail(err, "tunnel key has no destination address");
  }
  return 0;
}

uint8_t frag_from_odp(uint8_t v, bool is_mask) {
  if (is_mask) return ((v & 1) ? kFragAny : 0) | ((v & 2) ? kFragLater : 0);
  return v == OVS_FRAG_TYPE_NONE ? 0 : v == OVS_FRAG_TYPE_FIRST ? kFragAny : kFragAny | kFragLater;
}

uint8_t frag_to_odp(uint8_t f, bool is_mask) {
  if (is_mask) {
    if (f == 0) return 0;
    if ((f & (kFragAny | kFragLater)) == (kFragAny | kFragLater)) return 0xff;
    return 0xfc | ((f & kFragAny) ? 1 : 0) | ((f & kFragLater) ? 2 : 0);
  }
  return (f & kFragLater) ? OVS_FRAG_TYPE_LATER
         : (f & kFragAny) ? OVS_FRAG_TYPE_FIRST
                          : OVS_FRAG_TYPE_NONE;
}

bool is_vlan_tpid(uint16_t be_type) {
  return be_type == htons(kEthTypeVlan) || be_type == htons(kEthTypeQinQ);
}

// Decodes 'src' (the key itself, or a mask) into *out, with every decision
// about the meaning of an attribute taken from 'key'.
int decode(std::span<const uint8_t> keybuf, std::span<const uint8_t> maskbuf, bool is_mask,
           FlowKey* out, std::string* err) {
  out->clear();
  Level klv[3], mlv[3];
  int r = collect(keybuf, &klv[0], "key", err);
  if (r) return r;
  if (is_mask && (r = collect(maskbuf, &mlv[0], "mask", err))) return r;
  Level* K = &klv[0];
  Level* S = is_mask ? &mlv[0] : &klv[0];

  out->priority = S->get<uint32_t>(OVS_KEY_ATTR_PRIORITY);
  out->in_port = S->get<uint32_t>(OVS_KEY_ATTR_IN_PORT);
  out->skb_mark = S->get<uint32_t>(OVS_KEY_ATTR_SKB_MARK);
  out->recirc_id = S->get<uint32_t>(OVS_KEY_ATTR_RECIRC_ID);
  out->dp_hash = S->get<uint32_t>(OVS_KEY_ATTR_DP_HASH);
  if (S->has(OVS_KEY_ATTR_TUNNEL)) {
    S->use(OVS_KEY_ATTR_TUNNEL);
    const auto key_nest =
        K->has(OVS_KEY_ATTR_TUNNEL) ? K->a(OVS_KEY_ATTR_TUNNEL) : std::span<const uint8_t>{};
    if ((r = decode_tunnel(S->a(OVS_KEY_ATTR_TUNNEL), key_nest, is_mask, out, err))) return r;
  }
  bool ethernet = K->has(OVS_KEY_ATTR_ETHERNET);
  if (S->has(OVS_KEY_ATTR_ETHERNET)) {
    auto eth = S->get<ovs_key_ethernet>(OVS_KEY_ATTR_ETHERNET);
    std::memcpy(out->eth_src, eth.eth_src, 6);
    std::memcpy(out->eth_dst, eth.eth_dst, 6);
  }
  if (!is_mask && !ethernet && K->has(OVS_KEY_ATTR_ETHERTYPE)) {
    return fail(err,
                "packets without an Ethernet header (no OVS_KEY_ATTR_ETHERNET) are not supported");
  }

  // VLAN tags: ETHERTYPE holds the TPID, VLAN the TCI, ENCAP the rest.
  //
  // A mask matches both TCIs exactly unless its attributes say otherwise,
  // as the kernel's ovs_nla_get_match() does ("Always match on tci":
  // eth.vlan.tci and eth.cvlan.tci masks are 0xffff before the mask's
  // attributes are read). So a flow whose key has no tag matches only
  // untagged frames, and a single-tagged one only single-tagged frames: the
  // netlink encoding cannot wildcard the presence of a tag, and OVS's own
  // userspace datapath forces the same (dpif_netdev_flow_put(): "a missing
  // VLAN tag is interpreted as exact match on the fact that there is no
  // VLAN"). Only a tag the key has can be wildcarded, down to its CFI bit,
  // through the mask's VLAN attribute next to its ENCAP.
  if (is_mask) {
    out->vlan[0].tci = 0xffff;
    out->vlan[1].tci = 0xffff;
  }
  int depth = 0;
  bool truncated = false;
  // A mask without ENCAP for a tagged key: as in the kernel, whose
  // validate_vlan_mask_from_nlattrs() then leaves the tags alone (exact TCIs,
  // TPIDs not matched) and reads the inner fields' masks from the same
  // level as the outer ones. S stays where it is from then on.
  bool flat_mask = false;
  while (ethernet && K->has(OVS_KEY_ATTR_ETHERTYPE) &&
         is_vlan_tpid(K->get<uint16_t>(OVS_KEY_ATTR_ETHERTYPE))) {
    if (!K->has(OVS_KEY_ATTR_VLAN) || !K->has(OVS_KEY_ATTR_ENCAP)) {
      return fail(err, "VLAN ethertype without OVS_KEY_ATTR_VLAN and OVS_KEY_ATTR_ENCAP");
    }
    if (depth == 2) return fail(err, "more than two VLAN tags are not supported");
    uint16_t ktci = K->get<uint16_t>(OVS_KEY_ATTR_VLAN);
    K->use(OVS_KEY_ATTR_ENCAP);
    bool present = ktci & htons(kVlanCfi);
    if (!is_mask && !present) {
      if (ktci)
        return fail(
            err, "VLAN TCI 0x" + std::to_string(ntohs(ktci)) + " lacks the CFI (tag present) bit");
      if (!K->a(OVS_KEY_ATTR_ENCAP).empty()) {
        return fail(err, "truncated VLAN header has a non-empty OVS_KEY_ATTR_ENCAP");
      }
    }
    if (is_mask && (flat_mask || (present && !S->has(OVS_KEY_ATTR_ENCAP)))) {
      // The kernel refuses a VLAN attribute it did not read as a tag's.
      if (S->has(OVS_KEY_ATTR_VLAN)) {
        return fail(err, "mask has OVS_KEY_ATTR_VLAN without OVS_KEY_ATTR_ENCAP for a VLAN key");
      }
      flat_mask = true;
      ++depth;
      if (!present) {
        truncated = true;
        break;
      }
      Level* nk = &klv[depth];
      if ((r = collect(K->a(OVS_KEY_ATTR_ENCAP), nk, "key ENCAP", err))) return r;
      K = nk;
      continue;
    }
    uint16_t tpid = S->get<uint16_t>(OVS_KEY_ATTR_ETHERTYPE);
    uint16_t tci = S->get<uint16_t>(OVS_KEY_ATTR_VLAN);
    if (is_mask) {
      // As the kernel's validate_vlan_mask_from_nlattrs(): a tagged key's
      // mask ENCAP comes with the TPID matched exactly and a TCI mask that
      // matches the CFI bit, both present.
      if (present && !S->has(OVS_KEY_ATTR_ETHERTYPE)) {
        return fail(err, "mask ENCAP for a VLAN key without OVS_KEY_ATTR_ETHERTYPE (the TPID)");
      }
      if (present && !S->has(OVS_KEY_ATTR_VLAN)) {
        return fail(err, "mask ENCAP for a VLAN key without OVS_KEY_ATTR_VLAN (the TCI)");
      }
      if (S->has(OVS_KEY_ATTR_ETHERTYPE) && tpid != 0xffff) {
        return fail(err, "mask must match the VLAN ethertype exactly");
      }
      if (S->has(OVS_KEY_ATTR_VLAN) && !(tci & htons(kVlanCfi))) {
        return fail(err, "VLAN TCI mask must match the CFI (tag present) bit");
      }
      // A truncated tag's mask without VLAN keeps the exact TCI.
      if (!S->has(OVS_KEY_ATTR_VLAN)) tci = 0xffff;
    }
    out->vlan[depth] = {tpid, tci};
    ++depth;
    if (!present) {
      S->use(OVS_KEY_ATTR_ENCAP);
      truncated = true;
      break;
    }
    Level* nk = &klv[depth];
    if ((r = collect(K->a(OVS_KEY_ATTR_ENCAP), nk, "key ENCAP", err))) return r;
    Level* ns = nk;
    if (is_mask) {
      ns = &mlv[depth];
      if (S->has(OVS_KEY_ATTR_ENCAP)) {
        S->use(OVS_KEY_ATTR_ENCAP);
        if ((r = collect(S->a(OVS_KEY_ATTR_ENCAP), ns, "mask ENCAP", err))) return r;
      }
    }
    K = nk;
    S = ns;
  }

  if (!truncated) {
    uint16_t et = K->get<uint16_t>(OVS_KEY_ATTR_ETHERTYPE);
    out->eth_type = S->get<uint16_t>(OVS_KEY_ATTR_ETHERTYPE);
    bool l4 = false;
    uint8_t proto = 0;
    bool exact_type = !is_mask || out->eth_type == 0xffff;
    auto need = [&](uint16_t t) -> int {
      if (!K->has(t)) return fail(err, "missing " + attr_name(t) + " in key");
      if (is_mask && S->has(t) && !exact_type) {
        return fail(err, "mask for " + attr_name(t) + " requires an exact match on the ethertype");
      }
      return 0;
    };
    if (et == htons(kEthTypeIp)) {
      if ((r = need(OVS_KEY_ATTR_IPV4))) return r;
      auto kk = K->get<ovs_key_ipv4>(OVS_KEY_ATTR_IPV4);
      if (!is_mask && kk.ipv4_frag > OVS_FRAG_TYPE_MAX) {
        return fail(err, "ipv4_frag " + std::to_string(kk.ipv4_frag) + " out of range");
      }
      auto v = S->get<ovs_key_ipv4>(OVS_KEY_ATTR_IPV4);
      out->ipv4_src = v.ipv4_src;
      out->ipv4_dst = v.ipv4_dst;
      out->nw_proto = v.ipv4_proto;
      out->nw_tos = v.ipv4_tos;
      out->nw_ttl = v.ipv4_ttl;
      out->nw_frag = frag_from_odp(v.ipv4_frag, is_mask);
      proto = kk.ipv4_proto;
      l4 = kk.ipv4_frag != OVS_FRAG_TYPE_LATER;
    } else if (et == htons(kEthTypeIpv6)) {
      if ((r = need(OVS_KEY_ATTR_IPV6))) return r;
      auto kk = K->get<ovs_key_ipv6>(OVS_KEY_ATTR_IPV6);
      if (!is_mask && kk.ipv6_frag > OVS_FRAG_TYPE_MAX) {
        return fail(err, "ipv6_frag " + std::to_string(kk.ipv6_frag) + " out of range");
      }
      if (!is_mask && (kk.ipv6_label & htonl(0xfff00000))) {
        return fail(err,
                    "IPv6 flow label " + std::to_string(ntohl(kk.ipv6_label)) + " out of range");
      }
      auto v = S->get<ovs_key_ipv6>(OVS_KEY_ATTR_IPV6);
      std::memcpy(out->ipv6_src, v.ipv6_src, 16);
      std::memcpy(out->ipv6_dst, v.ipv6_dst, 16);
      out->ipv6_label = v.ipv6_label;
      out->nw_proto = v.ipv6_proto;
      out->nw_tos = v.ipv6_tclass;
      out->nw_ttl = v.ipv6_hlimit;
      out->nw_frag = frag_from_odp(v.ipv6_frag, is_mask);
      proto = kk.ipv6_proto;
      l4 = kk.ipv6_frag != OVS_FRAG_TYPE_LATER;
    } else if (et == htons(kEthTypeArp) || et == htons(kEthTypeRarp)) {
      if ((r = need(OVS_KEY_ATTR_ARP))) return r;
      auto kk = K->get<ovs_key_arp>(OVS_KEY_ATTR_ARP);
      if (!is_mask && (ntohs(kk.arp_op) & 0xff00)) {
        return fail(err, "ARP opcode " + std::to_string(ntohs(kk.arp_op)) + " out of range");
      }
      auto v = S->get<ovs_key_arp>(OVS_KEY_ATTR_ARP);
      out->ipv4_src = v.arp_sip;
      out->ipv4_dst = v.arp_tip;
      out->nw_proto = uint8_t(ntohs(v.arp_op));
      std::memcpy(out->arp_sha, v.arp_sha, 6);
      std::memcpy(out->arp_tha, v.arp_tha, 6);
    }
    if (l4) {
      bool exact_proto = !is_mask || out->nw_proto == 0xff;
      auto need4 = [&](uint16_t t) -> int {
        if (!K->has(t)) return fail(err, "missing " + attr_name(t) + " in key");
        if (is_mask && S->has(t) && !exact_proto) {
          return fail(err,
                      "mask for " + attr_name(t) + " requires an exact match on the IP protocol");
        }
        return 0;
      };
      auto ports = [&](uint16_t t) {
        auto v = S->get<ovs_key_tcp>(t);  // tcp, udp and sctp share one layout
        K->use(t);
        out->tp_src = v.tcp_src;
        out->tp_dst = v.tcp_dst;
      };
      bool v4 = et == htons(kEthTypeIp);
      if (proto == kIpProtoTcp) {
        if ((r = need4(OVS_KEY_ATTR_TCP))) return r;
        ports(OVS_KEY_ATTR_TCP);
        if (K->has(OVS_KEY_ATTR_TCP_FLAGS) || S->has(OVS_KEY_ATTR_TCP_FLAGS)) {
          K->use(OVS_KEY_ATTR_TCP_FLAGS);
          out->tcp_flags = S->get<uint16_t>(OVS_KEY_ATTR_TCP_FLAGS);
        }
      } else if (proto == kIpProtoUdp) {
        if ((r = need4(OVS_KEY_ATTR_UDP))) return r;
        ports(OVS_KEY_ATTR_UDP);
      } else if (proto == kIpProtoSctp) {
        if ((r = need4(OVS_KEY_ATTR_SCTP))) return r;
        ports(OVS_KEY_ATTR_SCTP);
      } else if (proto == kIpProtoIcmp && v4) {
        if ((r = need4(OVS_KEY_ATTR_ICMP))) return r;
        K->use(OVS_KEY_ATTR_ICMP);
        auto v = S->get<ovs_key_icmp>(OVS_KEY_ATTR_ICMP);
        out->tp_src = htons(v.icmp_type);
        out->tp_dst = htons(v.icmp_code);
      } else if (proto == kIpProtoIcmpv6 && !v4) {
        if ((r = need4(OVS_KEY_ATTR_ICMPV6))) return r;
        auto kk = K->get<ovs_key_icmpv6>(OVS_KEY_ATTR_ICMPV6);
        auto v = S->get<ovs_key_icmpv6>(OVS_KEY_ATTR_ICMPV6);
        out->tp_src = htons(v.icmpv6_type);
        out->tp_dst = htons(v.icmpv6_code);
        bool nd = kk.icmpv6_type == kNdSolicit || kk.icmpv6_type == kNdAdvert;
        if (nd && !is_mask && kk.icmpv6_code == 0 && !K->has(OVS_KEY_ATTR_ND)) {
          return fail(err, "missing OVS_KEY_ATTR_ND in key");
        }
        if (nd && (K->has(OVS_KEY_ATTR_ND) || S->has(OVS_KEY_ATTR_ND))) {
          if (is_mask && S->has(OVS_KEY_ATTR_ND) && v.icmpv6_type != 0xff) {
            return fail(err, "mask for OVS_KEY_ATTR_ND requires an exact match on the ICMPv6 type");
          }
          K->use(OVS_KEY_ATTR_ND);
          auto n = S->get<ovs_key_nd>(OVS_KEY_ATTR_ND);
          std::memcpy(out->nd_target, n.nd_target, 16);
          std::memcpy(out->arp_sha, n.nd_sll, 6);
          std::memcpy(out->arp_tha, n.nd_tll, 6);
        }
      }
    }
  }

  // Whatever was not consumed does not fit the packet the key describes
  // (an L4 attribute for another protocol, metadata inside ENCAP, ...).
  for (int i = 0; i <= depth; ++i) {
    // In mask mode the key was validated on its own beforehand.
    Level* levels[2] = {is_mask ? nullptr : &klv[i], is_mask ? &mlv[i] : nullptr};
    for (Level* lv : levels) {
      if (!lv) continue;
      uint64_t extra = lv->present & ~lv->used;
      // The kernel always allows these three in a mask.
      if (lv == &mlv[0]) {
        extra &= ~((uint64_t{1} << OVS_KEY_ATTR_TUNNEL) | (uint64_t{1} << OVS_KEY_ATTR_IN_PORT) |
                   (uint64_t{1} << OVS_KEY_ATTR_ETHERTYPE));
      }
      if (extra) {
        uint16_t t = uint16_t(__builtin_ctzll(extra));
        return fail(err, "unexpected " + attr_name(t) + (lv == &klv[i] ? " in key" : " in mask") +
                             (i ? " ENCAP" : "") +
                             ": it does not fit the packet the key describes");
      }
    }
  }
  return 0;
}

// Builds the mask the kernel uses when a flow put has none: every field the
// key has an attribute for is matched exactly, tunnel flags included.
void exact_mask(std::span<const uint8_t> key, bool tunnel, NlBuf* out) {
  NlWriter w(out);
  NlIter it(key);
  NlAttr a;
  std::vector<uint8_t> ones;
  while (it.next(&a)) {
    if (!tunnel && (a.type == OVS_KEY_ATTR_ENCAP || a.type == OVS_KEY_ATTR_TUNNEL)) {
      size_t c = w.begin_nested(a.type);
      exact_mask(a.payload, a.type == OVS_KEY_ATTR_TUNNEL, out);
      w.end_nested(c);
      continue;
    }
    if (tunnel && (a.type == OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT ||
                   a.type == OVS_TUNNEL_KEY_ATTR_CSUM || a.type == OVS_TUNNEL_KEY_ATTR_OAM)) {
      continue;  // added below, all of them
    }
    ones.assign(a.payload.size(), 0xff);
    w.put(a.type, ones.data(), ones.size());
  }
  if (tunnel) {
    w.put_flag(OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT);
    w.put_flag(OVS_TUNNEL_KEY_ATTR_CSUM);
    w.put_flag(OVS_TUNNEL_KEY_ATTR_OAM);
  }
}

bool has_tunnel(const FlowKey& k) {
  for (size_t i = offsetof(FlowKey, tun_id) / 8; i < FlowKey::kHeadWords; ++i) {
    if (k.words()[i]) return true;
  }
  return false;
}

void put_tunnel(const FlowKey& v, const FlowKey& k, NlWriter* w) {
  static constexpr uint8_t kZero16[16] = {};
  size_t c = w->begin_nested(OVS_KEY_ATTR_TUNNEL);
  if (v.tun_id || (v.tun_flags & kTunFlagKey)) w->put(OVS_TUNNEL_KEY_ATTR_ID, v.tun_id);
  if (v.tun_ipv4_src) w->put(OVS_TUNNEL_KEY_ATTR_IPV4_SRC, v.tun_ipv4_src);
  if (v.tun_ipv4_dst) w->put(OVS_TUNNEL_KEY_ATTR_IPV4_DST, v.tun_ipv4_dst);
  if (std::memcmp(v.tun_ipv6_src, kZero16, 16))
    w->put(OVS_TUNNEL_KEY_ATTR_IPV6_SRC, v.tun_ipv6_src, 16);
  if (std::memcmp(v.tun_ipv6_dst, kZero16, 16))
    w->put(OVS_TUNNEL_KEY_ATTR_IPV6_DST, v.tun_ipv6_dst, 16);
  if (v.tun_tos) w->put(OVS_TUNNEL_KEY_ATTR_TOS, v.tun_tos);
  w->put(OVS_TUNNEL_KEY_ATTR_TTL, v.tun_ttl);
  if (v.tun_flags & kTunFlagDontFragment) w->put_flag(OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT);
  if (v.tun_flags & kTunFlagCsum) w->put_flag(OVS_TUNNEL_KEY_ATTR_CSUM);
  if (v.tun_tp_src) w->put(OVS_TUNNEL_KEY_ATTR_TP_SRC, v.tun_tp_src);
  if (v.tun_tp_dst) w->put(OVS_TUNNEL_KEY_ATTR_TP_DST, v.tun_tp_dst);
  if (v.tun_flags & kTunFlagOam) w->put_flag(OVS_TUNNEL_KEY_ATTR_OAM);
  // The key's options (its length decides for a mask, as in the kernel);
  // a mask that matches the length exactly says so even for no options.
  if (v.tun_opts_len) {
    const uint8_t* p = v.tun_opts + sizeof v.tun_opts - k.tun_opts_len;
    w->put(OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS, p, k.tun_opts_len);
  }
  w->end_nested(c);
}

// Writes the attributes of key 'k' with the values of 'v' ('v' is 'k' for a
// key, the mask for a mask), following the kernel's __ovs_nla_put_key().
void encode(const FlowKey& v, const FlowKey& k, bool is_mask, NlBuf* out) {
  NlWriter w(out);
  w.put<uint32_t>(OVS_KEY_ATTR_RECIRC_ID, v.recirc_id);
  w.put<uint32_t>(OVS_KEY_ATTR_DP_HASH, v.dp_hash);
  w.put<uint32_t>(OVS_KEY_ATTR_PRIORITY, v.priority);
  if (has_tunnel(k) || (is_mask && has_tunnel(v))) put_tunnel(v, k, &w);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, v.in_port);
  w.put<uint32_t>(OVS_KEY_ATTR_SKB_MARK, v.skb_mark);
  ovs_key_ethernet eth;
  std::memcpy(eth.eth_src, v.eth_src, 6);
  std::memcpy(eth.eth_dst, v.eth_dst, 6);
  w.put(OVS_KEY_ATTR_ETHERNET, eth);

  size_t nests[2];
  int n_nests = 0;
  bool done = false;
  for (int d = 0; d < 2 && (k.vlan[d].tpid || k.vlan[d].tci); ++d) {
    w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, v.vlan[d].tpid);
    w.put<uint16_t>(OVS_KEY_ATTR_VLAN, v.vlan[d].tci);
    nests[n_nests++] = w.begin_nested(OVS_KEY_ATTR_ENCAP);
    if (!(k.vlan[d].tci & htons(kVlanCfi))) {
      done = true;
      break;
    }
  }
  if (!done && (k.eth_type || (is_mask && v.eth_type))) {
    w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, v.eth_type);
  }
  bool l4 = false;
  bool v4 = k.eth_type == htons(kEthTypeIp);
  if (done) {
  } else if (v4) {
    ovs_key_ipv4 ip{v.ipv4_src, v.ipv4_dst, v.nw_proto,
                    v.nw_tos,   v.nw_ttl,   frag_to_odp(v.nw_frag, is_mask)};
    w.put(OVS_KEY_ATTR_IPV4, ip);
    l4 = !(k.nw_frag & kFragLater);
  } else if (k.eth_type == htons(kEthTypeIpv6)) {
    ovs_key_ipv6 ip;
    std::memcpy(ip.ipv6_src, v.ipv6_src, 16);
    std::memcpy(ip.ipv6_dst, v.ipv6_dst, 16);
    ip.ipv6_label = v.ipv6_label;
    ip.ipv6_proto = v.nw_proto;
    ip.ipv6_tclass = v.nw_tos;
    ip.ipv6_hlimit = v.nw_ttl;
    ip.ipv6_frag = frag_to_odp(v.nw_frag, is_mask);
    w.put(OVS_KEY_ATTR_IPV6, ip);
    l4 = !(k.nw_frag & kFragLater);
  } else if (k.eth_type == htons(kEthTypeArp) || k.eth_type == htons(kEthTypeRarp)) {
    ovs_key_arp arp{};
    arp.arp_sip = v.ipv4_src;
    arp.arp_tip = v.ipv4_dst;
    arp.arp_op = htons(is_mask && v.nw_proto == 0xff ? 0xffff : v.nw_proto);
    std::memcpy(arp.arp_sha, v.arp_sha, 6);
    std::memcpy(arp.arp_tha, v.arp_tha, 6);
    w.put(OVS_KEY_ATTR_ARP, arp);
  }
  if (l4) {
    ovs_key_tcp ports{v.tp_src, v.tp_dst};
    if (k.nw_proto == kIpProtoTcp) {
      w.put(OVS_KEY_ATTR_TCP, ports);
      w.put<uint16_t>(OVS_KEY_ATTR_TCP_FLAGS, v.tcp_flags);
    } else if (k.nw_proto == kIpProtoUdp) {
      w.put(OVS_KEY_ATTR_UDP, ports);
    } else if (k.nw_proto == kIpProtoSctp) {
      w.put(OVS_KEY_ATTR_SCTP, ports);
    } else if (k.nw_proto == kIpProtoIcmp && v4) {
      ovs_key_icmp icmp{uint8_t(ntohs(v.tp_src)), uint8_t(ntohs(v.tp_dst))};
      w.put(OVS_KEY_ATTR_ICMP, icmp);
    } else if (k.nw_proto == kIpProtoIcmpv6 && !v4) {
      ovs_key_icmpv6 icmp{uint8_t(ntohs(v.tp_src)), uint8_t(ntohs(v.tp_dst))};
      w.put(OVS_KEY_ATTR_ICMPV6, icmp);
      if (k.tp_src == htons(kNdSolicit) || k.tp_src == htons(kNdAdvert)) {
        ovs_key_nd nd;
        std::memcpy(nd.nd_target, v.nd_target, 16);
        std::memcpy(nd.nd_sll, v.arp_sha, 6);
        std::memcpy(nd.nd_tll, v.arp_tha, 6);
        w.put(OVS_KEY_ATTR_ND, nd);
      }
    }
  }
  while (n_nests) w.end_nested(nests[--n_nests]);
}

}  // namespace

int odp_key_attr_len(uint16_t type) {
  switch (type) {
    case OVS_KEY_ATTR_ENCAP:
    case OVS_KEY_ATTR_TUNNEL:
    case OVS_KEY_ATTR_NSH:
      return kOdpNested;
    case OVS_KEY_ATTR_PRIORITY:
    case OVS_KEY_ATTR_IN_PORT:
    case OVS_KEY_ATTR_SKB_MARK:
    case OVS_KEY_ATTR_DP_HASH:
    case OVS_KEY_ATTR_RECIRC_ID:
    case OVS_KEY_ATTR_CT_STATE:
    case OVS_KEY_ATTR_CT_MARK:
    case OVS_KEY_ATTR_PACKET_TYPE:
      return 4;
    case OVS_KEY_ATTR_VLAN:
    case OVS_KEY_ATTR_ETHERTYPE:
    case OVS_KEY_ATTR_TCP_FLAGS:
    case OVS_KEY_ATTR_CT_ZONE:
      return 2;
    case OVS_KEY_ATTR_ETHERNET:
      return sizeof(ovs_key_ethernet);
    case OVS_KEY_ATTR_IPV4:
      return sizeof(ovs_key_ipv4);
    case OVS_KEY_ATTR_IPV6:
      return sizeof(ovs_key_ipv6);
    case OVS_KEY_ATTR_TCP:
      return sizeof(ovs_key_tcp);
    case OVS_KEY_ATTR_UDP:
      return sizeof(ovs_key_udp);
    case OVS_KEY_ATTR_SCTP:
      return sizeof(ovs_key_sctp);
    case OVS_KEY_ATTR_ICMP:
      return sizeof(ovs_key_icmp);
    case OVS_KEY_ATTR_ICMPV6:
      return sizeof(ovs_key_icmpv6);
    case OVS_KEY_ATTR_ARP:
      return sizeof(ovs_key_arp);
    case OVS_KEY_ATTR_ND:
      return sizeof(ovs_key_nd);
    case OVS_KEY_ATTR_CT_LABELS:
      return sizeof(ovs_key_ct_labels);
    case OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4:
      return sizeof(ovs_key_ct_tuple_ipv4);
    case OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6:
      return sizeof(ovs_key_ct_tuple_ipv6);
    default:
      return kOdpVariable;
  }
}

bool odp_key_attr_supported(uint16_t type) {
  switch (type) {
    case OVS_KEY_ATTR_ENCAP:
    case OVS_KEY_ATTR_TUNNEL:
    case OVS_KEY_ATTR_PRIORITY:
    case OVS_KEY_ATTR_IN_PORT:
    case OVS_KEY_ATTR_SKB_MARK:
    case OVS_KEY_ATTR_DP_HASH:
    case OVS_KEY_ATTR_RECIRC_ID:
    case OVS_KEY_ATTR_ETHERNET:
    case OVS_KEY_ATTR_VLAN:
    case OVS_KEY_ATTR_ETHERTYPE:
    case OVS_KEY_ATTR_TCP_FLAGS:
    case OVS_KEY_ATTR_IPV4:
    case OVS_KEY_ATTR_IPV6:
    case OVS_KEY_ATTR_TCP:
    case OVS_KEY_ATTR_UDP:
    case OVS_KEY_ATTR_SCTP:
    case OVS_KEY_ATTR_ICMP:
    case OVS_KEY_ATTR_ICMPV6:
    case OVS_KEY_ATTR_ARP:
    case OVS_KEY_ATTR_ND:
      return true;
    default:
      return false;
  }
}

int odp_tun_attr_len(uint16_t type) {
  switch (type) {
    case OVS_TUNNEL_KEY_ATTR_ID:
      return 8;
    case OVS_TUNNEL_KEY_ATTR_IPV4_SRC:
    case OVS_TUNNEL_KEY_ATTR_IPV4_DST:
      return 4;
    case OVS_TUNNEL_KEY_ATTR_TOS:
    case OVS_TUNNEL_KEY_ATTR_TTL:
      return 1;
    case OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT:
    case OVS_TUNNEL_KEY_ATTR_CSUM:
    case OVS_TUNNEL_KEY_ATTR_OAM:
      return 0;
    case OVS_TUNNEL_KEY_ATTR_TP_SRC:
    case OVS_TUNNEL_KEY_ATTR_TP_DST:
      return 2;
    case OVS_TUNNEL_KEY_ATTR_IPV6_SRC:
    case OVS_TUNNEL_KEY_ATTR_IPV6_DST:
      return 16;
    default:
      return kOdpVariable;
  }
}

bool odp_tun_attr_supported(uint16_t type) {
  if (type == OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS) return true;  // variable: geneve_opts_check()
  return type <= OVS_TUNNEL_KEY_ATTR_MAX && odp_tun_attr_len(type) != kOdpVariable;
}

const char* odp_key_attr_name(uint16_t type) {
  static constexpr const char* kNames[] = {
      "OVS_KEY_ATTR_UNSPEC",
      "OVS_KEY_ATTR_ENCAP",
      "OVS_KEY_ATTR_PRIORITY",
      "OVS_KEY_ATTR_IN_PORT",
      "OVS_KEY_ATTR_ETHERNET",
      "OVS_KEY_ATTR_VLAN",
      "OVS_KEY_ATTR_ETHERTYPE",
      "OVS_KEY_ATTR_IPV4",
      "OVS_KEY_ATTR_IPV6",
      "OVS_KEY_ATTR_TCP",
      "OVS_KEY_ATTR_UDP",
      "OVS_KEY_ATTR_ICMP",
      "OVS_KEY_ATTR_ICMPV6",
      "OVS_KEY_ATTR_ARP",
      "OVS_KEY_ATTR_ND",
      "OVS_KEY_ATTR_SKB_MARK",
      "OVS_KEY_ATTR_TUNNEL",
      "OVS_KEY_ATTR_SCTP",
      "OVS_KEY_ATTR_TCP_FLAGS",
      "OVS_KEY_ATTR_DP_HASH",
      "OVS_KEY_ATTR_RECIRC_ID",
      "OVS_KEY_ATTR_MPLS",
      "OVS_KEY_ATTR_CT_STATE",
      "OVS_KEY_ATTR_CT_ZONE",
      "OVS_KEY_ATTR_CT_MARK",
      "OVS_KEY_ATTR_CT_LABELS",
      "OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4",
      "OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6",
      "OVS_KEY_ATTR_NSH",
      "OVS_KEY_ATTR_PACKET_TYPE",
      "OVS_KEY_ATTR_ND_EXTENSIONS",
      "OVS_KEY_ATTR_TUNNEL_INFO",
      "OVS_KEY_ATTR_IPV6_EXTHDRS",
  };
  return type < sizeof kNames / sizeof kNames[0] ? kNames[type] : nullptr;
}

int odp_key_from_attrs(std::span<const uint8_t> key, FlowKey* out, std::string* err) {
  return decode(key, {}, false, out, err);
}

namespace {

// odp_mask_from_attrs() for a key already decoded (and thus validated: the
// mask decoder trusts its shape) into k.
int mask_of_decoded_key(std::span<const uint8_t> mask, std::span<const uint8_t> key,
                        const FlowKey& k, FlowKey* out, std::string* err) {
  if (mask.empty()) {
    NlBuf exact;
    exact_mask(key, false, &exact);
    if (int r = decode(key, exact, true, out, err)) return r;
    // The kernel's exact mask covers the whole tunnel key, its flags with
    // TUNNEL_GENEVE_OPT ("the packet has options") included, so a tunnel key
    // without options matches only packets without options: here, a length
    // of 0 exactly (a key with options already matches its length exactly).
    if (has_tunnel(k)) out->tun_opts_len = 0xff;
    return 0;
  }
  return decode(key, mask, true, out, err);
}

}  // namespace

int odp_mask_from_attrs(std::span<const uint8_t> mask, std::span<const uint8_t> key, FlowKey* out,
                        std::string* err) {
  // The key is validated on its own first: the mask decoder trusts its shape.
  FlowKey k;
  if (int r = decode(key, {}, false, &k, err)) return r;
  return mask_of_decoded_key(mask, key, k, out, err);
}

int odp_flow_from_attrs(std::span<const uint8_t> key, std::span<const uint8_t> mask,
                        FlowKey* key_out, FlowKey* mask_out, std::string* err) {
  if (int r = decode(key, {}, false, key_out, err)) return r;
  return mask_of_decoded_key(mask, key, *key_out, mask_out, err);
}

void odp_key_to_attrs(const FlowKey& key, NlBuf* out) { encode(key, key, false, out); }

void odp_mask_to_attrs(const FlowKey& mask, const FlowKey& key, NlBuf* out) {
  encode(mask, key, true, out);
}

}  // namespace dpx
