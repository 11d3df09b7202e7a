#include "attach.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "ipam.h"
#include "netlink.h"
#include "ovs.h"

namespace dpx::cni {

using nlohmann::json;
namespace fs = std::filesystem;

std::string port_name(const std::string& container_id, const std::string& ifname) {
  // FNV-1a, 64 bits: stable across builds and machines, unlike std::hash.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : container_id + "/" + ifname) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "dpx%011llx",
                static_cast<unsigned long long>(h & 0xfffffffffffull));
  return buf;
}

namespace {

// vhost-user: the socket lives in a directory of its own per container
// (<socketDir>/<first 12 characters of the container id>), the directory the
// pod mounts; the file is named after the interface.
std::string vhost_dir(const NetConf& conf, const Env& env) {
  return conf.socket_dir + "/" + env.container_id.substr(0, 12);
}
std::string vhost_socket(const NetConf& conf, const Env& env) {
  return vhost_dir(conf, env) + "/" + env.ifname + ".sock";
}

// The Network Plumbing WG device-info file: where the runtime asked
// (runtimeConfig.CNIDeviceInfoFile) or, without that capability, a file
// named after the attachment in the spec's directory.
std::string device_info_path(const NetConf& conf, const Env& env) {
  if (!conf.device_info_file.empty()) return conf.device_info_file;
  return conf.device_info_dir + "/" + conf.name + "-" + env.container_id + "-" + env.ifname +
         "-device.json";
}

// external_ids of the OVS interface: container_id and iface-id as OVN and
// other controllers expect them; iface-id is "<namespace>_<pod>" (the
// ovn-kubernetes convention) when the runtime says which pod this is.
std::map<std::string, std::string> external_ids(const Env& env, const NetConf& conf) {
  std::string ns = env.arg("K8S_POD_NAMESPACE"), pod = env.arg("K8S_POD_NAME");
  std::string iface_id =
      !ns.empty() && !pod.empty() ? ns + "_" + pod : env.container_id + "_" + env.ifname;
  return {{"container_id", env.container_id},
          {"iface-id", iface_id},
          {"cni_ifname", env.ifname},
          {"cni_network", conf.name},
          {"cni_netns", env.netns}};
}

// The gateway of the first IPAM address of the same family as 'dst'.
std::string default_gateway(const json& ips, const std::string& dst) {
  bool v6 = dst.find(':') != std::string::npos;
  for (const auto& ip : ips) {
    std::string addr = ip.value("address", "");
    if ((addr.find(':') != std::string::npos) == v6 && ip.contains("gateway"))
      return ip["gateway"].get<std::string>();
  }
  return {};
}

// Addresses, routes and link up inside the container, from the IPAM result.
void configure_container(const NetnsFd& ns, const Env& env, const NetConf& conf, const json& ipam) {
  InNetns in(ns);
  Netlink nl;
  if (conf.mode == Mode::kAfxdp) tx_checksum_off(env.ifname);
  nl.set_up(env.ifname, conf.mtu);
  int ifindex = nl.ifindex(env.ifname);
  if (!ifindex)
    throw CniError(kNetlinkFailure, "interface " + env.ifname + " vanished from " + env.netns);
  if (!ipam.is_object()) return;
  for (const auto& ip : ipam.value("ips", json::array()))
    nl.add_address(ifindex, ip.at("address").get<std::string>());
  for (const auto& r : ipam.value("routes", json::array())) {
    std::string dst = r.at("dst").get<std::string>();
    std::string gw = r.contains("gw") ? r["gw"].get<std::string>()
                                      : default_gateway(ipam.value("ips", json::array()), dst);
    nl.add_route(ifindex, dst, gw);
  }
}

std::string container_mac(const NetnsFd& ns, const std::string& ifname) {
  InNetns in(ns);
  Netlink nl;
  return nl.mac(ifname);
}

void write_device_info(const std::string& path, const std::string& socket) {
  // dpxd is the vhost-user client: the application in the container creates
  // the socket (the spec's "server" mode) and dpxd connects when it appears.
  json info = {{"type", "vhost-user"},
               {"version", "1.1.0"},
               {"vhost-user", {{"mode", "server"}, {"path", socket}}}};
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << info.dump(2) << "\n";
    if (!f.good()) throw CniError(kIoFailure, "cannot write device-info file " + path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw CniError(kIoFailure,
                   "cannot write device-info file " + path + ": " + std::strerror(errno));
  }
}

// DEL's work. 'container_if' says whether CNI_IFNAME in the container is
// ours to delete: always for DEL (the runtime says so), but not when an ADD
// failed before creating it (it may be another attachment's, which is why
// ADD failed).
void teardown(const Env& env, const NetConf& conf, const std::string& stdin_config,
              bool container_if) {
  const std::string port = port_name(env.container_id, env.ifname);
  std::optional<CniError> first;
  auto step = [&](auto&& fn) {
    try {
      fn();
    } catch (const CniError& e) {
      if (!first) first = e;
    }
  };
  // Every step runs even if one fails, and each is a no-op when its piece
  // is already gone: DEL is idempotent and finishes a failed ADD.
  step([&] { Ovs(conf).del_port(port); });
  step([&] { Netlink().delete_link(port); });  // afxdp's host veth end
  if (container_if && !env.netns.empty()) {
    step([&] {
      try {
        NetnsFd ns(env.netns);
        InNetns in(ns);
        Netlink().delete_link(env.ifname);  // a veth end, or a tap dpxd left
      } catch (const CniError& e) {
        if (e.code != kUnknownContainer) throw;  // a gone namespace is fine
      }
    });
  }
  if (conf.mode == Mode::kVhostUser) {
    std::error_code ec;
    fs::remove(vhost_socket(conf, env), ec);
    ::rmdir(vhost_dir(conf, env).c_str());  // only if no other interface's socket is left
    fs::remove(device_info_path(conf, env), ec);
  }
  if (conf.has_ipam) step([&] { ipam_exec(env, conf, "DEL", stdin_config); });
  if (first) throw *first;
}

}  // namespace

