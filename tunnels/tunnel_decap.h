// Tunnel decapsulation: the stage between receive and key extraction on
// underlay ports (ports that hold a local VTEP address).
//
// Per packet it decides one of four things:
//  - plain: not for a tunnel port of ours; the packet goes on to key
//    extraction with in_port = the underlay port, untouched. That is every
//    frame that is not IPv4/UDP or IPv6/UDP, not to our port MAC, not to a
//    local VTEP address or not to the UDP port of a tunnel port.
//  - decap: a VXLAN or Geneve packet to a local VTEP; it is validated (the
//    checks below), its outer headers are stripped, and it goes to key
//    extraction with in_port = the tunnel port and the tunnel metadata the
//    kernel datapath would give it: tun_id = VNI, outer IPv4 or IPv6 source
//    and destination, TOS (IPv6: traffic class), TTL (IPv6: hop limit), UDP source and destination
//    ports, flags key, csum when the outer UDP checksum is non-zero, oam for Geneve's O bit,
//    and Geneve's options.
//  - punt: an ARP frame whose target is a VTEP address of this port; it is
//    handed to the control thread, which answers requests and learns
//    replies (tunnel_ctl.h).
//  - drop: a tunnel packet that fails validation, counted by reason
//    (TunnelDrop) and freed:
//      outer IPv4 header checksum wrong (unless the NIC verified it),
//      total length below header + UDP or past the frame, a fragment (no
//      reassembly), UDP length below 16 or past the IP payload, a non-zero
//      UDP checksum that does not verify, VXLAN without the I flag or with
//      any other flag or reserved bit set (as Linux and OVS), Geneve version
//      other than 0, protocol other than Ethernet, options that do not fit
//      or do not add up to the option length, an inner frame shorter than
//      an Ethernet header. Over IPv6: payload length below UDP or past the
//      frame, UDP length past the payload, a non-zero UDP checksum that
//      does not verify (zero is accepted, RFC 6935), and any extension
//      header on a packet to a local VTEP other than well-formed hop-by-hop
//      and destination options headers with skippable options (walked).
//    Geneve options (critical ones included, as the kernel passes them) go
//    into the tunnel metadata: tun.opts points at them in the packet's
//    headroom, where key extraction copies them from into the flow key.
//
// Chained (multi-segment) frames are plain: the PMD drops them before key
// extraction anyway. Nothing is read past the frame.
//
// Thread-safety: called by the PMD that polls the port, with a snapshot it
// loaded in the same iteration.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "actions.h"
#include "tunnel_hdr.h"
#include "tunnel_pmd.h"
#include "underlay.h"

namespace dpx {

enum class UnderlayVerdict : uint8_t { kPlain, kDecap, kPunt, kDrop };

struct DecapResult {
  uint32_t tunnel_odp = 0;              // kDecap: the tunnel port the packet arrives on
  uint8_t slot = 0;                     // kDecap: its counter slot
  TunnelDrop why = TunnelDrop::kCount;  // kDrop: the reason
  TunnelMeta tun;                       // kDecap: the tunnel metadata (else not set)
};

// Classifies one frame received on underlay port `port` and, for a tunnel
// packet that validates, strips the outer headers in place (m then starts at
// the inner Ethernet header and ends with the inner frame). Does not free or
// count anything.
UnderlayVerdict underlay_classify(const UnderlaySnapshot& s, const UnderlayPortInfo& port,
                                  rte_mbuf* m, DecapResult* out);

// A run: consecutive decapsulated packets of a burst (in dec_pkts order) to
// one tunnel port whose tunnel metadata is the same but for the outer UDP
// source port, which a VTEP sets per inner flow. Packets from one remote
// VTEP and VNI are one run however many inner flows they carry, so what
// depends only on the tunnel (its counters, the simple-match lookup,
// pmd_simple.cc) is done once per run. A Geneve packet with options is a
// run of its own (its options lie in its own headroom).
struct DecapRun {
  uint32_t first;  // index of its first packet in dec_pkts
  uint32_t n;      // its packets: dec_pkts[first .. first + n)
  uint32_t tunnel_odp;
  uint8_t slot;    // the tunnel port's counter slot
  TunnelMeta tun;  // the run's metadata; tp_src is its first packet's
};

// The stage over one rx burst of underlay port `in_odp`. Plain packets stay
// in pkts, compacted in order; the return value is their number.
// Decapsulated packets go to dec_pkts, their outer UDP source ports to
// dec_tp_src (be16, same index), in runs (above), *n_runs of them; the
// three arrays need room for n. ARP punts go to the control thread through
// sh.events[pmd_index]; drops are freed and counted in t.counters. With no
// snapshot, or if in_odp is not an underlay port in it, every packet is
// plain.
uint32_t tunnel_underlay_rx_runs(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index,
                                 uint32_t in_odp, rte_mbuf** pkts, uint32_t n, rte_mbuf** dec_pkts,
                                 uint16_t* dec_tp_src, DecapRun* runs, uint32_t* n_runs);

// The next pass's state of a packet of run `r` with outer UDP source port
// `tp_src`: in_port = the tunnel port, the tunnel metadata, nothing else.
inline void decap_state(const DecapRun& r, uint16_t tp_src, PacketState* st) {
  st->in_port = r.tunnel_odp;
  st->recirc_id = 0;
  st->dp_hash = 0;
  st->skb_mark = 0;
  st->priority = 0;
  st->trunc_max_len = 0;
  st->tun = r.tun;
  st->tun.tp_src = tp_src;
}

// The same stage with every decapsulated packet's state spelled out: they
// go to dec_pkts with their next pass's state (decap_state()) in
// dec_states, *n_dec of them; dec_pkts and dec_states need room for n.
uint32_t tunnel_underlay_rx(TunnelPmd& t, const TunnelShared& sh, uint32_t pmd_index,
                            uint32_t in_odp, rte_mbuf** pkts, uint32_t n, rte_mbuf** dec_pkts,
                            PacketState* dec_states, uint32_t* n_dec);

}  // namespace dpx
