/* The dpx dpif provider: flows (batched put/del/get, flush, dumps) and
 * execute. Each dpif operation becomes one control message (a run of puts or
 * deletes becomes one batched message), sent on a connection borrowed from
 * the client's pool, so handlers and revalidators work in parallel. */
#include <config.h>

#include "dpif-dpx.h"

#include <errno.h>
#include <string.h>

#include "control_proto.h"
#include "dp-packet.h"
#include "dpif.h"
#include "netlink.h"
#include "odp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(dpif_dpx_flow);

static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);

static void
put_attrs(struct ofpbuf *buf, const struct nlattr *attrs, size_t len,
          bool mask, const struct nlattr **packet_type, bool *ethernet)
{
    const struct nlattr *a;
    size_t left;

    NL_ATTR_FOR_EACH (a, left, attrs, len) {
        uint16_t type = nl_attr_type(a);

        if (type == OVS_KEY_ATTR_PACKET_TYPE) {
            *packet_type = a;
        } else if (mask && type == OVS_KEY_ATTR_ENCAP) {
            size_t ofs = nl_msg_start_nested(buf, type);

            put_attrs(buf, nl_attr_get(a), nl_attr_get_size(a), mask,
                      packet_type, ethernet);
            nl_msg_end_nested(buf, ofs);
        } else if (mask && is_all_zeros(nl_attr_get(a), nl_attr_get_size(a))) {
            /* The kernel datapath reads a mask attribute of all zeros as an
             * absent one (a wildcard), and OVS relies on it: it sends such
             * masks for fields whose parent field is itself wildcarded
             * (icmpv6() when the IP protocol is not matched). */
        } else {
            *ethernet |= type == OVS_KEY_ATTR_ETHERNET;
            nl_msg_put_unspec(buf, type, nl_attr_get(a), nl_attr_get_size(a));
        }
    }
}

void
dpx_put_key_for_dpxd(struct ofpbuf *buf, const struct nlattr *key,
                                size_t len, bool mask)
{
    const struct nlattr *packet_type = NULL;
    bool ethernet = false;
    size_t start = buf->size;

    put_attrs(buf, key, len, mask, &packet_type, &ethernet);
    if (packet_type && !ethernet
        && nl_attr_get_size(packet_type) == sizeof(ovs_be32)) {
        /* A packet without an Ethernet header is identified by its
         * ethertype, as in the kernel datapath's keys. */
        ovs_be16 pt = pt_ns_type_be(nl_attr_get_be32(packet_type));
        struct nlattr *et = CONST_CAST(struct nlattr *,
                                       nl_attr_find__(ofpbuf_at(buf, start, 0),
                                                      buf->size - start,
                                                      OVS_KEY_ATTR_ETHERTYPE));
        if (et) {
            memcpy(CONST_CAST(void *, nl_attr_get(et)), &pt, sizeof pt);
        } else {
            nl_msg_put_be16(buf, OVS_KEY_ATTR_ETHERTYPE, pt);
        }
    }
}

static void
stats_from_dpx(const struct dpx_flow_stats *s, struct dpif_flow_stats *out)
{
    out->n_packets = s->packets;
    out->n_bytes = s->bytes;
    /* dpxd's 'used' is CLOCK_MONOTONIC ms, the clock of time_msec(). */
    out->used = s->used_ms;
    out->tcp_flags = s->tcp_flags;
}

/* The ufid of an operation: OVS's if it gave one, else the hash of the key,
 * the same every time for the same key in this process (and the one
 * ovs-appctl dpctl/add-flow and del-flow generate themselves). */
static void
op_ufid(const ovs_u128 *ufid,
        const struct nlattr *key, size_t key_len, struct dpx_ufid *out)
{
    ovs_u128 h;

    if (!ufid) {
        odp_flow_key_hash(key, key_len, &h);
        ufid = &h;
    }
    BUILD_ASSERT_DECL(sizeof *out == sizeof *ufid);
    memcpy(out, ufid, sizeof *out);
}

