// The exact-match cache (EMC): one per PMD thread, never shared. It maps a
// packet's full FlowKey (compared in full) to the megaflow that the
// classifier found for it, so a microflow seen before costs one hash and
// one key compare instead of a tuple space search.
//
// Entries hold the key's 192-byte head only: packets with Geneve options
// (whose keys are up to 252 bytes longer) are never inserted and always go
// to the classifier, so the cache keeps its size and stride for the traffic
// it is for. A stored head has tun_opts_len 0, so a key with options never
// equals it.
//
// Shape: a fixed number of entries (a power of two, default 8192) chosen at
// creation; each key has two candidate entries taken from different bits of
// its hash; insert replaces (an empty candidate, else the candidate holding
// the same key, else the one with the lower stored hash, a cheap
// pseudo-random choice as in OVS). Signatures and flow pointers live in a
// compact array apart from the keys, so a miss usually costs one cache line.
//
// Removal contract (why FlowTable frees a flow only after TWO grace periods).
// EMC entries outlive a burst, so RCU's "no pointer across a quiescent point"
// rule does not hold for them by itself. Instead:
//  - The control thread, to remove flow F: (1) tombstones F in the
//    classifier, (2) sets F->dead (release), (3) bumps the table's removal
//    epoch (release), (4) queues F's free with Rcu::defer_two_gp, whose first
//    grace period token T1 is taken after (3).
//  - At each quiescent point a PMD first loads the epoch (acquire) and, if it
//    changed since the last time, drops every dead flow from its EMC
//    (sweep_dead), and only then reports quiescent. pmd_quiescent() does this.
// One grace period is not enough: a PMD may find F in the classifier, insert
// it into its EMC, reach its quiescent point and load the OLD epoch (so it
// does not sweep) just before the control thread runs (1)-(4); it then
// reports quiescent after T1 was taken, which completes the first grace
// period while F is still in its EMC. Freeing F then would leave a dangling
// EMC entry used by the next burst.
// Two are enough: the report that completes the first grace period loads the
// token with acquire and reads a value >= T1, written by a release RMW that
// follows (1)-(3) on the control thread; so everything that PMD does after
// that report sees F tombstoned (no new EMC insert of F) and sees the new
// epoch. The second grace period starts after the first one ended, so the
// report completing it belongs to a later quiescent point of that PMD, whose
// epoch load (which precedes the report) sees the new epoch: F is swept out,
// unless an earlier sweep that already saw the new epoch did so (and then F
// could not be re-inserted). Hence after the second grace period no EMC
// holds F, and no burst is using it.
// A PMD that sleeps goes offline (pmd_offline); grace periods then proceed
// without it and flows it caches may be freed, so pmd_online() clears its
// whole EMC, without dereferencing any entry, if the epoch moved meanwhile.
//
// Thread-safety: an Emc belongs to one PMD thread; every method must be
// called from it. No method allocates except the constructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "cpu_isa.h"
#include "flow_hash.h"
#include "flow_key.h"
#include "flow_table.h"
#include "rcu.h"
#include "simple_match.h"

namespace dpx {

// The hash the PMD uses for its EMC: only the words that carry a microflow's
// identity in ordinary traffic (metadata, Ethernet, VLAN, IPv4 addresses, L4
// ports), plus the IPv6 addresses when the packet is IPv6 and the outer
// addresses when it came from a tunnel: 6 to 10 words instead of all 24,
// which made hashing most of the cost of an EMC hit. Which words are hashed
// only decides how keys spread over the entries; lookups compare the whole
// key, so keys that differ only in unhashed words share candidate entries
// but never match each other.
inline uint32_t emc_hash(const FlowKey& k) {
  const uint64_t* w = k.words();
  uint64_t a = _mm_crc32_u64(0, w[0]);  // in_port, recirc_id
  uint64_t b = _mm_crc32_u64(0, w[1]);  // eth_dst, eth_src
  a = _mm_crc32_u64(a, w[2]);           // eth_src, eth_type, frag, proto
  b = _mm_crc32_u64(b, w[3]);           // VLAN tags
  a = _mm_crc32_u64(a, w[4]);           // IPv4 / ARP addresses
  b = _mm_crc32_u64(b, w[5]);           // L4 ports, tos, ttl, tcp_flags
  if (k.eth_type == __builtin_bswap16(0x86dd)) {
    a = _mm_crc32_u64(a, w[6]);  // ipv6_src
    b = _mm_crc32_u64(b, w[7]);
    a = _mm_crc32_u64(a, w[8]);  // ipv6_dst
    b = _mm_crc32_u64(b, w[9]);
  }
  if (k.tun_flags | k.tun_ipv4_dst) [[unlikely]] {
    a = _mm_crc32_u64(a, w[16]);  // tun_id
    b = _mm_crc32_u64(b, w[17]);  // outer IPv4 addresses
  }
  const uint64_t h = a * 0x9e3779b97f4a7c15ULL + b * 0xc2b2ae3d27d4eb4fULL;
  return flow_hash_detail::fmix32(static_cast<uint32_t>(h ^ (h >> 32)));
}

class Emc {
 public:
  static constexpr uint32_t kDefaultEntries = 8192;

