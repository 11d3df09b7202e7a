#include "neighbour.h"

#include <cstring>

namespace dpx {

template <class Addr>
bool BasicNeighbourTable<Addr>::miss(uint32_t odp, const Addr& ip, uint64_t now_ms, Request* req) {
  auto [it, added] = entries_.try_emplace(key(odp, ip));
  if (!added) return false;
  Entry& e = it->second;
  e.odp = odp;
  e.ip = ip;
  e.state = State::kIncomplete;
  e.confirmed_ms = now_ms;
  e.last_request_ms = now_ms;
  e.probes = 1;
  *req = Request{odp, ip, false, {}};
  return true;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::learn(uint32_t odp, const Addr& ip, const uint8_t* mac,
                                      uint64_t now_ms) {
  auto [it, added] = entries_.try_emplace(key(odp, ip));
  Entry& e = it->second;
  if (e.state == State::kStatic) return false;
  const bool was_published = !added && e.state != State::kIncomplete;
  const bool changed = !was_published || std::memcmp(e.mac, mac, 6) != 0;
  e.odp = odp;
  e.ip = ip;
  std::memcpy(e.mac, mac, 6);
  e.state = State::kReachable;
  e.confirmed_ms = now_ms;
  e.probes = 0;
  return changed;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::set_static(uint32_t odp, const Addr& ip, const uint8_t* mac,
                                           uint64_t now_ms) {
  auto [it, added] = entries_.try_emplace(key(odp, ip));
  Entry& e = it->second;
  const bool changed = added || e.state == State::kIncomplete || std::memcmp(e.mac, mac, 6);
  e.odp = odp;
  e.ip = ip;
  std::memcpy(e.mac, mac, 6);
  e.state = State::kStatic;
  e.confirmed_ms = now_ms;
  e.probes = 0;
  return changed;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::flush() {
  bool changed = false;
  std::erase_if(entries_, [&](const auto& kv) {
    if (kv.second.state == State::kStatic) return false;
    changed |= kv.second.state != State::kIncomplete;
    return true;
  });
  return changed;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::remove_port(uint32_t odp) {
  bool changed = false;
  std::erase_if(entries_, [&](const auto& kv) {
    if (kv.second.odp != odp) return false;
    changed |= kv.second.state != State::kIncomplete;
    return true;
  });
  return changed;
}

template <class Addr>
bool BasicNeighbourTable<Addr>::tick(uint64_t now_ms, std::vector<Request>* reqs) {
  bool changed = false;
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& e = it->second;
    bool remove = false;
    switch (e.state) {
      case State::kStatic:
        break;
      case State::kReachable:
        if (now_ms - e.confirmed_ms >= t_.reachable_ms) {
          e.state = State::kProbe;
          e.probes = 1;
          e.last_request_ms = now_ms;
          reqs->push_back({e.odp, e.ip, true, {}});
          std::memcpy(reqs->back().mac, e.mac, 6);
        }
        break;
      case State::kProbe:
      case State::kIncomplete:
        if (now_ms - e.last_request_ms < t_.retrans_ms) break;
        if (e.probes >= t_.max_probes) {
          remove = true;
          changed |= e.state == State::kProbe;
          break;
        }
        e.probes++;
        e.last_request_ms = now_ms;
        reqs->push_back({e.odp, e.ip, e.state == State::kProbe, {}});
        std::memcpy(reqs->back().mac, e.mac, 6);
        break;
    }
    it = remove ? entries_.erase(it) : std::next(it);
  }
  return changed;
}

template <class Addr>
std::vector<typename BasicNeighbourTable<Addr>::Entry> BasicNeighbourTable<Addr>::list() const {
  std::vector<Entry> out;
  for (const auto& [k, e] : entries_) out.push_back(e);
  return out;
}

template class BasicNeighbourTable<uint32_t>;
template class BasicNeighbourTable<Ip6>;

namespace {

inline void put16(uint8_t* p, uint16_t host) {
  p[0] = static_cast<uint8_t>(host >> 8);
  p[1] = static_cast<uint8_t>(host);
}
inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

}  // namespace

bool arp_parse(const uint8_t* p, uint32_t len, ArpPacket* out) {
  if (len < 42 || get16(p + 12) != 0x0806) return false;
  const uint8_t* a = p + 14;
  if (get16(a) != 1 || get16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4) return false;
  std::memcpy(out->eth_dst, p, 6);
  std::memcpy(out->eth_src, p + 6, 6);
  out->op = get16(a + 6);
  std::memcpy(out->sha, a + 8, 6);
  std::memcpy(&out->spa, a + 14, 4);
  std::memcpy(out->tha, a + 18, 6);
  std::memcpy(&out->tpa, a + 24, 4);
  return true;
}

void arp_build(const ArpPacket& x, uint8_t* out) {
  eth_frame_start(out, kArpFrameLen, x.eth_dst, x.eth_src, 0x0806);
  uint8_t* a = out + 14;
  put16(a, 1);
  put16(a + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  put16(a + 6, x.op);
  std::memcpy(a + 8, x.sha, 6);
  std::memcpy(a + 14, &x.spa, 4);
  std::memcpy(a + 18, x.tha, 6);
  std::memcpy(a + 24, &x.tpa, 4);
}

namespace {

constexpr uint32_t kNdIcmpLen = 24;  // type, code, checksum, flags/reserved, target

// ICMPv6 checksum over the pseudo-header (RFC 8200 8.1) and `len` bytes at
// `icmp`, with the checksum field counted as it is.
uint16_t icmp6_sum(const Ip6& src, const Ip6& dst, const uint8_t* icmp, uint32_t len) {
  uint32_t sum = csum_add_bytes(0, src.data(), 16);
  sum = csum_add_bytes(sum, dst.data(), 16);
  sum += len + 58;
  return csum_finish(csum_add_bytes(sum, icmp, len));
}

}  // namespace

bool nd_parse(const uint8_t* p, uint32_t len, NdPacket* out) {
  if (len < 14 + 40 + kNdIcmpLen || get16(p + 12) != 0x86dd) return false;
  const uint8_t* ip = p + 14;
  const uint32_t plen = get16(ip + 4);
  if ((ip[0] >> 4) != 6 || ip[6] != 58 || ip[7] != 255) return false;
  if (plen < kNdIcmpLen || 14 + 40 + plen > len) return false;
  const uint8_t* icmp = ip + 40;
  if ((icmp[0] != kNdSolicit && icmp[0] != kNdAdvert) || icmp[1] != 0) return false;
  NdPacket n;
  std::memcpy(n.eth_dst, p, 6);
  std::memcpy(n.eth_src, p + 6, 6);
  std::memcpy(n.ip_src.data(), ip + 8, 16);
  std::memcpy(n.ip_dst.data(), ip + 24, 16);
  if (icmp6_sum(n.ip_src, n.ip_dst, icmp, plen) != 0) return false;
  n.type = icmp[0];
  n.flags = n.type == kNdAdvert ? icmp[4] : 0;
  std::memcpy(n.target.data(), icmp + 8, 16);
  if (n.target[0] == 0xff) return false;
  for (uint32_t off = kNdIcmpLen; off < plen;) {
    if (off + 2 > plen) return false;
    const uint32_t olen = icmp[off + 1] * 8u;
    if (olen == 0 || off + olen > plen) return false;
    const uint8_t want = n.type == kNdSolicit ? 1 : 2;  // source / target link-layer address
    if (icmp[off] == want && olen == 8) {
      n.has_lladdr = true;
      std::memcpy(n.lladdr, icmp + off + 2, 6);
    }
    off += olen;
  }
  if (n.type == kNdSolicit && n.ip_src == Ip6{} && n.has_lladdr) return false;
  if (n.type == kNdAdvert && n.ip_dst[0] == 0xff && (n.flags & kNdFlagSolicited)) return false;
  *out = n;
  return true;
}

void nd_build(const NdPacket& n, uint8_t* out) {
  eth_frame_start(out, kNdFrameLen, n.eth_dst, n.eth_src, 0x86dd);
  uint8_t* ip = out + 14;
  ip[0] = 0x60;
  put16(ip + 4, kNdIcmpLen + 8);
  ip[6] = 58;
  ip[7] = 255;
  std::memcpy(ip + 8, n.ip_src.data(), 16);
  std::memcpy(ip + 24, n.ip_dst.data(), 16);
  uint8_t* icmp = ip + 40;
  icmp[0] = n.type;
  if (n.type == kNdAdvert) icmp[4] = n.flags;
  std::memcpy(icmp + 8, n.target.data(), 16);
  icmp[24] = n.type == kNdSolicit ? 1 : 2;
  icmp[25] = 1;  // in units of 8 bytes
  std::memcpy(icmp + 26, n.lladdr, 6);
  put16(icmp + 2, icmp6_sum(n.ip_src, n.ip_dst, icmp, kNdIcmpLen + 8));
}

Ip6 solicited_node(const Ip6& a) {
  Ip6 g = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a[13], a[14], a[15]};
  return g;
}

void ipv6_multicast_mac(const Ip6& group, uint8_t* mac) {
  mac[0] = 0x33;
  mac[1] = 0x33;
  std::memcpy(mac + 2, group.data() + 12, 4);
}

}  // namespace dpx
