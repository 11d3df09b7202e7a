// The control server on a real Unix socket, driven by the real client and
// by raw bytes. The datapath is replaced by TestHandler, which keeps ports
// and flows in maps and records what it was asked.
#include "control_server.h"

#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "control_client.h"

namespace dpx {
namespace {

using UfidKey = std::array<uint32_t, 4>;
UfidKey key_of(const Ufid& u) { return {u.w[0], u.w[1], u.w[2], u.w[3]}; }

// Called on the server thread; the test thread reads its state under mu.
class TestHandler : public ControlHandler {
 public:
  std::mutex mu;
  ControlServer* server = nullptr;
  std::map<uint32_t, PortInfo> ports;
  struct Flow {
    uint64_t seq;
    FlowEntry entry;
  };
  std::map<UfidKey, Flow> flows;
  std::map<uint64_t, UfidKey> by_seq;  // dump order; cursor = next seq
  uint64_t next_seq = 1;
  std::vector<size_t> put_batch_sizes;
  std::vector<ExecuteRequest> executed;
  int upcalls_per_execute = 1;
  // Executes complete only at barrier(), as the datapath's run on a PMD
  // after their reply: what a request that overtook one would miss.
  uint64_t executes_pending = 0, executes_done = 0;
  std::vector<std::string> calls;  // the handler methods called, in order
  // A client socket whose unread bytes run_flow_job() records as each job
  // returns: what the job had already sent to that client.
  int watch_fd = -1;
  std::vector<int> readable_after_job;
  bool pmd_cleared = false;
  DpConfig last_cfg;

