// Integration: a real dpxd (--no-huge) forwarding pcap traffic from net_pcap
// through flows installed over the control socket to net_pcap captures,
// compared byte for byte; misses without a control plane counted; the
// control socket surviving garbage while forwarding goes on.
#include <gtest/gtest.h>
#include <linux/openvswitch.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <csignal>
#include <random>

#include "control_client.h"
#include "control_msg.h"
#include "nlattr.h"
#include "odp_text.h"
#include "support/dpxd_client.h"
#include "support/dpxd_process.h"
#include "support/pcap_file.h"

namespace dpx::test {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

class DpxdForward : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(dpxd_.start({}, &err)) << err;
    ASSERT_EQ(client_.connect(dpxd_.socket(), &err), 0) << err;
  }

  void add_port(const std::string& name, const std::string& devargs, uint32_t odp) {
    add_dpdk_port(client_, name, devargs, odp);
  }

  void add_flow(const std::string& flow, const std::string& actions, int expect_errno = 0) {
    FlowPutEntry e;
    std::string err;
    ASSERT_EQ(odp_flow_from_string(flow, &e.key, &e.mask, &err), 0) << err;
    ASSERT_EQ(odp_actions_from_string(actions, &e.actions, &err), 0) << err;
    // A ufid unique per flow text, as dpxctl derives one.
    std::hash<std::string> h;
    const size_t v = h(flow);
    e.ufid = Ufid{{static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32), 0x64707821, 1}};
    e.flags = DPX_FLOW_PUT_CREATE;
    std::vector<FlowPutResult> res;
    ASSERT_EQ(client_.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
    ASSERT_EQ(res.size(), 1u);
    EXPECT_EQ(res[0].error, expect_errno) << res[0].message;
  }

  PortInfo port(const std::string& name) {
    PortRef ref;
    ref.name = name;
    PortInfo info;
    std::string err;
    EXPECT_EQ(client_.port_get(ref, &info, &err), 0) << err;
    return info;
  }

  void del_port(const std::string& name) {
    PortRef ref;
    ref.name = name;
    std::string err;
    EXPECT_EQ(client_.port_del(ref, &err), 0) << err;
  }

  std::string path(const std::string& f) const { return dpxd_.dir() + "/" + f; }

  // Removes ports out1 and out2 (which closes their captures) and checks
  // that they sent exactly want1 and want2, in order.
  void expect_captures(const std::vector<Packet>& want1, const std::vector<Packet>& want2) {
    del_port("out1");
    del_port("out2");
    std::vector<Packet> got1, got2;
    ASSERT_TRUE(read_pcap(path("out1.pcap"), &got1));
    ASSERT_TRUE(read_pcap(path("out2.pcap"), &got2));
    ASSERT_EQ(got1.size(), want1.size());
    ASSERT_EQ(got2.size(), want2.size());
    for (size_t i = 0; i < want1.size(); ++i) EXPECT_EQ(got1[i], want1[i]) << "out1 packet " << i;
    for (size_t i = 0; i < want2.size(); ++i) EXPECT_EQ(got2[i], want2[i]) << "out2 packet " << i;
  }

  DpxdProcess dpxd_;
  ControlClient client_;
};

