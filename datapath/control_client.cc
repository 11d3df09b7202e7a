#include "control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dpx {

namespace {

// Batches are cut below the maximum message size with room for the header.
constexpr size_t kBatchBudget = DPX_CTL_MAX_MSG - DPX_CTL_HDR_LEN - 256;

}  // namespace

ControlClient::~ControlClient() { close(); }

ControlClient& ControlClient::operator=(ControlClient&& o) noexcept {
  if (this == &o) return *this;
  close();
  fd_ = o.fd_;
  next_id_ = o.next_id_;
  version_ = o.version_;
  server_ = std::move(o.server_);
  rbuf_ = std::move(o.rbuf_);
  rpos_ = o.rpos_;
  scratch_ = std::move(o.scratch_);
  upcalls_ = std::move(o.upcalls_);
  o.fd_ = -1;
  o.rbuf_.clear();
  o.rpos_ = 0;
  o.upcalls_.clear();
  return *this;
}

void ControlClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rbuf_.clear();
  rpos_ = 0;
  upcalls_.clear();
}

int ControlClient::fail(int e, const std::string& what, std::string* err) {
  *err = what;
  close();
  return e;
}

int ControlClient::connect(const std::string& path, std::string* err, bool hello) {
  close();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) {
    *err = "socket path too long or empty: " + path;
    return ENAMETOOLONG;
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::string("socket: ") + std::strerror(errno);
    return errno;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd);
    *err = "connect " + path + ": " + std::strerror(e);
    return e;
  }
  fd_ = fd;
  if (!hello) return 0;
  return this->hello(&server_, err);
}

int ControlClient::hello(HelloReply* out, std::string* err) {
  HelloRequest req;
  req.software = "dpx client";
  NlBuf body, reply;
  encode_hello_request(req, &body);
  if (int e = transact(DPX_CTL_HELLO, body, &reply, err)) return e;
  if (decode_hello_reply(reply, out, err)) return fail(EPROTO, *err, err);
  version_ = static_cast<uint16_t>(out->version);
  return 0;
}

int ControlClient::send_all(std::span<const uint8_t> bytes, std::string* err) {
  while (!bytes.empty()) {
    ssize_t w = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      return fail(e, std::string("send: ") + std::strerror(e), err);
    }
    bytes = bytes.subspan(size_t(w));
  }
  return 0;
}

int ControlClient::recv_message(CtlHeader* h, NlBuf* msg, std::string* err) {
  constexpr size_t kChunk = 64 * 1024;
  for (;;) {
    std::span<const uint8_t> avail(rbuf_.data() + rpos_, rbuf_.size() - rpos_);
    FrameStatus st = ctl_frame(avail, h);
    if (st == FrameStatus::kBroken) return fail(EPROTO, "server sent a broken frame", err);
    if (st == FrameStatus::kComplete) {
      // Consumed by offset: the replies of a pipelined batch arrive in one
      // read, and erasing each from the front would move the rest.
      msg->assign(avail.begin(), avail.begin() + h->length);
      rpos_ += h->length;
      if (rpos_ == rbuf_.size()) rbuf_.clear(), rpos_ = 0;
      return 0;
    }
    if (rpos_) {
      rbuf_.erase(rbuf_.begin(), rbuf_.begin() + static_cast<ptrdiff_t>(rpos_));
      rpos_ = 0;
    }
    // Read into a scratch chunk and append what arrived: resizing rbuf_ for
    // a whole chunk would zero 64 KB per read.
    if (!scratch_) scratch_ = std::make_unique_for_overwrite<uint8_t[]>(kChunk);
    ssize_t r = read(fd_, scratch_.get(), kChunk);
    if (r > 0) rbuf_.insert(rbuf_.end(), scratch_.get(), scratch_.get() + r);
    if (r == 0) return fail(ECONNRESET, "connection closed by the server", err);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      return fail(e, std::string("read: ") + std::strerror(e), err);
    }
  }
}

int ControlClient::transact(uint16_t type, std::span<const uint8_t> body, NlBuf* reply_body,
                            std::string* err) {
  err->clear();
  if (fd_ < 0) {
    *err = "not connected";
    return ENOTCONN;
  }
  uint32_t id = next_id_++;
  NlBuf msg;
  if (ctl_append_message(&msg, {0, version_, type, id, 0, 0}, body) != 0) {
    *err = "request too large";
    return EMSGSIZE;
  }
  if (int e = send_all(msg, err)) return e;
  return recv_reply(type, id, reply_body, err);
}

