// The Internet checksum (RFC 1071) over bytes, written independently of
// DPDK's helpers so that tests can check what dpxd computed with them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dpx::test {

// Adds the big-endian 16-bit words of p[0..n) (an odd last byte padded with
// zero) to s, unfolded.
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t s = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t{p[i]} << 8 | p[i + 1];
  if (n & 1) s += uint32_t{p[n - 1]} << 8;
  return s;
}

// Folds the carries of a sum16() into 16 bits (0xffff: the data verifies).
inline uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

}  // namespace dpx::test
