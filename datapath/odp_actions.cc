// OVS datapath actions -> ActionProgram. See odp_actions.h for the contract.
//
// The compiler appends records and variable data to two vectors while it
// validates, then copies both into one allocation and turns each record's
// data position into an offset relative to the record.
#include "odp_actions.h"

#include <arpa/inet.h>
#include <linux/openvswitch.h>

#include <cerrno>
#include <cstdlib>
#include <new>
#include <string_view>
#include <vector>

#include "geneve_opts.h"
#include "nlattr.h"

namespace dpx {

namespace {

constexpr const char* kActionNames[] = {
    "unspec",  "output", "userspace", "set",           "push_vlan", "pop_vlan",
    "sample",  "recirc", "hash",      "push_mpls",     "pop_mpls",  "set_masked",
    "ct",      "trunc",  "push_eth",  "pop_eth",       "ct_clear",  "push_nsh",
    "pop_nsh", "meter",  "clone",     "check_pkt_len", "add_mpls",  "dec_ttl",
};
static_assert(sizeof kActionNames / sizeof kActionNames[0] == OVS_ACTION_ATTR_DEC_TTL + 1);

constexpr const char* kKeyNames[] = {
    "unspec", "encap",       "priority", "in_port",     "eth",          "vlan",      "eth_type",
    "ipv4",   "ipv6",        "tcp",      "udp",         "icmp",         "icmpv6",    "arp",
    "nd",     "skb_mark",    "tunnel",   "sctp",        "tcp_flags",    "dp_hash",   "recirc_id",
    "mpls",   "ct_state",    "ct_zone",  "ct_mark",     "ct_label",     "ct_tuple4", "ct_tuple6",
    "nsh",    "packet_type", "nd_ext",   "tunnel_info", "ipv6_exthdrs",
};
static_assert(sizeof kKeyNames / sizeof kKeyNames[0] == OVS_KEY_ATTR_IPV6_EXTHDRS + 1);

constexpr const char* kTunnelNames[] = {
    "id",  "ipv4_src",    "ipv4_dst",         "tos",    "ttl",        "df",       "csum",
    "oam", "geneve_opts", "tp_src",           "tp_dst", "vxlan_opts", "ipv6_src", "ipv6_dst",
    "pad", "erspan_opts", "ipv4_info_bridge",
};
static_assert(sizeof kTunnelNames / sizeof kTunnelNames[0] ==
              OVS_TUNNEL_KEY_ATTR_IPV4_INFO_BRIDGE + 1);

constexpr uint32_t kNoData = UINT32_MAX;

// A compiler's growing buffers, kept from one compile to the next (see
// compile_actions()).
struct CompilerScratch {
  std::vector<Action> recs;
  std::vector<uint32_t> data_pos;
  std::vector<uint8_t> data;
};

class Compiler {
 public:
  Compiler(std::string* err, CompilerScratch* s)
      : err_(err), recs_(s->recs), data_pos_(s->data_pos), data_(s->data) {
    recs_.clear();
    data_pos_.clear();
    data_.clear();
  }

  bool compile_list(std::span<const uint8_t> attrs, int depth) {
    NlIter it(attrs);
    NlAttr a;
    while (it.next(&a)) {
      if (!compile_one(a, depth)) return false;
    }
    if (!it.ok()) return fail("malformed netlink attribute in action list");
    return true;
  }

  int finish(ActionProgram** out) {
    size_t n = recs_.size();
    size_t size = sizeof(ActionProgram) + n * sizeof(Action) + data_.size();
    size = (size + 15) & ~size_t{15};
    void* mem = std::aligned_alloc(alignof(ActionProgram), size);
    if (!mem) {
      fail("out of memory");
      return ENOMEM;
    }
    std::memset(mem, 0, size);
    auto* p = new (mem) ActionProgram;
    p->n_actions = static_cast<uint32_t>(n);
    p->n_outputs = n_outputs_;
    p->alloc_size = static_cast<uint32_t>(size);
    p->flags = flags_;
    bool only_outputs = true;
    for (const Action& r : recs_) only_outputs &= r.op == ActionOp::kOutput;
    if (only_outputs) p->flags |= kProgOnlyOutputs;
    auto* recs = reinterpret_cast<Action*>(p + 1);
    for (size_t i = 0; i < n; ++i) {
      recs[i] = recs_[i];
      recs[i].data_off = data_pos_[i] == kNoData
                             ? 0
                             : static_cast<uint32_t>((n - i) * sizeof(Action) + data_pos_[i]);
    }
    if (!data_.empty()) std::memcpy(recs + n, data_.data(), data_.size());
    *out = p;
    return 0;
  }

