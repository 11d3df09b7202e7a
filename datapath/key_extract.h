// Key extraction: the first stage after receive (and tunnel decap). It reads
// a packet's headers and its metadata into a FlowKey, the one value that the
// exact-match cache and the megaflow classifier look up.
//
// What is parsed, and how it lands in the key (see flow_key.h for the byte
// orders), follows what Open vSwitch's own flow_extract() and the Linux
// kernel datapath put into an ODP flow key, because ovs-vswitchd builds every
// megaflow from an upcall key extracted by flow_extract(): a field dpxd
// extracted differently would make the megaflow never match dpxd's key.
//
//  - Ethernet: destination, source, ethertype. Frames whose type/length field
//    is below 0x600 are 802.3: an LLC/SNAP header with OUI 0 supplies the
//    ethertype (and parsing continues after it); anything else gets
//    eth_type kEthTypeNone (0x05ff, OVS's FLOW_DL_TYPE_NONE, which the ODP
//    format expresses as "no OVS_KEY_ATTR_ETHERTYPE").
//  - Up to two VLAN tags with TPID 0x8100 or 0x88a8, outer first, each TCI
//    with kVlanCfi set. A third tag stays in the payload and eth_type is its
//    TPID; nothing after it is parsed.
//  - ARP and RARP with Ethernet/IPv4 addresses: opcode (only if <= 0xff) in
//    nw_proto, sender/target IP in ipv4_src/ipv4_dst, sender/target MAC in
//    arp_sha/arp_tha. Other hardware/protocol types leave these fields zero.
//  - IPv4: addresses, protocol, TOS, TTL, fragment bits (kFragAny if MF is
//    set or the offset is non-zero, plus kFragLater if the offset is
//    non-zero). L4 is parsed on unfragmented packets and first fragments only.
//  - IPv6: addresses, traffic class, flow label, hop limit. Hop-by-hop,
//    routing, destination options, AH and fragment headers are walked to find
//    the upper-layer protocol; any other next header (ESP, "no next header",
//    an unknown one) ends the walk and becomes nw_proto. A fragment header
//    with a non-zero offset/flags word sets kFragAny; a non-zero offset also
//    sets kFragLater, stops the walk and sets nw_proto to 44 (fragment),
//    exactly as OVS and the kernel do.
//  - TCP (ports, the 12 flag bits), UDP and SCTP (ports), ICMP (type and
//    code as htons(type) / htons(code) in tp_src / tp_dst), ICMPv6 likewise.
//    For ICMPv6 Neighbour Solicitation/Advertisement with code 0, the target
//    address goes to nd_target and the source/target link-layer address
//    options (8-byte Ethernet options) to arp_sha/arp_tha; a repeated option
//    invalidates all three (they stay zero), a truncated target or option
//    just ends option parsing. Like OVS, the IPv6 hop limit is not checked
//    here: ND with a hop limit other than 255 is invalid for a host, but
//    ovs-vswitchd's upcall key would still carry these fields.
//
// Malformed input policy. Every packet either yields a complete key
// (ExtractDrop::kNone) or a drop reason, and the caller drops the packet and
// counts the reason. A dropped packet's key holds the metadata and whatever
// was parsed before the error; it must not be looked up. The rules:
//  - A frame shorter than an Ethernet header (14 bytes) is kRunt.
//  - A VLAN TPID without room for the 4-byte tag and the next ethertype is
//    kBadVlan.
//  - IPv4: fewer than 20 bytes, IHL < 5, or a header (IHL * 4) longer than
//    the frame is kBadIpv4Header; a total length smaller than the header or
//    larger than the rest of the frame is kBadIpv4Length.
//  - IPv6: fewer than 40 bytes is kBadIpv6Header; a payload length larger
//    than the rest of the frame is kBadIpv6Length; an extension header that
//    does not fit in the payload is kBadIpv6ExtHeader.
//  - ARP shorter than the 28-byte Ethernet/IPv4 ARP body is kBadArp.
//  - An L4 header shorter than its fixed part (TCP 20, UDP 8, SCTP 12,
//    ICMP/ICMPv6 8 bytes) inside the IP payload is kTruncatedL4. Later
//    fragments carry no L4 header and are never kTruncatedL4.
//  - Bytes after the IP total length (IPv6: header + payload length) are
//    ignored: that is Ethernet padding of short frames, and legal.
// extract_key never reads outside [pkt, pkt + len) for any input, including
// len == 0 (pkt may then be null).
//
// Thread-safety: pure function of its arguments; safe from any thread.
// Performance: no allocation, no locks, no calls through pointers; a plain
// IPv4/UDP packet is a straight run of fixed-size loads and stores.
#pragma once

