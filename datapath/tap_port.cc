#include "tap_port.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "offload.h"
#include "tap_gro.h"

namespace dpx {

namespace {

// struct virtio_net_hdr and its constants from <linux/virtio_net.h>, which
// C++ cannot include (a struct there has a member named `class`). The
// layout is kernel ABI; fields are in host byte order (little-endian tap).
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;      // bytes of headers (a hint)
  uint16_t gso_size;     // payload bytes per segment
  uint16_t csum_start;   // where the checksummed range starts
  uint16_t csum_offset;  // where the checksum goes, from csum_start
};
static_assert(sizeof(virtio_net_hdr) == 10);
constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

constexpr uint16_t kEthTypeIpv4 = 0x0800;
constexpr uint16_t kEthTypeIpv6 = 0x86dd;
constexpr uint16_t kEthTypeVlan = 0x8100;
constexpr uint32_t kEthHdr = 14;
// Segments of one frame written at once; a longer chain is refused.
constexpr uint32_t kMaxTxIov = 256;

int sys_err(std::string* err, const std::string& what) {
  const int e = errno;
  *err = what + ": " + std::strerror(e);
  return e;
}

// Closes an fd at scope exit unless released.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

// Runs the calling thread in another network namespace for its lifetime
// and returns it to its own afterwards. Only this thread moves (setns
// with CLONE_NEWNET is per thread), so the PMDs are not affected.
class NetnsGuard {
 public:
  int enter(const std::string& path, std::string* err) {
    Fd target;
    target.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target.fd < 0) return sys_err(err, "netns '" + path + "'");
    self_.fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self_.fd < 0) return sys_err(err, "cannot open this thread's network namespace");
    if (setns(target.fd, CLONE_NEWNET) != 0) return sys_err(err, "setns '" + path + "'");
    entered_ = true;
    return 0;
  }
  ~NetnsGuard() {
    // Failing to return would leave the control thread in a container's
    // namespace; nothing sensible can continue from there.
    if (entered_ && setns(self_.fd, CLONE_NEWNET) != 0) std::abort();
  }

 private:
  Fd self_;
  bool entered_ = false;
};

std::string netns_path(const std::string& ns) {
  return ns.find('/') == std::string::npos ? "/var/run/netns/" + ns : ns;
}

uint16_t be16_at(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Translates the virtio-net header the kernel put in front of a frame into
// mbuf offload requests. False if the header does not describe the frame
// (the caller drops and counts it).
bool vnet_to_mbuf(const virtio_net_hdr& vh, rte_mbuf* m) {
  const bool csum = vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
  const uint8_t gso = static_cast<uint8_t>(vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN);
  if (!csum) return gso == VIRTIO_NET_HDR_GSO_NONE;  // GSO implies a partial checksum
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);  // headers are in the first segment
  if (len < kEthHdr) return false;
  uint32_t l2 = kEthHdr;
  uint16_t type = be16_at(p + 12);
  if (type == kEthTypeVlan) {
    if (len < kEthHdr + 4) return false;
    l2 += 4;
    type = be16_at(p + 16);
  }
  const uint32_t start = vh.csum_start, off = vh.csum_offset;
  if (start <= l2 || start + off + 2 > len) return false;
  uint64_t ol;
  if (type == kEthTypeIpv4 && (p[l2] >> 4) == 4) {
    ol = RTE_MBUF_F_TX_IPV4;
  } else if (type == kEthTypeIpv6 && (p[l2] >> 4) == 6) {
    ol = RTE_MBUF_F_TX_IPV6;
  } else {
    return false;
  }
  if (off == offsetof(rte_tcp_hdr, cksum)) {
    ol |= RTE_MBUF_F_TX_TCP_CKSUM;
  } else if (off == offsetof(rte_udp_hdr, dgram_cksum)) {
    ol |= RTE_MBUF_F_TX_UDP_CKSUM;
  } else {
    return false;
  }
  m->l2_len = l2;
  m->l3_len = start - l2;
  if (gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6) {
    // We offered TSO4 and TSO6 (tap_port.h): the GSO type must agree with
    // the frame's IP version, and the checksum must be TCP's. An IPv6 TSO
    // frame gets the flags vhost rx gives one (RTE_MBUF_F_TX_IPV6 and
    // RTE_MBUF_F_TX_TCP_SEG), which SwOffload::segment_tcp6() cuts for a
    // port without TSO. UFO and ECN-marked GSO were not offered.
    const uint64_t ip = gso == VIRTIO_NET_HDR_GSO_TCPV4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
    if (!(ol & ip) || !(ol & RTE_MBUF_F_TX_TCP_CKSUM) || vh.gso_size == 0 || start + 20 > len)
      return false;
    const uint32_t l4 = (p[start + 12] >> 4) * 4u;
    if (l4 < 20 || start + l4 > len) return false;
    m->l4_len = l4;
    m->tso_segsz = vh.gso_size;
    ol |= RTE_MBUF_F_TX_TCP_SEG;
  } else if (gso != VIRTIO_NET_HDR_GSO_NONE) {
    return false;
  }
  m->ol_flags |= ol;
  return true;
}

