// The exact-match cache's burst lookup with AVX2 and AVX-512 full-key
// compares (cpu_isa.h). A 192-byte key head (all the EMC compares) is 12 SSE vectors, 6 AVX2 or 3
// AVX-512 ones: every EMC hit compares a whole key, so the wider compare
// saves most of the hit's instructions after the hash. Like
// classifier_simd.cc, only these functions carry target attributes.
#include <immintrin.h>

#include "emc.h"

namespace dpx {

namespace {

struct Avx2KeyEq {
  __attribute__((target("avx2"))) static bool equal(const FlowKeyHead& a, const FlowKey& b) {
    const auto* x = reinterpret_cast<const __m256i*>(&a);
    const auto* y = reinterpret_cast<const __m256i*>(&b);
    __m256i d = _mm256_xor_si256(_mm256_load_si256(x), _mm256_load_si256(y));
    for (int i = 1; i < 6; ++i)
      d = _mm256_or_si256(d, _mm256_xor_si256(_mm256_load_si256(x + i), _mm256_load_si256(y + i)));
    return _mm256_testz_si256(d, d);
  }
};

struct Avx512KeyEq {
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2"))) static bool equal(
      const FlowKeyHead& a, const FlowKey& b) {
    const auto* x = reinterpret_cast<const __m512i*>(&a);
    const auto* y = reinterpret_cast<const __m512i*>(&b);
    const __mmask8 m0 = _mm512_cmpneq_epi64_mask(_mm512_load_si512(x), _mm512_load_si512(y));
    const __mmask8 m1 =
        _mm512_cmpneq_epi64_mask(_mm512_load_si512(x + 1), _mm512_load_si512(y + 1));
    const __mmask8 m2 =
        _mm512_cmpneq_epi64_mask(_mm512_load_si512(x + 2), _mm512_load_si512(y + 2));
    return (m0 | m1 | m2) == 0;
  }
};

}  // namespace

// flatten: the lookup loop and the compares are inlined here, compiled for
// this function's ISA.
__attribute__((target("avx2"), flatten)) void emc_lookup_run_avx2(const Emc& emc,
                                                                  const FlowKey* const* keys,
                                                                  const uint32_t* hashes,
                                                                  const bool* same, uint32_t n,
                                                                  const Flow** out) {
  Emc::lookup_run_with<Avx2KeyEq>(emc, keys, hashes, same, n, out);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2"), flatten)) void
emc_lookup_run_avx512(const Emc& emc, const FlowKey* const* keys, const uint32_t* hashes,
                      const bool* same, uint32_t n, const Flow** out) {
  Emc::lookup_run_with<Avx512KeyEq>(emc, keys, hashes, same, n, out);
}

}  // namespace dpx
