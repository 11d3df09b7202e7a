// Compiling OVS datapath actions (the OVS_ACTION_ATTR_* netlink attributes of
// linux/openvswitch.h, as ovs-vswitchd sends them with a flow put or a packet
// execute) into an ActionProgram (actions.h).
//
// Supported: output, userspace (pid, userdata, egress_tun_port, actions flag),
// push_vlan, pop_vlan, set and set_masked of ethernet, ipv4, ipv6, tcp, udp,
// skb_mark and priority, set of tunnel (metadata only: the encapsulation is
// done by the tunnel port the packet is output to), recirc, hash (L4 and
// symmetric L4), clone, trunc; an empty list drops. Everything else (ct,
// ct_clear, mpls, meter, sample, check_pkt_len, push_eth, nsh, dec_ttl, set of
// other keys, tunnel options) is refused with EINVAL and a message naming it:
// ovs-vswitchd probes datapath features by trying actions and must see which
// ones dpxd lacks.
//
// Differences from the kernel datapath's validation, which also sees the flow
// key: compile_actions() does not, so set(ipv4/ipv6) without a mask ignores
// the proto and frag fields instead of checking them against the key, and a
// set(tcp) on a flow that is not TCP compiles; the executor then drops such
// packets with reason set_on_wrong_proto.
//
// Thread-safety: pure function of its input; control thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "actions.h"

namespace dpx {

// How deep clone() may nest. The kernel datapath accepts the same depth.
inline constexpr int kMaxActionNesting = 16;

// Largest program compile_actions() builds, in bytes of its allocation.
inline constexpr size_t kMaxActionProgramBytes = 64 * 1024;

// Compiles `attrs` (a sequence of OVS_ACTION_ATTR_* attributes, the payload
// of OVS_FLOW_ATTR_ACTIONS) into a new program. Returns 0 and sets *out (to
// be freed with free_action_program) on success; returns EINVAL and sets
// *err to a one-line reason (naming any unsupported action or key) when the
// actions are malformed, unsupported, nested too deep or too large. *out is
// untouched on error. err may be null.
int compile_actions(std::span<const uint8_t> attrs, ActionProgram** out, std::string* err);

// The OVS name of an action type ("output", "ct", ...), or "unknown".
const char* odp_action_name(uint16_t type);

// The OVS name of a key attribute type ("ipv4", "mpls", ...), or "unknown".
const char* odp_key_name(uint16_t type);

}  // namespace dpx
