// The C ABI of dpx-client.h over dpx::ControlClient and the control
// protocol's codecs. Only this file (and nothing the provider includes) is
// C++.
#include "dpx-client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "control_client.h"
#include "control_msg.h"

namespace {

// Connections kept open for reuse; more concurrent callers than this still
// work, their extra connections are closed after use.
constexpr size_t kMaxIdle = 16;

// How long opening an upcall stream waits for each of dpxd's replies.
constexpr int kOpenTimeoutMs = 5000;

void set_err(dpx_err* err, const std::string& msg) {
  if (err) std::snprintf(err->msg, sizeof err->msg, "%s", msg.c_str());
}

void copy_str(char* dst, size_t n, const std::string& s) { std::snprintf(dst, n, "%s", s.c_str()); }

int peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

dpx::Ufid to_ufid(const dpx_ufid& u) {
  dpx::Ufid r;
  std::memcpy(r.w, u.w, sizeof r.w);
  return r;
}

dpx_ufid from_ufid(const dpx::Ufid& u) {
  dpx_ufid r;
  std::memcpy(r.w, u.w, sizeof r.w);
  return r;
}

dpx_flow_stats from_stats(const dpx::FlowStats& s) {
  return dpx_flow_stats{s.packets, s.bytes, s.used_ms, s.tcp_flags};
}

dpx::NlBuf bytes(const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  return n ? dpx::NlBuf(b, b + n) : dpx::NlBuf();
}

void from_port_info(const dpx::PortInfo& p, dpx_port_info* out) {
  std::memset(out, 0, sizeof *out);
  out->odp_port = p.odp_port;
  copy_str(out->name, sizeof out->name, p.name);
  copy_str(out->type, sizeof out->type, p.type);
  copy_str(out->devargs, sizeof out->devargs, p.devargs);
  out->n_rxq = p.n_rxq;
  out->n_txq = p.n_txq;
  out->link_up = p.link_up;
  out->link_speed_mbps = p.link_speed_mbps;
  out->mtu = p.mtu;
  std::memcpy(out->mac, p.mac.data(), 6);
  const dpx::PortStats& s = p.stats;
  out->stats = dpx_port_stats{s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes,
                              s.rx_drops,   s.tx_drops, s.rx_errors,  s.tx_errors};
  for (const dpx::DropCount& d : p.drops) {
    if (out->n_drops == DPX_PORT_MAX_DROPS) break;
    dpx_port_drop& o = out->drops[out->n_drops++];
    copy_str(o.reason, sizeof o.reason, d.reason);
    o.count = d.count;
  }
}

}  // namespace

// ---------------------------------------------------------------- the pool

struct dpx_client {
  std::string path;
  std::mutex mu;
  std::vector<std::unique_ptr<dpx::ControlClient>> idle;  // guarded by mu
  int peer = 0;                                           // guarded by mu
  std::atomic<uint64_t> epoch{0};
  std::atomic<int> peer_pid{0};
};

namespace {

// Opens a connection and notes which dpxd process answered: a new process
// starts a new epoch, and the idle connections to the old one are dropped.
std::unique_ptr<dpx::ControlClient> connect_fresh(dpx_client* c, int* e, std::string* msg) {
  auto conn = std::make_unique<dpx::ControlClient>();
  if ((*e = conn->connect(c->path, msg)) != 0) return nullptr;
  const int pid = peer_pid(conn->fd());
  std::lock_guard<std::mutex> lock(c->mu);
  if (pid != c->peer) {
    c->peer = pid;
    c->idle.clear();
    c->peer_pid.store(pid);
    c->epoch.fetch_add(1);
  }
  return conn;
}

// Runs fn(ControlClient&, std::string*) on a borrowed connection. A reused
// connection that fails in transport (dpxd restarted since it was opened) is
// retried once on a fresh one; dpxd's own errors are returned as they are.
template <class F>
int with_conn(dpx_client* c, dpx_err* err, F&& fn) {
  if (err) {
    err->msg[0] = '\0';
    err->transport = false;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<dpx::ControlClient> conn;
    {
      std::lock_guard<std::mutex> lock(c->mu);
      if (!c->idle.empty()) {
        conn = std::move(c->idle.back());
        c->idle.pop_back();
      }
    }
    const bool reused = conn != nullptr;
    std::string msg;
    int e = 0;
    if (!conn) {
      conn = connect_fresh(c, &e, &msg);
      if (!conn) {
        set_err(err, msg);
        if (err) err->transport = true;
        return e;
      }
    }
    e = fn(*conn, &msg);
    // ControlClient closes the connection on transport and protocol
    // failures only; dpxd's error replies leave it open.
    const bool alive = conn->connected();
    if (alive) {
      std::lock_guard<std::mutex> lock(c->mu);
      if (c->idle.size() < kMaxIdle) c->idle.push_back(std::move(conn));
    } else if (reused && attempt == 0) {
      continue;
    }
    if (e) {
      set_err(err, msg);
      if (err) err->transport = !alive;
    }
    return e;
  }
  return 0;  // not reached: the second attempt always returns
}

}  // namespace

