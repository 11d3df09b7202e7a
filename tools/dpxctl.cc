// dpxctl: command-line client of dpxd's control socket, for standalone use
// without OVS, debugging and scripts. Flows are read and printed in the text
// syntax of ovs-dpctl (datapath/odp_text.h), so the output of `dpxctl
// dump-flows` reads like `ovs-dpctl dump-flows`.
#include <time.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "control_client.h"
#include "odp_text.h"
#include "tunnel_msg.h"

namespace po = boost::program_options;

namespace dpx {
namespace {

const char kUsage[] =
    R"(Usage: dpxctl [--socket PATH] COMMAND [ARG...]

Commands:
  show                         ports with their stats, and datapath stats
  add-port NAME TYPE [DEVARGS] [--port-no N] [--n-rxq N] [--option KEY=VALUE]...
                               e.g. dpxctl add-port p0 dpdk net_pcap0,rx_pcap=in.pcap
  del-port NAME|PORT_NO
  add-flow FLOW ACTIONS        create a flow (fails if its ufid exists)
  mod-flow FLOW ACTIONS [--clear]
                               change a flow's actions (--clear: zero its stats)
  del-flow FLOW|ufid:UUID      delete a flow
  get-flow ufid:UUID           print one flow
  dump-flows [-m]              print every flow; -m/--more adds the ufid
  flush                        delete every flow
  execute IN_PORT PACKET_HEX ACTIONS
                               run ACTIONS on one packet as if received on IN_PORT
  pmd-stats-show               per-PMD counters
  pmd-stats-clear              zero the per-PMD counters
  set [flow-limit=N] [emc=on|off] [pmd-sleep-max-us=N]

Tunnel underlay (docs/tunnels.md):
  tnl-ip add IP/PLEN PORT      a local VTEP address (IPv4 or IPv6) on underlay port PORT
  tnl-ip del IP [PORT]
  tnl-ip show
  route add PREFIX/PLEN PORT [GATEWAY] [src=IP]
  route del PREFIX/PLEN
  route show
  neigh set PORT IP MAC        a static neighbour entry
  neigh flush                  forget every learned entry
  neigh show
  tnl-stats                    tunnel port traffic and tunnel drop counters

FLOW and ACTIONS use the syntax of ovs-dpctl, e.g.
  dpxctl add-flow 'in_port(1),eth_type(0x0800),ipv4(dst=10.0.0.2)' 2
A FLOW may start with "ufid:UUID,". Without one, the ufid is derived from
the flow itself: the 128-bit FNV-1a hash of the key attribute bytes followed
by the mask attribute bytes (as odp_flow_from_string() encodes FLOW), so the
same FLOW text names the same flow in add-flow, mod-flow and del-flow.

Options)";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "dpxctl: %s (use --help for help)\n", msg.c_str());
  return 2;
}

int fail(const std::string& what, int e, const std::string& msg) {
  std::fprintf(stderr, "dpxctl: %s failed (%s)%s%s\n", what.c_str(), std::strerror(e),
               msg.empty() ? "" : ": ", msg.c_str());
  return 1;
}

// 128-bit FNV-1a; w[0] holds the most significant 32 bits.
Ufid derive_ufid(std::span<const uint8_t> key, std::span<const uint8_t> mask) {
  unsigned __int128 h =
      (static_cast<unsigned __int128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  const unsigned __int128 prime = (static_cast<unsigned __int128>(1) << 88) | 0x13b;
  for (auto part : {key, mask})
    for (uint8_t b : part) {
      h ^= b;
      h *= prime;
    }
  Ufid u;
  for (int i = 0; i < 4; i++) u.w[i] = static_cast<uint32_t>(h >> (96 - 32 * i));
  return u;
}

uint64_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

// OVS's packet_format_tcp_flags(), letter order included.
std::string tcp_flags_string(uint16_t f) {
  std::string s;
  if (f & 0x002) s += 'S';
  if (f & 0x001) s += 'F';
  if (f & 0x008) s += 'P';
  if (f & 0x004) s += 'R';
  if (f & 0x020) s += 'U';
  if (f & 0x010) s += '.';
  if (f & 0x040) s += 'E';
  if (f & 0x080) s += 'C';
  if (f & 0x100) s += 'N';
  for (uint16_t b : {0x200, 0x400, 0x800}) {
    if (f & b) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "[%x]", b);
      s += buf;
    }
  }
  return s;
}

