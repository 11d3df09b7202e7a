// Cost of the tunnel stages in ns per packet, on a burst of 32 mbufs reused
// every iteration (only data_off and the lengths are restored, which is all
// encap and decap change besides the header bytes they write):
//  - Encap: VXLAN encapsulation of 64-byte inner frames from a warm
//    template cache one packet at a time (as an executor output does), with
//    UDP checksum 0 and with flags(csum); EncapVxlanRun: the burst as one
//    run of a flow (as the PMD hands over set(tunnel) + output programs).
//  - Decap: validation and stripping of VXLAN packets by the underlay stage
//    (IPv4 header checksum computed, UDP checksum 0), and Geneve.
//  - UnderlayPlain: what the stage costs ordinary traffic on an underlay port
//    (IPv4/UDP to another port: classified plain).
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <rte_errno.h>  // eal_env.h uses rte_errno without including it
#include <rte_ring.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "../tests/eal_env.h"
#include "../tests/support/underlay_host.h"
#include "tunnel_decap.h"
#include "tunnel_encap.h"

namespace dpx {
namespace {

constexpr int kBurst = 32;
using test::kGeneveOdp;
using test::kUnderlayOdp;
using test::kVxlanOdp;
constexpr uint8_t kMacA[6] = {2, 0, 0, 0, 0xaa, 1}, kMacB[6] = {2, 0, 0, 0, 0xbb, 2};

uint32_t ip4(const char* s) {
  in_addr a;
  if (inet_pton(AF_INET, s, &a) != 1) std::abort();
  return a.s_addr;
}

// One host's underlay, as the tests build it.
std::unique_ptr<UnderlaySnapshot> snapshot(const char* vtep, const uint8_t* mac, const char* peer,
                                           const uint8_t* peer_mac) {
  auto s = test::make_host_view(vtep, mac, peer, peer_mac);
  if (!s) std::abort();
  return s;
}

// A 64-byte Ethernet/IPv4/UDP frame (60 bytes without the FCS).
void fill_inner(rte_mbuf* m, uint16_t sport) {
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 60));
  if (!p) std::abort();
  std::memset(p, 0, 60);
  const uint8_t hdr[] = {2,  0, 0, 0, 0, 2,  2,  0, 0, 0,   0,   1, 0x08, 0x00, 0x45, 0, 0,
                         46, 0, 1, 0, 0, 64, 17, 0, 0, 192, 168, 1, 1,    192,  168,  1, 2};
  std::memcpy(p, hdr, sizeof hdr);
  p[34] = static_cast<uint8_t>(sport >> 8);
  p[35] = static_cast<uint8_t>(sport);
  p[37] = 53;
  p[39] = 26;
}

struct Fixture {
  TunnelShared shared;
  std::unique_ptr<TunnelPmd> pmd = std::make_unique<TunnelPmd>();
  std::unique_ptr<UnderlaySnapshot> tx = snapshot("10.0.0.1", kMacA, "10.0.0.2", kMacB);
  std::unique_ptr<UnderlaySnapshot> rx = snapshot("10.0.0.2", kMacB, "10.0.0.1", kMacA);
  std::array<rte_mbuf*, kBurst> m{};
  std::array<uint16_t, kBurst> off{}, len{};

  Fixture() {
    static int seq = 0;
    rte_ring* r =
        rte_ring_create_elem(("tnl_bench_" + std::to_string(seq++)).c_str(), sizeof(TunnelEvent),
                             1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!r) std::abort();
    shared.events.push_back(r);
    for (int i = 0; i < kBurst; ++i) {
      m[i] = rte_pktmbuf_alloc(test::test_pool());
      if (!m[i]) std::abort();
      fill_inner(m[i], static_cast<uint16_t>(1000 + i));
    }
    save();
  }
  ~Fixture() {
    for (rte_mbuf* x : m) rte_pktmbuf_free(x);
    rte_ring_free(shared.events[0]);
  }
  void save() {
    for (int i = 0; i < kBurst; ++i) {
      off[i] = m[i]->data_off;
      len[i] = m[i]->data_len;
    }
  }
  void restore() {
    for (int i = 0; i < kBurst; ++i) {
      m[i]->data_off = off[i];
      m[i]->data_len = len[i];
      m[i]->pkt_len = len[i];
    }
  }
  // Encapsulates the burst (for the decap benchmarks' input).
  void encap_all(uint32_t odp, uint8_t slot, uint16_t flags) {
    shared.snapshot.store(tx.get());
    TunnelMeta t{};
    t.tun_id = rte_cpu_to_be_64(42);
    t.ipv4_dst = ip4("10.0.0.2");
    t.ttl = 64;
    t.flags = flags;
    for (int i = 0; i < kBurst; ++i)
      if (tunnel_encap(*pmd, shared, 0, odp, slot, m[i], t, static_cast<uint32_t>(i) * 2654435761u,
                       0) != kUnderlayOdp)
        std::abort();
    save();
  }
};

