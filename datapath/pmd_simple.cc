// The PMD's simple-match pass (simple_match.h explains when and why).
#include <rte_prefetch.h>

#include "pmd.h"
#include "simple_match.h"
#include "tunnel_encap.h"

namespace dpx {

namespace {

// Extends the open run, whose packets have simple key `k`, over pkts[i],
// pkts[i + 1], ... while they have that key, adding their bytes and TCP
// flags to *bytes and *tcp_flags; returns the index of the first packet that
// does not (n if none), which the caller then extracts again and handles.
// The run's packets stay where they are in pkts[]: a run is a range of it.
// This is the per-packet work of a burst of one simple key.
//
// kCommon: k is untagged IPv4 and not a fragment, whose simple_run_head()
// is `head`, and a packet joins when simple_run_match() says so. A packet of
// that key that it does not settle (IPv4 options) ends the extension; the
// caller's simple_extract() then finds it of the run's key and extends the
// run again. Otherwise (tagged keys, fragments), each packet's key is
// extracted and compared.
//
// A function of its own, not inlined, so that its few variables stay in
// registers: inside process_simple(), with the lookup, tunnel and miss paths
// live, they were spilled to the stack. Each packet's data pointer is
// computed once, when the packet is prefetched an iteration ahead; the last
// packet, with nothing to prefetch, is checked after the loop, so that the
// loop has no test for it.
template <bool kCommon>
[[gnu::noinline]] uint32_t extend_run(rte_mbuf* const* pkts, uint32_t i, uint32_t n,
                                      uint32_t in_port, const SimpleKey& k, uint64_t head,
                                      uint64_t* bytes, uint16_t* tcp_flags) {
  if (i >= n) return i;
  uint64_t b = *bytes;
  uint32_t fl = *tcp_flags;
  // The TCP flags of m, whose data is at p, if it has the run's key; else -1.
  const auto flags_if_joins = [in_port, head, &k](const rte_mbuf* m, const uint8_t* p) {
    if (m->nb_segs != 1) return int32_t{-1};
    uint16_t f;
    if constexpr (kCommon) {
      if (!simple_run_match(p, m->data_len, head, &f)) return int32_t{-1};
    } else {
      SimpleKey key;
      uint32_t l3;  // only tunnel outputs need it; a forward run does not
      if (!simple_extract(p, m->data_len, in_port, &key, &f, &l3) || !simple_keys_equal(key, k))
        return int32_t{-1};
    }
    return int32_t{f};
  };
  // Pointers rather than indexes: one increment and compare per packet.
  rte_mbuf* const* it = pkts + i;
  rte_mbuf* const* const last = pkts + n - 1;
  const uint8_t* p = rte_pktmbuf_mtod(*it, const uint8_t*);
  for (; it != last; ++it) {
    const uint8_t* next = rte_pktmbuf_mtod(it[1], const uint8_t*);
    rte_prefetch0(next);
    const int32_t f = flags_if_joins(*it, p);
    if (f < 0) break;
    b += (*it)->pkt_len;
    fl |= static_cast<uint32_t>(f);
    p = next;
  }
  // Unless the loop stopped early, the last packet, with none to prefetch.
  if (it == last) {
    const int32_t f = flags_if_joins(*it, p);
    if (f >= 0) {
      b += (*it)->pkt_len;
      fl |= static_cast<uint32_t>(f);
      ++it;
    }
  }
  i = static_cast<uint32_t>(it - pkts);
  *bytes = b;
  *tcp_flags = static_cast<uint16_t>(fl);
  return i;
}

}  // namespace

// Per packet, the loop below only extracts the simple key, compares it with
// the previous packet's and extends the current run of one flow (its bytes
// and TCP flags in registers); within a run, extend_run() checks only that
// the packet has the run's key. Everything else, the lookup (the EMC's
// simple entry, else the classifier), the action check, flow stats and the
// tx hand-over, happens once per run: usually once per burst. A run is a
// range of pkts[]: its packets are not copied anywhere, and a burst that is
// one run goes to its port as the array it came in (tx_enqueue_run()).
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
                             uint8_t* rest_from, uint64_t* handled_bytes) {
  // A run: the packets pkts[first, end) forwarded by one flow to one port.
  // Packets of one flow with others between them (left to the full path, or
  // of another flow) are runs of their own.
  struct Run {
    const Flow* flow;
    uint32_t port;
    uint32_t first;
    uint32_t end;
    uint16_t tcp_flags;
    uint64_t bytes;
  };
  Run runs[kMaxBurst];
  uint32_t n_runs = 0, n_fwd = 0;
  // The packets left to the full path. They go to the front of pkts[] at
  // the end, once the runs, which are ranges of pkts[], have been sent.
  rte_mbuf* rest[kMaxBurst];
  uint32_t n_rest = 0;
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
  uint64_t prev_head = kNoRunHead;  // simple_run_head(prev)
  const Flow* fwd_flow = nullptr;   // prev's flow and port, when forwarded
  uint32_t fwd_port = 0;
  uint64_t run_bytes = 0;  // of the open run, runs[n_runs - 1]
  uint16_t run_flags = 0;
  alignas(64) FlowKey fk;  // the FlowKey of prev, when the classifier was asked
  const Classifier& cls = shared_->flows->classifier();

  uint32_t i = 0;
  // Usually the burst continues the last one: packets of the EMC's simple
  // entry's key (when it is a common one) and forwarded. Then the first run
  // needs no key extraction, compare and lookup for its first packet: it
  // is checked against that key like the rest. This is the state the loop
  // below would reach after that packet (the entry is what it would look
  // up); a burst that does not start so takes the loop from its start.
  if (const Flow* flow = emc_.simple_flow(); flow && !tun) {
    const SimpleKey& k = emc_.simple_key();
    const uint64_t head = simple_run_head(k);
    const ActionProgram* prog = flow->actions.load(std::memory_order_acquire);
    if (head != kNoRunHead && k.in_port == in_port && plain_output(*prog)) {
      const uint32_t end = extend_run<true>(pkts, 0, n, in_port, k, head, &run_bytes, &run_flags);
      if (end) {
        verdict = Verdict::kForward;
        prev = k;
        prev_head = head;
        fwd_flow = flow;
        fwd_port = prog->begin()->arg0;
        runs[n_runs++] = {flow, fwd_port, 0, end, 0, 0};
        n_fwd = end;
        i = end;
      }
    }
  }
  for (; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    SimpleKey key;
    uint16_t flags;
    uint32_t l3;
    if (m->nb_segs != 1 || !simple_extract(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len,
                                           in_port, &key, &flags, &l3)) [[unlikely]] {
      if (rest_from) rest_from[n_rest] = static_cast<uint8_t>(i);
      rest[n_rest++] = m;  // full key extraction decides (and counts drops)
      continue;
    }
    // A burst is usually one simple key (one port, one ethertype), so one
    // lookup serves the whole run.
    if (verdict == Verdict::kNone || !simple_keys_equal(key, prev)) {
      prev = key;
      prev_head = simple_run_head(key);
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
        fwd_flow = flow;
        fwd_port = prog->begin()->arg0;
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
      case Verdict::kForward: {
        // The packet continues the open run if it is of the same flow and
        // comes right after it; else it opens one.
        if (n_runs == 0 || runs[n_runs - 1].flow != fwd_flow || runs[n_runs - 1].end != i) {
          if (n_runs) {
            runs[n_runs - 1].bytes = run_bytes;
            runs[n_runs - 1].tcp_flags = run_flags;
          }
          runs[n_runs++] = {fwd_flow, fwd_port, i, i, 0, 0};
          run_bytes = 0;
          run_flags = 0;
        }
        run_bytes += m->pkt_len;
        run_flags |= flags;
        // The rest of the run; the packet that ends it comes round again.
        const uint32_t end =
            prev_head != kNoRunHead
                ? extend_run<true>(pkts, i + 1, n, in_port, prev, prev_head, &run_bytes, &run_flags)
                : extend_run<false>(pkts, i + 1, n, in_port, prev, 0, &run_bytes, &run_flags);
        n_fwd += end - runs[n_runs - 1].end;
        runs[n_runs - 1].end = end;
        i = end - 1;
        break;
      }
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
        rest[n_rest++] = m;
        break;
    }
  }
  if (n_runs) {
    runs[n_runs - 1].bytes = run_bytes;
    runs[n_runs - 1].tcp_flags = run_flags;
  }
  counters.passes.add(n_fwd + n_tnl);
  counters.megaflow_hits.add(n_fwd + n_tnl);
  // One subtable: every simple flow has the same mask.
  counters.masks_visited.add(n_fwd + n_tnl);

  // Flow stats once per run, and the runs to their ports in arrival order.
  uint64_t bytes = 0;
  for (uint32_t r = 0; r < n_runs; ++r) {
    const Run& run = runs[r];
    const uint32_t count = run.end - run.first;
    flow_account(run.flow, count, run.bytes, run.tcp_flags, now_ms_);
    tx_enqueue_run(run.port, &pkts[run.first], count, run.bytes);
    bytes += run.bytes;
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
    bytes += run.bytes;
    // Without offload requests (the common case) the run is encapsulated as
    // one; tunnel_output_run() would only look for them packet by packet.
    if (!(run.ol_flags & kTxOffloadRequests)) [[likely]]
      encap_run(*run.prog, run.slot - 1, &tnl[run.first], &tnl_hashes[run.first], count);
    else
      tunnel_output_run(*run.prog, run.slot - 1, &tnl[run.first], &tnl_hashes[run.first], count);
  }
  if (handled_bytes) *handled_bytes = bytes;
  if (n_rest) [[unlikely]]
    std::memcpy(pkts, rest, n_rest * sizeof *pkts);
  return n_rest;
}

}  // namespace dpx