#include <array>
#include <cstdint>

#include "flow_key.h"

namespace dpx {

// The ethertype key extraction stores (host-order value; the key holds it in
// network order) for an 802.3 frame without an Ethernet SNAP header. The ODP
// parser must map "no OVS_KEY_ATTR_ETHERTYPE" to the same value.
inline constexpr uint16_t kEthTypeNone = 0x05ff;

// Metadata carried with a packet into key extraction: set by the port on
// first receive and restored from the packet's state on recirculation.
struct PacketMetadata {
  uint32_t in_port = 0;    // odp port number the packet arrived on
  uint32_t recirc_id = 0;  // 0 on the first pass
  uint32_t dp_hash = 0;    // set by a previous hash action, else 0
  uint32_t skb_mark = 0;   // packet mark
  uint32_t priority = 0;   // skb priority
  // Tunnel metadata of a decapsulated packet: its tunnel line (offsets
  // 128..191, tun_id through pad1) is copied into the key, and so are its
  // Geneve options when tun_opts_len is not zero; the rest of *tunnel is
  // ignored. Null means no tunnel (that line is zeroed, and so is
  // tun_opts_len). Borrowed for the duration of the call only.
  const FlowKey* tunnel = nullptr;
};

// Why key extraction refused a packet. Names for counters are in
// kExtractDropNames right below; keep the two in the same order.
enum class ExtractDrop : uint8_t {
  kNone = 0,          // the key is complete
  kRunt,              // shorter than an Ethernet header
  kBadVlan,           // VLAN tag truncated
  kBadIpv4Header,     // IPv4 header truncated or IHL < 5
  kBadIpv4Length,     // IPv4 total length < header length or > frame
  kBadIpv6Header,     // IPv6 fixed header truncated
  kBadIpv6Length,     // IPv6 payload length > frame
  kBadIpv6ExtHeader,  // IPv6 extension header runs past the payload
  kTruncatedL4,       // TCP/UDP/SCTP/ICMP/ICMPv6 header truncated
  kBadArp,            // ARP body truncated
  kCount
};

inline constexpr std::array<const char*, static_cast<size_t>(ExtractDrop::kCount)>
    kExtractDropNames = {
        "none",
        "runt_frame",
        "bad_vlan",
        "bad_ipv4_header",
        "bad_ipv4_length",
        "bad_ipv6_header",
        "bad_ipv6_length",
        "bad_ipv6_ext_header",
        "truncated_l4",
        "bad_arp",
};
static_assert(kExtractDropNames.back() != nullptr, "a drop reason has no name");

// The counter name of `reason` ("runt_frame", ...): a static string, never
// null; "unknown" for a value out of range.
const char* extract_drop_name(ExtractDrop reason);

// Fills *key from the `len` bytes at `pkt` (an Ethernet frame) and `md`.
// Every byte of the key's head is written, and the Geneve options of
// md.tunnel if it has any (the previous contents do not matter: the option
// area is defined only in its last tun_opts_len bytes, flow_key.h), so two
// packets of one microflow give equal keys (keys_equal). Returns kNone on
// success, otherwise the reason to drop the packet (see the policy above).
// `pkt` is only read and must not overlap *key. md.tunnel may be `key`
// itself (a decap stage that wrote the tunnel line in place): that line is
// then kept as it is; any other partial overlap is not allowed.
ExtractDrop extract_key(const uint8_t* pkt, uint32_t len, const PacketMetadata& md, FlowKey* key);

// The same for a frame of `frame_len` bytes of which only the first `avail`
// are contiguous at `pkt` (a chained mbuf: its first segment). Lengths are
// checked against frame_len, reads stay within avail: a header that does
// not lie within the first avail bytes is reported as cut short
// (kBadIpv4Header, kBadIpv6ExtHeader, kTruncatedL4, ...), never read from
// the next segment. With avail == frame_len the result equals extract_key's.
ExtractDrop extract_key_window(const uint8_t* pkt, uint32_t avail, uint32_t frame_len,
                               const PacketMetadata& md, FlowKey* key);

}  // namespace dpx
