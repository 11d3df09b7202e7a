#include "classifier.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "flow_hash.h"
#include "flow_table.h"
#include "rcu.h"

namespace dpx {

namespace {

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

}  // namespace

struct Classifier::Subtable {
  // Hashes the still-unmatched keys (bits of `todo`) with this subtable's
  // mask, then finds their flows. Returns the bits of the keys it matched and
  // sets out[] for them.
  using LookupFn = uint64_t (*)(const Subtable& st, const Table& t, const FlowKey* const keys[],
                                uint64_t todo, const Flow* out[]);

  // ---- read by PMDs; fixed at creation ----
  LookupFn lookup_fn;
  std::atomic<Table*> table{nullptr};  // replaced when rebuilt
  uint32_t n_words = 0;                // non-zero words of the mask
  uint8_t word_index[FlowKey::kWords];
  uint64_t mask_words[FlowKey::kWords];  // mask_words[j] = mask word word_index[j]
  // ---- written by PMDs: its own cache line ----
  alignas(64) std::atomic<uint64_t> hits{0};
  // ---- writer only ----
  alignas(64) FlowKey mask;
  uint32_t live = 0;  // flows present
  uint32_t used = 0;  // live + tombstones in the current table

  explicit Subtable(const FlowKey& m);
  ~Subtable() { Table::destroy(table.load(std::memory_order_relaxed)); }

