// The fixture of the vhost-user integration tests (vhost_test.cc,
// vhost_tso_test.cc): a dpxd process, its control client and a dpdk-testpmd
// guest with net_virtio_user vdevs on dpxd's sockets, and the helpers that
// add ports and flows, read per-queue counters and run a byte-exact round
// through the loop pcap source -> vhost port A -> testpmd -> vhost port B
// -> pcap sink.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "control_client.h"
#include "dpxd_process.h"
#include "odp_text.h"
#include "pcap_file.h"
#include "testpmd_process.h"

namespace dpx::test {

inline const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
inline const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

// Odp port numbers used throughout.
inline constexpr uint32_t kIn = 1, kVhA = 2, kVhB = 3, kOut = 4;

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

}  // namespace dpx::test