// One line of dump-flows, as OVS's format_dpif_flow() writes it.
std::string format_flow(const FlowEntry& f, bool more) {
  std::string s;
  if (more) s += "ufid:" + ufid_to_string(f.ufid) + ", ";
  s += odp_flow_to_string(f.key, f.mask);
  char buf[128];
  std::snprintf(buf, sizeof buf, ", packets:%" PRIu64 ", bytes:%" PRIu64 ", used:", f.stats.packets,
                f.stats.bytes);
  s += buf;
  if (f.stats.used_ms) {
    uint64_t now = now_ms();
    std::snprintf(buf, sizeof buf, "%.3fs",
                  (now > f.stats.used_ms ? now - f.stats.used_ms : 0) / 1000.0);
    s += buf;
  } else {
    s += "never";
  }
  if (f.stats.tcp_flags) s += ", flags:" + tcp_flags_string(f.stats.tcp_flags);
  s += ", actions:" + odp_actions_to_string(f.actions);
  return s;
}

// FLOW text (with or without "ufid:") to key, mask and ufid.
int parse_flow(const std::string& text, FlowPutEntry* e, std::string* err) {
  bool has_ufid = false;
  if (int r = odp_flow_from_string(text, &e->key, &e->mask, &e->ufid, &has_ufid, err)) return r;
  if (!has_ufid) e->ufid = derive_ufid(e->key, e->mask);
  return 0;
}

bool parse_ufid_arg(const std::string& s, Ufid* u) {
  if (s.rfind("ufid:", 0) != 0) return false;
  return ufid_from_string(std::string_view(s).substr(5), u);
}

bool parse_u32(const std::string& s, uint32_t* v) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + uint64_t(c - '0');
  }
  if (x > UINT32_MAX) return false;
  *v = uint32_t(x);
  return true;
}

