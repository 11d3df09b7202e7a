// Action programs and their executor.
//
// When a flow is put, the control thread compiles its OVS datapath actions
// (OVS_ACTION_ATTR_*, see odp_actions.h) into an ActionProgram: one immutable,
// contiguous allocation holding an array of fixed-size Action records followed
// by the variable data some of them need (set values and masks, userspace
// userdata, tunnel metadata). PMD threads run a program on one packet at a
// time with execute_actions(), a header-only template over a Sink, so that the
// PMD's output batching, upcall queueing and drop counting inline into it.
//
// Thread-safety: a program is immutable once compile_actions() returned it,
// so any number of PMD threads may execute it concurrently. It is freed with
// free_action_program() by the control thread once no PMD can still see it
// (the flow table's RCU grace period decides when).
//
// The executor never allocates, locks, throws or makes a system call; it
// obtains packet copies only through Sink::copy() and frees packets only
// through the sink (or by trimming segments a truncation removes).
#pragma once

#include <linux/openvswitch.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "flow_key.h"

namespace dpx {

// ---------------------------------------------------------------------------
// Drop reasons: every packet the executor gives up on goes to Sink::drop()
// with one of these. The names (action_drop_name) are the counter names.
// ---------------------------------------------------------------------------
#define DPX_ACTION_DROP_REASONS(X)                                                    \
  X(kEmptyActions, "empty_actions")          /* the flow's action list is empty */    \
  X(kNoOutput, "no_output")                  /* actions ended without consuming it */ \
  X(kOutputCopyFailed, "output_copy_failed") /* copy for a non-last output failed */  \
  X(kCloneCopyFailed, "clone_copy_failed")   /* copy for clone() failed */            \
  X(kRecircCopyFailed, "recirc_copy_failed") /* copy for a non-last recirc failed */  \
  X(kPushVlanNoHeadroom, "push_vlan_no_headroom")                                     \
  X(kSetOnWrongProto, "set_on_wrong_proto") /* e.g. set(tcp) on a UDP packet */       \
  X(kHeaderTruncated, "header_truncated")   /* a header to rewrite is not in segment 1 */

enum class ActionDrop : uint8_t {
#define DPX_X(name, str) name,
  DPX_ACTION_DROP_REASONS(DPX_X)
#undef DPX_X
      kCount
};
inline constexpr size_t kActionDropCount = static_cast<size_t>(ActionDrop::kCount);

// The counter name of a drop reason, e.g. "push_vlan_no_headroom".
const char* action_drop_name(ActionDrop r);

// ---------------------------------------------------------------------------
// The compiled program.
// ---------------------------------------------------------------------------
enum class ActionOp : uint8_t {
  kOutput,       // arg0 = odp port
  kUserspace,    // arg0 = netlink pid, arg1 = egress tunnel port, data = userdata
  kPushVlan,     // arg0 = tpid (be16, low half), arg1 = tci (be16, CFI already cleared)
  kPopVlan,      //
  kSetEth,       // data = ovs_key_ethernet value, then mask (value pre-masked)
  kSetIpv4,      // data = ovs_key_ipv4 value, then mask
  kSetIpv6,      // data = ovs_key_ipv6 value, then mask
  kSetTcp,       // arg0 = ports value (src be16 | dst be16 in memory order), arg1 = mask
  kSetUdp,       // same as kSetTcp
  kSetSkbMark,   // arg0 = value, arg1 = mask
  kSetPriority,  // arg0 = value, arg1 = mask
  kSetTunnel,    // data = TunnelMeta, then its opts_len bytes of Geneve options
  kRecirc,       // arg0 = recirc_id
  kHash,         // arg0 = algorithm (kHashL4 / kHashSymL4), arg1 = basis
  kClone,        // arg0 = number of records in its body, which follows it directly
  kTrunc,        // arg0 = max_len (>= 14)
};

// Action::flags bits.
inline constexpr uint8_t kUserspaceHasEgressTunPort = 1 << 0;  // arg1 is valid
inline constexpr uint8_t kUserspaceHasActions = 1 << 1;        // OVS_USERSPACE_ATTR_ACTIONS

// kHash algorithms (values of OVS's enum ovs_hash_alg; SYM_L4 exists only in
// OVS's own copy of linux/openvswitch.h).
inline constexpr uint32_t kHashL4 = 0;
inline constexpr uint32_t kHashSymL4 = 1;

// One 16-byte action record. Variable data lives in the same allocation, at
// data_off bytes from the record itself, so a record alone (as handed to
// Sink::userspace) can reach it.
struct Action {
  ActionOp op;        // 0
  uint8_t flags;      // 1: kUserspace* bits
  uint16_t data_len;  // 2: bytes of variable data
  uint32_t arg0;      // 4: see ActionOp
  uint32_t arg1;      // 8: see ActionOp
  uint32_t data_off;  // 12: from this record's address to its data; 0 when none

  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this) + data_off; }

  // kUserspace accessors.
  uint32_t userspace_pid() const { return arg0; }
  std::span<const uint8_t> userdata() const { return {data(), data_len}; }
  bool has_egress_tun_port() const { return flags & kUserspaceHasEgressTunPort; }
  uint32_t egress_tun_port() const { return arg1; }
  bool userspace_wants_actions() const { return flags & kUserspaceHasActions; }
};
static_assert(sizeof(Action) == 16);

