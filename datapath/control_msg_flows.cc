#include <cerrno>
#include <cstring>

#include "control_msg.h"
#include "control_msg_detail.h"

namespace dpx {

using namespace ctl;

namespace {
// ------------------------------------------------------------ flow objects

void put_flow_stats(Writer& w, const FlowStats& s) {
  w.u64(DPX_FLOW_A_PACKETS, s.packets);
  w.u64(DPX_FLOW_A_BYTES, s.bytes);
  w.u64(DPX_FLOW_A_USED_MS, s.used_ms);
  w.u32(DPX_FLOW_A_TCP_FLAGS, s.tcp_flags);
}

// Reads one of the four stats attributes into *s; false if `a` is not one.
bool is_stats_attr(uint16_t t) {
  return t == DPX_FLOW_A_PACKETS || t == DPX_FLOW_A_BYTES || t == DPX_FLOW_A_USED_MS ||
         t == DPX_FLOW_A_TCP_FLAGS;
}
bool get_stats_attr(Reader& r, const NlAttr& a, FlowStats* s) {
  switch (a.type) {
    case DPX_FLOW_A_PACKETS:
      return r.u64(a, &s->packets, "PACKETS");
    case DPX_FLOW_A_BYTES:
      return r.u64(a, &s->bytes, "BYTES");
    case DPX_FLOW_A_USED_MS:
      return r.u64(a, &s->used_ms, "USED_MS");
    default: {
      uint32_t f = 0;
      if (!r.u32(a, &f, "TCP_FLAGS")) return false;
      if (f > 0xffff) return r.fail("TCP_FLAGS out of range");
      s->tcp_flags = static_cast<uint16_t>(f);
      return true;
    }
  }
}
// Stats are all-or-nothing, so a reader never mistakes a missing counter
// for a zero one.
bool stats_complete(Reader& r) {
  return r.require(DPX_FLOW_A_PACKETS, "PACKETS") && r.require(DPX_FLOW_A_BYTES, "BYTES") &&
         r.require(DPX_FLOW_A_USED_MS, "USED_MS") && r.require(DPX_FLOW_A_TCP_FLAGS, "TCP_FLAGS");
}
bool any_stats(const Reader& r) {
  return r.has(DPX_FLOW_A_PACKETS) || r.has(DPX_FLOW_A_BYTES) || r.has(DPX_FLOW_A_USED_MS) ||
         r.has(DPX_FLOW_A_TCP_FLAGS);
}

void put_flow_put_entry(Writer& w, const FlowPutEntry& e) {
  size_t c = w.begin(DPX_CTL_A_FLOW);
  w.ufid(DPX_FLOW_A_UFID, e.ufid);
  w.bytes(DPX_FLOW_A_KEY, e.key);
  w.bytes(DPX_FLOW_A_MASK, e.mask);
  w.bytes(DPX_FLOW_A_ACTIONS, e.actions);
  w.u32(DPX_FLOW_A_FLAGS, e.flags);
  w.end(c);
}

int get_flow_put_entry(std::span<const uint8_t> b, FlowPutEntry* e, std::string* err) {
  // Every field reset, the buffers cleared rather than freed (get_list's
  // `reuse`).
  e->ufid = {};
  e->key.clear();
  e->mask.clear();
  e->actions.clear();
  e->flags = DPX_FLOW_PUT_CREATE;
  Reader r(b, "FLOW", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_FLOW_A_UFID:
        ok = r.ufid(a, &e->ufid, "UFID");
        break;
      case DPX_FLOW_A_KEY:
        ok = r.attrs(a, &e->key, "KEY");
        break;
      case DPX_FLOW_A_MASK:
        ok = r.attrs(a, &e->mask, "MASK");
        break;
      case DPX_FLOW_A_ACTIONS:
        ok = r.attrs(a, &e->actions, "ACTIONS");
        break;
      case DPX_FLOW_A_FLAGS:
        ok = r.u32(a, &e->flags, "FLAGS");
        if (ok && (e->flags & ~DPX_FLOW_PUT_ALL)) ok = r.fail("unknown FLAGS bits");
        if (ok && !(e->flags & (DPX_FLOW_PUT_CREATE | DPX_FLOW_PUT_MODIFY)))
          ok = r.fail("FLAGS needs CREATE or MODIFY");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok()) return EINVAL;
  if (!r.has(DPX_FLOW_A_FLAGS)) e->flags = DPX_FLOW_PUT_CREATE;
  return r.require(DPX_FLOW_A_UFID, "UFID") && r.require(DPX_FLOW_A_KEY, "KEY") &&
                 r.require(DPX_FLOW_A_MASK, "MASK") && r.require(DPX_FLOW_A_ACTIONS, "ACTIONS")
             ? 0
             : EINVAL;
}

// A per-entry result of FLOW_PUT / FLOW_DEL.
void put_flow_result(Writer& w, const Ufid& ufid, int error, const std::optional<FlowStats>& s,
                     const std::string& msg) {
  size_t c = w.begin(DPX_CTL_A_FLOW);
  w.ufid(DPX_FLOW_A_UFID, ufid);
  w.u32(DPX_FLOW_A_ERRNO, static_cast<uint32_t>(error));
  if (s) put_flow_stats(w, *s);
  if (!msg.empty()) w.str(DPX_FLOW_A_ERROR_MSG, msg);
  w.end(c);
}

struct FlowResult {
  Ufid ufid{};
  int error = 0;
  std::optional<FlowStats> stats;
  std::string message;
};

int get_flow_result(std::span<const uint8_t> b, FlowResult* res, std::string* err) {
  *res = {};
  FlowStats s;
  Reader r(b, "FLOW", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    uint32_t e = 0;
    if (is_stats_attr(a.type)) {
      ok = get_stats_attr(r, a, &s);
    } else {
      switch (a.type) {
        case DPX_FLOW_A_UFID:
          ok = r.ufid(a, &res->ufid, "UFID");
          break;
        case DPX_FLOW_A_ERRNO:
          ok = r.u32(a, &e, "ERRNO");
          if (ok && e > 4095) ok = r.fail("ERRNO out of range");
          res->error = static_cast<int>(e);
          break;
        case DPX_FLOW_A_ERROR_MSG:
          ok = r.str(a, &res->message, "ERROR_MSG");
          break;
        default:
          ok = r.unknown(a);
      }
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok() || !r.require(DPX_FLOW_A_UFID, "UFID") || !r.require(DPX_FLOW_A_ERRNO, "ERRNO"))
    return EINVAL;
  if (any_stats(r)) {
    if (!stats_complete(r)) return EINVAL;
    res->stats = s;
  }
  return 0;
}

void put_flow_entry(Writer& w, const FlowEntry& f) {
  size_t c = w.begin(DPX_CTL_A_FLOW);
  w.ufid(DPX_FLOW_A_UFID, f.ufid);
  // A terse dump leaves key/mask/actions out entirely; an empty action list
  // (drop) is still sent when the key is there.
  if (!f.key.empty() || !f.mask.empty() || !f.actions.empty()) {
    w.bytes(DPX_FLOW_A_KEY, f.key);
    w.bytes(DPX_FLOW_A_MASK, f.mask);
    w.bytes(DPX_FLOW_A_ACTIONS, f.actions);
  }
  put_flow_stats(w, f.stats);
  w.end(c);
}

int get_flow_entry(std::span<const uint8_t> b, FlowEntry* f, std::string* err) {
  *f = {};
  Reader r(b, "FLOW", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    if (is_stats_attr(a.type)) {
      ok = get_stats_attr(r, a, &f->stats);
    } else {
      switch (a.type) {
        case DPX_FLOW_A_UFID:
          ok = r.ufid(a, &f->ufid, "UFID");
          break;
        case DPX_FLOW_A_KEY:
          ok = r.attrs(a, &f->key, "KEY");
          break;
        case DPX_FLOW_A_MASK:
          ok = r.attrs(a, &f->mask, "MASK");
          break;
        case DPX_FLOW_A_ACTIONS:
          ok = r.attrs(a, &f->actions, "ACTIONS");
          break;
        default:
          ok = r.unknown(a);
      }
    }
    if (!ok) return EINVAL;
  }
  if (!r.ok() || !r.require(DPX_FLOW_A_UFID, "UFID") || !stats_complete(r)) return EINVAL;
  bool k = r.has(DPX_FLOW_A_KEY), m = r.has(DPX_FLOW_A_MASK), ac = r.has(DPX_FLOW_A_ACTIONS);
  if ((k || m || ac) && !(k && m && ac)) {
    r.fail("KEY, MASK and ACTIONS come together");
    return EINVAL;
  }
  return 0;
}

// Shape shared by the batch decoders: a body that is only repeated
// DPX_CTL_A_FLOW (or PORT, PMD) nests.
int get_ufid_only(std::span<const uint8_t> b, Ufid* u, std::string* err) {
  Reader r(b, "FLOW", err);
  NlAttr a;
  while (r.next(&a)) {
    if (a.type != DPX_FLOW_A_UFID) return r.unknown(a), EINVAL;
    if (!r.ufid(a, u, "UFID")) return EINVAL;
  }
  return r.ok() && r.require(DPX_FLOW_A_UFID, "UFID") ? 0 : EINVAL;
}

void put_ufid_only(Writer& w, const Ufid& u) {
  size_t c = w.begin(DPX_CTL_A_FLOW);
  w.ufid(DPX_FLOW_A_UFID, u);
  w.end(c);
}

}  // namespace

// ---------------------------------------------------------------- flows

int encode_flow_put_request(std::span<const FlowPutEntry> entries, NlBuf* b) {
  Writer w(b);
  for (const auto& e : entries) put_flow_put_entry(w, e);
  return w.result();
}

int decode_flow_put_request(std::span<const uint8_t> b, std::vector<FlowPutEntry>* out,
                            std::string* err) {
  return get_list(b, "FLOW_PUT", DPX_CTL_A_FLOW, true, out, err, get_flow_put_entry, true);
}

size_t flow_put_entry_encoded_size(const FlowPutEntry& e) {
  size_t inner = nested_size(sizeof e.ufid) + nested_size(e.key.size()) +
                 nested_size(e.mask.size()) + nested_size(e.actions.size()) + nested_size(4);
  return nested_size(inner);
}

int encode_flow_put_reply(std::span<const FlowPutResult> results, NlBuf* b) {
  Writer w(b);
  for (const auto& r : results) put_flow_result(w, r.ufid, r.error, r.old_stats, r.message);
  return w.result();
}

int decode_flow_put_reply(std::span<const uint8_t> b, std::vector<FlowPutResult>* out,
                          std::string* err) {
  std::vector<FlowResult> tmp;
  int e = get_list(b, "FLOW_PUT", DPX_CTL_A_FLOW, false, &tmp, err, get_flow_result);
  out->clear();
  for (auto& t : tmp) out->push_back({t.ufid, t.error, t.stats, std::move(t.message)});
  return e;
}

int encode_flow_del_request(std::span<const Ufid> ufids, NlBuf* b) {
  Writer w(b);
  for (const auto& u : ufids) put_ufid_only(w, u);
  return w.result();
}

int decode_flow_del_request(std::span<const uint8_t> b, std::vector<Ufid>* out, std::string* err) {
  return get_list(b, "FLOW_DEL", DPX_CTL_A_FLOW, true, out, err, get_ufid_only);
}

int encode_flow_del_reply(std::span<const FlowDelResult> results, NlBuf* b) {
  Writer w(b);
  for (const auto& r : results) put_flow_result(w, r.ufid, r.error, r.stats, r.message);
  return w.result();
}

int decode_flow_del_reply(std::span<const uint8_t> b, std::vector<FlowDelResult>* out,
                          std::string* err) {
  std::vector<FlowResult> tmp;
  int e = get_list(b, "FLOW_DEL", DPX_CTL_A_FLOW, false, &tmp, err, get_flow_result);
  out->clear();
  for (auto& t : tmp) out->push_back({t.ufid, t.error, t.stats, std::move(t.message)});
  return e;
}

int encode_flow_get_request(const Ufid& u, NlBuf* b) {
  Writer w(b);
  put_ufid_only(w, u);
  return w.result();
}

int decode_flow_get_request(std::span<const uint8_t> b, Ufid* u, std::string* err) {
  std::vector<Ufid> v;
  int e = get_list(b, "FLOW_GET", DPX_CTL_A_FLOW, true, &v, err, get_ufid_only);
  if (e) return e;
  if (v.size() != 1) {
    *err = "FLOW_GET: exactly one FLOW";
    return EINVAL;
  }
  *u = v[0];
  return 0;
}

int encode_flow_entry(const FlowEntry& f, NlBuf* b) {
  Writer w(b);
  put_flow_entry(w, f);
  return w.result();
}

int decode_flow_entry(std::span<const uint8_t> b, FlowEntry* f, std::string* err) {
  std::vector<FlowEntry> v;
  int e = get_list(b, "FLOW_GET", DPX_CTL_A_FLOW, true, &v, err, get_flow_entry);
  if (e) return e;
  if (v.size() != 1) {
    *err = "FLOW_GET: exactly one FLOW";
    return EINVAL;
  }
  *f = std::move(v[0]);
  return 0;
}

size_t flow_entry_encoded_size(const FlowEntry& f) {
  size_t inner = nested_size(sizeof f.ufid) + 3 * nested_size(8) + nested_size(4);
  if (!f.key.empty() || !f.mask.empty() || !f.actions.empty())
    inner += nested_size(f.key.size()) + nested_size(f.mask.size()) + nested_size(f.actions.size());
  return nested_size(inner);
}

int encode_flow_dump_request(const FlowDumpRequest& d, NlBuf* b) {
  Writer w(b);
  w.u64(DPX_CTL_A_CURSOR, d.cursor);
  if (d.max_entries) w.u32(DPX_CTL_A_MAX_ENTRIES, d.max_entries);
  if (d.terse) w.flag(DPX_CTL_A_TERSE);
  return w.result();
}

int decode_flow_dump_request(std::span<const uint8_t> b, FlowDumpRequest* d, std::string* err) {
  *d = {};
  Reader r(b, "FLOW_DUMP", err);
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_CURSOR:
        ok = r.u64(a, &d->cursor, "CURSOR");
        break;
      case DPX_CTL_A_MAX_ENTRIES:
        ok = r.u32(a, &d->max_entries, "MAX_ENTRIES");
        break;
      case DPX_CTL_A_TERSE:
        ok = r.flag(a, &d->terse, "TERSE");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() ? 0 : EINVAL;
}

int encode_flow_dump_reply(const FlowDumpReply& d, NlBuf* b) {
  Writer w(b);
  for (const auto& f : d.flows) put_flow_entry(w, f);
  w.u64(DPX_CTL_A_CURSOR, d.next_cursor);
  return w.result();
}

int decode_flow_dump_reply(std::span<const uint8_t> b, FlowDumpReply* d, std::string* err) {
  *d = {};
  Reader r(b, "FLOW_DUMP", err, bit(DPX_CTL_A_FLOW));
  NlAttr a;
  while (r.next(&a)) {
    bool ok;
    switch (a.type) {
      case DPX_CTL_A_FLOW:
        ok = nested(r, a, &d->flows.emplace_back(), get_flow_entry);
        break;
      case DPX_CTL_A_CURSOR:
        ok = r.u64(a, &d->next_cursor, "CURSOR");
        break;
      default:
        ok = r.unknown(a);
    }
    if (!ok) return EINVAL;
  }
  return r.ok() && r.require(DPX_CTL_A_CURSOR, "CURSOR") ? 0 : EINVAL;
}

}  // namespace dpx
