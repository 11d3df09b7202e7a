// Encoding and decoding of every control protocol message: round trips, and
// strict rejection of truncated, oversized, mistyped and unknown attributes.
#include "control_msg.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/openvswitch.h>

#include <functional>
#include <set>

namespace dpx {
namespace {

NlBuf sample_key(uint32_t in_port) {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_KEY_ATTR_RECIRC_ID, 0);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, in_port);
  w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, htons(0x0800));
  return b;
}
NlBuf sample_mask() {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_KEY_ATTR_RECIRC_ID, 0xffffffff);
  w.put<uint32_t>(OVS_KEY_ATTR_IN_PORT, 0xffffffff);
  w.put<uint16_t>(OVS_KEY_ATTR_ETHERTYPE, 0xffff);
  return b;
}
NlBuf sample_actions(uint32_t out) {
  NlBuf b;
  NlWriter w(&b);
  w.put<uint32_t>(OVS_ACTION_ATTR_OUTPUT, out);
  return b;
}

PortInfo sample_port() {
  PortInfo p;
  p.odp_port = 3;
  p.name = "p0";
  p.type = "dpdk";
  p.devargs = "net_pcap0,rx_pcap=in.pcap";
  p.options = {"mtu_request=9000", "n_txq_desc=1024"};
  p.n_rxq = 2;
  p.n_txq = 3;
  p.link_up = true;
  p.link_speed_mbps = 25000;
  p.mtu = 1500;
  p.mac = {0x02, 0, 0, 0, 0, 0x33};
  p.stats = {1, 2, 3, 4, 5, 6, 7, 8};
  p.queues = {{0, false, 10, 640, 1}, {1, false, 11, 704, 0}, {0, true, 12, 768, 2}};
  p.drops = {{"rx_no_mbuf", 9}, {"tx_full", 0}};
  p.counters = {{"tx_gro_frames", 4}, {"tx_gro_segments", 40}};
  return p;
}

FlowPutEntry sample_put(uint32_t i) {
  FlowPutEntry e;
  e.ufid = {{i, i + 1, i + 2, 0xdeadbeef}};
  e.key = sample_key(i);
  e.mask = sample_mask();
  e.actions = sample_actions(i + 1);
  e.flags = DPX_FLOW_PUT_CREATE | DPX_FLOW_PUT_MODIFY;
  return e;
}

FlowEntry sample_flow(uint32_t i) {
  FlowPutEntry p = sample_put(i);
  return {p.ufid, p.key, p.mask, p.actions, {100 + i, 6400 + i, 123456, 0x12}};
}

Upcall sample_upcall() {
  Upcall u;
  u.type = DPX_UPCALL_ACTION;
  u.pid = 77;
  u.in_port = 4;
  u.recirc_id = 5;
  u.dp_hash = 6;
  u.skb_mark = 7;
  u.mru = 1500;
  u.packet.assign(60, 0xab);
  u.key = sample_key(4);
  NlBuf tun;
  NlWriter(&tun).put<uint64_t>(OVS_TUNNEL_KEY_ATTR_ID, 42);
  u.tunnel = tun;
  u.userdata = NlBuf{1, 2, 3};
  u.actions = sample_actions(9);
  return u;
}

// Decoding helper with the common signature, for the generic checks below.
using Decoder = std::function<int(std::span<const uint8_t>, std::string*)>;

template <class T>
Decoder decoder(int (*fn)(std::span<const uint8_t>, T*, std::string*)) {
  return [fn](std::span<const uint8_t> b, std::string* err) {
    T out;
    return fn(b, &out, err);
  };
}

template <class T>
void round_trip(const T& v, int (*enc)(const T&, NlBuf*),
                int (*dec)(std::span<const uint8_t>, T*, std::string*)) {
  NlBuf b;
  ASSERT_EQ(enc(v, &b), 0);
  T out;
  std::string err;
  ASSERT_EQ(dec(b, &out, &err), 0) << err;
  EXPECT_EQ(out, v);
}

