// The vhost-user port's control side: socket registration and removal, and
// the rte_vhost callbacks that attach and detach guest devices.
//
// Why a guest detaching can never make a PMD touch freed memory
// ---------------------------------------------------------------
// PMDs read `VhostPort::state_` (vid, queue pairs, offloads) once per burst
// call and use the vid only inside that call, which lies between two of the
// PMD's RCU quiescent points (pmd.cc reports one at the end of every
// iteration, and goes offline before it sleeps). rte_vhost frees a device's
// virtqueues and unmaps guest memory only after destroy_device returns
// (connection close, GET_VRING_BASE, RESET_OWNER, driver unregister).
// destroy_device
//   1. stores state_ = 0 (seq_cst), then
//   2. rte_rcu_qsbr_synchronize(): its rte_rcu_qsbr_start() increments the
//      token with release ordering after the store of step 1, and it returns
//      only when every online PMD has stored a quiescent counter >= that
//      token (release) and we have loaded it (acquire), or the PMD is offline.
// A PMD burst that loaded the old state_ therefore ended before that PMD's
// next quiescent point, which happens-before synchronize() returns. A burst
// that starts after that quiescent point follows the PMD's acquire load of
// the new token, which is ordered after our store of 0, so it reads 0 (or a
// later device's state) and never the old vid. A PMD that comes back online
// does so with a seq_cst fence in rte_rcu_qsbr_thread_online() and is
// covered the same way.
//
// Deadlock freedom: a PMD waits for nothing but rte_vhost's per-virtqueue
// locks, inside enqueue/dequeue. rte_vhost calls destroy_device with no
// virtqueue lock held (it deliberately does not lock the queues for
// GET_VRING_BASE and RESET_OWNER, so that the application may wait for its
// PMDs there). vring_state_changed, by contrast, may run with every virtqueue
// lock of its device held, so it only stores a flag and never waits; it does
// take the registry mutex g_mu, so nobody may hold g_mu while waiting for
// anything: destroy_device releases it before the grace period, and the
// control thread never holds it around a call into rte_vhost that waits for
// a callback (rte_vhost_driver_unregister spins until a running callback of
// the socket returns, and calls destroy_device itself when a guest is still
// attached).
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_vhost.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "vhost_port.h"

