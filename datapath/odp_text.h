// The text syntax of ODP flows and actions, as `ovs-dpctl add-flow` reads it
// and `ovs-dpctl dump-flows` / `ovs-appctl dpctl/dump-flows` print it,
// converted to and from OVS_KEY_ATTR_* / OVS_ACTION_ATTR_* netlink
// attributes. Independent of FlowKey: this is what dpxctl uses to print and
// accept flows, so the output follows OVS's lib/odp-util.c (odp_flow_format()
// without --more, format_odp_actions()) as closely as dpx can know it.
//
// Keys: recirc_id, dp_hash, skb_priority, skb_mark, in_port, tunnel(tun_id,
// src, dst, ipv6_src, ipv6_dst, tos, ttl, tp_src, tp_dst, flags(...)),
// eth(src,dst), vlan(vid,pcp,cfi), encap(...), eth_type, ipv4(src,dst,proto,
// tos,ttl,frag), ipv6(src,dst,label,proto,tclass,hlimit,frag), tcp/udp/
// sctp(src,dst), tcp_flags(...), icmp/icmpv6(type,code), arp(sip,tip,op,sha,
// tha), nd(target,sll,tll). Every field may carry "/mask"; an omitted field
// is wildcarded (mask 0); a field without "/mask" is exact.
//
// Actions: a bare port number (output), trunc(N), recirc(N), hash(l4(N)),
// hash(sym_l4(N)), push_vlan([tpid=N,]vid=N,pcp=N[,cfi=N]), pop_vlan,
// set(<key attribute>) (written as OVS_ACTION_ATTR_SET_MASKED when the text
// has partial masks, as OVS does), clone(actions), userspace(pid=N
// [,userdata(hex)][,actions][,tunnel_out_port=N]), and "drop" for the empty
// list. Not supported (rejected when parsing, printed generically as
// "actionN(hex)" by OVS's rules): ct, meter, sample, mpls, nsh, tnl_push/pop,
// check_pkt_len, and userspace cookies in OVS's internal formats (sFlow,
// slow_path, controller, ...): their userdata is printed as raw hex.
//
// Return convention: parsers return 0 or EINVAL with a message in *err that
// says where the text went wrong (offset and the text there). On error, the
// output buffers hold unspecified partial data.
//
// Threading: pure functions; control path only (they allocate).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "flow_key.h"
#include "nlattr.h"

namespace dpx {

// Parses a flow such as
//   "in_port(1),eth(src=00:01:02:03:04:05,dst=ff:ff:ff:ff:ff:ff),eth_type(0x0800),ipv4(...)"
// appending its key attributes to *key and mask attributes to *mask.
int odp_flow_from_string(std::string_view s, NlBuf* key, NlBuf* mask, std::string* err);

// The same, also accepting a leading "ufid:<uuid>," whose value goes to
// *ufid (*has_ufid tells whether there was one).
int odp_flow_from_string(std::string_view s, NlBuf* key, NlBuf* mask, Ufid* ufid, bool* has_ufid,
                         std::string* err);

// Formats key attributes with their mask as dump-flows does without --more:
// fully wildcarded attributes and fields are left out, exact fields printed
// without a mask. An empty 'mask' prints every field of the key, unmasked.
// Never fails: malformed input is printed in OVS's diagnostic forms.
std::string odp_flow_to_string(std::span<const uint8_t> key, std::span<const uint8_t> mask);

// Parses an action list ("2,set(ipv4(ttl=63)),3" or "drop").
int odp_actions_from_string(std::string_view s, NlBuf* actions, std::string* err);

// Formats an action list; the empty list is "drop".
std::string odp_actions_to_string(std::span<const uint8_t> actions);

// UFIDs in OVS's UUID text form, e.g. "c2ae0e6a-5e8f-4b73-9f0f-d5d5b6a9a1f1"
// (the words of Ufid in order, as OVS's UUID_FMT prints its ovs_u128).
std::string ufid_to_string(const Ufid& ufid);
bool ufid_from_string(std::string_view s, Ufid* ufid);

}  // namespace dpx
