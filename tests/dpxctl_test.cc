// Integration: the real dpxctl binary against a real dpxd. Ports added and
// removed, flows in ovs-dpctl syntax for every key attribute and action dpxd
// supports added, dumped, parsed back and compared with what was added (text
// -> attributes -> dpxd -> dump -> text), modified, deleted and flushed; show
// and pmd-stats-show with traffic; bad input refused with a non-zero exit
// status and a message that says what is wrong.
#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdlib>
#include <sstream>

#include "cpu_isa.h"
#include "support/dpxd_process.h"
#include "support/netns.h"
#include "support/pcap_file.h"

namespace dpx::test {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};

// Flows in the canonical form dump-flows prints (OVS's odp_flow_format()),
// covering every key attribute of dpx's text syntax: metadata, tunnel (IPv4
// and IPv6 outer headers, flags), Ethernet, one and two VLAN tags, ARP,
// IPv4 and IPv6 with every field, TCP with flags, UDP, SCTP, ICMP, ICMPv6
// with ND, fragments, and partial masks throughout.
const char* const kFlows[] = {
    "recirc_id(0),in_port(1),eth(src=00:01:02:03:04:05,dst=ff:ff:ff:ff:ff:ff/01:00:00:00:00:00),"
    "eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.0/255.255.255.0,proto=17,tos=0,ttl=64,frag=no),"
    "udp(src=1,dst=2)",
    "skb_priority(0x1),skb_mark(0x5/0xff),dp_hash(0x10/0xff),recirc_id(0x1),in_port(2),eth(),"
    "eth_type(0x0806),arp(sip=10.0.0.1,tip=10.0.0.2,op=1,sha=00:00:00:00:00:01,tha=00:00:00:00:00:"
    "00)",
    "in_port(1/0xff),eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x8100),"
    "vlan(vid=10,pcp=0),encap(eth_type(0x0800),ipv4(frag=no))",
    "eth(),eth_type(0x88a8),vlan(vid=100,pcp=3),encap(eth_type(0x8100),vlan(vid=10),"
    "encap(eth_type(0x86dd),ipv6(src=2001:db8::1,dst=2001:db8::/ffff:ffff::,label=0x12345,proto=6,"
    "tclass=0x10,hlimit=64,frag=no),tcp(dst=80),tcp_flags(syn|ack)))",
    "eth(),eth_type(0x0800),ipv4(proto=6,tos=0x4/0xfc,frag=no),tcp(src=1024/0xfc00),"
    "tcp_flags(-fin+syn-rst)",
    "eth(),eth_type(0x0800),ipv4(proto=1,frag=no),icmp(type=8,code=0)",
    "eth(),eth_type(0x86dd),ipv6(label=0x5/0xff,proto=58,frag=no),icmpv6(type=135,code=0),"
    "nd(target=fe80::1,sll=00:11:22:33:44:55)",
    "eth(),eth_type(0x86dd),ipv6(proto=58,frag=no),icmpv6(type=136,code=0),"
    "nd(target=2001:db8::7,tll=00:11:22:33:44:66)",
    "eth(),eth_type(0x0800),ipv4(proto=132,frag=first),sctp(src=5000,dst=6000)",
    "eth(),eth_type(0x0800),ipv4(frag=later)",
    "tunnel(tun_id=0x5,src=172.31.110.12,dst=172.31.110.11,ttl=64,flags(-df-csum+key)),in_port(3),"
    "eth(),eth_type(0x0800),ipv4(frag=no)",
    "tunnel(ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,tos=0x10,ttl=64,tp_src=1000/0xff00,"
    "tp_dst=4789,flags(-df+csum)),in_port(4),eth()",
    "tunnel(tun_id=0x1/0xff,dst=1.1.1.1,ttl=64,flags(+oam+key)),eth()",
    "eth(),eth_type(0x8100),vlan(cfi=0),encap()",
    "eth(),eth_type(0x8100),vlan(vid=5/0xf,pcp=1/0x1),encap(eth_type(0x0806),arp(op=2))",
};

