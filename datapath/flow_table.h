// The datapath flow table: megaflows (ufid, masked key, mask, actions, stats)
// as ovs-vswitchd puts them, indexed by ufid for the control thread and by
// the megaflow classifier for PMD threads.
//
// Ownership and lifetime:
//  - The FlowTable owns every Flow and, once put() succeeds, the flow's
//    ActionProgram; programs are freed with the deleter given at construction.
//  - A removed flow (del, flush) is unpublished at once, marked dead, the
//    removal epoch is bumped, and it is freed only after TWO grace periods,
//    because per-PMD exact-match caches may still point to it (the argument
//    is in emc.h). An action program replaced by a modify is freed after one
//    grace period: PMDs load flow->actions afresh for every burst and hold the
//    program only inside a burst.
//  - Deferred frees run in Rcu::reclaim(), which the owner of the Rcu calls
//    periodically from the control thread.
//
// Thread-safety: one writer at a time calls every FlowTable method: the
// control thread, or PMD 0 running a flow job for it while it waits
// (PmdJob in pmd.h), the hand-over ordered by release and acquire; "control
// thread" below means that writer. Otherwise PMDs only read:
// classifier().lookup_batch(), the Flow fields marked "PMD" below,
// removal_epoch(), and flow_account() for stats.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "classifier.h"
#include "flow_key.h"
#include "nlattr.h"

namespace dpx {

struct ActionProgram;  // defined by the action compiler
class Rcu;

// Flow::magic while the flow is alive, and after it is freed (a debugging
// aid: a reader that sees kFlowPoison used a flow after its grace periods).
inline constexpr uint32_t kFlowMagic = 0xf10e'a11e;
inline constexpr uint32_t kFlowPoison = 0xdead'f10e;

// A megaflow. Flows are variable-sized, so they are made by create() and
// freed by destroy() only (FlowPtr for an owning handle): a flow whose mask
// covers no Geneve option byte (almost every flow) stores only the 192-byte
// heads of its key and mask; one whose mask covers options also stores the
// two 256-byte option areas, after the fixed part. The key is the last
// member, so its option area follows its head in memory and the classifier
// reads key_words() as one 56-word key for those flows; for the others it
// never reads past the head, because their subtable's mask has no option
// word (FlowKey's layout puts the options after the head).
struct alignas(64) Flow {
  // ---- cache line 0: read by PMDs on every hit, then fixed cold fields ----
  // The action program; replaced by a modify (release store), the old one is
  // freed after a grace period. PMDs load it with acquire once per burst.
  std::atomic<const ActionProgram*> actions{nullptr};
  // Set (release) by the control thread when the flow is removed, before the
  // removal epoch is bumped; exact-match caches drop dead flows (emc.h).
  std::atomic<bool> dead{false};
  // The key and mask have their option areas (the mask covers options).
  const bool has_opts;
  // kFlowMagic while allocated, kFlowPoison once freed.
  uint32_t magic = kFlowMagic;
  // Control thread only, written once before the flow is published.
  Ufid ufid{};
  uint64_t dump_seq = 0;  // creation order, the dump cursor (never reused)
  NlBuf key_attrs;        // the ODP key as put, returned by dumps unchanged

  // ---- cache line 1: stats, written by PMDs once per flow per burst ----
  // Relaxed atomics: several PMDs may hit one flow; the control thread reads
  // and may zero them. mutable so that PMDs, which see const Flow*, account.
  alignas(64) mutable std::atomic<uint64_t> packets{0};
  mutable std::atomic<uint64_t> bytes{0};
  // Last use, in milliseconds of the monotonic clock the PMDs pass in.
  mutable std::atomic<uint64_t> used_ms{0};
  // OR of the TCP flags seen, host byte order (as dpif_flow_stats).
  mutable std::atomic<uint16_t> tcp_flags{0};

  // ---- cold: control thread only ----
  NlBuf mask_attrs;    // as put
  NlBuf action_attrs;  // as put or last modified
  // The non-zero words of the mask (indexes into FlowKey::words(), ascending),
  // for the PMD's megaflow runs (flow_in_run()); kNoRunWords when the mask
  // covers Geneve options, which a run does not compare. Set before the
  // flow is published, never changed (a modify keeps the mask). Read-only
  // for PMDs, so they share a line with the cold attributes, not the stats.
  static constexpr uint8_t kNoRunWords = 0xff;
  uint8_t n_run_words = kNoRunWords;
  // Every run word lies in the key's first line (words 0-7), as for nearly
  // every megaflow: flow_in_run() then compares that line whole.
  bool run_line0 = false;
  uint8_t run_words[FlowKey::kHeadWords];
  FlowKeyHead mask_head{};

  // ---- last: the masked key, compared by the classifier (PMD) ----
  // Most megaflows only match words of its first line, so a lookup usually
  // touches that line and line 0. With has_opts, the key's option area
  // (FlowKey::tun_opts) follows, then the mask's.
  FlowKeyHead key_head{};

