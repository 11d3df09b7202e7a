// Integration: dpxd's vhost-user ports (vhost/vhost_port.h) against DPDK's
// dpdk-testpmd with net_virtio_user vdevs, the way a DPDK container
// attaches. The loop: pcap source -> flow -> vhost port A -> testpmd (io
// forwarding between its two virtio-user ports) -> vhost port B -> flow ->
// pcap sink, compared byte for byte with what was sent, with dpxd's
// per-queue counters checked on both vhost ports. Server and client mode,
// two queue pairs with two PMDs, a guest with more queue pairs than n_rxq
// (all polled) or fewer enabled than set up (tx only to enabled ones), the
// guest killed mid-traffic and coming back, port deletion while connected,
// checksum offload negotiation, bad devargs. Guest TSO: vhost_tso_test.cc.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>

#include "support/vhost_fixture.h"

namespace dpx::test {
namespace {

TEST_F(Vhost, ServerModeLoopIsByteExact) {
  start_dpxd();
  add_loop("vhostuser");
  // dpxd created the sockets; no guest yet, so the links are down.
  EXPECT_TRUE(std::filesystem::is_socket(path("a.sock")));
  EXPECT_FALSE(link_up("vhA"));
  start_testpmd();
  wait_links(true);
  // virtio-user advertises no MTU (VIRTIO_NET_F_MTU): the port says 1500.
  EXPECT_EQ(port("vhA").mtu, 1500u);
  EXPECT_EQ(port("vhA").stats.tx_packets, 0u);
  loop_round(500, 1);
  loop_round(300, 2);
  // Removing a server port removes its socket file.
  testpmd_.stop();
  wait_links(false);
  del_port("vhA");
  EXPECT_FALSE(std::filesystem::exists(path("a.sock")));
  EXPECT_TRUE(dpxd_.alive());
}

TEST_F(Vhost, ClientModeConnectsToGuestSocketsAndReconnects) {
  start_dpxd();
  // dpxd's client ports exist before the guest's sockets do.
  add_loop("vhostuserclient");
  EXPECT_FALSE(link_up("vhA"));
  start_testpmd(",server=1");
  wait_links(true);
  loop_round(400, 1);
  // The guest goes away and comes back (a container restart): dpxd
  // reconnects by itself and forwards again.
  testpmd_.kill9();
  wait_links(false);
  std::filesystem::remove(path("a.sock"));
  std::filesystem::remove(path("b.sock"));
  start_testpmd(",server=1");
  wait_links(true);
  loop_round(400, 2);
  EXPECT_TRUE(dpxd_.alive());
}

TEST_F(Vhost, TwoQueuePairsUseEveryQueueAndCountRingFullDrops) {
  // Two PMDs, so vhost port A has two tx queues, and both ports poll two rx
  // queues: the poll lists give queue 0 and queue 1 of each port to
  // different PMDs.
  start_dpxd("0,1");
  add_port("vhA", "vhostuser", path("a.sock"), kVhA, 2);
  add_port("vhB", "vhostuser", path("b.sock"), kVhB, 2);
  add_flow("in_port(3),eth(),eth_type(0x0800),ipv4()", "2");
  // The guest sends on both queues of both ports and never receives, so
  // port A's guest rings fill up and the rest is counted as dropped.
  start_testpmd(",queues=2", {"--forward-mode=txonly", "--rxq=2", "--txq=2", "--txpkts=64"});
  wait_links(true);
  ASSERT_TRUE(wait_until([&] {
    const PortInfo b = port("vhB"), a = port("vhA");
    return queue(b, false, 0).packets > 1000 && queue(b, false, 1).packets > 1000 &&
           queue(a, true, 0).packets > 0 && queue(a, true, 1).packets > 0 &&
           total(a, true).drops > 1000;
  })) << dpxd_.log()
      << testpmd_.log();
  testpmd_.stop();
  wait_links(false);
  // Every packet B received went to A: sent into a guest ring or counted.
  const PortInfo a = port("vhA"), b = port("vhB");
  EXPECT_EQ(a.n_txq, 2u);
  EXPECT_EQ(b.n_rxq, 2u);
  EXPECT_EQ(total(a, true).packets + total(a, true).drops, total(b, false).packets);
  // The guest never polls its rx rings, so a queue took at most a ring's
  // worth of packets (1024 descriptors, one per small packet).
  EXPECT_LE(queue(a, true, 0).packets, 1024u);
  EXPECT_LE(queue(a, true, 1).packets, 1024u);
  EXPECT_EQ(a.stats.tx_drops, total(a, true).drops);
}

TEST_F(Vhost, GuestQueuePairsBeyondNRxqArePolled) {
  // The ports are added with one rx queue; the guest enables four queue
  // pairs and sends on all of them. Each port grows to four rx queues
  // (vring_state_changed, then the control thread's refresh), spread over
  // the two PMDs, and every queue's packets reach the sink.
  start_dpxd("0,1");
  add_port("vhA", "vhostuser", path("a.sock"), kVhA);
  add_port("vhB", "vhostuser", path("b.sock"), kVhB);
  add_port("sink", "dpdk", "net_null_sink,no-rx=1", kOut);
  add_flow("in_port(2),eth(),eth_type(0x0800),ipv4()", "4");
  add_flow("in_port(3),eth(),eth_type(0x0800),ipv4()", "4");
  EXPECT_EQ(port("vhB").n_rxq, 1u);
  start_testpmd(",queues=4", {"--forward-mode=txonly", "--rxq=4", "--txq=4", "--txpkts=64"});
  wait_links(true);
  ASSERT_TRUE(wait_until([&] {
    const PortInfo a = port("vhA"), b = port("vhB");
    for (uint32_t q = 0; q < 4; ++q)
      if (queue(a, false, q).packets < 1000 || queue(b, false, q).packets < 1000) return false;
    return true;
  })) << dpxd_.log()
      << testpmd_.log();
  testpmd_.stop();
  wait_links(false);
  const PortInfo a = port("vhA"), b = port("vhB");
  EXPECT_EQ(a.n_rxq, 4u);
  EXPECT_EQ(b.n_rxq, 4u);
  // Every packet of every queue was counted with its 64 bytes and went to
  // the sink (a null device takes everything).
  for (const PortInfo* p : {&a, &b})
    for (uint32_t q = 0; q < 4; ++q) {
      EXPECT_EQ(queue(*p, false, q).bytes, 64 * queue(*p, false, q).packets) << p->name << q;
      EXPECT_EQ(queue(*p, false, q).drops, 0u) << p->name << q;
    }
  const PortInfo sink = port("sink");
  EXPECT_EQ(sink.stats.tx_packets, total(a, false).packets + total(b, false).packets);
  EXPECT_EQ(sink.stats.tx_bytes, total(a, false).bytes + total(b, false).bytes);
  // The guest gone, the queues (and their counters) stay.
  EXPECT_EQ(port("vhB").n_rxq, 4u);
}

TEST_F(Vhost, TxOnlyToQueuesTheGuestEnabled) {
  // The guest sets up two queue pairs on each device but enables only the
  // first (testpmd configures one queue). dpxd's two PMDs each transmit to
  // port A on their own tx queue; both must land on the guest's enabled
  // queue pair 0, never on the disabled one (which would drop everything).
  start_dpxd("0,1");
  add_port("vhA", "vhostuser", path("a.sock"), kVhA);
  add_port("vhB", "vhostuser", path("b.sock"), kVhB);
  add_flow("in_port(3),eth(),eth_type(0x0800),ipv4()", "4");
  add_flow("in_port(5),eth(),eth_type(0x0800),ipv4()", "2");
  add_flow("in_port(6),eth(),eth_type(0x0800),ipv4()", "2");
  start_testpmd(",queues=2", {"--forward-mode=io", "--rxq=1", "--txq=1"});
  wait_links(true);
  // 200 packets from each: together less than the guest's rx ring takes
  // at once (testpmd fills 512 of its 1024 descriptors), so nothing may be
  // dropped.
  const std::vector<Packet> in1 = traffic(200, 1), in2 = traffic(200, 2);
  ASSERT_TRUE(write_pcap(path("in1.pcap"), in1));
  ASSERT_TRUE(write_pcap(path("in2.pcap"), in2));
  add_port("out", "dpdk", "net_pcap_out,tx_pcap=" + path("out.pcap"), kOut);
  // Poll lists are dealt round robin in odp order (vhA, vhB, out, in1,
  // in2 over PMD 0, 1, 0, 1, 0): the two sources land on different PMDs.
  add_port("in1", "dpdk", "net_pcap_in1,rx_pcap=" + path("in1.pcap"), 5);
  add_port("in2", "dpdk", "net_pcap_in2,rx_pcap=" + path("in2.pcap"), 6);
  ASSERT_TRUE(wait_until([&] { return port("out").stats.tx_packets >= 400; }))
      << "sink got " << port("out").stats.tx_packets << "; vhA sent "
      << total(port("vhA"), true).packets << ", dropped " << total(port("vhA"), true).drops << "\n"
      << dpxd_.log() << testpmd_.log();
  const PortInfo a = port("vhA"), b = port("vhB");
  EXPECT_EQ(a.n_txq, 2u);
  EXPECT_EQ(queue(a, true, 0).packets, 200u);
  EXPECT_EQ(queue(a, true, 1).packets, 200u);
  EXPECT_EQ(total(a, true).drops, 0u);
  EXPECT_EQ(b.n_rxq, 1u);  // the guest enabled one queue pair
  EXPECT_EQ(total(b, false).packets, 400u);
  del_port("in1");
  del_port("in2");
  del_port("out");
  // The two PMDs' packets interleave: compare as sorted multisets.
  std::vector<Packet> got;
  ASSERT_TRUE(read_pcap(path("out.pcap"), &got));
  std::vector<std::string> g, w;
  for (const Packet& p : got) g.emplace_back(p.begin(), p.end());
  for (const auto* v : {&in1, &in2})
    for (const Packet& p : *v) w.emplace_back(p.begin(), p.end());
  std::sort(g.begin(), g.end());
  std::sort(w.begin(), w.end());
  EXPECT_TRUE(g == w) << got.size() << " packets captured";
}

TEST_F(Vhost, GuestKilledMidTrafficThenBack) {
  start_dpxd();
  add_loop("vhostuser");
  start_testpmd();
  wait_links(true);
  loop_round(200, 1);
  // Endless traffic into A while the guest dies.
  Packet p = udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 53, 100);
  ASSERT_TRUE(write_pcap(path("inf.pcap"), {p}));
  add_port("inf", "dpdk", "net_pcap_inf,rx_pcap=" + path("inf.pcap") + ",infinite_rx=1", kIn);
  ASSERT_TRUE(wait_until([&] { return total(port("vhB"), false).packets > 10000; }));
  testpmd_.kill9();
  wait_links(false);
  ASSERT_TRUE(dpxd_.alive());
  // With no device, everything sent to A is counted as a tx drop.
  const uint64_t d0 = total(port("vhA"), true).drops;
  ASSERT_TRUE(wait_until([&] { return total(port("vhA"), true).drops > d0 + 10000; }));
  const uint64_t b0 = total(port("vhB"), false).packets;
  // Other ports keep forwarding meanwhile.
  add_port("src2", "dpdk", "net_pcap_src2,rx_pcap=" + path("inf.pcap") + ",infinite_rx=1", 5);
  add_port("sink2", "dpdk", "net_null_sink2,no-rx=1", 6);
  add_flow("in_port(5),eth(),eth_type(0x0800),ipv4()", "6");
  ASSERT_TRUE(wait_until([&] { return port("sink2").stats.tx_packets > 10000; }));
  del_port("src2");
  del_port("sink2");
  EXPECT_EQ(total(port("vhB"), false).packets, b0);
  // The guest restarts: the loop forwards again, without touching dpxd.
  start_testpmd();
  wait_links(true);
  ASSERT_TRUE(wait_until([&] { return total(port("vhB"), false).packets > b0 + 10000; }));
  del_port("inf");
  // Drain what is still in flight, then a byte-exact round.
  ASSERT_TRUE(wait_until([&] {
    const uint64_t x = total(port("vhB"), false).packets;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return total(port("vhB"), false).packets == x;
  }));
  loop_round(300, 2);
  EXPECT_TRUE(dpxd_.alive());
}

TEST_F(Vhost, DeleteWhileConnectedAndForwarding) {
  start_dpxd();
  add_loop("vhostuser");
  start_testpmd();
  wait_links(true);
  Packet p = udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 53, 100);
  ASSERT_TRUE(write_pcap(path("inf.pcap"), {p}));
  add_port("inf", "dpdk", "net_pcap_inf,rx_pcap=" + path("inf.pcap") + ",infinite_rx=1", kIn);
  ASSERT_TRUE(wait_until([&] { return total(port("vhB"), false).packets > 10000; }));
  // Both vhost ports go while the guest is attached and packets flow.
  del_port("vhA");
  del_port("vhB");
  EXPECT_FALSE(has_port("vhA"));
  EXPECT_FALSE(std::filesystem::exists(path("a.sock")));
  EXPECT_FALSE(std::filesystem::exists(path("b.sock")));
  ASSERT_TRUE(dpxd_.alive());
  // The same socket paths can serve new ports at once.
  add_port("vhA", "vhostuser", path("a.sock"), kVhA);
  EXPECT_TRUE(std::filesystem::is_socket(path("a.sock")));
  EXPECT_FALSE(link_up("vhA"));
  del_port("vhA");
  del_port("inf");
  EXPECT_TRUE(dpxd_.alive());
}

