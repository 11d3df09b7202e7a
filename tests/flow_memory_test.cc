// What a megaflow costs in memory, and lookups over a table that mixes flows
// whose masks cover Geneve options with flows whose masks do not.
//
// A flow's key and mask carry the 256-byte Geneve option area only when the
// mask covers an option byte (flow_table.h): the test counts the bytes the
// flow table really allocates per flow, by replacing the aligned operator new
// (the flow is the only over-aligned allocation of a put once its subtable
// exists). Under ASan a flow without options is exactly its fixed part, so a
// classifier that read an option word of such a flow would be reported.
#include <endian.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "classifier.h"
#include "cpu_isa.h"
#include "flow_table.h"
#include "rcu.h"

namespace {
// Bytes requested through the aligned operator new while counting is on.
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_aligned_bytes{0};

void* aligned_new(size_t size, std::align_val_t al) {
  if (g_counting.load(std::memory_order_relaxed)) g_aligned_bytes += size;
  const size_t a = static_cast<size_t>(al);
  void* p = std::aligned_alloc(a, (size + a - 1) / a * a);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(size_t size, std::align_val_t al) { return aligned_new(size, al); }
void* operator new[](size_t size, std::align_val_t al) { return aligned_new(size, al); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace dpx {
namespace {

void no_free(const ActionProgram*) {}

Ufid ufid_n(uint32_t n) { return Ufid{{n, 0x6e6d, n * 7, 1}}; }

// A packet key from a Geneve tunnel with VNI `vni` and options `opts`
// (right-aligned, as key extraction writes them); the option area in front
// of them is filled with junk, which no flow may depend on.
FlowKey tunnel_key(uint32_t vni, const std::vector<uint8_t>& opts, std::mt19937_64& rng) {
  FlowKey k;
  k.clear();
  for (uint8_t& b : k.tun_opts) b = static_cast<uint8_t>(rng());
  k.in_port = 3;
  k.eth_type = htobe16(0x0800);
  k.tun_id = htobe64(vni);
  k.tun_ipv4_src = htobe32(0x0a000001);
  k.tun_ipv4_dst = htobe32(0x0a000002);
  k.tun_flags = kTunFlagKey;
  k.tun_opts_len = static_cast<uint8_t>(opts.size());
  if (!opts.empty()) std::memcpy(k.tun_opts_data(), opts.data(), opts.size());
  return k;
}

// Matches in_port, the VNI and the outer addresses: no option byte.
FlowKey plain_mask() {
  FlowKey m;
  m.clear();
  m.in_port = 0xffffffff;
  m.tun_id = ~uint64_t{0};
  m.tun_ipv4_src = m.tun_ipv4_dst = 0xffffffff;
  return m;
}

// plain_mask() and `opts_len` bytes of options exactly (as the ODP parser
// builds it: the length exact, the last opts_len bytes of the area).
FlowKey opts_mask(uint32_t opts_len) {
  FlowKey m = plain_mask();
  m.eth_type = 0xffff;
  m.tun_flags = 0xffff;
  m.tun_opts_len = 0xff;
  std::memset(m.tun_opts + sizeof m.tun_opts - opts_len, 0xff, opts_len);
  return m;
}

std::vector<uint8_t> opts_n(uint32_t len, uint32_t seed) {
  std::vector<uint8_t> o(len);
  for (uint32_t i = 0; i < len; i++) o[i] = static_cast<uint8_t>(seed * 31 + i);
  o[3] = static_cast<uint8_t>(len / 4 - 1);  // one option over the whole stream
  return o;
}

// Puts a flow and returns the over-aligned bytes the put allocated.
size_t put_counting(FlowTable& t, const FlowKey& key, const FlowKey& mask, uint32_t id) {
  FlowPutArgs a;
  a.key = key;
  a.mask = mask;
  a.ufid = ufid_n(id);
  g_aligned_bytes = 0;
  g_counting = true;
  const int rc = t.put(a, nullptr);
  g_counting = false;
  EXPECT_EQ(rc, 0);
  return g_aligned_bytes;
}

TEST(FlowMemory, OptionAreaOnlyForFlowsWhoseMaskCoversOptions) {
  std::mt19937_64 rng(1);
  Rcu rcu(1);
  FlowTable t(&rcu, no_free);
  // The first flow of each mask also creates its subtable; count the next.
  put_counting(t, tunnel_key(1, {}, rng), plain_mask(), 1);
  const size_t plain = put_counting(t, tunnel_key(2, {}, rng), plain_mask(), 2);
  put_counting(t, tunnel_key(3, opts_n(8, 3), rng), opts_mask(8), 3);
  const size_t with_opts = put_counting(t, tunnel_key(4, opts_n(8, 4), rng), opts_mask(8), 4);

  // 576 bytes (9 lines) without options, the two 256-byte areas on top with.
  EXPECT_EQ(plain, sizeof(Flow));
  EXPECT_EQ(plain, 576u);
  EXPECT_EQ(Flow::alloc_size(plain_mask()), plain);
  EXPECT_EQ(with_opts, sizeof(Flow) + 2 * sizeof(FlowKey::tun_opts));
  EXPECT_EQ(Flow::alloc_size(opts_mask(8)), with_opts);
  // A mask that only requires "no options" (length 0 exactly) needs no area.
  FlowKey no_opts = plain_mask();
  no_opts.tun_opts_len = 0xff;
  EXPECT_EQ(Flow::alloc_size(no_opts), sizeof(Flow));

  // Both kinds give back their whole match, and a put of the same match
  // under another ufid is found as a duplicate.
  const Flow* p = t.find(ufid_n(2));
  const Flow* o = t.find(ufid_n(4));
  ASSERT_TRUE(p && o);
  EXPECT_FALSE(p->has_opts);
  EXPECT_TRUE(o->has_opts);
  EXPECT_TRUE(keys_identical(p->mask(), plain_mask()));
  EXPECT_TRUE(keys_identical(o->mask(), opts_mask(8)));
  FlowKey want = tunnel_key(4, opts_n(8, 4), rng);
  for (size_t i = 0; i < FlowKey::kWords; i++) want.words()[i] &= opts_mask(8).words()[i];
  EXPECT_TRUE(keys_identical(o->key(), want));
  EXPECT_EQ(o->key().tun_opts_len, 8);
  EXPECT_EQ(std::memcmp(o->key().tun_opts_data(), opts_n(8, 4).data(), 8), 0);

  FlowPutArgs dup;
  dup.key = tunnel_key(4, opts_n(8, 4), rng);  // other junk in front of the options
  dup.mask = opts_mask(8);
  dup.ufid = ufid_n(99);
  EXPECT_EQ(t.put(dup, nullptr), EEXIST);
  dup.ufid = ufid_n(4);  // the same ufid and match: a modify
  dup.flags = kFlowPutModify;
  EXPECT_EQ(t.put(dup, nullptr), 0);
  dup.key.tun_opts_data()[7] ^= 1;  // the same ufid, another match
  EXPECT_EQ(t.put(dup, nullptr), EINVAL);
  EXPECT_EQ(t.size(), 4u);
}

// Flows on the VNI alone and flows on the VNI and exact options, in one
// table; packets with and without options, in bursts, through each lookup
// variant this CPU has (the wide option masks take the vector lookups).
class FlowMemoryMixed : public ::testing::TestWithParam<CpuIsa> {};

TEST_P(FlowMemoryMixed, LookupsOverFlowsWithAndWithoutOptionMasks) {
  const CpuIsa isa = GetParam();
  if (!cpu_isa_supported(isa)) GTEST_SKIP() << "this CPU has no " << cpu_isa_name(isa);
  std::mt19937_64 rng(7 + static_cast<uint32_t>(isa));
  Rcu rcu(1);
  FlowTable t(&rcu, no_free, FlowTable::kDefaultMaxFlows, isa);
  constexpr uint32_t kPlain = 50, kOpts = 50;
  // Plain flows: VNIs 1..kPlain. Option flows: VNIs 1000.., 8 bytes of
  // options for even ones, 40 (a 10-word mask) for odd ones.
  uint32_t id = 1;
  for (uint32_t v = 1; v <= kPlain; v++)
    put_counting(t, tunnel_key(v, {}, rng), plain_mask(), id++);
  auto opts_len_of = [](uint32_t i) { return i % 2 ? 40u : 8u; };
  for (uint32_t i = 0; i < kOpts; i++) {
    const uint32_t len = opts_len_of(i);
    put_counting(t, tunnel_key(1000 + i, opts_n(len, i), rng), opts_mask(len), id++);
  }
  ASSERT_EQ(t.size(), kPlain + kOpts);
  ASSERT_EQ(t.classifier().subtable_count(), 3u);

  struct Probe {
    FlowKey key;
    const Flow* want;
  };
  std::vector<Probe> probes;
  for (int n = 0; n < 2000; n++) {
    Probe p;
    const uint32_t i = static_cast<uint32_t>(rng() % kOpts);
    const uint32_t len = opts_len_of(i);
    switch (rng() % 6) {
      case 0:    // a plain flow's VNI, no options
      case 1: {  // ... or any options: an option-less mask ignores them
        const uint32_t v = 1 + static_cast<uint32_t>(rng() % kPlain);
        p.key = tunnel_key(v, rng() % 2 ? std::vector<uint8_t>{} : opts_n(len, i), rng);
        p.want = t.find(ufid_n(v));
        ASSERT_NE(p.want, nullptr);
        break;
      }
      case 2:  // an option flow's VNI and exactly its options
        p.key = tunnel_key(1000 + i, opts_n(len, i), rng);
        p.want = t.find(ufid_n(kPlain + 1 + i));
        ASSERT_NE(p.want, nullptr);
        break;
      case 3: {  // one option byte differs
        std::vector<uint8_t> o = opts_n(len, i);
        o[4 + rng() % (len - 4)] ^= static_cast<uint8_t>(1 + rng() % 255);
        p.key = tunnel_key(1000 + i, o, rng);
        p.want = nullptr;
        break;
      }
      case 4:  // the right VNI, no options or the other flows' length
        p.key = tunnel_key(1000 + i, rng() % 2 ? std::vector<uint8_t>{} : opts_n(48 - len, i), rng);
        p.want = nullptr;
        break;
      default:  // another option flow's options
        p.key = tunnel_key(1000 + i, opts_n(len, (i + 2) % kOpts), rng);
        p.want = nullptr;
    }
    probes.push_back(p);
  }
  for (uint32_t burst : {1u, 13u, 32u}) {
    SCOPED_TRACE(testing::Message() << "burst " << burst);
    for (size_t base = 0; base < probes.size(); base += burst) {
      const uint32_t n = static_cast<uint32_t>(std::min<size_t>(burst, probes.size() - base));
      const FlowKey* keys[32];
      const Flow* out[32];
      for (uint32_t j = 0; j < n; j++) keys[j] = &probes[base + j].key;
      t.classifier().lookup_batch(keys, n, out);
      for (uint32_t j = 0; j < n; j++) ASSERT_EQ(out[j], probes[base + j].want) << base + j;
    }
  }
  // Deleting the option flows leaves the plain ones matching as before.
  for (uint32_t i = 0; i < kOpts; i++) ASSERT_EQ(t.del(ufid_n(kPlain + 1 + i), nullptr), 0);
  EXPECT_EQ(t.classifier().subtable_count(), 1u);
  for (const Probe& p : probes) {
    const Flow* got = t.classifier().lookup(p.key);
    if (be64toh(p.key.tun_id) <= kPlain)
      ASSERT_EQ(got, p.want);
    else
      ASSERT_EQ(got, nullptr);
  }
  rcu.synchronize();
}

INSTANTIATE_TEST_SUITE_P(Isa, FlowMemoryMixed,
                         ::testing::Values(CpuIsa::kSse42, CpuIsa::kAvx2, CpuIsa::kAvx512),
                         [](const auto& info) { return std::string(cpu_isa_name(info.param)); });

}  // namespace
}  // namespace dpx