  // A flow without options whose key and mask are zero (it matches every
  // packet): fixed-size, for tests that only need flow identities. Flows
  // that match something come from create() and go through destroy().
  Flow() : has_opts(false) {}
  ~Flow() = default;
  Flow(const Flow&) = delete;
  Flow& operator=(const Flow&) = delete;

  // A flow matching `mask` whose key is `key & mask`; has_opts if the mask
  // covers any option byte. Throws std::bad_alloc.
  static Flow* create(const FlowKey& key, const FlowKey& mask);
  // Frees a flow from create() (not its action program).
  static void destroy(Flow* flow);
  // The bytes create() allocates for a flow with this mask.
  static size_t alloc_size(const FlowKey& mask);

  // The masked key's words: key_word_count() of them, the rest of a FlowKey
  // being zero (the mask has no word there).
  const uint64_t* key_words() const { return key_head.w; }
  uint32_t key_word_count() const { return has_opts ? FlowKey::kWords : FlowKey::kHeadWords; }
  // Copies of the masked key and the mask as whole FlowKeys, for the control
  // thread and tests (448 bytes each: not for PMDs).
  FlowKey key() const;
  FlowKey mask() const;
  // True if this flow's masked key is `masked_key`, which must be masked by
  // this flow's mask.
  bool key_is(const FlowKey& masked_key) const;

