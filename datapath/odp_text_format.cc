#include <arpa/inet.h>
#include <linux/openvswitch.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "odp_key.h"
#include "odp_text.h"
#include "odp_text_detail.h"

namespace dpx {
namespace {

using namespace odp_text_detail;

// ---------------------------------------------------------------- formatting

void add(std::string* o, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void add(std::string* o, const char* fmt, ...) {
  char buf[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) o->append(buf, std::min<size_t>(size_t(n), sizeof buf - 1));
}

void chomp(std::string* o, char c) {
  if (!o->empty() && o->back() == c) o->pop_back();
}

uint16_t be16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return ntohs(v);
}
uint32_t be32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}
uint32_t u32_at(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

const char* key_name(uint16_t t) {
  switch (t) {
    case OVS_KEY_ATTR_UNSPEC:
      return "unspec";
    case OVS_KEY_ATTR_ENCAP:
      return "encap";
    case OVS_KEY_ATTR_PRIORITY:
      return "skb_priority";
    case OVS_KEY_ATTR_SKB_MARK:
      return "skb_mark";
    case OVS_KEY_ATTR_CT_STATE:
      return "ct_state";
    case OVS_KEY_ATTR_CT_ZONE:
      return "ct_zone";
    case OVS_KEY_ATTR_CT_MARK:
      return "ct_mark";
    case OVS_KEY_ATTR_CT_LABELS:
      return "ct_label";
    case OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV4:
      return "ct_tuple4";
    case OVS_KEY_ATTR_CT_ORIG_TUPLE_IPV6:
      return "ct_tuple6";
    case OVS_KEY_ATTR_TUNNEL:
      return "tunnel";
    case OVS_KEY_ATTR_IN_PORT:
      return "in_port";
    case OVS_KEY_ATTR_ETHERNET:
      return "eth";
    case OVS_KEY_ATTR_VLAN:
      return "vlan";
    case OVS_KEY_ATTR_ETHERTYPE:
      return "eth_type";
    case OVS_KEY_ATTR_IPV4:
      return "ipv4";
    case OVS_KEY_ATTR_IPV6:
      return "ipv6";
    case OVS_KEY_ATTR_TCP:
      return "tcp";
    case OVS_KEY_ATTR_TCP_FLAGS:
      return "tcp_flags";
    case OVS_KEY_ATTR_UDP:
      return "udp";
    case OVS_KEY_ATTR_SCTP:
      return "sctp";
    case OVS_KEY_ATTR_ICMP:
      return "icmp";
    case OVS_KEY_ATTR_ICMPV6:
      return "icmpv6";
    case OVS_KEY_ATTR_ARP:
      return "arp";
    case OVS_KEY_ATTR_ND:
      return "nd";
    case OVS_KEY_ATTR_ND_EXTENSIONS:
      return "nd_ext";
    case OVS_KEY_ATTR_MPLS:
      return "mpls";
    case OVS_KEY_ATTR_DP_HASH:
      return "dp_hash";
    case OVS_KEY_ATTR_RECIRC_ID:
      return "recirc_id";
    case OVS_KEY_ATTR_PACKET_TYPE:
      return "packet_type";
    case OVS_KEY_ATTR_NSH:
      return "nsh";
    default:
      return nullptr;
  }
}

// OVS's odp_mask_is_constant__(): does the mask match nothing (c = 0) or
// everything (c = 0xff) of the attribute?
bool mask_is_constant(uint16_t t, std::span<const uint8_t> m, uint8_t c) {
  switch (t) {
    case OVS_KEY_ATTR_UNSPEC:
    case OVS_KEY_ATTR_ENCAP:
      return false;
    case OVS_KEY_ATTR_TCP_FLAGS:
      return m.size() == 2 && (be16_at(m.data()) & 0x0fff) == (c ? 0x0fff : 0);
    case OVS_KEY_ATTR_IPV6: {
      if (m.size() != sizeof(ovs_key_ipv6)) return false;
      ovs_key_ipv6 k;
      std::memcpy(&k, m.data(), sizeof k);
      return (ntohl(k.ipv6_label) & 0xfffff) == (c ? 0xfffffu : 0) && k.ipv6_proto == c &&
             k.ipv6_tclass == c && k.ipv6_hlimit == c && k.ipv6_frag == c &&
             all_bytes(std::span(m.data(), 16), c) && all_bytes(std::span(m.data() + 16, 16), c);
    }
    case OVS_KEY_ATTR_ARP:
      return all_bytes(m.first(std::min<size_t>(m.size(), offsetof(ovs_key_arp, arp_tha) + 6)), c);
    default:
      return t <= OVS_KEY_ATTR_MAX && all_bytes(m, c);
  }
}

void put_hex(std::string* o, std::span<const uint8_t> p, const char* sep) {
  for (size_t i = 0; i < p.size(); ++i) add(o, "%s%02x", i ? sep : "", p[i]);
}

void put_eth(std::string* o, const uint8_t* e) {
  add(o, "%02x:%02x:%02x:%02x:%02x:%02x", e[0], e[1], e[2], e[3], e[4], e[5]);
}
void put_ip(std::string* o, const uint8_t* p) { add(o, "%u.%u.%u.%u", p[0], p[1], p[2], p[3]); }
void put_ip6(std::string* o, const uint8_t* p) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, p, buf, sizeof buf);
  *o += buf;
}

