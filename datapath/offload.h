// Software completion of transmit offloads: what a packet's offload requests
// ask for and the port it goes to cannot do.
//
// Packets from offloading ports (a tap port with TSO, vhost-user) carry
// DPDK's transmit offload requests in ol_flags (the contract of
// Port::tx_offload_capa(), port.h):
//   RTE_MBUF_F_TX_TCP_SEG with tso_segsz and l2/l3/l4_len: one large TCP
//     segment that still has to be cut into tso_segsz-byte payloads;
//   RTE_MBUF_F_TX_TCP_CKSUM / RTE_MBUF_F_TX_UDP_CKSUM: the L4 checksum field
//     holds only the pseudo-header sum (whatever its length convention: the
//     software path recomputes the checksum from scratch);
//   RTE_MBUF_F_TX_IP_CKSUM: the IPv4 header checksum is left to the device.
// Such a packet may also be a chain of mbufs (a 64 KB frame), with its
// headers in the first segment.
//
// Before a batch goes to a port, the PMD gives every packet that asks for
// something the port lacks to SwOffload::complete(), which
//  - segments TCP/IPv4 with DPDK's rte_gso (header mbufs from the packet
//    pool, payloads as indirect mbufs pointing into the original, so the
//    payload is not copied) and then computes every segment's IPv4 and TCP
//    checksums, since rte_gso leaves them stale;
//  - segments TCP/IPv6 itself, since DPDK 22.11's rte_gso cannot: each
//    segment a copy of the headers (extension headers included) and its
//    share of the payload, its TCP checksum then completed like any other;
//  - completes a partial TCP or UDP checksum (IPv4 or IPv6) in place;
//  - computes an IPv4 header checksum left to the device;
//  - copies a chained packet into one mbuf for a port that cannot send
//    chains (no RTE_ETH_TX_OFFLOAD_MULTI_SEGS).
// Between the IPv6 header and TCP or UDP (l3_len past 40 bytes), the
// extension headers a sender's own stack puts there are walked
// (ipv6_upper()): hop-by-hop options (first only), destination options and
// one routing header, whose final destination the checksums' pseudo-header
// then takes (RFC 8200 section 8.1). A fragment header is a drop of its own
// (kOffloadIpv6Fragment: a fragment has no whole L4 packet to segment or
// checksum); AH, ESP, any other header, a routing header whose final
// destination dpxd cannot tell (RPL's compressed type 3) and a Mobile IPv6
// home address option (it would change the pseudo-header's source) are
// kOffloadUnsupported.
// UDP segmentation and SCTP checksums are not supported: such packets are
// dropped with kOffloadUnsupported, so ports that produce them must not
// advertise those offloads to their peers (no port offers UFO).
//
// Thread-safety: one SwOffload per thread (each PMD has one, the control
// thread another for upcalls); the pools are shared and thread-safe.
// Per-packet cost: only packets that need work come here; the PMD decides
// per batch, and not at all unless it polls an offloading port.
#pragma once

#include <rte_ethdev.h>
#include <rte_gso.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "drop_reasons.h"

namespace dpx {

// The offload requests the software path understands.
inline constexpr uint64_t kTxOffloadRequests =
    RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM;

// The most segments one packet is cut into: a 64 KB TCP segment with an MSS
// of 536 (the smallest IPv4 default) makes 123. A packet that would need
// more is dropped (kOffloadUnsupported).
inline constexpr uint32_t kMaxGsoSegments = 128;

// True if `m` asks for something a port with offload capabilities `capa`
// (RTE_ETH_TX_OFFLOAD_* bits) cannot do, including sending a chain.
inline bool offload_needed(const rte_mbuf* m, uint64_t capa) {
  const uint64_t ol = m->ol_flags;
  if (m->nb_segs > 1 && !(capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)) return true;
  if (!(ol & kTxOffloadRequests)) return false;
  if ((ol & RTE_MBUF_F_TX_TCP_SEG) && !(capa & RTE_ETH_TX_OFFLOAD_TCP_TSO)) return true;
  if (ol & RTE_MBUF_F_TX_UDP_SEG) return !(capa & RTE_ETH_TX_OFFLOAD_UDP_TSO);
  if ((ol & RTE_MBUF_F_TX_IP_CKSUM) && !(capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) return true;
  switch (ol & RTE_MBUF_F_TX_L4_MASK) {
    case RTE_MBUF_F_TX_TCP_CKSUM:
      return !(capa & RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
    case RTE_MBUF_F_TX_UDP_CKSUM:
      return !(capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
    case RTE_MBUF_F_TX_SCTP_CKSUM:
      return !(capa & RTE_ETH_TX_OFFLOAD_SCTP_CKSUM);
    default:
      return false;
  }
}

// What follows an IPv6 header's extension headers: the upper-layer
// protocol and the address its checksum's pseudo-header takes as the
// destination (the IPv6 destination, or a routing header's final one).
struct Ipv6Upper {
  uint8_t proto = 0;
  const uint8_t* pseudo_dst = nullptr;  // 16 bytes inside the walked headers
};

// Walks the extension headers of the IPv6 header at `ip6` up to `l3_len`
// bytes from it (all of them readable there) and fills *out. Returns
// PmdDrop::kCount, or why the headers are refused: kOffloadBadMetadata
// (l3_len below 40 or not the end of a header, a header past it),
// kOffloadIpv6Fragment, kOffloadUnsupported (see the file comment).
PmdDrop ipv6_upper(const uint8_t* ip6, uint32_t l3_len, Ipv6Upper* out);

// The folded, uncomplemented pseudo-header sum (RFC 8200 section 8.1) of
// an upper-layer packet of `len` bytes after the IPv6 header at `ip6`, in
// network order, as DPDK's rte_ipv6_phdr_cksum() gives it for a packet
// without extension headers.
uint16_t ipv6_phdr_sum(const uint8_t* ip6, const Ipv6Upper& up, uint32_t len);

class SwOffload {
 public:
  // `direct`: the packet pool (segment headers, linear copies); `indirect`:
  // a pool of data-less mbufs for segment payloads (offload_indirect_pool()).
  SwOffload(rte_mempool* direct, rte_mempool* indirect);

  // Does in software what `capa` lacks of m's requests. Takes ownership of
  // m. On success appends the resulting packets (m itself, or its segments)
  // to out[*n_out..], at most kMaxGsoSegments of them (the caller leaves
  // that much room), and returns PmdDrop::kCount. On failure frees m,
  // appends nothing and returns why: kOffloadUnsupported (a request dpxd
  // cannot do in software), kOffloadBadMetadata (lengths or flags that do
  // not describe the packet's headers), kOffloadNoMbuf (a pool ran dry).
  // Packets appended carry no request the port lacks, and no chain unless
  // the port takes chains.
  PmdDrop complete(rte_mbuf* m, uint64_t capa, rte_mbuf** out, uint32_t* n_out);

 private:
  PmdDrop segment_tcp4(rte_mbuf* m, uint64_t capa, rte_mbuf** out, uint32_t* n_out);
  PmdDrop segment_tcp6(rte_mbuf* m, uint64_t capa, rte_mbuf** out, uint32_t* n_out);
  // Finishes one packet that needs no segmentation (or one segment).
  PmdDrop finish(rte_mbuf** m, uint64_t capa);

  rte_gso_ctx gso_{};
};

// Creates the pool of indirect mbufs segmentation needs (no data room, no
// private area), or returns nullptr with rte_errno set.
rte_mempool* offload_indirect_pool(const char* name, uint32_t n, int socket);

}  // namespace dpx
