#include "cni.h"

#include <cstdlib>

namespace dpx::cni {

using nlohmann::json;

json CniError::to_json() const {
  json j = {{"cniVersion", kCniVersion}, {"code", code}, {"msg", what()}};
  if (!details.empty()) j["details"] = details;
  return j;
}

std::string Env::arg(const std::string& key) const {
  for (const auto& [k, v] : args) {
    if (k == key) return v;
  }
  return {};
}

namespace {

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The specification's rules for a container id: not empty, letters, digits
// and "_.-" only, starting with a letter or digit.
bool valid_container_id(const std::string& id) {
  if (id.empty() || !isalnum(static_cast<unsigned char>(id[0]))) return false;
  for (unsigned char c : id) {
    if (!isalnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// A Linux interface name: 1..15 bytes, not "." or "..", no '/', ':' or
// white space.
bool valid_ifname(const std::string& n) {
  if (n.empty() || n.size() > 15 || n == "." || n == "..") return false;
  for (unsigned char c : n) {
    if (c == '/' || c == ':' || isspace(c) || c < 0x20) return false;
  }
  return true;
}

}  // namespace

Env read_env() {
  Env e;
  e.command = getenv_str("CNI_COMMAND");
  if (e.command.empty()) throw CniError(kInvalidEnvironment, "CNI_COMMAND is not set");
  if (e.command != "ADD" && e.command != "DEL" && e.command != "CHECK" && e.command != "VERSION") {
    throw CniError(kInvalidEnvironment, "unknown CNI_COMMAND '" + e.command + "'",
                   "expected ADD, DEL, CHECK or VERSION");
  }
  if (e.command == "VERSION") return e;
  e.container_id = getenv_str("CNI_CONTAINERID");
  e.netns = getenv_str("CNI_NETNS");
  e.ifname = getenv_str("CNI_IFNAME");
  e.path = getenv_str("CNI_PATH");
  if (e.container_id.empty()) throw CniError(kInvalidEnvironment, "CNI_CONTAINERID is not set");
  if (!valid_container_id(e.container_id)) {
    throw CniError(kInvalidEnvironment, "invalid CNI_CONTAINERID '" + e.container_id + "'",
                   "letters, digits, '_', '.' and '-', starting with a letter or digit");
  }
  if (e.ifname.empty()) throw CniError(kInvalidEnvironment, "CNI_IFNAME is not set");
  if (!valid_ifname(e.ifname)) {
    throw CniError(kInvalidEnvironment, "invalid CNI_IFNAME '" + e.ifname + "'",
                   "an interface name: 1 to 15 bytes, no '/', ':' or white space");
  }
  // DEL may come without a network namespace (the container is gone).
  if (e.netns.empty() && e.command != "DEL")
    throw CniError(kInvalidEnvironment, "CNI_NETNS is not set");
  if (e.path.empty()) throw CniError(kInvalidEnvironment, "CNI_PATH is not set");
  // CNI_ARGS: "KEY=VALUE;KEY=VALUE".
  std::string args = getenv_str("CNI_ARGS");
  size_t pos = 0;
  while (pos < args.size()) {
    size_t end = args.find(';', pos);
    if (end == std::string::npos) end = args.size();
    std::string kv = args.substr(pos, end - pos);
    size_t eq = kv.find('=');
    if (!kv.empty()) {
      if (eq == std::string::npos || eq == 0) {
        throw CniError(kInvalidEnvironment, "invalid CNI_ARGS entry '" + kv + "'",
                       "expected KEY=VALUE pairs separated by ';'");
      }
      e.args.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    pos = end + 1;
  }
  return e;
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kTap:
      return "tap";
    case Mode::kAfxdp:
      return "afxdp";
    case Mode::kVhostUser:
      return "vhostuser";
  }
  return "?";
}

namespace {

std::string get_string(const json& j, const char* key, bool required, const std::string& def = {}) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required)
      throw CniError(kInvalidConfig,
                     std::string("network configuration: '") + key + "' is required");
    return def;
  }
  if (!it->is_string())
    throw CniError(kInvalidConfig,
                   std::string("network configuration: '") + key + "' must be a string");
  return it->get<std::string>();
}

int get_int(const json& j, const char* key, int def, int lo, int hi) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_number_integer() || it->get<long long>() < lo || it->get<long long>() > hi) {
    throw CniError(kInvalidConfig, std::string("network configuration: '") + key +
                                       "' must be an integer from " + std::to_string(lo) + " to " +
                                       std::to_string(hi));
  }
  return it->get<int>();
}

}  // namespace