int ControlClient::recv_reply(uint16_t type, uint32_t id, NlBuf* reply_body, std::string* err) {
  NlBuf& msg = msg_scratch_;
  for (;;) {
    CtlHeader h;
    if (int e = recv_message(&h, &msg, err)) return e;
    std::span<const uint8_t> b(msg.data() + DPX_CTL_HDR_LEN, msg.size() - DPX_CTL_HDR_LEN);
    if (h.type == DPX_CTL_UPCALL && (h.flags & DPX_CTL_F_PUSH)) {
      upcalls_.push_back({h.request_id, NlBuf(b.begin(), b.end())});
      continue;
    }
    if (!(h.flags & DPX_CTL_F_REPLY) || h.request_id != id || h.type != type)
      return fail(EPROTO, "unexpected message from the server", err);
    if (h.error < 0 || h.error > 4095) return fail(EPROTO, "bad error code in reply", err);
    if (h.error) {
      *err = decode_error_body(b);
      if (err->empty()) *err = std::strerror(h.error);
      return h.error;
    }
    reply_body->assign(b.begin(), b.end());
    return 0;
  }
}

int ControlClient::execute_batch(std::span<const ExecuteRequest> reqs, std::span<int> errors,
                                 std::vector<std::string>* messages, std::string* err) {
  err->clear();
  if (fd_ < 0) {
    *err = "not connected";
    return ENOTCONN;
  }
  // Every request first, in one write, then the replies in order: dpxd
  // answers a connection's requests in the order they came.
  NlBuf& msgs = out_scratch_;
  NlBuf& body = body_scratch_;
  msgs.clear();
  const uint32_t first = next_id_;
  for (const ExecuteRequest& r : reqs) {
    body.clear();
    if (encode_execute_request(r, &body)) return *err = "packet too large", EMSGSIZE;
    if (ctl_append_message(&msgs, {0, version_, DPX_CTL_EXECUTE, next_id_++, 0, 0}, body) != 0)
      return *err = "request too large", EMSGSIZE;
  }
  if (int e = send_all(msgs, err)) return e;
  messages->assign(reqs.size(), {});
  for (size_t i = 0; i < reqs.size(); ++i) {
    NlBuf& reply = reply_scratch_;
    std::string m;
    const int e = recv_reply(DPX_CTL_EXECUTE, first + static_cast<uint32_t>(i), &reply, &m);
    if (fd_ < 0) return *err = m, e;  // transport or protocol failure: the connection is gone
    errors[i] = e;
    (*messages)[i] = std::move(m);
  }
  return 0;
}

int ControlClient::flow_put_execute(std::span<const FlowPutEntry> puts,
                                    std::vector<FlowPutResult>* put_results,
                                    std::span<const ExecuteRequest> execs, std::span<int> errors,
                                    std::vector<std::string>* messages, std::string* err) {
  err->clear();
  put_results->clear();
  if (fd_ < 0) {
    *err = "not connected";
    return ENOTCONN;
  }
  // The FLOW_PUT messages (split by size as in flow_put()), then every
  // EXECUTE, in one write; then the replies, in that order. The buffers are
  // the connection's, kept with their capacity: an OVS handler makes one
  // such exchange per batch, and fresh buffers of tens of KB each time made
  // glibc grow and trim its heap (mprotect and page faults) per batch.
  NlBuf& msgs = out_scratch_;
  NlBuf& body = body_scratch_;
  msgs.clear();
  auto& put_msgs = put_msgs_scratch_;  // request id, entries
  put_msgs.clear();
  for (size_t i = 0; i < puts.size();) {
    size_t n = 0, bytes = 0;
    while (i + n < puts.size()) {
      size_t s = flow_put_entry_encoded_size(puts[i + n]);
      if (n > 0 && bytes + s > kBatchBudget) break;
      bytes += s;
      n++;
    }
    body.clear();
    if (encode_flow_put_request(puts.subspan(i, n), &body))
      return *err = "flow entry too large", EMSGSIZE;
    put_msgs.emplace_back(next_id_, n);
    if (ctl_append_message(&msgs, {0, version_, DPX_CTL_FLOW_PUT, next_id_++, 0, 0}, body) != 0)
      return *err = "request too large", EMSGSIZE;
    i += n;
  }
  const uint32_t first_exec = next_id_;
  for (const ExecuteRequest& r : execs) {
    body.clear();
    if (encode_execute_request(r, &body)) return *err = "packet too large", EMSGSIZE;
    if (ctl_append_message(&msgs, {0, version_, DPX_CTL_EXECUTE, next_id_++, 0, 0}, body) != 0)
      return *err = "request too large", EMSGSIZE;
  }
  if (int e = send_all(msgs, err)) return e;
  // Every reply is read even after a failed FLOW_PUT, so that the
  // connection stays in step.
  int put_error = 0;
  std::string put_msg;
  for (const auto& [id, n] : put_msgs) {
    NlBuf& reply = reply_scratch_;
    std::string m;
    const int e = recv_reply(DPX_CTL_FLOW_PUT, id, &reply, &m);
    if (fd_ < 0) return *err = m, e;
    std::vector<FlowPutResult>& part = put_part_scratch_;
    part.clear();
    if (!e && decode_flow_put_reply(reply, &part, &m)) return fail(EPROTO, m, err);
    if (!e && part.size() != n)
      return fail(EPROTO, "FLOW_PUT reply has the wrong entry count", err);
    if (e && !put_error) put_error = e, put_msg = m;
    if (put_error) continue;  // *put_results holds what completed before
    for (auto& r : part) put_results->push_back(std::move(r));
  }
  messages->assign(execs.size(), {});
  for (size_t i = 0; i < execs.size(); ++i) {
    NlBuf& reply = reply_scratch_;
    std::string m;
    const int e = recv_reply(DPX_CTL_EXECUTE, first_exec + static_cast<uint32_t>(i), &reply, &m);
    if (fd_ < 0) return *err = m, e;
    errors[i] = e;
    (*messages)[i] = std::move(m);
  }
  if (put_error) *err = put_msg;
  return put_error;
}

