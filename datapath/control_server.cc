#include "control_server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dpx {

namespace {

constexpr uint64_t kListenId = 0;
constexpr uint64_t kEventId = 1;
constexpr size_t kReadChunk = 64 * 1024;
// Room left in a FLOW_DUMP reply for the cursor attribute after the flows.
constexpr size_t kDumpBudget = DPX_CTL_MAX_MSG - DPX_CTL_HDR_LEN - 64;

enum class SubMode { kNone, kShare, kMonitor };

int fill_sockaddr(const std::string& path, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa->sun_path) return ENAMETOOLONG;
  std::memcpy(sa->sun_path, path.c_str(), path.size() + 1);
  return 0;
}

std::string errstr(const std::string& what, int e) { return what + ": " + std::strerror(e); }

// Requests that may run before the executes queued ahead of them have run
// (ControlHandler's ordering contract): executes themselves, the flow-table
// requests, whose answers an execute does not change, and the session's own
// messages. Every other type, including any added later, waits at the
// barrier first.
bool may_overtake_executes(uint16_t type) {
  switch (type) {
    case DPX_CTL_HELLO:
    case DPX_CTL_EXECUTE:
    case DPX_CTL_FLOW_PUT:
    case DPX_CTL_FLOW_DEL:
    case DPX_CTL_FLOW_GET:
    case DPX_CTL_FLOW_DUMP:
    case DPX_CTL_UPCALL_SUBSCRIBE:
      return true;
    default:
      return false;
  }
}

}  // namespace

struct ControlServer::Conn {
  uint64_t id = 0;
  int fd = -1;
  uint32_t events = 0;  // what epoll currently watches
  NlBuf in;             // received bytes not yet handled, from in_off
  size_t in_off = 0;
  NlBuf out;  // bytes to send, from out_off
  size_t out_off = 0;
  uint16_t version = DPX_CTL_VERSION_MAX;  // replies use it; HELLO sets it
  SubMode sub = SubMode::kNone;
  uint32_t upcall_seq = 0;  // request_id of pushed upcalls; counts drops too
  bool eof = false;
  bool pushed = false;  // in pushed_: upcalls queued since the last send

  size_t out_pending() const { return out.size() - out_off; }
};

ControlServer::ControlServer(ControlHandler* handler, ControlServerOptions opts)
    : handler_(handler),
      opts_(std::move(opts)),
      read_buf_(std::make_unique_for_overwrite<uint8_t[]>(kReadChunk)) {
  // The epoll set and the eventfd live as long as the object, so wakeup()
  // from another thread never races with their creation or destruction.
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ >= 0 && event_fd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kEventId;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev);
  }
}

ControlServer::~ControlServer() {
  close();
  if (event_fd_ >= 0) ::close(event_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

int ControlServer::open(const std::string& path, std::string* err) {
  if (epoll_fd_ < 0 || event_fd_ < 0) {
    *err = "epoll/eventfd creation failed";
    return ENOMEM;
  }
  if (listen_fd_ >= 0) {
    *err = "already open on " + path_;
    return EBUSY;
  }
  sockaddr_un sa;
  if (int e = fill_sockaddr(path, &sa)) {
    *err = "socket path too long or empty: " + path;
    return e;
  }
  // A socket file may be left over from a dpxd that died. Replace it only if
  // nothing answers on it, so a second dpxd cannot steal a live one's socket.
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *err = path + " exists and is not a socket";
      return EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
      *err = errstr("socket", errno);
      return errno;
    }
    int r = connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int e = errno;
    ::close(probe);
    if (r == 0) {
      *err = path + " is in use by a running server";
      return EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
      *err = errstr("probing " + path, e);
      return e;
    }
    unlink(path.c_str());
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errstr("socket", errno);
    return errno;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    ::close(fd);
    *err = errstr("bind " + path, e);
    return e;
  }
  // chmod between bind() and listen(): until listen() nobody can connect, so
  // there is no window in which the socket is reachable with looser mode.
  if (chmod(path.c_str(), opts_.socket_mode) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    ::close(fd);
    unlink(path.c_str());
    *err = errstr("chmod/listen " + path, e);
    return e;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenId;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    int e = errno;
    ::close(fd);
    unlink(path.c_str());
    *err = errstr("epoll_ctl", e);
    return e;
  }
  listen_fd_ = fd;
  path_ = path;
  return 0;
}

