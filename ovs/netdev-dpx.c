/* Netdev classes for the port types users of OVS-DPDK write, "dpdk",
 * "dpdkvhostuser" and "dpdkvhostuserclient", as thin proxies of dpxd ports.
 *
 * An ovs-vswitchd built without DPDK has no such classes, so the bridge
 * would refuse those interfaces. Here they carry their options
 * (dpdk-devargs, vhost-server-path, n_rxq) to the dpx dpif provider, which
 * creates the dpxd port, and they answer what the bridge asks of a device
 * (status, MTU, MAC, carrier, statistics) from dpxd's port, so
 * `ovs-vsctl get interface X statistics` shows dpxd's own counters. The
 * packets never pass through ovs-vswitchd: these netdevs have no rx or tx.
 *
 * A fourth class, "dpx-system", is what the dpx datapath opens its "system"
 * ports as (dpif-dpx.c's port_open_type): Open vSwitch's own Linux netdev
 * class, since the interface stays a kernel device whose MAC, MTU, flags and
 * carrier OVS manages as usual, except for the statistics, which come from
 * dpxd's port, where the packets are. "dpx-internal" is the same for the
 * bridge's own ports (and other internal ones): OVS's "internal" class, whose
 * statistics would otherwise come from the kernel datapath's vport.
 *
 * A fifth, "dpx-tap", is what the dpx datapath opens "tap" ports as: dpxd
 * creates the tap device, possibly straight into a container's network
 * namespace (options netns= and ifname=, which dpx-cni sets), where OVS's
 * own Linux netdev classes could not find it by name. So it is a proxy too.
 *
 * Port mapping:
 *   dpdk                 -> dpxd "dpdk",            devargs = dpdk-devargs
 *   dpdkvhostuser        -> dpxd "vhostuser",       devargs = socket path,
 *                           <ovs rundir>/<port name> (dpxd is the server)
 *   dpdkvhostuserclient  -> dpxd "vhostuserclient", devargs =
 *                           vhost-server-path (dpxd connects to it)
 *   dpx-tap (OVS "tap")  -> dpxd "tap",             options netns= (a path
 *                           or a name under /run/netns) and ifname= (the
 *                           device's name in that namespace)
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirs.h"
#include "dpif-dpx.h"
#include "netdev-provider.h"
#include "netdev.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "smap.h"
#include "sset.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(netdev_dpx);

static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);

struct netdev_dpx {
    struct netdev up;
    struct ovs_mutex mutex;
    char *devargs OVS_GUARDED;      /* dpxd devargs, "" until configured */
    uint32_t n_rxq OVS_GUARDED;     /* requested rx queues, 0 = default */
    char *netns OVS_GUARDED;        /* dpx-tap: options:netns, or NULL */
    char *ifname OVS_GUARDED;       /* dpx-tap: options:ifname, or NULL */
};

static const struct netdev_class netdev_dpx_dpdk_class;
static const struct netdev_class netdev_dpx_vhostuser_class;
static const struct netdev_class netdev_dpx_vhostuserclient_class;
static const struct netdev_class netdev_dpx_tap_class;

static bool
is_netdev_dpx_class(const struct netdev_class *class)
{
    return class == &netdev_dpx_dpdk_class
           || class == &netdev_dpx_vhostuser_class
           || class == &netdev_dpx_vhostuserclient_class
           || class == &netdev_dpx_tap_class;
}

static struct netdev_dpx *
netdev_dpx_cast(const struct netdev *netdev)
{
    ovs_assert(is_netdev_dpx_class(netdev_get_class(netdev)));
    return CONTAINER_OF(netdev, struct netdev_dpx, up);
}

static const char *
dpx_type_of(const struct netdev_class *class)
{
    return class == &netdev_dpx_dpdk_class ? "dpdk"
           : class == &netdev_dpx_vhostuser_class ? "vhostuser"
           : class == &netdev_dpx_tap_class ? "tap"
           : "vhostuserclient";
}

bool
netdev_dpx_get_port_config(const struct netdev *netdev, char **dpx_type,
                           char **devargs, struct sset *options,
                           uint32_t *n_rxq)
{
    struct netdev_dpx *dev;

    if (!is_netdev_dpx_class(netdev_get_class(netdev))) {
        return false;
    }
    dev = netdev_dpx_cast(netdev);
    ovs_mutex_lock(&dev->mutex);
    *dpx_type = xstrdup(dpx_type_of(netdev_get_class(netdev)));
    *devargs = xstrdup(dev->devargs);
    *n_rxq = dev->n_rxq;
    if (dev->netns) {
        sset_add_and_free(options, xasprintf("netns=%s", dev->netns));
    }
    if (dev->ifname) {
        sset_add_and_free(options, xasprintf("ifname=%s", dev->ifname));
    }
    ovs_mutex_unlock(&dev->mutex);
    return true;
}

