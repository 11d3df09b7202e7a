// Internals of the megaflow classifier (classifier.h), shared by its
// scalar lookups (classifier.cc) and its vector variants (classifier_simd.cc):
// the bucket table, the subtable and the staged lookup loop. Nothing outside
// those two files includes this.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>

#include "classifier.h"
#include "cpu_isa.h"
#include "flow_hash.h"
#include "flow_table.h"

namespace dpx {
namespace classifier_detail {

constexpr uint32_t kSlots = 4;                // slots per bucket
constexpr uint32_t kMinBuckets = 4;           // smallest table: 16 slots
constexpr uint32_t kHashBasis = 0x6d65'6761;  // any constant; "mega"

// A removed slot. Never reused: a slot goes empty -> flow -> tombstone, so
// its signature is written once, before its flow pointer is published.
// Signatures only filter: a match is always confirmed on the flow's key, so a
// reader racing an insert at worst misses the flow being added.
const Flow* const kTombstone = reinterpret_cast<const Flow*>(uintptr_t{1});

inline bool is_flow(const Flow* f) { return reinterpret_cast<uintptr_t>(f) > 1; }

// One cache line: four 32-bit signatures (the full hash), four flow pointers
// and an overflow flag. A key's home bucket is hash & bucket_mask; an insert
// that finds its home bucket full sets the bucket's overflow flag and moves
// to the next one (linear probing by bucket). A lookup therefore stops at the
// first bucket without the flag: with the load factor kept under 3/4 a miss,
// the common case in a tuple space search, usually reads one cache line.
struct alignas(64) Bucket {
  std::atomic<uint32_t> sig[kSlots];
  std::atomic<const Flow*> flow[kSlots];
  std::atomic<uint8_t> overflow;  // set once, cleared only by a rebuild
};
static_assert(sizeof(Bucket) == 64);

// Bit s set when slot s's signature equals h: no branch per slot.
inline uint32_t sig_matches(const Bucket& b, uint32_t h) {
  uint32_t m = 0;
  for (uint32_t s = 0; s < kSlots; s++)
    m |= uint32_t{b.sig[s].load(std::memory_order_relaxed) == h} << s;
  return m;
}

struct Table {
  uint32_t bucket_mask;  // n_buckets - 1, n_buckets a power of two
  Bucket* buckets;

  static Table* create(uint32_t n_buckets) {
    void* mem = std::aligned_alloc(64, size_t{n_buckets} * sizeof(Bucket));
    if (mem == nullptr) throw std::bad_alloc();
    // Value-initialised: null pointers, zero signatures, no overflow.
    auto* buckets = static_cast<Bucket*>(mem);
    for (uint32_t i = 0; i < n_buckets; i++) new (&buckets[i]) Bucket();
    return new Table{n_buckets - 1, buckets};
  }
  static void destroy(Table* t) {
    std::free(t->buckets);
    delete t;
  }
  uint32_t slots() const { return (bucket_mask + 1) * kSlots; }
};

}  // namespace classifier_detail

struct Classifier::Subtable {
  // Hashes the still-unmatched keys (bits of `todo`) with this subtable's
  // mask, then finds their flows. Returns the bits of the keys it matched and
  // sets out[] for them.
  using LookupFn = uint64_t (*)(const Subtable& st, const classifier_detail::Table& t,
                                const FlowKey* const keys[], uint64_t todo, const Flow* out[]);

  // ---- read by PMDs; fixed at creation ----
  LookupFn lookup_fn;
  std::atomic<classifier_detail::Table*> table{nullptr};  // replaced when rebuilt
  uint32_t n_words = 0;                                   // non-zero words of the mask
  uint8_t word_index[FlowKey::kWords];
  uint64_t mask_words[FlowKey::kWords];  // mask_words[j] = mask word word_index[j]
  // For the vector lookups (classifier_simd.cc): the mask's 64-byte lines
  // and 32-byte quarters that hold a non-zero word, with the bits of those
  // words in each.
  uint8_t n_lines = 0, n_quarters = 0;
  uint8_t line[FlowKey::kWords / 8], line_bits[FlowKey::kWords / 8];
  uint8_t quarter[FlowKey::kWords / 4], quarter_bits[FlowKey::kWords / 4];
  // The mask, word for word (the writer also finds subtables by it).
  alignas(64) uint64_t full_mask[FlowKey::kWords];
  // ---- written by PMDs: its own cache line ----
  alignas(64) std::atomic<uint64_t> hits{0};
  // ---- writer only ----
  alignas(64) uint32_t live = 0;  // flows present
  uint32_t used = 0;              // live + tombstones in the current table

