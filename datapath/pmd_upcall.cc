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
  if (!slot.compare_exchange_strong(e, e | 1u, std::memory_order_relaxed)) return;
  // Tell the PMD which key, so that it looks at that key's held packets
  // alone. Release: the answered mark is visible before the hash.
  if (rte_ring_sp_enqueue(answered_ring_, reinterpret_cast<void*>(uintptr_t{hash})) != 0)
    answered_overflow_.store(true, std::memory_order_release);
}

void Pmd::hold(uint32_t slot, rte_mbuf* m) {
  const uint16_t e = held_free_;
  held_free_ = held_next_[e];
  held_[e] = m;
  held_next_[e] = kNoHeld;
  HeldList& l = held_lists_[slot];
  if (l.count == 0) {
    l.first = e;
    l.active_pos = static_cast<uint16_t>(n_active_);
    active_[n_active_++] = static_cast<uint16_t>(slot);
  } else {
    held_next_[l.last] = e;
  }
  l.last = e;
  ++l.count;
  ++held_n_;
}

void Pmd::release_held(uint32_t slot, rte_mbuf** pkts, PacketState* states, uint32_t* n) {
  HeldList& l = held_lists_[slot];
  if (l.count == 0) return;
  // Detached first: looking the packets up again may hold some of them
  // again, in this very list.
  uint16_t e = l.first;
  held_n_ -= l.count;
  const uint16_t moved = active_[--n_active_];  // swap-remove from active_
  active_[l.active_pos] = moved;
  held_lists_[moved].active_pos = l.active_pos;
  l = HeldList{};
  while (e != kNoHeld) {
    const uint16_t next = held_next_[e];
    pkts[*n] = held_[e];
    states[*n] = held_state(held_[e]);
    held_next_[e] = held_free_;
    held_free_ = e;
    if (++*n == kMaxBurst) {
      look_up_held(pkts, states, *n);
      *n = 0;
    }
    e = next;
  }
}

void Pmd::look_up_held(rte_mbuf** pkts, const PacketState* states, uint32_t n) {
  // As run_reinjected(): the second lookup is not counted as a hit, and a
  // miss is not counted again (retrying_).
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
        e != 0 && pending_hash(e) == hash && pending_age(e, now_ms_) < shared_->upcall_hold_ms;
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
    } else if (held_n_ < kMaxHeld && held_lists_[s].count < kMaxHeldPerKey) {
      hold(s, pkts[i]);
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
  upcalled_ |= q != 0;
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
  rte_mbuf* pkts[kMaxBurst];
  PacketState states[kMaxBurst];
  uint32_t n = 0;
  // The answered keys' lists. A list may hold another key's packets too
  // (a hash collision in pending_): they are looked up again as well and,
  // still missing, go through handle_misses() once more, harmlessly.
  void* answered[64];
  unsigned k;
  while ((k = rte_ring_sc_dequeue_burst(answered_ring_, answered, 64, nullptr)) != 0)
    for (unsigned i = 0; i < k; ++i)
      if (held_n_)
        release_held(
            static_cast<uint32_t>(reinterpret_cast<uintptr_t>(answered[i])) % kPendingSlots, pkts,
            states, &n);
  const bool overflow = answered_overflow_.load(std::memory_order_relaxed) &&
                        answered_overflow_.exchange(false, std::memory_order_acquire);
  if (held_n_ && (overflow || now_ms_ != held_scan_ms_)) {
    // Once a millisecond (or after a lost answer), every list: released
    // if its slot's upcall was answered, replaced or has timed out.
    held_scan_ms_ = now_ms_;
    uint16_t due[kMaxHeld];
    uint32_t n_due = 0;
    for (uint32_t a = 0; a < n_active_; ++a) {
      const uint32_t s = active_[a];
      const uint64_t e = pending_[s].load(std::memory_order_relaxed);
      if (e != 0 && !pending_answered(e)) {
        if (pending_age(e, now_ms_) < shared_->upcall_hold_ms) continue;  // still in flight
        // No answer in time (the upcall was dropped on its way, or the
        // handlers are that far behind): the key's held misses that still
        // miss go up, each, as they did before there was a hold, and so
        // do its misses for the next upcall_hold_ms.
        pending_[s].store(pending_entry(pending_hash(e), now_ms_, true), std::memory_order_relaxed);
        counters.hold_timeouts.add();
      }
      due[n_due++] = static_cast<uint16_t>(s);
    }
    for (uint32_t d = 0; d < n_due; ++d) release_held(due[d], pkts, states, &n);
  }
  if (n) look_up_held(pkts, states, n);
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
