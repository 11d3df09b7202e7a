// Integration without root: the tunnel underlay of a real dpxd configured
// with the real dpxctl (tunnel ports, tnl-ip, route, neigh, tnl-stats; bad
// input refused with a message), and the PMD's tunnel output end to end: a
// packet executed with set(tunnel(...)) and output to the vxlan port leaves
// the underlay port (a net_pcap device writing a file) encapsulated for the
// static neighbour, and one for an unresolved next hop is dropped, counted,
// and makes dpxd send an ARP request for it. Then traffic through a
// set(tunnel) + tunnel output megaflow, once on the simple-match pass and
// once on the full one, encapsulated identically.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "support/dpxd_client.h"
#include "support/dpxd_process.h"
#include "support/netns.h"
#include "support/pcap_file.h"
#include "tunnel_hdr.h"
#include "tunnel_msg.h"

namespace dpx::test {
namespace {

class TunnelCtlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(dpxd_.start({}, &err)) << err;
    ASSERT_EQ(client_.connect(dpxd_.socket(), &err), 0) << err;
  }
  void TearDown() override {
    const int st = dpxd_.stop();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "dpxd wait status " << st << ", log:\n"
                                                       << dpxd_.log();
  }

  CmdResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {DPX_DPXCTL_PATH, "--socket", dpxd_.socket()});
    return run_cmd(args);
  }
  std::string ok(const std::vector<std::string>& args) {
    const CmdResult r = ctl(args);
    EXPECT_EQ(r.status, 0) << join_args(args) << ":\n" << r.output;
    return r.output;
  }
  void fails(const std::vector<std::string>& args, int status, const std::string& needle) {
    const CmdResult r = ctl(args);
    EXPECT_EQ(r.status, status) << join_args(args) << ":\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos)
        << join_args(args) << ": expected \"" << needle << "\" in:\n"
        << r.output;
  }
  uint64_t counter(const std::string& name) {
    NlBuf reply;
    std::string err;
    TnlStats s;
    EXPECT_EQ(client_.transact(DPX_CTL_TNL_STATS, {}, &reply, &err), 0) << err;
    EXPECT_EQ(decode_tnl_stats(reply, &s, &err), 0) << err;
    for (const auto& c : s.counters)
      if (c.name == name) return c.value;
    ADD_FAILURE() << "no counter " << name;
    return 0;
  }
  PortInfo port(uint32_t odp) { return get_port(client_, odp); }

  DpxdProcess dpxd_;
  ControlClient client_;
};

TEST_F(TunnelCtlTest, UnderlayIsConfiguredShownAndRefusesBadInput) {
  ok({"add-port", "u0", "dpdk", "net_null_u0,no-rx=1", "--port-no", "1"});
  EXPECT_EQ(ok({"add-port", "vxlan_sys_4789", "vxlan", "--port-no", "2"}),
            "port 2: vxlan_sys_4789\n");
  fails({"add-port", "vx2", "vxlan", "--option", "dst_port=4789"}, 1, "already uses UDP port 4789");
  fails({"add-port", "vx3", "vxlan", "--option", "remote_ip=1.1.1.1"}, 1,
        "unknown vxlan port option 'remote_ip'");
  fails({"add-port", "gn", "geneve", "--option", "dst_port=70000"}, 1, "is not a UDP port");
  ok({"add-port", "genev_sys_6081", "geneve", "--port-no", "3"});
  ok({"add-port", "vxlan_8472", "vxlan", "--option", "dst_port=8472", "--port-no", "4"});

  ok({"tnl-ip", "add", "10.0.0.1/24", "u0"});
  EXPECT_EQ(ok({"tnl-ip", "show"}), "10.0.0.1/24 dev u0 (port 1)\n");
  fails({"tnl-ip", "add", "10.0.0.1/24", "u0"}, 1, "already a VTEP address");
  fails({"tnl-ip", "add", "10.0.0.5/24", "nosuch"}, 1, "no port named 'nosuch'");
  fails({"tnl-ip", "add", "10.0.0.9/24", "vxlan_sys_4789"}, 1, "cannot be an underlay");
  fails({"tnl-ip", "add", "10.0.0.9/33", "u0"}, 2, "tnl-ip add IP/PLEN PORT");

  EXPECT_EQ(ok({"route", "show"}), "10.0.0.0/24 dev u0 src 10.0.0.1 (connected)\n");
  ok({"route", "add", "0.0.0.0/0", "u0", "10.0.0.254"});
  ok({"route", "add", "172.16.0.0/12", "u0", "10.0.0.253", "src=10.0.0.1"});
  EXPECT_EQ(ok({"route", "show"}),
            "10.0.0.0/24 dev u0 src 10.0.0.1 (connected)\n"
            "172.16.0.0/12 via 10.0.0.253 dev u0 src 10.0.0.1\n"
            "0.0.0.0/0 via 10.0.0.254 dev u0\n");
  fails({"route", "add", "10.0.0.0/24", "u0"}, 1, "a route to that prefix exists");
  fails({"route", "add", "10.0.0.1/24", "u0"}, 1, "host bits");
  fails({"route", "add", "10.9.0.0/16", "nosuch"}, 1, "no port named");
  ok({"route", "del", "172.16.0.0/12"});
  fails({"route", "del", "172.16.0.0/12"}, 1, "no such route");

  ok({"neigh", "set", "u0", "10.0.0.2", "02:00:00:00:bb:02"});
  fails({"neigh", "set", "u0", "10.0.0.3", "02:00:00:00:bb"}, 2, "neigh set PORT IP MAC");
  ok({"neigh", "flush"});
  const std::string n = ok({"neigh", "show"});
  EXPECT_NE(n.find("10.0.0.2 dev u0 lladdr 02:00:00:00:bb:02 STATIC"), std::string::npos) << n;

  const std::string s = ok({"tnl-stats"});
  EXPECT_NE(s.find("port 2: vxlan_sys_4789 (vxlan, udp 4789)"), std::string::npos) << s;
  EXPECT_NE(s.find("port 3: genev_sys_6081 (geneve, udp 6081)"), std::string::npos) << s;
  EXPECT_NE(s.find("port 4: vxlan_8472 (vxlan, udp 8472)"), std::string::npos) << s;

  // The underlay port goes: its addresses, routes and neighbours with it.
  ok({"del-port", "u0"});
  EXPECT_EQ(ok({"tnl-ip", "show"}), "");
  EXPECT_EQ(ok({"route", "show"}), "");
  EXPECT_EQ(ok({"neigh", "show"}), "");
  // A freed UDP port can be taken again.
  ok({"del-port", "vxlan_sys_4789"});
  ok({"add-port", "vx", "vxlan"});
}

