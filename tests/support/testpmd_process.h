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

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

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
    log_ = log_path;
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
    int p[2];
    if (pipe(p) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(p[0], 0);
      close(p[0]);
      close(p[1]);
      if (FILE* f = std::freopen(log_.c_str(), "w", stdout)) dup2(fileno(f), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(p[0]);
    stdin_ = p[1];
    return pid_ > 0;
  }

  bool alive() {
    if (pid_ <= 0) return false;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  // The crash: SIGKILL, no chance to detach cleanly.
  void kill9() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    close_stdin();
    remove_runtime_dir();
  }

  // Clean exit (testpmd stops on end of input), bounded.
  void stop() {
    close_stdin();
    if (pid_ > 0) wait_exit();
    remove_runtime_dir();
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

 private:
  void wait_exit() {
    for (int i = 0; i < 1000; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      if (i == 500) ::kill(pid_, SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  void remove_runtime_dir() {
    if (prefix_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all("/var/run/dpdk/" + prefix_, ec);
    prefix_.clear();
  }
  void close_stdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string log_, prefix_;
};

}  // namespace dpx::test
