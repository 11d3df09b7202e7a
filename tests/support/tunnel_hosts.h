// The IPv4-underlay host views and frame edits the tunnel stage tests share
// (tunnel_codec_test.cc, tunnel_decap_run_test.cc).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "support/tunnel_fixtures.h"
#include "support/underlay_host.h"
#include "underlay.h"

namespace dpx::test {

inline constexpr uint8_t kPortMac[6] = {0x02, 0, 0, 0, 0xaa, 0x01};  // the encapsulating host
inline constexpr uint8_t kNhMac[6] = {0x02, 0, 0, 0, 0xbb, 0x02};    // the remote VTEP

inline uint32_t ip4(const char* s) {
  in_addr a;
  EXPECT_EQ(inet_pton(AF_INET, s, &a), 1);
  return a.s_addr;
}

// One host's view of the underlay (support/underlay_host.h); a test fails
// if it cannot be built.
inline std::unique_ptr<UnderlaySnapshot> host_view(const char* vtep, const uint8_t* mac,
                                                   const char* peer, const uint8_t* peer_mac,
                                                   uint64_t generation = 1) {
  auto s = make_host_view(vtep, mac, peer, peer_mac, generation);
  EXPECT_NE(s, nullptr) << "host view of " << vtep;
  return s;
}

// Fixes the outer IPv4 header checksum of a frame.
inline void fix_ip_csum(Packet& b) {
  set16(b, 24, 0);
  set16(b, 24, csum_finish(csum_add_bytes(0, b.data() + 14, 20)));
}
// Makes the outer IPv4 and UDP lengths describe a frame cut to `len` bytes.
inline void cut(Packet& b, size_t len) {
  b.resize(len);
  set16(b, 16, static_cast<uint16_t>(len - 14));
  set16(b, 38, static_cast<uint16_t>(len - 34));
  fix_ip_csum(b);
}

}  // namespace dpx::test