static struct netdev *
netdev_dpx_alloc(void)
{
    struct netdev_dpx *dev = xzalloc(sizeof *dev);

    return &dev->up;
}

static int
netdev_dpx_construct(struct netdev *netdev)
{
    struct netdev_dpx *dev = netdev_dpx_cast(netdev);

    ovs_mutex_init(&dev->mutex);
    dev->devargs = xstrdup("");
    if (netdev_get_class(netdev) == &netdev_dpx_vhostuser_class) {
        /* Where OVS-DPDK puts a vhost-user server socket by default. */
        free(dev->devargs);
        dev->devargs = xasprintf("%s/%s", ovs_rundir(),
                                 netdev_get_name(netdev));
    }
    return 0;
}

static void
netdev_dpx_destruct(struct netdev *netdev)
{
    struct netdev_dpx *dev = netdev_dpx_cast(netdev);

    free(dev->devargs);
    free(dev->netns);
    free(dev->ifname);
    ovs_mutex_destroy(&dev->mutex);
}

static void
netdev_dpx_dealloc(struct netdev *netdev)
{
    free(netdev_dpx_cast(netdev));
}

static int
netdev_dpx_set_config(struct netdev *netdev, const struct smap *args,
                      char **errp)
{
    struct netdev_dpx *dev = netdev_dpx_cast(netdev);
    const struct netdev_class *class = netdev_get_class(netdev);
    const char *devargs = NULL;

    if (class == &netdev_dpx_dpdk_class) {
        devargs = smap_get(args, "dpdk-devargs");
        if (!devargs || !devargs[0]) {
            *errp = xasprintf("%s: option dpdk-devargs is required (a PCI "
                              "address or DPDK vdev arguments)",
                              netdev_get_name(netdev));
            return EINVAL;
        }
    } else if (class == &netdev_dpx_vhostuserclient_class) {
        devargs = smap_get(args, "vhost-server-path");
        if (!devargs || !devargs[0]) {
            *errp = xasprintf("%s: option vhost-server-path is required",
                              netdev_get_name(netdev));
            return EINVAL;
        }
    }
    ovs_mutex_lock(&dev->mutex);
    if (class == &netdev_dpx_tap_class) {
        const char *netns = smap_get(args, "netns");
        const char *ifname = smap_get(args, "ifname");

        /* Like devargs, these take effect when the port is (re)added. */
        free(dev->netns);
        free(dev->ifname);
        dev->netns = netns && netns[0] ? xstrdup(netns) : NULL;
        dev->ifname = ifname && ifname[0] ? xstrdup(ifname) : NULL;
    }
    if (devargs) {
        if (dev->devargs[0] && strcmp(dev->devargs, devargs)) {
            /* dpxd cannot re-target a port in place. */
            VLOG_WARN("%s: new device arguments take effect when the port "
                      "is added again", netdev_get_name(netdev));
        }
        free(dev->devargs);
        dev->devargs = xstrdup(devargs);
    }
    dev->n_rxq = smap_get_int(args, "n_rxq", 0);
    ovs_mutex_unlock(&dev->mutex);
    return 0;
}

static int
netdev_dpx_get_config(const struct netdev *netdev, struct smap *args)
{
    struct netdev_dpx *dev = netdev_dpx_cast(netdev);
    const struct netdev_class *class = netdev_get_class(netdev);

    ovs_mutex_lock(&dev->mutex);
    if (class == &netdev_dpx_dpdk_class && dev->devargs[0]) {
        smap_add(args, "dpdk-devargs", dev->devargs);
    } else if (class == &netdev_dpx_vhostuserclient_class
               && dev->devargs[0]) {
        smap_add(args, "vhost-server-path", dev->devargs);
    }
    if (dev->netns) {
        smap_add(args, "netns", dev->netns);
    }
    if (dev->ifname) {
        smap_add(args, "ifname", dev->ifname);
    }
    if (dev->n_rxq) {
        smap_add_format(args, "n_rxq", "%"PRIu32, dev->n_rxq);
    }
    ovs_mutex_unlock(&dev->mutex);
    return 0;
}

