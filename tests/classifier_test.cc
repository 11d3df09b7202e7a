// The megaflow classifier against a brute-force reference: random masks from
// a few shapes, random flows, random keys (half derived from inserted flows so
// they hit), then random deletes, re-inserts and growth. Fixed seeds.
#include "classifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "flow_table.h"
#include "rcu.h"

namespace dpx {
namespace {

FlowKey masked(const FlowKey& k, const FlowKey& m) {
  FlowKey out;
  for (size_t i = 0; i < FlowKey::kWords; i++) out.words()[i] = k.words()[i] & m.words()[i];
  return out;
}

// Word by word over the whole key, as the classifier matches: these random
// keys and masks do not keep the option-area invariant of flow_key.h.
bool flow_matches(const Flow& f, const FlowKey& k) {
  return keys_identical(masked(k, f.mask()), f.key());
}

// Owns the flows, mirrors the classifier's content, and answers lookups by
// brute force.
class Harness {
 public:
  explicit Harness(uint32_t seed, CpuIsa isa = CpuIsa::kSse42)
      : rng_(seed), rcu_(4), cls_(&rcu_, isa) {}
  ~Harness() {
    rcu_.synchronize();
    for (Flow* f : live_) Flow::destroy(f);
  }

  std::mt19937_64& rng() { return rng_; }
  Classifier& cls() { return cls_; }
  const std::vector<Flow*>& live() const { return live_; }

  // A value pool per word keeps keys close enough that flows overlap and
  // packets hit more than one subtable.
  uint64_t word_value() {
    uint64_t v = pool_[rng_() % pool_.size()];
    // Half the time, flip a few low bits of a byte so that masks with many
    // bits still see many distinct flows.
    if (rng_() % 2 == 0) v ^= (rng_() % 64) << (8 * (rng_() % 8));
    return v;
  }

  FlowKey random_mask() {
    FlowKey m;
    m.clear();
    // 1..4 words usually; sometimes 9..12 so the generic lookup runs too.
    uint32_t n = rng_() % 8 == 0 ? 9 + rng_() % 4 : 1 + rng_() % 4;
    for (uint32_t j = 0; j < n; j++) {
      uint32_t w = rng_() % FlowKey::kWords;
      switch (rng_() % 3) {
        case 0:
          m.words()[w] = ~uint64_t{0};
          break;
        case 1:
          m.words()[w] = rng_() & rng_();
          break;  // sparse bits
        default:
          m.words()[w] = ~uint64_t{0} << (rng_() % 64);
          break;  // a prefix
      }
    }
    return m;
  }

  FlowKey random_key() {
    FlowKey k;
    for (size_t i = 0; i < FlowKey::kWords; i++) k.words()[i] = word_value();
    return k;
  }

  // A key that matches flow f (its unmasked bits random).
  FlowKey key_for(const Flow& f) {
    FlowKey k;
    const FlowKey fk = f.key(), fm = f.mask();
    for (size_t i = 0; i < FlowKey::kWords; i++)
      k.words()[i] = fk.words()[i] | (word_value() & ~fm.words()[i]);
    return k;
  }

  // Inserts a random flow with one of `masks`; false if an identical
  // (key, mask) already exists.
  bool insert_random(const std::vector<FlowKey>& masks) {
    const FlowKey& m = masks[rng_() % masks.size()];
    FlowKey k = masked(random_key(), m);
    for (Flow* f : live_)
      if (keys_identical(f->mask(), m) && keys_identical(f->key(), k)) return false;
    EXPECT_EQ(cls_.find_exact(k, m), nullptr);
    Flow* f = Flow::create(k, m);
    cls_.insert(f);
    live_.push_back(f);
    EXPECT_EQ(cls_.find_exact(k, m), f);
    return true;
  }

  void remove_at(size_t i) {
    Flow* f = live_[i];
    cls_.remove(f);
    live_[i] = live_.back();
    live_.pop_back();
    // The classifier may still reference it until a grace period passes; no
    // reader is registered, so synchronize() returns at once.
    rcu_.synchronize();
    Flow::destroy(f);
  }