// Action lists in canonical form, covering every action dpxd executes.
const char* const kActions[] = {
    "drop",
    "2",
    "1,2,3",
    "trunc(100),2",
    "recirc(0x1)",
    "hash(l4(0)),recirc(0x2)",
    "hash(sym_l4(5))",
    "push_vlan(vid=10,pcp=0),2",
    "push_vlan(tpid=0x88a8,vid=100,pcp=5),2",
    "pop_vlan,3",
    "set(eth(src=00:01:02:03:04:05,dst=ff:ff:ff:ff:ff:ff))",
    "set(eth(dst=00:00:00:00:00:09))",
    "set(ipv4(src=1.2.3.4/255.255.255.0))",
    "set(ipv4(ttl=63))",
    "set(ipv4(src=1.1.1.1,dst=2.2.2.2,proto=6,tos=0,ttl=64,frag=no))",
    "set(ipv6(dst=2001:db8::1,hlimit=5))",
    "set(tcp(src=80,dst=8080))",
    "set(udp(dst=53))",
    "set(skb_mark(0x5))",
    "set(skb_priority(0x3))",
    "set(tunnel(tun_id=0x5,dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df|key)))",
    "clone(set(ipv4(ttl=63)),2),3",
    "clone(drop)",
    "userspace(pid=1)",
    "userspace(pid=4294967295,userdata(0102030405060708),actions,tunnel_out_port=4)",
    "userspace(pid=7,userdata())",
};

// One line of dump-flows: "[ufid:U, ]FLOW, packets:N, bytes:N, used:T[,
// flags:F], actions:A".
struct DumpLine {
  std::string ufid, flow, used, flags, actions;
  uint64_t packets = 0, bytes = 0;
};

bool parse_dump_line(const std::string& line, DumpLine* out, std::string* err) {
  std::string rest = line;
  if (rest.rfind("ufid:", 0) == 0) {
    const size_t c = rest.find(", ");
    out->ufid = rest.substr(5, c - 5);
    rest = rest.substr(c + 2);
  }
  const size_t p = rest.find(", packets:");
  const size_t a = rest.find(", actions:");
  if (p == std::string::npos || a == std::string::npos || a < p) {
    *err = "not a dump-flows line: " + line;
    return false;
  }
  out->flow = rest.substr(0, p);
  out->actions = rest.substr(a + 10);
  // "packets:N, bytes:N, used:T[, flags:F]"
  std::stringstream stats(rest.substr(p + 2, a - p - 2));
  std::string field;
  while (std::getline(stats, field, ',')) {
    if (!field.empty() && field[0] == ' ') field.erase(0, 1);
    const size_t colon = field.find(':');
    const std::string k = field.substr(0, colon), v = field.substr(colon + 1);
    if (k == "packets")
      out->packets = std::stoull(v);
    else if (k == "bytes")
      out->bytes = std::stoull(v);
    else if (k == "used")
      out->used = v;
    else if (k == "flags")
      out->flags = v;
    else {
      *err = "unknown stats field '" + k + "' in: " + line;
      return false;
    }
  }
  return true;
}

class DpxctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(dpxd_.start({}, &err)) << err;
  }

  // Runs dpxctl against this test's dpxd.
  CmdResult ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {DPX_DPXCTL_PATH, "--socket", dpxd_.socket()});
    return run_cmd(args);
  }
  // Runs dpxctl and expects it to succeed; returns its output.
  std::string ok(const std::vector<std::string>& args) {
    const CmdResult r = ctl(args);
    EXPECT_EQ(r.status, 0) << join_args(args) << ":\n" << r.output;
    return r.output;
  }
  // Runs dpxctl and expects exit status `status` and `needle` in its output.
  void fails(const std::vector<std::string>& args, int status, const std::string& needle) {
    const CmdResult r = ctl(args);
    EXPECT_EQ(r.status, status) << join_args(args) << ":\n" << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos)
        << join_args(args) << ": expected \"" << needle << "\" in:\n"
        << r.output;
  }

  std::vector<DumpLine> dump(bool more = false) {
    std::vector<std::string> args{"dump-flows"};
    if (more) args.push_back("-m");
    const std::string out = ok(args);
    std::vector<DumpLine> lines;
    std::stringstream ss(out);
    std::string line, err;
    while (std::getline(ss, line)) {
      if (line.empty()) continue;
      DumpLine d;
      EXPECT_TRUE(parse_dump_line(line, &d, &err)) << err;
      lines.push_back(d);
    }
    return lines;
  }

  // dpxd must exit cleanly on SIGTERM: status 0, which in sanitizer builds
  // also means no leak or error report at shutdown.
  void TearDown() override {
    const int st = dpxd_.stop();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "dpxd wait status " << st << ", log:\n"
                                                       << dpxd_.log();
  }

  std::string path(const std::string& f) const { return dpxd_.dir() + "/" + f; }

  DpxdProcess dpxd_;
};

