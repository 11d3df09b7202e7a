/* The dpx dpif provider: the class, the datapath object and its ports.
 * dpif-dpx.h explains the model. */
#include <config.h>

#include "dpif-dpx.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include "control_proto.h"
#include "dpif.h"
#include "netdev-provider.h"
#include "netdev-vport.h"
#include "netdev.h"
#include "odp-util.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "seq.h"
#include "smap.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(dpif_dpx);

static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);

/* How often run() checks that dpxd still answers, so that a dpxd restart is
 * noticed even when nothing else talks to it. */
#define DPX_PING_INTERVAL_MS 1000

/* The one datapath of this process (dpif-dpx.h: one dpxd per vswitchd). */
static struct ovs_mutex dpx_dps_mutex = OVS_MUTEX_INITIALIZER;
static struct dpx_dp *the_dp OVS_GUARDED_BY(dpx_dps_mutex);

/* ------------------------------------------------------------------ client */

struct dpx_client *
dpx_global_client(void)
{
    static struct ovsthread_once once = OVSTHREAD_ONCE_INITIALIZER;
    static struct dpx_client *client;

    if (ovsthread_once_start(&once)) {
        const char *path = getenv("DPXD_SOCKET");

        client = dpx_client_create(path && path[0] ? path
                                   : DPX_CTL_DEFAULT_PATH);
        ovsthread_once_done(&once);
    }
    return client;
}

/* ------------------------------------------------------------ port types */

/* dpxd port type for a port OVS opened with netdev type 'ovs_type'. */
static const char *
dpx_type_for(const char *ovs_type)
{
    if (!strcmp(ovs_type, "dpx-system") || !strcmp(ovs_type, "system")) {
        return "afxdp";             /* "afpacket" if AF_XDP fails */
    } else if (!strcmp(ovs_type, "dpx-internal")
               || !strcmp(ovs_type, "internal") || !strcmp(ovs_type, "tap")) {
        return "tap";
    } else if (!strcmp(ovs_type, "vxlan") || !strcmp(ovs_type, "geneve")) {
        return ovs_type;
    }
    return NULL;
}

/* The OVS type of a port dpxd already had (adopted after a restart of
 * ovs-vswitchd): what port_open_type() gives for the type the port was
 * created from, so that the bridge finds the type it expects. */
static const char *
ovs_type_for(const char *dpx_type, const char *name)
{
    if (!strcmp(dpx_type, "afxdp") || !strcmp(dpx_type, "afpacket")) {
        return "dpx-system";
    } else if (!strcmp(dpx_type, "tap")) {
        /* dpxd does not say which it was: a tap device outside this network
         * namespace was a "tap" port with options:netns (a container's),
         * one here the bridge's or another internal port. */
        return if_nametoindex(name) ? "dpx-internal" : "dpx-tap";
    } else if (!strcmp(dpx_type, "vhostuser")) {
        return "dpdkvhostuser";
    } else if (!strcmp(dpx_type, "vhostuserclient")) {
        return "dpdkvhostuserclient";
    }
    return dpx_type;                /* "dpdk", "vxlan", "geneve" */
}

static const char *
dpif_dpx_port_open_type(const struct dpif_class *class OVS_UNUSED,
                        const char *type)
{
    /* A "tap" port is created by dpxd, possibly in a container's network
     * namespace (options netns= and ifname=): OVS must not create the tap
     * device itself (netdev-linux's "tap" class would), and cannot look it up
     * by name, so it is a proxy of dpxd's port (netdev-dpx.c). "system" and
     * "internal" ports are OVS's Linux netdevs with dpxd's statistics. */
    if (!strcmp(type, "tap")) {
        return "dpx-tap";
    } else if (!strcmp(type, "internal")) {
        return "dpx-internal";
    } else if (!strcmp(type, "system")) {
        return "dpx-system";
    }
    return type;
}

/* ------------------------------------------------------------- port table */

static struct dpx_port *
port_by_no(const struct dpx_dp *dp, odp_port_t port_no)
    OVS_REQUIRES(dp->mutex)
{
    struct dpx_port *p;

    HMAP_FOR_EACH_WITH_HASH (p, node, hash_int(odp_to_u32(port_no), 0),
                             &dp->ports) {
        if (p->port_no == port_no) {
            return p;
        }
    }
    return NULL;
}

static struct dpx_port *
port_by_name(const struct dpx_dp *dp, const char *name)
    OVS_REQUIRES(dp->mutex)
{
    struct dpx_port *p;

    HMAP_FOR_EACH (p, node, &dp->ports) {
        if (!strcmp(p->name, name)) {
            return p;
        }
    }
    return NULL;
}