// Tunnel metadata carried with a packet, the same fields as FlowKey's tunnel
// block (same byte orders). set(tunnel(...)) replaces all of it; the encap
// itself happens when the packet is output to a tunnel port.
//
// Geneve options are not copied around with it (up to 252 bytes per packet
// state): `opts` borrows them from whatever holds them for the current pass,
// which is, while actions run, the packet's FlowKey (state from the key) or
// the action program (after set(tunnel(...,geneve(...)))), and right after
// decapsulation the packet's headroom until key extraction has copied them.
// Whoever keeps a state beyond the pass (recirculation, upcalls) copies the
// bytes and points `opts` at its copy.
struct TunnelMeta {
  uint64_t tun_id;       // be64
  uint32_t ipv4_src;     // be32
  uint32_t ipv4_dst;     // be32
  uint8_t ipv6_src[16];  //
  uint8_t ipv6_dst[16];  //
  uint16_t flags;        // kTunFlag* (host)
  uint8_t tos;           //
  uint8_t ttl;           //
  uint16_t tp_src;       // be16
  uint16_t tp_dst;       // be16
  uint8_t opts_len;      // bytes of Geneve options at opts (0..kTunOptsMax)
  uint8_t pad[7];        // zero
  const uint8_t* opts;   // borrowed (above); null or unused when opts_len is 0
};
static_assert(sizeof(TunnelMeta) == 72);
// The part of TunnelMeta laid out like FlowKey's tunnel line (tun_id..tp_dst).
inline constexpr size_t kTunnelMetaKeyBytes = offsetof(TunnelMeta, opts_len);
static_assert(kTunnelMetaKeyBytes == 56);

// The tunnel metadata of a kSetTunnel record: its data is a TunnelMeta, then
// the Geneve options, which the result's `opts` points at (in the program).
inline TunnelMeta set_tunnel_meta(const Action& a) {
  TunnelMeta t;
  std::memcpy(&t, a.data(), sizeof t);
  t.opts = a.data() + sizeof t;
  return t;
}

// Program-level facts the PMD may use to pick a faster path at setup time.
inline constexpr uint32_t kProgOnlyOutputs = 1 << 0;     // only top-level outputs (maybe none)
inline constexpr uint32_t kProgModifiesPacket = 1 << 1;  // push/pop/set of packet bytes
inline constexpr uint32_t kProgHasUserspace = 1 << 2;
inline constexpr uint32_t kProgHasRecirc = 1 << 3;

struct alignas(16) ActionProgram {
  uint32_t n_actions;   // records at top level and nested, in actions()
  uint32_t n_outputs;   // kOutput records, nested ones included
  uint32_t flags;       // kProg* facts
  uint32_t alloc_size;  // bytes of the whole allocation

  const Action* begin() const { return reinterpret_cast<const Action*>(this + 1); }
  const Action* end() const { return begin() + n_actions; }
  bool empty() const { return n_actions == 0; }
};
static_assert(sizeof(ActionProgram) == 16);

// Frees a program from compile_actions(). Null is allowed. Control thread only,
// and only once no PMD thread can still be executing it.
void free_action_program(const ActionProgram* p);

inline bool program_has_only_outputs(const ActionProgram& p) {
  return (p.flags & kProgOnlyOutputs) != 0;
}

