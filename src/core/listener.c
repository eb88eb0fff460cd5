/* listener.c: accepting sockets; see listener.h. */
#include "core/listener.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/ctx.h"
#include "core/log.h"

#define ACCEPT_RETRY_MS 100

struct wr_listener {
    struct evconnlistener *l;
    struct event *retry;
    wr_accept_cb *cb;
    void *arg;
    struct wr_endpoint addr;
    struct wr_ratelim rl;
};

static void on_accept(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct wr_listener *l = arg;
    l->cb(l->arg, fd, sa, salen);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct wr_listener *l = arg;
    evconnlistener_enable(l->l);
}

static void on_error(struct evconnlistener *el, void *arg)
{
    struct wr_listener *l = arg;
    int e = EVUTIL_SOCKET_ERROR();
    unsigned suppressed = 0;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        evconnlistener_disable(l->l);
        struct timeval tv = { 0, ACCEPT_RETRY_MS * 1000 };
        evtimer_add(l->retry, &tv);
        if (wr_ratelim_allow(&l->rl, 10, &suppressed))
            wr_warn("accept: %s; pausing new connections for %d ms (%u more like this suppressed)",
                    strerror(e), ACCEPT_RETRY_MS, suppressed);
        return;
    }
    if (wr_ratelim_allow(&l->rl, 10, &suppressed))
        wr_warn("accept: %s", strerror(e));
}

struct wr_listener *wr_listener_new(struct wr_ctx *ctx, const struct wr_endpoint *bind,
                                    wr_accept_cb *cb, void *arg, char *err, size_t errlen)
{
    struct wr_listener *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->cb = cb;
    l->arg = arg;
    l->l = evconnlistener_new_bind(ctx->base, on_accept, l,
                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                   SOMAXCONN, (const struct sockaddr *)&bind->sa, (int)bind->salen);
    if (!l->l) {
        char a[WR_ADDRSTRLEN];
        wr_endpoint_format(bind, a, sizeof a);
        snprintf(err, errlen, "cannot listen on %s: %s", a, strerror(errno));
        free(l);
        return NULL;
    }
    evconnlistener_set_error_cb(l->l, on_error);
    l->retry = evtimer_new(ctx->base, on_retry, l);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evconnlistener_get_fd(l->l), (struct sockaddr *)&ss, &sl);
    wr_endpoint_from_sockaddr(&l->addr, (struct sockaddr *)&ss);
    return l;
}

const struct wr_endpoint *wr_listener_addr(const struct wr_listener *l)
{
    return &l->addr;
}

void wr_listener_free(struct wr_listener *l)
{
    if (!l)
        return;
    evconnlistener_free(l->l);
    event_free(l->retry);
    free(l);
}
