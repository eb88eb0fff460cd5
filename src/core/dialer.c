/* dialer.c: outgoing connections; see dialer.h. */
#include "core/dialer.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/tcp.h"

struct dial {
    struct wr_pending pending;
    struct wr_ctx *ctx;
    struct event *ev;                   /* start (timer), then connect-wait (fd) */
    struct event *deadline;             /* the proxy handshake's */
    struct evdns_getaddrinfo_request *dns_req;
    struct evutil_addrinfo *addrs, *next_addr;
    evutil_socket_t fd;
    struct wr_conn *conn;               /* connected, proxy handshake in progress */
    struct evbuffer *scratch;
    wr_dial_cb *cb;
    void *arg;
    struct wr_endpoint dst;
    struct wr_proxy_hs hs;
    uint8_t via_proxy;
    uint8_t public_only;
    uint8_t refused;                    /* an address was refused by the policy */
    uint8_t in_dns_call;                /* evdns may answer synchronously (hosts file) */
    uint8_t dns_answered;
    uint8_t starting;                   /* inside wr_dial(): a failure must wait for the loop */
    uint8_t failed_early;
    uint8_t early_rep;
    char early_why[160];
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

static void drop_socket(struct dial *d)
{
    if (d->ev) {
        event_free(d->ev);
        d->ev = NULL;
    }
    if (d->fd >= 0) {
        evutil_closesocket(d->fd);
        d->fd = -1;
    }
}

static void dial_free(struct dial *d)
{
    drop_socket(d);
    if (d->deadline)
        event_free(d->deadline);
    if (d->addrs)
        evutil_freeaddrinfo(d->addrs);
    if (d->conn)
        wr_conn_close(d->conn, 1);
    if (d->scratch)
        evbuffer_free(d->scratch);
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
    if (d->starting) {
        /* Never call back from inside wr_dial(): report from the loop (see dial_start). */
        d->failed_early = 1;
        d->early_rep = rep;
        snprintf(d->early_why, sizeof d->early_why, "%s", why);
        return;
    }
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
    struct wr_conn *c = d->conn;
    d->conn = NULL;
    wr_conn_set_cb(c, NULL, NULL);
    dial_free(d);
    cb(arg, c, WR_REP_OK, NULL);
}

/* --- the upstream proxy's handshake, over the connected socket --------------------------- */

static void proxy_conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct dial *d = arg;
    if (ev & WR_EV_ERROR) {
        dial_fail(d, WR_REP_FAILURE, "upstream proxy connection failed during its handshake");
        return;
    }
    if (ev & WR_EV_READ) {
        uint8_t rep = WR_REP_FAILURE;
        const char *why = NULL;
        int r = wr_proxy_hs_input(&d->hs, c->in, d->scratch, &rep, &why);
        if (evbuffer_get_length(d->scratch))
            wr_conn_write(c, d->scratch);
        if (r == WR_PROXY_HS_FAIL) {
            dial_fail(d, rep, why);
            return;
        }
        if (r == WR_PROXY_HS_DONE) {
            dial_done(d);
            return;
        }
    }
    if (ev & WR_EV_EOF)
        dial_fail(d, WR_REP_FAILURE, "upstream proxy closed the connection during its handshake");
}

static void on_proxy_deadline(evutil_socket_t fd, short what, void *arg)
{
    dial_fail(arg, WR_REP_TTL_EXPIRED, "upstream proxy timed out");
}

static void start_proxy_handshake(struct dial *d)
{
    uint8_t rep = WR_REP_FAILURE;
    const char *why = NULL;
    d->scratch = evbuffer_new();
    d->deadline = evtimer_new(d->ctx->base, on_proxy_deadline, d);
    if (!d->scratch || !d->deadline) {
        dial_fail(d, WR_REP_FAILURE, "out of memory");
        return;
    }
    struct timeval tv = { d->ctx->connect_timeout_s, 0 };
    evtimer_add(d->deadline, &tv);
    if (wr_proxy_hs_start(&d->hs, d->ctx->proxy, &d->dst, d->scratch, &rep, &why) == WR_PROXY_HS_FAIL) {
        dial_fail(d, rep, why);
        return;
    }
    wr_conn_set_cb(d->conn, proxy_conn_cb, d);
    wr_conn_write(d->conn, d->scratch);
}

/* --- connecting ------------------------------------------------------------------------- */

static void connect_next(struct dial *d);

static void on_connected(struct dial *d)
{
    evutil_socket_t fd = d->fd;
    d->fd = -1;
    drop_socket(d);
    d->conn = wr_tcp_conn_from_fd(d->ctx, fd);
    if (!d->conn) {
        dial_fail(d, WR_REP_FAILURE, "out of memory");
        return;
    }
    if (d->via_proxy)
        start_proxy_handshake(d);
    else
        dial_done(d);
}

