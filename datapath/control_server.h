// dpxd's control socket server: accepts connections on a Unix stream
// socket, frames and decodes requests (control_msg.h), hands each one to a
// ControlHandler that the datapath implements, and sends the replies; it
// also pushes upcalls to the connections that subscribed to them.
//
// Threading: a ControlServer is owned and driven by one thread, the
// datapath's control thread, which calls run_once() in a loop. Every method
// except wakeup() must be called from that thread, and every ControlHandler
// method is called from it (inside run_once()), so the handler needs no
// locking against the server. wakeup() may be called from any thread.
//
// Robustness: sockets are non-blocking; each connection has its own input
// and output buffer, partial reads and writes are resumed, and no client can
// block the server. A connection whose length field is out of range (broken
// framing) is closed, others are unaffected. A connection that does not read
// its replies stops being read once its output buffer passes
// output_limit (back-pressure instead of unbounded memory); upcalls for a
// connection over that limit are dropped and counted.
#pragma once

#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "control_msg.h"
#include "tunnel_msg.h"

namespace dpx {

// What the datapath implements. Conventions for every method:
//  - Called from the control thread, inside ControlServer::run_once().
//  - Returns 0 or a positive errno. On error the server replies with that
//    errno and *err as DPX_CTL_A_ERROR_MSG (err is never null, starts
//    empty; leave it empty if the errno says it all). Output arguments are
//    sent only on success.
//  - Requests arrive fully decoded and checked for form (types, sizes,
//    required fields); checking their meaning (does the port type exist, are
//    the key attributes supported) is the handler's job. An unsupported key
//    attribute or action is EINVAL, an unknown object ENOENT, a duplicate
//    EEXIST, an unsupported operation EOPNOTSUPP.
//  - Methods must not block for long: every client waits behind them.
//  - Ordering: execute() may return before the packet has been run (the
//    datapath queues it). The server calls barrier() before every request
//    that could observe an earlier execute's effect (ports, counters,
//    tunnels, flush; see ordered_after_executes() in control_server.cc), so
//    such a request never overtakes an execute that came before it on any
//    connection. Flow puts, deletes, gets and dumps do not wait: an execute
//    neither reads nor changes flows' stats, and a packet it recirculates
//    may see later flow changes, as an upcalled packet may in any datapath.
class ControlHandler {
 public:
  virtual ~ControlHandler() = default;

  // Returns once every execute() accepted so far has been run. A handler
  // whose execute() runs the packet before returning keeps this default.
  virtual void barrier() {}

  // Runs fn(arg), the handling of a run of FLOW_PUT and EXECUTE requests
  // (decode, flow_put() and execute(), replies), wherever the datapath
  // wants its flows written, and returns once it has run; what fn throws is
  // rethrown here. The server's thread waits meanwhile, so fn may use the
  // server's and the handler's state as if it ran on that thread. fn calls
  // execute() at most `executes` times and never barrier(). Default: runs
  // it here.
  virtual void run_flow_job(void (*fn)(void*), void* arg, size_t executes) {
    (void)executes;
    fn(arg);
  }

  // Adds a port. On success fills *out with the new port (its odp_port chosen
  // by the datapath unless the request named one; EEXIST if that number or
  // the name is taken, EINVAL for a bad type/devargs/option, ENODEV if the
  // device cannot be opened).
  virtual int port_add(const PortAddRequest& req, PortInfo* out, std::string* err) = 0;
  // Removes a port and its queues (ENOENT if none). Flows that output to it
  // stay; they drop the packets, as in the kernel datapath.
  virtual int port_del(const PortRef& port, std::string* err) = 0;
  // One port's configuration, state and stats (ENOENT if none).
  virtual int port_get(const PortRef& port, PortInfo* out, std::string* err) = 0;
  // Every port, ordered by odp_port. The reply must fit in one message
  // (DPX_CTL_MAX_MSG); the server answers EMSGSIZE otherwise.
  virtual int port_dump(std::vector<PortInfo>* out, std::string* err) = 0;