TEST_F(Vhost, ChecksumOffloadsNegotiated) {
  // dpxd logs what each device negotiated (info level): the only outside
  // view of the port's tx offload capability.
  dpxd_.set_log_level("info");
  start_dpxd();
  add_loop("vhostuser");
  // The guest asks for tx and rx checksum offload (VIRTIO_NET_F_CSUM and
  // GUEST_CSUM) but no LRO (so no GUEST_TSO4/6): the port's tx offloads
  // become TCP_CKSUM|UDP_CKSUM (0xc), and the loop still forwards byte for
  // byte.
  start_testpmd("", {"--forward-mode=io", "--tx-offloads=0xc", "--rx-offloads=0xc"});
  wait_links(true);
  EXPECT_NE(dpxd_.log().find("vhost-user port vhA: device ready"), std::string::npos);
  EXPECT_NE(dpxd_.log().find("tx offloads 0xc)"), std::string::npos) << dpxd_.log();
  loop_round(300, 1);
  EXPECT_TRUE(dpxd_.alive());
}

TEST_F(Vhost, BadDevargsAreRefusedClearly) {
  start_dpxd();
  std::string err;
  EXPECT_EQ(add_port("v1", "vhostuser", "", 2, 0, &err), EINVAL);
  EXPECT_NE(err.find("socket path"), std::string::npos) << err;
  EXPECT_EQ(add_port("v1", "vhostuser", "relative.sock", 2, 0, &err), EINVAL);
  EXPECT_NE(err.find("not absolute"), std::string::npos) << err;
  EXPECT_EQ(add_port("v1", "vhostuserclient", path("nodir/x.sock"), 2, 0, &err), ENOENT);
  EXPECT_NE(err.find("does not exist"), std::string::npos) << err;
  EXPECT_EQ(add_port("v1", "vhostuser", "/tmp/" + std::string(120, 'x'), 2, 0, &err), EINVAL);
  EXPECT_NE(err.find("too long"), std::string::npos) << err;
  ASSERT_TRUE(write_pcap(path("file"), {}));
  EXPECT_EQ(add_port("v1", "vhostuser", path("file"), 2, 0, &err), EEXIST);
  EXPECT_NE(err.find("exists already"), std::string::npos) << err;
  EXPECT_EQ(add_port("v1", "vhostuser", path("a.sock"), 2, 0, &err, {"bogus=1"}), EINVAL);
  EXPECT_NE(err.find("bogus"), std::string::npos) << err;
  EXPECT_EQ(add_port("v1", "vhostuser", path("a.sock"), 2, 0, &err, {"mtu=20"}), EINVAL);
  EXPECT_NE(err.find("mtu"), std::string::npos) << err;
  EXPECT_EQ(add_port("v1", "vhostuserx", path("a.sock"), 2, 0, &err), EOPNOTSUPP);
  EXPECT_NE(err.find("vhostuserclient"), std::string::npos) << err;
  // Nothing was half-created: no port, no socket file.
  EXPECT_FALSE(has_port("v1"));
  EXPECT_FALSE(std::filesystem::exists(path("a.sock")));
  // One socket, one port; the mtu option is what the port reports.
  ASSERT_EQ(add_port("v1", "vhostuser", path("a.sock"), 2, 0, nullptr, {"mtu=9000"}), 0);
  EXPECT_EQ(port("v1").mtu, 9000u);
  EXPECT_EQ(add_port("v2", "vhostuserclient", path("a.sock"), 3, 0, &err), EEXIST);
  EXPECT_NE(err.find("used by port v1"), std::string::npos) << err;
  del_port("v1");
  EXPECT_FALSE(std::filesystem::exists(path("a.sock")));
  EXPECT_TRUE(dpxd_.alive());
}

}  // namespace
}  // namespace dpx::test