  Subtable(const FlowKey& m, CpuIsa isa);
  ~Subtable() { classifier_detail::Table::destroy(table.load(std::memory_order_relaxed)); }

  // The hash of key & mask over this subtable's words; the same function
  // serves readers (packet keys) and the writer (flow keys).
  // Flow keys pass their key_words(), of which only the mask's words are
  // read: a subtable whose mask has no option word never reads past the head
  // (Flow).
  template <uint32_t N>
  uint32_t hash(const uint64_t* w) const {
    const uint32_t nw = N ? N : n_words;
    uint64_t buf[FlowKey::kWords];
    for (uint32_t j = 0; j < nw; j++) buf[j] = w[word_index[j]] & mask_words[j];
    return hash_words_crc(buf, nw, classifier_detail::kHashBasis);
  }
  template <uint32_t N>
  uint32_t hash(const FlowKey& key) const {
    return hash<N>(key.words());
  }
  template <uint32_t N>
  bool matches(const FlowKey& key, const Flow& flow) const {
    const uint32_t nw = N ? N : n_words;
    const uint64_t* w = key.words();
    const uint64_t* fw = flow.key_words();
    uint64_t diff = 0;
    for (uint32_t j = 0; j < nw; j++)
      diff |= (w[word_index[j]] & mask_words[j]) ^ fw[word_index[j]];
    return diff == 0;
  }
};

namespace classifier_detail {

using Subtable = Classifier::Subtable;

// The staged lookup. Ops::hash(st, key) is Subtable::hash's value,
// Ops::matches(st, key, flow) Subtable::matches's verdict, each computed its
// own way (scalar for a word count, or with vectors).
template <class Ops>
inline uint64_t lookup_staged(const Subtable& st, const Table& t, const FlowKey* const keys[],
                              uint64_t todo, const Flow* out[]) {
  uint32_t hashes[Classifier::kMaxBatch];
  // Stage 1: hash every key and prefetch its first bucket.
  for (uint64_t m = todo; m != 0; m &= m - 1) {
    uint32_t i = std::countr_zero(m);
    uint32_t h = Ops::hash(st, *keys[i]);
    hashes[i] = h;
    __builtin_prefetch(&t.buckets[h & t.bucket_mask]);
  }
  // Stage 2: probe and compare.
  uint64_t found = 0;
  for (uint64_t m = todo; m != 0; m &= m - 1) {
    uint32_t i = std::countr_zero(m);
    const uint32_t h = hashes[i];
    uint32_t b = h & t.bucket_mask;
    for (;;) {
      const Bucket& bucket = t.buckets[b];
      for (uint32_t cand = sig_matches(bucket, h); cand != 0; cand &= cand - 1) {
        const Flow* f = bucket.flow[std::countr_zero(cand)].load(std::memory_order_acquire);
        if (is_flow(f) && Ops::matches(st, *keys[i], *f)) {
          out[i] = f;
          found |= uint64_t{1} << i;
          goto next_key;
        }
      }
      if (!bucket.overflow.load(std::memory_order_relaxed)) break;
      b = (b + 1) & t.bucket_mask;
    }
  next_key:;
  }
  return found;
}

// The lookup a subtable of n_words mask words uses on `isa`.
Subtable::LookupFn pick_lookup(uint32_t n_words, CpuIsa isa);

// The vector variants of a subtable's lookup (classifier_simd.cc), for
// any word count. Each must only be called on a CPU that has its ISA.
uint64_t lookup_avx2(const Subtable& st, const Table& t, const FlowKey* const keys[], uint64_t todo,
                     const Flow* out[]);
uint64_t lookup_avx512(const Subtable& st, const Table& t, const FlowKey* const keys[],
                       uint64_t todo, const Flow* out[]);

// Their hash and compare alone (the same functions the lookups inline),
// for tests/classifier_isa_test.cc.
uint32_t hash_avx2(const Subtable& st, const FlowKey& key);
bool matches_avx2(const Subtable& st, const FlowKey& key, const Flow& flow);
uint32_t hash_avx512(const Subtable& st, const FlowKey& key);
bool matches_avx512(const Subtable& st, const FlowKey& key, const Flow& flow);

}  // namespace classifier_detail
}  // namespace dpx