 private:
  bool fail(std::string msg) {
    if (err_ && err_->empty()) *err_ = std::move(msg);
    return false;
  }

  // Appends a record; `data`/`len` (may be empty) go to the data area.
  bool add(ActionOp op, uint32_t arg0 = 0, uint32_t arg1 = 0, const void* data = nullptr,
           size_t len = 0, uint8_t flags = 0) {
    Action r{};
    r.op = op;
    r.flags = flags;
    r.arg0 = arg0;
    r.arg1 = arg1;
    uint32_t pos = kNoData;
    if (len) {
      if (len > UINT16_MAX) return fail("action argument too long");
      pos = static_cast<uint32_t>(data_.size());
      data_.insert(data_.end(), static_cast<const uint8_t*>(data),
                   static_cast<const uint8_t*>(data) + len);
      data_.resize((data_.size() + 7) & ~size_t{7}, 0);
      r.data_len = static_cast<uint16_t>(len);
    }
    recs_.push_back(r);
    data_pos_.push_back(pos);
    if (sizeof(ActionProgram) + recs_.size() * sizeof(Action) + data_.size() >
        kMaxActionProgramBytes) {
      return fail("action list too large (program over " + std::to_string(kMaxActionProgramBytes) +
                  " bytes)");
    }
    return true;
  }

  static std::string action_label(uint16_t type) {
    return std::string(odp_action_name(type)) + " (type " + std::to_string(type) + ")";
  }

  bool bad_len(uint16_t type, size_t got) {
    return fail("action " + action_label(type) + " has bad length " + std::to_string(got));
  }

  bool compile_one(const NlAttr& a, int depth) {
    const size_t len = a.payload.size();
    uint32_t u32 = 0;
    switch (a.type) {
      case OVS_ACTION_ATTR_OUTPUT:
        if (!a.get(&u32)) return bad_len(a.type, len);
        ++n_outputs_;
        return add(ActionOp::kOutput, u32);
      case OVS_ACTION_ATTR_USERSPACE:
        return compile_userspace(a);
      case OVS_ACTION_ATTR_SET:
        return compile_set(a, false);
      case OVS_ACTION_ATTR_SET_MASKED:
        return compile_set(a, true);
      case OVS_ACTION_ATTR_PUSH_VLAN: {
        ovs_action_push_vlan v;
        if (!a.get(&v)) return bad_len(a.type, len);
        if (v.vlan_tpid != htons(0x8100) && v.vlan_tpid != htons(0x88a8)) {
          return fail("push_vlan: TPID must be 0x8100 or 0x88a8");
        }
        if (!(v.vlan_tci & htons(kVlanCfi))) {
          return fail("push_vlan: TCI must have the CFI (present) bit set");
        }
        flags_ |= kProgModifiesPacket;
        return add(ActionOp::kPushVlan, v.vlan_tpid,
                   static_cast<uint16_t>(v.vlan_tci & ~htons(kVlanCfi)));
      }
      case OVS_ACTION_ATTR_POP_VLAN:
        if (len != 0) return bad_len(a.type, len);
        flags_ |= kProgModifiesPacket;
        return add(ActionOp::kPopVlan);
      case OVS_ACTION_ATTR_RECIRC:
        if (!a.get(&u32)) return bad_len(a.type, len);
        flags_ |= kProgHasRecirc;
        return add(ActionOp::kRecirc, u32);
      case OVS_ACTION_ATTR_HASH: {
        ovs_action_hash h;
        if (!a.get(&h)) return bad_len(a.type, len);
        if (h.hash_alg != kHashL4 && h.hash_alg != kHashSymL4) {
          return fail("hash: algorithm " + std::to_string(h.hash_alg) + " is not supported");
        }
        return add(ActionOp::kHash, h.hash_alg, h.hash_basis);
      }
      case OVS_ACTION_ATTR_TRUNC: {
        ovs_action_trunc t;
        if (!a.get(&t)) return bad_len(a.type, len);
        if (t.max_len < 14) return fail("trunc: max_len must be at least 14");
        return add(ActionOp::kTrunc, t.max_len);
      }
      case OVS_ACTION_ATTR_CLONE: {
        if (depth + 1 > kMaxActionNesting) {
          return fail("clone: actions nested more than " + std::to_string(kMaxActionNesting) +
                      " deep");
        }
        size_t at = recs_.size();
        if (!add(ActionOp::kClone)) return false;
        if (!compile_list(a.payload, depth + 1)) return false;
        size_t body = recs_.size() - at - 1;
        if (body == 0) {
          // An empty clone does nothing; copying the packet to drop it would
          // only cost time and count a misleading drop.
          recs_.pop_back();
          data_pos_.pop_back();
        } else {
          recs_[at].arg0 = static_cast<uint32_t>(body);
        }
        return true;
      }
      default:
        return fail("action " + action_label(a.type) + " is not supported by dpx");
    }
  }

