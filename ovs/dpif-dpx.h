/* The dpx dpif provider: datapath type "dpx", an Open vSwitch datapath
 * implemented by dpxd and programmed over its control socket.
 *
 * Files:
 *   dpif-dpx.c         the class, open/close/destroy, run/wait, ports, stats,
 *                      the dpx/ unixctl commands
 *   dpif-dpx-flow.c    flow put/del/get/flush (operate), execute, flow dumps
 *   dpif-dpx-upcall.c  upcall handlers: recv_set/handlers_set/recv/recv_wait
 *   netdev-dpx.c       netdev classes for the port types of OVS-DPDK
 *                      ("dpdk", "dpdkvhostuser", "dpdkvhostuserclient"),
 *                      thin proxies of dpxd ports, and "dpx-system", OVS's
 *                      Linux netdev with dpxd's statistics
 *   dpx-client.h       the only way any of them talks to dpxd
 *
 * The model is the Linux kernel datapath's: the datapath lives outside
 * ovs-vswitchd and outlives it. Closing a dpif never touches dpxd; only
 * destroying it (dpctl/del-dp, or deleting the last dpx bridge) flushes the
 * flows and removes the ports.
 *
 * There is one datapath per dpxd, and one dpxd per ovs-vswitchd: the socket
 * is $DPXD_SOCKET, or /run/dpx/dpxd.sock. Whatever name OVS opens it by
 * ("ovs-dpx" for the bridges' backer), it is the same datapath.
 *
 * Thread-safety: 'struct dpx_dp' is shared by every dpif handle and every
 * OVS thread. Its port table is guarded by 'mutex'; the upcall handler
 * table by 'upcall_lock' (handlers read-lock it in recv, reconfiguration
 * write-locks it); the client is thread-safe itself.
 */
#ifndef DPIF_DPX_H
#define DPIF_DPX_H 1

#include <stdbool.h>
#include <stdint.h>

#include "dpif-provider.h"
#include "dpx-client.h"
#include "fat-rwlock.h"
#include "openvswitch/hmap.h"
#include "openvswitch/thread.h"
#include "ovs-atomic.h"
#include "sset.h"

struct dpx_handler;
struct ofpbuf;

/* A port as ovs-vswitchd asked for it. The provider's table is the
 * authority: when dpxd restarts, every port in it is added again with the
 * same odp port number, so OVS's view (and OpenFlow port numbers) never
 * changes under it. */
struct dpx_port {
    struct hmap_node node;   /* in dpx_dp->ports, hashed by odp port */
    odp_port_t port_no;
    char *name;
    char *ovs_type;          /* the type OVS knows: "system", "internal", ... */
    char *dpx_type;          /* the dpxd port type it was added as */
    char *devargs;           /* "" = the dpxd type's default */
    struct sset options;     /* "key=value" */
    uint32_t n_rxq;          /* 0 = default */
    bool present;            /* dpxd has it right now */
};

struct dpx_dp {
    char *name;
    struct dpx_client *client;
    int open_count;          /* dpif handles; guarded by dpx_dps_mutex */

    struct ovs_mutex mutex;
    struct hmap ports OVS_GUARDED;      /* struct dpx_port by port_no */
    uint64_t synced_epoch OVS_GUARDED;  /* client epoch the table matches */
    bool destroyed OVS_GUARDED;
    struct seq *port_seq;    /* changes when the port set changes */

    long long int next_ping; /* main thread only (run/wait) */
    long long int pmd_maxsleep_us; /* main thread only: last one set */
    bool reachable;          /* main thread only: last ping's outcome */
    atomic_bool need_revalidate;

    /* OVS's callback to forget its flows when dpxd lost them. */
    dp_purge_callback *purge_cb;
    void *purge_aux;

    /* Upcalls. */
    struct fat_rwlock upcall_lock;
    bool recv_enabled;                  /* guarded by upcall_lock */
    uint32_t n_handlers;                /* guarded by upcall_lock */
    struct dpx_handler *handlers;       /* guarded by upcall_lock */
    atomic_uint64_t upcall_gaps;        /* upcalls dpxd dropped for us */
};

struct dpif_dpx {
    struct dpif dpif;
    struct dpx_dp *dp;
    uint64_t last_port_seq;  /* for port_poll */
};

static inline struct dpif_dpx *
dpif_dpx_cast(const struct dpif *dpif)
{
    return CONTAINER_OF(dpif, struct dpif_dpx, dpif);
}

static inline struct dpx_dp *
get_dpx_dp(const struct dpif *dpif)
{
    return dpif_dpx_cast(dpif)->dp;
}

/* The client of this process's dpxd, created on first use. Also used by the
 * netdev classes in netdev-dpx.c. */
struct dpx_client *dpx_global_client(void);

/* The datapath this process has open, or NULL (dpif-dpx.c). */
struct dpx_dp *dpif_dpx_the_dp(void);

/* Registers the ovs-appctl commands of dpif-dpx-appctl.c. */
void dpif_dpx_appctl_register(void);

/* Registers the netdev classes of netdev-dpx.c (from the constructor). */
void netdev_dpx_register(void);

/* netdev-dpx.c: the dpxd port a "dpdk"/"dpdkvhostuser*" netdev stands for.
 * Returns false if 'netdev' is not one of those classes. The strings are
 * copies (free() them); '*devargs' may be "". */
struct netdev;
bool netdev_dpx_get_port_config(const struct netdev *, char **dpx_type,
                                char **devargs, struct sset *options,
                                uint32_t *n_rxq);

/* dpif-dpx-flow.c */
int dpif_dpx_flow_flush(struct dpif *);
void dpif_dpx_operate(struct dpif *, struct dpif_op **, size_t n_ops,
                      enum dpif_offload_type);
struct dpif_flow_dump *dpif_dpx_flow_dump_create(const struct dpif *,
                                                 bool terse,
                                                 struct dpif_flow_dump_types *);
int dpif_dpx_flow_dump_destroy(struct dpif_flow_dump *);
struct dpif_flow_dump_thread *dpif_dpx_flow_dump_thread_create(
    struct dpif_flow_dump *);
void dpif_dpx_flow_dump_thread_destroy(struct dpif_flow_dump_thread *);
int dpif_dpx_flow_dump_next(struct dpif_flow_dump_thread *,
                            struct dpif_flow *, int max_flows);

/* Appends 'key' (or, with 'mask', a mask) to 'buf' as the kernel datapath
 * would take it, which is how dpxd takes it: without
 * OVS_KEY_ATTR_PACKET_TYPE, which only OVS userspace knows (Ethernet frames
 * are keyed by OVS_KEY_ATTR_ETHERNET, anything else by its ethertype), and,
 * in a mask, without attributes that are all zeros. */
void dpx_put_key_for_dpxd(struct ofpbuf *buf,
                                     const struct nlattr *key, size_t len,
                                     bool mask);

/* dpif-dpx-upcall.c */
int dpif_dpx_recv_set(struct dpif *, bool enable);
int dpif_dpx_handlers_set(struct dpif *, uint32_t n_handlers);
int dpif_dpx_recv(struct dpif *, uint32_t handler_id, struct dpif_upcall *,
                  struct ofpbuf *);
void dpif_dpx_recv_wait(struct dpif *, uint32_t handler_id);
void dpif_dpx_recv_purge(struct dpif *);
void dpx_upcalls_destroy(struct dpx_dp *);

/* What dpxd matches on, for building upcall keys the way OVS would for this
 * datapath (recirculation, two VLAN headers, no conntrack fields). */
extern const struct odp_support dpx_odp_support;

#endif /* DPIF_DPX_H */