TEST_F(TunnelCtlTest, Ipv6UnderlayIsConfiguredShownAndRefusesBadInput) {
  ok({"add-port", "u0", "dpdk", "net_null_u0,no-rx=1", "--port-no", "1"});
  ok({"add-port", "u1", "dpdk", "net_null_u1,no-rx=1", "--port-no", "2"});
  ok({"add-port", "vxlan_sys_4789", "vxlan", "--port-no", "3"});

  ok({"tnl-ip", "add", "2001:db8:0:1::1/64", "u0"});
  ok({"tnl-ip", "add", "10.0.0.1/24", "u0"});
  ok({"tnl-ip", "add", "2001:db8:0:2::1/128", "u1"});  // no connected route
  EXPECT_EQ(ok({"tnl-ip", "show"}),
            "10.0.0.1/24 dev u0 (port 1)\n"
            "2001:db8:0:1::1/64 dev u0 (port 1)\n"
            "2001:db8:0:2::1/128 dev u1 (port 2)\n");
  fails({"tnl-ip", "add", "2001:db8:0:1::1/64", "u1"}, 1, "already a VTEP address");
  fails({"tnl-ip", "add", "ff02::1/64", "u0"}, 1, "bad address");
  fails({"tnl-ip", "add", "::/64", "u0"}, 1, "bad address");
  fails({"tnl-ip", "add", "2001:db8::9/64", "vxlan_sys_4789"}, 1, "cannot be an underlay");
  fails({"tnl-ip", "add", "2001:db8::9/129", "u0"}, 2, "tnl-ip add IP/PLEN PORT");
  fails({"tnl-ip", "add", "2001:db8:::9/64", "u0"}, 2, "tnl-ip add IP/PLEN PORT");

  ok({"route", "add", "::/0", "u0", "2001:db8:0:1::fe"});
  ok({"route", "add", "2001:db8:100::/40", "u1", "fe80::1", "src=2001:db8:0:2::1"});
  ok({"route", "add", "2001:db8:0:3::/64", "u1"});
  EXPECT_EQ(ok({"route", "show"}),
            "10.0.0.0/24 dev u0 src 10.0.0.1 (connected)\n"
            "2001:db8:0:1::/64 dev u0 src 2001:db8:0:1::1 (connected)\n"
            "2001:db8:0:3::/64 dev u1\n"
            "2001:db8:100::/40 via fe80::1 dev u1 src 2001:db8:0:2::1\n"
            "::/0 via 2001:db8:0:1::fe dev u0\n");
  fails({"route", "add", "2001:db8:0:3::/64", "u0"}, 1, "a route to that prefix exists");
  fails({"route", "add", "2001:db8:0:3::1/64", "u0"}, 1, "host bits");
  fails({"route", "add", "2001:db8:0:4::/64", "u0", "10.0.0.254"}, 2, "bad gateway");
  fails({"route", "add", "2001:db8:0:4::/64", "u0", "src=10.0.0.1"}, 2, "bad source");
  fails({"route", "add", "10.9.0.0/16", "u0", "2001:db8::1"}, 2, "bad gateway");
  ok({"route", "del", "2001:db8:0:3::/64"});
  fails({"route", "del", "2001:db8:0:3::/64"}, 1, "no such route");
  fails({"route", "del", "2001:db8:100::/41"}, 1, "no such route");

  // Deleting an address takes its connected route; the port stays an
  // underlay while it has an address of either family.
  ok({"tnl-ip", "del", "2001:db8:0:1::1"});
  fails({"tnl-ip", "del", "2001:db8:0:1::1"}, 1, "no such VTEP address");
  EXPECT_EQ(ok({"route", "show"}),
            "10.0.0.0/24 dev u0 src 10.0.0.1 (connected)\n"
            "2001:db8:100::/40 via fe80::1 dev u1 src 2001:db8:0:2::1\n"
            "::/0 via 2001:db8:0:1::fe dev u0\n");
  fails({"tnl-ip", "del", "2001:db8:0:2::1", "u0"}, 1, "no such VTEP address");

  // The port goes: its IPv6 addresses and routes with it.
  ok({"del-port", "u1"});
  EXPECT_EQ(ok({"tnl-ip", "show"}), "10.0.0.1/24 dev u0 (port 1)\n");
  EXPECT_EQ(ok({"route", "show"}),
            "10.0.0.0/24 dev u0 src 10.0.0.1 (connected)\n"
            "::/0 via 2001:db8:0:1::fe dev u0\n");
}

