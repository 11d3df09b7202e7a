// Integration: how a real dpxd (--no-huge) hands misses to an upcall
// subscriber, and what happens to the misses of a flow that wait while its
// upcall is in flight or the subscriber's backlog is full: once their flow
// is installed they are looked up again and forwarded by the datapath, not
// upcalled (pmd.h, "In-flight misses"; Datapath::drain_upcalls()).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include "control_client.h"
#include "control_msg.h"
#include "odp_text.h"
#include "support/dpxd_client.h"
#include "support/dpxd_process.h"
#include "support/pcap_file.h"

namespace dpx::test {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

// An upcall subscriber read by hand, without blocking: the test decides
// when it reads.
class RawSubscriber {
 public:
  ~RawSubscriber() {
    if (fd_ >= 0) close(fd_);
  }
  bool open(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return false;
    NlBuf body, msg;
    encode_upcall_subscribe({DPX_UPCALL_SHARE}, &body);
    if (ctl_append_message(&msg, {0, 1, DPX_CTL_UPCALL_SUBSCRIBE, 1, 0, 0}, body) != 0)
      return false;
    if (send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL) != ssize_t(msg.size())) return false;
    // The reply, before any upcall can be pushed on this connection.
    CtlHeader h;
    while (!next(&h))
      if (!fill(true)) return false;
    return h.type == DPX_CTL_UPCALL_SUBSCRIBE && h.error == 0;
  }
  // Upcalls that have arrived, read without waiting.
  uint64_t drain() {
    while (fill(false)) {
    }
    CtlHeader h;
    while (next(&h)) {
      if (h.type != DPX_CTL_UPCALL) continue;
      ++upcalls_;
      Upcall u;
      std::string err;
      const uint8_t* body = buf_.data() + pos_ - h.length + DPX_CTL_HDR_LEN;
      if (decode_upcall({body, h.length - DPX_CTL_HDR_LEN}, &u, &err) == 0)
        received_.push_back(std::move(u));
    }
    return upcalls_;
  }
  // The upcalls decoded since the last call.
  std::vector<Upcall> take() {
    drain();
    return std::exchange(received_, {});
  }

 private:
  bool fill(bool wait) {
    uint8_t chunk[16384];
    const ssize_t r = recv(fd_, chunk, sizeof chunk, wait ? 0 : MSG_DONTWAIT);
    if (r <= 0) return false;
    buf_.insert(buf_.end(), chunk, chunk + r);
    return true;
  }
  bool next(CtlHeader* h) {
    std::span<const uint8_t> avail(buf_.data() + pos_, buf_.size() - pos_);
    if (ctl_frame(avail, h) != FrameStatus::kComplete) return false;
    pos_ += h->length;
    return true;
  }
  int fd_ = -1;
  NlBuf buf_;
  size_t pos_ = 0;
  uint64_t upcalls_ = 0;
  std::vector<Upcall> received_;
};

// Plays `packets` packets of one new UDP flow into port 1 (port 2 is a
// null sink; no flow is installed) and waits until every one has missed:
// the first went up and is in *ups, with any later upcall that came by
// then; the PMD holds the rest.
void burst_of_one_flow(DpxdProcess& dpxd, ControlClient& c, RawSubscriber& sub, uint32_t packets,
                       std::vector<Upcall>* ups) {
  std::vector<Packet> in;
  for (uint32_t i = 0; i < packets; ++i)
    in.push_back(udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 9, 200, i));
  const std::string pcap = dpxd.dir() + "/in.pcap";
  ASSERT_TRUE(write_pcap(pcap, in));
  add_dpdk_port(c, "out", "net_null_out,no-rx=1", 2);
  add_dpdk_port(c, "in", "net_pcap_in,rx_pcap=" + pcap, 1);
  ASSERT_TRUE(wait_until([&] {
    for (Upcall& u : sub.take()) ups->push_back(std::move(u));
    return !ups->empty() && dp_stats_of(c).missed == packets;
  })) << dp_stats_of(c).missed;
}

