// Runs DPDK's dpdk-testpmd (Debian package `dpdk`) as the guest side of
// vhost-user tests: net_virtio_user vdevs talking to dpxd's sockets, the way
// a DPDK container attaches. Non-interactive: testpmd forwards until its
// stdin closes, so stop() closes our end of the pipe (a clean shutdown that
// detaches the devices), then SIGTERM / SIGKILL as a last resort. kill()
// is the crash a test injects. --no-huge works on both sides: DPDK 22.11
// backs --no-huge memory with a memfd, which virtio-user passes to the
// backend like a hugepage file. --no-huge rules out --in-memory, so
// --no-shconf keeps testpmd from writing runtime files, and the empty
// runtime directory EAL still creates is removed when testpmd is gone.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "child_process.h"

namespace dpx::test {

inline constexpr const char* kTestpmdPath = "/usr/bin/dpdk-testpmd";

class TestpmdProcess {
 public:
  TestpmdProcess() = default;
  ~TestpmdProcess() { stop(); }
  TestpmdProcess(const TestpmdProcess&) = delete;
  TestpmdProcess& operator=(const TestpmdProcess&) = delete;

  static bool available() { return access(kTestpmdPath, X_OK) == 0; }

  // vdevs: full --vdev values. app_args: after "--" (forward mode, queues).
  // Output goes to `log_path`.
  bool start(const std::vector<std::string>& vdevs, const std::vector<std::string>& app_args,
             const std::string& log_path) {
    static int seq = 0;
    prefix_ = "dpxvt" + std::to_string(getpid()) + "_" + std::to_string(seq++);
    // Two lcores: testpmd's main thread and one forwarding core.
    // stdbuf: line-buffered stdout, so the log shows testpmd's progress
    // (its prompt to exit comes once forwarding has started) as it happens.
    std::vector<std::string> args{"/usr/bin/stdbuf", "-oL",       kTestpmdPath, "-l", "0,1",
                                  "--no-pci",        "--no-huge", "-m",         "512"};
    // The forwarding lcore on CPU 0, its idle main lcore on CPU 1: dpxd's
    // PMD runs on CPU 1 (DpxdProcess::pmd_core()).
    args.insert(args.end(), {"--main-lcore", "1", "--no-shconf", "--file-prefix", prefix_,
                             "--log-level", "notice"});
    for (const std::string& v : vdevs) args.insert(args.end(), {"--vdev", v});
    args.insert(args.end(), {"--", "--no-mlockall", "--nb-cores=1", "--total-num-mbufs=16384"});
    args.insert(args.end(), app_args.begin(), app_args.end());
    ChildProcess::Options opt;
    opt.stdin_pipe = true;
    return child_.start(std::move(args), log_path, opt);
  }

  bool alive() { return child_.alive(); }

  // The crash: SIGKILL, no chance to detach cleanly.
  void kill9() {
    child_.kill9();
    remove_runtime_dir();
  }

  // Clean exit (testpmd stops on end of input), bounded: SIGTERM only if it
  // has not gone after 5 s, SIGKILL after 10 s.
  void stop() {
    child_.stop(500);
    remove_runtime_dir();
  }

  std::string log() const { return child_.log(); }

 private:
  void remove_runtime_dir() {
    if (prefix_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + prefix_, ec);
    prefix_.clear();
  }

  ChildProcess child_;
  std::string prefix_;
};

}  // namespace dpx::test