// ---------------------------------------------------------------------------
// Per-packet state.
// ---------------------------------------------------------------------------
// The packet metadata that actions read and write and that travels with the
// packet to its output port, its upcall or its recirculation (where key
// extraction turns it into the next pass's FlowKey metadata).
struct PacketState {
  uint32_t in_port;        // odp port the packet arrived on
  uint32_t recirc_id;      // set by recirc()
  uint32_t dp_hash;        // set by hash()
  uint32_t skb_mark;       // set(skb_mark)
  uint32_t priority;       // set(priority)
  uint32_t trunc_max_len;  // pending trunc() for the next output/userspace; 0 = none
  TunnelMeta tun;          // set(tunnel(...)); all zero for no tunnel

  static PacketState from_key(const FlowKey& k) {
    PacketState s;
    s.in_port = k.in_port;
    s.recirc_id = k.recirc_id;
    s.dp_hash = k.dp_hash;
    s.skb_mark = k.skb_mark;
    s.priority = k.priority;
    s.trunc_max_len = 0;
    s.tun.tun_id = k.tun_id;
    s.tun.ipv4_src = k.tun_ipv4_src;
    s.tun.ipv4_dst = k.tun_ipv4_dst;
    std::memcpy(s.tun.ipv6_src, k.tun_ipv6_src, 16);
    std::memcpy(s.tun.ipv6_dst, k.tun_ipv6_dst, 16);
    s.tun.flags = k.tun_flags;
    s.tun.tos = k.tun_tos;
    s.tun.ttl = k.tun_ttl;
    s.tun.tp_src = k.tun_tp_src;
    s.tun.tp_dst = k.tun_tp_dst;
    s.tun.opts_len = k.tun_opts_len;
    std::memset(s.tun.pad, 0, sizeof s.tun.pad);
    s.tun.opts = k.tun_opts_data();
    return s;
  }
};

// ---------------------------------------------------------------------------
// The Sink: what execute_actions() hands packets to. All calls happen on the
// executing (PMD) thread and must not block, allocate from the heap or make
// system calls.
//
//   void output(uint32_t odp_port, rte_mbuf* m)
//       Takes ownership of m (typically appends it to the port's tx batch).
//       Any pending truncation has already been applied to m.
//   void output(uint32_t odp_port, rte_mbuf* m, const PacketState& st,
//               const FlowKey& key)                              (optional)
//       The same, for a sink that needs the packet's metadata at output: a
//       tunnel port encapsulates with st.tun and hashes key (the packet's key
//       for this pass) for the outer UDP source port. When the sink has this
//       overload the executor calls it instead of the two-argument one.
//   void userspace(rte_mbuf* m, const PacketState& st, const Action& a)
//       Does NOT take ownership: the sink copies what it queues as an upcall
//       (at most st.trunc_max_len bytes when that is non-zero; the original
//       length is m->pkt_len). a.userspace_pid(), a.userdata(),
//       a.has_egress_tun_port()/egress_tun_port() describe the upcall.
//   void recirculate(rte_mbuf* m, const PacketState& st)
//       Takes ownership; st.recirc_id is the new recirculation id. The sink
//       re-extracts the key from the packet and st for the next pass.
//   void drop(rte_mbuf* m, ActionDrop reason)
//       Takes ownership (frees m) and counts the reason. m is nullptr when what
//       failed was making a copy: then there is nothing to free, only count.
//   rte_mbuf* copy(rte_mbuf* m)
//       Returns a new packet with the same bytes and metadata whose data the
//       executor may write without affecting m (a deep copy, not an indirect
//       clone), or nullptr when no buffer is available.
//
// Packets given to execute_actions() must be writable (direct mbufs with a
// reference count of one), with VLAN tags in the packet data (not stripped to
// m->vlan_tci), and with the headers that set actions modify in the first
// segment; a packet whose headers are not there is dropped, not parsed across
// segments.
// ---------------------------------------------------------------------------
template <class S>
concept ActionSink = requires(S& s, rte_mbuf* m, const PacketState& st, const Action& a) {
  {s.output(uint32_t{}, m)};
  {s.userspace(m, st, a)};
  {s.recirculate(m, st)};
  {s.drop(m, ActionDrop::kNoOutput)};
  { s.copy(m) } -> std::same_as<rte_mbuf*>;
};

