// libFuzzer target over the control protocol's framing and every decoder:
// whatever the bytes, decoding must neither crash nor read out of bounds,
// and whatever decodes must encode back into something that decodes equal.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "control_msg.h"

namespace {

template <class T>
void check(std::span<const uint8_t> body, int (*dec)(std::span<const uint8_t>, T*, std::string*),
           int (*enc)(const T&, dpx::NlBuf*)) {
  T v;
  std::string err;
  if (dec(body, &v, &err) != 0) return;
  dpx::NlBuf again;
  if (enc(v, &again) != 0) std::abort();
  T w;
  if (dec(again, &w, &err) != 0 || !(v == w)) std::abort();
}

template <class T>
void check_list(std::span<const uint8_t> body,
                int (*dec)(std::span<const uint8_t>, std::vector<T>*, std::string*),
                int (*enc)(std::span<const T>, dpx::NlBuf*)) {
  std::vector<T> v;
  std::string err;
  if (dec(body, &v, &err) != 0) return;
  dpx::NlBuf again;
  if (enc(v, &again) != 0) std::abort();
  std::vector<T> w;
  if (dec(again, &w, &err) != 0 || v != w) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dpx;
  std::span<const uint8_t> in(data, size);
  CtlHeader h;
  ctl_frame(in, &h);
  decode_error_body(in);
  check(in, decode_hello_request, encode_hello_request);
  check(in, decode_hello_reply, encode_hello_reply);
  check(in, decode_port_add_request, encode_port_add_request);
  check(in, decode_port_ref, encode_port_ref);
  check(in, decode_port_info, encode_port_info);
  check_list(in, decode_port_list, encode_port_list);
  check_list(in, decode_flow_put_request, encode_flow_put_request);
  check_list(in, decode_flow_put_reply, encode_flow_put_reply);
  check_list(in, decode_flow_del_request, encode_flow_del_request);
  check_list(in, decode_flow_del_reply, encode_flow_del_reply);
  check(in, decode_flow_entry, encode_flow_entry);
  check(in, decode_flow_dump_request, encode_flow_dump_request);
  check(in, decode_flow_dump_reply, encode_flow_dump_reply);
  check(in, decode_execute_request, encode_execute_request);
  check(in, decode_dp_stats, encode_dp_stats);
  check_list(in, decode_pmd_stats, encode_pmd_stats);
  check(in, decode_dp_config, encode_dp_config);
  check(in, decode_upcall_subscribe, encode_upcall_subscribe);
  check(in, decode_upcall, encode_upcall);
  Ufid u;
  std::string err;
  decode_flow_get_request(in, &u, &err);
  return 0;
}
