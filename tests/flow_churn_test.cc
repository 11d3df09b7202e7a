// Integration: flows change while traffic runs. A real dpxd forwards an
// endless pcap replay (net_pcap, infinite_rx=1) of 8 destination keys x 4
// microflows into net_null sinks while the test adds, modifies, deletes,
// re-adds and flushes the 8 megaflows thousands of times over the control
// socket. dpxd must survive, and every packet must have gone to a flow that
// existed when the packet was looked up.
//
// How that is checked. Key i's flow only ever outputs to key i's two sinks
// (a modify moves it from one to the other), so a sink's tx counter says how
// many packets some incarnation of key i's flow executed. Three families of
// checks follow, all made after the source port is removed (which waits for
// the PMD to finish what it received):
//  1. Conservation, exact: rx == hit + missed (no packet is malformed),
//     sum of sink tx == hit (every hit executed exactly one output), no tx
//     drops, missed == lost (no control plane is attached).
//  2. Routing, per key: the test knows exactly which packets arrived when,
//     because net_pcap's infinite replay hands out the file's packets in a
//     fixed cyclic order and the source's rx counter, read before and after
//     each control request, brackets when the request took effect. Packets
//     received while key i certainly had no flow must have missed; packets
//     received while it certainly had one must have hit. A packet that hit
//     a deleted flow (beyond the short window in which a PMD may legally
//     still use it), or a flow of another key, breaks the bounds
//       received_i - possible_misses_i <= tx(sinks of i)
//                                      <= received_i - certain_misses_i.
//  3. Flow stats, per key: a delete's reply carries the flow's final stats,
//     so without flushes the flows' reports (delete replies, and a dump at
//     the end) must add up exactly to key i's sink counters. A flush reports
//     nothing: a dump just before it gives lower bounds, and the packets of
//     key i received between that dump and the end of the flush's removal
//     window bound what the flushed flow may have counted on top.
// Every window is bounded in packets (bursts of 32 on one PMD polling one rx
// queue), never in time. The run is bounded by its operation count.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "control_client.h"
#include "odp_text.h"
#include "support/dpxd_client.h"
#include "support/dpxd_process.h"
#include "support/pcap_file.h"

namespace dpx::test {
namespace {

constexpr uint32_t kKeys = 8;
constexpr uint32_t kMicroflows = 4;
constexpr uint32_t kSourcePort = 1;
constexpr int kOperations = 4000;
// A PMD receives at most one burst of 32 packets from the source per
// iteration. A packet counted in the source's rx counter before a request
// was sent may still be looked up after the request took effect (same
// iteration): kBefore. After a flow is removed, a PMD may still hit it in its
// exact-match cache until it passes its next quiescent point having seen the
// removal, i.e. for the rest of the current iteration and, at worst, one more
// (emc.h): kAfterRemoval, with a burst to spare.
constexpr uint64_t kBefore = 64;
constexpr uint64_t kAfterRemoval = 96;

const uint8_t kMacSrc[6] = {0x02, 0, 0, 0, 0, 0x01};
const uint8_t kMacDst[6] = {0x02, 0, 0, 0, 0, 0x02};

uint32_t key_dst_ip(uint32_t key) { return 0x0a010001 + key; }  // 10.1.0.(key+1)
uint32_t sink_port(uint32_t key, int which) { return 10 + 2 * key + which; }
std::string flow_text(uint32_t key) {
  return "in_port(1),eth(),eth_type(0x0800),ipv4(dst=10.1.0." + std::to_string(key + 1) + ")";
}

// Packets and bytes.
struct Count {
  uint64_t packets = 0, bytes = 0;
  Count& operator+=(const Count& o) {
    packets += o.packets;
    bytes += o.bytes;
    return *this;
  }
};

// The source's packets in replay order: packet k received by dpxd (counting
// from 0 since the port started) is file packet k mod size.
class Replay {
 public:
  explicit Replay(const std::vector<Packet>& pkts, const std::vector<uint32_t>& keys) {
    n_ = pkts.size();
    prefix_.assign(kKeys, std::vector<Count>(n_ + 1));
    for (uint32_t k = 0; k < kKeys; ++k) {
      for (size_t j = 0; j < n_; ++j) {
        prefix_[k][j + 1] = prefix_[k][j];
        if (keys[j] == k) prefix_[k][j + 1] += Count{1, pkts[j].size()};
      }
    }
  }
  // Key `key`'s packets among received packets [from, to), clamped to
  // [0, limit).
  Count count(uint32_t key, int64_t from, int64_t to, uint64_t limit) const {
    const uint64_t a = static_cast<uint64_t>(std::max<int64_t>(from, 0));
    const uint64_t b = std::min<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(to, 0)), limit);
    if (a >= b) return {};
    Count c = upto(key, b);
    const Count d = upto(key, a);
    c.packets -= d.packets;
    c.bytes -= d.bytes;
    return c;
  }