static struct dpx_port *
port_insert(struct dpx_dp *dp, odp_port_t port_no, const char *name,
            const char *ovs_type, const char *dpx_type, const char *devargs,
            const struct sset *options, uint32_t n_rxq)
    OVS_REQUIRES(dp->mutex)
{
    struct dpx_port *p = xzalloc(sizeof *p);

    p->port_no = port_no;
    p->name = xstrdup(name);
    p->ovs_type = xstrdup(ovs_type);
    p->dpx_type = xstrdup(dpx_type);
    p->devargs = xstrdup(devargs ? devargs : "");
    sset_init(&p->options);
    if (options) {
        sset_clone(&p->options, options);
    }
    p->n_rxq = n_rxq;
    hmap_insert(&dp->ports, &p->node, hash_int(odp_to_u32(port_no), 0));
    return p;
}

static void
port_remove(struct dpx_dp *dp, struct dpx_port *p) OVS_REQUIRES(dp->mutex)
{
    hmap_remove(&dp->ports, &p->node);
    free(p->name);
    free(p->ovs_type);
    free(p->dpx_type);
    free(p->devargs);
    sset_destroy(&p->options);
    free(p);
}

/* Adds 'p' to dpxd under its number. */
static int
port_add_to_dpxd(struct dpx_dp *dp, struct dpx_port *p, struct dpx_err *err)
    OVS_REQUIRES(dp->mutex)
{
    const char **opts = sset_array(&p->options);
    int error;

    error = dpx_port_add(dp->client, p->name, p->dpx_type, p->devargs,
                         odp_to_u32(p->port_no), opts,
                         sset_count(&p->options), p->n_rxq, NULL, err);
    free(opts);
    p->present = !error;
    return error;
}

/* Brings the port table and dpxd into agreement after connecting to a dpxd
 * process the table has not been checked against (the first one, or a
 * restarted one). dpxd's ports that the table lacks are adopted: they are
 * left over from an earlier ovs-vswitchd, which reports them to OVS (through
 * port_poll) so that OVS deletes the ones it no longer wants. The table's
 * ports that dpxd lacks are added again with their numbers.
 *
 * Returns true if dpxd was a new process that had lost ports the table
 * holds, i.e. dpxd restarted under us. */
static bool
dpx_dp_sync(struct dpx_dp *dp) OVS_REQUIRES(dp->mutex)
{
    uint64_t epoch = dpx_client_epoch(dp->client);
    struct dpx_port_info *infos;
    struct dpx_port *p;
    struct dpx_err err;
    bool restarted = false;
    size_t n, i;

    if (epoch == dp->synced_epoch || !epoch) {
        return false;
    }
    if (dpx_port_dump(dp->client, &infos, &n, &err)) {
        VLOG_WARN_RL(&rl, "%s: cannot list dpxd's ports: %s", dp->name,
                     err.msg);
        return false;
    }
    HMAP_FOR_EACH (p, node, &dp->ports) {
        p->present = false;
    }
    for (i = 0; i < n; i++) {
        const struct dpx_port_info *info = &infos[i];
        odp_port_t no = u32_to_odp(info->odp_port);

        p = port_by_name(dp, info->name);
        if (p && p->port_no == no) {
            p->present = true;
        } else if (p) {
            /* Same name, another number: ours wins, OVS knows ours. */
            VLOG_WARN("%s: dpxd has port %s as %"PRIu32", expected %"PRIu32
                      "; re-adding it", dp->name, info->name,
                      info->odp_port, odp_to_u32(p->port_no));
            dpx_port_del(dp->client, info->odp_port, NULL);
        } else if (port_by_no(dp, no)) {
            /* Our number is taken by another port: it must go. */
            dpx_port_del(dp->client, info->odp_port, NULL);
        } else {
            p = port_insert(dp, no, info->name, ovs_type_for(info->type, info->name),
                            info->type, info->devargs, NULL, info->n_rxq);
            p->present = true;
            VLOG_INFO("%s: dpxd has port %s (odp %"PRIu32", %s %s)",
                      dp->name, info->name, info->odp_port, info->type,
                      info->devargs);
        }
    }
    free(infos);

    HMAP_FOR_EACH (p, node, &dp->ports) {
        if (!p->present) {
            restarted = true;
            if (port_add_to_dpxd(dp, p, &err)) {
                VLOG_WARN("%s: cannot add port %s back to dpxd: %s",
                          dp->name, p->name, err.msg);
            } else {
                VLOG_INFO("%s: added port %s back to dpxd as odp %"PRIu32,
                          dp->name, p->name, odp_to_u32(p->port_no));
            }
        }
    }
    if (dp->synced_epoch && restarted) {
        VLOG_WARN("%s: dpxd restarted (pid %d): ports restored, flows will "
                  "be set up again by upcalls", dp->name,
                  dpx_client_peer_pid(dp->client));
    }
    dp->synced_epoch = epoch;
    seq_change(dp->port_seq);
    atomic_store_relaxed(&dp->need_revalidate, true);
    return restarted && epoch > 1;
}