// Fills the virtio-net header for a frame from its offload requests. The
// ports offers the device only what tx_offload_capa() says, so the PMD has
// already done everything else in software.
void mbuf_to_vnet(rte_mbuf* m, virtio_net_hdr* vh) {
  *vh = {};
  const uint64_t ol = m->ol_flags;
  const uint64_t l4 = ol & RTE_MBUF_F_TX_L4_MASK;
  if (!(ol & RTE_MBUF_F_TX_TCP_SEG) && l4 != RTE_MBUF_F_TX_TCP_CKSUM &&
      l4 != RTE_MBUF_F_TX_UDP_CKSUM)
    return;
  const bool udp = !(ol & RTE_MBUF_F_TX_TCP_SEG) && l4 == RTE_MBUF_F_TX_UDP_CKSUM;
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->csum_start = static_cast<uint16_t>(m->l2_len + m->l3_len);
  vh->csum_offset = udp ? offsetof(rte_udp_hdr, dgram_cksum) : offsetof(rte_tcp_hdr, cksum);
  if (ol & RTE_MBUF_F_TX_TCP_SEG) {
    const bool v6 = ol & RTE_MBUF_F_TX_IPV6;
    vh->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
    vh->gso_size = m->tso_segsz;
    vh->hdr_len = static_cast<uint16_t>(m->l2_len + m->l3_len + m->l4_len);
    // The kernel segments from a pseudo-header sum that includes the whole
    // segment's length (Linux's convention); DPDK's TSO convention leaves
    // the length out. Write Linux's, whichever the packet came with.
    if (vh->hdr_len <= rte_pktmbuf_data_len(m)) {
      uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, m->l2_len);
      auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l3 + m->l3_len);
      tcp->cksum = v6 ? rte_ipv6_phdr_cksum(reinterpret_cast<const rte_ipv6_hdr*>(l3), 0)
                      : rte_ipv4_phdr_cksum(reinterpret_cast<const rte_ipv4_hdr*>(l3), 0);
    }
  }
}

}  // namespace

