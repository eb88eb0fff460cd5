/* test_relay.c: the relay and wr_conn_finish driven through an in-memory wr_conn.
 *
 * A mem_conn behaves as tcp.c does, but the test decides when things happen: bytes "arrive"
 * with mem_recv (held back while reads are paused, as the kernel holds them), the socket
 * "sends" with mem_flush (a bounded amount per call, so the output can be kept full), and EOF
 * and errors are injected. Callbacks fire only from these test actions, never from inside an
 * op, as with a real socket. close() only records the call (the test owns the memory) so that
 * every use after close is caught. */
#include "unit.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "core/conn.h"
#include "core/ctx.h"
#include "core/log.h"
#include "core/relay.h"

struct mem_conn {
    struct wr_conn base;
    const char *name;
    struct evbuffer *out;      /* written, not yet sent: the backlog */
    struct evbuffer *wire;     /* sent: what the peer got */
    struct evbuffer *rx;       /* arrived while reads were paused */
    int paused, pause_calls;
    int shut_requested, shut_done;    /* shutdown_write() called; FIN sent */
    int above_lwm;
    int closed, close_abort, close_calls;
    int used_after_close;
    size_t written_after_shutdown;
};

static void mem_write(struct wr_conn *c, struct evbuffer *src)
{
    struct mem_conn *m = (struct mem_conn *)c;
    if (m->closed)
        m->used_after_close++;
    if (m->shut_requested) {
        m->written_after_shutdown += evbuffer_get_length(src);
        evbuffer_drain(src, evbuffer_get_length(src));
        return;
    }
    evbuffer_add_buffer(m->out, src);
    if (evbuffer_get_length(m->out) > WR_LWM)
        m->above_lwm = 1;
}

static void mem_shutdown_write(struct wr_conn *c)
{
    struct mem_conn *m = (struct mem_conn *)c;
    if (m->closed)
        m->used_after_close++;
    if (m->shut_requested)
        return;
    m->shut_requested = 1;
    if (evbuffer_get_length(m->out) == 0)
        m->shut_done = 1;
}

static void mem_set_read_paused(struct wr_conn *c, int paused)
{
    struct mem_conn *m = (struct mem_conn *)c;
    if (m->closed)
        m->used_after_close++;
    m->pause_calls++;
    m->paused = !!paused;
}

static size_t mem_backlog(const struct wr_conn *c)
{
    const struct mem_conn *m = (const struct mem_conn *)c;
    return evbuffer_get_length(m->out);
}

static void mem_close(struct wr_conn *c, int abort)
{
    struct mem_conn *m = (struct mem_conn *)c;
    if (m->closed)
        m->used_after_close++;
    m->closed = 1;
    m->close_abort = abort;
    m->close_calls++;
}

static const struct wr_conn_ops mem_ops = {
    .kind = "mem",
    .write = mem_write,
    .shutdown_write = mem_shutdown_write,
    .set_read_paused = mem_set_read_paused,
    .write_backlog = mem_backlog,
    .close = mem_close,
};

static struct mem_conn *mem_new(const char *name, uint32_t id)
{
    struct mem_conn *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->name = name;
    m->out = evbuffer_new();
    m->wire = evbuffer_new();
    m->rx = evbuffer_new();
    wr_conn_init(&m->base, &mem_ops, evbuffer_new(), id);
    return m;
}

static void mem_free(struct mem_conn *m)
{
    evbuffer_free(m->base.in);
    evbuffer_free(m->out);
    evbuffer_free(m->wire);
    evbuffer_free(m->rx);
    free(m);
}

/* Bytes the kernel holds are read when reads are on. */
static void mem_poll(struct mem_conn *m)
{
    if (m->closed || m->paused || evbuffer_get_length(m->rx) == 0)
        return;
    evbuffer_add_buffer(m->base.in, m->rx);
    wr_conn_emit(&m->base, WR_EV_READ, 0);
}

static void mem_recv(struct mem_conn *m, const void *p, size_t n)
{
    evbuffer_add(m->rx, p, n);
    mem_poll(m);
}

static void mem_eof(struct mem_conn *m)
{
    assert_false(m->closed);
    assert_false(m->paused);          /* a paused socket is not read: its EOF is not seen */
    mem_poll(m);
    if (!m->closed)
        wr_conn_emit(&m->base, WR_EV_EOF, 0);
}

