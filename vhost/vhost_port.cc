// The vhost-user port's packet path and device facts. Creation, the socket
// and the rte_vhost callbacks are in vhost_events.cc.
#include "vhost_port.h"

#include <rte_ethdev.h>
#include <rte_vhost.h>

#include <algorithm>

namespace dpx {

namespace {

// Guest vrings of queue pair q: the guest receives on 2q, sends on 2q+1.
constexpr uint16_t kVirtioRxq = 0;
constexpr uint16_t kVirtioTxq = 1;

// A guest ring that is full now may have room a moment later (the guest
// consumes concurrently); retry a few times while the previous attempt made
// progress, as OVS does, before the rest counts as dropped.
constexpr int kEnqueueRetries = 4;

// The offload requests a packet carries, as the tx capability bit each needs.
uint64_t needed_capa(const rte_mbuf* m) {
  const uint64_t f = m->ol_flags;
  uint64_t need = 0;
  if (f & RTE_MBUF_F_TX_TCP_SEG) need |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
  switch (f & RTE_MBUF_F_TX_L4_MASK) {
    case RTE_MBUF_F_TX_TCP_CKSUM:
      need |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
      break;
    case RTE_MBUF_F_TX_UDP_CKSUM:
      need |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
      break;
    case RTE_MBUF_F_TX_SCTP_CKSUM:  // never offered to a guest
      need |= RTE_ETH_TX_OFFLOAD_SCTP_CKSUM;
      break;
    default:
      break;
  }
  return need;
}

}  // namespace

// The word: vid in bits 0-15, rx_qmask 16-31, tx_qmask 32-47, tx_capa
// 48-55, kAttached 63.
uint64_t VhostPort::DevState::pack() const {
  if (vid < 0) return 0;
  return kAttached | (static_cast<uint64_t>(vid) & 0xffff) | (uint64_t{rx_qmask} << 16) |
         (uint64_t{tx_qmask} << 32) | ((tx_capa & 0xff) << 48);
}

VhostPort::DevState VhostPort::DevState::unpack(uint64_t w) {
  DevState s;
  if (!(w & kAttached)) return s;
  s.vid = static_cast<int>(w & 0xffff);
  s.rx_qmask = static_cast<uint16_t>(w >> 16);
  s.tx_qmask = static_cast<uint16_t>(w >> 32);
  s.tx_capa = (w >> 48) & 0xff;
  return s;
}

bool VhostPort::refresh_rxqs() {
  const uint16_t g = guest_rxqs_.load(std::memory_order_relaxed);
  if (g <= n_rxq_) return false;
  n_rxq_ = g;
  return true;
}

bool VhostPort::is_vhost_type(const std::string& type) {
  return type == "vhostuser" || type == "vhostuserclient";
}

VhostPort::VhostPort(uint32_t odp_port, PortConfig cfg, Rcu* rcu, bool client)
    : Port(odp_port, std::move(cfg)), client_(client), rcu_(rcu) {}

int VhostPort::start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) {
  pool_ = pool;
  n_rxq_ = std::clamp<uint16_t>(config().n_rxq, 1, kMaxQueuesPerPort);
  n_txq_ = std::clamp<uint16_t>(n_txq_wanted, 1, kMaxQueuesPerPort);
  // Several PMDs may share a guest virtqueue; rte_vhost's per-vring lock
  // serialises them, so no port-level tx lock is needed.
  tx_shared_ = false;
  if (int rc = rte_vhost_driver_start(path().c_str()); rc != 0) {
    *err = "vhost-user port " + name() + ": cannot " +
           (client_ ? "set up the client connection to " : "listen on ") + path() +
           " (rte_vhost_driver_start failed; see dpxd's log)";
    return EIO;
  }
  return 0;
}

void VhostPort::stop() {
  // rte_vhost has no "stop": the socket lives until the port is destroyed
  // (~VhostPort unregisters it). The datapath stops polling a port before it
  // destroys it, so there is nothing to do here.
}

uint16_t VhostPort::rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  // Acquire pairs with the release store in new_device: the device's
  // set-up is visible before we use its vid.
  const DevState s = DevState::unpack(state_.load(std::memory_order_acquire));
  // A queue the guest did not enable is skipped here (rte_vhost would log
  // an error on every poll of a vring it has not set up).
  if (!((s.rx_qmask >> qid) & 1)) return 0;
  // Legacy offload flags (no RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS): a guest
  // TSO frame arrives as one mbuf chain with RTE_MBUF_F_TX_TCP_SEG,
  // tso_segsz and l2/l3/l4_len, a partial checksum with RTE_MBUF_F_TX_*_CKSUM:
  // port.h's contract for packets in the datapath.
  return rte_vhost_dequeue_burst(s.vid, static_cast<uint16_t>(2 * qid + kVirtioTxq), pool_, pkts,
                                 n);
}

uint16_t VhostPort::tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  const DevState s = DevState::unpack(state_.load(std::memory_order_acquire));
  if (s.tx_qmask == 0) return 0;  // no device or no queue enabled: the PMD counts drops
  // The PMD completed in software what tx_offload_capa() did not offer when
  // it built the batch; only a guest that reconnected since, with fewer
  // features, can make a request unserviceable. Send up to the first such
  // packet (rte_vhost would hand the guest a GSO or partial-checksum frame
  // it never agreed to take).
  uint16_t ok = 0;
  while (ok < n && (needed_capa(pkts[ok]) & ~s.tx_capa) == 0) ++ok;
  // Tx queue qid goes to the (qid mod k)-th of the k enabled guest queues:
  // clear that many lowest set bits, take the next.
  uint32_t mask = s.tx_qmask;
  for (unsigned skip = qid % static_cast<unsigned>(__builtin_popcount(mask)); skip; --skip)
    mask &= mask - 1;
  const uint16_t vq = static_cast<uint16_t>(2 * __builtin_ctz(mask) + kVirtioRxq);
  uint16_t sent = 0;
  for (int attempt = 0; attempt < kEnqueueRetries && sent < ok; ++attempt) {
    const uint16_t k = rte_vhost_enqueue_burst(s.vid, vq, pkts + sent, ok - sent);
    if (k == 0) break;
    sent = static_cast<uint16_t>(sent + k);
  }
  // rte_vhost copied what it accepted into guest memory; the mbufs are ours
  // to free. The rest stays with the caller (port.h).
  if (sent) rte_pktmbuf_free_bulk(pkts, sent);
  return sent;
}

uint64_t VhostPort::tx_offload_capa() const {
  const DevState s = DevState::unpack(state_.load(std::memory_order_acquire));
  // rte_vhost copies a chain into guest buffers like any packet, so chains
  // (a 64 KB TSO frame, a large frame from a tap) go whole.
  return s.attached() ? s.tx_capa | RTE_ETH_TX_OFFLOAD_MULTI_SEGS : 0;
}

void VhostPort::device_info(DeviceInfo* out) const {
  *out = {};
  const DevState s = DevState::unpack(state_.load(std::memory_order_acquire));
  out->link_up = s.attached() && s.rx_qmask && s.tx_qmask;
  // A virtio link has no speed of its own; report what OVS reports for
  // vhost-user (10 Gbps) while it is up, so rate-based tools have a figure.
  out->link_speed_mbps = out->link_up ? 10000 : 0;
  const uint32_t guest_mtu = guest_mtu_.load(std::memory_order_relaxed);
  out->mtu = config().mtu ? config().mtu : guest_mtu ? guest_mtu : 1500;
}

}  // namespace dpx