  int port_add(const PortAddRequest& r, PortInfo* out, std::string* err) override {
    std::lock_guard l(mu);
    for (auto& [no, p] : ports)
      if (p.name == r.name) return *err = "port " + r.name + " exists", EEXIST;
    if (r.type != "dpdk" && r.type != "tap") return *err = "unknown port type " + r.type, EINVAL;
    uint32_t no = r.odp_port ? *r.odp_port : uint32_t(ports.size() + 1);
    if (ports.count(no)) return *err = "port number taken", EEXIST;
    PortInfo p;
    p.odp_port = no;
    p.name = r.name;
    p.type = r.type;
    p.devargs = r.devargs;
    p.options = r.options;
    p.n_rxq = r.n_rxq ? r.n_rxq : 1;
    p.n_txq = 1;
    p.mtu = 1500;
    p.drops = {{"rx_no_mbuf", 0}};
    ports[no] = p;
    *out = p;
    return 0;
  }
  const PortInfo* find(const PortRef& ref) {
    for (auto& [no, p] : ports)
      if ((ref.odp_port && no == *ref.odp_port) || (!ref.odp_port && p.name == ref.name)) return &p;
    return nullptr;
  }
  int port_del(const PortRef& ref, std::string* err) override {
    std::lock_guard l(mu);
    const PortInfo* p = find(ref);
    if (!p) return *err = "no such port", ENOENT;
    ports.erase(p->odp_port);
    return 0;
  }
  int port_get(const PortRef& ref, PortInfo* out, std::string* err) override {
    std::lock_guard l(mu);
    const PortInfo* p = find(ref);
    if (!p) return *err = "no such port", ENOENT;
    *out = *p;
    return 0;
  }
  int port_dump(std::vector<PortInfo>* out, std::string*) override {
    std::lock_guard l(mu);
    calls.push_back("port_dump");
    for (auto& [no, p] : ports) out->push_back(p);
    return 0;
  }
  void flow_put(std::span<const FlowPutEntry> entries, std::span<FlowPutResult> results) override {
    std::lock_guard l(mu);
    calls.push_back("flow_put");
    put_batch_sizes.push_back(entries.size());
    for (size_t i = 0; i < entries.size(); i++) {
      const auto& e = entries[i];
      auto it = flows.find(key_of(e.ufid));
      if (it == flows.end()) {
        if (!(e.flags & DPX_FLOW_PUT_CREATE)) {
          results[i].error = ENOENT;
          results[i].message = "no such flow";
          continue;
        }
        flows[key_of(e.ufid)] = {next_seq, {e.ufid, e.key, e.mask, e.actions, {}}};
        by_seq[next_seq++] = key_of(e.ufid);
      } else {
        if (!(e.flags & DPX_FLOW_PUT_MODIFY)) {
          results[i].error = EEXIST;
          results[i].message = "flow exists";
          continue;
        }
        results[i].old_stats = it->second.entry.stats;
        it->second.entry.actions = e.actions;
        if (e.flags & DPX_FLOW_PUT_ZERO_STATS) it->second.entry.stats = {};
      }
    }
  }
  void flow_del(std::span<const Ufid> ufids, std::span<FlowDelResult> results) override {
    std::lock_guard l(mu);
    for (size_t i = 0; i < ufids.size(); i++) {
      auto it = flows.find(key_of(ufids[i]));
      if (it == flows.end()) {
        results[i].error = ENOENT;
        continue;
      }
      results[i].stats = it->second.entry.stats;
      by_seq.erase(it->second.seq);
      flows.erase(it);
    }
  }
  int flow_get(const Ufid& u, FlowEntry* out, std::string* err) override {
    std::lock_guard l(mu);
    auto it = flows.find(key_of(u));
    if (it == flows.end()) return *err = "no such flow", ENOENT;
    *out = it->second.entry;
    return 0;
  }
  int flow_dump(const FlowDumpRequest& req, size_t max_bytes, FlowDumpReply* out,
                std::string*) override {
    std::lock_guard l(mu);
    calls.push_back("flow_dump");
    size_t bytes = 0;
    for (auto it = by_seq.lower_bound(req.cursor); it != by_seq.end(); ++it) {
      FlowEntry f = flows.at(it->second).entry;
      if (req.terse) f.key.clear(), f.mask.clear(), f.actions.clear();
      size_t s = flow_entry_encoded_size(f);
      if ((req.max_entries && out->flows.size() == req.max_entries) ||
          (!out->flows.empty() && bytes + s > max_bytes)) {
        out->next_cursor = it->first;
        return 0;
      }
      bytes += s;
      out->flows.push_back(std::move(f));
    }
    out->next_cursor = 0;
    return 0;
  }
  int flow_flush(std::string*) override {
    std::lock_guard l(mu);
    calls.push_back("flow_flush");
    flows.clear();
    by_seq.clear();
    return 0;
  }
  // Publishes upcalls built from the packet, as a datapath would for a
  // userspace() action: the hash is the key's in_port (first attribute).
  int execute(const ExecuteRequest& req, std::string* err) override {
    int n;
    {
      std::lock_guard l(mu);
      executed.push_back(req);
      calls.push_back("execute");
      n = upcalls_per_execute;
      if (req.packet.size() >= 14) ++executes_pending;
    }
    if (req.packet.size() < 14) return *err = "runt packet", EINVAL;
    uint32_t in_port = 0;
    NlIter it(req.key);
    NlAttr a;
    if (it.next(&a)) a.get(&in_port);
    for (int i = 0; i < n; i++) {
      Upcall u;
      u.type = DPX_UPCALL_ACTION;
      u.in_port = in_port;
      u.packet = req.packet;
      u.key = req.key;
      server->publish_upcall(u, in_port);
    }
    return 0;
  }
  void barrier() override {
    std::lock_guard l(mu);
    calls.push_back("barrier");
    executes_done += executes_pending;
    executes_pending = 0;
  }
  // Records each flow job with the executes it announced; the job's own
  // calls follow it in `calls`.
  void run_flow_job(void (*fn)(void*), void* arg, size_t executes) override {
    {
      std::lock_guard l(mu);
      calls.push_back("job(" + std::to_string(executes) + ")");
    }
    fn(arg);
    std::lock_guard l(mu);
    if (watch_fd >= 0) {
      int n = -1;
      ioctl(watch_fd, FIONREAD, &n);
      readable_after_job.push_back(n);
    }
  }
  // Reports the server's own counters, read on the server thread, and
  // the executes completed (emc_hit).
  int dp_stats(DpStats* out, std::string*) override {
    std::lock_guard l(mu);
    calls.push_back("dp_stats");
    out->emc_hit = executes_done;
    out->flow_limit = server->upcall_room();
    out->n_flows = flows.size();
    out->lost = server->stats().upcalls_dropped;
    out->missed = server->stats().upcalls_sent;
    out->hit = server->upcall_subscribers();
    out->n_masks = server->stats().framing_errors;
    return 0;
  }
  int pmd_stats(std::vector<PmdStats>* out, std::string*) override {
    PmdStats s{2, 0, 100, 110, 50, 40, 10, 0, 1000, 2000, 3, 4, 5, 6, 7, 8, 9, "sse42", {}};
    s.drops = {{"runt_frame", 1}};
    out->push_back(s);
    return 0;
  }
  int pmd_stats_clear(std::string*) override {
    std::lock_guard l(mu);
    pmd_cleared = true;
    return 0;
  }
  int dp_set(const DpConfig& cfg, std::string* err) override {
    std::lock_guard l(mu);
    if (cfg.flow_limit && *cfg.flow_limit == 0) return *err = "flow limit 0", EINVAL;
    last_cfg = cfg;
    return 0;
  }
};

int raw_connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_bytes(int fd, std::span<const uint8_t> b) {
  while (!b.empty()) {
    ssize_t w = send(fd, b.data(), b.size(), MSG_NOSIGNAL);
    if (w <= 0) return false;
    b = b.subspan(size_t(w));
  }
  return true;
}

NlBuf message(uint16_t type, uint32_t id, std::span<const uint8_t> body, uint16_t version = 1) {
  NlBuf m;
  EXPECT_EQ(ctl_append_message(&m, {0, version, type, id, 0, 0}, body), 0);
  return m;
}

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

// Reads the next reply, skipping pushed upcalls. False at EOF.
bool read_reply(int fd, CtlHeader* h, NlBuf* body) {
  for (;;) {
    uint8_t hb[DPX_CTL_HDR_LEN];
    if (!read_exact(fd, hb, sizeof hb)) return false;
    if (ctl_frame(hb, h) == FrameStatus::kBroken) return false;
    body->resize(h->length - DPX_CTL_HDR_LEN);
    if (!read_exact(fd, body->data(), body->size())) return false;
    if (!(h->flags & DPX_CTL_F_PUSH)) return true;
  }
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }
  void start(ControlServerOptions opts) {
    char tmpl[] = "/tmp/dpx-ctl-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/dpxd.sock";
    server_ = std::make_unique<ControlServer>(&handler_, opts);
    handler_.server = server_.get();
    std::string err;
    ASSERT_EQ(server_->open(path_, &err), 0) << err;
    // The loop stops on the flag; wakeup() makes a blocked run_once()
    // return so the flag is seen.
    thread_ = std::thread([this] {
      while (!stop_.load()) server_->run_once(-1);
    });
  }
  void stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    server_->wakeup();
    thread_.join();
    server_->close();
    rmdir(dir_.c_str());
  }
  void restart(ControlServerOptions opts) {
    stop();
    stop_ = false;
    start(opts);
  }
  void TearDown() override { stop(); }