std::string mac_string(const std::array<uint8_t, 6>& m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

void print_port(const PortInfo& p) {
  std::printf("  port %u: %s (%s", p.odp_port, p.name.c_str(), p.type.c_str());
  const char* sep = ": ";
  if (!p.devargs.empty()) {
    std::printf("%sdevargs=%s", sep, p.devargs.c_str());
    sep = ", ";
  }
  for (const auto& o : p.options) {
    std::printf("%s%s", sep, o.c_str());
    sep = ", ";
  }
  std::printf(")\n");
  std::printf("    link:%s", p.link_up ? "up" : "down");
  if (p.link_speed_mbps) std::printf(" speed:%uMbps", p.link_speed_mbps);
  std::printf(" mtu:%u mac:%s rxq:%u txq:%u\n", p.mtu, mac_string(p.mac).c_str(), p.n_rxq, p.n_txq);
  const PortStats& s = p.stats;
  std::printf("    RX packets:%" PRIu64 " errors:%" PRIu64 " dropped:%" PRIu64 "\n", s.rx_packets,
              s.rx_errors, s.rx_drops);
  std::printf("    TX packets:%" PRIu64 " errors:%" PRIu64 " dropped:%" PRIu64 "\n", s.tx_packets,
              s.tx_errors, s.tx_drops);
  std::printf("    RX bytes:%" PRIu64 "  TX bytes:%" PRIu64 "\n", s.rx_bytes, s.tx_bytes);
  for (const auto& q : p.queues)
    std::printf("    %s %u: packets:%" PRIu64 " bytes:%" PRIu64 " dropped:%" PRIu64 "\n",
                q.tx ? "txq" : "rxq", q.queue_id, q.packets, q.bytes, q.drops);
  std::string drops;
  for (const auto& d : p.drops)
    if (d.count) drops += " " + d.reason + ":" + std::to_string(d.count);
  if (!drops.empty()) std::printf("    drops:%s\n", drops.c_str());
  std::string counters;
  for (const auto& c : p.counters) counters += " " + c.reason + ":" + std::to_string(c.count);
  if (!counters.empty()) std::printf("    counters:%s\n", counters.c_str());
}

int cmd_show(ControlClient& c) {
  std::string err;
  DpStats s;
  if (int e = c.dp_stats(&s, &err)) return fail("getting datapath stats", e, err);
  std::vector<PortInfo> ports;
  if (int e = c.port_dump(&ports, &err)) return fail("dumping ports", e, err);
  std::printf("dpx@dpxd:\n");
  std::printf("  lookups: hit:%" PRIu64 " missed:%" PRIu64 " lost:%" PRIu64 "\n", s.hit, s.missed,
              s.lost);
  std::printf("  flows: %" PRIu64 "\n", s.n_flows);
  std::printf("  masks: hit:%" PRIu64 " total:%" PRIu64 " hit/pkt:%.2f\n", s.mask_hit, s.n_masks,
              s.hit + s.missed ? double(s.mask_hit) / double(s.hit + s.missed) : 0.0);
  std::printf("  emc hits: %" PRIu64 "\n", s.emc_hit);
  std::printf("  upcall queue drops: %" PRIu64 "\n", s.upcall_queue_drops);
  if (s.flow_limit) std::printf("  flow limit: %" PRIu64 "\n", s.flow_limit);
  // Every PMD runs the lookups at the datapath's one vector level.
  std::vector<PmdStats> pmds;
  if (c.pmd_stats(&pmds, &err) == 0 && !pmds.empty() && !pmds[0].cpu_isa.empty())
    std::printf("  cpu isa: %s\n", pmds[0].cpu_isa.c_str());
  for (const auto& p : ports) print_port(p);
  return 0;
}

int cmd_add_port(ControlClient& c, const std::vector<std::string>& a, const po::variables_map& vm) {
  if (a.size() < 2 || a.size() > 3) return usage_error("add-port NAME TYPE [DEVARGS]");
  PortAddRequest req;
  req.name = a[0];
  req.type = a[1];
  if (a.size() == 3) req.devargs = a[2];
  if (vm.count("port-no")) req.odp_port = vm["port-no"].as<uint32_t>();
  if (vm.count("n-rxq")) req.n_rxq = vm["n-rxq"].as<uint32_t>();
  if (vm.count("option")) req.options = vm["option"].as<std::vector<std::string>>();
  std::string err;
  PortInfo p;
  if (int e = c.port_add(req, &p, &err)) return fail("adding port " + req.name, e, err);
  std::printf("port %u: %s\n", p.odp_port, p.name.c_str());
  return 0;
}

int cmd_del_port(ControlClient& c, const std::vector<std::string>& a) {
  if (a.size() != 1) return usage_error("del-port NAME|PORT_NO");
  PortRef ref;
  uint32_t no;
  if (parse_u32(a[0], &no))
    ref.odp_port = no;
  else
    ref.name = a[0];
  std::string err;
  if (int e = c.port_del(ref, &err)) return fail("deleting port " + a[0], e, err);
  return 0;
}

int cmd_put_flow(ControlClient& c, const std::vector<std::string>& a, uint32_t flags,
                 const char* what) {
  if (a.size() != 2)
    return usage_error((flags & DPX_FLOW_PUT_MODIFY) ? "mod-flow FLOW ACTIONS [--clear]"
                                                     : "add-flow FLOW ACTIONS");
  FlowPutEntry e;
  e.flags = flags;
  std::string err;
  if (parse_flow(a[0], &e, &err)) return usage_error("bad flow: " + err);
  if (odp_actions_from_string(a[1], &e.actions, &err)) return usage_error("bad actions: " + err);
  std::vector<FlowPutResult> res;
  if (int r = c.flow_put(std::span(&e, 1), &res, &err)) return fail(what, r, err);
  if (res.size() == 1 && res[0].error) return fail(what, res[0].error, res[0].message);
  return 0;
}

int cmd_del_flow(ControlClient& c, const std::vector<std::string>& a) {
  if (a.size() != 1) return usage_error("del-flow FLOW|ufid:UUID");
  std::string err;
  FlowPutEntry e;
  // "ufid:UUID" alone names the flow; anything else is a flow text.
  if (!parse_ufid_arg(a[0], &e.ufid) && parse_flow(a[0], &e, &err))
    return usage_error("bad flow: " + err);
  std::vector<FlowDelResult> res;
  if (int r = c.flow_del(std::span(&e.ufid, 1), &res, &err)) return fail("deleting flow", r, err);
  if (res.size() == 1 && res[0].error) return fail("deleting flow", res[0].error, res[0].message);
  return 0;
}

int cmd_get_flow(ControlClient& c, const std::vector<std::string>& a) {
  Ufid u;
  if (a.size() != 1 || !parse_ufid_arg(a[0], &u)) return usage_error("get-flow ufid:UUID");
  std::string err;
  FlowEntry f;
  if (int r = c.flow_get(u, &f, &err)) return fail("getting flow", r, err);
  std::printf("%s\n", format_flow(f, true).c_str());
  return 0;
}

int cmd_dump_flows(ControlClient& c, bool more) {
  std::string err;
  int r = c.flow_dump_all(
      false,
      [&](const FlowEntry& f) {
        std::printf("%s\n", format_flow(f, more).c_str());
        return true;
      },
      &err);
  return r ? fail("dumping flows", r, err) : 0;
}

int cmd_execute(ControlClient& c, const std::vector<std::string>& a) {
  if (a.size() != 3) return usage_error("execute IN_PORT PACKET_HEX ACTIONS");
  uint32_t in_port;
  if (!parse_u32(a[0], &in_port)) return usage_error("bad IN_PORT " + a[0]);
  ExecuteRequest x;
  const std::string& hex = a[1];
  if (hex.empty() || hex.size() % 2) return usage_error("PACKET_HEX needs an even digit count");
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v;
    if (std::sscanf(hex.c_str() + i, "%2x", &v) != 1 || !std::isxdigit(hex[i]) ||
        !std::isxdigit(hex[i + 1]))
      return usage_error("bad PACKET_HEX");
    x.packet.push_back(uint8_t(v));
  }
  std::string err;
  NlBuf mask;
  if (odp_flow_from_string("in_port(" + a[0] + ")", &x.key, &mask, &err))
    return usage_error("bad IN_PORT: " + err);
  if (odp_actions_from_string(a[2], &x.actions, &err)) return usage_error("bad actions: " + err);
  if (int r = c.execute(x, &err)) return fail("executing", r, err);
  return 0;
}

