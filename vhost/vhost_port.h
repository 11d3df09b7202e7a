// A vhost-user port on DPDK's rte_vhost library (not the net_vhost PMD), for
// DPDK containers (virtio-user) and VMs (QEMU's vhost-user netdev). Two kinds,
// as OVS names them without the "dpdk" prefix:
//
//   vhostuser        server mode: dpxd creates the Unix socket at the path
//                    given as devargs and the guest connects to it.
//   vhostuserclient  client mode: the guest (QEMU server=on, virtio-user
//                    server=1) owns the socket; dpxd connects, and reconnects
//                    whenever the socket reappears (RTE_VHOST_USER_CLIENT
//                    with rte_vhost's reconnection thread).
//
// Queues: rx queue q of the port is the guest's queue pair q, whose tx
// virtqueue is vring 2q+1. The port has at least n_rxq rx queues and grows
// to every queue pair the guest enables (vring_state_changed; the control
// thread adopts the new count in refresh_rxqs() and the datapath spreads
// the new queues over the PMDs). A queue the guest has not enabled is
// skipped by rx_burst(). The port has one tx queue per PMD, mapped onto
// the guest's enabled rx virtqueues (vring 2q): tx queue t goes to the
// (t mod k)-th of the k enabled ones. Two PMDs that land on one virtqueue
// are serialised by rte_vhost's own per-vring lock, so the port is never
// tx_shared().
//
// Threading, beyond port.h: rte_vhost calls new_device, destroy_device,
// vring_state_changed and the connection callbacks on its own threads
// ("vhost-events", and "vhost-reconn" in client mode), never on the control
// thread or a PMD, except that destroy_device also runs on the control
// thread inside rte_vhost_driver_unregister() when a connected port is
// removed. The attached device is published to PMDs in one atomic word
// (`state_`); destroy_device unpublishes it and waits for an RCU grace period
// before it returns, so no PMD is inside rte_vhost_enqueue/dequeue_burst on a
// vid that rte_vhost is about to free (vhost_events.cc has the argument).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "port.h"
#include "rcu.h"

namespace dpx {

class VhostPort final : public Port {
 public:
  // True for "vhostuser" and "vhostuserclient".
  static bool is_vhost_type(const std::string& type);

  // Control thread. Checks the socket path (cfg.devargs) and registers it
  // with rte_vhost; the socket is created (server) or connected to (client)
  // by start(). `rcu` is the datapath's: its readers are the PMDs. Returns 0
  // with *out set, or EINVAL / EEXIST / an errno of the socket layer with
  // *err saying why.
  static int create(uint32_t odp_port, PortConfig cfg, Rcu* rcu, std::unique_ptr<Port>* out,
                    std::string* err);
  // Unregisters the socket (the server socket file is removed), which
  // detaches a connected guest first.
  ~VhostPort() override;

  int start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) override;
  void stop() override;
  uint16_t n_rxq() const override { return n_rxq_; }
  // Adopts the queue pairs the guest has enabled so far (never fewer).
  bool refresh_rxqs() override;
  uint16_t n_txq() const override { return n_txq_; }
  uint16_t rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) override;
  // Copies the packets into the guest's buffers and frees the ones it
  // accepted. Accepts nothing while no device is attached; fewer than n when
  // the guest's ring is full (the PMD counts the rest as tx drops).
  uint16_t tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) override;
  // TCP_TSO, TCP_CKSUM, UDP_CKSUM as the attached guest negotiated
  // (GUEST_TSO4 and GUEST_TSO6, GUEST_CSUM), and MULTI_SEGS; 0 while none
  // is attached. Unlike other ports
  // this changes when a guest reconnects with other features, so read it per
  // batch; tx_burst() refuses a packet whose request the current guest
  // cannot take.
  uint64_t tx_offload_capa() const override;
  // A guest that negotiated HOST_TSO4/6 or CSUM sends large TCP segments and
  // partial checksums, and frames over one mbuf arrive as chains.
  bool rx_offloads() const override { return true; }
  void device_info(DeviceInfo* out) const override;

  // The attached device as PMDs see it, packed into one word so that a
  // reader gets the vid, the enabled queues and the offloads of one and the
  // same device. 0: none attached.
  struct DevState {
    int vid = -1;           // below 2^16 (rte_vhost has at most 1024 devices)
    uint16_t rx_qmask = 0;  // bit q: the guest's tx vring 2q+1 is enabled (we dequeue)
    uint16_t tx_qmask = 0;  // bit q: the guest's rx vring 2q is enabled (we enqueue)
    uint64_t tx_capa = 0;   // RTE_ETH_TX_OFFLOAD_* the guest can take (within 0xff)
    static constexpr uint64_t kAttached = 1ULL << 63;
    uint64_t pack() const;
    static DevState unpack(uint64_t w);
    bool attached() const { return vid >= 0; }
  };

 private:
  friend struct VhostEvents;  // the rte_vhost callbacks (vhost_events.cc)

  VhostPort(uint32_t odp_port, PortConfig cfg, Rcu* rcu, bool client);

  const std::string& path() const { return config().devargs; }
  bool registered_ = false;  // rte_vhost_driver_register succeeded
  const bool client_;
  Rcu* const rcu_;
  rte_mempool* pool_ = nullptr;
  uint16_t n_rxq_ = 0;
  uint16_t n_txq_ = 0;

  // Written by the vhost threads, read by PMDs and the control thread.
  std::atomic<uint64_t> state_{0};
  // Per vring (2 per queue pair): enabled by the guest, whether or not a
  // device is attached yet (rte_vhost reports enablement before and after
  // new_device). Written under the registry mutex by the vhost threads; the
  // masks of state_ are built from it.
  std::array<std::atomic<bool>, 2 * kMaxQueuesPerPort> vring_enabled_{};
  // Queue pairs the guest has enabled so far (highest + 1), for
  // refresh_rxqs(); only grows.
  std::atomic<uint16_t> guest_rxqs_{0};
  std::atomic<uint32_t> guest_mtu_{0};  // 0: the frontend gave none
};

}  // namespace dpx
