// End to end: two emulated hosts joined by an overlay that dpxd builds.
//
//   ns ctrA: eth0 192.168.77.1/24            ns ctrB: eth0 192.168.77.2/24
//        |  (veth)                                 |  (veth)
//   ns hostA: dpxd A                          ns hostB: dpxd B
//     port 1 afpacket (the container)           port 1 afpacket (the container)
//     port 2 afpacket (the underlay) ----veth---- port 2 afpacket (the underlay)
//       VTEP 10.0.0.1/24                          VTEP 10.0.0.2/24
//     port 3 vxlan_sys_4789 / genev_sys_6081    port 3 the same
//
// Each dpxd runs inside its host's namespace with its own EAL file prefix
// and control socket. Flows map the container to VNI 42 both ways:
//   in_port(1) -> set(tunnel(tun_id=0x2a, dst=<peer>, ttl=64, df|key)), 3
//   in_port(3), tunnel(tun_id=0x2a, src=<peer>, dst=<self>) -> 1
// Nothing is configured about the peer's MAC: the first packets make each
// dpxd resolve the other VTEP with ARP, which dpxd speaks itself on the
// underlay port. Then ping must cross, a TCP stream must arrive intact, the
// outer packets captured on the underlay by tcpdump must be well-formed
// (IPv4 checksum, UDP port, VXLAN I flag or Geneve version/protocol, the
// VNI, the containers' frames inside), and the counters must agree.
//
// The "_tap" instances attach the containers with tap ports (tap_port.h)
// instead of veth + af_packet: their kernels hand over 64 KB TSO frames
// with partial checksums, which the tunnel output must segment and
// checksum in software before it encapsulates (offload.h); the receiving
// tap merges the decapsulated segments back into GSO frames (tap_gro.h).
//
// The "_tap6" instances do the same with IPv6 inside: the containers are
// fd77::1/64 and fd77::2/64, their kernels hand over TCP/IPv6 TSO frames
// (GSO_TCPV6), which dpxd's own IPv6 segmenter cuts (SwOffload::
// segment_tcp6) before it encapsulates them; over the IPv4 underlay
// (vxlan_tap6) and over the IPv6 one (vxlan6_tap6).
//
// The same over an IPv6 underlay (parameters vxlan6, geneve6): VTEPs
// 2001:db8:77::1/64 and ::2, the peers found by Neighbour Discovery, the
// outer IPv6 header and its always-present UDP checksum checked, and the
// containers' MTU 1430 (70 bytes of outer headers).
//
// Needs root, iproute2, ethtool, ping and tcpdump; skipped without root.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "control_client.h"
#include "odp_text.h"
#include "support/child_process.h"
#include "support/dpxd_client.h"
#include "support/netns.h"
#include "support/pcap_file.h"
#include "tunnel_hdr.h"
#include "tunnel_msg.h"

namespace dpx::test {
namespace {

// A dpxd running inside a network namespace (`ip netns exec` replaces
// itself with dpxd, so the pid is dpxd's). Stopped by ChildProcess (SIGTERM,
// then SIGKILL as a last resort) on destruction; its directory (socket,
// log) is removed.
class NsDpxd {
 public:
  NsDpxd(const NetNs& ns, const std::string& tag) : ns_(ns) {
    char tmpl[] = "/tmp/dpxtnl.XXXXXX";
    dir_ = mkdtemp(tmpl);
    socket_ = dir_ + "/dpxd.sock";
    prefix_ = "dpxtnl" + std::to_string(getpid()) + tag;
  }
  ~NsDpxd() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  NsDpxd(const NsDpxd&) = delete;
  NsDpxd& operator=(const NsDpxd&) = delete;

  const std::string& socket() const { return socket_; }

