// A tunnel port: `vxlan` or `geneve`, as ovs-vswitchd names them
// (vxlan_sys_4789), in the kernel datapath's flow-based model: one port per
// tunnel type and UDP port, every remote reached through it, with the
// remote, VNI and outer fields in the packet's tunnel metadata.
//
// The port itself moves no packets. Receiving is the underlay's job
// (tunnel_decap.h: a decapsulated packet arrives with in_port = this port);
// sending is the PMD's tunnel output (tunnel_encap.h), which the action
// executor reaches with the packet's metadata. So the port has no rx queues
// (it is never polled), and its tx_burst() accepts nothing: a packet that
// reaches it as a plain transmit (a flow that outputs to the tunnel port
// without set(tunnel)) has no metadata to encapsulate with and is dropped,
// counted as a tx drop of the port, like the kernel's vxlan device in
// collect_md mode drops a packet without tunnel info.
//
// Threading: as any Port (port.h).
#pragma once

#include <algorithm>
#include <string>

#include "port.h"
#include "tunnel_hdr.h"

namespace dpx {

class TunnelPort final : public Port {
 public:
  // udp_port in host order.
  TunnelPort(uint32_t odp_port, PortConfig cfg, TunnelType type, uint16_t udp_port)
      : Port(odp_port, std::move(cfg)), type_(type), udp_port_(udp_port) {}

  int start(uint16_t n_txq_wanted, rte_mempool*, std::string*) override {
    n_txq_ = std::clamp<uint16_t>(n_txq_wanted, 1, kMaxQueuesPerPort);
    tx_shared_ = n_txq_ < n_txq_wanted;
    return 0;
  }
  void stop() override {}
  uint16_t n_rxq() const override { return 0; }
  uint16_t n_txq() const override { return n_txq_; }
  uint16_t rx_burst(uint16_t, rte_mbuf**, uint16_t) override { return 0; }
  uint16_t tx_burst(uint16_t, rte_mbuf**, uint16_t) override { return 0; }
  void device_info(DeviceInfo* out) const override {
    *out = {};
    out->link_up = true;
  }

  TunnelType type() const { return type_; }
  uint16_t udp_port() const { return udp_port_; }

 private:
  const TunnelType type_;
  const uint16_t udp_port_;
  uint16_t n_txq_ = 1;
};

}  // namespace dpx
