#include "tunnel_ctl.h"

#include <linux/openvswitch.h>
#include <rte_errno.h>
#include <rte_log.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "odp_actions.h"
#include "tunnel_port.h"

namespace dpx {

namespace {

constexpr uint32_t kEventRingSize = 1024;  // per PMD
constexpr uint32_t kEventsPerTick = 256;   // per PMD per tick
constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

uint32_t neigh_state(NeighbourTable::State s) {
  switch (s) {
    case NeighbourTable::State::kIncomplete:
      return DPX_NEIGH_INCOMPLETE;
    case NeighbourTable::State::kReachable:
      return DPX_NEIGH_REACHABLE;
    case NeighbourTable::State::kProbe:
      return DPX_NEIGH_PROBE;
    case NeighbourTable::State::kStatic:
      return DPX_NEIGH_STATIC;
  }
  return DPX_NEIGH_INCOMPLETE;
}

const char* type_name(TunnelType t) { return t == TunnelType::kVxlan ? "vxlan" : "geneve"; }

}  // namespace

std::unique_ptr<TunnelControl> TunnelControl::create(Env env, std::string* err) {
  std::unique_ptr<TunnelControl> t(new TunnelControl(std::move(env)));
  for (uint32_t i = 0; i < t->env_.n_pmds; ++i) {
    const std::string name = "dpx_tnl_ev_" + std::to_string(i);
    rte_ring* r = rte_ring_create_elem(name.c_str(), sizeof(TunnelEvent), kEventRingSize,
                                       SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) {
      *err = "cannot create tunnel event ring: " + std::string(rte_strerror(rte_errno));
      return nullptr;
    }
    t->shared_.events.push_back(r);
  }
  t->publish();
  return t;
}

TunnelControl::TunnelControl(Env env)
    : env_(std::move(env)), neigh_(env_.timers), neigh6_(env_.timers) {}

TunnelControl::~TunnelControl() {
  for (rte_ring* r : shared_.events) {
    TunnelEvent ev;
    while (rte_ring_sc_dequeue_elem(r, &ev, sizeof ev) == 0)
      if (ev.m) rte_pktmbuf_free(ev.m);
    rte_ring_free(r);
  }
  delete shared_.snapshot.exchange(nullptr);
  for (auto& [odp, job] : out_jobs_) free_action_program(job->program);
}

bool TunnelControl::is_tunnel_type(const std::string& type) {
  return type == "vxlan" || type == "geneve";
}

int TunnelControl::create_port(uint32_t odp, const PortAddRequest& req, std::unique_ptr<Port>* out,
                               std::string* err) {
  const TunnelType type = req.type == "vxlan" ? TunnelType::kVxlan : TunnelType::kGeneve;
  uint32_t udp_port = type == TunnelType::kVxlan ? kVxlanUdpPort : kGeneveUdpPort;
  for (const std::string& o : req.options) {
    const size_t eq = o.find('=');
    const std::string k = o.substr(0, eq), v = eq == std::string::npos ? "" : o.substr(eq + 1);
    if (k == "dst_port") {
      if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos ||
          (udp_port = static_cast<uint32_t>(std::stoul(v))) == 0 || udp_port > 65535) {
        *err = "option dst_port: '" + v + "' is not a UDP port (1..65535)";
        return EINVAL;
      }
    } else {
      *err = "unknown " + req.type + " port option '" + k + "' (supported: dst_port)";
      return EINVAL;
    }
  }
  if (!req.devargs.empty()) {
    *err = "tunnel ports take no devargs";
    return EINVAL;
  }
  for (const auto& [o, tp] : tports_) {
    if (tp.udp_port == udp_port) {
      *err = "tunnel port " + tp.name + " already uses UDP port " + std::to_string(udp_port);
      return EEXIST;
    }
  }
  if (tports_.size() >= UnderlaySnapshot::kMaxTunnelPorts) {
    *err = "at most " + std::to_string(UnderlaySnapshot::kMaxTunnelPorts) + " tunnel ports";
    return ENOSPC;
  }
  PortConfig cfg;
  cfg.name = req.name;
  cfg.type = req.type;
  *out = std::make_unique<TunnelPort>(odp, std::move(cfg), type, static_cast<uint16_t>(udp_port));
  return 0;
}