 private:
  // Key's packets among [0, x).
  Count upto(uint32_t key, uint64_t x) const {
    const auto& p = prefix_[key];
    Count c;
    c.packets = (x / n_) * p[n_].packets + p[x % n_].packets;
    c.bytes = (x / n_) * p[n_].bytes + p[x % n_].bytes;
    return c;
  }
  size_t n_;
  std::vector<std::vector<Count>> prefix_;  // per key: counts of file packets [0, j)
};

// Intervals of received-packet indices, [from, to).
struct Interval {
  int64_t from, to;
};

// Sum of key's packets over the union of intervals.
Count count_union(const Replay& r, uint32_t key, std::vector<Interval> v, uint64_t limit) {
  std::sort(v.begin(), v.end(),
            [](const Interval& a, const Interval& b) { return a.from < b.from; });
  Count c;
  int64_t covered = INT64_MIN;
  for (const Interval& i : v) {
    const int64_t from = std::max(i.from, covered);
    if (i.to > from) {
      c += r.count(key, from, i.to, limit);
      covered = i.to;
    }
  }
  return c;
}

// What the test knows about one key over the run.
struct KeyModel {
  bool present = false;
  Ufid ufid{};
  int port = 0;  // which of the key's two sinks the flow outputs to
  uint32_t incarnations = 0;
  FlowStats last_seen;  // the present incarnation's stats as last reported
  // Routing: received-packet intervals in which the key's packets certainly
  // missed, and in which they may or may not have.
  std::vector<Interval> certain_miss, maybe_miss;
  int64_t absent_since = 0;  // start of the current certain-miss run (when absent)
  // Flow stats: reported lower bounds, and the windows in which a removed
  // incarnation may have accounted packets the report does not include.
  Count reported;
  std::vector<Interval> unreported;
  uint64_t ops = 0;
};

