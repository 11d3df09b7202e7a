// Blocking client of dpxd's control socket, for dpxctl, tests and the OVS
// dpif provider. One request at a time per client: each call sends a request
// and waits for its reply.
//
// Return convention: every call returns 0 or a positive errno. A failure
// reported by dpxd returns its errno and its DPX_CTL_A_ERROR_MSG in *err; a
// local or transport failure (ECONNRESET, EPROTO for a reply that does not
// decode, ...) returns that errno with a description in *err. err is never
// null. After a transport failure or EPROTO the connection is closed and
// the client must reconnect.
//
// Upcalls: after upcall_subscribe() the server also pushes UPCALL messages
// on this connection. recv_upcall() returns them; a call made meanwhile
// keeps the upcalls that arrive before its reply for later recv_upcall()s.
//
// Threading: a ControlClient is used by one thread at a time. Use one
// client per thread (dpxd accepts many connections).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "control_msg.h"

namespace dpx {

class ControlClient {
 public:
  ControlClient() = default;
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;
  // Moving transfers the connection; the source is left closed.
  ControlClient(ControlClient&& o) noexcept { *this = std::move(o); }
  ControlClient& operator=(ControlClient&& o) noexcept;

  // Connects to the server's socket; then negotiates the version with
  // HELLO unless hello is false (tests speaking raw bytes).
  int connect(const std::string& path, std::string* err, bool hello = true);
  void close();
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  // The server's HELLO reply (valid after connect() with hello).
  const HelloReply& server() const { return server_; }

  int hello(HelloReply* out, std::string* err);

  int port_add(const PortAddRequest& req, PortInfo* out, std::string* err);
  int port_del(const PortRef& port, std::string* err);
  int port_get(const PortRef& port, PortInfo* out, std::string* err);
  int port_dump(std::vector<PortInfo>* out, std::string* err);

  // Puts any number of flows: the batch is split into as many FLOW_PUT
  // messages as the size limit requires. *results gets one entry per input
  // entry, in order. Returns non-zero only if a whole message failed (then
  // *results holds what completed before it).
  int flow_put(std::span<const FlowPutEntry> entries, std::vector<FlowPutResult>* results,
               std::string* err);
  // Deletes flows by ufid, split like flow_put.
  int flow_del(std::span<const Ufid> ufids, std::vector<FlowDelResult>* results, std::string* err);
  int flow_get(const Ufid& ufid, FlowEntry* out, std::string* err);
  // One dump batch (see ControlHandler::flow_dump).
  int flow_dump(const FlowDumpRequest& req, FlowDumpReply* out, std::string* err);
  // A whole dump: calls fn for every flow, batch after batch; fn returning
  // false stops early (not an error).
  int flow_dump_all(bool terse, const std::function<bool(const FlowEntry&)>& fn, std::string* err);
  int flow_flush(std::string* err);
  int execute(const ExecuteRequest& req, std::string* err);
  // Pipelined executes: every request is sent, then every reply read, so a
  // batch costs one round trip. errors[i] and (*messages)[i] get request
  // i's result. Returns 0, or a transport or protocol failure (the
  // connection is then closed and the per-request results are not set).
  int execute_batch(std::span<const ExecuteRequest> reqs, std::span<int> errors,
                    std::vector<std::string>* messages, std::string* err);
  // Flow puts then executes in one round trip (what OVS's upcall handlers
  // send per batch): the FLOW_PUT messages and every EXECUTE go in one
  // write, and the server handles them in that order, so the executes run
  // after the flows are in. *put_results as for flow_put(), errors and
  // *messages as for execute_batch(). Returns 0; a FLOW_PUT message's own
  // error (the executes' results are still set, *put_results holds what
  // completed before it); or a transport or protocol failure (connection
  // closed, results not set).
  int flow_put_execute(std::span<const FlowPutEntry> puts, std::vector<FlowPutResult>* put_results,
                       std::span<const ExecuteRequest> execs, std::span<int> errors,
                       std::vector<std::string>* messages, std::string* err);
  int dp_stats(DpStats* out, std::string* err);
  int pmd_stats(std::vector<PmdStats>* out, std::string* err);
  int pmd_stats_clear(std::string* err);
  int dp_set(const DpConfig& cfg, std::string* err);

  // Turns this connection into an upcall stream (mode: enum dpx_upcall_mode).
  int upcall_subscribe(uint32_t mode, std::string* err);
  // Waits for the next upcall. *seq (if not null) gets its sequence
  // number: a gap means the server dropped upcalls for this connection.
  int recv_upcall(Upcall* out, std::string* err, uint32_t* seq = nullptr);

  // Sends a request of any type with a raw body and returns the reply's
  // error and body. For tests and for messages this class has no call for.
  int transact(uint16_t type, std::span<const uint8_t> body, NlBuf* reply_body, std::string* err);

 private:
  // A request whose reply has no body.
  int transact_no_body(uint16_t type, std::span<const uint8_t> body, std::string* err);
  int send_all(std::span<const uint8_t> bytes, std::string* err);
  // Reads up to the reply of request `id` (queueing pushed upcalls).
  int recv_reply(uint16_t type, uint32_t id, NlBuf* reply_body, std::string* err);
  // Reads one whole message into *msg (header + body).
  int recv_message(CtlHeader* h, NlBuf* msg, std::string* err);
  int fail(int e, const std::string& what, std::string* err);

  int fd_ = -1;
  uint32_t next_id_ = 1;
  uint16_t version_ = DPX_CTL_VERSION_MAX;
  HelloReply server_;
  NlBuf rbuf_;  // bytes received, not yet returned as a message, from rpos_
  // Buffers of the batched exchanges (execute_batch, flow_put_execute) and
  // of recv_reply(), kept so that they keep their capacity.
  NlBuf out_scratch_, body_scratch_, msg_scratch_, reply_scratch_;
  std::vector<std::pair<uint32_t, size_t>> put_msgs_scratch_;
  std::vector<FlowPutResult> put_part_scratch_;
  size_t rpos_ = 0;                     // where the next message starts in rbuf_
  std::unique_ptr<uint8_t[]> scratch_;  // one read's bytes (not zero-filled)
  struct PendingUpcall {
    uint32_t seq;
    NlBuf body;
  };
  std::deque<PendingUpcall> upcalls_;
};

}  // namespace dpx
