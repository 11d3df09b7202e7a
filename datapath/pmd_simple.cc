// The PMD's simple-match pass (simple_match.h explains when and why).
#include <rte_prefetch.h>

#include "pmd.h"
#include "simple_match.h"
#include "tunnel_encap.h"

namespace dpx {

// Per packet, the loop below only extracts the simple key, compares it with
// the previous packet's and appends the packet to the current run of one
// flow (its bytes and TCP flags in registers). Everything else, the lookup
// (the EMC's simple entry, else the classifier), the action check, flow
// stats and the tx hand-over, happens once per run: usually once per burst.
// Tunnel outputs (set(tunnel) + output to a tunnel port) are finished here
// too: they need only the inner flow's hash, of fields simple_extract()
// found in the packet, and are encapsulated per run of one flow at the end.
uint32_t Pmd::process_simple(rte_mbuf** pkts, uint32_t n, uint32_t in_port) {
  // A run: consecutive packets of mine[] forwarded by one flow to one port.
  struct Run {
    const Flow* flow;
    uint32_t port;
    uint32_t first;  // index in mine[]
    uint64_t bytes;
    uint16_t tcp_flags;
  };
  rte_mbuf* mine[kMaxBurst];
  Run runs[kMaxBurst];
  uint32_t n_mine = 0, n_runs = 0, n_rest = 0;
  // Packets of tunnel-output flows, one entry each.
  rte_mbuf* tnl[kMaxBurst];
  const Flow* tnl_flows[kMaxBurst];
  const ActionProgram* tnl_progs[kMaxBurst];
  uint32_t tnl_hashes[kMaxBurst];
  uint16_t tnl_tcp_flags[kMaxBurst];
  uint8_t tnl_slots[kMaxBurst];
  uint32_t n_tnl = 0;
  // What the previous simple key led to. Packets that take the full path
  // in between leave it alone.
  enum class Verdict : uint8_t { kNone, kForward, kTunnel, kFullPath, kMiss };
  Verdict verdict = Verdict::kNone;
  SimpleKey prev{};
  const Flow* prev_flow = nullptr;           // kForward, kTunnel
  const ActionProgram* prev_prog = nullptr;  // kTunnel
  uint8_t prev_slot = 0;                     // kTunnel: tunnel_output_program()
  uint64_t run_bytes = 0;                    // of the open run, runs[n_runs - 1]
  uint16_t run_flags = 0;
  alignas(64) FlowKey fk;  // the FlowKey of prev, when the classifier was asked
  const Classifier& cls = shared_->flows->classifier();

  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    SimpleKey key;
    uint16_t flags;
    if (m->nb_segs != 1 || !simple_extract(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len,
                                           in_port, &key, &flags)) [[unlikely]] {
      pkts[n_rest++] = m;  // full key extraction decides (and counts drops)
      continue;
    }
    // The common case first: the same key as the previous packet, which
    // was forwarded; the packet joins the open run.
    const bool same = verdict != Verdict::kNone && simple_keys_equal(key, prev);
    if (same && verdict == Verdict::kForward) [[likely]] {
      mine[n_mine++] = m;
      run_bytes += m->pkt_len;
      run_flags |= flags;
      continue;
    }
    // A burst is usually one simple key (one port, one ethertype), so one
    // lookup serves the whole run.
    if (!same) {
      prev = key;
      // The EMC's simple entry usually knows the key from the last burst.
      const Flow* flow = emc_.simple_lookup(key);
      if (!flow) [[unlikely]] {
        simple_to_flow_key(key, &fk);
        flow = cls.lookup(fk);
        if (flow) emc_.simple_insert(key, flow);
      }
      // Only plain forwarding and tunnel outputs are finished here. Any
      // other program runs on the ordinary path, with the packet's full key
      // (hash, userspace and set actions read it).
      const ActionProgram* prog = flow ? flow->actions.load(std::memory_order_acquire) : nullptr;
      prev_flow = flow;
      if (!flow) {
        verdict = Verdict::kMiss;
      } else if (plain_output(*prog)) {
        verdict = Verdict::kForward;
        if (n_runs == 0 || runs[n_runs - 1].flow != flow) {
          if (n_runs) {
            runs[n_runs - 1].bytes = run_bytes;
            runs[n_runs - 1].tcp_flags = run_flags;
          }
          runs[n_runs++] = {flow, prog->begin()->arg0, n_mine, 0, 0};
          run_bytes = 0;
          run_flags = 0;
        }
      } else if ((prev_slot = tunnel_output_program(*prog)) != 0) {
        verdict = Verdict::kTunnel;
        prev_prog = prog;
      } else {
        verdict = Verdict::kFullPath;
      }
    }
    switch (verdict) {
      case Verdict::kForward:
        mine[n_mine++] = m;
        run_bytes += m->pkt_len;
        run_flags |= flags;
        break;
      case Verdict::kTunnel: {
        const SimpleFlowFields ff = simple_flow_fields(rte_pktmbuf_mtod(m, const uint8_t*), key);
        tnl[n_tnl] = m;
        tnl_flows[n_tnl] = prev_flow;
        tnl_progs[n_tnl] = prev_prog;
        tnl_slots[n_tnl] = prev_slot;
        tnl_tcp_flags[n_tnl] = flags;
        tnl_hashes[n_tnl++] = tunnel_flow_hash_ipv4(ff.proto, ff.addrs, ff.ports);
        break;
      }
      default:
        // kFullPath, and misses: a miss takes the full path too, whose full
        // key the upcall needs anyway and whose hash tells apart the
        // in-flight misses of different flows (pmd.h, "In-flight misses"),
        // which a simple key would lump together.
        pkts[n_rest++] = m;
        break;
    }
  }
  if (n_runs) {
    runs[n_runs - 1].bytes = run_bytes;
    runs[n_runs - 1].tcp_flags = run_flags;
  }
  counters.passes.add(n_mine + n_tnl);
  counters.megaflow_hits.add(n_mine + n_tnl);
  // One subtable: every simple flow has the same mask.
  counters.masks_visited.add(n_mine + n_tnl);

  // Flow stats once per run, and the runs to their ports in arrival order.
  for (uint32_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    const uint32_t count = (r + 1 < n_runs ? runs[r + 1].first : n_mine) - run.first;
    flow_account(run.flow, count, run.bytes, run.tcp_flags, now_ms_);
    tx_enqueue_run(run.port, &mine[run.first], count, run.bytes);
  }
  // Tunnel outputs: stats (of the inner frames) and encapsulation per run
  // of one flow.
  for (uint32_t i = 0; i < n_tnl;) {
    const Flow* f = tnl_flows[i];
    uint32_t j = i;
    uint64_t bytes = 0;
    uint16_t fl = 0;
    for (; j < n_tnl && tnl_flows[j] == f; ++j) {
      bytes += tnl[j]->pkt_len;
      fl |= tnl_tcp_flags[j];
    }
    flow_account(f, j - i, bytes, fl, now_ms_);
    tunnel_output_run(*tnl_progs[i], tnl_slots[i] - 1, &tnl[i], &tnl_hashes[i], j - i);
    i = j;
  }
  return n_rest;
}

}  // namespace dpx
