// The strict netlink-attribute writer and reader that every control-message
// codec is built from (datapath/control_msg.cc, tunnels/tunnel_msg.cc): one
// place decides what a well-formed attribute is and how a refusal reads.
//
// Thread-safety: plain objects, one per encode or decode call.
#pragma once

#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <string>

#include "control_proto.h"
#include "flow_key.h"
#include "nlattr.h"

namespace dpx::ctl {

constexpr size_t kMaxPayload = DPX_CTL_MAX_ATTR_PAYLOAD;

// Appends attributes and remembers whether anything did not fit, so encoders
// can write straight through and report EMSGSIZE once at the end.
class Writer {
 public:
  explicit Writer(NlBuf* b) : b_(b), w_(b) {}
  void addr(uint16_t t, uint32_t be) { w_.put(t, &be, 4); }  // IPv4, network order
  void bytes(uint16_t t, const uint8_t* p, size_t n) { bytes(t, std::span<const uint8_t>(p, n)); }

  void u32(uint16_t t, uint32_t v) { w_.put(t, v); }
  void u64(uint16_t t, uint64_t v) { w_.put(t, v); }
  void flag(uint16_t t) { w_.put_flag(t); }
  void bytes(uint16_t t, std::span<const uint8_t> d) {
    if (d.size() > kMaxPayload) {
      ok_ = false;
      return;
    }
    w_.put(t, d.data(), d.size());
  }
  void str(uint16_t t, const std::string& s) {
    // Netlink strings carry their NUL; an embedded NUL would be silently
    // truncated by C readers, so such a string is not encodable.
    if (s.size() + 1 > kMaxPayload || s.find('\0') != std::string::npos) {
      ok_ = false;
      return;
    }
    w_.put(t, s.c_str(), s.size() + 1);
  }
  void ufid(uint16_t t, const Ufid& u) { w_.put(t, u.w); }
  size_t begin(uint16_t t) { return w_.begin_nested(t); }
  void end(size_t cookie) {
    if (b_->size() - cookie > 0xffff) {
      ok_ = false;
      return;
    }
    w_.end_nested(cookie);
  }
  int result() const { return ok_ ? 0 : EMSGSIZE; }

 private:
  NlBuf* b_;
  NlWriter w_;
  bool ok_ = true;
};

// Walks one attribute level strictly: malformed framing and repeated
// non-repeatable attributes end the walk with an error; the typed getters
// check sizes and contents. Every failure writes a reason to *err.
class Reader {
 public:
  Reader(std::span<const uint8_t> buf, const char* ctx, std::string* err, uint64_t repeatable = 0)
      : it_(buf), ctx_(ctx), err_(err), repeatable_(repeatable) {}

  bool next(NlAttr* a) {
    if (failed_) return false;
    if (!it_.next(a)) {
      if (!it_.ok()) fail("malformed attribute framing");
      return false;
    }
    if (a->type < 64) {
      uint64_t bit = uint64_t(1) << a->type;
      if ((seen_ & bit) && !(repeatable_ & bit)) {
        fail("attribute " + std::to_string(a->type) + " repeated");
        return false;
      }
      seen_ |= bit;
    }
    return true;
  }
  // True when the walk ended without error.
  bool ok() const { return !failed_; }
  bool has(uint16_t t) const { return t < 64 && (seen_ & (uint64_t(1) << t)); }

  bool require(uint16_t t, const char* name) {
    if (has(t)) return true;
    return fail(std::string("missing ") + name);
  }
  bool unknown(const NlAttr& a) { return fail("unknown attribute " + std::to_string(a.type)); }
  bool u32(const NlAttr& a, uint32_t* v, const char* name) {
    return a.get(v) || size_fail(name, 4, a);
  }
  bool u64(const NlAttr& a, uint64_t* v, const char* name) {
    return a.get(v) || size_fail(name, 8, a);
  }
  bool boolean(const NlAttr& a, bool* v, const char* name) {
    uint32_t x = 0;
    if (!u32(a, &x, name)) return false;
    if (x > 1) return fail(std::string(name) + " must be 0 or 1");
    *v = x;
    return true;
  }
  bool flag(const NlAttr& a, bool* v, const char* name) {
    if (!a.payload.empty()) return size_fail(name, 0, a);
    *v = true;
    return true;
  }
  bool ufid(const NlAttr& a, Ufid* u, const char* name) {
    return a.get(&u->w) || size_fail(name, 16, a);
  }
  bool str(const NlAttr& a, std::string* s, const char* name) {
    auto p = a.payload;
    if (p.empty() || p.back() != 0) return fail(std::string(name) + " is not NUL-terminated");
    if (std::memchr(p.data(), 0, p.size() - 1))
      return fail(std::string(name) + " contains a NUL byte");
    s->assign(reinterpret_cast<const char*>(p.data()), p.size() - 1);
    return true;
  }
  bool raw(const NlAttr& a, NlBuf* out) {
    out->assign(a.payload.begin(), a.payload.end());
    return true;
  }
  // ODP key/mask/actions: opaque here, but they must at least be a
  // well-formed attribute sequence so the datapath's parser starts from a
  // sane buffer.
  bool attrs(const NlAttr& a, NlBuf* out, const char* name) {
    NlIter it(a.payload);
    NlAttr inner;
    while (it.next(&inner)) {
    }
    if (!it.ok()) return fail(std::string(name) + " is not a well-formed attribute sequence");
    return raw(a, out);
  }
  // An IPv4 address (4 bytes, network order); 16 bytes (IPv6) is refused
  // with its own message (the tunnel codec reads IPv6 itself where the
  // underlay supports it, tunnels/tunnel_msg.cc).
  bool addr(const NlAttr& a, uint32_t* v, const char* name) {
    if (a.payload.size() == 16) return fail(std::string(name) + ": IPv6 is not supported yet");
    return a.get(v) || size_fail(name, 4, a);
  }
  bool mac(const NlAttr& a, std::array<uint8_t, 6>* m, const char* name) {
    if (a.payload.size() != 6) return size_fail(name, 6, a);
    std::memcpy(m->data(), a.payload.data(), 6);
    return true;
  }
  bool fail(const std::string& why) {
    if (!failed_) *err_ = std::string(ctx_) + ": " + why;
    failed_ = true;
    return false;
  }
  // Adopts the error of a nested decoder, prefixing our context.
  bool nested_fail(const std::string& inner) {
    if (!failed_) *err_ = std::string(ctx_) + ": " + inner;
    failed_ = true;
    return false;
  }

 private:
  bool size_fail(const char* name, size_t want, const NlAttr& a) {
    return fail(std::string(name) + " has " + std::to_string(a.payload.size()) +
                " bytes, expected " + std::to_string(want));
  }

  NlIter it_;
  const char* ctx_;
  std::string* err_;
  uint64_t repeatable_;
  uint64_t seen_ = 0;
  bool failed_ = false;
};

}  // namespace dpx::ctl
