/* The dpxd control protocol: wire definitions.
 *
 * This header is plain C (C99 and C++ both include it) so that any client,
 * including one written in C against this file alone, can speak to dpxd.
 * docs/control-protocol.md describes the protocol in prose; this file is the
 * normative list of numbers. Numbers are never reused: a retired message
 * type or attribute keeps its slot.
 *
 * Transport: a Unix stream socket (default DPX_CTL_DEFAULT_PATH, mode 0600,
 * so root-only unless the operator says otherwise). Both ends are on one
 * host, so every integer, in the header and in attributes, is in host byte
 * order, exactly as in netlink.
 *
 * Framing: every message is a struct dpx_ctl_hdr followed by a body of
 * netlink attributes (struct nlattr, 4-byte aligned, see datapath/nlattr.h).
 * hdr.length counts the whole message, header included. A length below
 * sizeof(struct dpx_ctl_hdr) or above DPX_CTL_MAX_MSG is broken framing: the
 * server closes that one connection, since it can no longer find the next
 * message boundary. A well-framed message with a bad body gets an error
 * reply and the connection stays open.
 *
 * Requests and replies: a client sends a request with flags 0 and a
 * request_id of its choosing; the server answers every request with exactly
 * one reply of the same type, the same request_id, DPX_CTL_F_REPLY set and
 * error 0 or a positive errno. An error reply may carry DPX_CTL_A_ERROR_MSG.
 * Replies come in request order. The server sends DPX_CTL_UPCALL messages
 * (flag DPX_CTL_F_PUSH, request_id = per-connection sequence number) only
 * to connections that subscribed with DPX_CTL_UPCALL_SUBSCRIBE; they may be
 * interleaved with replies on that connection.
 *
 * Versions: hdr.version is the protocol version the sender speaks. The
 * server answers a request in a version it does not speak with
 * EPROTONOSUPPORT. DPX_CTL_HELLO lets a client learn the server's range and
 * agree on one; a HELLO is always accepted whatever its header version.
 *
 * Attributes: each object (a port, a flow, ...) is a nested attribute with
 * its own attribute numbering, listed below. Decoders are strict: an
 * unknown attribute, a known one with the wrong payload size, a repeated
 * non-repeatable one or a missing required one makes the request fail with
 * EINVAL. New fields come with a new protocol version, negotiated by HELLO.
 * Strings are NUL-terminated, as in netlink, and may not contain NUL.
 */
#ifndef DPX_CONTROL_PROTO_H
#define DPX_CONTROL_PROTO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DPX_CTL_DEFAULT_PATH "/run/dpx/dpxd.sock"

/* Protocol versions this header describes. */
#define DPX_CTL_VERSION_MIN 1
#define DPX_CTL_VERSION_MAX 1

/* Largest message, header included, in either direction. Large enough for
 * thousands of flows per FLOW_PUT or FLOW_DUMP, small enough that one bad
 * client cannot make the server buffer much. */
#define DPX_CTL_MAX_MSG (1u << 20)

/* One attribute's payload is at most 65535 - 4 bytes (nla_len is 16 bits);
 * this bounds packets in EXECUTE and UPCALL and the ODP key/mask/actions. */
#define DPX_CTL_MAX_ATTR_PAYLOAD (65535u - 4u)

struct dpx_ctl_hdr {
  uint32_t length;     /* whole message in bytes, this header included */
  uint16_t version;    /* protocol version of the sender */
  uint16_t type;       /* enum dpx_ctl_type */
  uint32_t request_id; /* echoed in the reply; sequence number in pushes */
  int32_t error;       /* replies: 0 or a positive errno; requests: 0 */
  uint32_t flags;      /* DPX_CTL_F_* */
};
#define DPX_CTL_HDR_LEN 20u

#define DPX_CTL_F_REPLY 0x1u /* a reply to the request with this request_id */
#define DPX_CTL_F_PUSH 0x2u  /* unsolicited server message (upcalls) */