double pct(uint64_t a, uint64_t total) { return total ? 100.0 * double(a) / double(total) : 0; }
double ratio(uint64_t a, uint64_t b) { return b ? double(a) / double(b) : 0; }

int cmd_pmd_stats_show(ControlClient& c) {
  std::string err;
  std::vector<PmdStats> pmds;
  if (int r = c.pmd_stats(&pmds, &err)) return fail("getting PMD stats", r, err);
  for (const auto& p : pmds) {
    uint64_t cycles = p.busy_cycles + p.idle_cycles;
    std::printf("pmd thread numa_id %u core_id %u:\n", p.numa, p.core);
    if (!p.cpu_isa.empty()) std::printf("  cpu isa: %s\n", p.cpu_isa.c_str());
    std::printf("  packets received: %" PRIu64 "\n", p.packets);
    std::printf("  packet recirculations: %" PRIu64 "\n", p.recirculations);
    std::printf("  flow jobs run: %" PRIu64 "\n", p.flow_jobs);
    std::printf("  avg. datapath passes per packet: %.2f\n", ratio(p.passes, p.packets));
    std::printf("  emc hits: %" PRIu64 " (%.1f %%)\n", p.emc_hits, pct(p.emc_hits, p.passes));
    std::printf("  megaflow hits: %" PRIu64 " (%.1f %%)\n", p.megaflow_hits,
                pct(p.megaflow_hits, p.passes));
    std::printf("  avg. subtable lookups per megaflow lookup: %.2f\n",
                ratio(p.masks_visited, p.megaflow_hits + p.upcalls + p.lost));
    std::printf("  miss with success upcall: %" PRIu64 "\n", p.upcalls);
    std::printf("  miss with failed upcall: %" PRIu64 "\n", p.lost);
    std::printf("  upcalls unanswered in time: %" PRIu64 "\n", p.hold_timeouts);
    std::printf("  avg. packets per rx batch: %.2f\n", ratio(p.packets, p.rx_batches));
    std::printf("  idle cycles: %" PRIu64 " (%.2f %%)\n", p.idle_cycles,
                pct(p.idle_cycles, cycles));
    std::printf("  processing cycles: %" PRIu64 " (%.2f %%)\n", p.busy_cycles,
                pct(p.busy_cycles, cycles));
    std::printf("  avg cycles per packet: %.2f (%" PRIu64 "/%" PRIu64 ")\n",
                ratio(cycles, p.packets), cycles, p.packets);
    std::printf("  avg processing cycles per packet: %.2f (%" PRIu64 "/%" PRIu64 ")\n",
                ratio(p.busy_cycles, p.packets), p.busy_cycles, p.packets);
    std::printf("  sleeps: %" PRIu64 " (%" PRIu64 " us total)\n", p.sleeps, p.sleep_us);
    // Every drop reason the PMD counts; only the ones that happened.
    bool any = false;
    for (const auto& d : p.drops) {
      if (!d.count) continue;
      if (!any) std::printf("  drops:\n");
      any = true;
      std::printf("    %s: %" PRIu64 "\n", d.reason.c_str(), d.count);
    }
    if (!any) std::printf("  drops: none\n");
  }
  return 0;
}

