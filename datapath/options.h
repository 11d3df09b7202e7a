// dpxd's command line and config file. Parsed with Boost.Program_options;
// every value is validated here so that a bad option is rejected before the
// EAL starts, with a message that names the option and says what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cpu_isa.h"

namespace dpx {

struct DpxdOptions {
  std::vector<unsigned> pmd_cores{1};  // CPUs that run PMD threads
  unsigned control_core = 0;           // CPU of the control (main) thread
  std::string control_socket = "/run/dpx/dpxd.sock";
  unsigned socket_mem_mb = 1024;  // DPDK memory, hugepage-backed unless no_huge
  bool no_huge = false;
  std::string log_level = "info";  // error | warning | info | debug
  uint32_t flow_limit = 200000;
  uint32_t pmd_sleep_max_us = 250;     // 0 = PMDs never sleep (busy poll)
  uint32_t upcall_queue_size = 4096;   // per PMD, power of two
  uint32_t upcall_backlog_kb = 512;    // upcalls waiting for one handler (control_server.h)
  uint32_t upcall_hold_ms = 500;       // a key's misses wait this long for its upcall's answer
  uint32_t emc_insert_inv_prob = 100;  // insert 1 in N classifier hits into the EMC; 0 = never
  uint32_t mbufs = 32768;              // packet buffers in the pool
  std::string file_prefix = "dpxd";    // EAL runtime file prefix (one per dpxd instance)
  CpuIsa cpu_isa = cpu_isa_best();     // vector level of the lookup functions (cpu_isa.h)
  std::vector<std::string> eal_args;   // passed through after "--"
};

enum class ParseResult { kRun, kExitOk, kError };

// Parses argv (and the config file named by --config, whose keys are the
// long option names). On kError, *message says what is wrong; on kExitOk
// (--help, --version) it holds the text to print.
ParseResult parse_dpxd_options(int argc, const char* const* argv, DpxdOptions* out,
                               std::string* message);

// Parses "1", "1,3", "2-4" into CPU numbers. Returns false on bad syntax.
bool parse_core_list(const std::string& s, std::vector<unsigned>* out);

}  // namespace dpx