enum dpx_ctl_type {
  DPX_CTL_HELLO = 1,       /* VERSION_MIN, VERSION_MAX, SOFTWARE? -> VERSION, MAX_MSG, SOFTWARE */
  DPX_CTL_PORT_ADD = 2,    /* PORT{NAME, TYPE, DEVARGS?, NO?, OPTION*, N_RXQ?} -> PORT */
  DPX_CTL_PORT_DEL = 3,    /* PORT_NO | PORT_NAME -> (empty) */
  DPX_CTL_PORT_GET = 4,    /* PORT_NO | PORT_NAME -> PORT */
  DPX_CTL_PORT_DUMP = 5,   /* (empty) -> PORT* */
  DPX_CTL_FLOW_PUT = 6,    /* FLOW{UFID, KEY, MASK, ACTIONS, FLAGS?}+ -> FLOW{UFID, ERRNO, ...}+ */
  DPX_CTL_FLOW_DEL = 7,    /* FLOW{UFID}+ -> FLOW{UFID, ERRNO, stats?}+ */
  DPX_CTL_FLOW_GET = 8,    /* FLOW{UFID} -> FLOW */
  DPX_CTL_FLOW_DUMP = 9,   /* CURSOR?, MAX_ENTRIES?, TERSE? -> FLOW*, CURSOR */
  DPX_CTL_FLOW_FLUSH = 10, /* (empty) -> (empty) */
  DPX_CTL_EXECUTE = 11,    /* PACKET, KEY, ACTIONS, PROBE? -> (empty) */
  DPX_CTL_DP_STATS = 12,   /* (empty) -> DP_STATS */
  DPX_CTL_PMD_STATS = 13,  /* (empty) -> PMD* */
  DPX_CTL_PMD_STATS_CLEAR = 14,  /* (empty) -> (empty) */
  DPX_CTL_UPCALL_SUBSCRIBE = 15, /* SUBSCRIBE_MODE? -> (empty); then UPCALL pushes */
  DPX_CTL_UPCALL = 16,           /* push only: UPCALL_* attributes at top level */
  DPX_CTL_DP_SET = 17,           /* FLOW_LIMIT?, EMC_ENABLE?, PMD_SLEEP_MAX_US? -> (empty) */
  /* Tunnel underlay (docs/tunnels.md); codecs in tunnels/tunnel_msg.h. */
  DPX_CTL_TNL_IP_ADD = 18,  /* TNL_IP{ADDR, PLEN, PORT_NAME} -> (empty) */
  DPX_CTL_TNL_IP_DEL = 19,  /* TNL_IP{ADDR, PLEN, PORT_NAME} -> (empty) */
  DPX_CTL_TNL_IP_DUMP = 20, /* (empty) -> TNL_IP* */
  DPX_CTL_ROUTE_ADD = 21,   /* ROUTE{PREFIX, PLEN, PORT_NAME, GATEWAY?, SRC?} -> (empty) */
  DPX_CTL_ROUTE_DEL = 22,   /* ROUTE{PREFIX, PLEN} -> (empty) */
  DPX_CTL_ROUTE_DUMP = 23,  /* (empty) -> ROUTE* */
  DPX_CTL_NEIGH_SET = 24,   /* NEIGH{ADDR, MAC, PORT_NAME} -> (empty): a static entry */
  DPX_CTL_NEIGH_FLUSH = 25, /* (empty) -> (empty): forgets every learned entry */
  DPX_CTL_NEIGH_DUMP = 26,  /* (empty) -> NEIGH* */
  DPX_CTL_TNL_STATS = 27,   /* (empty) -> TNL_PORT*, TNL_COUNTER* */
  DPX_CTL_TYPE_MAX = 27
};

