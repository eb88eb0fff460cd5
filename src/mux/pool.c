/* pool.c: the client's mux sessions, per server; see pool.h.
 *
 * A server is a key (its address and the transport arguments, as JSON): its sessions, at most
 * POOL_MAX, and the opens waiting for one to come up. A new connection becomes a stream on the
 * usable session with the fewest streams; a new session is dialled when there is none, or when
 * all carry STREAMS_PER_SESSION. A session is used until it breaks (Geph5's model): its streams
 * are reset, and the next open dials a fresh one. Dial failures back off (0.5 s doubling to 30 s):
 * meanwhile opens fail at once with the last error rather than hammering a dead server. */
#include "mux/pool.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/options.h"
#include "mux/session.h"

#define POOL_MAX 4
#define STREAMS_PER_SESSION 128

/* An open waiting for a session, then for its stream's REPLY: the caller's handle stays valid
 * until its callback, whichever stage cancels. */
struct waiter {
    struct wr_pending pending;
    struct server_key *key;             /* set while on the key's waiting list */
    struct wr_pending *inner;           /* the stream's open, once on a session */
    struct waiter *next;
    struct wr_endpoint dst;
    int has_dst;
    wr_dial_cb *cb;
    void *arg;
};

struct slot {
    struct server_key *key;
    struct wr_mux_session *ms;
    struct event *reaper;               /* frees a session that died, outside its callbacks */
    char label[64];
};

struct server_key {
    struct server_key *next;
    struct wr_mux_pool *pool;
    char *id;                           /* server address + arguments */
    json_t *args;
    struct wr_endpoint server;
    struct slot slots[POOL_MAX];
    struct wr_pending *dialing;         /* a carrier on its way */
    struct waiter *waiting;
    unsigned failures;
    struct timeval retry_at;
    char last_error[160];
    uint8_t last_rep;
};

struct wr_mux_pool {
    struct wr_live live;
    struct wr_ctx *ctx;
    const struct wr_transport *t;
    void *tstate;
    const char *name;
    struct server_key *keys;
    struct wr_mux_pool **ref;
};

static void slot_reap(evutil_socket_t fd, short what, void *arg)
{
    struct slot *sl = arg;
    if (sl->ms) {
        struct wr_mux_session *ms = sl->ms;
        sl->ms = NULL;
        wr_mux_session_free(ms);
    }
}

static void on_session_close(void *arg, struct wr_mux_session *ms, const char *why)
{
    struct slot *sl = arg;
    wr_info("%s: mux session to the server is over: %s; new streams use a new session", sl->label, why);
    /* Freed from the loop, not inside the session's own callback. */
    if (sl->reaper)
        event_active(sl->reaper, EV_TIMEOUT, 0);
}

static const struct wr_mux_hooks client_hooks = { .on_open = NULL, .on_close = on_session_close };

static void waiter_cancel(struct wr_pending *p)
{
    struct waiter *w = (struct waiter *)p;
    if (w->key) {
        struct waiter **pp = &w->key->waiting;
        while (*pp && *pp != w)
            pp = &(*pp)->next;
        if (*pp)
            *pp = w->next;
    }
    wr_pending_cancel(w->inner);
    free(w);
}

static void waiter_opened(void *arg, struct wr_conn *stream, uint8_t rep, const char *why)
{
    struct waiter *w = arg;
    wr_dial_cb *cb = w->cb;
    void *a = w->arg;
    free(w);
    cb(a, stream, rep, why);
}

static struct slot *pick(struct server_key *k, int *free_slot)
{
    struct slot *best = NULL;
    *free_slot = -1;
    for (int i = 0; i < POOL_MAX; i++) {
        struct slot *sl = &k->slots[i];
        if (!sl->ms) {
            if (*free_slot < 0)
                *free_slot = i;
            continue;
        }
        if (!wr_mux_usable(sl->ms) || wr_mux_open_streams(sl->ms) >= STREAMS_PER_SESSION)
            continue;
        if (!best || wr_mux_open_streams(sl->ms) < wr_mux_open_streams(best->ms))
            best = sl;
    }
    return best;
}

static void dial_carrier(struct server_key *k);

