#include "pmd.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tunnel_decap.h"
#include "tunnel_encap.h"

namespace dpx {

namespace {

// An idle PMD polls this many empty iterations before its first sleep, so a
// short gap in traffic never costs a wake-up latency.
constexpr uint32_t kIdleItersBeforeSleep = 128;

// Exec jobs handled per iteration, bounding how long one iteration can
// keep the rx queues waiting: a burst's worth. (At 8, a handler's batch of
// 64 executes took 8 iterations of a PMD busy with a storm, and the control
// thread, which waits for them at its barrier and at its bound on executes
// in flight, spent most of a storm waiting.)
constexpr uint32_t kMaxExecPerIter = 32;

}  // namespace

void PmdCounters::reset() {
  for (Counter* c : {&iterations, &busy_iterations, &busy_cycles, &idle_cycles, &rx_packets,
                     &rx_batches, &passes, &emc_hits, &megaflow_hits, &masks_visited, &upcalls,
                     &lost, &recirculations, &sleeps, &sleep_us, &jobs, &hold_timeouts})
    c->reset();
  for (auto& c : drops) c.reset();
  for (auto& c : extract_drops) c.reset();
  for (auto& c : action_drops) c.reset();
}

// The action executor's view of this PMD (the ActionSink contract of
// actions.h). A small value type so execute_actions() inlines its calls.
struct Pmd::Sink {
  Pmd* pmd;

  void output(uint32_t odp_port, rte_mbuf* m) { pmd->tx_enqueue(odp_port, m); }

  // Every output of the executor comes here; a tunnel port encapsulates.
  void output(uint32_t odp_port, rte_mbuf* m, const PacketState& st, const FlowKey& key) {
    const TunnelShared* t = pmd->shared_->tunnels;
    if (const uint8_t slot = t ? t->slot_of(odp_port) : 0) [[unlikely]]
      return pmd->tunnel_output(odp_port, slot - 1, m, st.tun, tunnel_flow_hash(key));
    pmd->tx_enqueue(odp_port, m);
  }

  void userspace(rte_mbuf* m, const PacketState& st, const Action& a) {
    PmdCounters& c = pmd->counters;
    if (!pmd->shared_->upcalls_enabled.load(std::memory_order_relaxed)) {
      c.lost.add();
      c.drops[static_cast<size_t>(PmdDrop::kMissNoControlPlane)].add();
      return;
    }
    auto ud = a.userdata();
    if (ud.size() > kMaxUpcallUserdata) {
      c.lost.add();
      pmd->drop(nullptr, PmdDrop::kUpcallUserdataTooLong);
      return;
    }
    const uint32_t len = st.trunc_max_len ? std::min(st.trunc_max_len, m->pkt_len) : UINT32_MAX;
    rte_mbuf* cp = rte_pktmbuf_copy(m, pmd->shared_->pool, 0, len);
    if (!cp) {
      c.lost.add();
      pmd->drop(nullptr, PmdDrop::kUpcallCopyFailed);
      return;
    }
    UpcallMeta* um = upcall_meta(cp);
    um->kind = UpcallKind::kAction;
    um->pid = a.userspace_pid();
    um->has_egress_tun_port = a.has_egress_tun_port();
    um->egress_tun_port = a.has_egress_tun_port() ? a.egress_tun_port() : 0;
    um->orig_len = m->pkt_len;
    um->state = st;
    if (st.tun.opts_len) [[unlikely]]
      std::memcpy(um->tun_opts, st.tun.opts, st.tun.opts_len);
    um->userdata_len = static_cast<uint16_t>(ud.size());
    if (!ud.empty()) std::memcpy(um->userdata, ud.data(), ud.size());
    if (rte_ring_sp_enqueue(pmd->upcall_ring_, cp) != 0) {
      c.lost.add();
      pmd->drop(cp, PmdDrop::kUpcallQueueFull);
      return;
    }
    pmd->upcalled_ = true;
    c.upcalls.add();
  }

