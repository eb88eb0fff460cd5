/* dialer.c: outgoing connections; see dialer.h. */
#include "core/dialer.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/tcp.h"

struct dial {
    struct wr_pending pending;
    struct wr_ctx *ctx;
    struct bufferevent *bev;
    wr_dial_cb *cb;
    void *arg;
    struct wr_endpoint dst;
    struct wr_proxy_hs hs;
    uint8_t via_proxy;
};

uint8_t wr_rep_from_errno(int e)
{
    switch (e) {
    case ECONNREFUSED: return WR_REP_REFUSED;
    case ENETUNREACH: case ENETDOWN: return WR_REP_NET_UNREACH;
    case EHOSTUNREACH: case EHOSTDOWN: return WR_REP_HOST_UNREACH;
    case ETIMEDOUT: return WR_REP_TTL_EXPIRED;
    case EACCES: case EPERM: return WR_REP_NOT_ALLOWED;
    default: return WR_REP_FAILURE;
    }
}

const char *wr_rep_str(uint8_t rep)
{
    static const char *const s[] = {
        "succeeded", "general failure", "not allowed", "network unreachable", "host unreachable",
        "connection refused", "timed out", "command not supported", "address type not supported",
    };
    return rep < sizeof s / sizeof s[0] ? s[rep] : "unknown error";
}

static void dial_free(struct dial *d)
{
    if (d->bev) {
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        bufferevent_free(d->bev);
    }
    free(d);
}

static void dial_cancel(struct wr_pending *p)
{
    dial_free((struct dial *)p);
}

static void dial_fail(struct dial *d, uint8_t rep, const char *why)
{
    wr_dial_cb *cb = d->cb;
    void *arg = d->arg;
    dial_free(d);
    cb(arg, NULL, rep, why);
}

static void dial_done(struct dial *d)
{
    wr_dial_cb *cb = d->cb;
    void *arg = d->arg;
    struct bufferevent *bev = d->bev;
    d->bev = NULL;
    struct wr_conn *c = wr_tcp_conn_new(d->ctx, bev);
    dial_free(d);
    if (!c)
        cb(arg, NULL, WR_REP_FAILURE, "out of memory");
    else
        cb(arg, c, WR_REP_OK, NULL);
}

static void proxy_readcb(struct bufferevent *bev, void *arg)
{
    struct dial *d = arg;
    uint8_t rep = WR_REP_FAILURE;
    const char *why = NULL;
    int r = wr_proxy_hs_input(&d->hs, bufferevent_get_input(bev), bufferevent_get_output(bev), &rep, &why);
    if (r == WR_PROXY_HS_FAIL)
        dial_fail(d, rep, why);
    else if (r == WR_PROXY_HS_DONE)
        dial_done(d);
}

static void dial_eventcb(struct bufferevent *bev, short what, void *arg)
{
    struct dial *d = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (!d->via_proxy) {
            dial_done(d);
            return;
        }
        uint8_t rep = WR_REP_FAILURE;
        const char *why = NULL;
        if (wr_proxy_hs_start(&d->hs, d->ctx->proxy, &d->dst, bufferevent_get_output(bev), &rep,
                              &why) == WR_PROXY_HS_FAIL) {
            dial_fail(d, rep, why);
            return;
        }
        bufferevent_setcb(bev, proxy_readcb, NULL, dial_eventcb, d);
        bufferevent_enable(bev, EV_READ);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        dial_fail(d, WR_REP_TTL_EXPIRED, d->via_proxy ? "upstream proxy timed out" : "connect timed out");
        return;
    }
    if (what & BEV_EVENT_EOF) {
        dial_fail(d, WR_REP_FAILURE, "upstream proxy closed the connection during its handshake");
        return;
    }
    int dns = bufferevent_socket_get_dns_error(bev);
    if (dns) {
        dial_fail(d, WR_REP_HOST_UNREACH, dns == EVUTIL_EAI_NONAME ? "no such host name"
                                                                    : "DNS resolution failed");
        return;
    }
    int e = EVUTIL_SOCKET_ERROR();
    uint8_t rep = wr_rep_from_errno(e);
    dial_fail(d, rep, d->via_proxy ? "cannot reach the upstream proxy" : wr_rep_str(rep));
}

struct wr_pending *wr_dial(struct wr_ctx *ctx, const struct wr_endpoint *dst, int flags,
                           wr_dial_cb *cb, void *arg)
{
    struct dial *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->pending.cancel = dial_cancel;
    d->ctx = ctx;
    d->cb = cb;
    d->arg = arg;
    d->dst = *dst;
    d->via_proxy = (flags & WR_DIAL_VIA_PROXY) && ctx->proxy;
    d->bev = bufferevent_socket_new(ctx->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!d->bev) {
        free(d);
        return NULL;
    }
    struct timeval tv = { ctx->connect_timeout_s, 0 };
    bufferevent_set_timeouts(d->bev, &tv, &tv);
    bufferevent_setcb(d->bev, NULL, NULL, dial_eventcb, d);
    int r;
    const struct wr_endpoint *to = d->via_proxy ? &ctx->proxy->addr : dst;
    if (to->type == WR_EP_NAME)
        r = bufferevent_socket_connect_hostname(d->bev, ctx->dns, AF_UNSPEC, to->host, to->port);
    else
        r = bufferevent_socket_connect(d->bev, (const struct sockaddr *)&to->sa, (int)to->salen);
    if (r != 0) {
        /* libevent reports most failures through the event callback; this is resource
         * exhaustion (no socket). Report it from the loop, as promised. */
        int e = EVUTIL_SOCKET_ERROR();
        wr_warn("cannot start a connection: %s", strerror(e ? e : EMFILE));
        bufferevent_free(d->bev);
        d->bev = NULL;
        free(d);
        return NULL;
    }
    return &d->pending;
}

struct fail_soon {
    struct wr_pending pending;
    struct event *ev;
    wr_dial_cb *cb;
    void *arg;
    uint8_t rep;
    char why[200];
};

static void fail_soon_free(struct fail_soon *f)
{
    event_free(f->ev);
    free(f);
}

static void fail_soon_cancel(struct wr_pending *p)
{
    fail_soon_free((struct fail_soon *)p);
}

static void fail_soon_fire(evutil_socket_t fd, short what, void *arg)
{
    struct fail_soon *f = arg;
    char why[200];
    memcpy(why, f->why, sizeof why);
    wr_dial_cb *cb = f->cb;
    void *cbarg = f->arg;
    uint8_t rep = f->rep;
    fail_soon_free(f);
    cb(cbarg, NULL, rep, why);
}

struct wr_pending *wr_fail_soon(struct wr_ctx *ctx, wr_dial_cb *cb, void *arg, uint8_t rep,
                                const char *why)
{
    struct fail_soon *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->pending.cancel = fail_soon_cancel;
    f->cb = cb;
    f->arg = arg;
    f->rep = rep;
    snprintf(f->why, sizeof f->why, "%s", why);
    f->ev = evtimer_new(ctx->base, fail_soon_fire, f);
    if (!f->ev) {
        free(f);
        return NULL;
    }
    struct timeval tv = { 0, 0 };
    evtimer_add(f->ev, &tv);
    return &f->pending;
}