TEST_F(DpxdForward, PcapThroughFlowsByteExact) {
  // Flow A (to 10.0.0.1) is forwarded unchanged to out1; flow B (to
  // 10.0.0.2) gets a VLAN tag and its IPv4 TTL rewritten on the way to out2.
  std::vector<Packet> in, want1, want2;
  for (uint32_t i = 0; i < 200; ++i) {
    const bool a = i % 3 != 0;
    Packet p = udp_packet(kMacB, kMacA, 0x0a000063, a ? 0x0a000001 : 0x0a000002, 1000 + i % 7, 53,
                          18 + i % 50, i);
    in.push_back(p);
    if (a) {
      want1.push_back(p);
    } else {
      Packet q = p;
      // set(ipv4(ttl=9)): TTL 64 -> 9, IPv4 checksum adjusted accordingly.
      q[14 + 8] = 9;
      uint32_t sum = 0;
      q[14 + 10] = q[14 + 11] = 0;
      for (int k = 0; k < 20; k += 2) sum += (q[14 + k] << 8) | q[14 + k + 1];
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      q[14 + 10] = static_cast<uint8_t>(~sum >> 8);
      q[14 + 11] = static_cast<uint8_t>(~sum & 0xff);
      // push_vlan(vid=100,pcp=3): 802.1Q tag after the MAC addresses.
      const uint8_t tag[4] = {0x81, 0x00, 0x60, 0x64};
      q.insert(q.begin() + 12, tag, tag + 4);
      want2.push_back(q);
    }
  }
  ASSERT_TRUE(write_pcap(path("in.pcap"), in));
  add_port("out1", "net_pcap_out1,tx_pcap=" + path("out1.pcap"), 2);
  add_port("out2", "net_pcap_out2,tx_pcap=" + path("out2.pcap"), 3);
  add_flow("in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.1)", "2");
  add_flow("in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.2)",
           "set(ipv4(ttl=9)),push_vlan(vid=100,pcp=3),3");
  // The rx port last: net_pcap replays the file as soon as it starts.
  add_port("in", "net_pcap_in,rx_pcap=" + path("in.pcap"), 1);

  ASSERT_TRUE(wait_until([&] {
    return port("out1").stats.tx_packets + port("out2").stats.tx_packets == in.size();
  })) << "out1 "
      << port("out1").stats.tx_packets << " out2 " << port("out2").stats.tx_packets;
  EXPECT_EQ(port("in").stats.rx_packets, in.size());
  EXPECT_EQ(port("out1").stats.tx_packets, want1.size());

  // Flow stats count every packet of each flow.
  uint64_t flow_packets = 0;
  std::string err;
  ASSERT_EQ(client_.flow_dump_all(
                false,
                [&](const FlowEntry& e) {
                  flow_packets += e.stats.packets;
                  return true;
                },
                &err),
            0)
      << err;
  EXPECT_EQ(flow_packets, in.size());

  // Removing the ports closes the captures.
  expect_captures(want1, want2);
}

TEST_F(DpxdForward, MissesWithoutControlPlaneAreCountedAndDropped) {
  std::vector<Packet> in;
  for (uint32_t i = 0; i < 50; ++i)
    in.push_back(
        udp_packet(kMacB, kMacA, 0x0a000063, i < 30 ? 0x0a000001 : 0x0a000009, 7, 9, 10, i));
  ASSERT_TRUE(write_pcap(path("in.pcap"), in));
  add_port("out", "net_pcap_out,tx_pcap=" + path("out.pcap"), 2);
  add_flow("in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.1)", "2");
  add_port("in", "net_pcap_in,rx_pcap=" + path("in.pcap"), 1);
  DpStats st;
  std::string err;
  ASSERT_TRUE(wait_until([&] {
    client_.dp_stats(&st, &err);
    return st.hit + st.missed == in.size();
  }));
  EXPECT_EQ(st.hit, 30u);
  EXPECT_EQ(st.missed, 20u);
  EXPECT_EQ(st.lost, 20u);
  EXPECT_EQ(st.n_flows, 1u);
  EXPECT_EQ(port("out").stats.tx_packets, 30u);
}

