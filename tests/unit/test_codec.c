/* test_codec.c: the codec adapter (core/codec.c) with a toy codec over real loopback sockets:
 * the client says HELLO, the server answers OK, then bytes travel XORed with 0x5a. Checks the
 * handshake gating, queued writes, a prober getting no answer and a delayed close, and a
 * corrupt server reply failing the client's dial. A second toy ("held") holds its opening
 * bytes for the first plaintext, as the shadow client does with its address header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/ctx.h"
#include "core/listener.h"
#include "core/tcp.h"

struct toy {
    int server, ready;
};

static int toy_start(void *st, struct evbuffer *out)
{
    struct toy *t = st;
    if (!t->server)
        evbuffer_add(out, "HELLO", 5);
    return WR_CODEC_OK;
}

static void xor_move(struct evbuffer *from, struct evbuffer *to)
{
    size_t n = evbuffer_get_length(from);
    uint8_t *p = malloc(n ? n : 1);
    evbuffer_remove(from, p, n);
    for (size_t i = 0; i < n; i++)
        p[i] ^= 0x5a;
    evbuffer_add(to, p, n);
    free(p);
}

static int toy_decode(void *st, struct evbuffer *in, struct evbuffer *plain, struct evbuffer *out)
{
    struct toy *t = st;
    if (!t->ready) {
        const char *want = t->server ? "HELLO" : "OK";
        size_t wl = strlen(want);
        char buf[8] = { 0 };
        size_t have = evbuffer_get_length(in);
        evbuffer_copyout(in, buf, have < wl ? have : wl);
        if (memcmp(buf, want, have < wl ? have : wl) != 0)
            return WR_CODEC_ERROR;
        if (have < wl)
            return WR_CODEC_OK;
        evbuffer_drain(in, wl);
        if (t->server)
            evbuffer_add(out, "OK", 2);
        t->ready = 1;
    }
    xor_move(in, plain);
    return WR_CODEC_OK;
}

static int toy_encode(void *st, struct evbuffer *plain, struct evbuffer *out)
{
    xor_move(plain, out);
    return WR_CODEC_OK;
}

static int toy_ready(const void *st)
{
    return ((const struct toy *)st)->ready;
}

static void toy_free(void *st)
{
    free(st);
}

static const struct wr_codec_ops toy_ops = {
    .name = "toy", .start = toy_start, .decode = toy_decode, .encode = toy_encode,
    .is_ready = toy_ready, .free = toy_free, .drain_min_ms = 300, .drain_max_ms = 400,
    .handshake_max = 64,
};

static struct toy *toy_new(int server)
{
    struct toy *t = calloc(1, sizeof *t);
    t->server = server;
    return t;
}

/* --- a tiny harness: one server-side codec conn, one client-side result --------------- */

struct h {
    struct wr_ctx ctx;
    struct wr_listener *l;
    struct wr_conn *srv, *cli;
    struct evbuffer *srv_got, *cli_got;
    int srv_ready, srv_error, cli_failed;
    int64_t srv_error_at;
    uint8_t cli_rep;
};

static void srv_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct h *h = arg;
    if (ev & WR_EV_READY) {
        h->srv_ready = 1;
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "pong", 4);
        wr_conn_write(c, b);
        evbuffer_free(b);
    }
    if (ev & WR_EV_READ)
        evbuffer_add_buffer(h->srv_got, c->in);
    if (ev & WR_EV_ERROR) {
        h->srv_error = err;
        h->srv_error_at = wr_now_ms();
        wr_conn_close(c, 1);
        h->srv = NULL;
        event_base_loopexit(h->ctx.base, NULL);
    }
}

static void on_accept(void *arg, evutil_socket_t fd, const struct sockaddr *sa, int len)
{
    struct h *h = arg;
    struct wr_conn *raw = wr_tcp_conn_from_fd(&h->ctx, fd);
    h->srv = wr_codec_conn_new(&h->ctx, raw, &toy_ops, toy_new(1), 1);
    assert_non_null(h->srv);
    assert_false(h->srv->ready);
    wr_conn_set_cb(h->srv, srv_cb, h);
}

static void cli_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct h *h = arg;
    if (ev & WR_EV_READ) {
        evbuffer_add_buffer(h->cli_got, c->in);
        if (evbuffer_get_length(h->cli_got) >= 4 && evbuffer_get_length(h->srv_got) >= 4)
            event_base_loopexit(h->ctx.base, NULL);
    }
}

static void on_dial(void *arg, struct wr_conn *c, uint8_t rep, const char *why)
{
    struct h *h = arg;
    if (!c) {
        h->cli_failed = 1;
        h->cli_rep = rep;
        event_base_loopexit(h->ctx.base, NULL);
        return;
    }
    assert_true(c->ready);
    h->cli = c;
    wr_conn_set_cb(c, cli_cb, h);
    /* Bytes that came with the handshake reply are already waiting. */
    evbuffer_add_buffer(h->cli_got, c->in);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "ping", 4);
    wr_conn_write(c, b);
    evbuffer_free(b);
}