static void mem_error(struct mem_conn *m, int err)
{
    assert_false(m->closed);
    wr_conn_emit(&m->base, WR_EV_ERROR, err);
}

/* The socket sends up to max bytes; DRAINED as tcp.c gives it. */
static void mem_flush(struct mem_conn *m, size_t max)
{
    if (m->closed)
        return;
    size_t n = evbuffer_get_length(m->out);
    if (n > max)
        n = max;
    evbuffer_remove_buffer(m->out, m->wire, n);
    size_t left = evbuffer_get_length(m->out);
    unsigned ev = 0;
    if (m->shut_requested && !m->shut_done && left == 0) {
        m->shut_done = 1;
        ev = WR_EV_DRAINED;
    }
    if (m->above_lwm && left <= WR_LWM) {
        m->above_lwm = 0;
        ev = WR_EV_DRAINED;
    }
    if (ev)
        wr_conn_emit(&m->base, ev, 0);
}

static void mem_flush_all(struct mem_conn *m) { mem_flush(m, (size_t)-1); }

static void check_buf(const char *row, struct evbuffer *b, const char *want)
{
    size_t n = evbuffer_get_length(b);
    char *p = (char *)evbuffer_pullup(b, -1);
    CHECK_MEM(row, p ? p : "", n, want, strlen(want));
}

/* ---------------------------------------------------------------- fixture */

struct fx {
    struct event_base *base;
    struct wr_ctx ctx;
    struct mem_conn *a, *b;
    struct wr_relay *r;
};

static char last_log[1024];

static void capture_log(enum wr_log_level level, const char *msg)
{
    snprintf(last_log, sizeof last_log, "%s", msg);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->base = event_base_new();
    char err[128];
    if (!f->base || wr_ctx_init(&f->ctx, f->base, err, sizeof err) != 0)
        return -1;
    f->a = mem_new("a", wr_ctx_next_id(&f->ctx));
    f->b = mem_new("b", wr_ctx_next_id(&f->ctx));
    last_log[0] = '\0';
    wr_log_set_sink(capture_log, WR_LOG_INFO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    wr_log_set_sink(NULL, WR_LOG_NONE);
    wr_ctx_free(&f->ctx);
    event_base_free(f->base);
    mem_free(f->a);
    mem_free(f->b);
    free(f);
    return 0;
}

static void start(struct fx *f)
{
    f->r = wr_relay_new(&f->ctx, &f->a->base, &f->b->base, "test");
    assert_non_null(f->r);
    assert_int_equal(f->ctx.n_live, 1);
}

/* Invariants after every test: no op after close, nothing written after shutdown. */
static void check_clean(struct fx *f)
{
    assert_int_equal(f->a->used_after_close, 0);
    assert_int_equal(f->b->used_after_close, 0);
    assert_int_equal(f->a->written_after_shutdown, 0);
    assert_int_equal(f->b->written_after_shutdown, 0);
}

static void check_closed(struct fx *f, int abort)
{
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->b->closed, 1);
    assert_int_equal(f->a->close_calls, 1);
    assert_int_equal(f->b->close_calls, 1);
    assert_int_equal(f->a->close_abort, abort);
    assert_int_equal(f->b->close_abort, abort);
    assert_int_equal(f->ctx.n_live, 0);
}

/* ---------------------------------------------------------------- relay */

static void test_bytes_both_ways(void **state)
{
    struct fx *f = *state;
    start(f);
    assert_int_equal(f->a->paused, 0);
    assert_int_equal(f->b->paused, 0);

    mem_recv(f->a, "hello", 5);
    check_buf("a->b", f->b->out, "hello");
    assert_int_equal(evbuffer_get_length(f->a->base.in), 0);
    mem_flush_all(f->b);
    check_buf("b wire", f->b->wire, "hello");

    mem_recv(f->b, "world!", 6);
    check_buf("b->a", f->a->out, "world!");
    mem_recv(f->b, "more", 4);
    check_buf("b->a 2", f->a->out, "world!more");
    mem_flush(f->a, 3);
    check_buf("a wire", f->a->wire, "wor");
    check_buf("a backlog", f->a->out, "ld!more");

    assert_int_equal(f->a->base.stats.bytes_in, 5);
    assert_int_equal(f->b->base.stats.bytes_in, 10);
    assert_int_equal(f->b->base.stats.bytes_out, 5);
    assert_int_equal(f->a->base.stats.bytes_out, 10);
    assert_int_equal(f->a->closed + f->b->closed, 0);
    check_clean(f);
}