  bool compile_userspace(const NlAttr& a) {
    NlIter it(a.payload);
    NlAttr u;
    bool have_pid = false;
    uint32_t pid = 0, egress = 0;
    uint8_t flags = 0;
    std::span<const uint8_t> userdata;
    while (it.next(&u)) {
      switch (u.type) {
        case OVS_USERSPACE_ATTR_PID:
          if (!u.get(&pid)) return fail("userspace: bad pid length");
          have_pid = true;
          break;
        case OVS_USERSPACE_ATTR_USERDATA:
          userdata = u.payload;
          break;
        case OVS_USERSPACE_ATTR_EGRESS_TUN_PORT:
          if (!u.get(&egress)) return fail("userspace: bad egress_tun_port length");
          flags |= kUserspaceHasEgressTunPort;
          break;
        case OVS_USERSPACE_ATTR_ACTIONS:
          if (!u.payload.empty()) return fail("userspace: actions flag must be empty");
          flags |= kUserspaceHasActions;
          break;
        default:
          return fail("userspace: attribute " + std::to_string(u.type) + " is not supported");
      }
    }
    if (!it.ok()) return fail("userspace: malformed nested attributes");
    if (!have_pid) return fail("userspace: pid missing");
    flags_ |= kProgHasUserspace;
    return add(ActionOp::kUserspace, pid, egress, userdata.data(), userdata.size(), flags);
  }

  // Copies value and mask out of a set/set_masked payload, masks the value
  // and, for set without mask, makes the mask all ones.
  template <class T>
  bool value_mask(const NlAttr& k, bool masked, T* v, T* m) {
    if (k.payload.size() != (masked ? 2 : 1) * sizeof(T)) {
      return fail(std::string(masked ? "set_masked(" : "set(") + odp_key_name(k.type) +
                  "): bad length " + std::to_string(k.payload.size()));
    }
    std::memcpy(v, k.payload.data(), sizeof(T));
    if (masked) {
      std::memcpy(m, k.payload.data() + sizeof(T), sizeof(T));
    } else {
      std::memset(m, 0xff, sizeof(T));
    }
    auto* vb = reinterpret_cast<uint8_t*>(v);
    const auto* mb = reinterpret_cast<const uint8_t*>(m);
    for (size_t i = 0; i < sizeof(T); ++i) vb[i] &= mb[i];
    return true;
  }