// The strictness every decoder must have:
//  - a body cut anywhere but at a top-level attribute boundary is refused;
//  - renaming any top-level attribute to an unknown number is refused;
//  - repeating a single-valued top-level attribute is refused.
void check_strict(const NlBuf& body, const Decoder& dec, std::set<uint16_t> repeatable = {}) {
  std::string err;
  ASSERT_EQ(dec(body, &err), 0) << err;
  std::set<size_t> boundaries{0};
  std::vector<std::pair<size_t, size_t>> attrs;  // offset, aligned length
  for (size_t off = 0; off < body.size();) {
    nlattr h;
    std::memcpy(&h, body.data() + off, sizeof h);
    attrs.push_back({off, nl_align(h.nla_len)});
    // A cut inside the last attribute's padding leaves a complete
    // attribute: the padding is not part of it.
    for (size_t end = off + h.nla_len; end <= off + nl_align(h.nla_len); end++)
      boundaries.insert(end);
    off += nl_align(h.nla_len);
  }
  for (size_t cut = 0; cut < body.size(); cut++) {
    if (boundaries.count(cut)) continue;
    err.clear();
    EXPECT_EQ(dec(std::span(body).first(cut), &err), EINVAL) << "cut at " << cut;
    EXPECT_FALSE(err.empty());
  }
  for (auto [off, len] : attrs) {
    NlBuf m = body;
    nlattr h;
    std::memcpy(&h, m.data() + off, sizeof h);
    uint16_t orig = h.nla_type & NLA_TYPE_MASK;
    h.nla_type = 63;
    std::memcpy(m.data() + off, &h, sizeof h);
    EXPECT_EQ(dec(m, &err), EINVAL) << "unknown attribute accepted at " << off;
    if (!repeatable.count(orig)) {
      NlBuf d = body;
      d.insert(d.end(), body.begin() + off, body.begin() + off + len);
      EXPECT_EQ(dec(d, &err), EINVAL) << "repeated attribute " << orig << " accepted";
    }
  }
}

TEST(ControlMsg, FrameChecksLengths) {
  CtlHeader h;
  NlBuf m;
  ASSERT_EQ(ctl_append_message(&m, {0, 1, DPX_CTL_FLOW_PUT, 7, 0, 0}, NlBuf(8, 1)), 0);
  ASSERT_EQ(m.size(), DPX_CTL_HDR_LEN + 8);
  EXPECT_EQ(ctl_frame(std::span(m).first(5), &h), FrameStatus::kIncomplete);
  EXPECT_EQ(ctl_frame(std::span(m).first(27), &h), FrameStatus::kIncomplete);
  EXPECT_EQ(h.length, 28u);
  ASSERT_EQ(ctl_frame(m, &h), FrameStatus::kComplete);
  EXPECT_EQ(h.type, DPX_CTL_FLOW_PUT);
  EXPECT_EQ(h.request_id, 7u);

  dpx_ctl_hdr raw{};
  raw.length = DPX_CTL_HDR_LEN - 1;
  NlBuf b(reinterpret_cast<uint8_t*>(&raw), reinterpret_cast<uint8_t*>(&raw) + sizeof raw);
  EXPECT_EQ(ctl_frame(b, &h), FrameStatus::kBroken);
  raw.length = DPX_CTL_MAX_MSG + 1;
  std::memcpy(b.data(), &raw, sizeof raw);
  EXPECT_EQ(ctl_frame(b, &h), FrameStatus::kBroken);
  raw.length = DPX_CTL_MAX_MSG;
  std::memcpy(b.data(), &raw, sizeof raw);
  EXPECT_EQ(ctl_frame(b, &h), FrameStatus::kIncomplete);

  NlBuf big(DPX_CTL_MAX_MSG - DPX_CTL_HDR_LEN + 1);
  NlBuf out;
  EXPECT_EQ(ctl_append_message(&out, {}, big), EMSGSIZE);
  EXPECT_TRUE(out.empty());
}