  bool start(std::string* err) {
    const std::string core = std::thread::hardware_concurrency() > 1 ? "1" : "0";
    std::vector<std::string> args =
        ns_.exec({DPX_DPXD_PATH, "--no-huge", "--socket-mem", "256", "--mbufs", "8192",
                  "--upcall-queue-size", "1024", "--pmd-cores", core, "--control-socket", socket_,
                  "--file-prefix", prefix_, "--log-level", "info"});
    if (!child_.start(std::move(args), dir_ + "/dpxd.log")) {
      *err = "fork failed";
      return false;
    }
    const bool up = wait_until([&] {
      if (!alive()) return true;
      ControlClient c;
      std::string e;
      return c.connect(socket_, &e) == 0;
    });
    if (!up || !alive()) {
      *err = "dpxd did not come up; log:\n" + log();
      return false;
    }
    return true;
  }

  bool alive() { return child_.alive(); }
  int stop() { return child_.stop(); }
  std::string log() const { return child_.log(); }

 private:
  const NetNs& ns_;
  std::string dir_, socket_, prefix_;
  ChildProcess child_;
};

// The background tcpdump of the underlay: writes a pcap until it has seen
// `count` packets (or its time bound passes).
class Capture {
 public:
  Capture(const NetNs& ns, const std::string& iface, const std::string& filter, int count,
          const std::string& path)
      : path_(path) {
    std::vector<std::string> argv = ns.exec(
        {"tcpdump", "-i", iface, "-nn", "-U", "-c", std::to_string(count), "-w", path, filter});
    thread_ = std::thread([this, argv] {
      result_ = run_cmd(argv, 120);
      done_.store(true);
    });
  }
  ~Capture() {
    if (thread_.joinable()) thread_.join();
  }
  // Whether tcpdump has opened its file (its capture may start a little later).
  bool ready() const { return std::filesystem::exists(path_); }
  bool done() const { return done_.load(); }
  const CmdResult& wait() {
    if (thread_.joinable()) thread_.join();
    return result_;
  }

 private:
  std::string path_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  CmdResult result_;
};

struct Host {
  std::unique_ptr<NetNs> host, ctr;
  std::unique_ptr<VethPair> ctr_link;  // a() in host, "eth0" in ctr
  std::unique_ptr<NsDpxd> dpxd;
  ControlClient client;
  std::string underlay_if;
};

// Bounds every blocking socket call, so an overlay that stops forwarding
// fails the test instead of hanging it.
void set_timeouts(int fd) {
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

// The socket address of an IPv4 or IPv6 address and a port; its length in
// *len.
sockaddr_storage sockaddr_of(const char* ip, uint16_t port, socklen_t* len) {
  sockaddr_storage ss{};
  if (std::strchr(ip, ':')) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET6, ip, &sa->sin6_addr), 1) << ip;
    *len = sizeof *sa;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(port);
    EXPECT_EQ(inet_pton(AF_INET, ip, &sa->sin_addr), 1) << ip;
    *len = sizeof *sa;
  }
  return ss;
}

uint32_t ip4(const char* s) {
  uint32_t a = 0;
  EXPECT_TRUE(parse_ipv4(s, &a));
  return a;
}