// The field formatters below follow OVS's format_*(): 'm' is null for an
// unmasked attribute; a field whose mask is zero is left out unless
// 'verbose'; a partial mask is printed after '/'.
void f_eth(std::string* o, const char* n, const uint8_t* k, const uint8_t* m, bool verbose) {
  static constexpr uint8_t kZero[6] = {}, kOnes[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  if (!verbose && m && !std::memcmp(m, kZero, 6)) return;
  add(o, "%s=", n);
  put_eth(o, k);
  if (m && std::memcmp(m, kOnes, 6)) {
    *o += '/';
    put_eth(o, m);
  }
  *o += ',';
}
void f_ip(std::string* o, const char* n, const uint8_t* k, const uint8_t* m, bool verbose) {
  if (!verbose && m && !be32_at(m)) return;
  add(o, "%s=", n);
  put_ip(o, k);
  if (m && be32_at(m) != 0xffffffff) {
    *o += '/';
    put_ip(o, m);
  }
  *o += ',';
}
void f_ip6(std::string* o, const char* n, const uint8_t* k, const uint8_t* m, bool verbose) {
  if (!verbose && m && all_bytes({m, 16}, 0)) return;
  add(o, "%s=", n);
  put_ip6(o, k);
  if (m && !all_bytes({m, 16}, 0xff)) {
    *o += '/';
    put_ip6(o, m);
  }
  *o += ',';
}
void f_u8(std::string* o, const char* n, const uint8_t* k, const uint8_t* m, bool verbose,
          bool hex) {
  if (!verbose && m && !*m) return;
  add(o, hex ? "%s=%#x" : "%s=%u", n, *k);
  if (m && *m != 0xff) add(o, "/%#x", *m);
  *o += ',';
}
void f_be16(std::string* o, const char* n, const uint8_t* k, const uint8_t* m, bool verbose) {
  if (!verbose && m && !be16_at(m)) return;
  add(o, "%s=%u", n, be16_at(k));
  if (m && be16_at(m) != 0xffff) add(o, "/%#x", be16_at(m));
  *o += ',';
}
void f_be64(std::string* o, const char* n, const uint8_t* k, const uint8_t* m, bool verbose) {
  uint64_t kv, mv = ~uint64_t{0};
  std::memcpy(&kv, k, 8);
  kv = be64toh(kv);
  if (m) {
    std::memcpy(&mv, m, 8);
    mv = be64toh(mv);
  }
  if (!verbose && !mv) return;
  add(o, "%s=0x%llx", n, (unsigned long long)kv);
  if (mv != ~uint64_t{0}) add(o, "/%#llx", (unsigned long long)mv);
  *o += ',';
}
void f_label(std::string* o, const uint8_t* k, const uint8_t* m, bool verbose) {
  if (!verbose && m && !be32_at(m)) return;
  add(o, "label=%#x", be32_at(k));
  if (m && (be32_at(m) & 0xfffff) != 0xfffff) add(o, "/%#x", be32_at(m));
  *o += ',';
}
void f_frag(std::string* o, const uint8_t* k, const uint8_t* m) {
  if (m && !*m) return;
  if (m && *m != 0xff) {
    add(o, "error: partial mask not supported for frag (%#x),", *m);
    return;
  }
  static constexpr const char* kNames[] = {"no", "first", "later"};
  add(o, "frag=%s,", *k < 3 ? kNames[*k] : "<error>");
}

void format_flags(std::string* o, const char* (*name)(uint32_t), uint32_t flags) {
  if (!flags) {
    *o += '0';
    return;
  }
  while (flags) {
    uint32_t bit = flags & -flags;
    const char* s = name(bit);
    if (s) {
      add(o, "%s|", s);
    } else {
      add(o, "0x%x|", bit);
    }
    flags &= ~bit;
  }
  chomp(o, '|');
}

void format_flags_masked(std::string* o, const char* (*name)(uint32_t), uint32_t flags,
                         uint32_t mask, uint32_t max) {
  if (mask == max) return format_flags(o, name, flags);
  if (!mask) {
    *o += "0/0";
    return;
  }
  while (mask) {
    uint32_t bit = mask & -mask;
    const char* s = name(bit);
    add(o, "%s%s", (flags & bit) ? "+" : "-", s ? s : "[Unknown]");
    mask &= ~bit;
  }
}

void f_vlan_tci(std::string* o, uint16_t tci, uint16_t mask, bool verbose) {
  if (verbose || (tci & 0xfff) || (mask & 0xfff)) {
    add(o, "vid=%u", tci & 0xfff);
    if ((mask & 0xfff) != 0xfff) add(o, "/0x%x", mask & 0xfff);
    *o += ',';
  }
  if (verbose || (tci >> 13) || (mask >> 13)) {
    add(o, "pcp=%u", tci >> 13);
    if ((mask >> 13) != 7) add(o, "/0x%x", mask >> 13);
    *o += ',';
  }
  if (!(tci & 0x1000)) *o += "cfi=0,";
  chomp(o, ',');
}

// One attribute with its (optional) mask, as a walk over a nesting level.
struct Attr {
  uint16_t type;
  std::span<const uint8_t> p;
};

// Walks attributes, stopping at the first malformed one; 'left' is what
// could not be parsed.
template <class F>
size_t for_each_attr(std::span<const uint8_t> buf, F&& f) {
  while (buf.size() >= NLA_HDRLEN) {
    nlattr h;
    std::memcpy(&h, buf.data(), sizeof h);
    if (h.nla_len < NLA_HDRLEN || h.nla_len > buf.size()) break;
    f(Attr{uint16_t(h.nla_type & NLA_TYPE_MASK), buf.subspan(NLA_HDRLEN, h.nla_len - NLA_HDRLEN)});
    size_t step = nl_align(h.nla_len);
    buf = step >= buf.size() ? std::span<const uint8_t>() : buf.subspan(step);
  }
  return buf.size();
}

bool find_attr(std::span<const uint8_t> buf, uint16_t type, Attr* out) {
  bool found = false;
  for_each_attr(buf, [&](const Attr& a) {
    if (!found && a.type == type) {
      *out = a;
      found = true;
    }
  });
  return found;
}

// An all-zero mask shaped like 'key' (OVS's generate_all_wildcard_mask()).
void zero_mask(const Attr& key, bool nested, NlBuf* out) {
  NlWriter w(out);
  if (!nested) {
    std::vector<uint8_t> z(key.p.size(), 0);
    w.put(key.type, z.data(), z.size());
    return;
  }
  size_t c = w.begin_nested(key.type);
  for_each_attr(key.p, [&](const Attr& a) {
    zero_mask(a, key.type == OVS_KEY_ATTR_ENCAP && odp_key_attr_len(a.type) == kOdpNested, out);
  });
  w.end_nested(c);
}

void format_key_attr(std::string* o, const Attr& a, const Attr* ma, bool verbose, int depth);
void format_flow(std::string* o, std::span<const uint8_t> key, std::span<const uint8_t> mask,
                 bool has_mask, int depth);

void format_unknown_key(std::string* o, const Attr& a, const Attr* ma) {
  add(o, "key%u(", a.type);
  put_hex(o, a.p, " ");
  if (ma && !mask_is_constant(ma->type, ma->p, 0xff)) {
    *o += '/';
    put_hex(o, ma->p, " ");
  }
  *o += "),";
}

void format_tunnel(std::string* o, const Attr& a, const Attr* ma, bool verbose) {
  uint32_t flags = 0, mflags = 0;
  for_each_attr(a.p, [&](const Attr& t) {
    Attr mt;
    NlBuf zero;
    const uint8_t* m = nullptr;
    if (ma) {
      if (!find_attr(ma->p, t.type, &mt)) {
        zero.assign(NLA_HDRLEN + t.p.size(), 0);
        mt = {t.type, std::span<const uint8_t>(zero).subspan(NLA_HDRLEN)};
      }
      m = mt.p.data();
    }
    int want = odp_tun_attr_len(t.type);
    if (t.type == OVS_TUNNEL_KEY_ATTR_PAD) return;
    if (t.type == OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS) {
      format_geneve(o, t.p, ma ? mt.p : std::span<const uint8_t>{}, ma != nullptr, verbose);
      return;
    }
    if (want < 0 || t.p.size() != size_t(want) || (ma && mt.p.size() != size_t(want))) {
      format_unknown_key(o, t, ma ? &mt : nullptr);
      return;
    }
    const uint8_t* k = t.p.data();
    switch (t.type) {
      case OVS_TUNNEL_KEY_ATTR_ID:
        f_be64(o, "tun_id", k, m, verbose);
        flags |= kTnlKey;
        if (ma) mflags |= kTnlKey;
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV4_SRC:
        f_ip(o, "src", k, m, verbose);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV4_DST:
        f_ip(o, "dst", k, m, verbose);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV6_SRC:
        f_ip6(o, "ipv6_src", k, m, verbose);
        break;
      case OVS_TUNNEL_KEY_ATTR_IPV6_DST:
        f_ip6(o, "ipv6_dst", k, m, verbose);
        break;
      case OVS_TUNNEL_KEY_ATTR_TOS:
        f_u8(o, "tos", k, m, verbose, true);
        break;
      case OVS_TUNNEL_KEY_ATTR_TTL:
        f_u8(o, "ttl", k, m, verbose, false);
        break;
      case OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT:
        flags |= kTnlDf;
        break;
      case OVS_TUNNEL_KEY_ATTR_CSUM:
        flags |= kTnlCsum;
        break;
      case OVS_TUNNEL_KEY_ATTR_OAM:
        flags |= kTnlOam;
        break;
      case OVS_TUNNEL_KEY_ATTR_TP_SRC:
        f_be16(o, "tp_src", k, m, verbose);
        break;
      case OVS_TUNNEL_KEY_ATTR_TP_DST:
        f_be16(o, "tp_dst", k, m, verbose);
        break;
    }
  });
  if (ma) {
    for_each_attr(ma->p, [&](const Attr& t) {
      if (t.type == OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT) mflags |= kTnlDf;
      if (t.type == OVS_TUNNEL_KEY_ATTR_CSUM) mflags |= kTnlCsum;
      if (t.type == OVS_TUNNEL_KEY_ATTR_OAM) mflags |= kTnlOam;
    });
  }
  if (verbose || !ma || mflags) {
    *o += "flags(";
    if (ma) {
      format_flags_masked(o, tun_flag_name, flags, mflags & kTnlMask, kTnlMask);
    } else {
      format_flags(o, tun_flag_name, flags);
    }
    *o += "),";
  }
  chomp(o, ',');
}

// Formats one key attribute, OVS's format_odp_key_attr(). The caller has
// checked the lengths of 'a' and 'ma'.
void format_key_attr(std::string* o, const Attr& a, const Attr* ma, bool verbose, int depth) {
  bool exact = !ma || mask_is_constant(ma->type, ma->p, 0xff);
  const uint8_t* k = a.p.data();
  const uint8_t* m = ma ? ma->p.data() : nullptr;
  const char* name = key_name(a.type);
  if (name) {
    *o += name;
  } else {
    add(o, "key%u", a.type);
  }
  *o += '(';
#define M(T, F) (m ? m + offsetof(T, F) : nullptr)
  switch (a.type) {
    case OVS_KEY_ATTR_ENCAP:
      if (depth >= kMaxNesting) {
        *o += "...";
      } else if (ma && !ma->p.empty() && !a.p.empty()) {
        format_flow(o, a.p, ma->p, true, depth + 1);
      } else if (!a.p.empty()) {
        format_flow(o, a.p, {}, false, depth + 1);
      }
      break;
    case OVS_KEY_ATTR_PRIORITY:
    case OVS_KEY_ATTR_SKB_MARK:
    case OVS_KEY_ATTR_DP_HASH:
    case OVS_KEY_ATTR_RECIRC_ID:
      add(o, "%#x", u32_at(k));
      if (!exact) add(o, "/%#x", u32_at(m));
      break;
    case OVS_KEY_ATTR_TUNNEL:
      format_tunnel(o, a, ma, verbose);
      break;
    case OVS_KEY_ATTR_IN_PORT:
      add(o, "%u", u32_at(k));
      if (!exact) add(o, "/%#x", u32_at(m));
      break;
    case OVS_KEY_ATTR_ETHERNET:
      f_eth(o, "src", k + offsetof(ovs_key_ethernet, eth_src), M(ovs_key_ethernet, eth_src),
            verbose);
      f_eth(o, "dst", k + offsetof(ovs_key_ethernet, eth_dst), M(ovs_key_ethernet, eth_dst),
            verbose);
      chomp(o, ',');
      break;
    case OVS_KEY_ATTR_VLAN:
      f_vlan_tci(o, be16_at(k), m ? be16_at(m) : 0xffff, verbose);
      break;
    case OVS_KEY_ATTR_ETHERTYPE:
      add(o, "0x%04x", be16_at(k));
      if (!exact) add(o, "/0x%04x", be16_at(m));
      break;
    case OVS_KEY_ATTR_IPV4: {
      using T = ovs_key_ipv4;
      f_ip(o, "src", k + offsetof(T, ipv4_src), M(T, ipv4_src), verbose);
      f_ip(o, "dst", k + offsetof(T, ipv4_dst), M(T, ipv4_dst), verbose);
      f_u8(o, "proto", k + offsetof(T, ipv4_proto), M(T, ipv4_proto), verbose, false);
      f_u8(o, "tos", k + offsetof(T, ipv4_tos), M(T, ipv4_tos), verbose, true);
      f_u8(o, "ttl", k + offsetof(T, ipv4_ttl), M(T, ipv4_ttl), verbose, false);
      f_frag(o, k + offsetof(T, ipv4_frag), M(T, ipv4_frag));
      chomp(o, ',');
      break;
    }
    case OVS_KEY_ATTR_IPV6: {
      using T = ovs_key_ipv6;
      f_ip6(o, "src", k + offsetof(T, ipv6_src), M(T, ipv6_src), verbose);
      f_ip6(o, "dst", k + offsetof(T, ipv6_dst), M(T, ipv6_dst), verbose);
      f_label(o, k + offsetof(T, ipv6_label), M(T, ipv6_label), verbose);
      f_u8(o, "proto", k + offsetof(T, ipv6_proto), M(T, ipv6_proto), verbose, false);
      f_u8(o, "tclass", k + offsetof(T, ipv6_tclass), M(T, ipv6_tclass), verbose, true);
      f_u8(o, "hlimit", k + offsetof(T, ipv6_hlimit), M(T, ipv6_hlimit), verbose, false);
      f_frag(o, k + offsetof(T, ipv6_frag), M(T, ipv6_frag));
      chomp(o, ',');
      break;
    }
    case OVS_KEY_ATTR_TCP:
    case OVS_KEY_ATTR_UDP:
    case OVS_KEY_ATTR_SCTP:
      f_be16(o, "src", k, m, verbose);
      f_be16(o, "dst", k + 2, m ? m + 2 : nullptr, verbose);
      chomp(o, ',');
      break;
    case OVS_KEY_ATTR_TCP_FLAGS:
      if (!exact) {
        format_flags_masked(o, tcp_flag_name, be16_at(k), be16_at(m) & 0x0fff, 0x0fff);
      } else {
        format_flags(o, tcp_flag_name, be16_at(k));
      }
      break;
    case OVS_KEY_ATTR_ICMP:
    case OVS_KEY_ATTR_ICMPV6:
      f_u8(o, "type", k, m, verbose, false);
      f_u8(o, "code", k + 1, m ? m + 1 : nullptr, verbose, false);
      chomp(o, ',');
      break;
    case OVS_KEY_ATTR_ARP: {
      using T = ovs_key_arp;
      f_ip(o, "sip", k + offsetof(T, arp_sip), M(T, arp_sip), verbose);
      f_ip(o, "tip", k + offsetof(T, arp_tip), M(T, arp_tip), verbose);
      f_be16(o, "op", k + offsetof(T, arp_op), M(T, arp_op), verbose);
      f_eth(o, "sha", k + offsetof(T, arp_sha), M(T, arp_sha), verbose);
      f_eth(o, "tha", k + offsetof(T, arp_tha), M(T, arp_tha), verbose);
      chomp(o, ',');
      break;
    }
    case OVS_KEY_ATTR_ND: {
      using T = ovs_key_nd;
      f_ip6(o, "target", k + offsetof(T, nd_target), M(T, nd_target), verbose);
      f_eth(o, "sll", k + offsetof(T, nd_sll), M(T, nd_sll), verbose);
      f_eth(o, "tll", k + offsetof(T, nd_tll), M(T, nd_tll), verbose);
      chomp(o, ',');
      break;
    }
    default:
      // Attributes dpx does not implement: OVS prints most of them in their
      // own syntax; dpx shows the bytes.
      put_hex(o, a.p, " ");
      if (!exact) {
        *o += '/';
        put_hex(o, ma->p, " ");
      }
      break;
  }
#undef M
  *o += ')';
}

// OVS's check_attr_len(): prints a malformed attribute and returns false.
bool check_len(std::string* o, const Attr& a, const Attr* ma) {
  int want = odp_key_attr_len(a.type);
  if (want < 0) return true;
  bool bad_key = a.p.size() != size_t(want);
  bool bad_mask = ma && ma->p.size() != size_t(want);
  if (!bad_key && !bad_mask) return true;
  add(o, "key%u", a.type);
  if (bad_key) add(o, "(bad key length %zu, expected %d)", a.p.size(), want);
  *o += '(';
  put_hex(o, a.p, " ");
  if (ma) {
    *o += '/';
    if (bad_mask) add(o, "(bad mask length %zu, expected %d)(", ma->p.size(), want);
    put_hex(o, ma->p, " ");
  }
  *o += ')';
  return false;
}

void format_flow(std::string* o, std::span<const uint8_t> key, std::span<const uint8_t> mask,
                 bool has_mask, int depth) {
  if (key.empty()) {
    *o += "<empty>";
    return;
  }
  bool first = true, has_ethtype = false;
  has_mask = has_mask && !mask.empty();
  size_t left = for_each_attr(key, [&](const Attr& a) {
    Attr mbuf;
    const Attr* ma = has_mask && find_attr(mask, a.type, &mbuf) ? &mbuf : nullptr;
    if (!check_len(o, a, ma)) {
      first = false;
      return;
    }
    if (a.type == OVS_KEY_ATTR_ETHERTYPE) has_ethtype = true;
    bool nested = odp_key_attr_len(a.type) == kOdpNested;
    bool wildcard = has_mask && (!ma || mask_is_constant(ma->type, ma->p, 0));
    if (!wildcard || nested) {
      NlBuf zero;
      Attr zattr;
      if (wildcard && !ma) {
        zero_mask(a, nested, &zero);
        zattr = {a.type, std::span<const uint8_t>(zero).subspan(NLA_HDRLEN)};
        ma = &zattr;
      }
      if (!first) *o += ',';
      format_key_attr(o, a, ma, false, depth);
      first = false;
    } else if (a.type == OVS_KEY_ATTR_ETHERNET) {
      // An Ethernet attribute says the packet is Ethernet even when fully
      // wildcarded, so OVS prints it as "eth()".
      if (!first) *o += ',';
      *o += "eth()";
      first = false;
    }
  });
  if (left) {
    if (left == key.size()) *o += "<empty>";
    add(o, ",***%zu leftover bytes*** (", left);
    put_hex(o, key.last(left), "");
    *o += ')';
  }
  Attr ma;
  if (!has_ethtype && has_mask && find_attr(mask, OVS_KEY_ATTR_ETHERTYPE, &ma) &&
      ma.p.size() == 2) {
    add(o, ",eth_type(0/0x%04x)", be16_at(ma.p.data()));
  }
}

void format_actions(std::string* o, std::span<const uint8_t> actions, int depth);

void format_userspace(std::string* o, const Attr& a) {
  const Attr* pid = nullptr;
  Attr seen[OVS_USERSPACE_ATTR_MAX + 1];
  bool have[OVS_USERSPACE_ATTR_MAX + 1] = {};
  bool ok = true;
  size_t left = for_each_attr(a.p, [&](const Attr& u) {
    if (u.type > OVS_USERSPACE_ATTR_MAX) return;
    seen[u.type] = u;
    have[u.type] = true;
  });
  if (left || !have[OVS_USERSPACE_ATTR_PID] || seen[OVS_USERSPACE_ATTR_PID].p.size() != 4)
    ok = false;
  if (have[OVS_USERSPACE_ATTR_EGRESS_TUN_PORT] &&
      seen[OVS_USERSPACE_ATTR_EGRESS_TUN_PORT].p.size() != 4) {
    ok = false;
  }
  if (!ok) {
    *o += "userspace(error)";
    return;
  }
  pid = &seen[OVS_USERSPACE_ATTR_PID];
  add(o, "userspace(pid=%u", u32_at(pid->p.data()));
  if (have[OVS_USERSPACE_ATTR_USERDATA]) {
    *o += ",userdata(";
    put_hex(o, seen[OVS_USERSPACE_ATTR_USERDATA].p, "");
    *o += ')';
  }
  if (have[OVS_USERSPACE_ATTR_ACTIONS]) *o += ",actions";
  if (have[OVS_USERSPACE_ATTR_EGRESS_TUN_PORT]) {
    add(o, ",tunnel_out_port=%u", u32_at(seen[OVS_USERSPACE_ATTR_EGRESS_TUN_PORT].p.data()));
  }
  *o += ')';
}

void format_generic_action(std::string* o, const Attr& a) {
  add(o, "action%d", a.type);
  if (!a.p.empty()) {
    *o += '(';
    put_hex(o, a.p, " ");
    *o += ')';
  }
}

int action_len(uint16_t t) {
  switch (t) {
    case OVS_ACTION_ATTR_OUTPUT:
    case OVS_ACTION_ATTR_RECIRC:
    case OVS_ACTION_ATTR_METER:
      return 4;
    case OVS_ACTION_ATTR_TRUNC:
      return sizeof(ovs_action_trunc);
    case OVS_ACTION_ATTR_PUSH_VLAN:
      return sizeof(ovs_action_push_vlan);
    case OVS_ACTION_ATTR_POP_VLAN:
    case OVS_ACTION_ATTR_CT_CLEAR:
    case OVS_ACTION_ATTR_POP_ETH:
    case OVS_ACTION_ATTR_POP_NSH:
      return 0;
    case OVS_ACTION_ATTR_HASH:
      return sizeof(ovs_action_hash);
    case OVS_ACTION_ATTR_POP_MPLS:
      return 2;
    case OVS_ACTION_ATTR_PUSH_MPLS:
      return sizeof(ovs_action_push_mpls);
    case OVS_ACTION_ATTR_PUSH_ETH:
      return sizeof(ovs_action_push_eth);
    default:
      return -1;
  }
}

void format_action(std::string* o, const Attr& a, int depth) {
  int want = action_len(a.type);
  if (want >= 0 && a.p.size() != size_t(want)) {
    add(o, "bad length %zu, expected %d for: ", a.p.size(), want);
    format_generic_action(o, a);
    return;
  }
  const uint8_t* p = a.p.data();
  switch (a.type) {
    case OVS_ACTION_ATTR_OUTPUT:
      add(o, "%u", u32_at(p));
      break;
    case OVS_ACTION_ATTR_TRUNC:
      add(o, "trunc(%u)", u32_at(p));
      break;
    case OVS_ACTION_ATTR_RECIRC:
      add(o, "recirc(%#x)", u32_at(p));
      break;
    case OVS_ACTION_ATTR_METER:
      add(o, "meter(%u)", u32_at(p));
      break;
    case OVS_ACTION_ATTR_USERSPACE:
      format_userspace(o, a);
      break;
    case OVS_ACTION_ATTR_HASH: {
      uint32_t alg = u32_at(p), basis = u32_at(p + 4);
      if (alg == OVS_HASH_ALG_L4) {
        add(o, "hash(l4(%u))", basis);
      } else if (alg == kHashAlgSymL4) {
        add(o, "hash(sym_l4(%u))", basis);
      } else {
        add(o, "hash(Unknown hash algorithm(%u))", alg);
      }
      break;
    }
    case OVS_ACTION_ATTR_SET:
    case OVS_ACTION_ATTR_SET_MASKED: {
      Attr inner;
      bool got = false;
      for_each_attr(a.p, [&](const Attr& x) {
        if (!got) inner = x, got = true;
      });
      if (!got) {
        *o += "set(error)";
        break;
      }
      *o += "set(";
      if (a.type == OVS_ACTION_ATTR_SET) {
        if (check_len(o, inner, nullptr)) format_key_attr(o, inner, nullptr, true, depth);
      } else if (inner.p.size() % 2 == 0 && inner.p.size() / 2 <= sizeof(ovs_key_ipv6)) {
        size_t n = inner.p.size() / 2;
        Attr k{inner.type, inner.p.first(n)}, m{inner.type, inner.p.subspan(n)};
        if (check_len(o, k, &m)) format_key_attr(o, k, &m, false, depth);
      } else if (check_len(o, inner, nullptr)) {
        format_key_attr(o, inner, nullptr, false, depth);
      }
      *o += ')';
      break;
    }
    case OVS_ACTION_ATTR_PUSH_VLAN: {
      *o += "push_vlan(";
      if (be16_at(p) != 0x8100) add(o, "tpid=0x%04x,", be16_at(p));
      f_vlan_tci(o, be16_at(p + 2), 0xffff, false);
      *o += ')';
      break;
    }
    case OVS_ACTION_ATTR_POP_VLAN:
      *o += "pop_vlan";
      break;
    case OVS_ACTION_ATTR_CT_CLEAR:
      *o += "ct_clear";
      break;
    case OVS_ACTION_ATTR_CLONE:
      *o += "clone(";
      if (depth >= kMaxNesting) {
        *o += "...";
      } else {
        format_actions(o, a.p, depth + 1);
      }
      *o += ')';
      break;
    default:
      format_generic_action(o, a);
      break;
  }
}

void format_actions(std::string* o, std::span<const uint8_t> actions, int depth) {
  if (actions.empty()) {
    *o += "drop";
    return;
  }
  bool first = true;
  size_t left = for_each_attr(actions, [&](const Attr& a) {
    if (!first) *o += ',';
    first = false;
    format_action(o, a, depth);
  });
  if (left) {
    if (left == actions.size()) *o += "<empty>";
    add(o, ",***%zu leftover bytes*** (", left);
    put_hex(o, actions.last(left), "");
    *o += ')';
  }
}

}  // namespace

std::string odp_flow_to_string(std::span<const uint8_t> key, std::span<const uint8_t> mask) {
  std::string o;
  format_flow(&o, key, mask, !mask.empty(), 0);
  return o;
}

std::string odp_actions_to_string(std::span<const uint8_t> actions) {
  std::string o;
  format_actions(&o, actions, 0);
  return o;
}

std::string ufid_to_string(const Ufid& u) {
  char buf[40];
  snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%04x%08x", u.w[0], u.w[1] >> 16, u.w[1] & 0xffff,
           u.w[2] >> 16, u.w[2] & 0xffff, u.w[3]);
  return buf;
}

}  // namespace dpx