TEST(ControlMsg, ErrorBody) {
  NlBuf b;
  encode_error_body("no such port \"x\"", &b);
  EXPECT_EQ(decode_error_body(b), "no such port \"x\"");
  EXPECT_EQ(decode_error_body({}), "");
  NlBuf junk{1, 2, 3};
  EXPECT_EQ(decode_error_body(junk), "");
}

TEST(ControlMsg, Hello) {
  round_trip(HelloRequest{1, 3, "dpxctl"}, encode_hello_request, decode_hello_request);
  round_trip(HelloReply{1, DPX_CTL_MAX_MSG, "dpxd 0.1"}, encode_hello_reply, decode_hello_reply);
  NlBuf b;
  encode_hello_request({1, 3, "x"}, &b);
  check_strict(b, decoder(decode_hello_request));
  b.clear();
  encode_hello_request({3, 1, ""}, &b);
  std::string err;
  HelloRequest h;
  EXPECT_EQ(decode_hello_request(b, &h, &err), EINVAL);
}

TEST(ControlMsg, PortAdd) {
  PortAddRequest r{"vx0", "vxlan", "", 7u, {"remote_ip=flow", "key=flow"}, 4};
  round_trip(r, encode_port_add_request, decode_port_add_request);
  round_trip(PortAddRequest{"t", "tap", "", std::nullopt, {}, 0}, encode_port_add_request,
             decode_port_add_request);
  NlBuf b;
  encode_port_add_request(r, &b);
  check_strict(b, decoder(decode_port_add_request));
  // An option without '=' is refused.
  b.clear();
  encode_port_add_request({"a", "tap", "", std::nullopt, {"novalue"}, 0}, &b);
  PortAddRequest out;
  std::string err;
  EXPECT_EQ(decode_port_add_request(b, &out, &err), EINVAL);
  EXPECT_NE(err.find("key=value"), std::string::npos) << err;
  // The name is required.
  b.clear();
  NlWriter w(&b);
  size_t c = w.begin_nested(DPX_CTL_A_PORT);
  w.put(DPX_PORT_A_TYPE, "tap", 4);
  w.end_nested(c);
  EXPECT_EQ(decode_port_add_request(b, &out, &err), EINVAL);
  EXPECT_NE(err.find("NAME"), std::string::npos) << err;
}

TEST(ControlMsg, PortRef) {
  round_trip(PortRef{5u, ""}, encode_port_ref, decode_port_ref);
  round_trip(PortRef{std::nullopt, "p1"}, encode_port_ref, decode_port_ref);
  NlBuf b;
  PortRef out;
  std::string err;
  encode_port_ref({5u, "p1"}, &b);  // both: ambiguous
  EXPECT_EQ(decode_port_ref(b, &out, &err), EINVAL);
  EXPECT_EQ(decode_port_ref({}, &out, &err), EINVAL);  // neither
  b.clear();
  encode_port_ref({5u, ""}, &b);
  check_strict(b, decoder(decode_port_ref));
}

TEST(ControlMsg, PortInfoAndList) {
  round_trip(sample_port(), encode_port_info, decode_port_info);
  std::vector<PortInfo> ports{sample_port(), sample_port()};
  ports[1].odp_port = 0;
  ports[1].name = "br0";
  ports[1].queues.clear();
  NlBuf b;
  ASSERT_EQ(encode_port_list(ports, &b), 0);
  std::vector<PortInfo> out;
  std::string err;
  ASSERT_EQ(decode_port_list(b, &out, &err), 0) << err;
  EXPECT_EQ(out, ports);
  check_strict(b, decoder(decode_port_list), {DPX_CTL_A_PORT});
  b.clear();
  encode_port_info(sample_port(), &b);
  check_strict(b, decoder(decode_port_info));
}

