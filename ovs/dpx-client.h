/* The C face of dpxd's control protocol, for the OVS dpif provider.
 *
 * The provider is C compiled against Open vSwitch's tree; the protocol's
 * client (datapath/control_client.h, control_msg.h) is C++. This header is
 * the one narrow place where they meet: plain C structs and functions,
 * implemented in dpx-client.cc on top of dpx::ControlClient. The provider
 * never sees C++ and nothing under datapath/ sees OVS.
 *
 * Return convention: every function that can fail returns 0 or a positive
 * errno. dpxd's own errors come back unchanged (EINVAL for an unsupported key
 * attribute or action, ENOENT, EEXIST, ...), with dpxd's message in 'err';
 * transport failures return the socket's errno (ECONNREFUSED, ENOENT when no
 * dpxd listens, ECONNRESET when it went away, EPROTO for a reply that does not
 * decode). 'err' may be null when the caller does not want the message.
 *
 * Threading: a struct dpx_client is a pool of connections to one dpxd and may
 * be used from any number of threads at once; each call borrows a connection
 * (opening one if none is idle) for the length of the call. A struct
 * dpx_upcall_stream is one connection owned by one thread (an OVS handler).
 */
#ifndef DPX_CLIENT_H
#define DPX_CLIENT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DPX_ERR_LEN 256
struct dpx_err {
    char msg[DPX_ERR_LEN]; /* NUL-terminated, "" when there is no message */
    bool transport;        /* the error is the connection's, not dpxd's
                            * answer: dpxd is not running or went away */
};

/* ------------------------------------------------------------ connections */

struct dpx_client;

/* Creates a client for the dpxd listening on 'socket_path'. Connects lazily:
 * creation never fails and does not need dpxd to be running. */
struct dpx_client *dpx_client_create(const char *socket_path);
void dpx_client_destroy(struct dpx_client *);
const char *dpx_client_path(const struct dpx_client *);

/* Which dpxd process the client last talked to. A dpxd restart shows as a
 * new epoch: the epoch starts at 0 (never connected) and increases each time
 * a connection reaches a dpxd process other than the previous one (told
 * apart by the peer's pid, from SO_PEERCRED). */
uint64_t dpx_client_epoch(const struct dpx_client *);
/* pid of that dpxd, 0 before the first connection. */
int dpx_client_peer_pid(const struct dpx_client *);

/* HELLO: checks that dpxd answers; 'software' (may be null) gets its name
 * and version, truncated to 'software_len' bytes including the NUL. */
int dpx_hello(struct dpx_client *, char *software, size_t software_len,
              struct dpx_err *err);

/* ------------------------------------------------------------ ports */

#define DPX_PORT_NAME_LEN 256
#define DPX_PORT_TYPE_LEN 32
#define DPX_PORT_DEVARGS_LEN 512
#define DPX_PORT_MAX_DROPS 16
#define DPX_PORT_ANY UINT32_MAX

struct dpx_port_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_drops, tx_drops, rx_errors, tx_errors;
};

struct dpx_port_drop {
    char reason[48];
    uint64_t count;
};

struct dpx_port_info {
    uint32_t odp_port;
    char name[DPX_PORT_NAME_LEN];
    char type[DPX_PORT_TYPE_LEN];       /* dpxd's type: "afxdp", "tap", ... */
    char devargs[DPX_PORT_DEVARGS_LEN];
    uint32_t n_rxq, n_txq;
    bool link_up;
    uint32_t link_speed_mbps;            /* 0 = unknown */
    uint32_t mtu;
    uint8_t mac[6];
    struct dpx_port_stats stats;
    size_t n_drops;                      /* the first DPX_PORT_MAX_DROPS */
    struct dpx_port_drop drops[DPX_PORT_MAX_DROPS];
};

/* Adds a port. 'odp_port' is the wanted number or DPX_PORT_ANY; 'devargs'
 * may be null or "" (the type's default); 'options' are "key=value"
 * strings; 'n_rxq' 0 means the type's default. 'out' may be null. */
int dpx_port_add(struct dpx_client *, const char *name, const char *type,
                 const char *devargs, uint32_t odp_port,
                 const char *const *options, size_t n_options, uint32_t n_rxq,
                 struct dpx_port_info *out, struct dpx_err *err);
int dpx_port_del(struct dpx_client *, uint32_t odp_port, struct dpx_err *);
/* ENOENT if there is no such port. */
int dpx_port_get_by_no(struct dpx_client *, uint32_t odp_port,
                       struct dpx_port_info *out, struct dpx_err *);
