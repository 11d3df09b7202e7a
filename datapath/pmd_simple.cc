// The PMD's simple-match pass (simple_match.h explains when and why).
#include <rte_prefetch.h>

#include "pmd.h"
#include "simple_match.h"
#include "tunnel_encap.h"

namespace dpx {

uint32_t Pmd::process_simple(rte_mbuf** pkts, uint32_t n, uint32_t in_port) {
  rte_mbuf* mine[kMaxBurst];
  const Flow* flows[kMaxBurst];
  uint16_t tcp_flags[kMaxBurst];
  uint32_t ports[kMaxBurst];
  // Packets of set(tunnel) + tunnel output programs, encapsulated in runs
  // of one flow after the loop.
  rte_mbuf* tnl[kMaxBurst];
  const Flow* tnl_flows[kMaxBurst];
  const ActionProgram* tnl_progs[kMaxBurst];
  uint32_t tnl_hashes[kMaxBurst];
  uint16_t tnl_tcp_flags[kMaxBurst];
  uint8_t tnl_slots[kMaxBurst];
  uint32_t n_mine = 0, n_rest = 0, n_miss = 0, n_tnl = 0;
  SimpleKey key{}, prev{};
  const Flow* prev_flow = nullptr;
  bool have_prev = false;
  alignas(64) FlowKey fk;
  const Classifier& cls = shared_->flows->classifier();

  for (uint32_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    uint16_t flags;
    if (m->nb_segs != 1 || !simple_extract(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len,
                                           in_port, &key, &flags)) [[unlikely]] {
      pkts[n_rest++] = m;  // full key extraction decides (and counts drops)
      continue;
    }
    // A burst is usually one simple key (one port, one ethertype), so one
    // classifier lookup serves the whole run.
    if (!have_prev || !simple_keys_equal(key, prev)) {
      simple_to_flow_key(key, &fk);
      prev_flow = cls.lookup(fk);
      prev = key;
      have_prev = true;
    }
    if (!prev_flow) [[unlikely]] {
      const FlowKey* kp = &fk;
      handle_misses(&m, &kp, 1);
      ++n_miss;
      continue;
    }
    // Only plain forwarding and tunnel outputs are finished here. Any other
    // program runs on the ordinary path, with the packet's full key (hash,
    // userspace and set actions read it). A tunnel output needs only the
    // inner flow's hash, of fields simple_extract() found in the packet.
    const ActionProgram* prog = prev_flow->actions.load(std::memory_order_acquire);
    if (!plain_output(*prog)) {
      const uint8_t slot = tunnel_output_program(*prog);
      if (!slot) {
        pkts[n_rest++] = m;
        continue;
      }
      const SimpleFlowFields ff = simple_flow_fields(rte_pktmbuf_mtod(m, const uint8_t*), key);
      tnl[n_tnl] = m;
      tnl_flows[n_tnl] = prev_flow;
      tnl_progs[n_tnl] = prog;
      tnl_slots[n_tnl] = slot;
      tnl_tcp_flags[n_tnl] = flags;
      tnl_hashes[n_tnl++] = tunnel_flow_hash_ipv4(ff.proto, ff.addrs, ff.ports);
      continue;
    }
    mine[n_mine] = m;
    flows[n_mine] = prev_flow;
    ports[n_mine] = prog->begin()->arg0;
    tcp_flags[n_mine++] = flags;
  }
  counters.passes.add(n_mine + n_tnl + n_miss);
  counters.megaflow_hits.add(n_mine + n_tnl);
  // One subtable: every simple flow has the same mask, and a miss searched it too.
  counters.masks_visited.add(n_mine + n_tnl + n_miss);

  // Flow stats once per run of one flow, then the packets to their ports in
  // arrival order.
  for (uint32_t i = 0; i < n_mine;) {
    const Flow* f = flows[i];
    uint32_t j = i;
    uint64_t bytes = 0;
    uint16_t fl = 0;
    for (; j < n_mine && flows[j] == f; ++j) {
      bytes += mine[j]->pkt_len;
      fl |= tcp_flags[j];
    }
    flow_account(f, j - i, bytes, fl, now_ms_);
    i = j;
  }
  // Usually the whole burst goes to one port: hand over runs, not packets.
  for (uint32_t i = 0; i < n_mine;) {
    uint32_t j = i + 1;
    while (j < n_mine && ports[j] == ports[i]) ++j;
    tx_enqueue_run(ports[i], &mine[i], j - i);
    i = j;
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
