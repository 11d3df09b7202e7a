/* The ovs-appctl commands of the dpx datapath (dpx/show, dpx/pmd-*), the
 * counterparts of dpif-netdev's dpif-netdev/pmd-* for users of the
 * userspace datapath. */
#include <config.h>

#include "dpif-dpx.h"

#include <inttypes.h>

#include "openvswitch/dynamic-string.h"
#include "unixctl.h"
#include "util.h"


static struct dpx_dp *
unixctl_dp(struct unixctl_conn *conn)
{
    struct dpx_dp *dp;

    dp = dpif_dpx_the_dp();
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
        ds_put_format(&s, "  upcalls unanswered in time: %"PRIu64"\n",
                      p->hold_timeouts);
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

void
dpif_dpx_appctl_register(void)
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
}
