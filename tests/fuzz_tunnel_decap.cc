// libFuzzer entry point for tunnel decapsulation (the underlay receive
// stage). Build with clang (the fuzz_tunnel_decap target exists only then)
// and run e.g.
//   ./fuzz_tunnel_decap -max_len=512 -runs=10000000 ../tests/data/
// (the fixtures are pcap files, not raw frames; use a corpus of frames).
// The frame lives in a heap buffer of exactly its size, attached to the mbuf
// as an external buffer, so ASan catches any read past it. The receiving
// port's MAC and VTEP addresses (IPv4 and IPv6) are taken from the frame itself, so every
// input is "ours" and reaches validation; the checks below catch a result
// that breaks the contract in tunnel_decap.h.
#include <rte_eal.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "tunnel_decap.h"

namespace {

rte_mempool* pool() {
  static rte_mempool* mp = [] {
    const char* argv[] = {"fuzz", "--no-huge", "--no-pci", "--no-shconf",        "-m",
                          "128",  "-l",        "0",        "--log-level=*:error"};
    if (rte_eal_init(sizeof argv / sizeof argv[0], const_cast<char**>(argv)) < 0) std::abort();
    return rte_pktmbuf_pool_create("fuzz_pool", 64, 0, 0, 0, SOCKET_ID_ANY);
  }();
  return mp;
}

void no_free(void*, void*) {}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > 16384) return 0;
  rte_mempool* mp = pool();
  if (!mp) std::abort();
  std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
  std::memcpy(buf.get(), data, size);
  rte_mbuf_ext_shared_info shinfo{};
  shinfo.free_cb = no_free;
  rte_mbuf_ext_refcnt_set(&shinfo, 1);
  rte_mbuf* m = rte_pktmbuf_alloc(mp);
  if (!m) std::abort();
  rte_pktmbuf_attach_extbuf(m, buf.get(), 0, static_cast<uint16_t>(size), &shinfo);
  m->data_off = 0;
  m->data_len = static_cast<uint16_t>(size);
  m->pkt_len = static_cast<uint32_t>(size);

  dpx::UnderlaySnapshot s;
  s.generation = 1;
  dpx::UnderlayPortInfo& port = s.ports[s.n_ports++];
  port.odp = 1;
  if (size >= 6) std::memcpy(port.mac, data, 6);
  uint32_t vtep = 0x0100000a;
  if (size >= 34) std::memcpy(&vtep, data + 30, 4);
  s.vteps[s.n_vteps++] = {vtep, 24, 1};
  // The IPv6 destination's place (frame offset 38) as an IPv6 VTEP.
  dpx::Ip6 vtep6{0x20, 0x01, 0x0d, 0xb8};
  if (size >= 54) std::memcpy(vtep6.data(), data + 38, 16);
  s.vteps6[s.n_vteps6++] = {vtep6, 64, 1};
  s.tunnel_ports[s.n_tunnel_ports++] = {2, dpx::TunnelType::kVxlan, __builtin_bswap16(4789), 0};
  s.tunnel_ports[s.n_tunnel_ports++] = {3, dpx::TunnelType::kGeneve, __builtin_bswap16(6081), 1};

  dpx::DecapResult r;
  const dpx::UnderlayVerdict v = dpx::underlay_classify(s, port, m, &r);
  switch (v) {
    case dpx::UnderlayVerdict::kPlain:
    case dpx::UnderlayVerdict::kPunt:
      if (m->data_off != 0 || m->data_len != size) std::abort();  // untouched
      break;
    case dpx::UnderlayVerdict::kDecap:
      if (m->data_len < 14 || m->data_off + m->data_len > size || m->pkt_len != m->data_len ||
          (r.tunnel_odp != 2 && r.tunnel_odp != 3) || !(r.tun.flags & dpx::kTunFlagKey))
        std::abort();
      break;
    case dpx::UnderlayVerdict::kDrop:
      if (r.why > dpx::TunnelDrop::kDecapIpv6ExtHeader) std::abort();
      break;
  }
  rte_pktmbuf_free(m);
  return 0;
}
