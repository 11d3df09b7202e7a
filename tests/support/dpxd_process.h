// Runs a real dpxd for integration tests: its own temporary directory
// (control socket, pcap files), --no-huge and --in-memory so it leaves no
// hugepage or runtime files, and SIGTERM + waitpid (SIGKILL as a last
// resort) in the destructor, so a failing test cleans up too.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "child_process.h"
#include "control_client.h"

namespace dpx::test {

class DpxdProcess {
 public:
  DpxdProcess() {
    char tmpl[] = "/tmp/dpxtest.XXXXXX";
    dir_ = mkdtemp(tmpl);
    socket_ = dir_ + "/dpxd.sock";
  }
  ~DpxdProcess() {
    stop();
    // dpxd removes its EAL runtime directory (and the telemetry sockets in
    // it) when it exits; after a SIGKILL or a crash this does it. Only the
    // files DPDK leaves there are removed: rmdir() leaves a directory with
    // anything else alone.
    // (The sockets dpxd_main.cc removes: v2, and the legacy one, which
    // the sanitizer builds register.)
    for (const char* f : {"/dpdk_telemetry.v2", "/telemetry"}) unlink((runtime_dir() + f).c_str());
    rmdir(runtime_dir().c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  DpxdProcess(const DpxdProcess&) = delete;
  DpxdProcess& operator=(const DpxdProcess&) = delete;

  const std::string& dir() const { return dir_; }
  // The EAL file prefix, and the runtime directory DPDK makes for it.
  static std::string file_prefix() { return "dpxtest" + std::to_string(getpid()); }
  static std::string runtime_dir() { return "/var/run/dpdk/" + file_prefix(); }
  // Environment for the dpxd child, set before start().
  void set_env(const std::string& k, const std::string& v) { env_.emplace_back(k, v); }
  // Suppresses LeakSanitizer reports matching `rule` (say "leak:fn") in the
  // dpxd started next, on top of any LSAN_OPTIONS of ours: for a leak that
  // is a library's, not dpxd's. False if the file cannot be written.
  bool suppress_leak(const std::string& rule) {
    const std::string supp = dir_ + "/lsan.supp";
    FILE* f = std::fopen(supp.c_str(), "w");
    if (!f) return false;
    const bool written = std::fputs((rule + "\n").c_str(), f) >= 0;
    if (std::fclose(f) != 0 || !written) return false;
    const char* ours = std::getenv("LSAN_OPTIONS");
    set_env("LSAN_OPTIONS", (ours ? std::string(ours) + ":" : "") + "suppressions=" + supp);
    return true;
  }
  // CPU list for --pmd-cores, set before start(); default pmd_core().
  void set_pmd_cores(const std::string& cores) { pmd_cores_ = cores; }
  // --log-level, set before start(); default "warning".
  void set_log_level(const std::string& level) { log_level_ = level; }
  const std::string& socket() const { return socket_; }
  pid_t pid() const { return child_.pid(); }

  // Starts dpxd and waits until its control socket answers. Returns false
  // (with *err) if it exits or never answers.
  bool start(const std::vector<std::string>& extra, std::string* err) {
    std::vector<std::string> args{DPX_DPXD_PATH,
                                  "--no-huge",
                                  "--socket-mem",
                                  "256",
                                  "--mbufs",
                                  "8192",
                                  "--upcall-queue-size",
                                  "1024",
                                  "--pmd-cores",
                                  pmd_cores_.empty() ? pmd_core() : pmd_cores_,
                                  "--control-socket",
                                  socket_,
                                  "--file-prefix",
                                  file_prefix(),
                                  "--log-level",
                                  log_level_};
    args.insert(args.end(), extra.begin(), extra.end());
    // If the test process dies outright, dpxd must not outlive it (it
    // would keep busy-polling a CPU): ChildProcess sees to that.
    ChildProcess::Options opt;
    opt.env = env_;
    if (!child_.start(std::move(args), dir_ + "/dpxd.log", opt)) {
      *err = "fork failed";
      return false;
    }
    const bool up = wait_until([&] {
      if (!alive()) return true;
      ControlClient c;
      std::string e;
      return c.connect(socket_, &e) == 0;
    });
    if (!up || !alive()) {
      *err = "dpxd did not come up; log:\n" + log();
      return false;
    }
    return true;
  }

  bool alive() { return child_.alive(); }

  // SIGTERM and wait; returns the wait status (or the one seen earlier).
  int stop() { return child_.stop(); }

  std::string log() const { return child_.log(); }

  // PMD on CPU 1 when there is one, else sharing CPU 0.
  static std::string pmd_core() { return std::thread::hardware_concurrency() > 1 ? "1" : "0"; }

 private:
  std::string dir_, socket_, pmd_cores_, log_level_ = "warning";
  std::vector<std::pair<std::string, std::string>> env_;
  ChildProcess child_;
};

}  // namespace dpx::test