  ControlClient connect() {
    ControlClient c;
    std::string err;
    EXPECT_EQ(c.connect(path_, &err), 0) << err;
    return c;
  }
  DpStats dp_stats(ControlClient& c) {
    DpStats s;
    std::string err;
    EXPECT_EQ(c.dp_stats(&s, &err), 0) << err;
    return s;
  }

  TestHandler handler_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::string dir_, path_;
};

FlowPutEntry make_flow(uint32_t i, size_t key_len = 8) {
  FlowPutEntry e;
  e.ufid = {{i, ~i, i * 7, 42}};
  NlWriter w(&e.key);
  NlBuf pad(key_len - 4, uint8_t(i));
  w.put(1, pad.data(), pad.size());
  NlWriter(&e.mask).put<uint32_t>(1, 0xffffffff);
  NlWriter(&e.actions).put<uint32_t>(1, i % 8);
  return e;
}

TEST_F(ControlServerTest, HelloNegotiatesVersion) {
  ControlClient c = connect();
  EXPECT_EQ(c.server().version, uint32_t(DPX_CTL_VERSION_MAX));
  EXPECT_EQ(c.server().max_msg, DPX_CTL_MAX_MSG);
  EXPECT_EQ(c.server().software, "dpxd");

  // No common version.
  NlBuf body, reply;
  encode_hello_request({DPX_CTL_VERSION_MAX + 1, DPX_CTL_VERSION_MAX + 5, ""}, &body);
  std::string err;
  EXPECT_EQ(c.transact(DPX_CTL_HELLO, body, &reply, &err), EPROTONOSUPPORT);
  EXPECT_NE(err.find("no common protocol version"), std::string::npos) << err;

  // A request in a version the server does not speak.
  int fd = raw_connect(path_);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_bytes(fd, message(DPX_CTL_DP_STATS, 9, {}, 77)));
  CtlHeader h;
  ASSERT_TRUE(read_reply(fd, &h, &reply));
  EXPECT_EQ(h.error, EPROTONOSUPPORT);
  EXPECT_EQ(h.request_id, 9u);
  EXPECT_EQ(h.flags, DPX_CTL_F_REPLY);
  ::close(fd);
}

TEST_F(ControlServerTest, Ports) {
  ControlClient c = connect();
  std::string err;
  PortInfo p;
  ASSERT_EQ(c.port_add({"p0", "dpdk", "net_null0", std::nullopt, {"a=b"}, 2}, &p, &err), 0) << err;
  EXPECT_EQ(p.name, "p0");
  EXPECT_EQ(p.odp_port, 1u);
  EXPECT_EQ(p.n_rxq, 2u);
  EXPECT_EQ(p.options, std::vector<std::string>{"a=b"});
  ASSERT_EQ(c.port_add({"t1", "tap", "", 7u, {}, 0}, &p, &err), 0) << err;
  EXPECT_EQ(p.odp_port, 7u);
  EXPECT_EQ(c.port_add({"p0", "dpdk", "", std::nullopt, {}, 0}, &p, &err), EEXIST);
  EXPECT_EQ(err, "port p0 exists");
  EXPECT_EQ(c.port_add({"x", "bogus", "", std::nullopt, {}, 0}, &p, &err), EINVAL);
  EXPECT_EQ(err, "unknown port type bogus");

  ASSERT_EQ(c.port_get({std::nullopt, "t1"}, &p, &err), 0) << err;
  EXPECT_EQ(p.odp_port, 7u);
  std::vector<PortInfo> all;
  ASSERT_EQ(c.port_dump(&all, &err), 0) << err;
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "p0");
  EXPECT_EQ(all[1].name, "t1");
  EXPECT_EQ(c.port_del({7u, ""}, &err), 0) << err;
  EXPECT_EQ(c.port_del({7u, ""}, &err), ENOENT);
  EXPECT_EQ(err, "no such port");
  // The connection survives error replies.
  ASSERT_EQ(c.port_dump(&all, &err), 0) << err;
  EXPECT_EQ(all.size(), 1u);
}

