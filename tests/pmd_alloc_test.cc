// The per-packet path never allocates: a real dpxd, with a malloc-counting
// shim preloaded (tests/support/alloc_counter.c), forwards traffic through
// the EMC, the classifier, the action executor (set, push_vlan), a
// recirculation and the miss path, and its PMD thread's allocation count
// must not move while a million packets pass.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "control_client.h"
#include "odp_text.h"
#include "support/dpxd_client.h"
#include "support/dpxd_process.h"
#include "support/pcap_file.h"

namespace dpx::test {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

TEST(PmdAlloc, NoHeapAllocationWhileForwarding) {
#ifdef DPX_SANITIZE
  GTEST_SKIP() << "the malloc shim cannot be preloaded ahead of the sanitizer runtime";
#endif
  DpxdProcess dpxd;
  dpxd.set_env("LD_PRELOAD", DPX_ALLOC_COUNTER_PATH);
  dpxd.set_env("DPX_ALLOC_COUNT_FILE", dpxd.dir() + "/allocs");
  std::string err;
  ASSERT_TRUE(dpxd.start({"--pmd-sleep-max-us", "0"}, &err)) << err;
  ControlClient c;
  ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;

  // 1,000 microflows: a third to 10.0.0.1 (set + push_vlan + output), a
  // third to 10.0.0.2 (recirculated once, then output), a third to 10.0.0.3
  // (no flow: missed and dropped, since no upcall reader is attached).
  std::vector<Packet> in;
  for (uint32_t i = 0; i < 1000; ++i)
    in.push_back(udp_packet(kMacB, kMacA, 0x0a010000 + i, 0x0a000001 + i % 3,
                            static_cast<uint16_t>(1000 + i), 53, 18, i));
  ASSERT_TRUE(write_pcap(dpxd.dir() + "/in.pcap", in));
  auto add_port = [&](const std::string& name, const std::string& devargs, uint32_t odp) {
    add_dpdk_port(c, name, devargs, odp);
  };
  auto add_flow = [&](const std::string& flow, const std::string& actions, uint32_t id) {
    FlowPutEntry e;
    ASSERT_EQ(odp_flow_from_string(flow, &e.key, &e.mask, &err), 0) << err;
    ASSERT_EQ(odp_actions_from_string(actions, &e.actions, &err), 0) << err;
    e.ufid = Ufid{{id, 0, 0, 1}};
    std::vector<FlowPutResult> res;
    ASSERT_EQ(c.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
    ASSERT_EQ(res.at(0).error, 0) << res[0].message;
  };
  add_port("sink", "net_null_sink,no-rx=1", 2);
  add_flow("recirc_id(0),in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.1)",
           "set(ipv4(ttl=9)),push_vlan(vid=7,pcp=0),2", 1);
  add_flow("recirc_id(0),in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.2)", "recirc(0x5)", 2);
  add_flow("recirc_id(0x5),in_port(1),eth(),eth_type(0x0800),ipv4()", "2", 3);
  add_port("src", "net_pcap_src,rx_pcap=" + dpxd.dir() + "/in.pcap,infinite_rx=1", 1);

  auto sink_tx = [&] {
    PortRef ref;
    ref.name = "sink";
    PortInfo info;
    EXPECT_EQ(c.port_get(ref, &info, &err), 0) << err;
    return info.stats.tx_packets;
  };
  auto pmd_allocs = [&] {
    const std::string f = dpxd.dir() + "/allocs";
    std::remove(f.c_str());
    kill(dpxd.pid(), SIGUSR2);
    uint64_t v = UINT64_MAX;
    EXPECT_TRUE(wait_until([&] {
      std::ifstream in(f);
      return static_cast<bool>(in >> v);
    }));
    return v;
  };
  // Warm-up: first-touch work (lazy symbol binding, thread-local set-up)
  // happens in the first bursts.
  ASSERT_TRUE(wait_until([&] { return sink_tx() > 100000; }));
  const uint64_t before = pmd_allocs();
  const uint64_t tx0 = sink_tx();
  ASSERT_TRUE(wait_until([&] { return sink_tx() > tx0 + 1000000; }));
  const uint64_t after = pmd_allocs();
  EXPECT_EQ(after, before) << "the PMD thread allocated while forwarding";

  // The traffic really took all three paths.
  std::vector<PmdStats> pmds;
  ASSERT_EQ(c.pmd_stats(&pmds, &err), 0) << err;
  ASSERT_EQ(pmds.size(), 1u);
  EXPECT_GT(pmds[0].recirculations, 0u);
  EXPECT_GT(pmds[0].lost, 0u);
  EXPECT_GT(pmds[0].emc_hits, 0u);
  EXPECT_TRUE(dpxd.alive());
}

}  // namespace
}  // namespace dpx::test