void ControlServer::close() {
  while (!conns_.empty()) close_conn(conns_.begin()->first);
  to_close_.clear();
  if (listen_fd_ >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    ::close(listen_fd_);
    listen_fd_ = -1;
    unlink(path_.c_str());
    path_.clear();
  }
}

void ControlServer::wakeup() {
  uint64_t one = 1;
  if (event_fd_ >= 0) {
    // A full counter (EAGAIN) already means "wake up"; nothing to do then.
    ssize_t r = write(event_fd_, &one, sizeof one);
    (void)r;
  }
}

void ControlServer::run_once(int timeout_ms) {
  // Upcalls published between two rounds (the datapath's drain) go out
  // before waiting.
  send_pushed();
  epoll_event evs[64];
  int n = epoll_wait(epoll_fd_, evs, 64, timeout_ms);
  for (int i = 0; i < n; i++) {
    uint64_t id = evs[i].data.u64;
    if (id == kListenId) {
      accept_all();
    } else if (id == kEventId) {
      uint64_t v;
      ssize_t r = read(event_fd_, &v, sizeof v);
      (void)r;
    } else {
      // The connection may have been closed by an earlier event of this
      // round (e.g. a failed send while pushing an upcall).
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn* c = it->second.get();
      if (evs[i].events & EPOLLOUT) flush(c);
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) handle_readable(c);
    }
  }
  send_pushed();  // upcalls that requests published (tests' handlers)
  for (uint64_t id : to_close_) close_conn(id);
  to_close_.clear();
}

void ControlServer::accept_all() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an error that the next event retries
    if (conns_.size() >= opts_.max_connections) {
      stats_.connections_refused++;
      ::close(fd);
      continue;
    }
    auto c = std::make_unique<Conn>();
    c->id = next_id_++;
    c->fd = fd;
    c->events = EPOLLIN;
    epoll_event ev{};
    ev.events = c->events;
    ev.data.u64 = c->id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      ::close(fd);
      continue;
    }
    stats_.connections_accepted++;
    conns_.emplace(c->id, std::move(c));
  }
}

void ControlServer::close_conn(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->fd, nullptr);
  ::close(it->second->fd);
  std::erase(share_subs_, id);
  std::erase(monitor_subs_, id);
  conns_.erase(it);
}

void ControlServer::handle_readable(Conn* c) {
  // Read only when every complete message already buffered has been
  // handled (process_input() stops early only when the output is over the
  // limit), so the input buffer never holds more than one partial message
  // plus one read.
  if (c->out_pending() < opts_.output_limit && !c->eof) {
    // One read per event keeps connections fair; level-triggered epoll
    // reports the rest on the next round. Appending only what arrived
    // costs a copy of it, where resizing the input buffer for a whole
    // chunk would zero 64 KB per read.
    ssize_t r = read(c->fd, read_buf_.get(), kReadChunk);
    if (r > 0) c->in.insert(c->in.end(), read_buf_.get(), read_buf_.get() + r);
    if (r == 0) {
      c->eof = true;
    } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
      to_close_.push_back(c->id);
      return;
    }
  }
  if (!process_input(c)) return;
  flush(c);
  if (c->eof) {
    // The client will send nothing more; what could be sent now was sent.
    to_close_.push_back(c->id);
  }
}

bool ControlServer::process_input(Conn* c) {
  // Handle every complete message, unless the client is not reading its
  // replies: then leave the rest in the input buffer until flush() drains.
  while (c->out_pending() < opts_.output_limit) {
    CtlHeader h;
    std::span<const uint8_t> avail(c->in.data() + c->in_off, c->in.size() - c->in_off);
    FrameStatus st = ctl_frame(avail, &h);
    if (st == FrameStatus::kBroken) {
      // The stream has no recoverable message boundary any more.
      stats_.framing_errors++;
      to_close_.push_back(c->id);
      c->in.clear();
      c->in_off = 0;
      return false;
    }
    if (st == FrameStatus::kIncomplete) break;
    if (h.type == DPX_CTL_FLOW_PUT || h.type == DPX_CTL_EXECUTE) {
      process_flow_run(c);
      continue;
    }
    handle_message(c, h, avail.subspan(DPX_CTL_HDR_LEN, h.length - DPX_CTL_HDR_LEN));
    c->in_off += h.length;
  }
  if (c->in_off == c->in.size()) {
    c->in.clear();
    c->in_off = 0;
  } else if (c->in_off > kReadChunk) {
    c->in.erase(c->in.begin(), c->in.begin() + static_cast<ptrdiff_t>(c->in_off));
    c->in_off = 0;
  }
  return true;
}