static void on_connect_event(evutil_socket_t fd, short what, void *arg)
{
    struct dial *d = arg;
    int e = 0;
    if (what & EV_TIMEOUT) {
        e = ETIMEDOUT;
    } else {
        socklen_t len = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
            e = errno;
    }
    if (e == 0) {
        on_connected(d);
        return;
    }
    d->last_errno = e;
    drop_socket(d);
    connect_next(d);
}

/* Connects to the next candidate address; fails the dial when none is left. */
static void connect_next(struct dial *d)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (d->via_proxy || !d->addrs) {
        if (d->last_errno) {
            uint8_t rep = wr_rep_from_errno(d->last_errno);
            char why[160];
            snprintf(why, sizeof why, "%s%s", d->via_proxy ? "cannot reach the upstream proxy: " : "",
                     strerror(d->last_errno));
            dial_fail(d, rep, why);
            return;
        }
        const struct wr_endpoint *to = d->via_proxy ? &d->ctx->proxy->addr : &d->dst;
        sl = to->salen;
        memcpy(&ss, &to->sa, sl);
    } else {
        if (!d->next_addr) {
            if (d->refused && !d->last_errno) {
                dial_fail(d, WR_REP_NOT_ALLOWED,
                          "destination refused: it resolves to loopback, private or link-local addresses");
                return;
            }
            uint8_t rep = wr_rep_from_errno(d->last_errno);
            dial_fail(d, rep, d->last_errno ? strerror(d->last_errno) : wr_rep_str(rep));
            return;
        }
        sl = (socklen_t)d->next_addr->ai_addrlen;
        memcpy(&ss, d->next_addr->ai_addr, sl);
        ((struct sockaddr_in *)&ss)->sin_port = htons(d->dst.port); /* same offset in sin6 */
        d->next_addr = d->next_addr->ai_next;
    }
    if (d->public_only && !wr_sockaddr_is_public((struct sockaddr *)&ss)) {
        d->refused = 1;
        if (!d->addrs) {
            dial_fail(d, WR_REP_NOT_ALLOWED, "destination refused: loopback, private or link-local address");
            return;
        }
        connect_next(d);
        return;
    }
    d->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        char why[120];
        int e = errno;
        if (e == EAFNOSUPPORT && d->addrs) {
            /* A host without IPv6 (or IPv4): try the name's other addresses. */
            d->last_errno = ENETUNREACH;
            connect_next(d);
            return;
        }
        snprintf(why, sizeof why, "cannot open a socket: %s", strerror(e));
        dial_fail(d, e == EAFNOSUPPORT ? WR_REP_NET_UNREACH : WR_REP_FAILURE, why);
        return;
    }
    /* tor's OutboundBindAddressPT: leave from the address the operator chose, except from
     * an outside address to loopback (a local proxy), which must not depend on it. */
    const struct sockaddr *src = ss.ss_family == AF_INET ? d->ctx->bind_v4 : d->ctx->bind_v6;
    if (src && (wr_sockaddr_is_loopback(src) || !wr_sockaddr_is_loopback((struct sockaddr *)&ss)) &&
        bind(d->fd, src, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                 : sizeof(struct sockaddr_in6)) != 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot bind to the outbound address: %s", strerror(errno));
        dial_fail(d, WR_REP_FAILURE, why);
        return;
    }
    /* An immediate success is reported by the write event like a pending one, so that no
     * callback ever comes from inside wr_dial(). */
    if (connect(d->fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
        d->last_errno = errno;
        drop_socket(d);
        connect_next(d);
        return;
    }
    d->ev = event_new(d->ctx->base, d->fd, EV_WRITE, on_connect_event, d);
    if (!d->ev) {
        dial_fail(d, WR_REP_FAILURE, "out of memory");
        return;
    }
    struct timeval tv = { d->ctx->connect_timeout_s, 0 };
    event_add(d->ev, &tv);
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

/* Runs from the loop: resolves a name, or reports a failure that happened inside wr_dial(). */
static void dial_start(evutil_socket_t fd, short what, void *arg)
{
    struct dial *d = arg;
    event_free(d->ev);
    d->ev = NULL;
    if (d->failed_early) {
        char why[sizeof d->early_why];
        memcpy(why, d->early_why, sizeof why);
        dial_fail(d, d->early_rep, why);
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
    d->fd = -1;
    d->cb = cb;
    d->arg = arg;
    d->dst = *dst;
    d->via_proxy = (flags & WR_DIAL_VIA_PROXY) && ctx->proxy;
    d->public_only = !d->via_proxy && (flags & WR_DIAL_PUBLIC_ONLY);
    if (d->via_proxy || d->dst.type != WR_EP_NAME) {
        /* An address: connect now (the result always comes from the loop). */
        d->starting = 1;
        connect_next(d);
        d->starting = 0;
        if (!d->failed_early)
            return &d->pending;
        drop_socket(d);
    }
    d->ev = evtimer_new(ctx->base, dial_start, d);
    if (!d->ev) {
        free(d);
        return NULL;
    }
    struct timeval now = { 0, 0 };
    evtimer_add(d->ev, &now);
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
