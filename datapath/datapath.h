// The datapath as a whole: the packet mempool, the ports, the PMD threads,
// the flow table and RCU, and the control-socket handler that exposes them.
//
// Threading: every method runs on the control thread (dpxd's main lcore),
// except what the PMDs run (pmd.h). Configuration changes reach PMDs by RCU:
// new poll lists and port slots are published with release stores, and what
// they replace is freed after a grace period.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "control_server.h"
#include "flow_table.h"
#include "options.h"
#include "pmd.h"
#include "port.h"
#include "rcu.h"
#include "tunnel_ctl.h"

namespace dpx {

class Datapath final : public ControlHandler {
 public:
  // Needs an initialised EAL with one worker lcore per entry of pmd_lcores.
  static std::unique_ptr<Datapath> create(const DpxdOptions& opts,
                                          const std::vector<unsigned>& pmd_lcores,
                                          std::string* err);
  ~Datapath() override;

  // Launches the PMD threads on their lcores.
  int start(std::string* err);
  // Stops the PMDs and waits for them, then closes every port.
  void stop();

  // Control-thread housekeeping, called by the main loop between control
  // socket events: hands upcalls to the server, frees what grace periods
  // allow, re-ranks subtables. `server` may be null (no upcall delivery).
  void tick(ControlServer* server);

  // ControlHandler (control_server.h documents each).
  int port_add(const PortAddRequest& req, PortInfo* out, std::string* err) override;
  int port_del(const PortRef& port, std::string* err) override;
  int port_get(const PortRef& port, PortInfo* out, std::string* err) override;
  int port_dump(std::vector<PortInfo>* out, std::string* err) override;
  void flow_put(std::span<const FlowPutEntry> entries, std::span<FlowPutResult> results) override;
  void flow_del(std::span<const Ufid> ufids, std::span<FlowDelResult> results) override;
  int flow_get(const Ufid& ufid, FlowEntry* out, std::string* err) override;
  int flow_dump(const FlowDumpRequest& req, size_t max_bytes, FlowDumpReply* out,
                std::string* err) override;
  int flow_flush(std::string* err) override;
  int execute(const ExecuteRequest& req, std::string* err) override;
  // Waits for the executes handed to the PMD (finish_executes(true)).
  void barrier() override;
  // On PMD 0's thread while the PMDs run (PmdJob in pmd.h; docs/ovs.md,
  // "Flow set-up"), else here.
  void run_flow_job(void (*fn)(void*), void* arg, size_t executes) override;
  int dp_stats(DpStats* out, std::string* err) override;
  int pmd_stats(std::vector<PmdStats>* out, std::string* err) override;
  int pmd_stats_clear(std::string* err) override;
  int dp_set(const DpConfig& cfg, std::string* err) override;
  // Tunnel underlay: forwarded to TunnelControl (tunnels/tunnel_ctl.h).
  int tnl_ip_add(const TnlIpEntry& e, std::string* err) override;
  int tnl_ip_del(const TnlIpEntry& e, std::string* err) override;
  int tnl_ip_dump(std::vector<TnlIpEntry>* out, std::string* err) override;
  int route_add(const RouteEntry& e, std::string* err) override;
  int route_del(const RouteEntry& e, std::string* err) override;
  int route_dump(std::vector<RouteEntry>* out, std::string* err) override;
  int neigh_set(const NeighEntry& e, std::string* err) override;
  int neigh_flush(std::string* err) override;
  int neigh_dump(std::vector<NeighEntry>* out, std::string* err) override;
  int tnl_stats(TnlStats* out, std::string* err) override;

  // The upcall doorbell (Pmd::Shared::control_asleep): the control loop
  // arms it before waiting for socket events, with the eventfd PMDs write
  // (set once, before start()), and disarms it after. arm_doorbell()
  // returns true if upcalls wait already: then do not wait.
  void set_wake_fd(int fd) { shared_.wake_fd = fd; }
  bool arm_doorbell();
  void disarm_doorbell() { shared_.control_asleep.store(false, std::memory_order_relaxed); }

  // Upcall delivery: with a server that has subscribers, upcalls are queued;
  // without, PMDs drop misses and count them (set by tick()).
  void set_upcall_reader(bool present);

