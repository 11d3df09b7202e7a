#include "control_msg.h"

#include <cerrno>
#include <cstring>

#include "control_msg_detail.h"

namespace dpx {

using namespace ctl;

namespace {
constexpr Counter<PortStats> kPortStats[] = {
    {DPX_PSTATS_A_RX_PACKETS, &PortStats::rx_packets},
    {DPX_PSTATS_A_RX_BYTES, &PortStats::rx_bytes},
    {DPX_PSTATS_A_TX_PACKETS, &PortStats::tx_packets},
    {DPX_PSTATS_A_TX_BYTES, &PortStats::tx_bytes},
    {DPX_PSTATS_A_RX_DROPS, &PortStats::rx_drops},
    {DPX_PSTATS_A_TX_DROPS, &PortStats::tx_drops},
    {DPX_PSTATS_A_RX_ERRORS, &PortStats::rx_errors},
    {DPX_PSTATS_A_TX_ERRORS, &PortStats::tx_errors},
};

void put_port_stats(Writer& w, const PortStats& s) {
  size_t c = w.begin(DPX_PORT_A_STATS);
  put_counters(w, kPortStats, s);
  w.end(c);
}

int get_port_stats(std::span<const uint8_t> b, PortStats* s, std::string* err) {
  *s = {};
  return get_counters(b, "STATS", kPortStats, s, err);
}

int get_queue(std::span<const uint8_t> b, QueueStats* q, std::string* err) {
  *q = {};
  Reader r(b, "QUEUE", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_QUEUE_A_ID:
        ok = r.u32(a, &q->queue_id, "ID");
        break;
      case DPX_QUEUE_A_TX:
        ok = r.boolean(a, &q->tx, "TX");
        break;
      case DPX_QUEUE_A_PACKETS:
        ok = r.u64(a, &q->packets, "PACKETS");
        break;
      case DPX_QUEUE_A_BYTES:
        ok = r.u64(a, &q->bytes, "BYTES");
        break;
      case DPX_QUEUE_A_DROPS:
        ok = r.u64(a, &q->drops, "DROPS");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() && r.require(DPX_QUEUE_A_ID, "ID") ? 0 : EINVAL;
}

void put_port_info(Writer& w, const PortInfo& p) {
  size_t c = w.begin(DPX_CTL_A_PORT);
  w.u32(DPX_PORT_A_NO, p.odp_port);
  w.str(DPX_PORT_A_NAME, p.name);
  w.str(DPX_PORT_A_TYPE, p.type);
  if (!p.devargs.empty()) w.str(DPX_PORT_A_DEVARGS, p.devargs);
  for (const auto& o : p.options) w.str(DPX_PORT_A_OPTION, o);
  w.u32(DPX_PORT_A_N_RXQ, p.n_rxq);
  w.u32(DPX_PORT_A_N_TXQ, p.n_txq);
  w.u32(DPX_PORT_A_LINK_UP, p.link_up);
  w.u32(DPX_PORT_A_LINK_SPEED, p.link_speed_mbps);
  w.u32(DPX_PORT_A_MTU, p.mtu);
  w.bytes(DPX_PORT_A_MAC, p.mac);
  put_port_stats(w, p.stats);
  for (const auto& q : p.queues) {
    size_t qc = w.begin(DPX_PORT_A_QUEUE);
    w.u32(DPX_QUEUE_A_ID, q.queue_id);
    w.u32(DPX_QUEUE_A_TX, q.tx);
    w.u64(DPX_QUEUE_A_PACKETS, q.packets);
    w.u64(DPX_QUEUE_A_BYTES, q.bytes);
    w.u64(DPX_QUEUE_A_DROPS, q.drops);
    w.end(qc);
  }
  for (const auto& d : p.drops) put_drop(w, DPX_PORT_A_DROP, d);
  for (const auto& d : p.counters) put_drop(w, DPX_PORT_A_COUNTER, d);
  w.end(c);
}

// The inside of one DPX_CTL_A_PORT of a reply.
int get_port_info(std::span<const uint8_t> b, PortInfo* p, std::string* err) {
  *p = {};
  Reader r(b, "PORT", err,
           bit(DPX_PORT_A_OPTION) | bit(DPX_PORT_A_QUEUE) | bit(DPX_PORT_A_DROP) |
               bit(DPX_PORT_A_COUNTER));
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_PORT_A_NO:
        ok = r.u32(a, &p->odp_port, "NO");
        break;
      case DPX_PORT_A_NAME:
        ok = r.str(a, &p->name, "NAME");
        break;
      case DPX_PORT_A_TYPE:
        ok = r.str(a, &p->type, "TYPE");
        break;
      case DPX_PORT_A_DEVARGS:
        ok = r.str(a, &p->devargs, "DEVARGS");
        break;
      case DPX_PORT_A_OPTION:
        ok = r.str(a, &p->options.emplace_back(), "OPTION");
        break;
      case DPX_PORT_A_N_RXQ:
        ok = r.u32(a, &p->n_rxq, "N_RXQ");
        break;
      case DPX_PORT_A_N_TXQ:
        ok = r.u32(a, &p->n_txq, "N_TXQ");
        break;
      case DPX_PORT_A_LINK_UP:
        ok = r.boolean(a, &p->link_up, "LINK_UP");
        break;
      case DPX_PORT_A_LINK_SPEED:
        ok = r.u32(a, &p->link_speed_mbps, "LINK_SPEED");
        break;
      case DPX_PORT_A_MTU:
        ok = r.u32(a, &p->mtu, "MTU");
        break;
      case DPX_PORT_A_MAC:
        ok = a.get(&p->mac) || r.fail("MAC must be 6 bytes");
        break;
      case DPX_PORT_A_STATS:
        ok = nested(r, a, &p->stats, get_port_stats);
        break;
      case DPX_PORT_A_QUEUE:
        ok = nested(r, a, &p->queues.emplace_back(), get_queue);
        break;
      case DPX_PORT_A_DROP:
        ok = nested(r, a, &p->drops.emplace_back(), get_drop);
        break;
      case DPX_PORT_A_COUNTER:
        ok = nested(r, a, &p->counters.emplace_back(), get_drop);
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() && r.require(DPX_PORT_A_NO, "NO") && r.require(DPX_PORT_A_NAME, "NAME") &&
                 r.require(DPX_PORT_A_TYPE, "TYPE")
             ? 0
             : EINVAL;
}

}  // namespace

int ctl::get_drop(std::span<const uint8_t> b, DropCount* d, std::string* err) {
  *d = {};
  Reader r(b, "DROP", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_DROP_A_REASON:
        ok = r.str(a, &d->reason, "REASON");
        break;
      case DPX_DROP_A_COUNT:
        ok = r.u64(a, &d->count, "COUNT");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() && r.require(DPX_DROP_A_REASON, "REASON") ? 0 : EINVAL;
}

void ctl::put_drop(Writer& w, uint16_t type, const DropCount& d) {
  size_t c = w.begin(type);
  w.str(DPX_DROP_A_REASON, d.reason);
  w.u64(DPX_DROP_A_COUNT, d.count);
  w.end(c);
}

// ---------------------------------------------------------------- framing

FrameStatus ctl_frame(std::span<const uint8_t> stream, CtlHeader* hdr) {
  if (stream.size() < DPX_CTL_HDR_LEN) return FrameStatus::kIncomplete;
  dpx_ctl_hdr h;
  std::memcpy(&h, stream.data(), sizeof h);
  *hdr = {h.length, h.version, h.type, h.request_id, h.error, h.flags};
  if (h.length < DPX_CTL_HDR_LEN || h.length > DPX_CTL_MAX_MSG) return FrameStatus::kBroken;
  return stream.size() >= h.length ? FrameStatus::kComplete : FrameStatus::kIncomplete;
}

int ctl_append_message(NlBuf* out, const CtlHeader& hdr, std::span<const uint8_t> body) {
  if (body.size() > DPX_CTL_MAX_MSG - DPX_CTL_HDR_LEN) return EMSGSIZE;
  dpx_ctl_hdr h{static_cast<uint32_t>(DPX_CTL_HDR_LEN + body.size()),
                hdr.version,
                hdr.type,
                hdr.request_id,
                hdr.error,
                hdr.flags};
  size_t off = out->size();
  out->resize(off + h.length);
  std::memcpy(out->data() + off, &h, sizeof h);
  if (!body.empty()) std::memcpy(out->data() + off + sizeof h, body.data(), body.size());
  return 0;
}

void encode_error_body(const std::string& msg, NlBuf* body) {
  if (msg.empty()) return;
  // Cut an overlong message (and any embedded NUL) rather than lose it.
  std::string m = msg.substr(0, std::min(msg.find('\0'), size_t(4096)));
  Writer w(body);
  w.str(DPX_CTL_A_ERROR_MSG, m);
}

std::string decode_error_body(std::span<const uint8_t> body) {
  std::string err, msg;
  Reader r(body, "ERROR", &err);
  NlAttr a;
  while (r.next(&a)) {
    if (a.type == DPX_CTL_A_ERROR_MSG && r.str(a, &msg, "ERROR_MSG")) return msg;
  }
  return "";
}

const char* ctl_type_name(uint16_t type) {
  switch (type) {
    case DPX_CTL_HELLO:
      return "HELLO";
    case DPX_CTL_PORT_ADD:
      return "PORT_ADD";
    case DPX_CTL_PORT_DEL:
      return "PORT_DEL";
    case DPX_CTL_PORT_GET:
      return "PORT_GET";
    case DPX_CTL_PORT_DUMP:
      return "PORT_DUMP";
    case DPX_CTL_FLOW_PUT:
      return "FLOW_PUT";
    case DPX_CTL_FLOW_DEL:
      return "FLOW_DEL";
    case DPX_CTL_FLOW_GET:
      return "FLOW_GET";
    case DPX_CTL_FLOW_DUMP:
      return "FLOW_DUMP";
    case DPX_CTL_FLOW_FLUSH:
      return "FLOW_FLUSH";
    case DPX_CTL_EXECUTE:
      return "EXECUTE";
    case DPX_CTL_DP_STATS:
      return "DP_STATS";
    case DPX_CTL_PMD_STATS:
      return "PMD_STATS";
    case DPX_CTL_PMD_STATS_CLEAR:
      return "PMD_STATS_CLEAR";
    case DPX_CTL_UPCALL_SUBSCRIBE:
      return "UPCALL_SUBSCRIBE";
    case DPX_CTL_UPCALL:
      return "UPCALL";
    case DPX_CTL_DP_SET:
      return "DP_SET";
    default:
      return "?";
  }
}

// ---------------------------------------------------------------- HELLO

int encode_hello_request(const HelloRequest& h, NlBuf* b) {
  Writer w(b);
  w.u32(DPX_CTL_A_VERSION_MIN, h.version_min);
  w.u32(DPX_CTL_A_VERSION_MAX, h.version_max);
  if (!h.software.empty()) w.str(DPX_CTL_A_SOFTWARE, h.software);
  return w.result();
}

int decode_hello_request(std::span<const uint8_t> b, HelloRequest* h, std::string* err) {
  *h = {};
  Reader r(b, "HELLO", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_VERSION_MIN:
        ok = r.u32(a, &h->version_min, "VERSION_MIN");
        break;
      case DPX_CTL_A_VERSION_MAX:
        ok = r.u32(a, &h->version_max, "VERSION_MAX");
        break;
      case DPX_CTL_A_SOFTWARE:
        ok = r.str(a, &h->software, "SOFTWARE");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok() || !r.require(DPX_CTL_A_VERSION_MIN, "VERSION_MIN") ||
      !r.require(DPX_CTL_A_VERSION_MAX, "VERSION_MAX"))
    return EINVAL;
  if (h->version_min > h->version_max) return r.fail("VERSION_MIN > VERSION_MAX"), EINVAL;
  return 0;
}

int encode_hello_reply(const HelloReply& h, NlBuf* b) {
  Writer w(b);
  w.u32(DPX_CTL_A_VERSION, h.version);
  w.u32(DPX_CTL_A_MAX_MSG, h.max_msg);
  if (!h.software.empty()) w.str(DPX_CTL_A_SOFTWARE, h.software);
  return w.result();
}

int decode_hello_reply(std::span<const uint8_t> b, HelloReply* h, std::string* err) {
  *h = {};
  Reader r(b, "HELLO", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_VERSION:
        ok = r.u32(a, &h->version, "VERSION");
        break;
      case DPX_CTL_A_MAX_MSG:
        ok = r.u32(a, &h->max_msg, "MAX_MSG");
        break;
      case DPX_CTL_A_SOFTWARE:
        ok = r.str(a, &h->software, "SOFTWARE");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() && r.require(DPX_CTL_A_VERSION, "VERSION") &&
                 r.require(DPX_CTL_A_MAX_MSG, "MAX_MSG")
             ? 0
             : EINVAL;
}

// ---------------------------------------------------------------- ports

int encode_port_add_request(const PortAddRequest& p, NlBuf* b) {
  Writer w(b);
  size_t c = w.begin(DPX_CTL_A_PORT);
  w.str(DPX_PORT_A_NAME, p.name);
  w.str(DPX_PORT_A_TYPE, p.type);
  if (!p.devargs.empty()) w.str(DPX_PORT_A_DEVARGS, p.devargs);
  if (p.odp_port) w.u32(DPX_PORT_A_NO, *p.odp_port);
  for (const auto& o : p.options) w.str(DPX_PORT_A_OPTION, o);
  if (p.n_rxq) w.u32(DPX_PORT_A_N_RXQ, p.n_rxq);
  w.end(c);
  return w.result();
}

static int get_port_add(std::span<const uint8_t> b, PortAddRequest* p, std::string* err) {
  Reader r(b, "PORT", err, bit(DPX_PORT_A_OPTION));
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    uint32_t no = 0;
    switch (a.type) {
      case DPX_PORT_A_NAME:
        ok = r.str(a, &p->name, "NAME");
        break;
      case DPX_PORT_A_TYPE:
        ok = r.str(a, &p->type, "TYPE");
        break;
      case DPX_PORT_A_DEVARGS:
        ok = r.str(a, &p->devargs, "DEVARGS");
        break;
      case DPX_PORT_A_NO:
        ok = r.u32(a, &no, "NO");
        p->odp_port = no;
        break;
      case DPX_PORT_A_OPTION:
        ok = r.str(a, &p->options.emplace_back(), "OPTION");
        if (ok && p->options.back().find('=') == std::string::npos)
          ok = r.fail("OPTION \"" + p->options.back() + "\" is not key=value");
        break;
      case DPX_PORT_A_N_RXQ:
        ok = r.u32(a, &p->n_rxq, "N_RXQ");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok() || !r.require(DPX_PORT_A_NAME, "NAME") || !r.require(DPX_PORT_A_TYPE, "TYPE"))
    return EINVAL;
  if (p->name.empty()) return r.fail("empty NAME"), EINVAL;
  return 0;
}

int decode_port_add_request(std::span<const uint8_t> b, PortAddRequest* p, std::string* err) {
  *p = {};
  Reader r(b, "PORT_ADD", err);
  NlAttr a;
  while (r.next(&a)) {
    if (a.type != DPX_CTL_A_PORT) return r.unknown(a), EINVAL;
    if (!nested(r, a, p, get_port_add)) return EINVAL;
  }
  return r.ok() && r.require(DPX_CTL_A_PORT, "PORT") ? 0 : EINVAL;
}

int encode_port_ref(const PortRef& p, NlBuf* b) {
  Writer w(b);
  if (p.odp_port) w.u32(DPX_CTL_A_PORT_NO, *p.odp_port);
  if (!p.name.empty()) w.str(DPX_CTL_A_PORT_NAME, p.name);
  return w.result();
}

int decode_port_ref(std::span<const uint8_t> b, PortRef* p, std::string* err) {
  *p = {};
  Reader r(b, "PORT_REF", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    uint32_t no = 0;
    switch (a.type) {
      case DPX_CTL_A_PORT_NO:
        ok = r.u32(a, &no, "PORT_NO");
        p->odp_port = no;
        break;
      case DPX_CTL_A_PORT_NAME:
        ok = r.str(a, &p->name, "PORT_NAME");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok()) return EINVAL;
  if (r.has(DPX_CTL_A_PORT_NO) == r.has(DPX_CTL_A_PORT_NAME))
    return r.fail("exactly one of PORT_NO and PORT_NAME"), EINVAL;
  if (r.has(DPX_CTL_A_PORT_NAME) && p->name.empty()) return r.fail("empty PORT_NAME"), EINVAL;
  return 0;
}

int encode_port_info(const PortInfo& p, NlBuf* b) {
  Writer w(b);
  put_port_info(w, p);
  return w.result();
}

int decode_port_info(std::span<const uint8_t> b, PortInfo* p, std::string* err) {
  *p = {};
  Reader r(b, "PORT_INFO", err);
  NlAttr a;
  while (r.next(&a)) {
    if (a.type != DPX_CTL_A_PORT) return r.unknown(a), EINVAL;
    if (!nested(r, a, p, get_port_info)) return EINVAL;
  }
  return r.ok() && r.require(DPX_CTL_A_PORT, "PORT") ? 0 : EINVAL;
}

int encode_port_list(std::span<const PortInfo> ports, NlBuf* b) {
  Writer w(b);
  for (const auto& p : ports) put_port_info(w, p);
  return w.result();
}

int decode_port_list(std::span<const uint8_t> b, std::vector<PortInfo>* out, std::string* err) {
  return get_list(b, "PORT_DUMP", DPX_CTL_A_PORT, false, out, err, get_port_info);
}

// ---------------------------------------------------------------- execute

int encode_execute_request(const ExecuteRequest& x, NlBuf* b) {
  Writer w(b);
  w.bytes(DPX_CTL_A_PACKET, x.packet);
  w.bytes(DPX_CTL_A_KEY, x.key);
  w.bytes(DPX_CTL_A_ACTIONS, x.actions);
  if (x.probe) w.flag(DPX_CTL_A_PROBE);
  return w.result();
}

int decode_execute_request(std::span<const uint8_t> b, ExecuteRequest* x, std::string* err) {
  // Cleared, not replaced: a caller that decodes into one request again
  // and again (the control server) keeps the buffers' capacity.
  x->packet.clear();
  x->key.clear();
  x->actions.clear();
  x->probe = false;
  Reader r(b, "EXECUTE", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_PACKET:
        ok = r.raw(a, &x->packet);
        break;
      case DPX_CTL_A_KEY:
        ok = r.attrs(a, &x->key, "KEY");
        break;
      case DPX_CTL_A_ACTIONS:
        ok = r.attrs(a, &x->actions, "ACTIONS");
        break;
      case DPX_CTL_A_PROBE:
        ok = r.flag(a, &x->probe, "PROBE");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok() || !r.require(DPX_CTL_A_PACKET, "PACKET") || !r.require(DPX_CTL_A_KEY, "KEY") ||
      !r.require(DPX_CTL_A_ACTIONS, "ACTIONS"))
    return EINVAL;
  if (x->packet.empty()) return r.fail("empty PACKET"), EINVAL;
  return 0;
}

// ---------------------------------------------------------------- settings

int encode_dp_config(const DpConfig& c, NlBuf* b) {
  Writer w(b);
  if (c.flow_limit) w.u32(DPX_CTL_A_FLOW_LIMIT, *c.flow_limit);
  if (c.emc_enable) w.u32(DPX_CTL_A_EMC_ENABLE, *c.emc_enable);
  if (c.pmd_sleep_max_us) w.u32(DPX_CTL_A_PMD_SLEEP_MAX_US, *c.pmd_sleep_max_us);
  return w.result();
}

int decode_dp_config(std::span<const uint8_t> b, DpConfig* c, std::string* err) {
  *c = {};
  Reader r(b, "DP_SET", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    uint32_t v = 0;
    bool on = false;
    switch (a.type) {
      case DPX_CTL_A_FLOW_LIMIT:
        ok = r.u32(a, &v, "FLOW_LIMIT");
        c->flow_limit = v;
        break;
      case DPX_CTL_A_EMC_ENABLE:
        ok = r.boolean(a, &on, "EMC_ENABLE");
        c->emc_enable = on;
        break;
      case DPX_CTL_A_PMD_SLEEP_MAX_US:
        ok = r.u32(a, &v, "PMD_SLEEP_MAX_US");
        c->pmd_sleep_max_us = v;
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok()) return EINVAL;
  if (!c->flow_limit && !c->emc_enable && !c->pmd_sleep_max_us)
    return r.fail("nothing to set"), EINVAL;
  return 0;
}

// ---------------------------------------------------------------- upcalls

int encode_upcall_subscribe(const UpcallSubscribeRequest& s, NlBuf* b) {
  Writer w(b);
  w.u32(DPX_CTL_A_SUBSCRIBE_MODE, s.mode);
  return w.result();
}

int decode_upcall_subscribe(std::span<const uint8_t> b, UpcallSubscribeRequest* s,
                            std::string* err) {
  *s = {};
  Reader r(b, "UPCALL_SUBSCRIBE", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_SUBSCRIBE_MODE:
        ok = r.u32(a, &s->mode, "SUBSCRIBE_MODE");
        if (ok && s->mode != DPX_UPCALL_SHARE && s->mode != DPX_UPCALL_MONITOR)
          ok = r.fail("unknown SUBSCRIBE_MODE");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() ? 0 : EINVAL;
}

int encode_upcall(const Upcall& u, NlBuf* b) {
  Writer w(b);
  w.u32(DPX_CTL_A_UPCALL_TYPE, u.type);
  w.u32(DPX_CTL_A_UPCALL_PID, u.pid);
  w.u32(DPX_CTL_A_UPCALL_IN_PORT, u.in_port);
  w.u32(DPX_CTL_A_UPCALL_RECIRC_ID, u.recirc_id);
  w.u32(DPX_CTL_A_UPCALL_DP_HASH, u.dp_hash);
  w.u32(DPX_CTL_A_UPCALL_SKB_MARK, u.skb_mark);
  w.u32(DPX_CTL_A_UPCALL_MRU, u.mru);
  w.bytes(DPX_CTL_A_PACKET, u.packet);
  w.bytes(DPX_CTL_A_KEY, u.key);
  if (u.tunnel) w.bytes(DPX_CTL_A_UPCALL_TUNNEL, *u.tunnel);
  if (u.userdata) w.bytes(DPX_CTL_A_UPCALL_USERDATA, *u.userdata);
  if (u.actions) w.bytes(DPX_CTL_A_UPCALL_ACTIONS, *u.actions);
  return w.result();
}

int decode_upcall(std::span<const uint8_t> b, Upcall* u, std::string* err) {
  *u = {};
  Reader r(b, "UPCALL", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_UPCALL_TYPE:
        ok = r.u32(a, &u->type, "TYPE");
        if (ok && u->type != DPX_UPCALL_MISS && u->type != DPX_UPCALL_ACTION)
          ok = r.fail("unknown TYPE");
        break;
      case DPX_CTL_A_UPCALL_PID:
        ok = r.u32(a, &u->pid, "PID");
        break;
      case DPX_CTL_A_UPCALL_IN_PORT:
        ok = r.u32(a, &u->in_port, "IN_PORT");
        break;
      case DPX_CTL_A_UPCALL_RECIRC_ID:
        ok = r.u32(a, &u->recirc_id, "RECIRC_ID");
        break;
      case DPX_CTL_A_UPCALL_DP_HASH:
        ok = r.u32(a, &u->dp_hash, "DP_HASH");
        break;
      case DPX_CTL_A_UPCALL_SKB_MARK:
        ok = r.u32(a, &u->skb_mark, "SKB_MARK");
        break;
      case DPX_CTL_A_UPCALL_MRU:
        ok = r.u32(a, &u->mru, "MRU");
        break;
      case DPX_CTL_A_PACKET:
        ok = r.raw(a, &u->packet);
        break;
      case DPX_CTL_A_KEY:
        ok = r.attrs(a, &u->key, "KEY");
        break;
      case DPX_CTL_A_UPCALL_TUNNEL:
        ok = r.attrs(a, &u->tunnel.emplace(), "TUNNEL");
        break;
      case DPX_CTL_A_UPCALL_USERDATA:
        ok = r.raw(a, &u->userdata.emplace());
        break;
      case DPX_CTL_A_UPCALL_ACTIONS:
        ok = r.attrs(a, &u->actions.emplace(), "ACTIONS");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok() || !r.require(DPX_CTL_A_UPCALL_TYPE, "TYPE") ||
      !r.require(DPX_CTL_A_UPCALL_IN_PORT, "IN_PORT") || !r.require(DPX_CTL_A_PACKET, "PACKET") ||
      !r.require(DPX_CTL_A_KEY, "KEY"))
    return EINVAL;
  return 0;
}

}  // namespace dpx
