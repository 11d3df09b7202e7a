#include "datapath.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>
#include <utility>

#include "flow_hash.h"
#include "key_extract.h"
#include "odp_actions.h"
#include "odp_key.h"
#include "simple_match.h"

namespace dpx {

uint64_t monotonic_ms() { return monotonic_us() / 1000; }

uint64_t monotonic_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

namespace {

constexpr uint32_t kUpcallsPerTick = 256;   // per PMD per tick
constexpr uint64_t kRankIntervalMs = 1000;  // subtable re-ranking period

// The packet mempool. Without hugepages, mbufs need not be IOVA-contiguous
// (no device DMAs into them), and must not be made so: a pool that keeps
// each object within one 4 KB page spreads 8192 mbufs over 32 MB instead of
// 21, and net_af_xdp registers its umem as objects x object size from the
// pool's start, so mbufs past that end would be silently dropped by the
// kernel on transmit. With hugepages the default layout is kept.
rte_mempool* create_packet_pool(uint32_t n) {
  const int socket = static_cast<int>(rte_socket_id());
  if (rte_eal_has_hugepages())
    return rte_pktmbuf_pool_create("dpx_pkts", n, 256, kMbufPrivSize, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   socket);
  rte_mempool* mp = rte_mempool_create_empty(
      "dpx_pkts", n, sizeof(rte_mbuf) + kMbufPrivSize + RTE_MBUF_DEFAULT_BUF_SIZE, 256,
      sizeof(rte_pktmbuf_pool_private), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (!mp) return nullptr;
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE;
  priv.mbuf_priv_size = kMbufPrivSize;
  if (rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr) != 0) {
    rte_mempool_free(mp);
    return nullptr;
  }
  rte_pktmbuf_pool_init(mp, &priv);
  if (rte_mempool_populate_default(mp) < 0) {
    rte_mempool_free(mp);
    return nullptr;
  }
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

FlowStats to_wire(const FlowStatsSnapshot& s) {
  return FlowStats{s.packets, s.bytes, s.used_ms, s.tcp_flags};
}

// The OVS_TUNNEL_KEY_ATTR_* sequence nested in a key's OVS_KEY_ATTR_TUNNEL,
// if the key has one (only a decapsulated packet's does).
std::optional<NlBuf> tunnel_attrs_of(const NlBuf& key) {
  NlIter it(key);
  NlAttr a;
  while (it.next(&a))
    if (a.type == OVS_KEY_ATTR_TUNNEL) return NlBuf(a.payload.begin(), a.payload.end());
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Datapath> Datapath::create(const DpxdOptions& opts,
                                           const std::vector<unsigned>& pmd_lcores,
                                           std::string* err) {
  std::unique_ptr<Datapath> dp(new Datapath(opts));
  dp->pool_ = create_packet_pool(opts.mbufs);
  if (!dp->pool_) {
    *err = "cannot create the packet mempool (" + std::to_string(opts.mbufs) +
           " mbufs): " + rte_strerror(rte_errno) + "; try a larger --socket-mem or fewer --mbufs";
    return nullptr;
  }
  // Software segmentation (offload.h) points its segments' payloads into
  // the original packet with data-less mbufs: 64 KB / 536-byte MSS is 123
  // of them per packet, a few bursts' worth per PMD is plenty.
  dp->indirect_pool_ =
      offload_indirect_pool("dpx_indirect", 16383, static_cast<int>(rte_socket_id()));
  if (!dp->indirect_pool_) {
    *err = "cannot create the indirect mbuf pool: " + std::string(rte_strerror(rte_errno));
    return nullptr;
  }
  const uint32_t n_pmds = static_cast<uint32_t>(pmd_lcores.size());
  dp->rcu_ = std::make_unique<Rcu>(n_pmds);
  dp->flows_ = std::make_unique<FlowTable>(dp->rcu_.get(), free_action_program, opts.flow_limit,
                                           opts.cpu_isa);
  Pmd::Shared& sh = dp->shared_;
  sh.flows = dp->flows_.get();
  sh.rcu = dp->rcu_.get();
  sh.ports = &dp->ports_;
  sh.pool = dp->pool_;
  sh.indirect_pool = dp->indirect_pool_;
  dp->upcall_offload_ = std::make_unique<SwOffload>(dp->pool_, dp->indirect_pool_);
  sh.sleep_max_us.store(opts.pmd_sleep_max_us);
  sh.upcall_hold_ms = opts.upcall_hold_ms;
  sh.set_emc_insert_inv_prob(opts.emc_insert_inv_prob);
  sh.clock = std::make_unique<TscClock>(rte_get_tsc_hz() / 1000000);
  sh.clock->anchor(rte_rdtsc(), monotonic_us());
  dp->last_clock_anchor_ms_ = monotonic_ms();
  sh.cpu_isa = opts.cpu_isa;
  for (uint32_t i = 0; i < n_pmds; ++i) {
    auto pmd = Pmd::create(i, pmd_lcores[i], &dp->shared_, opts.upcall_queue_size, err);
    if (!pmd) return nullptr;
    dp->rcu_->register_thread(i);
    dp->pmds_.push_back(std::move(pmd));
  }
  dp->held_.assign(n_pmds, nullptr);
  dp->exec_jobs_ = std::make_unique<ExecJob[]>(kMaxExecsInFlight);
  dp->free_exec_jobs_.reserve(kMaxExecsInFlight);
  for (size_t i = 0; i < kMaxExecsInFlight; ++i) dp->free_exec_jobs_.push_back(&dp->exec_jobs_[i]);
  dp->execs_in_flight_.reserve(kMaxExecsInFlight);
  TunnelControl::Env te;
  te.rcu = dp->rcu_.get();
  te.pool = dp->pool_;
  te.exec_ring = dp->pmds_.empty() ? nullptr : dp->pmds_[0]->exec_ring();
  te.n_pmds = n_pmds;
  Datapath* self = dp.get();
  te.port_by_name = [self](const std::string& name) { return self->find_port(PortRef{{}, name}); };
  te.port_by_odp = [self](uint32_t odp) { return self->find_port(PortRef{odp, {}}); };
  for (auto& p : dp->pmds_) te.counters.push_back(&p->tunnel_counters());
  dp->tunnels_ = TunnelControl::create(std::move(te), err);
  if (!dp->tunnels_) return nullptr;
  sh.tunnels = dp->tunnels_->shared();
  return dp;
}

Datapath::Datapath(const DpxdOptions& opts) : opts_(opts) {}

Datapath::~Datapath() {
  stop();
  tunnels_.reset();  // no PMD reads its snapshot any more; frees into pool_
  for (auto& p : pmds_) delete p->set_poll_list(nullptr);
  pmds_.clear();
  flows_.reset();
  rcu_.reset();
  if (pool_) rte_mempool_free(pool_);
  if (indirect_pool_) rte_mempool_free(indirect_pool_);
}

int Datapath::start(std::string* err) {
  for (auto& p : pmds_) {
    if (int rc = rte_eal_remote_launch(Pmd::lcore_main, p.get(), p->lcore()); rc != 0) {
      *err = "cannot launch PMD on lcore " + std::to_string(p->lcore()) + ": " + strerror(-rc);
      return -rc;
    }
  }
  started_ = true;
  return 0;
}

void Datapath::stop() {
  if (started_) {
    for (auto& p : pmds_) p->stop();
    for (auto& p : pmds_) rte_eal_wait_lcore(p->lcore());
    started_ = false;
  }
  // Executes no PMD will run any more: their packets and jobs.
  for (rte_mbuf*& m : held_) {
    if (m) rte_pktmbuf_free(m);
    m = nullptr;
  }
  for (auto& p : pmds_) {
    void* m;
    while (rte_ring_sc_dequeue(p->exec_ring(), &m) == 0)
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
  for (const ExecInFlight& x : execs_in_flight_) free_exec_jobs_.push_back(x.job);
  execs_in_flight_.clear();
  // No PMD runs any more: ports can go without waiting for grace periods.
  for (auto& [odp, port] : by_odp_) ports_.slots[odp].store(nullptr, std::memory_order_relaxed);
  for (auto& p : pmds_) delete p->set_poll_list(nullptr);
  by_odp_.clear();
  if (rcu_) rcu_->synchronize();
}

void Datapath::set_upcall_reader(bool present) {
  shared_.upcalls_enabled.store(present, std::memory_order_relaxed);
}

void Datapath::flow_put(std::span<const FlowPutEntry> entries, std::span<FlowPutResult> results) {
  for (size_t i = 0; i < entries.size(); ++i) {
    const FlowPutEntry& e = entries[i];
    FlowPutResult& r = results[i];
    FlowPutArgs a;
    if (int rc = odp_flow_from_attrs(e.key, e.mask, &a.key, &a.mask, &r.message); rc != 0) {
      r.error = rc;
      continue;
    }
    ActionProgram* prog = nullptr;
    if (int rc = compile_actions(e.actions, &prog, &r.message); rc != 0) {
      r.error = rc;
      continue;
    }
    // A feature probe (DPX_FLOW_PUT_PROBE) is installed like any flow, as
    // control_proto.h says and as the kernel does: ovs-vswitchd's
    // dpif_probe_feature() reads the probe flow back by ufid and then
    // deletes it, and counts the feature as missing if it cannot. The flag
    // only means that a refusal is expected and not worth logging.
    a.ufid = e.ufid;
    a.program = prog;
    a.key_attrs = e.key;
    a.mask_attrs = e.mask;
    a.action_attrs = e.actions;
    a.flags = 0;
    if (e.flags & DPX_FLOW_PUT_CREATE) a.flags |= kFlowPutCreate;
    if (e.flags & DPX_FLOW_PUT_MODIFY) a.flags |= kFlowPutModify;
    if (e.flags & DPX_FLOW_PUT_ZERO_STATS) a.flags |= kFlowPutZeroStats;
    // A megaflow that matches more than the simple fields ends simple mode
    // first (simple_match.h).
    const bool simple = mask_is_simple(a.mask);
    if (!simple) enter_full_mode();
    FlowStatsSnapshot old;
    const bool existed = flows_->find(e.ufid) != nullptr;
    int rc = flows_->put(a, &old);
    if (rc != 0) {
      free_action_program(prog);
      r.error = rc;
      switch (rc) {
        case EEXIST:
          r.message = "flow exists";
          break;
        case ENOENT:
          r.message = "no such flow to modify";
          break;
        case EFBIG:
          r.message = "flow limit reached (" + std::to_string(flows_->max_flows()) + " flows)";
          break;
        case EINVAL:
          r.message = "ufid names a flow with another key or mask";
          break;
        default:
          r.message = strerror(rc);
      }
      continue;
    }
    if (existed)
      r.old_stats = to_wire(old);
    else if (!simple)
      ++non_simple_flows_;
    // A put without a mask matches one packet's key exactly, and for a
    // miss it is ovs-vswitchd's whole answer when it sends no execute: it
    // puts such a drop flow for a packet from a port ofproto does not know
    // yet (ENODEV in upcall_receive(), as when traffic starts on a port the
    // moment it is added). That answers the key's upcall, as an execute
    // does (execute()). Unanswered, the misses the PMDs held for it waited
    // out the hold (--upcall-hold-ms): 2 to 10 keys in each storm of
    // scenario 6, and one storm in four then ended only with the timeout,
    // 500 ms late. The key decoded here is the one the PMD extracted, as
    // ovs-vswitchd builds its exact key from the upcalled packet; a key it
    // could not be (fields the PMD does not extract) only misses the
    // answer, as before.
    if (e.mask.empty()) answer_upcall(hash_key(a.key));
  }
}

void Datapath::flow_del(std::span<const Ufid> ufids, std::span<FlowDelResult> results) {
  // Simple mode comes back in tick(), once these flows are gone.
  for (const Ufid& u : ufids)
    if (const Flow* f = flows_->find(u); f && !mask_is_simple(f->mask())) --non_simple_flows_;
  // The reply carries each flow's final stats, which ovs-vswitchd credits
  // to its rules. Read at unlink time they are not final: a PMD may be in
  // the middle of a burst that found the flow, or hit it in its exact-match
  // cache until it next sweeps (emc.h), and account packets afterwards. So
  // every flow of the batch is unlinked first, then the control thread waits
  // for the two grace periods after which no PMD can touch them (the same
  // two that gate their free, emc.h), and only then reads the stats. The
  // flows are still allocated then: their free is queued for Rcu::reclaim(),
  // which only this thread runs, and not before this function returns.
  std::vector<std::pair<size_t, const Flow*>> removed;
  for (size_t i = 0; i < ufids.size(); ++i) {
    const Flow* f = flows_->find(ufids[i]);
    const int rc = flows_->del(ufids[i], nullptr);
    results[i].error = rc;
    if (rc == 0)
      removed.emplace_back(i, f);
    else
      results[i].message = "no such flow";
  }
  if (removed.empty()) return;
  if (started_) {
    // Sleeping PMDs are offline and do not hold this up.
    for (int gp = 0; gp < 2; ++gp)
      rte_rcu_qsbr_check(rcu_->qsbr(), rte_rcu_qsbr_start(rcu_->qsbr()), true);
  }
  for (const auto& [i, f] : removed) results[i].stats = to_wire(flow_stats(*f));
}

FlowEntry Datapath::flow_entry(const Flow& f, bool terse) const {
  FlowEntry e;
  e.ufid = f.ufid;
  e.stats = to_wire(flow_stats(f));
  if (!terse) {
    e.key = f.key_attrs;
    e.mask = f.mask_attrs;
    e.actions = f.action_attrs;
  }
  return e;
}

int Datapath::flow_get(const Ufid& ufid, FlowEntry* out, std::string* err) {
  const Flow* f = flows_->find(ufid);
  if (!f) {
    *err = "no such flow";
    return ENOENT;
  }
  *out = flow_entry(*f, false);
  return 0;
}

int Datapath::flow_dump(const FlowDumpRequest& req, size_t max_bytes, FlowDumpReply* out,
                        std::string*) {
  out->flows.clear();
  uint64_t cursor = req.cursor;
  size_t bytes = 0;
  // The flow table's cursor is stable across changes; fetch in small steps
  // so the reply can stop exactly at the byte budget.
  for (;;) {
    std::vector<const Flow*> batch;
    const uint64_t next = flows_->dump(cursor, 1, &batch);
    if (batch.empty()) {
      cursor = 0;
      break;
    }
    FlowEntry e = flow_entry(*batch[0], req.terse);
    const size_t sz = flow_entry_encoded_size(e);
    if (!out->flows.empty() && bytes + sz > max_bytes) break;  // resume from `cursor`
    bytes += sz;
    out->flows.push_back(std::move(e));
    cursor = next;
    if (next == 0) break;
    if (req.max_entries && out->flows.size() >= req.max_entries) break;
  }
  out->next_cursor = cursor;
  return 0;
}

int Datapath::flow_flush(std::string*) {
  flows_->flush();
  non_simple_flows_ = 0;
  return 0;
}

int Datapath::execute(const ExecuteRequest& req, std::string* err) {
  FlowKey meta;
  if (int rc = odp_key_from_attrs(req.key, &meta, err); rc != 0) return rc;
  ActionProgram* prog = nullptr;
  if (int rc = compile_actions(req.actions, &prog, err); rc != 0) return rc;
  std::unique_ptr<ActionProgram, void (*)(const ActionProgram*)> guard(prog, free_action_program);
  if (req.probe) return 0;
  if (req.packet.empty() || req.packet.size() > RTE_MBUF_DEFAULT_DATAROOM) {
    *err = "packet must be 1.." + std::to_string(RTE_MBUF_DEFAULT_DATAROOM) + " bytes";
    return EINVAL;
  }
  if (pmds_.empty() || !started_) {
    *err = "no PMD thread is running";
    return EAGAIN;
  }
  // Bounded pipeline: past kMaxExecsInFlight, wait for the oldest only
  // (waiting for all of them serialised the control thread with the PMD,
  // 256 executes at a time, in a storm's pipelined batches). Then a job is
  // free.
  if (execs_in_flight_.size() >= kMaxExecsInFlight) {
    while (!execs_in_flight_.front().job->done.load(std::memory_order_acquire))
      std::this_thread::yield();
    finish_executes(false);
  }
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) {
    *err = "no packet buffer available";
    return ENOBUFS;
  }
  char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(req.packet.size()));
  std::memcpy(d, req.packet.data(), req.packet.size());
  ExecJob* job = free_exec_jobs_.back();
  job->program = prog;
  job->done.store(false, std::memory_order_relaxed);
  // The key the actions see (hash, userspace) is extracted from the packet
  // itself, with the request's metadata.
  alignas(64) FlowKey tunnel_scratch;
  const PacketMetadata md = metadata_from_state(PacketState::from_key(meta), &tunnel_scratch);
  if (extract_key(req.packet.data(), static_cast<uint32_t>(req.packet.size()), md, &job->key) !=
      ExtractDrop::kNone) {
    // A packet key extraction refuses still gets its actions, with only
    // the metadata in the key (as OVS executes any packet it is given).
    job->key = meta;
  } else {
    // ovs-vswitchd executes a missed packet after the flow puts of the
    // same batch: its upcall is answered, and the PMDs may release the
    // later misses of its key that they hold (pmd.h, "In-flight misses").
    answer_upcall(hash_key(job->key));
  }
  *static_cast<ExecJob**>(rte_mbuf_to_priv(m)) = job;
  Pmd& pmd = *pmds_[0];
  if (rte_ring_enqueue(pmd.exec_ring(), m) != 0) {
    rte_pktmbuf_free(m);  // the job stays free: it was not taken yet
    *err = "execute queue full";
    return EAGAIN;
  }
  free_exec_jobs_.pop_back();
  // The reply goes out at once; the PMD runs the job within an iteration.
  // Waiting here, one execute at a time, held the control thread for a PMD
  // iteration per packet and capped flow set-up through OVS (whose
  // handlers execute every missed packet) at a few thousand per second.
  // Ordering is kept where it can be seen: the control server calls
  // barrier() before every request that reads or changes ports, counters
  // or tunnels (control_server.h), which waits for the executes before it.
  execs_in_flight_.push_back({job, std::move(guard)});
  return 0;
}

void Datapath::barrier() { finish_executes(true); }

void Datapath::run_flow_job(void (*fn)(void*), void* arg, size_t executes) {
  // Flow set-up's datapath half on PMD 0's CPU, as OVS-DPDK installs flows
  // in its PMD threads: dpxd's control thread shares the other CPU with
  // ovs-vswitchd's handlers and revalidators, and there decoding and
  // installing a flow was the larger part of its work per new flow. The PMD
  // runs the job between two iterations (its packets wait meanwhile, as
  // OVS-DPDK's do during an upcall); this thread waits for done.
  // Here: no PMD runs, a nested job (PMD 0 would wait for itself), more
  // executes than can be in flight at once, or PMD 0 napping (idle: no
  // CPU to spare is needed, and the nap could last sleep_max_us). Running
  // here is always correct: this thread was the flow table's writer before
  // jobs, and a job never posted leaves it the only one.
  if (!started_ || pmds_.empty() || rte_lcore_id() == pmds_[0]->lcore() ||
      executes > kMaxExecsInFlight || pmds_[0]->napping())
    return fn(arg);
  // Room for the job's executes: execute() waits for the PMD when its
  // bound is reached, and the PMD cannot run executes while it runs the job.
  if (execs_in_flight_.size() + executes > kMaxExecsInFlight) finish_executes(true);
  PmdJob& job = flow_job_;
  job.fn = fn;
  job.arg = arg;
  job.error = nullptr;
  job.done.store(0, std::memory_order_relaxed);
  pmds_[0]->post_job(&job);  // release: fn's inputs are visible to the PMD
  // Spin, yielding, rather than sleep. The job sends its replies and
  // upcalls itself, so this thread's wake-up is off the handlers' path, but
  // in paired storm rounds a sleeping wait (a futex, std::atomic::wait) set
  // flows up at 0.65 to 0.8 of this rate, and OVS's handler then spent 6 to
  // 7.7 us of CPU per flow instead of 4.5: likely CPU 0 idling between
  // hand-overs, each wake-up from idle paid (dearly, on a virtual machine).
  for (uint32_t spins = 0; job.done.load(std::memory_order_acquire) == 0; ++spins) {
    if (spins < 256)
      rte_pause();
    else
      std::this_thread::yield();
  }
  if (job.error) std::rethrow_exception(std::exchange(job.error, nullptr));
}

void Datapath::finish_executes(bool wait) {
  if (wait) {
    // The PMD runs queued jobs within one iteration (it sleeps at most
    // pmd-sleep-max-us when idle); yield the CPU meanwhile.
    for (const auto& x : execs_in_flight_)
      while (!x.job->done.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  // Acquire on done: the PMD no longer touches the job or its program.
  // The finished jobs go back to the free stack, their programs are freed.
  size_t kept = 0;
  for (ExecInFlight& x : execs_in_flight_) {
    if (x.job->done.load(std::memory_order_acquire))
      free_exec_jobs_.push_back(x.job);
    else if (&execs_in_flight_[kept++] != &x)
      execs_in_flight_[kept - 1] = std::move(x);
  }
  execs_in_flight_.erase(execs_in_flight_.begin() + static_cast<ptrdiff_t>(kept),
                         execs_in_flight_.end());
}

int Datapath::dp_stats(DpStats* out, std::string*) {
  *out = {};
  for (auto& p : pmds_) {
    const PmdCounters& c = p->counters;
    out->hit += c.emc_hits.get() + c.megaflow_hits.get();
    out->emc_hit += c.emc_hits.get();
    out->mask_hit += c.masks_visited.get();
    out->missed += c.upcalls.get() + c.lost.get();
    out->lost += c.lost.get();
    out->upcall_queue_drops += c.drops[static_cast<size_t>(PmdDrop::kUpcallQueueFull)].get();
  }
  out->lost += upcalls_undelivered_;
  out->n_flows = flows_->size();
  out->n_masks = flows_->classifier().subtable_count();
  out->flow_limit = flows_->max_flows();
  return 0;
}

int Datapath::pmd_stats(std::vector<PmdStats>* out, std::string*) {
  out->clear();
  for (auto& p : pmds_) {
    const PmdCounters& c = p->counters;
    PmdStats s;
    s.core = rte_lcore_to_cpu_id(static_cast<int>(p->lcore()));
    s.numa = rte_lcore_to_socket_id(p->lcore());
    s.packets = c.rx_packets.get();
    s.passes = c.passes.get();
    s.emc_hits = c.emc_hits.get();
    s.megaflow_hits = c.megaflow_hits.get();
    s.masks_visited = c.masks_visited.get();
    s.upcalls = c.upcalls.get();
    s.lost = c.lost.get();
    s.busy_cycles = c.busy_cycles.get();
    s.idle_cycles = c.idle_cycles.get();
    s.sleeps = c.sleeps.get();
    s.sleep_us = c.sleep_us.get();
    s.rx_batches = c.rx_batches.get();
    s.recirculations = c.recirculations.get();
    s.flow_jobs = c.jobs.get();
    s.hold_timeouts = c.hold_timeouts.get();
    s.cpu_isa = cpu_isa_name(flows_->classifier().isa());
    for (size_t i = 0; i < c.extract_drops.size(); ++i) {
      if (static_cast<ExtractDrop>(i) == ExtractDrop::kNone) continue;
      s.drops.push_back({extract_drop_name(static_cast<ExtractDrop>(i)), c.extract_drops[i].get()});
    }
    for (size_t i = 0; i < c.action_drops.size(); ++i)
      s.drops.push_back({action_drop_name(static_cast<ActionDrop>(i)), c.action_drops[i].get()});
    for (size_t i = 0; i < c.drops.size(); ++i)
      s.drops.push_back({pmd_drop_name(static_cast<PmdDrop>(i)), c.drops[i].get()});
    for (size_t i = 0; i < kTunnelDropCount; ++i) {
      const auto d = static_cast<TunnelDrop>(i);
      s.drops.push_back({tunnel_drop_name(d), p->tunnel_counters().drops_of(d)});
    }
    out->push_back(s);
  }
  return 0;
}

int Datapath::pmd_stats_clear(std::string*) {
  // Racy against the PMDs' own increments by design, as in OVS: a counter
  // bumped concurrently with the reset may keep that one increment.
  for (auto& p : pmds_) {
    p->counters.reset();
    for (auto& d : p->tunnel_counters().drops) d.store(0, std::memory_order_relaxed);
  }
  return 0;
}

int Datapath::dp_set(const DpConfig& cfg, std::string* err) {
  if (cfg.flow_limit && *cfg.flow_limit == 0) {
    *err = "flow limit must be at least 1";
    return EINVAL;
  }
  if (cfg.flow_limit) flows_->set_max_flows(*cfg.flow_limit);
  if (cfg.emc_enable) shared_.emc_enabled.store(*cfg.emc_enable, std::memory_order_relaxed);
  if (cfg.pmd_sleep_max_us)
    shared_.sleep_max_us.store(*cfg.pmd_sleep_max_us, std::memory_order_relaxed);
  return 0;
}

bool Datapath::miss_has_flow(rte_mbuf* m, FlowKey* key, bool* extracted) const {
  *extracted = false;
  const UpcallMeta* um = upcall_meta(m);
  // Chains (offloaded frames) are left to the upcall, which segments them.
  if (um->kind != UpcallKind::kMiss || m->nb_segs != 1) return false;
  alignas(64) FlowKey tunnel_scratch;
  const PacketMetadata md = metadata_from_state(um->state, &tunnel_scratch);
  if (extract_key(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len, md, key) != ExtractDrop::kNone)
    return false;
  *extracted = true;
  // The writer's own lookup: no PMD changes the classifier.
  return flows_->classifier().lookup(*key) != nullptr;
}

bool Datapath::arm_doorbell() {
  shared_.control_asleep.store(true, std::memory_order_relaxed);
  // Store, then read the rings: Pmd::ring_doorbell() says why the fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return upcalls_waiting();
}

bool Datapath::upcalls_waiting() const {
  for (size_t p = 0; p < pmds_.size(); ++p)
    if (held_[p] || !rte_ring_empty(pmds_[p]->upcall_ring())) return true;
  return false;
}

// Misses wait in their PMD's upcall ring, oldest first, for the control
// thread. Each is first looked up again: a flow installed since it missed
// (by the upcall of an earlier packet of the same flow, typically) takes
// it, back in the PMD, and no handler sees it. Only misses that still miss,
// and userspace-action upcalls, become upcalls, and only while a handler
// has room in its backlog; otherwise the oldest waits (held_) and the rest
// stay in the ring, whose overflow the PMD counts as lost. Without this a
// burst of one new flow's packets (a stream after a flush) was all upcalled
// and executed one by one through ovs-vswitchd, and in a storm of new flows
// most upcalls were such duplicates.
void Datapath::drain_upcalls(ControlServer* server) {
  for (size_t p = 0; p < pmds_.size(); ++p) {
    Pmd& pmd = *pmds_[p];
    rte_mbuf*& held = held_[p];
    if (!server || server->upcall_subscribers() == 0) {
      // No handler: what waits is lost.
      rte_mbuf* ms[kUpcallsPerTick + 1];
      const unsigned n = rte_ring_sc_dequeue_burst(pmd.upcall_ring(), reinterpret_cast<void**>(ms),
                                                   kUpcallsPerTick, nullptr);
      if (held) ms[n] = held;
      const unsigned total = n + (held ? 1 : 0);
      held = nullptr;
      upcalls_undelivered_ += total;
      rte_pktmbuf_free_bulk(ms, total);
      continue;
    }
    rte_mbuf* back[kMaxBurst];  // for the reinject ring
    unsigned n_back = 0;
    auto flush_back = [&] {
      const unsigned q = rte_ring_sp_enqueue_burst(pmd.reinject_ring(),
                                                   reinterpret_cast<void**>(back), n_back, nullptr);
      // The reinject ring is as large as the upcall ring they came from;
      // should the PMD still not have emptied it, they are lost.
      upcalls_undelivered_ += n_back - q;
      if (q < n_back) rte_pktmbuf_free_bulk(back + q, n_back - q);
      n_back = 0;
    };
    // While every handler is full, misses are still looked up again, but
    // only a burst's worth per round: once their flow is in (one stream's
    // packets after a flush) no new misses arrive and the ring empties in
    // a few rounds, and in a storm of new flows the control thread must not
    // become a slow path forwarding the storm on the CPU the handlers need.
    uint32_t full_budget = kMaxBurst;
    for (uint32_t k = 0; k < kUpcallsPerTick; ++k) {
      const bool room = server->upcall_room();
      if (!room && full_budget == 0) break;
      rte_mbuf* m = held;
      held = nullptr;
      if (!m) {
        void* obj;
        if (rte_ring_sc_dequeue(pmd.upcall_ring(), &obj) != 0) break;
        m = static_cast<rte_mbuf*>(obj);
      }
      // The miss's key, when miss_has_flow() extracted it (a miss of one
      // segment): the upcall does not extract it again.
      alignas(64) FlowKey key;
      bool have_key;
      if (miss_has_flow(m, &key, &have_key)) {
        back[n_back++] = m;
        if (n_back == kMaxBurst) flush_back();
        if (!room) --full_budget;
        continue;
      }
      if (!room) {
        held = m;  // first in line when a handler has room again
        break;
      }
      publish_upcall_packets(server, m, have_key ? &key : nullptr);
    }
    if (n_back) flush_back();
  }
}

void Datapath::publish_upcall_packets(ControlServer* server, rte_mbuf* m, const FlowKey* miss_key) {
  UpcallMeta um = *upcall_meta(m);  // segments do not carry m's private area
  um.state.tun.opts = um.tun_opts;
  rte_mbuf* segs[kMaxGsoSegments];
  uint32_t n = 0;
  if (m->ol_flags & kTxOffloadRequests) [[unlikely]] {
    // ovs-vswitchd gets packets as a wire would carry them, and executes
    // them back without offload metadata: segment and checksum them here.
    if (upcall_offload_->complete(m, RTE_ETH_TX_OFFLOAD_MULTI_SEGS, segs, &n) != PmdDrop::kCount) {
      ++upcalls_undelivered_;
      return;
    }
  } else {
    segs[n++] = m;
  }
  // The miss's key serves only the packet as it missed, not its segments.
  if (n != 1 || segs[0] != m) miss_key = nullptr;
  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* s = segs[i];
    // Every field is set below; the buffers keep their capacity.
    Upcall& u = upcall_scratch_;
    u.key.clear();
    u.type = um.kind == UpcallKind::kMiss ? DPX_UPCALL_MISS : DPX_UPCALL_ACTION;
    u.pid = um.pid;
    u.in_port = um.state.in_port;
    u.recirc_id = um.state.recirc_id;
    u.dp_hash = um.state.dp_hash;
    u.skb_mark = um.state.skb_mark;
    // The whole packet, across segments.
    u.packet.resize(s->pkt_len);
    if (const void* d = rte_pktmbuf_read(s, 0, s->pkt_len, u.packet.data()); d != u.packet.data())
      std::memcpy(u.packet.data(), d, s->pkt_len);
    alignas(64) FlowKey key;
    if (miss_key) {
      key = *miss_key;
    } else {
      alignas(64) FlowKey tunnel_scratch;
      const PacketMetadata md = metadata_from_state(um.state, &tunnel_scratch);
      extract_key(u.packet.data(), static_cast<uint32_t>(u.packet.size()), md, &key);
    }
    odp_key_to_attrs(key, &u.key);
    // The tunnel metadata also goes on its own, as in the kernel's upcall
    // metadata: the OVS provider builds the packet's metadata from it.
    u.tunnel = tunnel_attrs_of(u.key);
    if (um.userdata_len)
      u.userdata.emplace(um.userdata, um.userdata + um.userdata_len);
    else
      u.userdata.reset();
    ++upcalls_built_;
    // One flow's upcalls go to one handler, in order.
    const uint32_t hash = hash_key(key);
    if (!server->publish_upcall(u, hash)) {
      ++upcalls_undelivered_;
      // No answer will come: the PMDs need not hold the key's later misses
      // for it (pmd.h, "In-flight misses").
      if (um.kind == UpcallKind::kMiss) answer_upcall(hash);
    }
    rte_pktmbuf_free(s);
  }
}

// Simple mode ends before a megaflow that needs more than the simple
// fields is installed: PMDs already in a simple-mode burst must not see it
// with their partial keys, so this waits one grace period after the switch
// (every burst that read the old mode has ended). Sleeping PMDs are offline
// and do not delay it.
void Datapath::enter_full_mode() {
  if (!shared_.simple_mode.load(std::memory_order_relaxed)) return;
  shared_.simple_mode.store(false, std::memory_order_release);
  if (started_) rte_rcu_qsbr_check(rcu_->qsbr(), rte_rcu_qsbr_start(rcu_->qsbr()), true);
}

void Datapath::tick(ControlServer* server) {
  // Back to simple mode once the last non-simple megaflow is gone; a late
  // switch only costs speed, never correctness.
  if (non_simple_flows_ == 0 && !shared_.simple_mode.load(std::memory_order_relaxed))
    shared_.simple_mode.store(true, std::memory_order_release);
  set_upcall_reader(server && server->upcall_subscribers() > 0);
  finish_executes(false);
  // Draining is a flow job too: taking misses, looking them up again and
  // encoding their upcalls is the control thread's largest part of a new
  // flow after the puts and executes (the sends stay here, in the server's
  // send_pushed()).
  if (upcalls_waiting()) {
    struct Job {
      Datapath* dp;
      ControlServer* server;
    } job{this, server};
    run_flow_job(
        [](void* p) {
          auto* j = static_cast<Job*>(p);
          j->dp->drain_upcalls(j->server);
          // Sent from here, as the put runs' replies are (process_flow_run()).
          if (j->server) j->server->send_pushed();
        },
        &job, 0);
  }
  tunnels_->tick(monotonic_ms());
  // A vhost-user guest that enabled more queue pairs: poll them too.
  bool rxqs_changed = false;
  for (auto& [odp, p] : by_odp_) rxqs_changed |= p->refresh_rxqs();
  if (rxqs_changed) republish_poll_lists();
  rcu_->reclaim();
  const uint64_t now = monotonic_ms();
  if (now - last_clock_anchor_ms_ >= TscClock::kAnchorIntervalMs) {
    shared_.clock->anchor(rte_rdtsc(), monotonic_us());
    last_clock_anchor_ms_ = now;
  }
  if (now - last_rank_ms_ >= kRankIntervalMs) {
    flows_->rank_subtables();
    last_rank_ms_ = now;
  }
}

// ---- tunnel underlay (tunnels/tunnel_ctl.h) ----

int Datapath::tnl_ip_add(const TnlIpEntry& e, std::string* err) {
  const int rc = tunnels_->tnl_ip_add(e, err);
  if (rc == 0) republish_poll_lists();  // the port's bursts now go through decap
  return rc;
}

int Datapath::tnl_ip_del(const TnlIpEntry& e, std::string* err) {
  const int rc = tunnels_->tnl_ip_del(e, err);
  if (rc == 0) republish_poll_lists();
  return rc;
}

int Datapath::tnl_ip_dump(std::vector<TnlIpEntry>* out, std::string* err) {
  return tunnels_->tnl_ip_dump(out, err);
}
int Datapath::route_add(const RouteEntry& e, std::string* err) {
  return tunnels_->route_add(e, err);
}
int Datapath::route_del(const RouteEntry& e, std::string* err) {
  return tunnels_->route_del(e, err);
}
int Datapath::route_dump(std::vector<RouteEntry>* out, std::string* err) {
  return tunnels_->route_dump(out, err);
}
int Datapath::neigh_set(const NeighEntry& e, std::string* err) {
  return tunnels_->neigh_set(e, err);
}
int Datapath::neigh_flush(std::string* err) { return tunnels_->neigh_flush(err); }
int Datapath::neigh_dump(std::vector<NeighEntry>* out, std::string* err) {
  return tunnels_->neigh_dump(out, err);
}
int Datapath::tnl_stats(TnlStats* out, std::string*) {
  tunnels_->stats(out);
  return 0;
}

}  // namespace dpx
