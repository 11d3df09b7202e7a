// Megaflow classifier and exact-match cache lookups, in ns per packet, for
// bursts of 32 keys.
//
// Classifier: 1 / 1k / 100k / 1M flows spread evenly over 1 / 5 / 20
// subtables (distinct masks over in_port, eth_type, the IPv4 addresses and a
// per-subtable L4 port pattern: 2 or 3 non-zero mask words, like typical
// OpenFlow pipelines produce). Every packet hits; packets pick flows
// uniformly at random, so with several subtables a lookup searches on average
// half of them, and with many flows the flow memory misses the cache, as real
// traffic over many megaflows does. The table is built through FlowTable::put,
// the control path PMDs see in dpxd.
//
// Each classifier case runs once per lookup variant (cpu_isa.h: 0 sse42, 1
// avx2, 2 avx512); a variant this CPU lacks reports an error instead. Timing
// needs a quiet machine; on a busy one, count instructions per variant:
//   valgrind --tool=callgrind --toggle-collect='dpx::Classifier::lookup_batch*'
//     classifier_bench --benchmark_filter='ClassifierLookup/flows:1000/subtables:20/isa:1$'
// (one command line) and divide by 32 keys per call; bench/classifier_callgrind.sh
// does that for every case. valgrind has no AVX-512.
//
// EMC: a 8192-entry cache holding N microflows, all lookups hit.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "classifier.h"
#include "cpu_isa.h"
#include "emc.h"
#include "flow_table.h"
#include "rcu.h"