 private:
  explicit Flow(bool opts) : has_opts(opts) {}
  const uint64_t* mask_opts() const { return key_words() + FlowKey::kWords; }
  uint64_t* tail() { return key_head.w + FlowKey::kHeadWords; }
};

static_assert(offsetof(Flow, actions) == 0, "PMD hit fields start cache line 0");
static_assert(offsetof(Flow, key_attrs) + sizeof(NlBuf) <= 64);
static_assert(offsetof(Flow, packets) == 64, "stats must have their own cache line");
static_assert(offsetof(Flow, tcp_flags) < 128);
static_assert(offsetof(Flow, key_head) + sizeof(FlowKeyHead) == sizeof(Flow),
              "the key must be last: its option area follows it");
static_assert(sizeof(Flow) == 576, "a flow without options: 9 cache lines");
static_assert(offsetof(Flow, run_words) >= 128 &&
                  offsetof(Flow, run_words) + FlowKey::kHeadWords <= offsetof(Flow, mask_head),
              "run words: read-only, past the stats line");
static_assert(std::atomic<const ActionProgram*>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// An owning handle on a flow that no table owns (tests, tools).
struct FlowDeleter {
  void operator()(Flow* f) const { Flow::destroy(f); }
};
using FlowPtr = std::unique_ptr<Flow, FlowDeleter>;

// Accounts a burst's packets of one flow: called by a PMD once per flow per
// burst (not per packet). `tcp_flags` in host byte order, 0 if not TCP.
inline void flow_account(const Flow* flow, uint32_t packets, uint64_t bytes, uint16_t tcp_flags,
                         uint64_t now_ms) {
  flow->packets.fetch_add(packets, std::memory_order_relaxed);
  flow->bytes.fetch_add(bytes, std::memory_order_relaxed);
  flow->used_ms.store(now_ms, std::memory_order_relaxed);
  if (tcp_flags != 0) flow->tcp_flags.fetch_or(tcp_flags, std::memory_order_relaxed);
}

// Sets flow->n_run_words and run_words from the flow's mask (control
// thread, before the flow is published).
void flow_set_run_words(Flow* flow);

// True if the packet key `key` belongs to `flow`, i.e. (key & mask) == the
// flow's key, compared on the mask's non-zero words only: a PMD asks this of
// the packets that follow one whose flow it looked up, so that a run of
// packets of one megaflow (any number of microflows) costs one lookup. The
// flow must have run words (n_run_words != kNoRunWords). The mask words it
// reads lie in the flow's cold lines, which the first compare of a burst
// brings into the cache for the rest.
inline bool flow_in_run(const FlowKey& key, const Flow& flow) {
  if (flow.run_line0) [[likely]] {
    // Four 16-byte compares in place of one per run word: outside the mask
    // both sides are zero (the flow's key is masked). Every megaflow of a
    // packet with an Ethernet header has three or four run words (in_port,
    // the ethertype, the VLAN TCIs, which the mask always covers, and
    // usually an L3 word), which cost more one by one.
    const auto* k = reinterpret_cast<const __m128i*>(key.words());
    const auto* m = reinterpret_cast<const __m128i*>(flow.mask_head.w);
    const auto* f = reinterpret_cast<const __m128i*>(flow.key_head.w);
    __m128i d = _mm_setzero_si128();
    for (int i = 0; i < 4; ++i) {
      d = _mm_or_si128(d, _mm_xor_si128(_mm_and_si128(_mm_load_si128(k + i), _mm_load_si128(m + i)),
                                        _mm_load_si128(f + i)));
    }
    return _mm_testz_si128(d, d);
  }
  const uint64_t* k = key.words();
  const uint64_t* f = flow.key_words();
  const uint64_t* m = flow.mask_head.w;  // run words are all in the head
  uint64_t diff = 0;
  for (uint32_t j = 0; j < flow.n_run_words; ++j) {
    const uint32_t w = flow.run_words[j];
    diff |= (k[w] & m[w]) ^ f[w];
  }
  return diff == 0;
}

struct FlowStatsSnapshot {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  uint64_t used_ms = 0;  // 0: never used
  uint16_t tcp_flags = 0;
};

FlowStatsSnapshot flow_stats(const Flow& flow);

// Flags of FlowPutArgs::flags, as OVS's DPIF_FP_*.
inline constexpr uint32_t kFlowPutCreate = 1 << 0;
inline constexpr uint32_t kFlowPutModify = 1 << 1;
inline constexpr uint32_t kFlowPutZeroStats = 1 << 2;

struct FlowPutArgs {
  FlowKey key;  // masked by `mask` inside put(); need not be masked here
  FlowKey mask;
  Ufid ufid{};
  // Ownership passes to the table only when put() returns 0; on error the
  // caller still owns it.
  const ActionProgram* program = nullptr;
  // Copied by put(). On a modify only action_attrs replaces the stored one.
  std::span<const uint8_t> key_attrs;
  std::span<const uint8_t> mask_attrs;
  std::span<const uint8_t> action_attrs;
  uint32_t flags = kFlowPutCreate;
};

class FlowTable {
 public:
  static constexpr uint32_t kDefaultMaxFlows = 200000;

  // `rcu` must outlive the table. `free_actions` frees an ActionProgram (it
  // runs on the control thread, in Rcu::reclaim or the destructor).
  // `isa` picks the classifier's lookup functions (cpu_isa.h).
  FlowTable(Rcu* rcu, void (*free_actions)(const ActionProgram*),
            uint32_t max_flows = kDefaultMaxFlows, CpuIsa isa = CpuIsa::kSse42);
  // Frees every flow at once: no PMD may be reading any more.
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Creates or modifies the flow `args.ufid`. Returns 0 or an errno value:
  //  - ufid absent: ENOENT without kFlowPutCreate; EFBIG if size() >=
  //    max_flows(); EEXIST if another flow (another ufid) has the same masked
  //    key and mask; else the flow is created, *old_stats zeroed.
  //  - ufid present: EEXIST without kFlowPutModify (and with kFlowPutCreate);
  //    EINVAL with neither flag (OVS: an overlapping put); EINVAL if the
  //    masked key or mask differ from the flow's (a ufid names one match);
  //    else the actions are replaced, *old_stats gets the stats before the
  //    put, and with kFlowPutZeroStats the stats are zeroed.
  // old_stats may be null.
  int put(const FlowPutArgs& args, FlowStatsSnapshot* old_stats);

  // Removes the flow. Returns 0 (final_stats filled if not null) or ENOENT.
  int del(const Ufid& ufid, FlowStatsSnapshot* final_stats);

  // The flow, or nullptr. Valid until it is deleted and reclaimed.
  const Flow* find(const Ufid& ufid) const;

  // Removes every flow.
  void flush();

  // Dump by cursor, in creation order. Pass 0 to start; returns the cursor to
  // pass next, or 0 when the dump is complete. Appends at most `max` flows to
  // *out. Between calls flows may be added and removed: every flow present
  // for the whole dump is returned exactly once; a flow removed meanwhile is
  // returned at most once; a flow added meanwhile may or may not be returned,
  // never twice. (The cursor is the creation sequence number of the next flow
  // to return; sequence numbers are never reused.) Returned pointers stay
  // valid until the flow is deleted and reclaimed.
  uint64_t dump(uint64_t cursor, uint32_t max, std::vector<const Flow*>* out) const;

  size_t size() const { return by_ufid_.size(); }
  uint32_t max_flows() const { return max_flows_; }
  // Lowering the limit below size() evicts nothing; creates fail with EFBIG
  // until enough flows are deleted.
  void set_max_flows(uint32_t n) { max_flows_ = n; }

  // For PMDs: lookups, and the removal epoch their exact-match caches watch.
  const Classifier& classifier() const { return cls_; }
  const std::atomic<uint64_t>& removal_epoch() const { return removal_epoch_; }
  // For the control thread's periodic maintenance.
  void rank_subtables() { cls_.rank_subtables(); }

 private:
  struct UfidHash {
    size_t operator()(const Ufid& u) const {
      return (uint64_t(u.w[0]) << 32 | u.w[1]) ^ (uint64_t(u.w[2]) << 32 | u.w[3]);
    }
  };

  // Unpublishes `flow` and queues its free; does not bump the epoch.
  void unlink(Flow* flow);
  static void destroy(Flow* flow, void (*free_actions)(const ActionProgram*));

  Rcu* rcu_;
  void (*free_actions_)(const ActionProgram*);
  uint32_t max_flows_;
  uint64_t next_seq_ = 1;
  Classifier cls_;
  std::unordered_map<Ufid, Flow*, UfidHash> by_ufid_;
  std::map<uint64_t, Flow*> by_seq_;  // dump order
  // Bumped (release) after flows are marked dead; see emc.h.
  alignas(64) std::atomic<uint64_t> removal_epoch_{0};
};

}  // namespace dpx
