// Typed messages of the dpxd control protocol (datapath/control_proto.h) and
// their encoding to and from message bodies. The server, the client, dpxctl
// and the OVS dpif provider all go through these functions, so no other code
// handles the protocol's raw bytes.
//
// Conventions:
//  - encode_*(const T&, NlBuf* body) appends the attributes of T to *body and
//    returns 0, or EMSGSIZE if a field does not fit in one attribute
//    (DPX_CTL_MAX_ATTR_PAYLOAD); *body is then unspecified.
//  - decode_*(std::span<const uint8_t> body, T* out, std::string* err)
//    returns 0, or EINVAL with a one-line reason in *err (never null). It
//    trusts nothing: every length is checked, unknown attributes, duplicates
//    of single attributes, wrong sizes and missing required attributes are
//    refused. *out is fully overwritten on success, unspecified on failure.
//  - ODP key, mask and action bytes are carried opaquely; the decoders only
//    check that they are well-formed attribute sequences (their meaning is
//    the datapath's to judge).
//  - Errors are positive errno values, as everywhere in dpx.
//
// Thread-safety: pure functions over caller-owned data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control_proto.h"
#include "flow_key.h"
#include "nlattr.h"

namespace dpx {

// ---------------------------------------------------------------- framing

struct CtlHeader {
  uint32_t length = 0;
  uint16_t version = 0;
  uint16_t type = 0;
  uint32_t request_id = 0;
  int32_t error = 0;
  uint32_t flags = 0;
};

enum class FrameStatus {
  kComplete,    // a whole message of header.length bytes is available
  kIncomplete,  // need more bytes (header or body not complete yet)
  kBroken,      // length field outside [DPX_CTL_HDR_LEN, DPX_CTL_MAX_MSG]
};

// Looks at the start of a byte stream. Fills *hdr as soon as the header is
// complete (also for kIncomplete once 20 bytes are there, and for kBroken).
FrameStatus ctl_frame(std::span<const uint8_t> stream, CtlHeader* hdr);

// Appends one message (header + body) to *out. Returns 0 or EMSGSIZE if the
// message would exceed DPX_CTL_MAX_MSG (nothing is appended then).
int ctl_append_message(NlBuf* out, const CtlHeader& hdr, std::span<const uint8_t> body);

// Body of an error reply: DPX_CTL_A_ERROR_MSG (if msg is non-empty).
void encode_error_body(const std::string& msg, NlBuf* body);
// Extracts DPX_CTL_A_ERROR_MSG from an error reply's body ("" if absent or
// malformed: the errno alone is the answer then).
std::string decode_error_body(std::span<const uint8_t> body);

// Human-readable name of a message type ("FLOW_PUT"), "?" if unknown.
const char* ctl_type_name(uint16_t type);

// ---------------------------------------------------------------- HELLO

struct HelloRequest {
  uint32_t version_min = DPX_CTL_VERSION_MIN;
  uint32_t version_max = DPX_CTL_VERSION_MAX;
  std::string software;  // optional, for the server's log
  friend bool operator==(const HelloRequest&, const HelloRequest&) = default;
};
struct HelloReply {
  uint32_t version = 0;  // the version the rest of the session uses
  uint32_t max_msg = 0;  // the server's maximum message size
  std::string software;
  friend bool operator==(const HelloReply&, const HelloReply&) = default;
};
int encode_hello_request(const HelloRequest&, NlBuf*);
int decode_hello_request(std::span<const uint8_t>, HelloRequest*, std::string* err);
int encode_hello_reply(const HelloReply&, NlBuf*);
int decode_hello_reply(std::span<const uint8_t>, HelloReply*, std::string* err);

// ---------------------------------------------------------------- ports

struct PortAddRequest {
  std::string name;                  // required, unique among ports
  std::string type;                  // required: "dpdk", "afxdp", "tap", "vxlan", ...
  std::string devargs;               // may be empty, meaning depends on type
  std::optional<uint32_t> odp_port;  // wanted odp port number, else the datapath picks
  std::vector<std::string> options;  // "key=value" each
  uint32_t n_rxq = 0;                // 0 = the type's default
  friend bool operator==(const PortAddRequest&, const PortAddRequest&) = default;
};
int encode_port_add_request(const PortAddRequest&, NlBuf*);
int decode_port_add_request(std::span<const uint8_t>, PortAddRequest*, std::string* err);

// Names a port by number or by name: exactly one of the two is set.
struct PortRef {
  std::optional<uint32_t> odp_port;
  std::string name;
  friend bool operator==(const PortRef&, const PortRef&) = default;
};
int encode_port_ref(const PortRef&, NlBuf*);
int decode_port_ref(std::span<const uint8_t>, PortRef*, std::string* err);

struct PortStats {
  uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  uint64_t rx_drops = 0, tx_drops = 0, rx_errors = 0, tx_errors = 0;
  friend bool operator==(const PortStats&, const PortStats&) = default;
};
struct QueueStats {
  uint32_t queue_id = 0;
  bool tx = false;
  uint64_t packets = 0, bytes = 0, drops = 0;
  friend bool operator==(const QueueStats&, const QueueStats&) = default;
};
struct DropCount {
  std::string reason;
  uint64_t count = 0;
  friend bool operator==(const DropCount&, const DropCount&) = default;
};
struct PortInfo {
  uint32_t odp_port = 0;
  std::string name, type, devargs;
  std::vector<std::string> options;
  uint32_t n_rxq = 0, n_txq = 0;
  bool link_up = false;
  uint32_t link_speed_mbps = 0;
  uint32_t mtu = 0;
  std::array<uint8_t, 6> mac{};
  PortStats stats;
  std::vector<QueueStats> queues;
  std::vector<DropCount> drops;  // every drop reason of the port, zero or not
  // Named counters of the port type that are not drops (a tap's tx_gro_*).
  std::vector<DropCount> counters;
  friend bool operator==(const PortInfo&, const PortInfo&) = default;
};
// One port (PORT_ADD / PORT_GET reply).
int encode_port_info(const PortInfo&, NlBuf*);
int decode_port_info(std::span<const uint8_t>, PortInfo*, std::string* err);
// PORT_DUMP reply: all ports.
int encode_port_list(std::span<const PortInfo>, NlBuf*);
int decode_port_list(std::span<const uint8_t>, std::vector<PortInfo>*, std::string* err);

// ---------------------------------------------------------------- flows

struct FlowStats {
  uint64_t packets = 0, bytes = 0;
  uint64_t used_ms = 0;    // CLOCK_MONOTONIC ms of the last hit, 0 = never used
  uint16_t tcp_flags = 0;  // OR of the TCP flags seen, host order
  friend bool operator==(const FlowStats&, const FlowStats&) = default;
};

struct FlowPutEntry {
  Ufid ufid{};
  NlBuf key, mask, actions;              // OVS_KEY_ATTR_* / OVS_ACTION_ATTR_* sequences
  uint32_t flags = DPX_FLOW_PUT_CREATE;  // DPX_FLOW_PUT_*, at least CREATE or MODIFY
  friend bool operator==(const FlowPutEntry&, const FlowPutEntry&) = default;
};
struct FlowPutResult {
  Ufid ufid{};
  int error = 0;                       // 0 or positive errno for this entry
  std::optional<FlowStats> old_stats;  // stats before a modification, if one happened
  std::string message;                 // reason of the error, may be empty
  friend bool operator==(const FlowPutResult&, const FlowPutResult&) = default;
};
struct FlowDelResult {
  Ufid ufid{};
  int error = 0;                   // ENOENT if no such flow
  std::optional<FlowStats> stats;  // final stats of a deleted flow
  std::string message;
  friend bool operator==(const FlowDelResult&, const FlowDelResult&) = default;
};
struct FlowEntry {
  Ufid ufid{};
  NlBuf key, mask, actions;  // empty in a terse dump
  FlowStats stats;
  friend bool operator==(const FlowEntry&, const FlowEntry&) = default;
};

// FLOW_PUT request: one or more entries. The decoder reuses the entries
// already in its vector (their buffers keep their capacity) and leaves
// exactly the decoded ones.
int encode_flow_put_request(std::span<const FlowPutEntry>, NlBuf*);
int decode_flow_put_request(std::span<const uint8_t>, std::vector<FlowPutEntry>*, std::string* err);
int encode_flow_put_reply(std::span<const FlowPutResult>, NlBuf*);
int decode_flow_put_reply(std::span<const uint8_t>, std::vector<FlowPutResult>*, std::string* err);
// Encoded size of one FLOW_PUT entry, so callers can split batches so that
// each message stays under DPX_CTL_MAX_MSG.
size_t flow_put_entry_encoded_size(const FlowPutEntry&);

// FLOW_DEL request: one or more ufids.
int encode_flow_del_request(std::span<const Ufid>, NlBuf*);
int decode_flow_del_request(std::span<const uint8_t>, std::vector<Ufid>*, std::string* err);
int encode_flow_del_reply(std::span<const FlowDelResult>, NlBuf*);
int decode_flow_del_reply(std::span<const uint8_t>, std::vector<FlowDelResult>*, std::string* err);

// FLOW_GET: one ufid in, one FlowEntry out.
int encode_flow_get_request(const Ufid&, NlBuf*);
int decode_flow_get_request(std::span<const uint8_t>, Ufid*, std::string* err);
int encode_flow_entry(const FlowEntry&, NlBuf*);
int decode_flow_entry(std::span<const uint8_t>, FlowEntry*, std::string* err);

struct FlowDumpRequest {
  uint64_t cursor = 0;       // 0 = from the start; else a next_cursor from a reply
  uint32_t max_entries = 0;  // 0 = as many as fit in one reply
  bool terse = false;        // only ufid and stats
  friend bool operator==(const FlowDumpRequest&, const FlowDumpRequest&) = default;
};
struct FlowDumpReply {
  std::vector<FlowEntry> flows;
  uint64_t next_cursor = 0;  // 0 = the dump is complete
  friend bool operator==(const FlowDumpReply&, const FlowDumpReply&) = default;
};
int encode_flow_dump_request(const FlowDumpRequest&, NlBuf*);
int decode_flow_dump_request(std::span<const uint8_t>, FlowDumpRequest*, std::string* err);
int encode_flow_dump_reply(const FlowDumpReply&, NlBuf*);
int decode_flow_dump_reply(std::span<const uint8_t>, FlowDumpReply*, std::string* err);
// Encoded size of one entry inside a FLOW_DUMP / FLOW_GET reply, for the
// datapath to fill a dump reply up to a byte budget.
size_t flow_entry_encoded_size(const FlowEntry&);

// ---------------------------------------------------------------- execute

struct ExecuteRequest {
  NlBuf packet;   // Ethernet frame, 1..DPX_CTL_MAX_ATTR_PAYLOAD bytes
  NlBuf key;      // OVS_KEY_ATTR_* metadata (in_port, recirc_id, tunnel, ...)
  NlBuf actions;  // OVS_ACTION_ATTR_* to apply
  bool probe = false;
  friend bool operator==(const ExecuteRequest&, const ExecuteRequest&) = default;
};
int encode_execute_request(const ExecuteRequest&, NlBuf*);
int decode_execute_request(std::span<const uint8_t>, ExecuteRequest*, std::string* err);

// ---------------------------------------------------------------- statistics

struct DpStats {
  uint64_t hit = 0, missed = 0, lost = 0;
  uint64_t n_flows = 0, n_masks = 0, mask_hit = 0;
  uint64_t upcall_queue_drops = 0, emc_hit = 0, flow_limit = 0;
  friend bool operator==(const DpStats&, const DpStats&) = default;
};
int encode_dp_stats(const DpStats&, NlBuf*);
int decode_dp_stats(std::span<const uint8_t>, DpStats*, std::string* err);

struct PmdStats {
  uint32_t core = 0, numa = 0;
  uint64_t packets = 0, passes = 0, emc_hits = 0, megaflow_hits = 0;
  uint64_t upcalls = 0, lost = 0, busy_cycles = 0, idle_cycles = 0;
  uint64_t sleeps = 0, sleep_us = 0, rx_batches = 0;
  uint64_t recirculations = 0;
  uint64_t masks_visited = 0;  // subtables searched (a hit in the k-th counts k, a miss all)
  uint64_t flow_jobs = 0;      // flow jobs (put/execute runs, upcall drains) run on this PMD
  uint64_t hold_timeouts = 0;  // upcalls in flight not answered in time (pmd.h, "In-flight misses")
  std::string cpu_isa;         // cpu_isa_name() of the lookups' vector level; empty: not sent
  std::vector<DropCount> drops;  // every drop reason of the PMD's stages, zero or not
  friend bool operator==(const PmdStats&, const PmdStats&) = default;
};
int encode_pmd_stats(std::span<const PmdStats>, NlBuf*);
int decode_pmd_stats(std::span<const uint8_t>, std::vector<PmdStats>*, std::string* err);

// ---------------------------------------------------------------- settings

// DP_SET: each present field is applied, absent ones are left alone.
struct DpConfig {
  std::optional<uint32_t> flow_limit;
  std::optional<bool> emc_enable;
  std::optional<uint32_t> pmd_sleep_max_us;
  friend bool operator==(const DpConfig&, const DpConfig&) = default;
};
int encode_dp_config(const DpConfig&, NlBuf*);
int decode_dp_config(std::span<const uint8_t>, DpConfig*, std::string* err);

// ---------------------------------------------------------------- upcalls

struct UpcallSubscribeRequest {
  uint32_t mode = DPX_UPCALL_SHARE;  // enum dpx_upcall_mode
  friend bool operator==(const UpcallSubscribeRequest&, const UpcallSubscribeRequest&) = default;
};
int encode_upcall_subscribe(const UpcallSubscribeRequest&, NlBuf*);
int decode_upcall_subscribe(std::span<const uint8_t>, UpcallSubscribeRequest*, std::string* err);

struct Upcall {
  uint32_t type = DPX_UPCALL_MISS;  // enum dpx_upcall_type
  uint32_t pid = 0;                 // userspace(pid=) for action upcalls
  uint32_t in_port = 0, recirc_id = 0, dp_hash = 0, skb_mark = 0;
  uint32_t mru = 0;
  NlBuf packet;                   // the frame, required
  NlBuf key;                      // OVS_KEY_ATTR_* as dpxd extracted them, required
  std::optional<NlBuf> tunnel;    // OVS_TUNNEL_KEY_ATTR_* if the packet came from a tunnel
  std::optional<NlBuf> userdata;  // userspace(userdata=)
  std::optional<NlBuf> actions;   // the actions being executed, for action upcalls
  friend bool operator==(const Upcall&, const Upcall&) = default;
};
int encode_upcall(const Upcall&, NlBuf*);
int decode_upcall(std::span<const uint8_t>, Upcall*, std::string* err);

}  // namespace dpx