TEST(UpcallDelivery, MissesWaitingWhenTheirFlowArrivesAreForwardedNotUpcalled) {
  DpxdProcess dpxd;
  std::string err;
  // A small backlog: the subscriber's fills after some 40 upcalls of these
  // 1.4 KB packets (plus what the socket's kernel buffer takes).
  ASSERT_TRUE(dpxd.start({"--upcall-backlog-kb", "64"}, &err)) << err;
  ControlClient c;
  ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
  RawSubscriber sub;
  ASSERT_TRUE(sub.open(dpxd.socket()));

  constexpr uint32_t kPackets = 1000;  // fits the PMD's upcall ring (1,024)
  std::vector<Packet> in;
  for (uint32_t i = 0; i < kPackets; ++i)
    in.push_back(udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 9, 1400, i));
  const std::string pcap = dpxd.dir() + "/in.pcap";
  ASSERT_TRUE(write_pcap(pcap, in));
  auto add_port = [&](const std::string& name, const std::string& devargs, uint32_t odp) {
    add_dpdk_port(c, name, devargs, odp);
  };
  auto port_tx = [&](const std::string& name) { return port_tx_packets(c, name); };
  auto stats = [&] { return dp_stats_of(c); };
  add_port("out", "net_null_out,no-rx=1", 2);
  add_port("in", "net_pcap_in,rx_pcap=" + pcap, 1);

  // No flow: every packet misses. The first goes up; the others are held
  // by the PMD while that upcall is in flight (the subscriber never answers
  // it), or, past the hold's timeout, wait in the upcall ring once the
  // subscriber's backlog is full.
  ASSERT_TRUE(wait_until([&] { return stats().missed == kPackets; })) << stats().missed;
  const DpStats before = stats();
  EXPECT_EQ(before.hit, 0u);
  EXPECT_EQ(before.lost, 0u) << "the ring holds every miss; none may be dropped";

  // The flow arrives, as ovs-vswitchd would install it after the first
  // upcall (with no execute: the PMD's hold times out): the waiting misses
  // take it, in the datapath.
  FlowPutEntry e;
  ASSERT_EQ(odp_flow_from_string("in_port(1),eth(),eth_type(0x0800),ipv4()", &e.key, &e.mask, &err),
            0)
      << err;
  ASSERT_EQ(odp_actions_from_string("2", &e.actions, &err), 0) << err;
  e.ufid = Ufid{{1, 2, 3, 4}};
  e.flags = DPX_FLOW_PUT_CREATE;
  std::vector<FlowPutResult> res;
  ASSERT_EQ(c.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
  ASSERT_EQ(res.at(0).error, 0) << res[0].message;

  // Every miss is either an upcall the subscriber gets or a packet the
  // datapath forwarded once its flow was in, and some of each.
  uint64_t up = 0, fwd = 0;
  ASSERT_TRUE(wait_until([&] {
    up = sub.drain();
    fwd = port_tx("out");
    return up + fwd == kPackets;
  })) << up
      << " upcalls + " << fwd << " forwarded";
  std::printf("%llu misses went up, %llu were forwarded once their flow was in\n",
              static_cast<unsigned long long>(up), static_cast<unsigned long long>(fwd));
  EXPECT_GT(up, 0u);
  EXPECT_GT(fwd, 0u) << "no waiting miss was forwarded";
  const DpStats after = stats();
  EXPECT_EQ(after.lost, 0u);
  // A forwarded miss was counted once, as a miss: hit + missed stays the
  // number of packets looked up.
  EXPECT_EQ(after.hit + after.missed, uint64_t{kPackets});
  // The flow counted the packets it forwarded.
  FlowEntry f;
  ASSERT_EQ(c.flow_get(e.ufid, &f, &err), 0) << err;
  EXPECT_EQ(f.stats.packets, fwd);
}