void ControlServer::process_flow_run(Conn* c) {
  // The run: the complete FLOW_PUT and EXECUTE messages from c->in_off on,
  // as ovs-vswitchd's handlers send a batch's puts and executes in one
  // write; at least the first one.
  size_t end = c->in_off, n = 0, executes = 0;
  while (n < kMaxFlowRun) {
    CtlHeader h;
    std::span<const uint8_t> avail(c->in.data() + end, c->in.size() - end);
    if (ctl_frame(avail, &h) != FrameStatus::kComplete) break;
    if (h.type != DPX_CTL_FLOW_PUT && h.type != DPX_CTL_EXECUTE) break;
    if (h.type == DPX_CTL_EXECUTE && executes == kMaxRunExecutes) break;
    executes += h.type == DPX_CTL_EXECUTE;
    end += h.length;
    ++n;
  }
  // One flow job for the whole run (on a PMD's CPU in dpxd): one hand-over
  // per handler batch, not one per message. The job handles each message
  // as this loop would, replies included, and advances c->in_off as it goes.
  struct Job {
    ControlServer* server;
    Conn* c;
    size_t end;
  } job{this, c, end};
  handler_->run_flow_job(
      [](void* p) {
        auto* j = static_cast<Job*>(p);
        Conn* c = j->c;
        while (c->in_off < j->end) {
          CtlHeader h;
          std::span<const uint8_t> avail(c->in.data() + c->in_off, c->in.size() - c->in_off);
          ctl_frame(avail, &h);
          j->server->handle_message(c, h,
                                    avail.subspan(DPX_CTL_HDR_LEN, h.length - DPX_CTL_HDR_LEN));
          c->in_off += h.length;
        }
        // The replies leave from the job, on the PMD's CPU, the moment the
        // run is done: the handler waiting for them wakes then. Sent after
        // the job by this thread, they waited until it ran again, and it
        // spins through the job by yielding, which on CPU 0 in a storm
        // hands the CPU to a revalidator for a scheduler slice. One send
        // per run (a handler's batch), not per packet. Replies of requests
        // before the run, queued on c, go first, in order.
        j->server->send_pending(c);
      },
      &job, executes);
}

