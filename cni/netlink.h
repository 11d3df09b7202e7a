// Kernel interfaces, addresses and routes through rtnetlink (libnl-route-3),
// and network namespaces. Every failure throws CniError(kNetlinkFailure)
// with the kernel's reason, except where a function says otherwise.
#pragma once

#include <string>

struct nl_sock;

namespace dpx::cni {

// An open network namespace (by path, like CNI_NETNS). A namespace that
// does not exist throws kUnknownContainer.
class NetnsFd {
 public:
  explicit NetnsFd(const std::string& path);
  ~NetnsFd();
  NetnsFd(const NetnsFd&) = delete;
  NetnsFd& operator=(const NetnsFd&) = delete;
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Enters 'ns' for the lifetime of the object, and returns to the namespace
// the thread was in. (dpx-cni is single-threaded: setns() moves the only
// thread, and every socket opened meanwhile lives in 'ns'.)
class InNetns {
 public:
  explicit InNetns(const NetnsFd& ns);
  ~InNetns();
  InNetns(const InNetns&) = delete;
  InNetns& operator=(const InNetns&) = delete;

 private:
  int home_ = -1;
};

// An rtnetlink socket in the namespace the thread is in when it is made.
class Netlink {
 public:
  Netlink();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  // A veth pair: 'name' here, its peer 'peer_name' created directly in the
  // namespace 'peer_ns' (no moment with both ends here under the peer's
  // name). mtu 0 keeps the default.
  void create_veth(const std::string& name, const std::string& peer_name, const NetnsFd& peer_ns,
                   int mtu);
  // 0 if there is no such interface.
  int ifindex(const std::string& name);
  // Deletes the interface; false if there was none.
  bool delete_link(const std::string& name);
  void set_up(const std::string& name, int mtu);
  bool is_up(const std::string& name);
  std::string mac(const std::string& name);
  // 'cidr' like "10.1.0.5/24"; an address already there is not an error.
  void add_address(int ifindex, const std::string& cidr);
  bool has_address(int ifindex, const std::string& cidr);
  // 'dst' like "0.0.0.0/0"; 'gw' may be "". An existing route is not an
  // error.
  void add_route(int ifindex, const std::string& dst, const std::string& gw);
  bool has_route(const std::string& dst, const std::string& gw);

 private:
  nl_sock* sk_ = nullptr;
};

// Turns tx checksum offload off on 'name' in the current namespace (what
// `ethtool -K name tx off` does): frames leave the container with real
// checksums, since an AF_XDP socket carries no offload metadata.
void tx_checksum_off(const std::string& name);

}  // namespace dpx::cni