// Builds a PORT nest with one attribute replaced by raw bytes, to check
// the nested decoder's size checks.
NlBuf port_with(uint16_t type, const void* data, size_t len) {
  NlBuf b;
  // Reserving first also keeps GCC 12's -Warray-bounds false positive on
  // growing an empty vector at -O3 away.
  b.reserve(256);
  NlWriter w(&b);
  size_t c = w.begin_nested(DPX_CTL_A_PORT);
  w.put<uint32_t>(DPX_PORT_A_NO, 1);
  w.put(DPX_PORT_A_NAME, "p", 2);
  w.put(DPX_PORT_A_TYPE, "tap", 4);
  w.put(type, data, len);
  w.end_nested(c);
  return b;
}

TEST(ControlMsg, NestedAttributesAreSizeChecked) {
  PortInfo p;
  std::string err;
  uint16_t two = 2;
  uint8_t mac5[5] = {};
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_MTU, &two, 2), &p, &err), EINVAL);
  EXPECT_NE(err.find("MTU"), std::string::npos) << err;
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_MAC, mac5, 5), &p, &err), EINVAL);
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_DEVARGS, "abc", 3), &p, &err), EINVAL)
      << "string without NUL accepted";
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_DEVARGS, "a\0c", 4), &p, &err), EINVAL)
      << "string with embedded NUL accepted";
  uint32_t up = 2;
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_LINK_UP, &up, 4), &p, &err), EINVAL);
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_NAME, "q", 2), &p, &err), EINVAL)
      << "repeated NAME accepted";
  EXPECT_EQ(decode_port_info(port_with(40, "", 0), &p, &err), EINVAL);
  // A queue nest with a short counter.
  NlBuf q;
  NlWriter w(&q);
  w.put<uint32_t>(DPX_QUEUE_A_ID, 0);
  w.put<uint32_t>(DPX_QUEUE_A_PACKETS, 1);
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_QUEUE, q.data(), q.size()), &p, &err), EINVAL);
  EXPECT_NE(err.find("PACKETS"), std::string::npos) << err;
  uint32_t ok = 1500;
  EXPECT_EQ(decode_port_info(port_with(DPX_PORT_A_MTU, &ok, 4), &p, &err), 0) << err;
  EXPECT_EQ(p.mtu, 1500u);
}

TEST(ControlMsg, FlowPutBatch) {
  std::vector<FlowPutEntry> v{sample_put(1), sample_put(2), sample_put(3)};
  v[1].flags = DPX_FLOW_PUT_MODIFY | DPX_FLOW_PUT_ZERO_STATS;
  v[2].actions.clear();  // drop
  NlBuf b;
  ASSERT_EQ(encode_flow_put_request(v, &b), 0);
  std::vector<FlowPutEntry> out;
  std::string err;
  ASSERT_EQ(decode_flow_put_request(b, &out, &err), 0) << err;
  EXPECT_EQ(out, v);
  size_t sum = 0;
  for (const auto& e : v) sum += flow_put_entry_encoded_size(e);
  EXPECT_EQ(sum, b.size());
  check_strict(b, decoder(decode_flow_put_request), {DPX_CTL_A_FLOW});
  EXPECT_EQ(decode_flow_put_request({}, &out, &err), EINVAL) << "empty batch accepted";

  // Flags: unknown bits, and neither CREATE nor MODIFY.
  for (uint32_t flags : {0x10u, 0u, uint32_t(DPX_FLOW_PUT_ZERO_STATS)}) {
    auto e = sample_put(1);
    e.flags = flags;
    b.clear();
    encode_flow_put_request(std::span(&e, 1), &b);
    EXPECT_EQ(decode_flow_put_request(b, &out, &err), EINVAL) << flags;
  }
  // A key that is not an attribute sequence.
  auto e = sample_put(1);
  e.key = {8, 0, 1};
  b.clear();
  encode_flow_put_request(std::span(&e, 1), &b);
  EXPECT_EQ(decode_flow_put_request(b, &out, &err), EINVAL);
  EXPECT_NE(err.find("KEY"), std::string::npos) << err;
}