// The simple-match pass (all megaflows simple) on a mix that breaks its
// runs in every way: bursts of one flow (sent as they came), IPv4 options
// (the run check leaves them to simple_extract), TCP flags, first fragments
// (a flow of its own, whose key is not the common one), later fragments and
// ARP (misses), frames too short for their IPv4 length (key extraction
// drops them). Every frame and byte is counted
// on the rx port, every forwarded one on its tx port and in its flow's
// stats, and each output is the input's packets of that flow in order.
TEST_F(DpxdForward, SimplePassCountsEveryPacketAndByte) {
  enum Kind { kUdp, kOptions, kTcp, kFirstFrag, kLaterFrag, kArp, kShort, kKinds };
  auto make = [](Kind kind, uint32_t i) {
    Packet p =
        udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001 + i % 5, 1000 + i % 7, 53, 12 + i % 40, i);
    uint8_t* ip = &p[14];
    switch (kind) {
      case kOptions: {  // one 4-byte option word of NOPs: IHL 6
        const uint8_t nops[4] = {1, 1, 1, 1};
        p.insert(p.begin() + 14 + 20, nops, nops + 4);
        ip = &p[14];
        ip[0] = 0x46;
        const uint16_t tot = static_cast<uint16_t>(((ip[2] << 8) | ip[3]) + 4);
        ip[2] = static_cast<uint8_t>(tot >> 8);
        ip[3] = static_cast<uint8_t>(tot);
        break;
      }
      case kTcp:  // data offset 5, flags from the sequence number
        ip[9] = 6;
        ip[20 + 12] = 0x50;
        ip[20 + 13] = static_cast<uint8_t>(1u << (i % 6));
        break;
      case kFirstFrag:
        ip[6] = 0x20;  // more fragments, offset 0
        break;
      case kLaterFrag:
        ip[7] = 0x10;  // offset 128
        break;
      case kArp:
        p[12] = 0x08;
        p[13] = 0x06;
        break;
      case kShort:
        p.resize(p.size() - 3);
        break;
      default:
        break;
    }
    return p;
  };
  std::vector<Packet> in, want1, want2;
  std::vector<Kind> kinds(96, kUdp);  // whole bursts of one flow first
  std::mt19937 rng(99);
  for (int i = 0; i < 400; ++i) {
    // Runs of one kind, of random lengths.
    const Kind k = static_cast<Kind>(rng() % kKinds);
    for (uint32_t n = rng() % 6 + 1; n--;) kinds.push_back(k);
  }
  uint64_t rx_bytes = 0, bytes1 = 0, bytes2 = 0;
  uint16_t tcp_flags = 0;
  for (uint32_t i = 0; i < kinds.size(); ++i) {
    Packet p = make(kinds[i], i);
    rx_bytes += p.size();
    if (kinds[i] == kUdp || kinds[i] == kOptions || kinds[i] == kTcp) {
      want1.push_back(p);
      bytes1 += p.size();
      if (kinds[i] == kTcp) tcp_flags |= p[14 + 20 + 13];
    } else if (kinds[i] == kFirstFrag) {
      want2.push_back(p);
      bytes2 += p.size();
    }
    in.push_back(std::move(p));
  }
  ASSERT_TRUE(write_pcap(path("in.pcap"), in));
  add_port("out1", "net_pcap_out1,tx_pcap=" + path("out1.pcap"), 2);
  add_port("out2", "net_pcap_out2,tx_pcap=" + path("out2.pcap"), 3);
  const std::string f1 = "in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)";
  const std::string f2 = "in_port(1),eth(),eth_type(0x0800),ipv4(frag=first)";
  add_flow(f1, "2");
  add_flow(f2, "3");
  add_port("in", "net_pcap_in,rx_pcap=" + path("in.pcap"), 1);

  ASSERT_TRUE(wait_until([&] {
    return port("in").stats.rx_packets == in.size() &&
           port("out1").stats.tx_packets == want1.size() &&
           port("out2").stats.tx_packets == want2.size();
  })) << port("in").stats.rx_packets
      << " " << port("out1").stats.tx_packets << " " << port("out2").stats.tx_packets;
  const PortInfo rx = port("in"), tx1 = port("out1"), tx2 = port("out2");
  EXPECT_EQ(rx.stats.rx_bytes, rx_bytes);
  EXPECT_EQ(tx1.stats.tx_bytes, bytes1);
  EXPECT_EQ(tx2.stats.tx_bytes, bytes2);

  std::string err;
  std::vector<PmdStats> pmds;
  ASSERT_EQ(client_.pmd_stats(&pmds, &err), 0) << err;
  EXPECT_EQ(pmds.at(0).emc_hits, 0u);  // every forwarded packet took the simple pass
  EXPECT_EQ(pmds.at(0).megaflow_hits, want1.size() + want2.size());

  std::vector<FlowStats> stats;
  ASSERT_EQ(client_.flow_dump_all(
                false,
                [&](const FlowEntry& e) {
                  stats.push_back(e.stats);
                  return true;
                },
                &err),
            0)
      << err;
  ASSERT_EQ(stats.size(), 2u);
  if (stats[0].packets != want1.size()) std::swap(stats[0], stats[1]);
  EXPECT_EQ(stats[0].packets, want1.size());
  EXPECT_EQ(stats[0].bytes, bytes1);
  EXPECT_EQ(stats[0].tcp_flags, tcp_flags);
  EXPECT_NE(stats[0].used_ms, 0u);
  EXPECT_EQ(stats[1].packets, want2.size());
  EXPECT_EQ(stats[1].bytes, bytes2);
  EXPECT_EQ(stats[1].tcp_flags, 0u);
  EXPECT_NE(stats[1].used_ms, 0u);

  expect_captures(want1, want2);
}

