/* The dpx dpif provider: upcalls.
 *
 * Each OVS handler thread has its own upcall stream, a connection to dpxd
 * subscribed in SHARE mode: dpxd spreads upcalls over the streams by flow
 * hash, so one flow's upcalls stay in order on one handler, as with the
 * kernel's per-handler netlink sockets. The streams are opened when receive
 * is enabled or the handlers change, before OVS starts the threads; a handler
 * reads only its own stream, never blocking. When dpxd goes away the handler
 * reopens its stream every DPX_UPCALL_RETRY_MS until dpxd is back.
 *
 * The upcall's flow key is built here with OVS's own flow_extract() and
 * odp_flow_key_from_flow() from the packet and the metadata dpxd sends, so
 * it is exactly the key OVS would build: ofproto installs the megaflow from
 * it, and its hash is the flow's ufid. */
#include <config.h>

#include "dpif-dpx.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "control_proto.h"
#include "dp-packet.h"
#include "dpif.h"
#include "flow.h"
#include "netlink.h"
#include "odp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(dpif_dpx_upcall);

static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);

#define DPX_UPCALL_RETRY_MS 100

/* Room in front of an upcall's packet, so that OVS can push a header (a
 * VLAN tag, say) while translating without reallocating. */
#define DPX_UPCALL_HEADROOM 64

const struct odp_support dpx_odp_support = {
    .max_vlan_headers = 2,
    .max_mpls_depth = 0,
    .recirc = true,
};

struct dpx_handler {
    struct dpx_upcall_stream *stream;   /* null while not connected */
    long long int retry_at;             /* when to try connecting again */
    uint64_t gaps;                      /* stream's gaps already counted */
};

static void
handler_close(struct dpx_handler *h)
{
    if (h->stream) {
        dpx_upcall_stream_close(h->stream);
        h->stream = NULL;
    }
    h->gaps = 0;
    h->retry_at = 0;
}

static bool handler_connect(struct dpx_dp *, struct dpx_handler *,
                            uint32_t id);

/* Opens every handler's stream now, from the thread reconfiguring the
 * handlers, rather than when each handler thread first reads: OVS flushes
 * the datapath right after enabling receive (e.g. when flow-restore-wait
 * ends), and every miss from then on must find a subscriber, or dpxd counts
 * it as lost. Upcalls wait on the socket until the handler reads them. */
static void
handlers_connect_all(struct dpx_dp *dp) OVS_REQ_WRLOCK(dp->upcall_lock)
{
    uint32_t i;

    for (i = 0; i < dp->n_handlers; i++) {
        handler_connect(dp, &dp->handlers[i], i);
    }
}

/* Resizes the handler table to 'n', keeping the streams of the handlers that
 * stay (closing one would drop the upcalls queued on it). */
static void
handlers_resize(struct dpx_dp *dp, uint32_t n) OVS_REQ_WRLOCK(dp->upcall_lock)
{
    struct dpx_handler *handlers = xcalloc(MAX(n, 1), sizeof *handlers);
    uint32_t i;

    for (i = 0; i < dp->n_handlers; i++) {
        if (i < n) {
            handlers[i] = dp->handlers[i];
        } else {
            handler_close(&dp->handlers[i]);
        }
    }
    free(dp->handlers);
    dp->handlers = handlers;
    dp->n_handlers = n;
}

void
dpx_upcalls_destroy(struct dpx_dp *dp)
{
    fat_rwlock_wrlock(&dp->upcall_lock);
    handlers_resize(dp, 0);
    dp->recv_enabled = false;
    fat_rwlock_unlock(&dp->upcall_lock);
}

int
dpif_dpx_recv_set(struct dpif *dpif, bool enable)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    uint32_t i;

    fat_rwlock_wrlock(&dp->upcall_lock);
    dp->recv_enabled = enable;
    if (enable) {
        if (!dp->n_handlers) {
            handlers_resize(dp, 1);
        }
        handlers_connect_all(dp);
    } else {
        /* Not receiving means no subscription: dpxd then counts misses as
         * lost, as the kernel does without listeners. */
        for (i = 0; i < dp->n_handlers; i++) {
            handler_close(&dp->handlers[i]);
        }
    }
    fat_rwlock_unlock(&dp->upcall_lock);
    return 0;
}

