// dpxd: parses options, starts the EAL with one lcore for control and one
// per PMD, creates the datapath and serves the control socket until SIGINT
// or SIGTERM.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "control_server.h"
#include "datapath.h"
#include "options.h"

namespace {

volatile sig_atomic_t g_stop = 0;
dpx::ControlServer* g_server = nullptr;

void on_signal(int) {
  g_stop = 1;
  if (g_server) g_server->wakeup();  // async-signal-safe: one eventfd write
}

// Free 2 MiB or 1 GiB hugepages, from /proc/meminfo.
long free_hugepages() {
  std::ifstream f("/proc/meminfo");
  std::string k;
  long v;
  while (f >> k >> v) {
    if (k == "HugePages_Free:") return v;
    f.ignore(256, '\n');
  }
  return 0;
}

int rte_level(const std::string& s) {
  if (s == "error") return RTE_LOG_ERR;
  if (s == "warning") return RTE_LOG_WARNING;
  if (s == "debug") return RTE_LOG_DEBUG;
  return RTE_LOG_INFO;
}

void mkdir_parents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1))
    mkdir(path.substr(0, pos).c_str(), 0755);
}

}  // namespace

int main(int argc, char** argv) {
  dpx::DpxdOptions opts;
  std::string msg;
  switch (dpx::parse_dpxd_options(argc, argv, &opts, &msg)) {
    case dpx::ParseResult::kExitOk:
      std::printf("%s\n", msg.c_str());
      return 0;
    case dpx::ParseResult::kError:
      std::fprintf(stderr, "dpxd: %s\n", msg.c_str());
      return 2;
    case dpx::ParseResult::kRun:
      break;
  }

  bool no_huge = opts.no_huge;
  if (!no_huge && free_hugepages() == 0) {
    std::fprintf(stderr,
                 "dpxd: warning: no free hugepages; running with --no-huge (slower, and "
                 "vhost-user ports will not work). Reserve some with scripts/hugepages.sh.\n");
    no_huge = true;
  }

  // EAL lcore 0 is the control thread; lcores 1..n are the PMDs, each
  // pinned to its CPU. --lcores lets a PMD share a CPU with control on a
  // one-CPU machine.
  std::ostringstream lcores;
  lcores << "0@" << opts.control_core;
  std::vector<unsigned> pmd_lcores;
  for (size_t i = 0; i < opts.pmd_cores.size(); ++i) {
    lcores << ',' << i + 1 << '@' << opts.pmd_cores[i];
    pmd_lcores.push_back(static_cast<unsigned>(i + 1));
  }
  // No runtime files: --in-memory keeps hugepage memory in unlinked files
  // (nothing is left behind even after a crash); --no-huge cannot be
  // combined with it, and --no-shconf has the same effect there.
  std::vector<std::string> eal{"dpxd", "--lcores=" + lcores.str(), "--main-lcore=0",
                               "--file-prefix=" + opts.file_prefix,
                               "--log-level=" + std::to_string(rte_level(opts.log_level))};
  if (no_huge)
    eal.insert(eal.end(), {"--no-huge", "--no-shconf", "-m", std::to_string(opts.socket_mem_mb)});
  else
    eal.insert(eal.end(), {"--in-memory", "--socket-mem", std::to_string(opts.socket_mem_mb)});
  eal.insert(eal.end(), opts.eal_args.begin(), opts.eal_args.end());
  std::vector<char*> eal_argv;
  for (auto& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "dpxd: cannot initialise DPDK: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  // EAL makes a runtime directory even with --no-shconf / --in-memory and
  // leaves it at exit, with the telemetry socket in it: remove both. rmdir()
  // leaves the directory alone if anything else is in it.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  auto eal_cleanup = [&runtime_dir] {
    rte_eal_cleanup();
    // The telemetry sockets: v2, and the legacy one when some library
    // registered legacy callbacks.
    for (const char* sock : {"/dpdk_telemetry.v2", "/telemetry"})
      unlink((runtime_dir + sock).c_str());
    rmdir(runtime_dir.c_str());
  };

  int rc = 0;
  {
    std::string err;
    auto dp = dpx::Datapath::create(opts, pmd_lcores, &err);
    if (!dp) {
      std::fprintf(stderr, "dpxd: %s\n", err.c_str());
      eal_cleanup();
      return 1;
    }
    dpx::ControlServerOptions server_opts;
    server_opts.upcall_backlog_limit = size_t{opts.upcall_backlog_kb} << 10;
    dpx::ControlServer server(dp.get(), server_opts);
    mkdir_parents(opts.control_socket);
    if (server.open(opts.control_socket, &err) != 0) {
      std::fprintf(stderr, "dpxd: control socket %s: %s\n", opts.control_socket.c_str(),
                   err.c_str());
      eal_cleanup();
      return 1;
    }
    g_server = &server;
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    dp->set_wake_fd(server.wakeup_fd());  // before the PMDs start: they read it
    if (dp->start(&err) != 0) {
      std::fprintf(stderr, "dpxd: %s\n", err.c_str());
      rc = 1;
    } else {
      std::printf("dpxd: ready, %zu PMD thread(s), control socket %s\n", pmd_lcores.size(),
                  opts.control_socket.c_str());
      std::fflush(stdout);
      // The control loop: socket events, with a 1 ms tick for RCU
      // reclamation and the rest of tick(); PMDs that queue upcalls ring
      // the doorbell, so upcalls do not wait for the tick.
      while (!g_stop) {
        const bool upcalls = dp->arm_doorbell();
        server.run_once(upcalls ? 0 : 1);
        dp->disarm_doorbell();
        dp->tick(&server);
      }
      std::printf("dpxd: shutting down\n");
    }
    g_server = nullptr;
    server.close();
    dp->stop();
  }
  eal_cleanup();
  return rc;
}
