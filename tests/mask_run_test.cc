// Integration: megaflow runs on the full lookup path (Pmd::lookup_flows,
// pmd_lookup.cc). A real dpxd (--no-huge) in full mode (a megaflow on the
// IPv4 destination) forwards pcap traffic of many microflows: packets after
// the first of a burst join its megaflow when their masked key matches and
// skip the EMC and the classifier; a packet that differs in a masked field
// does not join, and a flow deleted between bursts takes no more packets.
// Checked byte for byte at the outputs and by the flow and PMD counters.
#include <gtest/gtest.h>

#include <functional>

#include "control_client.h"
#include "control_msg.h"
#include "support/child_process.h"
#include "support/dpxd_client.h"
#include "support/dpxd_process.h"
#include "support/pcap_file.h"

namespace dpx::test {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};
constexpr uint32_t kDstA = 0x0a000001, kDstB = 0x0a000002;
const char* const kFlowA = "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.1)";
const char* const kFlowB = "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.2)";

Ufid ufid_of(const std::string& flow) {
  const size_t v = std::hash<std::string>()(flow);
  return Ufid{{static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32), 0x72756e73, 1}};
}

class MaskRun : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    // Every classifier hit is put in the EMC, so that without runs repeated
    // microflows would be EMC hits.
    ASSERT_TRUE(dpxd_.start({"--emc-insert-inv-prob", "1"}, &err)) << err;
    ASSERT_EQ(c_.connect(dpxd_.socket(), &err), 0) << err;
  }

  // Replays `in` from a new source port (odp 1) and waits until dpxd has
  // looked every packet up (hit or missed).
  void replay(const std::vector<Packet>& in) {
    const std::string file = dpxd_.dir() + "/in" + std::to_string(round_) + ".pcap";
    ASSERT_TRUE(write_pcap(file, in));
    const uint64_t before = looked_up();
    const std::string name = "src" + std::to_string(round_);
    add_dpdk_port(c_, name, "net_pcap_" + name + ",rx_pcap=" + file, 1);
    ASSERT_TRUE(wait_until([&] { return looked_up() == before + in.size(); }))
        << looked_up() - before << " of " << in.size();
    PortRef ref;
    ref.name = name;
    std::string err;
    ASSERT_EQ(c_.port_del(ref, &err), 0) << err;
    ++round_;
  }
  uint64_t looked_up() {
    DpStats st;
    std::string err;
    EXPECT_EQ(c_.dp_stats(&st, &err), 0) << err;
    return st.hit + st.missed;
  }
  PmdStats pmd() {
    std::vector<PmdStats> s;
    std::string err;
    EXPECT_EQ(c_.pmd_stats(&s, &err), 0) << err;
    return s.empty() ? PmdStats{} : s[0];
  }
  uint64_t flow_packets(const std::string& flow) {
    const Ufid u = ufid_of(flow);
    uint64_t n = 0;
    std::string err;
    EXPECT_EQ(c_.flow_dump_all(
                  true,
                  [&](const FlowEntry& e) {
                    if (e.ufid == u) n = e.stats.packets;
                    return true;
                  },
                  &err),
              0)
        << err;
    return n;
  }
  // Closes the capture of output port `name` and returns its packets.
  std::vector<Packet> capture(const std::string& name) {
    PortRef ref;
    ref.name = name;
    std::string err;
    EXPECT_EQ(c_.port_del(ref, &err), 0) << err;
    std::vector<Packet> got;
    EXPECT_TRUE(read_pcap(dpxd_.dir() + "/" + name + ".pcap", &got));
    return got;
  }
  void add_capture(const std::string& name, uint32_t odp) {
    add_dpdk_port(c_, name, "net_pcap_" + name + ",tx_pcap=" + dpxd_.dir() + "/" + name + ".pcap",
                  odp);
  }

  DpxdProcess dpxd_;
  ControlClient c_;
  int round_ = 0;
};