// A burst of one new flow's packets, answered as ovs-vswitchd answers an
// upcall (the flow put, then the EXECUTE of the upcalled packet): the PMD
// holds the misses that follow the first while its upcall is in flight
// (pmd.h, "In-flight misses") and forwards them by the new flow, so the
// subscriber sees one upcall, not one per packet, and no packet is lost.
TEST(UpcallDelivery, BurstOfOneNewFlowIsOneUpcallAndEveryPacketArrives) {
  DpxdProcess dpxd;
  std::string err;
  ASSERT_TRUE(dpxd.start({}, &err)) << err;
  ControlClient c;
  ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
  RawSubscriber sub;
  ASSERT_TRUE(sub.open(dpxd.socket()));

  constexpr uint32_t kPackets = 1000;  // below the hold's bound per key (1,024)
  // Every packet misses before the answer; the first goes up.
  std::vector<Upcall> ups;
  ASSERT_NO_FATAL_FAILURE(burst_of_one_flow(dpxd, c, sub, kPackets, &ups));

  // The answer: a megaflow for the packet's flow, then the packet's
  // execute, as one handler batch. Any later upcall (see below) is executed
  // too, as OVS would, so that every packet must reach port 2.
  FlowPutEntry e;
  ASSERT_EQ(odp_flow_from_string("in_port(1),eth(),eth_type(0x0800),ipv4()", &e.key, &e.mask, &err),
            0)
      << err;
  ASSERT_EQ(odp_actions_from_string("2", &e.actions, &err), 0) << err;
  e.ufid = Ufid{{5, 6, 7, 8}};
  e.flags = DPX_FLOW_PUT_CREATE;
  std::vector<FlowPutResult> put_res;
  ASSERT_EQ(c.flow_put(std::span<const FlowPutEntry>(&e, 1), &put_res, &err), 0) << err;
  ASSERT_EQ(put_res.at(0).error, 0) << put_res[0].message;
  size_t executed = 0;
  auto execute_new = [&] {
    for (Upcall& u : sub.take()) ups.push_back(std::move(u));
    for (; executed < ups.size(); ++executed) {
      ExecuteRequest x;
      x.packet = ups[executed].packet;
      x.key = ups[executed].key;
      x.actions = e.actions;
      EXPECT_EQ(c.execute(x, &err), 0) << err;
    }
  };
  execute_new();

  // Every packet leaves port 2: the upcalled ones by their executes, the
  // held ones by the flow.
  PortRef out;
  out.name = "out";
  PortInfo info;
  ASSERT_TRUE(wait_until([&] {
    execute_new();
    EXPECT_EQ(c.port_get(out, &info, &err), 0) << err;
    return info.stats.tx_packets == kPackets;
  })) << info.stats.tx_packets
      << " of " << kPackets << " packets sent";
  std::printf("%zu upcall(s) for a burst of %u packets of one new flow\n", ups.size(), kPackets);
  // One upcall; more only if the answer took longer than the PMD's timeout
  // for an upcall in flight (500 ms) on a loaded machine, each repeat being
  // one packet. Without the hold, nearly every packet went up.
  EXPECT_LT(ups.size(), size_t{kPackets / 10});
  const DpStats after = dp_stats_of(c);
  EXPECT_EQ(after.lost, 0u);
  EXPECT_EQ(after.hit + after.missed, uint64_t{kPackets});
  FlowEntry f;
  ASSERT_EQ(c.flow_get(e.ufid, &f, &err), 0) << err;
  EXPECT_EQ(f.stats.packets + ups.size(), uint64_t{kPackets})
      << "the flow forwards every packet but the upcalled ones";
}

// ovs-vswitchd answers a miss from a port that ofproto does not know yet
// (traffic on a port the moment it is added) with an exact drop flow for
// the packet's key and no execute. That answers the key's upcall: the
// misses the PMD held meanwhile are looked up again at once and take the
// flow. Before, they stayed held until the hold timed out, and a storm of
// new flows on a port just added sometimes ended only then, half a second
// late. The hold is set far longer than the test may take, so only the
// answer can release them.
TEST(UpcallDelivery, AnExactFlowPutAnswersItsUpcall) {
  DpxdProcess dpxd;
  std::string err;
  ASSERT_TRUE(dpxd.start({"--upcall-hold-ms", "3600000"}, &err)) << err;
  ControlClient c;
  ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
  RawSubscriber sub;
  ASSERT_TRUE(sub.open(dpxd.socket()));

  constexpr uint32_t kPackets = 500;  // below the hold's bound per key (1,024)
  // One upcall; the other misses are held for its answer.
  std::vector<Upcall> ups;
  ASSERT_NO_FATAL_FAILURE(burst_of_one_flow(dpxd, c, sub, kPackets, &ups));
  ASSERT_EQ(ups.size(), 1u);

  // The answer: the upcall's own key, with no mask and no actions.
  FlowPutEntry e;
  e.key = ups[0].key;
  e.ufid = Ufid{{9, 10, 11, 12}};
  e.flags = DPX_FLOW_PUT_CREATE;
  std::vector<FlowPutResult> res;
  ASSERT_EQ(c.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
  ASSERT_EQ(res.at(0).error, 0) << res[0].message;

  // Every held miss takes the drop flow.
  FlowEntry f;
  ASSERT_TRUE(wait_until([&] {
    EXPECT_EQ(c.flow_get(e.ufid, &f, &err), 0) << err;
    return f.stats.packets == kPackets - 1;
  })) << f.stats.packets
      << " of the " << kPackets - 1 << " held misses took the flow";
  std::vector<PmdStats> pmds;
  ASSERT_EQ(c.pmd_stats(&pmds, &err), 0) << err;
  uint64_t timeouts = 0;
  for (const PmdStats& p : pmds) timeouts += p.hold_timeouts;
  EXPECT_EQ(timeouts, 0u);
  EXPECT_EQ(sub.take().size(), 0u) << "no held miss went up";
  EXPECT_EQ(dp_stats_of(c).lost, 0u);
}

}  // namespace
}  // namespace dpx::test
