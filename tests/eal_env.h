// Initialises DPDK's EAL once per test binary, the way unit tests that touch
// mbufs need it: no hugepages, no PCI scan, no shared runtime files and no
// telemetry socket (so parallel test binaries never collide), and the EAL's
// empty runtime directory removed at exit (nothing left in /var/run/dpdk).
#pragma once

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace dpx::test {

inline void eal_init_once() {
  static const bool ok = [] {
    const char* argv[] = {
        "dpx-test", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry",
        "-m",       "256",       "-l",       "0",           "--log-level=*:error"};
    int argc = sizeof argv / sizeof argv[0];
    if (rte_eal_init(argc, const_cast<char**>(argv)) < 0) {
      std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
      std::abort();
    }
    static const std::string runtime_dir = rte_eal_get_runtime_dir();
    std::atexit([] { rmdir(runtime_dir.c_str()); });
    return true;
  }();
  (void)ok;
}

// A mempool for tests: 4096 mbufs of the default data room.
inline rte_mempool* test_pool() {
  static rte_mempool* mp = [] {
    eal_init_once();
    return rte_pktmbuf_pool_create("dpx_test_pool", 4096, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   SOCKET_ID_ANY);
  }();
  return mp;
}

}  // namespace dpx::test
