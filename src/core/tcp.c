/* tcp.c: wr_conn over a socket; see tcp.h.
 *
 * Why not a bufferevent: libevent 2.1's evbuffer_read() caps each read at 4 KiB whatever
 * bufferevent_set_max_single_read() says, and a bufferevent always waits a loop turn before
 * writing. Through a relay that cost about 90% of loopback throughput; reading into the evbuffer
 * ourselves and writing through keeps the copy loop at one readv and one writev per chunk. */
#include "core/tcp.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/ctx.h"

#define READ_MIN (16 * 1024)
#define READ_MAX (512 * 1024)

struct tcp_conn {
    struct wr_conn base;
    evutil_socket_t fd;
    struct event *rev, *wev;
    struct evbuffer *out;
    uint32_t read_size;
    int error;                /* a write failed; reported from the loop */
    uint8_t read_paused, eof_seen, shut_pending, shut_done, above_lwm;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *t = arg;
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(t->base.in, t->read_size, v, 2);
    if (nv <= 0) {
        wr_conn_emit(&t->base, WR_EV_ERROR, ENOMEM);
        return;
    }
    /* The reservation may offer more room than asked; read no more than read_size, so one
     * read adds at most READ_MAX to a buffer (the bound the relay's backpressure relies on). */
    struct iovec iov[2];
    size_t room = 0;
    for (int i = 0; i < nv; i++) {
        size_t take = v[i].iov_len < t->read_size - room ? v[i].iov_len : t->read_size - room;
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = take;
        room += take;
    }
    ssize_t n = readv(fd, iov, nv);
    if (n > 0) {
        size_t left = (size_t)n;
        for (int i = 0; i < nv; i++) {
            size_t take = left < iov[i].iov_len ? left : iov[i].iov_len;
            v[i].iov_len = take;
            left -= take;
        }
        evbuffer_commit_space(t->base.in, v, nv);
        if ((size_t)n == room && t->read_size < READ_MAX)
            t->read_size *= 2;
        wr_conn_emit(&t->base, WR_EV_READ, 0);
        return;
    }
    evbuffer_commit_space(t->base.in, v, 0);
    if (n == 0) {
        t->eof_seen = 1;
        t->base.eof_received = 1;
        event_del(t->rev);
        wr_conn_emit(&t->base, WR_EV_EOF, 0);
        return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return;
    int e = errno;
    event_del(t->rev);
    event_del(t->wev);
    wr_conn_emit(&t->base, WR_EV_ERROR, e);
}

/* Writes what the socket takes now; arms the write event for the rest. 0, or -1 on error. */
static int flush_out(struct tcp_conn *t)
{
    while (evbuffer_get_length(t->out)) {
        int n = evbuffer_write_atmost(t->out, t->fd, -1);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            t->error = errno ? errno : EIO;
            return -1;
        }
        if (n == 0)
            break;
    }
    if (evbuffer_get_length(t->out))
        event_add(t->wev, NULL);
    else
        event_del(t->wev);
    return 0;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    struct tcp_conn *t = arg;
    if (t->error || flush_out(t) != 0) {
        event_del(t->rev);
        event_del(t->wev);
        wr_conn_emit(&t->base, WR_EV_ERROR, t->error);
        return;
    }
    size_t left = evbuffer_get_length(t->out);
    unsigned ev = 0;
    if (t->shut_pending && left == 0) {
        t->shut_pending = 0;
        t->shut_done = 1;
        shutdown(t->fd, SHUT_WR);
        ev = WR_EV_DRAINED;
    }
    if (t->above_lwm && left <= WR_LWM) {
        t->above_lwm = 0;
        ev = WR_EV_DRAINED;
    }
    if (ev)
        wr_conn_emit(&t->base, ev, 0);
}

static void tcp_write(struct wr_conn *c, struct evbuffer *src)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    if (t->shut_done || t->shut_pending || t->error) {
        evbuffer_drain(src, evbuffer_get_length(src));
        return;
    }
    evbuffer_add_buffer(t->out, src);
    if (!event_pending(t->wev, EV_WRITE, NULL) && flush_out(t) != 0) {
        /* Report from the loop: the caller is in the middle of something. */
        event_active(t->wev, EV_WRITE, 0);
        return;
    }
    if (evbuffer_get_length(t->out) > WR_LWM)
        t->above_lwm = 1;
}

static void tcp_shutdown_write(struct wr_conn *c)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    if (t->shut_done || t->shut_pending)
        return;
    if (evbuffer_get_length(t->out) == 0) {
        t->shut_done = 1;
        shutdown(t->fd, SHUT_WR);
    } else {
        t->shut_pending = 1;
    }
}

static void tcp_set_read_paused(struct wr_conn *c, int paused)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    t->read_paused = (uint8_t)!!paused;
    if (t->eof_seen || t->error)
        return;
    if (paused)
        event_del(t->rev);
    else
        event_add(t->rev, NULL);
}

static size_t tcp_backlog(const struct wr_conn *c)
{
    return evbuffer_get_length(((const struct tcp_conn *)c)->out);
}

static void tcp_close(struct wr_conn *c, int abort)
{
    struct tcp_conn *t = (struct tcp_conn *)c;
    if (abort) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    event_free(t->rev);
    event_free(t->wev);
    evbuffer_free(t->out);
    evbuffer_free(t->base.in);
    evutil_closesocket(t->fd);
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

struct wr_conn *wr_tcp_conn_from_fd(struct wr_ctx *ctx, evutil_socket_t fd)
{
    struct tcp_conn *t = calloc(1, sizeof *t);
    struct evbuffer *in = evbuffer_new();
    if (!t || !in || !(t->out = evbuffer_new()) ||
        !(t->rev = event_new(ctx->base, fd, EV_READ | EV_PERSIST, on_readable, t)) ||
        !(t->wev = event_new(ctx->base, fd, EV_WRITE | EV_PERSIST, on_writable, t))) {
        if (t) {
            if (t->rev) event_free(t->rev);
            if (t->out) evbuffer_free(t->out);
            free(t);
        }
        if (in) evbuffer_free(in);
        evutil_closesocket(fd);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on Unix sockets */
    t->fd = fd;
    t->read_size = READ_MIN;
    wr_conn_init(&t->base, &tcp_ops, in, wr_ctx_next_id(ctx));
    event_add(t->rev, NULL);
    return &t->base;
}

evutil_socket_t wr_tcp_fd(const struct wr_conn *c)
{
    return c->ops == &tcp_ops ? ((const struct tcp_conn *)c)->fd : -1;
}