/* Syncs if the client has met a new dpxd; to call before using the table. */
static void
dpx_dp_refresh(struct dpx_dp *dp)
{
    bool restarted;

    ovs_mutex_lock(&dp->mutex);
    restarted = dpx_dp_sync(dp);
    ovs_mutex_unlock(&dp->mutex);
    if (restarted && dp->purge_cb) {
        /* dpxd lost every flow: have OVS drop its flow records (ukeys) now
         * instead of waiting for them to idle out, so the next packet of each
         * flow installs it again. OVS's own hook for exactly this. */
        dp->purge_cb(dp->purge_aux, PMD_ID_NULL);
    }
}

/* ------------------------------------------------------------ the datapath */

static struct dpx_dp *
dpx_dp_create(const char *name)
{
    struct dpx_dp *dp = xzalloc(sizeof *dp);

    dp->name = xstrdup(name);
    dp->client = dpx_global_client();
    ovs_mutex_init(&dp->mutex);
    hmap_init(&dp->ports);
    dp->port_seq = seq_create();
    atomic_init(&dp->need_revalidate, false);
    fat_rwlock_init(&dp->upcall_lock);
    atomic_init(&dp->upcall_gaps, 0);
    dp->pmd_maxsleep_us = -1;
    return dp;
}

static void
dpx_dp_free(struct dpx_dp *dp)
{
    struct dpx_port *p;

    dpx_upcalls_destroy(dp);
    ovs_mutex_lock(&dp->mutex);
    HMAP_FOR_EACH_SAFE (p, node, &dp->ports) {
        port_remove(dp, p);
    }
    ovs_mutex_unlock(&dp->mutex);
    hmap_destroy(&dp->ports);
    ovs_mutex_destroy(&dp->mutex);
    seq_destroy(dp->port_seq);
    fat_rwlock_destroy(&dp->upcall_lock);
    free(dp->name);
    free(dp);
}

static int
dpif_dpx_enumerate(struct sset *all_dps,
                   const struct dpif_class *class OVS_UNUSED)
{
    ovs_mutex_lock(&dpx_dps_mutex);
    if (the_dp) {
        sset_add(all_dps, the_dp->name);
    } else if (!dpx_hello(dpx_global_client(), NULL, 0, NULL)) {
        /* dpxd runs but this process has not opened it yet: it holds the
         * datapath the bridges' backer will open. */
        sset_add(all_dps, "ovs-dpx");
    }
    ovs_mutex_unlock(&dpx_dps_mutex);
    return 0;
}

static int
dpif_dpx_open(const struct dpif_class *class, const char *name, bool create,
              struct dpif **dpifp)
{
    struct dpif_dpx *dpif;
    struct dpx_dp *dp;

    ovs_mutex_lock(&dpx_dps_mutex);
    if (the_dp && strcmp(the_dp->name, name)) {
        ovs_mutex_unlock(&dpx_dps_mutex);
        return ENODEV;              /* one datapath per dpxd */
    }
    if (!the_dp) {
        struct dpx_err err;
        int error = dpx_hello(dpx_global_client(), NULL, 0, &err);

        /* Without 'create' the datapath must exist, i.e. dpxd must run.
         * With it, dpxd may come later: ports are added when it does. */
        if (error && !create) {
            ovs_mutex_unlock(&dpx_dps_mutex);
            return ENODEV;
        } else if (error) {
            VLOG_WARN("%s: dpxd at %s does not answer (%s); will keep "
                      "trying", name, dpx_client_path(dpx_global_client()),
                      err.msg);
        }
        the_dp = dpx_dp_create(name);
    }
    dp = the_dp;
    dp->open_count++;
    if (create) {
        /* A datapath destroyed while a handle to it was still open comes
         * back empty. */
        ovs_mutex_lock(&dp->mutex);
        dp->destroyed = false;
        ovs_mutex_unlock(&dp->mutex);
    }
    ovs_mutex_unlock(&dpx_dps_mutex);

    dpx_dp_refresh(dp);

    dpif = xzalloc(sizeof *dpif);
    dpif_init(&dpif->dpif, class, dp->name, 0, 0);
    dpif->dp = dp;
    dpif->last_port_seq = seq_read(dp->port_seq);
    *dpifp = &dpif->dpif;
    return 0;
}