/* A context on its own loop, and a listener on 127.0.0.1, any port. */
static struct wr_listener *loop_and_listener(struct wr_ctx *ctx, wr_accept_cb *cb, void *arg)
{
    char err[200];
    assert_int_equal(wr_ctx_init(ctx, event_base_new(), err, sizeof err), 0);
    struct wr_endpoint ep;
    wr_endpoint_set(&ep, WR_EP_IPV4, "127.0.0.1", 0);
    struct wr_listener *l = wr_listener_new(ctx, &ep, cb, arg, err, sizeof err);
    assert_non_null(l);
    return l;
}

static void free_loop(struct wr_ctx *ctx, struct wr_listener *l)
{
    wr_listener_free(l);
    struct event_base *base = ctx->base;
    wr_ctx_free(ctx);
    event_base_free(base);
}

static void h_init(struct h *h)
{
    memset(h, 0, sizeof *h);
    h->l = loop_and_listener(&h->ctx, on_accept, h);
    h->srv_got = evbuffer_new();
    h->cli_got = evbuffer_new();
}

static void h_run(struct h *h, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_base_loopexit(h->ctx.base, &tv);
    event_base_dispatch(h->ctx.base);
}

static void h_free(struct h *h)
{
    wr_conn_close(h->srv, 1);
    wr_conn_close(h->cli, 1);
    free_loop(&h->ctx, h->l);
    evbuffer_free(h->srv_got);
    evbuffer_free(h->cli_got);
}

static void test_handshake_and_data(void **state)
{
    struct h h;
    h_init(&h);
    struct wr_pending *p = wr_codec_dial(&h.ctx, wr_listener_addr(h.l), &toy_ops, toy_new(0), on_dial, &h);
    assert_non_null(p);
    h_run(&h, 3000);
    assert_true(h.srv_ready);
    assert_false(h.cli_failed);
    assert_int_equal(evbuffer_get_length(h.srv_got), 4);
    assert_memory_equal(evbuffer_pullup(h.srv_got, 4), "ping", 4);
    assert_int_equal(evbuffer_get_length(h.cli_got), 4);
    assert_memory_equal(evbuffer_pullup(h.cli_got, 4), "pong", 4);
    h_free(&h);
}

/* A prober sends junk: the server answers nothing and fails only after drain_min_ms. */
static void test_probe_gets_silence_then_delayed_close(void **state)
{
    struct h h;
    h_init(&h);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    const struct wr_endpoint *ep = wr_listener_addr(h.l);
    assert_int_equal(connect(fd, (const struct sockaddr *)&ep->sa, ep->salen), 0);
    assert_int_equal(write(fd, "JUNKJUNK", 8), 8);
    int64_t sent = wr_now_ms();
    h_run(&h, 2000);
    assert_int_equal(h.srv_error, EPROTO);
    assert_false(h.srv_ready);
    assert_true(h.srv_error_at - sent >= 300);
    assert_true(h.srv_error_at - sent < 1500);
    /* Nothing came back before the close. */
    char buf[16];
    struct timeval tv = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = read(fd, buf, sizeof buf);
    assert_true(n <= 0);
    close(fd);
    h_free(&h);
}

/* A peer that never finishes the handshake but keeps sending is cut off at handshake_max. */
static void test_handshake_bytes_bounded(void **state)
{
    struct h h;
    h_init(&h);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    const struct wr_endpoint *ep = wr_listener_addr(h.l);
    assert_int_equal(connect(fd, (const struct sockaddr *)&ep->sa, ep->salen), 0);
    assert_int_equal(write(fd, "HEL", 3), 3);  /* a valid prefix, then stall */
    h_run(&h, 200);
    assert_int_equal(h.srv_error, 0);          /* still waiting: a slow peer is allowed */
    assert_false(h.srv_ready);
    close(fd);
    h_run(&h, 1000);
    assert_int_not_equal(h.srv_error, 0);      /* and its departure ends the connection */
    h_free(&h);
}

/* A server that answers with garbage fails the client's dial with a general failure. */
static void on_accept_liar(void *arg, evutil_socket_t fd, const struct sockaddr *sa, int len)
{
    struct h *h = arg;
    ssize_t w = write(fd, "NO", 2);
    (void)w;
    h->srv = wr_tcp_conn_from_fd(&h->ctx, fd);
}

static void test_bad_server_reply_fails_dial(void **state)
{
    struct h h;
    h_init(&h);
    wr_listener_free(h.l);
    char err[200];
    struct wr_endpoint ep;
    wr_endpoint_set(&ep, WR_EP_IPV4, "127.0.0.1", 0);
    h.l = wr_listener_new(&h.ctx, &ep, on_accept_liar, &h, err, sizeof err);
    assert_non_null(wr_codec_dial(&h.ctx, wr_listener_addr(h.l), &toy_ops, toy_new(0), on_dial, &h));
    h_run(&h, 3000);
    assert_true(h.cli_failed);
    assert_int_equal(h.cli_rep, 0x01);
    assert_null(h.cli);
    h_free(&h);
}

