// LatencyHistogram (tools/latency_histogram.h), dpx-latgen's log-bucket
// histogram: bucket boundaries over the whole uint64 range, the 1/128
// relative error bound, and quantiles against a sorted reference.
#include "latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace dpx::test {
namespace {

using H = LatencyHistogram;

TEST(LatencyHistogram, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 2 * H::kSubBuckets; ++v) {
    EXPECT_EQ(H::bucket_of(v), v);
    EXPECT_EQ(H::bucket_low(v), v);
    EXPECT_EQ(H::bucket_high(v), v);
  }
}

// Buckets tile the value range: each starts right after the previous one
// ends, every value lands in the bucket whose bounds hold it, and no bucket
// is wider than 1/kSubBuckets of its lowest value.
TEST(LatencyHistogram, BucketsTileTheRange) {
  for (size_t b = 1; b < H::kBuckets; ++b) {
    ASSERT_EQ(H::bucket_low(b), H::bucket_high(b - 1) + 1) << "bucket " << b;
    const uint64_t width = H::bucket_high(b) - H::bucket_low(b) + 1;
    if (b >= 2 * H::kSubBuckets) {
      ASSERT_LE(width * H::kSubBuckets, H::bucket_low(b)) << b;
    }
    ASSERT_EQ(H::bucket_of(H::bucket_low(b)), b);
    ASSERT_EQ(H::bucket_of(H::bucket_high(b)), b);
  }
  EXPECT_EQ(H::bucket_high(H::kBuckets - 1), ~uint64_t{0});
  EXPECT_EQ(H::bucket_of(~uint64_t{0}), H::kBuckets - 1);
}

TEST(LatencyHistogram, EmptyReportsZeros) {
  H h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.quantile(0.5), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogram, OneSampleIsEveryQuantile) {
  H h;
  h.record(123456);
  for (double q : {0.001, 0.5, 0.99, 0.999, 1.0}) EXPECT_EQ(h.quantile(q), 123456u) << q;
  EXPECT_EQ(h.min(), 123456u);
  EXPECT_EQ(h.max(), 123456u);
}

// 1..1000 exactly: p50 is the 500th value's bucket, never below it and
// within the bucket's width above; p100 is the max.
TEST(LatencyHistogram, QuantilesOfAKnownSet) {
  H h;
  for (uint64_t v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_DOUBLE_EQ(h.mean(), 500.5);
  EXPECT_GE(h.quantile(0.5), 500u);
  EXPECT_LE(h.quantile(0.5), 500u + 500u / H::kSubBuckets);
  EXPECT_GE(h.quantile(0.99), 990u);
  EXPECT_LE(h.quantile(0.99), 990u + 990u / H::kSubBuckets);
  EXPECT_EQ(h.quantile(1.0), 1000u);
  // Exact region: 100 values of 1..1000 are <= 100.
  EXPECT_EQ(h.quantile(0.1), 100u);
}

// Random latencies over six decades against a sorted copy: every quantile
// within the relative error bound of the true sample, and never below it.
TEST(LatencyHistogram, QuantilesMatchSortedReference) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(8.0, 2.0);
  std::vector<uint64_t> ref;
  H h;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    ref.push_back(v);
    h.record(v);
  }
  std::sort(ref.begin(), ref.end());
  EXPECT_EQ(h.min(), ref.front());
  EXPECT_EQ(h.max(), ref.back());
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999, 0.9999}) {
    const auto rank = static_cast<size_t>(std::ceil(q * ref.size()));
    const uint64_t truth = ref[rank - 1];
    const uint64_t got = h.quantile(q);
    EXPECT_GE(got, truth) << "q=" << q;
    EXPECT_LE(got, truth + truth / H::kSubBuckets) << "q=" << q;
  }
}

TEST(LatencyHistogram, ClearForgetsEverything) {
  H h;
  h.record(5);
  h.record(1u << 30);
  h.clear();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  h.record(7);
  EXPECT_EQ(h.min(), 7u);
  EXPECT_EQ(h.quantile(0.5), 7u);
}

}  // namespace
}  // namespace dpx::test