TEST_F(TunnelCtlTest, ExecutedPacketIsEncapsulatedOrResolvedWithArp) {
  const std::string out = dpxd_.dir() + "/underlay.pcap";
  ok({"add-port", "u0", "dpdk", "net_pcap_u0,tx_pcap=" + out, "--port-no", "1"});
  ok({"add-port", "vxlan_sys_4789", "vxlan", "--port-no", "2"});
  ok({"tnl-ip", "add", "10.0.0.1/24", "u0"});
  ok({"neigh", "set", "u0", "10.0.0.2", "02:00:00:00:bb:02"});
  const std::array<uint8_t, 6> port_mac = port(1).mac;

  const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
  const Packet inner = udp_packet(dst, src, 0xc0a80101, 0xc0a80102, 1000, 2000, 18);
  const std::string hex = hex_of(inner);
  ok({"execute", "5", hex, "set(tunnel(tun_id=0x2a,dst=10.0.0.2,ttl=64,flags(df|key))),2"});
  // The next hop 10.0.0.3 is unknown: dropped, then an ARP request.
  ok({"execute", "5", hex, "set(tunnel(tun_id=0x2a,dst=10.0.0.3,ttl=64,flags(df|key))),2"});
  ASSERT_TRUE(wait_until([&] { return port(1).stats.tx_packets == 2; }))
      << "tx " << port(1).stats.tx_packets << "\n"
      << ok({"tnl-stats"});
  EXPECT_EQ(counter("encap_neighbour_unresolved"), 1u);
  EXPECT_EQ(counter("arp_requests_sent"), 1u);
  const std::string n = ok({"neigh", "show"});
  EXPECT_NE(n.find("10.0.0.3 dev u0 lladdr 00:00:00:00:00:00 INCOMPLETE"), std::string::npos) << n;
  EXPECT_NE(ok({"tnl-stats"}).find("encap packets:1 bytes:" + std::to_string(inner.size())),
            std::string::npos);
  // The tunnel port's own statistics (what `ovs-vsctl get interface` shows).
  EXPECT_EQ(port(2).stats.tx_packets, 1u);
  EXPECT_EQ(port(2).stats.tx_bytes, inner.size());

  // net_pcap writes its file out when the port closes.
  ok({"del-port", "u0"});
  std::vector<Packet> pkts;
  ASSERT_TRUE(read_pcap(out, &pkts));
  ASSERT_EQ(pkts.size(), 2u);
  const Packet& v = pkts[0];
  ASSERT_EQ(v.size(), kOuterIpv4Len + inner.size());
  const uint8_t nh[6] = {2, 0, 0, 0, 0xbb, 2};
  EXPECT_EQ(std::memcmp(v.data(), nh, 6), 0);
  EXPECT_EQ(std::memcmp(v.data() + 6, port_mac.data(), 6), 0);
  const uint8_t ips[8] = {10, 0, 0, 1, 10, 0, 0, 2};
  EXPECT_EQ(std::memcmp(v.data() + 26, ips, 8), 0);
  EXPECT_EQ(csum_finish(csum_add_bytes(0, v.data() + 14, 20)), 0) << "IPv4 header checksum";
  EXPECT_EQ(v[36] << 8 | v[37], kVxlanUdpPort);
  const uint8_t vxlan[8] = {0x08, 0, 0, 0, 0, 0, 42, 0};
  EXPECT_EQ(std::memcmp(v.data() + 42, vxlan, 8), 0);
  EXPECT_TRUE(std::equal(inner.begin(), inner.end(), v.begin() + kOuterIpv4Len));

  const Packet& a = pkts[1];
  ASSERT_GE(a.size(), 42u);
  const uint8_t arp_head[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(std::memcmp(a.data(), arp_head, 6), 0);
  EXPECT_EQ(a[12] << 8 | a[13], 0x0806);
  EXPECT_EQ(a[20] << 8 | a[21], 1) << "a request";
  EXPECT_EQ(std::memcmp(a.data() + 22, port_mac.data(), 6), 0);
  const uint8_t spa[4] = {10, 0, 0, 1}, tpa[4] = {10, 0, 0, 3};
  EXPECT_EQ(std::memcmp(a.data() + 28, spa, 4), 0);
  EXPECT_EQ(std::memcmp(a.data() + 38, tpa, 4), 0);
}

// The IPv4 header checksum of p (at offset 14) made right again.
void fix_ip_checksum(Packet& p) {
  p[24] = p[25] = 0;
  const uint16_t c = csum_finish(csum_add_bytes(0, p.data() + 14, 20));
  p[24] = static_cast<uint8_t>(c >> 8);
  p[25] = static_cast<uint8_t>(c);
}

// OVS's megaflow for a tunnel output matches the ECN bits of the TOS, which
// the simple-match pass now keys on, and it encapsulates runs of a flow's
// packets there, hashing fields it reads from the packet; the full pass
// (EMC, executor) hashes the flow key. Both must send the same bytes, UDP
// source ports included, for UDP, TCP, ICMP, other protocols and later
// fragments alike, and a packet whose ECN bits differ must miss.
TEST_F(TunnelCtlTest, TunnelFlowsEncapsulateAlikeOnTheSimpleAndTheFullPath) {
  const std::string out = dpxd_.dir() + "/underlay.pcap", in = dpxd_.dir() + "/in.pcap";
  const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
  std::vector<Packet> inner;
  for (uint32_t i = 0; i < 40; ++i) {
    Packet p = udp_packet(dst, src, 0xc0a80100 + i % 8, 0xc0a80201, static_cast<uint16_t>(1000 + i),
                          53, 20, i);
    switch (i % 5) {
      case 1:
        p[23] = 6;  // TCP: the ports are where UDP's are
        break;
      case 2:
        p[23] = 1;  // ICMP: type and code
        p[34] = 8;
        p[35] = static_cast<uint8_t>(i);
        break;
      case 3:
        p[23] = 47;  // GRE: no ports
        break;
      case 4:
        p[20] = 0x00;  // a later fragment: no L4 header
        p[21] = 0x10;
        break;
    }
    fix_ip_checksum(p);
    inner.push_back(p);
  }
  Packet ecn = inner[0];
  ecn[15] = 0x01;  // ECT(1): not what the megaflows below match
  fix_ip_checksum(ecn);
  std::vector<Packet> file = inner;
  file.push_back(ecn);
  ASSERT_TRUE(write_pcap(in, file));
  const uint64_t n = inner.size();

  ok({"add-port", "u0", "dpdk", "net_pcap_u0,tx_pcap=" + out, "--port-no", "1"});
  ok({"add-port", "vxlan_sys_4789", "vxlan", "--port-no", "2"});
  ok({"tnl-ip", "add", "10.0.0.1/24", "u0"});
  ok({"neigh", "set", "u0", "10.0.0.2", "02:00:00:00:bb:02"});
  const std::string tun =
      "set(tunnel(tun_id=0x2a,dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df|key))),2";
  // Simple: in_port, the ethertype and the TOS.
  ok({"add-flow", "recirc_id(0),in_port(3),eth(),eth_type(0x0800),ipv4(tos=0/0x3)", tun});
  ok({"add-port", "s3", "dpdk", "net_pcap_s3,rx_pcap=" + in, "--port-no", "3"});
  ASSERT_TRUE(wait_until([&] { return port(1).stats.tx_packets == n; }))
      << "tx " << port(1).stats.tx_packets << "\n"
      << ok({"show"}) << ok({"tnl-stats"});
  std::string show = ok({"show"});
  EXPECT_NE(show.find("lookups: hit:" + std::to_string(n) + " missed:1 "), std::string::npos)
      << show;
  EXPECT_NE(show.find("emc hits: 0\n"), std::string::npos) << "not the simple pass:\n" << show;

  // Not simple (the TTL): every first pass takes the full path.
  ok({"add-flow", "recirc_id(0),in_port(4),eth(),eth_type(0x0800),ipv4(tos=0/0x3,ttl=64)", tun});
  ok({"add-port", "s4", "dpdk", "net_pcap_s4,rx_pcap=" + in, "--port-no", "4"});
  ASSERT_TRUE(wait_until([&] { return port(1).stats.tx_packets == 2 * n; }))
      << "tx " << port(1).stats.tx_packets << "\n"
      << ok({"show"}) << ok({"tnl-stats"});
  show = ok({"show"});
  EXPECT_NE(show.find("lookups: hit:" + std::to_string(2 * n) + " missed:2 "), std::string::npos)
      << show;
  EXPECT_EQ(port(2).stats.tx_packets, 2 * n);

  ok({"del-port", "u0"});
  std::vector<Packet> pkts;
  ASSERT_TRUE(read_pcap(out, &pkts));
  ASSERT_EQ(pkts.size(), 2 * n);
  std::set<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(hex_of(pkts[i]), hex_of(pkts[n + i])) << "the two passes disagree";
    const Packet& v = pkts[i];
    ASSERT_EQ(v.size(), kOuterIpv4Len + inner[i].size());
    EXPECT_TRUE(std::equal(inner[i].begin(), inner[i].end(), v.begin() + kOuterIpv4Len));
    EXPECT_EQ(csum_finish(csum_add_bytes(0, v.data() + 14, 20)), 0) << "IPv4 header checksum";
    const uint16_t sport = static_cast<uint16_t>(v[34] << 8 | v[35]);
    EXPECT_GE(sport, kTunnelSrcPortMin);
    EXPECT_LE(sport, kTunnelSrcPortMax);
    ports.insert(sport);
  }
  EXPECT_GT(ports.size(), n / 2) << "the flows' source ports hardly spread";
}