int dpx_port_get_by_name(struct dpx_client *, const char *name,
                         struct dpx_port_info *out, struct dpx_err *);
/* Every port; '*ports' is malloc()ed (free() it), null when '*n' is 0. */
int dpx_port_dump(struct dpx_client *, struct dpx_port_info **ports,
                  size_t *n, struct dpx_err *);

/* ------------------------------------------------------------ flows */

/* A ufid as four host-order 32-bit words: the layout of OVS's ovs_u128
 * (u32[4]) and of dpxd's Ufid, so either converts with memcpy. */
struct dpx_ufid {
    uint32_t w[4];
};

struct dpx_flow_stats {
    uint64_t packets, bytes;
    uint64_t used_ms;   /* CLOCK_MONOTONIC ms of the last hit, 0 = never */
    uint16_t tcp_flags; /* OR of the TCP flags seen, host order */
};

/* One entry of a batched FLOW_PUT: inputs, then the per-entry result. */
struct dpx_flow_put {
    struct dpx_ufid ufid;
    const void *key;      /* OVS_KEY_ATTR_* sequence */
    size_t key_len;
    const void *mask;     /* OVS_KEY_ATTR_* sequence, may be empty */
    size_t mask_len;
    const void *actions;  /* OVS_ACTION_ATTR_* sequence, may be empty */
    size_t actions_len;
    uint32_t flags;       /* DPX_FLOW_PUT_* (datapath/control_proto.h) */
    /* Results. */
    int error;            /* 0 or this entry's errno */
    bool has_old_stats;   /* the put modified an existing flow */
    struct dpx_flow_stats old_stats;
    char msg[160];        /* dpxd's reason for 'error', may be "" */
};

/* Puts 'n' flows in as few messages as the size limit allows. Returns
 * non-zero only when a whole message failed; each entry's own outcome is in
 * its 'error'. On a whole-message failure, entries not yet sent have 'error'
 * set to the returned errno. */
int dpx_flow_put(struct dpx_client *, struct dpx_flow_put *puts, size_t n,
                 struct dpx_err *);

struct dpx_flow_del {
    struct dpx_ufid ufid;
    /* Results. */
    int error;            /* 0, or ENOENT if there was no such flow */
    bool has_stats;
    struct dpx_flow_stats stats; /* final stats of a deleted flow */
};
int dpx_flow_del(struct dpx_client *, struct dpx_flow_del *dels, size_t n,
                 struct dpx_err *);

/* A flow as dpxd reports it. The pointers stay valid as long as the
 * dpx_flow_batch it came from. Terse dumps leave key, mask and actions
 * empty. */
struct dpx_flow {
    struct dpx_ufid ufid;
    const void *key;
    size_t key_len;
    const void *mask;
    size_t mask_len;
    const void *actions;
    size_t actions_len;
    struct dpx_flow_stats stats;
};

/* The flows of one FLOW_GET or FLOW_DUMP reply. */
struct dpx_flow_batch;
size_t dpx_flow_batch_count(const struct dpx_flow_batch *);
void dpx_flow_batch_get(const struct dpx_flow_batch *, size_t i,
                        struct dpx_flow *out);
void dpx_flow_batch_free(struct dpx_flow_batch *);

/* One flow by ufid (ENOENT if none); '*out' holds one entry. */
int dpx_flow_get(struct dpx_client *, const struct dpx_ufid *,
                 struct dpx_flow_batch **out, struct dpx_err *);
/* One batch of a cursor-based dump (see docs/control-protocol.md): starts at
 * 'cursor' (0 = the beginning), at most 'max_entries' flows (0 = as many as
 * fit), '*next_cursor' 0 when the dump is complete. */
int dpx_flow_dump(struct dpx_client *, uint64_t cursor, uint32_t max_entries,
                  bool terse, struct dpx_flow_batch **out,
                  uint64_t *next_cursor, struct dpx_err *);
int dpx_flow_flush(struct dpx_client *, struct dpx_err *);

/* Runs 'actions' on one packet in dpxd; 'key' carries the packet's metadata
 * (OVS_KEY_ATTR_IN_PORT, RECIRC_ID, TUNNEL, ...). With 'probe', dpxd only
 * checks that it could run the actions. */
int dpx_execute(struct dpx_client *, const void *packet, size_t packet_len,
                const void *key, size_t key_len, const void *actions,
                size_t actions_len, bool probe, struct dpx_err *);

