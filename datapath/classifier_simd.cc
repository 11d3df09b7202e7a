// The classifier's subtable lookup with AVX2 and AVX-512 (cpu_isa.h).
//
// The scalar lookups (classifier.cc) walk the mask's non-zero words one by
// one: a load, an AND and a store per word to gather the masked key for the
// hash, a load, an AND, an XOR and an OR per word to compare it with a
// flow's key. Here the key is taken a 32-byte quarter (AVX2) or a 64-byte
// line (AVX-512) at a time, over only the quarters or lines the mask
// touches:
//  - the hash gathers the masked words with a compress (vpcompressq, or a
//    lane permutation from a table on AVX2) and hashes them exactly as the
//    scalar code does, so every variant puts a flow in the same bucket;
//  - the compare is ((key & mask) ^ flow key) over whole quarters or lines:
//    a flow's key is stored masked, so the words outside the mask are zero
//    on both sides.
// The gain grows with the mask's word count: a 2-word mask gains little, a
// 10-word one (IPv6, tunnels) much. The choice is made per classifier at
// start-up (dpxd --cpu-isa); tests/classifier_isa_test.cc checks every
// variant against the scalar one.
//
// Only these functions carry the target attributes; nothing here is a
// header's inline function compiled for a wider ISA (which the linker could
// then pick for a CPU without it).
#include <immintrin.h>

#include "classifier_detail.h"

namespace dpx::classifier_detail {

namespace {

#define DPX_TARGET_AVX2 __attribute__((target("avx2,bmi,bmi2,popcnt")))
#define DPX_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,bmi,bmi2,popcnt")))

// The 32-bit lane permutation that packs the 64-bit lanes selected by a
// 4-bit mask to the bottom of a 256-bit vector (AVX2 has no vpcompressq).
struct CompressTable {
  alignas(32) int32_t idx[16][8];
  constexpr CompressTable() : idx{} {
    for (int m = 0; m < 16; m++) {
      int k = 0;
      for (int lane = 0; lane < 4; lane++) {
        if (m & (1 << lane)) {
          idx[m][2 * k] = 2 * lane;
          idx[m][2 * k + 1] = 2 * lane + 1;
          k++;
        }
      }
    }
  }
};
constexpr CompressTable kCompress;

struct Avx2Ops {
  DPX_TARGET_AVX2 static uint32_t hash(const Subtable& st, const FlowKey& key) {
    // Each quarter's packed words are stored whole; the slack holds the rest.
    alignas(32) uint64_t buf[FlowKey::kWords + 4];
    const auto* k = reinterpret_cast<const __m256i*>(key.words());
    const auto* m = reinterpret_cast<const __m256i*>(st.full_mask);
    uint32_t n = 0;
    for (uint32_t j = 0; j < st.n_quarters; j++) {
      const uint32_t q = st.quarter[j], bits = st.quarter_bits[j];
      __m256i v = _mm256_and_si256(_mm256_load_si256(k + q), _mm256_load_si256(m + q));
      v = _mm256_permutevar8x32_epi32(
          v, _mm256_load_si256(reinterpret_cast<const __m256i*>(kCompress.idx[bits])));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(buf + n), v);
      n += static_cast<uint32_t>(__builtin_popcount(bits));
    }
    return hash_words_crc(buf, n, kHashBasis);
  }
  DPX_TARGET_AVX2 static bool matches(const Subtable& st, const FlowKey& key, const Flow& flow) {
    const auto* k = reinterpret_cast<const __m256i*>(key.words());
    const auto* m = reinterpret_cast<const __m256i*>(st.full_mask);
    const auto* f = reinterpret_cast<const __m256i*>(flow.key_words());
    __m256i diff = _mm256_setzero_si256();
    for (uint32_t j = 0; j < st.n_quarters; j++) {
      const uint32_t q = st.quarter[j];
      const __m256i masked = _mm256_and_si256(_mm256_load_si256(k + q), _mm256_load_si256(m + q));
      diff = _mm256_or_si256(diff, _mm256_xor_si256(masked, _mm256_load_si256(f + q)));
    }
    return _mm256_testz_si256(diff, diff);
  }
};

struct Avx512Ops {
  DPX_TARGET_AVX512 static uint32_t hash(const Subtable& st, const FlowKey& key) {
    alignas(64) uint64_t buf[FlowKey::kWords + 8];
    const auto* k = reinterpret_cast<const __m512i*>(key.words());
    const auto* m = reinterpret_cast<const __m512i*>(st.full_mask);
    uint32_t n = 0;
    for (uint32_t j = 0; j < st.n_lines; j++) {
      const uint32_t l = st.line[j];
      const __mmask8 bits = st.line_bits[j];
      const __m512i v = _mm512_and_si512(_mm512_load_si512(k + l), _mm512_load_si512(m + l));
      _mm512_storeu_si512(buf + n, _mm512_maskz_compress_epi64(bits, v));
      n += static_cast<uint32_t>(__builtin_popcount(bits));
    }
    return hash_words_crc(buf, n, kHashBasis);
  }
  DPX_TARGET_AVX512 static bool matches(const Subtable& st, const FlowKey& key, const Flow& flow) {
    const auto* k = reinterpret_cast<const __m512i*>(key.words());
    const auto* m = reinterpret_cast<const __m512i*>(st.full_mask);
    const auto* f = reinterpret_cast<const __m512i*>(flow.key_words());
    __mmask8 diff = 0;
    for (uint32_t j = 0; j < st.n_lines; j++) {
      const uint32_t l = st.line[j];
      // (key & mask) ^ flow in one ternary-logic op: 0x78 = A ^ (B & C).
      const __m512i d = _mm512_ternarylogic_epi64(
          _mm512_load_si512(f + l), _mm512_load_si512(k + l), _mm512_load_si512(m + l), 0x78);
      diff |= _mm512_test_epi64_mask(d, d);
    }
    return diff == 0;
  }
};

}  // namespace

// flatten: the staged loop (and the Ops calls in it) is inlined here, so it
// is compiled for this function's ISA.
DPX_TARGET_AVX2 __attribute__((flatten)) uint64_t lookup_avx2(const Subtable& st, const Table& t,
                                                              const FlowKey* const keys[],
                                                              uint64_t todo, const Flow* out[]) {
  return lookup_staged<Avx2Ops>(st, t, keys, todo, out);
}

DPX_TARGET_AVX512 __attribute__((flatten)) uint64_t lookup_avx512(const Subtable& st,
                                                                  const Table& t,
                                                                  const FlowKey* const keys[],
                                                                  uint64_t todo,
                                                                  const Flow* out[]) {
  return lookup_staged<Avx512Ops>(st, t, keys, todo, out);
}

// The kernels alone, for tests: the compare only decides on signature
// collisions, which lookups of random keys almost never produce.
DPX_TARGET_AVX2 uint32_t hash_avx2(const Subtable& st, const FlowKey& key) {
  return Avx2Ops::hash(st, key);
}
DPX_TARGET_AVX2 bool matches_avx2(const Subtable& st, const FlowKey& key, const Flow& flow) {
  return Avx2Ops::matches(st, key, flow);
}
DPX_TARGET_AVX512 uint32_t hash_avx512(const Subtable& st, const FlowKey& key) {
  return Avx512Ops::hash(st, key);
}
DPX_TARGET_AVX512 bool matches_avx512(const Subtable& st, const FlowKey& key, const Flow& flow) {
  return Avx512Ops::matches(st, key, flow);
}

}  // namespace dpx::classifier_detail