TEST_F(DpxctlTest, PortsAddShowDelete) {
  EXPECT_EQ(ok({"add-port", "sink", "dpdk", "net_null_sink,no-rx=1", "--port-no", "7"}),
            "port 7: sink\n");
  // Without --port-no the lowest free number from 1 on.
  EXPECT_EQ(ok({"add-port", "sink2", "dpdk", "net_null_sink2,no-rx=1"}), "port 1: sink2\n");
  const std::string show = ok({"show"});
  for (const char* want :
       {"dpx@dpxd:", "lookups: hit:0 missed:0 lost:0", "flows: 0", "flow limit: 200000",
        "port 7: sink (dpdk: devargs=net_null_sink,no-rx=1)",
        "port 1: sink2 (dpdk: devargs=net_null_sink2,no-rx=1)", "RX packets:0", "TX packets:0",
        "rxq 0: packets:0", "txq 0: packets:0"})
    EXPECT_NE(show.find(want), std::string::npos) << "no \"" << want << "\" in:\n" << show;
  // dpxd started with the default --cpu-isa=auto: the widest level this CPU has.
  const std::string isa = std::string("cpu isa: ") + cpu_isa_name(cpu_isa_best()) + "\n";
  EXPECT_NE(show.find(isa), std::string::npos) << "no \"" << isa << "\" in:\n" << show;
  EXPECT_NE(ok({"pmd-stats-show"}).find(isa), std::string::npos);
  // Ports sort by number.
  EXPECT_LT(show.find("port 1: sink2"), show.find("port 7: sink"));

  ok({"del-port", "sink"});
  ok({"del-port", "1"});
  const std::string after = ok({"show"});
  EXPECT_EQ(after.find("sink"), std::string::npos) << after;

  fails({"del-port", "sink"}, 1, "no such port");
  fails({"add-port", "x", "nosuchtype"}, 1, "port type 'nosuchtype' is not supported");
  fails({"add-port", "x", "dpdk"}, 1, "needs devargs");
  fails({"add-port", "x", "dpdk", "net_nosuchdriver0"}, 1, "cannot probe device");
  fails({"add-port", "x", "dpdk", "net_null_x", "--port-no", "5000"}, 1, "out of range");
  fails({"add-port", "x", "dpdk", "net_null_x", "--option", "bogus=1"}, 1,
        "unknown port option 'bogus'");
  fails({"add-port", "x"}, 2, "add-port NAME TYPE");
  ok({"add-port", "dup", "dpdk", "net_null_dup,no-rx=1", "--port-no", "3"});
  fails({"add-port", "dup", "dpdk", "net_null_dup2,no-rx=1"}, 1, "a port named 'dup' exists");
  fails({"add-port", "dup2", "dpdk", "net_null_dup2,no-rx=1", "--port-no", "3"}, 1,
        "odp port 3 is in use");
}

