#include "netlink.h"

#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "cni.h"

namespace dpx::cni {

namespace {

[[noreturn]] void fail(const std::string& what, int nl_err) {
  throw CniError(kNetlinkFailure, what + ": " + nl_geterror(nl_err));
}
[[noreturn]] void fail_errno(const std::string& what) {
  throw CniError(kNetlinkFailure, what + ": " + std::strerror(errno));
}

struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CachePut {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CachePut>;

NlAddrPtr parse_addr(const std::string& s) {
  nl_addr* a = nullptr;
  if (int rc = nl_addr_parse(s.c_str(), AF_UNSPEC, &a); rc < 0)
    fail("invalid address '" + s + "'", rc);
  return NlAddrPtr(a);
}

LinkPtr get_link(nl_sock* sk, const std::string& name) {
  rtnl_link* l = nullptr;
  int rc = rtnl_link_get_kernel(sk, 0, name.c_str(), &l);
  if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV) return nullptr;
  if (rc < 0) fail("cannot look up interface " + name, rc);
  return LinkPtr(l);
}

}  // namespace

NetnsFd::NetnsFd(const std::string& path) : path_(path) {
  fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw CniError(errno == ENOENT ? kUnknownContainer : kInvalidEnvironment,
                   "cannot open network namespace " + path + ": " + std::strerror(errno));
  }
  // A path that is not a network namespace (a plain file, another kind of
  // namespace) is refused before anything is done with it.
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) fail_errno("cannot open /proc/self/ns/net");
  bool ok = setns(fd_, CLONE_NEWNET) == 0;
  int saved = errno;
  if (ok && setns(home, CLONE_NEWNET) != 0) {
    close(home);
    fail_errno("cannot return to the host network namespace");
  }
  close(home);
  if (!ok) {
    close(fd_);
    throw CniError(kInvalidEnvironment,
                   "CNI_NETNS " + path + " is not a network namespace: " + std::strerror(saved));
  }
}

NetnsFd::~NetnsFd() {
  if (fd_ >= 0) close(fd_);
}

InNetns::InNetns(const NetnsFd& ns) {
  home_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_ < 0) fail_errno("cannot open /proc/self/ns/net");
  if (setns(ns.fd(), CLONE_NEWNET) != 0) {
    int e = errno;
    close(home_);
    errno = e;
    fail_errno("cannot enter network namespace " + ns.path());
  }
}

InNetns::~InNetns() {
  // Staying in the container's namespace would make every later step
  // (OVS, IPAM) act there; there is no way to go on after that.
  if (setns(home_, CLONE_NEWNET) != 0) abort();
  close(home_);
}

Netlink::Netlink() {
  sk_ = nl_socket_alloc();
  if (!sk_) throw CniError(kNetlinkFailure, "cannot allocate a netlink socket");
  if (int rc = nl_connect(sk_, NETLINK_ROUTE); rc < 0) {
    nl_socket_free(sk_);
    fail("cannot open an rtnetlink socket", rc);
  }
}

Netlink::~Netlink() { nl_socket_free(sk_); }

void Netlink::create_veth(const std::string& name, const std::string& peer_name,
                          const NetnsFd& peer_ns, int mtu) {
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) throw CniError(kNetlinkFailure, "cannot allocate a veth link");
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(link.get(), name.c_str());
  rtnl_link_set_name(peer.get(), peer_name.c_str());
  rtnl_link_set_ns_fd(peer.get(), peer_ns.fd());
  if (mtu > 0) {
    rtnl_link_set_mtu(link.get(), static_cast<unsigned>(mtu));
    rtnl_link_set_mtu(peer.get(), static_cast<unsigned>(mtu));
  }
  if (int rc = rtnl_link_add(sk_, link.get(), NLM_F_CREATE | NLM_F_EXCL); rc < 0) {
    fail("cannot create veth pair " + name + " / " + peer_name + " (in " + peer_ns.path() + ")",
         rc);
  }
}

int Netlink::ifindex(const std::string& name) {
  LinkPtr l = get_link(sk_, name);
  return l ? rtnl_link_get_ifindex(l.get()) : 0;
}

bool Netlink::delete_link(const std::string& name) {
  LinkPtr l = get_link(sk_, name);
  if (!l) return false;
  int rc = rtnl_link_delete(sk_, l.get());
  if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV) return false;
  if (rc < 0) fail("cannot delete interface " + name, rc);
  return true;
}

