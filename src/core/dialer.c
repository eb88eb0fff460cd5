/* dialer.c: outgoing connections; see dialer.h. */
#include "core/dialer.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/tcp.h"

struct dial {
    struct wr_pending pending;
    struct wr_ctx *ctx;
    struct event *start;                /* dials begin from the loop, never inside wr_dial() */
    struct evdns_getaddrinfo_request *dns_req;
    struct evutil_addrinfo *addrs, *next_addr;
    struct bufferevent *bev;
    wr_dial_cb *cb;
    void *arg;
    struct wr_endpoint dst;
    struct wr_proxy_hs hs;
    uint8_t via_proxy;
    uint8_t in_dns_call;                /* evdns may answer synchronously (hosts file) */
    uint8_t dns_answered;
    int dns_result;
    int last_errno;
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
    if (d->start)
        event_free(d->start);
    if (d->addrs)
        evutil_freeaddrinfo(d->addrs);
    if (d->bev) {
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        bufferevent_free(d->bev);
    }
    free(d);
}

static void dial_cancel(struct wr_pending *p)
{
    struct dial *d = (struct dial *)p;
    if (d->dns_req) {
        /* The resolver calls back with EVUTIL_EAI_CANCEL; free there. */
        d->cb = NULL;
        evdns_getaddrinfo_cancel(d->dns_req);
        return;
    }
    dial_free(d);
}

static void dial_fail(struct dial *d, uint8_t rep, const char *why)
{
    wr_dial_cb *cb = d->cb;
    void *arg = d->arg;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", why);
    dial_free(d);
    cb(arg, NULL, rep, msg);
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

static void connect_next(struct dial *d);

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
    if (d->hs.state || d->hs.proxy) {
        /* Connected to the proxy; its handshake went wrong. */
        if (what & BEV_EVENT_TIMEOUT)
            dial_fail(d, WR_REP_TTL_EXPIRED, "upstream proxy timed out");
        else if (what & BEV_EVENT_EOF)
            dial_fail(d, WR_REP_FAILURE, "upstream proxy closed the connection during its handshake");
        else
            dial_fail(d, WR_REP_FAILURE, "upstream proxy connection failed during its handshake");
        return;
    }
    int e = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
    if (d->last_errno == ECONNREFUSED && (e == 0 || e == EINPROGRESS))
        e = ECONNREFUSED; /* libevent reported an immediate refusal from a deferred callback */
    d->last_errno = e ? e : EIO;
    connect_next(d);
}

/* Connects to the next candidate address; fails the dial when none is left. */
static void connect_next(struct dial *d)
{
    if (d->bev) {
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        bufferevent_free(d->bev);
        d->bev = NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (d->via_proxy) {
        if (d->last_errno) {
            uint8_t rep = wr_rep_from_errno(d->last_errno);
            char why[160];
            snprintf(why, sizeof why, "cannot reach the upstream proxy: %s", strerror(d->last_errno));
            dial_fail(d, rep == WR_REP_REFUSED ? WR_REP_REFUSED : rep, why);
            return;
        }
        sl = d->ctx->proxy->addr.salen;
        memcpy(&ss, &d->ctx->proxy->addr.sa, sl);
    } else if (d->addrs) {
        if (!d->next_addr) {
            uint8_t rep = wr_rep_from_errno(d->last_errno);
            dial_fail(d, rep, d->last_errno ? strerror(d->last_errno) : wr_rep_str(rep));
            return;
        }
        sl = (socklen_t)d->next_addr->ai_addrlen;
        memcpy(&ss, d->next_addr->ai_addr, sl);
        ((struct sockaddr_in *)&ss)->sin_port = htons(d->dst.port); /* same offset in sin6 */
        d->next_addr = d->next_addr->ai_next;
    } else {
        if (d->last_errno) {
            uint8_t rep = wr_rep_from_errno(d->last_errno);
            dial_fail(d, rep, strerror(d->last_errno));
            return;
        }
        sl = d->dst.salen;
        memcpy(&ss, &d->dst.sa, sl);
    }
    d->bev = bufferevent_socket_new(d->ctx->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!d->bev) {
        dial_fail(d, WR_REP_FAILURE, "out of memory");
        return;
    }
    struct timeval tv = { d->ctx->connect_timeout_s, 0 };
    bufferevent_set_timeouts(d->bev, &tv, &tv);
    bufferevent_setcb(d->bev, NULL, NULL, dial_eventcb, d);
    errno = 0;
    if (bufferevent_socket_connect(d->bev, (struct sockaddr *)&ss, (int)sl) != 0) {
        int e = errno ? errno : EMFILE;
        d->last_errno = e;
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
            char why[120];
            snprintf(why, sizeof why, "cannot open a socket: %s", strerror(e));
            dial_fail(d, WR_REP_FAILURE, why);
            return;
        }
        connect_next(d);
        return;
    }
    if (errno == ECONNREFUSED)
        d->last_errno = ECONNREFUSED;
}

static void dns_answer(struct dial *d)
{
    if (d->dns_result != 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot resolve the host name: %s", evutil_gai_strerror(d->dns_result));
        dial_fail(d, WR_REP_HOST_UNREACH, why);
        return;
    }
    d->next_addr = d->addrs;
    connect_next(d);
}

static void on_dns(int result, struct evutil_addrinfo *res, void *arg)
{
    struct dial *d = arg;
    d->dns_req = NULL;
    if (result == EVUTIL_EAI_CANCEL || !d->cb) {
        if (res)
            evutil_freeaddrinfo(res);
        dial_free(d);
        return;
    }
    d->addrs = res;
    d->dns_result = (result == 0 && !res) ? EVUTIL_EAI_NONAME : result;
    d->dns_answered = 1;
    if (!d->in_dns_call)
        dns_answer(d);
}

static void dial_start(evutil_socket_t fd, short what, void *arg)
{
    struct dial *d = arg;
    if (d->via_proxy || d->dst.type != WR_EP_NAME) {
        connect_next(d);
        return;
    }
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    d->in_dns_call = 1;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(d->ctx->dns, d->dst.host, NULL, &hints, on_dns, d);
    d->in_dns_call = 0;
    if (d->dns_answered) {
        dns_answer(d);
        return;
    }
    d->dns_req = req;
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
    d->start = evtimer_new(ctx->base, dial_start, d);
    if (!d->start) {
        free(d);
        return NULL;
    }
    struct timeval now = { 0, 0 };
    evtimer_add(d->start, &now);
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
