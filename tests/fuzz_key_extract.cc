// libFuzzer entry point for key extraction. Build with clang (the
// fuzz_key_extract target exists only then) and run e.g.
//   ./fuzz_key_extract -max_len=512 -runs=10000000
// ASan catches any read outside the input; the checks below catch a key that
// breaks the contract in key_extract.h.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "flow_key.h"
#include "key_extract.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > UINT32_MAX) {
    return 0;
  }
  dpx::PacketMetadata md;
  md.in_port = 3;
  md.recirc_id = 1;
  dpx::FlowKey a;
  dpx::FlowKey b;
  std::memset(static_cast<void*>(&a), 0x00, sizeof a);
  std::memset(static_cast<void*>(&b), 0xff, sizeof b);
  auto len = static_cast<uint32_t>(size);
  dpx::ExtractDrop ra = dpx::extract_key(data, len, md, &a);
  dpx::ExtractDrop rb = dpx::extract_key(data, len, md, &b);
  // Every byte of the key is written whatever it held before, and the result
  // depends on the input only.
  if (ra != rb || !(a == b) || ra >= dpx::ExtractDrop::kCount) {
    std::abort();
  }
  // No tunnel metadata in: no options out (the option area itself is
  // undefined, flow_key.h).
  if (a.in_port != md.in_port || a.pad0 != 0 || a.tun_opts_len != 0 ||
      std::any_of(a.pad1, a.pad1 + sizeof a.pad1, [](uint8_t v) { return v != 0; })) {
    std::abort();
  }
  if (ra == dpx::ExtractDrop::kNone && a.eth_type == 0) {
    std::abort();
  }
  return 0;
}
