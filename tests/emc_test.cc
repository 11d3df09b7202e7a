// The exact-match cache: hits, misses, replacement, sweeping dead flows, and
// the PMD quiescent helpers that drive sweeping from the removal epoch.
#include "emc.h"

#include <arpa/inet.h>
#include <endian.h>
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

namespace dpx {
namespace {

FlowKey key_n(uint64_t n) {
  FlowKey k;
  k.clear();
  k.ipv4_src = static_cast<uint32_t>(n);
  k.tp_src = static_cast<uint16_t>(n >> 32);
  k.tun_id = n * 7;  // a word in the last cache line matters too
  return k;
}

TEST(Emc, CapacityIsPowerOfTwo) {
  EXPECT_EQ(Emc().capacity(), Emc::kDefaultEntries);
  EXPECT_EQ(Emc(1000).capacity(), 1024u);
  EXPECT_EQ(Emc(1).capacity(), 2u);
}

TEST(Emc, HitAndMiss) {
  Emc emc(1024);
  Flow f1, f2;
  FlowKey k1 = key_n(1), k2 = key_n(2);
  EXPECT_EQ(emc.lookup(k1, hash_key(k1)), nullptr);
  emc.insert(k1, hash_key(k1), &f1);
  emc.insert(k2, hash_key(k2), &f2);
  EXPECT_EQ(emc.lookup(k1, hash_key(k1)), &f1);
  EXPECT_EQ(emc.lookup(k2, hash_key(k2)), &f2);

  // The full key is compared: a key differing in the last word misses even
  // when handed the same hash.
  FlowKey k1b = k1;
  k1b.pad1[0] = 1;
  EXPECT_EQ(emc.lookup(k1b, hash_key(k1)), nullptr);
  EXPECT_EQ(emc.lookup(k1b, hash_key(k1b)), nullptr);

  // Re-inserting a key updates its entry in place.
  emc.insert(k1, hash_key(k1), &f2);
  EXPECT_EQ(emc.lookup(k1, hash_key(k1)), &f2);
  EXPECT_EQ(emc.count(), 2u);
}

TEST(Emc, BatchMatchesSingleLookupsForEveryBurstSize) {
  Emc emc(256);
  std::vector<std::unique_ptr<Flow>> flows;
  std::vector<FlowKey> keys;
  for (int i = 0; i < 64; i++) {
    flows.push_back(std::make_unique<Flow>());
    keys.push_back(key_n(i));
    if (i % 2 == 0) emc.insert(keys[i], hash_key(keys[i]), flows[i].get());
  }
  for (uint32_t n = 0; n <= 64; n++) {
    std::vector<const FlowKey*> ptrs(n);
    for (uint32_t i = 0; i < n; i++) ptrs[i] = &keys[i];
    std::vector<const Flow*> out(n + 1, reinterpret_cast<const Flow*>(uintptr_t{3}));
    std::vector<uint32_t> hashes(n + 1, 0xabcd);
    emc.lookup_batch(ptrs.data(), n, hashes.data(), out.data());
    EXPECT_EQ(out[n], reinterpret_cast<const Flow*>(uintptr_t{3}));
    EXPECT_EQ(hashes[n], 0xabcdu);
    std::vector<const Flow*> out2(n + 1, reinterpret_cast<const Flow*>(uintptr_t{3}));
    emc.lookup_batch_hashed(ptrs.data(), n, hashes.data(), out2.data());
    EXPECT_EQ(out2, out);
    for (uint32_t i = 0; i < n; i++) {
      EXPECT_EQ(hashes[i], hash_key(keys[i]));
      EXPECT_EQ(out[i], emc.lookup(keys[i], hashes[i]));
      // Odd keys were never inserted.
      if (i % 2 == 1) {
        EXPECT_EQ(out[i], nullptr);
      }
    }
  }
}

TEST(Emc, ReplacementKeepsAtMostTwoPerCandidatePair) {
  // With 2 entries every key has the same two candidates: inserting a third
  // key must evict one of the first two and never corrupt a mapping.
  Emc emc(2);
  Flow fa, fb, fc;
  FlowKey a = key_n(10), b = key_n(11), c = key_n(12);
  emc.insert(a, hash_key(a), &fa);
  emc.insert(b, hash_key(b), &fb);
  uint32_t cached_before =
      (emc.lookup(a, hash_key(a)) == &fa) + (emc.lookup(b, hash_key(b)) == &fb);
  EXPECT_GE(cached_before, 1u);
  emc.insert(c, hash_key(c), &fc);
  EXPECT_EQ(emc.lookup(c, hash_key(c)), &fc);
  const Flow* ga = emc.lookup(a, hash_key(a));
  const Flow* gb = emc.lookup(b, hash_key(b));
  EXPECT_TRUE(ga == nullptr || ga == &fa);
  EXPECT_TRUE(gb == nullptr || gb == &fb);
  EXPECT_LE((ga != nullptr) + (gb != nullptr), 1);
  EXPECT_LE(emc.count(), 2u);
}

TEST(Emc, ManyKeysAllLookupsConsistent) {
  Emc emc(1024);
  std::vector<std::unique_ptr<Flow>> flows;
  std::vector<FlowKey> keys;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 4000; i++) {
    flows.push_back(std::make_unique<Flow>());
    keys.push_back(key_n(rng()));
    emc.insert(keys[i], hash_key(keys[i]), flows[i].get());
  }
  uint32_t hits = 0;
  for (int i = 0; i < 4000; i++) {
    const Flow* f = emc.lookup(keys[i], hash_key(keys[i]));
    if (f != nullptr) {
      EXPECT_EQ(f, flows[i].get());
      hits++;
    }
  }
  EXPECT_EQ(hits, emc.count());
  EXPECT_GT(hits, 700u);  // 1024 entries, 4000 keys: most entries hold one
  // The most recent insert is always present.
  EXPECT_EQ(emc.lookup(keys.back(), hash_key(keys.back())), flows.back().get());
}

TEST(Emc, SweepDropsOnlyDeadFlows) {
  Emc emc(1024);
  Flow live, dead;
  FlowKey k1 = key_n(1), k2 = key_n(2);
  emc.insert(k1, hash_key(k1), &live);
  emc.insert(k2, hash_key(k2), &dead);
  dead.dead.store(true);
  EXPECT_EQ(emc.sweep_dead(), 1u);
  EXPECT_EQ(emc.lookup(k1, hash_key(k1)), &live);
  EXPECT_EQ(emc.lookup(k2, hash_key(k2)), nullptr);
  emc.clear();
  EXPECT_EQ(emc.count(), 0u);
}

// The simple-mode entry answers only its own simple key, and is swept and
// cleared like the other entries.
TEST(Emc, SimpleEntryFollowsTheEntriesRules) {
  Emc emc(16);
  Flow f;
  SimpleKey a{}, b{};
  a.in_port = 1;
  a.eth_type = htons(0x0800);
  b = a;
  b.vlan[0].tci = htons(0x1005);
  EXPECT_EQ(emc.simple_lookup(a), nullptr);
  emc.simple_insert(a, &f);
  EXPECT_EQ(emc.simple_lookup(a), &f);
  EXPECT_EQ(emc.simple_lookup(b), nullptr);
  EXPECT_EQ(emc.sweep_dead(), 0u);
  EXPECT_EQ(emc.simple_lookup(a), &f);
  f.dead.store(true);
  EXPECT_EQ(emc.sweep_dead(), 1u);
  EXPECT_EQ(emc.simple_lookup(a), nullptr);
  Flow g;
  emc.simple_insert(b, &g);
  emc.clear();
  EXPECT_EQ(emc.simple_lookup(b), nullptr);
}

// The entry of decapsulated runs answers only its own simple key and
// tunnel (tp_src aside), apart from the plain entry, and is swept and
// cleared like the others.
TEST(Emc, SimpleTunnelEntryFollowsTheEntriesRules) {
  Emc emc(16);
  Flow f, p;
  SimpleKey a{};
  a.in_port = 3;
  a.eth_type = htons(0x0800);
  FlowKey line{};
  line.tun_id = htobe64(42);
  line.tun_ipv4_src = htonl(0x0a000002);
  line.tun_tp_src = htons(49152);
  const SimpleTunnel t = simple_tunnel_of(&line.tun_id);
  line.tun_tp_src = htons(50000);  // another packet of the run
  const SimpleTunnel t2 = simple_tunnel_of(&line.tun_id);
  EXPECT_TRUE(simple_tunnels_equal(t, t2));
  line.tun_id = htobe64(43);
  const SimpleTunnel other_vni = simple_tunnel_of(&line.tun_id);
  EXPECT_FALSE(simple_tunnels_equal(t, other_vni));
  EXPECT_EQ(emc.simple_tunnel_lookup(a, t), nullptr);
  emc.simple_tunnel_insert(a, t, &f);
  emc.simple_insert(a, &p);
  EXPECT_EQ(emc.simple_tunnel_lookup(a, t2), &f);
  EXPECT_EQ(emc.simple_tunnel_lookup(a, other_vni), nullptr);
  EXPECT_EQ(emc.simple_lookup(a), &p);
  SimpleKey b = a;
  b.nw_tos = 1;
  EXPECT_EQ(emc.simple_tunnel_lookup(b, t), nullptr);
  f.dead.store(true);
  EXPECT_EQ(emc.sweep_dead(), 1u);
  EXPECT_EQ(emc.simple_tunnel_lookup(a, t), nullptr);
  EXPECT_EQ(emc.simple_lookup(a), &p);
  Flow g;
  emc.simple_tunnel_insert(a, t, &g);
  emc.clear();
  EXPECT_EQ(emc.simple_tunnel_lookup(a, t), nullptr);
}

// lookup_run with each vector compare this CPU has (cpu_isa.h) against the
// scalar lookup(): hits, misses, and keys that differ from a cached one
// only in words emc_hash() leaves out (same hash, same candidates), which
// only the full-key compare can tell apart, in every 64-bit word in turn.
TEST(Emc, LookupRunVariantsAgreeWithLookup) {
  for (CpuIsa isa : {CpuIsa::kSse42, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    SCOPED_TRACE(cpu_isa_name(isa));
    Emc emc(1024, isa);
    std::mt19937_64 rng(5);
    std::vector<Flow> flows(200);
    std::vector<FlowKey> cached(flows.size());
    for (size_t i = 0; i < flows.size(); i++) {
      // Random heads without Geneve options: keys with options are never cached.
      for (size_t w = 0; w < FlowKey::kHeadWords; w++) cached[i].words()[w] = rng();
      cached[i].tun_opts_len = 0;
      emc.insert(cached[i], emc_hash(cached[i]), &flows[i]);
    }
    alignas(64) FlowKey keys[32];
    uint32_t hashes[32];
    bool same[32];
    const Flow* out[33];
    uint32_t hits = 0, near = 0;
    for (int round = 0; round < 400; round++) {
      for (uint32_t i = 0; i < 32; i++) {
        keys[i] = cached[rng() % cached.size()];
        const uint32_t kind = static_cast<uint32_t>(rng() % 4);
        if (kind == 1) {
          keys[i].words()[rng() % FlowKey::kHeadWords] ^= uint64_t{1} << (rng() % 64);
        } else if (kind == 2) {
          // A word emc_hash leaves out (the random ethertype is not IPv6;
          // words 16 and 17, the tunnel's, are hashed): same hash.
          const size_t r = rng() % 16;
          const size_t w = r < 10 ? 6 + r : 18 + (r - 10);  // 6..15, 18..23
          keys[i].words()[w] ^= uint64_t{1} << (rng() % 64);
          near++;
        } else if (kind == 3 && i > 0) {
          keys[i] = keys[i - 1];
        }
        hashes[i] = emc_hash(keys[i]);
        same[i] = i > 0 && keys_equal(keys[i], keys[i - 1]);
      }
      out[32] = reinterpret_cast<const Flow*>(uintptr_t{0xc0ffee});
      const FlowKey* key_ptrs[32];
      for (uint32_t i = 0; i < 32; i++) key_ptrs[i] = &keys[i];
      emc.lookup_run(key_ptrs, hashes, same, 32, out);
      ASSERT_EQ(out[32], reinterpret_cast<const Flow*>(uintptr_t{0xc0ffee}));
      for (uint32_t i = 0; i < 32; i++) {
        ASSERT_EQ(out[i], emc.lookup(keys[i], hashes[i])) << "round " << round << " key " << i;
        hits += out[i] != nullptr;
      }
    }
    EXPECT_GT(hits, 3000u);
    EXPECT_GT(near, 2000u);
  }
}

// pmd_quiescent sweeps only when the removal epoch moved, and before
// reporting quiescent; pmd_online clears without dereferencing.
TEST(Emc, PmdQuiescentFollowsRemovalEpoch) {
  Rcu rcu(2);
  static int programs_freed;
  programs_freed = 0;
  struct CountingFree {
    static void free_actions(const ActionProgram*) { programs_freed++; }
  };
  int program_storage = 0;  // the table never looks inside a program
  const auto* program = reinterpret_cast<const ActionProgram*>(&program_storage);
  FlowTable table(&rcu, CountingFree::free_actions, 100);
  ASSERT_EQ(rcu.register_thread(0), 0);
  Emc emc(64);
  PmdRcuState pmd = pmd_rcu_state(&rcu, 0, table);

  FlowPutArgs a;
  a.key = key_n(1);
  a.mask.clear();
  a.mask.ipv4_src = 0xffffffff;
  a.ufid = Ufid{{1, 0, 0, 0}};
  a.program = program;
  ASSERT_EQ(table.put(a, nullptr), 0);
  const Flow* f = table.classifier().lookup(a.key);
  ASSERT_NE(f, nullptr);
  emc.insert(a.key, hash_key(a.key), f);

  pmd_quiescent(pmd, emc);
  EXPECT_EQ(emc.lookup(a.key, hash_key(a.key)), f);  // nothing removed yet
  rcu.reclaim();

  ASSERT_EQ(table.del(a.ufid, nullptr), 0);
  // The reader has not passed a quiescent point: nothing may be freed.
  rcu.reclaim();
  EXPECT_EQ(programs_freed, 0);
  EXPECT_EQ(f->magic, kFlowMagic);
  pmd_quiescent(pmd, emc);  // sweeps, then reports
  EXPECT_EQ(emc.lookup(a.key, hash_key(a.key)), nullptr);
  rcu.reclaim();  // first grace period over; the second starts now
  EXPECT_EQ(programs_freed, 0);
  EXPECT_EQ(rcu.pending(), 1u);
  pmd_quiescent(pmd, emc);
  EXPECT_EQ(rcu.reclaim(), 1u);
  EXPECT_EQ(programs_freed, 1);
  EXPECT_EQ(rcu.pending(), 0u);

  // Offline: removals proceed without the PMD; online clears the cache.
  a.ufid = Ufid{{2, 0, 0, 0}};
  ASSERT_EQ(table.put(a, nullptr), 0);
  f = table.classifier().lookup(a.key);
  emc.insert(a.key, hash_key(a.key), f);
  pmd_quiescent(pmd, emc);
  pmd_offline(pmd);
  ASSERT_EQ(table.del(a.ufid, nullptr), 0);
  rcu.synchronize();  // does not wait for the offline PMD
  EXPECT_EQ(programs_freed, 2);
  EXPECT_EQ(emc.count(), 1u);
  pmd_online(pmd, emc);
  EXPECT_EQ(emc.count(), 0u);
  EXPECT_EQ(rcu.unregister_thread(0), 0);
}

}  // namespace
}  // namespace dpx