  // The hash of key & mask over this subtable's words; the same function
  // serves readers (packet keys) and the writer (flow keys).
  template <uint32_t N>
  uint32_t hash(const FlowKey& key) const {
    const uint32_t nw = N ? N : n_words;
    uint64_t buf[FlowKey::kWords];
    const uint64_t* w = key.words();
    for (uint32_t j = 0; j < nw; j++) buf[j] = w[word_index[j]] & mask_words[j];
    return hash_words_crc(buf, nw, kHashBasis);
  }
  template <uint32_t N>
  bool matches(const FlowKey& key, const Flow& flow) const {
    const uint32_t nw = N ? N : n_words;
    const uint64_t* w = key.words();
    const uint64_t* fw = flow.key.words();
    uint64_t diff = 0;
    for (uint32_t j = 0; j < nw; j++)
      diff |= (w[word_index[j]] & mask_words[j]) ^ fw[word_index[j]];
    return diff == 0;
  }
};

namespace {

using Subtable = Classifier::Subtable;

// The staged lookup, specialised on the mask's word count N (0: generic).
template <uint32_t N>
uint64_t lookup_shape(const Subtable& st, const Table& t, const FlowKey* const keys[],
                      uint64_t todo, const Flow* out[]) {
  uint32_t hashes[Classifier::kMaxBatch];
  // Stage 1: hash every key and prefetch its first bucket.
  for (uint64_t m = todo; m != 0; m &= m - 1) {
    uint32_t i = std::countr_zero(m);
    uint32_t h = st.hash<N>(*keys[i]);
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
        if (is_flow(f) && st.matches<N>(*keys[i], *f)) {
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

Subtable::LookupFn pick_lookup(uint32_t n_words) {
  switch (n_words) {
    case 1:
      return lookup_shape<1>;
    case 2:
      return lookup_shape<2>;
    case 3:
      return lookup_shape<3>;
    case 4:
      return lookup_shape<4>;
    case 5:
      return lookup_shape<5>;
    case 6:
      return lookup_shape<6>;
    case 7:
      return lookup_shape<7>;
    case 8:
      return lookup_shape<8>;
    default:
      return lookup_shape<0>;
  }
}

// Inserts into a table no reader can see yet, or publishes through the
// release store of the flow pointer.
void table_put(Table* t, uint32_t h, const Flow* flow) {
  uint32_t b = h & t->bucket_mask;
  for (;;) {
    Bucket& bucket = t->buckets[b];
    for (uint32_t s = 0; s < kSlots; s++) {
      if (bucket.flow[s].load(std::memory_order_relaxed) == nullptr) {
        bucket.sig[s].store(h, std::memory_order_relaxed);
        bucket.flow[s].store(flow, std::memory_order_release);
        return;
      }
    }
    // Readers that see the flow published further on may still read the flag
    // as clear and miss it: a miss during an insert is allowed.
    bucket.overflow.store(1, std::memory_order_relaxed);
    b = (b + 1) & t->bucket_mask;
  }
}

uint32_t buckets_for(uint32_t live) {
  // Room for twice the live flows, so the next rebuild is far off.
  uint64_t slots = std::max<uint64_t>(uint64_t{live} * 2, kMinBuckets * kSlots);
  return static_cast<uint32_t>(std::bit_ceil((slots + kSlots - 1) / kSlots));
}

}  // namespace

Classifier::Subtable::Subtable(const FlowKey& m) : mask(m) {
  const uint64_t* w = m.words();
  for (uint32_t i = 0; i < FlowKey::kWords; i++) {
    if (w[i] != 0) {
      word_index[n_words] = static_cast<uint8_t>(i);
      mask_words[n_words] = w[i];
      n_words++;
    }
  }
  lookup_fn = pick_lookup(n_words);
  table.store(Table::create(kMinBuckets), std::memory_order_relaxed);
}

struct Classifier::SubtableList {
  std::vector<Subtable*> subtables;  // rank order; immutable once published
};

Classifier::Classifier(Rcu* rcu) : rcu_(rcu), list_(new SubtableList) {}

Classifier::~Classifier() {
  const SubtableList* list = list_.load(std::memory_order_relaxed);
  for (Subtable* st : list->subtables) delete st;
  delete list;
}

uint64_t Classifier::lookup_batch(const FlowKey* const keys[], uint32_t n,
                                  const Flow* out[]) const {
  for (uint32_t i = 0; i < n; i++) out[i] = nullptr;
  const SubtableList* list = list_.load(std::memory_order_acquire);
  const size_t n_subtables = list->subtables.size();
  Subtable* const* subtables = list->subtables.data();
  uint64_t visited = 0;
  for (uint32_t base = 0; base < n; base += kMaxBatch) {
    const uint32_t chunk = std::min(kMaxBatch, n - base);
    uint64_t todo = chunk == 64 ? ~uint64_t{0} : (uint64_t{1} << chunk) - 1;
    for (size_t k = 0; k < n_subtables && todo != 0; k++) {
      Subtable& st = *subtables[k];
      const Table& t = *st.table.load(std::memory_order_acquire);
      uint64_t found = st.lookup_fn(st, t, keys + base, todo, out + base);
      if (found != 0) {
        todo &= ~found;
        const int hits = std::popcount(found);
        st.hits.fetch_add(hits, std::memory_order_relaxed);
        visited += uint64_t(hits) * (k + 1);
      }
    }
    visited += uint64_t(std::popcount(todo)) * n_subtables;  // misses searched them all
  }
  return visited;
}

const Flow* Classifier::lookup(const FlowKey& key) const {
  const FlowKey* keys[1] = {&key};
  const Flow* out[1];
  lookup_batch(keys, 1, out);
  return out[0];
}

Classifier::Subtable* Classifier::find_subtable(const FlowKey& mask) const {
  for (Subtable* st : list_.load(std::memory_order_relaxed)->subtables) {
    if (keys_identical(st->mask, mask)) return st;
  }
  return nullptr;
}

void Classifier::publish(SubtableList* list) {
  const SubtableList* old = list_.exchange(list, std::memory_order_acq_rel);
  rcu_->defer([old] { delete old; });
}

void Classifier::insert(const Flow* flow) {
  Subtable* st = find_subtable(flow->mask);
  const bool fresh = st == nullptr;
  if (fresh) st = new Subtable(flow->mask);

  Table* t = st->table.load(std::memory_order_relaxed);
  if (uint64_t{st->used + 1} * 4 > uint64_t{t->slots()} * 3) {
    // Rebuild at a size set by the live flows (dropping tombstones, possibly
    // shrinking), then swap it in; readers still on the old table finish
    // with it before it is freed.
    Table* nt = Table::create(buckets_for(st->live + 1));
    for (uint32_t b = 0; b <= t->bucket_mask; b++) {
      for (uint32_t s = 0; s < kSlots; s++) {
        const Flow* f = t->buckets[b].flow[s].load(std::memory_order_relaxed);
        if (is_flow(f)) table_put(nt, t->buckets[b].sig[s].load(std::memory_order_relaxed), f);
      }
    }
    st->table.store(nt, std::memory_order_release);
    st->used = st->live;
    rcu_->defer([t] { Table::destroy(t); });
    t = nt;
  }
  table_put(t, st->hash<0>(flow->key), flow);
  st->live++;
  st->used++;
  flows_++;

  if (fresh) {
    // Published after its first flow, so readers never see it empty. New
    // subtables go last; rank_subtables() moves them up as they earn hits.
    auto* list = new SubtableList(*list_.load(std::memory_order_relaxed));
    list->subtables.push_back(st);
    publish(list);
  }
}

void Classifier::remove(const Flow* flow) {
  Subtable* st = find_subtable(flow->mask);
  if (st == nullptr) return;
  Table* t = st->table.load(std::memory_order_relaxed);
  uint32_t b = st->hash<0>(flow->key) & t->bucket_mask;
  for (;;) {
    Bucket& bucket = t->buckets[b];
    for (uint32_t s = 0; s < kSlots; s++) {
      if (bucket.flow[s].load(std::memory_order_relaxed) == flow) {
        bucket.flow[s].store(kTombstone, std::memory_order_release);
        st->live--;
        flows_--;
        if (st->live == 0) {
          auto* list = new SubtableList(*list_.load(std::memory_order_relaxed));
          std::erase(list->subtables, st);
          publish(list);
          rcu_->defer([st] { delete st; });
        }
        return;
      }
    }
    if (!bucket.overflow.load(std::memory_order_relaxed)) return;  // not present
    b = (b + 1) & t->bucket_mask;
  }
}

const Flow* Classifier::find_exact(const FlowKey& masked_key, const FlowKey& mask) const {
  const Subtable* st = find_subtable(mask);
  if (st == nullptr) return nullptr;
  const Table* t = st->table.load(std::memory_order_relaxed);
  const uint32_t h = st->hash<0>(masked_key);
  uint32_t b = h & t->bucket_mask;
  for (;;) {
    const Bucket& bucket = t->buckets[b];
    for (uint32_t cand = sig_matches(bucket, h); cand != 0; cand &= cand - 1) {
      const Flow* f = bucket.flow[std::countr_zero(cand)].load(std::memory_order_relaxed);
      if (is_flow(f) && keys_identical(f->key, masked_key)) return f;
    }
    if (!bucket.overflow.load(std::memory_order_relaxed)) return nullptr;
    b = (b + 1) & t->bucket_mask;
  }
}

void Classifier::rank_subtables() {
  const SubtableList* cur = list_.load(std::memory_order_relaxed);
  std::vector<std::pair<uint64_t, Subtable*>> ranked;
  ranked.reserve(cur->subtables.size());
  for (Subtable* st : cur->subtables)
    ranked.emplace_back(st->hits.exchange(0, std::memory_order_relaxed), st);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  auto* list = new SubtableList;
  list->subtables.reserve(ranked.size());
  for (auto& [hits, st] : ranked) list->subtables.push_back(st);
  publish(list);
}

size_t Classifier::subtable_count() const {
  return list_.load(std::memory_order_relaxed)->subtables.size();
}

}  // namespace dpx
