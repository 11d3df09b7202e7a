#include "tunnel_msg.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ctl_codec.h"

namespace dpx {

namespace {

using ctl::Reader;
using ctl::Writer;

void put_ip6(Writer& w, uint16_t t, const Ip6& a) { w.bytes(t, a.data(), a.size()); }

// Encoders of one nested object each.
void put_tnl_ip(Writer& w, const TnlIpEntry& e) {
  size_t c = w.begin(DPX_CTL_A_TNL_IP);
  if (e.v6)
    put_ip6(w, DPX_TNL_IP_A_ADDR, e.addr6);
  else
    w.addr(DPX_TNL_IP_A_ADDR, e.addr);
  w.u32(DPX_TNL_IP_A_PLEN, e.plen);
  w.str(DPX_TNL_IP_A_PORT_NAME, e.port);
  if (e.odp) w.u32(DPX_TNL_IP_A_PORT_NO, e.odp);
  w.end(c);
}

void put_route(Writer& w, const RouteEntry& e) {
  size_t c = w.begin(DPX_CTL_A_ROUTE);
  if (e.v6)
    put_ip6(w, DPX_ROUTE_A_PREFIX, e.prefix6);
  else
    w.addr(DPX_ROUTE_A_PREFIX, e.prefix);
  w.u32(DPX_ROUTE_A_PLEN, e.plen);
  if (e.v6 && !(e.gateway6 == Ip6{})) put_ip6(w, DPX_ROUTE_A_GATEWAY, e.gateway6);
  if (!e.v6 && e.gateway) w.addr(DPX_ROUTE_A_GATEWAY, e.gateway);
  if (!e.port.empty()) w.str(DPX_ROUTE_A_PORT_NAME, e.port);
  if (e.odp) w.u32(DPX_ROUTE_A_PORT_NO, e.odp);
  if (e.v6 && !(e.src6 == Ip6{})) put_ip6(w, DPX_ROUTE_A_SRC, e.src6);
  if (!e.v6 && e.src) w.addr(DPX_ROUTE_A_SRC, e.src);
  if (e.connected) w.u32(DPX_ROUTE_A_CONNECTED, 1);
  w.end(c);
}

void put_neigh(Writer& w, const NeighEntry& e) {
  size_t c = w.begin(DPX_CTL_A_NEIGH);
  if (e.v6)
    put_ip6(w, DPX_NEIGH_A_ADDR, e.addr6);
  else
    w.addr(DPX_NEIGH_A_ADDR, e.addr);
  w.bytes(DPX_NEIGH_A_MAC, e.mac.data(), 6);
  w.str(DPX_NEIGH_A_PORT_NAME, e.port);
  if (e.odp) w.u32(DPX_NEIGH_A_PORT_NO, e.odp);
  w.u32(DPX_NEIGH_A_STATE, e.state);
  w.u64(DPX_NEIGH_A_AGE_MS, e.age_ms);
  w.end(c);
}

// An address attribute of either family: 4 bytes into *v4, 16 into *v6.
// *fam is the family the entry's earlier addresses had (0 before the first);
// mixing them is refused.
bool get_addr(Reader& r, const NlAttr& a, uint32_t* v4, Ip6* v6, int* fam, const char* name) {
  const int f = a.payload.size() == 16 ? 6 : 4;
  if (*fam && *fam != f) return r.fail(std::string(name) + ": IPv4 and IPv6 addresses mixed");
  *fam = f;
  if (f == 4) return r.addr(a, v4, name);
  std::memcpy(v6->data(), a.payload.data(), 16);
  return true;
}

// The prefix length fits the family (checked once every attribute is in,
// since PLEN may come before the address).
bool plen_fits(Reader& r, uint32_t plen, bool v6) {
  if (plen <= (v6 ? 128u : 32u)) return true;
  return r.fail(v6 ? "PLEN must be 0..128" : "PLEN must be 0..32");
}

// Decoders of one nested object each; `request` marks the fields that only
// replies may carry as refused.
bool get_tnl_ip(std::span<const uint8_t> nest, TnlIpEntry* e, std::string* err) {
  *e = {};
  Reader r(nest, "TNL_IP", err);
  NlAttr a;
  int fam = 0;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_TNL_IP_A_ADDR:
        ok = get_addr(r, a, &e->addr, &e->addr6, &fam, "ADDR");
        break;
      case DPX_TNL_IP_A_PLEN:
        ok = r.u32(a, &e->plen, "PLEN");
        break;
      case DPX_TNL_IP_A_PORT_NAME:
        ok = r.str(a, &e->port, "PORT_NAME");
        break;
      case DPX_TNL_IP_A_PORT_NO:
        ok = r.u32(a, &e->odp, "PORT_NO");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return false;
  }
  e->v6 = fam == 6;
  return r.ok() && r.require(DPX_TNL_IP_A_ADDR, "ADDR") && r.require(DPX_TNL_IP_A_PLEN, "PLEN") &&
         r.require(DPX_TNL_IP_A_PORT_NAME, "PORT_NAME") && plen_fits(r, e->plen, e->v6);
}

bool get_route(std::span<const uint8_t> nest, RouteEntry* e, bool need_port, std::string* err) {
  *e = {};
  Reader r(nest, "ROUTE", err);
  NlAttr a;
  int fam = 0;
  while (r.next(&a)) {
    bool ok;
    uint32_t v = 0;
    switch (a.type) {
      case DPX_ROUTE_A_PREFIX:
        ok = get_addr(r, a, &e->prefix, &e->prefix6, &fam, "PREFIX");
        break;
      case DPX_ROUTE_A_PLEN:
        ok = r.u32(a, &e->plen, "PLEN");
        break;
      case DPX_ROUTE_A_GATEWAY:
        ok = get_addr(r, a, &e->gateway, &e->gateway6, &fam, "GATEWAY");
        break;
      case DPX_ROUTE_A_PORT_NAME:
        ok = r.str(a, &e->port, "PORT_NAME");
        break;
      case DPX_ROUTE_A_PORT_NO:
        ok = r.u32(a, &e->odp, "PORT_NO");
        break;
      case DPX_ROUTE_A_SRC:
        ok = get_addr(r, a, &e->src, &e->src6, &fam, "SRC");
        break;
      case DPX_ROUTE_A_CONNECTED:
        ok = r.u32(a, &v, "CONNECTED") && (v <= 1 || r.fail("CONNECTED must be 0 or 1"));
        e->connected = v;
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return false;
  }
  e->v6 = fam == 6;
  return r.ok() && r.require(DPX_ROUTE_A_PREFIX, "PREFIX") && r.require(DPX_ROUTE_A_PLEN, "PLEN") &&
         (!need_port || r.require(DPX_ROUTE_A_PORT_NAME, "PORT_NAME")) &&
         plen_fits(r, e->plen, e->v6);
}

bool get_neigh(std::span<const uint8_t> nest, NeighEntry* e, std::string* err) {
  *e = {};
  Reader r(nest, "NEIGH", err);
  NlAttr a;
  int fam = 0;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_NEIGH_A_ADDR:
        ok = get_addr(r, a, &e->addr, &e->addr6, &fam, "ADDR");
        break;
      case DPX_NEIGH_A_MAC:
        ok = r.mac(a, &e->mac, "MAC");
        break;
      case DPX_NEIGH_A_PORT_NAME:
        ok = r.str(a, &e->port, "PORT_NAME");
        break;
      case DPX_NEIGH_A_PORT_NO:
        ok = r.u32(a, &e->odp, "PORT_NO");
        break;
      case DPX_NEIGH_A_STATE:
        ok = r.u32(a, &e->state, "STATE") &&
             (e->state <= DPX_NEIGH_STATIC || r.fail("STATE out of range"));
        break;
      case DPX_NEIGH_A_AGE_MS:
        ok = r.u64(a, &e->age_ms, "AGE_MS");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return false;
  }
  e->v6 = fam == 6;
  return r.ok() && r.require(DPX_NEIGH_A_ADDR, "ADDR") && r.require(DPX_NEIGH_A_MAC, "MAC") &&
         r.require(DPX_NEIGH_A_PORT_NAME, "PORT_NAME");
}

// A body holding exactly one nested attribute of type `type`.
int single(std::span<const uint8_t> body, uint16_t type, const char* what,
           std::span<const uint8_t>* nest, std::string* err) {
  NlIter it(body);
  NlAttr a;
  int n = 0;
  while (it.next(&a)) {
    if (a.type != type) {
      *err = std::string(what) + ": unexpected attribute " + std::to_string(a.type);
      return EINVAL;
    }
    *nest = a.payload;
    ++n;
  }
  if (!it.ok()) {
    *err = std::string(what) + ": malformed attribute framing";
    return EINVAL;
  }
  if (n != 1) {
    *err = std::string(what) + ": exactly one " + what + " attribute expected";
    return EINVAL;
  }
  return 0;
}

// A body of any number of nested attributes of type `type`.
template <class T, class Get>
int list(std::span<const uint8_t> body, uint16_t type, const char* what, std::vector<T>* out,
         std::string* err, Get get) {
  out->clear();
  NlIter it(body);
  NlAttr a;
  while (it.next(&a)) {
    if (a.type != type) {
      *err = std::string(what) + " list: unexpected attribute " + std::to_string(a.type);
      return EINVAL;
    }
    T e;
    if (!get(a.payload, &e, err)) return EINVAL;
    out->push_back(std::move(e));
  }
  if (!it.ok()) {
    *err = std::string(what) + " list: malformed attribute framing";
    return EINVAL;
  }
  return 0;
}

}  // namespace