int ControlClient::transact_no_body(uint16_t type, std::span<const uint8_t> body,
                                    std::string* err) {
  NlBuf reply;
  return transact(type, body, &reply, err);
}

int ControlClient::port_add(const PortAddRequest& req, PortInfo* out, std::string* err) {
  NlBuf body, reply;
  if (encode_port_add_request(req, &body)) return *err = "request too large", EMSGSIZE;
  if (int e = transact(DPX_CTL_PORT_ADD, body, &reply, err)) return e;
  if (decode_port_info(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::port_del(const PortRef& port, std::string* err) {
  NlBuf body, reply;
  if (encode_port_ref(port, &body)) return *err = "request too large", EMSGSIZE;
  return transact(DPX_CTL_PORT_DEL, body, &reply, err);
}

int ControlClient::port_get(const PortRef& port, PortInfo* out, std::string* err) {
  NlBuf body, reply;
  if (encode_port_ref(port, &body)) return *err = "request too large", EMSGSIZE;
  if (int e = transact(DPX_CTL_PORT_GET, body, &reply, err)) return e;
  if (decode_port_info(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::port_dump(std::vector<PortInfo>* out, std::string* err) {
  NlBuf reply;
  if (int e = transact(DPX_CTL_PORT_DUMP, {}, &reply, err)) return e;
  if (decode_port_list(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::flow_put(std::span<const FlowPutEntry> entries,
                            std::vector<FlowPutResult>* results, std::string* err) {
  results->clear();
  size_t i = 0;
  while (i < entries.size()) {
    // Take as many entries as fit in one message.
    size_t n = 0, bytes = 0;
    while (i + n < entries.size()) {
      size_t s = flow_put_entry_encoded_size(entries[i + n]);
      if (n > 0 && bytes + s > kBatchBudget) break;
      bytes += s;
      n++;
    }
    NlBuf body, reply;
    if (encode_flow_put_request(entries.subspan(i, n), &body))
      return *err = "flow entry too large", EMSGSIZE;
    if (int e = transact(DPX_CTL_FLOW_PUT, body, &reply, err)) return e;
    std::vector<FlowPutResult> part;
    if (decode_flow_put_reply(reply, &part, err)) return fail(EPROTO, *err, err);
    if (part.size() != n) return fail(EPROTO, "FLOW_PUT reply has the wrong entry count", err);
    for (auto& r : part) results->push_back(std::move(r));
    i += n;
  }
  return 0;
}

int ControlClient::flow_del(std::span<const Ufid> ufids, std::vector<FlowDelResult>* results,
                            std::string* err) {
  results->clear();
  // Each FLOW{UFID} nest is 24 bytes; each result at most ~100 plus a
  // message. 4096 per message keeps both directions far below the limit.
  constexpr size_t kPerMsg = 4096;
  for (size_t i = 0; i < ufids.size(); i += kPerMsg) {
    auto part_in = ufids.subspan(i, std::min(kPerMsg, ufids.size() - i));
    NlBuf body, reply;
    encode_flow_del_request(part_in, &body);
    if (int e = transact(DPX_CTL_FLOW_DEL, body, &reply, err)) return e;
    std::vector<FlowDelResult> part;
    if (decode_flow_del_reply(reply, &part, err)) return fail(EPROTO, *err, err);
    if (part.size() != part_in.size())
      return fail(EPROTO, "FLOW_DEL reply has the wrong entry count", err);
    for (auto& r : part) results->push_back(std::move(r));
  }
  return 0;
}

int ControlClient::flow_get(const Ufid& ufid, FlowEntry* out, std::string* err) {
  NlBuf body, reply;
  encode_flow_get_request(ufid, &body);
  if (int e = transact(DPX_CTL_FLOW_GET, body, &reply, err)) return e;
  if (decode_flow_entry(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::flow_dump(const FlowDumpRequest& req, FlowDumpReply* out, std::string* err) {
  NlBuf body, reply;
  encode_flow_dump_request(req, &body);
  if (int e = transact(DPX_CTL_FLOW_DUMP, body, &reply, err)) return e;
  if (decode_flow_dump_reply(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::flow_dump_all(bool terse, const std::function<bool(const FlowEntry&)>& fn,
                                 std::string* err) {
  FlowDumpRequest req;
  req.terse = terse;
  do {
    FlowDumpReply rep;
    if (int e = flow_dump(req, &rep, err)) return e;
    for (const auto& f : rep.flows)
      if (!fn(f)) return 0;
    // A server that returns no flows and a non-zero cursor would loop us
    // forever; the contract says a batch is never empty before the end.
    if (rep.flows.empty() && rep.next_cursor != 0)
      return fail(EPROTO, "empty FLOW_DUMP batch before the end", err);
    req.cursor = rep.next_cursor;
  } while (req.cursor != 0);
  return 0;
}

int ControlClient::flow_flush(std::string* err) {
  return transact_no_body(DPX_CTL_FLOW_FLUSH, {}, err);
}

int ControlClient::execute(const ExecuteRequest& req, std::string* err) {
  NlBuf body;
  if (encode_execute_request(req, &body)) return *err = "packet too large", EMSGSIZE;
  return transact_no_body(DPX_CTL_EXECUTE, body, err);
}

int ControlClient::dp_stats(DpStats* out, std::string* err) {
  NlBuf reply;
  if (int e = transact(DPX_CTL_DP_STATS, {}, &reply, err)) return e;
  if (decode_dp_stats(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::pmd_stats(std::vector<PmdStats>* out, std::string* err) {
  NlBuf reply;
  if (int e = transact(DPX_CTL_PMD_STATS, {}, &reply, err)) return e;
  if (decode_pmd_stats(reply, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

int ControlClient::pmd_stats_clear(std::string* err) {
  return transact_no_body(DPX_CTL_PMD_STATS_CLEAR, {}, err);
}

int ControlClient::dp_set(const DpConfig& cfg, std::string* err) {
  NlBuf body;
  encode_dp_config(cfg, &body);
  return transact_no_body(DPX_CTL_DP_SET, body, err);
}

int ControlClient::upcall_subscribe(uint32_t mode, std::string* err) {
  NlBuf body;
  encode_upcall_subscribe({mode}, &body);
  return transact_no_body(DPX_CTL_UPCALL_SUBSCRIBE, body, err);
}

int ControlClient::recv_upcall(Upcall* out, std::string* err, uint32_t* seq) {
  if (upcalls_.empty()) {
    if (fd_ < 0) {
      *err = "not connected";
      return ENOTCONN;
    }
    CtlHeader h;
    NlBuf msg;
    if (int e = recv_message(&h, &msg, err)) return e;
    if (h.type != DPX_CTL_UPCALL || !(h.flags & DPX_CTL_F_PUSH))
      return fail(EPROTO, "expected an UPCALL message", err);
    upcalls_.push_back({h.request_id, NlBuf(msg.begin() + DPX_CTL_HDR_LEN, msg.end())});
  }
  PendingUpcall p = std::move(upcalls_.front());
  upcalls_.pop_front();
  if (seq) *seq = p.seq;
  if (decode_upcall(p.body, out, err)) return fail(EPROTO, *err, err);
  return 0;
}

}  // namespace dpx