class TunnelE2eTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, veth pairs";
    const std::string param = GetParam();
    inner6_ = param.ends_with("_tap6");
    tap_ = param.ends_with("_tap") || inner6_;
    type_ = param.substr(0, param.find('_'));
    v6_ = type_.back() == '6';
    if (v6_) type_.pop_back();
    std::string err;
    for (int i = 0; i < 2; ++i) {
      const std::string side = i ? "b" : "a";
      Host& h = hosts_[i];
      h.host = std::make_unique<NetNs>(unique_ifname("dpxth", side));
      ASSERT_TRUE(h.host->ok()) << h.host->error();
      h.ctr = std::make_unique<NetNs>(unique_ifname("dpxtc", side));
      ASSERT_TRUE(h.ctr->ok()) << h.ctr->error();
      ASSERT_TRUE(h.host->disable_ipv6(&err)) << err;
      // IPv6 stays on in containers that speak it (a tap's eth0 is created
      // later, so the default applies to it).
      if (!inner6_) {
        ASSERT_TRUE(h.ctr->disable_ipv6(&err)) << err;
      }
    }
    // The underlay: one veth pair between the two host namespaces. Its ends
    // carry no address: the kernel stays out, dpxd speaks ARP and UDP.
    underlay_ = std::make_unique<VethPair>(unique_ifname("dpxtu", "a"), hosts_[0].host.get(),
                                           unique_ifname("dpxtu", "b"), hosts_[1].host.get());
    ASSERT_TRUE(underlay_->ok()) << underlay_->error();
    hosts_[0].underlay_if = underlay_->a();
    hosts_[1].underlay_if = underlay_->b();
    for (int i = 0; i < 2; ++i) {
      Host& h = hosts_[i];
      if (!tap_) {
        h.ctr_link = std::make_unique<VethPair>(unique_ifname("dpxtp", i ? "b" : "a"), h.host.get(),
                                                "eth0", h.ctr.get());
        ASSERT_TRUE(h.ctr_link->ok()) << h.ctr_link->error();
        // The overlay carries 50 bytes of outer headers (70 over IPv6)
        // inside the underlay's 1500: the containers' MTU is 1450 (1430),
        // as for kernel VXLAN. Checksum offload off: see afxdp_test.cc.
        for (const auto& cmd :
             std::vector<std::vector<std::string>>{{"ip", "link", "set", "eth0", "mtu", ctr_mtu()},
                                                   {"ethtool", "-K", "eth0", "tx", "off"}})
          ASSERT_TRUE(must_run(h.ctr->exec(cmd), &err)) << err;
      }
      h.dpxd = std::make_unique<NsDpxd>(*h.host, i ? "b" : "a");
      ASSERT_TRUE(h.dpxd->start(&err)) << err;
      ASSERT_EQ(h.client.connect(h.dpxd->socket(), &err), 0) << err;
      if (tap_) {
        // dpxd creates eth0 in the container, with the overlay's MTU.
        add_port(h, unique_ifname("dpxtp", i ? "b" : "a"), "tap", 1,
                 {"netns=" + h.ctr->name(), "ifname=eth0", std::string("mtu=") + ctr_mtu()});
      } else {
        add_port(h, h.ctr_link->a(), "afpacket", 1);
      }
      // nodad: the address is usable at once (no duplicate address
      // detection to wait for).
      const std::vector<std::string> addr =
          inner6_ ? std::vector<std::string>{"ip",  "addr", "add",  kCtrIp6[i] + std::string("/64"),
                                             "dev", "eth0", "nodad"}
                  : std::vector<std::string>{"ip",  "addr", "add", kCtrIp[i] + std::string("/24"),
                                             "dev", "eth0"};
      ASSERT_TRUE(must_run(h.ctr->exec(addr), &err)) << err;
      add_port(h, h.underlay_if, "afpacket", 2);
      add_port(h, port_name(), type_, 3);

      TnlIpEntry vtep{v6_ ? 0 : ip4(kVtep[i]), v6_ ? 64u : 24u, h.underlay_if, 0};
      vtep.v6 = v6_;
      if (v6_) {
        EXPECT_TRUE(parse_ipv6(kVtep6[i], &vtep.addr6));
      }
      NlBuf body, reply;
      ASSERT_EQ(encode_tnl_ip(vtep, &body), 0);
      ASSERT_EQ(h.client.transact(DPX_CTL_TNL_IP_ADD, body, &reply, &err), 0) << err;

      if (v6_) {
        const std::string peer = kVtep6[1 - i], self = kVtep6[i];
        add_flow(h, "in_port(1)",
                 "set(tunnel(tun_id=0x2a,ipv6_dst=" + peer + ",ttl=64,flags(key))),3", 1);
        add_flow(
            h, "in_port(3),tunnel(tun_id=0x2a,ipv6_src=" + peer + ",ipv6_dst=" + self + ",ttl=0/0)",
            "1", 2);
        continue;
      }
      const std::string peer = kVtep[1 - i], self = kVtep[i];
      add_flow(h, "in_port(1)", "set(tunnel(tun_id=0x2a,dst=" + peer + ",ttl=64,flags(df|key))),3",
               1);
      add_flow(h, "in_port(3),tunnel(tun_id=0x2a,src=" + peer + ",dst=" + self + ",ttl=0/0)", "1",
               2);
    }
  }

  void TearDown() override {
    for (Host& h : hosts_) {
      if (!h.dpxd) continue;
      const int st = h.dpxd->stop();
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "dpxd wait status " << st << ", log:\n"
                                                         << h.dpxd->log();
    }
  }

  std::string port_name() const { return type_ == "vxlan" ? "vxlan_sys_4789" : "genev_sys_6081"; }
  uint16_t udp_port() const { return type_ == "vxlan" ? kVxlanUdpPort : kGeneveUdpPort; }

  void add_port(Host& h, const std::string& name, const std::string& type, uint32_t odp,
                std::vector<std::string> options = {}) {
    PortAddRequest req;
    req.name = name;
    req.type = type;
    req.odp_port = odp;
    req.options = std::move(options);
    PortInfo info;
    std::string err;
    ASSERT_EQ(h.client.port_add(req, &info, &err), 0)
        << "adding " << type << " port " << name << ": " << err << "\ndpxd log:\n"
        << h.dpxd->log();
  }

  void add_flow(Host& h, const std::string& flow, const std::string& actions, uint32_t id) {
    put_flow(h.client, flow, actions, Ufid{{0x746e6c00, id, 0, 0}});
  }

  TnlStats tnl_stats(Host& h) {
    NlBuf reply;
    std::string err;
    TnlStats s;
    EXPECT_EQ(h.client.transact(DPX_CTL_TNL_STATS, {}, &reply, &err), 0) << err;
    EXPECT_EQ(decode_tnl_stats(reply, &s, &err), 0) << err;
    return s;
  }
  std::vector<NeighEntry> neighbours(Host& h) {
    NlBuf reply;
    std::string err;
    std::vector<NeighEntry> v;
    EXPECT_EQ(h.client.transact(DPX_CTL_NEIGH_DUMP, {}, &reply, &err), 0) << err;
    EXPECT_EQ(decode_neigh_list(reply, &v, &err), 0) << err;
    return v;
  }
  static uint64_t counter(const TnlStats& s, const std::string& name) {
    for (const auto& c : s.counters)
      if (c.name == name) return c.value;
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }
  std::string logs() {
    return "\ndpxd A log:\n" + hosts_[0].dpxd->log() + "\ndpxd B log:\n" + hosts_[1].dpxd->log();
  }

  // Checks one captured outer frame; returns "" or what is wrong with it.
  // The outer IPv6 and UDP headers of one captured frame; returns "" or
  // what is wrong, and the tunnel header's offset in *th_off.
  std::string check_outer6(const Packet& p, size_t* th_off) const {
    if (p.size() < kOuterIpv6Len + 14) return "short frame";
    const uint8_t* ip = p.data() + 14;
    if (p[12] != 0x86 || p[13] != 0xdd || (ip[0] >> 4) != 6) return "not IPv6";
    if (ip[6] != 17) return "not UDP (or an extension header)";
    const uint32_t plen = uint32_t(ip[4]) << 8 | ip[5];
    if (14 + 40 + plen != p.size()) return "IPv6 payload length does not match the frame";
    const uint8_t* udp = ip + 40;
    if ((uint32_t(udp[4]) << 8 | udp[5]) != plen) return "wrong UDP length";
    if (udp[6] == 0 && udp[7] == 0) return "no UDP checksum";
    const uint32_t sum = csum_add_bytes(0, ip + 8, 32) + plen + 17;
    if (csum_finish(csum_add_bytes(sum, udp, plen)) != 0) return "bad UDP checksum";
    *th_off = 14 + 40 + 8;
    return "";
  }

  std::string check_outer(const Packet& p) const {
    size_t th_off = 14 + 20 + 8;
    if (v6_) {
      const std::string e = check_outer6(p, &th_off);
      if (!e.empty()) return e;
      return check_udp_and_tunnel(p, th_off);
    }
    if (p.size() < kOuterIpv4Len + 14) return "short frame";
    const uint8_t* ip = p.data() + 14;
    if (p[12] != 0x08 || p[13] != 0x00 || ip[0] != 0x45) return "not IPv4 without options";
    if (csum_finish(csum_add_bytes(0, ip, 20)) != 0) return "bad IPv4 header checksum";
    if (ip[9] != 17) return "not UDP";
    const uint32_t tot = uint32_t(ip[2]) << 8 | ip[3];
    if (14 + tot != p.size()) return "IPv4 length does not match the frame";
    if (!(ip[6] & 0x40)) return "DF not set although set(tunnel) asked for it";
    if ((uint32_t(ip[24]) << 8 | ip[25]) != tot - 20) return "wrong UDP length";
    return check_udp_and_tunnel(p, th_off);
  }

  // The UDP ports and the tunnel header, whose offset is th_off.
  std::string check_udp_and_tunnel(const Packet& p, size_t th_off) const {
    const uint8_t* udp = p.data() + th_off - 8;
    if ((uint32_t(udp[2]) << 8 | udp[3]) != udp_port()) return "wrong UDP destination port";
    const uint16_t sport = uint16_t(udp[0] << 8 | udp[1]);
    if (sport < kTunnelSrcPortMin || sport >= kTunnelSrcPortMax)
      return "UDP source port out of range";
    const uint8_t* th = udp + 8;
    if (type_ == "vxlan") {
      if (th[0] != 0x08 || th[1] || th[2] || th[3] || th[7]) return "bad VXLAN flags";
    } else {
      if (th[0] != 0 || th[1] != 0 || th[2] != 0x65 || th[3] != 0x58) return "bad Geneve header";
    }
    if (th[4] != 0 || th[5] != 0 || th[6] != 42) return "wrong VNI";
    const uint8_t* inner = th + 8;
    // The inner frame is one of the containers' (their MACs are 02:... or
    // whatever the kernel chose; it must at least be IPv4 or ARP, or IPv6
    // for containers that speak IPv6).
    const uint16_t itype = uint16_t(inner[12] << 8 | inner[13]);
    if (inner6_) return itype == 0x86dd ? "" : "inner frame is not IPv6";
    if (itype != 0x0800 && itype != 0x0806) return "inner frame is neither IPv4 nor ARP";
    return "";
  }

  static constexpr const char* kVtep[2] = {"10.0.0.1", "10.0.0.2"};
  static constexpr const char* kVtep6[2] = {"2001:db8:77::1", "2001:db8:77::2"};
  bool v6_ = false;
  static constexpr const char* kCtrIp[2] = {"192.168.77.1", "192.168.77.2"};
  static constexpr const char* kCtrIp6[2] = {"fd77::1", "fd77::2"};
  std::string type_;
  bool tap_ = false;     // containers on tap ports (TSO) instead of veth + af_packet
  bool inner6_ = false;  // the containers speak IPv6 (TSO6 frames from their taps)
  const char* ctr_ip(int i) const { return inner6_ ? kCtrIp6[i] : kCtrIp[i]; }
  // The containers' MTU: the underlay's 1500 less the outer headers.
  const char* ctr_mtu() const { return v6_ ? "1430" : "1450"; }
  // Construction order; destroyed in reverse: dpxds, then veths, then namespaces.
  Host hosts_[2];
  std::unique_ptr<VethPair> underlay_;
};