// 400 packets of 25 microflows (source address and port vary), all on one
// megaflow, replayed in bursts: the first packet of each burst is looked up
// (the EMC knows it after the first round), the rest join its run. Without
// runs, 375 of them would be EMC hits.
TEST_F(MaskRun, ManyMicroflowsJoinOneMegaflow) {
  add_capture("out", 2);
  ASSERT_NO_FATAL_FAILURE(put_flow(c_, kFlowA, "2", ufid_of(kFlowA)));
  std::vector<Packet> in;
  for (uint32_t i = 0; i < 400; ++i)
    in.push_back(udp_packet(kMacB, kMacA, 0x0a010000 + i % 25, kDstA,
                            static_cast<uint16_t>(1000 + i % 25), 53, 10 + i % 40, i));
  ASSERT_NO_FATAL_FAILURE(replay(in));
  const PmdStats s = pmd();
  EXPECT_EQ(s.emc_hits + s.megaflow_hits, in.size());
  EXPECT_EQ(s.upcalls + s.lost, 0u);
  // At most one lookup per rx burst reaches the EMC: the run takes the rest.
  EXPECT_LE(s.emc_hits, s.rx_batches);
  EXPECT_GT(s.rx_batches, 0u);
  EXPECT_EQ(flow_packets(kFlowA), in.size());
  const std::vector<Packet> got = capture("out");
  ASSERT_EQ(got.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(got[i], in[i]) << "packet " << i;
}

// Runs broken by packets of another megaflow and by packets that differ
// from the run's megaflow in one masked bit (10.0.0.129, 11.0.0.1: no flow,
// so they miss); then flow A is deleted and the same traffic replayed: no
// packet may still take it.
TEST_F(MaskRun, MaskedFieldsBreakRunsAndDeletedFlowsTakeNothing) {
  add_capture("outa", 2);
  add_capture("outb", 3);
  ASSERT_NO_FATAL_FAILURE(put_flow(c_, kFlowA, "2", ufid_of(kFlowA)));
  ASSERT_NO_FATAL_FAILURE(put_flow(c_, kFlowB, "3", ufid_of(kFlowB)));
  std::vector<Packet> in, want_a, want_b;
  uint32_t n_miss = 0;
  for (uint32_t i = 0; i < 300; ++i) {
    // Mostly runs of A; every 7th packet B, every 11th a near miss.
    uint32_t dst = kDstA;
    if (i % 7 == 3) dst = kDstB;
    if (i % 11 == 5) dst = i % 2 ? 0x0a000081 : 0x0b000001;
    Packet p = udp_packet(kMacB, kMacA, 0x0a020000 + i, dst, static_cast<uint16_t>(2000 + i), 53,
                          10 + i % 30, i);
    in.push_back(p);
    if (dst == kDstA) {
      want_a.push_back(p);
    } else if (dst == kDstB) {
      want_b.push_back(p);
    } else {
      ++n_miss;
    }
  }
  ASSERT_NO_FATAL_FAILURE(replay(in));
  PmdStats s = pmd();
  EXPECT_EQ(s.emc_hits + s.megaflow_hits, want_a.size() + want_b.size());
  EXPECT_EQ(s.upcalls + s.lost, n_miss);  // no control plane: each miss is lost
  EXPECT_EQ(flow_packets(kFlowA), want_a.size());
  EXPECT_EQ(flow_packets(kFlowB), want_b.size());

  // Flow A gone between bursts: its packets now miss, B's still go out.
  std::vector<FlowDelResult> res;
  const Ufid ua = ufid_of(kFlowA);
  std::string err;
  ASSERT_EQ(c_.flow_del(std::span<const Ufid>(&ua, 1), &res, &err), 0) << err;
  ASSERT_EQ(res.at(0).error, 0) << res[0].message;
  ASSERT_NO_FATAL_FAILURE(replay(in));
  s = pmd();
  EXPECT_EQ(s.upcalls + s.lost, n_miss + in.size() - want_b.size());
  EXPECT_EQ(flow_packets(kFlowB), 2 * want_b.size());

  const std::vector<Packet> got_a = capture("outa"), got_b = capture("outb");
  ASSERT_EQ(got_a.size(), want_a.size());
  for (size_t i = 0; i < want_a.size(); ++i) ASSERT_EQ(got_a[i], want_a[i]) << "a " << i;
  ASSERT_EQ(got_b.size(), 2 * want_b.size());
  for (size_t i = 0; i < got_b.size(); ++i)
    ASSERT_EQ(got_b[i], want_b[i % want_b.size()]) << "b " << i;
}

}  // namespace
}  // namespace dpx::test