static void
dpif_dpx_close(struct dpif *dpif_)
{
    struct dpif_dpx *dpif = dpif_dpx_cast(dpif_);
    struct dpx_dp *dp = dpif->dp;

    /* Closing leaves dpxd alone: its flows keep forwarding with no
     * ovs-vswitchd at all, as the kernel datapath's do. */
    ovs_mutex_lock(&dpx_dps_mutex);
    if (!--dp->open_count) {
        dpx_upcalls_destroy(dp);
        ovs_mutex_lock(&dp->mutex);
        bool destroyed = dp->destroyed;
        ovs_mutex_unlock(&dp->mutex);
        if (destroyed) {
            the_dp = NULL;
            dpx_dp_free(dp);
        }
    }
    ovs_mutex_unlock(&dpx_dps_mutex);
    free(dpif);
}

static int
dpif_dpx_destroy(struct dpif *dpif_)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    struct dpx_port_info *infos;
    struct dpx_port *p;
    struct dpx_err err;
    size_t n, i;
    int error;

    /* Deleting the datapath is the one thing that empties dpxd. */
    error = dpx_flow_flush(dp->client, &err);
    if (error) {
        VLOG_WARN("%s: flush on destroy: %s", dp->name, err.msg);
    }
    if (!dpx_port_dump(dp->client, &infos, &n, &err)) {
        for (i = 0; i < n; i++) {
            dpx_port_del(dp->client, infos[i].odp_port, NULL);
        }
        free(infos);
    }
    ovs_mutex_lock(&dp->mutex);
    HMAP_FOR_EACH_SAFE (p, node, &dp->ports) {
        port_remove(dp, p);
    }
    dp->destroyed = true;
    ovs_mutex_unlock(&dp->mutex);
    seq_change(dp->port_seq);
    return error;
}

static bool
dpif_dpx_run(struct dpif *dpif_)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    long long int now = time_msec();

    if (now >= dp->next_ping) {
        struct dpx_err err;
        int error = dpx_hello(dp->client, NULL, 0, &err);

        dp->next_ping = now + DPX_PING_INTERVAL_MS;
        if (error && dp->reachable) {
            VLOG_WARN("%s: lost dpxd at %s: %s", dp->name,
                      dpx_client_path(dp->client), err.msg);
        } else if (!error && !dp->reachable) {
            VLOG_INFO("%s: dpxd at %s answers (pid %d)", dp->name,
                      dpx_client_path(dp->client),
                      dpx_client_peer_pid(dp->client));
        }
        dp->reachable = !error;
    }
    dpx_dp_refresh(dp);
    return atomic_exchange(&dp->need_revalidate, false);
}

static void
dpif_dpx_wait(struct dpif *dpif_)
{
    poll_timer_wait_until(get_dpx_dp(dpif_)->next_ping);
}

static int
dpif_dpx_get_stats(const struct dpif *dpif_, struct dpif_dp_stats *stats)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    struct dpx_dp_stats s;
    struct dpx_err err;
    uint64_t gaps;
    int error;

    memset(stats, 0, sizeof *stats);
    error = dpx_dp_stats(dp->client, &s, &err);
    if (error) {
        VLOG_WARN_RL(&rl, "%s: statistics: %s", dp->name, err.msg);
        return error;
    }
    atomic_read_relaxed(&dp->upcall_gaps, &gaps);
    stats->n_hit = s.hit;
    stats->n_missed = s.missed;
    /* Upcalls dpxd sent but had to drop on our sockets are lost too. */
    stats->n_lost = s.lost + gaps;
    stats->n_flows = s.n_flows;
    stats->n_masks = s.n_masks;
    stats->n_mask_hit = s.mask_hit;
    /* The kernel's "cache" is its mask cache; dpxd's first-level cache is
     * the exact-match cache, whose hits are the closest counterpart. */
    stats->n_cache_hit = s.emc_hit;
    return 0;
}

static char *
dpif_dpx_get_datapath_version(void)
{
    char software[128];

    if (dpx_hello(dpx_global_client(), software, sizeof software, NULL)) {
        return xstrdup("<dpxd not running>");
    }
    return xstrdup(software);
}

static int
dpif_dpx_set_config(struct dpif *dpif_, const struct smap *other_config)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    /* OVS's name for the userspace datapath's PMD sleep bound (ms). */
    const char *maxsleep = smap_get(other_config, "pmd-maxsleep");
    long long int us = maxsleep ? 1000LL * atoll(maxsleep) : -1;
    struct dpx_err err;

    /* Called from the main thread only. */
    if (us >= 0 && us != dp->pmd_maxsleep_us) {
        if (dpx_dp_set(dp->client, -1, -1, us, &err)) {
            VLOG_WARN("%s: pmd-maxsleep: %s", dp->name, err.msg);
            return 0;
        }
        dp->pmd_maxsleep_us = us;
    }
    return 0;
}

/* ------------------------------------------------------------------ ports */

/* The dpxd side of a port OVS wants: type, devargs, options, queues. */
static int
port_request(const struct netdev *netdev, char **dpx_type, char **devargs,
             struct sset *options, uint32_t *n_rxq)
{
    const char *type = netdev_get_type(netdev);