TEST_F(DpxdForward, BadRequestsGetErrorsAndChangeNothing) {
  PortAddRequest req;
  req.name = "x";
  req.type = "nosuchtype";
  PortInfo info;
  std::string err;
  EXPECT_EQ(client_.port_add(req, &info, &err), EOPNOTSUPP);
  EXPECT_NE(err.find("nosuchtype"), std::string::npos) << err;
  req.type = "dpdk";
  req.devargs = "net_nosuchdriver0";
  EXPECT_EQ(client_.port_add(req, &info, &err), ENODEV);
  // An unsupported key attribute (conntrack state, which the text syntax
  // of dpx does not even parse) is refused by dpxd with EINVAL.
  FlowPutEntry e;
  NlWriter kw(&e.key);
  kw.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 1);
  kw.put<uint32_t>(OVS_KEY_ATTR_CT_STATE, 0x20);
  e.ufid = Ufid{{1, 2, 3, 4}};
  std::vector<FlowPutResult> res;
  ASSERT_EQ(client_.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
  ASSERT_EQ(res.size(), 1u);
  EXPECT_EQ(res[0].error, EINVAL);
  EXPECT_NE(res[0].message.find("CT_STATE"), std::string::npos) << res[0].message;
  std::vector<PortInfo> ports;
  ASSERT_EQ(client_.port_dump(&ports, &err), 0) << err;
  EXPECT_TRUE(ports.empty());
  DpStats st;
  ASSERT_EQ(client_.dp_stats(&st, &err), 0);
  EXPECT_EQ(st.n_flows, 0u);
}

TEST_F(DpxdForward, FlowLimitIsEnforced) {
  DpConfig cfg;
  cfg.flow_limit = 3;
  std::string err;
  ASSERT_EQ(client_.dp_set(cfg, &err), 0) << err;
  for (int i = 1; i <= 3; ++i) add_flow("in_port(" + std::to_string(i) + "),eth()", "drop");
  add_flow("in_port(9),eth()", "drop", EFBIG);
}

// Random and truncated messages on many connections: dpxd answers or closes
// those connections, and keeps forwarding.
TEST_F(DpxdForward, SurvivesGarbageOnTheControlSocket) {
  std::mt19937 rng(12345);
  for (int conn = 0; conn < 200; ++conn) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", dpxd_.socket().c_str());
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    std::vector<uint8_t> msg(rng() % 200);
    for (auto& b : msg) b = static_cast<uint8_t>(rng());
    if (msg.size() >= 8 && conn % 2) {
      // A plausible header: the right length and version, a random type.
      const uint32_t len = static_cast<uint32_t>(msg.size());
      std::memcpy(msg.data(), &len, 4);
      const uint16_t ver = 1;
      std::memcpy(msg.data() + 4, &ver, 2);
    }
    (void)!send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    close(fd);
  }
  ASSERT_TRUE(dpxd_.alive());
  std::vector<Packet> in;
  for (uint32_t i = 0; i < 20; ++i)
    in.push_back(udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 9, 10, i));
  ASSERT_TRUE(write_pcap(path("in.pcap"), in));
  add_port("out", "net_null_out,no-rx=1", 2);
  add_flow("in_port(1),eth(),eth_type(0x0800),ipv4()", "2");
  add_port("in", "net_pcap_in,rx_pcap=" + path("in.pcap"), 1);
  EXPECT_TRUE(wait_until([&] { return port("out").stats.tx_packets == in.size(); }));
}

