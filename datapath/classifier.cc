#include "classifier.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "classifier_detail.h"
#include "rcu.h"

namespace dpx {

using namespace classifier_detail;

namespace {

// The scalar lookup for a mask of N words (0: any number).
template <uint32_t N>
struct ScalarOps {
  static uint32_t hash(const Subtable& st, const FlowKey& key) { return st.hash<N>(key); }
  static bool matches(const Subtable& st, const FlowKey& key, const Flow& flow) {
    return st.matches<N>(key, flow);
  }
};

template <uint32_t N>
uint64_t lookup_shape(const Subtable& st, const Table& t, const FlowKey* const keys[],
                      uint64_t todo, const Flow* out[]) {
  return lookup_staged<ScalarOps<N>>(st, t, keys, todo, out);
}

Subtable::LookupFn pick_scalar_lookup(uint32_t n_words) {
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

Subtable::LookupFn classifier_detail::pick_lookup(uint32_t n_words, CpuIsa isa) {
  // Up to 8 words the scalar lookups are unrolled for their word count and
  // beat the vector ones, whose per-quarter or per-line steps (permute or
  // compress, store, popcount) cost more than a few word loads: callgrind
  // counted 20 % more instructions per key for avx2 on 3-word masks. Past 8
  // words the scalar lookup is the generic loop and the vectors win (10
  // words: 13-29 % fewer instructions per key); bench/classifier_callgrind.sh.
  if (n_words <= 8) return pick_scalar_lookup(n_words);
  switch (isa) {
    case CpuIsa::kAvx512:
      return lookup_avx512;
    case CpuIsa::kAvx2:
      return lookup_avx2;
    case CpuIsa::kSse42:
      break;
  }
  return pick_scalar_lookup(n_words);
}

Classifier::Subtable::Subtable(const FlowKey& m, CpuIsa isa) {
  const uint64_t* w = m.words();
  for (uint32_t i = 0; i < FlowKey::kWords; i++) {
    full_mask[i] = w[i];
    if (w[i] != 0) {
      word_index[n_words] = static_cast<uint8_t>(i);
      mask_words[n_words] = w[i];
      n_words++;
    }
  }
  static_assert(FlowKey::kWords % 8 == 0, "the vector lookups work in 64-byte lines");
  for (uint32_t l = 0; l < FlowKey::kWords / 8; l++) {
    uint8_t bits = 0;
    for (uint32_t j = 0; j < 8; j++) bits |= uint8_t{w[8 * l + j] != 0} << j;
    if (bits == 0) continue;
    line[n_lines] = static_cast<uint8_t>(l);
    line_bits[n_lines++] = bits;
    for (uint32_t q = 0; q < 2; q++) {
      if (const uint8_t qb = (bits >> (4 * q)) & 0xf) {
        quarter[n_quarters] = static_cast<uint8_t>(2 * l + q);
        quarter_bits[n_quarters++] = qb;
      }
    }
  }
  lookup_fn = pick_lookup(n_words, isa);
  table.store(Table::create(kMinBuckets), std::memory_order_relaxed);
}

struct Classifier::SubtableList {
  std::vector<Subtable*> subtables;  // rank order; immutable once published
};

Classifier::Classifier(Rcu* rcu, CpuIsa isa) : rcu_(rcu), isa_(isa), list_(new SubtableList) {}

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
    if (std::memcmp(st->full_mask, mask.words(), sizeof st->full_mask) == 0) return st;
  }
  return nullptr;
}

void Classifier::publish(SubtableList* list) {
  const SubtableList* old = list_.exchange(list, std::memory_order_acq_rel);
  rcu_->defer([old] { delete old; });
}

void Classifier::insert(const Flow* flow) {
  const FlowKey mask = flow->mask();
  Subtable* st = find_subtable(mask);
  const bool fresh = st == nullptr;
  if (fresh) st = new Subtable(mask, isa_);

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
  table_put(t, st->hash<0>(flow->key_words()), flow);
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
  Subtable* st = find_subtable(flow->mask());
  if (st == nullptr) return;
  Table* t = st->table.load(std::memory_order_relaxed);
  uint32_t b = st->hash<0>(flow->key_words()) & t->bucket_mask;
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
      if (is_flow(f) && f->key_is(masked_key)) return f;
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