class FlowChurn : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(dpxd_.start({}, &err)) << err;
    ASSERT_EQ(client_.connect(dpxd_.socket(), &err), 0) << err;
  }

  void add_port(const std::string& name, const std::string& devargs, uint32_t odp) {
    add_dpdk_port(client_, name, devargs, odp);
  }

  PortStats port_stats(uint32_t odp) {
    PortRef ref;
    ref.odp_port = odp;
    PortInfo info;
    std::string err;
    EXPECT_EQ(client_.port_get(ref, &info, &err), 0) << err;
    return info.stats;
  }

  // Packets the source has delivered to the PMD so far.
  int64_t received() { return static_cast<int64_t>(port_stats(kSourcePort).rx_packets); }

  FlowPutEntry entry(uint32_t key, const KeyModel& m, uint32_t flags) {
    FlowPutEntry e;
    std::string err;
    EXPECT_EQ(odp_flow_from_string(flow_text(key), &e.key, &e.mask, &err), 0) << err;
    EXPECT_EQ(odp_actions_from_string(std::to_string(sink_port(key, m.port)), &e.actions, &err), 0)
        << err;
    e.ufid = m.ufid;
    e.flags = flags;
    return e;
  }

  // The key's flow is gone as of a request bracketed by received-packet
  // counts [b, a): packets from b - kBefore on may still have hit it, until
  // a + kAfterRemoval. A delete's reply has the flow's final stats (dpxd
  // reads them once no PMD can account to the flow any more); a flush has
  // none, and the caller's last report of the flow (a dump just before the
  // flush) misses what the flow counted after it: `stats_final` false.
  void removed(KeyModel& m, int64_t b, int64_t a, bool stats_final) {
    const Interval window{b - static_cast<int64_t>(kBefore),
                          a + static_cast<int64_t>(kAfterRemoval)};
    m.present = false;
    m.maybe_miss.push_back(window);
    if (!stats_final) m.unreported.push_back(window);
    m.absent_since = window.to;
  }
  // The key's flow exists as of a request bracketed by [b, a): packets
  // before b - kBefore certainly missed, those from a on certainly hit.
  void created(KeyModel& m, int64_t b, int64_t a) {
    m.present = true;
    const int64_t certain_end = b - static_cast<int64_t>(kBefore);
    if (certain_end > m.absent_since) m.certain_miss.push_back({m.absent_since, certain_end});
    m.maybe_miss.push_back({std::min(certain_end, a), a});
  }

  // A stats report of the present incarnation must never go backwards.
  void saw_stats(uint32_t key, KeyModel& m, const FlowStats& s, const char* what) {
    EXPECT_GE(s.packets, m.last_seen.packets) << what << " of key " << key;
    EXPECT_GE(s.bytes, m.last_seen.bytes) << what << " of key " << key;
    m.last_seen = s;
  }

  // The whole run: kOperations control requests under traffic, a flush
  // being flush_pct percent of them, then the checks.
  void run(uint32_t flush_pct);

  // dpxd must exit cleanly on SIGTERM: status 0, which in sanitizer builds
  // also means no leak or error report at shutdown.
  void TearDown() override {
    const int st = dpxd_.stop();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "dpxd wait status " << st << ", log:\n"
                                                       << dpxd_.log();
  }

  DpxdProcess dpxd_;
  ControlClient client_;
};