extern "C" {

dpx_client* dpx_client_create(const char* socket_path) {
  auto* c = new dpx_client;
  c->path = socket_path;
  return c;
}

void dpx_client_destroy(dpx_client* c) { delete c; }

const char* dpx_client_path(const dpx_client* c) { return c->path.c_str(); }

uint64_t dpx_client_epoch(const dpx_client* c) { return c->epoch.load(); }

int dpx_client_peer_pid(const dpx_client* c) { return c->peer_pid.load(); }

int dpx_hello(dpx_client* c, char* software, size_t software_len, dpx_err* err) {
  return with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    dpx::HelloReply r;
    int e = cc.hello(&r, m);
    if (!e && software && software_len) copy_str(software, software_len, r.software);
    return e;
  });
}

// ---------------------------------------------------------------- ports

int dpx_port_add(dpx_client* c, const char* name, const char* type, const char* devargs,
                 uint32_t odp_port, const char* const* options, size_t n_options, uint32_t n_rxq,
                 dpx_port_info* out, dpx_err* err) {
  dpx::PortAddRequest req;
  req.name = name;
  req.type = type;
  if (devargs) req.devargs = devargs;
  if (odp_port != DPX_PORT_ANY) req.odp_port = odp_port;
  for (size_t i = 0; i < n_options; ++i) req.options.emplace_back(options[i]);
  req.n_rxq = n_rxq;
  return with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    dpx::PortInfo info;
    int e = cc.port_add(req, &info, m);
    if (!e && out) from_port_info(info, out);
    return e;
  });
}

int dpx_port_del(dpx_client* c, uint32_t odp_port, dpx_err* err) {
  dpx::PortRef ref;
  ref.odp_port = odp_port;
  return with_conn(c, err,
                   [&](dpx::ControlClient& cc, std::string* m) { return cc.port_del(ref, m); });
}

static int port_get(dpx_client* c, const dpx::PortRef& ref, dpx_port_info* out, dpx_err* err) {
  return with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    dpx::PortInfo info;
    int e = cc.port_get(ref, &info, m);
    if (!e && out) from_port_info(info, out);
    return e;
  });
}

int dpx_port_get_by_no(dpx_client* c, uint32_t odp_port, dpx_port_info* out, dpx_err* err) {
  dpx::PortRef ref;
  ref.odp_port = odp_port;
  return port_get(c, ref, out, err);
}

int dpx_port_get_by_name(dpx_client* c, const char* name, dpx_port_info* out, dpx_err* err) {
  dpx::PortRef ref;
  ref.name = name;
  return port_get(c, ref, out, err);
}

int dpx_port_dump(dpx_client* c, dpx_port_info** ports, size_t* n, dpx_err* err) {
  *ports = nullptr;
  *n = 0;
  std::vector<dpx::PortInfo> list;
  int e = with_conn(c, err,
                    [&](dpx::ControlClient& cc, std::string* m) { return cc.port_dump(&list, m); });
  if (e || list.empty()) return e;
  auto* arr = static_cast<dpx_port_info*>(std::calloc(list.size(), sizeof(dpx_port_info)));
  if (!arr) return ENOMEM;
  for (size_t i = 0; i < list.size(); ++i) from_port_info(list[i], &arr[i]);
  *ports = arr;
  *n = list.size();
  return 0;
}

// ---------------------------------------------------------------- flows

