// The vector instruction sets dpxd may use beyond its SSE4.2 baseline.
//
// Every dpx build runs on any x86-64 with SSE4.2 (-march=corei7). Where
// wider vectors pay, a hot function also has AVX2 and AVX-512 variants,
// compiled with __attribute__((target(...))) in the same build, and one of
// them is chosen once at start-up (dpxd --cpu-isa, default: the widest the
// CPU has), never per packet: the choice is a function pointer fixed when a
// table is created. So far the megaflow classifier's subtable lookup is the
// one such function (classifier_isa.h).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

namespace dpx {

enum class CpuIsa : uint8_t {
  kSse42 = 0,   // the baseline: scalar code, SSE4.2 crc32
  kAvx2 = 1,    // AVX2
  kAvx512 = 2,  // AVX-512 F, BW, VL and DQ
};

// "sse42", "avx2", "avx512".
const char* cpu_isa_name(CpuIsa isa);

// Parses "sse42", "avx2" or "avx512" (not "auto": the caller resolves that
// with cpu_isa_best()). Returns false for anything else.
bool parse_cpu_isa(std::string_view s, CpuIsa* out);

// True if this CPU (as the OS reports it, with the OS saving the vector
// registers) can run `isa`. Under valgrind, which emulates no AVX-512, the
// AVX-512 level reads as absent.
bool cpu_isa_supported(CpuIsa isa);

// The widest level this CPU supports.
CpuIsa cpu_isa_best();

}  // namespace dpx