// dpxd answers an EXECUTE as soon as the packet is queued to its PMD; a
// request that reads what executes change (here a port's tx counter) must
// still see every execute sent before it. Executes and the PORT_GET go in
// one write, and the PMD takes long naps when idle (100 ms here), so the
// server handles the PORT_GET before the PMD has run the executes unless
// its barrier waits for them.
TEST(DpxdExecuteOrder, RequestsAfterPipelinedExecutesSeeThemDone) {
  DpxdProcess dpxd;
  std::string err;
  ASSERT_TRUE(dpxd.start({"--pmd-sleep-max-us", "100000"}, &err)) << err;
  {
    ControlClient c;
    ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
    PortAddRequest req;
    req.name = "out";
    req.type = "dpdk";
    req.devargs = "net_null_out,no-rx=1";
    req.odp_port = 2;
    PortInfo info;
    ASSERT_EQ(c.port_add(req, &info, &err), 0) << err;
  }
  ExecuteRequest x;
  x.packet = udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 9, 10, 0);
  NlBuf mask;
  ASSERT_EQ(odp_flow_from_string("in_port(1)", &x.key, &mask, &err), 0) << err;
  ASSERT_EQ(odp_actions_from_string("2", &x.actions, &err), 0) << err;
  NlBuf bytes, body;
  ASSERT_EQ(encode_execute_request(x, &body), 0);
  // Several rounds, each ending in a PORT_GET that must count them all.
  constexpr uint32_t kExecs = 40, kRounds = 3;
  uint32_t id = 1;
  for (uint32_t r = 0; r < kRounds; ++r) {
    for (uint32_t i = 0; i < kExecs; ++i)
      ASSERT_EQ(ctl_append_message(&bytes, {0, 1, DPX_CTL_EXECUTE, id++, 0, 0}, body), 0);
    NlBuf ref;
    PortRef pr;
    pr.name = "out";
    ASSERT_EQ(encode_port_ref(pr, &ref), 0);
    ASSERT_EQ(ctl_append_message(&bytes, {0, 1, DPX_CTL_PORT_GET, id++, 0, 0}, ref), 0);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  struct CloseFd {
    int fd;
    ~CloseFd() { close(fd); }
  } close_fd{fd};
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", dpxd.socket().c_str());
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  for (size_t off = 0; off < bytes.size();) {
    const ssize_t w = send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(w, 0);
    off += size_t(w);
  }
  // Replies, in order.
  NlBuf in;
  size_t pos = 0;
  auto next = [&](CtlHeader* h, std::span<const uint8_t>* b) {
    for (;;) {
      std::span<const uint8_t> avail(in.data() + pos, in.size() - pos);
      if (ctl_frame(avail, h) == FrameStatus::kComplete) {
        *b = avail.subspan(DPX_CTL_HDR_LEN, h->length - DPX_CTL_HDR_LEN);
        pos += h->length;
        return true;
      }
      uint8_t chunk[4096];
      const ssize_t r = read(fd, chunk, sizeof chunk);
      if (r <= 0) return false;
      in.insert(in.end(), chunk, chunk + r);
    }
  };
  for (uint32_t r = 0; r < kRounds; ++r) {
    CtlHeader h;
    std::span<const uint8_t> b;
    for (uint32_t i = 0; i < kExecs; ++i) {
      ASSERT_TRUE(next(&h, &b));
      ASSERT_EQ(h.type, DPX_CTL_EXECUTE);
      ASSERT_EQ(h.error, 0) << decode_error_body(b);
    }
    ASSERT_TRUE(next(&h, &b));
    ASSERT_EQ(h.type, DPX_CTL_PORT_GET);
    ASSERT_EQ(h.error, 0) << decode_error_body(b);
    PortInfo info;
    ASSERT_EQ(decode_port_info(b, &info, &err), 0) << err;
    EXPECT_EQ(info.stats.tx_packets, uint64_t{kExecs} * (r + 1))
        << "PORT_GET overtook executes in round " << r;
  }
}

}  // namespace
}  // namespace dpx::test

