// What the control-message codecs (control_msg.cc, control_msg_flows.cc,
// control_msg_stats.cc) share on top of ctl_codec.h: nesting, lists, and
// objects made of counters. Internal to the control library; the interface
// is control_msg.h.
#pragma once

#include <cerrno>
#include <string>
#include <vector>

#include "control_msg.h"
#include "ctl_codec.h"

namespace dpx::ctl {

constexpr uint64_t bit(unsigned t) { return uint64_t(1) << t; }

// Decodes a nested attribute with `fn(payload, out, err)` and folds its
// error into the outer reader.
template <class T, class Fn>
bool nested(Reader& r, const NlAttr& a, T* out, Fn fn) {
  std::string inner;
  if (fn(a.payload, out, &inner) != 0) return r.nested_fail(inner);
  return true;
}

// A list of nested `type` attributes, each decoded by `fn`. With `reuse`,
// the elements already in *out are decoded into again rather than
// destroyed, so that their buffers keep their capacity: `fn` must then
// reset every field of the element it is given.
template <class T, class Fn>
int get_list(std::span<const uint8_t> b, const char* ctx, uint16_t type, bool need_one,
             std::vector<T>* out, std::string* err, Fn fn, bool reuse = false) {
  if (!reuse) out->clear();
  size_t n = 0;
  Reader r(b, ctx, err, bit(type));
  NlAttr a;
  int rc = 0;
  while (r.next(&a)) {
    if (a.type != type) {
      r.unknown(a);
      rc = EINVAL;
      break;
    }
    T* e = n < out->size() ? &(*out)[n] : &out->emplace_back();
    ++n;
    if (!nested(r, a, e, fn)) {
      rc = EINVAL;
      break;
    }
  }
  out->resize(n);
  if (rc) return rc;
  if (!r.ok()) return EINVAL;
  if (need_one && out->empty()) return r.fail("no entries"), EINVAL;
  return 0;
}

// Objects made only of u64 counters are described once, as a table of
// (attribute, member), which both the encoder and the strict decoder walk.
template <class T>
struct Counter {
  uint16_t type;
  uint64_t T::*field;
};

template <class T, size_t N>
void put_counters(Writer& w, const Counter<T> (&table)[N], const T& v) {
  for (const Counter<T>& c : table) w.u64(c.type, v.*c.field);
}

// The member that `table` maps attribute `type` to, or nullptr.
template <class T, size_t N>
uint64_t* counter_field(const Counter<T> (&table)[N], uint16_t type, T* v) {
  for (const Counter<T>& c : table)
    if (c.type == type) return &(v->*c.field);
  return nullptr;
}

template <class T, size_t N>
int get_counters(std::span<const uint8_t> b, const char* ctx, const Counter<T> (&table)[N], T* v,
                 std::string* err) {
  Reader r(b, ctx, err);
  NlAttr a;
  while (r.next(&a)) {
    uint64_t* f = counter_field(table, a.type, v);
    if (!f) return r.unknown(a), EINVAL;
    if (!r.u64(a, f, "counter")) return EINVAL;
  }
  return r.ok() ? 0 : EINVAL;
}

// A DROP{REASON, COUNT} object (port and PMD drop counters).
int get_drop(std::span<const uint8_t> b, DropCount* d, std::string* err);
void put_drop(Writer& w, uint16_t type, const DropCount& d);

inline size_t nested_size(size_t payload) { return nl_align(NLA_HDRLEN + payload); }

}  // namespace dpx::ctl
