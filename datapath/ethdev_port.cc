#include "ethdev_port.h"

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dpx {

namespace {

constexpr uint16_t kRxDesc = 1024;
constexpr uint16_t kTxDesc = 1024;

std::string devargs_name(const std::string& devargs) {
  return devargs.substr(0, devargs.find(','));
}

int err_ret(std::string* err, int e, std::string msg) {
  *err = std::move(msg);
  return e;
}

}  // namespace

std::string kernel_port_devargs(const PortConfig& cfg) {
  // The vdev names carry the port name so two ports never collide and the
  // device is recognisable in DPDK's own logs.
  if (cfg.type == "afxdp") return "net_af_xdp_" + cfg.name + ",iface=" + cfg.name;
  if (cfg.type == "afpacket") return "net_af_packet_" + cfg.name + ",iface=" + cfg.name;
  return "";
}

std::unique_ptr<EthdevPort> EthdevPort::create(uint32_t odp_port, PortConfig cfg,
                                               std::string* err) {
  if (cfg.devargs.empty()) {
    *err = "port " + cfg.name + ": no devargs given";
    return nullptr;
  }
  const std::string name = devargs_name(cfg.devargs);
  uint16_t pid;
  bool probed = false;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
    if (int rc = rte_dev_probe(cfg.devargs.c_str()); rc < 0) {
      *err = "cannot probe device '" + cfg.devargs + "': " + std::strerror(-rc);
      return nullptr;
    }
    probed = true;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
      *err = "device '" + name + "' probed but no ethdev of that name appeared";
      return nullptr;
    }
  }
  return std::unique_ptr<EthdevPort>(new EthdevPort(odp_port, std::move(cfg), pid, probed));
}

EthdevPort::EthdevPort(uint32_t odp_port, PortConfig cfg, uint16_t port_id, bool probed_by_us)
    : Port(odp_port, std::move(cfg)), port_id_(port_id), probed_by_us_(probed_by_us) {}

EthdevPort::~EthdevPort() {
  stop();
  rte_eth_dev_info info;
  rte_device* dev = nullptr;
  if (rte_eth_dev_info_get(port_id_, &info) == 0) dev = info.device;
  rte_eth_dev_close(port_id_);
  if (probed_by_us_ && dev) rte_dev_remove(dev);
}

int EthdevPort::start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) {
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(port_id_, &info); rc != 0)
    return err_ret(err, -rc, "rte_eth_dev_info_get: " + std::string(std::strerror(-rc)));
  n_rxq_ = std::min<uint16_t>(
      {config().n_rxq ? config().n_rxq : uint16_t(1), info.max_rx_queues, kMaxQueuesPerPort});
  n_txq_ = std::min<uint16_t>({n_txq_wanted, info.max_tx_queues, kMaxQueuesPerPort});
  if (n_rxq_ == 0 || n_txq_ == 0) return err_ret(err, EINVAL, "device has no rx or tx queues");
  tx_shared_ = n_txq_ < n_txq_wanted;

  rte_eth_conf conf{};
  if (n_rxq_ > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  if (int rc = rte_eth_dev_configure(port_id_, n_rxq_, n_txq_, &conf); rc != 0)
    return err_ret(err, -rc, "rte_eth_dev_configure: " + std::string(std::strerror(-rc)));
  uint16_t nrx = kRxDesc, ntx = kTxDesc;
  rte_eth_dev_adjust_nb_rx_tx_desc(port_id_, &nrx, &ntx);
  const int socket = rte_eth_dev_socket_id(port_id_);
  for (uint16_t q = 0; q < n_rxq_; ++q) {
    if (int rc = rte_eth_rx_queue_setup(port_id_, q, nrx, socket, nullptr, pool); rc != 0)
      return err_ret(err, -rc, "rx queue setup: " + std::string(std::strerror(-rc)));
  }
  for (uint16_t q = 0; q < n_txq_; ++q) {
    if (int rc = rte_eth_tx_queue_setup(port_id_, q, ntx, socket, nullptr); rc != 0)
      return err_ret(err, -rc, "tx queue setup: " + std::string(std::strerror(-rc)));
  }
  if (config().mtu) {
    if (int rc = rte_eth_dev_set_mtu(port_id_, config().mtu); rc != 0)
      return err_ret(err, -rc, "cannot set MTU " + std::to_string(config().mtu));
  }
  if (int rc = rte_eth_dev_start(port_id_); rc != 0)
    return err_ret(err, -rc, "rte_eth_dev_start: " + std::string(std::strerror(-rc)));
  started_ = true;
  // A switch port receives every frame; devices that cannot (net_null)
  // report ENOTSUP, which is harmless.
  rte_eth_promiscuous_enable(port_id_);
  return 0;
}

void EthdevPort::stop() {
  if (!started_) return;
  rte_eth_dev_stop(port_id_);
  started_ = false;
}

uint16_t EthdevPort::rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  return rte_eth_rx_burst(port_id_, qid, pkts, n);
}

uint16_t EthdevPort::tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  return rte_eth_tx_burst(port_id_, qid, pkts, n);
}

void EthdevPort::device_info(DeviceInfo* out) const {
  *out = {};
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port_id_, &link) == 0) {
    out->link_up = link.link_status == RTE_ETH_LINK_UP;
    out->link_speed_mbps = link.link_speed;
  }
  uint16_t mtu = 0;
  if (rte_eth_dev_get_mtu(port_id_, &mtu) == 0) out->mtu = mtu;
  rte_ether_addr mac{};
  if (rte_eth_macaddr_get(port_id_, &mac) == 0) std::memcpy(out->mac, mac.addr_bytes, 6);
  rte_eth_stats st{};
  if (rte_eth_stats_get(port_id_, &st) == 0) {
    out->hw_rx_packets = st.ipackets;
    out->hw_rx_bytes = st.ibytes;
    out->hw_rx_missed = st.imissed;
    out->hw_rx_errors = st.ierrors;
    out->hw_tx_packets = st.opackets;
    out->hw_tx_bytes = st.obytes;
    out->hw_tx_errors = st.oerrors;
    out->rx_nombuf = st.rx_nombuf;
  }
}

}  // namespace dpx