int
dpif_dpx_handlers_set(struct dpif *dpif, uint32_t n_handlers)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);

    fat_rwlock_wrlock(&dp->upcall_lock);
    if (n_handlers != dp->n_handlers) {
        handlers_resize(dp, n_handlers);
    }
    if (dp->recv_enabled) {
        handlers_connect_all(dp);
    }
    fat_rwlock_unlock(&dp->upcall_lock);
    return 0;
}

void
dpif_dpx_recv_purge(struct dpif *dpif)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    uint32_t i;

    /* Closing the streams drops what dpxd queued on them. */
    fat_rwlock_wrlock(&dp->upcall_lock);
    for (i = 0; i < dp->n_handlers; i++) {
        handler_close(&dp->handlers[i]);
    }
    if (dp->recv_enabled) {
        handlers_connect_all(dp);
    }
    fat_rwlock_unlock(&dp->upcall_lock);
}

/* Opens 'h''s stream if it has none and it is time to try. */
static bool
handler_connect(struct dpx_dp *dp, struct dpx_handler *h, uint32_t id)
{
    long long int now;
    struct dpx_err err;
    int error;

    if (h->stream) {
        return true;
    }
    now = time_msec();
    if (now < h->retry_at) {
        return false;
    }
    error = dpx_upcall_stream_open(dpx_client_path(dp->client),
                                   DPX_UPCALL_SHARE, &h->stream, &err);
    if (error) {
        h->stream = NULL;
        h->retry_at = now + DPX_UPCALL_RETRY_MS;
        VLOG_WARN_RL(&rl, "%s: handler %"PRIu32": cannot subscribe to "
                     "upcalls: %s", dp->name, id, err.msg);
        return false;
    }
    VLOG_DBG("%s: handler %"PRIu32" subscribed to dpxd's upcalls", dp->name,
             id);
    return true;
}

/* Converts one dpxd upcall into 'upcall', with everything it points to in
 * 'buf'. */
static int
build_upcall(const struct dpx_upcall *u,
             struct dpif_upcall *upcall, struct ofpbuf *buf)
{
    uint64_t key_stub[1024 / 8];
    size_t key_ofs, ud_ofs = 0, act_ofs = 0, mru_ofs = 0, pkt_ofs;
    struct odp_flow_key_parms parms;
    struct ofpbuf key;
    struct dp_packet packet;
    struct flow flow;

    if (!u->packet_len) {
        return EINVAL;
    }

    /* The packet with the metadata dpxd had for it, then the key OVS builds
     * from them. */
    dp_packet_use_const(&packet, u->packet, u->packet_len);
    pkt_metadata_init(&packet.md, u32_to_odp(u->in_port));
    packet.md.recirc_id = u->recirc_id;
    packet.md.dp_hash = u->dp_hash;
    packet.md.pkt_mark = u->skb_mark;
    if (u->has_tunnel) {
        uint64_t tnl_stub[256 / 8];
        struct ofpbuf tnl;
        char *errorp = NULL;

        ofpbuf_use_stub(&tnl, tnl_stub, sizeof tnl_stub);
        nl_msg_put_unspec(&tnl, OVS_KEY_ATTR_TUNNEL, u->tunnel,
                          u->tunnel_len);
        if (odp_tun_key_from_attr(tnl.data, &packet.md.tunnel, &errorp)
            == ODP_FIT_ERROR) {
            VLOG_WARN_RL(&rl, "upcall with a bad tunnel key: %s",
                         errorp ? errorp : "");
            free(errorp);
            ofpbuf_uninit(&tnl);
            return EINVAL;
        }
        ofpbuf_uninit(&tnl);
    }
    flow_extract(&packet, &flow);

    memset(&parms, 0, sizeof parms);
    parms.flow = &flow;
    parms.support = dpx_odp_support;
    ofpbuf_use_stub(&key, key_stub, sizeof key_stub);
    odp_flow_key_from_flow(&parms, &key);