json cmd_add(const Env& env, const NetConf& conf, const std::string& stdin_config) {
  // Nothing is changed before these checks pass, so their failures leave
  // nothing behind: the container exists and OVS has the bridge.
  NetnsFd ns(env.netns);
  Ovs ovs(conf);
  ovs.check_bridge();
  const std::string port = port_name(env.container_id, env.ifname);
  if (conf.mode != Mode::kVhostUser) {
    InNetns in(ns);
    if (Netlink().ifindex(env.ifname)) {
      throw CniError(kNetlinkFailure,
                     "interface " + env.ifname + " already exists in " + env.netns);
    }
  }

  json ipam;
  if (conf.has_ipam) ipam = ipam_exec(env, conf, "ADD", stdin_config);
  bool container_if = false;  // whether CNI_IFNAME in the container is ours
  try {
    json result = {{"cniVersion", kCniVersion}, {"interfaces", json::array()}};
    std::optional<int> ip_interface;  // index in "interfaces" the IPs are on
    switch (conf.mode) {
      case Mode::kAfxdp: {
        Netlink host;
        host.create_veth(port, env.ifname, ns, conf.mtu);
        container_if = true;
        host.set_up(port, 0);
        configure_container(ns, env, conf, ipam);
        // A "system" port: the dpx provider makes it an AF_XDP port of dpxd
        // (af_packet if AF_XDP cannot attach).
        ovs.add_port(port, "system", {}, external_ids(env, conf));
        result["interfaces"].push_back({{"name", port}, {"mac", host.mac(port)}});
        result["interfaces"].push_back(
            {{"name", env.ifname}, {"mac", container_mac(ns, env.ifname)}, {"sandbox", env.netns}});
        ip_interface = 1;
        break;
      }
      case Mode::kTap: {
        // dpxd creates the tap device right inside the container's
        // namespace under its final name.
        container_if = true;  // a tap dpxd made before failing is ours (checked above)
        ovs.add_port(port, "tap", {{"netns", env.netns}, {"ifname", env.ifname}},
                     external_ids(env, conf));
        configure_container(ns, env, conf, ipam);
        result["interfaces"].push_back(
            {{"name", env.ifname}, {"mac", container_mac(ns, env.ifname)}, {"sandbox", env.netns}});
        ip_interface = 0;
        break;
      }
      case Mode::kVhostUser: {
        std::error_code ec;
        fs::create_directories(vhost_dir(conf, env), ec);
        if (ec)
          throw CniError(kIoFailure, "cannot create " + vhost_dir(conf, env) + ": " + ec.message());
        std::string socket = vhost_socket(conf, env);
        ovs.add_port(port, "dpdkvhostuserclient", {{"vhost-server-path", socket}},
                     external_ids(env, conf));
        write_device_info(device_info_path(conf, env), socket);
        // The IPs are for the pod's own (DPDK) stack: reported, not set.
        result["interfaces"].push_back({{"name", port}});
        break;
      }
    }
    if (ipam.is_object()) {
      json ips = ipam.value("ips", json::array());
      if (ip_interface) {
        for (auto& ip : ips) ip["interface"] = *ip_interface;
      }
      result["ips"] = ips;
      if (ipam.contains("routes")) result["routes"] = ipam["routes"];
      if (ipam.contains("dns")) result["dns"] = ipam["dns"];
    }
    return result;
  } catch (...) {
    // A failed ADD leaves nothing behind, the address lease included.
    try {
      teardown(env, conf, stdin_config, container_if);
    } catch (const CniError& e) {
      std::fprintf(stderr, "dpx-cni: cleanup after the failed ADD: %s\n", e.what());
    }
    throw;
  }
}