/* Every waiter onto a session (or failed): called when a carrier arrived or failed. */
static void serve_waiters(struct server_key *k, uint8_t rep, const char *why)
{
    while (k->waiting) {
        struct waiter *w = k->waiting;
        int free_slot;
        struct slot *sl = pick(k, &free_slot);
        if (!sl && rep == WR_REP_OK && free_slot >= 0) {
            dial_carrier(k);            /* this session filled up: another one */
            return;
        }
        k->waiting = w->next;
        w->key = NULL;
        w->inner = sl ? wr_mux_open(sl->ms, w->has_dst ? &w->dst : NULL, waiter_opened, w) : NULL;
        if (!w->inner)
            waiter_opened(w, NULL, sl ? WR_REP_FAILURE : rep, sl ? "cannot open a mux stream" : why);
    }
}

static void on_carrier(void *arg, struct wr_conn *carrier, uint8_t rep, const char *why)
{
    struct server_key *k = arg;
    k->dialing = NULL;
    if (!carrier) {
        k->failures++;
        unsigned ms = 500u << (k->failures > 6 ? 6 : k->failures - 1);
        if (ms > 30000)
            ms = 30000;
        struct timeval now, d = { ms / 1000, (ms % 1000) * 1000 };
        event_base_gettimeofday_cached(k->pool->ctx->base, &now);
        evutil_timeradd(&now, &d, &k->retry_at);
        snprintf(k->last_error, sizeof k->last_error, "%s", why ? why : wr_rep_str(rep));
        k->last_rep = rep;
        wr_info("%s: mux carrier failed (%s); retrying in %u ms", k->pool->name, k->last_error, ms);
        serve_waiters(k, rep, k->last_error);
        return;
    }
    k->failures = 0;
    int free_slot;
    pick(k, &free_slot);
    if (free_slot < 0) {
        wr_conn_close(carrier, 1);
        serve_waiters(k, WR_REP_FAILURE, "mux pool full");
        return;
    }
    struct slot *sl = &k->slots[free_slot];
    sl->key = k;
    snprintf(sl->label, sizeof sl->label, "%s mux c%u", k->pool->name, carrier->id);
    if (!sl->reaper)
        sl->reaper = event_new(k->pool->ctx->base, -1, 0, slot_reap, sl);
    sl->ms = sl->reaper ? wr_mux_session_new(k->pool->ctx, carrier, WR_MUX_CLIENT, &client_hooks,
                                             sl, sl->label) : NULL;
    if (!sl->reaper)
        wr_conn_close(carrier, 1);
    serve_waiters(k, sl->ms ? WR_REP_OK : WR_REP_FAILURE, "out of memory");
}

/* The carrier is an ordinary transport connection to the server (bound: no destination). */
static void dial_carrier(struct server_key *k)
{
    if (k->dialing)
        return;
    struct wr_open_req req = { .args = k->args, .dst = &k->server };
    k->dialing = k->pool->t->client_open(k->pool->tstate, &req, on_carrier, k);
    if (!k->dialing)
        serve_waiters(k, WR_REP_FAILURE, "cannot start a transport connection");
}

static struct server_key *key_for(struct wr_mux_pool *p, const struct wr_endpoint *server,
                                  const json_t *args)
{
    char addr[WR_ADDRSTRLEN];
    wr_endpoint_format(server, addr, sizeof addr);
    /* The same settings share sessions however they were spelled ("mux":true, mux=true,
     * "iat-mode":0, iat-mode=0): every value in its string form, and mux itself left out. */
    json_t *norm = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)args, key, v) {
        char buf[64];
        int bad;
        const char *str = wr_opt_str(args, key, buf, sizeof buf, &bad);
        if (strcmp(key, "mux") != 0)
            json_object_set_new(norm, key, bad || !str ? json_incref(v) : json_string(str));
    }
    char *a = norm ? json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(norm);
    if (!a)
        return NULL;
    size_t n = strlen(addr) + strlen(a) + 2;
    char *id = malloc(n);
    if (!id) {
        free(a);
        return NULL;
    }
    snprintf(id, n, "%s %s", addr, a);
    free(a);
    for (struct server_key *k = p->keys; k; k = k->next)
        if (!strcmp(k->id, id)) {
            free(id);
            return k;
        }
    struct server_key *k = calloc(1, sizeof *k);
    if (!k) {
        free(id);
        return NULL;
    }
    k->pool = p;
    k->id = id;
    k->args = json_deep_copy(args);
    k->server = *server;
    k->next = p->keys;
    p->keys = k;
    return k;
}

