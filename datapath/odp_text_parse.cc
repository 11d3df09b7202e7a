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
    if (sep == '(' && n == "geneve") {
      std::vector<uint8_t> gk, gm;
      std::string why;
      const size_t used = parse_geneve(p.rest(), &gk, &gm, &why);
      if (!used) return p.error(why);
      p.lit(p.rest().substr(0, used));
      kw.put(OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS, gk.data(), gk.size());
      mw.put(OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS, gm.data(), gm.size());
      return true;
    }
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