int
dpif_dpx_flow_flush(struct dpif *dpif)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpx_err err;
    int error = dpx_flow_flush(dp->client, &err);

    if (error) {
        VLOG_WARN_RL(&rl, "%s: flow flush: %s", dp->name, err.msg);
    }
    return error;
}

/* ------------------------------------------------------------- operate */

/* Fills 'puts' (and 'bufs', which hold their converted keys and masks)
 * from the put operations 'ops'. */
static void
puts_prepare(struct dpif_op **ops, size_t n, struct dpx_flow_put *puts,
             struct ofpbuf *bufs)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct dpif_flow_put *put = &ops[i]->flow_put;
        struct dpx_flow_put *p = &puts[i];
        size_t key_ofs, mask_ofs;

        op_ufid(put->ufid, put->key, put->key_len, &p->ufid);
        ofpbuf_init(&bufs[i], put->key_len + put->mask_len + 16);
        key_ofs = bufs[i].size;
        dpx_put_key_for_dpxd(&bufs[i], put->key, put->key_len,
                                        false);
        p->key_len = bufs[i].size - key_ofs;
        mask_ofs = bufs[i].size;
        if (put->mask) {
            dpx_put_key_for_dpxd(&bufs[i], put->mask,
                                            put->mask_len, true);
        }
        p->mask_len = bufs[i].size - mask_ofs;
        p->key = ofpbuf_at_assert(&bufs[i], key_ofs, 0);
        p->mask = ofpbuf_at_assert(&bufs[i], mask_ofs, 0);
        p->actions = put->actions;
        p->actions_len = put->actions_len;
        p->flags = ((put->flags & DPIF_FP_CREATE ? DPX_FLOW_PUT_CREATE : 0)
                    | (put->flags & DPIF_FP_MODIFY ? DPX_FLOW_PUT_MODIFY : 0)
                    | (put->flags & DPIF_FP_ZERO_STATS
                       ? DPX_FLOW_PUT_ZERO_STATS : 0)
                    | (put->flags & DPIF_FP_PROBE ? DPX_FLOW_PUT_PROBE : 0));
    }
}

/* Gives each put operation its outcome from 'puts' and frees 'bufs'. */
static void
puts_finish(struct dpx_dp *dp, struct dpif_op **ops, size_t n,
            const struct dpx_flow_put *puts, struct ofpbuf *bufs,
            const struct dpx_err *err)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct dpif_flow_put *put = &ops[i]->flow_put;
        const struct dpx_flow_put *p = &puts[i];

        ops[i]->error = p->error;
        if (put->stats) {
            if (p->has_old_stats) {
                stats_from_dpx(&p->old_stats, put->stats);
            } else {
                memset(put->stats, 0, sizeof *put->stats);
            }
        }
        if (p->error && put->flags & DPIF_FP_PROBE) {
            /* What a feature probe was refused for is worth a line in
             * ovs-vswitchd.log: it is why ofproto avoids that feature. */
            VLOG_INFO("%s: feature probe flow refused by dpxd: %s (%s)",
                      dp->name, ovs_strerror(p->error),
                      p->msg[0] ? p->msg : err->msg);
        } else if (p->error && p->error != EEXIST && p->error != ENOENT) {
            VLOG_WARN_RL(&rl, "%s: dpxd refused a flow: %s (%s)", dp->name,
                         ovs_strerror(p->error),
                         p->msg[0] ? p->msg : err->msg);
        }
        ofpbuf_uninit(&bufs[i]);
    }
}

static void
do_puts(struct dpif *dpif, struct dpif_op **ops, size_t n)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpx_flow_put *puts = xcalloc(n, sizeof *puts);
    struct ofpbuf *bufs = xcalloc(n, sizeof *bufs);
    struct dpx_err err;

    puts_prepare(ops, n, puts, bufs);
    dpx_flow_put(dp->client, puts, n, &err);
    puts_finish(dp, ops, n, puts, bufs, &err);
    free(bufs);
    free(puts);
}