/* Top-level attributes of message bodies. */
enum dpx_ctl_attr {
  DPX_CTL_A_UNSPEC = 0,
  DPX_CTL_A_ERROR_MSG = 1,       /* string: human-readable reason of an error reply */
  DPX_CTL_A_VERSION_MIN = 2,     /* u32 */
  DPX_CTL_A_VERSION_MAX = 3,     /* u32 */
  DPX_CTL_A_VERSION = 4,         /* u32: version the server chose */
  DPX_CTL_A_SOFTWARE = 5,        /* string: e.g. "dpxd 0.1.0", "dpxctl 0.1.0" */
  DPX_CTL_A_MAX_MSG = 6,         /* u32: the server's DPX_CTL_MAX_MSG */
  DPX_CTL_A_PORT = 7,            /* nested enum dpx_port_attr; repeated in PORT_DUMP */
  DPX_CTL_A_PORT_NO = 8,         /* u32: odp port number */
  DPX_CTL_A_PORT_NAME = 9,       /* string */
  DPX_CTL_A_FLOW = 10,           /* nested enum dpx_flow_attr; repeated in batches */
  DPX_CTL_A_CURSOR = 11,         /* u64: dump position; 0 = start (request) or done (reply) */
  DPX_CTL_A_MAX_ENTRIES = 12,    /* u32: dump batch size hint, 0 = server's choice */
  DPX_CTL_A_TERSE = 13,          /* flag: dump only ufid and stats */
  DPX_CTL_A_PACKET = 14,         /* bytes: an Ethernet frame */
  DPX_CTL_A_KEY = 15,            /* bytes: OVS_KEY_ATTR_* sequence (packet metadata for EXECUTE) */
  DPX_CTL_A_ACTIONS = 16,        /* bytes: OVS_ACTION_ATTR_* sequence */
  DPX_CTL_A_PROBE = 17,          /* flag: feature probe, dpxd does not log a failure */
  DPX_CTL_A_DP_STATS = 18,       /* nested enum dpx_dp_stats_attr */
  DPX_CTL_A_PMD = 19,            /* nested enum dpx_pmd_attr; repeated, one per PMD thread */
  DPX_CTL_A_SUBSCRIBE_MODE = 20, /* u32 enum dpx_upcall_mode */
  DPX_CTL_A_FLOW_LIMIT = 21,     /* u32: maximum number of flows */
  DPX_CTL_A_EMC_ENABLE = 22,     /* u32: 0 or 1 */
  DPX_CTL_A_PMD_SLEEP_MAX_US = 23, /* u32: longest PMD sleep when idle, 0 = never sleep */
  /* DPX_CTL_UPCALL body. */
  DPX_CTL_A_UPCALL_TYPE = 24,      /* u32 enum dpx_upcall_type */
  DPX_CTL_A_UPCALL_PID = 25,       /* u32: userspace(pid=) of the action, 0 for a miss */
  DPX_CTL_A_UPCALL_IN_PORT = 26,   /* u32 */
  DPX_CTL_A_UPCALL_RECIRC_ID = 27, /* u32 */
  DPX_CTL_A_UPCALL_DP_HASH = 28,   /* u32 */
  DPX_CTL_A_UPCALL_SKB_MARK = 29,  /* u32 */
  DPX_CTL_A_UPCALL_MRU = 30,       /* u32: 0 = no reassembly */
  DPX_CTL_A_UPCALL_TUNNEL = 31,    /* bytes: OVS_TUNNEL_KEY_ATTR_* sequence, absent = no tunnel */
  DPX_CTL_A_UPCALL_USERDATA = 32,  /* bytes: userspace(userdata=) of the action */
  DPX_CTL_A_UPCALL_ACTIONS = 33,   /* bytes: actions being executed (slow path / sampling) */
  /* PACKET and KEY above carry the frame and the key dpxd extracted. */
  /* Tunnel underlay messages. */
  DPX_CTL_A_TNL_IP = 34,      /* nested enum dpx_tnl_ip_attr; repeated in TNL_IP_DUMP */
  DPX_CTL_A_ROUTE = 35,       /* nested enum dpx_route_attr; repeated in ROUTE_DUMP */
  DPX_CTL_A_NEIGH = 36,       /* nested enum dpx_neigh_attr; repeated in NEIGH_DUMP */
  DPX_CTL_A_TNL_PORT = 37,    /* nested enum dpx_tnl_port_attr; repeated */
  DPX_CTL_A_TNL_COUNTER = 38, /* nested enum dpx_tnl_counter_attr; repeated */
  DPX_CTL_A_MAX = 38
};

