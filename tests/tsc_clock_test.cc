// TscClock (datapath/tsc_clock.h): the PMDs' millisecond clock follows its
// anchors, so it cannot drift away from CLOCK_MONOTONIC whatever the error
// of the TSC rate; a reader never sees half an anchor.
#include "tsc_clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace dpx::test {
namespace {

TEST(TscClock, FollowsItsAnchors) {
  TscClock clock(1000);                // 1,000 ticks per microsecond
  clock.anchor(5'000'000, 7'000'000);  // tick 5e6 is 7 s
  TscClock::Reader r;
  EXPECT_EQ(r.now_ms(clock, 5'000'000), 7000u);
  EXPECT_EQ(r.now_ms(clock, 5'000'000 + 2'500'000), 7002u);  // +2.5 ms
  // The TSC rate was wrong by 10%: a re-anchor puts the clock back on
  // CLOCK_MONOTONIC instead of letting the error grow.
  clock.anchor(1'005'000'000, 8'100'000);
  EXPECT_EQ(r.now_ms(clock, 1'005'000'000), 8100u);
  EXPECT_EQ(r.now_ms(clock, 1'006'000'000), 8101u);
  // A TSC read before the newest anchor was taken: the anchor's time, not
  // an unsigned wrap-around.
  EXPECT_EQ(r.now_ms(clock, 1'000'000'000), 8100u);
}

// The reader converts ticks with a multiplication by a reciprocal, not a
// division: it must still give exactly floor(ticks / rate) for real rates,
// at the boundaries where a division rounds down.
TEST(TscClock, TickConversionIsExactAtRealRates) {
  for (uint64_t rate : {uint64_t{2}, uint64_t{3}, uint64_t{1999}, uint64_t{2300}, uint64_t{3999}}) {
    TscClock clock(rate);
    clock.anchor(0, 0);
    TscClock::Reader r;
    for (uint64_t ms : {uint64_t{1}, uint64_t{100}, uint64_t{999}, uint64_t{86'400'000}}) {
      const uint64_t tick = ms * 1000 * rate;  // exactly ms milliseconds
      EXPECT_EQ(r.now_ms(clock, tick), ms) << "rate " << rate;
      EXPECT_EQ(r.now_ms(clock, tick - 1), ms - 1) << "rate " << rate;
    }
  }
}

TEST(TscClock, ZeroRateIsClampedToOne) {
  TscClock clock(0);
  clock.anchor(0, 0);
  TscClock::Reader r;
  EXPECT_EQ(r.now_ms(clock, 3000), 3u);
}

// One writer re-anchoring as fast as it can, one reader: anchor k maps
// tick 1000k to time k^2 ms (ticks are microseconds here). Read at a fixed
// later tick T*1000, anchor k gives T - k + k^2 ms; a torn anchor (one
// anchor's tick with another's time) gives a value no whole anchor gives.
TEST(TscClock, ReadersNeverSeeATornAnchor) {
  constexpr uint64_t kT = 1'000'000'000;
  // The writer publishes a fixed number of anchors and the reader reads
  // until after it saw the writer done (and at least kMinReads times), so
  // the two overlap however the threads are scheduled, and the last read in
  // the loop sees the last anchor.
  constexpr uint64_t kAnchors = 200'000;
  constexpr int kMinReads = 2'000'000;
  TscClock clock(1);
  clock.anchor(0, 0);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (uint64_t k = 1; k <= kAnchors; ++k) clock.anchor(k * 1000, k * k * 1000);
    done.store(true, std::memory_order_release);
  });
  TscClock::Reader r;
  uint64_t bad = 0, last_k = 0, changes = 0;
  for (int i = 0;; ++i) {
    // Sampled before the read: a read after the writer finished ends the loop.
    const bool writer_done = done.load(std::memory_order_acquire);
    const uint64_t m = r.now_ms(clock, kT * 1000) - kT;  // k^2 - k
    uint64_t k = last_k;
    while (k * k - k < m) ++k;  // anchors only move forward
    if (k * k - k != m) ++bad;
    if (k != last_k) ++changes;
    last_k = k;
    if (writer_done && i >= kMinReads) break;
  }
  writer.join();
  const uint64_t m = r.now_ms(clock, kT * 1000) - kT;
  EXPECT_EQ(bad, 0u);
  EXPECT_GT(changes, 0u) << "the reader never saw a new anchor";
  EXPECT_EQ(m, kAnchors * kAnchors - kAnchors) << "the reader missed the last anchor";
}

}  // namespace
}  // namespace dpx::test
