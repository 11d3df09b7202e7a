// The CNI 1.0.0 contract as dpx-cni sees it: the runtime's environment, the
// network configuration on stdin, errors with the specification's codes.
// (https://github.com/containernetworking/cni/blob/main/SPEC.md)
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace dpx::cni {

inline constexpr const char* kCniVersion = "1.0.0";

// Error codes: 1-99 are the specification's, 100 and up dpx-cni's own.
enum ErrorCode : int {
  kIncompatibleVersion = 1,  // the configuration's cniVersion is not supported
  kUnsupportedField = 2,     // a field in the configuration is not supported
  kUnknownContainer = 3,     // the container (its network namespace) does not exist
  kInvalidEnvironment = 4,   // a CNI_* variable is missing or invalid
  kIoFailure = 5,            // e.g. cannot read stdin or write a file
  kDecodeFailure = 6,        // the configuration is not JSON
  kInvalidConfig = 7,        // the configuration is JSON but wrong
  kTryAgainLater = 11,       // transient: OVS does not answer
  kOvsFailure = 100,         // ovs-vsctl failed, or OVS/dpxd refused the port
  kNetlinkFailure = 101,     // setting up a kernel interface failed
  kIpamFailure = 102,        // the IPAM plugin could not be run or gave garbage
  kCheckFailed = 103,        // CHECK found the attachment not as ADD left it
};

// Thrown anywhere; main() prints it as the specification's error object.
struct CniError : std::runtime_error {
  int code;
  std::string details;
  CniError(int c, const std::string& msg, std::string det = {})
      : std::runtime_error(msg), code(c), details(std::move(det)) {}
  nlohmann::json to_json() const;
};

// The CNI_* variables.
struct Env {
  std::string command;  // ADD, DEL, CHECK, VERSION
  std::string container_id;
  std::string netns;  // path; may be empty for DEL
  std::string ifname;
  std::string path;                                       // CNI_PATH, ':'-separated
  std::vector<std::pair<std::string, std::string>> args;  // CNI_ARGS
  std::string arg(const std::string& key) const;
};
// Reads and validates the variables 'command' needs (kInvalidEnvironment).
Env read_env();

enum class Mode { kTap, kAfxdp, kVhostUser };

// The network configuration: the specification's fields and dpx-cni's.
struct NetConf {
  nlohmann::json raw;  // as given, for the IPAM plugin and prevResult
  std::string cni_version;
  std::string name;
  std::string type;
  // dpx-cni's (docs/cni.md).
  std::string bridge = "br-dpx";
  Mode mode = Mode::kTap;
  int mtu = 0;         // 0: leave the default
  std::string ovs_db;  // ovs-vsctl --db=; empty: ovs-vsctl's default
  std::string ovs_vsctl = "/usr/bin/ovs-vsctl";
  int ovs_timeout = 30;  // seconds ovs-vsctl waits for ovs-vswitchd
  std::string socket_dir = "/var/run/dpx-cni/vhostuser";
  std::string device_info_dir = "/var/run/k8s.cni.cncf.io/devinfo/cni";
  bool has_ipam = false;
  std::string ipam_type;
  std::string device_info_file;  // runtimeConfig.CNIDeviceInfoFile
};
// Parses stdin's configuration (kDecodeFailure, kInvalidConfig,
// kIncompatibleVersion, kUnsupportedField).
NetConf parse_netconf(const std::string& text);

const char* mode_name(Mode m);

}  // namespace dpx::cni
