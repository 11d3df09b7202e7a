// Stage 2 of a datapath pass: each packet's megaflow, from a megaflow run,
// the exact-match cache or the classifier (pmd.h, Pmd::lookup_flows).
#include "pmd.h"

namespace dpx {

namespace {

// A burst whose first kRunProbe packets after the first all miss its run is
// taken for a mix of megaflows: the rest skip the run compare and go
// straight to the staged lookups.
constexpr uint32_t kRunProbe = 4;

}  // namespace

// Traffic usually comes in runs of one megaflow (a port-to-port rule, a
// VNI, a subnet) spread over many microflows: more microflows than the EMC
// holds would make every packet an EMC miss and a classifier lookup. So the
// first packet of the pass is looked up alone, and every following packet
// whose key matches that packet's flow under the flow's mask (flow_in_run(),
// exact over every word the mask covers, which is what the classifier would
// check) takes that flow with no hash, no EMC probe and no classifier lookup.
// The flow came from this burst's lookup, so it stays valid until the PMD's
// next quiescent point, after the burst: a flow deleted between bursts is
// never used by a later one's run. Flows may overlap only when dpxctl puts
// them (ovs-vswitchd never does); then a run may take the first packet's
// flow where the classifier would rank another first, as an EMC entry may.
void Pmd::lookup_flows(rte_mbuf** pkts, const FlowKey* keys, uint32_t n, const Flow** flows) {
  uint32_t idx[kMaxBurst];
  idx[0] = 0;
  lookup_staged(pkts, keys, idx, 1, flows);
  uint32_t m = 0, i = 1;
  if (const Flow* run = flows[0]; run && run->n_run_words != Flow::kNoRunWords) {
    uint32_t joined = 0;
    for (; i < n; ++i) {
      if (flow_in_run(keys[i], *run)) {
        flows[i] = run;
        ++joined;
      } else {
        idx[m++] = i;
        if (joined == 0 && i >= kRunProbe) {
          ++i;
          break;
        }
      }
    }
    // One subtable's words compared per packet, as a simple-pass hit counts.
    counters.megaflow_hits.add(joined);
    counters.masks_visited.add(joined);
  }
  for (; i < n; ++i) idx[m++] = i;
  if (m) lookup_staged(pkts, keys, idx, m, flows);
}

// The packets idx[0..m) (ascending) of the pass: hashed, their EMC entries
// prefetched, then looked up; the EMC's misses go to the classifier in one
// batch, and its misses to handle_misses().
void Pmd::lookup_staged(rte_mbuf** pkts, const FlowKey* keys, const uint32_t* idx, uint32_t m,
                        const Flow** flows) {
  const FlowKey* kp[kMaxBurst];
  const Flow* found[kMaxBurst];
  for (uint32_t j = 0; j < m; ++j) kp[j] = &keys[idx[j]];
  const bool emc_on = shared_->emc_enabled.load(std::memory_order_relaxed);
  uint32_t hashes[kMaxBurst];
  if (emc_on) {
    // Runs of one microflow (a TCP burst, a UDP stream) are common: a packet
    // whose key equals the previous one's takes that packet's flow without a
    // hash or an EMC probe. The others are hashed and their entries
    // prefetched first, then looked up, so the probes' cache misses overlap.
    bool same[kMaxBurst];
    same[0] = false;
    hashes[0] = emc_hash(*kp[0]);
    emc_.prefetch(hashes[0]);
    for (uint32_t j = 1; j < m; ++j) {
      same[j] = keys_equal(*kp[j], *kp[j - 1]);
      if (same[j]) {
        hashes[j] = hashes[j - 1];
      } else {
        hashes[j] = emc_hash(*kp[j]);
        emc_.prefetch(hashes[j]);
      }
    }
    emc_.lookup_run(kp, hashes, same, m, found);
  } else {
    std::fill_n(found, m, nullptr);
  }
  const FlowKey* miss_keys[kMaxBurst];
  uint32_t miss_j[kMaxBurst];
  uint32_t n_miss = 0;
  for (uint32_t j = 0; j < m; ++j) {
    if (!found[j]) {
      miss_keys[n_miss] = kp[j];
      miss_j[n_miss++] = j;
    }
  }
  counters.emc_hits.add(m - n_miss);
  if (n_miss) {
    const Flow* cls[kMaxBurst];
    counters.masks_visited.add(shared_->flows->classifier().lookup_batch(miss_keys, n_miss, cls));
    const uint32_t insert_threshold = shared_->emc_insert_threshold.load(std::memory_order_relaxed);
    rte_mbuf* upcall_pkts[kMaxBurst];
    const FlowKey* upcall_keys[kMaxBurst];
    uint32_t n_up = 0, n_cls = 0;
    for (uint32_t q = 0; q < n_miss; ++q) {
      const uint32_t j = miss_j[q];
      found[j] = cls[q];
      if (cls[q]) {
        ++n_cls;
        // As OVS does (emc-insert-inv-prob): insert only a fraction of
        // hits, so that a long-lived microflow soon gets an entry while a
        // crowd of short ones does not keep evicting each other.
        if (emc_on && next_random() <= insert_threshold) emc_.insert(*kp[j], hashes[j], cls[q]);
      } else {
        upcall_pkts[n_up] = pkts[idx[j]];
        upcall_keys[n_up++] = kp[j];
      }
    }
    counters.megaflow_hits.add(n_cls);
    if (n_up) handle_misses(upcall_pkts, upcall_keys, n_up);
  }
  for (uint32_t j = 0; j < m; ++j) flows[idx[j]] = found[j];
}

}  // namespace dpx