namespace dpx {

namespace {

// Socket path -> port, for the callbacks, which only get a vid (and its
// socket path from rte_vhost_get_ifname).
std::mutex g_mu;
std::map<std::string, VhostPort*> g_ports;

// virtio-net feature bits (virtio spec 1.2, 5.1.3). <linux/virtio_net.h> has
// them too, but it does not compile as C++ (a field named `class`).
constexpr int kFCsum = 0;       // VIRTIO_NET_F_CSUM: device takes partial checksums
constexpr int kFGuestCsum = 1;  // VIRTIO_NET_F_GUEST_CSUM: driver takes them
constexpr int kFGuestTso4 = 7;  // VIRTIO_NET_F_GUEST_TSO4
constexpr int kFGuestTso6 = 8;  // VIRTIO_NET_F_GUEST_TSO6
constexpr int kFGuestEcn = 9;   // VIRTIO_NET_F_GUEST_ECN
constexpr int kFGuestUfo = 10;  // VIRTIO_NET_F_GUEST_UFO
constexpr int kFHostTso4 = 11;  // VIRTIO_NET_F_HOST_TSO4
constexpr int kFHostTso6 = 12;  // VIRTIO_NET_F_HOST_TSO6
constexpr int kFHostEcn = 13;   // VIRTIO_NET_F_HOST_ECN
constexpr int kFHostUfo = 14;   // VIRTIO_NET_F_HOST_UFO
constexpr int kFMrgRxbuf = 15;  // VIRTIO_NET_F_MRG_RXBUF

// Features dpxd never lets a guest negotiate: UFO and ECN-marked GSO. No
// segmenter of ours or of rte_gso cuts UDP, and nothing in the datapath's
// offload contract (port.h) describes either.
constexpr uint64_t kDisabledFeatures =
    (1ULL << kFHostUfo) | (1ULL << kFGuestUfo) | (1ULL << kFHostEcn) | (1ULL << kFGuestEcn);

// Offered explicitly (rte_vhost has them on by default; this fails loudly if
// a DPDK build lacks one): checksum offload and TSO over IPv4 and IPv6 both
// ways, and mergeable rx buffers, so a 64 KB TSO frame fits a guest's rx
// ring of 2 KB buffers and small frames take one descriptor. A TSO frame
// leaving through a port without TSO is segmented in software
// (datapath/offload.h: rte_gso for IPv4, our own segmenter for IPv6).
constexpr uint64_t kOfferedFeatures =
    (1ULL << kFCsum) | (1ULL << kFGuestCsum) | (1ULL << kFHostTso4) | (1ULL << kFGuestTso4) |
    (1ULL << kFHostTso6) | (1ULL << kFGuestTso6) | (1ULL << kFMrgRxbuf);

// Bounds the retries of rte_vhost_driver_unregister (older rte_vhost returns
// -1 while a callback of the socket is running instead of retrying itself).
constexpr int kUnregisterTries = 10000;

std::string ifname(int vid) {
  char buf[PATH_MAX];
  if (rte_vhost_get_ifname(vid, buf, sizeof buf) != 0) return {};
  return buf;
}

// Caller holds g_mu.
VhostPort* lookup(int vid) {
  auto it = g_ports.find(ifname(vid));
  return it == g_ports.end() ? nullptr : it->second;
}

// The tx offloads a guest that negotiated `features` can take. DPDK's
// TCP_TSO capability does not tell IPv4 from IPv6, so a guest gets TSO
// frames only if it takes both (a Linux or DPDK guest negotiates both or
// neither); one with TSO4 alone gets segments.
uint64_t guest_tx_capa(uint64_t features) {
  uint64_t capa = 0;
  constexpr uint64_t kTso = (1ULL << kFGuestTso4) | (1ULL << kFGuestTso6);
  if (features & (1ULL << kFGuestCsum)) {
    capa |= RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    if ((features & kTso) == kTso) capa |= RTE_ETH_TX_OFFLOAD_TCP_TSO;
  }
  return capa;
}

}  // namespace

// The rte_vhost callbacks; a struct so that VhostPort can befriend them.
struct VhostEvents {
  // The enabled-queue masks of the guest's vrings below n_vrings (set up).
  // Caller holds g_mu.
  static void queue_masks(const VhostPort& p, uint32_t n_vrings, VhostPort::DevState* s) {
    s->rx_qmask = s->tx_qmask = 0;
    const uint32_t n = std::min<uint32_t>(n_vrings, p.vring_enabled_.size());
    for (uint32_t v = 0; v < n; ++v) {
      if (!p.vring_enabled_[v].load(std::memory_order_relaxed)) continue;
      // Vring 2q is the guest's rx (our tx), 2q+1 its tx (our rx).
      if (v & 1)
        s->rx_qmask = static_cast<uint16_t>(s->rx_qmask | (1u << (v / 2)));
      else
        s->tx_qmask = static_cast<uint16_t>(s->tx_qmask | (1u << (v / 2)));
    }
  }

  // True if `vid` is not the device attached to p while one is: a second
  // connection to a server socket, which new_device will refuse. Its vring
  // events must not touch the attached device's flags. Caller holds g_mu.
  static bool other_connection(const VhostPort& p, int vid) {
    const int cur = VhostPort::DevState::unpack(p.state_.load(std::memory_order_relaxed)).vid;
    return cur >= 0 && cur != vid;
  }

  static int new_connection(int vid) {
    std::lock_guard lock(g_mu);
    if (VhostPort* p = lookup(vid)) {
      if (!other_connection(*p, vid))
        for (auto& e : p->vring_enabled_) e.store(false, std::memory_order_relaxed);
      RTE_LOG(INFO, USER1, "dpxd: vhost-user port %s: guest connected (vid %d)\n",
              p->name().c_str(), vid);
    }
    return 0;
  }