 private:
  Datapath(const DpxdOptions& opts);
  Port* find_port(const PortRef& ref) const;
  void fill_port_info(const Port& p, PortInfo* out) const;
  void republish_poll_lists();
  void drain_upcalls(ControlServer* server);
  // Whether drain_upcalls() has anything to take.
  bool upcalls_waiting() const;
  // True if an installed flow now matches upcall mbuf m, a miss. Sets
  // *extracted if *key then holds m's key (not for action upcalls, chains
  // and packets key extraction refuses, which are left to the upcall).
  bool miss_has_flow(rte_mbuf* m, FlowKey* key, bool* extracted) const;
  FlowEntry flow_entry(const Flow& f, bool terse) const;
  void enter_full_mode();
  // Tells every PMD that the upcall of the key with this hash_key() is
  // answered (or will never be): they release the key's held misses
  // (pmd.h, "In-flight misses"). Control thread or a flow job.
  void answer_upcall(uint32_t hash) {
    for (auto& p : pmds_) p->upcall_answered(hash);
  }
  int tunnel_port_add(uint32_t odp, const PortAddRequest& req, PortInfo* out, std::string* err);
  // Frees the executes the PMD has finished; with `wait`, first waits for
  // all of them (barrier()).
  void finish_executes(bool wait);
  int tap_port_add(uint32_t odp, PortConfig cfg, PortInfo* out, std::string* err);
  // Turns one upcall mbuf into the packets ovs-vswitchd is given: offload
  // requests completed in software (a 64 KB frame becomes its segments,
  // as the kernel datapath's upcalls do), chains read out whole.
  // `miss_key`, if not null, is m's key as miss_has_flow() extracted it.
  void publish_upcall_packets(ControlServer* server, rte_mbuf* m, const FlowKey* miss_key);

  DpxdOptions opts_;
  rte_mempool* pool_ = nullptr;
  rte_mempool* indirect_pool_ = nullptr;       // for software GSO (offload.h)
  std::unique_ptr<SwOffload> upcall_offload_;  // the control thread's, for upcalls
  std::unique_ptr<Rcu> rcu_;
  std::unique_ptr<FlowTable> flows_;
  PortTable ports_;
  std::map<uint32_t, std::unique_ptr<Port>> by_odp_;
  Pmd::Shared shared_;
  std::vector<std::unique_ptr<Pmd>> pmds_;
  std::unique_ptr<TunnelControl> tunnels_;  // after pmds_: it needs PMD 0's exec ring
  bool started_ = false;
  uint64_t last_rank_ms_ = 0;
  uint64_t last_clock_anchor_ms_ = 0;  // TscClock re-anchoring
  uint64_t upcalls_built_ = 0;
  // Installed megaflows whose mask is not simple (simple_match.h).
  uint64_t non_simple_flows_ = 0;
  // Executes handed to PMD 0 whose reply has gone out: the job and its
  // action program live until the PMD marks the job done.
  struct ExecInFlight {
    ExecJob* job;  // one of exec_jobs_
    std::unique_ptr<ActionProgram, void (*)(const ActionProgram*)> program;
  };
  static constexpr size_t kMaxExecsInFlight = kExecRingSize / 2;
  std::vector<ExecInFlight> execs_in_flight_;  // capacity kMaxExecsInFlight
  // Every job an execute can have in flight, allocated at create time: an
  // ExecJob holds a 448-byte, line-aligned FlowKey, and its memalign and
  // free per EXECUTE were among the control thread's largest costs per new
  // flow. free_exec_jobs_ holds those not in flight (a stack, capacity
  // kMaxExecsInFlight).
  std::unique_ptr<ExecJob[]> exec_jobs_;
  std::vector<ExecJob*> free_exec_jobs_;
  // The upcall being built by publish_upcall_packets(), kept so that its
  // buffers keep their capacity from one upcall to the next.
  Upcall upcall_scratch_;
  // The one PmdJob the control thread posts to PMD 0 (run_flow_job()); kept
  // for the Datapath's life, since the PMD notifies it after setting done.
  PmdJob flow_job_;
  // Drops counted by the control thread (upcalls it could not deliver).
  uint64_t upcalls_undelivered_ = 0;
  // Per PMD: the miss at the head of the line, taken from the upcall ring
  // while no handler had room for it (drain_upcalls()).
  std::vector<rte_mbuf*> held_;
};

// CLOCK_MONOTONIC in milliseconds and in microseconds.
uint64_t monotonic_ms();
uint64_t monotonic_us();

}  // namespace dpx
