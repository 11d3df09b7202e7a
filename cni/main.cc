// dpx-cni: a CNI 1.0.0 plugin that attaches containers to dpxd through Open
// vSwitch (docs/cni.md).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "attach.h"
#include "cni.h"

using namespace dpx::cni;

int main() {
  try {
    Env env = read_env();
    std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    if (std::cin.bad())
      throw CniError(kIoFailure, "cannot read the network configuration from stdin");
    if (env.command == "VERSION") {
      std::cout << nlohmann::json{{"cniVersion", kCniVersion}, {"supportedVersions", {kCniVersion}}}
                       .dump()
                << "\n";
      return 0;
    }
    NetConf conf = parse_netconf(input);
    if (env.command == "ADD") {
      std::cout << cmd_add(env, conf, input).dump(2) << "\n";
    } else if (env.command == "DEL") {
      cmd_del(env, conf, input);
    } else {
      cmd_check(env, conf, input);
    }
    std::cout.flush();
    return std::cout.good() ? 0 : 1;
  } catch (const CniError& e) {
    std::cout << e.to_json().dump(2) << "\n";
    std::cerr << "dpx-cni: " << e.what() << (e.details.empty() ? "" : " (" + e.details + ")")
              << "\n";
  } catch (const std::exception& e) {
    CniError err(kIoFailure, std::string("internal error: ") + e.what());
    std::cout << err.to_json().dump(2) << "\n";
    std::cerr << "dpx-cni: " << e.what() << "\n";
  }
  return 1;
}
