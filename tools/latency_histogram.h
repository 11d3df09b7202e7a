// A fixed-size log-bucket histogram of latencies (HDR histogram style), for
// dpx-latgen: recording a sample is an index computation and an increment,
// with no allocation, so it can run once per received packet.
//
// Values are unsigned 64-bit (nanoseconds in dpx-latgen). Every power of two
// [2^e, 2^(e+1)) is cut into kSubBuckets equal buckets, so a bucket's width
// is at most 1/kSubBuckets of the values it holds: with 128 sub-buckets a
// reported percentile is within 0.8 % of the true sample (values below
// 2 * kSubBuckets are counted exactly). The whole uint64 range fits in
// kBuckets counters (58 KiB), allocated with the object.
//
// No DPDK dependency: tested on its own (tests/latency_histogram_test.cc).
// Thread-safety: none; one thread records and reads.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace dpx {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBits;  // 128
  // Exact buckets for [0, 2 * kSubBuckets) (two rows of kSubBuckets), then
  // a row of kSubBuckets per power of two from 2^(kSubBits + 1) to 2^63.
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSubBuckets;

  // Bucket of value v. Monotonic in v; exact below 2 * kSubBuckets.
  static constexpr size_t bucket_of(uint64_t v) {
    if (v < 2 * kSubBuckets) return static_cast<size_t>(v);
    const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = msb - kSubBits;  // >= 1
    return static_cast<size_t>((shift + 1) * kSubBuckets + ((v >> shift) - kSubBuckets));
  }

  // The smallest and largest value bucket b holds.
  static constexpr uint64_t bucket_low(size_t b) {
    if (b < 2 * kSubBuckets) return b;
    const uint64_t shift = b / kSubBuckets - 1;
    return (kSubBuckets + b % kSubBuckets) << shift;
  }
  static constexpr uint64_t bucket_high(size_t b) {
    if (b < 2 * kSubBuckets) return b;
    const uint64_t shift = b / kSubBuckets - 1;
    return bucket_low(b) + ((uint64_t{1} << shift) - 1);
  }

  void record(uint64_t v) {
    ++counts_[bucket_of(v)];
    ++count_;
    sum_ += v;
    if (v < min_) min_ = v;
    if (v > max_) max_ = v;
  }

  void clear() { *this = LatencyHistogram(); }

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }

  // The value at quantile q (0 < q <= 1): the smallest recorded value v'
  // such that at least q * count() samples are <= v', reported as the upper
  // bound of its bucket (never above max()), so "p99 = x" reads "99 % of
  // the packets took at most about x". 0 when empty.
  uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    // The rank of the wanted sample, 1-based: ceil(q * count), at least 1.
    double want = q * static_cast<double>(count_);
    uint64_t rank = static_cast<uint64_t>(want);
    if (static_cast<double>(rank) < want) ++rank;
    if (rank < 1) rank = 1;
    if (rank > count_) rank = count_;
    uint64_t seen = 0;
    for (size_t b = bucket_of(min_); b < kBuckets; ++b) {
      seen += counts_[b];
      if (seen >= rank) {
        const uint64_t hi = bucket_high(b);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

static_assert(LatencyHistogram::bucket_of(~uint64_t{0}) == LatencyHistogram::kBuckets - 1);
static_assert(LatencyHistogram::bucket_low(LatencyHistogram::bucket_of(1000)) <= 1000);
static_assert(LatencyHistogram::bucket_high(LatencyHistogram::bucket_of(1000)) >= 1000);

}  // namespace dpx