void TunnelControl::port_added(const Port& port) {
  const auto* tp = dynamic_cast<const TunnelPort*>(&port);
  if (!tp) return;
  uint8_t slot = 0;
  while (std::any_of(tports_.begin(), tports_.end(),
                     [&](const auto& kv) { return kv.second.slot == slot; }))
    ++slot;
  // No PMD writes this slot's counters: its previous port was unpublished
  // and a grace period passed before port_del returned.
  for (TunnelPmdCounters* c : env_.counters) {
    c->decap[slot].reset();
    c->encap[slot].reset();
  }
  tports_[port.odp_port()] = {port.name(), tp->type(), tp->udp_port(), slot};
  shared_.tunnel_slot[port.odp_port()].store(static_cast<uint8_t>(slot + 1),
                                             std::memory_order_release);
  publish();
}

void TunnelControl::port_removing(uint32_t odp) {
  if (tports_.erase(odp)) {
    shared_.tunnel_slot[odp].store(0, std::memory_order_release);
    dirty_ = true;
  }
  dirty_ |= neigh6_.remove_port(odp);
  if (uports_.erase(odp)) {
    std::erase_if(vteps_, [&](const VtepAddr& v) { return v.odp == odp; });
    std::erase_if(vteps6_, [&](const VtepAddr6& v) { return v.odp == odp; });
    neigh_.remove_port(odp);
    dirty_ = true;
  }
  if (routes_.size()) {
    const size_t before = routes_.size();
    routes_.remove_port(odp);
    dirty_ |= routes_.size() != before;
  }
  if (routes6_.size()) {
    const size_t before = routes6_.size();
    routes6_.remove_port(odp);
    dirty_ |= routes6_.size() != before;
  }
  if (dirty_) publish();
}

int TunnelControl::attach_underlay(Port* p, std::string* err) {
  if (tports_.count(p->odp_port())) return *err = "a tunnel port cannot be an underlay", EINVAL;
  if (vteps_.size() + vteps6_.size() >= UnderlaySnapshot::kMaxVteps)
    return *err = "too many VTEP addresses", ENOSPC;
  const uint32_t odp = p->odp_port();
  if (uports_.count(odp)) return 0;
  if (uports_.size() >= UnderlaySnapshot::kMaxUnderlayPorts)
    return *err = "too many underlay ports", ENOSPC;
  Port::DeviceInfo di;
  p->device_info(&di);
  UnderlayPortInfo u;
  u.odp = odp;
  std::memcpy(u.mac, di.mac, 6);
  u.mtu = di.mtu ? di.mtu : 1500;
  uports_[odp] = u;
  return 0;
}

void TunnelControl::maybe_detach_underlay(uint32_t odp) {
  auto on = [&](const auto& v) { return v.odp == odp; };
  if (std::none_of(vteps_.begin(), vteps_.end(), on) &&
      std::none_of(vteps6_.begin(), vteps6_.end(), on)) {
    uports_.erase(odp);
    neigh_.remove_port(odp);
    neigh6_.remove_port(odp);
  }
}

int TunnelControl::tnl_ip_add(const TnlIpEntry& e, std::string* err) {
  Port* p = env_.port_by_name(e.port);
  if (!p) return *err = "no port named '" + e.port + "'", ENOENT;
  if (e.v6) return tnl_ip_add6(e, p, err);
  if (e.addr == 0 || e.plen > 32) return *err = "bad address or prefix length", EINVAL;
  for (const VtepAddr& v : vteps_)
    if (v.ip == e.addr) return *err = ipv4_to_string(e.addr) + " is already a VTEP address", EEXIST;
  if (int rc = attach_underlay(p, err)) return rc;
  const uint32_t odp = p->odp_port();
  vteps_.push_back({e.addr, static_cast<uint8_t>(e.plen), odp});
  if (e.plen < 32) {
    Route r;
    r.plen = static_cast<uint8_t>(e.plen);
    r.prefix = e.addr & prefix_mask(r.plen);
    r.odp = odp;
    r.src = e.addr;
    r.connected = true;
    routes_.add(r);  // an existing route to the subnet stays as it is
  }
  RTE_LOG(INFO, USER1, "dpxd: VTEP address %s/%u on port %s\n", ipv4_to_string(e.addr).c_str(),
          e.plen, p->name().c_str());
  publish();
  return 0;
}

