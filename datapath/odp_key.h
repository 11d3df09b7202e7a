// ODP flow keys and masks: the OVS_KEY_ATTR_* netlink attributes of
// linux/openvswitch.h converted to and from the compact FlowKey.
//
// This is the boundary where ovs-vswitchd's flow puts enter dpxd (attributes
// -> FlowKey) and where upcalls and dumps leave it (FlowKey -> attributes).
// The conversion follows the Linux kernel datapath (net/openvswitch/
// flow_netlink.c) so that ovs-vswitchd sees the same answers from dpxd as
// from the kernel: an attribute dpxd does not implement is refused with
// EINVAL and a message naming it, because ovs-vswitchd probes datapath
// features by trying them.
//
// Supported key attributes: PRIORITY, IN_PORT, SKB_MARK, RECIRC_ID, DP_HASH,
// TUNNEL (ID, IPV4_SRC/DST, IPV6_SRC/DST, TOS, TTL, DONT_FRAGMENT, CSUM, OAM,
// TP_SRC, TP_DST, GENEVE_OPTS; PAD is ignored as the kernel's own output
// contains it),
// ETHERNET, VLAN + ENCAP (at most two tags), ETHERTYPE, IPV4, IPV6, TCP, UDP,
// SCTP, TCP_FLAGS, ICMP, ICMPV6, ARP, ND. Everything else is EINVAL.
//
// Conventions (see flow_key.h for the FlowKey side):
//  - ipv4_frag/ipv6_frag: OVS_FRAG_TYPE_NONE/FIRST/LATER in a key become
//    nw_frag 0 / kFragAny / kFragAny|kFragLater. In a mask, bit 0 of the
//    ODP byte (FIRST) maps to kFragAny and bit 1 (LATER) to kFragLater, the
//    inverse of OVS's own ovs_to_odp_frag_mask(); a full mask (0xff) is
//    written back as 0xff and an empty one as 0.
//  - ICMP/ICMPv6 type and code go to tp_src/tp_dst as htons(type/code), as
//    in the kernel's sw_flow_key; masks likewise.
//  - The ARP opcode is stored in nw_proto; a key opcode above 255 is EINVAL
//    as in the kernel. An exact opcode mask (0xff) is written back as 0xffff.
//  - GENEVE_OPTS (variable length): in a key, a well-formed option stream
//    of at most 252 bytes (geneve_opts.h); in a mask, exactly as long as the
//    key's, and then the option length is matched exactly (mask
//    tun_opts_len 0xff), as in the kernel's genev_tun_opt_from_nlattr().
//  - VLAN: the TCI keeps the CFI ("tag present") bit as on the wire ABI; a
//    key tag without CFI must have TCI 0 and an empty ENCAP (a truncated
//    header) and is kept as vlan[i] = {tpid, 0}.
//  - VLAN masks, as the kernel's ovs_nla_get_match(): both TCIs are matched
//    exactly (mask 0xffff) unless the mask's VLAN attribute for a tag the
//    key has says otherwise, so a key without a tag matches only untagged
//    frames and a key with one tag only single-tagged frames. A tagged
//    key's mask ENCAP needs ETHERTYPE 0xffff and a VLAN mask with the CFI
//    bit beside it; a mask without that ENCAP keeps the TCIs exact, leaves
//    the TPIDs unmatched and gives the inner fields' masks at its own level.
//
// Return convention: 0 on success, EINVAL on any error with a human-readable
// message in *err (if err is not null). *out is unspecified after an error.
//
// Threading: pure functions, no shared state; control path only (they
// allocate strings on error and NlBuf storage on output).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "flow_key.h"
#include "nlattr.h"

namespace dpx {

// Parses a sequence of OVS_KEY_ATTR_* attributes (the payload of
// OVS_FLOW_ATTR_KEY) into *out, which is cleared first.
int odp_key_from_attrs(std::span<const uint8_t> key, FlowKey* out, std::string* err);

// Parses a mask (the payload of OVS_FLOW_ATTR_MASK) that applies to 'key'
// into *out (cleared first). An empty 'mask' means an exact match on every
// field for which 'key' has an attribute, as in the kernel datapath. 'key'
// must be valid (odp_key_from_attrs() succeeds on it); its shape (VLAN
// nesting, ethertype, IP protocol, fragment type) decides how mask
// attributes are interpreted.
int odp_mask_from_attrs(std::span<const uint8_t> mask, std::span<const uint8_t> key, FlowKey* out,
                        std::string* err);

// A flow's key and mask at once: odp_key_from_attrs(key) into *key_out,
// then odp_mask_from_attrs(mask, key) into *mask_out, the key decoded once
// where the two calls decode it twice (FLOW_PUT's cost per new flow).
int odp_flow_from_attrs(std::span<const uint8_t> key, std::span<const uint8_t> mask,
                        FlowKey* key_out, FlowKey* mask_out, std::string* err);

// Appends the key attributes for 'key' to *out in the kernel's order:
// RECIRC_ID, DP_HASH, PRIORITY, TUNNEL (only for tunnelled packets), IN_PORT,
// SKB_MARK, ETHERNET, [ETHERTYPE(tpid), VLAN, ENCAP{ ... }], ETHERTYPE, L3,
// L4 (not for later fragments), TCP_FLAGS, ND.
void odp_key_to_attrs(const FlowKey& key, NlBuf* out);

// Appends mask attributes: the same attribute set as odp_key_to_attrs(key)
// (plus TUNNEL when only the mask has tunnel bits), with mask values.
void odp_mask_to_attrs(const FlowKey& mask, const FlowKey& key, NlBuf* out);

// The kernel-style name of a key attribute type ("OVS_KEY_ATTR_CT_STATE"),
// or nullptr for a type outside the enum.
const char* odp_key_attr_name(uint16_t type);

// Payload lengths the kernel ABI (linux/openvswitch.h) fixes for key and
// tunnel attributes, for the parser and the text formatter alike: >= 0 a
// fixed length, kOdpNested a nested attribute, kOdpVariable a variable or
// unknown one.
inline constexpr int kOdpNested = -1;
inline constexpr int kOdpVariable = -2;
int odp_key_attr_len(uint16_t type);
int odp_tun_attr_len(uint16_t type);
// Whether dpxd implements the attribute; the others are refused with EINVAL
// so that ovs-vswitchd's feature probes see the truth.
bool odp_key_attr_supported(uint16_t type);
bool odp_tun_attr_supported(uint16_t type);

}  // namespace dpx