namespace {

// The calling thread's request objects, refilled per call: an OVS handler
// sends a batch of puts and executes per upcall batch, and new vectors of
// them each time cost it an allocation per attribute (and, past glibc's trim
// threshold, heap growth and trimming per batch). assign() keeps the
// buffers' capacity.
thread_local std::vector<dpx::FlowPutEntry> tls_entries;
thread_local std::vector<dpx::ExecuteRequest> tls_reqs;

void assign_bytes(dpx::NlBuf* to, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  to->assign(b, b + n);
}

const std::vector<dpx::FlowPutEntry>& put_entries(const struct dpx_flow_put* puts, size_t n) {
  std::vector<dpx::FlowPutEntry>& entries = tls_entries;
  entries.resize(n);
  for (size_t i = 0; i < n; ++i) {
    dpx::FlowPutEntry& e = entries[i];
    e.ufid = to_ufid(puts[i].ufid);
    assign_bytes(&e.key, puts[i].key, puts[i].key_len);
    assign_bytes(&e.mask, puts[i].mask, puts[i].mask_len);
    assign_bytes(&e.actions, puts[i].actions, puts[i].actions_len);
    e.flags = puts[i].flags;
  }
  return entries;
}

// Copies FLOW_PUT results back; entries without one get `e` (the failure
// that stopped them) or EPROTO.
void put_results(const std::vector<dpx::FlowPutResult>& results, int e, struct dpx_flow_put* puts,
                 size_t n) {
  for (size_t i = 0; i < n; ++i) {
    struct dpx_flow_put& p = puts[i];
    p.has_old_stats = false;
    p.msg[0] = '\0';
    if (i >= results.size()) {
      p.error = e ? e : EPROTO;
      continue;
    }
    p.error = results[i].error;
    if (results[i].old_stats) {
      p.has_old_stats = true;
      p.old_stats = from_stats(*results[i].old_stats);
    }
    copy_str(p.msg, sizeof p.msg, results[i].message);
  }
}

const std::vector<dpx::ExecuteRequest>& exec_requests(const struct dpx_exec* execs, size_t n) {
  std::vector<dpx::ExecuteRequest>& reqs = tls_reqs;
  reqs.resize(n);
  for (size_t i = 0; i < n; ++i) {
    assign_bytes(&reqs[i].packet, execs[i].packet, execs[i].packet_len);
    assign_bytes(&reqs[i].key, execs[i].key, execs[i].key_len);
    assign_bytes(&reqs[i].actions, execs[i].actions, execs[i].actions_len);
    reqs[i].probe = execs[i].probe;
  }
  return reqs;
}

}  // namespace

int dpx_flow_put(dpx_client* c, struct dpx_flow_put* puts, size_t n, dpx_err* err) {
  const std::vector<dpx::FlowPutEntry>& entries = put_entries(puts, n);
  std::vector<dpx::FlowPutResult> results;
  int e = with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    return cc.flow_put(entries, &results, m);
  });
  put_results(results, e, puts, n);
  return e;
}

int dpx_flow_put_execute(dpx_client* c, struct dpx_flow_put* puts, size_t n_puts,
                         const struct dpx_exec* execs, size_t n_execs, int* errors, dpx_err* err) {
  const std::vector<dpx::FlowPutEntry>& entries = put_entries(puts, n_puts);
  const std::vector<dpx::ExecuteRequest>& reqs = exec_requests(execs, n_execs);
  std::vector<dpx::FlowPutResult> results;
  std::vector<int> errs(n_execs, 0);
  std::vector<std::string> msgs;
  bool transport = true;  // stays so if no connection could be made
  const int e = with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    const int r = cc.flow_put_execute(entries, &results, reqs, errs, &msgs, m);
    transport = !cc.connected();
    return r;
  });
  put_results(results, e, puts, n_puts);
  for (size_t i = 0; i < n_execs; ++i) errors[i] = transport ? e : errs[i];
  return e;
}

int dpx_flow_del(dpx_client* c, struct dpx_flow_del* dels, size_t n, dpx_err* err) {
  std::vector<dpx::Ufid> ufids(n);
  for (size_t i = 0; i < n; ++i) ufids[i] = to_ufid(dels[i].ufid);
  std::vector<dpx::FlowDelResult> results;
  int e = with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    return cc.flow_del(ufids, &results, m);
  });
  for (size_t i = 0; i < n; ++i) {
    struct dpx_flow_del& d = dels[i];
    d.has_stats = false;
    if (i >= results.size()) {
      d.error = e ? e : EPROTO;
      continue;
    }
    d.error = results[i].error;
    if (results[i].stats) {
      d.has_stats = true;
      d.stats = from_stats(*results[i].stats);
    }
  }
  return e;
}

}  // extern "C"

struct dpx_flow_batch {
  std::vector<dpx::FlowEntry> flows;
};