void FlowChurn::run(uint32_t flush_pct) {
  // The traffic: 8 keys (IPv4 destinations) x 4 microflows (UDP source
  // ports), interleaved so that every burst mixes keys, sizes 60..562 bytes.
  std::vector<Packet> pkts;
  std::vector<uint32_t> keys;
  for (uint32_t j = 0; j < 2 * kKeys * kMicroflows; ++j) {
    const uint32_t key = j % kKeys, mf = (j / kKeys) % kMicroflows;
    pkts.push_back(udp_packet(kMacDst, kMacSrc, 0x0a000001, key_dst_ip(key),
                              static_cast<uint16_t>(1000 + mf), 4789, 18 + (j * 37) % 503, j));
    keys.push_back(key);
  }
  const std::string pcap = dpxd_.dir() + "/churn.pcap";
  ASSERT_TRUE(write_pcap(pcap, pkts));
  const Replay replay(pkts, keys);

  for (uint32_t k = 0; k < kKeys; ++k)
    for (int w = 0; w < 2; ++w) {
      const std::string name = "sink" + std::to_string(k) + (w ? "b" : "a");
      ASSERT_NO_FATAL_FAILURE(add_port(name, "net_null_" + name + ",no-rx=1", sink_port(k, w)));
    }
  // The source comes last: it replays as soon as it starts, and every
  // packet misses until the first flow is put.
  ASSERT_NO_FATAL_FAILURE(
      add_port("src", "net_pcap_src,rx_pcap=" + pcap + ",infinite_rx=1", kSourcePort));

  KeyModel model[kKeys];
  std::mt19937 rng(7);
  std::string err;
  int64_t last = received();
  int puts = 0, mods = 0, dels = 0, flushes = 0, dumps = 0;
  for (int op = 0; op < kOperations; ++op) {
    // Every request is made while traffic flows: wait until the source has
    // delivered more packets since the previous one.
    ASSERT_TRUE(wait_until([&] { return received() > last; })) << "traffic stopped; op " << op;
    if (op % 200 == 0) {
      ASSERT_TRUE(dpxd_.alive()) << dpxd_.log();
    }
    const uint32_t dice = rng() % 100;

    if (dice < flush_pct) {
      // Flush, after a dump whose stats are lower bounds of what the
      // flushed incarnations counted.
      const int64_t b = received();
      std::map<uint32_t, FlowStats> dumped;
      ASSERT_EQ(client_.flow_dump_all(
                    false,
                    [&](const FlowEntry& f) {
                      dumped[f.ufid.w[1]] = f.stats;
                      return true;
                    },
                    &err),
                0)
          << err;
      ASSERT_EQ(client_.flow_flush(&err), 0) << err;
      const int64_t a = received();
      for (uint32_t k = 0; k < kKeys; ++k) {
        KeyModel& m = model[k];
        if (!m.present) continue;
        ASSERT_TRUE(dumped.count(k)) << "key " << k << " missing from the dump";
        saw_stats(k, m, dumped[k], "dump before flush");
        m.reported += Count{dumped[k].packets, dumped[k].bytes};
        // What the incarnation counted after the dump is unreported: that
        // is within the removal window, which starts before the dump.
        removed(m, b, a, false);
        ++m.ops;
      }
      ++flushes;
      last = received();
      continue;
    }

    if (dice < flush_pct + 3) {
      // A dump: exactly the flows the model has, stats never decreasing.
      std::map<uint32_t, FlowEntry> dumped;
      ASSERT_EQ(client_.flow_dump_all(
                    false,
                    [&](const FlowEntry& f) {
                      dumped[f.ufid.w[1]] = f;
                      return true;
                    },
                    &err),
                0)
          << err;
      for (uint32_t k = 0; k < kKeys; ++k) {
        KeyModel& m = model[k];
        ASSERT_EQ(dumped.count(k) != 0, m.present) << "key " << k << " op " << op;
        if (!m.present) continue;
        const FlowEntry& f = dumped[k];
        EXPECT_EQ(f.ufid, m.ufid);
        EXPECT_EQ(odp_flow_to_string(f.key, f.mask), flow_text(k));
        EXPECT_EQ(odp_actions_to_string(f.actions), std::to_string(sink_port(k, m.port)));
        saw_stats(k, m, f.stats, "dump");
      }
      ++dumps;
      last = received();
      continue;
    }

    // A batch of 1-3 distinct keys; a put creates the absent ones and moves
    // the present ones to their other sink; a delete removes present ones.
    const bool del = dice < 50 + flush_pct / 2;
    std::vector<uint32_t> batch;
    const uint32_t n = 1 + rng() % 3;
    for (uint32_t t = 0; t < 4 * n && batch.size() < n; ++t) {
      const uint32_t k = rng() % kKeys;
      if (std::find(batch.begin(), batch.end(), k) != batch.end()) continue;
      if (del && !model[k].present) continue;
      batch.push_back(k);
    }
    if (batch.empty()) continue;

    if (del) {
      std::vector<Ufid> ufids;
      for (uint32_t k : batch) ufids.push_back(model[k].ufid);
      std::vector<FlowDelResult> res;
      const int64_t b = received();
      ASSERT_EQ(client_.flow_del(ufids, &res, &err), 0) << err;
      const int64_t a = received();
      ASSERT_EQ(res.size(), batch.size());
      for (size_t j = 0; j < batch.size(); ++j) {
        KeyModel& m = model[batch[j]];
        ASSERT_EQ(res[j].error, 0) << res[j].message;
        ASSERT_TRUE(res[j].stats.has_value());
        saw_stats(batch[j], m, *res[j].stats, "final stats");
        m.reported += Count{res[j].stats->packets, res[j].stats->bytes};
        removed(m, b, a, true);
        ++m.ops;
        ++dels;
      }
    } else {
      std::vector<FlowPutEntry> entries;
      for (uint32_t k : batch) {
        KeyModel& m = model[k];
        if (m.present) {
          m.port ^= 1;
          entries.push_back(entry(k, m, DPX_FLOW_PUT_MODIFY));
        } else {
          // A fresh ufid, or (as OVS does for a re-installed megaflow) the
          // one the key had before; w[1] always names the key.
          m.ufid = Ufid{{0x63687572, k, rng() % 2 ? ++m.incarnations : 0, 0}};
          m.port = static_cast<int>(rng() % 2);
          m.last_seen = {};
          entries.push_back(entry(k, m, DPX_FLOW_PUT_CREATE));
        }
      }
      std::vector<FlowPutResult> res;
      const int64_t b = received();
      ASSERT_EQ(client_.flow_put(entries, &res, &err), 0) << err;
      const int64_t a = received();
      ASSERT_EQ(res.size(), batch.size());
      for (size_t j = 0; j < batch.size(); ++j) {
        KeyModel& m = model[batch[j]];
        ASSERT_EQ(res[j].error, 0) << res[j].message;
        if (entries[j].flags & DPX_FLOW_PUT_MODIFY) {
          ASSERT_TRUE(res[j].old_stats.has_value());
          saw_stats(batch[j], m, *res[j].old_stats, "stats before modify");
          ++mods;
        } else {
          EXPECT_FALSE(res[j].old_stats.has_value());
          created(m, b, a);
          ++puts;
        }
        ++m.ops;
      }
    }
    last = received();
  }

  // Stop the traffic. Removing a port waits until no PMD can still be
  // working on what it received, so every counter below is final.
  const int64_t rx_seen = received();
  PortRef src;
  src.odp_port = kSourcePort;
  ASSERT_EQ(client_.port_del(src, &err), 0) << err;
  ASSERT_TRUE(dpxd_.alive()) << dpxd_.log();
  std::vector<PmdStats> pmds;
  ASSERT_EQ(client_.pmd_stats(&pmds, &err), 0) << err;
  ASSERT_EQ(pmds.size(), 1u);
  const uint64_t rx = pmds[0].packets;
  ASSERT_GE(rx, static_cast<uint64_t>(rx_seen));
  const int64_t end = static_cast<int64_t>(rx);

  // The flows still present: with no traffic left, their stats are exact,
  // and deleting them reports the same.
  std::vector<Ufid> remaining;
  for (uint32_t k = 0; k < kKeys; ++k)
    if (model[k].present) remaining.push_back(model[k].ufid);
  std::map<uint32_t, FlowStats> dumped;
  ASSERT_EQ(client_.flow_dump_all(
                false,
                [&](const FlowEntry& f) {
                  dumped[f.ufid.w[1]] = f.stats;
                  return true;
                },
                &err),
            0)
      << err;
  ASSERT_EQ(dumped.size(), remaining.size());
  std::vector<FlowDelResult> res;
  ASSERT_EQ(client_.flow_del(remaining, &res, &err), 0) << err;
  for (size_t j = 0; j < res.size(); ++j) {
    const uint32_t k = remaining[j].w[1];
    ASSERT_EQ(res[j].error, 0) << res[j].message;
    EXPECT_EQ(res[j].stats->packets, dumped[k].packets) << "key " << k;
    EXPECT_EQ(res[j].stats->bytes, dumped[k].bytes) << "key " << k;
    saw_stats(k, model[k], *res[j].stats, "final stats");
    model[k].reported += Count{res[j].stats->packets, res[j].stats->bytes};
  }
  for (uint32_t k = 0; k < kKeys; ++k) {
    KeyModel& m = model[k];
    if (!m.present && end > m.absent_since) m.certain_miss.push_back({m.absent_since, end});
  }

  DpStats dp;
  ASSERT_EQ(client_.dp_stats(&dp, &err), 0) << err;
  EXPECT_EQ(dp.n_flows, 0u);

  // 1. Conservation.
  EXPECT_EQ(rx, dp.hit + dp.missed) << "every received packet was looked up exactly once";
  EXPECT_EQ(dp.missed, dp.lost) << "no control plane: every miss is dropped";
  uint64_t sink_tx = 0;
  Count tx[kKeys];
  for (uint32_t k = 0; k < kKeys; ++k) {
    for (int w = 0; w < 2; ++w) {
      const PortStats s = port_stats(sink_port(k, w));
      EXPECT_EQ(s.tx_drops, 0u);
      EXPECT_EQ(s.rx_packets, 0u);
      tx[k] += Count{s.tx_packets, s.tx_bytes};
    }
    sink_tx += tx[k].packets;
  }
  EXPECT_EQ(sink_tx, dp.hit) << "every hit executed exactly one output";

  // 2 and 3, per key.
  uint64_t certain_total = 0, maybe_total = 0, unreported_total = 0;
  for (uint32_t k = 0; k < kKeys; ++k) {
    const KeyModel& m = model[k];
    const Count got = replay.count(k, 0, end, rx);
    const Count certain = count_union(replay, k, m.certain_miss, rx);
    const Count maybe = count_union(replay, k, m.maybe_miss, rx);
    certain_total += certain.packets;
    maybe_total += maybe.packets;
    unreported_total += tx[k].packets - std::min(tx[k].packets, m.reported.packets);
    SCOPED_TRACE("key " + std::to_string(k) + ": received " + std::to_string(got.packets) +
                 ", sinks " + std::to_string(tx[k].packets) + ", certain misses " +
                 std::to_string(certain.packets) + ", possible misses " +
                 std::to_string(maybe.packets) + ", reported by flows " +
                 std::to_string(m.reported.packets) + ", control ops " + std::to_string(m.ops));
    EXPECT_LE(tx[k].packets + certain.packets, got.packets)
        << "packets hit a flow of this key while it had none";
    EXPECT_GE(tx[k].packets + certain.packets + maybe.packets, got.packets)
        << "packets missed while the key's flow certainly existed";
    // Without flushes, every incarnation's final stats are known and the
    // sinks must match them exactly.
    const Count window = count_union(replay, k, m.unreported, rx);
    EXPECT_GE(tx[k].packets, m.reported.packets) << "flows reported packets their sinks lack";
    EXPECT_GE(tx[k].bytes, m.reported.bytes);
    EXPECT_LE(tx[k].packets, m.reported.packets + window.packets)
        << "sinks got packets no flow accounted for";
    EXPECT_LE(tx[k].bytes, m.reported.bytes + window.bytes);
  }
  EXPECT_LE(certain_total, dp.missed);

  std::printf(
      "flow churn: %d ops (%d creates, %d modifies, %d deletes, %d flushes, %d dumps), %llu "
      "packets received, %llu hit, %llu missed (%llu certain, %llu more possible), %llu "
      "forwarded packets not in any flow's reported stats\n",
      kOperations, puts, mods, dels, flushes, dumps, static_cast<unsigned long long>(rx),
      static_cast<unsigned long long>(dp.hit), static_cast<unsigned long long>(dp.missed),
      static_cast<unsigned long long>(certain_total), static_cast<unsigned long long>(maybe_total),
      static_cast<unsigned long long>(unreported_total));
}

// Creates, modifies, deletes and dumps only: every flow incarnation's final
// stats are known, so each key's sinks must hold exactly what its flows
// counted.
TEST_F(FlowChurn, ChangesUnderTrafficWithoutFlushAccountEveryPacket) { run(0); }

// The same with flushes among the changes (whose reply carries no stats).
TEST_F(FlowChurn, ChangesAndFlushesUnderTraffic) { run(2); }

}  // namespace
}  // namespace dpx::test