// ---------------------------------------------------------------------------
// Executor internals. Everything here runs per packet.
// ---------------------------------------------------------------------------
namespace actions_detail {

// Hands m to the sink's output, with the packet's state when the sink wants
// it (see the Sink contract).
template <class Sink>
inline void output(Sink& sink, uint32_t odp_port, rte_mbuf* m, const PacketState& st,
                   const FlowKey& key) {
  if constexpr (requires { sink.output(odp_port, m, st, key); }) {
    sink.output(odp_port, m, st, key);
  } else {
    sink.output(odp_port, m);
  }
}

// "No drop": the value header rewriters return when they succeeded.
inline constexpr ActionDrop kOk = ActionDrop::kCount;

inline uint16_t load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void store16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// Internet checksum arithmetic (RFC 1071) on raw 16-bit words as they sit in
// memory: one's complement addition commutes with byte swapping, so no
// conversion to host order is needed.
inline uint16_t csum_fold(uint32_t s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// Accumulates the RFC 1624 (eqn. 3) terms ~m + m' for every 16-bit word that
// differs between `old` and `neu` (n bytes, n even). Unchanged words are
// skipped so that an unchanged header keeps its checksum bit for bit.
inline uint32_t csum_diff(uint32_t acc, const uint8_t* old, const uint8_t* neu, size_t n) {
  for (size_t i = 0; i < n; i += 2) {
    uint16_t o = load16(old + i), v = load16(neu + i);
    if (o != v) acc += static_cast<uint16_t>(~o) + uint32_t{v};
  }
  return acc;
}

// Applies an accumulated difference to a checksum field: HC' = ~(~HC + diff).
inline void csum_apply(uint8_t* field, uint32_t diff) {
  uint16_t hc = load16(field);
  store16(field, static_cast<uint16_t>(~csum_fold(static_cast<uint16_t>(~hc) + diff)));
}

// Applies a difference to a field that holds an uncomplemented pseudo-header
// sum, which is what a packet waiting for L4 checksum offload carries.
inline void csum_apply_partial(uint8_t* field, uint32_t diff) {
  store16(field, csum_fold(load16(field) + diff));
}

inline constexpr uint16_t kEthTypeIpv4 = RTE_BE16(0x0800);
inline constexpr uint16_t kEthTypeIpv6 = RTE_BE16(0x86dd);
inline constexpr uint16_t kEthTypeVlan = RTE_BE16(0x8100);
inline constexpr uint16_t kEthTypeQinQ = RTE_BE16(0x88a8);
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

// Offset of the L4 checksum field for the protocols whose checksum covers a
// pseudo-header with the IP addresses; 0 for the others.
inline size_t l4_csum_offset(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return 16;
    case kProtoUdp:
      return 6;
    case kProtoIcmpv6:
      return 2;
    default:
      return 0;
  }
}

// Whether the L4 checksum is left to the NIC (the field then holds the
// pseudo-header sum, which changes with the addresses but not the ports).
inline bool l4_csum_partial(const rte_mbuf* m) {
  return (m->ol_flags & (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) !=
         0;
}

// Where the headers are, within the first segment. Offsets from the start of
// the packet data; `len` is the first segment's data length.
struct Headers {
  uint8_t* pkt;
  uint32_t len;
  uint32_t l3;        // offset of the IP header
  uint16_t eth_type;  // be16, after VLAN tags
  uint32_t l4;        // offset of the L4 header; 0 when there is none (later fragment)
  uint8_t proto;      // IP protocol / final IPv6 next header
  bool ipv6_routing;  // an IPv6 routing header is present
};

// Parses Ethernet and any number of 802.1Q/802.1ad tags. False if the
// Ethernet header itself is cut short.
inline bool parse_l2(rte_mbuf* m, Headers* h) {
  h->pkt = rte_pktmbuf_mtod(m, uint8_t*);
  h->len = rte_pktmbuf_data_len(m);
  if (h->len < RTE_ETHER_HDR_LEN) return false;
  uint32_t off = 12;
  uint16_t type = load16(h->pkt + off);
  while ((type == kEthTypeVlan || type == kEthTypeQinQ) && off + 6 <= h->len) {
    off += 4;
    type = load16(h->pkt + off);
  }
  h->eth_type = type;
  h->l3 = off + 2;
  return true;
}

// Parses the IPv4 header and finds L4. Returns kOk, or why the packet cannot
// be rewritten as IPv4.
inline ActionDrop parse_ipv4(Headers* h) {
  if (h->eth_type != kEthTypeIpv4) return ActionDrop::kSetOnWrongProto;
  if (h->l3 + 20 > h->len) return ActionDrop::kHeaderTruncated;
  const uint8_t* ip = h->pkt + h->l3;
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if ((ip[0] >> 4) != 4 || ihl < 20) return ActionDrop::kSetOnWrongProto;
  if (h->l3 + ihl > h->len) return ActionDrop::kHeaderTruncated;
  h->proto = ip[9];
  bool later_fragment = (load16(ip + 6) & RTE_BE16(0x1fff)) != 0;
  h->l4 = later_fragment ? 0 : h->l3 + ihl;
  h->ipv6_routing = false;
  return kOk;
}

// Parses the IPv6 header and walks the extension headers (hop-by-hop,
// routing, fragment, destination options, AH) to the upper-layer header.
inline ActionDrop parse_ipv6(Headers* h) {
  if (h->eth_type != kEthTypeIpv6) return ActionDrop::kSetOnWrongProto;
  if (h->l3 + 40 > h->len) return ActionDrop::kHeaderTruncated;
  const uint8_t* ip = h->pkt + h->l3;
  if ((ip[0] >> 4) != 6) return ActionDrop::kSetOnWrongProto;
  uint8_t nh = ip[6];
  uint32_t off = h->l3 + 40;
  h->ipv6_routing = false;
  h->l4 = 0;
  // Eight extension headers is far more than real traffic carries; a longer
  // chain is treated as having no reachable L4 header.
  for (int i = 0; i < 8; ++i) {
    uint32_t ext_len;
    switch (nh) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        if (off + 8 > h->len) return ActionDrop::kHeaderTruncated;
        ext_len = (h->pkt[off + 1] + 1u) * 8;
        if (nh == 43) h->ipv6_routing = true;
        break;
      case 44:  // fragment
        if (off + 8 > h->len) return ActionDrop::kHeaderTruncated;
        if (load16(h->pkt + off + 2) & RTE_BE16(0xfff8)) {
          h->proto = h->pkt[off];  // a later fragment: no L4 header here
          return kOk;
        }
        ext_len = 8;
        break;
      case 51:  // authentication header
        if (off + 8 > h->len) return ActionDrop::kHeaderTruncated;
        ext_len = (h->pkt[off + 1] + 2u) * 4;
        break;
      default:
        h->proto = nh;
        h->l4 = off;
        return kOk;
    }
    nh = h->pkt[off];
    off += ext_len;
  }
  h->proto = nh;
  return kOk;
}

// Updates the L4 checksum (TCP, UDP, ICMPv6) for a change of pseudo-header
// words whose difference is `diff`. A UDP checksum of zero means "none"
// (IPv4) and stays zero, as the kernel datapath does for both families.
inline void update_l4_pseudo(rte_mbuf* m, const Headers& h, uint32_t diff) {
  size_t co = h.l4 ? l4_csum_offset(h.proto) : 0;
  if (!co || h.l4 + co + 2 > h.len) return;
  uint8_t* field = h.pkt + h.l4 + co;
  if (l4_csum_partial(m)) {
    csum_apply_partial(field, diff);
  } else if (h.proto != kProtoUdp) {
    csum_apply(field, diff);
  } else if (load16(field) != 0) {
    csum_apply(field, diff);
    if (load16(field) == 0) store16(field, 0xffff);
  }
}

inline ActionDrop set_eth(rte_mbuf* m, const Action& a) {
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN) return ActionDrop::kHeaderTruncated;
  const uint8_t* key = a.data();
  const uint8_t* mask = key + sizeof(ovs_key_ethernet);
  uint8_t* eth = rte_pktmbuf_mtod(m, uint8_t*);
  // ovs_key_ethernet is {eth_src, eth_dst}; the frame has dst first.
  for (int i = 0; i < 6; ++i) {
    eth[6 + i] = key[i] | (eth[6 + i] & ~mask[i]);
    eth[i] = key[6 + i] | (eth[i] & ~mask[6 + i]);
  }
  return kOk;
}