extern "C" {

size_t dpx_flow_batch_count(const dpx_flow_batch* b) { return b->flows.size(); }

void dpx_flow_batch_get(const dpx_flow_batch* b, size_t i, dpx_flow* out) {
  const dpx::FlowEntry& f = b->flows[i];
  out->ufid = from_ufid(f.ufid);
  out->key = f.key.data();
  out->key_len = f.key.size();
  out->mask = f.mask.data();
  out->mask_len = f.mask.size();
  out->actions = f.actions.data();
  out->actions_len = f.actions.size();
  out->stats = from_stats(f.stats);
}

void dpx_flow_batch_free(dpx_flow_batch* b) { delete b; }

int dpx_flow_get(dpx_client* c, const dpx_ufid* ufid, dpx_flow_batch** out, dpx_err* err) {
  auto b = std::make_unique<dpx_flow_batch>();
  b->flows.resize(1);
  int e = with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    return cc.flow_get(to_ufid(*ufid), &b->flows[0], m);
  });
  *out = e ? nullptr : b.release();
  return e;
}

int dpx_flow_dump(dpx_client* c, uint64_t cursor, uint32_t max_entries, bool terse,
                  dpx_flow_batch** out, uint64_t* next_cursor, dpx_err* err) {
  dpx::FlowDumpRequest req;
  req.cursor = cursor;
  req.max_entries = max_entries;
  req.terse = terse;
  dpx::FlowDumpReply rep;
  int e = with_conn(
      c, err, [&](dpx::ControlClient& cc, std::string* m) { return cc.flow_dump(req, &rep, m); });
  *out = nullptr;
  if (e) return e;
  auto b = std::make_unique<dpx_flow_batch>();
  b->flows = std::move(rep.flows);
  *next_cursor = rep.next_cursor;
  *out = b.release();
  return 0;
}

int dpx_flow_flush(dpx_client* c, dpx_err* err) {
  return with_conn(c, err,
                   [&](dpx::ControlClient& cc, std::string* m) { return cc.flow_flush(m); });
}

int dpx_execute(dpx_client* c, const void* packet, size_t packet_len, const void* key,
                size_t key_len, const void* actions, size_t actions_len, bool probe, dpx_err* err) {
  dpx::ExecuteRequest req;
  req.packet = bytes(packet, packet_len);
  req.key = bytes(key, key_len);
  req.actions = bytes(actions, actions_len);
  req.probe = probe;
  return with_conn(c, err,
                   [&](dpx::ControlClient& cc, std::string* m) { return cc.execute(req, m); });
}

int dpx_execute_batch(dpx_client* c, const struct dpx_exec* execs, size_t n, int* errors,
                      dpx_err* err) {
  const std::vector<dpx::ExecuteRequest>& reqs = exec_requests(execs, n);
  std::vector<int> errs(n, 0);
  std::vector<std::string> msgs;
  const int e = with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) {
    return cc.execute_batch(reqs, errs, &msgs, m);
  });
  if (!e) std::copy(errs.begin(), errs.end(), errors);
  return e;
}

// ---------------------------------------------------------------- datapath

int dpx_dp_stats(dpx_client* c, struct dpx_dp_stats* out, dpx_err* err) {
  dpx::DpStats s;
  int e =
      with_conn(c, err, [&](dpx::ControlClient& cc, std::string* m) { return cc.dp_stats(&s, m); });
  if (!e) {
    const struct dpx_dp_stats v {
      s.hit, s.missed, s.lost, s.n_flows, s.n_masks, s.mask_hit, s.upcall_queue_drops, s.emc_hit,
          s.flow_limit
    };
    *out = v;
  }
  return e;
}

int dpx_pmd_stats(dpx_client* c, struct dpx_pmd_stats** pmds, size_t* n, dpx_err* err) {
  *pmds = nullptr;
  *n = 0;
  std::vector<dpx::PmdStats> list;
  int e = with_conn(c, err,
                    [&](dpx::ControlClient& cc, std::string* m) { return cc.pmd_stats(&list, m); });
  if (e || list.empty()) return e;
  auto* arr =
      static_cast<struct dpx_pmd_stats*>(std::calloc(list.size(), sizeof(struct dpx_pmd_stats)));
  if (!arr) return ENOMEM;
  for (size_t i = 0; i < list.size(); ++i) {
    const dpx::PmdStats& s = list[i];
    const struct dpx_pmd_stats v {
      s.core, s.numa, s.packets, s.passes, s.emc_hits, s.megaflow_hits, s.upcalls, s.lost,
          s.busy_cycles, s.idle_cycles, s.sleeps, s.sleep_us, s.rx_batches, s.masks_visited,
          s.hold_timeouts
    };
    arr[i] = v;
  }
  *pmds = arr;
  *n = list.size();
  return 0;
}

