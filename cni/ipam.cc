#include "ipam.h"

#include <unistd.h>

#include <sstream>
#include <system_error>

#include "subprocess.h"

namespace dpx::cni {

using nlohmann::json;

namespace {

std::string find_plugin(const std::string& cni_path, const std::string& type) {
  std::stringstream dirs(cni_path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string p = dir + "/" + type;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  throw CniError(kIpamFailure, "IPAM plugin '" + type + "' not found in CNI_PATH",
                 "CNI_PATH=" + cni_path);
}

}  // namespace

json ipam_exec(const Env& env, const NetConf& conf, const std::string& command,
               const std::string& stdin_config) {
  std::string plugin = find_plugin(env.path, conf.ipam_type);
  ProcessResult r;
  try {
    r = run_process({plugin}, environment_with({"CNI_COMMAND=" + command}), stdin_config);
  } catch (const std::system_error& e) {
    throw CniError(kIpamFailure, "cannot run IPAM plugin " + plugin, e.what());
  }
  json out;
  if (!r.out.empty()) {
    try {
      out = json::parse(r.out);
    } catch (const json::parse_error&) {
      // Not JSON: reported below with what it printed.
    }
  }
  if (r.status != 0) {
    // The delegated plugin's error is ours, code and message unchanged.
    if (out.is_object() && out.contains("code") && out["code"].is_number_integer() &&
        out.contains("msg")) {
      std::string details = out.value("details", std::string());
      throw CniError(out["code"].get<int>(),
                     out["msg"].is_string() ? out["msg"].get<std::string>() : out["msg"].dump(),
                     details);
    }
    throw CniError(kIpamFailure,
                   "IPAM plugin " + conf.ipam_type + " " + command + " failed (exit " +
                       std::to_string(r.status) + ")",
                   r.out + r.err);
  }
  if (command != "ADD") return nullptr;
  if (!out.is_object())
    throw CniError(kIpamFailure, "IPAM plugin " + conf.ipam_type + " gave no result",
                   r.out + r.err);
  return out;
}

}  // namespace dpx::cni