    /* Everything goes into 'buf' first; pointers are taken at the end,
     * since growing 'buf' may move it. */
    ofpbuf_prealloc_tailroom(buf, key.size + u->userdata_len
                             + u->actions_len + u->packet_len
                             + DPX_UPCALL_HEADROOM + 64);
    key_ofs = buf->size;
    dpx_put_key_for_dpxd(buf, key.data, key.size, false);
    upcall->key_len = buf->size - key_ofs;
    ofpbuf_uninit(&key);
    if (u->has_userdata) {
        ud_ofs = buf->size;
        nl_msg_put_unspec(buf, OVS_USERSPACE_ATTR_USERDATA, u->userdata,
                          u->userdata_len);
    }
    if (u->has_actions) {
        act_ofs = buf->size;
        nl_msg_put_unspec(buf, OVS_USERSPACE_ATTR_ACTIONS, u->actions,
                          u->actions_len);
    }
    if (u->mru) {
        mru_ofs = buf->size;
        nl_msg_put_u16(buf, OVS_PACKET_ATTR_MRU, u->mru);
    }
    pkt_ofs = buf->size;
    ofpbuf_put_zeros(buf, DPX_UPCALL_HEADROOM);
    ofpbuf_put(buf, u->packet, u->packet_len);

    upcall->type = u->type == DPX_UPCALL_ACTION ? DPIF_UC_ACTION
                                                : DPIF_UC_MISS;
    upcall->key = ofpbuf_at_assert(buf, key_ofs, upcall->key_len);
    upcall->userdata = u->has_userdata ? ofpbuf_at_assert(buf, ud_ofs, 0)
                                       : NULL;
    upcall->actions = u->has_actions ? ofpbuf_at_assert(buf, act_ofs, 0)
                                     : NULL;
    upcall->mru = u->mru ? ofpbuf_at_assert(buf, mru_ofs, 0) : NULL;
    upcall->hash = NULL;
    upcall->cutlen = NULL;
    upcall->out_tun_key = NULL;
    /* The packet lives in 'buf' with headroom in front; OVS may modify it,
     * and reallocates it (copying) if it needs more room. */
    dp_packet_use_stub(&upcall->packet, ofpbuf_at_assert(buf, pkt_ofs, 0),
                       DPX_UPCALL_HEADROOM + u->packet_len);
    dp_packet_set_data(&upcall->packet,
                       (char *) dp_packet_base(&upcall->packet)
                       + DPX_UPCALL_HEADROOM);
    dp_packet_set_size(&upcall->packet, u->packet_len);
    odp_flow_key_hash(upcall->key, upcall->key_len, &upcall->ufid);
    return 0;
}

int
dpif_dpx_recv(struct dpif *dpif, uint32_t handler_id,
              struct dpif_upcall *upcall, struct ofpbuf *buf)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpx_handler *h;
    struct dpx_upcall u;
    struct dpx_err err;
    int error = EAGAIN;

    fat_rwlock_rdlock(&dp->upcall_lock);
    if (!dp->recv_enabled || handler_id >= dp->n_handlers) {
        goto out;
    }
    /* Only handler 'handler_id' touches its entry: no lock needed on it. */
    h = &dp->handlers[handler_id];
    while (handler_connect(dp, h, handler_id)) {
        uint64_t gaps;

        error = dpx_upcall_recv(h->stream, &u, &err);
        gaps = dpx_upcall_stream_gaps(h->stream);
        if (gaps != h->gaps) {
            atomic_add_relaxed(&dp->upcall_gaps, gaps - h->gaps, &gaps);
            h->gaps = dpx_upcall_stream_gaps(h->stream);
        }
        if (error == EAGAIN) {
            break;
        } else if (error) {
            VLOG_WARN_RL(&rl, "%s: handler %"PRIu32": upcall stream: %s",
                         dp->name, handler_id, err.msg);
            handler_close(h);
            h->retry_at = time_msec() + DPX_UPCALL_RETRY_MS;
            error = EAGAIN;
            break;
        }
        error = build_upcall(&u, upcall, buf);
        if (!error) {
            break;
        }
        /* A packet OVS could not make a key of: skip it. */
        error = EAGAIN;
    }
out:
    fat_rwlock_unlock(&dp->upcall_lock);
    return error;
}

void
dpif_dpx_recv_wait(struct dpif *dpif, uint32_t handler_id)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);

    fat_rwlock_rdlock(&dp->upcall_lock);
    if (dp->recv_enabled && handler_id < dp->n_handlers) {
        struct dpx_handler *h = &dp->handlers[handler_id];

        if (h->stream) {
            poll_fd_wait(dpx_upcall_stream_fd(h->stream), POLLIN);
        } else {
            poll_timer_wait_until(h->retry_at);
        }
    }
    fat_rwlock_unlock(&dp->upcall_lock);
}