inline ActionDrop set_ipv4(rte_mbuf* m, const Action& a) {
  Headers h;
  if (!parse_l2(m, &h)) return ActionDrop::kHeaderTruncated;
  if (ActionDrop r = parse_ipv4(&h); r != kOk) return r;
  ovs_key_ipv4 key, mask;
  std::memcpy(&key, a.data(), sizeof key);
  std::memcpy(&mask, a.data() + sizeof key, sizeof mask);

  uint8_t* ip = h.pkt + h.l3;
  uint8_t old[20];
  std::memcpy(old, ip, 20);
  ip[1] = key.ipv4_tos | (ip[1] & ~mask.ipv4_tos);
  ip[8] = key.ipv4_ttl | (ip[8] & ~mask.ipv4_ttl);
  store32(ip + 12, key.ipv4_src | (load32(ip + 12) & ~mask.ipv4_src));
  store32(ip + 16, key.ipv4_dst | (load32(ip + 16) & ~mask.ipv4_dst));

  // The addresses are in the L4 pseudo-header; TOS and TTL are not.
  uint32_t l4_diff = csum_diff(0, old + 12, ip + 12, 8);
  uint32_t ip_diff = csum_diff(csum_diff(l4_diff, old, ip, 2), old + 8, ip + 8, 2);
  // With IP checksum offload the driver wants the field as the stack left it.
  if (ip_diff && !(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM)) csum_apply(ip + 10, ip_diff);
  if (l4_diff) update_l4_pseudo(m, h, l4_diff);
  return kOk;
}

