// ADD, DEL and CHECK: one container interface attached to dpxd through OVS.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cni.h"

namespace dpx::cni {

// The OVS port (and dpxd port, and host veth end) of container 'id''s
// interface 'ifname': "dpx" and 11 hex digits of a hash of both, so that a
// DEL with the same two finds it again, and within IFNAMSIZ.
std::string port_name(const std::string& container_id, const std::string& ifname);

// Returns the CNI result. On failure undoes what it did (as cmd_del) and
// throws.
nlohmann::json cmd_add(const Env& env, const NetConf& conf, const std::string& stdin_config);
// Removes whatever exists of the attachment; missing pieces are not errors.
void cmd_del(const Env& env, const NetConf& conf, const std::string& stdin_config);
// Throws kCheckFailed (or the IPAM plugin's error) if the attachment is not
// as prevResult describes it.
void cmd_check(const Env& env, const NetConf& conf, const std::string& stdin_config);

}  // namespace dpx::cni