  static int new_device(int vid) {
    std::lock_guard lock(g_mu);
    VhostPort* p = lookup(vid);
    if (!p) return -1;
    // A server socket accepts more than one connection; the port serves
    // one device at a time and refuses the others, as a NIC has one link.
    if (const int cur = VhostPort::DevState::unpack(p->state_.load(std::memory_order_relaxed)).vid;
        cur >= 0) {
      RTE_LOG(WARNING, USER1,
              "dpxd: vhost-user port %s: refusing a second device (vid %d; vid %d is attached)\n",
              p->name().c_str(), vid, cur);
      return -1;
    }
    uint64_t features = 0;
    if (vid > 0xffff || rte_vhost_get_negotiated_features(vid, &features) != 0) return -1;
    const uint16_t n_vrings = rte_vhost_get_vring_num(vid);
    VhostPort::DevState s;
    s.vid = vid;
    s.tx_capa = guest_tx_capa(features);
    queue_masks(*p, n_vrings, &s);
    // We poll; ask the guest not to kick us for every packet it sends.
    for (uint16_t v = 0; v < n_vrings; ++v) rte_vhost_enable_guest_notification(vid, v, 0);
    uint16_t mtu = 0;
    p->guest_mtu_.store(rte_vhost_get_mtu(vid, &mtu) == 0 ? mtu : 0, std::memory_order_relaxed);
    if (n_vrings > p->vring_enabled_.size()) {
      RTE_LOG(WARNING, USER1,
              "dpxd: vhost-user port %s: the guest set up %u queue pairs; dpxd serves the first "
              "%u, what it sends on the others is not received\n",
              p->name().c_str(), n_vrings / 2, kMaxQueuesPerPort);
    }
    // Release: everything rte_vhost set up for this device before calling us
    // is visible to a PMD that acquires the new state.
    p->state_.store(s.pack(), std::memory_order_release);
    RTE_LOG(INFO, USER1,
            "dpxd: vhost-user port %s: device ready (vid %d, %u queue pairs, enabled rx 0x%x tx "
            "0x%x, features 0x%llx, tx offloads 0x%llx)\n",
            p->name().c_str(), vid, n_vrings / 2, s.rx_qmask, s.tx_qmask,
            static_cast<unsigned long long>(features), static_cast<unsigned long long>(s.tx_capa));
    return 0;
  }

  static void destroy_device(int vid) {
    Rcu* rcu;
    std::string name;
    {
      std::lock_guard lock(g_mu);
      VhostPort* p = lookup(vid);
      if (!p) return;
      if (VhostPort::DevState::unpack(p->state_.load(std::memory_order_relaxed)).vid != vid) return;
      // The memory-ordering argument is at the top of this file.
      p->state_.store(0, std::memory_order_seq_cst);
      rcu = p->rcu_;
      name = p->name();
    }
    // The grace period is waited for without g_mu: another vhost thread may
    // want g_mu in vring_state_changed while it holds the virtqueue locks a
    // PMD is spinning on, and that PMD must reach its quiescent point. The
    // Rcu outlives every port (the datapath destroys ports first).
    rte_rcu_qsbr_synchronize(rcu->qsbr(), RTE_QSBR_THRID_INVALID);
    RTE_LOG(INFO, USER1, "dpxd: vhost-user port %s: device detached (vid %d)\n", name.c_str(), vid);
  }

  static int vring_state_changed(int vid, uint16_t vring, int enable) {
    // May run with every virtqueue lock held: store and return, never wait.
    std::lock_guard lock(g_mu);
    VhostPort* p = lookup(vid);
    if (!p || vring >= p->vring_enabled_.size() || other_connection(*p, vid)) return 0;
    p->vring_enabled_[vring].store(enable != 0, std::memory_order_relaxed);
    // A guest tx queue enabled beyond the port's rx queues: the control
    // thread picks the new count up in refresh_rxqs() and the datapath
    // polls it from then on (what the guest sent meanwhile waits in its
    // ring).
    if (enable && (vring & 1)) {
      const uint16_t want = static_cast<uint16_t>(vring / 2 + 1);
      if (want > p->guest_rxqs_.load(std::memory_order_relaxed))
        p->guest_rxqs_.store(want, std::memory_order_relaxed);
    }
    // An attached device's PMD view follows at once. A PMD that still uses
    // the previous masks for a burst meets a vring that rte_vhost checks
    // under its own lock (a disabled one takes and gives nothing).
    VhostPort::DevState s = VhostPort::DevState::unpack(p->state_.load(std::memory_order_relaxed));
    if (s.vid == vid) {
      queue_masks(*p, rte_vhost_get_vring_num(vid), &s);
      p->state_.store(s.pack(), std::memory_order_release);
    }
    return 0;
  }

  static void destroy_connection(int vid) {
    std::lock_guard lock(g_mu);
    if (VhostPort* p = lookup(vid)) {
      if (!other_connection(*p, vid))
        for (auto& e : p->vring_enabled_) e.store(false, std::memory_order_relaxed);
      RTE_LOG(INFO, USER1, "dpxd: vhost-user port %s: guest disconnected (vid %d)\n",
              p->name().c_str(), vid);
    }
  }

