// Integration: dpxd's vhost-user ports (vhost/vhost_port.h) against DPDK's
// dpdk-testpmd with net_virtio_user vdevs, the way a DPDK container
// attaches. The loop: pcap source -> flow -> vhost port A -> testpmd (io
// forwarding between its two virtio-user ports) -> vhost port B -> flow ->
// pcap sink, compared byte for byte with what was sent, with dpxd's
// per-queue counters checked on both vhost ports. Server and client mode,
// two queue pairs with two PMDs, the guest killed mid-traffic and coming
// back, port deletion while connected, bad devargs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <numeric>

#include "control_client.h"
#include "odp_text.h"
#include "support/dpxd_process.h"
#include "support/pcap_file.h"
#include "support/testpmd_process.h"

namespace dpx::test {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

// Odp port numbers used throughout.
constexpr uint32_t kIn = 1, kVhA = 2, kVhB = 3, kOut = 4;

class Vhost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TestpmdProcess::available()) GTEST_SKIP() << "dpdk-testpmd not installed";
  }

  // dpxd must shut down cleanly (exit status 0: no crash, no sanitizer
  // report), with the guest still attached where a test left it so.
  void TearDown() override {
    if (dpxd_.pid() > 0) {
      const int st = dpxd_.stop();
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "dpxd wait status " << st << ", log:\n"
                                                         << dpxd_.log();
    }
    testpmd_.stop();
  }

  void start_dpxd(const std::string& pmd_cores = "") {
    std::string err;
    if (!pmd_cores.empty()) dpxd_.set_pmd_cores(pmd_cores);
    ASSERT_TRUE(dpxd_.start({}, &err)) << err;
    ASSERT_EQ(client_.connect(dpxd_.socket(), &err), 0) << err;
  }

  std::string path(const std::string& f) const { return dpxd_.dir() + "/" + f; }

  int add_port(const std::string& name, const std::string& type, const std::string& devargs,
               uint32_t odp, uint32_t n_rxq = 0, std::string* err_out = nullptr,
               std::vector<std::string> options = {}) {
    PortAddRequest req;
    req.name = name;
    req.type = type;
    req.devargs = devargs;
    req.odp_port = odp;
    req.n_rxq = n_rxq;
    req.options = std::move(options);
    PortInfo info;
    std::string err;
    const int rc = client_.port_add(req, &info, &err);
    if (err_out)
      *err_out = err;
    else
      EXPECT_EQ(rc, 0) << name << ": " << err;
    return rc;
  }

  void del_port(const std::string& name) {
    PortRef ref;
    ref.name = name;
    std::string err;
    EXPECT_EQ(client_.port_del(ref, &err), 0) << name << ": " << err;
  }

  bool has_port(const std::string& name) {
    std::vector<PortInfo> all;
    std::string err;
    EXPECT_EQ(client_.port_dump(&all, &err), 0) << err;
    for (auto& p : all)
      if (p.name == name) return true;
    return false;
  }

  PortInfo port(const std::string& name) {
    PortRef ref;
    ref.name = name;
    PortInfo info;
    std::string err;
    EXPECT_EQ(client_.port_get(ref, &info, &err), 0) << name << ": " << err;
    return info;
  }

  void add_flow(const std::string& flow, const std::string& actions) {
    FlowPutEntry e;
    std::string err;
    ASSERT_EQ(odp_flow_from_string(flow, &e.key, &e.mask, &err), 0) << err;
    ASSERT_EQ(odp_actions_from_string(actions, &e.actions, &err), 0) << err;
    const size_t v = std::hash<std::string>{}(flow);
    e.ufid = Ufid{{static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32), 0x76686f73, 1}};
    e.flags = DPX_FLOW_PUT_CREATE;
    std::vector<FlowPutResult> res;
    ASSERT_EQ(client_.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
    ASSERT_EQ(res.size(), 1u);
    ASSERT_EQ(res[0].error, 0) << res[0].message;
  }

  // Sum of one direction's per-queue counters, and the queues themselves.
  static QueueStats total(const PortInfo& p, bool tx) {
    QueueStats t;
    for (const QueueStats& q : p.queues) {
      if (q.tx != tx) continue;
      t.packets += q.packets;
      t.bytes += q.bytes;
      t.drops += q.drops;
    }
    return t;
  }
  static QueueStats queue(const PortInfo& p, bool tx, uint32_t id) {
    for (const QueueStats& q : p.queues)
      if (q.tx == tx && q.queue_id == id) return q;
    return {};
  }

  bool link_up(const std::string& name) { return port(name).link_up; }

  // Packets of many sizes (60 to 1514 bytes), each unique.
  static std::vector<Packet> traffic(uint32_t n, uint32_t seed) {
    std::vector<Packet> v;
    for (uint32_t i = 0; i < n; ++i)
      v.push_back(udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001 + (i % 5), 1000 + i % 13, 53,
                             18 + (i * 37 + seed) % 1455, i + seed * 100000));
    return v;
  }

  // One round through the loop: a new pcap sink at kOut and a new pcap
  // source at kIn (added last: net_pcap replays as soon as it starts), then
  // both removed again and the capture compared with what was sent.
  void loop_round(uint32_t n, uint32_t seed) {
    const std::vector<Packet> in = traffic(n, seed);
    const std::string tag = std::to_string(seed);
    ASSERT_TRUE(write_pcap(path("in" + tag + ".pcap"), in));
    const PortInfo a0 = port("vhA"), b0 = port("vhB");
    add_port("out" + tag, "dpdk", "net_pcap_out" + tag + ",tx_pcap=" + path("out" + tag + ".pcap"),
             kOut);
    add_port("in" + tag, "dpdk", "net_pcap_in" + tag + ",rx_pcap=" + path("in" + tag + ".pcap"),
             kIn);
    ASSERT_TRUE(wait_until([&] { return port("out" + tag).stats.tx_packets >= n; }))
        << "sink got " << port("out" + tag).stats.tx_packets << " of " << n << "; vhA "
        << total(port("vhA"), true).packets - total(a0, true).packets << " sent, "
        << total(port("vhA"), true).drops - total(a0, true).drops << " dropped; vhB received "
        << total(port("vhB"), false).packets - total(b0, false).packets << "\n"
        << testpmd_.log();
    const uint64_t bytes =
        std::accumulate(in.begin(), in.end(), uint64_t{0},
                        [](uint64_t s, const Packet& p) { return s + p.size(); });
    // Per-queue counters of both vhost ports moved by exactly this round.
    const PortInfo a1 = port("vhA"), b1 = port("vhB");
    EXPECT_EQ(total(a1, true).packets - total(a0, true).packets, n);
    EXPECT_EQ(total(a1, true).bytes - total(a0, true).bytes, bytes);
    EXPECT_EQ(total(a1, true).drops - total(a0, true).drops, 0u);
    EXPECT_EQ(total(b1, false).packets - total(b0, false).packets, n);
    EXPECT_EQ(total(b1, false).bytes - total(b0, false).bytes, bytes);
    del_port("in" + tag);
    del_port("out" + tag);  // closes the capture
    std::vector<Packet> got;
    ASSERT_TRUE(read_pcap(path("out" + tag + ".pcap"), &got));
    ASSERT_EQ(got.size(), in.size());
    for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(got[i], in[i]) << "packet " << i;
  }

  // The two vhost ports and the flows of the loop.
  void add_loop(const std::string& type, uint32_t n_rxq = 1) {
    add_port("vhA", type, path("a.sock"), kVhA, n_rxq);
    add_port("vhB", type, path("b.sock"), kVhB, n_rxq);
    add_flow("in_port(1),eth(),eth_type(0x0800),ipv4()", "2");
    add_flow("in_port(3),eth(),eth_type(0x0800),ipv4()", "4");
  }

  // Guest rings of 1024 descriptors: a round's burst (at most 1000
  // packets, replayed by net_pcap at once) fits even if testpmd is not
  // scheduled meanwhile on this shared machine, so no packet of a round may
  // be dropped.
  std::vector<std::string> vdevs(const std::string& extra) const {
    return {"net_virtio_user0,queue_size=1024,path=" + path("a.sock") + extra,
            "net_virtio_user1,queue_size=1024,path=" + path("b.sock") + extra};
  }

  void start_testpmd(const std::string& extra = "", std::vector<std::string> app = {}) {
    if (app.empty()) app = {"--forward-mode=io"};
    ASSERT_TRUE(testpmd_.start(vdevs(extra), app, path("testpmd.log")));
  }

  // Links up and, for up, testpmd done with its set-up (rx rings filled,
  // forwarding started): it prints its prompt to exit last.
  void wait_links(bool up) {
    ASSERT_TRUE(wait_until([&] {
      return link_up("vhA") == up && link_up("vhB") == up &&
             (!up || (testpmd_.alive() &&
                      testpmd_.log().find("Press enter to exit") != std::string::npos));
    })) << "links not "
        << (up ? "up" : "down") << "\n"
        << dpxd_.log() << "\n"
        << testpmd_.log();
  }

  DpxdProcess dpxd_;
  ControlClient client_;
  TestpmdProcess testpmd_;
};

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
  add_port("sink2", "dpdk", "net_null_sink2", 6);
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