// text -> attributes -> dpxd -> dump -> text, for every key attribute and
// action of the syntax.
TEST_F(DpxctlTest, FlowsRoundTripThroughDpxd) {
  std::vector<std::pair<std::string, std::string>> added;
  size_t a = 0;
  for (const char* f : kFlows) {
    const std::string actions = kActions[a++ % std::size(kActions)];
    ok({"add-flow", f, actions});
    added.emplace_back(f, actions);
  }
  // The remaining actions on flows of their own.
  for (uint32_t port = 100; a < std::size(kActions); ++port) {
    const std::string f = "in_port(" + std::to_string(port) + "),eth()";
    ok({"add-flow", f, kActions[a]});
    added.emplace_back(f, kActions[a++]);
  }

  // Dumps list flows in creation order.
  const std::vector<DumpLine> lines = dump();
  ASSERT_EQ(lines.size(), added.size());
  for (size_t i = 0; i < added.size(); ++i) {
    EXPECT_EQ(lines[i].flow, added[i].first);
    EXPECT_EQ(lines[i].actions, added[i].second);
    EXPECT_EQ(lines[i].packets, 0u);
    EXPECT_EQ(lines[i].bytes, 0u);
    EXPECT_EQ(lines[i].used, "never");
    EXPECT_EQ(lines[i].flags, "");
  }
  EXPECT_NE(ok({"show"}).find("flows: " + std::to_string(added.size())), std::string::npos);

  // -m adds each flow's ufid; get-flow prints the same flow by ufid.
  const std::vector<DumpLine> more = dump(true);
  ASSERT_EQ(more.size(), added.size());
  for (size_t i = 0; i < more.size(); ++i) {
    ASSERT_EQ(more[i].ufid.size(), 36u) << more[i].ufid;
    EXPECT_EQ(more[i].flow, added[i].first);
    const std::string got = ok({"get-flow", "ufid:" + more[i].ufid});
    DumpLine g;
    std::string err;
    ASSERT_TRUE(parse_dump_line(got.substr(0, got.find('\n')), &g, &err)) << err;
    EXPECT_EQ(g.ufid, more[i].ufid);
    EXPECT_EQ(g.flow, added[i].first);
    EXPECT_EQ(g.actions, added[i].second);
  }

  // An explicit ufid is kept.
  const std::string u = "c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1";
  ok({"add-flow", "ufid:" + u + ",in_port(99),eth(),eth_type(0x0800),ipv4(ttl=1,frag=no)", "2"});
  const std::string got = ok({"get-flow", "ufid:" + u});
  EXPECT_EQ(got.rfind("ufid:" + u +
                          ", in_port(99),eth(),eth_type(0x0800),ipv4(ttl=1,frag=no), "
                          "packets:0",
                      0),
            0u)
      << got;
}