    *n_rxq = 0;
    if (netdev_dpx_get_port_config(netdev, dpx_type, devargs, options,
                                   n_rxq)) {
        return 0;
    }
    if (!dpx_type_for(type)) {
        return EOPNOTSUPP;
    }
    *dpx_type = xstrdup(dpx_type_for(type));
    *devargs = xstrdup("");
    if (netdev_get_tunnel_config(netdev)) {
        const struct netdev_tunnel_config *tnl
            = netdev_get_tunnel_config(netdev);

        sset_add_and_free(options, xasprintf("dst_port=%"PRIu16,
                                             ntohs(tnl->dst_port)));
    }
    return 0;
}

static odp_port_t
pick_free_port_no(const struct dpx_dp *dp) OVS_REQUIRES(dp->mutex)
{
    uint32_t i;

    /* 0 is OVS's local port number; dpxd hands it out only on request. */
    for (i = 1; port_by_no(dp, u32_to_odp(i)); i++) {
        continue;
    }
    return u32_to_odp(i);
}

static int
dpif_dpx_port_add(struct dpif *dpif_, struct netdev *netdev,
                  odp_port_t *port_nop)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    char namebuf[NETDEV_VPORT_NAME_BUFSIZE];
    const char *name = netdev_vport_get_dpif_port(netdev, namebuf,
                                                  sizeof namebuf);
    const char *ovs_type = netdev_get_type(netdev);
    char *dpx_type = NULL, *devargs = NULL;
    struct dpx_port_info info;
    struct sset options;
    struct dpx_err err;
    const char **opts;
    uint32_t n_rxq, want;
    int error;

    dpx_dp_refresh(dp);
    sset_init(&options);
    error = port_request(netdev, &dpx_type, &devargs, &options, &n_rxq);
    if (error) {
        VLOG_WARN("%s: port %s: dpx datapath has no port type '%s'",
                  dp->name, name, ovs_type);
        sset_destroy(&options);
        return error;
    }

    ovs_mutex_lock(&dp->mutex);
    if (port_by_name(dp, name)) {
        error = EEXIST;
        goto out;
    }
    if (*port_nop != ODPP_NONE && port_by_no(dp, *port_nop)) {
        error = EBUSY;
        goto out;
    }
    want = *port_nop == ODPP_NONE ? DPX_PORT_ANY : odp_to_u32(*port_nop);
    opts = sset_array(&options);
    error = dpx_port_add(dp->client, name, dpx_type, devargs, want, opts,
                         sset_count(&options), n_rxq, &info, &err);
    if (error && !err.transport && !strcmp(dpx_type, "afxdp")) {
        /* AF_XDP needs driver and kernel support the interface may lack;
         * af_packet works on anything. */
        VLOG_INFO("%s: port %s: AF_XDP failed (%s), using af_packet",
                  dp->name, name, err.msg);
        free(dpx_type);
        dpx_type = xstrdup("afpacket");
        error = dpx_port_add(dp->client, name, dpx_type, devargs, want, opts,
                             sset_count(&options), n_rxq, &info, &err);
    }
    free(opts);

    if (!error) {
        struct dpx_port *p = port_insert(dp, u32_to_odp(info.odp_port), name,
                                         ovs_type, dpx_type, devargs,
                                         &options, n_rxq);
        p->present = true;
        *port_nop = p->port_no;
        VLOG_INFO("%s: added port %s as odp %"PRIu32" (dpxd %s %s)",
                  dp->name, name, info.odp_port, info.type, info.devargs);
    } else if (err.transport) {
        /* dpxd is away: remember the port; dpx_dp_sync() adds it when dpxd
         * answers again. OVS sees the port exist, as it will. */
        odp_port_t no = *port_nop == ODPP_NONE ? pick_free_port_no(dp)
                                               : *port_nop;
        port_insert(dp, no, name, ovs_type, dpx_type, devargs, &options,
                    n_rxq);
        *port_nop = no;
        VLOG_WARN("%s: dpxd unreachable (%s): port %s (odp %"PRIu32") will "
                  "be added when it answers", dp->name, err.msg, name,
                  odp_to_u32(no));
        error = 0;
    } else {
        if (error == EEXIST && want != DPX_PORT_ANY) {
            error = EBUSY;
        }
        VLOG_WARN("%s: dpxd refused port %s (%s %s): %s", dp->name, name,
                  dpx_type, devargs, err.msg);
    }
out:
    ovs_mutex_unlock(&dp->mutex);
    if (!error) {
        seq_change(dp->port_seq);
    }
    free(dpx_type);
    free(devargs);
    sset_destroy(&options);
    return error;
}