void cmd_del(const Env& env, const NetConf& conf, const std::string& stdin_config) {
  teardown(env, conf, stdin_config, true);
}

void cmd_check(const Env& env, const NetConf& conf, const std::string& stdin_config) {
  auto prev_it = conf.raw.find("prevResult");
  if (prev_it == conf.raw.end() || !prev_it->is_object()) {
    throw CniError(kInvalidConfig, "CHECK needs prevResult in the network configuration");
  }
  const json& prev = *prev_it;
  NetnsFd ns(env.netns);
  if (conf.has_ipam) ipam_exec(env, conf, "CHECK", stdin_config);

  const std::string port = port_name(env.container_id, env.ifname);
  Ovs ovs(conf);
  std::string cid = ovs.interface_column(port, "external_ids:container_id");
  if (cid.empty())
    throw CniError(kCheckFailed,
                   "OVS has no port " + port + " for " + env.container_id + "/" + env.ifname);
  if (cid != env.container_id)
    throw CniError(kCheckFailed, "OVS port " + port + " belongs to container " + cid);
  std::string ofport = ovs.interface_column(port, "ofport");
  if (ofport.empty() || ofport == "-1" || ofport == "[]") {
    throw CniError(kCheckFailed, "OVS port " + port + " is not in the datapath: " +
                                     ovs.interface_column(port, "error"));
  }
  if (conf.mode == Mode::kVhostUser) {
    if (!fs::is_directory(vhost_dir(conf, env)))
      throw CniError(kCheckFailed, vhost_dir(conf, env) + " does not exist");
    if (!fs::exists(device_info_path(conf, env)))
      throw CniError(kCheckFailed, device_info_path(conf, env) + " does not exist");
    return;
  }
  if (conf.mode == Mode::kAfxdp && !Netlink().is_up(port)) {
    throw CniError(kCheckFailed, "host interface " + port + " is missing or down");
  }

  InNetns in(ns);
  Netlink nl;
  int ifindex = nl.ifindex(env.ifname);
  if (!ifindex)
    throw CniError(kCheckFailed, "interface " + env.ifname + " does not exist in " + env.netns);
  if (!nl.is_up(env.ifname)) throw CniError(kCheckFailed, "interface " + env.ifname + " is down");
  int idx = 0;
  std::optional<int> mine;
  for (const auto& i : prev.value("interfaces", json::array())) {
    if (i.value("name", "") == env.ifname && i.value("sandbox", "") == env.netns) {
      mine = idx;
      if (i.contains("mac") && i["mac"].get<std::string>() != nl.mac(env.ifname)) {
        throw CniError(kCheckFailed, "interface " + env.ifname + " has MAC " + nl.mac(env.ifname) +
                                         ", prevResult says " + i["mac"].get<std::string>());
      }
    }
    idx++;
  }
  if (!mine)
    throw CniError(kCheckFailed, "prevResult has no interface " + env.ifname + " in " + env.netns);
  for (const auto& ip : prev.value("ips", json::array())) {
    if (ip.contains("interface") && ip["interface"] != *mine) continue;
    std::string addr = ip.at("address").get<std::string>();
    if (!nl.has_address(ifindex, addr))
      throw CniError(kCheckFailed, "address " + addr + " is missing from " + env.ifname);
  }
  for (const auto& r : prev.value("routes", json::array())) {
    std::string dst = r.at("dst").get<std::string>();
    std::string gw = r.contains("gw") ? r["gw"].get<std::string>() : "";
    if (!nl.has_route(dst, gw))
      throw CniError(kCheckFailed,
                     "route " + dst + (gw.empty() ? "" : " via " + gw) + " is missing");
  }
}

}  // namespace dpx::cni