/* dpxd's view of the port; ENODEV while dpxd has no such port (not added
 * yet, or dpxd away). */
static int
query(const struct netdev *netdev, struct dpx_port_info *info)
{
    struct dpx_err err;
    int error = dpx_port_get_by_name(dpx_global_client(),
                                     netdev_get_name(netdev), info, &err);

    if (error && error != ENOENT) {
        VLOG_DBG_RL(&rl, "%s: %s", netdev_get_name(netdev), err.msg);
    }
    return error ? ENODEV : 0;
}

static int
netdev_dpx_get_etheraddr(const struct netdev *netdev, struct eth_addr *mac)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);

    if (!error) {
        memcpy(mac->ea, info.mac, ETH_ADDR_LEN);
    }
    return error;
}

static int
netdev_dpx_set_etheraddr(struct netdev *netdev OVS_UNUSED,
                         const struct eth_addr mac OVS_UNUSED)
{
    return EOPNOTSUPP;              /* the device's own address is kept */
}

static int
netdev_dpx_get_mtu(const struct netdev *netdev, int *mtup)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);

    if (!error) {
        *mtup = info.mtu;
    }
    return error;
}

static int
netdev_dpx_get_carrier(const struct netdev *netdev, bool *carrier)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);

    *carrier = !error && info.link_up;
    return 0;
}

/* dpxd's counters of a port as OVS's netdev statistics. */
static void
stats_from_info(const struct dpx_port_info *info, struct netdev_stats *stats)
{
    stats->rx_packets = info->stats.rx_packets;
    stats->rx_bytes = info->stats.rx_bytes;
    stats->tx_packets = info->stats.tx_packets;
    stats->tx_bytes = info->stats.tx_bytes;
    stats->rx_dropped = info->stats.rx_drops;
    stats->tx_dropped = info->stats.tx_drops;
    stats->rx_errors = info->stats.rx_errors;
    stats->tx_errors = info->stats.tx_errors;
}

static int
netdev_dpx_get_stats(const struct netdev *netdev, struct netdev_stats *stats)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);

    if (!error) {
        stats_from_info(&info, stats);
    }
    return error;
}

static int
netdev_dpx_get_custom_stats(const struct netdev *netdev,
                            struct netdev_custom_stats *custom)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);
    size_t i;

    if (error) {
        return error;
    }
    /* Every named drop counter of the port, as OVS-DPDK shows its own. */
    custom->size = info.n_drops;
    custom->counters = xcalloc(info.n_drops, sizeof *custom->counters);
    for (i = 0; i < info.n_drops; i++) {
        ovs_strlcpy(custom->counters[i].name, info.drops[i].reason,
                    NETDEV_CUSTOM_STATS_NAME_SIZE);
        custom->counters[i].value = info.drops[i].count;
    }
    return 0;
}

static int
netdev_dpx_get_features(const struct netdev *netdev,
                        enum netdev_features *current,
                        enum netdev_features *advertised,
                        enum netdev_features *supported,
                        enum netdev_features *peer)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);
    uint32_t mbps;

    if (error) {
        return error;
    }
    mbps = info.link_speed_mbps;
    *current = (mbps >= 100000 ? NETDEV_F_100GB_FD
                : mbps >= 40000 ? NETDEV_F_40GB_FD
                : mbps >= 10000 ? NETDEV_F_10GB_FD
                : mbps >= 1000 ? NETDEV_F_1GB_FD
                : mbps >= 100 ? NETDEV_F_100MB_FD
                : mbps ? NETDEV_F_10MB_FD : NETDEV_F_OTHER);
    *advertised = *supported = *peer = 0;
    return 0;
}

static int
netdev_dpx_get_status(const struct netdev *netdev, struct smap *smap)
{
    struct dpx_port_info info;
    int error = query(netdev, &info);

    if (error) {
        smap_add(smap, "dpx_port", "absent");
        return 0;
    }
    smap_add_format(smap, "dpx_odp_port", "%"PRIu32, info.odp_port);
    smap_add(smap, "dpx_type", info.type);
    smap_add(smap, "dpx_devargs", info.devargs);
    smap_add_format(smap, "n_rxq", "%"PRIu32, info.n_rxq);
    smap_add_format(smap, "n_txq", "%"PRIu32, info.n_txq);
    smap_add_format(smap, "link_speed", "%"PRIu32" Mbps",
                    info.link_speed_mbps);
    smap_add_format(smap, "mtu", "%"PRIu32, info.mtu);
    return 0;
}