int TunnelControl::tnl_ip_add6(const TnlIpEntry& e, Port* p, std::string* err) {
  // Unspecified, multicast (ff00::/8) and loopback cannot be a tunnel endpoint.
  static const Ip6 kLoopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (ip6_is_zero(e.addr6) || e.addr6[0] == 0xff || e.addr6 == kLoopback || e.plen > 128)
    return *err = "bad address or prefix length", EINVAL;
  for (const VtepAddr6& v : vteps6_)
    if (v.ip == e.addr6)
      return *err = ipv6_to_string(e.addr6) + " is already a VTEP address", EEXIST;
  if (int rc = attach_underlay(p, err)) return rc;
  const uint32_t odp = p->odp_port();
  vteps6_.push_back({e.addr6, static_cast<uint8_t>(e.plen), odp});
  if (e.plen < 128) {
    Route6 r;
    r.plen = static_cast<uint8_t>(e.plen);
    r.prefix = ip6_masked(e.addr6, r.plen);
    r.odp = odp;
    r.src = e.addr6;
    r.connected = true;
    routes6_.add(r);  // an existing route to the subnet stays as it is
  }
  RTE_LOG(INFO, USER1, "dpxd: VTEP address %s/%u on port %s\n", ipv6_to_string(e.addr6).c_str(),
          e.plen, p->name().c_str());
  publish();
  return 0;
}

int TunnelControl::tnl_ip_del(const TnlIpEntry& e, std::string* err) {
  if (e.v6) return tnl_ip_del6(e, err);
  auto it = std::find_if(vteps_.begin(), vteps_.end(), [&](const VtepAddr& v) {
    return v.ip == e.addr && (e.port.empty() || port_name(v.odp) == e.port);
  });
  if (it == vteps_.end()) return *err = "no such VTEP address", ENOENT;
  const VtepAddr v = *it;
  vteps_.erase(it);
  routes_.remove_connected(v.ip & prefix_mask(v.plen), v.plen, v.odp);
  maybe_detach_underlay(v.odp);
  publish();
  return 0;
}

int TunnelControl::tnl_ip_del6(const TnlIpEntry& e, std::string* err) {
  auto it = std::find_if(vteps6_.begin(), vteps6_.end(), [&](const VtepAddr6& v) {
    return v.ip == e.addr6 && (e.port.empty() || port_name(v.odp) == e.port);
  });
  if (it == vteps6_.end()) return *err = "no such VTEP address", ENOENT;
  const VtepAddr6 v = *it;
  vteps6_.erase(it);
  routes6_.remove_connected(ip6_masked(v.ip, v.plen), v.plen, v.odp);
  maybe_detach_underlay(v.odp);
  publish();
  return 0;
}

int TunnelControl::tnl_ip_dump(std::vector<TnlIpEntry>* out, std::string*) {
  out->clear();
  for (const VtepAddr& v : vteps_) out->push_back({v.ip, v.plen, port_name(v.odp), v.odp});
  for (const VtepAddr6& v : vteps6_) {
    TnlIpEntry t{0, v.plen, port_name(v.odp), v.odp};
    t.v6 = true;
    t.addr6 = v.ip;
    out->push_back(std::move(t));
  }
  return 0;
}

int TunnelControl::route_add(const RouteEntry& e, std::string* err) {
  Port* p = env_.port_by_name(e.port);
  if (!p) return *err = "no port named '" + e.port + "'", ENOENT;
  if (tports_.count(p->odp_port())) return *err = "a tunnel port cannot be an underlay", EINVAL;
  if (e.v6) return route_add6(e, p->odp_port(), err);
  Route r;
  r.prefix = e.prefix;
  r.plen = static_cast<uint8_t>(e.plen);
  r.gateway = e.gateway;
  r.odp = p->odp_port();
  r.src = e.src;
  return route_added(routes_.add(r), 32, err);
}

int TunnelControl::route_add6(const RouteEntry& e, uint32_t odp, std::string* err) {
  Route6 r;
  r.prefix = e.prefix6;
  r.plen = static_cast<uint8_t>(e.plen);
  r.gateway = e.gateway6;
  r.odp = odp;
  r.src = e.src6;
  return route_added(routes6_.add(r), 128, err);
}

int TunnelControl::route_added(int rc, unsigned max_plen, std::string* err) {
  switch (rc) {
    case 0:
      break;
    case EEXIST:
      return *err = "a route to that prefix exists", EEXIST;
    default:
      return *err = "bad prefix (host bits set, or length over " + std::to_string(max_plen) + ")",
             EINVAL;
  }
  publish();
  return 0;
}

