#include "flow_table.h"

#include <cerrno>
#include <cstring>
#include <new>

#include "rcu.h"

namespace dpx {

namespace {

FlowKey mask_key(const FlowKey& key, const FlowKey& mask) {
  FlowKey out;
  for (size_t i = 0; i < FlowKey::kWords; i++) out.words()[i] = key.words()[i] & mask.words()[i];
  return out;
}

constexpr size_t kOptWords = FlowKey::kWords - FlowKey::kHeadWords;

bool mask_has_opts(const FlowKey& mask) {
  uint64_t any = 0;
  for (size_t i = FlowKey::kHeadWords; i < FlowKey::kWords; i++) any |= mask.words()[i];
  return any != 0;
}

}  // namespace

size_t Flow::alloc_size(const FlowKey& mask) {
  return sizeof(Flow) + (mask_has_opts(mask) ? 2 * kOptWords * 8 : 0);
}

Flow* Flow::create(const FlowKey& key, const FlowKey& mask) {
  const bool opts = mask_has_opts(mask);
  void* mem = ::operator new (alloc_size(mask), std::align_val_t{alignof(Flow)});
  Flow* f = new (mem) Flow(opts);
  const uint32_t n = f->key_word_count();
  for (uint32_t i = 0; i < n; i++) f->key_head.w[i] = key.words()[i] & mask.words()[i];
  std::memcpy(f->mask_head.w, mask.words(), FlowKey::kHeadBytes);
  if (opts) std::memcpy(f->tail() + kOptWords, mask.words() + FlowKey::kHeadWords, kOptWords * 8);
  return f;
}

void Flow::destroy(Flow* flow) {
  flow->magic = kFlowPoison;
  flow->~Flow();
  ::operator delete (flow, std::align_val_t{alignof(Flow)});
}

FlowKey Flow::key() const {
  FlowKey k;
  k.clear();
  std::memcpy(k.words(), key_words(), size_t{key_word_count()} * 8);
  return k;
}

FlowKey Flow::mask() const {
  FlowKey m;
  m.clear();
  std::memcpy(m.words(), mask_head.w, FlowKey::kHeadBytes);
  if (has_opts) std::memcpy(m.words() + FlowKey::kHeadWords, mask_opts(), kOptWords * 8);
  return m;
}

bool Flow::key_is(const FlowKey& masked_key) const {
  return std::memcmp(key_words(), masked_key.words(), size_t{key_word_count()} * 8) == 0;
}

void flow_set_run_words(Flow* flow) {
  // Packet keys are defined in their head only (the option area past
  // tun_opts_len is not written), so a mask on options has no run.
  if (flow->has_opts) {
    flow->n_run_words = Flow::kNoRunWords;
    return;
  }
  const uint64_t* m = flow->mask_head.w;
  uint8_t n = 0;
  for (size_t i = 0; i < FlowKey::kHeadWords; i++)
    if (m[i] != 0) flow->run_words[n++] = static_cast<uint8_t>(i);
  flow->n_run_words = n;
  flow->run_line0 = n == 0 || flow->run_words[n - 1] < 8;
}

FlowStatsSnapshot flow_stats(const Flow& flow) {
  FlowStatsSnapshot s;
  s.packets = flow.packets.load(std::memory_order_relaxed);
  s.bytes = flow.bytes.load(std::memory_order_relaxed);
  s.used_ms = flow.used_ms.load(std::memory_order_relaxed);
  s.tcp_flags = flow.tcp_flags.load(std::memory_order_relaxed);
  return s;
}

FlowTable::FlowTable(Rcu* rcu, void (*free_actions)(const ActionProgram*), uint32_t max_flows,
                     CpuIsa isa)
    : rcu_(rcu), free_actions_(free_actions), max_flows_(max_flows), cls_(rcu, isa) {}

FlowTable::~FlowTable() {
  // The classifier (destroyed after this body) never dereferences flows when
  // it is torn down, so freeing them first is safe.
  for (auto& [ufid, flow] : by_ufid_) destroy(flow, free_actions_);
}

void FlowTable::destroy(Flow* flow, void (*free_actions)(const ActionProgram*)) {
  if (const ActionProgram* p = flow->actions.load(std::memory_order_relaxed)) free_actions(p);
  Flow::destroy(flow);
}

int FlowTable::put(const FlowPutArgs& args, FlowStatsSnapshot* old_stats) {
  const FlowKey key = mask_key(args.key, args.mask);
  auto it = by_ufid_.find(args.ufid);

  if (it == by_ufid_.end()) {
    if (!(args.flags & kFlowPutCreate)) return ENOENT;
    if (by_ufid_.size() >= max_flows_) return EFBIG;
    if (cls_.find_exact(key, args.mask) != nullptr) return EEXIST;

    Flow* flow = Flow::create(key, args.mask);
    flow_set_run_words(flow);
    flow->actions.store(args.program, std::memory_order_relaxed);
    flow->ufid = args.ufid;
    flow->dump_seq = next_seq_++;
    flow->key_attrs.assign(args.key_attrs.begin(), args.key_attrs.end());
    flow->mask_attrs.assign(args.mask_attrs.begin(), args.mask_attrs.end());
    flow->action_attrs.assign(args.action_attrs.begin(), args.action_attrs.end());
    // The classifier's release store publishes every field written above.
    cls_.insert(flow);
    by_ufid_.emplace(args.ufid, flow);
    by_seq_.emplace(flow->dump_seq, flow);
    if (old_stats) *old_stats = FlowStatsSnapshot{};
    return 0;
  }

  Flow* flow = it->second;
  if (!(args.flags & kFlowPutModify)) return (args.flags & kFlowPutCreate) ? EEXIST : EINVAL;
  if (!flow->key_is(key) || !keys_identical(flow->mask(), args.mask)) return EINVAL;

  if (args.flags & kFlowPutZeroStats) {
    // Read and zero each counter in one atomic step, so packets a PMD counts
    // meanwhile land either in the old stats or in the new ones, never in
    // neither.
    FlowStatsSnapshot s;
    s.packets = flow->packets.exchange(0, std::memory_order_relaxed);
    s.bytes = flow->bytes.exchange(0, std::memory_order_relaxed);
    s.used_ms = flow->used_ms.exchange(0, std::memory_order_relaxed);
    s.tcp_flags = flow->tcp_flags.exchange(0, std::memory_order_relaxed);
    if (old_stats) *old_stats = s;
  } else if (old_stats) {
    *old_stats = flow_stats(*flow);
  }
  const ActionProgram* old = flow->actions.exchange(args.program, std::memory_order_acq_rel);
  flow->action_attrs.assign(args.action_attrs.begin(), args.action_attrs.end());
  if (old != nullptr) {
    // PMDs hold a program only within a burst, so one grace period suffices.
    rcu_->defer([fa = free_actions_, old] { fa(old); });
  }
  return 0;
}

void FlowTable::unlink(Flow* flow) {
  cls_.remove(flow);
  by_seq_.erase(flow->dump_seq);
  // Marked dead before the caller bumps the removal epoch (release), so a PMD
  // that sees the new epoch also sees dead == true (emc.h).
  flow->dead.store(true, std::memory_order_release);
}

int FlowTable::del(const Ufid& ufid, FlowStatsSnapshot* final_stats) {
  auto it = by_ufid_.find(ufid);
  if (it == by_ufid_.end()) return ENOENT;
  Flow* flow = it->second;
  by_ufid_.erase(it);
  unlink(flow);
  removal_epoch_.fetch_add(1, std::memory_order_release);
  if (final_stats) *final_stats = flow_stats(*flow);
  // Queued after the epoch bump: the first grace period then starts after
  // every PMD could see the new epoch. See emc.h for why two are needed.
  rcu_->defer_two_gp([fa = free_actions_, flow] { destroy(flow, fa); });
  return 0;
}

const Flow* FlowTable::find(const Ufid& ufid) const {
  auto it = by_ufid_.find(ufid);
  return it == by_ufid_.end() ? nullptr : it->second;
}

void FlowTable::flush() {
  if (by_ufid_.empty()) return;
  std::vector<Flow*> flows;
  flows.reserve(by_ufid_.size());
  for (auto& [ufid, flow] : by_ufid_) {
    unlink(flow);
    flows.push_back(flow);
  }
  by_ufid_.clear();
  removal_epoch_.fetch_add(1, std::memory_order_release);
  rcu_->defer_two_gp([fa = free_actions_, flows = std::move(flows)] {
    for (Flow* f : flows) destroy(f, fa);
  });
}

uint64_t FlowTable::dump(uint64_t cursor, uint32_t max, std::vector<const Flow*>* out) const {
  auto it = by_seq_.lower_bound(cursor);
  for (uint32_t n = 0; n < max && it != by_seq_.end(); n++, ++it) out->push_back(it->second);
  return it == by_seq_.end() ? 0 : it->first;
}

}  // namespace dpx
