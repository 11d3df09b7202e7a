// The text of Geneve options inside tunnel(...), as OVS's lib/odp-util.c
// prints and reads them: geneve({class=0x102,type=0x80,len=4,0xa0b0c0d}...),
// one {...} per option. Kept apart from odp_text_format.cc and
// odp_text_parse.cc, which call these two functions (odp_text_detail.h).
#include <algorithm>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "odp_text_detail.h"

namespace dpx::odp_text_detail {

namespace {

void addf(std::string* o, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void addf(std::string* o, const char* fmt, ...) {
  char buf[128];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) o->append(buf, std::min<size_t>(size_t(n), sizeof buf - 1));
}

// OVS's ds_put_hex(): "0x" and the bytes as one number, leading zero bytes
// left out; "0" for all zeros.
void put_hex_number(std::string* o, const uint8_t* p, size_t n) {
  bool printed = false;
  for (size_t i = 0; i < n; ++i) {
    if (!p[i] && !printed) continue;
    addf(o, printed ? "%02x" : "0x%x", p[i]);
    printed = true;
  }
  if (!printed) *o += '0';
}

// A field of one option, as OVS's format_be16x() / format_u8x() /
// format_u8u(): left out when its mask is zero (unless verbose), its mask
// after '/' when partial.
void field(std::string* o, const char* name, unsigned v, const unsigned* m, unsigned full,
           bool verbose, bool hex) {
  if (m && !*m && !verbose) return;
  addf(o, hex ? "%s=%#x" : "%s=%u", name, v);
  if (m && *m != full) addf(o, "/%#x", *m);
  *o += ',';
}

// Reads a hex or decimal number into `width` bytes, right-aligned, as OVS's
// parse_int_string(): "0x" and hex digits (as many as fit), or a decimal
// or octal number that fits. Returns the characters used, 0 on error.
size_t scan_bytes(std::string_view s, uint8_t* out, size_t width) {
  std::fill_n(out, width, 0);
  if (s.substr(0, 2) == "0x" || s.substr(0, 2) == "0X") {
    size_t i = 2;
    std::string digits;
    while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i]))) {
      if (!digits.empty() || s[i] != '0') digits += s[i];
      ++i;
    }
    if (i == 2 || (digits.size() + 1) / 2 > width) return 0;
    size_t idx = width;
    for (size_t j = digits.size(); j > 0;) {
      auto hexit = [](char c) {
        return std::isdigit(uint8_t(c)) ? c - '0' : (c | 0x20) - 'a' + 10;
      };
      uint8_t b = static_cast<uint8_t>(hexit(digits[--j]));
      if (j > 0) b = static_cast<uint8_t>(b | hexit(digits[--j]) << 4);
      out[--idx] = b;
    }
    return i;
  }
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i > 19) return 0;
  unsigned long long v = std::strtoull(std::string(s.substr(0, i)).c_str(), nullptr, 0);
  for (size_t j = width; j > 0; --j) {
    out[j - 1] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return v ? 0 : i;
}

// An unsigned number with an optional "/mask" (%i conventions), at most
// `max`. Without a mask the field is exact (mask = max). Returns the
// characters used, 0 on error.
size_t scan_masked(std::string_view s, unsigned max, unsigned* v, unsigned* m) {
  auto num = [&](size_t at, unsigned* out) -> size_t {
    const std::string t(s.substr(at, 16));
    char* end = nullptr;
    if (t.empty() || !std::isdigit(static_cast<unsigned char>(t[0]))) return 0;
    const unsigned long x = std::strtoul(t.c_str(), &end, 0);
    if (end == t.c_str() || x > max) return 0;
    *out = static_cast<unsigned>(x);
    return static_cast<size_t>(end - t.c_str());
  };
  size_t n = num(0, v);
  if (!n) return 0;
  *m = max;
  if (n < s.size() && s[n] == '/') {
    const size_t k = num(n + 1, m);
    if (!k) return 0;
    n += 1 + k;
  }
  return n;
}

}  // namespace