/* --- held opening: start() writes nothing, the first encode() or flush() sends "OPEN" --- */

struct held {
    int sent;
};

static int held_start(void *st, struct evbuffer *out)
{
    return WR_CODEC_OK;
}

static int held_flush(void *st, struct evbuffer *out)
{
    ((struct held *)st)->sent = 1;
    evbuffer_add(out, "OPEN", 4);
    return WR_CODEC_OK;
}

static int held_encode(void *st, struct evbuffer *plain, struct evbuffer *out)
{
    if (!((struct held *)st)->sent)
        held_flush(st, out);
    evbuffer_add_buffer(out, plain);
    return WR_CODEC_OK;
}

static int held_decode(void *st, struct evbuffer *in, struct evbuffer *plain, struct evbuffer *out)
{
    evbuffer_add_buffer(plain, in);
    return WR_CODEC_OK;
}

static int held_ready(const void *st)
{
    return 1;
}

static const struct wr_codec_ops held_ops = {
    .name = "held", .start = held_start, .decode = held_decode, .encode = held_encode,
    .is_ready = held_ready, .free = toy_free, .flush = held_flush, .flush_after_ms = 200,
};

/* The far end is a plain socket that records what arrives, when, and the EOF. */
struct far {
    struct wr_ctx ctx;
    struct wr_listener *l;
    struct event *ev;
    evutil_socket_t fd;
    char got[64];
    size_t len;
    int eof;
    int64_t first_at, start_at;
    const char *action;         /* what the client does once its dial succeeds */
    struct wr_conn *cli;
};

static void far_read(evutil_socket_t fd, short what, void *arg)
{
    struct far *f = arg;
    ssize_t n = read(fd, f->got + f->len, sizeof f->got - 1 - f->len);
    if (n > 0) {
        if (f->len == 0)
            f->first_at = wr_now_ms();
        f->len += (size_t)n;
    } else {
        f->eof = 1;
        event_del(f->ev);
        event_base_loopexit(f->ctx.base, NULL);
    }
}

static void far_accept(void *arg, evutil_socket_t fd, const struct sockaddr *sa, int len)
{
    struct far *f = arg;
    f->fd = fd;
    f->ev = event_new(f->ctx.base, fd, EV_READ | EV_PERSIST, far_read, f);
    event_add(f->ev, NULL);
}

static void far_dialed(void *arg, struct wr_conn *c, uint8_t rep, const char *why)
{
    struct far *f = arg;
    assert_non_null(c);
    f->cli = c;
    if (strcmp(f->action, "write") == 0) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "data", 4);
        wr_conn_write(c, b);
        evbuffer_free(b);
        wr_conn_shutdown_write(c);
    } else if (strcmp(f->action, "shutdown") == 0) {
        wr_conn_shutdown_write(c);
    }
}

static void far_run(struct far *f, const char *action)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->action = action;
    f->l = loop_and_listener(&f->ctx, far_accept, f);
    f->start_at = wr_now_ms();
    assert_non_null(wr_codec_dial(&f->ctx, wr_listener_addr(f->l), &held_ops, calloc(1, sizeof(struct held)),
                                  far_dialed, f));
    struct timeval tv = { 2, 0 };
    event_base_loopexit(f->ctx.base, &tv);
    event_base_dispatch(f->ctx.base);
    f->got[f->len] = '\0';
    wr_conn_close(f->cli, 1);
    if (f->ev)
        event_free(f->ev);
    if (f->fd >= 0)
        close(f->fd);
    free_loop(&f->ctx, f->l);
}

/* The first write carries the opening, at once: no wait, one message. */
static void test_opening_rides_with_first_write(void **state)
{
    struct far f;
    far_run(&f, "write");
    assert_string_equal(f.got, "OPENdata");
    assert_true(f.eof);
    assert_true(f.first_at - f.start_at < 150);
}

/* Nothing to send (a server that speaks first): the opening leaves alone after the wait. */
static void test_opening_flushed_when_silent(void **state)
{
    struct far f;
    far_run(&f, "nothing");
    assert_string_equal(f.got, "OPEN");
    assert_false(f.eof);
    assert_true(f.first_at - f.start_at >= 190);
}

/* A half-close before any data sends the opening first, then the FIN, without the wait. */
static void test_opening_before_half_close(void **state)
{
    struct far f;
    far_run(&f, "shutdown");
    assert_string_equal(f.got, "OPEN");
    assert_true(f.eof);
    assert_true(f.first_at - f.start_at < 150);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_data),
        cmocka_unit_test(test_probe_gets_silence_then_delayed_close),
        cmocka_unit_test(test_handshake_bytes_bounded),
        cmocka_unit_test(test_bad_server_reply_fails_dial),
        cmocka_unit_test(test_opening_rides_with_first_write),
        cmocka_unit_test(test_opening_flushed_when_silent),
        cmocka_unit_test(test_opening_before_half_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