inline ActionDrop set_ipv6(rte_mbuf* m, const Action& a) {
  Headers h;
  if (!parse_l2(m, &h)) return ActionDrop::kHeaderTruncated;
  if (ActionDrop r = parse_ipv6(&h); r != kOk) return r;
  ovs_key_ipv6 key, mask;
  std::memcpy(&key, a.data(), sizeof key);
  std::memcpy(&mask, a.data() + sizeof key, sizeof mask);

  uint8_t* ip = h.pkt + h.l3;
  // Version (4 bits), traffic class (8), flow label (20): not in any checksum.
  uint32_t w = rte_be_to_cpu_32(load32(ip));
  uint32_t tc = (w >> 20) & 0xff;
  tc = key.ipv6_tclass | (tc & ~uint32_t{mask.ipv6_tclass} & 0xff);
  uint32_t label =
      rte_be_to_cpu_32(key.ipv6_label) | (w & ~rte_be_to_cpu_32(mask.ipv6_label) & 0xfffff);
  store32(ip, rte_cpu_to_be_32((w & 0xf0000000u) | (tc << 20) | (label & 0xfffff)));
  ip[7] = key.ipv6_hlimit | (ip[7] & ~mask.ipv6_hlimit);

  const uint8_t* ks = reinterpret_cast<const uint8_t*>(key.ipv6_src);
  const uint8_t* ms = reinterpret_cast<const uint8_t*>(mask.ipv6_src);
  const uint8_t* kd = reinterpret_cast<const uint8_t*>(key.ipv6_dst);
  const uint8_t* md = reinterpret_cast<const uint8_t*>(mask.ipv6_dst);
  uint8_t addr[16];
  uint32_t diff = 0;
  for (int i = 0; i < 16; ++i) addr[i] = ks[i] | (ip[8 + i] & ~ms[i]);
  diff = csum_diff(diff, ip + 8, addr, 16);
  std::memcpy(ip + 8, addr, 16);
  for (int i = 0; i < 16; ++i) addr[i] = kd[i] | (ip[24 + i] & ~md[i]);
  // With a routing header the pseudo-header holds the final destination, not
  // this one, so the L4 checksum does not change with it (as in the kernel).
  if (!h.ipv6_routing) diff = csum_diff(diff, ip + 24, addr, 16);
  std::memcpy(ip + 24, addr, 16);
  if (diff) update_l4_pseudo(m, h, diff);
  return kOk;
}

// set(tcp) / set(udp): the ports. They are not in the pseudo-header, so a
// checksum left to offload does not change.
template <uint8_t kProto>
inline ActionDrop set_ports(rte_mbuf* m, const Action& a) {
  Headers h;
  if (!parse_l2(m, &h)) return ActionDrop::kHeaderTruncated;
  ActionDrop r = h.eth_type == kEthTypeIpv4   ? parse_ipv4(&h)
                 : h.eth_type == kEthTypeIpv6 ? parse_ipv6(&h)
                                              : ActionDrop::kSetOnWrongProto;
  if (r != kOk) return r;
  if (h.proto != kProto || h.l4 == 0) return ActionDrop::kSetOnWrongProto;
  const size_t co = l4_csum_offset(kProto);
  if (h.l4 + co + 2 > h.len) return ActionDrop::kHeaderTruncated;
  uint8_t* l4 = h.pkt + h.l4;
  uint8_t old[4];
  std::memcpy(old, l4, 4);
  store32(l4, a.arg0 | (load32(l4) & ~a.arg1));
  uint32_t diff = csum_diff(0, old, l4, 4);
  if (diff == 0 || l4_csum_partial(m)) return kOk;
  uint8_t* field = l4 + co;
  if (kProto == kProtoUdp) {
    if (load16(field) == 0) return kOk;
    csum_apply(field, diff);
    if (load16(field) == 0) store16(field, 0xffff);
  } else {
    csum_apply(field, diff);
  }
  return kOk;
}