  // `entries` is rounded up to a power of two (at least 2). `isa` picks the
  // full-key compare of lookup_run() (cpu_isa.h); the caller checked that
  // this CPU supports it.
  explicit Emc(uint32_t entries = kDefaultEntries, CpuIsa isa = CpuIsa::kSse42)
      : lookup_run_fn_(pick_lookup_run(isa)) {
    uint32_t n = 2;
    while (n < entries) n <<= 1;
    mask_ = n - 1;
    meta_ = std::make_unique<Meta[]>(n);
    keys_ = std::make_unique<FlowKeyHead[]>(n);
  }

  uint32_t capacity() const { return mask_ + 1; }

  // Brings the two candidate entries of `hash` into the cache ahead of a
  // lookup() or insert().
  void prefetch(uint32_t hash) const {
    __builtin_prefetch(&meta_[first(hash)]);
    __builtin_prefetch(&meta_[second(hash)]);
    __builtin_prefetch(&keys_[first(hash)]);
  }

  // For i < n: hashes[i] = hash_key(*keys[i]) (to pass to insert() after a
  // classifier hit) and out[i] = the cached flow or nullptr. Staged: hash and
  // prefetch every key's candidates first, then compare.
  void lookup_batch(const FlowKey* const keys[], uint32_t n, uint32_t hashes[],
                    const Flow* out[]) const {
    for (uint32_t i = 0; i < n; i++) {
      uint32_t h = hash_key(*keys[i]);
      hashes[i] = h;
      __builtin_prefetch(&meta_[first(h)]);
      __builtin_prefetch(&meta_[second(h)]);
      __builtin_prefetch(&keys_[first(h)]);
    }
    for (uint32_t i = 0; i < n; i++) out[i] = lookup(*keys[i], hashes[i]);
  }

  // The same with hashes the caller already has (e.g. the NIC's RSS hash
  // mixed with the recirculation id): any hash works as long as one key
  // always gets the same one, since keys are compared in full.
  void lookup_batch_hashed(const FlowKey* const keys[], uint32_t n, const uint32_t hashes[],
                           const Flow* out[]) const {
    for (uint32_t i = 0; i < n; i++) {
      __builtin_prefetch(&meta_[first(hashes[i])]);
      __builtin_prefetch(&meta_[second(hashes[i])]);
      __builtin_prefetch(&keys_[first(hashes[i])]);
    }
    for (uint32_t i = 0; i < n; i++) out[i] = lookup(*keys[i], hashes[i]);
  }

  const Flow* lookup(const FlowKey& key, uint32_t hash) const {
    return lookup_with<SseKeyEq>(key, hash);
  }

  // The PMD's burst: for i < n, out[i] = out[i - 1] if same[i] (the key
  // equals the previous one; same[0] must be false), else the cached flow
  // of *keys[i] (hash hashes[i]) or nullptr. Its full-key compares use the
  // vector level the cache was created with: one indirect call per burst.
  void lookup_run(const FlowKey* const* keys, const uint32_t* hashes, const bool* same, uint32_t n,
                  const Flow** out) const {
    lookup_run_fn_(*this, keys, hashes, same, n, out);
  }

