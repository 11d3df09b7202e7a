// Key extraction and key hashing cost, per packet. Each iteration extracts a
// burst of 32 packets (the PMD's burst size) whose source ports differ, the
// way a burst from a real port holds several microflows; items processed are
// packets, so Google Benchmark prints packets per second.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "flow_hash.h"
#include "flow_key.h"
#include "key_extract.h"

namespace dpx {
namespace {

constexpr int kBurst = 32;

struct Frame {
  alignas(64) uint8_t b[128] = {};
  uint32_t n = 0;

  void u8(uint8_t v) { b[n++] = v; }
  void u16(uint16_t v) {
    u8(static_cast<uint8_t>(v >> 8));
    u8(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void fill(uint8_t v, uint32_t k) {
    std::memset(b + n, v, k);
    n += k;
  }
};

enum class Kind { kIpv4Udp, kIpv4Tcp, kVlanIpv4Udp, kIpv6Tcp };

Frame make_frame(Kind kind, uint16_t sport) {
  Frame f;
  f.u32(0x02000000);
  f.u16(0x0001);
  f.u32(0x02000000);
  f.u16(0x0002);
  if (kind == Kind::kVlanIpv4Udp) {
    f.u16(0x8100);
    f.u16(100);
  }
  bool tcp = kind == Kind::kIpv4Tcp || kind == Kind::kIpv6Tcp;
  uint16_t l4_len = tcp ? 20 : 8;
  if (kind == Kind::kIpv6Tcp) {
    f.u16(0x86dd);
    f.u32(0x60000000);
    f.u16(l4_len);
    f.u8(6);
    f.u8(64);
    f.u32(0x20010db8);
    f.fill(0, 11);
    f.u8(1);
    f.u32(0x20010db8);
    f.fill(0, 11);
    f.u8(2);
  } else {
    f.u16(0x0800);
    f.u32(0x45000000 | (20u + l4_len));
    f.u32(0x00004000);
    f.u16(tcp ? 0x4006 : 0x4011);
    f.u16(0);
    f.u32(0x0a000001);
    f.u32(0x0a000002);
  }
  f.u16(sport);
  f.u16(tcp ? 80 : 4789);
  if (tcp) {
    f.u32(1);
    f.u32(2);
    f.u16(0x5010);
    f.u16(65535);
    f.u32(0);
  } else {
    f.u16(8);
    f.u16(0);
  }
  if (f.n < 60) {
    f.fill(0, 60 - f.n);  // minimum Ethernet frame, as on the wire (64 with FCS)
  }
  return f;
}

void BM_ExtractKey(benchmark::State& state, Kind kind) {
  std::vector<Frame> frames;
  for (int i = 0; i < kBurst; ++i) {
    frames.push_back(make_frame(kind, static_cast<uint16_t>(10000 + i)));
  }
  alignas(64) FlowKey keys[kBurst];
  PacketMetadata md;
  md.in_port = 1;
  for (auto _ : state) {
    for (int i = 0; i < kBurst; ++i) {
      ExtractDrop r = extract_key(frames[i].b, frames[i].n, md, &keys[i]);
      benchmark::DoNotOptimize(r);
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK_CAPTURE(BM_ExtractKey, ipv4_udp_64B, Kind::kIpv4Udp);
BENCHMARK_CAPTURE(BM_ExtractKey, ipv4_tcp, Kind::kIpv4Tcp);
BENCHMARK_CAPTURE(BM_ExtractKey, vlan_ipv4_udp, Kind::kVlanIpv4Udp);
BENCHMARK_CAPTURE(BM_ExtractKey, ipv6_tcp, Kind::kIpv6Tcp);

// The exact-match cache's hash over a full key, for the same burst shape.
void BM_HashKey(benchmark::State& state) {
  alignas(64) FlowKey keys[kBurst];
  PacketMetadata md;
  for (int i = 0; i < kBurst; ++i) {
    Frame f = make_frame(Kind::kIpv4Udp, static_cast<uint16_t>(i));
    extract_key(f.b, f.n, md, &keys[i]);
  }
  for (auto _ : state) {
    for (int i = 0; i < kBurst; ++i) {
      benchmark::DoNotOptimize(hash_key(keys[i]));
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
}
BENCHMARK(BM_HashKey);

}  // namespace
}  // namespace dpx

BENCHMARK_MAIN();