/* Bytes already in either input when the relay starts go across at once. */
static void test_initial_bytes(void **state)
{
    struct fx *f = *state;
    evbuffer_add(f->a->base.in, "early", 5);
    evbuffer_add(f->b->base.in, "x", 1);
    start(f);
    check_buf("a early", f->b->out, "early");
    check_buf("b early", f->a->out, "x");
    check_clean(f);
}

static void fill(uint8_t *p, size_t n, size_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((off + i) * 7 + ((off + i) >> 11));
}

/* The source is paused once the destination's backlog is above WR_HWM, and resumed when the
 * destination says DRAINED at WR_LWM; nothing is lost or reordered. */
static void test_backpressure(void **state)
{
    struct fx *f = *state;
    start(f);
    const size_t chunk = 64 * 1024;
    uint8_t *buf = malloc(chunk);
    assert_non_null(buf);
    size_t sent = 0;

    /* up to WR_HWM exactly: not above it, still reading */
    for (int i = 0; i < 4; i++) {
        fill(buf, chunk, sent);
        mem_recv(f->a, buf, chunk);
        sent += chunk;
    }
    assert_int_equal(mem_backlog(&f->b->base), WR_HWM);
    assert_int_equal(f->a->paused, 0);

    /* one byte more: paused */
    fill(buf, 1, sent);
    mem_recv(f->a, buf, 1);
    sent += 1;
    assert_int_equal(f->a->paused, 1);
    int pauses = f->a->pause_calls;

    /* what arrives now waits in the kernel */
    fill(buf, chunk, sent);
    mem_recv(f->a, buf, chunk);
    sent += chunk;
    assert_int_equal(mem_backlog(&f->b->base), WR_HWM + 1);
    assert_int_equal(evbuffer_get_length(f->a->rx), chunk);

    /* the other direction is not held up */
    mem_recv(f->b, "ping", 4);
    check_buf("b->a while a paused", f->a->out, "ping");
    assert_int_equal(f->b->paused, 0);

    /* drained, but not yet down to WR_LWM: still paused */
    mem_flush(f->b, WR_HWM + 1 - WR_LWM - 1);
    assert_int_equal(mem_backlog(&f->b->base), WR_LWM + 1);
    assert_int_equal(f->a->paused, 1);
    assert_int_equal(f->a->pause_calls, pauses);

    /* down to WR_LWM: DRAINED resumes a */
    mem_flush(f->b, 1);
    assert_int_equal(f->a->paused, 0);
    assert_int_equal(f->a->pause_calls, pauses + 1);

    /* the held bytes come through */
    mem_poll(f->a);
    assert_int_equal(mem_backlog(&f->b->base), WR_LWM + chunk);
    assert_int_equal(f->a->paused, 0);

    /* a second round: fill past HWM again, drain to 0 */
    while (!f->a->paused) {
        fill(buf, chunk, sent);
        mem_recv(f->a, buf, chunk);
        sent += chunk;
    }
    while (f->a->paused || evbuffer_get_length(f->a->rx)) {
        mem_flush(f->b, 10000);
        mem_poll(f->a);
    }
    mem_flush_all(f->b);

    /* everything, in order */
    assert_int_equal(evbuffer_get_length(f->b->wire), sent);
    uint8_t *got = malloc(sent), *want = malloc(sent);
    assert_non_null(got);
    assert_non_null(want);
    evbuffer_copyout(f->b->wire, got, sent);
    fill(want, sent, 0);
    assert_memory_equal(got, want, sent);
    assert_int_equal(f->a->base.stats.bytes_in, sent);
    free(got);
    free(want);
    free(buf);
    check_clean(f);
}

/* The half-close goes across: EOF from a is a FIN to b once b's output is sent, and b can still
 * answer. When both sides have ended and both outputs are sent, both close gracefully. */