int TunnelControl::route_del(const RouteEntry& e, std::string* err) {
  if (e.v6) {
    if (routes6_.del(e.prefix6, static_cast<uint8_t>(e.plen)) != 0)
      return *err = "no such route", ENOENT;
    publish();
    return 0;
  }
  if (routes_.del(e.prefix, static_cast<uint8_t>(e.plen)) != 0)
    return *err = "no such route", ENOENT;
  publish();
  return 0;
}

int TunnelControl::route_dump(std::vector<RouteEntry>* out, std::string*) {
  out->clear();
  for (const Route& r : routes_.list())
    out->push_back({r.prefix, r.plen, r.gateway, port_name(r.odp), r.odp, r.src, r.connected});
  for (const Route6& r : routes6_.list()) {
    RouteEntry x{0, r.plen, 0, port_name(r.odp), r.odp, 0, r.connected};
    x.v6 = true;
    x.prefix6 = r.prefix;
    x.gateway6 = r.gateway;
    x.src6 = r.src;
    out->push_back(std::move(x));
  }
  return 0;
}

int TunnelControl::neigh_set(const NeighEntry& e, std::string* err) {
  Port* p = env_.port_by_name(e.port);
  if (!p) return *err = "no port named '" + e.port + "'", ENOENT;
  if (e.v6) {
    if (ip6_is_zero(e.addr6) || e.addr6[0] == 0xff) return *err = "bad address", EINVAL;
    if (neigh6_.set_static(p->odp_port(), e.addr6, e.mac.data(), now_ms_)) publish();
    return 0;
  }
  if (e.addr == 0) return *err = "bad address", EINVAL;
  if (neigh_.set_static(p->odp_port(), e.addr, e.mac.data(), now_ms_)) publish();
  return 0;
}

int TunnelControl::neigh_flush(std::string*) {
  const bool v4 = neigh_.flush();
  if (neigh6_.flush() || v4) publish();
  return 0;
}

int TunnelControl::neigh_dump(std::vector<NeighEntry>* out, std::string*) {
  out->clear();
  for (const auto& n : neigh_.list()) {
    NeighEntry e;
    e.addr = n.ip;
    std::memcpy(e.mac.data(), n.mac, 6);
    e.port = port_name(n.odp);
    e.odp = n.odp;
    e.state = neigh_state(n.state);
    e.age_ms = now_ms_ > n.confirmed_ms ? now_ms_ - n.confirmed_ms : 0;
    out->push_back(std::move(e));
  }
  for (const auto& n : neigh6_.list()) {
    NeighEntry e;
    e.v6 = true;
    e.addr6 = n.ip;
    std::memcpy(e.mac.data(), n.mac, 6);
    e.port = port_name(n.odp);
    e.odp = n.odp;
    e.state = neigh_state(n.state);
    e.age_ms = now_ms_ > n.confirmed_ms ? now_ms_ - n.confirmed_ms : 0;
    out->push_back(std::move(e));
  }
  return 0;
}

void TunnelControl::stats(TnlStats* out) const {
  *out = {};
  for (const auto& [odp, tp] : tports_) {
    TnlPortStats s;
    s.odp = odp;
    s.name = tp.name;
    s.type = type_name(tp.type);
    s.udp_port = tp.udp_port;
    for (const TunnelPmdCounters* c : env_.counters) {
      s.rx_packets += c->decap[tp.slot].packets.load(std::memory_order_relaxed);
      s.rx_bytes += c->decap[tp.slot].bytes.load(std::memory_order_relaxed);
      s.tx_packets += c->encap[tp.slot].packets.load(std::memory_order_relaxed);
      s.tx_bytes += c->encap[tp.slot].bytes.load(std::memory_order_relaxed);
    }
    out->ports.push_back(std::move(s));
  }
  for (size_t d = 0; d < kTunnelDropCount; ++d) {
    uint64_t n = 0;
    for (const TunnelPmdCounters* c : env_.counters) n += c->drops_of(static_cast<TunnelDrop>(d));
    out->counters.push_back({tunnel_drop_name(static_cast<TunnelDrop>(d)), n});
  }
  uint64_t punted = 0, resolves = 0, builds = 0;
  for (const TunnelPmdCounters* c : env_.counters) {
    punted += c->arp_punted.load(std::memory_order_relaxed);
    resolves += c->resolve_events.load(std::memory_order_relaxed);
    builds += c->template_builds.load(std::memory_order_relaxed);
  }
  out->counters.push_back({"arp_punted", punted});
  out->counters.push_back({"neighbour_misses_reported", resolves});
  out->counters.push_back({"encap_template_builds", builds});
  out->counters.push_back({"arp_requests_sent", arp_requests_sent_});
  out->counters.push_back({"arp_replies_sent", arp_replies_sent_});
  out->counters.push_back({"arp_learned", arp_learned_});
  out->counters.push_back({"arp_ignored", arp_ignored_});
  out->counters.push_back({"nd_solicits_sent", nd_solicits_sent_});
  out->counters.push_back({"nd_adverts_sent", nd_adverts_sent_});
  out->counters.push_back({"nd_learned", nd_learned_});
  out->counters.push_back({"nd_ignored", nd_ignored_});
  out->counters.push_back({"control_tx_failed", control_tx_failed_});
}