static void
do_dels(struct dpif *dpif, struct dpif_op **ops, size_t n)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpx_flow_del *dels = xcalloc(n, sizeof *dels);
    struct dpx_err err;
    size_t i;

    for (i = 0; i < n; i++) {
        const struct dpif_flow_del *del = &ops[i]->flow_del;

        op_ufid(del->ufid, del->key, del->key_len, &dels[i].ufid);
    }
    if (dpx_flow_del(dp->client, dels, n, &err)) {
        VLOG_WARN_RL(&rl, "%s: flow delete: %s", dp->name, err.msg);
    }
    for (i = 0; i < n; i++) {
        const struct dpif_flow_del *del = &ops[i]->flow_del;

        ops[i]->error = dels[i].error;
        if (del->stats) {
            if (dels[i].has_stats) {
                stats_from_dpx(&dels[i].stats, del->stats);
            } else {
                memset(del->stats, 0, sizeof *del->stats);
            }
        }
    }
    free(dels);
}

/* Fills 'out' from 'f', pointing into 'buf' (copies) or into 'f' itself. */
static void
flow_from_dpx(const struct dpx_flow *f, struct ofpbuf *buf,
              struct dpif_flow *out)
{
    memset(out, 0, sizeof *out);
    if (buf) {
        size_t ofs = buf->size;

        /* Pointers are taken after the last put, which may move the data. */
        ofpbuf_put(buf, f->key, f->key_len);
        ofpbuf_put(buf, f->mask, f->mask_len);
        ofpbuf_put(buf, f->actions, f->actions_len);
        out->key = ofpbuf_at_assert(buf, ofs, 0);
        out->mask = ofpbuf_at_assert(buf, ofs + f->key_len, 0);
        out->actions = ofpbuf_at_assert(buf, ofs + f->key_len + f->mask_len,
                                        0);
    } else {
        out->key = f->key;
        out->mask = f->mask;
        out->actions = f->actions;
    }
    out->key_len = f->key_len;
    out->mask_len = f->mask_len;
    out->actions_len = f->actions_len;
    memcpy(&out->ufid, &f->ufid, sizeof out->ufid);
    out->ufid_present = true;
    out->pmd_id = PMD_ID_NULL;
    stats_from_dpx(&f->stats, &out->stats);
    out->attrs.offloaded = false;
    /* A software datapath, as opposed to "tc" or "dpdk" offload layers:
     * dpctl's type filters call that "ovs". */
    out->attrs.dp_layer = "ovs";
}

static void
do_get(struct dpif *dpif, struct dpif_op *op)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpif_flow_get *get = &op->flow_get;
    struct dpx_flow_batch *batch;
    struct dpx_ufid ufid;
    struct dpx_flow f;
    struct dpx_err err;

    op_ufid(get->ufid, get->key, get->key_len, &ufid);
    op->error = dpx_flow_get(dp->client, &ufid, &batch, &err);
    if (op->error) {
        return;
    }
    dpx_flow_batch_get(batch, 0, &f);
    flow_from_dpx(&f, get->buffer, get->flow);
    dpx_flow_batch_free(batch);
}