namespace dpx {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kKeys = 1 << 16;  // packet keys cycled through

void no_free(const ActionProgram*) {}

// wide: the mask also covers the IPv6 addresses and the tunnel's VNI and
// outer IPv4 addresses (8 or 9 words: IPv6 over an overlay), where the
// vector lookups pay most.
FlowKey mask_for(uint32_t subtable, bool wide) {
  FlowKey m;
  m.clear();
  m.in_port = 0xffffffff;
  m.eth_type = 0xffff;
  m.ipv4_src = 0xffffffff;
  m.ipv4_dst = 0xffffffff;
  // A different L4 pattern per subtable keeps the masks distinct.
  m.tp_src = htons(static_cast<uint16_t>(subtable + 1));
  if (subtable % 2 == 1) m.nw_proto = 0xff;  // 2 or 3 words
  if (wide) {
    std::memset(m.ipv6_src, 0xff, sizeof m.ipv6_src);
    std::memset(m.ipv6_dst, 0xff, sizeof m.ipv6_dst);
    m.tun_id = ~uint64_t{0};
    m.tun_ipv4_dst = 0xffffffff;
  }
  return m;
}

struct Setup {
  uint32_t flows = 0, subtables = 0;
  CpuIsa isa = CpuIsa::kSse42;
  bool wide = false;
  std::unique_ptr<Rcu> rcu;
  std::unique_ptr<FlowTable> table;
  std::vector<FlowKey> keys;  // packet keys, each matching one flow
};

// Building a million flows takes a while, so the last setup is kept while
// Google Benchmark repeats one configuration.
Setup& setup_for(uint32_t flows, uint32_t subtables, CpuIsa isa, bool wide) {
  static Setup s;
  if (s.table && s.flows == flows && s.subtables == subtables && s.isa == isa && s.wide == wide)
    return s;
  s.table.reset();
  s.rcu.reset();
  s.rcu = std::make_unique<Rcu>(1);
  s.table = std::make_unique<FlowTable>(s.rcu.get(), no_free, flows + 1, isa);
  s.flows = flows;
  s.subtables = subtables;
  s.isa = isa;
  s.wide = wide;
  std::vector<FlowKey> flow_keys;
  flow_keys.reserve(flows);
  for (uint32_t i = 0; i < flows; i++) {
    uint32_t st = i % subtables;
    FlowPutArgs a;
    a.mask = mask_for(st, wide);
    a.key.clear();
    a.key.in_port = 1;
    a.key.eth_type = htons(0x0800);
    a.key.nw_proto = 6;
    a.key.ipv4_src = htonl(0x0a000000 | (i & 0xffff));
    a.key.ipv4_dst = htonl(0x0b000000 | (i >> 16));
    a.key.tp_src = htons(static_cast<uint16_t>(st + 1));
    if (wide) {
      a.key.ipv6_src[15] = static_cast<uint8_t>(i);
      a.key.ipv6_dst[0] = 0xfd;
      a.key.tun_id = uint64_t{i % 7} << 40;
      a.key.tun_ipv4_dst = htonl(0xc0a80001);
    }
    a.ufid = Ufid{{i, 1, 2, 3}};
    a.flags = kFlowPutCreate;
    if (s.table->put(a, nullptr) != 0) std::abort();
    flow_keys.push_back(a.key);
  }
  s.rcu->synchronize();
  std::mt19937_64 rng(42);
  s.keys.resize(kKeys);
  for (auto& k : s.keys) {
    k = flow_keys[rng() % flows];
    k.tp_dst = static_cast<uint16_t>(rng());  // outside every mask
    k.nw_ttl = 64;
  }
  return s;
}

void BM_ClassifierLookup(benchmark::State& state) {
  const uint32_t flows = static_cast<uint32_t>(state.range(0));
  const uint32_t subtables = std::min<uint32_t>(static_cast<uint32_t>(state.range(1)), flows);
  const auto isa = static_cast<CpuIsa>(state.range(2));
  if (!cpu_isa_supported(isa)) {
    state.SkipWithError((std::string("this CPU has no ") + cpu_isa_name(isa)).c_str());
    return;
  }
  Setup& s = setup_for(flows, subtables, isa, state.range(3) != 0);
  const Classifier& cls = s.table->classifier();
  const FlowKey* ptrs[kBurst];
  const Flow* out[kBurst];
  uint32_t pos = 0;
  uint64_t misses = 0;
  for (auto _ : state) {
    for (uint32_t i = 0; i < kBurst; i++) ptrs[i] = &s.keys[(pos + i) & (kKeys - 1)];
    pos += kBurst;
    cls.lookup_batch(ptrs, kBurst, out);
    for (uint32_t i = 0; i < kBurst; i++) misses += out[i] == nullptr;
    benchmark::DoNotOptimize(out);
  }
  if (misses != 0) state.SkipWithError("a lookup missed");
  state.counters["ns/pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["subtables"] = static_cast<double>(cls.subtable_count());
}
BENCHMARK(BM_ClassifierLookup)
    ->ArgNames({"flows", "subtables", "isa", "wide"})
    // Every size with the scalar lookup on narrow masks; the variants and
    // wide masks at 1k and 100k flows (a million-flow table per variant
    // would only lengthen the run).
    ->ArgsProduct({{1, 1000, 100000, 1000000}, {1, 5, 20}, {0}, {0}})
    ->ArgsProduct({{1000, 100000}, {1, 5, 20}, {0}, {1}})
    ->ArgsProduct({{1000, 100000}, {1, 5, 20}, {1, 2}, {0, 1}});

void BM_EmcHit(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  Emc emc;
  std::vector<Flow> flows(n);
  std::vector<FlowKey> keys(n);
  std::mt19937_64 rng(7);
  for (uint32_t i = 0; i < n; i++) {
    keys[i].clear();
    keys[i].in_port = 1;
    keys[i].eth_type = htons(0x0800);
    keys[i].ipv4_src = static_cast<uint32_t>(rng());
    keys[i].ipv4_dst = static_cast<uint32_t>(rng());
    keys[i].tp_src = static_cast<uint16_t>(rng());
    emc.insert(keys[i], hash_key(keys[i]), &flows[i]);
  }
  // Keep only keys still cached (two candidates per key: a few collide out).
  std::vector<const FlowKey*> hits;
  for (uint32_t i = 0; i < n; i++)
    if (emc.lookup(keys[i], hash_key(keys[i])) == &flows[i]) hits.push_back(&keys[i]);
  std::vector<const FlowKey*> order(kKeys);
  for (auto& p : order) p = hits[rng() % hits.size()];
  const Flow* out[kBurst];
  uint32_t hashes[kBurst];
  uint32_t pos = 0;
  uint64_t misses = 0;
  for (auto _ : state) {
    emc.lookup_batch(&order[pos & (kKeys - 1)], kBurst, hashes, out);
    pos += kBurst;
    for (uint32_t i = 0; i < kBurst; i++) misses += out[i] == nullptr;
    benchmark::DoNotOptimize(out);
  }
  if (misses != 0) state.SkipWithError("an EMC lookup missed");
  state.counters["ns/pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EmcHit)->ArgName("microflows")->Arg(1)->Arg(1000)->Arg(6000);

// The PMD's EMC stage (Emc::lookup_run, hashes given) per full-key compare
// variant (isa as in BM_ClassifierLookup): every lookup hits, so every key
// is compared in full once.
void BM_EmcLookupRun(benchmark::State& state) {
  const uint32_t n = static_cast<uint32_t>(state.range(0));
  const auto isa = static_cast<CpuIsa>(state.range(1));
  if (!cpu_isa_supported(isa)) {
    state.SkipWithError((std::string("this CPU has no ") + cpu_isa_name(isa)).c_str());
    return;
  }
  Emc emc(Emc::kDefaultEntries, isa);
  std::vector<Flow> flows(n);
  std::vector<FlowKey> keys(n);
  std::mt19937_64 rng(7);
  for (uint32_t i = 0; i < n; i++) {
    keys[i].clear();
    keys[i].in_port = 1;
    keys[i].eth_type = htons(0x0800);
    keys[i].ipv4_src = static_cast<uint32_t>(rng());
    keys[i].tp_src = static_cast<uint16_t>(rng());
    emc.insert(keys[i], emc_hash(keys[i]), &flows[i]);
  }
  std::vector<FlowKey> burst_keys;
  for (uint32_t i = 0; i < n; i++)
    if (emc.lookup(keys[i], emc_hash(keys[i])) == &flows[i]) burst_keys.push_back(keys[i]);
  // Bursts of 32 distinct cached keys, prepared once.
  constexpr uint32_t kBursts = 64;
  std::vector<FlowKey> bk(kBursts * kBurst);
  std::vector<uint32_t> bh(bk.size());
  std::vector<const FlowKey*> bp(bk.size());  // lookup_run() takes key pointers
  for (size_t i = 0; i < bk.size(); i++) {
    bk[i] = burst_keys[rng() % burst_keys.size()];
    bh[i] = emc_hash(bk[i]);
    bp[i] = &bk[i];
  }
  bool same[kBurst] = {};
  const Flow* out[kBurst];
  uint32_t b = 0;
  uint64_t misses = 0;
  for (auto _ : state) {
    emc.lookup_run(&bp[b * kBurst], &bh[b * kBurst], same, kBurst, out);
    b = (b + 1) % kBursts;
    for (uint32_t i = 0; i < kBurst; i++) misses += out[i] == nullptr;
    benchmark::DoNotOptimize(out);
  }
  if (misses != 0) state.SkipWithError("an EMC lookup missed");
  state.counters["ns/pkt"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBurst,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_EmcLookupRun)->ArgNames({"microflows", "isa"})->ArgsProduct({{1000}, {0, 1, 2}});

}  // namespace
}  // namespace dpx

BENCHMARK_MAIN();
