// A poll-mode driver thread: polls its rx queues and runs every packet through
//   key extraction -> exact-match cache -> megaflow classifier
//     -> (miss: upcall queue) -> actions -> per-port tx batches -> tx burst.
//
// Threading: one Pmd object per PMD thread. run() is the thread body. The
// control thread creates the object, publishes poll lists with
// set_poll_list(), reads the counters, drains upcall_ring() and feeds
// exec_ring(); nothing else is shared. The PMD takes no locks (except a
// port's tx lock when that port has fewer tx queues than there are PMDs),
// makes no system calls while packets flow (it sleeps only when idle, and
// then goes RCU-offline first; an iteration that queued upcalls may write
// the control thread's eventfd, at most once per control-thread sleep:
// Shared::control_asleep) and allocates nothing but mbufs from the pool.
// Between iterations PMD 0 may run a flow job (PmdJob) for the control
// thread: control-path code, which allocates as the control thread does
// and sends the job's replies and upcalls on the control sockets (one send
// per connection per job).
#pragma once

#include <rte_ring.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <vector>

#include "actions.h"
#include "drop_reasons.h"
#include "emc.h"
#include "flow_table.h"
#include "key_extract.h"
#include "offload.h"
#include "port.h"
#include "rcu.h"
#include "tsc_clock.h"
#include "tunnel_pmd.h"