  static const rte_vhost_device_ops kOps;
};

const rte_vhost_device_ops VhostEvents::kOps = [] {
  rte_vhost_device_ops ops{};
  ops.new_device = VhostEvents::new_device;
  ops.destroy_device = VhostEvents::destroy_device;
  ops.vring_state_changed = VhostEvents::vring_state_changed;
  ops.new_connection = VhostEvents::new_connection;
  ops.destroy_connection = VhostEvents::destroy_connection;
  return ops;
}();

namespace {

// The socket path must fit a sockaddr_un and live in an existing directory;
// a server socket must not exist yet (a stale one from a crashed dpxd is
// the operator's to remove: it might belong to another process).
int check_path(const std::string& type, const std::string& path, std::string* err) {
  if (path.empty()) {
    *err = "port type " + type + " needs devargs: the vhost-user socket path";
    return EINVAL;
  }
  if (path[0] != '/') {
    *err = "vhost-user socket path '" + path + "' is not absolute";
    return EINVAL;
  }
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    *err = "vhost-user socket path '" + path + "' is too long (max " +
           std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)";
    return EINVAL;
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    *err = "vhost-user socket directory '" + dir.string() + "' does not exist";
    return ENOENT;
  }
  if (type == "vhostuser") {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      *err = "vhost-user socket path '" + path + "' exists already" +
             (S_ISSOCK(st.st_mode) ? " (a stale socket? remove it first)" : "");
      return EEXIST;
    }
  }
  return 0;
}

}  // namespace

int VhostPort::create(uint32_t odp_port, PortConfig cfg, Rcu* rcu, std::unique_ptr<Port>* out,
                      std::string* err) {
  {
    std::lock_guard lock(g_mu);
    auto it = g_ports.find(cfg.devargs);
    if (it != g_ports.end()) {
      *err = "vhost-user socket '" + cfg.devargs + "' is used by port " + it->second->name();
      return EEXIST;
    }
  }
  if (int rc = check_path(cfg.type, cfg.devargs, err); rc != 0) return rc;
  if (!cfg.options.empty()) {
    *err = "unknown port option '" + cfg.options.begin()->first + "' for port type " + cfg.type;
    return EINVAL;
  }
  if (cfg.mtu && (cfg.mtu < 68 || cfg.mtu > 65535)) {
    *err = "mtu " + std::to_string(cfg.mtu) + " is out of range for vhost-user (68..65535)";
    return EINVAL;
  }
  const bool client = cfg.type == "vhostuserclient";
  const std::string path = cfg.devargs;
  std::unique_ptr<VhostPort> p(new VhostPort(odp_port, std::move(cfg), rcu, client));
  // Client mode reconnects by default (no RTE_VHOST_USER_NO_RECONNECT):
  // rte_vhost retries the connection once a second until the socket
  // appears, and again after every disconnection. Without
  // RTE_VHOST_USER_NET_COMPLIANT_OL_FLAGS, dequeued packets carry the legacy
  // tx offload flags port.h's contract describes.
  const uint64_t flags = client ? RTE_VHOST_USER_CLIENT : 0;
  if (rte_vhost_driver_register(path.c_str(), flags) != 0) {
    *err = "cannot register vhost-user socket '" + path + "' (see dpxd's log)";
    return EINVAL;
  }
  p->registered_ = true;
  if (rte_vhost_driver_disable_features(path.c_str(), kDisabledFeatures) != 0 ||
      rte_vhost_driver_enable_features(path.c_str(), kOfferedFeatures) != 0 ||
      rte_vhost_driver_callback_register(path.c_str(), &VhostEvents::kOps) != 0) {
    *err = "cannot configure vhost-user socket '" + path + "'";
    return EINVAL;  // ~VhostPort unregisters
  }
  {
    std::lock_guard lock(g_mu);
    g_ports[path] = p.get();
  }
  *out = std::move(p);
  return 0;
}

VhostPort::~VhostPort() {
  if (registered_) {
    // Not under g_mu: unregistering detaches a connected guest, which calls
    // destroy_device (taking g_mu) on this thread, and waits for any
    // callback of this socket running on the vhost threads.
    bool done = false;
    for (int i = 0; i < kUnregisterTries && !done; ++i) {
      if (rte_vhost_driver_unregister(path().c_str()) == 0) {
        done = true;
        break;
      }
      // -1 means busy (a callback is running; DPDK 22.11 retries by itself,
      // older releases return) or "not registered" (nothing left to do).
      uint64_t f;
      if (rte_vhost_driver_get_features(path().c_str(), &f) != 0) done = true;
      if (!done) std::this_thread::yield();
    }
    if (!done)
      RTE_LOG(ERR, USER1, "dpxd: vhost-user port %s: cannot unregister %s\n", name().c_str(),
              path().c_str());
  }
  {
    std::lock_guard lock(g_mu);
    auto it = g_ports.find(path());
    if (it != g_ports.end() && it->second == this) g_ports.erase(it);
  }
}

}  // namespace dpx
