// A packet as a chain of mbufs, the way the tap port's rx makes large
// frames: the headers in the first buffer, each buffer at most `seg` bytes.
#pragma once

#include <gtest/gtest.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace dpx::test {

inline rte_mbuf* mbuf_chain(rte_mempool* pool, const std::vector<uint8_t>& b, uint32_t seg) {
  rte_mbuf* head = nullptr;
  rte_mbuf* prev = nullptr;
  for (size_t off = 0; off < b.size(); off += seg) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    EXPECT_NE(m, nullptr);
    if (!m) break;
    const uint16_t n = static_cast<uint16_t>(std::min<size_t>(seg, b.size() - off));
    std::memcpy(rte_pktmbuf_append(m, n), b.data() + off, n);
    if (!head) {
      head = m;
    } else {
      prev->next = m;
      head->nb_segs++;
      head->pkt_len += n;
    }
    prev = m;
  }
  return head;
}

}  // namespace dpx::test
