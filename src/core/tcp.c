/* tcp.c: wr_conn over a socket bufferevent. Half-close is done with shutdown(SHUT_WR) once the
 * output buffer is empty; an abortive close sets SO_LINGER 0 so the peer sees an RST. */
#include "core/tcp.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/log.h"

struct tcp_conn {
    struct wr_conn base;
    struct bufferevent *bev;
    uint8_t shut_pending;   /* shutdown_write() called, output not yet empty */
    uint8_t shut_done;
    uint8_t above_lwm;      /* backlog went above WR_LWM; DRAINED owed when it falls */
    uint8_t read_paused;
    uint8_t eof_seen;
};

static void do_shutdown(struct tcp_conn *t)
{
    t->shut_pending = 0;
    t->shut_done = 1;
    shutdown(bufferevent_getfd(t->bev), SHUT_WR);
}

static void tcp_readcb(struct bufferevent *bev, void *arg)
{
    struct tcp_conn *t = arg;
    wr_conn_emit(&t->base, WR_EV_READ, 0);
}

static void tcp_writecb(struct bufferevent *bev, void *arg)
{
    struct tcp_conn *t = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    unsigned ev = 0;
    if (t->shut_pending && left == 0) {
        do_shutdown(t);
        ev = WR_EV_DRAINED;
    }
    if (t->above_lwm && left <= WR_LWM) {
        t->above_lwm = 0;
        ev = WR_EV_DRAINED;
    }
    if (ev)
        wr_conn_emit(&t->base, ev, 0);
}

static void tcp_eventcb(struct bufferevent *bev, short what, void *arg)
{
    struct tcp_conn *t = arg;
    if (what & BEV_EVENT_EOF) {
        t->eof_seen = 1;
        bufferevent_disable(bev, EV_READ);
        wr_conn_emit(&t->base, WR_EV_EOF, 0);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        int e = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
        if (e == 0)
            e = EIO;
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        wr_conn_emit(&t->base, WR_EV_ERROR, e);
    }
}

static void tcp_write(struct wr_conn *c, struct evbuffer *src)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    if (t->shut_done || t->shut_pending) {
        evbuffer_drain(src, evbuffer_get_length(src));
        return;
    }
    bufferevent_write_buffer(t->bev, src);
    if (evbuffer_get_length(bufferevent_get_output(t->bev)) > WR_LWM)
        t->above_lwm = 1;
}

static void tcp_shutdown_write(struct wr_conn *c)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    if (t->shut_done || t->shut_pending)
        return;
    if (evbuffer_get_length(bufferevent_get_output(t->bev)) == 0) {
        do_shutdown(t);
    } else {
        t->shut_pending = 1;
        bufferevent_setwatermark(t->bev, EV_WRITE, 0, 0);
    }
}

static void tcp_set_read_paused(struct wr_conn *c, int paused)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    if (t->read_paused == !!paused)
        return;
    t->read_paused = !!paused;
    if (t->eof_seen)
        return;
    if (paused)
        bufferevent_disable(t->bev, EV_READ);
    else
        bufferevent_enable(t->bev, EV_READ);
}

static size_t tcp_backlog(const struct wr_conn *c)
{
    const struct tcp_conn *t = (const struct tcp_conn *)c;
    return evbuffer_get_length(bufferevent_get_output(t->bev));
}

static void tcp_close(struct wr_conn *c, int abort)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    bufferevent_setcb(t->bev, NULL, NULL, NULL, NULL);
    if (abort) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(bufferevent_getfd(t->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    bufferevent_free(t->bev);
    free(t);
}

static const struct wr_conn_ops tcp_ops = {
    .kind = "tcp",
    .write = tcp_write,
    .shutdown_write = tcp_shutdown_write,
    .set_read_paused = tcp_set_read_paused,
    .write_backlog = tcp_backlog,
    .close = tcp_close,
};

void wr_tcp_tune(struct bufferevent *bev)
{
    bufferevent_set_max_single_read(bev, 256 * 1024);
    bufferevent_set_max_single_write(bev, 256 * 1024);
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct wr_conn *wr_tcp_conn_new(struct wr_ctx *ctx, struct bufferevent *bev)
{
    struct tcp_conn *t = calloc(1, sizeof *t);
    if (!t) {
        bufferevent_free(bev);
        return NULL;
    }
    t->bev = bev;
    wr_conn_init(&t->base, &tcp_ops, bufferevent_get_input(bev), wr_ctx_next_id(ctx));
    wr_tcp_tune(bev);
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_setwatermark(bev, EV_WRITE, WR_LWM, 0);
    bufferevent_setcb(bev, tcp_readcb, tcp_writecb, tcp_eventcb, t);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    return &t->base;
}

struct wr_conn *wr_tcp_conn_from_fd(struct wr_ctx *ctx, evutil_socket_t fd)
{
    evutil_make_socket_nonblocking(fd);
    struct bufferevent *bev = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return NULL;
    }
    return wr_tcp_conn_new(ctx, bev);
}

evutil_socket_t wr_tcp_fd(const struct wr_conn *c)
{
    if (c->ops != &tcp_ops)
        return -1;
    return bufferevent_getfd(((const struct tcp_conn *)c)->bev);
}