  // lookup() with the full-key compare KeyEq::equal(a, b), and lookup_run()
  // built on it: the vector variants (emc_simd.cc) instantiate them.
  template <class KeyEq>
  const Flow* lookup_with(const FlowKey& key, uint32_t hash) const {
    uint32_t a = first(hash);
    if (meta_[a].hash == hash && meta_[a].flow != nullptr && KeyEq::equal(keys_[a], key))
      return meta_[a].flow;
    uint32_t b = second(hash);
    if (meta_[b].hash == hash && meta_[b].flow != nullptr && KeyEq::equal(keys_[b], key))
      return meta_[b].flow;
    return nullptr;
  }
  template <class KeyEq>
  static void lookup_run_with(const Emc& emc, const FlowKey* const* keys, const uint32_t* hashes,
                              const bool* same, uint32_t n, const Flow** out) {
    for (uint32_t i = 0; i < n; i++)
      out[i] = same[i] ? out[i - 1] : emc.lookup_with<KeyEq>(*keys[i], hashes[i]);
  }
  using LookupRunFn = void (*)(const Emc&, const FlowKey* const*, const uint32_t*, const bool*,
                               uint32_t, const Flow**);

  // Caches key -> flow. `flow` must be a live flow the PMD got from the
  // classifier in the current burst.
  void insert(const FlowKey& key, uint32_t hash, const Flow* flow) {
    if (key.tun_opts_len) [[unlikely]]
      return;  // not cached (above)
    uint32_t a = first(hash), b = second(hash);
    uint32_t victim;
    if (meta_[a].flow == nullptr || (meta_[a].hash == hash && same_key(keys_[a], key))) {
      victim = a;
    } else if (meta_[b].flow == nullptr || (meta_[b].hash == hash && same_key(keys_[b], key))) {
      victim = b;
    } else {
      victim = meta_[a].hash <= meta_[b].hash ? a : b;
    }
    meta_[victim].hash = hash;
    meta_[victim].flow = flow;
    std::memcpy(&keys_[victim], &key, sizeof keys_[victim]);
  }

  // Drops the entries whose flow is marked dead. Returns how many.
  uint32_t sweep_dead() {
    uint32_t dropped = 0;
    if (simple_flow_ && simple_flow_->dead.load(std::memory_order_acquire)) {
      simple_flow_ = nullptr;
      dropped++;
    }
    if (simple_tunnel_flow_ && simple_tunnel_flow_->dead.load(std::memory_order_acquire)) {
      simple_tunnel_flow_ = nullptr;
      dropped++;
    }
    for (uint32_t i = 0; i <= mask_; i++) {
      const Flow* f = meta_[i].flow;
      if (f != nullptr && f->dead.load(std::memory_order_acquire)) {
        meta_[i].flow = nullptr;
        dropped++;
      }
    }
    return dropped;
  }

  // Drops every entry without looking at the flows.
  void clear() {
    for (uint32_t i = 0; i <= mask_; i++) meta_[i].flow = nullptr;
    simple_flow_ = nullptr;
    simple_tunnel_flow_ = nullptr;
  }

  // One more entry, for simple mode (simple_match.h): the flow of the last
  // simple key the classifier resolved, so that a PMD forwarding one simple
  // key needs no classifier lookup per burst. It lives under the same rules
  // as the other entries (inserted only with a flow the classifier returned
  // in the current burst, swept and cleared with them), so the
  // two-grace-period argument above covers it too.
  const Flow* simple_lookup(const SimpleKey& k) const {
    return simple_flow_ && simple_keys_equal(k, simple_key_) ? simple_flow_ : nullptr;
  }
  // The simple entry itself (null: free), for a PMD that checks packets
  // against its key before extracting theirs.
  const Flow* simple_flow() const { return simple_flow_; }
  const SimpleKey& simple_key() const { return simple_key_; }
  void simple_insert(const SimpleKey& k, const Flow* flow) {
    simple_key_ = k;
    simple_flow_ = flow;
  }
  // And one for decapsulated packets, whose lookups add the run's tunnel
  // (a separate entry, so that a PMD receiving both plain and tunnel
  // traffic keeps both).
  const Flow* simple_tunnel_lookup(const SimpleKey& k, const SimpleTunnel& t) const {
    return simple_tunnel_flow_ && simple_keys_equal(k, simple_tunnel_key_) &&
                   simple_tunnels_equal(t, simple_tunnel_)
               ? simple_tunnel_flow_
               : nullptr;
  }
  void simple_tunnel_insert(const SimpleKey& k, const SimpleTunnel& t, const Flow* flow) {
    simple_tunnel_key_ = k;
    simple_tunnel_ = t;
    simple_tunnel_flow_ = flow;
  }