namespace dpx {

inline constexpr uint32_t kMaxBurst = 32;
// OVS's MAX_RECIRC_DEPTH: a packet may pass through the datapath at most
// this many extra times; deeper recirculation is a loop and is dropped.
inline constexpr uint32_t kMaxRecircDepth = 6;
inline constexpr uint32_t kMaxUpcallUserdata = 160;

// Ports by odp number, as PMDs see them. The control thread publishes a port
// (release) after starting it and clears the slot before stopping it; the
// port is destroyed only after a grace period.
struct PortTable {
  std::array<std::atomic<Port*>, kMaxPorts> slots{};
};

// The rx queues one PMD polls. Immutable once published.
struct PollList {
  struct Entry {
    Port* port;
    uint16_t qid;
    bool underlay = false;  // holds a VTEP address: bursts go through tunnel decap
    bool lazy = false;      // rx_polls_kernel(): skipped for a while after empty polls
    bool offloads = false;  // rx_offloads(): its packets may ask for offloads (offload.h)
  };
  std::vector<Entry> entries;
};

enum class UpcallKind : uint8_t { kMiss = 0, kAction = 1 };

// Kept in the private area of an mbuf on its way from a PMD to the control
// thread through the upcall ring: everything the control thread needs to
// build the upcall, copied because the flow and its action program may be
// gone by the time the upcall is read.
struct UpcallMeta {
  UpcallKind kind;
  uint8_t has_egress_tun_port;
  uint16_t userdata_len;
  uint32_t pid;
  uint32_t egress_tun_port;
  uint32_t orig_len;  // packet length before a trunc()
  PacketState state;  // state.tun.opts is stale: the options are in tun_opts
  uint8_t userdata[kMaxUpcallUserdata];
  // The packet's Geneve options (state.tun.opts_len bytes), copied because
  // what state.tun.opts points at does not outlive the pass.
  uint8_t tun_opts[kTunOptsMax];
};

// An EXECUTE request of the control thread, run by PMD 0 so that only PMDs
// ever transmit (ports then need no tx queue or lock for the control
// thread). The mbuf's private area holds a pointer to it.
// Slots of a PMD's exec ring: more than Datapath keeps in flight.
inline constexpr unsigned kExecRingSize = 512;

struct ExecJob {
  const ActionProgram* program;
  FlowKey key;
  std::atomic<bool> done{false};
};

// Control-thread work that PMD 0 runs on its own CPU, between two of its
// iterations (Datapath::run_flow_job(), docs/ovs.md "Flow set-up"): the
// control thread posts the job and waits, so the job runs as if on the
// control thread (the flow table still has one writer at a time; the post
// and `done` hand that role over and back, release and acquire). The PMD
// runs it RCU-offline, as when it sleeps: the job may wait for grace
// periods, which must not wait for the PMD running it.
struct PmdJob {
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
  std::exception_ptr error;       // what fn threw, rethrown by the poster
  std::atomic<uint32_t> done{0};  // 1 once fn has returned (release)
};

// Private-area size the packet mempool must be created with: UpcallMeta,
// rounded up to whole cache lines. The private area lies between the mbuf
// header (two lines) and the headroom (RTE_PKTMBUF_HEADROOM, whole lines),
// so this keeps each frame starting on a line: a 64-byte frame is then one
// line, not two, for every copy and parse of it (at 528 bytes it started
// 16 bytes into a line, which cost one line more per packet wherever its
// data is not in the cache, e.g. a pcap source replaying 100,000 frames).
inline constexpr uint16_t kMbufPrivSize = static_cast<uint16_t>(
    (sizeof(UpcallMeta) + RTE_CACHE_LINE_SIZE - 1) & ~(RTE_CACHE_LINE_SIZE - 1));
static_assert(kMbufPrivSize % RTE_MBUF_PRIV_ALIGN == 0);
static_assert((sizeof(rte_mbuf) + kMbufPrivSize + RTE_PKTMBUF_HEADROOM) % RTE_CACHE_LINE_SIZE == 0);

// Key-extraction metadata for a packet's next pass from its state. A
// tunnel (rare) is passed through `scratch`, whose tunnel line receives it
// (and its option area the Geneve options st.tun.opts points at).
inline PacketMetadata metadata_from_state(const PacketState& st, FlowKey* scratch) {
  PacketMetadata md;
  md.in_port = st.in_port;
  md.recirc_id = st.recirc_id;
  md.dp_hash = st.dp_hash;
  md.skb_mark = st.skb_mark;
  md.priority = st.priority;
  static_assert(kTunnelMetaKeyBytes == offsetof(FlowKey, tun_opts_len) - offsetof(FlowKey, tun_id));
  const bool has_tunnel = st.tun.tun_id | st.tun.ipv4_dst | st.tun.ipv4_src | st.tun.flags |
                          st.tun.ipv6_dst[15] | st.tun.ipv6_dst[0] | st.tun.opts_len;
  if (has_tunnel) [[unlikely]] {
    std::memcpy(&scratch->tun_id, &st.tun, kTunnelMetaKeyBytes);
    std::memset(&scratch->tun_opts_len, 0, 8);
    scratch->tun_opts_len = st.tun.opts_len;
    if (st.tun.opts_len) std::memcpy(scratch->tun_opts_data(), st.tun.opts, st.tun.opts_len);
    md.tunnel = scratch;
  }
  return md;
}

inline UpcallMeta* upcall_meta(rte_mbuf* m) {
  return static_cast<UpcallMeta*>(rte_mbuf_to_priv(m));
}

// A counter with a single writer (its PMD) and concurrent readers.
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
  void reset() { v.store(0, std::memory_order_relaxed); }
};

struct alignas(64) PmdCounters {
  Counter iterations, busy_iterations;
  Counter busy_cycles, idle_cycles;  // TSC cycles in iterations with / without packets
  Counter rx_packets, rx_batches;    // packets received from ports, non-empty rx bursts
  Counter passes;                    // datapath passes (rx + recirculations + executes)
  Counter emc_hits, megaflow_hits;
  Counter masks_visited;  // subtables searched by classifier lookups (Classifier::lookup_batch)
  Counter upcalls;        // misses and userspace actions queued
  Counter lost;           // upcalls dropped (queue full, no reader, no mbuf)
  Counter recirculations;
  Counter sleeps, sleep_us;
  Counter jobs;  // PmdJobs run (put/execute runs and upcall drains of the control thread)
  // Upcalls in flight that got no answer within upcall_hold_ms ("In-flight
  // misses"): their keys' held misses then went up one by one.
  Counter hold_timeouts;
  std::array<Counter, static_cast<size_t>(PmdDrop::kCount)> drops;
  std::array<Counter, static_cast<size_t>(ExtractDrop::kCount)> extract_drops;
  std::array<Counter, kActionDropCount> action_drops;

