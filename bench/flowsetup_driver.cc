// dpx-flowsetup-driver: sets up N new flows in a running dpxd the way our
// ovs-vswitchd's upcall handlers do, for bench/flowsetup_callgrind.sh to
// count dpxd's control-thread instructions per flow set up.
//
// It subscribes to upcalls and answers each miss as a handler would: one
// FLOW_PUT of an exact megaflow for the upcall's key (actions: output to
// --out-port), then an EXECUTE of the upcalled packet with its metadata as
// key attributes (what ovs/dpif-dpx-flow.c sends), both in one write
// (ControlClient::flow_put_execute(), the provider's dpx_flow_put_execute()).
// One upcall per batch: a handler batches up to 64, so dpxd's per-message
// costs (one read, one reply write) weigh a little more here than in a storm.
// Exits 0 once --flows upcalls are answered, non-zero on any error.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "control_client.h"
#include "control_msg.h"
#include "odp_text.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SOCKET FLOWS OUT_PORT\n", argv[0]);
    return 2;
  }
  const std::string socket = argv[1];
  const long flows = std::strtol(argv[2], nullptr, 10);
  const std::string out_port = argv[3];
  std::string err;
  dpx::ControlClient sub, c;
  if (sub.connect(socket, &err) != 0 || c.connect(socket, &err) != 0 ||
      sub.upcall_subscribe(DPX_UPCALL_SHARE, &err) != 0) {
    std::fprintf(stderr, "dpx-flowsetup-driver: %s\n", err.c_str());
    return 1;
  }
  dpx::NlBuf actions;
  if (dpx::odp_actions_from_string(out_port, &actions, &err) != 0) {
    std::fprintf(stderr, "dpx-flowsetup-driver: actions: %s\n", err.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (long i = 0; i < flows; ++i) {
    dpx::Upcall u;
    if (sub.recv_upcall(&u, &err) != 0) {
      std::fprintf(stderr, "dpx-flowsetup-driver: upcall %ld: %s\n", i, err.c_str());
      return 1;
    }
    // The upcall's key printed without a mask is every field exact; parsed
    // back it is an exact megaflow's key and mask.
    dpx::FlowPutEntry put;
    const std::string flow = dpx::odp_flow_to_string(u.key, {});
    if (dpx::odp_flow_from_string(flow, &put.key, &put.mask, &err) != 0) {
      std::fprintf(stderr, "dpx-flowsetup-driver: %s: %s\n", flow.c_str(), err.c_str());
      return 1;
    }
    put.actions = actions;
    put.ufid = dpx::Ufid{{0x5e7u, static_cast<uint32_t>(i), 0, 1}};
    put.flags = DPX_FLOW_PUT_CREATE;
    dpx::ExecuteRequest x;
    x.packet = u.packet;
    dpx::NlBuf unused_mask;
    const std::string md = "skb_priority(0),skb_mark(" + std::to_string(u.skb_mark) +
                           "),recirc_id(" + std::to_string(u.recirc_id) + "),dp_hash(" +
                           std::to_string(u.dp_hash) + "),in_port(" + std::to_string(u.in_port) +
                           ")";
    if (dpx::odp_flow_from_string(md, &x.key, &unused_mask, &err) != 0) {
      std::fprintf(stderr, "dpx-flowsetup-driver: %s: %s\n", md.c_str(), err.c_str());
      return 1;
    }
    x.actions = actions;
    std::vector<dpx::FlowPutResult> put_results;
    int exec_error = 0;
    std::vector<std::string> messages;
    if (c.flow_put_execute({&put, 1}, &put_results, {&x, 1}, {&exec_error, 1}, &messages, &err) !=
            0 ||
        put_results.at(0).error != 0 || exec_error != 0) {
      std::fprintf(stderr, "dpx-flowsetup-driver: flow %ld: %s %s %s\n", i, err.c_str(),
                   put_results.empty() ? "" : put_results[0].message.c_str(),
                   messages.empty() ? "" : messages[0].c_str());
      return 1;
    }
  }
  std::printf("answered %ld upcalls\n", flows);
  return 0;
}