int TapPort::create(uint32_t odp_port, PortConfig cfg, std::unique_ptr<TapPort>* out,
                    std::string* err) {
  if (!cfg.devargs.empty()) {
    *err = "port type tap takes no devargs (options: ifname=NAME, netns=NS, gro=on|off, mtu=N)";
    return EINVAL;
  }
  std::string ifname = cfg.name, netns;
  bool gro = true;
  for (const auto& [k, v] : cfg.options) {
    if (k == "ifname") {
      ifname = v;
    } else if (k == "netns") {
      netns = v;
    } else if (k == "gro") {
      if (v != "on" && v != "off" && v != "true" && v != "false") {
        *err = "option gro must be on, off, true or false, not '" + v + "'";
        return EINVAL;
      }
      gro = v == "on" || v == "true";
    } else {
      *err = "unknown option '" + k + "' for port type tap (known: ifname, netns, gro, mtu)";
      return EINVAL;
    }
  }
  if (ifname.empty() || ifname.size() >= IFNAMSIZ || ifname.find('/') != std::string::npos) {
    *err = "tap interface name '" + ifname + "' is not a valid Linux interface name (1-" +
           std::to_string(IFNAMSIZ - 1) + " characters)";
    return EINVAL;
  }
  if (cfg.options.count("netns") && netns.empty()) {
    *err = "option netns is empty";
    return EINVAL;
  }

  NetnsGuard guard;
  if (!netns.empty()) {
    if (int rc = guard.enter(netns_path(netns), err); rc != 0) return rc;
  }
  const uint16_t n_q = std::max<uint16_t>(1, cfg.n_rxq);
  std::unique_ptr<TapPort> port(new TapPort(odp_port, std::move(cfg)));
  port->n_q_ = n_q;
  for (uint16_t q = 0; q < n_q; ++q) {
    // Each fd is stored at once, so the port's destructor closes it on a
    // later failure.
    const int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return sys_err(err, "open /dev/net/tun");
    port->q_[q].fd = fd;
    ifreq ifr{};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (n_q > 1 ? IFF_MULTI_QUEUE : 0);
    std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) return sys_err(err, "cannot create tap " + ifname);
    int hdr_size = sizeof(virtio_net_hdr);
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) != 0)
      return sys_err(err, "tap " + ifname + ": TUNSETVNETHDRSZ");
    if (ioctl(fd, TUNSETOFFLOAD,
              static_cast<unsigned long>(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) != 0)
      return sys_err(err, "tap " + ifname + ": TUNSETOFFLOAD");
  }
  const uint32_t mtu = port->config().mtu;
  Fd sock;
  // Sockets belong to the namespace they were made in, so this one keeps
  // working for device queries after the thread has returned.
  sock.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock.fd < 0) return sys_err(err, "socket");
  if (mtu) {
    ifreq r{};
    std::memcpy(r.ifr_name, ifname.data(), ifname.size());
    r.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(sock.fd, SIOCSIFMTU, &r) != 0)
      return sys_err(err, "tap " + ifname + ": cannot set MTU " + std::to_string(mtu));
  }
  ifreq r{};
  std::memcpy(r.ifr_name, ifname.data(), ifname.size());
  if (ioctl(sock.fd, SIOCGIFFLAGS, &r) != 0) return sys_err(err, "tap " + ifname + ": flags");
  r.ifr_flags = static_cast<short>(r.ifr_flags | IFF_UP);
  if (ioctl(sock.fd, SIOCSIFFLAGS, &r) != 0)
    return sys_err(err, "tap " + ifname + ": cannot set the link up");

  port->ifname_ = ifname;
  // Every queue negotiated TSO4 above (or the port was refused), so merged
  // TCP/IPv4 frames are welcome unless the user said otherwise.
  port->gro_ = gro;
  port->sock_ = sock.release();
  *out = std::move(port);
  return 0;
}

TapPort::TapPort(uint32_t odp_port, PortConfig cfg) : Port(odp_port, std::move(cfg)) {}

TapPort::~TapPort() {
  stop();
  for (Queue& q : q_) {
    if (q.n_stash) rte_pktmbuf_free_bulk(q.stash, q.n_stash);
    if (q.fd >= 0) close(q.fd);  // the device goes with its last fd (not persistent)
  }
  if (sock_ >= 0) close(sock_);
}

int TapPort::start(uint16_t n_txq_wanted, rte_mempool* pool, std::string* err) {
  if (pool->elt_size < sizeof(rte_mbuf) + RTE_PKTMBUF_HEADROOM + 1024) {
    *err = "tap port needs packet buffers of at least 1 KB";
    return EINVAL;
  }
  pool_ = pool;
  n_txq_ = std::min<uint16_t>(n_q_, std::max<uint16_t>(n_txq_wanted, 1));
  tx_shared_ = n_txq_ < n_txq_wanted;
  return 0;
}

void TapPort::stop() {}

bool TapPort::refill_stash(Queue& q) {
  const uint32_t want = kStash - q.n_stash;
  if (rte_pktmbuf_alloc_bulk(pool_, q.stash + q.n_stash, want) != 0) return false;
  q.n_stash = kStash;
  return true;
}