int dpx_pmd_stats_clear(dpx_client* c, dpx_err* err) {
  return with_conn(c, err,
                   [&](dpx::ControlClient& cc, std::string* m) { return cc.pmd_stats_clear(m); });
}

int dpx_dp_set(dpx_client* c, int64_t flow_limit, int emc_enable, int64_t pmd_sleep_max_us,
               dpx_err* err) {
  dpx::DpConfig cfg;
  if (flow_limit >= 0) cfg.flow_limit = static_cast<uint32_t>(flow_limit);
  if (emc_enable >= 0) cfg.emc_enable = emc_enable != 0;
  if (pmd_sleep_max_us >= 0) cfg.pmd_sleep_max_us = static_cast<uint32_t>(pmd_sleep_max_us);
  return with_conn(c, err,
                   [&](dpx::ControlClient& cc, std::string* m) { return cc.dp_set(cfg, m); });
}

}  // extern "C"

// ---------------------------------------------------------------- upcalls

// An upcall stream reads its socket itself rather than through
// ControlClient, whose reads block: OVS handler threads must never block in
// recv(), they poll the socket and come back.
struct dpx_upcall_stream {
  int fd = -1;
  static constexpr size_t kChunk = 64 * 1024;
  dpx::NlBuf rbuf;  // bytes received, not yet consumed, from rpos on
  size_t rpos = 0;
  std::unique_ptr<uint8_t[]> scratch = std::make_unique_for_overwrite<uint8_t[]>(kChunk);
  dpx::Upcall cur;  // the upcall last returned (its buffers back dpx_upcall)
  bool have_seq = false;
  uint32_t next_seq = 0;
  uint64_t gaps = 0;

  ~dpx_upcall_stream() {
    if (fd >= 0) ::close(fd);
  }

  // One whole message from rbuf, or EAGAIN. Never blocks.
  int next_message(dpx::CtlHeader* h, std::span<const uint8_t>* body, std::string* msg) {
    for (;;) {
      std::span<const uint8_t> avail(rbuf.data() + rpos, rbuf.size() - rpos);
      const dpx::FrameStatus st = dpx::ctl_frame(avail, h);
      if (st == dpx::FrameStatus::kBroken) {
        *msg = "dpxd sent a broken frame";
        return EPROTO;
      }
      if (st == dpx::FrameStatus::kComplete) {
        *body = avail.subspan(DPX_CTL_HDR_LEN, h->length - DPX_CTL_HDR_LEN);
        rpos += h->length;
        return 0;
      }
      // Compact before reading more, so the buffer stays one message big.
      if (rpos) {
        rbuf.erase(rbuf.begin(), rbuf.begin() + static_cast<ptrdiff_t>(rpos));
        rpos = 0;
      }
      // Into a scratch chunk, appending what arrived: resizing rbuf for a
      // whole chunk would zero 64 KB per read.
      const ssize_t r = recv(fd, scratch.get(), kChunk, MSG_DONTWAIT);
      if (r > 0) rbuf.insert(rbuf.end(), scratch.get(), scratch.get() + r);
      if (r == 0) {
        *msg = "dpxd closed the upcall connection";
        return ECONNRESET;
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return EAGAIN;
        *msg = std::string("recv: ") + std::strerror(errno);
        return errno;
      }
    }
  }

  // Sends a request and waits (blocking) for its reply: only while opening.
  int transact(uint16_t type, uint32_t id, const dpx::NlBuf& body, std::string* msg) {
    dpx::NlBuf out;
    dpx::ctl_append_message(&out, {0, DPX_CTL_VERSION_MAX, type, id, 0, 0}, body);
    for (size_t off = 0; off < out.size();) {
      const ssize_t w = send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        *msg = std::string("send: ") + std::strerror(errno);
        return errno;
      }
      off += size_t(w);
    }
    for (;;) {
      dpx::CtlHeader h;
      std::span<const uint8_t> b;
      int e = next_message(&h, &b, msg);
      if (e == EAGAIN) {
        // Bounded: this runs in ovs-vswitchd's main thread, which a dpxd
        // that accepted the connection and then hung must not stop.
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, kOpenTimeoutMs) == 0) {
          *msg = "dpxd did not answer within " + std::to_string(kOpenTimeoutMs) + " ms";
          return ETIMEDOUT;
        }
        continue;
      }
      if (e) return e;
      if (h.type == DPX_CTL_UPCALL) {
        // An upcall that raced ahead of the reply: keep it for recv.
        rpos -= h.length;
        return EINPROGRESS;
      }
      if (!(h.flags & DPX_CTL_F_REPLY) || h.request_id != id || h.type != type) {
        *msg = "unexpected message from dpxd";
        return EPROTO;
      }
      if (h.error) {
        *msg = dpx::decode_error_body(b);
        if (msg->empty()) *msg = std::strerror(h.error);
        return h.error;
      }
      return 0;
    }
  }
};