int cmd_set(ControlClient& c, const std::vector<std::string>& a) {
  DpConfig cfg;
  for (const auto& kv : a) {
    auto eq = kv.find('=');
    std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    uint32_t n;
    if (k == "flow-limit" && parse_u32(v, &n))
      cfg.flow_limit = n;
    else if (k == "pmd-sleep-max-us" && parse_u32(v, &n))
      cfg.pmd_sleep_max_us = n;
    else if (k == "emc" && (v == "on" || v == "off"))
      cfg.emc_enable = v == "on";
    else
      return usage_error("bad setting " + kv);
  }
  if (a.empty()) return usage_error("set needs at least one KEY=VALUE");
  std::string err;
  if (int r = c.dp_set(cfg, &err)) return fail("setting", r, err);
  return 0;
}

// ---- tunnel underlay ----

// Sends a tunnel request and returns the reply body in *reply.
int tnl_request(ControlClient& c, uint16_t type, const NlBuf& body, NlBuf* reply,
                const std::string& what) {
  std::string err;
  NlBuf ignored;
  if (int e = c.transact(type, body, reply ? reply : &ignored, &err)) return fail(what, e, err);
  return 0;
}

int cmd_tnl_ip(ControlClient& c, const std::vector<std::string>& a) {
  const std::string sub = a.empty() ? "" : a[0];
  if (sub == "show" && a.size() == 1) {
    NlBuf reply;
    if (int r = tnl_request(c, DPX_CTL_TNL_IP_DUMP, {}, &reply, "dumping VTEP addresses")) return r;
    std::vector<TnlIpEntry> v;
    std::string err;
    if (decode_tnl_ip_list(reply, &v, &err)) return fail("decoding VTEP addresses", EPROTO, err);
    for (const auto& e : v)
      std::printf("%s/%u dev %s (port %u)\n",
                  (e.v6 ? ipv6_to_string(e.addr6) : ipv4_to_string(e.addr)).c_str(), e.plen,
                  e.port.c_str(), e.odp);
    return 0;
  }
  TnlIpEntry e;
  // An address with a colon is IPv6.
  e.v6 = a.size() > 1 && a[1].find(':') != std::string::npos;
  const auto prefix_ok = [&] {
    return e.v6 ? parse_ipv6_prefix(a[1], &e.addr6, &e.plen)
                : parse_ipv4_prefix(a[1], &e.addr, &e.plen);
  };
  const auto addr_ok = [&] {
    return e.v6 ? parse_ipv6(a[1], &e.addr6) : parse_ipv4(a[1], &e.addr);
  };
  if (sub == "add" && a.size() == 3 && prefix_ok()) {
    e.port = a[2];
    NlBuf b;
    encode_tnl_ip(e, &b);
    return tnl_request(c, DPX_CTL_TNL_IP_ADD, b, nullptr, "adding VTEP address " + a[1]);
  }
  if (sub == "del" && (a.size() == 2 || a.size() == 3) && addr_ok()) {
    if (a.size() == 3) e.port = a[2];
    NlBuf b;
    encode_tnl_ip(e, &b);
    return tnl_request(c, DPX_CTL_TNL_IP_DEL, b, nullptr, "deleting VTEP address " + a[1]);
  }
  return usage_error("tnl-ip add IP/PLEN PORT | tnl-ip del IP [PORT] | tnl-ip show");
}