TEST_F(ControlServerTest, FlowBatchesAreSplitAndAnsweredPerEntry) {
  ControlClient c = connect();
  std::string err;
  // ~1,100 bytes per entry: 3,000 entries need several 1 MiB messages.
  std::vector<FlowPutEntry> entries;
  for (uint32_t i = 0; i < 3000; i++) entries.push_back(make_flow(i, 1024));
  entries.push_back(make_flow(5));  // duplicate ufid of entry 5, CREATE only
  std::vector<FlowPutResult> results;
  ASSERT_EQ(c.flow_put(entries, &results, &err), 0) << err;
  ASSERT_EQ(results.size(), entries.size());
  for (size_t i = 0; i < 3000; i++) ASSERT_EQ(results[i].error, 0) << i;
  EXPECT_EQ(results.back().error, EEXIST);
  EXPECT_EQ(results.back().message, "flow exists");
  EXPECT_EQ(results.back().ufid, entries[5].ufid);
  {
    std::lock_guard l(handler_.mu);
    EXPECT_GE(handler_.put_batch_sizes.size(), 3u);
    size_t total = 0;
    for (size_t n : handler_.put_batch_sizes) total += n;
    EXPECT_EQ(total, entries.size());
    EXPECT_EQ(handler_.flows.size(), 3000u);
    handler_.flows.at(key_of(entries[9].ufid)).entry.stats = {3, 180, 55, 0x12};
  }

  // Modify with ZERO_STATS returns the old stats.
  FlowPutEntry mod = make_flow(9);
  mod.flags = DPX_FLOW_PUT_MODIFY | DPX_FLOW_PUT_ZERO_STATS;
  NlWriter(&mod.actions).put_flag(2);
  ASSERT_EQ(c.flow_put(std::span(&mod, 1), &results, &err), 0) << err;
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].error, 0);
  ASSERT_TRUE(results[0].old_stats.has_value());
  EXPECT_EQ(results[0].old_stats->packets, 3u);
  EXPECT_EQ(results[0].old_stats->tcp_flags, 0x12);

  FlowEntry got;
  ASSERT_EQ(c.flow_get(mod.ufid, &got, &err), 0) << err;
  EXPECT_EQ(got.actions, mod.actions);
  EXPECT_EQ(got.stats, FlowStats{});
  EXPECT_EQ(c.flow_get({{1, 2, 3, 4}}, &got, &err), ENOENT);

  // Dump in batches limited by count, then by bytes: every flow once.
  std::map<UfidKey, int> seen;
  FlowDumpRequest req{0, 100, false};
  int batches = 0;
  do {
    FlowDumpReply rep;
    ASSERT_EQ(c.flow_dump(req, &rep, &err), 0) << err;
    EXPECT_LE(rep.flows.size(), 100u);
    for (auto& f : rep.flows) seen[key_of(f.ufid)]++;
    req.cursor = rep.next_cursor;
    batches++;
  } while (req.cursor);
  EXPECT_EQ(batches, 30);
  EXPECT_EQ(seen.size(), 3000u);
  for (auto& [k, n] : seen) ASSERT_EQ(n, 1);
  size_t n = 0;
  ASSERT_EQ(c.flow_dump_all(
                false,
                [&](const FlowEntry& f) {
                  EXPECT_FALSE(f.key.empty());
                  n++;
                  return true;
                },
                &err),
            0)
      << err;
  EXPECT_EQ(n, 3000u);
  n = 0;
  ASSERT_EQ(c.flow_dump_all(
                true,
                [&](const FlowEntry& f) {
                  EXPECT_TRUE(f.key.empty());
                  return ++n < 10;
                },
                &err),
            0);
  EXPECT_EQ(n, 10u);

  // Batched delete: results per entry.
  std::vector<Ufid> del{entries[0].ufid, {{9, 9, 9, 9}}, entries[1].ufid};
  std::vector<FlowDelResult> dres;
  ASSERT_EQ(c.flow_del(del, &dres, &err), 0) << err;
  ASSERT_EQ(dres.size(), 3u);
  EXPECT_EQ(dres[0].error, 0);
  EXPECT_TRUE(dres[0].stats.has_value());
  EXPECT_EQ(dres[1].error, ENOENT);
  EXPECT_FALSE(dres[1].stats.has_value());
  EXPECT_EQ(dres[2].error, 0);
  EXPECT_EQ(dp_stats(c).n_flows, 2998u);
  ASSERT_EQ(c.flow_flush(&err), 0) << err;
  EXPECT_EQ(dp_stats(c).n_flows, 0u);
}

TEST_F(ControlServerTest, StatsAndSettings) {
  ControlClient c = connect();
  std::string err;
  std::vector<PmdStats> pmds;
  ASSERT_EQ(c.pmd_stats(&pmds, &err), 0) << err;
  ASSERT_EQ(pmds.size(), 1u);
  EXPECT_EQ(pmds[0].core, 2u);
  EXPECT_EQ(pmds[0].idle_cycles, 2000u);
  ASSERT_EQ(c.pmd_stats_clear(&err), 0) << err;
  EXPECT_EQ(c.dp_set({0u, std::nullopt, std::nullopt}, &err), EINVAL);
  EXPECT_EQ(err, "flow limit 0");
  ASSERT_EQ(c.dp_set({1000u, false, std::nullopt}, &err), 0) << err;
  std::lock_guard l(handler_.mu);
  EXPECT_TRUE(handler_.pmd_cleared);
  EXPECT_EQ(handler_.last_cfg, (DpConfig{1000u, false, std::nullopt}));
}

TEST_F(ControlServerTest, BadRequestsGetErrorsAndKeepTheConnection) {
  ControlClient c = connect();
  std::string err;
  NlBuf reply;
  EXPECT_EQ(c.transact(200, {}, &reply, &err), EOPNOTSUPP);
  EXPECT_EQ(err, "unknown message type 200");
  NlBuf junk{8, 0, 99, 0, 1, 2, 3, 4};
  EXPECT_EQ(c.transact(DPX_CTL_FLOW_PUT, junk, &reply, &err), EINVAL);
  EXPECT_NE(err.find("unknown attribute 99"), std::string::npos) << err;
  EXPECT_EQ(c.transact(DPX_CTL_FLOW_PUT, {}, &reply, &err), EINVAL);
  EXPECT_EQ(c.transact(DPX_CTL_DP_STATS, junk, &reply, &err), EINVAL);
  EXPECT_EQ(c.transact(DPX_CTL_UPCALL, {}, &reply, &err), EINVAL);
  // A request carrying flags is refused, not misread as a reply.
  int fd = raw_connect(path_);
  NlBuf m;
  ctl_append_message(&m, {0, 1, DPX_CTL_DP_STATS, 5, 0, DPX_CTL_F_REPLY}, {});
  ASSERT_TRUE(send_bytes(fd, m));
  CtlHeader h;
  ASSERT_TRUE(read_reply(fd, &h, &reply));
  EXPECT_EQ(h.error, EINVAL);
  ::close(fd);
  EXPECT_EQ(dp_stats(c).n_flows, 0u);
}