uint16_t TapPort::rx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  Queue& q = q_[qid];
  uint16_t got = 0;
  iovec iov[kStash + 1];
  virtio_net_hdr vh;
  iov[0] = {&vh, sizeof vh};
  while (got < n) {
    if (q.n_stash < kStash && !refill_stash(q)) {
      rx_nombuf_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    for (uint32_t i = 0; i < kStash; ++i)
      iov[i + 1] = {rte_pktmbuf_mtod(q.stash[i], void*), rte_pktmbuf_tailroom(q.stash[i])};
    // One system call per frame: see tap_port.h.
    const ssize_t r = readv(q.fd, iov, kStash + 1);
    if (r < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        rx_errors_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
    if (static_cast<size_t>(r) <= sizeof vh) {
      rx_bad_vnet_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // Chain as many stash buffers as the frame filled.
    uint32_t left = static_cast<uint32_t>(r - sizeof vh), k = 0;
    rte_mbuf* head = q.stash[0];
    rte_mbuf* prev = nullptr;
    head->pkt_len = left;
    while (left) {
      rte_mbuf* s = q.stash[k++];
      const uint32_t take = std::min<uint32_t>(left, rte_pktmbuf_tailroom(s));
      s->data_len = static_cast<uint16_t>(take);
      if (prev) prev->next = s;
      prev = s;
      left -= take;
    }
    head->nb_segs = static_cast<uint16_t>(k);
    q.n_stash -= k;
    std::memmove(q.stash, q.stash + k, q.n_stash * sizeof q.stash[0]);
    if (!vnet_to_mbuf(vh, head)) [[unlikely]] {
      rx_bad_vnet_.fetch_add(1, std::memory_order_relaxed);
      rte_pktmbuf_free(head);
      continue;
    }
    pkts[got++] = head;
  }
  return got;
}

uint16_t TapPort::tx_burst(uint16_t qid, rte_mbuf** pkts, uint16_t n) {
  const int fd = q_[qid].fd;
  // Segments of one TCP/IPv4 connection leave as one GSO frame (tap_gro.h):
  // one writev() and one pass through the container's stack instead of
  // one per segment. Merged segments hang off their frame's first mbuf.
  uint16_t n_frames = n;
  if (gro_ && n > 1) {
    TapGroCounts c;
    n_frames = tap_gro_merge(pkts, n, &c);
    if (c.frames) {
      tx_gro_frames_.fetch_add(c.frames, std::memory_order_relaxed);
      tx_gro_segments_.fetch_add(c.segments, std::memory_order_relaxed);
    }
  }
  iovec iov[kMaxTxIov + 1];
  virtio_net_hdr vh;
  iov[0] = {&vh, sizeof vh};
  uint16_t i = 0;
  for (; i < n_frames; ++i) {
    rte_mbuf* m = pkts[i];
    if (m->nb_segs > kMaxTxIov) [[unlikely]] {
      tx_errors_.fetch_add(1, std::memory_order_relaxed);
      rte_pktmbuf_free(m);
      continue;
    }
    mbuf_to_vnet(m, &vh);
    uint32_t k = 1;
    for (rte_mbuf* s = m; s; s = s->next) iov[k++] = {rte_pktmbuf_mtod(s, void*), s->data_len};
    // One system call per frame: see tap_port.h.
    if (writev(fd, iov, static_cast<int>(k)) < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;  // caller drops
      // Link down (EIO), a frame the kernel refuses (EINVAL): this frame
      // is lost, the next ones may go.
      tx_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    rte_pktmbuf_free(m);
  }
  if (i == n_frames) return n;
  // The kernel's queue is full: the caller drops pkts[result, n). After
  // merging, the frames not written are pkts[i, n_frames) and the slots
  // behind them are stale, so move those frames to the end of the array
  // (the caller then counts a merged frame as one drop).
  const uint16_t left = static_cast<uint16_t>(n_frames - i);
  std::memmove(pkts + (n - left), pkts + i, left * sizeof *pkts);
  return static_cast<uint16_t>(n - left);
}

uint64_t TapPort::tx_offload_capa() const {
  return RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
         RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
}

void TapPort::device_info(DeviceInfo* out) const {
  *out = {};
  ifreq r{};
  std::memcpy(r.ifr_name, ifname_.data(), ifname_.size());
  if (ioctl(sock_, SIOCGIFFLAGS, &r) == 0)
    out->link_up = (r.ifr_flags & IFF_UP) && (r.ifr_flags & IFF_RUNNING);
  if (ioctl(sock_, SIOCGIFMTU, &r) == 0) out->mtu = static_cast<uint32_t>(r.ifr_mtu);
  if (ioctl(sock_, SIOCGIFHWADDR, &r) == 0) std::memcpy(out->mac, r.ifr_hwaddr.sa_data, 6);
  out->hw_rx_errors =
      rx_bad_vnet_.load(std::memory_order_relaxed) + rx_errors_.load(std::memory_order_relaxed);
  out->hw_tx_errors = tx_errors_.load(std::memory_order_relaxed);
  out->rx_nombuf = rx_nombuf_.load(std::memory_order_relaxed);
  out->tx_gro = gro_;
  out->tx_gro_frames = tx_gro_frames_.load(std::memory_order_relaxed);
  out->tx_gro_segments = tx_gro_segments_.load(std::memory_order_relaxed);
}

}  // namespace dpx
