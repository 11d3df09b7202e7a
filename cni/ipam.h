// Delegation to the IPAM plugin the configuration names (e.g. host-local),
// as the specification's "Delegated plugin protocol" says: found in
// CNI_PATH, run with this plugin's environment (CNI_COMMAND as given) and
// the same configuration on stdin.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cni.h"

namespace dpx::cni {

// Runs the IPAM plugin with 'command' ("ADD", "DEL" or "CHECK") and returns
// its result (ADD) or null. A failure of the plugin is thrown as its own
// CniError (code and message as it reported them).
nlohmann::json ipam_exec(const Env& env, const NetConf& conf, const std::string& command,
                         const std::string& stdin_config);

}  // namespace dpx::cni