NetConf parse_netconf(const std::string& text) {
  NetConf c;
  try {
    c.raw = json::parse(text);
  } catch (const json::parse_error& e) {
    throw CniError(kDecodeFailure, "cannot decode the network configuration", e.what());
  }
  if (!c.raw.is_object())
    throw CniError(kDecodeFailure, "the network configuration is not a JSON object");
  c.cni_version = get_string(c.raw, "cniVersion", true);
  if (c.cni_version != kCniVersion) {
    throw CniError(kIncompatibleVersion, "incompatible CNI version " + c.cni_version,
                   std::string("dpx-cni supports ") + kCniVersion);
  }
  c.name = get_string(c.raw, "name", true);
  c.type = get_string(c.raw, "type", true);
  c.bridge = get_string(c.raw, "bridge", false, c.bridge);
  if (c.bridge.empty()) throw CniError(kInvalidConfig, "network configuration: 'bridge' is empty");
  std::string mode = get_string(c.raw, "mode", false, "tap");
  if (mode == "tap") {
    c.mode = Mode::kTap;
  } else if (mode == "afxdp") {
    c.mode = Mode::kAfxdp;
  } else if (mode == "vhostuser") {
    c.mode = Mode::kVhostUser;
  } else {
    throw CniError(kInvalidConfig, "network configuration: unknown mode '" + mode + "'",
                   "expected tap, afxdp or vhostuser");
  }
  c.mtu = get_int(c.raw, "mtu", 0, 68, 65535 - 14);
  c.ovs_db = get_string(c.raw, "ovsdbSocket", false);
  c.ovs_vsctl = get_string(c.raw, "ovsVsctl", false, c.ovs_vsctl);
  c.ovs_timeout = get_int(c.raw, "ovsTimeout", c.ovs_timeout, 1, 3600);
  c.socket_dir = get_string(c.raw, "socketDir", false, c.socket_dir);
  c.device_info_dir = get_string(c.raw, "deviceInfoDir", false, c.device_info_dir);
  if (c.ovs_vsctl.empty() || c.ovs_vsctl[0] != '/') {
    throw CniError(kInvalidConfig, "network configuration: 'ovsVsctl' must be an absolute path");
  }
  if (c.socket_dir.empty() || c.socket_dir[0] != '/') {
    throw CniError(kInvalidConfig, "network configuration: 'socketDir' must be an absolute path");
  }
  if (auto it = c.raw.find("ipMasq"); it != c.raw.end() && *it == true) {
    throw CniError(kUnsupportedField, "network configuration: 'ipMasq' is not supported by dpx-cni",
                   "chain the portmap or firewall plugin, or masquerade on the host");
  }
  if (auto it = c.raw.find("ipam"); it != c.raw.end() && !it->is_null()) {
    if (!it->is_object())
      throw CniError(kInvalidConfig, "network configuration: 'ipam' must be an object");
    c.ipam_type = get_string(*it, "type", false);
    c.has_ipam = !c.ipam_type.empty();
    if (c.has_ipam && c.ipam_type.find('/') != std::string::npos) {
      throw CniError(kInvalidConfig,
                     "network configuration: ipam 'type' must be a plugin name, not a path");
    }
  }
  if (auto it = c.raw.find("runtimeConfig"); it != c.raw.end() && it->is_object()) {
    c.device_info_file = get_string(*it, "CNIDeviceInfoFile", false);
  }
  return c;
}

}  // namespace dpx::cni
