// Cold helpers of the action executor: drop reason names and freeing
// programs. The per-packet code is all in actions.h.
#include "actions.h"

#include <cstdlib>

namespace dpx {

const char* action_drop_name(ActionDrop r) {
  static constexpr const char* kNames[] = {
#define DPX_X(name, str) str,
      DPX_ACTION_DROP_REASONS(DPX_X)
#undef DPX_X
  };
  static_assert(sizeof kNames / sizeof kNames[0] == kActionDropCount);
  size_t i = static_cast<size_t>(r);
  return i < kActionDropCount ? kNames[i] : "unknown";
}

void free_action_program(const ActionProgram* p) {
  // compile_actions() allocates with std::aligned_alloc.
  std::free(const_cast<ActionProgram*>(p));
}

}  // namespace dpx
