#include "odp_text.h"

#include <arpa/inet.h>
#include <linux/openvswitch.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace dpx {
namespace {

// OVS's userspace headers add this algorithm to the kernel's enum.
constexpr uint32_t kHashAlgSymL4 = 1;
constexpr int kMaxNesting = 32;  // OVS's MAX_ODP_NESTED

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

bool all_bytes(std::span<const uint8_t> p, uint8_t v) {
  for (uint8_t b : p) {
    if (b != v) return false;
  }
  return true;
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

// Expected payload length of a key attribute: >= 0 fixed, -1 nested,
// -2 variable or unknown (printed as it is).
int key_len(uint16_t t) {
  switch (t) {
    case OVS_KEY_ATTR_ENCAP:
    case OVS_KEY_ATTR_TUNNEL:
    case OVS_KEY_ATTR_NSH:
      return -1;
    case OVS_KEY_ATTR_PRIORITY:
    case OVS_KEY_ATTR_SKB_MARK:
    case OVS_KEY_ATTR_DP_HASH:
    case OVS_KEY_ATTR_RECIRC_ID:
    case OVS_KEY_ATTR_IN_PORT:
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
      return -2;
  }
}

int tun_len(uint16_t t) {
  switch (t) {
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
      return -2;
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

const char* tcp_flag_name(uint32_t bit) {
  switch (bit) {
    case 0x001:
      return "fin";
    case 0x002:
      return "syn";
    case 0x004:
      return "rst";
    case 0x008:
      return "psh";
    case 0x010:
      return "ack";
    case 0x020:
      return "urg";
    case 0x040:
      return "ece";
    case 0x080:
      return "cwr";
    case 0x100:
      return "ns";
    case 0x200:
      return "[200]";
    case 0x400:
      return "[400]";
    case 0x800:
      return "[800]";
    default:
      return nullptr;
  }
}

// Tunnel flags use OVS's FLOW_TNL_F_* bits in text: OAM, DF, CSUM, KEY.
constexpr uint32_t kTnlOam = 1, kTnlDf = 2, kTnlCsum = 4, kTnlKey = 8, kTnlMask = 15;
const char* tun_flag_name(uint32_t bit) {
  switch (bit) {
    case kTnlOam:
      return "oam";
    case kTnlDf:
      return "df";
    case kTnlCsum:
      return "csum";
    case kTnlKey:
      return "key";
    default:
      return nullptr;
  }
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
    zero_mask(a, key.type == OVS_KEY_ATTR_ENCAP && key_len(a.type) == -1, out);
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
    int want = tun_len(t.type);
    if (t.type == OVS_TUNNEL_KEY_ATTR_PAD) return;
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
  int want = key_len(a.type);
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
    bool nested = key_len(a.type) == -1;
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

// ------------------------------------------------------------------ parsing

constexpr std::string_view kDelims = ", \t\r\n";

class Parser {
 public:
  Parser(std::string_view s, std::string* err) : s_(s), err_(err) {}

  size_t pos() const { return i_; }
  bool eof() const { return i_ >= s_.size(); }
  char peek() const { return eof() ? '\0' : s_[i_]; }
  std::string_view rest() const { return s_.substr(std::min(i_, s_.size())); }
  void skip_delims() {
    while (!eof() && kDelims.find(s_[i_]) != std::string_view::npos) ++i_;
  }
  bool at_delim_or_end() const { return eof() || kDelims.find(s_[i_]) != std::string_view::npos; }
  bool lit(std::string_view t) {
    if (rest().substr(0, t.size()) != t) return false;
    i_ += t.size();
    return true;
  }
  bool expect(std::string_view t) {
    if (lit(t)) return true;
    return error("expected '" + std::string(t) + "'");
  }
  // Records the first error with its position; always returns false.
  bool error(const std::string& msg) {
    if (err_ && !failed_) {
      std::string near(rest().substr(0, 24));
      *err_ = msg + " at offset " + std::to_string(i_) +
              (near.empty() ? " (end of text)" : " near '" + near + "'");
    }
    failed_ = true;
    return false;
  }
  bool failed() const { return failed_; }

  // [a-z0-9_]+
  std::string_view ident() {
    size_t b = i_;
    while (!eof() && (std::isalnum(uint8_t(s_[i_])) || s_[i_] == '_')) ++i_;
    return s_.substr(b, i_ - b);
  }

  // An unsigned integer with C's %i conventions (0x hex, leading 0 octal),
  // as OVS's ovs_scan("%i") reads it, no larger than 'max'.
  bool num(uint64_t max, uint64_t* v) {
    size_t b = i_;
    int base = 10;
    if (lit("0x") || lit("0X")) {
      base = 16;
    } else if (peek() == '0' && i_ + 1 < s_.size() && std::isdigit(uint8_t(s_[i_ + 1]))) {
      base = 8;
    }
    uint64_t r = 0;
    size_t digits = 0;
    for (; !eof(); ++i_, ++digits) {
      int c = s_[i_], d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        break;
      }
      if (d >= base) break;
      if (r > (max - uint64_t(d)) / uint64_t(base)) {
        i_ = b;
        return error("number out of range (max " + std::to_string(max) + ")");
      }
      r = r * uint64_t(base) + uint64_t(d);
    }
    if (!digits) {
      i_ = b;
      return error("expected a number");
    }
    *v = r;
    return true;
  }
  template <class T>
  bool num(T* v) {
    uint64_t x;
    if (!num(uint64_t(T(~T(0))), &x)) return false;
    *v = T(x);
    return true;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  std::string* err_;
  bool failed_ = false;
};

// Value scanners: each reads "value[/mask]" into k and m; without "/mask"
// the mask is exact. m may be null where no mask is wanted.
bool scan_eth(Parser& p, uint8_t* k, uint8_t* m) {
  auto one = [&](uint8_t* out) {
    for (int j = 0; j < 6; ++j) {
      if (j && !p.expect(":")) return false;
      int v = 0, n = 0;
      while (n < 2 && std::isxdigit(uint8_t(p.peek()))) {
        char c = p.peek();
        v = v * 16 + (std::isdigit(uint8_t(c)) ? c - '0' : (c | 0x20) - 'a' + 10);
        p.lit(std::string_view(&c, 1));
        ++n;
      }
      if (!n) return p.error("expected an Ethernet address");
      out[j] = uint8_t(v);
    }
    return true;
  };
  if (!one(k)) return false;
  if (m) {
    if (p.lit("/")) return one(m);
    std::memset(m, 0xff, 6);
  }
  return true;
}

bool scan_ip(Parser& p, uint8_t* k, uint8_t* m) {
  auto one = [&](uint8_t* out) {
    for (int j = 0; j < 4; ++j) {
      if (j && !p.expect(".")) return false;
      uint64_t v;
      if (!std::isdigit(uint8_t(p.peek()))) return p.error("expected an IPv4 address");
      if (!p.num(255, &v)) return false;
      out[j] = uint8_t(v);
    }
    return true;
  };
  if (!one(k)) return false;
  if (m) {
    if (p.lit("/")) return one(m);
    std::memset(m, 0xff, 4);
  }
  return true;
}

bool scan_ip6(Parser& p, uint8_t* k, uint8_t* m) {
  auto one = [&](uint8_t* out) {
    std::string a;
    while (std::isxdigit(uint8_t(p.peek())) || p.peek() == ':' || p.peek() == '.') {
      a += p.peek();
      p.lit(std::string_view(&a.back(), 1));
    }
    if (a.empty() || a.size() > 45 || inet_pton(AF_INET6, a.c_str(), out) != 1) {
      return p.error("expected an IPv6 address");
    }
    return true;
  };
  if (!one(k)) return false;
  if (m) {
    if (p.lit("/")) return one(m);
    std::memset(m, 0xff, 16);
  }
  return true;
}

// Integer fields; 'be' stores in network byte order.
template <class T>
bool scan_int(Parser& p, void* k, void* m, bool be, T max = T(~T(0))) {
  T kv, mv = max;
  if (!p.num(&kv)) return false;
  if (kv > max) return p.error("value out of range");
  if (m && p.lit("/")) {
    if (!p.num(&mv)) return false;
    if (mv > max) return p.error("mask out of range");
  }
  auto store = [&](void* dst, T v) {
    if (be) {
      if constexpr (sizeof(T) == 2) v = htons(v);
      if constexpr (sizeof(T) == 4) v = htonl(v);
      if constexpr (sizeof(T) == 8) v = htobe64(v);
    }
    std::memcpy(dst, &v, sizeof v);
  };
  store(k, kv);
  if (m) store(m, mv);
  return true;
}

bool scan_frag(Parser& p, uint8_t* k, uint8_t* m) {
  std::string_view w = p.ident();
  if (w == "no") {
    *k = OVS_FRAG_TYPE_NONE;
  } else if (w == "first") {
    *k = OVS_FRAG_TYPE_FIRST;
  } else if (w == "later") {
    *k = OVS_FRAG_TYPE_LATER;
  } else {
    return p.error("expected frag=no, first or later");
  }
  if (m) *m = 0xff;
  return true;
}

// A bit field of a be16 TCI (vid, pcp, cfi), as OVS's scan_be16_bf().
bool scan_tci_bits(Parser& p, uint16_t* k, uint16_t* m, int bits, int shift) {
  uint16_t v, mv = uint16_t((1u << bits) - 1);
  uint16_t field = uint16_t(((1u << bits) - 1) << shift);
  if (!p.num(&v)) return false;
  if (v >> bits) return p.error("value out of range");
  if (p.lit("/")) {
    if (!p.num(&mv)) return false;
    if (mv >> bits) return p.error("mask out of range");
  }
  *k = htons(uint16_t((ntohs(*k) & ~field) | (v << shift)));
  *m = htons(uint16_t((ntohs(*m) & ~field) | (mv << shift)));
  return true;
}

// OVS's parse_flags(): "0x12[/0x12]", "syn|ack" (exact) or "+syn-ack"
// (masked). Stops before ')'.
bool scan_flags(Parser& p, const char* (*name)(uint32_t), uint32_t allowed, uint32_t* flags,
                uint32_t* mask) {
  *flags = 0;
  *mask = 0;
  if (std::isdigit(uint8_t(p.peek()))) {
    if (!p.num(&*flags)) return false;
    *mask = 0xffffffff;
    if (p.lit("/") && !p.num(&*mask)) return false;
    if ((*flags & ~allowed) || (*mask != 0xffffffff && (*mask & ~allowed))) {
      return p.error("unknown flag bits");
    }
    return true;
  }
  auto lookup = [&](std::string_view w, uint32_t* bit) {
    for (uint32_t b = 1; b && b <= allowed; b <<= 1) {
      const char* n = (b & allowed) ? name(b) : nullptr;
      if (n && w == n) {
        *bit = b;
        return true;
      }
    }
    return false;
  };
  auto word = [&]() {
    size_t b = p.pos();
    std::string_view r = p.rest();
    size_t n = 0;
    while (n < r.size() && r[n] != '|' && r[n] != '+' && r[n] != '-' && r[n] != ')' &&
           kDelims.find(r[n]) == std::string_view::npos) {
      ++n;
    }
    std::string_view w = r.substr(0, n);
    p.lit(w);
    (void)b;
    return w;
  };
  if (p.peek() == '+' || p.peek() == '-') {
    while (p.peek() == '+' || p.peek() == '-') {
      bool set = p.peek() == '+';
      p.lit(set ? "+" : "-");
      uint32_t bit;
      if (!lookup(word(), &bit)) return p.error("unknown flag");
      *mask |= bit;
      if (set) *flags |= bit;
    }
    return true;
  }
  *mask = 0xffffffff;
  while (p.peek() != ')') {
    uint32_t bit;
    if (!lookup(word(), &bit)) return p.error("unknown flag");
    *flags |= bit;
    if (!p.lit("|")) break;
  }
  return true;
}

// Reads "name=value,...)" (or "name(...)" for nested fields), calling
// 'field' with each name; 'field' parses the value.
template <class F>
bool field_list(Parser& p, const char* attr, F&& field) {
  for (;;) {
    p.skip_delims();
    if (p.lit(")")) return true;
    if (p.eof()) return p.error(std::string("unterminated ") + attr + "(...)");
    size_t at = p.pos();
    std::string_view name = p.ident();
    char sep = p.peek();
    if (name.empty() || (sep != '=' && sep != '(')) {
      return p.error(std::string("expected a field of ") + attr + "(...)");
    }
    p.lit(sep == '=' ? "=" : "(");
    if (!field(name, sep)) {
      if (!p.failed()) {
        (void)at;
        return p.error("unknown field '" + std::string(name) + "' in " + attr + "(...)");
      }
      return false;
    }
  }
}

bool parse_key_attr(Parser& p, NlBuf* key, NlBuf* mask, int depth);

bool parse_tunnel(Parser& p, NlBuf* key, NlBuf* mask) {
  NlWriter kw(key), mw(mask);
  size_t kc = kw.begin_nested(OVS_KEY_ATTR_TUNNEL), mc = mw.begin_nested(OVS_KEY_ATTR_TUNNEL);
  bool ok = field_list(p, "tunnel", [&](std::string_view n, char sep) {
    uint8_t k[16] = {}, m[16] = {};
    uint16_t t;
    size_t len;
    bool r;
    if (sep == '(') {
      if (n != "flags") return false;
      uint32_t f, fm;
      if (!scan_flags(p, tun_flag_name, kTnlMask, &f, &fm) || !p.expect(")")) return false;
      // KEY is implied by tun_id; the others are flag attributes.
      const std::pair<uint32_t, uint16_t> bits[] = {{kTnlDf, OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT},
                                                    {kTnlCsum, OVS_TUNNEL_KEY_ATTR_CSUM},
                                                    {kTnlOam, OVS_TUNNEL_KEY_ATTR_OAM}};
      for (auto [bit, type] : bits) {
        if (f & bit) kw.put_flag(type);
        if (fm & bit) mw.put_flag(type);
      }
      return true;
    }
    if (n == "tun_id") {
      t = OVS_TUNNEL_KEY_ATTR_ID, len = 8, r = scan_int<uint64_t>(p, k, m, true);
    } else if (n == "src") {
      t = OVS_TUNNEL_KEY_ATTR_IPV4_SRC, len = 4, r = scan_ip(p, k, m);
    } else if (n == "dst") {
      t = OVS_TUNNEL_KEY_ATTR_IPV4_DST, len = 4, r = scan_ip(p, k, m);
    } else if (n == "ipv6_src") {
      t = OVS_TUNNEL_KEY_ATTR_IPV6_SRC, len = 16, r = scan_ip6(p, k, m);
    } else if (n == "ipv6_dst") {
      t = OVS_TUNNEL_KEY_ATTR_IPV6_DST, len = 16, r = scan_ip6(p, k, m);
    } else if (n == "tos") {
      t = OVS_TUNNEL_KEY_ATTR_TOS, len = 1, r = scan_int<uint8_t>(p, k, m, false);
    } else if (n == "ttl") {
      t = OVS_TUNNEL_KEY_ATTR_TTL, len = 1, r = scan_int<uint8_t>(p, k, m, false);
    } else if (n == "tp_src") {
      t = OVS_TUNNEL_KEY_ATTR_TP_SRC, len = 2, r = scan_int<uint16_t>(p, k, m, true);
    } else if (n == "tp_dst") {
      t = OVS_TUNNEL_KEY_ATTR_TP_DST, len = 2, r = scan_int<uint16_t>(p, k, m, true);
    } else {
      return false;
    }
    if (!r) return false;
    kw.put(t, k, len);
    mw.put(t, m, len);
    return true;
  });
  kw.end_nested(kc);
  mw.end_nested(mc);
  return ok;
}

// Parses a fixed-size attribute made of fields.
template <class T, class F>
bool fields(Parser& p, const char* name, uint16_t type, NlBuf* key, NlBuf* mask, F&& f,
            const T& kinit = T{}, const T& minit = T{}) {
  T k = kinit, m = minit;
  if (!field_list(p, name,
                  [&](std::string_view n, char sep) { return sep == '=' && f(n, &k, &m); })) {
    return false;
  }
  NlWriter(key).put(type, k);
  NlWriter(mask).put(type, m);
  return true;
}

#define FIELD(NAME, CALL) \
  if (n == NAME) return CALL;

bool parse_key_attr(Parser& p, NlBuf* key, NlBuf* mask, int depth) {
  std::string_view name = p.ident();
  if (name.empty() || !p.lit("(")) return p.error("expected a key attribute such as in_port(1)");
  auto single32 = [&](uint16_t type) {
    uint32_t k, m;
    if (!scan_int<uint32_t>(p, &k, &m, false) || !p.expect(")")) return false;
    NlWriter(key).put(type, k);
    NlWriter(mask).put(type, m);
    return true;
  };
  if (name == "skb_priority") return single32(OVS_KEY_ATTR_PRIORITY);
  if (name == "skb_mark") return single32(OVS_KEY_ATTR_SKB_MARK);
  if (name == "recirc_id") return single32(OVS_KEY_ATTR_RECIRC_ID);
  if (name == "dp_hash") return single32(OVS_KEY_ATTR_DP_HASH);
  if (name == "in_port") return single32(OVS_KEY_ATTR_IN_PORT);
  if (name == "eth_type") {
    uint16_t k, m;
    if (!scan_int<uint16_t>(p, &k, &m, true) || !p.expect(")")) return false;
    NlWriter(key).put(OVS_KEY_ATTR_ETHERTYPE, k);
    NlWriter(mask).put(OVS_KEY_ATTR_ETHERTYPE, m);
    return true;
  }
  if (name == "tcp_flags") {
    uint32_t f, m;
    if (!scan_flags(p, tcp_flag_name, 0x0fff, &f, &m) || !p.expect(")")) return false;
    NlWriter(key).put<uint16_t>(OVS_KEY_ATTR_TCP_FLAGS, htons(uint16_t(f)));
    NlWriter(mask).put<uint16_t>(OVS_KEY_ATTR_TCP_FLAGS, htons(uint16_t(m)));
    return true;
  }
  if (name == "tunnel") return parse_tunnel(p, key, mask);
  if (name == "encap") {
    if (depth >= kMaxNesting) return p.error("encap nested too deeply");
    NlWriter kw(key), mw(mask);
    size_t kc = kw.begin_nested(OVS_KEY_ATTR_ENCAP), mc = mw.begin_nested(OVS_KEY_ATTR_ENCAP);
    for (;;) {
      p.skip_delims();
      if (p.lit(")")) break;
      if (p.eof()) return p.error("unterminated encap(...)");
      if (!parse_key_attr(p, key, mask, depth + 1)) return false;
    }
    kw.end_nested(kc);
    mw.end_nested(mc);
    return true;
  }
  if (name == "eth") {
    return fields<ovs_key_ethernet>(
        p, "eth", OVS_KEY_ATTR_ETHERNET, key, mask,
        [&](std::string_view n, ovs_key_ethernet* k, ovs_key_ethernet* m) {
          FIELD("src", scan_eth(p, k->eth_src, m->eth_src));
          FIELD("dst", scan_eth(p, k->eth_dst, m->eth_dst));
          return false;
        });
  }
  if (name == "vlan") {
    // As in OVS, the CFI (tag present) bit is set and matched unless the
    // text says cfi=0.
    uint16_t cfi = htons(0x1000);
    return fields<uint16_t>(
        p, "vlan", OVS_KEY_ATTR_VLAN, key, mask,
        [&](std::string_view n, uint16_t* k, uint16_t* m) {
          FIELD("vid", scan_tci_bits(p, k, m, 12, 0));
          FIELD("pcp", scan_tci_bits(p, k, m, 3, 13));
          FIELD("cfi", scan_tci_bits(p, k, m, 1, 12));
          return false;
        },
        cfi, cfi);
  }
  if (name == "ipv4") {
    using T = ovs_key_ipv4;
    return fields<T>(p, "ipv4", OVS_KEY_ATTR_IPV4, key, mask, [&](std::string_view n, T* k, T* m) {
      FIELD("src", scan_ip(p, (uint8_t*)&k->ipv4_src, (uint8_t*)&m->ipv4_src));
      FIELD("dst", scan_ip(p, (uint8_t*)&k->ipv4_dst, (uint8_t*)&m->ipv4_dst));
      FIELD("proto", scan_int<uint8_t>(p, &k->ipv4_proto, &m->ipv4_proto, false));
      FIELD("tos", scan_int<uint8_t>(p, &k->ipv4_tos, &m->ipv4_tos, false));
      FIELD("ttl", scan_int<uint8_t>(p, &k->ipv4_ttl, &m->ipv4_ttl, false));
      FIELD("frag", scan_frag(p, &k->ipv4_frag, &m->ipv4_frag));
      return false;
    });
  }
  if (name == "ipv6") {
    using T = ovs_key_ipv6;
    return fields<T>(p, "ipv6", OVS_KEY_ATTR_IPV6, key, mask, [&](std::string_view n, T* k, T* m) {
      FIELD("src", scan_ip6(p, (uint8_t*)k->ipv6_src, (uint8_t*)m->ipv6_src));
      FIELD("dst", scan_ip6(p, (uint8_t*)k->ipv6_dst, (uint8_t*)m->ipv6_dst));
      FIELD("label", scan_int<uint32_t>(p, &k->ipv6_label, &m->ipv6_label, true, 0xfffff));
      FIELD("proto", scan_int<uint8_t>(p, &k->ipv6_proto, &m->ipv6_proto, false));
      FIELD("tclass", scan_int<uint8_t>(p, &k->ipv6_tclass, &m->ipv6_tclass, false));
      FIELD("hlimit", scan_int<uint8_t>(p, &k->ipv6_hlimit, &m->ipv6_hlimit, false));
      FIELD("frag", scan_frag(p, &k->ipv6_frag, &m->ipv6_frag));
      return false;
    });
  }
  const std::pair<const char*, uint16_t> ports[] = {
      {"tcp", OVS_KEY_ATTR_TCP}, {"udp", OVS_KEY_ATTR_UDP}, {"sctp", OVS_KEY_ATTR_SCTP}};
  for (auto [pname, type] : ports) {
    if (name != pname) continue;
    using T = ovs_key_tcp;
    return fields<T>(p, pname, type, key, mask, [&](std::string_view n, T* k, T* m) {
      FIELD("src", scan_int<uint16_t>(p, &k->tcp_src, &m->tcp_src, true));
      FIELD("dst", scan_int<uint16_t>(p, &k->tcp_dst, &m->tcp_dst, true));
      return false;
    });
  }
  if (name == "icmp" || name == "icmpv6") {
    using T = ovs_key_icmp;  // icmpv6 has the same layout
    static_assert(sizeof(ovs_key_icmp) == sizeof(ovs_key_icmpv6));
    return fields<T>(p, name == "icmp" ? "icmp" : "icmpv6",
                     name == "icmp" ? OVS_KEY_ATTR_ICMP : OVS_KEY_ATTR_ICMPV6, key, mask,
                     [&](std::string_view n, T* k, T* m) {
                       FIELD("type", scan_int<uint8_t>(p, &k->icmp_type, &m->icmp_type, false));
                       FIELD("code", scan_int<uint8_t>(p, &k->icmp_code, &m->icmp_code, false));
                       return false;
                     });
  }
  if (name == "arp") {
    using T = ovs_key_arp;
    return fields<T>(p, "arp", OVS_KEY_ATTR_ARP, key, mask, [&](std::string_view n, T* k, T* m) {
      FIELD("sip", scan_ip(p, (uint8_t*)&k->arp_sip, (uint8_t*)&m->arp_sip));
      FIELD("tip", scan_ip(p, (uint8_t*)&k->arp_tip, (uint8_t*)&m->arp_tip));
      FIELD("op", scan_int<uint16_t>(p, &k->arp_op, &m->arp_op, true));
      FIELD("sha", scan_eth(p, k->arp_sha, m->arp_sha));
      FIELD("tha", scan_eth(p, k->arp_tha, m->arp_tha));
      return false;
    });
  }
  if (name == "nd") {
    using T = ovs_key_nd;
    return fields<T>(p, "nd", OVS_KEY_ATTR_ND, key, mask, [&](std::string_view n, T* k, T* m) {
      FIELD("target", scan_ip6(p, (uint8_t*)k->nd_target, (uint8_t*)m->nd_target));
      FIELD("sll", scan_eth(p, k->nd_sll, m->nd_sll));
      FIELD("tll", scan_eth(p, k->nd_tll, m->nd_tll));
      return false;
    });
  }
  return p.error("unknown or unsupported key attribute '" + std::string(name) + "'");
}
#undef FIELD

bool parse_action_list(Parser& p, NlBuf* out, int depth, bool nested);

bool parse_userspace(Parser& p, NlBuf* out) {
  NlWriter w(out);
  size_t c = w.begin_nested(OVS_ACTION_ATTR_USERSPACE);
  uint32_t pid;
  if (!p.expect("pid=") || !p.num(&pid)) return false;
  w.put(OVS_USERSPACE_ATTR_PID, pid);
  if (p.lit(",userdata(")) {
    std::vector<uint8_t> data;
    while (std::isxdigit(uint8_t(p.peek()))) {
      std::string_view r = p.rest();
      if (r.size() < 2 || !std::isxdigit(uint8_t(r[1]))) return p.error("odd number of hex digits");
      data.push_back(uint8_t(std::stoi(std::string(r.substr(0, 2)), nullptr, 16)));
      p.lit(r.substr(0, 2));
    }
    if (!p.expect(")")) return false;
    w.put(OVS_USERSPACE_ATTR_USERDATA, data.data(), data.size());
  }
  bool actions = p.lit(",actions");
  if (p.lit(",tunnel_out_port=")) {
    uint32_t port;
    if (!p.num(&port)) return false;
    w.put(OVS_USERSPACE_ATTR_EGRESS_TUN_PORT, port);
  }
  if (actions) w.put_flag(OVS_USERSPACE_ATTR_ACTIONS);
  if (!p.expect(")")) return false;
  w.end_nested(c);
  return true;
}

bool parse_action(Parser& p, NlBuf* out, int depth) {
  NlWriter w(out);
  if (std::isdigit(uint8_t(p.peek()))) {
    uint32_t port;
    if (!p.num(&port)) return false;
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, port);
    return true;
  }
  uint32_t v;
  if (p.lit("trunc(")) {
    if (!p.num(&v) || !p.expect(")")) return false;
    w.put(OVS_ACTION_ATTR_TRUNC, ovs_action_trunc{v});
    return true;
  }
  if (p.lit("recirc(")) {
    if (!p.num(&v) || !p.expect(")")) return false;
    w.put<uint32_t>(OVS_ACTION_ATTR_RECIRC, v);
    return true;
  }
  if (p.lit("hash(")) {
    uint32_t alg;
    if (p.lit("l4(")) {
      alg = OVS_HASH_ALG_L4;
    } else if (p.lit("sym_l4(")) {
      alg = kHashAlgSymL4;
    } else {
      return p.error("expected hash(l4(N)) or hash(sym_l4(N))");
    }
    if (!p.num(&v) || !p.expect("))")) return false;
    w.put(OVS_ACTION_ATTR_HASH, ovs_action_hash{alg, v});
    return true;
  }
  if (p.lit("userspace(")) return parse_userspace(p, out);
  if (p.lit("set(")) {
    size_t c = w.begin_nested(OVS_ACTION_ATTR_SET);
    NlBuf mask;
    bool tunnel = p.rest().substr(0, 7) == "tunnel(";
    if (!parse_key_attr(p, out, &mask, depth) || !p.expect(")")) return false;
    // A set with any partial mask becomes OVS_ACTION_ATTR_SET_MASKED: the
    // key value followed by the mask, in one attribute (as OVS does). The
    // tunnel can only be set whole.
    nlattr kh;
    std::memcpy(&kh, out->data() + c + NLA_HDRLEN, sizeof kh);
    size_t klen = kh.nla_len - NLA_HDRLEN;
    std::span<const uint8_t> mp(mask.data() + NLA_HDRLEN, mask.size() - NLA_HDRLEN);
    mp = mp.first(std::min(mp.size(), klen));
    if (!tunnel && mp.size() == klen && !all_bytes(mp, 0xff)) {
      std::vector<uint8_t> kv(out->begin() + ptrdiff_t(c + 2 * NLA_HDRLEN),
                              out->begin() + ptrdiff_t(c + 2 * NLA_HDRLEN + klen));
      out->resize(c);
      size_t c2 = w.begin_nested(OVS_ACTION_ATTR_SET_MASKED);
      kv.insert(kv.end(), mp.begin(), mp.end());
      w.put(kh.nla_type, kv.data(), kv.size());
      w.end_nested(c2);
      return true;
    }
    w.end_nested(c);
    return true;
  }
  if (p.lit("push_vlan(")) {
    uint16_t tpid = 0x8100, vid, pcp, cfi = 1;
    if (p.lit("tpid=") && (!p.num(&tpid) || !p.expect(","))) return false;
    if (!p.expect("vid=") || !p.num(&vid) || !p.expect(",pcp=") || !p.num(&pcp)) return false;
    if (p.lit(",cfi=") && !p.num(&cfi)) return false;
    if (!p.expect(")")) return false;
    if (vid > 0xfff || pcp > 7) return p.error("vid or pcp out of range");
    uint16_t tci = uint16_t(vid | (pcp << 13) | (cfi ? 0x1000 : 0));
    w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(tpid), htons(tci)});
    return true;
  }
  if (p.lit("pop_vlan")) {
    w.put_flag(OVS_ACTION_ATTR_POP_VLAN);
    return true;
  }
  if (p.lit("clone(")) {
    if (depth >= kMaxNesting) return p.error("clone nested too deeply");
    size_t c = w.begin_nested(OVS_ACTION_ATTR_CLONE);
    if (!parse_action_list(p, out, depth + 1, true)) return false;
    w.end_nested(c);
    return true;
  }
  return p.error("unknown or unsupported action");
}

// Actions separated by delimiters, up to the end of the text or, when
// 'nested', up to and including ')'.
bool parse_action_list(Parser& p, NlBuf* out, int depth, bool nested) {
  // An empty nested list prints as "clone(drop)"; accept it back (OVS's own
  // parser does not).
  p.skip_delims();
  if (nested && p.lit("drop)")) return true;
  for (;;) {
    p.skip_delims();
    if (nested && p.lit(")")) return true;
    if (p.eof()) return nested ? p.error("unterminated clone(...)") : true;
    if (!parse_action(p, out, depth)) return false;
    if (!p.at_delim_or_end() && !(nested && p.peek() == ')')) {
      return p.error("expected ',' after an action");
    }
  }
}

}  // namespace

int odp_flow_from_string(std::string_view s, NlBuf* key, NlBuf* mask, Ufid* ufid, bool* has_ufid,
                         std::string* err) {
  Parser p(s, err);
  if (has_ufid) *has_ufid = false;
  p.skip_delims();
  if (p.lit("ufid:")) {
    Ufid u;
    std::string_view r = p.rest();
    if (r.size() < 36 || !ufid_from_string(r.substr(0, 36), &u)) {
      p.error("malformed ufid");
      return EINVAL;
    }
    p.lit(r.substr(0, 36));
    if (!p.at_delim_or_end()) {
      p.error("expected ',' after the ufid");
      return EINVAL;
    }
    if (!ufid) {
      p.error("a ufid is not expected here");
      return EINVAL;
    }
    *ufid = u;
    if (has_ufid) *has_ufid = true;
  }
  for (;;) {
    p.skip_delims();
    if (p.eof()) return 0;
    if (!parse_key_attr(p, key, mask, 0)) return EINVAL;
    if (!p.at_delim_or_end()) {
      p.error("expected ',' after a key attribute");
      return EINVAL;
    }
  }
}

int odp_flow_from_string(std::string_view s, NlBuf* key, NlBuf* mask, std::string* err) {
  return odp_flow_from_string(s, key, mask, nullptr, nullptr, err);
}

std::string odp_flow_to_string(std::span<const uint8_t> key, std::span<const uint8_t> mask) {
  std::string o;
  format_flow(&o, key, mask, !mask.empty(), 0);
  return o;
}

int odp_actions_from_string(std::string_view s, NlBuf* actions, std::string* err) {
  std::string_view t = s;
  while (!t.empty() && kDelims.find(t.front()) != std::string_view::npos) t.remove_prefix(1);
  while (!t.empty() && kDelims.find(t.back()) != std::string_view::npos) t.remove_suffix(1);
  if (t.size() == 4 && strncasecmp(t.data(), "drop", 4) == 0) return 0;
  Parser p(s, err);
  size_t old = actions->size();
  if (!parse_action_list(p, actions, 0, false)) {
    actions->resize(old);
    return EINVAL;
  }
  return 0;
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

bool ufid_from_string(std::string_view s, Ufid* ufid) {
  if (s.size() != 36) return false;
  uint32_t nib[32];
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
      continue;
    }
    char c = s[i];
    if (!std::isxdigit(uint8_t(c))) return false;
    nib[n++] = std::isdigit(uint8_t(c)) ? uint32_t(c - '0') : uint32_t((c | 0x20) - 'a' + 10);
  }
  for (int w = 0; w < 4; ++w) {
    uint32_t v = 0;
    for (int j = 0; j < 8; ++j) v = v << 4 | nib[w * 8 + j];
    ufid->w[w] = v;
  }
  return true;
}

}  // namespace dpx