/* Several executes in one pipelined exchange (one round trip). errors[i]
 * gets execute i's result. Returns 0, or a transport error (then 'errors'
 * is not set). */
struct dpx_exec {
    const void *packet;
    size_t packet_len;
    const void *key;
    size_t key_len;
    const void *actions;
    size_t actions_len;
    bool probe;
};
int dpx_execute_batch(struct dpx_client *, const struct dpx_exec *, size_t n,
                      int *errors, struct dpx_err *);

/* Flow puts, then executes, in one round trip (an upcall handler's batch):
 * dpxd handles them in that order, so the executes run with the flows in.
 * Each put's outcome is in its own fields as for dpx_flow_put(), each
 * execute's in errors[i]. Returns 0, or the error of a whole FLOW_PUT
 * message (the executes' errors are still set; puts it did not complete
 * carry it), or a transport error (then every put and every errors[i]
 * carries it). */
int dpx_flow_put_execute(struct dpx_client *, struct dpx_flow_put *puts,
                         size_t n_puts, const struct dpx_exec *execs,
                         size_t n_execs, int *errors, struct dpx_err *);

/* ------------------------------------------------------------ datapath */

struct dpx_dp_stats {
    uint64_t hit, missed, lost;
    uint64_t n_flows, n_masks, mask_hit;
    uint64_t upcall_queue_drops, emc_hit, flow_limit;
};
int dpx_dp_stats(struct dpx_client *, struct dpx_dp_stats *, struct dpx_err *);

struct dpx_pmd_stats {
    uint32_t core, numa;
    uint64_t packets, passes, emc_hits, megaflow_hits;
    uint64_t upcalls, lost, busy_cycles, idle_cycles;
    uint64_t sleeps, sleep_us, rx_batches;
    uint64_t masks_visited;     /* subtables searched by megaflow lookups */
    uint64_t hold_timeouts;     /* upcalls in flight not answered in time */
};
/* One entry per PMD thread; '*pmds' is malloc()ed (free() it). */
int dpx_pmd_stats(struct dpx_client *, struct dpx_pmd_stats **pmds, size_t *n,
                  struct dpx_err *);
int dpx_pmd_stats_clear(struct dpx_client *, struct dpx_err *);

/* DP_SET: a negative argument leaves that setting alone. */
int dpx_dp_set(struct dpx_client *, int64_t flow_limit, int emc_enable,
               int64_t pmd_sleep_max_us, struct dpx_err *);

/* ------------------------------------------------------------ upcalls */

/* One connection subscribed to dpxd's upcalls, read without blocking. */
struct dpx_upcall_stream;

/* Connects to 'socket_path', says HELLO and subscribes with 'mode'
 * (enum dpx_upcall_mode). Blocks for these round trips only. */
int dpx_upcall_stream_open(const char *socket_path, uint32_t mode,
                           struct dpx_upcall_stream **out, struct dpx_err *);
void dpx_upcall_stream_close(struct dpx_upcall_stream *);
/* The socket, to poll for POLLIN. */
int dpx_upcall_stream_fd(const struct dpx_upcall_stream *);
/* Upcalls dpxd dropped for this stream (gaps in the sequence numbers). */
uint64_t dpx_upcall_stream_gaps(const struct dpx_upcall_stream *);

struct dpx_upcall {
    uint32_t type;        /* enum dpx_upcall_type */
    uint32_t pid;         /* userspace(pid=) of an action upcall */
    uint32_t in_port, recirc_id, dp_hash, skb_mark;
    uint32_t mru;         /* 0 = none */
    const void *packet;   /* the Ethernet frame */
    size_t packet_len;
    const void *key;      /* OVS_KEY_ATTR_* as dpxd extracted them */
    size_t key_len;
    bool has_tunnel;
    const void *tunnel;   /* OVS_TUNNEL_KEY_ATTR_* sequence */
    size_t tunnel_len;
    bool has_userdata;
    const void *userdata; /* userspace(userdata=) payload */
    size_t userdata_len;
    bool has_actions;
    const void *actions;  /* actions being executed, for action upcalls */
    size_t actions_len;
};

/* Returns the next upcall without blocking: 0 with '*out' filled (its
 * pointers valid until the next call on this stream), EAGAIN if no whole
 * upcall has arrived, or an errno when the connection failed (then close the
 * stream and open a new one). */
int dpx_upcall_recv(struct dpx_upcall_stream *, struct dpx_upcall *out,
                    struct dpx_err *);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DPX_CLIENT_H */
