// Geneve option streams (RFC 8926 section 3.5): the TLVs that
// OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS carries in flow keys and set(tunnel)
// actions, that decapsulation puts into FlowKey::tun_opts and that
// encapsulation writes after the Geneve header. Each option is a 4-byte
// header (class: 16 bits, type: 8 bits with the critical flag on top, 3
// reserved bits and a 5-bit length in 4-byte units) and that many 4-byte
// words of data.
//
// Thread-safety: pure functions; geneve_opts_critical() is called by PMDs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "flow_key.h"

namespace dpx {

inline constexpr uint8_t kGeneveOptTypeCritical = 0x80;

// Checks that `opts` is a well-formed option stream that a key can hold: at
// most kTunOptsMax bytes, a multiple of 4, and options whose lengths add up
// to exactly its size. Returns nullptr if so, else what is wrong (a static
// string).
inline const char* geneve_opts_check(std::span<const uint8_t> opts) {
  if (opts.size() > kTunOptsMax) return "longer than 252 bytes";
  if (opts.size() % 4 != 0) return "length not a multiple of 4";
  for (size_t off = 0; off < opts.size();) {
    if (opts.size() - off < 4) return "option header cut short";
    const size_t len = 4 + size_t{opts[off + 3] & 0x1fu} * 4;
    if (len > opts.size() - off) return "option length past the end of the options";
    off += len;
  }
  return nullptr;
}

// True if any option of a well-formed stream has the critical bit in its
// type: the Geneve header's C flag, which senders set so (RFC 8926 3.4).
inline bool geneve_opts_critical(const uint8_t* opts, uint32_t len) {
  for (uint32_t off = 0; off + 4 <= len; off += 4 + (opts[off + 3] & 0x1fu) * 4) {
    if (opts[off + 2] & kGeneveOptTypeCritical) return true;
  }
  return false;
}

}  // namespace dpx