static int
dpif_dpx_port_del(struct dpif *dpif_, odp_port_t port_no)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    struct dpx_port *p;
    struct dpx_err err;
    int error;

    dpx_dp_refresh(dp);
    ovs_mutex_lock(&dp->mutex);
    p = port_by_no(dp, port_no);
    error = dpx_port_del(dp->client, odp_to_u32(port_no), &err);
    if (p && (!error || error == ENOENT || err.transport)) {
        /* Gone from the table either way: a dpxd that still has it (it was
         * unreachable) reports it at the next sync, and OVS deletes it. */
        VLOG_INFO("%s: removed port %s (odp %"PRIu32")", dp->name, p->name,
                  odp_to_u32(port_no));
        port_remove(dp, p);
        error = 0;
    } else if (error) {
        VLOG_WARN("%s: cannot remove port %"PRIu32": %s", dp->name,
                  odp_to_u32(port_no), err.msg);
        error = error == ENOENT ? ENODEV : error;
    }
    ovs_mutex_unlock(&dp->mutex);
    seq_change(dp->port_seq);
    return error;
}

static void
fill_dpif_port(const struct dpx_port *p, struct dpif_port *dpif_port)
{
    dpif_port->name = xstrdup(p->name);
    dpif_port->type = xstrdup(p->ovs_type);
    dpif_port->port_no = p->port_no;
}

static int
dpif_dpx_port_query_by_number(const struct dpif *dpif_, odp_port_t port_no,
                              struct dpif_port *dpif_port)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    struct dpx_port *p;

    ovs_mutex_lock(&dp->mutex);
    p = port_by_no(dp, port_no);
    if (p && dpif_port) {
        fill_dpif_port(p, dpif_port);
    }
    ovs_mutex_unlock(&dp->mutex);
    return p ? 0 : ENODEV;
}

static int
dpif_dpx_port_query_by_name(const struct dpif *dpif_, const char *devname,
                            struct dpif_port *dpif_port)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    struct dpx_port *p;

    ovs_mutex_lock(&dp->mutex);
    p = port_by_name(dp, devname);
    if (p && dpif_port) {
        fill_dpif_port(p, dpif_port);
    }
    ovs_mutex_unlock(&dp->mutex);
    return p ? 0 : ENODEV;
}

/* A port dump works on a snapshot of the table, so the table may change
 * while OVS iterates. */
struct dpx_port_dump {
    struct dpif_port *ports;
    size_t n, next;
};

static int
dpif_dpx_port_dump_start(const struct dpif *dpif_, void **statep)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);
    struct dpx_port_dump *d = xzalloc(sizeof *d);
    struct dpx_port *p;

    ovs_mutex_lock(&dp->mutex);
    d->ports = xcalloc(hmap_count(&dp->ports) + 1, sizeof *d->ports);
    HMAP_FOR_EACH (p, node, &dp->ports) {
        fill_dpif_port(p, &d->ports[d->n++]);
    }
    ovs_mutex_unlock(&dp->mutex);
    *statep = d;
    return 0;
}

static int
dpif_dpx_port_dump_next(const struct dpif *dpif OVS_UNUSED, void *state,
                        struct dpif_port *dpif_port)
{
    struct dpx_port_dump *d = state;

    if (d->next >= d->n) {
        return EOF;
    }
    *dpif_port = d->ports[d->next++];
    return 0;
}

static int
dpif_dpx_port_dump_done(const struct dpif *dpif OVS_UNUSED, void *state)
{
    struct dpx_port_dump *d = state;
    size_t i;

    for (i = 0; i < d->n; i++) {
        dpif_port_destroy(&d->ports[i]);
    }
    free(d->ports);
    free(d);
    return 0;
}

static int
dpif_dpx_port_poll(const struct dpif *dpif_, char **devnamep OVS_UNUSED)
{
    struct dpif_dpx *dpif = dpif_dpx_cast(dpif_);
    uint64_t seq = seq_read(dpif->dp->port_seq);

    if (seq != dpif->last_port_seq) {
        /* Which port changed is not tracked; OVS then re-reads them all. */
        dpif->last_port_seq = seq;
        return ENOBUFS;
    }
    return EAGAIN;
}

static void
dpif_dpx_port_poll_wait(const struct dpif *dpif_)
{
    struct dpif_dpx *dpif = dpif_dpx_cast(dpif_);

    seq_wait(dpif->dp->port_seq, dpif->last_port_seq);
}

static void
dpif_dpx_register_dp_purge_cb(struct dpif *dpif_, dp_purge_callback *cb,
                              void *aux)
{
    struct dpx_dp *dp = get_dpx_dp(dpif_);

    dp->purge_aux = aux;
    dp->purge_cb = cb;
}

/* ------------------------------------------------------ unixctl commands */