static void test_half_close(void **state)
{
    struct fx *f = *state;
    start(f);
    mem_recv(f->a, "request", 7);
    mem_eof(f->a);
    assert_int_equal(f->b->shut_requested, 1);
    assert_int_equal(f->b->shut_done, 0);           /* "request" is still queued */
    assert_int_equal(f->a->shut_requested, 0);

    mem_recv(f->b, "response", 8);
    check_buf("answer after a's EOF", f->a->out, "response");
    mem_flush_all(f->b);
    assert_int_equal(f->b->shut_done, 1);
    check_buf("b wire", f->b->wire, "request");
    assert_int_equal(f->a->closed + f->b->closed, 0);

    mem_eof(f->b);
    assert_int_equal(f->a->shut_requested, 1);
    assert_int_equal(f->a->closed + f->b->closed, 0);   /* "response" not sent yet */
    mem_flush(f->a, 4);
    assert_int_equal(f->a->closed, 0);
    mem_flush_all(f->a);
    assert_int_equal(f->a->shut_done, 1);
    check_buf("a wire", f->a->wire, "response");
    check_closed(f, 0);
    CHECK_CONTAINS("log", last_log, "test c1<->c2 closed: done");
    CHECK_CONTAINS("log", last_log, "a->b 7 bytes, b->a 8 bytes");
    check_clean(f);
}

/* Bytes that came with the EOF (in c->in, no READ) are moved before the FIN. */
static void test_eof_carries_pending_bytes(void **state)
{
    struct fx *f = *state;
    start(f);
    evbuffer_add(f->a->base.in, "tail", 4);
    wr_conn_emit(&f->a->base, WR_EV_READ | WR_EV_EOF, 0);
    check_buf("tail", f->b->out, "tail");
    assert_int_equal(f->b->shut_requested, 1);
    check_clean(f);
}

/* Both ends already flushed when the second EOF comes: closed at once, gracefully. */
static void test_both_eof_flushed(void **state)
{
    struct fx *f = *state;
    start(f);
    mem_recv(f->a, "x", 1);
    mem_flush_all(f->b);
    mem_eof(f->a);
    assert_int_equal(f->b->shut_done, 1);
    mem_eof(f->b);
    assert_int_equal(f->a->shut_done, 1);
    check_closed(f, 0);
    check_clean(f);
}

/* The second EOF while the first side's output is still queued: closed when it drains. */
static void test_both_eof_then_drain(void **state)
{
    struct fx *f = *state;
    start(f);
    mem_recv(f->a, "abc", 3);
    mem_eof(f->a);
    mem_eof(f->b);
    assert_int_equal(f->a->shut_done, 1);
    assert_int_equal(f->b->shut_done, 0);
    assert_int_equal(f->a->closed + f->b->closed, 0);
    mem_flush_all(f->b);
    check_buf("b wire", f->b->wire, "abc");
    check_closed(f, 0);
    check_clean(f);
}

/* Any error resets both sides at once. */
static void test_errors(void **state)
{
    static const struct { const char *name; int prelude; int on_b; } rows[] = {
        { "error on a", 0, 0 },
        { "error on b", 0, 1 },
        { "error on a after b's EOF", 1, 0 },
        { "error on b after a's EOF", 2, 1 },
        { "error on b while a is paused", 3, 1 },
        { "error on a while a is paused", 3, 0 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        void *st;
        assert_int_equal(setup(&st), 0);
        struct fx *f = st;
        start(f);
        if (rows[i].prelude == 1)
            mem_eof(f->b);
        if (rows[i].prelude == 2) {
            mem_recv(f->a, "q", 1);
            mem_eof(f->a);
        }
        if (rows[i].prelude == 3) {
            uint8_t *big = calloc(1, WR_HWM + 1);
            assert_non_null(big);
            mem_recv(f->a, big, WR_HWM + 1);
            free(big);
            assert_int_equal(f->a->paused, 1);
        }
        mem_error(rows[i].on_b ? f->b : f->a, ECONNRESET);
        CHECK_INT(rows[i].name, f->a->closed, 1);
        CHECK_INT(rows[i].name, f->b->closed, 1);
        CHECK_INT(rows[i].name, f->a->close_abort, 1);
        CHECK_INT(rows[i].name, f->b->close_abort, 1);
        CHECK_INT(rows[i].name, f->a->close_calls, 1);
        CHECK_INT(rows[i].name, f->b->close_calls, 1);
        CHECK_INT(rows[i].name, f->ctx.n_live, 0);
        char want[64];
        snprintf(want, sizeof want, "closed: error on %c: %s", rows[i].on_b ? 'b' : 'a', strerror(ECONNRESET));
        CHECK_CONTAINS(rows[i].name, last_log, want);
        check_clean(f);
        teardown(&st);
    }
}

/* Shutdown of the process: the live list kills the relay, abortively. */
static void test_kill(void **state)
{
    struct fx *f = *state;
    start(f);
    mem_recv(f->a, "x", 1);
    wr_ctx_kill_all(&f->ctx);
    check_closed(f, 1);
    CHECK_CONTAINS("log", last_log, "closed: shutdown");
    check_clean(f);
}

/* ---------------------------------------------------------------- wr_conn_finish */

static void write_bytes(struct mem_conn *m, const void *p, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, p, n);
    wr_conn_write(&m->base, b);
    evbuffer_free(b);
}

