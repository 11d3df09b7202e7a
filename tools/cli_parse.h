// The command-line parsing step the small tools share (Boost.Program_options).
#pragma once

#include <boost/program_options.hpp>
#include <iostream>

namespace dpx {

// Parses argv against `desc` into *vm. Returns -1 when the program should go
// on; otherwise the exit status: 0 after printing the help (--help), 2
// after printing the error prefixed with `prog`.
inline int parse_tool_args(int argc, char** argv,
                           const boost::program_options::options_description& desc,
                           boost::program_options::variables_map* vm, const char* prog) {
  namespace po = boost::program_options;
  try {
    po::store(po::parse_command_line(argc, argv, desc), *vm);
    if (vm->count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << prog << ": " << e.what() << "\n";
    return 2;
  }
  return -1;
}

}  // namespace dpx