/* Attributes inside DPX_CTL_A_PORT. */
enum dpx_port_attr {
  DPX_PORT_A_UNSPEC = 0,
  DPX_PORT_A_NO = 1,         /* u32: odp port number (request: the wanted one, optional) */
  DPX_PORT_A_NAME = 2,       /* string */
  DPX_PORT_A_TYPE = 3,       /* string: "dpdk", "afxdp", "tap", "vhostuser", "vxlan", ... */
  DPX_PORT_A_DEVARGS = 4,    /* string: DPDK devargs or the type's device string */
  DPX_PORT_A_OPTION = 5,     /* string "key=value"; repeated */
  DPX_PORT_A_N_RXQ = 6,      /* u32: rx queues (request: 0 or absent = type default) */
  DPX_PORT_A_N_TXQ = 7,      /* u32 */
  DPX_PORT_A_LINK_UP = 8,    /* u32: 0 or 1 */
  DPX_PORT_A_LINK_SPEED = 9, /* u32: Mbit/s, 0 = unknown */
  DPX_PORT_A_MTU = 10,       /* u32 */
  DPX_PORT_A_MAC = 11,       /* 6 bytes */
  DPX_PORT_A_STATS = 12,     /* nested enum dpx_port_stats_attr */
  DPX_PORT_A_QUEUE = 13,     /* nested enum dpx_queue_attr; repeated */
  DPX_PORT_A_DROP = 14,      /* nested enum dpx_drop_attr; repeated */
  DPX_PORT_A_COUNTER = 15,   /* nested enum dpx_drop_attr; repeated: other named events */
  DPX_PORT_A_MAX = 15
};

enum dpx_port_stats_attr {
  DPX_PSTATS_A_UNSPEC = 0,
  DPX_PSTATS_A_RX_PACKETS = 1, /* u64, every one of these */
  DPX_PSTATS_A_RX_BYTES = 2,
  DPX_PSTATS_A_TX_PACKETS = 3,
  DPX_PSTATS_A_TX_BYTES = 4,
  DPX_PSTATS_A_RX_DROPS = 5,
  DPX_PSTATS_A_TX_DROPS = 6,
  DPX_PSTATS_A_RX_ERRORS = 7,
  DPX_PSTATS_A_TX_ERRORS = 8,
  DPX_PSTATS_A_MAX = 8
};

enum dpx_queue_attr {
  DPX_QUEUE_A_UNSPEC = 0,
  DPX_QUEUE_A_ID = 1,      /* u32 queue index */
  DPX_QUEUE_A_TX = 2,      /* u32: 0 rx queue, 1 tx queue */
  DPX_QUEUE_A_PACKETS = 3, /* u64 */
  DPX_QUEUE_A_BYTES = 4,   /* u64 */
  DPX_QUEUE_A_DROPS = 5,   /* u64 */
  DPX_QUEUE_A_MAX = 5
};

enum dpx_drop_attr {
  DPX_DROP_A_UNSPEC = 0,
  DPX_DROP_A_REASON = 1, /* string: the drop counter's name, e.g. "rx_no_mbuf" */
  DPX_DROP_A_COUNT = 2,  /* u64 */
  DPX_DROP_A_MAX = 2
};

/* Attributes inside DPX_CTL_A_FLOW. */
enum dpx_flow_attr {
  DPX_FLOW_A_UNSPEC = 0,
  DPX_FLOW_A_UFID = 1,       /* 16 bytes: four u32 words */
  DPX_FLOW_A_KEY = 2,        /* bytes: OVS_KEY_ATTR_* sequence */
  DPX_FLOW_A_MASK = 3,       /* bytes: OVS_KEY_ATTR_* sequence */
  DPX_FLOW_A_ACTIONS = 4,    /* bytes: OVS_ACTION_ATTR_* sequence */
  DPX_FLOW_A_FLAGS = 5,      /* u32 DPX_FLOW_PUT_* */
  DPX_FLOW_A_PACKETS = 6,    /* u64 */
  DPX_FLOW_A_BYTES = 7,      /* u64 */
  DPX_FLOW_A_USED_MS = 8,    /* u64: CLOCK_MONOTONIC milliseconds of the last hit, 0 = never */
  DPX_FLOW_A_TCP_FLAGS = 9,  /* u32: OR of the TCP flags seen (low 12 bits) */
  DPX_FLOW_A_ERRNO = 10,     /* u32: per-entry result in batch replies, 0 = success */
  DPX_FLOW_A_ERROR_MSG = 11, /* string: per-entry reason */
  DPX_FLOW_A_MAX = 11
};

/* FLOW_PUT entry flags, the same meaning as OVS's DPIF_FP_*: CREATE alone
 * fails with EEXIST if the ufid exists, MODIFY alone fails with ENOENT if it
 * does not, both together create or modify. ZERO_STATS resets the stats of
 * a modified flow. PROBE marks a feature probe: the put is done as usual,
 * but dpxd does not log its failure. */