  void reset();
};

class Pmd {
 public:
  // What every PMD shares, owned by the Datapath.
  struct Shared {
    FlowTable* flows = nullptr;
    Rcu* rcu = nullptr;
    PortTable* ports = nullptr;
    rte_mempool* pool = nullptr;
    rte_mempool* indirect_pool = nullptr;      // data-less mbufs for software GSO
    std::atomic<bool> upcalls_enabled{false};  // an upcall reader is attached
    // The upcall doorbell. The control thread drains upcall rings after
    // each round of socket events, or after its 1 ms tick when none come;
    // in a storm that tick made ovs-vswitchd's handlers wait for upcalls
    // while the control thread slept. So before it waits it sets
    // control_asleep (Datapath::arm_doorbell()), and a PMD that queued
    // upcalls in an iteration clears it and writes wake_fd (the control
    // server's eventfd): at most one system call per control-thread sleep,
    // in an iteration that had misses, never per packet.
    std::atomic<bool> control_asleep{false};
    int wake_fd = -1;
    std::atomic<bool> emc_enabled{true};
    // Every installed megaflow matches only simple fields (simple_match.h):
    // first passes take Pmd::process_simple(). The control thread clears it
    // and waits a grace period before installing any other megaflow.
    std::atomic<bool> simple_mode{true};
    // A classifier hit enters the EMC when a per-PMD random number is at or
    // below this (UINT32_MAX: always; 0: never). See set_emc_insert_inv_prob.
    std::atomic<uint32_t> emc_insert_threshold{UINT32_MAX / 100};
    void set_emc_insert_inv_prob(uint32_t n) {
      emc_insert_threshold.store(n == 0 ? 0 : UINT32_MAX / n, std::memory_order_relaxed);
    }
    std::atomic<uint32_t> sleep_max_us{250};
    // How long a key's later misses are held for its upcall's answer
    // ("In-flight misses"); set before the PMDs start (--upcall-hold-ms).
    uint32_t upcall_hold_ms = 500;
    TunnelShared* tunnels = nullptr;  // tunnel stages (tunnels/); null: none
    // Flows' `used` clock, re-anchored by the control thread (tsc_clock.h).
    std::unique_ptr<TscClock> clock;
    CpuIsa cpu_isa = CpuIsa::kSse42;  // vector level of the EMC's compares (cpu_isa.h)
  };

  // Control thread. `index` is the PMD's RCU thread id and tx queue number.
  // Returns nullptr with *err set if the rings cannot be created.
  static std::unique_ptr<Pmd> create(uint32_t index, unsigned lcore, Shared* shared,
                                     uint32_t upcall_ring_size, std::string* err);
  ~Pmd();

  // The thread body, for rte_eal_remote_launch(). Returns when stop() is called.
  static int lcore_main(void* self);
  void stop() { stop_.store(true, std::memory_order_release); }

  // Control thread: publish a new poll list; returns the previous one, which
  // the caller frees after an RCU grace period.
  const PollList* set_poll_list(const PollList* pl) {
    return poll_list_.exchange(pl, std::memory_order_acq_rel);
  }
  const PollList* poll_list() const { return poll_list_.load(std::memory_order_acquire); }

  uint32_t index() const { return index_; }
  unsigned lcore() const { return lcore_; }
  rte_ring* upcall_ring() const { return upcall_ring_; }
  rte_ring* exec_ring() const { return exec_ring_; }
  // Control thread -> PMD: misses taken from upcall_ring() for which a flow
  // has been installed since (Datapath::drain_upcalls()). The PMD looks
  // them up again and forwards them, as OVS's userspace datapath looks a
  // miss up once more before its upcall. Each mbuf keeps its UpcallMeta.
  rte_ring* reinject_ring() const { return reinject_ring_; }

