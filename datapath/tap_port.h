// A port that is a Linux tap device: the way a container on the kernel
// network stack (or the bridge's local port, OVS's "internal" type) attaches
// to dpxd.
//
// The device is opened with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and the
// offloads TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, so the kernel hands dpxd
// TCP over IPv4 and IPv6 in segments of up to 64 KB with the checksum left
// undone, and takes them back the same way: TCP between two tap ports
// crosses the switch as 64 KB frames, and the kernel segments (or not, if
// the receiver is local) at the end. A virtio-net header in front of each
// frame carries the offload metadata; it is translated to and from DPDK's
// mbuf offload flags (the contract of Port::tx_offload_capa(), port.h): a
// GSO_TCPV4 or GSO_TCPV6 frame becomes RTE_MBUF_F_TX_TCP_SEG with
// RTE_MBUF_F_TX_IPV4 or RTE_MBUF_F_TX_IPV6, as vhost rx marks them. A TSO
// frame that must leave through a port without TSO is segmented in
// software (offload.h: rte_gso for IPv4, SwOffload's own segmenter for
// IPv6, since DPDK 22.11's rte_gso cannot cut TCP/IPv6). UFO and
// ECN-marked GSO are not offered (TUN_F_UFO, TUN_F_TSO_ECN): the kernel
// segments those itself.
//
// Options (PortConfig::options):
//   ifname=NAME  the kernel interface name (default: the port name;
//                at most 15 characters).
//   netns=NS     the network namespace to create the device in: a path
//                (/var/run/netns/X, /proc/PID/ns/net, as CNI's CNI_NETNS)
//                or a bare name under /var/run/netns.
//   gro=on|off   merge consecutive TCP/IPv4 segments of a connection in a
//                transmit burst into one GSO frame (tap_gro.h; default on,
//                since the device always negotiates TSO4). Counted as the
//                port's tx_gro_frames and tx_gro_segments (dpxctl show).
// and the datapath's mtu option. Any other option is refused.
//
// dpxd sets the link up when the port is added (and leaves addresses to the
// container's side): the port is usable as soon as it is configured, as an
// OVS internal port or a CNI-attached interface is expected to be. The
// device is not persistent: it disappears when the port is deleted or dpxd
// exits. dpxd keeps a socket in the namespace for device queries, which
// also keeps the namespace alive while the port exists.
//
// Queues: n_rxq (PortConfig::n_rxq, default 1) fds on one device; with more
// than one the device is opened with IFF_MULTI_QUEUE and the kernel spreads
// flows over them by hash. Each fd is an rx queue and a tx queue; with fewer
// queues than PMDs, PMDs share tx queues under the port's tx lock.
//
// The I/O is a system call per packet (readv/writev on the tap fd), as in
// OVS's netdev-linux: a tap fd is a kernel interface with no batched read,
// the one exception to the PMD's no-system-call rule. The calls are
// non-blocking and bounded by the burst size. On output, consecutive
// TCP/IPv4 segments of a connection are first merged into one GSO frame
// (tap_gro.h), so traffic that arrived cut to the MTU costs one write per
// merged frame, not per segment.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "port.h"

namespace dpx {

class TapPort final : public Port {
 public:
  // Control thread. Validates the options and creates the device (in its
  // namespace, link up, MTU set). Returns 0 and fills *out, or a positive
  // errno with *err set: EINVAL for an unknown or malformed option, else
  // what the system said (no such namespace, name in use, permission).
  static int create(uint32_t odp_port, PortConfig cfg, std::unique_ptr<TapPort>* out,
                    std::string* err);
  ~TapPort() override;

  int start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) override;
  void stop() override;
  uint16_t n_rxq() const override { return n_q_; }
  uint16_t n_txq() const override { return n_txq_; }
  uint16_t rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) override;
  uint16_t tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) override;
  uint64_t tx_offload_capa() const override;
  bool rx_offloads() const override { return true; }
  bool rx_polls_kernel() const override { return true; }
  void device_info(DeviceInfo* out) const override;

  const std::string& ifname() const { return ifname_; }

 private:
  TapPort(uint32_t odp_port, PortConfig cfg);
  static constexpr uint32_t kStash = 34;  // 64 KB + headers in 2 KB buffers
  // One queue of the device. Rx state is touched only by the PMD polling
  // the queue.
  struct alignas(64) Queue {
    int fd = -1;
    // Mbufs allocated ahead for the next readv(); a read consumes only as
    // many as the frame needs, the rest wait for the next one.
    uint32_t n_stash = 0;
    rte_mbuf* stash[kStash] = {};
  };
  // Allocates mbufs into q's stash until it can hold a maximal frame.
  bool refill_stash(Queue& q);

  std::string ifname_;
  int sock_ = -1;  // an AF_INET datagram socket in the device's namespace (ioctls)
  rte_mempool* pool_ = nullptr;
  uint16_t n_q_ = 1;
  uint16_t n_txq_ = 1;
  Queue q_[kMaxQueuesPerPort];
  // Counted by the PMD that owns the queue, read by the control thread.
  std::atomic<uint64_t> rx_bad_vnet_{0};      // frames with an unusable virtio-net header
  std::atomic<uint64_t> rx_errors_{0};        // read errors other than EAGAIN
  std::atomic<uint64_t> rx_nombuf_{0};        // bursts cut short by an empty pool
  std::atomic<uint64_t> tx_errors_{0};        // frames the kernel refused (link down, ...)
  bool gro_ = true;                           // merge TCP/IPv4 segments on output (tap_gro.h)
  std::atomic<uint64_t> tx_gro_frames_{0};    // frames written that were merged
  std::atomic<uint64_t> tx_gro_segments_{0};  // the segments merged into them
};

}  // namespace dpx
