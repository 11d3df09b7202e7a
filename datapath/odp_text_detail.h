// What the two halves of the ODP text syntax (odp_text_format.cc and
// odp_text_parse.cc) share: flag names and small byte helpers. Internal to
// dpx_odp; the interface is odp_text.h.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "flow_key.h"

namespace dpx::odp_text_detail {

// OVS's userspace headers add this algorithm to the kernel's enum.
inline constexpr uint32_t kHashAlgSymL4 = 1;
inline constexpr int kMaxNesting = 32;  // OVS's MAX_ODP_NESTED

inline bool all_bytes(std::span<const uint8_t> p, uint8_t v) {
  for (uint8_t b : p) {
    if (b != v) return false;
  }
  return true;
}

// TCP flag bit -> name in OVS's text ("fin", "syn", ...), nullptr if none.
inline const char* tcp_flag_name(uint32_t bit) {
  switch (bit) {
    case 0x001:
      return "fin";
    case 0x002:
      return "syn";
    case 0x004:
      return "rst";
    case 0x008:
      return "psh";
    case 0x010:
      return "ack";
    case 0x020:
      return "urg";
    case 0x040:
      return "ece";
    case 0x080:
      return "cwr";
    case 0x100:
      return "ns";
    case 0x200:
      return "[200]";
    case 0x400:
      return "[400]";
    case 0x800:
      return "[800]";
    default:
      return nullptr;
  }
}

// Tunnel flags use OVS's FLOW_TNL_F_* bits in text: OAM, DF, CSUM, KEY.
inline constexpr uint32_t kTnlOam = 1, kTnlDf = 2, kTnlCsum = 4, kTnlKey = 8, kTnlMask = 15;
inline const char* tun_flag_name(uint32_t bit) {
  switch (bit) {
    case kTnlOam:
      return "oam";
    case kTnlDf:
      return "df";
    case kTnlCsum:
      return "csum";
    case kTnlKey:
      return "key";
    default:
      return nullptr;
  }
}

// Geneve options in tunnel(...) (odp_text_geneve.cc). format_geneve()
// appends "geneve({class=..,type=..,len=..,0x..}...)," for the option
// stream `k` and, when has_mask, its mask `m`, as OVS's
// format_odp_tun_geneve() does. parse_geneve() reads what follows
// "geneve(" up to and including its ')': the options into *key and their
// masks into *mask (a field or data without "/mask" is exact, an omitted
// field wildcarded, the reserved bits never matched). It returns the
// characters it used, or 0 with the reason in *why.
void format_geneve(std::string* o, std::span<const uint8_t> k, std::span<const uint8_t> m,
                   bool has_mask, bool verbose);
size_t parse_geneve(std::string_view s, std::vector<uint8_t>* key, std::vector<uint8_t>* mask,
                    std::string* why);

}  // namespace dpx::odp_text_detail