// Decapsulation on the simple-match pass: VXLAN frames from one remote VTEP
// in runs of two VNIs (the UDP source port different in every frame, one
// frame with a bad outer IPv4 checksum inside a run), replayed endlessly into
// an underlay port, reach the sink of their VNI's megaflow byte for byte,
// the flows count them, and the broken frame is dropped and counted.
TEST_F(TunnelCtlTest, TunnelRunsAreDecapsulatedToTheirVniOnTheSimplePass) {
  const std::string in = dpxd_.dir() + "/vxlan.pcap";
  const std::string out[2] = {dpxd_.dir() + "/s5.pcap", dpxd_.dir() + "/s6.pcap"};
  ok({"add-port", "s5", "dpdk", "net_pcap_s5,tx_pcap=" + out[0], "--port-no", "5"});
  ok({"add-port", "s6", "dpdk", "net_pcap_s6,tx_pcap=" + out[1], "--port-no", "6"});
  ok({"add-port", "vxlan_sys_4789", "vxlan", "--port-no", "2"});
  const uint8_t remote_mac[6] = {2, 0, 0, 0, 0xbb, 2};
  const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
  // A frame of the file: inner frame i, VNI 42 or 43 in runs of 4.
  std::vector<Packet> inner;
  std::vector<uint32_t> vni;
  for (uint32_t i = 0; i < 24; ++i) {
    inner.push_back(udp_packet(dst, src, 0xc0a80100 + i, 0xc0a80201,
                               static_cast<uint16_t>(1000 + i), 53, 20, i));
    vni.push_back(i / 4 % 2 ? 43 : 42);
  }
  constexpr uint32_t kBad = 5;  // the second of a VNI 43 run
  for (const char* f : {"0x2a", "0x2b"})
    ok({"add-flow",
        std::string("recirc_id(0),in_port(2),tunnel(tun_id=") + f +
            ",src=10.0.0.2,dst=10.0.0.1,ttl=0/0),eth(),eth_type(0x0800),ipv4(frag=no)",
        f == std::string("0x2a") ? "5" : "6"});
  // The frames are for the underlay port's MAC, which net_pcap derives
  // from a count of its devices: the one after s6's.
  std::array<uint8_t, 6> mac = port(6).mac;
  mac[5] = static_cast<uint8_t>(mac[5] + 1);
  std::vector<Packet> file;
  for (uint32_t i = 0; i < inner.size(); ++i) {
    Packet p = udp_packet(mac.data(), remote_mac, 0x0a000002, 0x0a000001,
                          static_cast<uint16_t>(49152 + i), 4789, 8 + inner[i].size());
    const uint8_t vx[8] = {0x08, 0, 0, 0, 0, 0, static_cast<uint8_t>(vni[i]), 0};
    std::memcpy(p.data() + 42, vx, 8);
    std::memcpy(p.data() + 50, inner[i].data(), inner[i].size());
    if (i == kBad) p[25] ^= 0x01;
    file.push_back(p);
  }
  ASSERT_TRUE(write_pcap(in, file));
  ok({"add-port", "u0", "dpdk", "net_pcap_u0,rx_pcap=" + in + ",infinite_rx=1", "--port-no", "1"});
  ASSERT_EQ(port(1).mac, mac) << "the underlay port's MAC is not the one the frames are for";
  // Until the VTEP address is there, the frames are plain (and missed).
  ok({"tnl-ip", "add", "10.0.0.1/24", "u0"});
  ASSERT_TRUE(wait_until([&] {
    return port(5).stats.tx_packets >= 400 && port(6).stats.tx_packets >= 400;
  })) << ok({"show"})
      << ok({"tnl-stats"});
  ok({"del-port", "u0"});
  const std::string show = ok({"show"});
  EXPECT_NE(show.find("emc hits: 0\n"), std::string::npos) << "not the simple pass:\n" << show;
  EXPECT_GT(counter("decap_bad_ip_checksum"), 0u);
  const uint64_t sent[2] = {port(5).stats.tx_packets, port(6).stats.tx_packets};
  // Each flow counted what its sink sent.
  const std::string flows = ok({"dump-flows"});
  for (int f = 0; f < 2; ++f) {
    const size_t at = flows.find(f == 0 ? "tun_id=0x2a" : "tun_id=0x2b");
    ASSERT_NE(at, std::string::npos) << flows;
    const size_t pk = flows.find("packets:", at);
    ASSERT_NE(pk, std::string::npos) << flows;
    EXPECT_EQ(std::stoull(flows.substr(pk + 8)), sent[f]) << flows;
  }
  ok({"del-port", "s5"});
  ok({"del-port", "s6"});
  for (int f = 0; f < 2; ++f) {
    SCOPED_TRACE(out[f]);
    std::vector<Packet> pkts;
    ASSERT_TRUE(read_pcap(out[f], &pkts));
    EXPECT_EQ(pkts.size(), sent[f]);
    std::set<uint32_t> seen;
    for (const Packet& p : pkts) {
      uint32_t i = 0;
      while (i < inner.size() && inner[i] != p) ++i;
      ASSERT_LT(i, inner.size()) << "not an inner frame: " << hex_of(p);
      EXPECT_EQ(vni[i], f == 0 ? 42u : 43u) << "frame " << i << " reached the other VNI's sink";
      EXPECT_NE(i, kBad) << "the frame with the bad outer checksum was forwarded";
      seen.insert(i);
    }
    EXPECT_EQ(seen.size(), f == 0 ? 12u : 11u);
  }
}