TEST_F(DpxctlTest, ModDelFlushAndStatsWithTraffic) {
  // 20 packets to 10.0.0.1 (flow A), 10 to 10.0.0.2 (flow B).
  std::vector<Packet> in;
  uint64_t bytes_a = 0, bytes_b = 0;
  for (uint32_t i = 0; i < 30; ++i) {
    const bool a = i % 3 != 2;
    in.push_back(
        udp_packet(kMacB, kMacA, 0x0a000063, a ? 0x0a000001 : 0x0a000002, 1000, 53, 10 + i, i));
    (a ? bytes_a : bytes_b) += in.back().size();
  }
  ASSERT_TRUE(write_pcap(path("in.pcap"), in));
  const std::string flow_a = "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.1)";
  const std::string flow_b = "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.0.0.2)";
  ok({"add-port", "out", "dpdk", "net_null_out,no-rx=1", "--port-no", "2"});
  ok({"add-flow", flow_a, "2"});
  ok({"add-flow", flow_b, "set(ipv4(ttl=9)),2"});
  fails({"add-flow", flow_a, "2"}, 1, "flow exists");
  // An IPv6 tunnel endpoint is accepted (encapsulated over an IPv6 underlay).
  ok({"add-flow", "in_port(9),eth()", "set(tunnel(ipv6_dst=2001:db8::2,ttl=64,flags(0))),2"});
  ok({"del-flow", "in_port(9),eth()"});
  ok({"pmd-stats-clear"});
  ok({"add-port", "in", "dpdk", "net_pcap_in,rx_pcap=" + path("in.pcap"), "--port-no", "1"});
  ASSERT_TRUE(wait_until([&] {
    const auto l = dump();
    return l.size() == 2 && l[0].packets + l[1].packets == in.size();
  })) << ok({"dump-flows"});

  std::vector<DumpLine> l = dump();
  EXPECT_EQ(l[0].flow, flow_a);
  EXPECT_EQ(l[0].packets, 20u);
  EXPECT_EQ(l[0].bytes, bytes_a);
  EXPECT_NE(l[0].used, "never");
  EXPECT_EQ(l[0].used.back(), 's') << l[0].used;
  EXPECT_EQ(l[1].packets, 10u);
  EXPECT_EQ(l[1].bytes, bytes_b);
  EXPECT_EQ(l[1].actions, "set(ipv4(ttl=9)),2");

  const std::string show = ok({"show"});
  for (const char* want : {"lookups: hit:30 missed:0 lost:0", "flows: 2", "RX packets:30",
                           "TX packets:30", "port 1: in (dpdk: devargs=net_pcap_in,rx_pcap="})
    EXPECT_NE(show.find(want), std::string::npos) << "no \"" << want << "\" in:\n" << show;

  const std::string pmd = ok({"pmd-stats-show"});
  for (const char* want :
       {"pmd thread numa_id ", " core_id ", "packets received: 30", "packet recirculations: 0",
        "avg. datapath passes per packet: 1.00",
        "emc hits: ", "megaflow hits: ", "miss with success upcall: 0",
        "miss with failed upcall: 0", "upcalls unanswered in time: 0",
        "avg. packets per rx batch: ", "idle cycles: ", "processing cycles: ",
        "avg cycles per packet: ", "avg processing cycles per packet: ", "sleeps: "})
    EXPECT_NE(pmd.find(want), std::string::npos) << "no \"" << want << "\" in:\n" << pmd;
  // Every packet hit: the first of each microflow in the classifier, the
  // rest in the exact-match cache.
  uint64_t emc = 0, mega = 0;
  ASSERT_EQ(std::sscanf(pmd.substr(pmd.find("emc hits: ")).c_str(), "emc hits: %" SCNu64, &emc), 1);
  ASSERT_EQ(std::sscanf(pmd.substr(pmd.find("megaflow hits: ")).c_str(), "megaflow hits: %" SCNu64,
                        &mega),
            1);
  EXPECT_EQ(emc + mega, 30u) << pmd;
  EXPECT_GE(mega, 2u) << pmd;
  ok({"pmd-stats-clear"});
  EXPECT_NE(ok({"pmd-stats-show"}).find("packets received: 0"), std::string::npos);

  // mod-flow changes the actions and keeps the stats; --clear zeroes them.
  // (With the PMD kept awake, flow puts run on its thread; a napping PMD
  // leaves them to the control thread.)
  ok({"set", "pmd-sleep-max-us=0"});
  ok({"mod-flow", flow_a, "push_vlan(vid=7,pcp=0),2"});
  l = dump();
  EXPECT_EQ(l[0].actions, "push_vlan(vid=7,pcp=0),2");
  // The FLOW_PUT ran on the PMD's thread (Datapath::run_flow_job), once: a
  // refused one too, whose error still came back.
  fails({"add-flow", flow_b, "2"}, 1, "flow exists");
  EXPECT_NE(ok({"pmd-stats-show"}).find("flow jobs run: 2"), std::string::npos)
      << ok({"pmd-stats-show"});
  ok({"set", "pmd-sleep-max-us=250"});
  EXPECT_EQ(l[0].packets, 20u);
  ok({"mod-flow", flow_a, "2", "--clear"});
  l = dump();
  EXPECT_EQ(l[0].actions, "2");
  EXPECT_EQ(l[0].packets, 0u);
  EXPECT_EQ(l[0].bytes, 0u);
  EXPECT_EQ(l[0].used, "never");
  fails({"mod-flow", "in_port(9),eth()", "2"}, 1, "no such flow to modify");

  // del-flow by text and by ufid.
  ok({"del-flow", flow_a});
  l = dump(true);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].flow, flow_b);
  fails({"del-flow", flow_a}, 1, "no such flow");
  ok({"del-flow", "ufid:" + l[0].ufid});
  EXPECT_TRUE(dump().empty());

  // flush removes everything.
  ok({"add-flow", flow_a, "2"});
  ok({"add-flow", flow_b, "2"});
  ok({"add-flow", "in_port(2),eth()", "drop"});
  EXPECT_EQ(dump().size(), 3u);
  ok({"flush"});
  EXPECT_TRUE(dump().empty());
  EXPECT_NE(ok({"show"}).find("flows: 0"), std::string::npos);

  // The flow limit.
  ok({"set", "flow-limit=1"});
  ok({"add-flow", flow_a, "2"});
  fails({"add-flow", flow_b, "2"}, 1, "flow limit reached (1 flows)");
  EXPECT_NE(ok({"show"}).find("flow limit: 1"), std::string::npos);
}

