#include "underlay.h"

#include <algorithm>
#include <cerrno>

namespace dpx {

namespace {

uint32_t host(uint32_t be) { return __builtin_bswap32(be); }

bool prefix_less(const Route& a, const Route& b) { return host(a.prefix) < host(b.prefix); }

}  // namespace

int RouteTable::add(const Route& r) {
  if (r.plen > 32 || (r.prefix & ~prefix_mask(r.plen))) return EINVAL;
  auto& v = by_plen_[r.plen];
  auto it = std::lower_bound(v.begin(), v.end(), r, prefix_less);
  if (it != v.end() && it->prefix == r.prefix) return EEXIST;
  v.insert(it, r);
  present_ |= uint64_t{1} << r.plen;
  return 0;
}

int RouteTable::del(uint32_t prefix, uint8_t plen) {
  if (plen > 32) return ENOENT;
  auto& v = by_plen_[plen];
  Route probe;
  probe.prefix = prefix;
  auto it = std::lower_bound(v.begin(), v.end(), probe, prefix_less);
  if (it == v.end() || it->prefix != prefix) return ENOENT;
  v.erase(it);
  if (v.empty()) present_ &= ~(uint64_t{1} << plen);
  return 0;
}

void RouteTable::remove_port(uint32_t odp) {
  for (uint8_t p = 0; p <= 32; ++p) {
    auto& v = by_plen_[p];
    std::erase_if(v, [&](const Route& r) { return r.odp == odp; });
    if (v.empty()) present_ &= ~(uint64_t{1} << p);
  }
}

void RouteTable::remove_connected(uint32_t prefix, uint8_t plen, uint32_t odp) {
  if (plen > 32) return;
  auto& v = by_plen_[plen];
  std::erase_if(v,
                [&](const Route& r) { return r.connected && r.prefix == prefix && r.odp == odp; });
  if (v.empty()) present_ &= ~(uint64_t{1} << plen);
}

const Route* RouteTable::lookup(uint32_t dst) const {
  uint64_t left = present_;
  while (left) {
    const int p = 63 - __builtin_clzll(left);
    left &= ~(uint64_t{1} << p);
    const auto& v = by_plen_[p];
    Route probe;
    probe.prefix = dst & prefix_mask(static_cast<uint8_t>(p));
    auto it = std::lower_bound(v.begin(), v.end(), probe, prefix_less);
    if (it != v.end() && it->prefix == probe.prefix) return &*it;
  }
  return nullptr;
}

std::vector<Route> RouteTable::list() const {
  std::vector<Route> out;
  for (int p = 32; p >= 0; --p) out.insert(out.end(), by_plen_[p].begin(), by_plen_[p].end());
  return out;
}

size_t RouteTable::size() const {
  size_t n = 0;
  for (const auto& v : by_plen_) n += v.size();
  return n;
}

Ip6 ip6_masked(const Ip6& a, uint8_t plen) {
  Ip6 m{};
  for (uint32_t i = 0; i < 16 && plen > i * 8; ++i) {
    const uint32_t bits = plen - i * 8;
    m[i] = bits >= 8 ? a[i] : static_cast<uint8_t>(a[i] & (0xff00u >> bits));
  }
  return m;
}

namespace {

bool prefix6_less(const Route6& a, const Route6& b) { return a.prefix < b.prefix; }

}  // namespace

int Route6Table::add(const Route6& r) {
  if (r.plen > 128 || ip6_masked(r.prefix, r.plen) != r.prefix) return EINVAL;
  auto& v = by_plen_[r.plen];
  auto it = std::lower_bound(v.begin(), v.end(), r, prefix6_less);
  if (it != v.end() && it->prefix == r.prefix) return EEXIST;
  v.insert(it, r);
  present_[r.plen / 64] |= uint64_t{1} << (r.plen % 64);
  return 0;
}

int Route6Table::del(const Ip6& prefix, uint8_t plen) {
  if (plen > 128) return ENOENT;
  auto& v = by_plen_[plen];
  Route6 probe;
  probe.prefix = prefix;
  auto it = std::lower_bound(v.begin(), v.end(), probe, prefix6_less);
  if (it == v.end() || it->prefix != prefix) return ENOENT;
  v.erase(it);
  if (v.empty()) present_[plen / 64] &= ~(uint64_t{1} << (plen % 64));
  return 0;
}

void Route6Table::remove_port(uint32_t odp) {
  for (uint32_t p = 0; p <= 128; ++p) {
    auto& v = by_plen_[p];
    std::erase_if(v, [&](const Route6& r) { return r.odp == odp; });
    if (v.empty()) present_[p / 64] &= ~(uint64_t{1} << (p % 64));
  }
}

void Route6Table::remove_connected(const Ip6& prefix, uint8_t plen, uint32_t odp) {
  if (plen > 128) return;
  auto& v = by_plen_[plen];
  std::erase_if(v,
                [&](const Route6& r) { return r.connected && r.prefix == prefix && r.odp == odp; });
  if (v.empty()) present_[plen / 64] &= ~(uint64_t{1} << (plen % 64));
}

const Route6* Route6Table::lookup(const Ip6& dst) const {
  for (int w = 2; w >= 0; --w) {
    uint64_t left = present_[w];
    while (left) {
      const int b = 63 - __builtin_clzll(left);
      left &= ~(uint64_t{1} << b);
      const auto p = static_cast<uint8_t>(w * 64 + b);
      const auto& v = by_plen_[p];
      Route6 probe;
      probe.prefix = ip6_masked(dst, p);
      auto it = std::lower_bound(v.begin(), v.end(), probe, prefix6_less);
      if (it != v.end() && it->prefix == probe.prefix) return &*it;
    }
  }
  return nullptr;
}

std::vector<Route6> Route6Table::list() const {
  std::vector<Route6> out;
  for (int p = 128; p >= 0; --p) out.insert(out.end(), by_plen_[p].begin(), by_plen_[p].end());
  return out;
}

size_t Route6Table::size() const {
  size_t n = 0;
  for (const auto& v : by_plen_) n += v.size();
  return n;
}

const NeighbourEntry* UnderlaySnapshot::neighbour(uint32_t odp, uint32_t ip) const {
  auto it = std::lower_bound(neighbours.begin(), neighbours.end(), std::pair{odp, host(ip)},
                             [](const NeighbourEntry& e, const std::pair<uint32_t, uint32_t>& k) {
                               return std::pair{e.odp, host(e.ip)} < k;
                             });
  if (it == neighbours.end() || it->odp != odp || it->ip != ip) return nullptr;
  return &*it;
}

uint32_t UnderlaySnapshot::vtep_of_port(uint32_t odp) const {
  for (uint32_t i = 0; i < n_vteps; ++i)
    if (vteps[i].odp == odp) return vteps[i].ip;
  return 0;
}

Ip6 UnderlaySnapshot::vtep6_of_port(uint32_t odp) const {
  for (uint32_t i = 0; i < n_vteps6; ++i)
    if (vteps6[i].odp == odp) return vteps6[i].ip;
  return {};
}

const Neighbour6Entry* UnderlaySnapshot::neighbour6(uint32_t odp, const Ip6& ip) const {
  auto it = std::lower_bound(neighbours6.begin(), neighbours6.end(), std::pair{odp, ip},
                             [](const Neighbour6Entry& e, const std::pair<uint32_t, Ip6>& k) {
                               return std::pair{e.odp, e.ip} < k;
                             });
  if (it == neighbours6.end() || it->odp != odp || it->ip != ip) return nullptr;
  return &*it;
}

TunnelDrop UnderlaySnapshot::resolve6(const Ip6& dst, const Ip6& src_hint, Resolution6* out) const {
  *out = {};
  const Route6* r = routes6.lookup(dst);
  if (!r) return TunnelDrop::kEncapNoRoute;
  out->odp = r->odp;
  out->next_hop = ip6_is_zero(r->gateway) ? dst : r->gateway;
  out->port = port(r->odp);
  out->src = !ip6_is_zero(src_hint) ? src_hint
             : !ip6_is_zero(r->src) ? r->src
                                    : vtep6_of_port(r->odp);
  if (!out->port || ip6_is_zero(out->src)) return TunnelDrop::kEncapNoVtep;
  const Neighbour6Entry* n = neighbour6(r->odp, out->next_hop);
  if (!n) return TunnelDrop::kEncapNeighbourUnresolved;
  out->mac = n->mac;
  return TunnelDrop::kCount;
}

TunnelDrop UnderlaySnapshot::resolve(uint32_t dst, uint32_t src_hint, Resolution* out) const {
  *out = {};
  const Route* r = routes.lookup(dst);
  if (!r) return TunnelDrop::kEncapNoRoute;
  out->odp = r->odp;
  out->next_hop = r->gateway ? r->gateway : dst;
  out->port = port(r->odp);
  out->src = src_hint ? src_hint : r->src ? r->src : vtep_of_port(r->odp);
  if (!out->port || !out->src) return TunnelDrop::kEncapNoVtep;
  const NeighbourEntry* n = neighbour(r->odp, out->next_hop);
  if (!n) return TunnelDrop::kEncapNeighbourUnresolved;
  out->mac = n->mac;
  return TunnelDrop::kCount;
}

}  // namespace dpx