// An NS or NA frame (as scapy built them in tests/data/nd_ns_na.pcap) with
// `mac` as its Ethernet source and link-layer address option, its ICMPv6
// checksum recomputed.
Packet with_mac(Packet p, const uint8_t* mac) {
  std::memcpy(p.data() + 6, mac, 6);
  std::memcpy(p.data() + 80, mac, 6);
  p[56] = p[57] = 0;
  const uint32_t sum = csum_add_bytes(0, p.data() + 22, 32) + uint32_t(p.size() - 54) + 58;
  const uint16_t c = csum_finish(csum_add_bytes(sum, p.data() + 54, p.size() - 54));
  p[56] = static_cast<uint8_t>(c >> 8);
  p[57] = static_cast<uint8_t>(c);
  return p;
}

TEST_F(TunnelCtlTest, ExecutedPacketIsEncapsulatedOverIpv6) {
  const std::string out = dpxd_.dir() + "/underlay6.pcap";
  ok({"add-port", "u0", "dpdk", "net_pcap_u0,tx_pcap=" + out, "--port-no", "1"});
  ok({"add-port", "vxlan_sys_4789", "vxlan", "--port-no", "2"});
  ok({"tnl-ip", "add", "2001:db8::1/64", "u0"});
  ok({"neigh", "set", "u0", "2001:db8::3", "02:00:00:00:bb:02"});
  fails({"neigh", "set", "u0", "ff02::1", "02:00:00:00:bb:02"}, 1, "bad address");
  EXPECT_NE(ok({"neigh", "show"}).find("2001:db8::3 dev u0 lladdr 02:00:00:00:bb:02 STATIC"),
            std::string::npos);
  const std::array<uint8_t, 6> port_mac = port(1).mac;

  const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
  const Packet inner = udp_packet(dst, src, 0xc0a80101, 0xc0a80102, 1000, 2000, 18);
  const std::string hex = hex_of(inner);
  ok({"execute", "5", hex, "set(tunnel(tun_id=0x2a,ipv6_dst=2001:db8::3,ttl=9,flags(key))),2"});
  // No neighbour for 2001:db8::2: dropped, and a solicitation goes out.
  ok({"execute", "5", hex, "set(tunnel(tun_id=0x2a,ipv6_dst=2001:db8::2,ttl=9,flags(key))),2"});
  ASSERT_TRUE(wait_until([&] { return port(1).stats.tx_packets == 2; })) << ok({"tnl-stats"});
  EXPECT_EQ(counter("encap_neighbour_unresolved"), 1u);
  EXPECT_EQ(counter("nd_solicits_sent"), 1u);
  EXPECT_EQ(port(2).stats.tx_packets, 1u);
  const std::string n = ok({"neigh", "show"});
  EXPECT_NE(n.find("2001:db8::2 dev u0 lladdr 00:00:00:00:00:00 INCOMPLETE"), std::string::npos)
      << n;

  ok({"del-port", "u0"});  // the underlay and its neighbours go
  EXPECT_EQ(ok({"neigh", "show"}), "");
  std::vector<Packet> pkts;
  ASSERT_TRUE(read_pcap(out, &pkts));
  ASSERT_EQ(pkts.size(), 2u);
  // The solicitation: scapy's (from 2001:db8::1 for 2001:db8::2) with our
  // MAC in its Ethernet source and source link-layer option.
  std::vector<Packet> nd;
  ASSERT_TRUE(read_pcap(std::string(DPX_TEST_DATA_DIR) + "/nd_ns_na.pcap", &nd));
  ASSERT_EQ(nd.size(), 2u);
  EXPECT_EQ(pkts[1], with_mac(nd[0], port_mac.data()));
  const Packet& v = pkts[0];
  ASSERT_EQ(v.size(), kOuterIpv6Len + inner.size());
  const uint8_t nh[6] = {2, 0, 0, 0, 0xbb, 2};
  EXPECT_EQ(std::memcmp(v.data(), nh, 6), 0);
  EXPECT_EQ(std::memcmp(v.data() + 6, port_mac.data(), 6), 0);
  EXPECT_EQ(v[12] << 8 | v[13], 0x86dd);
  EXPECT_EQ(v[14] >> 4, 6);
  EXPECT_EQ(v[18] << 8 | v[19], 8 + 8 + inner.size()) << "payload length";
  EXPECT_EQ(v[20], 17) << "next header UDP";
  EXPECT_EQ(v[21], 9) << "hop limit";
  const uint8_t addrs[32] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
                             0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
  EXPECT_EQ(std::memcmp(v.data() + 22, addrs, 32), 0);
  EXPECT_EQ(v[56] << 8 | v[57], kVxlanUdpPort);
  // The UDP checksum verifies over the IPv6 pseudo-header.
  const uint32_t ulen = v[58] << 8 | v[59];
  ASSERT_EQ(ulen, v.size() - 54);
  EXPECT_NE(v[60] << 8 | v[61], 0);
  uint32_t sum = csum_add_bytes(0, v.data() + 22, 32) + ulen + 17;
  EXPECT_EQ(csum_finish(csum_add_bytes(sum, v.data() + 54, ulen)), 0);
  const uint8_t vxlan[8] = {0x08, 0, 0, 0, 0, 0, 42, 0};
  EXPECT_EQ(std::memcmp(v.data() + 62, vxlan, 8), 0);
  EXPECT_TRUE(std::equal(inner.begin(), inner.end(), v.begin() + kOuterIpv6Len));
}