void TunnelControl::add_port_stats(uint32_t odp, PortStats* out) const {
  auto it = tports_.find(odp);
  if (it == tports_.end()) return;
  const uint8_t slot = it->second.slot;
  for (const TunnelPmdCounters* c : env_.counters) {
    out->rx_packets += c->decap[slot].packets.load(std::memory_order_relaxed);
    out->rx_bytes += c->decap[slot].bytes.load(std::memory_order_relaxed);
    out->tx_packets += c->encap[slot].packets.load(std::memory_order_relaxed);
    out->tx_bytes += c->encap[slot].bytes.load(std::memory_order_relaxed);
  }
}

void TunnelControl::tick(uint64_t now_ms) {
  now_ms_ = now_ms;
  for (rte_ring* r : shared_.events) {
    TunnelEvent ev;
    for (uint32_t i = 0; i < kEventsPerTick && rte_ring_sc_dequeue_elem(r, &ev, sizeof ev) == 0;
         ++i) {
      if (ev.kind == TunnelEvent::kArpPacket) {
        const uint8_t* f = rte_pktmbuf_mtod(ev.m, const uint8_t*);
        if (rte_pktmbuf_data_len(ev.m) >= 14 && f[12] == 0x86 && f[13] == 0xdd)
          handle_nd(ev.odp, ev.m, now_ms);
        else
          handle_arp(ev.odp, ev.m, now_ms);
      } else if (ev.kind == TunnelEvent::kResolve) {
        NeighbourTable::Request req;
        if (uports_.count(ev.odp) && neigh_.miss(ev.odp, ev.ip, now_ms, &req)) send_request(req);
      } else if (ev.kind == TunnelEvent::kResolve6) {
        Neighbour6Table::Request req;
        if (uports_.count(ev.odp) && neigh6_.miss(ev.odp, ev.ip6, now_ms, &req)) send_solicit(req);
      } else if (ev.m) {
        rte_pktmbuf_free(ev.m);
      }
    }
  }
  std::vector<NeighbourTable::Request> reqs;
  dirty_ |= neigh_.tick(now_ms, &reqs);
  for (const auto& r : reqs) send_request(r);
  std::vector<Neighbour6Table::Request> reqs6;
  dirty_ |= neigh6_.tick(now_ms, &reqs6);
  for (const auto& r : reqs6) send_solicit(r);
  if (dirty_) publish();
}

void TunnelControl::handle_arp(uint32_t odp, rte_mbuf* m, uint64_t now_ms) {
  ArpPacket a;
  const bool ok = arp_parse(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), &a);
  rte_pktmbuf_free(m);
  auto port = uports_.find(odp);
  // The PMD checked against the snapshot it had; the tables may have moved
  // on since.
  const bool ours = ok && port != uports_.end() &&
                    std::any_of(vteps_.begin(), vteps_.end(),
                                [&](const VtepAddr& v) { return v.ip == a.tpa && v.odp == odp; });
  if (!ours || a.spa == 0 || (a.sha[0] & 1)) {
    // Not for us any more, an ARP probe (sender 0.0.0.0, nothing to learn
    // or answer for duplicate detection of someone else's address) or a
    // multicast sender.
    ++arp_ignored_;
    return;
  }
  if (neigh_.learn(odp, a.spa, a.sha, now_ms)) dirty_ = true;
  ++arp_learned_;
  if (a.op == kArpRequest) {
    ArpPacket r;
    std::memcpy(r.eth_dst, a.sha, 6);
    std::memcpy(r.eth_src, port->second.mac, 6);
    r.op = kArpReply;
    std::memcpy(r.sha, port->second.mac, 6);
    r.spa = a.tpa;
    std::memcpy(r.tha, a.sha, 6);
    r.tpa = a.spa;
    uint8_t frame[kArpFrameLen];
    arp_build(r, frame);
    send_frame(odp, frame, sizeof frame);
    ++arp_replies_sent_;
  }
}

