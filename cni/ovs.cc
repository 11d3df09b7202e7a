#include "ovs.h"

#include <system_error>

#include "subprocess.h"

namespace dpx::cni {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// ovs-vsctl prints strings in OVSDB's syntax: quoted when needed.
std::string unquote(std::string s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// A value for "key=value" on ovs-vsctl's command line, quoted for OVSDB.
std::string quoted(const std::string& v) {
  std::string q = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

}  // namespace

std::string Ovs::vsctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{conf_.ovs_vsctl, "--timeout=" + std::to_string(conf_.ovs_timeout)};
  if (!conf_.ovs_db.empty()) argv.push_back("--db=" + conf_.ovs_db);
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult r;
  try {
    r = run_process(argv, environment_with({}), "");
  } catch (const std::system_error& e) {
    throw CniError(kOvsFailure, "cannot run " + conf_.ovs_vsctl, e.what());
  }
  if (r.status == 127) throw CniError(kOvsFailure, "cannot run " + conf_.ovs_vsctl, trim(r.err));
  if (r.status != 0) {
    std::string cmd;
    for (const auto& a : args) cmd += (cmd.empty() ? "" : " ") + a;
    // --timeout kills ovs-vsctl with SIGALRM; a database that does not
    // answer is transient from the runtime's point of view.
    bool timed_out = r.status == 128 + 14 ||
                     r.err.find("database connection failed") != std::string::npos ||
                     r.err.find("timeout") != std::string::npos;
    throw CniError(timed_out ? kTryAgainLater : kOvsFailure, "ovs-vsctl failed: " + trim(r.err),
                   cmd);
  }
  return r.out;
}

void Ovs::check_bridge() const {
  std::string out = vsctl({"--if-exists", "get", "bridge", conf_.bridge, "datapath_type"});
  std::string type = unquote(out);
  if (trim(out).empty())
    throw CniError(kOvsFailure, "OVS bridge '" + conf_.bridge + "' does not exist");
  if (type != "dpx") {
    throw CniError(kOvsFailure,
                   "OVS bridge '" + conf_.bridge + "' has datapath_type '" + type + "', not dpx",
                   "ovs-vsctl set bridge " + conf_.bridge + " datapath_type=dpx");
  }
}

void Ovs::add_port(const std::string& port, const std::string& type,
                   const std::map<std::string, std::string>& options,
                   const std::map<std::string, std::string>& external_ids) const {
  std::vector<std::string> args{"--may-exist", "add-port",  conf_.bridge, port,          "--",
                                "set",         "interface", port,         "type=" + type};
  for (const auto& [k, v] : options) args.push_back("options:" + k + "=" + quoted(v));
  for (const auto& [k, v] : external_ids) args.push_back("external_ids:" + k + "=" + quoted(v));
  vsctl(args);
  // ovs-vsctl returned after ovs-vswitchd applied the change: ofport is the
  // odp port's OpenFlow number, or -1 with the reason in "error".
  std::string ofport = interface_column(port, "ofport");
  std::string error = interface_column(port, "error");
  if (ofport.empty() || ofport == "-1" || ofport == "[]" || (!error.empty() && error != "[]")) {
    throw CniError(kOvsFailure,
                   "OVS could not add port " + port + " to " + conf_.bridge + ": " + error,
                   "ofport " + ofport + "; see ovs-vswitchd.log and dpxd's log");
  }
}

void Ovs::del_port(const std::string& port) const { vsctl({"--if-exists", "del-port", port}); }

std::string Ovs::interface_column(const std::string& port, const std::string& column) const {
  return unquote(vsctl({"--if-exists", "get", "interface", port, column}));
}

}  // namespace dpx::cni
