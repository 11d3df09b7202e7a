// The port interface: one kind of port per implementation (DPDK ethdev now;
// vhost-user, tap and tunnel ports plug in the same way).
//
// Threading: a Port is created, started, stopped and destroyed by the
// control thread. rx_burst() and tx_burst() are called by PMD threads only,
// and only on queues the datapath assigned to them (each rx queue is polled
// by exactly one PMD; each PMD has its own tx queue unless the port has
// fewer tx queues than PMDs, in which case tx_shared() is true and the
// caller serialises with the port's tx lock). A port is destroyed only after
// an RCU grace period has passed since it was unpublished, so a PMD never
// holds a pointer to a dead port.
#pragma once

#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dpx {

inline constexpr uint32_t kMaxPorts = 1024;  // odp port numbers are below this
inline constexpr uint16_t kMaxQueuesPerPort = 16;

// Counters one PMD keeps for one queue. Single writer (the PMD that owns the
// queue), read by the control thread: relaxed atomics compile to plain
// loads and stores on x86 and make the concurrent read well-defined.
struct alignas(64) QueueCounters {
  std::atomic<uint64_t> packets{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> drops{0};  // tx: device did not accept; rx: extraction drops

  void add(uint64_t p, uint64_t b) {
    packets.store(packets.load(std::memory_order_relaxed) + p, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + b, std::memory_order_relaxed);
  }
  void drop(uint64_t n) {
    drops.store(drops.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void reset() {
    packets.store(0, std::memory_order_relaxed);
    bytes.store(0, std::memory_order_relaxed);
    drops.store(0, std::memory_order_relaxed);
  }
};

struct PortConfig {
  std::string name;     // unique, e.g. "p0", "vxlan_sys_4789"
  std::string type;     // "dpdk", "afxdp", "afpacket", "tap", ...
  std::string devargs;  // DPDK device arguments for ethdev-based kinds
  uint16_t n_rxq = 1;
  uint32_t mtu = 0;  // 0: leave the device default
  // Options only one port kind understands ("key" -> "value"), e.g. a tap
  // port's network namespace. The kind rejects any it does not know.
  std::map<std::string, std::string> options;
};

class Port {
 public:
  Port(uint32_t odp_port, PortConfig cfg) : odp_port_(odp_port), cfg_(std::move(cfg)) {}
  virtual ~Port() = default;
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  uint32_t odp_port() const { return odp_port_; }
  const PortConfig& config() const { return cfg_; }
  const std::string& name() const { return cfg_.name; }

  // Control thread. Returns 0 or a positive errno and fills *err.
  virtual int start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) = 0;
  virtual void stop() = 0;

  virtual uint16_t n_rxq() const = 0;
  virtual uint16_t n_txq() const = 0;

  // PMD threads. Return how many packets were received / accepted; the
  // caller keeps ownership of packets tx_burst() did not accept.
  virtual uint16_t rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) = 0;
  virtual uint16_t tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) = 0;

  // Offloads this port's tx_burst() accepts, as RTE_ETH_TX_OFFLOAD_* bits
  // (TCP_TSO, TCP_CKSUM, UDP_CKSUM, IPV4_CKSUM). Packets in the datapath may
  // carry DPDK's tx offload requests in ol_flags (RTE_MBUF_F_TX_TCP_SEG with
  // tso_segsz and l2/l3/l4_len: one large TCP segment still to be cut;
  // RTE_MBUF_F_TX_*_CKSUM: the L4 checksum field holds only the pseudo-header
  // sum). Before a batch goes to a port without the offload, the PMD does the
  // work in software. The PMD reads it once per tx batch: a vhost-user port's
  // changes when its guest reconnects with other features.
  virtual uint64_t tx_offload_capa() const { return 0; }
  // Whether rx_burst() may return packets with such offload requests (or
  // chains of mbufs). A PMD that polls no such port skips every offload
  // check on its transmit path. Constant while the port is started.
  virtual bool rx_offloads() const { return false; }
  // Whether an rx_burst() that finds nothing still costs a system call (a
  // tap fd's read()). A PMD polls such a queue less often while it stays
  // empty, so an idle tap does not tax every other port's packets; see
  // Pmd::run().
  virtual bool rx_polls_kernel() const { return false; }
  // Control thread, called every tick (about once a millisecond). A port
  // whose rx queues follow its peer (a vhost-user guest that enables more
  // queue pairs) adopts the new n_rxq() here and returns true; the datapath
  // then republishes the poll lists. n_rxq() never shrinks while the port
  // exists, so its queues' counters (and the port's totals) never go back.
  virtual bool refresh_rxqs() { return false; }

  // Control thread: device-level facts for `show` and OVS statistics.
  struct DeviceInfo {
    bool link_up = false;
    uint32_t link_speed_mbps = 0;
    uint32_t mtu = 0;
    uint8_t mac[6] = {};
    uint64_t hw_rx_packets = 0, hw_rx_bytes = 0, hw_rx_missed = 0, hw_rx_errors = 0;
    uint64_t hw_tx_packets = 0, hw_tx_bytes = 0, hw_tx_errors = 0;
    uint64_t rx_nombuf = 0;
    // Output coalescing (tap ports, tap_gro.h): whether the port merges, and
    // how many merged frames it wrote from how many segments.
    bool tx_gro = false;
    uint64_t tx_gro_frames = 0, tx_gro_segments = 0;
  };
  virtual void device_info(DeviceInfo* out) const = 0;

  // Datapath-side counters, per queue (written by PMDs).
  std::array<QueueCounters, kMaxQueuesPerPort> rxq_counters;
  std::array<QueueCounters, kMaxQueuesPerPort> txq_counters;
  // Taken by PMDs around tx_burst() only when tx_shared().
  rte_spinlock_t tx_lock = RTE_SPINLOCK_INITIALIZER;
  bool tx_shared() const { return tx_shared_; }

 protected:
  bool tx_shared_ = false;

 private:
  const uint32_t odp_port_;
  const PortConfig cfg_;
};

}  // namespace dpx