TEST_P(TunnelE2eTest, PingAndTcpCrossTheOverlay) {
  const std::string pcap = "/tmp/dpxtnl-" + std::to_string(getpid()) + "-" + type_ + ".pcap";
  struct Unlink {
    std::string p;
    ~Unlink() { std::remove(p.c_str()); }
  } unlink_pcap{pcap};
  // Tunnel packets seen on host B's end of the underlay, both directions.
  Capture cap(*hosts_[1].host, hosts_[1].underlay_if, "udp port " + std::to_string(udp_port()), 8,
              pcap);
  ASSERT_TRUE(wait_until([&] { return cap.ready(); })) << "tcpdump did not start";

  const std::vector<std::string> ping =
      hosts_[0].ctr->exec({"ping", "-c", "5", "-i", "0.2", "-w", "60", ctr_ip(1)});
  const CmdResult r = run_cmd(ping, 90);
  ASSERT_TRUE(r.ok()) << describe(ping, r) << logs();
  // tcpdump may have started capturing after the first pings went by: ping
  // on until it has its packets.
  wait_until(
      [&] {
        if (!cap.done()) hosts_[0].ctr->run({"ping", "-c", "1", "-W", "1", ctr_ip(1)}, 10);
        return cap.done();
      },
      100);
  const CmdResult& c = cap.wait();
  ASSERT_TRUE(c.ok()) << "tcpdump: " << c.output;
  std::vector<Packet> pkts;
  ASSERT_TRUE(read_pcap(pcap, &pkts));
  ASSERT_EQ(pkts.size(), 8u);
  for (size_t i = 0; i < pkts.size(); ++i) EXPECT_EQ(check_outer(pkts[i]), "") << "packet " << i;
  // tcpdump's own dissector agrees.
  const CmdResult dis = run_cmd({"tcpdump", "-r", pcap, "-nn", "-v"});
  ASSERT_TRUE(dis.ok()) << dis.output;
  EXPECT_EQ(dis.output.find("bad cksum"), std::string::npos) << dis.output;
  const std::string vni = type_ == "vxlan" ? "VXLAN, flags [I] (0x08), vni 42" : "vni 0x2a";
  EXPECT_NE(dis.output.find(vni), std::string::npos) << dis.output;
  EXPECT_NE(dis.output.find(inner6_ ? "ICMP6, echo request" : "ICMP echo request"),
            std::string::npos)
      << dis.output;

  // Each dpxd learned the other VTEP by ARP.
  for (int i = 0; i < 2; ++i) {
    const auto n = neighbours(hosts_[i]);
    ASSERT_EQ(n.size(), 1u);
    if (v6_) {
      Ip6 peer{};
      EXPECT_TRUE(parse_ipv6(kVtep6[1 - i], &peer));
      EXPECT_TRUE(n[0].v6);
      EXPECT_EQ(n[0].addr6, peer);
    } else {
      EXPECT_EQ(n[0].addr, ip4(kVtep[1 - i]));
    }
    EXPECT_EQ(n[0].state, uint32_t{DPX_NEIGH_REACHABLE});
  }

  // A TCP stream of 4 MB crosses intact.
  std::vector<uint8_t> data(4 << 20);
  std::mt19937 rng(42);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  const int family = inner6_ ? AF_INET6 : AF_INET;
  const int lfd = hosts_[1].ctr->socket(family, SOCK_STREAM);
  ASSERT_GE(lfd, 0) << strerror(-lfd);
  Fd listener(lfd);
  socklen_t srv_len = 0;
  const sockaddr_storage srv = sockaddr_of(ctr_ip(1), 5201, &srv_len);
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ASSERT_EQ(bind(lfd, reinterpret_cast<const sockaddr*>(&srv), srv_len), 0) << strerror(errno);
  ASSERT_EQ(listen(lfd, 1), 0);
  set_timeouts(lfd);
  const int cfd = hosts_[0].ctr->socket(family, SOCK_STREAM);
  ASSERT_GE(cfd, 0) << strerror(-cfd);
  Fd client(cfd);
  set_timeouts(cfd);
  ASSERT_EQ(connect(cfd, reinterpret_cast<const sockaddr*>(&srv), srv_len), 0)
      << strerror(errno) << logs();
  Fd conn(accept(lfd, nullptr, nullptr));
  ASSERT_GE(conn.fd, 0) << strerror(errno);
  set_timeouts(conn.fd);
  bool send_ok = true;
  std::thread sender([&] {
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = send(cfd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        send_ok = false;
        break;
      }
      off += static_cast<size_t>(n);
    }
    shutdown(cfd, SHUT_WR);
  });
  std::vector<uint8_t> got;
  got.reserve(data.size());
  uint8_t buf[65536];
  for (;;) {
    const ssize_t n = recv(conn.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.insert(got.end(), buf, buf + n);
  }
  sender.join();
  ASSERT_TRUE(send_ok) << logs();
  ASSERT_EQ(got.size(), data.size()) << logs();
  EXPECT_TRUE(got == data) << "the stream arrived damaged";
  if (tap_) {
    // The tap handed over TSO frames far above the overlay MTU: the
    // stream crossed only because the tunnel output cut them first.
    PortRef ref;
    ref.odp_port = 1;
    PortInfo tap;
    std::string err;
    ASSERT_EQ(hosts_[0].client.port_get(ref, &tap, &err), 0) << err;
    EXPECT_GT(tap.stats.rx_bytes / std::max<uint64_t>(tap.stats.rx_packets, 1), 3000u)
        << tap.stats.rx_packets << " frames, " << tap.stats.rx_bytes << " bytes";
    // And B's tap merged the decapsulated segments back into GSO frames
    // (tap_gro.h) before writing them to its container; TCP/IPv4 only:
    // DPDK 22.11's rte_gro has no TCP/IPv6, so IPv6 segments go one by one.
    ASSERT_EQ(hosts_[1].client.port_get(ref, &tap, &err), 0) << err;
    uint64_t merged = 0;
    for (const auto& c : tap.counters)
      if (c.reason == "tx_gro_frames") merged = c.count;
    if (inner6_)
      EXPECT_EQ(merged, 0u) << "IPv6 segments merged, which rte_gro 22.11 cannot do";
    else
      EXPECT_GT(merged, 0u) << "B's tap wrote " << tap.stats.tx_packets << " segments unmerged";
  }

  // The counters agree: what A encapsulated B decapsulated, and nothing was
  // dropped but the packets that waited for ARP.
  const TnlStats sa = tnl_stats(hosts_[0]), sb = tnl_stats(hosts_[1]);
  ASSERT_EQ(sa.ports.size(), 1u);
  ASSERT_EQ(sb.ports.size(), 1u);
  EXPECT_GT(sa.ports[0].tx_packets, 5u);
  EXPECT_GT(sb.ports[0].rx_packets, 5u);
  if (tap_) {
    // Segmentation happened before encapsulation: every encapsulated
    // segment carries at most an MSS, so A sent at least the stream's
    // length in overlay MTUs, and B received as many; A's tap handed over
    // far fewer (large) frames; B's tap took every segment whole.
    PortRef ref;
    ref.odp_port = 1;
    PortInfo tap_a, tap_b;
    std::string err;
    ASSERT_EQ(hosts_[0].client.port_get(ref, &tap_a, &err), 0) << err;
    ASSERT_EQ(hosts_[1].client.port_get(ref, &tap_b, &err), 0) << err;
    const uint64_t min_segments = data.size() / std::stoul(ctr_mtu());
    EXPECT_GE(sa.ports[0].tx_packets, min_segments);
    EXPECT_GE(sb.ports[0].rx_packets, min_segments);
    EXPECT_LT(tap_a.stats.rx_packets * 2, sa.ports[0].tx_packets);
    EXPECT_GE(tap_b.stats.tx_packets, min_segments);
    EXPECT_EQ(
        tap_a.stats.rx_drops + tap_a.stats.tx_drops + tap_b.stats.rx_drops + tap_b.stats.tx_drops,
        0u);
    // No software offload refused anything (offload.h's drop reasons).
    for (Host& h : hosts_) {
      std::vector<PmdStats> st;
      ASSERT_EQ(h.client.pmd_stats(&st, &err), 0) << err;
      for (const auto& p : st)
        for (const auto& d : p.drops)
          if (d.reason.starts_with("offload_")) {
            EXPECT_EQ(d.count, 0u) << d.reason << logs();
          }
    }
  }
  for (const TnlStats* s : {&sa, &sb}) {
    for (const auto& k : s->counters) {
      if (k.name.rfind("decap_", 0) == 0 || k.name.rfind("vxlan_", 0) == 0 ||
          k.name.rfind("geneve_", 0) == 0 || k.name == "encap_too_big" ||
          k.name == "encap_no_route" || k.name == "control_tx_failed") {
        EXPECT_EQ(k.value, 0u) << k.name << logs();
      }
    }
    EXPECT_GE(counter(*s, v6_ ? "nd_learned" : "arp_learned"), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Tunnels, TunnelE2eTest,
                         ::testing::Values("vxlan", "geneve", "vxlan_tap", "geneve_tap", "vxlan6",
                                           "geneve6", "vxlan_tap6", "vxlan6_tap6"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace dpx::test
