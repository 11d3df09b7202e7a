// Control-socket steps integration tests repeat, with gtest assertions: put
// one flow written in the ODP text format, add a DPDK port, read back a port.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "control_client.h"
#include "odp_text.h"

namespace dpx::test {

// Puts the flow `flow` -> `actions` (ODP text) with `ufid`; fails the test
// unless dpxd accepts it.
inline void put_flow(ControlClient& c, const std::string& flow, const std::string& actions,
                     const Ufid& ufid) {
  FlowPutEntry e;
  std::string err;
  ASSERT_EQ(odp_flow_from_string(flow, &e.key, &e.mask, &err), 0) << flow << ": " << err;
  ASSERT_EQ(odp_actions_from_string(actions, &e.actions, &err), 0) << actions << ": " << err;
  e.ufid = ufid;
  std::vector<FlowPutResult> res;
  ASSERT_EQ(c.flow_put(std::span<const FlowPutEntry>(&e, 1), &res, &err), 0) << err;
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].error, 0) << flow << " -> " << actions << ": " << res[0].message;
}

// Adds DPDK port `name` (ethdev `devargs`) as odp port `odp`; fails the test
// unless dpxd accepts it.
inline void add_dpdk_port(ControlClient& c, const std::string& name, const std::string& devargs,
                          uint32_t odp) {
  PortAddRequest req;
  req.name = name;
  req.type = "dpdk";
  req.devargs = devargs;
  req.odp_port = odp;
  PortInfo info;
  std::string err;
  ASSERT_EQ(c.port_add(req, &info, &err), 0) << name << ": " << err;
}

// Port `odp` as dpxd reports it (a test failure, and an empty PortInfo, if
// it cannot).
inline PortInfo get_port(ControlClient& c, uint32_t odp) {
  PortRef ref;
  ref.odp_port = odp;
  PortInfo info;
  std::string err;
  EXPECT_EQ(c.port_get(ref, &info, &err), 0) << "port " << odp << ": " << err;
  return info;
}

// Packets port `name` has sent, as dpxd counts them (a test failure, and 0,
// if it cannot say).
inline uint64_t port_tx_packets(ControlClient& c, const std::string& name) {
  PortRef ref;
  ref.name = name;
  PortInfo info;
  std::string err;
  EXPECT_EQ(c.port_get(ref, &info, &err), 0) << name << ": " << err;
  return info.stats.tx_packets;
}

// The datapath's counters (a test failure, and zeros, if it cannot say).
inline DpStats dp_stats_of(ControlClient& c) {
  DpStats s;
  std::string err;
  EXPECT_EQ(c.dp_stats(&s, &err), 0) << err;
  return s;
}

}  // namespace dpx::test
