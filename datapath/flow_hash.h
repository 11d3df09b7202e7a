// Fast hashing of FlowKey words for the exact-match cache and the megaflow
// classifier.
//
// The hash is CRC32-C (the SSE4.2 `crc32` instruction, part of the
// -march=corei7 baseline every dpx build targets) followed by a murmur3
// finaliser. CRC alone is linear and leaves the high bits poorly mixed for
// keys that differ in a few bits; the finaliser spreads every input bit over
// the whole 32-bit result, so callers may take either the low or the high
// bits as a bucket index.
//
// A single chain of `crc32` instructions is latency bound (3 cycles each on
// current x86 cores), so the words are fed into four independent lanes that
// the CPU runs in parallel and the lanes are folded together at the end. For
// the 24 words of a full key this is roughly three times faster than one
// chain. The lanes are folded with integer multiplications (see below).
//
// Contract: the result depends only on the n words and `basis`, never on
// the address; it is not stable across dpx versions (do not persist it).
// Thread-safety: pure functions.
#pragma once

#include <nmmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "flow_key.h"

namespace dpx {

namespace flow_hash_detail {

// murmur3's fmix32: full avalanche of a 32-bit value.
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}

}  // namespace flow_hash_detail

// Hashes `n` 64-bit words starting at `w` (any alignment that a uint64_t
// load tolerates; FlowKey words are 8-byte aligned) with seed `basis`.
// `n` may be zero. The number of words is mixed in, so a prefix of a key does
// not hash like the whole key.
inline uint32_t hash_words_crc(const uint64_t* w, size_t n, uint32_t basis) {
  uint64_t a = basis;
  uint64_t b = basis;
  uint64_t c = basis;
  uint64_t d = basis;
  const uint64_t* end4 = w + (n & ~size_t{3});
  for (; w != end4; w += 4) {
    a = _mm_crc32_u64(a, w[0]);
    b = _mm_crc32_u64(b, w[1]);
    c = _mm_crc32_u64(c, w[2]);
    d = _mm_crc32_u64(d, w[3]);
  }
  for (size_t i = 0; i < (n & 3); ++i) {
    a = _mm_crc32_u64(a, w[i]);
  }
  // Fold the lanes with multiplications by distinct odd constants, not with
  // more CRC steps: CRC is linear over GF(2), and a CRC fold XORs lanes
  // together, so the same bit flipped in two lanes would cancel out. Integer
  // multiply-add breaks that symmetry.
  uint64_t h = a * 0x9e3779b97f4a7c15ULL + b * 0xc2b2ae3d27d4eb4fULL + c * 0x165667b19e3779f9ULL +
               (d ^ (static_cast<uint64_t>(n) << 32)) * 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return flow_hash_detail::fmix32(static_cast<uint32_t>(h));
}

// Hashes the whole key with basis 0: its 24-word head and, when it carries
// Geneve options, their defined bytes (flow_key.h), 4 at a time since an
// option stream is a multiple of 4 bytes and need not start on a word (any
// other length, which no datapath key has, is hashed to its last byte and
// never past it).
inline uint32_t hash_key(const FlowKey& key) {
  const uint32_t h = hash_words_crc(key.words(), FlowKey::kHeadWords, 0);
  if (key.tun_opts_len == 0) [[likely]]
    return h;
  uint32_t c = h;
  const uint8_t* p = key.tun_opts_data();
  const uint32_t n = key.tun_opts_len;
  uint32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t v;
    std::memcpy(&v, p + i, 4);
    c = _mm_crc32_u32(c, v);
  }
  for (; i < n; ++i) c = _mm_crc32_u8(c, p[i]);
  return flow_hash_detail::fmix32(c);
}

}  // namespace dpx
