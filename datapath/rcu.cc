#include "rcu.h"

#include <rte_common.h>

#include <cerrno>
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

namespace dpx {

Rcu::Rcu(uint32_t max_threads) : max_threads_(max_threads) {
  size_t size = rte_rcu_qsbr_get_memsize(max_threads);
  size = RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE);
  void* mem = std::aligned_alloc(RTE_CACHE_LINE_SIZE, size);
  if (mem == nullptr) throw std::bad_alloc();
  qsbr_ = static_cast<rte_rcu_qsbr*>(mem);
  if (rte_rcu_qsbr_init(qsbr_, max_threads) != 0) {
    std::free(mem);
    throw std::bad_alloc();
  }
}

Rcu::~Rcu() {
  // No reader may hold a protected pointer any more (see rcu.h), so every
  // callback is safe to run now, including second-period ones.
  // Callbacks may queue more; run until nothing is left.
  for (;;) {
    std::deque<Deferred> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left.swap(queue_);
    }
    if (left.empty()) break;
    for (auto& d : left) d.fn();
  }
  std::free(qsbr_);
}

int Rcu::register_thread(uint32_t thread_id) {
  if (thread_id >= max_threads_) return EINVAL;
  if (rte_rcu_qsbr_thread_register(qsbr_, thread_id) != 0) return EINVAL;
  rte_rcu_qsbr_thread_online(qsbr_, thread_id);
  return 0;
}

int Rcu::unregister_thread(uint32_t thread_id) {
  if (thread_id >= max_threads_) return EINVAL;
  rte_rcu_qsbr_thread_offline(qsbr_, thread_id);
  return rte_rcu_qsbr_thread_unregister(qsbr_, thread_id) == 0 ? 0 : EINVAL;
}

void Rcu::defer(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  // The token is taken under the lock so that tokens grow along the queue.
  queue_.push_back({rte_rcu_qsbr_start(qsbr_), false, std::move(fn)});
}

void Rcu::defer_two_gp(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back({rte_rcu_qsbr_start(qsbr_), true, std::move(fn)});
}

size_t Rcu::reclaim() {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Entries that finish their first period are re-queued at the back with
    // a fresh token; bound the walk so they are not looked at twice here.
    size_t n = queue_.size();
    while (n-- > 0 && !queue_.empty()) {
      Deferred& d = queue_.front();
      if (rte_rcu_qsbr_check(qsbr_, d.token, false) == 0) break;
      Deferred done = std::move(d);
      queue_.pop_front();
      if (done.second_period) {
        // The second grace period starts now, after the first has ended.
        queue_.push_back({rte_rcu_qsbr_start(qsbr_), false, std::move(done.fn)});
      } else {
        ready.push_back(std::move(done.fn));
      }
    }
  }
  for (auto& fn : ready) fn();
  return ready.size();
}

void Rcu::synchronize() {
  for (;;) {
    uint64_t token;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return;
      token = queue_.back().token;
    }
    // Waiting for the newest token covers every entry queued before it.
    rte_rcu_qsbr_check(qsbr_, token, true);
    reclaim();
  }
}

size_t Rcu::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace dpx