struct wr_pending *wr_mux_pool_open(struct wr_mux_pool *p, const struct wr_open_req *req,
                                    wr_dial_cb *cb, void *arg)
{
    char err[200];
    struct wr_endpoint server;
    int has_dst = 0;
    struct wr_endpoint dst;
    /* serverAddress set: the client is free, the SOCKS destination goes in the OPEN. Else the
     * SOCKS destination is the server (as tor sends it) and the server's target is used. */
    char b[32];
    int bad;
    const char *sa = wr_opt_str(req->args, "serverAddress", b, sizeof b, &bad);
    if (sa && req->dst && !wr_endpoint_is_unspecified(req->dst)) {
        dst = *req->dst;
        has_dst = 1;
        struct wr_open_req only_server = { .args = req->args, .dst = NULL };
        if (wr_transport_server_addr(&only_server, &server, err, sizeof err) != 0)
            return wr_fail_soon(p->ctx, cb, arg, WR_REP_FAILURE, err);
    } else if (wr_transport_server_addr(req, &server, err, sizeof err) != 0) {
        return wr_fail_soon(p->ctx, cb, arg, WR_REP_FAILURE, err);
    }
    struct server_key *k = key_for(p, &server, req->args);
    if (!k)
        return wr_fail_soon(p->ctx, cb, arg, WR_REP_FAILURE, "out of memory");
    int free_slot;
    struct slot *sl = pick(k, &free_slot);
    if (sl)
        return wr_mux_open(sl->ms, has_dst ? &dst : NULL, cb, arg);
    struct timeval now;
    event_base_gettimeofday_cached(p->ctx->base, &now);
    if (k->failures && evutil_timercmp(&now, &k->retry_at, <) && !k->dialing)
        return wr_fail_soon(p->ctx, cb, arg, k->last_rep ? k->last_rep : WR_REP_FAILURE,
                            k->last_error);
    if (free_slot < 0 && !k->dialing)
        return wr_fail_soon(p->ctx, cb, arg, WR_REP_FAILURE, "every mux session to this server is full");
    struct waiter *w = calloc(1, sizeof *w);
    if (!w)
        return wr_fail_soon(p->ctx, cb, arg, WR_REP_FAILURE, "out of memory");
    w->pending.cancel = waiter_cancel;
    w->key = k;
    w->dst = dst;
    w->has_dst = has_dst;
    w->cb = cb;
    w->arg = arg;
    w->next = k->waiting;
    k->waiting = w;
    dial_carrier(k);
    return &w->pending;
}

static void pool_kill(struct wr_live *l)
{
    struct wr_mux_pool *p = (struct wr_mux_pool *)l;
    wr_live_del(p->ctx, &p->live);
    while (p->keys) {
        struct server_key *k = p->keys;
        p->keys = k->next;
        wr_pending_cancel(k->dialing);
        serve_waiters(k, WR_REP_FAILURE, "shutting down");
        for (int i = 0; i < POOL_MAX; i++) {
            if (k->slots[i].ms)
                wr_mux_session_free(k->slots[i].ms);
            if (k->slots[i].reaper)
                event_free(k->slots[i].reaper);
        }
        json_decref(k->args);
        free(k->id);
        free(k);
    }
    if (p->ref)
        *p->ref = NULL;
    free(p);
}

struct wr_mux_pool *wr_mux_pool_new(struct wr_ctx *ctx, const struct wr_transport *t, void *tstate,
                                    const char *name, struct wr_mux_pool **ref)
{
    struct wr_mux_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->ctx = ctx;
    p->t = t;
    p->tstate = tstate;
    p->name = name;
    p->ref = ref;
    wr_live_add(ctx, &p->live, pool_kill);
    return p;
}