void TunnelControl::handle_nd(uint32_t odp, rte_mbuf* m, uint64_t now_ms) {
  NdPacket n;
  const bool ok = nd_parse(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_data_len(m), &n);
  rte_pktmbuf_free(m);
  auto port = uports_.find(odp);
  auto local = [&](const Ip6& a) {
    return std::any_of(vteps6_.begin(), vteps6_.end(),
                       [&](const VtepAddr6& v) { return v.ip == a && v.odp == odp; });
  };
  if (!ok || port == uports_.end()) {
    ++nd_ignored_;
    return;
  }
  if (n.type == kNdAdvert) {
    // An advertisement to one of our addresses (the PMD checked the
    // destination against the snapshot it had) with the target's address.
    if (!local(n.ip_dst) || !n.has_lladdr || (n.lladdr[0] & 1)) {
      ++nd_ignored_;
      return;
    }
    if (neigh6_.learn(odp, n.target, n.lladdr, now_ms)) dirty_ = true;
    ++nd_learned_;
    return;
  }
  if (!local(n.target)) {
    ++nd_ignored_;  // not for an address of this port any more
    return;
  }
  // The solicitation's sender, when it says who it is (not DAD).
  if (!ip6_is_zero(n.ip_src) && n.has_lladdr && !(n.lladdr[0] & 1)) {
    if (neigh6_.learn(odp, n.ip_src, n.lladdr, now_ms)) dirty_ = true;
    ++nd_learned_;
  }
  NdPacket a;
  a.type = kNdAdvert;
  a.target = n.target;
  a.ip_src = n.target;
  a.has_lladdr = true;
  std::memcpy(a.lladdr, port->second.mac, 6);
  std::memcpy(a.eth_src, port->second.mac, 6);
  if (ip6_is_zero(n.ip_src)) {
    // Duplicate address detection by someone else: tell all nodes, not
    // solicited (RFC 4861 7.2.4).
    a.ip_dst = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    a.flags = kNdFlagOverride;
    ipv6_multicast_mac(a.ip_dst, a.eth_dst);
  } else {
    a.ip_dst = n.ip_src;
    a.flags = kNdFlagSolicited | kNdFlagOverride;
    // To the solicitation's source link-layer address, else its Ethernet source.
    std::memcpy(a.eth_dst, n.has_lladdr ? n.lladdr : n.eth_src, 6);
  }
  uint8_t frame[kNdFrameLen];
  nd_build(a, frame);
  send_frame(odp, frame, sizeof frame);
  ++nd_adverts_sent_;
}

void TunnelControl::send_solicit(const Neighbour6Table::Request& q) {
  auto port = uports_.find(q.odp);
  // The source: a VTEP address of the port in the target's prefix, else its first.
  const VtepAddr6* src = nullptr;
  for (const VtepAddr6& v : vteps6_) {
    if (v.odp != q.odp) continue;
    if (!src || ip6_masked(v.ip, v.plen) == ip6_masked(q.ip, v.plen)) src = &v;
    if (ip6_masked(v.ip, v.plen) == ip6_masked(q.ip, v.plen)) break;
  }
  if (port == uports_.end() || !src) return;
  NdPacket s;
  s.type = kNdSolicit;
  s.target = q.ip;
  s.ip_src = src->ip;
  if (q.unicast) {
    s.ip_dst = q.ip;
    std::memcpy(s.eth_dst, q.mac, 6);
  } else {
    s.ip_dst = solicited_node(q.ip);
    ipv6_multicast_mac(s.ip_dst, s.eth_dst);
  }
  std::memcpy(s.eth_src, port->second.mac, 6);
  s.has_lladdr = true;
  std::memcpy(s.lladdr, port->second.mac, 6);
  uint8_t frame[kNdFrameLen];
  nd_build(s, frame);
  send_frame(q.odp, frame, sizeof frame);
  ++nd_solicits_sent_;
}

