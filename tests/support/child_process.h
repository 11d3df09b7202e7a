// A child process for integration tests: fork/exec with stdout and stderr in
// a log file, killed by the kernel if the test process dies outright
// (PR_SET_PDEATHSIG, so a crashed test leaves no busy-polling PMD behind),
// and stopped with SIGTERM, then SIGKILL as a last resort, with a bounded
// wait. DpxdProcess, TestpmdProcess and the tunnel test's NsDpxd build on it.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// How ChildProcess::start() sets the child up.
struct ChildOptions {
  // Set in the child before exec.
  std::vector<std::pair<std::string, std::string>> env;
  // Give the child a pipe as stdin; close_stdin() is its end of input.
  bool stdin_pipe = false;
};

class ChildProcess {
 public:
  using Options = ChildOptions;

  ChildProcess() = default;
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Runs args[0] (looked up in PATH if it has no slash) with its output in
  // `log_path`. False if the pipe or fork failed.
  bool start(std::vector<std::string> args, const std::string& log_path,
             const Options& opt = Options()) {
    log_ = log_path;
    status_ = 0;
    int p[2] = {-1, -1};
    if (opt.stdin_pipe && pipe(p) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (opt.stdin_pipe) {
        dup2(p[0], 0);
        close(p[0]);
        close(p[1]);
      }
      for (const auto& [k, v] : opt.env) setenv(k.c_str(), v.c_str(), 1);
      if (FILE* f = std::freopen(log_.c_str(), "w", stdout)) dup2(fileno(f), 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    if (opt.stdin_pipe) {
      close(p[0]);
      if (pid_ > 0)
        stdin_ = p[1];
      else
        close(p[1]);
    }
    return pid_ > 0;
  }

  pid_t pid() const { return pid_; }

  // Whether the child still runs; reaps it (keeping its status) if not.
  bool alive() {
    if (pid_ <= 0) return false;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = st;
      pid_ = -1;
      return false;
    }
    return true;
  }

  void close_stdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }

  // Waits for the child to exit, sending SIGTERM after `term_after` polls
  // (0: at once) and SIGKILL after 1000 (10 ms apart). Returns the wait
  // status, or the one seen earlier if the child was already reaped.
  int stop(int term_after = 0) {
    close_stdin();
    if (pid_ <= 0) return status_;
    int st = 0;
    bool done = false;
    for (int i = 0; i < 1000 && !done; ++i) {
      if (i == term_after) ::kill(pid_, SIGTERM);
      done = waitpid(pid_, &st, WNOHANG) == pid_;
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!done) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &st, 0);
    }
    status_ = st;
    pid_ = -1;
    return status_;
  }

  // The crash a test injects: SIGKILL, no chance to clean up.
  void kill9() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status_, 0);
      pid_ = -1;
    }
    close_stdin();
  }

  // What the child wrote to stdout and stderr so far.
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
  pid_t pid_ = -1;
  int stdin_ = -1;
  int status_ = 0;
  std::string log_;
};

}  // namespace dpx::test
