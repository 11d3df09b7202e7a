// Netlink attributes (struct nlattr framing from linux/netlink.h) as used by
// the OVS datapath ABI: keys, masks and actions are sequences of
// type-length-value records, each padded to 4 bytes.
//
// NlWriter appends attributes to a growable buffer (control path only).
// NlIter walks a buffer without trusting it: every length is checked against
// what is left, and a malformed record stops the walk with ok() == false.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace dpx {

using NlBuf = std::vector<uint8_t>;

inline constexpr size_t nl_align(size_t n) {
  return (n + NLA_ALIGNTO - 1) & ~size_t(NLA_ALIGNTO - 1);
}

struct NlAttr {
  uint16_t type = 0;  // with NLA_F_NESTED / NLA_F_NET_BYTEORDER stripped
  std::span<const uint8_t> payload;

  template <class T>
  bool get(T* out) const {
    if (payload.size() != sizeof(T)) return false;
    std::memcpy(out, payload.data(), sizeof(T));
    return true;
  }
};

class NlIter {
 public:
  explicit NlIter(std::span<const uint8_t> buf) : buf_(buf) {}

  // Returns false at the end of the buffer or on a malformed record; then
  // ok() tells which.
  bool next(NlAttr* a) {
    if (buf_.empty()) return false;
    if (buf_.size() < NLA_HDRLEN) return fail();
    nlattr hdr;
    std::memcpy(&hdr, buf_.data(), sizeof hdr);
    if (hdr.nla_len < NLA_HDRLEN || hdr.nla_len > buf_.size()) return fail();
    a->type = hdr.nla_type & NLA_TYPE_MASK;
    a->payload = buf_.subspan(NLA_HDRLEN, hdr.nla_len - NLA_HDRLEN);
    size_t step = nl_align(hdr.nla_len);
    buf_ = step >= buf_.size() ? std::span<const uint8_t>() : buf_.subspan(step);
    return true;
  }
  bool ok() const { return ok_; }

 private:
  bool fail() {
    ok_ = false;
    buf_ = {};
    return false;
  }
  std::span<const uint8_t> buf_;
  bool ok_ = true;
};

class NlWriter {
 public:
  explicit NlWriter(NlBuf* out) : out_(out) {}

  void put(uint16_t type, const void* data, size_t len) {
    size_t off = out_->size();
    nlattr hdr{static_cast<uint16_t>(NLA_HDRLEN + len), type};
    out_->resize(off + nl_align(NLA_HDRLEN + len), 0);
    std::memcpy(out_->data() + off, &hdr, sizeof hdr);
    if (len && data) std::memcpy(out_->data() + off + NLA_HDRLEN, data, len);
  }
  template <class T>
  void put(uint16_t type, const T& v) {
    put(type, &v, sizeof v);
  }
  void put_flag(uint16_t type) { put(type, nullptr, 0); }

  // Nested attributes: begin_nested() returns a cookie for end_nested().
  size_t begin_nested(uint16_t type) {
    size_t off = out_->size();
    put(type, nullptr, 0);
    return off;
  }
  void end_nested(size_t cookie) {
    nlattr hdr;
    std::memcpy(&hdr, out_->data() + cookie, sizeof hdr);
    hdr.nla_len = static_cast<uint16_t>(out_->size() - cookie);
    std::memcpy(out_->data() + cookie, &hdr, sizeof hdr);
  }

 private:
  NlBuf* out_;
};

}  // namespace dpx