void Netlink::set_up(const std::string& name, int mtu) {
  LinkPtr l = get_link(sk_, name);
  if (!l) throw CniError(kNetlinkFailure, "interface " + name + " does not exist");
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (mtu > 0) rtnl_link_set_mtu(change.get(), static_cast<unsigned>(mtu));
  if (int rc = rtnl_link_change(sk_, l.get(), change.get(), 0); rc < 0)
    fail("cannot set " + name + " up", rc);
}

bool Netlink::is_up(const std::string& name) {
  LinkPtr l = get_link(sk_, name);
  return l && (rtnl_link_get_flags(l.get()) & IFF_UP);
}

std::string Netlink::mac(const std::string& name) {
  LinkPtr l = get_link(sk_, name);
  if (!l) throw CniError(kNetlinkFailure, "interface " + name + " does not exist");
  nl_addr* a = rtnl_link_get_addr(l.get());
  if (!a) return {};
  char buf[64];
  return nl_addr2str(a, buf, sizeof buf);
}

void Netlink::add_address(int ifindex, const std::string& cidr) {
  NlAddrPtr local = parse_addr(cidr);
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  if (int rc = rtnl_addr_set_local(addr.get(), local.get()); rc < 0)
    fail("invalid address " + cidr, rc);
  int rc = rtnl_addr_add(sk_, addr.get(), 0);
  if (rc < 0 && rc != -NLE_EXIST) fail("cannot add address " + cidr, rc);
}

bool Netlink::has_address(int ifindex, const std::string& cidr) {
  NlAddrPtr want = parse_addr(cidr);
  nl_cache* c = nullptr;
  if (int rc = rtnl_addr_alloc_cache(sk_, &c); rc < 0) fail("cannot list addresses", rc);
  CachePtr cache(c);
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    nl_addr* local = rtnl_addr_get_local(a);
    if (rtnl_addr_get_ifindex(a) == ifindex && local && nl_addr_cmp(local, want.get()) == 0 &&
        rtnl_addr_get_prefixlen(a) == static_cast<int>(nl_addr_get_prefixlen(want.get()))) {
      return true;
    }
  }
  return false;
}

void Netlink::add_route(int ifindex, const std::string& dst, const std::string& gw) {
  NlAddrPtr d = parse_addr(dst);
  RoutePtr route(rtnl_route_alloc());
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(nl_addr_get_family(d.get())));
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  if (int rc = rtnl_route_set_dst(route.get(), d.get()); rc < 0) fail("invalid route " + dst, rc);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, ifindex);
  if (!gw.empty()) {
    NlAddrPtr g = parse_addr(gw);
    rtnl_route_nh_set_gateway(nh, g.get());
  }
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns it now
  int rc = rtnl_route_add(sk_, route.get(), NLM_F_EXCL);
  if (rc < 0 && rc != -NLE_EXIST)
    fail("cannot add route " + dst + (gw.empty() ? "" : " via " + gw), rc);
}

bool Netlink::has_route(const std::string& dst, const std::string& gw) {
  NlAddrPtr d = parse_addr(dst);
  NlAddrPtr g = gw.empty() ? nullptr : parse_addr(gw);
  nl_cache* c = nullptr;
  if (int rc = rtnl_route_alloc_cache(sk_, nl_addr_get_family(d.get()), 0, &c); rc < 0)
    fail("cannot list routes", rc);
  CachePtr cache(c);
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN) continue;
    nl_addr* rd = rtnl_route_get_dst(r);
    unsigned plen = rd ? nl_addr_get_prefixlen(rd) : 0;
    if (plen != nl_addr_get_prefixlen(d.get())) continue;
    // A default route's destination is empty in the kernel's answer.
    if (plen != 0 && nl_addr_cmp_prefix(rd, d.get()) != 0) continue;
    if (!g) return true;
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    nl_addr* rg = nh ? rtnl_route_nh_get_gateway(nh) : nullptr;
    if (rg && nl_addr_cmp(rg, g.get()) == 0) return true;
  }
  return false;
}

void tx_checksum_off(const std::string& name) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail_errno("socket");
  ethtool_value v{};
  v.cmd = ETHTOOL_STXCSUM;
  v.data = 0;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = reinterpret_cast<char*>(&v);
  int rc = ioctl(s, SIOCETHTOOL, &ifr);
  int e = errno;
  close(s);
  if (rc != 0) {
    errno = e;
    fail_errno("cannot turn tx checksum offload off on " + name);
  }
}

}  // namespace dpx::cni
