// FlowTable: every errno path of put/del, stats, dump cursors across
// modification, flush; the Rcu wrapper's grace periods; and a writer/reader
// concurrency test that catches any use of a flow after it is freed.
#include "flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "emc.h"
#include "rcu.h"

namespace dpx {
namespace {

// A stand-in for the real action program: a magic word checked by readers
// and poisoned when the table frees it.
constexpr uint64_t kProgMagic = 0x5052'4f47'5241'4d21;
constexpr uint64_t kProgPoison = 0xdead'dead'dead'dead;
struct TestProgram {
  uint64_t magic = kProgMagic;
  uint32_t id = 0;
};
std::atomic<int> g_programs_freed{0};

void free_test_program(const ActionProgram* p) {
  auto* tp = reinterpret_cast<TestProgram*>(const_cast<ActionProgram*>(p));
  tp->magic = kProgPoison;
  delete tp;
  g_programs_freed.fetch_add(1);
}
const ActionProgram* new_program(uint32_t id) {
  auto* tp = new TestProgram;
  tp->id = id;
  return reinterpret_cast<const ActionProgram*>(tp);
}
const TestProgram* as_test(const ActionProgram* p) {
  return reinterpret_cast<const TestProgram*>(p);
}

Ufid ufid_n(uint32_t n) { return Ufid{{n, n * 3 + 1, 0xabc, 7}}; }

FlowPutArgs args_for(uint32_t n, uint32_t flags = kFlowPutCreate) {
  FlowPutArgs a;
  a.key.clear();
  a.key.in_port = 1;
  a.key.ipv4_dst = n;
  a.key.tp_dst = 0x1234;  // not in the mask: put() must mask it away
  a.mask.clear();
  a.mask.in_port = 0xffffffff;
  a.mask.ipv4_dst = 0xffffffff;
  a.ufid = ufid_n(n);
  a.flags = flags;
  return a;
}

class FlowTableTest : public ::testing::Test {
 protected:
  void SetUp() override { g_programs_freed = 0; }
  void TearDown() override { rcu.synchronize(); }
  Rcu rcu{4};
};

TEST_F(FlowTableTest, CreateMasksKeyAndKeepsAttributes) {
  FlowTable t(&rcu, free_test_program, 10);
  FlowPutArgs a = args_for(5);
  const uint8_t key_attrs[] = {1, 2, 3, 4}, mask_attrs[] = {5, 6, 7, 8}, act[] = {9, 9, 9, 9};
  a.key_attrs = key_attrs;
  a.mask_attrs = mask_attrs;
  a.action_attrs = act;
  a.program = new_program(1);
  FlowStatsSnapshot old{1, 2, 3, 4};
  ASSERT_EQ(t.put(a, &old), 0);
  EXPECT_EQ(old.packets, 0u);
  EXPECT_EQ(t.size(), 1u);
  const Flow* f = t.find(a.ufid);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->key().tp_dst, 0);  // masked
  EXPECT_EQ(f->key().ipv4_dst, 5u);
  EXPECT_EQ(f->ufid, a.ufid);
  EXPECT_EQ(f->key_attrs, NlBuf(std::begin(key_attrs), std::end(key_attrs)));
  EXPECT_EQ(f->mask_attrs, NlBuf(std::begin(mask_attrs), std::end(mask_attrs)));
  EXPECT_EQ(f->action_attrs, NlBuf(std::begin(act), std::end(act)));
  EXPECT_EQ(as_test(f->actions.load())->id, 1u);
  // A packet key with any tp_dst matches.
  FlowKey pkt = a.key;
  pkt.tp_dst = 0x9999;
  EXPECT_EQ(t.classifier().lookup(pkt), f);
}

// Megaflow runs (flow_in_run) decide exactly what the classifier decides:
// random masks over the key head, random flows under them, and packet keys
// equal to a flow's key except for random bits, inside the mask or not.
// A mask on Geneve options gets no run words.
TEST_F(FlowTableTest, RunWordsMatchExactlyWhatTheClassifierMatches) {
  std::mt19937_64 rng(11);
  FlowTable t(&rcu, free_test_program, 1000);
  for (uint32_t n = 0; n < 200; ++n) {
    FlowPutArgs a;
    a.key.clear();
    a.mask.clear();
    // Every other mask within the key's first line (flow_in_run()'s
    // whole-line compare), as nearly every megaflow's.
    const size_t mask_words = n % 2 ? 8 : FlowKey::kHeadWords;
    for (size_t w = 0; w < FlowKey::kHeadWords; ++w) {
      if (w < mask_words && rng() % 4 == 0) a.mask.words()[w] = rng() | 1;
      a.key.words()[w] = rng();
    }
    a.key.tun_opts_len = a.mask.tun_opts_len = 0;
    a.ufid = ufid_n(n + 100);
    a.program = new_program(n);
    ASSERT_EQ(t.put(a, nullptr), 0);
    const Flow* f = t.find(a.ufid);
    ASSERT_NE(f, nullptr);
    const FlowKey fmask = f->mask(), fkey = f->key();
    uint32_t nonzero = 0;
    for (size_t w = 0; w < FlowKey::kWords; ++w) nonzero += fmask.words()[w] != 0;
    ASSERT_EQ(f->n_run_words, nonzero);
    bool line0 = true;
    for (size_t w = 8; w < FlowKey::kWords; ++w) line0 &= fmask.words()[w] == 0;
    ASSERT_EQ(f->run_line0, line0);
    for (int k = 0; k < 50; ++k) {
      FlowKey pkt = a.key;
      if (k % 2) pkt.words()[rng() % FlowKey::kHeadWords] ^= uint64_t{1} << (rng() % 64);
      bool want = true;
      for (size_t w = 0; w < FlowKey::kWords; ++w)
        want &= (pkt.words()[w] & fmask.words()[w]) == fkey.words()[w];
      ASSERT_EQ(flow_in_run(pkt, *f), want) << "flow " << n << " key " << k;
    }
    ASSERT_EQ(t.del(a.ufid, nullptr), 0);
  }
  FlowPutArgs g = args_for(1);
  g.mask.tun_opts_len = 0xff;
  g.key.tun_opts_len = 4;
  g.mask.tun_opts[255] = 0xff;
  g.program = new_program(1);
  ASSERT_EQ(t.put(g, nullptr), 0);
  EXPECT_EQ(t.find(g.ufid)->n_run_words, Flow::kNoRunWords);
}

TEST_F(FlowTableTest, ErrnoPaths) {
  FlowTable t(&rcu, free_test_program, 2);
  FlowPutArgs a = args_for(1);
  a.program = new_program(1);
  ASSERT_EQ(t.put(a, nullptr), 0);

  // Create-only on an existing ufid.
  const ActionProgram* p = new_program(2);
  a.program = p;
  EXPECT_EQ(t.put(a, nullptr), EEXIST);
  // Neither create nor modify on an existing ufid.
  a.flags = 0;
  EXPECT_EQ(t.put(a, nullptr), EINVAL);
  // Modify-only, or no flag, on a missing ufid.
  FlowPutArgs m = args_for(2, kFlowPutModify);
  m.program = p;
  EXPECT_EQ(t.put(m, nullptr), ENOENT);
  m.flags = 0;
  EXPECT_EQ(t.put(m, nullptr), ENOENT);
  // Another ufid with the same masked key and mask (differs only outside it).
  FlowPutArgs dup = args_for(1);
  dup.ufid = ufid_n(99);
  dup.key.tp_dst = 0x4321;
  dup.program = p;
  EXPECT_EQ(t.put(dup, nullptr), EEXIST);
  // The same key under another mask is a different megaflow: allowed.
  dup.mask.tp_dst = 0xffff;
  EXPECT_EQ(t.put(dup, nullptr), 0);
  EXPECT_EQ(t.size(), 2u);
  // Over the limit.
  FlowPutArgs c = args_for(3);
  const ActionProgram* p3 = new_program(3);
  c.program = p3;
  EXPECT_EQ(t.put(c, nullptr), EFBIG);
  t.set_max_flows(3);
  EXPECT_EQ(t.max_flows(), 3u);
  EXPECT_EQ(t.put(c, nullptr), 0);
  // Modify with a ufid whose match differs.
  FlowPutArgs wrong = args_for(3, kFlowPutModify);
  wrong.key.ipv4_dst = 4;
  const ActionProgram* p4 = new_program(4);
  wrong.program = p4;
  EXPECT_EQ(t.put(wrong, nullptr), EINVAL);
  // Deleting a missing flow.
  EXPECT_EQ(t.del(ufid_n(42), nullptr), ENOENT);
  EXPECT_EQ(t.find(ufid_n(42)), nullptr);

  // Programs refused stayed with the caller; none was freed by the table.
  rcu.synchronize();
  EXPECT_EQ(g_programs_freed, 0);
  free_test_program(p4);
}

TEST_F(FlowTableTest, ModifyReplacesActionsStatsAndFreesOldProgramAfterGracePeriod) {
  FlowTable t(&rcu, free_test_program, 10);
  ASSERT_EQ(rcu.register_thread(1), 0);
  FlowPutArgs a = args_for(7);
  a.program = new_program(1);
  const uint8_t act1[] = {1, 0, 0, 0};
  a.action_attrs = act1;
  ASSERT_EQ(t.put(a, nullptr), 0);
  const Flow* f = t.find(a.ufid);
  flow_account(f, 3, 300, 0x02, 1000);
  flow_account(f, 2, 200, 0x10, 1005);
  flow_account(f, 1, 100, 0, 1009);
  FlowStatsSnapshot s = flow_stats(*f);
  EXPECT_EQ(s.packets, 6u);
  EXPECT_EQ(s.bytes, 600u);
  EXPECT_EQ(s.used_ms, 1009u);
  EXPECT_EQ(s.tcp_flags, 0x12);

  FlowPutArgs m = args_for(7, kFlowPutModify);
  m.program = new_program(2);
  const uint8_t act2[] = {2, 0, 0, 0};
  m.action_attrs = act2;
  FlowStatsSnapshot old;
  ASSERT_EQ(t.put(m, &old), 0);
  EXPECT_EQ(old.packets, 6u);
  EXPECT_EQ(old.tcp_flags, 0x12);
  EXPECT_EQ(t.find(a.ufid), f);  // same flow, new actions
  EXPECT_EQ(as_test(f->actions.load())->id, 2u);
  EXPECT_EQ(f->action_attrs[0], 2);
  EXPECT_EQ(flow_stats(*f).packets, 6u);  // kept without kFlowPutZeroStats

  // The old program waits for the reader's quiescent point.
  rcu.reclaim();
  EXPECT_EQ(g_programs_freed, 0);
  rcu.quiescent(1);
  rcu.reclaim();
  EXPECT_EQ(g_programs_freed, 1);

  // Create|modify on an existing flow modifies; zero_stats zeroes.
  m.flags = kFlowPutCreate | kFlowPutModify | kFlowPutZeroStats;
  m.program = new_program(3);
  ASSERT_EQ(t.put(m, &old), 0);
  EXPECT_EQ(old.bytes, 600u);
  s = flow_stats(*f);
  EXPECT_EQ(s.packets, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_EQ(s.used_ms, 0u);
  EXPECT_EQ(s.tcp_flags, 0);

  flow_account(f, 1, 64, 0, 2000);
  FlowStatsSnapshot fin;
  ASSERT_EQ(t.del(a.ufid, &fin), 0);
  EXPECT_EQ(fin.packets, 1u);
  EXPECT_EQ(fin.bytes, 64u);
  EXPECT_EQ(t.find(a.ufid), nullptr);
  EXPECT_EQ(t.classifier().lookup(a.key), nullptr);
  EXPECT_TRUE(f->dead.load());
  EXPECT_EQ(t.size(), 0u);
  // A removed flow needs two grace periods.
  rcu.quiescent(1);
  rcu.reclaim();
  EXPECT_EQ(g_programs_freed, 2);  // program 2 (replaced); program 3 still on the flow
  rcu.quiescent(1);
  rcu.reclaim();
  EXPECT_EQ(g_programs_freed, 3);
  EXPECT_EQ(rcu.unregister_thread(1), 0);
}

TEST_F(FlowTableTest, RemovalEpochAndFlush) {
  FlowTable t(&rcu, free_test_program);
  EXPECT_EQ(t.max_flows(), FlowTable::kDefaultMaxFlows);
  for (uint32_t i = 0; i < 100; i++) {
    FlowPutArgs a = args_for(i);
    a.program = new_program(i);
    ASSERT_EQ(t.put(a, nullptr), 0);
  }
  uint64_t e0 = t.removal_epoch().load();
  ASSERT_EQ(t.del(ufid_n(0), nullptr), 0);
  EXPECT_GT(t.removal_epoch().load(), e0);
  std::vector<const Flow*> held;
  for (uint32_t i = 1; i < 100; i++) held.push_back(t.find(ufid_n(i)));
  uint64_t e1 = t.removal_epoch().load();
  t.flush();
  EXPECT_GT(t.removal_epoch().load(), e1);
  EXPECT_EQ(t.size(), 0u);
  for (const Flow* f : held) EXPECT_TRUE(f->dead.load());
  for (uint32_t i = 0; i < 100; i++) {
    EXPECT_EQ(t.find(ufid_n(i)), nullptr);
    EXPECT_EQ(t.classifier().lookup(args_for(i).key), nullptr);
  }
  EXPECT_EQ(t.classifier().subtable_count(), 0u);
  std::vector<const Flow*> out;
  EXPECT_EQ(t.dump(0, 10, &out), 0u);
  EXPECT_TRUE(out.empty());
  rcu.synchronize();
  EXPECT_EQ(g_programs_freed, 100);
  // The table is usable after a flush.
  FlowPutArgs a = args_for(1);
  a.program = new_program(1);
  EXPECT_EQ(t.put(a, nullptr), 0);
}

TEST_F(FlowTableTest, DumpCursorAcrossModification) {
  FlowTable t(&rcu, free_test_program);
  std::set<uint32_t> present;
  for (uint32_t i = 0; i < 100; i++) {
    FlowPutArgs a = args_for(i);
    ASSERT_EQ(t.put(a, nullptr), 0);
    present.insert(i);
  }
  std::set<uint32_t> always = present;  // present for the whole dump
  std::set<uint32_t> removed, added;
  std::map<uint32_t, int> seen;
  std::mt19937 rng(3);
  uint64_t cursor = 0;
  uint32_t next_new = 1000;
  int calls = 0;
  do {
    std::vector<const Flow*> out;
    cursor = t.dump(cursor, 7, &out);
    EXPECT_LE(out.size(), 7u);
    for (const Flow* f : out) {
      uint32_t id = f->key().ipv4_dst;
      EXPECT_EQ(removed.count(id), 0u) << "dumped a flow deleted before";
      seen[id]++;
    }
    // Between calls: delete 3 random flows, add 2.
    for (int k = 0; k < 3 && !present.empty(); k++) {
      auto it = present.begin();
      std::advance(it, rng() % present.size());
      ASSERT_EQ(t.del(ufid_n(*it), nullptr), 0);
      removed.insert(*it);
      always.erase(*it);
      present.erase(it);
    }
    for (int k = 0; k < 2; k++) {
      ASSERT_EQ(t.put(args_for(next_new), nullptr), 0);
      present.insert(next_new);
      added.insert(next_new++);
    }
    rcu.reclaim();
    ASSERT_LT(++calls, 1000);
  } while (cursor != 0);
  for (auto& [id, n] : seen) EXPECT_EQ(n, 1) << "flow " << id << " dumped twice";
  for (uint32_t id : always) EXPECT_EQ(seen.count(id), 1u) << "flow " << id << " missed";

  // A fresh dump returns exactly the present flows.
  std::set<uint32_t> all;
  cursor = 0;
  do {
    std::vector<const Flow*> out;
    cursor = t.dump(cursor, 50, &out);
    for (const Flow* f : out) EXPECT_TRUE(all.insert(f->key().ipv4_dst).second);
  } while (cursor != 0);
  EXPECT_EQ(all, present);
}

TEST(Rcu, GracePeriodsAndOfflineReaders) {
  Rcu rcu(3);
  EXPECT_EQ(rcu.register_thread(3), EINVAL);
  ASSERT_EQ(rcu.register_thread(0), 0);
  ASSERT_EQ(rcu.register_thread(2), 0);
  int one = 0, two = 0;
  rcu.defer([&] { one++; });
  rcu.defer_two_gp([&] { two++; });
  EXPECT_EQ(rcu.reclaim(), 0u);
  rcu.quiescent(0);
  EXPECT_EQ(rcu.reclaim(), 0u);  // reader 2 has not reported
  rcu.quiescent(2);
  EXPECT_EQ(rcu.reclaim(), 1u);
  EXPECT_EQ(one, 1);
  EXPECT_EQ(two, 0);
  rcu.quiescent(0);
  rcu.offline(2);  // an offline reader does not hold grace periods up
  EXPECT_EQ(rcu.reclaim(), 1u);
  EXPECT_EQ(two, 1);
  rcu.online(2);
  rcu.defer([&] { one++; });
  rcu.quiescent(0);
  EXPECT_EQ(rcu.reclaim(), 0u);  // back online: waited for again
  rcu.unregister_thread(2);
  rcu.unregister_thread(0);
  rcu.synchronize();
  EXPECT_EQ(one, 2);
  EXPECT_EQ(rcu.pending(), 0u);
}

// One writer adds, modifies and removes flows continuously while a reader
// (a PMD stand-in with its own EMC) looks keys up and checks that every
// result matches its key and is still allocated. Bounded by iteration
// counts. Run under ASan, a use after free is also reported directly.
TEST(FlowTableConcurrency, ReaderNeverSeesFreedFlow) {
  g_programs_freed = 0;
  Rcu rcu(2);
  FlowTable table(&rcu, free_test_program, 100000);
  constexpr uint32_t kRules = 600;
  constexpr uint32_t kWriterOps = 200000;
  constexpr uint32_t kMinReaderBursts = 2000;

  // Rules over 5 masks with distinct keys.
  std::vector<FlowPutArgs> rules(kRules);
  for (uint32_t i = 0; i < kRules; i++) {
    FlowPutArgs& a = rules[i];
    a.key.clear();
    a.mask.clear();
    a.ufid = ufid_n(i);
    a.key.in_port = i % 4;
    a.mask.in_port = 0xffffffff;
    switch (i % 5) {
      case 0:
        a.mask.ipv4_dst = 0xffffffff;
        break;
      case 1:
        a.mask.ipv4_src = 0xffffffff;
        break;
      case 2:
        a.mask.tp_dst = 0xffff;
        break;
      case 3:
        a.mask.tun_id = ~uint64_t{0};
        break;
      default:
        a.mask.ipv4_dst = 0xffffff00;
        break;
    }
    a.key.ipv4_dst = a.key.ipv4_src = i << 8;
    a.key.tp_dst = static_cast<uint16_t>(i);
    a.key.tun_id = i;
  }

  std::atomic<bool> writer_done{false};
  std::atomic<uint64_t> bad_magic{0}, bad_match{0}, hits{0}, emc_hits{0};
  ASSERT_EQ(rcu.register_thread(0), 0);

  std::thread reader([&] {
    Emc emc(256);
    PmdRcuState pmd = pmd_rcu_state(&rcu, 0, table);
    std::mt19937 rng(17);
    FlowKey keys[32];
    const FlowKey* ptrs[32];
    uint32_t hashes[32];
    const Flow* out[32];
    const Flow* cls_out[32];
    auto check = [&](const Flow* f, const FlowKey& k) {
      if (f->magic != kFlowMagic) {
        bad_magic++;
        return;
      }
      const ActionProgram* p = f->actions.load(std::memory_order_acquire);
      if (p == nullptr || as_test(p)->magic != kProgMagic) bad_magic++;
      const FlowKey fk = f->key(), fm = f->mask();
      for (size_t w = 0; w < FlowKey::kWords; w++)
        if ((k.words()[w] & fm.words()[w]) != fk.words()[w]) {
          bad_match++;
          return;
        }
    };
    for (uint32_t burst = 0; burst < kMinReaderBursts || !writer_done.load(); burst++) {
      for (uint32_t i = 0; i < 32; i++) {
        keys[i] = rules[rng() % kRules].key;
        keys[i].tp_src = static_cast<uint16_t>(rng() % 4);  // outside every mask
        ptrs[i] = &keys[i];
      }
      emc.lookup_batch(ptrs, 32, hashes, out);
      const FlowKey* miss_keys[32];
      uint32_t miss_idx[32], n_miss = 0;
      for (uint32_t i = 0; i < 32; i++) {
        if (out[i] != nullptr) {
          emc_hits++;
          check(out[i], keys[i]);
        } else {
          miss_idx[n_miss] = i;
          miss_keys[n_miss++] = &keys[i];
        }
      }
      table.classifier().lookup_batch(miss_keys, n_miss, cls_out);
      for (uint32_t j = 0; j < n_miss; j++) {
        if (cls_out[j] == nullptr) continue;
        hits++;
        uint32_t i = miss_idx[j];
        check(cls_out[j], keys[i]);
        emc.insert(keys[i], hashes[i], cls_out[j]);
      }
      pmd_quiescent(pmd, emc);
    }
    rcu.unregister_thread(0);
  });

  std::mt19937 rng(23);
  std::vector<bool> present(kRules, false);
  // No ASSERT while the reader runs: returning early would skip the join.
  uint32_t failures = 0;
  for (uint32_t op = 0; op < kWriterOps; op++) {
    uint32_t i = rng() % kRules;
    if (!present[i]) {
      FlowPutArgs a = rules[i];
      a.program = new_program(i);
      failures += table.put(a, nullptr) != 0;
      present[i] = true;
    } else if (rng() % 4 == 0) {
      FlowPutArgs a = rules[i];
      a.flags = kFlowPutModify;
      a.program = new_program(i);
      failures += table.put(a, nullptr) != 0;
    } else {
      failures += table.del(rules[i].ufid, nullptr) != 0;
      present[i] = false;
    }
    if (op % 32 == 0) rcu.reclaim();
    if (op % 1000 == 0) table.rank_subtables();
    if (op % 5000 == 4999) {
      table.flush();
      std::fill(present.begin(), present.end(), false);
    }
  }
  writer_done = true;
  reader.join();
  rcu.synchronize();

  EXPECT_EQ(failures, 0u);
  EXPECT_EQ(bad_magic.load(), 0u);
  EXPECT_EQ(bad_match.load(), 0u);
  EXPECT_GT(hits.load(), 1000u);
  EXPECT_GT(emc_hits.load(), 1000u);
  EXPECT_GT(g_programs_freed.load(), 1000);
}

}  // namespace
}  // namespace dpx