static void
do_execute(struct dpif *dpif, struct dpif_op *op)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpif_execute *exec = &op->execute;
    uint64_t md_stub[256 / 8], key_stub[256 / 8];
    struct ofpbuf md, key;
    struct dpx_err err;

    /* The packet's metadata (in_port, skb_mark, tunnel, ...) as key
     * attributes, as the kernel's OVS_PACKET_CMD_EXECUTE takes them. */
    ofpbuf_use_stub(&md, md_stub, sizeof md_stub);
    ofpbuf_use_stub(&key, key_stub, sizeof key_stub);
    odp_key_from_dp_packet(&md, exec->packet);
    dpx_put_key_for_dpxd(&key, md.data, md.size, false);
    op->error = dpx_execute(dp->client, dp_packet_data(exec->packet),
                            dp_packet_size(exec->packet), key.data, key.size,
                            exec->actions, exec->actions_len, exec->probe,
                            &err);
    if (op->error && exec->probe) {
        VLOG_INFO("%s: feature probe execute refused by dpxd: %s (%s)",
                  dp->name, ovs_strerror(op->error), err.msg);
    } else if (op->error) {
        VLOG_WARN_RL(&rl, "%s: execute: %s (%s)", dp->name,
                     ovs_strerror(op->error), err.msg);
    }
    ofpbuf_uninit(&md);
    ofpbuf_uninit(&key);
}

/* Fills 'execs' (and 'keys', which hold their metadata as key attributes,
 * as the kernel's OVS_PACKET_CMD_EXECUTE takes them) from the execute
 * operations 'ops'. */
static void
execs_prepare(struct dpif_op **ops, size_t n, struct dpx_exec *execs,
              struct ofpbuf *keys)
{
    size_t i;

    for (i = 0; i < n; i++) {
        struct dpif_execute *exec = &ops[i]->execute;
        uint64_t md_stub[256 / 8];
        struct ofpbuf md;

        ofpbuf_use_stub(&md, md_stub, sizeof md_stub);
        odp_key_from_dp_packet(&md, exec->packet);
        ofpbuf_init(&keys[i], 128);
        dpx_put_key_for_dpxd(&keys[i], md.data, md.size, false);
        ofpbuf_uninit(&md);
        execs[i] = (struct dpx_exec) {
            .packet = dp_packet_data(exec->packet),
            .packet_len = dp_packet_size(exec->packet),
            .key = keys[i].data,
            .key_len = keys[i].size,
            .actions = exec->actions,
            .actions_len = exec->actions_len,
        };
    }
}

/* Gives each execute operation its outcome (errors[i]; 'err' says more
 * when it is a transport failure) and frees 'keys'. */
static void
execs_finish(struct dpx_dp *dp, struct dpif_op **ops, size_t n,
             const int *errors, const struct dpx_err *err,
             struct ofpbuf *keys)
{
    size_t i;

    for (i = 0; i < n; i++) {
        ops[i]->error = errors[i];
        if (ops[i]->error) {
            VLOG_WARN_RL(&rl, "%s: execute: %s%s%s", dp->name,
                         ovs_strerror(ops[i]->error),
                         err->transport ? ": " : "",
                         err->transport ? err->msg : "");
        }
        ofpbuf_uninit(&keys[i]);
    }
}

/* Several executes in one pipelined exchange with dpxd. Probes go one by
 * one (do_execute()), so that their refusals are logged with dpxd's
 * reason. */
static void
do_executes(struct dpif *dpif, struct dpif_op **ops, size_t n)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpx_exec *execs = xcalloc(n, sizeof *execs);
    struct ofpbuf *keys = xcalloc(n, sizeof *keys);
    int *errors = xcalloc(n, sizeof *errors);
    struct dpx_err err;
    size_t i;
    int error;

    execs_prepare(ops, n, execs, keys);
    error = dpx_execute_batch(dp->client, execs, n, errors, &err);
    if (error) {
        for (i = 0; i < n; i++) {
            errors[i] = error;
        }
    }
    execs_finish(dp, ops, n, errors, &err, keys);
    free(errors);
    free(keys);
    free(execs);
}

static bool
is_put_or_plain_execute(const struct dpif_op *op)
{
    return op->type == DPIF_OP_FLOW_PUT
           || (op->type == DPIF_OP_EXECUTE && !op->execute.probe);
}

/* A run of puts and (non-probe) executes, as the upcall handlers make them
 * (put, execute, put, execute, ...): the run's puts and then its executes
 * go to dpxd in one write and come back in one read, a single round trip
 * per handler batch (dpx_flow_put_execute()). Running a run's puts before
 * its executes is safe: an execute's actions are explicit, and a packet it
 * recirculates finds at least the flows it would have found in order. */
