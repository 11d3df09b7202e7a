// Integration: guest TSO through dpxd's vhost-user ports, end to end, with
// a guest that really sends TSO frames. dpdk-testpmd's csum forwarding
// engine is the guest: it receives large TCP frames (IPv4 and IPv6) from
// dpxd on virtio-user port 0 and sends them on port 1 as TSO frames
// (`tso set`: RTE_MBUF_F_TX_TCP_SEG with an MSS, which the virtio PMD turns
// into a virtio-net GSO header). dpxd receives each as one packet and
// forwards it
//   - to vhost port C, whose guest took TSO (GUEST_TSO4/6 through LRO):
//     one packet per frame, the frame's bytes;
//   - to a tap port in a container (network namespace), which takes TSO:
//     one write per frame, read back whole inside the container by a
//     packet socket, TCP payload intact;
//   - to a pcap sink, which takes no offload: cut into MSS-sized segments
//     in software (rte_gso for IPv4, dpxd's own for IPv6) with every IPv4
//     and TCP checksum completed, and the segments' payloads concatenating
//     to the frame's.
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>

#include "support/checksum.h"
#include "support/netns.h"
#include "support/vhost_fixture.h"

namespace dpx::test {
namespace {

constexpr uint32_t kVhC = 5, kTap = 6;
constexpr uint32_t kMss = 1400;  // testpmd's `tso set`

// An Ethernet + IPv4 or IPv6 + TCP frame (20-byte header, ACK|PSH) with
// `payload` patterned bytes, valid checksums, source port `sport` (which
// tells the frames apart) and sequence number `seq`.
Packet tcp_frame(bool v6, uint32_t payload, uint16_t sport, uint32_t seq) {
  const uint32_t l3 = v6 ? 40 : 20;
  Packet p(14 + l3 + 20 + payload, 0);
  std::memcpy(&p[0], kMacA, 6);
  std::memcpy(&p[6], kMacB, 6);
  p[12] = v6 ? 0x86 : 0x08;
  p[13] = v6 ? 0xdd : 0x00;
  uint8_t* ip = &p[14];
  const uint32_t l4_len = 20 + payload;
  uint32_t phdr;
  if (v6) {
    ip[0] = 0x60;
    ip[4] = static_cast<uint8_t>(l4_len >> 8), ip[5] = static_cast<uint8_t>(l4_len);
    ip[6] = IPPROTO_TCP;
    ip[7] = 64;
    ip[8] = 0xfd, ip[23] = 1;
    ip[24] = 0xfd, ip[39] = 2;
    phdr = sum16(ip + 8, 32) + IPPROTO_TCP + l4_len;
  } else {
    ip[0] = 0x45;
    const uint32_t tot = 20 + l4_len;
    ip[2] = static_cast<uint8_t>(tot >> 8), ip[3] = static_cast<uint8_t>(tot);
    ip[6] = 0x40;  // DF
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
    const uint16_t c = static_cast<uint16_t>(~fold(sum16(ip, 20)));
    ip[10] = static_cast<uint8_t>(c >> 8), ip[11] = static_cast<uint8_t>(c);
    phdr = sum16(ip + 12, 8) + IPPROTO_TCP + l4_len;
  }
  uint8_t* t = ip + l3;
  t[0] = static_cast<uint8_t>(sport >> 8), t[1] = static_cast<uint8_t>(sport);
  t[2] = 0x13, t[3] = 0x89;  // 5001
  for (int i = 0; i < 4; ++i) t[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  t[12] = 5 << 4;
  t[13] = 0x18;  // PSH|ACK
  t[14] = 0xff, t[15] = 0xff;
  for (uint32_t i = 0; i < payload; ++i)
    t[20 + i] = static_cast<uint8_t>(sport * 13 + i * 7 + i / 253);
  const uint16_t c = static_cast<uint16_t>(~fold(sum16(t, l4_len, phdr)));
  t[16] = static_cast<uint8_t>(c >> 8), t[17] = static_cast<uint8_t>(c);
  return p;
}

// What a segment on the sink says about itself.
struct Segment {
  bool v6;
  uint16_t sport;
  uint32_t seq;
  uint8_t flags;
  Packet payload;
  bool ip_ok, l4_ok;
};

bool parse_segment(const Packet& p, Segment* s) {
  if (p.size() < 14 + 20 + 20) return false;
  const uint8_t* ip = &p[14];
  uint32_t l3, l4_len, phdr;
  s->v6 = p[12] == 0x86;
  if (s->v6) {
    l3 = 40;
    l4_len = ip[4] << 8 | ip[5];
    phdr = sum16(ip + 8, 32) + ip[6] + l4_len;
    s->ip_ok = ip[6] == IPPROTO_TCP && 14 + l3 + l4_len == p.size();
  } else {
    l3 = (ip[0] & 0xf) * 4u;
    l4_len = (ip[2] << 8 | ip[3]) - l3;
    phdr = sum16(ip + 12, 8) + ip[9] + l4_len;
    s->ip_ok = fold(sum16(ip, l3)) == 0xffff && 14 + l3 + l4_len == p.size();
  }
  if (14 + l3 + 20 > p.size() || 14 + l3 + l4_len > p.size()) return false;
  const uint8_t* t = ip + l3;
  const uint32_t doff = (t[12] >> 4) * 4u;
  s->sport = static_cast<uint16_t>(t[0] << 8 | t[1]);
  s->seq = uint32_t{t[4]} << 24 | t[5] << 16 | t[6] << 8 | t[7];
  s->flags = t[13];
  s->l4_ok = fold(sum16(t, l4_len, phdr)) == 0xffff;
  s->payload.assign(t + doff, t + l4_len);
  return true;
}

class VhostTso : public Vhost {
 protected:
  void SetUp() override {
    Vhost::SetUp();
    if (IsSkipped()) return;
    if (geteuid() != 0) GTEST_SKIP() << "needs root: a network namespace and a tap device";
    sweep_stale_netns("dpxtso");
    ns_ = std::make_unique<NetNs>(unique_ifname("dpxtso"));
    ASSERT_TRUE(ns_->ok()) << ns_->error();
    std::string err;
    ASSERT_TRUE(ns_->disable_ipv6(&err)) << err;  // no ND chatter on the capture
  }

  // A packet socket on the container's eth0 (dpxd's tap), capturing what
  // dpxd writes into it.
  int capture_socket() {
    const int fd = ns_->socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) return fd;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    const int rcvbuf = 8 << 20;
    const timeval tv{10, 0};  // a bound, not a wait: frames arrive at once
    if (ioctl(fd, SIOCGIFINDEX, &ifr) != 0 ||
        (sll.sll_ifindex = ifr.ifr_ifindex,
         bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
      const int e = errno;
      close(fd);
      return -e;
    }
    return fd;
  }

  std::unique_ptr<NetNs> ns_;

  // testpmd with three virtio-user ports on dpxd's sockets a, b, c, in the
  // csum engine with chained topology (0 -> 1 -> 2 -> 0): what dpxd sends
  // into port 0 leaves port 1 as TSO frames of kMss. Rx offloads LRO and
  // TCP/UDP checksum (0x1c) make the virtio PMD ask for GUEST_TSO4/6 and
  // GUEST_CSUM; tx offloads TSO, TCP/UDP checksum and chains (0x802c) for
  // HOST_TSO4/6 and CSUM.
  void start_tso_guest() {
    const std::string cmds = path("tso.cmds");
    std::ofstream(cmds) << "port stop 1\ntso set " << kMss << " 1\nport start 1\n";
    std::vector<std::string> vdevs;
    for (const char* s : {"a", "b", "c"})
      vdevs.push_back(std::string("net_virtio_user") + s +
                      ",queue_size=1024,path=" + path(std::string(s) + ".sock"));
    ASSERT_TRUE(
        testpmd_.start(vdevs,
                       {"--forward-mode=csum", "--port-topology=chained", "--rx-offloads=0x1c",
                        "--tx-offloads=0x802c", "--cmdline-file=" + cmds},
                       path("testpmd.log")));
    ASSERT_TRUE(wait_until([&] {
      return !testpmd_.alive() || (link_up("vhA") && link_up("vhB") && link_up("vhC") &&
                                   testpmd_.log().find("Press enter to exit") != std::string::npos);
    }));
    ASSERT_TRUE(testpmd_.alive()) << dpxd_.log() << testpmd_.log();
  }
};

TEST_F(VhostTso, GuestTsoFramesCrossWholeOrAreSegmentedInSoftware) {
  dpxd_.set_log_level("info");
  start_dpxd();
  add_port("vhA", "vhostuser", path("a.sock"), kVhA);
  add_port("vhB", "vhostuser", path("b.sock"), kVhB);
  add_port("vhC", "vhostuser", path("c.sock"), kVhC);
  for (const char* l3 : {"eth_type(0x0800),ipv4()", "eth_type(0x86dd),ipv6()"}) {
    add_flow(std::string("in_port(1),eth(),") + l3, "2");
    add_flow(std::string("in_port(3),eth(),") + l3, "4,5,6");
  }
  PortAddRequest tap;
  tap.name = unique_ifname("dpxtso", "t");
  tap.type = "tap";
  tap.odp_port = kTap;
  tap.options = {"netns=" + ns_->name(), "ifname=eth0"};
  PortInfo tap_info;
  std::string err;
  ASSERT_EQ(client_.port_add(tap, &tap_info, &err), 0) << err;
  Fd cap(capture_socket());
  ASSERT_GE(cap.fd, 0) << "packet socket: " << std::strerror(-cap.fd);
  ASSERT_NO_FATAL_FAILURE(start_tso_guest());
  // Every guest took TSO both ways: tx offloads TCP_TSO|TCP_CKSUM|UDP_CKSUM.
  EXPECT_NE(dpxd_.log().find("tx offloads 0x2c)"), std::string::npos) << dpxd_.log();

  // Frames of 1 to 11 MSS and a bit, IPv4 and IPv6 alternating.
  std::vector<Packet> in;
  uint32_t want_segments = 0;
  uint64_t want_bytes = 0;
  for (uint16_t i = 0; i < 24; ++i) {
    const uint32_t payload = 1000 + i * 650;
    in.push_back(tcp_frame(i % 2, payload, static_cast<uint16_t>(20000 + i), 1000u * i));
    want_segments += (payload + kMss - 1) / kMss;
    want_bytes += in.back().size();
  }
  ASSERT_TRUE(write_pcap(path("in.pcap"), in));
  add_port("out", "dpdk", "net_pcap_out,tx_pcap=" + path("out.pcap"), kOut);
  add_port("in", "dpdk", "net_pcap_in,rx_pcap=" + path("in.pcap"), kIn);
  ASSERT_TRUE(wait_until([&] {
    return port("out").stats.tx_packets >= want_segments &&
           port("vhC").stats.tx_packets >= in.size();
  })) << "sink "
      << port("out").stats.tx_packets << " of " << want_segments << ", vhC "
      << port("vhC").stats.tx_packets << "; vhB received " << port("vhB").stats.rx_packets << "\n"
      << dpxd_.log() << testpmd_.log();
  // Each frame crossed dpxd as one packet: in from the guest on B, out to
  // the guest on C whole (the csum engine keeps lengths).
  const PortInfo b = port("vhB"), c = port("vhC"), t = port(tap.name);
  EXPECT_EQ(b.stats.rx_packets, in.size());
  EXPECT_EQ(b.stats.rx_bytes, want_bytes);
  EXPECT_EQ(c.stats.tx_packets, in.size());
  EXPECT_EQ(c.stats.tx_bytes, want_bytes);
  EXPECT_EQ(c.stats.tx_drops, 0u);
  // The tap took each frame in one write (the kernel accepts the GSO
  // header, IPv4 or IPv6, or the write fails and counts as an error).
  EXPECT_EQ(t.stats.tx_packets, in.size());
  EXPECT_EQ(t.stats.tx_bytes, want_bytes);
  EXPECT_EQ(t.stats.tx_errors + t.stats.tx_drops, 0u);
  // Inside the container each frame is one packet, before the stack cuts
  // it: its TCP payload and sequence number those of the frame.
  std::map<uint16_t, Segment> seen;
  std::vector<uint8_t> buf(1 << 17);
  while (seen.size() < in.size()) {
    sockaddr_ll from{};
    socklen_t fl = sizeof from;
    const ssize_t k =
        recvfrom(cap.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    ASSERT_GT(k, 0) << "captured " << seen.size() << " of " << in.size()
                    << " frames in the container";
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    Segment s;
    if (!parse_segment(Packet(buf.begin(), buf.begin() + k), &s) || s.sport < 20000) continue;
    seen[s.sport] = std::move(s);
  }
  for (uint16_t i = 0; i < in.size(); ++i) {
    Segment orig;
    ASSERT_TRUE(parse_segment(in[i], &orig));
    const Segment& s = seen[static_cast<uint16_t>(20000 + i)];
    EXPECT_EQ(s.v6, orig.v6) << "frame " << i;
    EXPECT_EQ(s.seq, orig.seq) << "frame " << i;
    EXPECT_TRUE(s.payload == orig.payload) << "frame " << i << ": " << s.payload.size() << " bytes";
  }
  del_port("in");
  del_port("out");  // closes the capture
  EXPECT_EQ(port("vhC").stats.tx_packets, in.size()) << "nothing more arrived";

  std::vector<Packet> got;
  ASSERT_TRUE(read_pcap(path("out.pcap"), &got));
  ASSERT_EQ(got.size(), want_segments);
  // Per frame (source port): segments in order, each at most kMss of
  // payload with valid checksums, sequence numbers following the payload,
  // PSH on the last only.
  std::map<uint16_t, std::vector<Segment>> by_frame;
  for (const Packet& p : got) {
    Segment s;
    ASSERT_TRUE(parse_segment(p, &s));
    EXPECT_TRUE(s.ip_ok) << "IP header of a segment of frame " << s.sport;
    EXPECT_TRUE(s.l4_ok) << "TCP checksum of a segment of frame " << s.sport;
    EXPECT_LE(s.payload.size(), kMss);
    by_frame[s.sport].push_back(std::move(s));
  }
  ASSERT_EQ(by_frame.size(), in.size());
  for (uint16_t i = 0; i < in.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const std::vector<Segment>& segs = by_frame[static_cast<uint16_t>(20000 + i)];
    Segment orig;
    ASSERT_TRUE(parse_segment(in[i], &orig));
    ASSERT_EQ(segs.size(), (orig.payload.size() + kMss - 1) / kMss);
    Packet joined;
    for (size_t k = 0; k < segs.size(); ++k) {
      EXPECT_EQ(segs[k].v6, i % 2 == 1);
      EXPECT_EQ(segs[k].seq, orig.seq + joined.size());
      EXPECT_EQ(segs[k].flags, k + 1 == segs.size() ? 0x18 : 0x10);
      joined.insert(joined.end(), segs[k].payload.begin(), segs[k].payload.end());
    }
    EXPECT_TRUE(joined == orig.payload) << "payloads concatenate to the frame's";
  }
  EXPECT_TRUE(dpxd_.alive());
}

}  // namespace
}  // namespace dpx::test
