// Quiescent-state-based RCU for the flow table: a thin wrapper over DPDK's
// rte_rcu_qsbr plus a deferred-free queue run by the control thread.
//
// Model. Readers are PMD threads. Each registers a small thread id once,
// goes online, and calls quiescent() at points where it holds no pointer
// into RCU-protected data (between bursts). A reader that is about to sleep
// or block goes offline() first, so it never holds up a grace period, and
// online() when it resumes. Writers (the control thread) unpublish an object
// and then hand its destruction to defer(); reclaim() runs every deferred
// callback whose grace period has elapsed, without blocking.
//
// The qsbr variable lives in memory this class allocates itself
// (rte_rcu_qsbr_get_memsize + aligned_alloc), so no EAL is needed: unit
// tests and benchmarks use it as is.
//
// Thread-safety:
//  - online / offline / quiescent: from the reader thread owning that id.
//    They are lock-free and never allocate; quiescent() is inline and costs a
//    load and, when a new grace period started, a store.
//  - register_thread / unregister_thread: from any thread (DPDK makes them
//    thread-safe). A registered reader is online at once, so grace periods
//    wait for it from then on: register a PMD just before it starts polling,
//    or keep it offline until then.
//  - defer / defer_two_gp / reclaim / synchronize / pending: from any thread
//    that is not an online reader (the queue has its own mutex; callbacks run
//    outside it, in the calling thread). synchronize() from an online reader
//    would wait for itself forever.
//  - The destructor runs every callback still queued without waiting: destroy
//    the Rcu only when no reader can hold a protected pointer any more, and
//    after the objects the callbacks use (e.g. a mempool an action program's
//    deleter returns memory to) — or call synchronize() first.
#pragma once

#include <rte_rcu_qsbr.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace dpx {

class Rcu {
 public:
  // max_threads: reader thread ids are 0 .. max_threads-1. Throws
  // std::bad_alloc if the qsbr memory cannot be allocated (control path,
  // at start-up).
  explicit Rcu(uint32_t max_threads);
  ~Rcu();
  Rcu(const Rcu&) = delete;
  Rcu& operator=(const Rcu&) = delete;

  uint32_t max_threads() const { return max_threads_; }

  // Registers reader `thread_id` and puts it online. Returns 0, or EINVAL if
  // the id is out of range.
  int register_thread(uint32_t thread_id);
  // Takes the reader offline and unregisters it. Returns 0 or EINVAL.
  int unregister_thread(uint32_t thread_id);

  // Reader side. The caller must hold no protected pointer across offline();
  // after online() it may read protected data again.
  void online(uint32_t thread_id) { rte_rcu_qsbr_thread_online(qsbr_, thread_id); }
  void offline(uint32_t thread_id) { rte_rcu_qsbr_thread_offline(qsbr_, thread_id); }
  // Reports that `thread_id` holds no protected pointer right now.
  void quiescent(uint32_t thread_id) { rte_rcu_qsbr_quiescent(qsbr_, thread_id); }

  // Writer side. `fn` runs (in a later reclaim() or synchronize() call) once
  // every reader that was online when defer() was called has passed a
  // quiescent point or gone offline.
  void defer(std::function<void()> fn);
  // Like defer(), but `fn` runs only after two consecutive grace periods: the
  // second one starts when the first has ended. The flow table uses it for
  // flows that exact-match caches may still point to (see emc.h).
  void defer_two_gp(std::function<void()> fn);
  // Runs every callback whose grace period(s) have elapsed, in queue order;
  // never waits. Returns how many callbacks ran.
  size_t reclaim();
  // Waits until every queued callback (including any queued by callbacks)
  // has run. For shutdown and tests.
  void synchronize();
  // Callbacks still queued.
  size_t pending() const;

  rte_rcu_qsbr* qsbr() { return qsbr_; }

 private:
  struct Deferred {
    uint64_t token;      // grace period to wait for (rte_rcu_qsbr_start)
    bool second_period;  // defer_two_gp entry still in its first period
    std::function<void()> fn;
  };

  uint32_t max_threads_;
  rte_rcu_qsbr* qsbr_;
  mutable std::mutex mu_;  // guards queue_; never taken by readers
  // Tokens grow along the queue: every entry is appended with a fresh token,
  // so reclaim() only ever needs to look at the front.
  std::deque<Deferred> queue_;
};

}  // namespace dpx
