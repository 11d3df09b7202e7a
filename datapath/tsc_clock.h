// CLOCK_MONOTONIC milliseconds for the PMDs, from the TSC: a flow's `used`
// time is stamped once per PMD iteration, where a clock_gettime() per
// iteration would cost more than the lookups it stamps.
//
// Why re-anchored: ovs-vswitchd compares `used` with its own
// CLOCK_MONOTONIC (time_msec()) to decide that a flow is idle, and under
// flow-limit pressure an idle flow is one unused for 100 ms. A TSC clock
// anchored once drifts from CLOCK_MONOTONIC by the error of the TSC rate
// (DPDK rounds its estimate to 10 MHz: up to 0.2% on a 2.3 GHz part, 2 ms
// per second) plus NTP's slewing of CLOCK_MONOTONIC, so after a minute a
// busy flow could look idle to OVS and be deleted. The control thread
// therefore re-anchors the clock (TSC, CLOCK_MONOTONIC) every
// kAnchorIntervalMs; between anchors the error stays below a millisecond.
//
// Thread-safety: anchor() is called by one thread (the control thread);
// any number of Readers (one per PMD) read concurrently without locks. The
// anchor is a seqlock; a reader that catches it mid-update keeps the
// anchor it had, and never waits.
#pragma once

#include <atomic>
#include <cstdint>

namespace dpx {

class TscClock {
 public:
  static constexpr uint64_t kAnchorIntervalMs = 100;

  // tsc_per_us: TSC ticks per microsecond (at least 1).
  explicit TscClock(uint64_t tsc_per_us)
      : tsc_per_us_(tsc_per_us > 1 ? tsc_per_us : 1),
        us_per_tsc_q64_(tsc_per_us_ == 1 ? 0 : UINT64_MAX / tsc_per_us_ + 1) {}

  // Writer: from now on, TSC value `tsc` is CLOCK_MONOTONIC time `us`
  // (microseconds). Call before readers start, then periodically.
  void anchor(uint64_t tsc, uint64_t us) {
    const uint32_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    tsc_base_.store(tsc, std::memory_order_relaxed);
    us_base_.store(us, std::memory_order_relaxed);
    seq_.store(s + 2, std::memory_order_release);
  }

  // One reader's view of the clock: the last anchor it read whole.
  class Reader {
   public:
    // CLOCK_MONOTONIC milliseconds at TSC value `tsc`. One acquire load
    // when the anchor has not changed.
    uint64_t now_ms(const TscClock& c, uint64_t tsc) {
      const uint32_t s = c.seq_.load(std::memory_order_acquire);
      if (s != seq_ && !(s & 1)) {
        const uint64_t tb = c.tsc_base_.load(std::memory_order_relaxed);
        const uint64_t ub = c.us_base_.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (c.seq_.load(std::memory_order_relaxed) == s) {
          seq_ = s;
          tsc_base_ = tb;
          us_base_ = ub;
        }
      }
      // A TSC read just before a newer anchor: that anchor's time.
      const uint64_t us = tsc > tsc_base_ ? us_base_ + c.ticks_to_us(tsc - tsc_base_) : us_base_;
      return us / 1000;
    }

   private:
    uint32_t seq_ = 1;  // odd: never a complete anchor, so the first call reads one
    uint64_t tsc_base_ = 0, us_base_ = 0;
  };

 private:
  // d / tsc_per_us_ as a multiplication by the rounded-up reciprocal 2^64 /
  // tsc_per_us_: a 64-bit division costs tens of cycles, in every PMD
  // iteration. Exact while d < 2^64 / tsc_per_us_ ticks (days), and d is
  // at most one anchor interval here.
  uint64_t ticks_to_us(uint64_t d) const {
    if (us_per_tsc_q64_ == 0) return d;  // one tick per microsecond (tests)
    return static_cast<uint64_t>((static_cast<unsigned __int128>(d) * us_per_tsc_q64_) >> 64);
  }

  const uint64_t tsc_per_us_;
  const uint64_t us_per_tsc_q64_;  // 0 when tsc_per_us_ is 1
  std::atomic<uint32_t> seq_{0};
  std::atomic<uint64_t> tsc_base_{0}, us_base_{0};
};

}  // namespace dpx
