// Drop reasons of the PMD stage itself (what is not key extraction's or the
// action executor's, which keep their own tables beside their code). One
// table, one name per reason: the names are what `dpxctl pmd-stats-show`
// and the OVS statistics print.
#pragma once

#include <cstdint>

namespace dpx {

#define DPX_PMD_DROPS(X)                                                                   \
  X(kMissNoControlPlane, "miss_no_control_plane") /* miss while no upcall reader */        \
  X(kUpcallQueueFull, "upcall_queue_full")        /* miss/userspace, queue full */         \
  X(kUpcallHoldFull, "upcall_hold_full")          /* miss of a key in flight, hold full */ \
  X(kUpcallCopyFailed, "upcall_copy_failed")      /* userspace action, no mbuf */          \
  X(kUpcallUserdataTooLong, "upcall_userdata_too_long")                                    \
  X(kRecircTooDeep, "recirc_too_deep") /* more than kMaxRecircDepth */                     \
  X(kRecircQueueFull, "recirc_queue_full")                                                 \
  X(kNoSuchPort, "output_no_such_port") /* output to a removed port */                     \
  X(kTxFull, "tx_queue_full")           /* device did not take it */                       \
  /* Software offload (offload.h): */                                                      \
  X(kOffloadUnsupported, "offload_unsupported")    /* e.g. UDP segmentation */             \
  X(kOffloadBadMetadata, "offload_bad_metadata")   /* lengths/flags vs headers */          \
  X(kOffloadNoMbuf, "offload_no_mbuf")             /* a pool ran dry */                    \
  X(kOffloadIpv6Fragment, "offload_ipv6_fragment") /* offload of an IPv6 fragment */

enum class PmdDrop : uint8_t {
#define X(e, s) e,
  DPX_PMD_DROPS(X)
#undef X
      kCount
};

inline const char* pmd_drop_name(PmdDrop d) {
  static const char* const names[] = {
#define X(e, s) s,
      DPX_PMD_DROPS(X)
#undef X
  };
  return static_cast<unsigned>(d) < static_cast<unsigned>(PmdDrop::kCount)
             ? names[static_cast<unsigned>(d)]
             : "?";
}

}  // namespace dpx
