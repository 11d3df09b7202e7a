// The PMD's simple-match pass (simple_match.h explains when and why).
#include <rte_prefetch.h>

#include "pmd.h"
#include "simple_match.h"
#include "tunnel_encap.h"

namespace dpx {

namespace {

// Appends pkts[i], pkts[i + 1], ... to the open run (mine[], *n_mine, its
// *bytes and *tcp_flags) while they extract to the run's simple key `k`;
// returns the index of the first packet that does not (n if none), which
// the caller then extracts again and handles. This is the per-packet work
// of a burst of one simple key. It is a function of its own, not inlined,
// so that its few variables stay in registers: inside process_simple(),
// with the lookup, tunnel and miss paths live, they were spilled to the
// stack. Each packet's data pointer is computed once, when the packet is
// prefetched an iteration ahead.
[[gnu::noinline]] uint32_t extend_run(rte_mbuf* const* pkts, uint32_t i, uint32_t n,
                                      uint32_t in_port, const SimpleKey& k, rte_mbuf** mine,
                                      uint32_t* n_mine, uint64_t* bytes, uint16_t* tcp_flags) {
  uint32_t nm = *n_mine;
  uint64_t b = *bytes;
  uint16_t fl = *tcp_flags;
  const uint8_t* next = i < n ? rte_pktmbuf_mtod(pkts[i], const uint8_t*) : nullptr;
  for (; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const uint8_t* p = next;
    if (i + 1 < n) {
      next = rte_pktmbuf_mtod(pkts[i + 1], const uint8_t*);
      rte_prefetch0(next);
    }
    SimpleKey key;
    uint16_t f;
    uint32_t l3;  // only tunnel outputs need it; a forward run does not
    if (m->nb_segs != 1 || !simple_extract(p, m->data_len, in_port, &key, &f, &l3) ||
        !simple_keys_equal(key, k))
      break;
    mine[nm++] = m;
    b += m->pkt_len;
    fl |= f;
  }
  *n_mine = nm;
  *bytes = b;
  *tcp_flags = fl;
  return i;
}

}  // namespace

// Per packet, the loop below only extracts the simple key, compares it with
// the previous packet's and appends the packet to the current run of one
// flow (its bytes and TCP flags in registers). Everything else, the lookup
// (the EMC's simple entry, else the classifier), the action check, flow
// stats and the tx hand-over, happens once per run: usually once per burst.
// Tunnel outputs (set(tunnel) + output to a tunnel port) are finished here
// too: they need only the inner flow's hash, of fields simple_extract()
// found in the packet, and are encapsulated per run of one flow at the end.
//
// A run of decapsulated packets (tun non-null) is the same pass with the
// run's tunnel added to every lookup: one per run and simple key, as for
// plain packets, instead of a full key, hash and exact-match probe per
// packet. Its misses take the full path, whose upcall carries each packet's
// own tunnel metadata (tp_src included).
uint32_t Pmd::process_simple(rte_mbuf** pkts, uint32_t n, uint32_t in_port, const SimpleTunnel* tun,
                             uint8_t* rest_from) {
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
  // Packets of tunnel-output flows, with their inner flows' hashes, in
  // runs of one flow (consecutive in tnl[], whatever came in between).
  struct TnlRun {
    const Flow* flow;
    const ActionProgram* prog;
    uint32_t first;  // index in tnl[]
    uint64_t bytes;
    uint64_t ol_flags;  // of all its packets, OR-ed: any offload request?
    uint16_t tcp_flags;
    uint8_t slot;  // tunnel_output_program()
  };
  rte_mbuf* tnl[kMaxBurst];
  uint32_t tnl_hashes[kMaxBurst];
  TnlRun tnl_runs[kMaxBurst];
  uint32_t n_tnl = 0, n_tnl_runs = 0;
  uint64_t tnl_bytes = 0;  // of the open tunnel run, tnl_runs[n_tnl_runs - 1]
  uint64_t tnl_ol = 0;
  uint16_t tnl_flags = 0;
  // What the previous simple key led to. Packets that take the full path
  // in between leave it alone.
  enum class Verdict : uint8_t { kNone, kForward, kTunnel, kFullPath };
  Verdict verdict = Verdict::kNone;
  SimpleKey prev{};
  uint64_t run_bytes = 0;  // of the open run, runs[n_runs - 1]
  uint16_t run_flags = 0;
  alignas(64) FlowKey fk;  // the FlowKey of prev, when the classifier was asked
  const Classifier& cls = shared_->flows->classifier();

  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    SimpleKey key;
    uint16_t flags;
    uint32_t l3;
    if (m->nb_segs != 1 || !simple_extract(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len,
                                           in_port, &key, &flags, &l3)) [[unlikely]] {
      if (rest_from) rest_from[n_rest] = static_cast<uint8_t>(i);
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
      // The rest of the run; the packet that ends it comes round again.
      i = extend_run(pkts, i + 1, n, in_port, prev, mine, &n_mine, &run_bytes, &run_flags) - 1;
      continue;
    }
    // A burst is usually one simple key (one port, one ethertype), so one
    // lookup serves the whole run.
    if (!same) {
      prev = key;
      // The EMC's simple entry usually knows the key from the last burst.
      const Flow* flow = tun ? emc_.simple_tunnel_lookup(key, *tun) : emc_.simple_lookup(key);
      if (!flow) [[unlikely]] {
        simple_to_flow_key(key, &fk, tun);
        flow = cls.lookup(fk);
        if (flow && tun)
          emc_.simple_tunnel_insert(key, *tun, flow);
        else if (flow)
          emc_.simple_insert(key, flow);
      }
      // Only plain forwarding and tunnel outputs are finished here. Any
      // other program runs on the ordinary path, with the packet's full key
      // (hash, userspace and set actions read it).
      const ActionProgram* prog = flow ? flow->actions.load(std::memory_order_acquire) : nullptr;
      if (!flow) {
        // A miss takes the full path, whose full key the upcall needs anyway
        // and whose hash tells apart the in-flight misses of different
        // flows (pmd.h, "In-flight misses"), which a simple key would lump
        // together; a decapsulated one also needs its own tunnel metadata.
        verdict = Verdict::kFullPath;
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
      } else if (const uint8_t slot = tunnel_output_program(*prog); slot != 0) {
        verdict = Verdict::kTunnel;
        if (n_tnl_runs == 0 || tnl_runs[n_tnl_runs - 1].flow != flow) {
          if (n_tnl_runs) {
            tnl_runs[n_tnl_runs - 1].bytes = tnl_bytes;
            tnl_runs[n_tnl_runs - 1].ol_flags = tnl_ol;
            tnl_runs[n_tnl_runs - 1].tcp_flags = tnl_flags;
          }
          tnl_runs[n_tnl_runs++] = {flow, prog, n_tnl, 0, 0, 0, slot};
          tnl_bytes = 0;
          tnl_ol = 0;
          tnl_flags = 0;
        }
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
        const SimpleFlowFields ff =
            simple_flow_fields(rte_pktmbuf_mtod(m, const uint8_t*) + l3, key);
        tnl[n_tnl] = m;
        tnl_hashes[n_tnl++] = tunnel_flow_hash_ipv4(ff.proto, ff.addrs, ff.ports);
        tnl_bytes += m->pkt_len;
        tnl_ol |= m->ol_flags;
        tnl_flags |= flags;
        break;
      }
      default:  // kFullPath: other programs, and misses
        if (rest_from) rest_from[n_rest] = static_cast<uint8_t>(i);
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
  if (n_tnl_runs) {
    tnl_runs[n_tnl_runs - 1].bytes = tnl_bytes;
    tnl_runs[n_tnl_runs - 1].ol_flags = tnl_ol;
    tnl_runs[n_tnl_runs - 1].tcp_flags = tnl_flags;
  }
  for (uint32_t r = 0; r < n_tnl_runs; ++r) {
    const TnlRun& run = tnl_runs[r];
    const uint32_t count = (r + 1 < n_tnl_runs ? tnl_runs[r + 1].first : n_tnl) - run.first;
    flow_account(run.flow, count, run.bytes, run.tcp_flags, now_ms_);
    // Without offload requests (the common case) the run is encapsulated as
    // one; tunnel_output_run() would only look for them packet by packet.
    if (!(run.ol_flags & kTxOffloadRequests)) [[likely]]
      encap_run(*run.prog, run.slot - 1, &tnl[run.first], &tnl_hashes[run.first], count);
    else
      tunnel_output_run(*run.prog, run.slot - 1, &tnl[run.first], &tnl_hashes[run.first], count);
  }
  return n_rest;
}

}  // namespace dpx