  void recirculate(rte_mbuf* m, const PacketState& st) {
    if (pmd->cur_depth_ >= kMaxRecircDepth) return pmd->drop(m, PmdDrop::kRecircTooDeep);
    if (pmd->rq_n_ == kRecircQueue) return pmd->drop(m, PmdDrop::kRecircQueueFull);
    const uint32_t i = pmd->rq_n_++;
    pmd->rq_pkts_[i] = m;
    pmd->rq_states_[i] = st;
    // The options st borrows do not outlive this pass (TunnelMeta).
    if (st.tun.opts_len) [[unlikely]]
      std::memcpy(pmd->rq_opts_[i], st.tun.opts, st.tun.opts_len);
    pmd->rq_depth_[i] = static_cast<uint8_t>(pmd->cur_depth_ + 1);
    pmd->counters.recirculations.add();
  }

  void drop(rte_mbuf* m, ActionDrop reason) {
    if (m) rte_pktmbuf_free(m);
    pmd->counters.action_drops[static_cast<size_t>(reason)].add();
  }

  rte_mbuf* copy(rte_mbuf* m) { return rte_pktmbuf_copy(m, pmd->shared_->pool, 0, UINT32_MAX); }
};

std::unique_ptr<Pmd> Pmd::create(uint32_t index, unsigned lcore, Shared* shared,
                                 uint32_t upcall_ring_size, std::string* err) {
  std::unique_ptr<Pmd> p(new Pmd(index, lcore, shared));
  const int socket = static_cast<int>(rte_lcore_to_socket_id(lcore));
  std::string name = "dpx_upcall_" + std::to_string(index);
  // Single producer (this PMD), single consumer (the control thread).
  p->upcall_ring_ =
      rte_ring_create(name.c_str(), upcall_ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  name = "dpx_exec_" + std::to_string(index);
  p->exec_ring_ =
      rte_ring_create(name.c_str(), kExecRingSize, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  // Misses the control thread found a flow for: as many as the upcall
  // ring holds, since that is where they come from.
  name = "dpx_reinject_" + std::to_string(index);
  p->reinject_ring_ =
      rte_ring_create(name.c_str(), upcall_ring_size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!p->upcall_ring_ || !p->exec_ring_ || !p->reinject_ring_) {
    *err = "cannot create PMD rings: " + std::string(rte_strerror(rte_errno));
    return nullptr;
  }
  // In-flight misses (pmd.h), sized here: the per-packet path allocates
  // nothing.
  p->pending_ = std::make_unique<std::atomic<uint64_t>[]>(kPendingSlots);
  p->held_lists_ = std::make_unique<HeldList[]>(kPendingSlots);
  for (uint32_t i = 0; i < kMaxHeld; ++i)
    p->held_next_[i] = i + 1 < kMaxHeld ? static_cast<uint16_t>(i + 1) : kNoHeld;
  name = "dpx_answered_" + std::to_string(index);
  p->answered_ring_ =
      rte_ring_create(name.c_str(), kAnsweredRingSize, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!p->answered_ring_) {
    *err = "cannot create PMD rings: " + std::string(rte_strerror(rte_errno));
    return nullptr;
  }
  return p;
}

Pmd::Pmd(uint32_t index, unsigned lcore, Shared* shared)
    : index_(index),
      lcore_(lcore),
      shared_(shared),
      emc_(Emc::kDefaultEntries, shared->cpu_isa),
      rng_(0x9e3779b9u ^ (index + 1)),
      sw_offload_(shared->pool, shared->indirect_pool) {
  tx_slot_.fill(-1);
}

Pmd::~Pmd() {
  if (upcall_ring_) {
    void* m;
    while (rte_ring_sc_dequeue(upcall_ring_, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(upcall_ring_);
  }
  if (exec_ring_) rte_ring_free(exec_ring_);
  if (reinject_ring_) {
    void* m;
    while (rte_ring_sc_dequeue(reinject_ring_, &m) == 0)
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(reinject_ring_);
  }
  if (answered_ring_) rte_ring_free(answered_ring_);
  for (uint32_t a = 0; a < n_active_; ++a)
    for (uint16_t e = held_lists_[active_[a]].first; e != kNoHeld; e = held_next_[e])
      rte_pktmbuf_free(held_[e]);
}

int Pmd::lcore_main(void* self) {
  static_cast<Pmd*>(self)->run();
  return 0;
}

void Pmd::run() {
  // Short sleeps must be short: the default 50 us timer slack would make
  // every 1 us nap a 50 us one.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  Rcu* rcu = shared_->rcu;
  rcu->online(index_);
  PmdRcuState rs = pmd_rcu_state(rcu, index_, *shared_->flows);
  uint32_t idle_iters = 0, sleep_us = 0;
  rte_mbuf* pkts[kMaxBurst];
  // One TSC read per iteration: an iteration starts when the previous one
  // (or the previous sleep) ended.
  uint64_t t0 = rte_rdtsc();

  while (!stop_.load(std::memory_order_acquire)) {
    now_ms_ = clock_reader_.now_ms(*shared_->clock, t0);
    uint32_t got = 0;
    // The poll list (and the ports in it) stay valid until this thread's
    // next quiescent point, at the end of the iteration.
    const PollList* pl = poll_list_.load(std::memory_order_acquire);
    // Every packet with offload requests was received in this iteration
    // (recirculations and exec jobs finish in it too), and before any tx
    // batch it is in goes out: a burst from a port with rx offloads turns
    // the checks on for the rest of the iteration.
    offloads_ = false;
    if (pl != lazy_list_) [[unlikely]] {
      lazy_list_ = pl;
      lazy_.fill({});
    }
    if (pl) {
      for (size_t i = 0; i < pl->entries.size(); ++i) {
        const PollList::Entry& e = pl->entries[i];
        // An empty poll of a kernel-backed queue (a tap) is a read() system
        // call, about as costly as forwarding a burst: after each empty
        // poll such a queue sits out twice as many iterations as before,
        // up to kMaxLazySkip, and any packet resets that. The added
        // latency is bounded by kMaxLazySkip iterations (tens of us when
        // busy); a queue that keeps delivering is polled every time.
        LazyPoll* lz = nullptr;
        if (e.lazy && i < lazy_.size()) [[unlikely]] {
          lz = &lazy_[i];
          if (lz->skip) {
            --lz->skip;
            continue;
          }
        }
        const uint16_t n = e.port->rx_burst(e.qid, pkts, kMaxBurst);
        if (lz) {
          lz->backoff = n ? 0 : std::min<uint16_t>(kMaxLazySkip, lz->backoff * 2 + 1);
          lz->skip = lz->backoff;
        }
        if (n == 0) continue;
        offloads_ |= e.offloads;
        got += n;
        counters.rx_batches.add();
        process_rx(e, pkts, n);
        run_recirculations();
      }
    }
    bool busy = got != 0;
    if (!rte_ring_empty(exec_ring_)) {
      run_exec_jobs();
      busy = true;
    }
    if (!rte_ring_empty(reinject_ring_)) {
      run_reinjected();
      busy = true;
    }
    // Held misses are looked at when the control thread reports answered
    // upcalls (their keys' lists only) and once a millisecond for
    // timeouts. Answers for keys nothing is held for are drained too.
    if (held_n_ ? (!rte_ring_empty(answered_ring_) || now_ms_ != held_scan_ms_ ||
                   answered_overflow_.load(std::memory_order_relaxed))
                : !rte_ring_empty(answered_ring_)) {
      run_held();
      busy = true;
    }
    flush_tx();
    counters.rx_packets.add(got);
    if (upcalled_) [[unlikely]] {
      upcalled_ = false;
      ring_doorbell();
    }

    const uint64_t t1 = rte_rdtsc();
    counters.iterations.add();
    if (busy) {
      counters.busy_iterations.add();
      counters.busy_cycles.add(t1 - t0);
    } else {
      counters.idle_cycles.add(t1 - t0);
    }
    t0 = t1;
    pmd_quiescent(rs, emc_);
    if (PmdJob* job = job_.load(std::memory_order_acquire)) [[unlikely]] {
      run_job(job, rs);
      // The job's cycles are busy ones: flow set-up done on this CPU.
      const uint64_t t2 = rte_rdtsc();
      counters.busy_cycles.add(t2 - t0);
      t0 = t2;
      busy = true;
    }

    // Idle back-off: after a run of empty polls, sleep for exponentially
    // longer naps up to sleep_max_us, offline for RCU so that flow removal
    // never waits for a sleeping PMD.
    const uint32_t max_us = shared_->sleep_max_us.load(std::memory_order_relaxed);
    if (busy || max_us == 0) {
      idle_iters = 0;
      sleep_us = 0;
      continue;
    }
    if (++idle_iters < kIdleItersBeforeSleep) continue;
    sleep_us = std::min(max_us, sleep_us ? sleep_us * 2 : 1);
    pmd_offline(rs);
    // While napping, the control thread runs its flow jobs itself rather
    // than wait for this nap to end (Datapath::run_flow_job()).
    napping_.store(true, std::memory_order_relaxed);
    timespec ts{0, static_cast<long>(sleep_us) * 1000};
    if (!job_.load(std::memory_order_relaxed)) nanosleep(&ts, nullptr);
    napping_.store(false, std::memory_order_relaxed);
    const uint64_t s1 = rte_rdtsc();
    counters.idle_cycles.add(s1 - t0);
    t0 = s1;
    pmd_online(rs, emc_);
    counters.sleeps.add();
    counters.sleep_us.add(sleep_us);
  }
  flush_tx();
  rcu->offline(index_);
}

// Inlined into both callers: the first pass's copy drops every states
// test, as the compiler's clone of process() did when it held this code.
[[gnu::always_inline]] inline void Pmd::process_full(rte_mbuf** pkts, uint32_t n, uint32_t in_port,
                                                     const PacketState* states, uint32_t depth,
                                                     QueueCounters* rxq) {
  // Stage 1: key extraction. Malformed packets leave the burst here with
  // their reason counted; the survivors are compacted in place.
  alignas(64) FlowKey keys[kMaxBurst];
  PacketMetadata md;
  md.in_port = in_port;
  alignas(64) FlowKey tunnel_scratch;
  uint32_t from[kMaxBurst];  // survivor k's index in the input, for states[]
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    if (states) md = metadata_from_state(states[i], &tunnel_scratch);
    // A chain (a large offloaded frame) is parsed in its first segment,
    // where the ports that make chains put every header; lengths are
    // checked against the whole frame (key_extract.h).
    const ExtractDrop why =
        m->nb_segs == 1
            ? extract_key(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, md, &keys[k])
            : extract_key_window(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, m->pkt_len, md,
                                 &keys[k]);
    if (why != ExtractDrop::kNone) [[unlikely]] {
      counters.extract_drops[static_cast<size_t>(why)].add();
      if (rxq) rxq->drop(1);  // the port's "rx dropped" includes malformed frames
      rte_pktmbuf_free(m);
      continue;
    }
    pkts[k] = m;
    from[k] = i;
    ++k;
  }
  n = k;
  if (n == 0) return;
  counters.passes.add(n);

  // Stage 2: each packet's megaflow, from megaflow runs, the exact-match
  // cache and the classifier (pmd_lookup.cc); misses go to upcalls.
  const Flow* flows[kMaxBurst];
  lookup_flows(pkts, keys, n, flows);

  // Stage 3: flow stats, accumulated per flow over the burst so each flow's
  // shared counters are written once per burst, not once per packet.
  struct FlowBatch {
    const Flow* flow;
    uint32_t packets;
    uint64_t bytes;
    uint16_t tcp_flags;
  };
  FlowBatch fb[kMaxBurst];
  uint32_t n_fb = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const Flow* f = flows[i];
    if (!f) continue;
    uint32_t b = n_fb;
    if (n_fb && fb[n_fb - 1].flow == f) {
      b = n_fb - 1;  // the common case: runs of one flow
    } else {
      for (uint32_t j = 0; j < n_fb; ++j)
        if (fb[j].flow == f) {
          b = j;
          break;
        }
    }
    if (b == n_fb) fb[n_fb++] = {f, 0, 0, 0};
    fb[b].packets++;
    fb[b].bytes += pkts[i]->pkt_len;
    fb[b].tcp_flags |= rte_be_to_cpu_16(keys[i].tcp_flags);
  }
  for (uint32_t j = 0; j < n_fb; ++j)
    flow_account(fb[j].flow, fb[j].packets, fb[j].bytes, fb[j].tcp_flags, now_ms_);

  // Stage 4: actions, in arrival order, so packets of one flow leave each
  // port in the order they came.
  Sink sink{this};
  cur_depth_ = depth;
  for (uint32_t i = 0; i < n;) {
    const Flow* f = flows[i];
    if (!f) {
      ++i;
      continue;
    }
    const ActionProgram* prog = f->actions.load(std::memory_order_acquire);
    // Plain forwarding (one output, nothing else) needs no packet state and
    // no executor: the most common program takes the shortest path, and the
    // run of packets of this flow that starts here goes to the port's tx
    // batch in one hand-over.
    if (plain_output(*prog)) {
      uint32_t j = i + 1;
      uint64_t bytes = pkts[i]->pkt_len;
      for (; j < n && flows[j] == f; ++j) bytes += pkts[j]->pkt_len;
      tx_enqueue_run(prog->begin()->arg0, &pkts[i], j - i, bytes);
      i = j;
      continue;
    }
    // A tunnel output needs nothing of the packet's state either (set
    // (tunnel) replaces all of the tunnel metadata): a run of packets of
    // one flow is encapsulated at once.
    if (const uint8_t slot = tunnel_output_program(*prog)) {
      uint32_t hashes[kMaxBurst];
      uint32_t j = i;
      for (; j < n && flows[j] == f; ++j) hashes[j - i] = tunnel_flow_hash(keys[j]);
      tunnel_output_run(*prog, slot - 1, &pkts[i], hashes, j - i);
      i = j;
      continue;
    }
    PacketState st = states ? states[from[i]] : PacketState::from_key(keys[i]);
    if (states) {
      st.trunc_max_len = 0;
      // The options now live in the key for the rest of the pass (after
      // decap, states[] points into the headroom, which actions may reuse).
      st.tun.opts = keys[i].tun_opts_data();
    }
    execute_actions(*prog, pkts[i], keys[i], st, sink);
    ++i;
  }
}

void Pmd::process_first_full(rte_mbuf** pkts, uint32_t n, uint32_t in_port, QueueCounters* rxq) {
  process_full(pkts, n, in_port, nullptr, 0, rxq);
}

void Pmd::process_rx(const PollList::Entry& e, rte_mbuf** pkts, uint32_t n) {
  QueueCounters& rxq = e.port->rxq_counters[e.qid];
  const uint32_t in_port = e.port->odp_port();
  // The simple pass sums the bytes of the packets it handles anyway (for
  // flow stats and tx counters), so the queue's byte count is that and the
  // bytes of the packets it leaves, which are read before the full path
  // can send or free them: the burst's pkt_len are not summed twice.
  if (!e.underlay && shared_->simple_mode.load(std::memory_order_acquire)) [[likely]] {
    uint64_t bytes = 0;
    const uint32_t n_rest = process_simple(pkts, n, in_port, nullptr, nullptr, &bytes);
    for (uint32_t i = 0; i < n_rest; ++i) bytes += pkts[i]->pkt_len;
    rxq.add(n, bytes);
    if (n_rest) process_first_full(pkts, n_rest, in_port, &rxq);
    return;
  }
  // The full path, and an underlay burst, which decapsulation changes:
  // counted first.
  uint64_t bytes = 0;
#pragma GCC unroll 4
  for (uint32_t i = 0; i < n; ++i) bytes += pkts[i]->pkt_len;
  rxq.add(n, bytes);
  if (!e.underlay) return process_first_full(pkts, n, in_port, &rxq);
  process(pkts, rx_underlay(e, pkts, n), in_port, nullptr, 0, &rxq);
}

void Pmd::process(rte_mbuf** pkts, uint32_t n, uint32_t in_port, const PacketState* states,
                  uint32_t depth, QueueCounters* rxq) {
  if (!states && shared_->simple_mode.load(std::memory_order_acquire)) {
    n = process_simple(pkts, n, in_port);
    if (n == 0) return;
  }
  process_full(pkts, n, in_port, states, depth, rxq);
}

void Pmd::run_recirculations() {
  // Each round may queue the next pass of the packets it runs; the depth
  // limit in Sink::recirculate bounds the number of rounds.
  while (rq_n_) {
    const uint32_t n = std::min(rq_n_, kMaxBurst);
    rte_mbuf* pkts[kMaxBurst];
    PacketState states[kMaxBurst];
    uint8_t opts[kMaxBurst][kTunOptsMax];  // Geneve options of this round's states
    const uint32_t depth = rq_depth_[0];
    // Take a prefix of packets of the same depth; later ones wait.
    uint32_t take = 0;
    while (take < n && rq_depth_[take] == depth) {
      pkts[take] = rq_pkts_[take];
      states[take] = rq_states_[take];
      if (const uint8_t len = states[take].tun.opts_len) [[unlikely]] {
        std::memcpy(opts[take], rq_opts_[take], len);
        states[take].tun.opts = opts[take];
      }
      ++take;
    }
    std::memmove(rq_pkts_, rq_pkts_ + take, (rq_n_ - take) * sizeof rq_pkts_[0]);
    std::memmove(rq_states_, rq_states_ + take, (rq_n_ - take) * sizeof rq_states_[0]);
    std::memmove(rq_depth_, rq_depth_ + take, (rq_n_ - take) * sizeof rq_depth_[0]);
    rq_n_ -= take;
    for (uint32_t j = 0; j < rq_n_; ++j) {
      if (const uint8_t len = rq_states_[j].tun.opts_len) [[unlikely]]
        std::memcpy(rq_opts_[j], rq_opts_[j + take], len);
    }
    process(pkts, take, 0, states, depth, nullptr);
  }
}

void Pmd::ring_doorbell() {
  // Dekker with Datapath::arm_doorbell(): this side queued (ring release)
  // then reads control_asleep, that side sets control_asleep then reads the
  // rings; the fences keep each store before its load, so at least one
  // side sees the other's write and no upcall waits out the tick unseen.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!shared_->control_asleep.load(std::memory_order_relaxed)) return;
  if (!shared_->control_asleep.exchange(false, std::memory_order_relaxed)) return;
  const uint64_t one = 1;
  // Nonblocking eventfd: a full counter already means "wake up".
  ssize_t r = write(shared_->wake_fd, &one, sizeof one);
  (void)r;
}

void Pmd::run_job(PmdJob* job, PmdRcuState& rs) {
  // Offline: the job is a writer, and it may wait for grace periods
  // (enter_full_mode(), flow deletion), which must not wait for this PMD.
  // It holds no pointer from this iteration: the quiescent point is past.
  pmd_offline(rs);
  try {
    job->fn(job->arg);
  } catch (...) {
    job->error = std::current_exception();
  }
  // The slot is cleared before done is set: once done is seen, the control
  // thread may post the next job, which this store must not erase.
  job_.store(nullptr, std::memory_order_relaxed);
  job->done.store(1, std::memory_order_release);
  pmd_online(rs, emc_);
  counters.jobs.add();
}

void Pmd::run_exec_jobs() {
  Sink sink{this};
  for (uint32_t k = 0; k < kMaxExecPerIter; ++k) {
    void* obj;
    if (rte_ring_sc_dequeue(exec_ring_, &obj) != 0) break;
    rte_mbuf* m = static_cast<rte_mbuf*>(obj);
    ExecJob* job = *static_cast<ExecJob**>(rte_mbuf_to_priv(m));
    PacketState st = PacketState::from_key(job->key);
    cur_depth_ = 0;
    counters.passes.add();
    execute_actions(*job->program, m, job->key, st, sink);
    run_recirculations();
    // Release: the control thread may free the job and its program as soon
    // as it sees done; the executor no longer touches them.
    job->done.store(true, std::memory_order_release);
  }
}

// The iteration's tx batch for `odp_port` (below kMaxPorts), opened on
// first use; when every slot is taken, the open batches go out first.
inline Pmd::TxBatch& Pmd::tx_batch_for(uint32_t odp_port) {
  int slot = tx_slot_[odp_port];
  if (slot < 0) {
    if (n_tx_ == kMaxTxBatches) flush_tx();
    slot = static_cast<int>(n_tx_++);
    tx_slot_[odp_port] = static_cast<int8_t>(slot);
    tx_[slot].odp_port = odp_port;
    tx_[slot].n = 0;
    tx_[slot].bytes = 0;
  }
  return tx_[slot];
}

void Pmd::tx_enqueue(uint32_t odp_port, rte_mbuf* m) {
  if (odp_port >= kMaxPorts) [[unlikely]]
    return drop(m, PmdDrop::kNoSuchPort);
  TxBatch& b = tx_batch_for(odp_port);
  b.pkts[b.n++] = m;
  b.bytes += m->pkt_len;
  // A full batch goes out at once; its slot stays for the rest of the burst.
  if (b.n == kMaxBurst) send_batch(b);
}

void Pmd::tx_enqueue_run(uint32_t odp_port, rte_mbuf** pkts, uint32_t n, uint64_t bytes) {
  if (odp_port >= kMaxPorts) [[unlikely]] {
    for (uint32_t i = 0; i < n; ++i) drop(pkts[i], PmdDrop::kNoSuchPort);
    return;
  }
  // A whole burst for a port with nothing batched would fill its batch and
  // go out at once: it goes out as it is, without the copy into the batch
  // (the usual case of port-to-port forwarding). Packets that may need
  // software offload take the batch's way, which looks for them.
  if (n == kMaxBurst && !offloads_) {
    const int slot = tx_slot_[odp_port];
    if (slot < 0 || tx_[slot].n == 0) {
      if (Port* p = shared_->ports->slots[odp_port].load(std::memory_order_acquire)) [[likely]] {
        transmit(p, pkts, kMaxBurst, bytes);
        return;
      }
    }
  }
  TxBatch& b = tx_batch_for(odp_port);
  if (b.n + n <= kMaxBurst) [[likely]] {  // the run fits: its byte count is known
    std::memcpy(&b.pkts[b.n], pkts, n * sizeof *pkts);
    b.n = static_cast<uint16_t>(b.n + n);
    b.bytes += bytes;
    if (b.n == kMaxBurst) send_batch(b);
    return;
  }
  for (uint32_t i = 0; i < n; ++i) {
    b.pkts[b.n++] = pkts[i];
    b.bytes += pkts[i]->pkt_len;
    if (b.n == kMaxBurst) send_batch(b);
  }
}

void Pmd::send_batch(TxBatch& b) {
  Port* p = shared_->ports->slots[b.odp_port].load(std::memory_order_acquire);
  if (!p) {
    for (uint16_t i = 0; i < b.n; ++i) drop(b.pkts[i], PmdDrop::kNoSuchPort);
    b.n = 0;
    b.bytes = 0;
    return;
  }
  if (offloads_) [[unlikely]] {
    const uint64_t capa = p->tx_offload_capa();
    for (uint16_t i = 0; i < b.n; ++i) {
      if (offload_needed(b.pkts[i], capa)) return send_batch_offload(p, b, capa);
    }
  }
  transmit(p, b.pkts, b.n, b.bytes);
  b.n = 0;
  b.bytes = 0;
}

// The batch in order, with each packet that needs it replaced by what
// SwOffload makes of it (itself completed, or its segments). Output goes
// out whenever the next packet's segments might not fit.
void Pmd::send_batch_offload(Port* p, TxBatch& b, uint64_t capa) {
  constexpr uint32_t kCap = kMaxBurst + kMaxGsoSegments;
  rte_mbuf* out[kCap];
  uint32_t n_out = 0;
  // Segments and completed packets differ from the batch's: count afresh.
  auto send = [&] {
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n_out; ++i) bytes += out[i]->pkt_len;
    transmit(p, out, static_cast<uint16_t>(n_out), bytes);
    n_out = 0;
  };
  for (uint16_t i = 0; i < b.n; ++i) {
    rte_mbuf* m = b.pkts[i];
    if (!offload_needed(m, capa)) {
      out[n_out++] = m;
    } else {
      if (n_out + kMaxGsoSegments > kCap) send();
      if (const PmdDrop why = sw_offload_.complete(m, capa, out, &n_out); why != PmdDrop::kCount)
        drop(nullptr, why);
    }
  }
  if (n_out) send();
  b.n = 0;
  b.bytes = 0;
}

void Pmd::transmit(Port* p, rte_mbuf** pkts, uint16_t n, uint64_t bytes) {
  const uint16_t q = static_cast<uint16_t>(index_ % p->n_txq());
  uint16_t sent;
  if (p->tx_shared()) [[unlikely]] {
    rte_spinlock_lock(&p->tx_lock);
    sent = p->tx_burst(q, pkts, n);
    rte_spinlock_unlock(&p->tx_lock);
  } else {
    sent = p->tx_burst(q, pkts, n);
  }
  if (sent < n) [[unlikely]] {
    for (uint16_t i = sent; i < n; ++i) {
      bytes -= pkts[i]->pkt_len;
      drop(pkts[i], PmdDrop::kTxFull);
    }
    p->txq_counters[q].drop(n - sent);
  }
  p->txq_counters[q].add(sent, bytes);
}

void Pmd::flush_tx() {
  for (uint32_t s = 0; s < n_tx_; ++s) {
    tx_slot_[tx_[s].odp_port] = -1;
    if (tx_[s].n) send_batch(tx_[s]);
  }
  n_tx_ = 0;
}

// ---- tunnel stages (tunnels/tunnel_decap.h, tunnels/tunnel_encap.h) ----

// Decapsulates the tunnel packets of an underlay port's burst and runs them
// through the datapath with in_port = their tunnel port; ARP for our VTEP
// addresses goes to the control thread. Returns how many packets are left
// in pkts (the plain ones, for the caller's own pass). In simple mode each
// run of one tunnel (tunnel_decap.h) takes the simple-match pass with the
// run's tunnel; the packets it leaves, and every packet otherwise, take the
// full path with their state spelled out.
uint32_t Pmd::rx_underlay(const PollList::Entry& e, rte_mbuf** pkts, uint32_t n) {
  rte_mbuf* dec[kMaxBurst];
  uint16_t tp_src[kMaxBurst];
  DecapRun runs[kMaxBurst];
  uint32_t n_runs = 0;
  n = tunnel_underlay_rx_runs(tnl_, *shared_->tunnels, index_, e.port->odp_port(), pkts, n, dec,
                              tp_src, runs, &n_runs);
  if (n_runs == 0) return n;
  const bool simple = shared_->simple_mode.load(std::memory_order_acquire);
  rte_mbuf* full[kMaxBurst];
  PacketState states[kMaxBurst];
  uint32_t n_full = 0;
  for (uint32_t r = 0; r < n_runs; ++r) {
    const DecapRun& run = runs[r];
    rte_mbuf** p = &dec[run.first];
    uint8_t rest_from[kMaxBurst];
    uint32_t n_rest = run.n;
    if (simple) {
      const SimpleTunnel st = simple_tunnel_of(&run.tun);
      n_rest = process_simple(p, run.n, run.tunnel_odp, &st, rest_from);
    }
    for (uint32_t j = 0; j < n_rest; ++j) {
      full[n_full] = p[j];
      decap_state(run, tp_src[run.first + (simple ? rest_from[j] : j)], &states[n_full++]);
    }
  }
  if (n_full) process(full, n_full, 0, states, 0, &e.port->rxq_counters[e.qid]);
  return n;
}

void Pmd::tunnel_output(uint32_t odp_port, uint8_t slot, rte_mbuf* m, const TunnelMeta& tun,
                        uint32_t hash) {
  // Offload requests describe the inner headers, and no underlay device
  // could act on them once the outer headers are in front: segment and
  // complete checksums first, then encapsulate the results as one run.
  // Chains may stay; the underlay port's batch copies them if it cannot
  // send chains.
  rte_mbuf* segs[kMaxGsoSegments];
  uint32_t n = 1;
  segs[0] = m;
  if (m->ol_flags & kTxOffloadRequests) [[unlikely]] {
    n = 0;
    if (const PmdDrop why = sw_offload_.complete(m, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, segs, &n);
        why != PmdDrop::kCount)
      return drop(nullptr, why);
  }
  uint32_t hashes[kMaxGsoSegments];
  std::fill_n(hashes, n, hash);
  uint32_t underlay = kTunnelNoPort;
  n = tunnel_encap_run(tnl_, *shared_->tunnels, index_, odp_port, slot, tun, segs, hashes, n,
                       now_ms_, &underlay);
  if (n) tx_enqueue_run(underlay, segs, n);
}

void Pmd::tunnel_output_run(const ActionProgram& prog, uint8_t slot, rte_mbuf** pkts,
                            const uint32_t* hashes, uint32_t n) {
  for (uint32_t i = 0; i < n;) {
    // A packet with offload requests is segmented first, on its own; the
    // packets around it form the runs.
    if (pkts[i]->ol_flags & kTxOffloadRequests) [[unlikely]] {
      const TunnelMeta tun = set_tunnel_meta(prog.begin()[0]);
      tunnel_output(prog.begin()[1].arg0, slot, pkts[i], tun, hashes[i]);
      ++i;
      continue;
    }
    uint32_t j = i + 1;
    while (j < n && !(pkts[j]->ol_flags & kTxOffloadRequests)) ++j;
    encap_run(prog, slot, &pkts[i], &hashes[i], j - i);
    i = j;
  }
}

void Pmd::encap_run(const ActionProgram& prog, uint8_t slot, rte_mbuf** pkts,
                    const uint32_t* hashes, uint32_t n) {
  const Action* a = prog.begin();
  const TunnelMeta tun = set_tunnel_meta(a[0]);
  uint32_t underlay = kTunnelNoPort;
  const uint32_t k = tunnel_encap_run(tnl_, *shared_->tunnels, index_, a[1].arg0, slot, tun, pkts,
                                      hashes, n, now_ms_, &underlay);
  if (k) tx_enqueue_run(underlay, pkts, k);
}

}  // namespace dpx