  // Entries in use (a linear scan; for tests and statistics).
  uint32_t count() const {
    uint32_t n = 0;
    for (uint32_t i = 0; i <= mask_; i++) n += meta_[i].flow != nullptr;
    return n;
  }

 private:
  struct Meta {
    uint32_t hash = 0;
    const Flow* flow = nullptr;  // nullptr: free
  };

  uint32_t first(uint32_t h) const { return h & mask_; }
  uint32_t second(uint32_t h) const { return (h >> 16 | h << 16) & mask_; }

  static bool same_key(const FlowKeyHead& a, const FlowKey& b) { return key_heads_equal(&a, &b); }
  // The full-key compare of lookups: the heads (cached keys have no
  // options, and a key's option length is in its head).
  struct SseKeyEq {
    static bool equal(const FlowKeyHead& a, const FlowKey& b) { return key_heads_equal(&a, &b); }
  };
  static LookupRunFn pick_lookup_run(CpuIsa isa);

  LookupRunFn lookup_run_fn_;
  uint32_t mask_;
  SimpleKey simple_key_{};
  const Flow* simple_flow_ = nullptr;  // nullptr: the simple entry is free
  SimpleKey simple_tunnel_key_{};
  SimpleTunnel simple_tunnel_{};
  const Flow* simple_tunnel_flow_ = nullptr;  // nullptr: free
  std::unique_ptr<Meta[]> meta_;
  std::unique_ptr<FlowKeyHead[]> keys_;
};

// Emc::lookup_run with AVX2 / AVX-512 full-key compares (emc_simd.cc).
void emc_lookup_run_avx2(const Emc&, const FlowKey* const*, const uint32_t*, const bool*, uint32_t,
                         const Flow**);
void emc_lookup_run_avx512(const Emc&, const FlowKey* const*, const uint32_t*, const bool*,
                           uint32_t, const Flow**);

inline Emc::LookupRunFn Emc::pick_lookup_run(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return emc_lookup_run_avx512;
    case CpuIsa::kAvx2:
      return emc_lookup_run_avx2;
    case CpuIsa::kSse42:
      break;
  }
  return lookup_run_with<SseKeyEq>;
}

// A PMD's view of RCU and of the flow table's removal epoch.
struct PmdRcuState {
  Rcu* rcu = nullptr;
  uint32_t thread_id = 0;
  const std::atomic<uint64_t>* removal_epoch = nullptr;
  uint64_t seen_epoch = 0;
};

// Binds a PMD (already registered with `rcu` as `thread_id`) to `table`.
inline PmdRcuState pmd_rcu_state(Rcu* rcu, uint32_t thread_id, const FlowTable& table) {
  return PmdRcuState{rcu, thread_id, &table.removal_epoch(),
                     table.removal_epoch().load(std::memory_order_acquire)};
}

// The PMD's quiescent point, between bursts: sweep dead flows out of the EMC
// if any flow was removed since the last call, THEN report quiescent (the
// order is what the two-grace-period argument above relies on).
inline void pmd_quiescent(PmdRcuState& s, Emc& emc) {
  uint64_t e = s.removal_epoch->load(std::memory_order_acquire);
  if (e != s.seen_epoch) {
    emc.sweep_dead();
    s.seen_epoch = e;
  }
  s.rcu->quiescent(s.thread_id);
}

// Before sleeping or blocking: the PMD must hold no flow pointer other than
// its EMC's entries.
inline void pmd_offline(PmdRcuState& s) { s.rcu->offline(s.thread_id); }

// After waking: back online, then forget the EMC if flows were removed while
// offline (they may be freed already, so the entries are not dereferenced).
inline void pmd_online(PmdRcuState& s, Emc& emc) {
  s.rcu->online(s.thread_id);
  uint64_t e = s.removal_epoch->load(std::memory_order_acquire);
  if (e != s.seen_epoch) {
    emc.clear();
    s.seen_epoch = e;
  }
}

}  // namespace dpx
