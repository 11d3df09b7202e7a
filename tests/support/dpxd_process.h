// Runs a real dpxd for integration tests: its own temporary directory
// (control socket, pcap files), --no-huge and --in-memory so it leaves no
// hugepage or runtime files, and SIGTERM + waitpid (SIGKILL as a last
// resort) in the destructor, so a failing test cleans up too.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "control_client.h"

namespace dpx::test {

// Polls `cond` until it holds, up to `max_polls` times 10 ms apart. The
// bound only stops a broken test from hanging; no assertion depends on how
// long anything takes.
inline bool wait_until(const std::function<bool()>& cond, int max_polls = 3000) {
  for (int i = 0; i < max_polls; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class DpxdProcess {
 public:
  DpxdProcess() {
    char tmpl[] = "/tmp/dpxtest.XXXXXX";
    dir_ = mkdtemp(tmpl);
    socket_ = dir_ + "/dpxd.sock";
  }
  ~DpxdProcess() {
    stop();
    // dpxd removes its (empty) EAL runtime directory when it exits; after a
    // SIGKILL this does it. rmdir() leaves a non-empty one alone.
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
  // CPU list for --pmd-cores, set before start(); default pmd_core().
  void set_pmd_cores(const std::string& cores) { pmd_cores_ = cores; }
  // --log-level, set before start(); default "warning".
  void set_log_level(const std::string& level) { log_level_ = level; }
  const std::string& socket() const { return socket_; }
  pid_t pid() const { return pid_; }

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
    log_ = dir_ + "/dpxd.log";
    pid_ = fork();
    if (pid_ == 0) {
      // If the test process dies outright, dpxd must not outlive it (it
      // would keep busy-polling a CPU).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (auto& [k, v] : env_) setenv(k.c_str(), v.c_str(), 1);
      FILE* f = std::freopen(log_.c_str(), "w", stdout);
      if (f) dup2(fileno(stdout), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
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

  bool alive() {
    if (pid_ <= 0) return false;
    int st;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      exit_status_ = st;
      pid_ = -1;
      return false;
    }
    return true;
  }

  // SIGTERM and wait; returns the wait status (or the one seen earlier).
  int stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      bool done = false;
      for (int i = 0; i < 1000 && !done; ++i) {
        if (waitpid(pid_, &st, WNOHANG) == pid_)
          done = true;
        else
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!done) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
      }
      exit_status_ = st;
      pid_ = -1;
    }
    return exit_status_;
  }

  std::string log() const {
    std::string s;
    if (FILE* f = std::fopen(log_.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
      std::fclose(f);
    }
    return s;
  }

  // PMD on CPU 1 when there is one, else sharing CPU 0.
  static std::string pmd_core() { return std::thread::hardware_concurrency() > 1 ? "1" : "0"; }

 private:
  std::string dir_, socket_, log_, pmd_cores_, log_level_ = "warning";
  std::vector<std::pair<std::string, std::string>> env_;
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

}  // namespace dpx::test