int cmd_route(ControlClient& c, const std::vector<std::string>& a) {
  const std::string sub = a.empty() ? "" : a[0];
  if (sub == "show" && a.size() == 1) {
    NlBuf reply;
    if (int r = tnl_request(c, DPX_CTL_ROUTE_DUMP, {}, &reply, "dumping routes")) return r;
    std::vector<RouteEntry> v;
    std::string err;
    if (decode_route_list(reply, &v, &err)) return fail("decoding routes", EPROTO, err);
    for (const auto& e : v) {
      if (e.v6) {
        std::printf("%s/%u", ipv6_to_string(e.prefix6).c_str(), e.plen);
        if (e.gateway6 != Ip6{}) std::printf(" via %s", ipv6_to_string(e.gateway6).c_str());
        std::printf(" dev %s", e.port.c_str());
        if (e.src6 != Ip6{}) std::printf(" src %s", ipv6_to_string(e.src6).c_str());
      } else {
        std::printf("%s/%u", ipv4_to_string(e.prefix).c_str(), e.plen);
        if (e.gateway) std::printf(" via %s", ipv4_to_string(e.gateway).c_str());
        std::printf(" dev %s", e.port.c_str());
        if (e.src) std::printf(" src %s", ipv4_to_string(e.src).c_str());
      }
      std::printf("%s\n", e.connected ? " (connected)" : "");
    }
    return 0;
  }
  RouteEntry e;
  const char* usage =
      "route add PREFIX/PLEN PORT [GATEWAY] [src=IP] | route del PREFIX/PLEN | "
      "route show";
  // A prefix with a colon is IPv6; the gateway and source must be of its family.
  e.v6 = a.size() > 1 && a[1].find(':') != std::string::npos;
  if (a.size() < 2 || !(e.v6 ? parse_ipv6_prefix(a[1], &e.prefix6, &e.plen)
                             : parse_ipv4_prefix(a[1], &e.prefix, &e.plen)))
    return usage_error(usage);
  NlBuf b;
  if (sub == "del" && a.size() == 2) {
    encode_route(e, &b);
    return tnl_request(c, DPX_CTL_ROUTE_DEL, b, nullptr, "deleting route " + a[1]);
  }
  if (sub != "add" || a.size() < 3 || a.size() > 5) return usage_error(usage);
  e.port = a[2];
  for (size_t i = 3; i < a.size(); ++i) {
    if (a[i].rfind("src=", 0) == 0) {
      const std::string ip = a[i].substr(4);
      if (!(e.v6 ? parse_ipv6(ip, &e.src6) : parse_ipv4(ip, &e.src)))
        return usage_error("bad source " + a[i]);
    } else if (!(e.v6 ? parse_ipv6(a[i], &e.gateway6) : parse_ipv4(a[i], &e.gateway))) {
      return usage_error("bad gateway " + a[i]);
    }
  }
  encode_route(e, &b);
  return tnl_request(c, DPX_CTL_ROUTE_ADD, b, nullptr, "adding route " + a[1]);
}

int cmd_neigh(ControlClient& c, const std::vector<std::string>& a) {
  const std::string sub = a.empty() ? "" : a[0];
  if (sub == "show" && a.size() == 1) {
    NlBuf reply;
    if (int r = tnl_request(c, DPX_CTL_NEIGH_DUMP, {}, &reply, "dumping neighbours")) return r;
    std::vector<NeighEntry> v;
    std::string err;
    if (decode_neigh_list(reply, &v, &err)) return fail("decoding neighbours", EPROTO, err);
    static const char* const kStates[] = {"INCOMPLETE", "REACHABLE", "PROBE", "STATIC"};
    for (const auto& e : v)
      std::printf("%s dev %s lladdr %s %s age %.1fs\n",
                  (e.v6 ? ipv6_to_string(e.addr6) : ipv4_to_string(e.addr)).c_str(), e.port.c_str(),
                  mac_to_string(e.mac.data()).c_str(),
                  e.state <= DPX_NEIGH_STATIC ? kStates[e.state] : "?", double(e.age_ms) / 1000);
    return 0;
  }
  if (sub == "flush" && a.size() == 1)
    return tnl_request(c, DPX_CTL_NEIGH_FLUSH, {}, nullptr, "flushing neighbours");
  NeighEntry e;
  e.v6 = a.size() > 2 && a[2].find(':') != std::string::npos;
  if (sub == "set" && a.size() == 4 &&
      (e.v6 ? parse_ipv6(a[2], &e.addr6) : parse_ipv4(a[2], &e.addr)) && parse_mac(a[3], &e.mac)) {
    e.port = a[1];
    NlBuf b;
    encode_neigh(e, &b);
    return tnl_request(c, DPX_CTL_NEIGH_SET, b, nullptr, "setting neighbour " + a[2]);
  }
  return usage_error("neigh set PORT IP MAC | neigh flush | neigh show");
}

