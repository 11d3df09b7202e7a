// The classifier's vector lookups (classifier_simd.cc) against its scalar
// one: two classifiers hold the very same flows, one scalar (sse42) and one
// per vector level this CPU supports, and every lookup of random keys must
// return the same flow and count the same subtables. Masks are random over
// all 24 words of the key (so every line and quarter layout occurs, up to a
// full-key mask), keys are derived from flows (hits, with random bits outside
// the mask), from flows with one masked bit flipped (near misses) or random.
// Levels the CPU lacks are skipped, never faked.
// Since classifier_isa_test and classifier_test run the same lookups, a
// variant that hashed a key differently from the scalar code (which also
// places the flows) would miss every hit here.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "classifier.h"
#include "classifier_detail.h"
#include "cpu_isa.h"
#include "flow_table.h"
#include "rcu.h"

namespace dpx {
namespace {

FlowKey random_mask(std::mt19937_64& rng) {
  FlowKey m;
  m.clear();
  // Half a few words, like OpenFlow pipelines, half many, up to all: the
  // vector lookups serve masks of more than 8 words (classifier.cc,
  // pick_lookup), so both kinds of subtable meet in one classifier.
  const uint32_t n = rng() % 2 == 0 ? 9 + rng() % (FlowKey::kWords - 8) : 1 + rng() % 4;
  for (uint32_t j = 0; j < n; j++) {
    const uint32_t w = rng() % FlowKey::kWords;
    switch (rng() % 3) {
      case 0:
        m.words()[w] = ~uint64_t{0};
        break;
      case 1:
        m.words()[w] = rng() | 1;  // sparse bits, never zero
        break;
      default:
        m.words()[w] = ~uint64_t{0} << (rng() % 64);
        break;
    }
  }
  return m;
}

class ClassifierIsa : public ::testing::TestWithParam<CpuIsa> {};

TEST_P(ClassifierIsa, AgreesWithScalar) {
  const CpuIsa isa = GetParam();
  if (!cpu_isa_supported(isa)) GTEST_SKIP() << "this CPU has no " << cpu_isa_name(isa);
  for (uint32_t seed = 1; seed <= 4; seed++) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed * 7919 + static_cast<uint32_t>(isa));
    Rcu rcu(1);
    std::vector<FlowPtr> flows;
    {
      Classifier scalar(&rcu, CpuIsa::kSse42);
      Classifier vec(&rcu, isa);
      ASSERT_EQ(vec.isa(), isa);
      // Few values per word, so that flows of different masks overlap and
      // the first subtable in rank order must win in both.
      auto value = [&rng] {
        static const uint64_t pool[] = {0, 1, 0x0a000001'0a000002ull, ~uint64_t{0}};
        return pool[rng() % 4] ^ (rng() % 4 == 0 ? rng() : 0);
      };
      std::vector<FlowKey> masks;
      for (int i = 0; i < 20; i++) masks.push_back(random_mask(rng));
      for (int i = 0; i < 1500; i++) {
        const FlowKey& m = masks[rng() % masks.size()];
        FlowKey key;
        for (size_t w = 0; w < FlowKey::kWords; w++) key.words()[w] = value() & m.words()[w];
        if (scalar.find_exact(key, m)) continue;
        FlowPtr f(Flow::create(key, m));
        scalar.insert(f.get());
        vec.insert(f.get());
        flows.push_back(std::move(f));
      }
      ASSERT_GT(flows.size(), 500u);
      ASSERT_EQ(scalar.subtable_count(), vec.subtable_count());

      constexpr uint32_t kKeys = 4000;
      std::vector<FlowKey> keys(kKeys);
      uint32_t hits = 0;
      for (auto& k : keys) {
        const Flow& flow = *flows[rng() % flows.size()];
        const struct { FlowKey key, mask; } f{flow.key(), flow.mask()};
        switch (rng() % 3) {
          case 0:  // a hit: the flow's key with random bits outside its mask
            for (size_t w = 0; w < FlowKey::kWords; w++)
              k.words()[w] = f.key.words()[w] | (value() & ~f.mask.words()[w]);
            break;
          case 1: {  // a near miss: one masked bit flipped
            k = f.key;
            size_t w;
            do w = rng() % FlowKey::kWords;
            while (f.mask.words()[w] == 0);
            const uint64_t mw = f.mask.words()[w];
            k.words()[w] ^= mw & -mw;
            break;
          }
          default:
            for (size_t w = 0; w < FlowKey::kWords; w++) k.words()[w] = value();
        }
      }
      for (uint32_t burst : {1u, 5u, 32u, 64u}) {
        for (uint32_t base = 0; base + burst <= kKeys; base += burst) {
          const FlowKey* ptrs[64];
          const Flow* want[65];
          const Flow* got[65];
          for (uint32_t i = 0; i < burst; i++) ptrs[i] = &keys[base + i];
          const Flow* const canary = reinterpret_cast<const Flow*>(uintptr_t{0xc0ffee});
          got[burst] = canary;
          const uint64_t visited_want = scalar.lookup_batch(ptrs, burst, want);
          const uint64_t visited_got = vec.lookup_batch(ptrs, burst, got);
          ASSERT_EQ(got[burst], canary) << "lookup_batch wrote past n";
          ASSERT_EQ(visited_got, visited_want) << "burst at key " << base;
          for (uint32_t i = 0; i < burst; i++) {
            ASSERT_EQ(got[i], want[i]) << "key " << base + i;
            hits += want[i] != nullptr;
          }
        }
      }
      EXPECT_GT(hits, kKeys) << "the keys should hit often enough to test the hash";
      rcu.synchronize();
    }
  }
}

// The hash and the compare of each variant against the scalar ones, key by
// key: equal hashes, and equal verdicts on hits, near misses (one masked bit
// flipped, in every word of the mask in turn) and random keys.
TEST_P(ClassifierIsa, KernelsAgreeWithScalar) {
  const CpuIsa isa = GetParam();
  if (!cpu_isa_supported(isa)) GTEST_SKIP() << "this CPU has no " << cpu_isa_name(isa);
  const auto hash =
      isa == CpuIsa::kAvx2 ? classifier_detail::hash_avx2 : classifier_detail::hash_avx512;
  const auto matches =
      isa == CpuIsa::kAvx2 ? classifier_detail::matches_avx2 : classifier_detail::matches_avx512;
  std::mt19937_64 rng(99 + static_cast<uint32_t>(isa));
  uint64_t hits = 0, checks = 0;
  for (int iter = 0; iter < 300; iter++) {
    FlowKey m = random_mask(rng);
    if (iter % 3 == 0)  // narrow masks too: the kernels must be right for any mask
      for (size_t w = 4; w < FlowKey::kWords; w++) m.words()[w] = 0;
    const Classifier::Subtable st(m, isa);
    FlowKey fk;
    for (size_t w = 0; w < FlowKey::kWords; w++) fk.words()[w] = rng() & m.words()[w];
    const FlowPtr flow(Flow::create(fk, m));
    const Flow& f = *flow;
    auto check = [&](const FlowKey& k) {
      ASSERT_EQ(hash(st, k), st.hash<0>(k));
      const bool want = st.matches<0>(k, f);
      ASSERT_EQ(matches(st, k, f), want);
      hits += want;
      checks++;
    };
    FlowKey k;
    for (size_t w = 0; w < FlowKey::kWords; w++)
      k.words()[w] = fk.words()[w] | (rng() & ~m.words()[w]);
    check(k);
    for (size_t w = 0; w < FlowKey::kWords; w++) {
      if (m.words()[w] == 0) continue;
      FlowKey near = k;
      uint64_t bits = m.words()[w];
      for (int b = static_cast<int>(rng() % 64); b > 0 && (bits & (bits - 1)); b--)
        bits &= bits - 1;
      near.words()[w] ^= bits & -bits;  // one masked bit, picked at random
      check(near);
      if (HasFatalFailure()) return;
    }
    for (size_t w = 0; w < FlowKey::kWords; w++) k.words()[w] = rng();
    check(k);
    if (HasFatalFailure()) return;
  }
  EXPECT_GE(hits, 300u) << "every unmodified key matches";
  EXPECT_GT(checks, 1500u);
}

INSTANTIATE_TEST_SUITE_P(Variants, ClassifierIsa, ::testing::Values(CpuIsa::kAvx2, CpuIsa::kAvx512),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

TEST(CpuIsa, NamesParseAndTheBestIsSupported) {
  for (CpuIsa isa : {CpuIsa::kSse42, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    CpuIsa back;
    ASSERT_TRUE(parse_cpu_isa(cpu_isa_name(isa), &back));
    EXPECT_EQ(back, isa);
  }
  CpuIsa x;
  EXPECT_FALSE(parse_cpu_isa("auto", &x));
  EXPECT_FALSE(parse_cpu_isa("avx", &x));
  EXPECT_FALSE(parse_cpu_isa("", &x));
  EXPECT_TRUE(cpu_isa_supported(CpuIsa::kSse42));  // the build's baseline
  EXPECT_TRUE(cpu_isa_supported(cpu_isa_best()));
  if (cpu_isa_supported(CpuIsa::kAvx512)) {
    EXPECT_TRUE(cpu_isa_supported(CpuIsa::kAvx2));
  }
}

}  // namespace
}  // namespace dpx