// The control server decodes every FLOW_PUT and EXECUTE into the same
// objects (their buffers keep their capacity): nothing of an earlier, larger
// or different request may survive into the next one's result.
TEST(ControlMsg, DecodingIntoUsedObjectsLeavesNothingBehind) {
  std::vector<FlowPutEntry> three{sample_put(1), sample_put(2), sample_put(3)};
  FlowPutEntry one = sample_put(7);
  NlBuf b3, b1;
  ASSERT_EQ(encode_flow_put_request(three, &b3), 0);
  ASSERT_EQ(encode_flow_put_request(std::span(&one, 1), &b1), 0);
  std::vector<FlowPutEntry> out;
  std::string err;
  ASSERT_EQ(decode_flow_put_request(b3, &out, &err), 0) << err;
  // The same entry without its FLAGS attribute (CREATE is the default).
  NlBuf nb;
  NlWriter w(&nb);
  size_t c = w.begin_nested(DPX_CTL_A_FLOW);
  w.put(DPX_FLOW_A_UFID, one.ufid.w, 16);
  w.put(DPX_FLOW_A_KEY, one.key.data(), one.key.size());
  w.put(DPX_FLOW_A_MASK, one.mask.data(), one.mask.size());
  w.put(DPX_FLOW_A_ACTIONS, one.actions.data(), one.actions.size());
  w.end_nested(c);
  ASSERT_EQ(decode_flow_put_request(nb, &out, &err), 0) << err;
  one.flags = DPX_FLOW_PUT_CREATE;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], one);
  ASSERT_EQ(decode_flow_put_request(b3, &out, &err), 0) << err;
  EXPECT_EQ(out, three);
  // A refused request leaves no stale entry past what it decoded.
  EXPECT_EQ(decode_flow_put_request({}, &out, &err), EINVAL);
  EXPECT_TRUE(out.empty());

  ExecuteRequest big{NlBuf(1500, 0x5a), three[0].key, three[0].actions, true};
  ExecuteRequest small{NlBuf(60, 0x11), three[2].key, three[1].actions, false};
  NlBuf xb, xs;
  ASSERT_EQ(encode_execute_request(big, &xb), 0);
  ASSERT_EQ(encode_execute_request(small, &xs), 0);
  ExecuteRequest x;
  ASSERT_EQ(decode_execute_request(xb, &x, &err), 0) << err;
  EXPECT_EQ(x, big);
  ASSERT_EQ(decode_execute_request(xs, &x, &err), 0) << err;
  EXPECT_EQ(x, small);
}

TEST(ControlMsg, FlowPutRejectsBadUfidAndMissingParts) {
  for (int variant = 0; variant < 4; variant++) {
    NlBuf b;
    NlWriter w(&b);
    size_t c = w.begin_nested(DPX_CTL_A_FLOW);
    uint32_t ufid[4] = {1, 2, 3, 4};
    w.put(DPX_FLOW_A_UFID, ufid, variant == 0 ? 12 : 16);
    NlBuf k = sample_key(1), m = sample_mask(), a = sample_actions(2);
    if (variant != 1) w.put(DPX_FLOW_A_KEY, k.data(), k.size());
    if (variant != 2) w.put(DPX_FLOW_A_MASK, m.data(), m.size());
    if (variant != 3) w.put(DPX_FLOW_A_ACTIONS, a.data(), a.size());
    w.end_nested(c);
    std::vector<FlowPutEntry> out;
    std::string err;
    EXPECT_EQ(decode_flow_put_request(b, &out, &err), EINVAL) << variant;
  }
}