TEST_F(ControlServerTest, MessageSentByteByByte) {
  int fd = raw_connect(path_);
  ASSERT_GE(fd, 0);
  NlBuf body;
  encode_flow_put_request(std::vector<FlowPutEntry>{make_flow(1), make_flow(2)}, &body);
  NlBuf m = message(DPX_CTL_FLOW_PUT, 31, body);
  NlBuf m2 = message(DPX_CTL_DP_STATS, 32, {});
  m.insert(m.end(), m2.begin(), m2.end());
  for (uint8_t byte : m) ASSERT_TRUE(send_bytes(fd, std::span(&byte, 1)));
  CtlHeader h;
  NlBuf reply;
  ASSERT_TRUE(read_reply(fd, &h, &reply));
  EXPECT_EQ(h.request_id, 31u);
  EXPECT_EQ(h.error, 0);
  std::vector<FlowPutResult> res;
  std::string err;
  ASSERT_EQ(decode_flow_put_reply(reply, &res, &err), 0) << err;
  EXPECT_EQ(res.size(), 2u);
  ASSERT_TRUE(read_reply(fd, &h, &reply));
  EXPECT_EQ(h.request_id, 32u);
  DpStats s;
  ASSERT_EQ(decode_dp_stats(reply, &s, &err), 0);
  EXPECT_EQ(s.n_flows, 2u);
  ::close(fd);
}

TEST_F(ControlServerTest, BrokenFramingClosesOnlyThatConnection) {
  ControlClient good = connect();
  for (uint32_t bad_len : {0u, 19u, DPX_CTL_MAX_MSG + 1}) {
    int fd = raw_connect(path_);
    ASSERT_GE(fd, 0);
    dpx_ctl_hdr h{bad_len, 1, DPX_CTL_DP_STATS, 1, 0, 0};
    ASSERT_TRUE(send_bytes(fd, std::span(reinterpret_cast<uint8_t*>(&h), sizeof h)));
    uint8_t b;
    EXPECT_EQ(read(fd, &b, 1), 0) << "server kept a connection with length " << bad_len;
    ::close(fd);
    EXPECT_EQ(dp_stats(good).n_flows, 0u);
  }
  EXPECT_EQ(dp_stats(good).n_masks, 3u);  // framing_errors
}

TEST_F(ControlServerTest, FuzzedMessagesThenNormalRequestsStillWork) {
  std::mt19937 rng(12345);
  std::vector<NlBuf> seeds;
  {
    NlBuf b;
    encode_flow_put_request(std::vector<FlowPutEntry>{make_flow(1), make_flow(2)}, &b);
    seeds.push_back(b);
    b.clear();
    encode_port_add_request({"p", "tap", "x", 3u, {"a=b"}, 1}, &b);
    seeds.push_back(b);
    b.clear();
    encode_execute_request({NlBuf(60, 1), make_flow(1).key, make_flow(1).actions, false}, &b);
    seeds.push_back(b);
    b.clear();
    encode_flow_dump_request({0, 5, false}, &b);
    seeds.push_back(b);
    b.clear();
    encode_dp_config({5u, true, 1u}, &b);
    seeds.push_back(b);
  }
  int fd = raw_connect(path_);
  ASSERT_GE(fd, 0);
  int replies = 0, closes = 0;
  for (uint32_t i = 0; i < 3000; i++) {
    NlBuf body = seeds[rng() % seeds.size()];
    int mutations = int(rng() % 4);
    for (int k = 0; k < mutations && !body.empty(); k++)
      body[rng() % body.size()] ^= uint8_t(rng());
    if (rng() % 4 == 0 && !body.empty()) body.resize(rng() % body.size());
    if (rng() % 8 == 0) {
      body.resize(rng() % 64);
      for (auto& x : body) x = uint8_t(rng());
    }
    uint16_t type = uint16_t(1 + rng() % (DPX_CTL_TYPE_MAX + 2));
    if (type == DPX_CTL_UPCALL_SUBSCRIBE) type = DPX_CTL_DP_STATS;  // keep replies simple
    NlBuf m = message(type, i, body);
    bool break_framing = rng() % 50 == 0;
    if (break_framing) {
      uint32_t len = rng() % 2 ? uint32_t(rng() % DPX_CTL_HDR_LEN) : DPX_CTL_MAX_MSG + 1 + rng();
      std::memcpy(m.data(), &len, 4);
    }
    ASSERT_TRUE(send_bytes(fd, m));
    CtlHeader h;
    NlBuf reply;
    if (break_framing) {
      EXPECT_FALSE(read_reply(fd, &h, &reply));
      ::close(fd);
      fd = raw_connect(path_);
      ASSERT_GE(fd, 0);
      closes++;
      continue;
    }
    ASSERT_TRUE(read_reply(fd, &h, &reply)) << "connection lost at message " << i;
    EXPECT_EQ(h.request_id, i);
    EXPECT_EQ(h.type, type);
    EXPECT_GE(h.error, 0);
    replies++;
  }
  ::close(fd);
  EXPECT_GT(closes, 0);
  EXPECT_GT(replies, 2500);
  ControlClient c = connect();
  std::string err;
  std::vector<PmdStats> pmds;
  EXPECT_EQ(c.pmd_stats(&pmds, &err), 0) << err;
  EXPECT_EQ(pmds.size(), 1u);
}

