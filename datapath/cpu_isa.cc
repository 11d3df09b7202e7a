#include "cpu_isa.h"

namespace dpx {

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kSse42:
      return "sse42";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kAvx512:
      return "avx512";
  }
  return "?";
}

bool parse_cpu_isa(std::string_view s, CpuIsa* out) {
  for (CpuIsa isa : {CpuIsa::kSse42, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (s == cpu_isa_name(isa)) {
      *out = isa;
      return true;
    }
  }
  return false;
}

bool cpu_isa_supported(CpuIsa isa) {
  // __builtin_cpu_supports reads CPUID once (libgcc's constructor) and also
  // checks XCR0, so a level counts only when the OS saves its registers.
  // The explicit init makes calls from other constructors safe too.
  __builtin_cpu_init();
  switch (isa) {
    case CpuIsa::kSse42:
      return __builtin_cpu_supports("sse4.2");
    case CpuIsa::kAvx2:
      return __builtin_cpu_supports("avx2");
    case CpuIsa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
}

CpuIsa cpu_isa_best() {
  if (cpu_isa_supported(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
  if (cpu_isa_supported(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
  return CpuIsa::kSse42;
}

}  // namespace dpx
