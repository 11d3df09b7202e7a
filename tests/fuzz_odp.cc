// libFuzzer target: ODP key/mask attribute parsing and the text formatters
// and parsers. The input is split at its first byte: that many following
// bytes are the key, the rest the mask.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "odp_key.h"
#include "odp_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t split = std::min<size_t>(data[0], size - 1);
  std::span<const uint8_t> key(data + 1, split);
  std::span<const uint8_t> mask(data + 1 + split, size - 1 - split);

  dpx::FlowKey k, m;
  std::string err;
  int r = dpx::odp_key_from_attrs(key, &k, &err);
  if (r != 0 && r != EINVAL) abort();
  if (r == 0) {
    int rm = dpx::odp_mask_from_attrs(mask, key, &m, &err);
    if (rm != 0 && rm != EINVAL) abort();
    // What the codec accepts, it must reproduce and accept again.
    dpx::NlBuf again;
    dpx::odp_key_to_attrs(k, &again);
    dpx::FlowKey k2;
    if (dpx::odp_key_from_attrs(again, &k2, &err) != 0 || !(k2 == k)) abort();
  }
  (void)dpx::odp_flow_to_string(key, mask);
  (void)dpx::odp_actions_to_string(std::span<const uint8_t>(data, size));

  std::string_view text(reinterpret_cast<const char*>(data), size);
  dpx::NlBuf kb, mb, ab;
  (void)dpx::odp_flow_from_string(text, &kb, &mb, &err);
  (void)dpx::odp_actions_from_string(text, &ab, &err);
  return 0;
}