void format_geneve(std::string* o, std::span<const uint8_t> k, std::span<const uint8_t> m,
                   bool has_mask, bool verbose) {
  *o += "geneve(";
  if (has_mask && m.size() != k.size()) {
    addf(o, "value len %zu different from mask len %zu", k.size(), m.size());
    *o += "),";
    return;
  }
  size_t off = 0;
  while (off < k.size()) {
    const size_t left = k.size() - off;
    if (left < 4) {
      addf(o, "opt len %zu less than minimum 4", left);
      break;
    }
    const uint8_t* opt = k.data() + off;
    const uint8_t* mo = has_mask ? m.data() + off : nullptr;
    const unsigned data_len = (opt[3] & 0x1fu) * 4;
    const size_t len = 4 + data_len;
    if (len > left) {
      addf(o, "opt len %zu greater than remaining %zu", len, left);
      break;
    }
    *o += '{';
    const unsigned cls = unsigned(opt[0]) << 8 | opt[1];
    unsigned mcls = 0, mtype = 0, mlen = 0;
    if (mo) {
      mcls = unsigned(mo[0]) << 8 | mo[1];
      mtype = mo[2];
      mlen = (mo[3] & 0x1fu) == 0x1f ? 0xffu : (mo[3] & 0x1fu);
    }
    field(o, "class", cls, mo ? &mcls : nullptr, 0xffff, verbose, true);
    field(o, "type", opt[2], mo ? &mtype : nullptr, 0xff, verbose, true);
    field(o, "len", data_len, mo ? &mlen : nullptr, 0xff, verbose, false);
    if (data_len && (verbose || !mo || !all_bytes({mo + 4, data_len}, 0))) {
      put_hex_number(o, opt + 4, data_len);
      if (mo && !all_bytes({mo + 4, data_len}, 0xff)) {
        *o += '/';
        put_hex_number(o, mo + 4, data_len);
      }
    } else if (o->back() == ',') {
      o->pop_back();
    }
    *o += '}';
    off += len;
  }
  *o += "),";
}

size_t parse_geneve(std::string_view s, std::vector<uint8_t>* key, std::vector<uint8_t>* mask,
                    std::string* why) {
  key->clear();
  mask->clear();
  size_t i = 0;
  auto bad = [&](const char* msg) {
    *why = msg;
    return size_t{0};
  };
  auto lit = [&](std::string_view t) {
    if (s.substr(i, t.size()) != t) return false;
    i += t.size();
    return true;
  };
  while (lit("{")) {
    if (key->size() + 4 > kTunOptsMax) return bad("Geneve options longer than 252 bytes");
    uint8_t k[4] = {}, m[4] = {0xff, 0xff, 0xff, 0x1f};
    unsigned v, vm;
    size_t n;
    if (lit("class=")) {
      if (!(n = scan_masked(s.substr(i), 0xffff, &v, &vm))) return bad("bad Geneve option class");
      i += n;
      k[0] = uint8_t(v >> 8), k[1] = uint8_t(v), m[0] = uint8_t(vm >> 8), m[1] = uint8_t(vm);
    } else {
      m[0] = m[1] = 0;
    }
    lit(",");
    if (lit("type=")) {
      if (!(n = scan_masked(s.substr(i), 0xff, &v, &vm))) return bad("bad Geneve option type");
      i += n;
      k[2] = uint8_t(v), m[2] = uint8_t(vm);
    } else {
      m[2] = 0;
    }
    lit(",");
    unsigned data_len = 0;
    if (lit("len=")) {
      if (!(n = scan_masked(s.substr(i), 0xff, &v, &vm))) return bad("bad Geneve option len");
      i += n;
      if (v > 124 || v % 4) return bad("Geneve option len must be a multiple of 4 up to 124");
      data_len = v;
      k[3] = uint8_t(v / 4), m[3] = uint8_t(vm & 0x1f);
    } else {
      m[3] = 0;
    }
    if (key->size() + 4 + data_len > kTunOptsMax) {
      return bad("Geneve options longer than 252 bytes");
    }
    key->insert(key->end(), k, k + 4);
    mask->insert(mask->end(), m, m + 4);
    const size_t at = key->size();
    key->resize(at + data_len, 0);
    mask->resize(at + data_len, 0xff);
    if (lit(",")) {
      if (!(n = scan_bytes(s.substr(i), key->data() + at, data_len))) {
        return bad("bad Geneve option data (a number that fits in len bytes)");
      }
      i += n;
    }
    if (lit("/")) {
      if (!(n = scan_bytes(s.substr(i), mask->data() + at, data_len))) {
        return bad("bad Geneve option data mask");
      }
      i += n;
    }
    if (!lit("}")) return bad("expected '}' after a Geneve option");
  }
  if (!lit(")")) return bad("expected '{' or ')' in geneve(...)");
  return i;
}

}  // namespace dpx::odp_text_detail