// Execute requests make the handler publish upcalls with hash = in_port.
ExecuteRequest exec_on_port(uint32_t in_port, size_t len = 60) {
  ExecuteRequest x;
  x.packet.assign(len, uint8_t(in_port));
  NlWriter(&x.key).put<uint32_t>(3, in_port);
  return x;
}

TEST_F(ControlServerTest, UpcallsAreSharedByHashAndCopiedToMonitors) {
  ControlClient a = connect(), b = connect(), mon = connect(), cmd = connect();
  std::string err;
  ASSERT_EQ(a.upcall_subscribe(DPX_UPCALL_SHARE, &err), 0) << err;
  ASSERT_EQ(b.upcall_subscribe(DPX_UPCALL_SHARE, &err), 0) << err;
  ASSERT_EQ(mon.upcall_subscribe(DPX_UPCALL_MONITOR, &err), 0) << err;
  EXPECT_EQ(a.upcall_subscribe(DPX_UPCALL_SHARE, &err), EBUSY);
  EXPECT_EQ(dp_stats(cmd).hit, 2u);  // upcall_subscribers()

  for (uint32_t port = 0; port < 10; port++) ASSERT_EQ(cmd.execute(exec_on_port(port), &err), 0);
  // hash % 2 over [a, b]: even ports to a, odd ports to b, in order.
  for (uint32_t i = 0; i < 5; i++) {
    Upcall u;
    uint32_t seq;
    ASSERT_EQ(a.recv_upcall(&u, &err, &seq), 0) << err;
    EXPECT_EQ(u.in_port, 2 * i);
    EXPECT_EQ(seq, i + 1);
    EXPECT_EQ(u.packet, exec_on_port(2 * i).packet);
    ASSERT_EQ(b.recv_upcall(&u, &err, &seq), 0) << err;
    EXPECT_EQ(u.in_port, 2 * i + 1);
  }
  for (uint32_t port = 0; port < 10; port++) {
    Upcall u;
    ASSERT_EQ(mon.recv_upcall(&u, &err), 0) << err;
    EXPECT_EQ(u.in_port, port);
  }
  // A subscriber leaving: everything goes to the other one.
  // The server learns of the close asynchronously; each dp_stats() is a
  // full round through its loop, so this converges without any sleep.
  b.close();
  int rounds = 0;
  while (dp_stats(cmd).hit != 1u && rounds < 100000) rounds++;
  ASSERT_EQ(dp_stats(cmd).hit, 1u);
  ASSERT_EQ(cmd.execute(exec_on_port(1), &err), 0);
  Upcall u;
  ASSERT_EQ(a.recv_upcall(&u, &err), 0) << err;
  EXPECT_EQ(u.in_port, 1u);
  // A request on a subscribed connection: upcalls arriving before the reply
  // are kept for recv_upcall().
  ASSERT_EQ(a.execute(exec_on_port(4), &err), 0) << err;
  ASSERT_EQ(a.recv_upcall(&u, &err), 0) << err;
  EXPECT_EQ(u.in_port, 4u);
}

// execute_batch() pipelines its requests: every one runs, in order, each
// gets its own result, and a refused one does not stop the others or close
// the connection. Upcalls pushed meanwhile wait for recv_upcall().
TEST_F(ControlServerTest, PipelinedExecutesKeepOrderAndPerRequestErrors) {
  ControlClient sub = connect();
  std::string err;
  ASSERT_EQ(sub.upcall_subscribe(DPX_UPCALL_SHARE, &err), 0) << err;
  std::vector<ExecuteRequest> reqs;
  for (uint32_t port = 0; port < 6; port++) reqs.push_back(exec_on_port(port));
  reqs[3].packet.resize(10);  // the handler refuses a runt packet
  std::vector<int> errors(reqs.size(), -1);
  std::vector<std::string> msgs;
  ASSERT_EQ(sub.execute_batch(reqs, errors, &msgs, &err), 0) << err;
  for (size_t i = 0; i < reqs.size(); i++) {
    EXPECT_EQ(errors[i], i == 3 ? EINVAL : 0) << i;
    EXPECT_EQ(msgs[i], i == 3 ? "runt packet" : "") << i;
  }
  EXPECT_TRUE(sub.connected());
  // The handler saw them in order; the accepted ones came back as upcalls.
  for (uint32_t port : {0u, 1u, 2u, 4u, 5u}) {
    Upcall u;
    ASSERT_EQ(sub.recv_upcall(&u, &err), 0) << err;
    EXPECT_EQ(u.in_port, port);
  }
  std::lock_guard l(handler_.mu);
  ASSERT_EQ(handler_.executed.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); i++) EXPECT_EQ(handler_.executed[i].packet, reqs[i].packet);
}