TEST_F(TunnelCtlTest, NeighbourSolicitationForOurAddressIsAnswered) {
  // u0 is a loopback (net_ring without arguments: what it sends, it
  // receives). The solicitation executed out of it comes back in and is
  // answered; the advertisement comes back in too, is not for us, and a
  // flow copies it to a pcap port.
  const std::string out = dpxd_.dir() + "/na.pcap";
  ok({"add-port", "u0", "dpdk", "net_ring_u0", "--port-no", "1"});
  ok({"add-port", "cap", "dpdk", "net_pcap_cap,tx_pcap=" + out, "--port-no", "3"});
  ok({"tnl-ip", "add", "2001:db8::2/64", "u0"});
  ok({"add-flow",
      "in_port(1),eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=136,code=0),"
      "nd(target=2001:db8::2)",
      "3"});
  const std::array<uint8_t, 6> port_mac = port(1).mac;
  std::vector<Packet> nd;
  ASSERT_TRUE(read_pcap(std::string(DPX_TEST_DATA_DIR) + "/nd_ns_na.pcap", &nd));
  ASSERT_EQ(nd.size(), 2u);
  // 2001:db8::1 (02:00:00:00:aa:01) asks for 2001:db8::2
  std::string hex = hex_of(nd[0]);
  ok({"execute", "3", hex, "1"});
  ASSERT_TRUE(wait_until([&] { return port(3).stats.tx_packets == 1; }))
      << ok({"tnl-stats"}) << ok({"show"});
  EXPECT_EQ(counter("nd_adverts_sent"), 1u);
  EXPECT_EQ(counter("arp_punted"), 1u) << "the solicitation, handed to the control thread";

  ok({"del-port", "cap"});
  std::vector<Packet> pkts;
  ASSERT_TRUE(read_pcap(out, &pkts));
  ASSERT_EQ(pkts.size(), 1u);
  const Packet& na = pkts[0];
  // Scapy's advertisement from 2001:db8::2 with our MAC in place of its
  // 02:00:00:00:bb:02: every other byte must be the same.
  EXPECT_EQ(na, with_mac(nd[1], port_mac.data()));
  // The solicitation's sender was learned.
  EXPECT_NE(ok({"neigh", "show"}).find("2001:db8::1 dev u0 lladdr 02:00:00:00:aa:01 REACHABLE"),
            std::string::npos)
      << ok({"neigh", "show"});
  EXPECT_EQ(counter("nd_learned"), 1u);

  // An advertisement to us (2001:db8::5 says it is at 02:00:00:00:00:05) is
  // learned as well.
  Packet na5 = nd[1];
  const uint8_t a5[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
  const uint8_t a2[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::memcpy(na5.data() + 22, a5, 16);  // source
  std::memcpy(na5.data() + 38, a2, 16);  // destination: our VTEP
  std::memcpy(na5.data() + 62, a5, 16);  // target
  const uint8_t mac5[6] = {2, 0, 0, 0, 0, 5};
  na5 = with_mac(na5, mac5);
  std::memcpy(na5.data(), port_mac.data(), 6);
  hex = hex_of(na5);
  ok({"execute", "3", hex, "1"});
  ASSERT_TRUE(wait_until([&] { return counter("nd_learned") == 2; })) << ok({"tnl-stats"});
  EXPECT_NE(ok({"neigh", "show"}).find("2001:db8::5 dev u0 lladdr 02:00:00:00:00:05 REACHABLE"),
            std::string::npos)
      << ok({"neigh", "show"});
  EXPECT_EQ(counter("nd_ignored"), 0u);
}

// Geneve options through a real dpxd: u0 is a loopback (net_ring), and
// 10.0.0.1, its own VTEP address, resolves to its own MAC, so what the
// Geneve port encapsulates comes back in and is decapsulated. A megaflow
// that matches the option's value (OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS in the
// key) sends it to a pcap port; a packet with another value misses it.
TEST_F(TunnelCtlTest, GeneveOptionsAreSetEncapsulatedDecapsulatedAndMatched) {
  const std::string out = dpxd_.dir() + "/opts.pcap";
  ok({"add-port", "u0", "dpdk", "net_ring_u0", "--port-no", "1"});
  ok({"add-port", "genev_sys_6081", "geneve", "--port-no", "2"});
  ok({"add-port", "cap", "dpdk", "net_pcap_cap,tx_pcap=" + out, "--port-no", "3"});
  ok({"tnl-ip", "add", "10.0.0.1/24", "u0"});
  const std::array<uint8_t, 6> mac = port(1).mac;
  char mac_text[18];
  std::snprintf(mac_text, sizeof mac_text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                mac[3], mac[4], mac[5]);
  ok({"neigh", "set", "u0", "10.0.0.1", mac_text});
  const std::string opt = "geneve({class=0xffff,type=0x1,len=4,0x1234abcd})";
  ok({"add-flow",
      "in_port(2),tunnel(tun_id=0x2a,src=10.0.0.1,dst=10.0.0.1,ttl=64," + opt +
          ",flags(+key)),eth(),eth_type(0x0800),ipv4(frag=no)",
      "3"});
  const std::string flows = ok({"dump-flows"});
  EXPECT_NE(flows.find(opt), std::string::npos) << flows;

  const uint8_t dst[6] = {2, 0, 0, 0, 0, 2}, src[6] = {2, 0, 0, 0, 0, 1};
  const Packet inner = udp_packet(dst, src, 0xc0a80101, 0xc0a80102, 1000, 2000, 18);
  const std::string hex = hex_of(inner);
  ok({"execute", "5", hex,
      "set(tunnel(tun_id=0x2a,dst=10.0.0.1,ttl=64," + opt + ",flags(key))),2"});
  ASSERT_TRUE(wait_until([&] { return port(3).stats.tx_packets == 1; }))
      << ok({"tnl-stats"}) << ok({"show"}) << ok({"dump-flows"});
  // Another value: decapsulated (the tunnel port counts it), no megaflow.
  ok({"execute", "5", hex,
      "set(tunnel(tun_id=0x2a,dst=10.0.0.1,ttl=64,"
      "geneve({class=0xffff,type=0x1,len=4,0x55555555}),flags(key))),2"});
  ASSERT_TRUE(wait_until([&] { return port(2).stats.rx_packets == 2; }))
      << ok({"tnl-stats"}) << ok({"show"});
  EXPECT_EQ(port(2).stats.tx_packets, 2u);
  EXPECT_NE(ok({"dump-flows"}).find("packets:1,"), std::string::npos) << ok({"dump-flows"});

  ok({"del-port", "cap"});
  std::vector<Packet> pkts;
  ASSERT_TRUE(read_pcap(out, &pkts));
  ASSERT_EQ(pkts.size(), 1u);
  EXPECT_EQ(pkts[0], inner);

  // The same through a megaflow: a packet sent out of the loopback port lo4
  // comes back in on it and its megaflow encapsulates it with the option.
  ok({"add-port", "lo4", "dpdk", "net_ring_lo4", "--port-no", "4"});
  ok({"add-flow", "in_port(4),eth(),eth_type(0x0800),ipv4(frag=no)",
      "set(tunnel(tun_id=0x2a,dst=10.0.0.1,ttl=64," + opt + ",flags(key))),2"});
  ok({"execute", "5", hex, "4"});
  ASSERT_TRUE(wait_until([&] { return port(2).stats.tx_packets == 3; }))
      << ok({"tnl-stats"}) << ok({"show"}) << ok({"dump-flows"});

  // Options past 252 bytes are refused with the reason (by dpxctl's parser,
  // which builds only well-formed streams; dpxd's own checks are in
  // geneve_opts_test).
  fails({"execute", "5", hex,
         "set(tunnel(tun_id=0x2a,dst=10.0.0.1,ttl=64,geneve({class=0xffff,type=0x1,len=8,0x1}"
         "{class=0x1,type=0x1,len=124,0x1}{class=0x1,type=0x1,len=124,0x1}),flags(key))),2"},
        2, "252");
}

}  // namespace
}  // namespace dpx::test