  // Control thread: ovs-vswitchd has answered the upcall of a miss whose
  // key hashes (hash_key()) to `hash` (it sent the EXECUTE of its packet,
  // after the batch's flow puts), or the upcall was dropped on its way. If this PMD holds that
  // key's later misses (see "In-flight misses" below), they are looked up again, and those that
  // still miss go up as upcalls: OVS chose not to install a flow (flow limit, a put refused), so
  // each packet is its to handle. Control thread only (the answered ring's
  // single producer).
  void upcall_answered(uint32_t hash);

  // Control thread: runs `job` on this PMD's thread at the end of its
  // current iteration and sets job->done. One job at a time: post the next
  // only after the last one is done (Datapath keeps one job object).
  void post_job(PmdJob* job) { job_.store(job, std::memory_order_release); }
  // True while the PMD naps (idle back-off, RCU-offline): a job posted now
  // waits for the nap's end, up to sleep_max_us. A hint only: it may change
  // at any time.
  bool napping() const { return napping_.load(std::memory_order_relaxed); }

  PmdCounters counters;
  TunnelPmdCounters& tunnel_counters() { return tnl_.counters; }

 private:
  struct Sink;
  friend struct Sink;

  Pmd(uint32_t index, unsigned lcore, Shared* shared);
  void run();
  // One datapath pass over n packets. First pass: every packet arrived on
  // `in_port` with no other metadata (states == nullptr) from the rx queue
  // counted by `rxq`. Recirculation: states[i] is packet i's state, depth
  // its pass number, rxq null.
  void process(rte_mbuf** pkts, uint32_t n, uint32_t in_port, const PacketState* states,
               uint32_t depth, QueueCounters* rxq);
  // The same without the simple-match pass: key extraction and all.
  void process_full(rte_mbuf** pkts, uint32_t n, uint32_t in_port, const PacketState* states,
                    uint32_t depth, QueueCounters* rxq);
  // process_full() of a first pass (no states, depth 0).
  [[gnu::noinline]] void process_first_full(rte_mbuf** pkts, uint32_t n, uint32_t in_port,
                                            QueueCounters* rxq);
  // A first pass of the n packets an rx burst of entry e brought, counted
  // as its queue's received packets.
  void process_rx(const PollList::Entry& e, rte_mbuf** pkts, uint32_t n);
  void handle_misses(rte_mbuf** pkts, const FlowKey* const* keys, uint32_t n);
  // Looks the held misses whose upcall was answered (the answered ring) or,
  // once a millisecond, has timed out up again (a second first pass, as
  // run_reinjected()); the others stay held.
  void run_held();
  // Stage 2 of a pass (pmd_lookup.cc): flows[i] = the megaflow of packet i
  // (key keys[i]) for i < n, from a megaflow run, the EMC or the
  // classifier; a miss gets nullptr and its packet goes to handle_misses().
  void lookup_flows(rte_mbuf** pkts, const FlowKey* keys, uint32_t n, const Flow** flows);
  // The same for the packets idx[0..m) (ascending) alone, staged: EMC
  // probes and classifier lookups of the whole set overlap.
  void lookup_staged(rte_mbuf** pkts, const FlowKey* keys, const uint32_t* idx, uint32_t m,
                     const Flow** flows);
  // The simple-match pass of a first-pass burst (pmd_simple.cc). Handles
  // what it can and leaves the packets that need full key extraction at the
  // front of pkts, misses too (the full path keys them: "In-flight misses"
  // below); returns their number. For a run of decapsulated packets
  // (tunnel_decap.h), `tun` is the run's tunnel and rest_from[j] receives
  // the index in pkts of the j-th packet left (misses are left too: the
  // full path upcalls them with their own tunnel metadata). If
  // handled_bytes is not null, it receives the sum of the pkt_len of the
  // packets handled (all but those left).
  uint32_t process_simple(rte_mbuf** pkts, uint32_t n, uint32_t in_port,
                          const SimpleTunnel* tun = nullptr, uint8_t* rest_from = nullptr,
                          uint64_t* handled_bytes = nullptr);
  // True if `prog` is plain forwarding: one output, to a port that needs
  // nothing from the packet's state (a tunnel port needs its tunnel
  // metadata, so it goes through the executor).
  bool plain_output(const ActionProgram& prog) const {
    if (prog.n_actions != 1 || prog.begin()->op != ActionOp::kOutput) return false;
    const TunnelShared* t = shared_->tunnels;
    return !t || t->slot_of(prog.begin()->arg0) == 0;
  }
  void run_recirculations();
  void run_exec_jobs();
  // Wakes the control thread if it sleeps (Shared::control_asleep).
  void ring_doorbell();
  // Runs a posted PmdJob, RCU-offline, and marks it done.
  void run_job(PmdJob* job, PmdRcuState& rs);
  void run_reinjected();
  void tx_enqueue(uint32_t odp_port, rte_mbuf* m);
  // The same for n packets to one port, with one batch lookup; `bytes` is
  // the sum of their pkt_len. A whole burst for a port with nothing batched
  // goes to the port as the array `pkts` (which the port's driver may use
  // while it sends: the caller must not change it during the call).
  void tx_enqueue_run(uint32_t odp_port, rte_mbuf** pkts, uint32_t n, uint64_t bytes);
  // The same, summing the run's bytes itself.
  void tx_enqueue_run(uint32_t odp_port, rte_mbuf** pkts, uint32_t n) {
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < n; ++i) bytes += pkts[i]->pkt_len;
    tx_enqueue_run(odp_port, pkts, n, bytes);
  }
  struct TxBatch;
  TxBatch& tx_batch_for(uint32_t odp_port);
  void send_batch(TxBatch& b);
  // Hands n packets of `bytes` bytes in all to port p's tx queue and counts
  // them; drops what the device does not take.
  void transmit(Port* p, rte_mbuf** pkts, uint16_t n, uint64_t bytes);
  // send_batch() for a batch with packets that need software offload.
  void send_batch_offload(Port* p, TxBatch& b, uint64_t capa);
  void flush_tx();
  uint32_t next_random() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 17;
    rng_ ^= rng_ << 5;
    return rng_;
  }
  // Tunnel stages (pmd.cc, end of file): decap of an underlay rx burst, and
  // output to a tunnel port.
  uint32_t rx_underlay(const PollList::Entry& e, rte_mbuf** pkts, uint32_t n);
  // Output of m to tunnel port odp_port (counter slot `slot`) with metadata
  // `tun`; `hash` is the inner flow's tunnel_flow_hash().
  void tunnel_output(uint32_t odp_port, uint8_t slot, rte_mbuf* m, const TunnelMeta& tun,
                     uint32_t hash);
  // The counter slot + 1 of the tunnel port that `prog` sends to when it is
  // exactly set(tunnel(...)) then an output to a tunnel port (what OVS puts
  // for every tunnel output); 0 for any other program.
  uint8_t tunnel_output_program(const ActionProgram& prog) const {
    if (prog.n_actions != 2) return 0;
    const Action* a = prog.begin();
    if (a[0].op != ActionOp::kSetTunnel || a[1].op != ActionOp::kOutput) return 0;
    const TunnelShared* t = shared_->tunnels;
    return t ? t->slot_of(a[1].arg0) : 0;
  }
  // Runs such a program on n packets of one flow (hashes[i] is packet i's
  // tunnel_flow_hash()): their outputs are encapsulated as runs (encap_run),
  // a packet with offload requests segmented first on its own
  // (tunnel_output), all in order.
  void tunnel_output_run(const ActionProgram& prog, uint8_t slot, rte_mbuf** pkts,
                         const uint32_t* hashes, uint32_t n);
  // The same for n packets without offload requests whose flow hashes
  // (tunnel_flow_hash) are hashes[i]: one tunnel_encap_run(), and what it
  // encapsulated to the underlay port's batch together.
  void encap_run(const ActionProgram& prog, uint8_t slot, rte_mbuf** pkts, const uint32_t* hashes,
                 uint32_t n);
  void drop(rte_mbuf* m, PmdDrop why) {
    if (m) rte_pktmbuf_free(m);
    counters.drops[static_cast<size_t>(why)].add();
  }

  const uint32_t index_;
  const unsigned lcore_;
  Shared* const shared_;
  std::atomic<bool> stop_{false};
  // A posted PmdJob, or null. Read once an iteration: one load of a line
  // the control thread writes only when it posts.
  std::atomic<PmdJob*> job_{nullptr};
  std::atomic<bool> napping_{false};
  // Set when this iteration queued an upcall: ring the doorbell (Shared).
  bool upcalled_ = false;
  std::atomic<const PollList*> poll_list_{nullptr};
  rte_ring* upcall_ring_ = nullptr;
  rte_ring* exec_ring_ = nullptr;
  rte_ring* reinject_ring_ = nullptr;
  Emc emc_;
  uint64_t now_ms_ = 0;  // refreshed once per iteration
  TscClock::Reader clock_reader_;
  uint32_t rng_;  // xorshift32 state for EMC insertion

  // Back-off of the poll list's lazy entries (PollList::Entry::lazy), by
  // entry index; reset when a new poll list is published.
  struct LazyPoll {
    uint16_t skip = 0;     // iterations still to sit out
    uint16_t backoff = 0;  // the last back-off
  };
  static constexpr uint16_t kMaxLazySkip = 31;
  static constexpr size_t kMaxLazyEntries = 64;  // entries past this are polled every time
  std::array<LazyPoll, kMaxLazyEntries> lazy_{};
  const PollList* lazy_list_ = nullptr;

  // Per-port tx batches of the current iteration.
  struct TxBatch {
    uint32_t odp_port;
    uint16_t n;
    uint64_t bytes;  // pkt_len of pkts[0..n), summed as they are added
    rte_mbuf* pkts[kMaxBurst];
  };
  static constexpr uint32_t kMaxTxBatches = 16;
  std::array<TxBatch, kMaxTxBatches> tx_{};
  uint32_t n_tx_ = 0;
  std::array<int8_t, kMaxPorts> tx_slot_;  // odp port -> index in tx_, -1 when none

  // Packets waiting for their next pass (recirculation).
  static constexpr uint32_t kRecircQueue = 2 * kMaxBurst;
  rte_mbuf* rq_pkts_[kRecircQueue];
  PacketState rq_states_[kRecircQueue];
  uint8_t rq_depth_[kRecircQueue];
  uint8_t rq_opts_[kRecircQueue][kTunOptsMax];  // Geneve options of rq_states_[i]
  uint32_t rq_n_ = 0;
  uint32_t cur_depth_ = 0;  // pass number of the packet whose actions run now

  TunnelPmd tnl_;  // tunnel counters and encap templates

  // In-flight misses. A new flow's packets keep arriving while its first
  // miss's upcall crosses to ovs-vswitchd and back (tens of microseconds
  // to milliseconds); OVS's own userspace datapath handles the upcall in
  // the PMD, so its rx simply waits, but this PMD keeps forwarding, and
  // each of those packets used to become an upcall of its own, re-examined
  // by the control thread (key extraction, lookup) on the CPU ovs-vswitchd
  // needs: about a hundred per flow in a storm of new flows. Now the first
  // miss of a key marks its hash in pending_ and goes up; the key's later
  // misses are held here, bounded per key and in all, until the control
  // thread reports the upcall answered (upcall_answered()) or
  // upcall_hold_ms pass, and are then looked up again: forwarded by the flow
  // that has been installed, or upcalled (each: an answer without a flow,
  // or none, means OVS is to see them all, as before the hold existed). Held packets may leave
  // after later packets of their flow that hit the new flow (as upcalled ones always could). Past
  // either bound a miss is dropped and counted (lost, upcall_hold_full), like an overflow of the
  // upcall ring.
  //
  // pending_: direct-mapped by hash_key(); each slot is the key hash (high
  // half) and the upcall's time in ms, shifted left by one, with bit 0 set
  // once answered (low half); 0 is empty. Written by this PMD (new upcalls)
  // and the control thread (answered, by compare-exchange); a lost race
  // only costs one duplicate upcall or one upcall_hold_ms wait. A hash
  // collision is as harmless: the other key's misses are held until the
  // answer or the timeout, then looked up again.
  // Many slots: in a storm thousands of keys are in flight at once, and a
  // key whose slot another key takes is upcalled again at its next miss.
  static constexpr uint32_t kPendingSlots = 65536;
  // An upcall not answered within Shared::upcall_hold_ms (500 by default)
  // is taken as lost. Upcalls that dpxd itself drops are reported at once
  // (upcall_answered()), so this only bounds the wait for one that
  // ovs-vswitchd never answers; it is long because in a storm of new flows
  // an upcall waits behind the handlers' whole backlog, and a shorter wait
  // then upcalled every held packet.
  static constexpr uint32_t kMaxHeld = 2048;
  static constexpr uint32_t kMaxHeldPerKey = 1024;
  std::unique_ptr<std::atomic<uint64_t>[]> pending_;
  // The held misses: per pending_ slot a FIFO list of entries of held_[]
  // (linked by held_next_), so that an answer releases its key's packets
  // without looking at anyone else's: in a storm thousands of packets are
  // held and answers come every few microseconds. Free entries form a list
  // too. Their UpcallMeta is filled in as for an upcall.
  static constexpr uint16_t kNoHeld = 0xffff;
  struct HeldList {
    uint16_t first = kNoHeld, last = kNoHeld;
    uint16_t count = 0;
    uint16_t active_pos = 0;  // its index in active_ while count != 0
  };
  std::array<rte_mbuf*, kMaxHeld> held_{};
  std::array<uint16_t, kMaxHeld> held_next_{};
  uint16_t held_free_ = 0;  // first free entry of held_
  uint32_t held_n_ = 0;
  std::unique_ptr<HeldList[]> held_lists_;  // kPendingSlots
  // The slots whose list is not empty, for the timeout scan (once a ms).
  std::array<uint16_t, kMaxHeld> active_{};
  uint32_t n_active_ = 0;
  // Key hashes of answered upcalls, from the control thread
  // (upcall_answered()); single producer, single consumer. If it is ever
  // full, answered_overflow_ makes the next look a scan of every list.
  static constexpr uint32_t kAnsweredRingSize = 4096;
  rte_ring* answered_ring_ = nullptr;
  std::atomic<bool> answered_overflow_{false};
  uint64_t held_scan_ms_ = 0;  // now_ms_ at the last timeout scan
  void hold(uint32_t slot, rte_mbuf* m);
  // Empties slot's list into pkts[*n..] and states, looking them up again
  // (look_up_held) whenever kMaxBurst are collected.
  void release_held(uint32_t slot, rte_mbuf** pkts, PacketState* states, uint32_t* n);
  void look_up_held(rte_mbuf** pkts, const PacketState* states, uint32_t n);
  bool retrying_ = false;  // in run_held(): misses are not counted again

  // Set in an iteration that received packets from a port with
  // rx_offloads(): only then does the transmit path look at packets'
  // offload requests at all.
  bool offloads_ = false;
  SwOffload sw_offload_;  // rte_gso context and checksum completion
};

}  // namespace dpx
