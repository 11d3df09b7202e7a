// The OVS side of an attachment, through Debian's ovs-vsctl: the port is a
// row in OVSDB like any other, so OVN or any controller sees it, and
// ovs-vswitchd (ours, with the dpx provider) makes it a dpxd port.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cni.h"

namespace dpx::cni {

class Ovs {
 public:
  explicit Ovs(const NetConf& conf) : conf_(conf) {}

  // Runs ovs-vsctl with 'args' (after its global options) and returns its
  // stdout. Failure: kTryAgainLater if the database did not answer in time,
  // else kOvsFailure with ovs-vsctl's message.
  std::string vsctl(const std::vector<std::string>& args) const;

  // Throws kOvsFailure unless 'bridge' exists with datapath_type=dpx.
  void check_bridge() const;

  // Adds (or updates) interface 'port' on the bridge with the type, options
  // and external_ids given, waits for ovs-vswitchd to apply it, and throws
  // kOvsFailure with OVS's reason if it could not (e.g. dpxd refused it).
  void add_port(const std::string& port, const std::string& type,
                const std::map<std::string, std::string>& options,
                const std::map<std::string, std::string>& external_ids) const;

  // Removes the port from whatever bridge holds it; nothing if it is gone.
  void del_port(const std::string& port) const;

  // One column of an Interface row, unquoted; "" if there is no such row.
  std::string interface_column(const std::string& port, const std::string& column) const;

 private:
  const NetConf& conf_;
};

}  // namespace dpx::cni