  // Applies a batch of flow puts in order. results has entries.size()
  // elements, pre-set to {ufid, 0, nullopt, ""}; the handler fills each
  // one's error (EEXIST/ENOENT per the CREATE/MODIFY flags, EINVAL for an
  // unsupported key/mask/action, E2BIG at the flow limit), old_stats when a
  // flow was modified, and a message for failures. One entry failing does
  // not stop the others; the message itself always succeeds.
  virtual void flow_put(std::span<const FlowPutEntry> entries,
                        std::span<FlowPutResult> results) = 0;
  // Deletes a batch of flows by ufid. results as for flow_put: ENOENT for an
  // unknown ufid, else the flow's final stats in stats.
  virtual void flow_del(std::span<const Ufid> ufids, std::span<FlowDelResult> results) = 0;
  // One flow by ufid, with its original key/mask/action attributes and
  // current stats (ENOENT if none).
  virtual int flow_get(const Ufid& ufid, FlowEntry* out, std::string* err) = 0;
  // One batch of a flow dump starting at req.cursor (0 = start; otherwise a
  // next_cursor this handler returned earlier, which stays valid while flows
  // come and go: a flow present for the whole dump is reported exactly once,
  // as in OVS). Returns at most req.max_entries flows (0 = no count limit)
  // whose flow_entry_encoded_size() sum stays within max_bytes, and at least
  // one if any remain; next_cursor = 0 once done. req.terse: leave key, mask
  // and actions empty. EINVAL for a cursor it never issued.
  virtual int flow_dump(const FlowDumpRequest& req, size_t max_bytes, FlowDumpReply* out,
                        std::string* err) = 0;
  // Deletes every flow.
  virtual int flow_flush(std::string* err) = 0;
  // Runs actions on one packet, whose metadata (in_port, recirc_id, tunnel,
  // ...) come from req.key, as OVS_PACKET_CMD_EXECUTE does. EINVAL for an
  // unsupported action. req.probe: a feature probe, do not log failures.
  virtual int execute(const ExecuteRequest& req, std::string* err) = 0;

  virtual int dp_stats(DpStats* out, std::string* err) = 0;
  // One entry per PMD thread.
  virtual int pmd_stats(std::vector<PmdStats>* out, std::string* err) = 0;
  // Resets the PMD counters reported by pmd_stats() to zero.
  virtual int pmd_stats_clear(std::string* err) = 0;
  // Applies the present fields of cfg; EINVAL for an unsupported value, and
  // then none is applied.
  virtual int dp_set(const DpConfig& cfg, std::string* err) = 0;

  // The tunnel underlay (tunnels/tunnel_ctl.h, docs/tunnels.md): local VTEP
  // addresses, routes, neighbours, tunnel counters. ENOENT for an unknown
  // port or entry, EEXIST for a duplicate, EINVAL for a bad value. A
  // handler without tunnels keeps these defaults (EOPNOTSUPP).
  virtual int tnl_ip_add(const TnlIpEntry&, std::string* err) { return unsupported(err); }
  virtual int tnl_ip_del(const TnlIpEntry&, std::string* err) { return unsupported(err); }
  virtual int tnl_ip_dump(std::vector<TnlIpEntry>*, std::string* err) { return unsupported(err); }
  virtual int route_add(const RouteEntry&, std::string* err) { return unsupported(err); }
  virtual int route_del(const RouteEntry&, std::string* err) { return unsupported(err); }
  virtual int route_dump(std::vector<RouteEntry>*, std::string* err) { return unsupported(err); }
  virtual int neigh_set(const NeighEntry&, std::string* err) { return unsupported(err); }
  virtual int neigh_flush(std::string* err) { return unsupported(err); }
  virtual int neigh_dump(std::vector<NeighEntry>*, std::string* err) { return unsupported(err); }
  virtual int tnl_stats(TnlStats*, std::string* err) { return unsupported(err); }

 private:
  static int unsupported(std::string* err) {
    *err = "tunnels are not supported by this datapath";
    return EOPNOTSUPP;
  }
};

struct ControlServerOptions {
  // Output buffered for one connection beyond which the server stops
  // reading its requests.
  size_t output_limit = 8u << 20;
  // Output buffered for an upcall subscriber beyond which the upcalls meant
  // for it are dropped (and counted). Kept well below output_limit: in a
  // storm of new flows every upcall waiting here ages, and by the time the
  // handler reads it an earlier upcall of the same flow has often set the
  // flow up, so a deep backlog mostly holds duplicates that ovs-vswitchd
  // translates and executes for nothing. 512 KiB is some 1,500 upcalls of
  // small packets (a few of OVS's 64-upcall batches), plus what the
  // socket's kernel buffer holds.
  size_t upcall_backlog_limit = 512u << 10;
  // Connections accepted at once; more are refused (closed at accept).
  size_t max_connections = 256;
  // Permission bits of the socket file: owner only by default.
  uint32_t socket_mode = 0600;
  // Reported in HELLO replies.
  std::string software = "dpxd";
};

struct ControlServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;    // over max_connections
  uint64_t framing_errors = 0;         // connections closed for broken framing
  uint64_t requests = 0;               // well-framed messages handled
  uint64_t request_errors = 0;         // of which answered with an error
  uint64_t upcalls_sent = 0;           // upcall messages queued to a subscriber
  uint64_t upcalls_no_subscriber = 0;  // publish_upcall() with no SHARE subscriber
  uint64_t upcalls_dropped = 0;        // upcall copies dropped at a full output buffer
};