namespace dpx::test {
namespace {

// SIGTERM with ports and flows in place ends dpxd cleanly (exit status 0),
// and a bad option is refused before the EAL starts, naming the option.
TEST(DpxdProcessLife, CleanShutdownAndBadOptions) {
  {
    DpxdProcess dpxd;
    std::string err;
    ASSERT_TRUE(dpxd.start({}, &err)) << err;
    ControlClient c;
    ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
    PortAddRequest req;
    req.name = "sink";
    req.type = "dpdk";
    req.devargs = "net_null_sink";
    PortInfo info;
    ASSERT_EQ(c.port_add(req, &info, &err), 0) << err;
    const int st = dpxd.stop();
    EXPECT_TRUE(WIFEXITED(st)) << "status " << st;
    EXPECT_EQ(WEXITSTATUS(st), 0) << dpxd.log();
    // Nothing left in DPDK's runtime directory either.
    EXPECT_FALSE(std::filesystem::exists(DpxdProcess::runtime_dir()));
  }
  {
    DpxdProcess dpxd;
    std::string err;
    EXPECT_FALSE(dpxd.start({"--flow-limit", "zero"}, &err));
    const int st = dpxd.stop();
    EXPECT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 2);
    EXPECT_NE(dpxd.log().find("flow-limit"), std::string::npos) << dpxd.log();
  }
}

// A dpxd that dies without cleaning up (here SIGKILL, as a crash would) leaves
// its EAL runtime directory with the telemetry sockets in it; the test
// fixture removes them, so that failing tests leave nothing behind either.
TEST(DpxdProcessLife, FixtureCleansUpAfterAKilledDpxd) {
  {
    DpxdProcess dpxd;
    std::string err;
    ASSERT_TRUE(dpxd.start({}, &err)) << err;
    ASSERT_TRUE(std::filesystem::exists(DpxdProcess::runtime_dir()));
    ASSERT_EQ(kill(dpxd.pid(), SIGKILL), 0);
    const int st = dpxd.stop();
    EXPECT_TRUE(WIFSIGNALED(st)) << "status " << st;
    EXPECT_FALSE(std::filesystem::is_empty(DpxdProcess::runtime_dir()))
        << "dpxd left nothing to clean up; the test proves nothing";
  }
  EXPECT_FALSE(std::filesystem::exists(DpxdProcess::runtime_dir()));
}

}  // namespace
}  // namespace dpx::test