  template <class T>
  bool add_value_mask(ActionOp op, const T& v, const T& m) {
    uint8_t buf[2 * sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    std::memcpy(buf + sizeof(T), &m, sizeof(T));
    flags_ |= kProgModifiesPacket;
    return add(op, 0, 0, buf, sizeof buf);
  }

  bool compile_set(const NlAttr& a, bool masked) {
    const char* what = masked ? "set_masked" : "set";
    NlIter it(a.payload);
    NlAttr k, extra;
    if (!it.next(&k) || it.next(&extra) || !it.ok()) {
      return fail(std::string(what) + ": must hold exactly one key attribute");
    }
    switch (k.type) {
      case OVS_KEY_ATTR_ETHERNET: {
        ovs_key_ethernet v, m;
        if (!value_mask(k, masked, &v, &m)) return false;
        return add_value_mask(ActionOp::kSetEth, v, m);
      }
      case OVS_KEY_ATTR_IPV4: {
        ovs_key_ipv4 v, m;
        if (!value_mask(k, masked, &v, &m)) return false;
        if (masked && (m.ipv4_proto || m.ipv4_frag)) {
          return fail("set_masked(ipv4): proto and frag cannot be rewritten");
        }
        // Without a mask the kernel checks proto and frag against the flow
        // key; they are never written, so the mask leaves them out.
        m.ipv4_proto = m.ipv4_frag = 0;
        v.ipv4_proto = v.ipv4_frag = 0;
        return add_value_mask(ActionOp::kSetIpv4, v, m);
      }
      case OVS_KEY_ATTR_IPV6: {
        ovs_key_ipv6 v, m;
        if (!masked && k.payload.size() == sizeof v) {
          std::memcpy(&v, k.payload.data(), sizeof v);
          if (v.ipv6_label & htonl(0xfff00000)) {
            return fail("set(ipv6): flow label wider than 20 bits");
          }
        }
        if (!value_mask(k, masked, &v, &m)) return false;
        if (masked) {
          if (m.ipv6_proto || m.ipv6_frag) {
            return fail("set_masked(ipv6): proto and frag cannot be rewritten");
          }
          if (m.ipv6_label & htonl(0xfff00000)) {
            return fail("set_masked(ipv6): flow label mask wider than 20 bits");
          }
        }
        m.ipv6_proto = m.ipv6_frag = 0;
        v.ipv6_proto = v.ipv6_frag = 0;
        m.ipv6_label &= htonl(0x000fffff);
        v.ipv6_label &= htonl(0x000fffff);
        return add_value_mask(ActionOp::kSetIpv6, v, m);
      }
      case OVS_KEY_ATTR_TCP:
      case OVS_KEY_ATTR_UDP: {
        uint32_t v, m;  // {src, dst} as two be16 in memory order
        if (!value_mask(k, masked, &v, &m)) return false;
        flags_ |= kProgModifiesPacket;
        return add(k.type == OVS_KEY_ATTR_TCP ? ActionOp::kSetTcp : ActionOp::kSetUdp, v, m);
      }
      case OVS_KEY_ATTR_SKB_MARK:
      case OVS_KEY_ATTR_PRIORITY: {
        uint32_t v, m;
        if (!value_mask(k, masked, &v, &m)) return false;
        return add(k.type == OVS_KEY_ATTR_SKB_MARK ? ActionOp::kSetSkbMark : ActionOp::kSetPriority,
                   v, m);
      }
      case OVS_KEY_ATTR_TUNNEL:
        if (masked) return fail("set_masked(tunnel) is not allowed; use set(tunnel)");
        return compile_tunnel(k.payload);
      default:
        return fail(std::string(what) + "(" + odp_key_name(k.type) + ") (key type " +
                    std::to_string(k.type) + ") is not supported by dpx");
    }
  }

  bool compile_tunnel(std::span<const uint8_t> payload) {
    TunnelMeta t{};
    std::span<const uint8_t> opts;
    bool have_ttl = false, v4 = false, v6 = false, v4_dst = false, v6_dst = false;
    NlIter it(payload);
    NlAttr a;
    while (it.next(&a)) {
      bool ok = true;
      switch (a.type) {
        case OVS_TUNNEL_KEY_ATTR_ID:
          ok = a.get(&t.tun_id);
          t.flags |= kTunFlagKey;
          break;
        case OVS_TUNNEL_KEY_ATTR_IPV4_SRC:
          ok = a.get(&t.ipv4_src);
          v4 = true;
          break;
        case OVS_TUNNEL_KEY_ATTR_IPV4_DST:
          ok = a.get(&t.ipv4_dst);
          v4 = v4_dst = true;
          break;
        case OVS_TUNNEL_KEY_ATTR_TOS:
          ok = a.get(&t.tos);
          break;
        case OVS_TUNNEL_KEY_ATTR_TTL:
          ok = a.get(&t.ttl);
          have_ttl = true;
          break;
        case OVS_TUNNEL_KEY_ATTR_DONT_FRAGMENT:
          ok = a.payload.empty();
          t.flags |= kTunFlagDontFragment;
          break;
        case OVS_TUNNEL_KEY_ATTR_CSUM:
          ok = a.payload.empty();
          t.flags |= kTunFlagCsum;
          break;
        case OVS_TUNNEL_KEY_ATTR_OAM:
          ok = a.payload.empty();
          t.flags |= kTunFlagOam;
          break;
        case OVS_TUNNEL_KEY_ATTR_TP_SRC:
          ok = a.get(&t.tp_src);
          break;
        case OVS_TUNNEL_KEY_ATTR_TP_DST:
          ok = a.get(&t.tp_dst);
          break;
        case OVS_TUNNEL_KEY_ATTR_IPV6_SRC:
          ok = a.payload.size() == 16;
          if (ok) std::memcpy(t.ipv6_src, a.payload.data(), 16);
          v6 = true;
          break;
        case OVS_TUNNEL_KEY_ATTR_IPV6_DST:
          ok = a.payload.size() == 16;
          if (ok) std::memcpy(t.ipv6_dst, a.payload.data(), 16);
          v6 = v6_dst = true;
          break;
        case OVS_TUNNEL_KEY_ATTR_GENEVE_OPTS:
          if (const char* why = geneve_opts_check(a.payload)) {
            return fail(std::string("set(tunnel): bad GENEVE_OPTS (") + why + ")");
          }
          opts = a.payload;
          t.opts_len = static_cast<uint8_t>(a.payload.size());
          break;
        case OVS_TUNNEL_KEY_ATTR_PAD:
          break;
        default:
          return fail(std::string("set(tunnel(") +
                      (a.type < std::size(kTunnelNames) ? kTunnelNames[a.type] : "unknown") +
                      ")) (tunnel key attribute " + std::to_string(a.type) +
                      ") is not supported by dpx");
      }
      if (!ok) {
        return fail(std::string("set(tunnel): bad length for ") +
                    (a.type < std::size(kTunnelNames) ? kTunnelNames[a.type] : "unknown"));
      }
    }
    if (!it.ok()) return fail("set(tunnel): malformed nested attributes");
    if (v4 && v6) return fail("set(tunnel): both IPv4 and IPv6 addresses");
    if (!v4_dst && !v6_dst) return fail("set(tunnel): no destination address");
    if (!have_ttl) return fail("set(tunnel): no ttl");
    // The record's data: the TunnelMeta (opts pointer null; the executor
    // points it at the bytes that follow), then the options.
    std::vector<uint8_t> data(sizeof t + opts.size());
    std::memcpy(data.data(), &t, sizeof t);
    if (!opts.empty()) std::memcpy(data.data() + sizeof t, opts.data(), opts.size());
    return add(ActionOp::kSetTunnel, 0, 0, data.data(), data.size());
  }

  std::string* err_;
  std::vector<Action>& recs_;
  std::vector<uint32_t>& data_pos_;
  std::vector<uint8_t>& data_;
  uint32_t flags_ = 0;
  uint32_t n_outputs_ = 0;
};

}  // namespace

const char* odp_action_name(uint16_t type) {
  return type < std::size(kActionNames) ? kActionNames[type] : "unknown";
}

const char* odp_key_name(uint16_t type) {
  return type < std::size(kKeyNames) ? kKeyNames[type] : "unknown";
}

int compile_actions(std::span<const uint8_t> attrs, ActionProgram** out, std::string* err) {
  if (err) err->clear();
  // The control thread compiles twice per new flow (its FLOW_PUT and its
  // EXECUTE); fresh buffers cost two or three allocations each time. One
  // scratch per thread, as callers may compile on several threads.
  thread_local CompilerScratch scratch;
  Compiler c(err, &scratch);
  if (!c.compile_list(attrs, 0)) return EINVAL;
  return c.finish(out);
}

}  // namespace dpx