  // Checks `n` keys (half hitting) through lookup_batch in bursts of `burst`.
  void check(uint32_t n, uint32_t burst) {
    std::vector<FlowKey> keys(n);
    for (auto& k : keys)
      k = (!live_.empty() && rng_() % 2 == 0) ? key_for(*live_[rng_() % live_.size()])
                                              : random_key();
    std::vector<const FlowKey*> ptrs(n);
    for (uint32_t i = 0; i < n; i++) ptrs[i] = &keys[i];
    std::vector<const Flow*> out(n + 1);
    const Flow* const canary = reinterpret_cast<const Flow*>(uintptr_t{0xc0ffee});
    for (uint32_t base = 0; base < n; base += burst) {
      uint32_t cnt = std::min(burst, n - base);
      out[base + cnt] = canary;
      cls_.lookup_batch(ptrs.data() + base, cnt, out.data() + base);
      ASSERT_EQ(out[base + cnt], canary) << "lookup_batch wrote past n";
    }
    uint32_t hits = 0;
    for (uint32_t i = 0; i < n; i++) {
      bool any = std::any_of(live_.begin(), live_.end(),
                             [&](const Flow* f) { return flow_matches(*f, keys[i]); });
      if (!any) {
        ASSERT_EQ(out[i], nullptr) << "key " << i << " matched a flow the reference does not have";
        continue;
      }
      hits++;
      ASSERT_NE(out[i], nullptr) << "key " << i << " missed";
      ASSERT_TRUE(std::find(live_.begin(), live_.end(), out[i]) != live_.end())
          << "returned a removed flow";
      ASSERT_TRUE(flow_matches(*out[i], keys[i])) << "returned a flow that does not match";
      ASSERT_EQ(cls_.lookup(keys[i]) != nullptr, true);
    }
    if (!live_.empty()) {
      ASSERT_GT(hits, n / 4) << "test keys should mostly hit";
    }
  }

 private:
  std::mt19937_64 rng_;
  std::vector<uint64_t> pool_ = {0,
                                 1,
                                 0x0a000001'0a000002ull,
                                 0xffffffff'00000000ull,
                                 0x1234'5678'9abc'def0ull,
                                 0x8000'0000'0000'0000ull};
  Rcu rcu_;
  Classifier cls_;
  std::vector<Flow*> live_;
};

TEST(Classifier, EmptyMissesAndBurstSizes) {
  Harness h(1);
  for (uint32_t burst = 0; burst <= 70; burst++) {
    std::vector<FlowKey> keys(burst);
    std::vector<const FlowKey*> ptrs(burst);
    for (uint32_t i = 0; i < burst; i++) {
      keys[i] = h.random_key();
      ptrs[i] = &keys[i];
    }
    std::vector<const Flow*> out(burst + 1, reinterpret_cast<const Flow*>(uintptr_t{1}));
    h.cls().lookup_batch(ptrs.data(), burst, out.data());
    for (uint32_t i = 0; i < burst; i++) EXPECT_EQ(out[i], nullptr);
    EXPECT_EQ(out[burst], reinterpret_cast<const Flow*>(uintptr_t{1}));
  }
}

// lookup_batch() reports the subtables it searched: a hit in the k-th ranked
// subtable counts k, a miss counts all of them, and ranking moves the busy
// subtable first.
TEST(Classifier, CountsSubtablesSearched) {
  Rcu rcu(4);
  Classifier cls(&rcu);
  std::vector<FlowPtr> flows;
  for (size_t w : {0u, 1u, 2u}) {  // three masks, one exact word each
    FlowKey m, k;
    m.clear();
    k.clear();
    m.words()[w] = ~uint64_t{0};
    k.words()[w] = 7;
    FlowPtr f(Flow::create(k, m));
    cls.insert(f.get());
    flows.push_back(std::move(f));
  }
  ASSERT_EQ(cls.subtable_count(), 3u);
  auto key_for = [](size_t w) {
    FlowKey k;
    k.clear();
    k.words()[w] = 7;
    return k;
  };
  // Which subtable is searched first is the classifier's business; find
  // each flow's rank by probing one key at a time.
  uint64_t rank[3];
  for (size_t w = 0; w < 3; w++) {
    const FlowKey k = key_for(w);
    const FlowKey* p[1] = {&k};
    const Flow* out[1];
    rank[w] = cls.lookup_batch(p, 1, out);
    ASSERT_EQ(out[0], flows[w].get());
  }
  std::vector<uint64_t> sorted(rank, rank + 3);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<uint64_t>{1, 2, 3}));

