// A port backed by any DPDK ethdev, probed at run time from devargs:
// a PCI NIC, net_pcap, net_null, net_ring, net_af_xdp, net_af_packet,
// net_tap, ... Hot-plugged with rte_dev_probe() and removed with
// rte_dev_remove(), so ports come and go without restarting dpxd.
#pragma once

#include <memory>

#include "port.h"

namespace dpx {

class EthdevPort final : public Port {
 public:
  // Control thread. Probes the device named by cfg.devargs (or finds an
  // already-probed ethdev of that name). Returns nullptr with *err set when
  // the devargs are invalid or the device does not come up.
  static std::unique_ptr<EthdevPort> create(uint32_t odp_port, PortConfig cfg, std::string* err);
  ~EthdevPort() override;

  int start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) override;
  void stop() override;
  uint16_t n_rxq() const override { return n_rxq_; }
  uint16_t n_txq() const override { return n_txq_; }
  uint16_t rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) override;
  uint16_t tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) override;
  void device_info(DeviceInfo* out) const override;

  uint16_t port_id() const { return port_id_; }

 private:
  EthdevPort(uint32_t odp_port, PortConfig cfg, uint16_t port_id, bool probed_by_us);

  uint16_t port_id_;
  bool probed_by_us_;  // we hot-plugged it, so we remove it
  bool started_ = false;
  uint16_t n_rxq_ = 0;
  uint16_t n_txq_ = 0;
};

// The devargs dpxd uses for the port kinds that wrap a kernel interface:
// "afxdp" -> net_af_xdp on IFACE, "afpacket" -> net_af_packet. Returns ""
// for kinds whose devargs the user gives directly. (Type "tap" is dpxd's own
// TapPort, tap_port.h; DPDK's net_tap is still reachable as type dpdk.)
std::string kernel_port_devargs(const PortConfig& cfg);

}  // namespace dpx