int encode_tnl_ip(const TnlIpEntry& e, NlBuf* b) {
  Writer w(b);
  put_tnl_ip(w, e);
  return w.result();
}

int decode_tnl_ip_request(std::span<const uint8_t> body, TnlIpEntry* out, std::string* err) {
  std::span<const uint8_t> nest;
  if (int e = single(body, DPX_CTL_A_TNL_IP, "TNL_IP", &nest, err)) return e;
  return get_tnl_ip(nest, out, err) ? 0 : EINVAL;
}

int encode_tnl_ip_list(std::span<const TnlIpEntry> v, NlBuf* b) {
  Writer w(b);
  for (const auto& e : v) put_tnl_ip(w, e);
  return w.result();
}

int decode_tnl_ip_list(std::span<const uint8_t> body, std::vector<TnlIpEntry>* out,
                       std::string* err) {
  return list(body, DPX_CTL_A_TNL_IP, "TNL_IP", out, err, get_tnl_ip);
}

int encode_route(const RouteEntry& e, NlBuf* b) {
  Writer w(b);
  put_route(w, e);
  return w.result();
}

int decode_route_request(std::span<const uint8_t> body, RouteEntry* out, bool need_port,
                         std::string* err) {
  std::span<const uint8_t> nest;
  if (int e = single(body, DPX_CTL_A_ROUTE, "ROUTE", &nest, err)) return e;
  return get_route(nest, out, need_port, err) ? 0 : EINVAL;
}