int cmd_tnl_stats(ControlClient& c) {
  NlBuf reply;
  if (int r = tnl_request(c, DPX_CTL_TNL_STATS, {}, &reply, "getting tunnel stats")) return r;
  TnlStats s;
  std::string err;
  if (decode_tnl_stats(reply, &s, &err)) return fail("decoding tunnel stats", EPROTO, err);
  for (const auto& p : s.ports) {
    std::printf("port %u: %s (%s, udp %u)\n", p.odp, p.name.c_str(), p.type.c_str(), p.udp_port);
    std::printf("  decap packets:%" PRIu64 " bytes:%" PRIu64 "\n", p.rx_packets, p.rx_bytes);
    std::printf("  encap packets:%" PRIu64 " bytes:%" PRIu64 "\n", p.tx_packets, p.tx_bytes);
  }
  std::printf("counters:\n");
  for (const auto& k : s.counters)
    if (k.value) std::printf("  %s: %" PRIu64 "\n", k.name.c_str(), k.value);
  return 0;
}

int run(int argc, char** argv) {
  po::options_description opts(kUsage);
  opts.add_options()("help,h", "this help")(
      "socket", po::value<std::string>()->default_value(DPX_CTL_DEFAULT_PATH),
      "dpxd's control socket")("more,m", "dump-flows: also print each flow's ufid")(
      "port-no", po::value<uint32_t>(), "add-port: the odp port number to use")(
      "n-rxq", po::value<uint32_t>(), "add-port: number of rx queues")(
      "option", po::value<std::vector<std::string>>(), "add-port: KEY=VALUE, repeatable")(
      "clear", "mod-flow: zero the flow's stats");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>())("args",
                                                            po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1).add("args", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help") || !vm.count("command")) {
    std::cout << opts << "\n";
    return vm.count("help") ? 0 : 2;
  }
  std::string cmd = vm["command"].as<std::string>();
  std::vector<std::string> args;
  if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();

  ControlClient c;
  std::string err;
  std::string path = vm["socket"].as<std::string>();
  if (int e = c.connect(path, &err)) return fail("connecting to dpxd at " + path, e, "");

  if (cmd == "show") return cmd_show(c);
  if (cmd == "add-port") return cmd_add_port(c, args, vm);
  if (cmd == "del-port") return cmd_del_port(c, args);
  if (cmd == "add-flow") return cmd_put_flow(c, args, DPX_FLOW_PUT_CREATE, "adding flow");
  if (cmd == "mod-flow")
    return cmd_put_flow(c, args,
                        DPX_FLOW_PUT_MODIFY | (vm.count("clear") ? DPX_FLOW_PUT_ZERO_STATS : 0),
                        "modifying flow");
  if (cmd == "del-flow") return cmd_del_flow(c, args);
  if (cmd == "get-flow") return cmd_get_flow(c, args);
  if (cmd == "dump-flows") return cmd_dump_flows(c, vm.count("more") > 0);
  if (cmd == "flush") {
    if (int e = c.flow_flush(&err)) return fail("flushing flows", e, err);
    return 0;
  }
  if (cmd == "execute") return cmd_execute(c, args);
  if (cmd == "pmd-stats-show") return cmd_pmd_stats_show(c);
  if (cmd == "pmd-stats-clear") {
    if (int e = c.pmd_stats_clear(&err)) return fail("clearing PMD stats", e, err);
    return 0;
  }
  if (cmd == "set") return cmd_set(c, args);
  if (cmd == "tnl-ip") return cmd_tnl_ip(c, args);
  if (cmd == "route") return cmd_route(c, args);
  if (cmd == "neigh") return cmd_neigh(c, args);
  if (cmd == "tnl-stats") return cmd_tnl_stats(c);
  return usage_error("unknown command " + cmd);
}

}  // namespace
}  // namespace dpx

int main(int argc, char** argv) { return dpx::run(argc, argv); }