static struct dpx_dp *
unixctl_dp(struct unixctl_conn *conn)
{
    struct dpx_dp *dp;

    ovs_mutex_lock(&dpx_dps_mutex);
    dp = the_dp;
    ovs_mutex_unlock(&dpx_dps_mutex);
    if (!dp) {
        unixctl_command_reply_error(conn, "no dpx datapath is open");
    }
    return dp;
}

static void
pct(struct ds *s, const char *what, uint64_t part, uint64_t total)
{
    ds_put_format(s, "  %s: %"PRIu64" (%.02f%%)\n", what, part,
                  total ? 100.0 * part / total : 0.0);
}

static void
dpx_unixctl_pmd_stats_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
                           const char *argv[] OVS_UNUSED, void *perf_)
{
    bool perf = perf_ != NULL;
    struct dpx_dp *dp = unixctl_dp(conn);
    struct dpx_pmd_stats *pmds;
    struct ds s = DS_EMPTY_INITIALIZER;
    struct dpx_err err;
    size_t n, i;

    if (!dp) {
        return;
    }
    if (dpx_pmd_stats(dp->client, &pmds, &n, &err)) {
        unixctl_command_reply_error(conn, err.msg);
        return;
    }
    for (i = 0; i < n; i++) {
        const struct dpx_pmd_stats *p = &pmds[i];
        uint64_t cycles = p->busy_cycles + p->idle_cycles;
        uint64_t hits = p->emc_hits + p->megaflow_hits;

        ds_put_format(&s, "pmd thread numa_id %"PRIu32" core_id %"PRIu32":\n",
                      p->numa, p->core);
        ds_put_format(&s, "  packets received: %"PRIu64"\n", p->packets);
        ds_put_format(&s, "  packet recirculations: %"PRIu64"\n",
                      p->passes > p->packets ? p->passes - p->packets : 0);
        ds_put_format(&s, "  avg. datapath passes per packet: %.02f\n",
                      p->packets ? 1.0 * p->passes / p->packets : 0.0);
        pct(&s, "emc hits", p->emc_hits, p->passes);
        pct(&s, "megaflow hits", p->megaflow_hits, p->passes);
        ds_put_format(&s, "  avg. subtable lookups per megaflow lookup: %.02f\n",
                      p->megaflow_hits + p->upcalls + p->lost
                      ? 1.0 * p->masks_visited
                        / (p->megaflow_hits + p->upcalls + p->lost)
                      : 0.0);
        ds_put_format(&s, "  miss with success upcall: %"PRIu64"\n",
                      p->upcalls);
        ds_put_format(&s, "  miss with failed upcall: %"PRIu64"\n", p->lost);
        pct(&s, "idle cycles", p->idle_cycles, cycles);
        pct(&s, "processing cycles", p->busy_cycles, cycles);
        if (hits + p->upcalls) {
            ds_put_format(&s, "  avg cycles per packet: %.02f\n",
                          p->packets ? 1.0 * cycles / p->packets : 0.0);
            ds_put_format(&s, "  avg processing cycles per packet: %.02f\n",
                          p->packets ? 1.0 * p->busy_cycles / p->packets
                                     : 0.0);
        }
        if (perf) {
            ds_put_format(&s, "  rx batches: %"PRIu64
                          " (avg. %.02f packets per batch)\n", p->rx_batches,
                          p->rx_batches ? 1.0 * p->packets / p->rx_batches
                                        : 0.0);
            ds_put_format(&s, "  idle sleeps: %"PRIu64" (%"PRIu64" us "
                          "asleep)\n", p->sleeps, p->sleep_us);
        }
    }
    free(pmds);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static void
dpx_unixctl_pmd_stats_clear(struct unixctl_conn *conn, int argc OVS_UNUSED,
                            const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct dpx_dp *dp = unixctl_dp(conn);
    struct dpx_err err;

    if (!dp) {
        return;
    }
    if (dpx_pmd_stats_clear(dp->client, &err)) {
        unixctl_command_reply_error(conn, err.msg);
    } else {
        unixctl_command_reply(conn, "");
    }
}

static void
dpx_unixctl_pmd_rxq_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
                         const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct dpx_dp *dp = unixctl_dp(conn);
    struct dpx_port_info *ports;
    struct ds s = DS_EMPTY_INITIALIZER;
    struct dpx_err err;
    size_t n, i;

    if (!dp) {
        return;
    }
    if (dpx_port_dump(dp->client, &ports, &n, &err)) {
        unixctl_command_reply_error(conn, err.msg);
        return;
    }
    /* dpxd spreads rx queues over its PMD threads itself; what it reports
     * per queue is traffic, shown here port by port. */
    for (i = 0; i < n; i++) {
        ds_put_format(&s, "port: %s (odp %"PRIu32", %s) rx queues: %"PRIu32
                      "\n", ports[i].name, ports[i].odp_port, ports[i].type,
                      ports[i].n_rxq);
    }
    free(ports);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

static void
dpx_unixctl_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
                 const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    struct dpx_dp *dp = unixctl_dp(conn);
    struct ds s = DS_EMPTY_INITIALIZER;
    char software[128] = "";
    struct dpx_port *p;
    uint64_t gaps;

    if (!dp) {
        return;
    }
    dpx_hello(dp->client, software, sizeof software, NULL);
    atomic_read_relaxed(&dp->upcall_gaps, &gaps);
    ds_put_format(&s, "%s: %s at %s, pid %d, connection epoch %"PRIu64
                  "\n", dp->name, software[0] ? software : "dpxd not answering",
                  dpx_client_path(dp->client),
                  dpx_client_peer_pid(dp->client),
                  dpx_client_epoch(dp->client));
    ds_put_format(&s, "  upcalls dropped on the way to handlers: %"PRIu64
                  "\n", gaps);
    ovs_mutex_lock(&dp->mutex);
    HMAP_FOR_EACH (p, node, &dp->ports) {
        ds_put_format(&s, "  port %"PRIu32": %s (%s) dpxd %s %s%s\n",
                      odp_to_u32(p->port_no), p->name, p->ovs_type,
                      p->dpx_type, p->devargs,
                      p->present ? "" : " [not in dpxd]");
    }
    ovs_mutex_unlock(&dp->mutex);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* --------------------------------------------------------------- the class */

static int
dpif_dpx_init(void)
{
    unixctl_command_register("dpx/show", "", 0, 0, dpx_unixctl_show, NULL);
    unixctl_command_register("dpx/pmd-stats-show", "", 0, 0,
                             dpx_unixctl_pmd_stats_show, NULL);
    unixctl_command_register("dpx/pmd-perf-show", "", 0, 0,
                             dpx_unixctl_pmd_stats_show, (void *) 1);
    unixctl_command_register("dpx/pmd-stats-clear", "", 0, 0,
                             dpx_unixctl_pmd_stats_clear, NULL);
    unixctl_command_register("dpx/pmd-rxq-show", "", 0, 0,
                             dpx_unixctl_pmd_rxq_show, NULL);
    return 0;
}

static const struct dpif_class dpif_dpx_class = {
    .type = "dpx",
    /* Like the kernel's: the datapath outlives ovs-vswitchd. */
    .cleanup_required = false,
    .init = dpif_dpx_init,
    .enumerate = dpif_dpx_enumerate,
    .port_open_type = dpif_dpx_port_open_type,
    .open = dpif_dpx_open,
    .close = dpif_dpx_close,
    .destroy = dpif_dpx_destroy,
    .run = dpif_dpx_run,
    .wait = dpif_dpx_wait,
    .get_stats = dpif_dpx_get_stats,
    .port_add = dpif_dpx_port_add,
    .port_del = dpif_dpx_port_del,
    .port_query_by_number = dpif_dpx_port_query_by_number,
    .port_query_by_name = dpif_dpx_port_query_by_name,
    .port_dump_start = dpif_dpx_port_dump_start,
    .port_dump_next = dpif_dpx_port_dump_next,
    .port_dump_done = dpif_dpx_port_dump_done,
    .port_poll = dpif_dpx_port_poll,
    .port_poll_wait = dpif_dpx_port_poll_wait,
    .flow_flush = dpif_dpx_flow_flush,
    .flow_dump_create = dpif_dpx_flow_dump_create,
    .flow_dump_destroy = dpif_dpx_flow_dump_destroy,
    .flow_dump_thread_create = dpif_dpx_flow_dump_thread_create,
    .flow_dump_thread_destroy = dpif_dpx_flow_dump_thread_destroy,
    .flow_dump_next = dpif_dpx_flow_dump_next,
    .operate = dpif_dpx_operate,
    .recv_set = dpif_dpx_recv_set,
    .handlers_set = dpif_dpx_handlers_set,
    .set_config = dpif_dpx_set_config,
    .recv = dpif_dpx_recv,
    .recv_wait = dpif_dpx_recv_wait,
    .recv_purge = dpif_dpx_recv_purge,
    .register_dp_purge_cb = dpif_dpx_register_dp_purge_cb,
    .get_datapath_version = dpif_dpx_get_datapath_version,
};

/* ovs-vswitchd has no plugin loading: linking this object into it is what
 * adds the datapath type, by registering it before main() runs (OVS's
 * registries are statically initialised and safe to use this early). */
static void __attribute__((constructor))
dpif_dpx_register(void)
{
    dp_register_provider(&dpif_dpx_class);
    netdev_dpx_register();
}