TEST_F(Vhost, ChecksumOffloadsNegotiatedTso6Withheld) {
  // dpxd logs what each device negotiated (info level): the only outside
  // view of the port's tx offload capability.
  dpxd_.set_log_level("info");
  start_dpxd();
  add_loop("vhostuser");
  // The guest asks for tx and rx checksum offload (VIRTIO_NET_F_CSUM and
  // GUEST_CSUM): dpxd offers both, so the port's tx offloads become
  // TCP_CKSUM|UDP_CKSUM (0xc), and the loop still forwards byte for byte.
  start_testpmd("", {"--forward-mode=io", "--tx-offloads=0xc", "--rx-offloads=0xc"});
  wait_links(true);
  EXPECT_NE(dpxd_.log().find("vhost-user port vhA: device ready"), std::string::npos);
  EXPECT_NE(dpxd_.log().find("tx offloads 0xc)"), std::string::npos) << dpxd_.log();
  loop_round(300, 1);
  testpmd_.stop();
  wait_links(false);
  // DPDK's virtio PMD offers TSO only when both HOST_TSO4 and HOST_TSO6
  // are there; dpxd withholds TSO6 (rte_gso cannot cut TCP/IPv6), so a
  // DPDK guest cannot configure TSO at all.
  start_testpmd("", {"--forward-mode=io", "--tx-offloads=0x20"});
  ASSERT_TRUE(wait_until([&] { return !testpmd_.alive(); })) << testpmd_.log();
  EXPECT_NE(testpmd_.log().find("doesn't match Tx offloads capabilities"), std::string::npos)
      << testpmd_.log();
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