// A request that could observe an execute's effect must not overtake it:
// the server calls the handler's barrier() before each such request, once,
// at its dispatch point, and before none of the others. Here executes only
// complete at a barrier, so a DP_STATS or PORT_DUMP handled without one
// would report executes missing, and the recorded call order shows where
// the barriers went.
TEST_F(ControlServerTest, RequestsThatCouldSeeAnExecuteWaitForItAtOneBarrier) {
  int fd = raw_connect(path_);
  ASSERT_GE(fd, 0);
  NlBuf bytes, body;
  uint32_t id = 1;
  auto add = [&](uint16_t type, std::span<const uint8_t> b) {
    NlBuf m = message(type, id++, b);
    bytes.insert(bytes.end(), m.begin(), m.end());
  };
  for (int i = 0; i < 3; i++) {
    body.clear();
    encode_execute_request(exec_on_port(1), &body);
    add(DPX_CTL_EXECUTE, body);
  }
  body.clear();
  FlowPutEntry f = make_flow(7);
  f.flags = DPX_FLOW_PUT_CREATE;
  encode_flow_put_request(std::span<const FlowPutEntry>(&f, 1), &body);
  add(DPX_CTL_FLOW_PUT, body);
  body.clear();
  encode_flow_dump_request({}, &body);
  add(DPX_CTL_FLOW_DUMP, body);
  add(DPX_CTL_DP_STATS, {});
  body.clear();
  encode_execute_request(exec_on_port(2), &body);
  add(DPX_CTL_EXECUTE, body);
  add(DPX_CTL_PORT_DUMP, {});
  add(DPX_CTL_FLOW_FLUSH, {});
  add(DPX_CTL_DP_STATS, {});
  // All in one write: the server handles them in one pass.
  ASSERT_TRUE(send_bytes(fd, bytes));
  DpStats first, last;
  for (uint32_t want = 1; want < id; want++) {
    CtlHeader h;
    NlBuf b;
    ASSERT_TRUE(read_reply(fd, &h, &b));
    EXPECT_EQ(h.request_id, want);
    EXPECT_EQ(h.error, 0) << want;
    std::string err;
    if (want == 6) {
      ASSERT_EQ(decode_dp_stats(b, &first, &err), 0) << err;
    } else if (want == 10) {
      ASSERT_EQ(decode_dp_stats(b, &last, &err), 0) << err;
    }
  }
  ::close(fd);
  EXPECT_EQ(first.emc_hit, 3u) << "DP_STATS overtook the executes before it";
  EXPECT_EQ(last.emc_hit, 4u);
  std::lock_guard l(handler_.mu);
  // Runs of executes and flow puts are flow jobs (process_flow_run()).
  const std::vector<std::string> want = {
      "job(3)", "execute", "execute", "execute",   "flow_put", "flow_dump",  "barrier", "dp_stats",
      "job(1)", "execute", "barrier", "port_dump", "barrier",  "flow_flush", "barrier", "dp_stats"};
  EXPECT_EQ(handler_.calls, want);
}

// FLOW_PUT and EXECUTE messages of one handler batch in one round trip:
// the puts are applied first, then the executes, each with its own result.
TEST_F(ControlServerTest, FlowPutExecuteIsOneExchangeInOrder) {
  ControlClient c = connect();
  std::vector<FlowPutEntry> puts;
  for (uint32_t i = 0; i < 3; i++) {
    puts.push_back(make_flow(100 + i));
    puts.back().flags = DPX_FLOW_PUT_CREATE;
  }
  puts.push_back(puts[0]);  // a duplicate: EEXIST for that entry only
  std::vector<ExecuteRequest> execs;
  for (uint32_t port = 0; port < 4; port++) execs.push_back(exec_on_port(port));
  execs[2].packet.resize(10);  // refused: a runt
  std::vector<FlowPutResult> put_results;
  std::vector<int> errors(execs.size(), -1);
  std::vector<std::string> msgs;
  std::string err;
  {
    std::lock_guard l(handler_.mu);
    handler_.calls.clear();
    handler_.upcalls_per_execute = 0;
  }
  ASSERT_EQ(c.flow_put_execute(puts, &put_results, execs, errors, &msgs, &err), 0) << err;
  ASSERT_EQ(put_results.size(), puts.size());
  for (size_t i = 0; i < puts.size(); i++) EXPECT_EQ(put_results[i].error, i == 3 ? EEXIST : 0);
  for (size_t i = 0; i < execs.size(); i++) EXPECT_EQ(errors[i], i == 2 ? EINVAL : 0) << i;
  EXPECT_EQ(msgs[2], "runt packet");
  // The connection is still in step: a plain request after it works.
  EXPECT_EQ(dp_stats(c).n_flows, 3u);
  std::lock_guard l(handler_.mu);
  // The batch's puts and executes are one flow job (one hand-over to PMD 0
  // in dpxd), which announces its four executes.
  const std::vector<std::string> want = {"job(4)",  "flow_put", "execute", "execute",
                                         "execute", "execute",  "barrier", "dp_stats"};
  EXPECT_EQ(handler_.calls, want);
  EXPECT_EQ(handler_.put_batch_sizes.back(), 4u);
}

