// The control-thread side of tunnels: tunnel ports, local VTEP addresses,
// routes and neighbours, ARP, and the snapshots the PMDs read.
//
// The Datapath owns one TunnelControl and forwards to it the tunnel port
// kinds of port_add/port_del, the tunnel control messages (tunnel_msg.h),
// and its periodic tick. Every change to the underlay tables ends with a
// new UnderlaySnapshot published to TunnelShared (the old one is freed by
// RCU), which invalidates every PMD's encap templates at once.
//
// ARP and IPv6 Neighbour Discovery are spoken here, not in the fast path:
// PMDs hand over the ARP and ND frames for local VTEP addresses and report
// next hops they could not resolve (TunnelEvent); tick() answers requests for our addresses, learns
// the sender of every request and reply addressed to us, sends requests for unknown next hops,
// re-confirms aged entries, and forgets silent ones (neighbour.h). Packets go out through PMD 0's
// execute queue, as ovs-vswitchd's EXECUTE does: only PMDs ever transmit.
//
// Threading: every method runs on the control thread.
#pragma once

#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "control_msg.h"
#include "neighbour.h"
#include "pmd.h"
#include "port.h"
#include "rcu.h"
#include "tunnel_msg.h"
#include "tunnel_pmd.h"
#include "underlay.h"

namespace dpx {

class TunnelControl {
 public:
  struct Env {
    Rcu* rcu = nullptr;             // frees replaced snapshots
    rte_mempool* pool = nullptr;    // for ARP frames (with kMbufPrivSize private area)
    rte_ring* exec_ring = nullptr;  // PMD 0's execute queue; null: no ARP is sent
    uint32_t n_pmds = 0;
    // The datapath's ports, by name and by odp number (nullptr if none).
    std::function<Port*(const std::string&)> port_by_name;
    std::function<Port*(uint32_t)> port_by_odp;
    // Every PMD's tunnel counters (read by stats(); a reused counter slot is
    // zeroed when a new tunnel port takes it, once no PMD writes it).
    std::vector<TunnelPmdCounters*> counters;
    NeighbourTimers timers;
  };

  // Creates the event rings (one per PMD) and publishes an empty snapshot.
  static std::unique_ptr<TunnelControl> create(Env env, std::string* err);
  // Only once no PMD runs any more.
  ~TunnelControl();
  TunnelControl(const TunnelControl&) = delete;
  TunnelControl& operator=(const TunnelControl&) = delete;

  TunnelShared* shared() { return &shared_; }

  // ---- ports ----
  // Whether port_add's `type` is a tunnel port kind ("vxlan", "geneve").
  static bool is_tunnel_type(const std::string& type);
  // Builds a tunnel port from a PORT_ADD request: options dst_port=N
  // (default 4789 / 6081). EINVAL for a bad option, EEXIST if another
  // tunnel port has that UDP port, ENOSPC past kMaxTunnelPorts. The port is
  // not registered until port_added().
  int create_port(uint32_t odp, const PortAddRequest& req, std::unique_ptr<Port>* out,
                  std::string* err);
  // The port from create_port() is started and published: start decap and
  // encap for it.
  void port_added(const Port& port);
  // Port `odp` (of any kind) is about to go: a tunnel port stops being one;
  // an underlay port loses its VTEP addresses, routes and neighbours.
  void port_removing(uint32_t odp);
  // Whether `odp` holds a VTEP address (its rx bursts go through decap).
  bool is_underlay(uint32_t odp) const { return uports_.count(odp) != 0; }

  // ---- control messages (ControlHandler conventions) ----
  int tnl_ip_add(const TnlIpEntry& e, std::string* err);
  int tnl_ip_del(const TnlIpEntry& e, std::string* err);
  int tnl_ip_dump(std::vector<TnlIpEntry>* out, std::string* err);
  int route_add(const RouteEntry& e, std::string* err);
  int route_del(const RouteEntry& e, std::string* err);
  int route_dump(std::vector<RouteEntry>* out, std::string* err);
  int neigh_set(const NeighEntry& e, std::string* err);
  int neigh_flush(std::string* err);
  int neigh_dump(std::vector<NeighEntry>* out, std::string* err);
  // Sums the PMDs' tunnel counters.
  void stats(TnlStats* out) const;
  // Adds a tunnel port's decapsulated (rx) and encapsulated (tx) packets and
  // bytes to *out; nothing for other ports.
  void add_port_stats(uint32_t odp, PortStats* out) const;

  // Handles PMD events, ages neighbours, republishes if anything changed.
  void tick(uint64_t now_ms);

 private:
  struct TunnelPortEntry {
    std::string name;
    TunnelType type = TunnelType::kNone;
    uint16_t udp_port = 0;  // host order
    uint8_t slot = 0;
  };

  explicit TunnelControl(Env env);
  void publish();
  void handle_arp(uint32_t odp, rte_mbuf* m, uint64_t now_ms);
  // An ND frame the PMD punted: answers a Neighbour Solicitation for a VTEP
  // address of `odp` with an Advertisement (RFC 4861 7.2.4) and learns its
  // sender; learns the target of an Advertisement to us.
  void handle_nd(uint32_t odp, rte_mbuf* m, uint64_t now_ms);
  // Sends a Neighbour Solicitation for q.ip: to its solicited-node group, or
  // unicast to q.mac when probing.
  void send_solicit(const Neighbour6Table::Request& q);
  void send_request(const NeighbourTable::Request& r);
  // The VTEP address to speak ARP from towards `ip` on `odp` (be32), 0 if none.
  uint32_t source_for(uint32_t odp, uint32_t ip) const;
  void send_frame(uint32_t odp, const uint8_t* frame, uint32_t len);
  std::string port_name(uint32_t odp) const;
  // tnl_ip_add's checks of `p` and the underlay port entry for it (made if
  // new); 0 or an errno with *err.
  int attach_underlay(Port* p, std::string* err);
  // Forgets underlay port `odp` once it has no VTEP address of either family.
  void maybe_detach_underlay(uint32_t odp);
  int tnl_ip_add6(const TnlIpEntry& e, Port* p, std::string* err);
  int tnl_ip_del6(const TnlIpEntry& e, std::string* err);
  int route_add6(const RouteEntry& e, uint32_t odp, std::string* err);
  // route_add's answer to the table's add() result `rc` (publishing on
  // success); max_plen names the family's longest prefix in the error.
  int route_added(int rc, unsigned max_plen, std::string* err);

  Env env_;
  TunnelShared shared_;
  uint64_t generation_ = 0;
  std::map<uint32_t, TunnelPortEntry> tports_;  // by odp
  std::vector<VtepAddr> vteps_;
  std::vector<VtepAddr6> vteps6_;
  std::map<uint32_t, UnderlayPortInfo> uports_;  // ports with a VTEP address, by odp
  RouteTable routes_;
  Route6Table routes6_;
  NeighbourTable neigh_;
  Neighbour6Table neigh6_;  // filled by Neighbour Discovery and `neigh set`
  bool dirty_ = false;      // tables changed since the last publish()
  uint64_t now_ms_ = 0;
  // Per underlay odp: a job whose program is output(odp), for ARP frames.
  std::map<uint32_t, std::unique_ptr<ExecJob>> out_jobs_;
  // Control-side counters.
  uint64_t arp_requests_sent_ = 0, arp_replies_sent_ = 0, arp_learned_ = 0;
  uint64_t arp_ignored_ = 0, control_tx_failed_ = 0;
  uint64_t nd_adverts_sent_ = 0, nd_ignored_ = 0, nd_solicits_sent_ = 0, nd_learned_ = 0;
};

}  // namespace dpx