int encode_route_list(std::span<const RouteEntry> v, NlBuf* b) {
  Writer w(b);
  for (const auto& e : v) put_route(w, e);
  return w.result();
}

int decode_route_list(std::span<const uint8_t> body, std::vector<RouteEntry>* out,
                      std::string* err) {
  return list(body, DPX_CTL_A_ROUTE, "ROUTE", out, err,
              [](std::span<const uint8_t> n, RouteEntry* e, std::string* er) {
                return get_route(n, e, false, er);
              });
}

int encode_neigh(const NeighEntry& e, NlBuf* b) {
  Writer w(b);
  put_neigh(w, e);
  return w.result();
}

int decode_neigh_request(std::span<const uint8_t> body, NeighEntry* out, std::string* err) {
  std::span<const uint8_t> nest;
  if (int e = single(body, DPX_CTL_A_NEIGH, "NEIGH", &nest, err)) return e;
  return get_neigh(nest, out, err) ? 0 : EINVAL;
}

int encode_neigh_list(std::span<const NeighEntry> v, NlBuf* b) {
  Writer w(b);
  for (const auto& e : v) put_neigh(w, e);
  return w.result();
}

int decode_neigh_list(std::span<const uint8_t> body, std::vector<NeighEntry>* out,
                      std::string* err) {
  return list(body, DPX_CTL_A_NEIGH, "NEIGH", out, err, get_neigh);
}

int encode_tnl_stats(const TnlStats& s, NlBuf* b) {
  Writer w(b);
  for (const auto& p : s.ports) {
    size_t c = w.begin(DPX_CTL_A_TNL_PORT);
    w.u32(DPX_TNL_PORT_A_NO, p.odp);
    w.str(DPX_TNL_PORT_A_NAME, p.name);
    w.str(DPX_TNL_PORT_A_TYPE, p.type);
    w.u32(DPX_TNL_PORT_A_UDP_PORT, p.udp_port);
    w.u64(DPX_TNL_PORT_A_RX_PACKETS, p.rx_packets);
    w.u64(DPX_TNL_PORT_A_RX_BYTES, p.rx_bytes);
    w.u64(DPX_TNL_PORT_A_TX_PACKETS, p.tx_packets);
    w.u64(DPX_TNL_PORT_A_TX_BYTES, p.tx_bytes);
    w.end(c);
  }
  for (const auto& k : s.counters) {
    size_t c = w.begin(DPX_CTL_A_TNL_COUNTER);
    w.str(DPX_TNL_COUNTER_A_NAME, k.name);
    w.u64(DPX_TNL_COUNTER_A_VALUE, k.value);
    w.end(c);
  }
  return w.result();
}

