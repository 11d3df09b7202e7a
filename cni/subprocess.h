// Running a helper program (ovs-vsctl, the delegated IPAM plugin) and
// collecting what it printed.
#pragma once

#include <string>
#include <vector>

namespace dpx::cni {

struct ProcessResult {
  int status = -1;  // exit status; 128 + signal number if it was killed
  std::string out;  // everything it wrote to stdout
  std::string err;  // everything it wrote to stderr
};

// Runs 'argv' (argv[0] is a path, not searched in PATH) with the environment
// 'env' ("KEY=VALUE" strings), feeding it 'input' on stdin. Throws
// std::system_error if the program cannot be started at all (an exit status
// of 127 means exec() failed in the child: no such file or not executable).
ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& input);

// The current process's environment as "KEY=VALUE" strings, with 'overrides'
// replacing (or adding) entries by key.
std::vector<std::string> environment_with(const std::vector<std::string>& overrides);

}  // namespace dpx::cni