#define DPX_FLOW_PUT_CREATE 0x1u
#define DPX_FLOW_PUT_MODIFY 0x2u
#define DPX_FLOW_PUT_ZERO_STATS 0x4u
#define DPX_FLOW_PUT_PROBE 0x8u
#define DPX_FLOW_PUT_ALL 0xfu

enum dpx_dp_stats_attr {
  DPX_DPSTATS_A_UNSPEC = 0,
  DPX_DPSTATS_A_HIT = 1,                /* u64: packets that matched a flow */
  DPX_DPSTATS_A_MISSED = 2,             /* u64: packets that missed and were sent up */
  DPX_DPSTATS_A_LOST = 3,               /* u64: missed packets that could not be sent up */
  DPX_DPSTATS_A_N_FLOWS = 4,            /* u64 */
  DPX_DPSTATS_A_N_MASKS = 5,            /* u64: megaflow subtables */
  DPX_DPSTATS_A_MASK_HIT = 6,           /* u64: subtables visited by hits, total */
  DPX_DPSTATS_A_UPCALL_QUEUE_DROPS = 7, /* u64: upcalls dropped at a full queue */
  DPX_DPSTATS_A_EMC_HIT = 8,            /* u64 */
  DPX_DPSTATS_A_FLOW_LIMIT = 9,         /* u64 */
  DPX_DPSTATS_A_MAX = 9
};

enum dpx_pmd_attr {
  DPX_PMD_A_UNSPEC = 0,
  DPX_PMD_A_CORE = 1,            /* u32: lcore / CPU id */
  DPX_PMD_A_NUMA = 2,            /* u32 */
  DPX_PMD_A_PACKETS = 3,         /* u64: packets received */
  DPX_PMD_A_PASSES = 4,          /* u64: datapath passes (packets plus recirculations) */
  DPX_PMD_A_EMC_HITS = 5,        /* u64 */
  DPX_PMD_A_MEGAFLOW_HITS = 6,   /* u64 */
  DPX_PMD_A_UPCALLS = 7,         /* u64: misses sent up */
  DPX_PMD_A_LOST = 8,            /* u64: misses dropped */
  DPX_PMD_A_BUSY_CYCLES = 9,     /* u64: TSC cycles of iterations that received packets */
  DPX_PMD_A_IDLE_CYCLES = 10,    /* u64: TSC cycles of empty iterations */
  DPX_PMD_A_SLEEPS = 11,         /* u64: number of idle sleeps */
  DPX_PMD_A_SLEEP_US = 12,       /* u64: total time slept */
  DPX_PMD_A_RX_BATCHES = 13,     /* u64: non-empty rx bursts */
  DPX_PMD_A_RECIRCULATIONS = 14, /* u64: packets queued for another pass */
  DPX_PMD_A_DROP = 15,           /* nested enum dpx_drop_attr; repeated: drops by reason */
  DPX_PMD_A_MASKS_VISITED = 16,  /* u64: subtables searched by megaflow lookups */
  DPX_PMD_A_CPU_ISA = 17,        /* string: vector level of the lookups: sse42, avx2, avx512 */
  DPX_PMD_A_FLOW_JOBS = 18,      /* u64: flow jobs (put/execute runs, upcall drains) this PMD ran */
  DPX_PMD_A_HOLD_TIMEOUTS = 19,  /* u64: upcalls in flight that got no answer in time */
  DPX_PMD_A_MAX = 19
};

/* Attributes inside DPX_CTL_A_TNL_IP: a local VTEP address on an underlay
 * port. Addresses are in network byte order; 4 bytes is IPv4 (16 bytes,
 * IPv6, is reserved for later). */
enum dpx_tnl_ip_attr {
  DPX_TNL_IP_A_UNSPEC = 0,
  DPX_TNL_IP_A_ADDR = 1,      /* 4 bytes */
  DPX_TNL_IP_A_PLEN = 2,      /* u32: prefix length of the connected subnet */
  DPX_TNL_IP_A_PORT_NAME = 3, /* string: the underlay port */
  DPX_TNL_IP_A_PORT_NO = 4,   /* u32: its odp number (replies) */
  DPX_TNL_IP_A_MAX = 4
};