bool ControlServer::send_pending(Conn* c) {
  while (c->out_pending() > 0) {
    ssize_t w = send(c->fd, c->out.data() + c->out_off, c->out_pending(), MSG_NOSIGNAL);
    if (w > 0) {
      c->out_off += size_t(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) {
      to_close_.push_back(c->id);
      return false;
    }
    break;
  }
  if (c->out_off == c->out.size()) {
    c->out.clear();
    c->out_off = 0;
  } else if (c->out_off > (1u << 20)) {
    c->out.erase(c->out.begin(), c->out.begin() + static_cast<ptrdiff_t>(c->out_off));
    c->out_off = 0;
  }
  update_events(c);
  return true;
}

void ControlServer::flush(Conn* c) {
  for (;;) {
    if (!send_pending(c)) return;
    // A back-pressured connection whose output drained: handle the requests
    // it sent meanwhile, and send their replies in the same pass.
    if (c->out_pending() >= opts_.output_limit || c->in_off == c->in.size()) return;
    size_t before = c->out.size();
    if (!process_input(c) || c->out.size() == before) {
      update_events(c);
      return;
    }
  }
}

void ControlServer::update_events(Conn* c) {
  uint32_t want = 0;
  if (c->out_pending() < opts_.output_limit && !c->eof) want |= EPOLLIN;
  if (c->out_pending() > 0) want |= EPOLLOUT;
  if (want == c->events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c->id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = want;
}

void ControlServer::queue(Conn* c, const CtlHeader& h, std::span<const uint8_t> body) {
  if (ctl_append_message(&c->out, h, body) != 0) {
    // Only a handler bug gets here (dispatch checks reply sizes); answer
    // with a bare error rather than nothing, so the client does not hang.
    CtlHeader e = h;
    e.error = EMSGSIZE;
    ctl_append_message(&c->out, e, {});
  }
}

void ControlServer::handle_message(Conn* c, const CtlHeader& h, std::span<const uint8_t> body) {
  stats_.requests++;
  NlBuf& reply = reply_scratch_;
  reply.clear();
  std::string err;
  int error;
  if (h.flags != 0 || h.error != 0) {
    error = EINVAL;
    err = "requests carry no flags and no error";
  } else if (h.type != DPX_CTL_HELLO &&
             (h.version < DPX_CTL_VERSION_MIN || h.version > DPX_CTL_VERSION_MAX)) {
    error = EPROTONOSUPPORT;
    err = "protocol version " + std::to_string(h.version) + " not supported";
  } else {
    if (!may_overtake_executes(h.type)) handler_->barrier();
    error = dispatch(c, h, body, &reply, &err);
    if (error == 0 && reply.size() > DPX_CTL_MAX_MSG - DPX_CTL_HDR_LEN) {
      error = EMSGSIZE;
      err = "reply too large";
    }
  }
  if (error) {
    stats_.request_errors++;
    reply.clear();
    encode_error_body(err, &reply);
  }
  CtlHeader r{0, c->version, h.type, h.request_id, error, DPX_CTL_F_REPLY};
  queue(c, r, reply);
}

int ControlServer::flow_put(std::span<const uint8_t> body, NlBuf* reply, std::string* err) {
  std::vector<FlowPutEntry>& entries = put_scratch_;
  if (int e = decode_flow_put_request(body, &entries, err)) return e;
  std::vector<FlowPutResult>& results = put_results_scratch_;
  results.assign(entries.size(), FlowPutResult{});
  for (size_t i = 0; i < entries.size(); i++) results[i].ufid = entries[i].ufid;
  handler_->flow_put(entries, results);
  return encode_flow_put_reply(results, reply);
}

int ControlServer::dispatch(Conn* c, const CtlHeader& h, std::span<const uint8_t> body,
                            NlBuf* reply, std::string* err) {
  int e;
  switch (h.type) {
    case DPX_CTL_HELLO: {
      HelloRequest req;
      if ((e = decode_hello_request(body, &req, err))) return e;
      uint32_t hi = std::min<uint32_t>(req.version_max, DPX_CTL_VERSION_MAX);
      uint32_t lo = std::max<uint32_t>(req.version_min, DPX_CTL_VERSION_MIN);
      if (hi < lo) {
        *err = "no common protocol version (server speaks " + std::to_string(DPX_CTL_VERSION_MIN) +
               ".." + std::to_string(DPX_CTL_VERSION_MAX) + ")";
        return EPROTONOSUPPORT;
      }
      c->version = static_cast<uint16_t>(hi);
      return encode_hello_reply({hi, DPX_CTL_MAX_MSG, opts_.software}, reply);
    }
    case DPX_CTL_PORT_ADD: {
      PortAddRequest req;
      PortInfo info;
      if ((e = decode_port_add_request(body, &req, err))) return e;
      if ((e = handler_->port_add(req, &info, err))) return e;
      return encode_port_info(info, reply);
    }
    case DPX_CTL_PORT_DEL: {
      PortRef ref;
      if ((e = decode_port_ref(body, &ref, err))) return e;
      return handler_->port_del(ref, err);
    }
    case DPX_CTL_PORT_GET: {
      PortRef ref;
      PortInfo info;
      if ((e = decode_port_ref(body, &ref, err))) return e;
      if ((e = handler_->port_get(ref, &info, err))) return e;
      return encode_port_info(info, reply);
    }
    case DPX_CTL_PORT_DUMP: {
      std::vector<PortInfo> ports;
      if (!body.empty()) return *err = "PORT_DUMP takes no attributes", EINVAL;
      if ((e = handler_->port_dump(&ports, err))) return e;
      return encode_port_list(ports, reply);
    }
    case DPX_CTL_FLOW_PUT:
      // Here inside the handler's flow job (process_flow_run()).
      return flow_put(body, reply, err);
    case DPX_CTL_FLOW_DEL: {
      std::vector<Ufid> ufids;
      if ((e = decode_flow_del_request(body, &ufids, err))) return e;
      std::vector<FlowDelResult> results(ufids.size());
      for (size_t i = 0; i < ufids.size(); i++) results[i].ufid = ufids[i];
      handler_->flow_del(ufids, results);
      return encode_flow_del_reply(results, reply);
    }
    case DPX_CTL_FLOW_GET: {
      Ufid ufid;
      FlowEntry f;
      if ((e = decode_flow_get_request(body, &ufid, err))) return e;
      if ((e = handler_->flow_get(ufid, &f, err))) return e;
      return encode_flow_entry(f, reply);
    }
    case DPX_CTL_FLOW_DUMP: {
      FlowDumpRequest req;
      FlowDumpReply out;
      if ((e = decode_flow_dump_request(body, &req, err))) return e;
      if ((e = handler_->flow_dump(req, kDumpBudget, &out, err))) return e;
      return encode_flow_dump_reply(out, reply);
    }
    case DPX_CTL_FLOW_FLUSH:
      if (!body.empty()) return *err = "FLOW_FLUSH takes no attributes", EINVAL;
      return handler_->flow_flush(err);
    case DPX_CTL_EXECUTE: {
      ExecuteRequest& req = exec_scratch_;
      if ((e = decode_execute_request(body, &req, err))) return e;
      return handler_->execute(req, err);
    }
    case DPX_CTL_DP_STATS: {
      DpStats s;
      if (!body.empty()) return *err = "DP_STATS takes no attributes", EINVAL;
      if ((e = handler_->dp_stats(&s, err))) return e;
      return encode_dp_stats(s, reply);
    }
    case DPX_CTL_PMD_STATS: {
      std::vector<PmdStats> s;
      if (!body.empty()) return *err = "PMD_STATS takes no attributes", EINVAL;
      if ((e = handler_->pmd_stats(&s, err))) return e;
      return encode_pmd_stats(s, reply);
    }
    case DPX_CTL_PMD_STATS_CLEAR:
      if (!body.empty()) return *err = "PMD_STATS_CLEAR takes no attributes", EINVAL;
      return handler_->pmd_stats_clear(err);
    case DPX_CTL_DP_SET: {
      DpConfig cfg;
      if ((e = decode_dp_config(body, &cfg, err))) return e;
      return handler_->dp_set(cfg, err);
    }
    case DPX_CTL_UPCALL_SUBSCRIBE: {
      UpcallSubscribeRequest req;
      if ((e = decode_upcall_subscribe(body, &req, err))) return e;
      if (c->sub != SubMode::kNone) return *err = "already subscribed", EBUSY;
      if (req.mode == DPX_UPCALL_SHARE) {
        c->sub = SubMode::kShare;
        share_subs_.push_back(c->id);
      } else {
        c->sub = SubMode::kMonitor;
        monitor_subs_.push_back(c->id);
      }
      return 0;
    }
    case DPX_CTL_UPCALL:
      *err = "UPCALL is sent by the server only";
      return EINVAL;
    case DPX_CTL_TNL_IP_ADD:
    case DPX_CTL_TNL_IP_DEL:
    case DPX_CTL_TNL_IP_DUMP:
    case DPX_CTL_ROUTE_ADD:
    case DPX_CTL_ROUTE_DEL:
    case DPX_CTL_ROUTE_DUMP:
    case DPX_CTL_NEIGH_SET:
    case DPX_CTL_NEIGH_FLUSH:
    case DPX_CTL_NEIGH_DUMP:
    case DPX_CTL_TNL_STATS:
      return dispatch_tunnel(h.type, body, reply, err);
    default:
      *err = "unknown message type " + std::to_string(h.type);
      return EOPNOTSUPP;
  }
}

// The tunnel underlay messages (tunnels/tunnel_msg.h).
int ControlServer::dispatch_tunnel(uint16_t type, std::span<const uint8_t> body, NlBuf* reply,
                                   std::string* err) {
  int e;
  switch (type) {
    case DPX_CTL_TNL_IP_ADD:
    case DPX_CTL_TNL_IP_DEL: {
      TnlIpEntry t;
      if ((e = decode_tnl_ip_request(body, &t, err))) return e;
      return type == DPX_CTL_TNL_IP_ADD ? handler_->tnl_ip_add(t, err)
                                        : handler_->tnl_ip_del(t, err);
    }
    case DPX_CTL_ROUTE_ADD:
    case DPX_CTL_ROUTE_DEL: {
      RouteEntry r;
      if ((e = decode_route_request(body, &r, type == DPX_CTL_ROUTE_ADD, err))) return e;
      return type == DPX_CTL_ROUTE_ADD ? handler_->route_add(r, err) : handler_->route_del(r, err);
    }
    case DPX_CTL_NEIGH_SET: {
      NeighEntry n;
      if ((e = decode_neigh_request(body, &n, err))) return e;
      return handler_->neigh_set(n, err);
    }
    case DPX_CTL_NEIGH_FLUSH:
      if (!body.empty()) return *err = "NEIGH_FLUSH takes no attributes", EINVAL;
      return handler_->neigh_flush(err);
  }
  // The dumps take no attributes.
  if (!body.empty()) return *err = "dump requests take no attributes", EINVAL;
  switch (type) {
    case DPX_CTL_TNL_IP_DUMP: {
      std::vector<TnlIpEntry> v;
      if ((e = handler_->tnl_ip_dump(&v, err))) return e;
      return encode_tnl_ip_list(v, reply);
    }
    case DPX_CTL_ROUTE_DUMP: {
      std::vector<RouteEntry> v;
      if ((e = handler_->route_dump(&v, err))) return e;
      return encode_route_list(v, reply);
    }
    case DPX_CTL_NEIGH_DUMP: {
      std::vector<NeighEntry> v;
      if ((e = handler_->neigh_dump(&v, err))) return e;
      return encode_neigh_list(v, reply);
    }
    case DPX_CTL_TNL_STATS: {
      TnlStats s;
      if ((e = handler_->tnl_stats(&s, err))) return e;
      return encode_tnl_stats(s, reply);
    }
  }
  *err = "unknown message type " + std::to_string(type);
  return EOPNOTSUPP;
}

bool ControlServer::push_upcall(Conn* c, std::span<const uint8_t> body) {
  // The sequence number advances for dropped upcalls too, so a subscriber
  // sees the gap.
  uint32_t seq = ++c->upcall_seq;
  if (c->out_pending() >= opts_.upcall_backlog_limit) {
    stats_.upcalls_dropped++;
    return false;
  }
  queue(c, {0, c->version, DPX_CTL_UPCALL, seq, 0, DPX_CTL_F_PUSH}, body);
  stats_.upcalls_sent++;
  // Sent by send_pushed(), with the other upcalls of this round: one
  // system call and one wake-up of the handler per batch.
  if (!c->pushed) {
    c->pushed = true;
    pushed_.push_back(c->id);
  }
  return true;
}

void ControlServer::send_pushed() {
  for (uint64_t id : pushed_) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    it->second->pushed = false;
    // Only send: the connection's input is left to its own events.
    send_pending(it->second.get());
  }
  pushed_.clear();
}

bool ControlServer::upcall_room() const {
  for (uint64_t id : share_subs_)
    if (conns_.at(id)->out_pending() < opts_.upcall_backlog_limit) return true;
  return false;
}

bool ControlServer::publish_upcall(const Upcall& upcall, uint32_t hash) {
  if (share_subs_.empty() && monitor_subs_.empty()) {
    stats_.upcalls_no_subscriber++;
    return false;
  }
  NlBuf& body = upcall_body_;
  body.clear();
  if (encode_upcall(upcall, &body) != 0 || body.size() > DPX_CTL_MAX_MSG - DPX_CTL_HDR_LEN) {
    stats_.upcalls_dropped++;
    return false;
  }
  // send_pending() may queue a connection for closing but never closes it
  // here, so the ids in the subscriber lists stay valid during the loop.
  bool delivered = false;
  if (share_subs_.empty()) {
    stats_.upcalls_no_subscriber++;
  } else {
    uint64_t id = share_subs_[hash % share_subs_.size()];
    delivered = push_upcall(conns_.at(id).get(), body);
  }
  for (uint64_t id : monitor_subs_) push_upcall(conns_.at(id).get(), body);
  return delivered;
}

}  // namespace dpx
