// The datapath's ports: adding each kind (ethdev, tap, vhost-user, tunnel),
// removing, describing, and spreading rx queues over the PMDs. The rest of
// Datapath is in datapath.cc.
#include <rte_log.h>

#include <algorithm>
#include <cerrno>

#include "datapath.h"
#include "ethdev_port.h"
#include "tap_port.h"
#include "vhost_port.h"

namespace dpx {

namespace {

const std::vector<std::string> kKernelPortTypes{"afxdp", "afpacket"};

}  // namespace

Port* Datapath::find_port(const PortRef& ref) const {
  if (ref.odp_port) {
    auto it = by_odp_.find(*ref.odp_port);
    return it == by_odp_.end() ? nullptr : it->second.get();
  }
  for (auto& [odp, p] : by_odp_)
    if (p->name() == ref.name) return p.get();
  return nullptr;
}

// Rx queues are spread over the PMDs round robin, port by port, so that one
// port's queues land on different PMDs. Each PMD gets a new immutable list;
// the old lists are freed after a grace period.
void Datapath::republish_poll_lists() {
  std::vector<PollList*> lists;
  for (size_t i = 0; i < pmds_.size(); ++i) lists.push_back(new PollList);
  size_t next = 0;
  for (auto& [odp, p] : by_odp_) {
    for (uint16_t q = 0; q < p->n_rxq(); ++q) {
      lists[next]->entries.push_back({p.get(), q, tunnels_ && tunnels_->is_underlay(odp),
                                      p->rx_polls_kernel(), p->rx_offloads()});
      next = (next + 1) % pmds_.size();
    }
  }
  for (size_t i = 0; i < pmds_.size(); ++i) {
    const PollList* old = pmds_[i]->set_poll_list(lists[i]);
    rcu_->defer([old] { delete old; });
  }
}

int Datapath::port_add(const PortAddRequest& req, PortInfo* out, std::string* err) {
  if (req.name.empty()) {
    *err = "port name is empty";
    return EINVAL;
  }
  for (auto& [odp, p] : by_odp_) {
    if (p->name() == req.name) {
      *err = "a port named '" + req.name + "' exists (odp port " + std::to_string(odp) + ")";
      return EEXIST;
    }
  }
  uint32_t odp;
  if (req.odp_port) {
    odp = *req.odp_port;
    if (odp >= kMaxPorts) {
      *err = "odp port " + std::to_string(odp) + " is out of range (max " +
             std::to_string(kMaxPorts - 1) + ")";
      return EINVAL;
    }
    if (by_odp_.count(odp)) {
      *err = "odp port " + std::to_string(odp) + " is in use";
      return EEXIST;
    }
  } else {
    // Port 0 is the bridge's local port in OVS; it is only given on request.
    odp = 1;
    while (odp < kMaxPorts && by_odp_.count(odp)) ++odp;
    if (odp == kMaxPorts) {
      *err = "no free odp port number";
      return ENOSPC;
    }
  }
  if (TunnelControl::is_tunnel_type(req.type)) return tunnel_port_add(odp, req, out, err);
  PortConfig cfg;
  cfg.name = req.name;
  cfg.type = req.type;
  cfg.devargs = req.devargs;
  cfg.n_rxq =
      static_cast<uint16_t>(req.n_rxq ? std::min<uint32_t>(req.n_rxq, kMaxQueuesPerPort) : 1);
  for (const std::string& o : req.options) {
    const size_t eq = o.find('=');
    const std::string k = o.substr(0, eq), v = eq == std::string::npos ? "" : o.substr(eq + 1);
    if (k == "mtu") {
      try {
        cfg.mtu = static_cast<uint32_t>(std::stoul(v));
      } catch (const std::exception&) {
        *err = "option mtu: '" + v + "' is not a number";
        return EINVAL;
      }
    } else {
      cfg.options[k] = v;  // the port kind checks what it does not know
    }
  }
  if (cfg.type == "tap") return tap_port_add(odp, std::move(cfg), out, err);
  if (cfg.type == "dpdk") {
    if (cfg.devargs.empty()) {
      *err = "port type dpdk needs devargs (e.g. net_pcap0,rx_pcap=in.pcap or a PCI address)";
      return EINVAL;
    }
  } else if (std::find(kKernelPortTypes.begin(), kKernelPortTypes.end(), cfg.type) !=
             kKernelPortTypes.end()) {
    if (cfg.devargs.empty()) cfg.devargs = kernel_port_devargs(cfg);
  } else if (!VhostPort::is_vhost_type(cfg.type)) {
    *err = "port type '" + cfg.type +
           "' is not supported (supported: dpdk, afxdp, afpacket, tap, vhostuser, "
           "vhostuserclient)";
    return EOPNOTSUPP;
  }
  if (!cfg.options.empty()) {
    *err = "unknown port option '" + cfg.options.begin()->first + "' for port type " + cfg.type;
    return EINVAL;
  }
  std::unique_ptr<Port> port;
  if (VhostPort::is_vhost_type(cfg.type)) {
    // vhost/vhost_port.h; devargs is the socket path, which it checks.
    if (int rc = VhostPort::create(odp, cfg, rcu_.get(), &port, err); rc != 0) return rc;
  } else {
    port = EthdevPort::create(odp, cfg, err);
    if (!port) return ENODEV;
  }
  if (int rc = port->start(static_cast<uint16_t>(pmds_.size()), pool_, err); rc != 0) return rc;
  Port* raw = port.get();
  by_odp_[odp] = std::move(port);
  ports_.slots[odp].store(raw, std::memory_order_release);
  republish_poll_lists();
  RTE_LOG(INFO, USER1, "dpxd: added port %s (odp %u, %s)\n", raw->name().c_str(), odp,
          raw->config().devargs.c_str());
  fill_port_info(*raw, out);
  return 0;
}

// A tap device (tap_port.h), for a kernel-stack container or OVS's
// internal and tap ports.
int Datapath::tap_port_add(uint32_t odp, PortConfig cfg, PortInfo* out, std::string* err) {
  std::unique_ptr<TapPort> port;
  if (int rc = TapPort::create(odp, std::move(cfg), &port, err); rc != 0) return rc;
  if (int rc = port->start(static_cast<uint16_t>(pmds_.size()), pool_, err); rc != 0) return rc;
  Port* raw = port.get();
  by_odp_[odp] = std::move(port);
  ports_.slots[odp].store(raw, std::memory_order_release);
  republish_poll_lists();
  RTE_LOG(INFO, USER1, "dpxd: added tap port %s (odp %u)\n", raw->name().c_str(), odp);
  fill_port_info(*raw, out);
  return 0;
}

// A vxlan or geneve port (tunnels/tunnel_port.h): no device, no rx queue.
int Datapath::tunnel_port_add(uint32_t odp, const PortAddRequest& req, PortInfo* out,
                              std::string* err) {
  std::unique_ptr<Port> port;
  if (int rc = tunnels_->create_port(odp, req, &port, err); rc != 0) return rc;
  if (int rc = port->start(static_cast<uint16_t>(pmds_.size()), pool_, err); rc != 0) return rc;
  Port* raw = port.get();
  by_odp_[odp] = std::move(port);
  ports_.slots[odp].store(raw, std::memory_order_release);
  tunnels_->port_added(*raw);
  RTE_LOG(INFO, USER1, "dpxd: added tunnel port %s (odp %u, %s)\n", raw->name().c_str(), odp,
          req.type.c_str());
  fill_port_info(*raw, out);
  return 0;
}

int Datapath::port_del(const PortRef& ref, std::string* err) {
  Port* p = find_port(ref);
  if (!p) {
    *err = "no such port";
    return ENOENT;
  }
  const uint32_t odp = p->odp_port();
  tunnels_->port_removing(odp);
  ports_.slots[odp].store(nullptr, std::memory_order_release);
  std::unique_ptr<Port> owned = std::move(by_odp_[odp]);
  by_odp_.erase(odp);
  republish_poll_lists();
  // Wait until no PMD can still hold the port (in a poll list or a tx
  // batch), then stop and close it. Idle PMDs are offline and do not delay
  // this.
  rcu_->synchronize();
  RTE_LOG(INFO, USER1, "dpxd: removed port %s (odp %u)\n", owned->name().c_str(), odp);
  owned.reset();
  return 0;
}

void Datapath::fill_port_info(const Port& p, PortInfo* out) const {
  *out = {};
  out->odp_port = p.odp_port();
  out->name = p.name();
  out->type = p.config().type;
  out->devargs = p.config().devargs;
  out->n_rxq = p.n_rxq();
  out->n_txq = p.n_txq();
  Port::DeviceInfo di;
  p.device_info(&di);
  out->link_up = di.link_up;
  out->link_speed_mbps = di.link_speed_mbps;
  out->mtu = di.mtu;
  std::copy(di.mac, di.mac + 6, out->mac.begin());
  // Adds each queue's counters to out->queues and to the port's totals.
  auto add_queues = [out](const auto& counters, uint16_t n, bool tx, uint64_t* packets,
                          uint64_t* bytes, uint64_t* drops) {
    for (uint16_t q = 0; q < n; ++q) {
      const QueueCounters& c = counters[q];
      QueueStats qs{q, tx, c.packets.load(std::memory_order_relaxed),
                    c.bytes.load(std::memory_order_relaxed),
                    c.drops.load(std::memory_order_relaxed)};
      *packets += qs.packets;
      *bytes += qs.bytes;
      *drops += qs.drops;
      out->queues.push_back(qs);
    }
  };
  uint64_t rx_drops = di.hw_rx_missed + di.rx_nombuf;
  uint64_t tx_drops = 0;
  add_queues(p.rxq_counters, p.n_rxq(), false, &out->stats.rx_packets, &out->stats.rx_bytes,
             &rx_drops);
  add_queues(p.txq_counters, p.n_txq(), true, &out->stats.tx_packets, &out->stats.tx_bytes,
             &tx_drops);
  out->stats.rx_drops = rx_drops;
  out->stats.tx_drops = tx_drops;
  out->stats.rx_errors = di.hw_rx_errors;
  out->stats.tx_errors = di.hw_tx_errors;
  // A tunnel port's traffic is counted by the tunnel stages, not its queues.
  if (tunnels_) tunnels_->add_port_stats(p.odp_port(), &out->stats);
  out->drops.push_back({"rx_missed", di.hw_rx_missed});
  out->drops.push_back({"rx_nombuf", di.rx_nombuf});
  out->drops.push_back({"tx_queue_full", tx_drops});
  if (di.tx_gro) {
    out->counters.push_back({"tx_gro_frames", di.tx_gro_frames});
    out->counters.push_back({"tx_gro_segments", di.tx_gro_segments});
  }
}

int Datapath::port_get(const PortRef& ref, PortInfo* out, std::string* err) {
  Port* p = find_port(ref);
  if (!p) {
    *err = "no such port";
    return ENOENT;
  }
  fill_port_info(*p, out);
  return 0;
}

int Datapath::port_dump(std::vector<PortInfo>* out, std::string*) {
  out->clear();
  for (auto& [odp, p] : by_odp_) {
    out->emplace_back();
    fill_port_info(*p, &out->back());
  }
  return 0;
}

}  // namespace dpx