class ControlServer {
 public:
  // handler must outlive the server.
  explicit ControlServer(ControlHandler* handler, ControlServerOptions opts = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the socket at path and starts listening. A stale socket file
  // left by a dead dpxd is replaced; a live one (something accepts on it)
  // gives EADDRINUSE. The file gets options.socket_mode before any client
  // can connect. Returns 0 or a positive errno (*err says what failed).
  int open(const std::string& path, std::string* err);

  // Waits up to timeout_ms (-1: until something happens) for socket events
  // or wakeup(), then handles everything ready: accepts, reads and answers
  // requests, flushes output. Never blocks on a single client.
  void run_once(int timeout_ms);

  // Closes every connection and the listening socket and removes the socket
  // file. Safe to call twice; the destructor calls it.
  void close();

  // Makes a concurrent or the next run_once() return promptly. Thread-safe
  // and async-signal-safe (one write to an eventfd).
  void wakeup();
  // The eventfd wakeup() writes, for threads that must not call into the
  // server (PMDs: Pmd::Shared::wake_fd).
  int wakeup_fd() const { return event_fd_; }

  // Queues an upcall for the upcall-stream connections: to one SHARE
  // subscriber chosen as hash % n over the SHARE subscribers in the order
  // they subscribed (pass the flow's hash so that one flow's upcalls stay in
  // order on one handler, as OVS's handler threads do), plus a copy to every
  // MONITOR subscriber. Returns true if the SHARE subscriber got it; false if
  // there is none or its backlog is over upcall_backlog_limit (counted in
  // stats). Sending happens in run_once(), once for all the upcalls queued
  // since the last one: a handler is woken once per batch, not per upcall.
  // Control thread only.
  bool publish_upcall(const Upcall& upcall, uint32_t hash);

  // Sends the upcalls publish_upcall() queued since the last call
  // (run_once() does, before it waits). Control thread, or a flow job
  // (ControlHandler::run_flow_job()): a drain of the datapath's upcall
  // rings that runs on a PMD's CPU sends them from there at once.
  void send_pushed();

  // Number of SHARE subscribers: with none, the datapath may skip building
  // upcalls (and count the misses as lost).
  size_t upcall_subscribers() const { return share_subs_.size(); }
  // False when every SHARE subscriber's backlog is over the limit, so any
  // upcall published now would be dropped: the datapath then drops misses
  // without building their upcalls. Such drops are the datapath's to count
  // (as lost); they advance no subscriber's sequence number.
  bool upcall_room() const;

  size_t connections() const { return conns_.size(); }
  const ControlServerStats& stats() const { return stats_; }
  const std::string& path() const { return path_; }

 private:
  struct Conn;

  void accept_all();
  void handle_readable(Conn* c);
  // Handles the complete messages in c's input buffer while its output is
  // under the limit. False if the connection was found broken.
  bool process_input(Conn* c);
  // Sends what c's output buffer holds, as far as the socket takes it.
  // False if the connection failed (it is then queued for closing).
  bool send_pending(Conn* c);
  // send_pending(), then handles requests held back by back-pressure.
  void flush(Conn* c);
  void update_events(Conn* c);
  void close_conn(uint64_t id);
  void handle_message(Conn* c, const CtlHeader& h, std::span<const uint8_t> body);
  int dispatch(Conn* c, const CtlHeader& h, std::span<const uint8_t> body, NlBuf* reply,
               std::string* err);
  // Handles the run of FLOW_PUT and EXECUTE messages at c->in_off (at
  // least one) in one handler_->run_flow_job().
  void process_flow_run(Conn* c);
  // A FLOW_PUT request's decode, flow_put() and reply body.
  int flow_put(std::span<const uint8_t> body, NlBuf* reply, std::string* err);
  // A run's bounds: messages, and executes (what run_flow_job() reserves
  // room for; an OVS handler batch has at most 64).
  static constexpr size_t kMaxFlowRun = 256;
  static constexpr size_t kMaxRunExecutes = 64;
  int dispatch_tunnel(uint16_t type, std::span<const uint8_t> body, NlBuf* reply, std::string* err);
  void queue(Conn* c, const CtlHeader& h, std::span<const uint8_t> body);
  bool push_upcall(Conn* c, std::span<const uint8_t> body);

  ControlHandler* handler_;
  ControlServerOptions opts_;
  ControlServerStats stats_;
  std::string path_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  uint64_t next_id_ = 2;  // 0: listening socket, 1: eventfd
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::vector<uint64_t> share_subs_;
  std::vector<uint64_t> monitor_subs_;
  std::vector<uint64_t> to_close_;
  std::vector<uint64_t> pushed_;  // connections with upcalls queued, not sent
  // One read's worth of bytes. Not a connection's buffer: that one would be
  // zero-filled by every resize before the read.
  std::unique_ptr<uint8_t[]> read_buf_;
  // Decoded and encoded once per new flow in a storm (an EXECUTE, an
  // upcall): kept so that their buffers keep their capacity, where a fresh
  // one cost a malloc and a free per buffer and message.
  ExecuteRequest exec_scratch_;
  NlBuf upcall_body_;
  std::vector<FlowPutEntry> put_scratch_;
  std::vector<FlowPutResult> put_results_scratch_;
  NlBuf reply_scratch_;  // handle_message()'s reply body
};

}  // namespace dpx