inline ActionDrop push_vlan(rte_mbuf* m, const Action& a) {
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN) return ActionDrop::kHeaderTruncated;
  uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, 4));
  if (!p) return ActionDrop::kPushVlanNoHeadroom;
  // Move the MAC addresses through registers: a fixed-size copy inlines,
  // where a 12-byte overlapping memmove becomes a library call.
  uint8_t macs[12];
  std::memcpy(macs, p + 4, 12);
  std::memcpy(p, macs, 12);
  store16(p + 12, static_cast<uint16_t>(a.arg0));
  store16(p + 14, static_cast<uint16_t>(a.arg1));
  // Offload metadata describes the headers; keep it true.
  if (m->l2_len) m->l2_len += 4;
  return kOk;
}

// Pops the outermost tag; a packet without one is left alone (as the kernel
// datapath does).
inline void pop_vlan(rte_mbuf* m) {
  if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + 4) return;
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  uint16_t type = load16(p + 12);
  if (type != kEthTypeVlan && type != kEthTypeQinQ) return;
  uint8_t macs[12];
  std::memcpy(macs, p, 12);
  std::memcpy(p + 4, macs, 12);
  rte_pktmbuf_adj(m, 4);
  if (m->l2_len >= RTE_ETHER_HDR_LEN + 4) m->l2_len -= 4;
}

// Cuts a packet to `len` bytes, across segments; freed tail segments go back
// to their pool.
inline void trim_to(rte_mbuf* m, uint32_t len) {
  if (len == 0 || rte_pktmbuf_pkt_len(m) <= len) return;
  rte_mbuf* s = m;
  uint32_t left = len;
  uint16_t segs = 1;
  while (s->data_len < left && s->next) {
    left -= s->data_len;
    s = s->next;
    ++segs;
  }
  s->data_len = static_cast<uint16_t>(left);
  rte_mbuf* tail = s->next;
  s->next = nullptr;
  m->nb_segs = segs;
  m->pkt_len = len;
  if (tail) rte_pktmbuf_free(tail);
}