namespace dpx::test {
namespace {

// Simple mode (simple_match.h) on and off: with only simple megaflows the
// PMD never touches its EMC; a megaflow on other fields switches to the full
// path (EMC hits appear); removing it switches back. Forwarding stays exact
// throughout.
TEST(SimpleMode, SwitchesWithTheInstalledMasks) {
  DpxdProcess dpxd;
  std::string err;
  ASSERT_TRUE(dpxd.start({"--emc-insert-inv-prob", "1"}, &err)) << err;
  ControlClient c;
  ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
  auto port_add = [&](const std::string& name, const std::string& devargs, uint32_t odp) {
    add_dpdk_port(c, name, devargs, odp);
  };
  auto port_del = [&](const std::string& name) {
    PortRef ref;
    ref.name = name;
    ASSERT_EQ(c.port_del(ref, &err), 0) << err;
  };
  auto flow = [&](const std::string& f, const std::string& actions, bool add) {
    FlowPutEntry e;
    ASSERT_EQ(odp_flow_from_string(f, &e.key, &e.mask, &err), 0) << err;
    ASSERT_EQ(odp_actions_from_string(actions, &e.actions, &err), 0) << err;
    e.ufid = Ufid{{static_cast<uint32_t>(std::hash<std::string>()(f)), 7, 7, 7}};
    if (add) {
      std::vector<FlowPutResult> res;
      ASSERT_EQ(c.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
      ASSERT_EQ(res.at(0).error, 0) << res[0].message;
    } else {
      std::vector<FlowDelResult> res;
      ASSERT_EQ(c.flow_del(std::span<const Ufid>(&e.ufid, 1), &res, &err), 0) << err;
      ASSERT_EQ(res.at(0).error, 0) << res[0].message;
    }
  };
  auto pmd = [&] {
    std::vector<PmdStats> s;
    EXPECT_EQ(c.pmd_stats(&s, &err), 0) << err;
    return s.at(0);
  };
  auto sink_tx = [&] {
    PortRef ref;
    ref.name = "sink";
    PortInfo info;
    EXPECT_EQ(c.port_get(ref, &info, &err), 0) << err;
    return info.stats.tx_packets;
  };
  std::vector<Packet> in;
  for (uint32_t i = 0; i < 100; ++i)
    in.push_back(udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 9, 10, i));
  ASSERT_TRUE(write_pcap(dpxd.dir() + "/in.pcap", in));
  const std::string src = "net_pcap_src%d,rx_pcap=" + dpxd.dir() + "/in.pcap";
  auto replay = [&](int round) {
    char devargs[512];
    std::snprintf(devargs, sizeof devargs, src.c_str(), round);
    port_add("src", devargs, 1);
    ASSERT_TRUE(wait_until([&] { return sink_tx() == 100u * round; })) << sink_tx();
    port_del("src");
  };

  port_add("sink", "net_null_sink,no-rx=1", 2);  // no rx: exact counters
  flow("in_port(1),eth(),eth_type(0x0800),ipv4()", "2", true);
  replay(1);
  EXPECT_EQ(pmd().emc_hits, 0u);
  EXPECT_EQ(pmd().megaflow_hits, 100u);
  // One mask, searched once by every hit.
  const PmdStats s1 = pmd();
  EXPECT_EQ(s1.upcalls + s1.lost, 0u);
  EXPECT_EQ(s1.masks_visited, 100u);

  // A megaflow on Ethernet addresses (on another port: it takes no traffic).
  flow("in_port(5),eth(src=02:00:00:00:00:99)", "2", true);
  replay(2);
  const uint64_t emc_full = pmd().emc_hits;
  EXPECT_GT(emc_full, 0u);
  EXPECT_EQ(pmd().emc_hits + pmd().megaflow_hits, 200u);
  // Two masks now: a megaflow hit searched one or both.
  const PmdStats s2 = pmd();
  const uint64_t hits2 = s2.megaflow_hits - s1.megaflow_hits;
  const uint64_t visited2 = s2.masks_visited - s1.masks_visited;
  EXPECT_GE(visited2, hits2);
  EXPECT_LE(visited2, 2 * hits2);

  flow("in_port(5),eth(src=02:00:00:00:00:99)", "2", false);
  // The control thread switches back in its housekeeping tick, which runs
  // after every batch of requests it serves: before the next port_add.
  replay(3);
  EXPECT_EQ(pmd().emc_hits, emc_full);
  EXPECT_EQ(pmd().emc_hits + pmd().megaflow_hits, 300u);
}

}  // namespace
}  // namespace dpx::test