static void test_finish_nothing_queued(void **state)
{
    struct fx *f = *state;
    evbuffer_add(f->a->base.in, "junk", 4);
    f->a->paused = 1;
    wr_conn_finish(&f->ctx, &f->a->base);
    assert_int_equal(f->a->shut_done, 1);
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->a->close_abort, 0);
    assert_int_equal(f->ctx.n_live, 0);
    assert_int_equal(f->a->used_after_close, 0);
}

static void test_finish_flushes_then_closes(void **state)
{
    struct fx *f = *state;
    write_bytes(f->a, "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    evbuffer_add(f->a->base.in, "junk", 4);
    f->a->paused = 1;
    wr_conn_finish(&f->ctx, &f->a->base);
    assert_int_equal(f->a->closed, 0);
    assert_int_equal(f->ctx.n_live, 1);
    assert_int_equal(f->a->paused, 0);                       /* reads on, to see the peer's EOF */
    assert_int_equal(evbuffer_get_length(f->a->base.in), 0); /* input discarded */
    assert_int_equal(f->a->shut_requested, 1);

    mem_recv(f->a, "more", 4);                               /* discarded too */
    assert_int_equal(evbuffer_get_length(f->a->base.in), 0);
    mem_flush(f->a, 4);
    assert_int_equal(f->a->closed, 0);
    mem_flush_all(f->a);
    assert_int_equal(evbuffer_get_length(f->a->wire), 10);
    assert_int_equal(f->a->shut_done, 1);
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->a->close_abort, 0);
    assert_int_equal(f->ctx.n_live, 0);
    assert_int_equal(f->a->used_after_close, 0);
    assert_int_equal(f->a->written_after_shutdown, 0);
}

static void test_finish_eof_before_flush(void **state)
{
    struct fx *f = *state;
    write_bytes(f->a, "bye", 3);
    wr_conn_finish(&f->ctx, &f->a->base);
    mem_eof(f->a);                          /* the peer closed; our bytes are still queued */
    assert_int_equal(f->a->closed, 0);
    mem_flush_all(f->a);
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->a->close_abort, 0);
    assert_int_equal(f->ctx.n_live, 0);
}

static void test_finish_error(void **state)
{
    struct fx *f = *state;
    write_bytes(f->a, "bye", 3);
    wr_conn_finish(&f->ctx, &f->a->base);
    mem_error(f->a, EPIPE);
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->a->close_abort, 1);
    assert_int_equal(f->ctx.n_live, 0);
}

static void test_finish_kill(void **state)
{
    struct fx *f = *state;
    write_bytes(f->a, "bye", 3);
    wr_conn_finish(&f->ctx, &f->a->base);
    wr_ctx_kill_all(&f->ctx);
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->a->close_abort, 1);
    assert_int_equal(f->ctx.n_live, 0);
}

/* A peer that never reads: reset after the finish timeout (5 s). */
static void test_finish_timeout(void **state)
{
    struct fx *f = *state;
    write_bytes(f->a, "bye", 3);
    wr_conn_finish(&f->ctx, &f->a->base);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double secs = 0;
    while (!f->a->closed && secs < 8) {
        struct timeval guard = { 1, 0 };
        event_base_loopexit(f->base, &guard);
        event_base_loop(f->base, EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (secs < 4.5)
            assert_int_equal(f->a->closed, 0);
    }
    assert_int_equal(f->a->closed, 1);
    assert_int_equal(f->a->close_abort, 1);
    assert_int_equal(f->ctx.n_live, 0);
    assert_true(secs > 4.5 && secs < 6.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bytes_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_initial_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_carries_pending_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_eof_flushed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_both_eof_then_drain, setup, teardown),
        cmocka_unit_test(test_errors),
        cmocka_unit_test_setup_teardown(test_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_nothing_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_flushes_then_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_eof_before_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