extern "C" {

int dpx_upcall_stream_open(const char* socket_path, uint32_t mode, dpx_upcall_stream** out,
                           dpx_err* err) {
  *out = nullptr;
  if (err) err->msg[0] = '\0';
  auto s = std::make_unique<dpx_upcall_stream>();
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (std::strlen(socket_path) >= sizeof sa.sun_path) {
    set_err(err, "socket path too long");
    return ENAMETOOLONG;
  }
  std::strcpy(sa.sun_path, socket_path);
  s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->fd < 0) {
    set_err(err, std::string("socket: ") + std::strerror(errno));
    return errno;
  }
  if (connect(s->fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    set_err(err, std::string("connect ") + socket_path + ": " + std::strerror(e));
    return e;
  }
  std::string msg;
  dpx::NlBuf body;
  dpx::HelloRequest hello;
  hello.software = "dpx dpif provider (upcalls)";
  dpx::encode_hello_request(hello, &body);
  if (int e = s->transact(DPX_CTL_HELLO, 1, body, &msg)) {
    set_err(err, msg);
    return e;
  }
  body.clear();
  dpx::encode_upcall_subscribe({mode}, &body);
  int e = s->transact(DPX_CTL_UPCALL_SUBSCRIBE, 2, body, &msg);
  if (e && e != EINPROGRESS) {
    set_err(err, msg);
    return e;
  }
  *out = s.release();
  return 0;
}

void dpx_upcall_stream_close(dpx_upcall_stream* s) { delete s; }

int dpx_upcall_stream_fd(const dpx_upcall_stream* s) { return s->fd; }

uint64_t dpx_upcall_stream_gaps(const dpx_upcall_stream* s) { return s->gaps; }

int dpx_upcall_recv(dpx_upcall_stream* s, dpx_upcall* out, dpx_err* err) {
  std::string msg;
  for (;;) {
    dpx::CtlHeader h;
    std::span<const uint8_t> b;
    int e = s->next_message(&h, &b, &msg);
    if (e == EAGAIN) return EAGAIN;
    if (e) {
      set_err(err, msg);
      return e;
    }
    // The SUBSCRIBE reply may still be ahead of the first upcall.
    if (h.flags & DPX_CTL_F_REPLY) continue;
    if (h.type != DPX_CTL_UPCALL || !(h.flags & DPX_CTL_F_PUSH)) {
      set_err(err, "unexpected message on the upcall stream");
      return EPROTO;
    }
    if (s->have_seq && h.request_id != s->next_seq) s->gaps += h.request_id - s->next_seq;
    s->have_seq = true;
    s->next_seq = h.request_id + 1;
    if ((e = dpx::decode_upcall(b, &s->cur, &msg)) != 0) {
      set_err(err, "bad UPCALL from dpxd: " + msg);
      return EPROTO;
    }
    const dpx::Upcall& u = s->cur;
    std::memset(out, 0, sizeof *out);
    out->type = u.type;
    out->pid = u.pid;
    out->in_port = u.in_port;
    out->recirc_id = u.recirc_id;
    out->dp_hash = u.dp_hash;
    out->skb_mark = u.skb_mark;
    out->mru = u.mru;
    out->packet = u.packet.data();
    out->packet_len = u.packet.size();
    out->key = u.key.data();
    out->key_len = u.key.size();
    if (u.tunnel) {
      out->has_tunnel = true;
      out->tunnel = u.tunnel->data();
      out->tunnel_len = u.tunnel->size();
    }
    if (u.userdata) {
      out->has_userdata = true;
      out->userdata = u.userdata->data();
      out->userdata_len = u.userdata->size();
    }
    if (u.actions) {
      out->has_actions = true;
      out->actions = u.actions->data();
      out->actions_len = u.actions->size();
    }
    return 0;
  }
}

}  // extern "C"