TEST_F(DpxctlTest, ExecuteSendsThePacket) {
  ok({"add-port", "cap", "dpdk", "net_pcap_cap,tx_pcap=" + path("cap.pcap"), "--port-no", "2"});
  const Packet p = udp_packet(kMacB, kMacA, 0x0a000001, 0x0a000002, 7, 9, 6, 1);
  const std::string hex = hex_of(p);
  ok({"execute", "1", hex, "push_vlan(vid=5,pcp=0),2"});
  // Removing the port closes the capture.
  ok({"del-port", "cap"});
  std::vector<Packet> got;
  ASSERT_TRUE(read_pcap(path("cap.pcap"), &got));
  ASSERT_EQ(got.size(), 1u);
  Packet want = p;
  const uint8_t tag[4] = {0x81, 0x00, 0x00, 0x05};
  want.insert(want.begin() + 12, tag, tag + 4);
  EXPECT_EQ(got[0], want);

  fails({"execute", "1", "abc", "2"}, 2, "even digit count");
  fails({"execute", "1", "zz", "2"}, 2, "bad PACKET_HEX");
  fails({"execute", "x", hex, "2"}, 2, "bad IN_PORT");
}

TEST_F(DpxctlTest, BadInputIsRefusedClearly) {
  // Malformed text: usage errors (exit 2) saying where the text went wrong.
  fails({"add-flow", "in_port(1", "2"}, 2, "bad flow");
  fails({"add-flow", "in_port(1", "2"}, 2, "expected ')'");
  fails({"add-flow", "in_port(1),ipv4(ttl=256)", "2"}, 2, "out of range");
  fails({"add-flow", "ct_state(+trk)", "2"}, 2, "unsupported key attribute 'ct_state'");
  fails({"add-flow", "in_port(1),eth()", "output:2"}, 2, "bad actions");
  fails({"add-flow", "in_port(1),eth()", "ct(commit)"}, 2, "unknown or unsupported action");
  fails({"add-flow", "in_port(1),eth()"}, 2, "add-flow FLOW ACTIONS");
  fails({"mod-flow", "in_port(1),eth()"}, 2, "mod-flow FLOW ACTIONS");
  fails({"del-flow", "in_port(1),bogus(3)"}, 2, "bad flow");
  fails({"get-flow", "in_port(1)"}, 2, "get-flow ufid:UUID");
  fails({"get-flow", "ufid:c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1"}, 1, "no such flow");
  fails({"set", "flow-limit=x"}, 2, "bad setting flow-limit=x");
  fails({"set", "flow-limit=0"}, 1, "flow limit must be at least 1");
  fails({"frobnicate"}, 2, "unknown command frobnicate");
  fails({"--bogus-option", "show"}, 2, "unrecognised option");

  // Well-formed text that dpxd refuses (EINVAL, with its reason).
  fails({"add-flow", "eth_type(0x0800),ipv4(frag=no)", "2"}, 1,
        "packets without an Ethernet header");
  fails({"add-flow", "in_port(1),eth()", "push_vlan(vid=1,pcp=0,cfi=0)"}, 1,
        "TCI must have the CFI (present) bit set");
  fails({"add-flow", "in_port(1),eth()",
         "set(ipv6(src=::1,dst=::2,label=0,proto=6,tclass=0,hlimit=64,frag=no))"},
        1, "proto and frag cannot be rewritten");
  EXPECT_TRUE(dump().empty());
  EXPECT_TRUE(dpxd_.alive());

  // No dpxd at the socket.
  const CmdResult r = run_cmd({DPX_DPXCTL_PATH, "--socket", path("nothing.sock"), "show"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("connecting to dpxd at " + path("nothing.sock") + " failed"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace dpx::test
