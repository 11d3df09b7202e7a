#include "options.h"

#include <boost/program_options.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace po = boost::program_options;

namespace dpx {

bool parse_core_list(const std::string& s, std::vector<unsigned>* out) {
  std::set<unsigned> cores;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) return false;
    size_t dash = item.find('-');
    try {
      size_t pos = 0;
      if (dash == std::string::npos) {
        unsigned c = std::stoul(item, &pos);
        if (pos != item.size() || c >= 1024) return false;
        cores.insert(c);
      } else {
        std::string a = item.substr(0, dash), b = item.substr(dash + 1);
        size_t pa = 0, pb = 0;
        unsigned lo = std::stoul(a, &pa), hi = std::stoul(b, &pb);
        if (pa != a.size() || pb != b.size() || lo > hi || hi >= 1024) return false;
        for (unsigned c = lo; c <= hi; ++c) cores.insert(c);
      }
    } catch (const std::exception&) {
      return false;
    }
  }
  if (cores.empty()) return false;
  out->assign(cores.begin(), cores.end());
  return true;
}

ParseResult parse_dpxd_options(int argc, const char* const* argv, DpxdOptions* out,
                               std::string* message) {
  DpxdOptions o;
  // Everything after "--" goes to the EAL untouched.
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      own_argc = i;
      for (int j = i + 1; j < argc; ++j) o.eal_args.emplace_back(argv[j]);
      break;
    }
  }
  // On a one-CPU machine the PMD shares CPU 0 with the control thread.
  const unsigned ncpu = std::max(1u, std::thread::hardware_concurrency());
  std::string pmd_cores = ncpu > 1 ? "1" : "0";
  std::string config;
  std::string cpu_isa = "auto";
  po::options_description desc(
      "Usage: dpxd [OPTIONS] [-- EAL-ARGS]\n\n"
      "The dpx userspace datapath: owns DPDK ports, runs PMD threads, serves a control socket.\n"
      "Options");
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("version", "print the version and exit")
    ("config", po::value(&config), "read options from this file (key = value, long option names)")
    ("pmd-cores", po::value(&pmd_cores)->default_value(pmd_cores),
     "CPUs for PMD threads, e.g. 1 or 1,3 or 2-3")
    ("control-core", po::value(&o.control_core)->default_value(o.control_core),
     "CPU for the control thread")
    ("control-socket", po::value(&o.control_socket)->default_value(o.control_socket),
     "path of the control socket (created mode 0600)")
    ("socket-mem", po::value(&o.socket_mem_mb)->default_value(o.socket_mem_mb),
     "MiB of DPDK memory")
    ("no-huge", po::bool_switch(&o.no_huge), "use ordinary pages instead of hugepages")
    ("log-level", po::value(&o.log_level)->default_value(o.log_level),
     "error, warning, info or debug")
    ("flow-limit", po::value(&o.flow_limit)->default_value(o.flow_limit),
     "maximum number of datapath flows")
    ("pmd-sleep-max-us", po::value(&o.pmd_sleep_max_us)->default_value(o.pmd_sleep_max_us),
     "longest sleep of an idle PMD in microseconds; 0 keeps PMDs busy-polling")
    ("upcall-queue-size", po::value(&o.upcall_queue_size)->default_value(o.upcall_queue_size),
     "upcall queue entries per PMD (power of two)")
    ("upcall-backlog-kb", po::value(&o.upcall_backlog_kb)->default_value(o.upcall_backlog_kb),
     "KiB of upcalls waiting for one upcall subscriber (an ovs-vswitchd handler) beyond which "
     "more are dropped and counted as lost; a deep backlog holds stale duplicates in a storm")
    ("upcall-hold-ms", po::value(&o.upcall_hold_ms)->default_value(o.upcall_hold_ms),
     "how long a new flow's later misses are held for the answer to its first miss's upcall "
     "before they go up one by one")
    ("emc-insert-inv-prob", po::value(&o.emc_insert_inv_prob)->default_value(o.emc_insert_inv_prob),
     "insert a classifier hit into the exact-match cache with probability 1/N (1: always, "
     "0: never), so that many short microflows do not thrash it")
    ("mbufs", po::value(&o.mbufs)->default_value(o.mbufs), "packet buffers in the mempool")
    ("file-prefix", po::value(&o.file_prefix)->default_value(o.file_prefix),
     "DPDK runtime file prefix; give each dpxd on a host its own")
    ("cpu-isa", po::value(&cpu_isa)->default_value(cpu_isa),
     "vector instructions for the flow lookups: auto (the widest this CPU has), sse42 (the "
     "baseline), avx2 or avx512");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(own_argc, argv, desc), vm);
    po::notify(vm);
    if (!config.empty()) {
      std::ifstream f(config);
      if (!f) {
        *message = "--config: cannot open '" + config + "'";
        return ParseResult::kError;
      }
      po::store(po::parse_config_file(f, desc), vm);
      po::notify(vm);
    }
  } catch (const po::error& e) {
    *message = std::string(e.what()) + " (see dpxd --help)";
    return ParseResult::kError;
  }
  if (vm.count("help")) {
    std::ostringstream s;
    s << desc;
    *message = s.str();
    return ParseResult::kExitOk;
  }
  if (vm.count("version")) {
    *message = "dpxd 0.1.0";
    return ParseResult::kExitOk;
  }
  if (cpu_isa == "auto") {
    o.cpu_isa = cpu_isa_best();
  } else if (!parse_cpu_isa(cpu_isa, &o.cpu_isa)) {
    *message = "--cpu-isa: '" + cpu_isa + "' is not one of auto, sse42, avx2, avx512";
    return ParseResult::kError;
  } else if (!cpu_isa_supported(o.cpu_isa)) {
    *message = "--cpu-isa: this CPU does not support " + cpu_isa;
    return ParseResult::kError;
  }
  if (!parse_core_list(pmd_cores, &o.pmd_cores)) {
    *message = "--pmd-cores: '" + pmd_cores + "' is not a CPU list like 1 or 1,3 or 2-3";
    return ParseResult::kError;
  }
  if (o.pmd_cores.size() > 32) {
    *message = "--pmd-cores: at most 32 PMD threads";
    return ParseResult::kError;
  }
  const std::set<std::string> levels{"error", "warning", "info", "debug"};
  if (!levels.count(o.log_level)) {
    *message = "--log-level: '" + o.log_level + "' is not one of error, warning, info, debug";
    return ParseResult::kError;
  }
  if (o.flow_limit == 0) {
    *message = "--flow-limit: must be at least 1";
    return ParseResult::kError;
  }
  if (o.upcall_queue_size < 64 || (o.upcall_queue_size & (o.upcall_queue_size - 1))) {
    *message = "--upcall-queue-size: must be a power of two, at least 64";
    return ParseResult::kError;
  }
  // Below 64 KiB a handler would get a few upcalls of large packets at a time.
  if (o.upcall_backlog_kb < 64 || o.upcall_backlog_kb > (1u << 20)) {
    *message = "--upcall-backlog-kb: must be 64 to 1048576";
    return ParseResult::kError;
  }
  // 2^30 ms: the PMDs keep the upcall's time in 31 bits (pmd_upcall.cc).
  if (o.upcall_hold_ms < 1 || o.upcall_hold_ms > (1u << 30)) {
    *message = "--upcall-hold-ms: must be 1 to 1073741824";
    return ParseResult::kError;
  }
  if (o.mbufs < 2048) {
    *message = "--mbufs: at least 2048 packet buffers are needed";
    return ParseResult::kError;
  }
  // Full upcall queues hold mbufs; the ports' rx rings must still be able to
  // refill (an AF_XDP fill ring that runs dry stops receiving for good in
  // DPDK 22.11), so the pool must outgrow the queues by a margin.
  const uint64_t queued = uint64_t{o.upcall_queue_size} * o.pmd_cores.size();
  if (o.mbufs < 2 * queued + 4096) {
    *message = "--mbufs: " + std::to_string(o.mbufs) + " packet buffers are too few for " +
               std::to_string(o.pmd_cores.size()) + " upcall queue(s) of " +
               std::to_string(o.upcall_queue_size) + " entries; use at least " +
               std::to_string(2 * queued + 4096) + " or a smaller --upcall-queue-size";
    return ParseResult::kError;
  }
  if (o.socket_mem_mb < 64) {
    *message = "--socket-mem: at least 64 MiB";
    return ParseResult::kError;
  }
  if (o.control_socket.empty()) {
    *message = "--control-socket: empty path";
    return ParseResult::kError;
  }
  *out = std::move(o);
  return ParseResult::kRun;
}

}  // namespace dpx