TEST(ControlMsg, FlowPutAndDelReplies) {
  std::vector<FlowPutResult> pr{{{{1, 2, 3, 4}}, 0, std::nullopt, ""},
                                {{{5, 6, 7, 8}}, EEXIST, std::nullopt, "flow exists"},
                                {{{9, 9, 9, 9}}, 0, FlowStats{5, 300, 1000, 0x2}, ""}};
  NlBuf b;
  ASSERT_EQ(encode_flow_put_reply(pr, &b), 0);
  std::vector<FlowPutResult> pout;
  std::string err;
  ASSERT_EQ(decode_flow_put_reply(b, &pout, &err), 0) << err;
  EXPECT_EQ(pout, pr);
  check_strict(b, decoder(decode_flow_put_reply), {DPX_CTL_A_FLOW});

  std::vector<FlowDelResult> dr{{{{1, 2, 3, 4}}, 0, FlowStats{1, 2, 3, 4}, ""},
                                {{{5, 6, 7, 8}}, ENOENT, std::nullopt, "no such flow"}};
  b.clear();
  ASSERT_EQ(encode_flow_del_reply(dr, &b), 0);
  std::vector<FlowDelResult> dout;
  ASSERT_EQ(decode_flow_del_reply(b, &dout, &err), 0) << err;
  EXPECT_EQ(dout, dr);

  // Stats are all or nothing: PACKETS alone is refused.
  b.clear();
  NlWriter w(&b);
  size_t c = w.begin_nested(DPX_CTL_A_FLOW);
  uint32_t ufid[4] = {1, 2, 3, 4};
  w.put(DPX_FLOW_A_UFID, ufid, 16);
  w.put<uint32_t>(DPX_FLOW_A_ERRNO, 0);
  w.put<uint64_t>(DPX_FLOW_A_PACKETS, 1);
  w.end_nested(c);
  EXPECT_EQ(decode_flow_del_reply(b, &dout, &err), EINVAL);
}

TEST(ControlMsg, FlowDelGetDump) {
  std::vector<Ufid> u{{{1, 2, 3, 4}}, {{5, 6, 7, 8}}};
  NlBuf b;
  ASSERT_EQ(encode_flow_del_request(u, &b), 0);
  std::vector<Ufid> uout;
  std::string err;
  ASSERT_EQ(decode_flow_del_request(b, &uout, &err), 0) << err;
  EXPECT_EQ(uout, u);
  check_strict(b, decoder(decode_flow_del_request), {DPX_CTL_A_FLOW});

  b.clear();
  encode_flow_get_request(u[1], &b);
  Ufid one;
  ASSERT_EQ(decode_flow_get_request(b, &one, &err), 0) << err;
  EXPECT_EQ(one, u[1]);
  b.clear();
  encode_flow_del_request(u, &b);  // two ufids: not a FLOW_GET
  EXPECT_EQ(decode_flow_get_request(b, &one, &err), EINVAL);

  round_trip(sample_flow(4), encode_flow_entry, decode_flow_entry);
  round_trip(FlowDumpRequest{77, 100, true}, encode_flow_dump_request, decode_flow_dump_request);
  FlowDumpReply rep{{sample_flow(1), sample_flow(2), {{{3, 3, 3, 3}}, {}, {}, {}, {1, 2, 3, 4}}},
                    99};
  round_trip(rep, encode_flow_dump_reply, decode_flow_dump_reply);
  b.clear();
  encode_flow_dump_reply(rep, &b);
  size_t sum = 0;
  for (const auto& f : rep.flows) sum += flow_entry_encoded_size(f);
  EXPECT_EQ(sum + nl_align(NLA_HDRLEN + 8), b.size());
  check_strict(b, decoder(decode_flow_dump_reply), {DPX_CTL_A_FLOW});
  b.clear();
  encode_flow_dump_request({77, 100, true}, &b);
  check_strict(b, decoder(decode_flow_dump_request));
}

