// What the tunnel codec tests (IPv4 and IPv6 underlays) share: the scapy
// fixtures, packets in and out of mbufs, big-endian field access, and a flow
// hash for a wanted UDP source port.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "eal_env.h"
#include "support/pcap_file.h"
#include "tunnel_encap.h"

namespace dpx::test {

// tests/data/tunnel_<name>.pcap: [0] the inner frame, [1] its encapsulation.
inline std::vector<Packet> tunnel_fixture(const std::string& name) {
  std::vector<Packet> pkts;
  const std::string path = std::string(DPX_TEST_DATA_DIR) + "/tunnel_" + name + ".pcap";
  EXPECT_TRUE(read_pcap(path, &pkts)) << path;
  EXPECT_EQ(pkts.size(), 2u) << path;
  return pkts;
}

// A one-segment mbuf from test_pool() holding `b`.
inline rte_mbuf* mbuf_from(const Packet& b) {
  rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
  EXPECT_NE(m, nullptr);
  char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(b.size()));
  EXPECT_NE(d, nullptr);
  std::memcpy(d, b.data(), b.size());
  return m;
}

// The whole packet in `m`, across its segments.
inline Packet bytes_of(const rte_mbuf* m) {
  Packet b(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(b.size()), b.data());
  if (p != b.data()) std::memcpy(b.data(), p, b.size());
  return b;
}

// Big-endian 16-bit fields of a frame, for the malformed-packet tables.
inline void set16(Packet& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
inline uint16_t get16(const Packet& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}

// A flow hash whose UDP source port is `port` (the fixtures use 49152).
inline uint32_t hash_for_port(uint16_t port) {
  const uint64_t range = kTunnelSrcPortMax - kTunnelSrcPortMin;
  const uint64_t h = ((uint64_t{port} - kTunnelSrcPortMin) << 32) / range + 1;
  EXPECT_EQ(tunnel_udp_src_port(static_cast<uint32_t>(h)), htons(port));
  return static_cast<uint32_t>(h);
}

// A tunnel PMD with its shared state and event ring, mbufs from
// test_pool(); TearDown fails the test on an mbuf leak or double free.
class TunnelStageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = test_pool();
    ASSERT_NE(pool_, nullptr);
    start_avail_ = rte_mempool_avail_count(pool_);
    ring_ =
        rte_ring_create_elem(("tnl_ev_" + std::to_string(++ring_seq_)).c_str(), sizeof(TunnelEvent),
                             64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    ASSERT_NE(ring_, nullptr);
    shared_.events.push_back(ring_);
    pmd_ = std::make_unique<TunnelPmd>();
  }
  void TearDown() override {
    TunnelEvent ev;
    while (rte_ring_sc_dequeue_elem(ring_, &ev, sizeof ev) == 0)
      if (ev.m) rte_pktmbuf_free(ev.m);
    rte_ring_free(ring_);
    EXPECT_EQ(rte_mempool_avail_count(pool_), start_avail_) << "mbuf leak or double free";
  }

  void publish(const UnderlaySnapshot* s) { shared_.snapshot.store(s); }

  std::vector<TunnelEvent> events() {
    std::vector<TunnelEvent> out;
    TunnelEvent ev;
    while (rte_ring_sc_dequeue_elem(ring_, &ev, sizeof ev) == 0) out.push_back(ev);
    return out;
  }

  // Encapsulates `inner` for tunnel port odp/slot; returns the packet or
  // nullptr (then *why says why).
  rte_mbuf* encap(const Packet& inner, uint32_t odp, uint8_t slot, const TunnelMeta& tun,
                  uint64_t now_ms = 1000, uint32_t* out_port = nullptr) {
    rte_mbuf* m = mbuf_from(inner);
    const uint32_t port =
        tunnel_encap(*pmd_, shared_, 0, odp, slot, m, tun, hash_for_port(49152), now_ms);
    if (out_port) *out_port = port;
    return port == kTunnelNoPort ? nullptr : m;
  }

  uint64_t drops(TunnelDrop d) const { return pmd_->counters.drops_of(d); }

  rte_mempool* pool_ = nullptr;
  unsigned start_avail_ = 0;
  rte_ring* ring_ = nullptr;
  TunnelShared shared_;
  std::unique_ptr<TunnelPmd> pmd_;
  static inline int ring_seq_ = 0;
};

}  // namespace dpx::test