static void
do_puts_and_executes(struct dpif *dpif, struct dpif_op **ops, size_t n)
{
    struct dpx_dp *dp = get_dpx_dp(dpif);
    struct dpif_op **put_ops = xmalloc(n * sizeof *put_ops);
    struct dpif_op **exec_ops = xmalloc(n * sizeof *exec_ops);
    size_t n_puts = 0, n_execs = 0;

    for (size_t i = 0; i < n; i++) {
        if (ops[i]->type == DPIF_OP_FLOW_PUT) {
            put_ops[n_puts++] = ops[i];
        } else {
            exec_ops[n_execs++] = ops[i];
        }
    }
    if (!n_execs) {
        do_puts(dpif, put_ops, n_puts);
    } else if (!n_puts) {
        do_executes(dpif, exec_ops, n_execs);
    } else {
        struct dpx_flow_put *puts = xcalloc(n_puts, sizeof *puts);
        struct ofpbuf *bufs = xcalloc(n_puts, sizeof *bufs);
        struct dpx_exec *execs = xcalloc(n_execs, sizeof *execs);
        struct ofpbuf *keys = xcalloc(n_execs, sizeof *keys);
        int *errors = xcalloc(n_execs, sizeof *errors);
        struct dpx_err err;

        puts_prepare(put_ops, n_puts, puts, bufs);
        execs_prepare(exec_ops, n_execs, execs, keys);
        dpx_flow_put_execute(dp->client, puts, n_puts, execs, n_execs,
                             errors, &err);
        puts_finish(dp, put_ops, n_puts, puts, bufs, &err);
        execs_finish(dp, exec_ops, n_execs, errors, &err, keys);
        free(errors);
        free(keys);
        free(execs);
        free(bufs);
        free(puts);
    }
    free(exec_ops);
    free(put_ops);
}

void
dpif_dpx_operate(struct dpif *dpif, struct dpif_op **ops, size_t n_ops,
                 enum dpif_offload_type offload_type)
{
    size_t i = 0;

    while (i < n_ops) {
        enum dpif_op_type type = ops[i]->type;
        size_t j = i + 1;

        if (offload_type == DPIF_OFFLOAD_ALWAYS) {
            /* dpxd has no hardware offload to put flows in only. */
            ops[i++]->error = EOPNOTSUPP;
            continue;
        }
        /* Runs of puts and executes, and runs of deletes, go in one
         * batched exchange each (do_puts_and_executes() says why a run's
         * puts may go first); otherwise the order of operations is kept. */
        if (is_put_or_plain_execute(ops[i])) {
            while (j < n_ops && is_put_or_plain_execute(ops[j])) {
                j++;
            }
            do_puts_and_executes(dpif, &ops[i], j - i);
            i = j;
            continue;
        }
        if (type == DPIF_OP_FLOW_DEL) {
            while (j < n_ops && ops[j]->type == type) {
                j++;
            }
        }
        switch (type) {
        case DPIF_OP_FLOW_PUT:
            do_puts(dpif, &ops[i], j - i);
            break;
        case DPIF_OP_FLOW_DEL:
            do_dels(dpif, &ops[i], j - i);
            break;
        case DPIF_OP_FLOW_GET:
            do_get(dpif, ops[i]);
            break;
        case DPIF_OP_EXECUTE:
            do_execute(dpif, ops[i]);
            break;
        default:
            ops[i]->error = EOPNOTSUPP;
            break;
        }
        i = j;
    }
}

/* ----------------------------------------------------------------- dumps */

/* A dump walks dpxd's flow table with one shared cursor. Dump threads take
 * turns fetching the next batch (the cursor of the next one is only known
 * from the reply); what they do with their batches, revalidation, runs in
 * parallel. */
