// Network namespaces, veth pairs and commands for integration tests that put
// "containers" (network namespaces) on dpxd ports.
//
// Everything a test creates is owned by an RAII object whose destructor
// removes it, so a failing assertion (or an exception) still leaves the host
// clean; names carry the test's pid (unique_ifname()) so two test processes,
// or a leftover of a killed run, never collide. Commands run without a shell
// (argv vectors), so no quoting is involved, and every command has a bound
// on how long it may take, which only stops a broken test from hanging: no
// assertion depends on how long anything takes.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for setns) and iproute2.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace dpx::test {

struct CmdResult {
  int status = -1;     // exit code; -1 if it could not run, was killed or timed out
  std::string output;  // stdout and stderr, interleaved
  bool ok() const { return status == 0; }
};

// "ip netns add x" -> "ip netns add x", for messages.
inline std::string join_args(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Runs argv[0] (searched in PATH) with stdin from /dev/null, collecting its
// output. After `max_seconds` the command is killed (status -1).
inline CmdResult run_cmd(const std::vector<std::string>& argv, int max_seconds = 60) {
  CmdResult r;
  int fds[2];
  if (argv.empty() || pipe2(fds, O_CLOEXEC) != 0) return r;
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return r;
  }
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(std::min<long>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    char buf[4096];
    const ssize_t got = read(fds[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // EOF: the command (and anything it forked) closed its output
    r.output.append(buf, static_cast<size_t>(got));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    r.output += "\n[killed after " + std::to_string(max_seconds) + " s: " + join_args(argv) + "]";
    r.status = -1;
  } else {
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  return r;
}

// The command line and its output, for assertion messages.
inline std::string describe(const std::vector<std::string>& argv, const CmdResult& r) {
  return "`" + join_args(argv) + "` exited " + std::to_string(r.status) + ":\n" + r.output;
}

// Runs argv and appends a description to *err if it fails. For set-up steps
// whose failure ends the test: `if (!must_run({...}, &err)) FAIL() << err;`.
inline bool must_run(const std::vector<std::string>& argv, std::string* err, int max_seconds = 60) {
  const CmdResult r = run_cmd(argv, max_seconds);
  if (!r.ok()) *err += describe(argv, r);
  return r.ok();
}

// An interface (or namespace) name unique to this process: prefix + pid +
// suffix, at most 15 characters (IFNAMSIZ - 1). Keep prefix + suffix within
// 8 characters (pids have up to 7 digits).
inline std::string unique_ifname(const std::string& prefix, const std::string& suffix = "") {
  std::string s = prefix + std::to_string(getpid()) + suffix;
  return s.size() > 15 ? s.substr(s.size() - 15) : s;
}

// Deletes the namespaces named prefix + pid + suffix (see unique_ifname())
// whose pid is no longer running: what a test process killed outright (no
// destructors) left behind. Deleting a namespace also deletes the veth pairs
// with an end inside it.
inline void sweep_stale_netns(const std::string& prefix) {
  const CmdResult list = run_cmd({"ip", "netns", "list"});
  size_t pos = 0;
  while (pos < list.output.size()) {
    size_t eol = list.output.find('\n', pos);
    if (eol == std::string::npos) eol = list.output.size();
    // "name" or "name (id: N)"
    const std::string line = list.output.substr(pos, eol - pos);
    pos = eol + 1;
    const std::string name = line.substr(0, line.find(' '));
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    size_t end = prefix.size();
    while (end < name.size() && name[end] >= '0' && name[end] <= '9') ++end;
    if (end == prefix.size()) continue;
    const pid_t pid =
        static_cast<pid_t>(std::stol(name.substr(prefix.size(), end - prefix.size())));
    if (pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH)
      run_cmd({"ip", "netns", "del", name});
  }
}

// Closes a file descriptor (such as NetNs::socket()'s) on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// A named network namespace (`ip netns add`), deleted on destruction.
class NetNs {
 public:
  // Creates the namespace with its loopback up; check ok() (and error()).
  explicit NetNs(std::string name) : name_(std::move(name)) {
    ok_ = must_run({"ip", "netns", "add", name_}, &error_);
    created_ = ok_;
    ok_ = ok_ && must_run(exec({"ip", "link", "set", "lo", "up"}), &error_);
  }
  ~NetNs() {
    if (created_) run_cmd({"ip", "netns", "del", name_});
  }
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

  // argv prefixed to run inside the namespace.
  std::vector<std::string> exec(const std::vector<std::string>& argv) const {
    std::vector<std::string> v{"ip", "netns", "exec", name_};
    v.insert(v.end(), argv.begin(), argv.end());
    return v;
  }
  CmdResult run(const std::vector<std::string>& argv, int max_seconds = 60) const {
    return run_cmd(exec(argv), max_seconds);
  }
  // Turns IPv6 off in the namespace (existing and new interfaces), which
  // keeps the kernel's ND and MLD chatter out of a test's counters. False
  // with *err if sysctl fails.
  bool disable_ipv6(std::string* err) const {
    for (const char* k :
         {"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"})
      if (!must_run(exec({"sysctl", "-q", "-w", k}), err)) return false;
    return true;
  }

  // A socket that lives in this namespace (it keeps its namespace for its
  // whole life, whichever thread uses it). Created by a helper thread that
  // joins the namespace, so the calling thread's namespace never changes.
  // Returns the fd, or -errno.
  int socket(int domain, int type, int protocol = 0) const {
    int result = -EINVAL;
    std::thread t([&] {
      const std::string path = "/run/netns/" + name_;
      const int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0) {
        result = -errno;
        return;
      }
      if (setns(nsfd, CLONE_NEWNET) != 0) {
        result = -errno;
        close(nsfd);
        return;
      }
      close(nsfd);
      const int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
      result = fd >= 0 ? fd : -errno;
    });
    t.join();
    return result;
  }

 private:
  std::string name_;
  bool ok_ = false;
  bool created_ = false;
  std::string error_;
};

// A veth pair: end `a` in namespace `ns_a` (nullptr: the current one), end
// `b` in `ns_b`. Deleting one end deletes both, so the destructor deletes
// `a` (which also detaches any XDP program and AF_XDP socket bound to it).
// Destroy it before the namespaces it lives in.
class VethPair {
 public:
  VethPair(std::string a, const NetNs* ns_a, std::string b, const NetNs* ns_b)
      : a_(std::move(a)), b_(std::move(b)), ns_a_(ns_a), ns_b_(ns_b) {
    std::vector<std::string> cmd{"ip"};
    if (ns_a_) cmd.insert(cmd.end(), {"-n", ns_a_->name()});
    cmd.insert(cmd.end(), {"link", "add", a_, "type", "veth", "peer", "name", b_});
    if (ns_b_) cmd.insert(cmd.end(), {"netns", ns_b_->name()});
    ok_ = must_run(cmd, &error_);
    created_ = ok_;
    ok_ = ok_ && must_run(in_a({"ip", "link", "set", a_, "up"}), &error_) &&
          must_run(in_b({"ip", "link", "set", b_, "up"}), &error_);
  }
  ~VethPair() {
    if (created_) run_cmd(in_a({"ip", "link", "del", a_}));
  }
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }

  // argv prefixed to run in end a's / end b's namespace.
  std::vector<std::string> in_a(const std::vector<std::string>& argv) const {
    return ns_a_ ? ns_a_->exec(argv) : argv;
  }
  std::vector<std::string> in_b(const std::vector<std::string>& argv) const {
    return ns_b_ ? ns_b_->exec(argv) : argv;
  }

 private:
  std::string a_, b_;
  const NetNs* ns_a_;
  const NetNs* ns_b_;
  bool ok_ = false;
  bool created_ = false;
  std::string error_;
};

}  // namespace dpx::test
