// Cost of executing an action program, in ns per packet, on a burst of 32
// mbufs that is reused every iteration: output only, set(ipv4 src) + output,
// push_vlan + output.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <linux/openvswitch.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ip.h>
#include <rte_udp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../tests/eal_env.h"
#include "actions.h"
// GCC 12 at -O3 reports a false -Wnonnull inside NlWriter::put (a clone of it
// with data == nullptr, which only runs with len == 0); see the report.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnonnull"
#include "nlattr.h"
#pragma GCC diagnostic pop
#include "odp_actions.h"

namespace dpx {
namespace {

constexpr int kBurst = 32;

// Counts what it is given and keeps the mbufs for the next iteration.
struct CountingSink {
  uint64_t outputs = 0, drops = 0;
  void output(uint32_t, rte_mbuf*) { ++outputs; }
  void userspace(rte_mbuf*, const PacketState&, const Action&) {}
  void recirculate(rte_mbuf*, const PacketState&) {}
  void drop(rte_mbuf*, ActionDrop) { ++drops; }
  rte_mbuf* copy(rte_mbuf*) { return nullptr; }
};

ActionProgram* compile_or_die(const NlBuf& b) {
  ActionProgram* p = nullptr;
  std::string err;
  if (compile_actions(b, &p, &err) != 0) {
    std::fprintf(stderr, "compile_actions: %s\n", err.c_str());
    std::abort();
  }
  return p;
}

// A 64-byte Ethernet/IPv4/UDP frame with valid checksums.
void fill_packet(rte_mbuf* m) {
  uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 64));
  if (!p) std::abort();
  std::memset(p, 0, 64);
  const uint8_t hdr[] = {0x02, 0,    0,    0,    0,  1,  0x02, 0, 0,  0,  0, 2, 0x08, 0x00,  // eth
                         0x45, 0,    0,    50,   0,  1,  0,    0, 64, 17, 0, 0,              // ipv4
                         10,   0,    0,    1,    10, 0,  0,    2,                            //
                         0x30, 0x39, 0x00, 0x35, 0,  30, 0,    0};                           // udp
  std::memcpy(p, hdr, sizeof hdr);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(p + 14);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(p + 34);
  udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
}

struct Burst {
  std::array<rte_mbuf*, kBurst> m{};
  uint16_t data_off[kBurst];
  Burst() {
    for (int i = 0; i < kBurst; ++i) {
      m[i] = rte_pktmbuf_alloc(test::test_pool());
      if (!m[i]) std::abort();
      fill_packet(m[i]);
      data_off[i] = m[i]->data_off;
    }
  }
  ~Burst() {
    for (rte_mbuf* x : m) rte_pktmbuf_free(x);
  }
};

void run_bench(benchmark::State& state, const ActionProgram* a, const ActionProgram* b,
               bool undo_push) {
  Burst burst;
  CountingSink sink;
  FlowKey key{};
  bool flip = false;
  for (auto _ : state) {
    const ActionProgram& p = flip ? *b : *a;
    flip = !flip;
    for (rte_mbuf* m : burst.m) {
      PacketState st = PacketState::from_key(key);
      execute_actions(p, m, key, st, sink);
    }
    if (undo_push) {
      // Give the 4 bytes of headroom back so the next burst pushes again.
      for (int i = 0; i < kBurst; ++i) {
        rte_mbuf* m = burst.m[i];
        m->data_off = burst.data_off[i];
        m->data_len -= 4;
        m->pkt_len -= 4;
      }
    }
    benchmark::ClobberMemory();
  }
  if (sink.drops) state.SkipWithError("packets were dropped");
  // An inverted rate over packets: CPU time per packet, printed as e.g. "9.5ns".
  state.counters["per_pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(state.iterations() * kBurst);
}

void BM_OutputOnly(benchmark::State& state) {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  ActionProgram* p = compile_or_die(b);
  run_bench(state, p, p, false);
  free_action_program(p);
}
BENCHMARK(BM_OutputOnly);

void BM_SetIpv4SrcOutput(benchmark::State& state) {
  // Two programs with different addresses, alternated per burst, so every
  // run really changes the header and updates both checksums.
  ActionProgram* p[2];
  for (int i = 0; i < 2; ++i) {
    NlBuf b;
    NlWriter w(&b);
    size_t s = w.begin_nested(OVS_ACTION_ATTR_SET_MASKED);
    ovs_key_ipv4 kv[2] = {};
    kv[0].ipv4_src = htonl(0xc0a80001 + i);
    kv[1].ipv4_src = 0xffffffff;
    w.put(OVS_KEY_ATTR_IPV4, kv, sizeof kv);
    w.end_nested(s);
    w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
    p[i] = compile_or_die(b);
  }
  run_bench(state, p[0], p[1], false);
  free_action_program(p[0]);
  free_action_program(p[1]);
}
BENCHMARK(BM_SetIpv4SrcOutput);

void BM_PushVlanOutput(benchmark::State& state) {
  NlBuf b;
  NlWriter w(&b);
  w.put(OVS_ACTION_ATTR_PUSH_VLAN, ovs_action_push_vlan{htons(0x8100), htons(0x1000 | 100)});
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, 1);
  ActionProgram* p = compile_or_die(b);
  run_bench(state, p, p, /*undo_push=*/true);
  free_action_program(p);
}
BENCHMARK(BM_PushVlanOutput);

}  // namespace
}  // namespace dpx

int main(int argc, char** argv) {
  dpx::test::eal_init_once();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
