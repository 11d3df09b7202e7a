// The megaflow classifier: tuple space search over the flows of a FlowTable.
//
// One subtable per distinct mask. A subtable keeps the list of the mask's
// non-zero 64-bit words, so hashing and comparing a packet's key touch only
// those words; at subtable creation a lookup function specialised for that
// word count (1..8, with a generic fallback) is picked, so the per-key loops
// are unrolled and carry no shape branches. Each subtable holds an
// open-addressing hash table of Flow pointers in 64-byte buckets of four
// (signature, pointer) slots, probed linearly bucket by bucket; a per-bucket
// overflow flag ends a probe at the home bucket unless an insert ever spilled
// past it, so a miss (most probes of a tuple space search) costs one line.
//
// Lookups of a burst are staged (as DPDK's rte_hash bulk lookup): per
// subtable, in rank order, hash every still-unmatched key and prefetch its
// bucket, then compare them all. Flows may overlap (as in OVS's datapath there
// are no priorities): the first subtable in rank order holding a match wins.
//
// Concurrency (single writer, many readers, RCU):
//  - Readers (PMD threads registered with the Rcu) call lookup_batch /
//    lookup and must hold returned pointers only until their next quiescent
//    point (see emc.h for the exact-match cache's longer-lived pointers).
//  - One writer thread (the control thread, through FlowTable) calls every
//    other method. Inserting writes a slot's signature, then publishes the
//    flow pointer with a release store; removing overwrites the pointer with
//    a tombstone (slots are never reused, so a signature never changes under
//    a reader). A table that fills up (live + tombstones > 3/4) is rebuilt
//    into a new one, published by pointer swap; the old one is freed after a
//    grace period. The subtable list is an immutable array, replaced by
//    pointer swap on every change (new mask, empty subtable removed,
//    re-ranking); old arrays and removed subtables are freed after a grace
//    period.
//  - Readers bump a per-subtable hit counter (relaxed, once per subtable per
//    batch); rank_subtables() re-sorts the list by hits since the last call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cpu_isa.h"
#include "flow_key.h"

namespace dpx {

struct Flow;
class Rcu;

class Classifier {
 public:
  // Largest burst lookup_batch handles in one pass; larger n is processed in
  // chunks of this size.
  static constexpr uint32_t kMaxBatch = 64;

  // `rcu` must outlive the classifier and every callback it defers. `isa`
  // picks the subtables' lookup functions (cpu_isa.h); the caller checked
  // that this CPU supports it.
  explicit Classifier(Rcu* rcu, CpuIsa isa = CpuIsa::kSse42);
  // Frees every subtable at once: no reader may be running any more. Flows
  // are not owned and are left alone.
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // ---- reader side (PMD threads) ----

  // For i < n: out[i] = a flow whose (key, mask) matches *keys[i], i.e.
  // (keys[i] & flow->mask) == flow->key, or nullptr. No allocation, no lock.
  // Returns how many subtables were searched in all (a hit in the k-th
  // ranked subtable counts k, a miss counts every subtable): the kernel
  // datapath's "masks hit" figure, which shows whether ranking works.
  uint64_t lookup_batch(const FlowKey* const keys[], uint32_t n, const Flow* out[]) const;
  const Flow* lookup(const FlowKey& key) const;

  // ---- writer side (the one control thread) ----

  // Adds `flow`, whose key must already be masked by its mask. The caller
  // guarantees no flow with the same (key, mask) is present (find_exact) and
  // keeps `flow` alive until it is removed and a grace period has passed.
  void insert(const Flow* flow);
  // Removes a flow previously inserted. Readers may still see it until their
  // next quiescent point.
  void remove(const Flow* flow);
  // The flow with exactly this masked key and mask, or nullptr.
  const Flow* find_exact(const FlowKey& masked_key, const FlowKey& mask) const;
  // Re-sorts the subtables by hits since the previous call, most first, and
  // resets the counters.
  void rank_subtables();

  size_t subtable_count() const;
  CpuIsa isa() const { return isa_; }
  size_t flow_count() const { return flows_; }

  // Implementation types, defined in classifier.cc.
  struct Subtable;
  struct SubtableList;

 private:
  Subtable* find_subtable(const FlowKey& mask) const;
  void publish(SubtableList* list);

  Rcu* rcu_;
  const CpuIsa isa_;
  std::atomic<const SubtableList*> list_;  // read by PMDs
  size_t flows_ = 0;                       // writer only
};

}  // namespace dpx