namespace dpx::test {
namespace {

// VLAN presence is always matched, as in the kernel datapath: a flow without
// vlan() forwards only untagged frames, one with a single vlan() (any VID
// and PCP, tag present) only single-tagged frames, and QinQ frames need a
// flow with two. Run in simple mode (only such megaflows) and in the full
// path (a megaflow on Ethernet addresses on another port forces it), with
// tagged, untagged and double-tagged frames interleaved in one burst.
class VlanPresence : public ::testing::TestWithParam<bool> {};

TEST_P(VlanPresence, FlowsWithoutATagMissTaggedFrames) {
  const bool full_path = GetParam();
  DpxdProcess dpxd;
  std::string err;
  ASSERT_TRUE(dpxd.start({"--emc-insert-inv-prob", "1"}, &err)) << err;
  ControlClient c;
  ASSERT_EQ(c.connect(dpxd.socket(), &err), 0) << err;
  auto flow = [&](const std::string& f, const std::string& actions) {
    put_flow(c, f, actions, Ufid{{static_cast<uint32_t>(std::hash<std::string>()(f)), 8, 8, 8}});
  };
  auto tx = [&](const std::string& name) { return port_tx_packets(c, name); };
  auto stats = [&] { return dp_stats_of(c); };
  auto tag = [](Packet p, uint16_t tpid, uint16_t tci) {
    const uint8_t t[4] = {uint8_t(tpid >> 8), uint8_t(tpid), uint8_t(tci >> 8), uint8_t(tci)};
    p.insert(p.begin() + 12, t, t + 4);
    return p;
  };
  // 30 untagged, 20 tagged with VID 10, 10 with VID 20 and PCP 5 (TCI 0:
  // a priority tag, whose key still has the tag), 10 QinQ: 70 frames.
  std::vector<Packet> in;
  for (uint32_t i = 0; i < 70; ++i) {
    Packet p = udp_packet(kMacB, kMacA, 0x0a000063, 0x0a000001, 7, 9, 10, i);
    const uint32_t k = i % 7;
    if (k < 3) {
      in.push_back(p);
    } else if (k < 5) {
      in.push_back(tag(p, 0x8100, 10));
    } else if (k == 5) {
      in.push_back(tag(p, 0x8100, i % 2 ? (5 << 13) | 20 : 0));
    } else {
      in.push_back(tag(tag(p, 0x8100, 10), 0x88a8, 100));
    }
  }
  ASSERT_TRUE(write_pcap(dpxd.dir() + "/in.pcap", in));
  const std::string src = "net_pcap_src%d,rx_pcap=" + dpxd.dir() + "/in.pcap";
  uint64_t sent = 0;
  auto replay = [&](int round) {
    char devargs[512];
    std::snprintf(devargs, sizeof devargs, src.c_str(), round);
    add_dpdk_port(c, "src", devargs, 1);
    sent += in.size();
    ASSERT_TRUE(wait_until([&] {
      const DpStats st = stats();
      return st.hit + st.missed == sent;
    }));
    PortRef ref;
    ref.name = "src";
    ASSERT_EQ(c.port_del(ref, &err), 0) << err;
  };

  add_dpdk_port(c, "untagged", "net_null_u,no-rx=1", 2);
  add_dpdk_port(c, "tagged", "net_null_t,no-rx=1", 3);
  add_dpdk_port(c, "qinq", "net_null_q,no-rx=1", 4);
  if (full_path) flow("in_port(5),eth(src=02:00:00:00:00:99)", "2");

  // No vlan(): untagged frames only; every tagged one misses.
  flow("in_port(1),eth(),eth_type(0x0800),ipv4(frag=no)", "2");
  replay(1);
  EXPECT_EQ(tx("untagged"), 30u);
  EXPECT_EQ(stats().hit, 30u);
  EXPECT_EQ(stats().missed, 40u);

  // vlan() with VID and PCP wildcarded: every single-tagged frame, and still
  // no QinQ frame (the inner tag is matched exactly, absent).
  flow("in_port(1),eth(),eth_type(0x8100),vlan(),encap(eth_type(0x0800),ipv4(frag=no))", "3");
  replay(2);
  EXPECT_EQ(tx("untagged"), 60u);
  EXPECT_EQ(tx("tagged"), 30u);
  EXPECT_EQ(stats().hit, 30u + 60u);
  EXPECT_EQ(stats().missed, 40u + 10u);

  flow(
      "in_port(1),eth(),eth_type(0x88a8),vlan(),encap(eth_type(0x8100),vlan(),"
      "encap(eth_type(0x0800),ipv4(frag=no)))",
      "4");
  replay(3);
  EXPECT_EQ(tx("untagged"), 90u);
  EXPECT_EQ(tx("tagged"), 60u);
  EXPECT_EQ(tx("qinq"), 10u);
  EXPECT_EQ(stats().missed, 50u);

  // The PMD took the path the test is about.
  std::vector<PmdStats> ps;
  ASSERT_EQ(c.pmd_stats(&ps, &err), 0) << err;
  if (full_path) {
    EXPECT_GT(ps.at(0).emc_hits, 0u);
  } else {
    EXPECT_EQ(ps.at(0).emc_hits, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, VlanPresence, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Full" : "Simple"; });

}  // namespace
}  // namespace dpx::test