void per_packet(benchmark::State& state) {
  state.counters["per_pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(state.iterations() * kBurst);
}

void encap_bench(benchmark::State& state, uint16_t flags) {
  Fixture f;
  f.shared.snapshot.store(f.tx.get());
  TunnelMeta t{};
  t.tun_id = rte_cpu_to_be_64(42);
  t.ipv4_dst = ip4("10.0.0.2");
  t.ttl = 64;
  t.flags = flags;
  for (auto _ : state) {
    for (int i = 0; i < kBurst; ++i) {
      const uint32_t port = tunnel_encap(*f.pmd, f.shared, 0, kVxlanOdp, 0, f.m[i], t,
                                         static_cast<uint32_t>(i) * 2654435761u, 0);
      benchmark::DoNotOptimize(port);
    }
    f.restore();
    benchmark::ClobberMemory();
  }
  if (f.pmd->counters.encap[0].packets.load() != static_cast<uint64_t>(state.iterations()) * kBurst)
    state.SkipWithError("packets were dropped");
  per_packet(state);
}

void BM_EncapVxlan(benchmark::State& state) { encap_bench(state, kTunFlagDontFragment); }
BENCHMARK(BM_EncapVxlan);

void BM_EncapVxlanRun(benchmark::State& state) {
  Fixture f;
  f.shared.snapshot.store(f.tx.get());
  TunnelMeta t{};
  t.tun_id = rte_cpu_to_be_64(42);
  t.ipv4_dst = ip4("10.0.0.2");
  t.ttl = 64;
  t.flags = kTunFlagDontFragment;
  uint32_t hashes[kBurst];
  for (int i = 0; i < kBurst; ++i) hashes[i] = static_cast<uint32_t>(i) * 2654435761u;
  rte_mbuf* pkts[kBurst];
  for (auto _ : state) {
    std::copy(f.m.begin(), f.m.end(), pkts);
    uint32_t port = 0;
    const uint32_t n =
        tunnel_encap_run(*f.pmd, f.shared, 0, kVxlanOdp, 0, t, pkts, hashes, kBurst, 0, &port);
    benchmark::DoNotOptimize(n);
    f.restore();
    benchmark::ClobberMemory();
  }
  if (f.pmd->counters.encap[0].packets.load() != static_cast<uint64_t>(state.iterations()) * kBurst)
    state.SkipWithError("packets were dropped");
  per_packet(state);
}
BENCHMARK(BM_EncapVxlanRun);

void BM_EncapVxlanUdpCsum(benchmark::State& state) {
  encap_bench(state, kTunFlagDontFragment | kTunFlagCsum);
}
BENCHMARK(BM_EncapVxlanUdpCsum);

void decap_bench(benchmark::State& state, uint32_t odp, uint8_t slot) {
  Fixture f;
  f.encap_all(odp, slot, kTunFlagDontFragment);
  f.shared.snapshot.store(f.rx.get());
  rte_mbuf* pkts[kBurst];
  rte_mbuf* dec[kBurst];
  PacketState st[kBurst];
  for (auto _ : state) {
    std::copy(f.m.begin(), f.m.end(), pkts);
    uint32_t n_dec = 0;
    const uint32_t plain =
        tunnel_underlay_rx(*f.pmd, f.shared, 0, kUnderlayOdp, pkts, kBurst, dec, st, &n_dec);
    benchmark::DoNotOptimize(plain);
    f.restore();
    benchmark::ClobberMemory();
  }
  if (f.pmd->counters.decap[slot].packets.load() !=
      static_cast<uint64_t>(state.iterations()) * kBurst)
    state.SkipWithError("packets were not decapsulated");
  per_packet(state);
}

void BM_DecapVxlan(benchmark::State& state) { decap_bench(state, kVxlanOdp, 0); }
BENCHMARK(BM_DecapVxlan);

void BM_DecapGeneve(benchmark::State& state) { decap_bench(state, kGeneveOdp, 1); }
BENCHMARK(BM_DecapGeneve);

void BM_UnderlayPlain(benchmark::State& state) {
  Fixture f;
  // Addressed to the port and a local VTEP, but to another UDP port.
  for (rte_mbuf* m : f.m) {
    uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(p, kMacB, 6);
    const uint32_t dst = ip4("10.0.0.2");
    std::memcpy(p + 30, &dst, 4);
  }
  f.shared.snapshot.store(f.rx.get());
  rte_mbuf* pkts[kBurst];
  rte_mbuf* dec[kBurst];
  PacketState st[kBurst];
  for (auto _ : state) {
    std::copy(f.m.begin(), f.m.end(), pkts);
    uint32_t n_dec = 0;
    const uint32_t plain =
        tunnel_underlay_rx(*f.pmd, f.shared, 0, kUnderlayOdp, pkts, kBurst, dec, st, &n_dec);
    if (plain != kBurst) state.SkipWithError("a plain packet was not left alone");
    benchmark::ClobberMemory();
  }
  per_packet(state);
}
BENCHMARK(BM_UnderlayPlain);

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