static int
netdev_dpx_update_flags(struct netdev *netdev, enum netdev_flags off,
                        enum netdev_flags on, enum netdev_flags *old_flags)
{
    struct dpx_port_info info;

    /* dpxd's ports are up while they exist and always promiscuous; the
     * flags cannot be changed from here. */
    *old_flags = query(netdev, &info) ? 0 : NETDEV_UP | NETDEV_PROMISC;
    if ((on | off) & ~(NETDEV_UP | NETDEV_PROMISC)) {
        return EOPNOTSUPP;
    }
    return 0;
}

#define NETDEV_DPX_CLASS(NAME)                          \
    {                                                   \
        .type = NAME,                                   \
        .is_pmd = false,                                \
        .alloc = netdev_dpx_alloc,                      \
        .construct = netdev_dpx_construct,              \
        .destruct = netdev_dpx_destruct,                \
        .dealloc = netdev_dpx_dealloc,                  \
        .get_config = netdev_dpx_get_config,            \
        .set_config = netdev_dpx_set_config,            \
        .set_etheraddr = netdev_dpx_set_etheraddr,      \
        .get_etheraddr = netdev_dpx_get_etheraddr,      \
        .get_mtu = netdev_dpx_get_mtu,                  \
        .get_carrier = netdev_dpx_get_carrier,          \
        .get_stats = netdev_dpx_get_stats,              \
        .get_custom_stats = netdev_dpx_get_custom_stats,\
        .get_features = netdev_dpx_get_features,        \
        .get_status = netdev_dpx_get_status,            \
        .update_flags = netdev_dpx_update_flags,        \
    }

static const struct netdev_class netdev_dpx_dpdk_class
    = NETDEV_DPX_CLASS("dpdk");
static const struct netdev_class netdev_dpx_vhostuser_class
    = NETDEV_DPX_CLASS("dpdkvhostuser");
static const struct netdev_class netdev_dpx_vhostuserclient_class
    = NETDEV_DPX_CLASS("dpdkvhostuserclient");
static const struct netdev_class netdev_dpx_tap_class
    = NETDEV_DPX_CLASS("dpx-tap");

/* A copy of netdev_linux_class, made at registration; netdev-linux knows
 * its netdevs by the class's run function, which the copy keeps. */
static struct netdev_class netdev_dpx_system_class;

static int
netdev_dpx_system_get_stats(const struct netdev *netdev,
                            struct netdev_stats *stats)
{
    struct dpx_port_info info;

    if (query(netdev, &info)) {
        /* Not (yet) a dpxd port: the kernel interface's own counters. */
        return netdev_linux_class.get_stats(netdev, stats);
    }
    stats_from_info(&info, stats);
    return 0;
}

/* A copy of netdev_internal_class. */
static struct netdev_class netdev_dpx_internal_class;

static int
netdev_dpx_internal_construct(struct netdev *netdev)
{
    const struct netdev_class *class = netdev->netdev_class;
    int error;

    /* The netdev is opened before dpxd creates its tap device (when the
     * port is added), and netdev-linux accepts a device that does not exist
     * yet only for its own internal class, which it tells by address: so
     * construct it as that class. */
    netdev->netdev_class = &netdev_internal_class;
    error = netdev_internal_class.construct(netdev);
    netdev->netdev_class = class;
    return error;
}

void
netdev_dpx_register(void)
{
    netdev_dpx_system_class = netdev_linux_class;
    netdev_dpx_system_class.type = "dpx-system";
    netdev_dpx_system_class.get_stats = netdev_dpx_system_get_stats;
    netdev_dpx_system_class.get_custom_stats = netdev_dpx_get_custom_stats;
    netdev_register_provider(&netdev_dpx_system_class);

    netdev_dpx_internal_class = netdev_internal_class;
    netdev_dpx_internal_class.type = "dpx-internal";
    netdev_dpx_internal_class.construct = netdev_dpx_internal_construct;
    netdev_dpx_internal_class.get_stats = netdev_dpx_system_get_stats;
    netdev_dpx_internal_class.get_custom_stats = netdev_dpx_get_custom_stats;
    netdev_register_provider(&netdev_dpx_internal_class);

    netdev_register_provider(&netdev_dpx_dpdk_class);
    netdev_register_provider(&netdev_dpx_vhostuser_class);
    netdev_register_provider(&netdev_dpx_vhostuserclient_class);
    netdev_register_provider(&netdev_dpx_tap_class);
}