/* Attributes inside DPX_CTL_A_ROUTE. */
enum dpx_route_attr {
  DPX_ROUTE_A_UNSPEC = 0,
  DPX_ROUTE_A_PREFIX = 1,    /* 4 bytes, host bits zero */
  DPX_ROUTE_A_PLEN = 2,      /* u32 */
  DPX_ROUTE_A_GATEWAY = 3,   /* 4 bytes; absent or 0.0.0.0 = on-link */
  DPX_ROUTE_A_PORT_NAME = 4, /* string: the underlay port */
  DPX_ROUTE_A_PORT_NO = 5,   /* u32 (replies) */
  DPX_ROUTE_A_SRC = 6,       /* 4 bytes: preferred source, absent = the port's VTEP */
  DPX_ROUTE_A_CONNECTED = 7, /* u32 0 or 1 (replies): added with a VTEP address */
  DPX_ROUTE_A_MAX = 7
};

/* Attributes inside DPX_CTL_A_NEIGH. */
enum dpx_neigh_attr {
  DPX_NEIGH_A_UNSPEC = 0,
  DPX_NEIGH_A_ADDR = 1,      /* 4 bytes */
  DPX_NEIGH_A_MAC = 2,       /* 6 bytes */
  DPX_NEIGH_A_PORT_NAME = 3, /* string: the underlay port */
  DPX_NEIGH_A_PORT_NO = 4,   /* u32 (replies) */
  DPX_NEIGH_A_STATE = 5,     /* u32 enum dpx_neigh_state (replies) */
  DPX_NEIGH_A_AGE_MS = 6,    /* u64: since last confirmed (replies) */
  DPX_NEIGH_A_MAX = 6
};

enum dpx_neigh_state {
  DPX_NEIGH_INCOMPLETE = 0, /* ARP request sent, no reply yet */
  DPX_NEIGH_REACHABLE = 1,  /* confirmed recently */
  DPX_NEIGH_PROBE = 2,      /* aged: still used, being re-confirmed */
  DPX_NEIGH_STATIC = 3,     /* set by NEIGH_SET, never ages */
};

/* Attributes inside DPX_CTL_A_TNL_PORT: a tunnel port and its traffic. */
enum dpx_tnl_port_attr {
  DPX_TNL_PORT_A_UNSPEC = 0,
  DPX_TNL_PORT_A_NO = 1,         /* u32 */
  DPX_TNL_PORT_A_NAME = 2,       /* string */
  DPX_TNL_PORT_A_TYPE = 3,       /* string: "vxlan" or "geneve" */
  DPX_TNL_PORT_A_UDP_PORT = 4,   /* u32 */
  DPX_TNL_PORT_A_RX_PACKETS = 5, /* u64: decapsulated */
  DPX_TNL_PORT_A_RX_BYTES = 6,   /* u64: inner bytes */
  DPX_TNL_PORT_A_TX_PACKETS = 7, /* u64: encapsulated */
  DPX_TNL_PORT_A_TX_BYTES = 8,   /* u64: inner bytes */
  DPX_TNL_PORT_A_MAX = 8
};

/* Attributes inside DPX_CTL_A_TNL_COUNTER: a named counter of the tunnel
 * stages (drop reasons, ARP). */
enum dpx_tnl_counter_attr {
  DPX_TNL_COUNTER_A_UNSPEC = 0,
  DPX_TNL_COUNTER_A_NAME = 1,  /* string */
  DPX_TNL_COUNTER_A_VALUE = 2, /* u64 */
  DPX_TNL_COUNTER_A_MAX = 2
};

enum dpx_upcall_type {
  DPX_UPCALL_MISS = 0,   /* no flow matched */
  DPX_UPCALL_ACTION = 1, /* a userspace() action */
};

/* How an upcall-stream connection shares the upcalls (see
 * ControlServer::publish_upcall): SHARE connections split the upcalls
 * between them, each upcall going to one of them chosen by the flow's hash,
 * like OVS handler threads; MONITOR connections each get a copy of every
 * upcall, for debugging, in addition. */
enum dpx_upcall_mode {
  DPX_UPCALL_SHARE = 0,
  DPX_UPCALL_MONITOR = 1,
};

#ifdef __cplusplus
} /* extern "C" */
static_assert(sizeof(struct dpx_ctl_hdr) == DPX_CTL_HDR_LEN, "dpx_ctl_hdr is 20 bytes");
#else
_Static_assert(sizeof(struct dpx_ctl_hdr) == DPX_CTL_HDR_LEN, "dpx_ctl_hdr is 20 bytes");
#endif

#endif /* DPX_CONTROL_PROTO_H */
