#include <cerrno>
#include <cstring>

#include "control_msg.h"
#include "control_msg_detail.h"

namespace dpx {

using namespace ctl;

namespace {

// Every u64 counter of a PMD; CORE, NUMA and the DROP list are not counters.
constexpr Counter<PmdStats> kPmdCounters[] = {
    {DPX_PMD_A_PACKETS, &PmdStats::packets},
    {DPX_PMD_A_PASSES, &PmdStats::passes},
    {DPX_PMD_A_EMC_HITS, &PmdStats::emc_hits},
    {DPX_PMD_A_MEGAFLOW_HITS, &PmdStats::megaflow_hits},
    {DPX_PMD_A_MASKS_VISITED, &PmdStats::masks_visited},
    {DPX_PMD_A_UPCALLS, &PmdStats::upcalls},
    {DPX_PMD_A_LOST, &PmdStats::lost},
    {DPX_PMD_A_BUSY_CYCLES, &PmdStats::busy_cycles},
    {DPX_PMD_A_IDLE_CYCLES, &PmdStats::idle_cycles},
    {DPX_PMD_A_SLEEPS, &PmdStats::sleeps},
    {DPX_PMD_A_SLEEP_US, &PmdStats::sleep_us},
    {DPX_PMD_A_RX_BATCHES, &PmdStats::rx_batches},
    {DPX_PMD_A_RECIRCULATIONS, &PmdStats::recirculations},
    {DPX_PMD_A_FLOW_JOBS, &PmdStats::flow_jobs},
    {DPX_PMD_A_HOLD_TIMEOUTS, &PmdStats::hold_timeouts},
};

int get_pmd(std::span<const uint8_t> b, PmdStats* p, std::string* err) {
  *p = {};
  Reader r(b, "PMD", err, bit(DPX_PMD_A_DROP));
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    if (uint64_t* f = counter_field(kPmdCounters, a.type, p)) {
      ok = r.u64(a, f, "counter");
    } else if (a.type == DPX_PMD_A_CORE) {
      ok = r.u32(a, &p->core, "CORE");
    } else if (a.type == DPX_PMD_A_NUMA) {
      ok = r.u32(a, &p->numa, "NUMA");
    } else if (a.type == DPX_PMD_A_CPU_ISA) {
      ok = r.str(a, &p->cpu_isa, "CPU_ISA");
    } else if (a.type == DPX_PMD_A_DROP) {
      ok = nested(r, a, &p->drops.emplace_back(), get_drop);
    } else {
      ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() && r.require(DPX_PMD_A_CORE, "CORE") ? 0 : EINVAL;
}

}  // namespace

// ---------------------------------------------------------------- statistics

constexpr Counter<DpStats> kDpStats[] = {
    {DPX_DPSTATS_A_HIT, &DpStats::hit},
    {DPX_DPSTATS_A_MISSED, &DpStats::missed},
    {DPX_DPSTATS_A_LOST, &DpStats::lost},
    {DPX_DPSTATS_A_N_FLOWS, &DpStats::n_flows},
    {DPX_DPSTATS_A_N_MASKS, &DpStats::n_masks},
    {DPX_DPSTATS_A_MASK_HIT, &DpStats::mask_hit},
    {DPX_DPSTATS_A_UPCALL_QUEUE_DROPS, &DpStats::upcall_queue_drops},
    {DPX_DPSTATS_A_EMC_HIT, &DpStats::emc_hit},
    {DPX_DPSTATS_A_FLOW_LIMIT, &DpStats::flow_limit},
};

int encode_dp_stats(const DpStats& s, NlBuf* b) {
  Writer w(b);
  size_t c = w.begin(DPX_CTL_A_DP_STATS);
  put_counters(w, kDpStats, s);
  w.end(c);
  return w.result();
}

static int get_dp_stats(std::span<const uint8_t> b, DpStats* s, std::string* err) {
  return get_counters(b, "DP_STATS", kDpStats, s, err);
}

int decode_dp_stats(std::span<const uint8_t> b, DpStats* s, std::string* err) {
  *s = {};
  Reader r(b, "DP_STATS", err);
  NlAttr a;
  while (r.next(&a)) {
    if (a.type != DPX_CTL_A_DP_STATS) return r.unknown(a), EINVAL;
    if (!nested(r, a, s, get_dp_stats)) return EINVAL;
  }
  return r.ok() && r.require(DPX_CTL_A_DP_STATS, "DP_STATS") ? 0 : EINVAL;
}

int encode_pmd_stats(std::span<const PmdStats> pmds, NlBuf* b) {
  Writer w(b);
  for (const auto& p : pmds) {
    size_t c = w.begin(DPX_CTL_A_PMD);
    w.u32(DPX_PMD_A_CORE, p.core);
    w.u32(DPX_PMD_A_NUMA, p.numa);
    put_counters(w, kPmdCounters, p);
    if (!p.cpu_isa.empty()) w.str(DPX_PMD_A_CPU_ISA, p.cpu_isa);
    for (const auto& d : p.drops) put_drop(w, DPX_PMD_A_DROP, d);
    w.end(c);
  }
  return w.result();
}

int decode_pmd_stats(std::span<const uint8_t> b, std::vector<PmdStats>* out, std::string* err) {
  return get_list(b, "PMD_STATS", DPX_CTL_A_PMD, false, out, err, get_pmd);
}

}  // namespace dpx