struct dpx_flow_dump {
    struct dpif_flow_dump up;
    struct ovs_mutex mutex;
    uint64_t cursor OVS_GUARDED;
    bool done OVS_GUARDED;
    int error OVS_GUARDED;
};

struct dpx_flow_dump_thread {
    struct dpif_flow_dump_thread up;
    struct dpx_flow_dump *dump;
    struct dpx_flow_batch *batch;   /* backs the flows last returned */
};

struct dpif_flow_dump *
dpif_dpx_flow_dump_create(const struct dpif *dpif, bool terse,
                          struct dpif_flow_dump_types *types)
{
    struct dpx_flow_dump *dump = xzalloc(sizeof *dump);

    dpif_flow_dump_init(&dump->up, dpif);
    dump->up.terse = terse;
    ovs_mutex_init(&dump->mutex);
    /* dpxd's flows are all software ("ovs") flows. */
    dump->done = types && !types->ovs_flows;
    return &dump->up;
}

int
dpif_dpx_flow_dump_destroy(struct dpif_flow_dump *dump_)
{
    struct dpx_flow_dump *dump = CONTAINER_OF(dump_, struct dpx_flow_dump,
                                              up);
    int error;

    ovs_mutex_lock(&dump->mutex);
    error = dump->error;
    ovs_mutex_unlock(&dump->mutex);
    ovs_mutex_destroy(&dump->mutex);
    free(dump);
    return error;
}

struct dpif_flow_dump_thread *
dpif_dpx_flow_dump_thread_create(struct dpif_flow_dump *dump_)
{
    struct dpx_flow_dump *dump = CONTAINER_OF(dump_, struct dpx_flow_dump,
                                              up);
    struct dpx_flow_dump_thread *thread = xzalloc(sizeof *thread);

    dpif_flow_dump_thread_init(&thread->up, dump_);
    thread->dump = dump;
    return &thread->up;
}

void
dpif_dpx_flow_dump_thread_destroy(struct dpif_flow_dump_thread *thread_)
{
    struct dpx_flow_dump_thread *thread
        = CONTAINER_OF(thread_, struct dpx_flow_dump_thread, up);

    if (thread->batch) {
        dpx_flow_batch_free(thread->batch);
    }
    free(thread);
}

int
dpif_dpx_flow_dump_next(struct dpif_flow_dump_thread *thread_,
                        struct dpif_flow *flows, int max_flows)
{
    struct dpx_flow_dump_thread *thread
        = CONTAINER_OF(thread_, struct dpx_flow_dump_thread, up);
    struct dpx_flow_dump *dump = thread->dump;
    struct dpx_dp *dp = get_dpx_dp(dump->up.dpif);
    size_t n = 0, i;

    /* The previous batch's flows are the caller's until this call. */
    if (thread->batch) {
        dpx_flow_batch_free(thread->batch);
        thread->batch = NULL;
    }
    ovs_mutex_lock(&dump->mutex);
    while (!dump->done && !n) {
        uint64_t next = 0;
        struct dpx_err err;
        int error = dpx_flow_dump(dp->client, dump->cursor, max_flows,
                                  dump->up.terse, &thread->batch, &next,
                                  &err);

        if (error) {
            VLOG_WARN_RL(&rl, "%s: flow dump: %s", dp->name, err.msg);
            dump->error = error;
            dump->done = true;
            break;
        }
        dump->cursor = next;
        dump->done = !next;
        n = dpx_flow_batch_count(thread->batch);
        if (!n) {
            dpx_flow_batch_free(thread->batch);
            thread->batch = NULL;
        }
    }
    ovs_mutex_unlock(&dump->mutex);

    for (i = 0; i < n && i < (size_t) max_flows; i++) {
        struct dpx_flow f;

        dpx_flow_batch_get(thread->batch, i, &f);
        flow_from_dpx(&f, NULL, &flows[i]);
    }
    return i;
}