TEST(ControlMsg, Execute) {
  ExecuteRequest x{NlBuf(64, 0x5a), sample_key(1), sample_actions(2), true};
  round_trip(x, encode_execute_request, decode_execute_request);
  NlBuf b;
  encode_execute_request(x, &b);
  check_strict(b, decoder(decode_execute_request));
  // Oversized packet: cannot be encoded in one attribute.
  x.packet.assign(DPX_CTL_MAX_ATTR_PAYLOAD + 1, 0);
  b.clear();
  EXPECT_EQ(encode_execute_request(x, &b), EMSGSIZE);
  x.packet.assign(DPX_CTL_MAX_ATTR_PAYLOAD, 0);
  b.clear();
  EXPECT_EQ(encode_execute_request(x, &b), 0);
  ExecuteRequest out;
  std::string err;
  ASSERT_EQ(decode_execute_request(b, &out, &err), 0) << err;
  EXPECT_EQ(out.packet.size(), DPX_CTL_MAX_ATTR_PAYLOAD);
}

TEST(ControlMsg, Stats) {
  round_trip(DpStats{1, 2, 3, 4, 5, 6, 7, 8, 9}, encode_dp_stats, decode_dp_stats);
  NlBuf b;
  encode_dp_stats(DpStats{1, 2, 3, 4, 5, 6, 7, 8, 9}, &b);
  check_strict(b, decoder(decode_dp_stats));
  std::vector<PmdStats> pmds{{2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, "", {}},
                             {3,
                              1,
                              11,
                              12,
                              13,
                              14,
                              15,
                              16,
                              17,
                              18,
                              19,
                              20,
                              21,
                              22,
                              23,
                              24,
                              25,
                              "avx512",
                              {{"runt_frame", 4}, {"tx_queue_full", 0}}}};
  b.clear();
  ASSERT_EQ(encode_pmd_stats(pmds, &b), 0);
  std::vector<PmdStats> out;
  std::string err;
  ASSERT_EQ(decode_pmd_stats(b, &out, &err), 0) << err;
  EXPECT_EQ(out, pmds);
  check_strict(b, decoder(decode_pmd_stats), {DPX_CTL_A_PMD});
}

TEST(ControlMsg, DpConfig) {
  round_trip(DpConfig{200000u, false, 250u}, encode_dp_config, decode_dp_config);
  round_trip(DpConfig{std::nullopt, true, std::nullopt}, encode_dp_config, decode_dp_config);
  DpConfig out;
  std::string err;
  EXPECT_EQ(decode_dp_config({}, &out, &err), EINVAL) << "empty DP_SET accepted";
  NlBuf b;
  encode_dp_config(DpConfig{1u, true, 2u}, &b);
  check_strict(b, decoder(decode_dp_config));
}

TEST(ControlMsg, Upcalls) {
  round_trip(UpcallSubscribeRequest{DPX_UPCALL_MONITOR}, encode_upcall_subscribe,
             decode_upcall_subscribe);
  NlBuf b;
  encode_upcall_subscribe({5}, &b);
  UpcallSubscribeRequest s;
  std::string err;
  EXPECT_EQ(decode_upcall_subscribe(b, &s, &err), EINVAL);

  round_trip(sample_upcall(), encode_upcall, decode_upcall);
  Upcall miss;
  miss.packet.assign(42, 1);
  miss.key = sample_key(1);
  round_trip(miss, encode_upcall, decode_upcall);
  b.clear();
  encode_upcall(sample_upcall(), &b);
  check_strict(b, decoder(decode_upcall));
}

TEST(ControlMsg, EncodersRefuseWhatDoesNotFit) {
  NlBuf b;
  PortAddRequest r{std::string("a\0b", 3), "tap", "", std::nullopt, {}, 0};
  EXPECT_EQ(encode_port_add_request(r, &b), EMSGSIZE) << "embedded NUL encoded";
  // A flow whose key, mask and actions each fit an attribute but not
  // together in one nest.
  FlowPutEntry e = sample_put(1);
  e.key.assign(30000, 0);
  e.mask.assign(30000, 0);
  e.actions.assign(30000, 0);
  b.clear();
  EXPECT_EQ(encode_flow_put_request(std::span(&e, 1), &b), EMSGSIZE);
}

}  // namespace
}  // namespace dpx