uint32_t TunnelControl::source_for(uint32_t odp, uint32_t ip) const {
  uint32_t first = 0;
  for (const VtepAddr& v : vteps_) {
    if (v.odp != odp) continue;
    if (!first) first = v.ip;
    if ((v.ip & prefix_mask(v.plen)) == (ip & prefix_mask(v.plen))) return v.ip;
  }
  return first;
}

void TunnelControl::send_request(const NeighbourTable::Request& q) {
  auto port = uports_.find(q.odp);
  const uint32_t src = source_for(q.odp, q.ip);
  if (port == uports_.end() || !src) return;
  ArpPacket r{};
  std::memcpy(r.eth_dst, q.unicast ? q.mac : kBroadcast, 6);
  std::memcpy(r.eth_src, port->second.mac, 6);
  r.op = kArpRequest;
  std::memcpy(r.sha, port->second.mac, 6);
  r.spa = src;
  r.tpa = q.ip;
  uint8_t frame[kArpFrameLen];
  arp_build(r, frame);
  send_frame(q.odp, frame, sizeof frame);
  ++arp_requests_sent_;
}

void TunnelControl::send_frame(uint32_t odp, const uint8_t* frame, uint32_t len) {
  if (!env_.exec_ring) {
    ++control_tx_failed_;
    return;
  }
  std::unique_ptr<ExecJob>& job = out_jobs_[odp];
  if (!job) {
    NlBuf attrs;
    NlWriter(&attrs).put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, odp);
    ActionProgram* prog = nullptr;
    std::string err;
    if (compile_actions(attrs, &prog, &err) != 0) {
      out_jobs_.erase(odp);
      ++control_tx_failed_;
      return;
    }
    job = std::make_unique<ExecJob>();
    job->program = prog;
    job->key.clear();
  }
  rte_mbuf* m = rte_pktmbuf_alloc(env_.pool);
  char* d = m ? rte_pktmbuf_append(m, static_cast<uint16_t>(len)) : nullptr;
  if (!d) {
    if (m) rte_pktmbuf_free(m);
    ++control_tx_failed_;
    return;
  }
  std::memcpy(d, frame, len);
  // The PMD only reads the job, and its `done` flag has no waiter here: a
  // job serves any number of frames in flight, and lives until shutdown.
  *static_cast<ExecJob**>(rte_mbuf_to_priv(m)) = job.get();
  if (rte_ring_enqueue(env_.exec_ring, m) != 0) {
    rte_pktmbuf_free(m);
    ++control_tx_failed_;
  }
}

std::string TunnelControl::port_name(uint32_t odp) const {
  Port* p = env_.port_by_odp(odp);
  return p ? p->name() : std::to_string(odp);
}

void TunnelControl::publish() {
  auto s = std::make_unique<UnderlaySnapshot>();
  s->generation = ++generation_;
  for (const VtepAddr& v : vteps_) s->vteps[s->n_vteps++] = v;
  for (const VtepAddr6& v : vteps6_) s->vteps6[s->n_vteps6++] = v;
  for (const auto& [odp, tp] : tports_) {
    s->tunnel_ports[s->n_tunnel_ports++] = {odp, tp.type, rte_cpu_to_be_16(tp.udp_port), tp.slot};
  }
  for (const auto& [odp, u] : uports_) s->ports[s->n_ports++] = u;
  s->routes = routes_;
  s->routes6 = routes6_;
  neigh_.for_each_resolved([&](const NeighbourTable::Entry& e) {
    NeighbourEntry n;
    n.odp = e.odp;
    n.ip = e.ip;
    std::memcpy(n.mac, e.mac, 6);
    s->neighbours.push_back(n);  // already in (odp, ip) order
  });
  neigh6_.for_each_resolved([&](const Neighbour6Table::Entry& e) {
    Neighbour6Entry n;
    n.odp = e.odp;
    n.ip = e.ip;
    std::memcpy(n.mac, e.mac, 6);
    s->neighbours6.push_back(n);  // already in (odp, ip) order
  });
  const UnderlaySnapshot* old = shared_.snapshot.exchange(s.release(), std::memory_order_acq_rel);
  if (old) env_.rcu->defer([old] { delete old; });
  dirty_ = false;
}

}  // namespace dpx