  // A burst: 10 hits on the flow ranked last, 5 misses.
  std::vector<FlowKey> keys;
  const size_t last = std::max_element(rank, rank + 3) - rank;
  for (int i = 0; i < 10; i++) keys.push_back(key_for(last));
  for (int i = 0; i < 5; i++) {
    FlowKey k;
    k.clear();
    k.words()[5] = 1;
    keys.push_back(k);
  }
  std::vector<const FlowKey*> ptrs;
  for (auto& k : keys) ptrs.push_back(&k);
  std::vector<const Flow*> out(keys.size());
  EXPECT_EQ(cls.lookup_batch(ptrs.data(), static_cast<uint32_t>(ptrs.size()), out.data()),
            10u * 3 + 5u * 3);

  // After ranking by hits, the busy subtable is searched first.
  cls.rank_subtables();
  EXPECT_EQ(cls.lookup_batch(ptrs.data(), 10, out.data()), 10u);
  rcu.synchronize();
}

// Every lookup variant this CPU can run (cpu_isa.h) against the reference.
class ClassifierRandom : public ::testing::TestWithParam<std::tuple<uint32_t, CpuIsa>> {};

TEST_P(ClassifierRandom, MatchesBruteForce) {
  const auto [n_shapes, isa] = GetParam();
  if (!cpu_isa_supported(isa)) GTEST_SKIP() << "this CPU has no " << cpu_isa_name(isa);
  for (uint32_t seed = 1; seed <= 3; seed++) {
    SCOPED_TRACE(testing::Message() << "shapes " << n_shapes << " seed " << seed);
    Harness h(seed * 100 + n_shapes, isa);
    std::vector<FlowKey> masks;
    for (uint32_t i = 0; i < n_shapes; i++) masks.push_back(h.random_mask());

    for (int i = 0; i < 300; i++) h.insert_random(masks);
    EXPECT_EQ(h.cls().flow_count(), h.live().size());
    EXPECT_GT(h.live().size(), 100u) << "the key pool is too small to test anything";
    EXPECT_LE(h.cls().subtable_count(), n_shapes);
    for (uint32_t burst : {1u, 7u, 32u, 64u, 100u}) {
      h.check(500, burst);
      if (HasFatalFailure()) return;
    }

    // Random deletes, then re-inserts, then a re-rank.
    for (int i = 0; i < 150 && !h.live().empty(); i++) h.remove_at(h.rng()() % h.live().size());
    EXPECT_EQ(h.cls().flow_count(), h.live().size());
    h.check(500, 32);
    if (HasFatalFailure()) return;
    for (int i = 0; i < 200; i++) h.insert_random(masks);
    h.cls().rank_subtables();
    h.check(500, 32);
    if (HasFatalFailure()) return;

    // Remove everything: every subtable goes away and every key misses.
    while (!h.live().empty()) h.remove_at(h.live().size() - 1);
    EXPECT_EQ(h.cls().subtable_count(), 0u);
    h.check(100, 32);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ClassifierRandom,
                         ::testing::Combine(::testing::Values(1u, 2u, 5u, 20u),
                                            ::testing::Values(CpuIsa::kSse42, CpuIsa::kAvx2,
                                                              CpuIsa::kAvx512)),
                         [](const auto& info) {
                           return std::to_string(std::get<0>(info.param)) + "_" +
                                  cpu_isa_name(std::get<1>(info.param));
                         });

TEST(Classifier, GrowthPastInitialTableWithChurn) {
  Harness h(7);
  // One shape with many distinct values: the subtable's table starts at 16
  // slots and must be rebuilt many times.
  FlowKey m;
  m.clear();
  m.words()[4] = ~uint64_t{0};  // ipv4 src/dst
  m.words()[0] = 0xffffffff;    // in_port
  std::vector<Flow*> flows;
  for (uint32_t i = 0; i < 5000; i++) {
    FlowKey k;
    k.clear();
    k.words()[4] = uint64_t{i} * 0x9e3779b97f4a7c15ull;
    k.words()[0] = i % 3;
    Flow* f = Flow::create(k, m);
    h.cls().insert(f);
    flows.push_back(f);
    // Every ~500 flows, delete a third of them and check everything.
    if (i % 500 == 499) {
      for (size_t j = 0; j < flows.size(); j += 3) {
        h.cls().remove(flows[j]);
        EXPECT_EQ(h.cls().find_exact(flows[j]->key(), m), nullptr);
        flows[j]->magic = kFlowPoison;  // freed below, after the check
      }
      for (Flow* f2 : flows) {
        FlowKey k = f2->key();
        k.words()[1] = 0x55;  // outside the mask
        const Flow* got = h.cls().lookup(k);
        if (f2->magic == kFlowPoison)
          EXPECT_EQ(got, nullptr);
        else
          EXPECT_EQ(got, f2);
      }
      std::vector<Flow*> kept;
      for (Flow* f2 : flows) {
        if (f2->magic == kFlowPoison)
          Flow::destroy(f2);
        else
          kept.push_back(f2);
      }
      flows.swap(kept);
    }
  }
  EXPECT_EQ(h.cls().flow_count(), flows.size());
  EXPECT_EQ(h.cls().subtable_count(), 1u);
  for (Flow* f : flows) {
    h.cls().remove(f);
    Flow::destroy(f);
  }
  EXPECT_EQ(h.cls().subtable_count(), 0u);
}

TEST(Classifier, CatchAllMask) {
  Harness h(9);
  FlowKey zero;
  zero.clear();
  Flow* f = Flow::create(zero, zero);
  h.cls().insert(f);
  FlowKey k = h.random_key();
  EXPECT_EQ(h.cls().lookup(k), f);
  h.cls().remove(f);
  EXPECT_EQ(h.cls().lookup(k), nullptr);
  Flow::destroy(f);
}

TEST(Classifier, RankOrderDecidesBetweenOverlappingFlows) {
  Harness h(11);
  FlowKey m_port, m_proto;
  m_port.clear();
  m_port.in_port = 0xffffffff;
  m_proto.clear();
  m_proto.nw_proto = 0xff;

  FlowKey ka, kb;
  ka.clear();
  ka.in_port = 1;
  kb.clear();
  kb.nw_proto = 6;
  FlowPtr pa(Flow::create(ka, m_port)), pb(Flow::create(kb, m_proto));
  Flow& a = *pa;
  Flow& b = *pb;
  h.cls().insert(&a);  // subtable of a first: it wins while unranked
  h.cls().insert(&b);

  FlowKey both;
  both.clear();
  both.in_port = 1;
  both.nw_proto = 6;
  EXPECT_EQ(h.cls().lookup(both), &a);

  // Traffic that only b's subtable matches makes it the hotter one.
  FlowKey only_b = both;
  only_b.in_port = 2;
  for (int i = 0; i < 10; i++) EXPECT_EQ(h.cls().lookup(only_b), &b);
  h.cls().rank_subtables();
  EXPECT_EQ(h.cls().lookup(both), &b);

  h.cls().remove(&a);
  h.cls().remove(&b);
}

}  // namespace
}  // namespace dpx
