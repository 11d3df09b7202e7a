// The PMD's side of upcalls for misses: handing a burst's misses to the
// upcall ring, holding the later misses of a key whose upcall is in flight
// (pmd.h, "In-flight misses"), and the second first pass of the misses the
// control thread sends back or the hold releases.
#include <cstring>

#include "flow_hash.h"
#include "pmd.h"

namespace dpx {

namespace {

// pending_ slot encoding (pmd.h): key hash in the high half, the upcall's
// time in ms (31 bits, wrapping) shifted left by one, bit 0 "answered".
constexpr uint64_t pending_entry(uint32_t hash, uint64_t ms, bool answered) {
  return (uint64_t{hash} << 32) | ((ms & 0x7fffffffu) << 1) | (answered ? 1u : 0u);
}
constexpr uint32_t pending_hash(uint64_t e) { return static_cast<uint32_t>(e >> 32); }
constexpr bool pending_answered(uint64_t e) { return e & 1u; }
// Milliseconds since the entry's upcall, modulo 2^31.
constexpr uint32_t pending_age(uint64_t e, uint64_t now_ms) {
  return static_cast<uint32_t>((now_ms - (static_cast<uint32_t>(e) >> 1)) & 0x7fffffffu);
}

// A miss's state for its next first pass: the Geneve options it had live
// in its UpcallMeta, not where state.tun.opts pointed when it missed.
PacketState held_state(rte_mbuf* m) {
  UpcallMeta* um = upcall_meta(m);
  PacketState st = um->state;
  st.tun.opts = um->tun_opts;
  return st;
}

}  // namespace

void Pmd::upcall_answered(uint32_t hash) {
  std::atomic<uint64_t>& slot = pending_[hash % kPendingSlots];
  uint64_t e = slot.load(std::memory_order_relaxed);
  if (e == 0 || pending_hash(e) != hash || pending_answered(e)) return;
  // Fails only if the PMD replaced the entry meanwhile: then its own new
  // upcall is what counts.
  slot.compare_exchange_strong(e, e | 1u, std::memory_order_relaxed);
}

void Pmd::handle_misses(rte_mbuf** pkts, const FlowKey* const* keys, uint32_t n) {
  if (!shared_->upcalls_enabled.load(std::memory_order_relaxed)) {
    for (uint32_t i = 0; i < n; ++i) drop(pkts[i], PmdDrop::kMissNoControlPlane);
    counters.lost.add(n);
    return;
  }
  rte_mbuf* up[kMaxBurst];
  uint32_t up_hash[kMaxBurst];  // key hash of up[i] if it marked its key in flight, else 0
  uint32_t n_up = 0, n_held = 0;
  for (uint32_t i = 0; i < n; ++i) {
    UpcallMeta* um = upcall_meta(pkts[i]);
    um->kind = UpcallKind::kMiss;
    um->has_egress_tun_port = 0;
    um->userdata_len = 0;
    um->pid = 0;
    um->egress_tun_port = 0;
    um->orig_len = pkts[i]->pkt_len;
    um->state = PacketState::from_key(*keys[i]);
    if (keys[i]->tun_opts_len) [[unlikely]]
      std::memcpy(um->tun_opts, keys[i]->tun_opts_data(), keys[i]->tun_opts_len);

    const uint32_t hash = hash_key(*keys[i]);
    const uint32_t s = hash % kPendingSlots;
    const uint64_t e = pending_[s].load(std::memory_order_relaxed);
    const bool in_flight =
        e != 0 && pending_hash(e) == hash && pending_age(e, now_ms_) < kPendingMs;
    if (!in_flight) {
      // The key's first miss (or its upcall timed out): it goes up.
      pending_[s].store(pending_entry(hash, now_ms_, false), std::memory_order_relaxed);
      up_hash[n_up] = hash;
      up[n_up++] = pkts[i];
    } else if (pending_answered(e)) {
      // OVS answered without a flow that matches this packet: every packet
      // is its to handle, as the kernel datapath would upcall each.
      up_hash[n_up] = 0;
      up[n_up++] = pkts[i];
    } else if (held_n_ < kMaxHeld && held_per_slot_[s] < kMaxHeldPerKey) {
      const uint32_t t = (held_head_ + held_n_++) % kMaxHeld;
      held_[t] = pkts[i];
      held_hash_[t] = hash;
      ++held_per_slot_[s];
      ++n_held;
    } else {
      counters.lost.add();
      drop(pkts[i], PmdDrop::kUpcallHoldFull);
    }
  }
  // A held packet counts as a miss once, when it first misses: looked up
  // again (run_held), it is not counted again, so that hit + missed stays
  // the packets looked up.
  if (!retrying_) counters.upcalls.add(n_held);
  if (n_up == 0) return;
  const unsigned q =
      rte_ring_sp_enqueue_burst(upcall_ring_, reinterpret_cast<void**>(up), n_up, nullptr);
  if (!retrying_) counters.upcalls.add(q);
  for (uint32_t i = q; i < n_up; ++i) {
    // A key's first miss that does not fit is not in flight: the next miss
    // of the key is its first again.
    if (up_hash[i]) {
      std::atomic<uint64_t>& slot = pending_[up_hash[i] % kPendingSlots];
      uint64_t e = slot.load(std::memory_order_relaxed);
      if (pending_hash(e) == up_hash[i])
        slot.compare_exchange_strong(e, 0, std::memory_order_relaxed);
    }
    counters.lost.add();
    drop(up[i], PmdDrop::kUpcallQueueFull);
  }
}

void Pmd::run_held() {
  // One pass over what is held now; what misses again and is held again
  // goes to the back and waits for the next pass.
  uint32_t todo = held_n_;
  rte_mbuf* pkts[kMaxBurst];
  PacketState states[kMaxBurst];
  uint32_t n = 0;
  auto look_up_again = [&] {
    // As run_reinjected(): the second lookup is not counted as a hit.
    const uint64_t emc = counters.emc_hits.get(), mega = counters.megaflow_hits.get(),
                   masks = counters.masks_visited.get();
    cur_depth_ = 0;
    retrying_ = true;
    process(pkts, n, 0, states, 0, nullptr);
    retrying_ = false;
    counters.emc_hits.v.store(emc, std::memory_order_relaxed);
    counters.megaflow_hits.v.store(mega, std::memory_order_relaxed);
    counters.masks_visited.v.store(masks, std::memory_order_relaxed);
    run_recirculations();
    n = 0;
  };
  for (; todo; --todo) {
    rte_mbuf* m = held_[held_head_];
    const uint32_t hash = held_hash_[held_head_];
    held_head_ = (held_head_ + 1) % kMaxHeld;
    --held_n_;
    const uint32_t s = hash % kPendingSlots;
    const uint64_t e = pending_[s].load(std::memory_order_relaxed);
    if (e != 0 && pending_hash(e) == hash && !pending_answered(e)) {
      if (pending_age(e, now_ms_) < kPendingMs) {
        // Still in flight: back in line, untouched (a load per packet,
        // not a lookup).
        const uint32_t t = (held_head_ + held_n_++) % kMaxHeld;
        held_[t] = m;
        held_hash_[t] = hash;
        continue;
      }
      // No answer in time (the upcall was dropped on its way, or the
      // handlers are that far behind): the key's held misses that still
      // miss go up, each, as they did before there was a hold, and so do
      // its misses for the next kPendingMs.
      pending_[s].store(pending_entry(hash, now_ms_, true), std::memory_order_relaxed);
    }
    --held_per_slot_[s];
    pkts[n] = m;
    states[n++] = held_state(m);
    if (n == kMaxBurst) look_up_again();
  }
  if (n) look_up_again();
}

void Pmd::run_reinjected() {
  rte_mbuf* pkts[kMaxBurst];
  PacketState states[kMaxBurst];
  const unsigned n =
      rte_ring_sc_dequeue_burst(reinject_ring_, reinterpret_cast<void**>(pkts), kMaxBurst, nullptr);
  // A second first pass, with the metadata the miss had (in_port,
  // recirc_id, tunnel, ...). Should the flow be gone again, the packet
  // misses and goes up as any miss.
  for (unsigned i = 0; i < n; ++i) states[i] = held_state(pkts[i]);
  // These packets were counted once, as misses (upcalls): their second
  // lookup is not counted as a hit, so that hit + missed stays the packets
  // looked up. (This thread is the counters' only writer.)
  const uint64_t emc = counters.emc_hits.get(), mega = counters.megaflow_hits.get(),
                 masks = counters.masks_visited.get();
  cur_depth_ = 0;
  process(pkts, n, 0, states, 0, nullptr);
  counters.emc_hits.v.store(emc, std::memory_order_relaxed);
  counters.megaflow_hits.v.store(mega, std::memory_order_relaxed);
  counters.masks_visited.v.store(masks, std::memory_order_relaxed);
  run_recirculations();
}

}  // namespace dpx