// 32-bit mixing in the style of MurmurHash3, for the hash() action. The value
// is opaque to ovs-vswitchd (it only masks dp_hash into buckets), so any good
// mix will do as long as it is stable.
inline uint32_t hash_add(uint32_t h, uint32_t v) {
  v *= 0xcc9e2d51u;
  v = (v << 15) | (v >> 17);
  v *= 0x1b873593u;
  h ^= v;
  h = (h << 13) | (h >> 19);
  return h * 5 + 0xe6546b64u;
}
inline uint32_t hash_finish(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Hash of the key's L3/L4 5-tuple (MAC addresses for non-IP). Symmetric: the
// two directions of a connection hash alike, by combining each source with
// its destination with XOR before mixing.
inline uint32_t l4_hash(const FlowKey& k, uint32_t basis, bool symmetric) {
  uint32_t h = basis;
  h = hash_add(h, k.eth_type);
  if (k.eth_type == kEthTypeIpv4 || k.eth_type == kEthTypeIpv6) {
    if (k.eth_type == kEthTypeIpv4) {
      if (symmetric) {
        h = hash_add(h, k.ipv4_src ^ k.ipv4_dst);
      } else {
        h = hash_add(hash_add(h, k.ipv4_src), k.ipv4_dst);
      }
    } else {
      for (int i = 0; i < 16; i += 4) {
        uint32_t s = load32(k.ipv6_src + i), d = load32(k.ipv6_dst + i);
        h = symmetric ? hash_add(h, s ^ d) : hash_add(hash_add(h, s), d);
      }
    }
    h = hash_add(h, k.nw_proto);
    h = symmetric ? hash_add(h, uint32_t{k.tp_src} ^ k.tp_dst)
                  : hash_add(h, uint32_t{k.tp_src} << 16 | k.tp_dst);
  } else {
    for (int i = 0; i < 6; i += 2) {
      uint32_t s = load16(k.eth_src + i), d = load16(k.eth_dst + i);
      h = symmetric ? hash_add(h, s ^ d) : hash_add(h, s << 16 | d);
    }
  }
  h = hash_finish(h);
  return h ? h : 1;  // 0 means "no hash computed" in the flow key
}

// Runs records [a, end) on m. Returns true when m was consumed (output,
// recirculated or dropped), false when the records ran out with m still held
// by the caller.
template <class Sink>
bool run(const Action* a, const Action* end, rte_mbuf* m, const FlowKey& key, PacketState& st,
         Sink& sink) noexcept {
  while (a < end) {
    const Action* next = a + 1 + (a->op == ActionOp::kClone ? a->arg0 : 0);
    const bool last = next >= end;
    ActionDrop r = kOk;
    switch (a->op) {
      case ActionOp::kOutput:
        if (last) {
          trim_to(m, st.trunc_max_len);
          output(sink, a->arg0, m, st, key);
          return true;
        }
        if (rte_mbuf* c = sink.copy(m)) {
          trim_to(c, st.trunc_max_len);
          output(sink, a->arg0, c, st, key);
        } else {
          sink.drop(nullptr, ActionDrop::kOutputCopyFailed);
        }
        st.trunc_max_len = 0;
        break;
      case ActionOp::kUserspace:
        sink.userspace(m, st, *a);
        st.trunc_max_len = 0;
        break;
      case ActionOp::kPushVlan:
        r = push_vlan(m, *a);
        break;
      case ActionOp::kPopVlan:
        pop_vlan(m);
        break;
      case ActionOp::kSetEth:
        r = set_eth(m, *a);
        break;
      case ActionOp::kSetIpv4:
        r = set_ipv4(m, *a);
        break;
      case ActionOp::kSetIpv6:
        r = set_ipv6(m, *a);
        break;
      case ActionOp::kSetTcp:
        r = set_ports<kProtoTcp>(m, *a);
        break;
      case ActionOp::kSetUdp:
        r = set_ports<kProtoUdp>(m, *a);
        break;
      case ActionOp::kSetSkbMark:
        st.skb_mark = a->arg0 | (st.skb_mark & ~a->arg1);
        break;
      case ActionOp::kSetPriority:
        st.priority = a->arg0 | (st.priority & ~a->arg1);
        break;
      case ActionOp::kSetTunnel:
        st.tun = set_tunnel_meta(*a);
        break;
      case ActionOp::kRecirc:
        if (last) {
          st.recirc_id = a->arg0;
          st.trunc_max_len = 0;
          sink.recirculate(m, st);
          return true;
        }
        // Not last: the copy recirculates, the original goes on unchanged
        // (its recirc_id included), as in the kernel datapath.
        if (rte_mbuf* c = sink.copy(m)) {
          PacketState rs = st;
          rs.recirc_id = a->arg0;
          rs.trunc_max_len = 0;
          sink.recirculate(c, rs);
        } else {
          sink.drop(nullptr, ActionDrop::kRecircCopyFailed);
        }
        break;
      case ActionOp::kHash:
        st.dp_hash = l4_hash(key, a->arg1, a->arg0 == kHashSymL4);
        break;
      case ActionOp::kClone:
        // A clone that is the last action needs no copy: nothing after it
        // could observe its changes.
        if (last) return run(a + 1, next, m, key, st, sink);
        if (rte_mbuf* c = sink.copy(m)) {
          PacketState cs = st;
          if (!run(a + 1, next, c, key, cs, sink)) sink.drop(c, ActionDrop::kNoOutput);
        } else {
          sink.drop(nullptr, ActionDrop::kCloneCopyFailed);
        }
        break;
      case ActionOp::kTrunc:
        st.trunc_max_len = a->arg0;
        break;
    }
    if (r != kOk) [[unlikely]] {
      sink.drop(m, r);
      return true;
    }
    a = next;
  }
  return false;
}

}  // namespace actions_detail

// Executes program p on packet m, whose key (as extracted for this pass) is
// `key` and whose metadata is `st` (start from PacketState::from_key). The
// packet is always consumed: output, recirculated or dropped through `sink`.
// Runs on the PMD thread; never allocates except through sink.copy().
template <class Sink>
requires ActionSink<Sink>
inline void execute_actions(const ActionProgram& p, rte_mbuf* m, const FlowKey& key,
                            PacketState& st, Sink& sink) noexcept {
  if (p.n_actions == 0) [[unlikely]] {
    sink.drop(m, ActionDrop::kEmptyActions);
    return;
  }
  if (!actions_detail::run(p.begin(), p.end(), m, key, st, sink)) {
    sink.drop(m, ActionDrop::kNoOutput);
  }
}

}  // namespace dpx