int decode_tnl_stats(std::span<const uint8_t> body, TnlStats* out, std::string* err) {
  *out = {};
  NlIter it(body);
  NlAttr a;
  while (it.next(&a)) {
    if (a.type == DPX_CTL_A_TNL_PORT) {
      TnlPortStats p;
      Reader r(a.payload, "TNL_PORT", err);
      NlAttr f;
      while (r.next(&f)) {
        bool ok;
        switch (f.type) {
          case DPX_TNL_PORT_A_NO:
            ok = r.u32(f, &p.odp, "NO");
            break;
          case DPX_TNL_PORT_A_NAME:
            ok = r.str(f, &p.name, "NAME");
            break;
          case DPX_TNL_PORT_A_TYPE:
            ok = r.str(f, &p.type, "TYPE");
            break;
          case DPX_TNL_PORT_A_UDP_PORT:
            ok = r.u32(f, &p.udp_port, "UDP_PORT");
            break;
          case DPX_TNL_PORT_A_RX_PACKETS:
            ok = r.u64(f, &p.rx_packets, "RX_PACKETS");
            break;
          case DPX_TNL_PORT_A_RX_BYTES:
            ok = r.u64(f, &p.rx_bytes, "RX_BYTES");
            break;
          case DPX_TNL_PORT_A_TX_PACKETS:
            ok = r.u64(f, &p.tx_packets, "TX_PACKETS");
            break;
          case DPX_TNL_PORT_A_TX_BYTES:
            ok = r.u64(f, &p.tx_bytes, "TX_BYTES");
            break;
          default:
            ok = r.unknown(f);
        }
        if (!ok) return EINVAL;
      }
      if (!r.ok() || !r.require(DPX_TNL_PORT_A_NO, "NO") || !r.require(DPX_TNL_PORT_A_NAME, "NAME"))
        return EINVAL;
      out->ports.push_back(std::move(p));
    } else if (a.type == DPX_CTL_A_TNL_COUNTER) {
      TnlCounter k;
      Reader r(a.payload, "TNL_COUNTER", err);
      NlAttr f;
      while (r.next(&f)) {
        bool ok = f.type == DPX_TNL_COUNTER_A_NAME    ? r.str(f, &k.name, "NAME")
                  : f.type == DPX_TNL_COUNTER_A_VALUE ? r.u64(f, &k.value, "VALUE")
                                                      : r.unknown(f);
        if (!ok) return EINVAL;
      }
      if (!r.ok() || !r.require(DPX_TNL_COUNTER_A_NAME, "NAME") ||
          !r.require(DPX_TNL_COUNTER_A_VALUE, "VALUE"))
        return EINVAL;
      out->counters.push_back(std::move(k));
    } else {
      *err = "TNL_STATS: unexpected attribute " + std::to_string(a.type);
      return EINVAL;
    }
  }
  if (!it.ok()) {
    *err = "TNL_STATS: malformed attribute framing";
    return EINVAL;
  }
  return 0;
}

bool parse_ipv4(const std::string& s, uint32_t* out) {
  in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  *out = a.s_addr;
  return true;
}

bool parse_ipv4_prefix(const std::string& s, uint32_t* addr, uint32_t* plen) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) {
    *plen = 32;
    return parse_ipv4(s, addr);
  }
  const std::string p = s.substr(slash + 1);
  if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos)
    return false;
  *plen = static_cast<uint32_t>(std::stoul(p));
  return *plen <= 32 && parse_ipv4(s.substr(0, slash), addr);
}

std::string ipv4_to_string(uint32_t be) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{be};
  return inet_ntop(AF_INET, &a, buf, sizeof buf) ? buf : "?";
}

bool parse_ipv6(const std::string& s, Ip6* out) {
  in6_addr a;
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return false;
  std::memcpy(out->data(), &a, 16);
  return true;
}

bool parse_ipv6_prefix(const std::string& s, Ip6* addr, uint32_t* plen) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) {
    *plen = 128;
    return parse_ipv6(s, addr);
  }
  const std::string p = s.substr(slash + 1);
  if (p.empty() || p.size() > 3 || p.find_first_not_of("0123456789") != std::string::npos)
    return false;
  *plen = static_cast<uint32_t>(std::stoul(p));
  return *plen <= 128 && parse_ipv6(s.substr(0, slash), addr);
}

std::string ipv6_to_string(const Ip6& x) {
  char buf[INET6_ADDRSTRLEN];
  in6_addr a;
  std::memcpy(&a, x.data(), 16);
  return inet_ntop(AF_INET6, &a, buf, sizeof buf) ? buf : "?";
}

bool parse_mac(const std::string& s, std::array<uint8_t, 6>* out) {
  unsigned v[6];
  char tail;
  if (s.size() != 17 || std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2],
                                    &v[3], &v[4], &v[5], &tail) != 6)
    return false;
  for (int i = 0; i < 6; ++i) (*out)[i] = static_cast<uint8_t>(v[i]);
  return true;
}

std::string mac_to_string(const uint8_t* m) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

}  // namespace dpx