// A flow job sends its run's replies itself before it returns (in dpxd, from
// PMD 0's CPU), rather than leaving them to the server thread after the job.
TEST_F(ControlServerTest, FlowRunRepliesLeaveWithinTheJob) {
  // A raw client that reads nothing until the job has returned, so what the
  // job sent is still in its socket when the handler looks.
  int fd = raw_connect(path_);
  ASSERT_GE(fd, 0);
  {
    std::lock_guard l(handler_.mu);
    handler_.upcalls_per_execute = 0;
    handler_.watch_fd = fd;
  }
  NlBuf bytes, body;
  FlowPutEntry f = make_flow(7);
  f.flags = DPX_FLOW_PUT_CREATE;
  encode_flow_put_request(std::span<const FlowPutEntry>(&f, 1), &body);
  NlBuf m = message(DPX_CTL_FLOW_PUT, 1, body);
  bytes.insert(bytes.end(), m.begin(), m.end());
  body.clear();
  encode_execute_request(exec_on_port(1), &body);
  m = message(DPX_CTL_EXECUTE, 2, body);
  bytes.insert(bytes.end(), m.begin(), m.end());
  ASSERT_TRUE(send_bytes(fd, bytes));  // one write: one run, one job
  for (;;) {                           // until the job has returned (no reply is read before)
    {
      std::lock_guard l(handler_.mu);
      if (!handler_.readable_after_job.empty()) break;
    }
    std::this_thread::yield();
  }
  {
    std::lock_guard l(handler_.mu);
    handler_.watch_fd = -1;
    ASSERT_EQ(handler_.readable_after_job.size(), 1u);
    // Both replies (20-byte headers and their bodies) were in the client's
    // socket when the job returned.
    EXPECT_GE(handler_.readable_after_job[0], static_cast<int>(2 * DPX_CTL_HDR_LEN));
  }
  for (uint32_t want = 1; want <= 2; want++) {
    CtlHeader h;
    NlBuf b;
    ASSERT_TRUE(read_reply(fd, &h, &b));
    EXPECT_EQ(h.request_id, want);
    EXPECT_EQ(h.error, 0);
  }
  ::close(fd);
}

TEST_F(ControlServerTest, SlowUpcallReaderLosesUpcallsNotTheServer) {
  // The upcall backlog has its own limit, far below the output limit of
  // requests' replies.
  ControlServerOptions opts;
  opts.upcall_backlog_limit = 64 * 1024;
  restart(opts);
  ControlClient slow = connect(), cmd = connect();
  std::string err;
  ASSERT_EQ(slow.upcall_subscribe(DPX_UPCALL_SHARE, &err), 0) << err;
  {
    std::lock_guard l(handler_.mu);
    handler_.upcalls_per_execute = 100;
  }
  // 4,000 upcalls of ~1.5 KB: far more than the socket buffer plus the
  // output limit, while `slow` reads nothing.
  for (int i = 0; i < 40; i++) ASSERT_EQ(cmd.execute(exec_on_port(0, 1500), &err), 0) << err;
  DpStats s = dp_stats(cmd);
  EXPECT_GT(s.lost, 0u);  // upcalls_dropped
  EXPECT_EQ(s.lost + s.missed, 4000u);
  EXPECT_EQ(s.flow_limit, 0u) << "upcall_room() with the only subscriber's backlog full";
  // The slow reader then sees what was queued, in order; the gaps in the
  // sequence numbers (between the batches the socket took, and at the end)
  // are exactly the upcalls dropped.
  uint32_t seq = 0, prev = 0;
  uint64_t gaps = 0;
  for (uint64_t i = 0; i < s.missed; i++) {
    Upcall u;
    ASSERT_EQ(slow.recv_upcall(&u, &err, &seq), 0) << err;
    ASSERT_GT(seq, prev);
    gaps += seq - prev - 1;
    prev = seq;
  }
  // Once it has caught up, the next upcall shows the gap of the last drops.
  {
    std::lock_guard l(handler_.mu);
    handler_.upcalls_per_execute = 1;
  }
  ASSERT_EQ(cmd.execute(exec_on_port(0), &err), 0) << err;
  Upcall u;
  ASSERT_EQ(slow.recv_upcall(&u, &err, &seq), 0) << err;
  EXPECT_EQ(seq, 4001u);
  gaps += seq - prev - 1;
  EXPECT_EQ(gaps, s.lost);
}

TEST_F(ControlServerTest, PipelinedRequestsFromANonReadingClientAreAllAnswered) {
  ControlServerOptions opts;
  opts.output_limit = 16 * 1024;
  restart(opts);
  int fd = raw_connect(path_);
  ASSERT_GE(fd, 0);
  constexpr uint32_t kN = 20000;
  // The sender blocks once the server stops reading (back-pressure); the
  // other client must still be served meanwhile.
  std::thread sender([&] {
    for (uint32_t i = 0; i < kN; i++)
      if (!send_bytes(fd, message(DPX_CTL_DP_STATS, i, {}))) return;
  });
  ControlClient other = connect();
  EXPECT_EQ(dp_stats(other).n_flows, 0u);
  for (uint32_t i = 0; i < kN; i++) {
    CtlHeader h;
    NlBuf reply;
    ASSERT_TRUE(read_reply(fd, &h, &reply)) << i;
    ASSERT_EQ(h.request_id, i);
    ASSERT_EQ(h.error, 0);
  }
  sender.join();
  ::close(fd);
}

TEST_F(ControlServerTest, SecondServerOnALiveSocketIsRefused) {
  TestHandler h2;
  ControlServer s2(&h2);
  std::string err;
  EXPECT_EQ(s2.open(path_, &err), EADDRINUSE) << err;
  ControlClient c = connect();
  EXPECT_EQ(dp_stats(c).n_flows, 0u);
}

TEST(ControlServerStale, StaleSocketFileIsReplacedAndModeIsOwnerOnly) {
  char tmpl[] = "/tmp/dpx-ctl-stale.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/s.sock";
  TestHandler h;
  std::string err;
  {
    // Leave a socket file behind without a listener.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, path.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ::close(fd);
  }
  ControlServer s(&h);
  ASSERT_EQ(s.open(path, &err), 0) << err;
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  s.close();
  EXPECT_NE(stat(path.c_str(), &st), 0) << "socket file left after close()";
  rmdir(tmpl);
}

}  // namespace
}  // namespace dpx
