/* test_mux.c: warren's mux (src/mux, docs/spec/mux.md).
 *
 * Part 1, the frame codec (frame.c): every type written with the wr_mux_put_* functions parses
 * back; every rule of spec §2; every strict prefix of a valid frame is MORE.
 *
 * Part 2, sessions (session.c) over an in-memory carrier: a pair of fake wr_conns ("pend"s)
 * whose write() queues bytes (the write backlog) and a pump that hands them to the peer's `in`
 * ONE BYTE PER READ CALLBACK (`burst` bytes per loop turn; 1 for the protocol tests, so the
 * session's kick runs between any two bytes), with WR_EV_DRAINED per the wr_conn contract, EOF
 * after shutdown_write once the backlog is out, and a reset (WR_EV_ERROR) on the peer when an
 * end is closed abortively. A pend can tap what it delivered (the frames on the wire, parsed
 * afterwards), and for the window-growth test it can instead deliver after a delay (a path
 * with a round-trip time). close() only marks the pend: the test owns its memory, so a use
 * after close is counted rather than undefined.
 *
 * Either both ends carry sessions (client and server; the server's on_open hook behaves as the
 * OPEN's destination port says: echo, sink, hold, no reply, fail with a status, ...), or one end
 * is "raw": the test writes frames to the session and parses what it sends back.
 *
 * Checks that fail because of a bug found in src/mux are KNOWN_BUG(): the test is skipped with
 * the bug named (and passes once the bug is fixed). */
#include "unit.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>

#include "core/addr.h"
#include "core/conn.h"
#include "core/ctx.h"
#include "core/dialer.h"
#include "core/log.h"
#include "mux/frame.h"
#include "mux/session.h"

#define KNOWN_BUG(cond, ...)                                                                    \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            print_message("KNOWN BUG (src/mux): " __VA_ARGS__);                                 \
            print_message("\n");                                                                \
            skip();                                                                             \
        }                                                                                       \
    } while (0)

/* ================================================================ part 1: frames */

static int parse_all(struct evbuffer *b, struct wr_mux_frame *f, size_t *used, const char **why)
{
    size_t n = evbuffer_get_length(b);
    const uint8_t *p = n ? evbuffer_pullup(b, -1) : (const uint8_t *)"";
    *used = 0;
    *why = NULL;
    return wr_mux_frame_parse(p, n, f, used, why);
}

/* Every strict prefix of the n bytes at p is MORE. */
static void check_prefixes(const char *row, const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        struct wr_mux_frame f;
        size_t used = 12345;
        const char *why = NULL;
        int r = wr_mux_frame_parse(p, k, &f, &used, &why);
        if (r != WR_MUX_MORE)
            fail_msg("[%s] prefix of %zu of %zu bytes: got %d, want MORE", row, k, n, r);
    }
}

/* b holds exactly one frame: it parses back with these fields, and its prefixes are MORE. */
static void check_frame(const char *row, struct evbuffer *b, uint8_t type, uint32_t sid,
                        const void *payload, size_t len, int status, int64_t value)
{
    struct wr_mux_frame f;
    size_t used;
    const char *why;
    memset(&f, 0, sizeof f);
    int r = parse_all(b, &f, &used, &why);
    CHECK_INT(row, r, WR_MUX_FRAME);
    CHECK_INT(row, used, WR_MUX_HEADER + len);
    CHECK_INT(row, used, evbuffer_get_length(b));
    CHECK_INT(row, f.type, type);
    CHECK_INT(row, f.sid, sid);
    CHECK_INT(row, f.len, len);
    CHECK_MEM(row, f.payload, f.len, payload, len);
    if (status >= 0)
        CHECK_INT(row, f.status, status);
    if (value >= 0)
        CHECK_INT(row, f.value, value);
    check_prefixes(row, evbuffer_pullup(b, -1), used);
    /* the same frame followed by another: only the first is taken */
    evbuffer_add(b, "\x01\x04\x00\x00\x00\x00\x00\x01", 8);
    r = parse_all(b, &f, &used, &why);
    CHECK_INT(row, r, WR_MUX_FRAME);
    CHECK_INT(row, used, WR_MUX_HEADER + len);
    evbuffer_drain(b, evbuffer_get_length(b));
}

static void test_frame_roundtrip(void **state)
{
    struct evbuffer *b = evbuffer_new();
    uint8_t big[WR_MUX_MAX_PAYLOAD];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31 + 7);

    wr_mux_put_header(b, WR_MUX_DATA, 5, 7);
    evbuffer_add(b, "hello", 5);
    check_frame("DATA", b, WR_MUX_DATA, 7, "hello", 5, -1, -1);
    wr_mux_put_header(b, WR_MUX_DATA, 0, 1);
    check_frame("DATA empty", b, WR_MUX_DATA, 1, "", 0, -1, -1);
    wr_mux_put_header(b, WR_MUX_DATA, sizeof big, 0xFFFFFFFFu);
    evbuffer_add(b, big, sizeof big);
    check_frame("DATA 65535 on id 2^32-1", b, WR_MUX_DATA, 0xFFFFFFFFu, big, sizeof big, -1, -1);

    uint8_t addr[WR_SOCKS_ADDR_MAX];
    struct wr_endpoint ep;
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_NAME, "example.com", 443), 0);
    size_t alen = wr_endpoint_to_socks(&ep, addr);
    wr_mux_put_header(b, WR_MUX_OPEN, alen, 1);
    evbuffer_add(b, addr, alen);
    check_frame("OPEN example.com:443", b, WR_MUX_OPEN, 1, addr, alen, -1, -1);
    wr_mux_put_header(b, WR_MUX_OPEN, 0, 3);
    check_frame("OPEN empty", b, WR_MUX_OPEN, 3, "", 0, -1, -1);

    for (int st = 0; st < 256; st += 51) {
        uint8_t s = (uint8_t)st;
        wr_mux_put_reply(b, 9, s);
        check_frame("REPLY", b, WR_MUX_REPLY, 9, &s, 1, st, -1);
        wr_mux_put_rst(b, 11, s);
        check_frame("RST", b, WR_MUX_RST, 11, &s, 1, st, -1);
    }
    static const struct { uint32_t inc; uint8_t be[4]; } wins[] = {
        { 1, { 0, 0, 0, 1 } }, { 5, { 0, 0, 0, 5 } }, { 0x01020304u, { 1, 2, 3, 4 } },
        { 0x7FFFFFFFu, { 0x7f, 0xff, 0xff, 0xff } },
    };
    for (size_t i = 0; i < N_ELEMS(wins); i++) {
        wr_mux_put_window(b, 13, wins[i].inc);
        check_frame("WINDOW", b, WR_MUX_WINDOW, 13, wins[i].be, 4, -1, wins[i].inc);
    }
    wr_mux_put_fin(b, 15);
    check_frame("FIN", b, WR_MUX_FIN, 15, "", 0, -1, -1);
    const uint8_t opaque[8] = { 0, 1, 0xfe, 0xff, 0x80, 0x7f, 'p', 'q' };
    wr_mux_put_ping(b, WR_MUX_PING, opaque);
    check_frame("PING", b, WR_MUX_PING, 0, opaque, 8, -1, -1);
    wr_mux_put_ping(b, WR_MUX_PONG, opaque);
    check_frame("PONG", b, WR_MUX_PONG, 0, opaque, 8, -1, -1);
    wr_mux_put_goaway(b, 0x01020305u, 1);
    check_frame("GOAWAY", b, WR_MUX_GOAWAY, 0, "\x01\x02\x03\x05\x01", 5, 1, 0x01020305u);
    wr_mux_put_goaway(b, 0, 0);
    check_frame("GOAWAY 0", b, WR_MUX_GOAWAY, 0, "\x00\x00\x00\x00\x00", 5, 0, 0);

    /* The example of spec §9, byte for byte. */
    static const uint8_t ex_open[] = { 0x01, 0x01, 0x00, 0x0f, 0, 0, 0, 1, 0x03, 0x0b, 'e', 'x', 'a',
                                       'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb };
    wr_mux_put_header(b, WR_MUX_OPEN, alen, 1);
    evbuffer_add(b, addr, alen);
    CHECK_MEM("§9 OPEN", evbuffer_pullup(b, -1), evbuffer_get_length(b), ex_open, sizeof ex_open);
    evbuffer_drain(b, evbuffer_get_length(b));
    wr_mux_put_header(b, WR_MUX_DATA, 5, 1);
    evbuffer_add(b, "hello", 5);
    CHECK_MEM("§9 DATA", evbuffer_pullup(b, -1), evbuffer_get_length(b),
              "\x01\x00\x00\x05\x00\x00\x00\x01hello", 13);
    evbuffer_drain(b, evbuffer_get_length(b));
    wr_mux_put_reply(b, 1, 0);
    CHECK_MEM("§9 REPLY", evbuffer_pullup(b, -1), evbuffer_get_length(b),
              "\x01\x02\x00\x01\x00\x00\x00\x01\x00", 9);
    evbuffer_drain(b, evbuffer_get_length(b));
    wr_mux_put_window(b, 1, 5);
    CHECK_MEM("§9 WINDOW", evbuffer_pullup(b, -1), evbuffer_get_length(b),
              "\x01\x03\x00\x04\x00\x00\x00\x01\x00\x00\x00\x05", 12);
    evbuffer_free(b);
}

/* One frame of the given fields parses as want; FRAME and SKIP take exactly the frame, and
 * their strict prefixes are MORE; BAD says why. */
static void one(const char *row, uint8_t ver, uint8_t type, uint32_t sid, const uint8_t *payload,
                size_t len, int want)
{
    struct evbuffer *b = evbuffer_new();
    wr_mux_put_header(b, type, len, sid);
    if (len)
        evbuffer_add(b, payload, len);
    uint8_t *p = evbuffer_pullup(b, -1);
    p[0] = ver;
    struct wr_mux_frame f;
    size_t used;
    const char *why;
    int r = parse_all(b, &f, &used, &why);
    char name[160];
    snprintf(name, sizeof name, "%s (ver %u type 0x%02x sid %u len %zu)", row, ver, type, sid, len);
    CHECK_INT(name, r, want);
    if (want == WR_MUX_BAD && !why)
        fail_msg("[%s] BAD without a reason", name);
    if (want == WR_MUX_FRAME || want == WR_MUX_SKIP) {
        CHECK_INT(name, used, WR_MUX_HEADER + len);
        check_prefixes(name, p, WR_MUX_HEADER + len);
    }
    evbuffer_free(b);
}

static void test_frame_rules(void **state)
{
    uint8_t pl[70000];
    memset(pl, 1, sizeof pl);                   /* WINDOW payloads of 1s: a valid increment */

    /* version */
    static const uint8_t bad_versions[] = { 0, 2, 3, 0x7f, 0x80, 0xff };
    for (size_t i = 0; i < N_ELEMS(bad_versions); i++) {
        one("bad version DATA", bad_versions[i], WR_MUX_DATA, 1, pl, 4, WR_MUX_BAD);
        one("bad version PING", bad_versions[i], WR_MUX_PING, 0, pl, 8, WR_MUX_BAD);
        one("bad version ext", bad_versions[i], 0x80, 0, pl, 0, WR_MUX_BAD);
    }
    /* reserved 0x0A-0x7F: BAD, whatever the id and length */
    for (unsigned t = 0x0A; t <= 0x7F; t++) {
        one("reserved", 1, (uint8_t)t, 0, pl, 0, WR_MUX_BAD);
        one("reserved", 1, (uint8_t)t, 1, pl, 4, WR_MUX_BAD);
        one("reserved", 1, (uint8_t)t, 0xFFFFFFFFu, pl, 8, WR_MUX_BAD);
    }
    /* extensions 0x80-0xFF and PAD: SKIP, any id, any length */
    for (unsigned t = 0x80; t <= 0xFF; t++) {
        one("extension", 1, (uint8_t)t, 0, pl, 0, WR_MUX_SKIP);
        one("extension", 1, (uint8_t)t, 7, pl, 3, WR_MUX_SKIP);
        one("extension", 1, (uint8_t)t, 0xFFFFFFFFu, pl, 9, WR_MUX_SKIP);
    }
    one("extension 64K", 1, 0xC3, 5, pl, 65535, WR_MUX_SKIP);
    one("PAD", 1, WR_MUX_PAD, 0, pl, 0, WR_MUX_SKIP);
    one("PAD", 1, WR_MUX_PAD, 0, pl, 1000, WR_MUX_SKIP);
    one("PAD", 1, WR_MUX_PAD, 5, pl, 7, WR_MUX_SKIP);
    one("PAD 64K", 1, WR_MUX_PAD, 1, pl, 65535, WR_MUX_SKIP);

    /* payload lengths per type */
    static const struct { uint8_t type; uint32_t sid; size_t ok; size_t bad[4]; size_t nbad; } lens[] = {
        { WR_MUX_REPLY, 1, 1, { 0, 2, 8 }, 3 },
        { WR_MUX_WINDOW, 1, 4, { 0, 3, 5, 8 }, 4 },
        { WR_MUX_FIN, 1, 0, { 1, 4 }, 2 },
        { WR_MUX_RST, 1, 1, { 0, 2 }, 2 },
        { WR_MUX_PING, 0, 8, { 0, 7, 9, 16 }, 4 },
        { WR_MUX_PONG, 0, 8, { 0, 7, 9, 16 }, 4 },
        { WR_MUX_GOAWAY, 0, 5, { 0, 4, 6, 8 }, 4 },
    };
    for (size_t i = 0; i < N_ELEMS(lens); i++) {
        one("length fits", 1, lens[i].type, lens[i].sid, pl, lens[i].ok, WR_MUX_FRAME);
        for (size_t j = 0; j < lens[i].nbad; j++)
            one("length does not fit", 1, lens[i].type, lens[i].sid, pl, lens[i].bad[j], WR_MUX_BAD);
    }
    static const size_t any_len[] = { 0, 1, 8, 300, 16384, 65535 };
    for (size_t j = 0; j < N_ELEMS(any_len); j++) {
        one("DATA any length", 1, WR_MUX_DATA, 3, pl, any_len[j], WR_MUX_FRAME);
        one("OPEN any length", 1, WR_MUX_OPEN, 3, pl, any_len[j], WR_MUX_FRAME);
    }

    /* session frames on a stream id, stream frames on id 0 */
    static const uint32_t stream_ids[] = { 1, 2, 0x80000000u, 0xFFFFFFFFu };
    for (size_t j = 0; j < N_ELEMS(stream_ids); j++) {
        one("PING on a stream id", 1, WR_MUX_PING, stream_ids[j], pl, 8, WR_MUX_BAD);
        one("PONG on a stream id", 1, WR_MUX_PONG, stream_ids[j], pl, 8, WR_MUX_BAD);
        one("GOAWAY on a stream id", 1, WR_MUX_GOAWAY, stream_ids[j], pl, 5, WR_MUX_BAD);
    }
    static const struct { uint8_t type; size_t len; } sf[] = {
        { WR_MUX_DATA, 3 }, { WR_MUX_DATA, 0 }, { WR_MUX_OPEN, 0 }, { WR_MUX_OPEN, 7 },
        { WR_MUX_REPLY, 1 }, { WR_MUX_WINDOW, 4 }, { WR_MUX_FIN, 0 }, { WR_MUX_RST, 1 },
    };
    for (size_t i = 0; i < N_ELEMS(sf); i++)
        one("stream frame on id 0", 1, sf[i].type, 0, pl, sf[i].len, WR_MUX_BAD);

    /* WINDOW increments: 1 to 2^31-1 */
    static const struct { uint32_t inc; int want; } incs[] = {
        { 0, WR_MUX_BAD }, { 1, WR_MUX_FRAME }, { 0x7FFFFFFFu, WR_MUX_FRAME },
        { 0x80000000u, WR_MUX_BAD }, { 0x80000001u, WR_MUX_BAD }, { 0xFFFFFFFFu, WR_MUX_BAD },
    };
    for (size_t i = 0; i < N_ELEMS(incs); i++) {
        uint8_t be[4] = { (uint8_t)(incs[i].inc >> 24), (uint8_t)(incs[i].inc >> 16),
                          (uint8_t)(incs[i].inc >> 8), (uint8_t)incs[i].inc };
        one("WINDOW increment", 1, WR_MUX_WINDOW, 1, be, 4, incs[i].want);
    }
}

/* ================================================================ part 2: sessions */

struct harness;

/* ---------------------------------------------------------------- the carrier */

struct pend {
    struct wr_conn base;
    struct harness *h;
    struct pend *peer;
    struct evbuffer *out;          /* written, not yet delivered: the write backlog */
    struct evbuffer *tap;          /* everything delivered to the peer, or NULL */
    struct event *pump;
    size_t burst;                  /* bytes per loop turn (one READ callback each) */
    int delay_ms;                  /* > 0: everything written arrives this much later */
    int paused, above_lwm, shut_req, shut_done, closed, close_abort, close_calls, rst_pending;
    int used_after_close, eof_seen, error_seen;
    size_t written_after_shutdown, max_backlog;
};

static void pend_schedule(struct pend *p)
{
    if (p->delay_ms && !p->closed) {
        if (!evtimer_pending(p->pump, NULL)) {
            struct timeval tv = { 0, (suseconds_t)p->delay_ms * 1000 };
            evtimer_add(p->pump, &tv);
        }
    } else {
        event_active(p->pump, EV_TIMEOUT, 0);
    }
}

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pend *p = arg, *q = p->peer;
    if (p->closed) {                            /* an abortive close: the peer sees a reset */
        evbuffer_drain(p->out, evbuffer_get_length(p->out));
        if (p->rst_pending && !q->closed && !q->error_seen) {
            p->rst_pending = 0;
            q->error_seen = 1;
            wr_conn_emit(&q->base, WR_EV_ERROR, ECONNRESET);
        }
        return;
    }
    if (q->closed) {
        evbuffer_drain(p->out, evbuffer_get_length(p->out));
        return;
    }
    size_t n = evbuffer_get_length(p->out);
    if (!p->delay_ms && n > p->burst)
        n = p->burst;
    uint8_t chunk[4099];
    while (n && !q->paused) {
        size_t k = p->delay_ms ? (n < sizeof chunk ? n : sizeof chunk) : 1;
        evbuffer_remove(p->out, chunk, k);
        evbuffer_add(q->base.in, chunk, k);
        if (p->tap)
            evbuffer_add(p->tap, chunk, k);
        n -= k;
        wr_conn_emit(&q->base, WR_EV_READ, 0);
        if (p->closed || q->closed)
            return;                             /* a close schedules what it needs */
    }
    size_t left = evbuffer_get_length(p->out);
    unsigned ev = 0;
    if (p->above_lwm && left <= WR_LWM) {
        p->above_lwm = 0;
        ev |= WR_EV_DRAINED;
    }
    if (p->shut_req && !p->shut_done && left == 0) {
        p->shut_done = 1;
        ev |= WR_EV_DRAINED;
        if (!q->eof_seen) {
            q->eof_seen = 1;
            wr_conn_emit(&q->base, WR_EV_EOF, 0);
            if (p->closed)
                return;
        }
    }
    if (left && !q->paused && !q->closed)
        pend_schedule(p);
    if (ev)
        wr_conn_emit(&p->base, ev, 0);
}

static void pend_write(struct wr_conn *c, struct evbuffer *src)
{
    struct pend *p = (struct pend *)c;
    size_t n = evbuffer_get_length(src);
    if (p->closed || p->shut_req) {
        if (p->closed)
            p->used_after_close++;
        else
            p->written_after_shutdown += n;
        evbuffer_drain(src, n);
        return;
    }
    evbuffer_add_buffer(p->out, src);
    n = evbuffer_get_length(p->out);
    if (n > WR_LWM)
        p->above_lwm = 1;
    if (n > p->max_backlog)
        p->max_backlog = n;
    pend_schedule(p);
}

static void pend_shutdown_write(struct wr_conn *c)
{
    struct pend *p = (struct pend *)c;
    if (p->closed)
        p->used_after_close++;
    if (p->closed || p->shut_req)
        return;
    p->shut_req = 1;
    pend_schedule(p);
}

static void pend_set_read_paused(struct wr_conn *c, int paused)
{
    struct pend *p = (struct pend *)c;
    if (p->closed)
        p->used_after_close++;
    p->paused = !!paused;
    if (!paused && !p->closed)
        pend_schedule(p->peer);
}

static size_t pend_backlog(const struct wr_conn *c)
{
    return evbuffer_get_length(((const struct pend *)c)->out);
}

static void pend_close(struct wr_conn *c, int abort)
{
    struct pend *p = (struct pend *)c;
    if (p->closed) {
        p->used_after_close++;
        return;
    }
    p->closed = 1;
    p->close_abort = abort;
    p->close_calls++;
    p->rst_pending = abort || !p->shut_done;
    event_del(p->pump);
    event_active(p->pump, EV_TIMEOUT, 0);
}

static const struct wr_conn_ops pend_ops = {
    .kind = "pend",
    .write = pend_write,
    .shutdown_write = pend_shutdown_write,
    .set_read_paused = pend_set_read_paused,
    .write_backlog = pend_backlog,
    .close = pend_close,
};

/* ---------------------------------------------------------------- the harness */

/* What the server's on_open hook does, by the OPEN's destination port when the host is
 * BEHAVE_HOST (other destinations, and none, get the harness's default). */
enum {
    B_ECHO = 1,         /* REPLY 0, echo, FIN after the client's FIN */
    B_SINK = 2,         /* REPLY 0, take and check the bytes, FIN after the client's FIN */
    B_HOLD = 3,         /* REPLY 0, then never read (paused, `in` never drained) */
    B_NOREPLY = 4,      /* no REPLY: the open stays pending on the client */
    B_ANSWER = 5,       /* REPLY 0, keep the bytes; after the client's FIN, answer and FIN */
    B_FIN_FIRST = 6,    /* REPLY 0, say something and FIN at once; keep what comes */
    B_FAIL = 10,        /* ports 11-18: REPLY with status port-10, close */
};

#define MAX_TST 256
#define BEHAVE_HOST "192.0.2.1"     /* this host's port says what the server does */

struct tst {                        /* the test's end of one stream */
    struct harness *h;
    struct wr_conn *c;              /* NULL once closed */
    struct wr_pending *pending;     /* client, until the open is answered */
    int server, behave;
    /* client: the answer to the open */
    int answered, rep;
    char why[160];
    /* server: what on_open got */
    int has_dst;
    struct wr_endpoint dst;
    /* events */
    int n_read, eof, error, err, drained, ready_at_open;
    size_t bytes_after_eof;
    /* receiving */
    int hold;                       /* never drain `in` */
    int echo;                       /* write back what arrives */
    int keep;                       /* keep what arrives in got */
    int fin_on_eof;                 /* shutdown_write after the peer's FIN */
    const char *say_on_eof;         /* ... after writing this */
    struct evbuffer *got;
    size_t n_in, bad_in, max_in;
    uint32_t seed_in, hash_in;      /* seed_in != 0: check each byte against gen(seed_in) */
    /* sending */
    const char *say;                /* written first */
    int said;
    size_t to_send, sent;           /* generated bytes, with backpressure */
    uint32_t seed_out, hash_out;
    int fin_after_send, shut;
    int close_when_done, closed_clean;
};

struct side {
    struct harness *h;
    struct wr_mux_session *ms;
    struct pend *carrier;
    int closes;                     /* on_close calls */
    char why[160];
    int free_in_close;              /* free the session inside on_close */
};

struct harness {
    struct event_base *base;
    struct wr_ctx ctx;
    struct event *guard;
    struct pend *ca, *sa;           /* the carrier: the client's end, the server's end */
    struct pend *raw;               /* the end without a session (raw tests), or NULL */
    struct side cli, srv;
    int srv_default;
    uint32_t srv_seed[16];          /* what a server stream checks its bytes against, by behaviour */
    struct tst *cs[MAX_TST], *ss[MAX_TST];
    int n_cs, n_ss;
    void (*on_srv_open)(struct harness *h, struct tst *t);
};

static char last_log[1024];
static void capture_log(enum wr_log_level level, const char *msg)
{
    snprintf(last_log, sizeof last_log, "%s", msg);
}

static uint8_t gen(uint32_t seed, size_t i)
{
    uint32_t x = seed * 0x9E3779B9u ^ (uint32_t)(i >> 2) * 0x85EBCA6Bu;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    x *= 0x297A2D39u;
    x ^= x >> 15;
    return (uint8_t)(x >> ((i & 3) * 8));
}

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static struct tst *tst_new(struct harness *h, int server)
{
    struct tst *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->h = h;
    t->server = server;
    t->got = evbuffer_new();
    t->hash_in = t->hash_out = 2166136261u;
    if (server) {
        assert_true(h->n_ss < MAX_TST);
        h->ss[h->n_ss++] = t;
    } else {
        assert_true(h->n_cs < MAX_TST);
        h->cs[h->n_cs++] = t;
    }
    return t;
}

static void write_str(struct wr_conn *c, const char *s)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, s, strlen(s));
    wr_conn_write(c, b);
    evbuffer_free(b);
}

static void tst_consume(struct tst *t)
{
    struct evbuffer *in = t->c->in;
    size_t n = evbuffer_get_length(in);
    if (!n || t->hold)
        return;
    if (t->eof)
        t->bytes_after_eof += n;
    int nv = evbuffer_peek(in, -1, NULL, NULL, 0);
    struct evbuffer_iovec *v = calloc((size_t)nv, sizeof *v);
    assert_non_null(v);
    evbuffer_peek(in, -1, NULL, v, nv);
    size_t pos = t->n_in;
    for (int i = 0; i < nv; i++) {
        const uint8_t *p = v[i].iov_base;
        t->hash_in = fnv(t->hash_in, p, v[i].iov_len);
        if (t->seed_in)
            for (size_t j = 0; j < v[i].iov_len; j++)
                if (p[j] != gen(t->seed_in, pos + j))
                    t->bad_in++;
        if (t->keep)
            evbuffer_add(t->got, p, v[i].iov_len);
        pos += v[i].iov_len;
    }
    free(v);
    t->n_in += n;
    if (t->echo)
        wr_conn_write(t->c, in);            /* moves: `in` is drained */
    else
        evbuffer_drain(in, n);
}

static void tst_produce(struct tst *t)
{
    static uint8_t buf[16384];
    if (!t->c || t->shut)
        return;
    if (t->say && !t->said) {
        t->said = 1;
        t->hash_out = fnv(t->hash_out, (const uint8_t *)t->say, strlen(t->say));
        write_str(t->c, t->say);
    }
    while (t->c && t->sent < t->to_send && wr_conn_backlog(t->c) < WR_HWM) {
        size_t k = t->to_send - t->sent;
        if (k > sizeof buf)
            k = sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = gen(t->seed_out, t->sent + i);
        t->hash_out = fnv(t->hash_out, buf, k);
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, buf, k);
        t->sent += k;
        wr_conn_write(t->c, b);
        evbuffer_free(b);
    }
    if (t->c && t->fin_after_send && t->sent == t->to_send && !t->shut) {
        t->shut = 1;
        wr_conn_shutdown_write(t->c);
    }
}

static void tst_maybe_done(struct tst *t)
{
    if (t->c && t->close_when_done && t->shut && t->eof && !t->hold &&
        evbuffer_get_length(t->c->in) == 0 && wr_conn_backlog(t->c) == 0) {
        wr_conn_close(t->c, 0);
        t->c = NULL;
        t->closed_clean = 1;
    }
}

static void tst_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct tst *t = arg;
    if (c != t->c)
        fail_msg("event %u for a stream the test no longer holds", ev);
    if (ev & WR_EV_ERROR) {
        t->error++;
        t->err = err;
        t->c = NULL;
        wr_conn_close(c, 1);
        return;
    }
    if (ev & WR_EV_READ)
        t->n_read++;
    if (ev & (WR_EV_READ | WR_EV_EOF))
        tst_consume(t);
    if (ev & WR_EV_EOF) {
        t->eof++;
        if (t->say_on_eof && !t->shut) {
            t->hash_out = fnv(t->hash_out, (const uint8_t *)t->say_on_eof, strlen(t->say_on_eof));
            write_str(c, t->say_on_eof);
        }
        if ((t->fin_on_eof || t->say_on_eof) && !t->shut) {
            t->shut = 1;
            wr_conn_shutdown_write(c);
        }
    }
    if (ev & WR_EV_DRAINED)
        t->drained++;
    tst_produce(t);
    tst_maybe_done(t);
}

/* The largest `in` a stream ever held (an evbuffer callback next to the session's). */
static void track_in(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct tst *t = arg;
    size_t n = evbuffer_get_length(buf);
    if (n > t->max_in)
        t->max_in = n;
}

static void srv_on_open(void *arg, struct wr_conn *stream, const struct wr_endpoint *dst)
{
    struct side *sd = arg;
    struct harness *h = sd->h;
    struct tst *t = tst_new(h, 1);
    t->c = stream;
    if (dst) {
        t->has_dst = 1;
        t->dst = *dst;
    }
    t->ready_at_open = stream->ready;
    int b = dst && !strcmp(dst->host, BEHAVE_HOST) ? dst->port : h->srv_default;
    t->behave = b;
    t->seed_in = b < 16 ? h->srv_seed[b] : 0;
    t->keep = !t->seed_in;
    wr_conn_set_cb(stream, tst_cb, t);
    evbuffer_add_cb(stream->in, track_in, t);
    switch (b) {
    case B_ECHO:
        t->echo = 1;
        t->fin_on_eof = 1;
        t->close_when_done = 1;
        wr_mux_reply(stream, 0);
        break;
    case B_SINK:
        t->fin_on_eof = 1;
        t->close_when_done = 1;
        wr_mux_reply(stream, 0);
        break;
    case B_HOLD:
        t->hold = 1;
        t->fin_on_eof = 1;
        t->close_when_done = 1;
        wr_mux_reply(stream, 0);
        wr_conn_pause_read(stream, 1);
        break;
    case B_NOREPLY:
        break;
    case B_ANSWER:
        t->say_on_eof = "answer after your FIN";
        t->close_when_done = 1;
        wr_mux_reply(stream, 0);
        break;
    case B_FIN_FIRST:
        t->say = "the server speaks first";
        t->fin_after_send = 1;
        t->close_when_done = 1;
        wr_mux_reply(stream, 0);
        tst_produce(t);
        break;
    default:
        if (b > B_FAIL && b <= B_FAIL + 8) {
            wr_mux_reply(stream, (uint8_t)(b - B_FAIL));
            t->c = NULL;
            wr_conn_close(stream, 1);
        } else {
            fail_msg("no server behaviour %d", b);
        }
    }
    if (h->on_srv_open)
        h->on_srv_open(h, t);
}

static void side_on_close(void *arg, struct wr_mux_session *ms, const char *why)
{
    struct side *sd = arg;
    if (sd->ms && ms != sd->ms)                 /* NULL: called inside wr_mux_session_new */
        fail_msg("on_close for a session the test does not hold");
    sd->closes++;
    snprintf(sd->why, sizeof sd->why, "%s", why ? why : "(null)");
    if (sd->free_in_close) {
        sd->ms = NULL;
        wr_mux_session_free(ms);
    }
}

static const struct wr_mux_hooks cli_hooks = { .on_open = NULL, .on_close = side_on_close };
static const struct wr_mux_hooks srv_hooks = { .on_open = srv_on_open, .on_close = side_on_close };

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static struct pend *pend_new(struct harness *h, size_t burst, int tap)
{
    struct pend *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->h = h;
    p->out = evbuffer_new();
    p->tap = tap ? evbuffer_new() : NULL;
    p->burst = burst;
    p->pump = event_new(h->base, -1, 0, pump_cb, p);
    wr_conn_init(&p->base, &pend_ops, evbuffer_new(), wr_ctx_next_id(&h->ctx));
    return p;
}

static void pend_free(struct pend *p)
{
    event_free(p->pump);
    evbuffer_free(p->base.in);
    evbuffer_free(p->out);
    if (p->tap)
        evbuffer_free(p->tap);
    free(p);
}

/* RAW_CLIENT: the test plays the client; RAW_CLIENT_LATE: and starts the server session itself */
enum { PAIR = 0, RAW_CLIENT = 1, RAW_SERVER = 2, RAW_CLIENT_LATE = 3 };

static struct harness *h_new(int mode, size_t burst, int tap)
{
    struct harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    /* At most 64 callbacks per loop iteration: the pumps re-activate themselves, and without a
     * bound one iteration would run a whole transfer before looking at the guard timer. */
    struct event_config *cfg = event_config_new();
    assert_non_null(cfg);
    event_config_set_max_dispatch_interval(cfg, NULL, 64, 0);
    h->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    assert_non_null(h->base);
    char err[128];
    assert_int_equal(wr_ctx_init(&h->ctx, h->base, err, sizeof err), 0);
    h->guard = evtimer_new(h->base, guard_cb, h->base);
    h->ca = pend_new(h, burst, tap);
    h->sa = pend_new(h, burst, tap);
    h->ca->peer = h->sa;
    h->sa->peer = h->ca;
    h->cli.h = h->srv.h = h;
    h->cli.carrier = h->ca;
    h->srv.carrier = h->sa;
    h->srv_default = B_ECHO;
    last_log[0] = '\0';
    wr_log_set_sink(capture_log, WR_LOG_DEBUG);
    if (mode != RAW_CLIENT && mode != RAW_CLIENT_LATE) {
        h->cli.ms = wr_mux_session_new(&h->ctx, &h->ca->base, WR_MUX_CLIENT, &cli_hooks, &h->cli, "cli");
        assert_non_null(h->cli.ms);
    } else {
        h->raw = h->ca;
    }
    if (mode == RAW_CLIENT_LATE) {
        /* the test starts the server's session */
    } else if (mode != RAW_SERVER) {
        h->srv.ms = wr_mux_session_new(&h->ctx, &h->sa->base, WR_MUX_SERVER, &srv_hooks, &h->srv, "srv");
        assert_non_null(h->srv.ms);
    } else {
        h->raw = h->sa;
    }
    return h;
}

static void h_free(struct harness *h)
{
    /* Freeing a session tells every stream it owns (the test's streams close on ERROR) and
     * answers every open still pending. */
    if (h->cli.ms) {
        struct wr_mux_session *ms = h->cli.ms;
        h->cli.ms = NULL;
        wr_mux_session_free(ms);
    }
    if (h->srv.ms) {
        struct wr_mux_session *ms = h->srv.ms;
        h->srv.ms = NULL;
        wr_mux_session_free(ms);
    }
    for (int i = 0; i < h->n_cs + h->n_ss; i++) {
        struct tst *t = i < h->n_cs ? h->cs[i] : h->ss[i - h->n_cs];
        if (t->c) {
            print_message("stream still held after its session was freed\n");
            wr_conn_close(t->c, 1);
        }
        if (t->pending)
            fail_msg("an open was never answered, not even by wr_mux_session_free");
        evbuffer_free(t->got);
        free(t);
    }
    assert_int_equal(h->ca->used_after_close, 0);
    assert_int_equal(h->sa->used_after_close, 0);
    assert_int_equal(h->ca->written_after_shutdown, 0);
    assert_int_equal(h->sa->written_after_shutdown, 0);
    pend_free(h->ca);
    pend_free(h->sa);
    event_free(h->guard);
    wr_log_set_sink(NULL, WR_LOG_NONE);
    wr_ctx_free(&h->ctx);
    event_base_free(h->base);
    free(h);
}

/* One round of the loop: everything active now and whatever it activates, for at most 2 ms. */
static void turn(struct harness *h)
{
    struct timeval tv = { 0, 2000 };
    evtimer_add(h->guard, &tv);
    event_base_loop(h->base, EVLOOP_ONCE);
    evtimer_del(h->guard);
}

#define RUN_UNTIL(h, cond, ms)                                                                  \
    do {                                                                                        \
        int64_t end_ = wr_now_ms() + (ms);                                                      \
        while (!(cond)) {                                                                       \
            if (wr_now_ms() > end_)                                                             \
                fail_msg("line %d: timed out after %d ms waiting for %s", __LINE__, (int)(ms),  \
                         #cond);                                                                \
            turn(h);                                                                            \
        }                                                                                       \
    } while (0)

/* Run the loop for ms (to see that something does NOT happen). */
static void run_for(struct harness *h, int ms)
{
    int64_t end = wr_now_ms() + ms;
    while (wr_now_ms() < end)
        turn(h);
}

static struct wr_endpoint ep(enum wr_ep_type type, const char *host, uint16_t port)
{
    struct wr_endpoint e;
    assert_int_equal(wr_endpoint_set(&e, type, host, port), 0);
    return e;
}

static struct wr_endpoint behave(int b)
{
    return ep(WR_EP_IPV4, BEHAVE_HOST, (uint16_t)b);
}

static void cli_opened(void *arg, struct wr_conn *c, uint8_t rep, const char *why)
{
    struct tst *t = arg;
    t->answered++;
    t->rep = rep;
    t->pending = NULL;
    snprintf(t->why, sizeof t->why, "%s", why ? why : "");
    if (!c)
        return;
    t->c = c;
    t->ready_at_open = c->ready;
    wr_conn_set_cb(c, tst_cb, t);
    evbuffer_add_cb(c->in, track_in, t);
    tst_consume(t);                             /* bytes that came with the REPLY */
    tst_produce(t);
}

/* Client: a stream to dst that sends `say` (or to_send generated bytes) and FINs. */
static struct tst *cli_open(struct harness *h, const struct wr_endpoint *dst, const char *say,
                            size_t to_send, uint32_t seed, int fin)
{
    struct tst *t = tst_new(h, 0);
    t->say = say;
    t->to_send = to_send;
    t->seed_out = seed;
    t->fin_after_send = fin;
    t->close_when_done = 1;
    t->keep = 1;
    t->pending = wr_mux_open(h->cli.ms, dst, cli_opened, t);
    assert_non_null(t->pending);
    return t;
}

static int all_closed(struct harness *h)
{
    for (int i = 0; i < h->n_cs; i++)
        if (h->cs[i]->c || h->cs[i]->pending)
            return 0;
    for (int i = 0; i < h->n_ss; i++)
        if (h->ss[i]->c)
            return 0;
    return 1;
}

/* Frames on a wire (a tap, or what a raw end received): how many of type (-1 any) on sid (-1
 * any); the last one's payload is copied out. */
struct seen {
    int n;
    size_t payload_bytes;           /* sum of their lengths */
    struct wr_mux_frame last;
    uint8_t payload[64];
};

static int scan(struct evbuffer *wire, int type, int64_t sid, struct seen *s)
{
    struct seen tmp;
    if (!s)
        s = &tmp;
    memset(s, 0, sizeof *s);
    size_t n = evbuffer_get_length(wire), off = 0;
    const uint8_t *p = n ? evbuffer_pullup(wire, -1) : NULL;
    while (off < n) {
        struct wr_mux_frame f;
        size_t used;
        const char *why = NULL;
        int r = wr_mux_frame_parse(p + off, n - off, &f, &used, &why);
        if (r == WR_MUX_MORE)
            break;
        if (r == WR_MUX_BAD)
            fail_msg("a bad frame on the wire at offset %zu: %s", off, why);
        if (r == WR_MUX_FRAME && (type < 0 || f.type == type) && (sid < 0 || f.sid == sid)) {
            s->n++;
            s->payload_bytes += f.len;
            s->last = f;
            memcpy(s->payload, f.payload, f.len < sizeof s->payload ? f.len : sizeof s->payload);
            s->last.payload = s->payload;
        }
        off += used;
    }
    return s->n;
}

static void raw_send_str(struct harness *h, const char *str)
{
    write_str(&h->raw->base, str);
}

/* The raw end sends a frame. */
static void raw_frame(struct harness *h, uint8_t type, uint32_t sid, const void *payload, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    wr_mux_put_header(b, type, len, sid);
    if (len)
        evbuffer_add(b, payload, len);
    wr_conn_write(&h->raw->base, b);
    evbuffer_free(b);
}

static void raw_data(struct harness *h, uint32_t sid, size_t len, uint8_t fill)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    memset(p, fill, len);
    raw_frame(h, WR_MUX_DATA, sid, p, len);
    free(p);
}

static void raw_u32(struct harness *h, uint8_t type, uint32_t sid, uint32_t v)
{
    uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    raw_frame(h, type, sid, be, 4);
}

static void raw_u8(struct harness *h, uint8_t type, uint32_t sid, uint8_t v)
{
    raw_frame(h, type, sid, &v, 1);
}

/* Everything the raw end has written was delivered. */
static int raw_sent(struct harness *h)
{
    return evbuffer_get_length(h->raw->out) == 0;
}

/* ---------------------------------------------------------------- open, data, close */

/* OPEN, REPLY 0, data both ways byte-exact, FIN both ways, clean close (no RST anywhere). */
static void test_open_echo(void **state)
{
    struct harness *h = h_new(PAIR, 1, 1);
    const char *want = "hello, mux: \x01\x7f\xff bytes";
    struct tst *c = cli_open(h, NULL, want, 0, 0, 1);
    assert_int_equal(wr_mux_open_streams(h->cli.ms), 1);
    assert_int_equal(c->answered, 0);               /* never from inside wr_mux_open */
    RUN_UNTIL(h, all_closed(h) && h->n_ss == 1, 3000);
    struct tst *s = h->ss[0];
    assert_int_equal(c->answered, 1);
    assert_int_equal(c->rep, 0);
    assert_int_equal(c->ready_at_open, 1);
    assert_int_equal(s->has_dst, 0);                /* NULL destination: the server's target */
    CHECK_MEM("server got", evbuffer_pullup(s->got, -1), evbuffer_get_length(s->got), want, strlen(want));
    CHECK_MEM("client got", evbuffer_pullup(c->got, -1), evbuffer_get_length(c->got), want, strlen(want));
    assert_int_equal(c->eof, 1);
    assert_int_equal(s->eof, 1);
    assert_int_equal(c->bytes_after_eof + s->bytes_after_eof, 0);
    assert_int_equal(c->error + s->error, 0);
    assert_int_equal(c->closed_clean, 1);
    assert_int_equal(s->closed_clean, 1);
    /* the wire: OPEN 1, REPLY 1 success, FIN both ways, no RST */
    struct seen sn;
    assert_int_equal(scan(h->ca->tap, WR_MUX_OPEN, 1, &sn), 1);
    assert_int_equal(sn.last.len, 0);
    assert_int_equal(scan(h->sa->tap, WR_MUX_REPLY, 1, &sn), 1);
    assert_int_equal(sn.last.status, 0);
    assert_int_equal(scan(h->ca->tap, WR_MUX_FIN, 1, NULL), 1);
    assert_int_equal(scan(h->sa->tap, WR_MUX_FIN, 1, NULL), 1);
    assert_int_equal(scan(h->ca->tap, WR_MUX_RST, -1, NULL), 0);
    assert_int_equal(scan(h->sa->tap, WR_MUX_RST, -1, NULL), 0);
    /* each session opens with a PING, and answers the other's */
    assert_int_equal(scan(h->ca->tap, WR_MUX_PING, 0, NULL), 1);
    assert_int_equal(scan(h->sa->tap, WR_MUX_PING, 0, NULL), 1);
    assert_int_equal(scan(h->ca->tap, WR_MUX_PONG, 0, NULL), 1);
    assert_int_equal(scan(h->sa->tap, WR_MUX_PONG, 0, NULL), 1);
    assert_int_equal(wr_mux_open_streams(h->cli.ms), 0);
    assert_int_equal(wr_mux_open_streams(h->srv.ms), 0);
    assert_int_equal(wr_mux_usable(h->cli.ms), 1);
    assert_int_equal(h->cli.closes + h->srv.closes, 0);
    assert_int_equal(h->ca->closed + h->sa->closed, 0);
    h_free(h);
}

/* The OPEN's destination reaches on_open as the same endpoint; ids are 1, 3, 5, ... */
static void test_open_destination(void **state)
{
    struct harness *h = h_new(PAIR, 1, 1);
    struct wr_endpoint dsts[] = {
        ep(WR_EP_NAME, "example.com", 443),
        ep(WR_EP_IPV4, "203.0.113.9", 8080),
        ep(WR_EP_IPV6, "2001:db8::5", 65535),
        ep(WR_EP_NAME, "a.b-c.example", 0),
    };
    for (size_t i = 0; i < N_ELEMS(dsts); i++)
        cli_open(h, &dsts[i], "x", 0, 0, 1);
    cli_open(h, NULL, "x", 0, 0, 1);
    RUN_UNTIL(h, h->n_ss == 5 && all_closed(h), 3000);
    for (size_t i = 0; i < N_ELEMS(dsts); i++) {
        char row[32];
        snprintf(row, sizeof row, "dst %zu", i);
        struct tst *s = h->ss[i];
        CHECK_INT(row, s->has_dst, 1);
        CHECK_INT(row, s->dst.type, dsts[i].type);
        CHECK_STR(row, s->dst.host, dsts[i].host);
        CHECK_INT(row, s->dst.port, dsts[i].port);
        CHECK_INT(row, h->cs[i]->rep, 0);
        CHECK_INT(row, s->ready_at_open, 0);        /* not ready until the REPLY */
        struct seen sn;
        CHECK_INT(row, scan(h->ca->tap, WR_MUX_OPEN, 1 + 2 * i, &sn), 1);
    }
    assert_int_equal(h->ss[4]->has_dst, 0);
    /* spec §9: OPEN 1 -> example.com:443 */
    struct seen sn;
    scan(h->ca->tap, WR_MUX_OPEN, 1, &sn);
    CHECK_MEM("OPEN payload", sn.payload, sn.last.len, "\x03\x0b" "example.com\x01\xbb", 15);
    assert_int_equal(scan(h->ca->tap, WR_MUX_OPEN, -1, NULL), 5);
    assert_int_equal(scan(h->ca->tap, WR_MUX_OPEN, 9, NULL), 1);
    h_free(h);
}

/* A failed REPLY reaches the opener as that SOCKS code; no RST follows it. */
static void test_open_failure_status(void **state)
{
    struct harness *h = h_new(PAIR, 1, 1);
    struct tst *ok = cli_open(h, NULL, "still fine", 0, 0, 1);
    struct tst *c[8];
    for (int st = 1; st <= 8; st++) {
        struct wr_endpoint d = behave(B_FAIL + st);
        c[st - 1] = cli_open(h, &d, "early data, discarded", 0, 0, 1);
    }
    RUN_UNTIL(h, all_closed(h), 3000);
    assert_int_equal(ok->rep, 0);
    CHECK_MEM("ok", evbuffer_pullup(ok->got, -1), evbuffer_get_length(ok->got), "still fine", 10);
    int wrong = 0;
    char got[64] = "";
    for (int st = 1; st <= 8; st++) {
        char row[32];
        snprintf(row, sizeof row, "status %d", st);
        CHECK_INT(row, c[st - 1]->answered, 1);
        CHECK_INT(row, c[st - 1]->c == NULL, 1);
        CHECK_INT(row, c[st - 1]->rep != 0, 1);
        struct seen sn;
        CHECK_INT(row, scan(h->sa->tap, WR_MUX_REPLY, 1 + 2 * st, &sn), 1);
        CHECK_INT(row, sn.last.status, st);             /* the server sent the right status */
        if (c[st - 1]->rep != st) {
            wrong++;
            snprintf(got + strlen(got), sizeof got - strlen(got), " %d->%d", st, c[st - 1]->rep);
        }
    }
    assert_int_equal(scan(h->sa->tap, WR_MUX_RST, -1, NULL), 0);     /* no RST after a failed REPLY */
    assert_int_equal(scan(h->ca->tap, WR_MUX_RST, -1, NULL), 0);     /* nor from the client */
    assert_int_equal(wr_mux_open_streams(h->cli.ms), 0);
    assert_int_equal(wr_mux_open_streams(h->srv.ms), 0);
    assert_int_equal(h->cli.closes + h->srv.closes, 0);
    h_free(h);
    KNOWN_BUG(!wrong, "failure status lost (sent->got:%s): session.c:375-376 sets pending_err = "
              "status, then post(s, WR_EV_ERROR, 0) overwrites it with 0, so on_kick maps it to 1",
              got);
}

/* FIN half-closes one direction: a stream that sent FIN still receives, both ways round. */
static void test_half_close(void **state)
{
    struct harness *h = h_new(PAIR, 1, 1);
    struct wr_endpoint da = behave(B_ANSWER), db = behave(B_FIN_FIRST);
    struct tst *a = cli_open(h, &da, "request", 0, 0, 1);      /* the client FINs first */
    struct tst *b = cli_open(h, &db, NULL, 0, 0, 0);           /* the server FINs first */
    b->say_on_eof = "the client answers after the server's FIN";
    RUN_UNTIL(h, h->n_ss == 2 && all_closed(h), 3000);
    struct tst *sa = h->ss[0], *sb = h->ss[1];
    CHECK_MEM("a: server got", evbuffer_pullup(sa->got, -1), evbuffer_get_length(sa->got), "request", 7);
    CHECK_MEM("a: client got after its FIN", evbuffer_pullup(a->got, -1), evbuffer_get_length(a->got),
              "answer after your FIN", 21);
    CHECK_MEM("b: client got", evbuffer_pullup(b->got, -1), evbuffer_get_length(b->got),
              "the server speaks first", 23);
    CHECK_MEM("b: server got after its FIN", evbuffer_pullup(sb->got, -1), evbuffer_get_length(sb->got),
              "the client answers after the server's FIN", 41);
    struct tst *all[] = { a, b, sa, sb };
    for (size_t i = 0; i < N_ELEMS(all); i++) {
        char row[16];
        snprintf(row, sizeof row, "stream %zu", i);
        CHECK_INT(row, all[i]->eof, 1);
        CHECK_INT(row, all[i]->error, 0);
        CHECK_INT(row, all[i]->bytes_after_eof, 0);
        CHECK_INT(row, all[i]->closed_clean, 1);
    }
    /* the server got a's FIN before it answered; b's FIN went out before the client wrote */
    assert_int_equal(scan(h->ca->tap, WR_MUX_FIN, -1, NULL), 2);
    assert_int_equal(scan(h->sa->tap, WR_MUX_FIN, -1, NULL), 2);
    assert_int_equal(scan(h->ca->tap, WR_MUX_RST, -1, NULL), 0);
    assert_int_equal(scan(h->sa->tap, WR_MUX_RST, -1, NULL), 0);
    assert_int_equal(wr_mux_open_streams(h->cli.ms) + wr_mux_open_streams(h->srv.ms), 0);
    h_free(h);
}

/* RST from either side (close with abort, or close before both FINs) is WR_EV_ERROR on the
 * peer's stream; the session and its other streams go on. */
static void test_rst(void **state)
{
    static const struct { const char *name; int server_closes, abort; uint8_t code; } rows[] = {
        { "client closes, abort", 0, 1, WR_MUX_RST_ERROR },
        { "server closes, abort", 1, 1, WR_MUX_RST_ERROR },
        { "client closes before FIN", 0, 0, WR_MUX_RST_CANCEL },
        { "server closes before FIN", 1, 0, WR_MUX_RST_CANCEL },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct harness *h = h_new(PAIR, 1, 1);
        struct wr_endpoint d = behave(B_ANSWER);
        struct tst *c = cli_open(h, &d, "some bytes", 0, 0, 0);
        RUN_UNTIL(h, c->c && h->n_ss == 1 && h->ss[0]->n_in == 10, 3000);
        struct tst *s = h->ss[0];
        struct tst *closer = rows[i].server_closes ? s : c, *peer = rows[i].server_closes ? c : s;
        struct wr_conn *conn = closer->c;
        closer->c = NULL;
        wr_conn_close(conn, rows[i].abort);
        RUN_UNTIL(h, peer->error, 3000);
        CHECK_INT(rows[i].name, peer->err, ECONNRESET);
        CHECK_INT(rows[i].name, peer->eof, 0);
        struct seen sn;
        CHECK_INT(rows[i].name, scan(rows[i].server_closes ? h->sa->tap : h->ca->tap, WR_MUX_RST, 1, &sn), 1);
        CHECK_INT(rows[i].name, sn.last.status, rows[i].code);
        /* RST is not answered */
        CHECK_INT(rows[i].name, scan(rows[i].server_closes ? h->ca->tap : h->sa->tap, WR_MUX_RST, -1, NULL), 0);
        /* the session goes on */
        struct tst *next = cli_open(h, NULL, "next stream", 0, 0, 1);
        RUN_UNTIL(h, all_closed(h), 3000);
        CHECK_INT(rows[i].name, next->closed_clean, 1);
        CHECK_MEM(rows[i].name, evbuffer_pullup(next->got, -1), evbuffer_get_length(next->got), "next stream", 11);
        CHECK_INT(rows[i].name, h->cli.closes + h->srv.closes, 0);
        CHECK_INT(rows[i].name, wr_mux_open_streams(h->cli.ms) + wr_mux_open_streams(h->srv.ms), 0);
        h_free(h);
    }
}

/* wr_pending_cancel before the REPLY: an RST goes out, the callback never comes, nothing leaks. */
static struct tst *to_cancel;
static void cancel_in_on_open(struct harness *h, struct tst *t)
{
    if (to_cancel && to_cancel->pending) {
        wr_pending_cancel(to_cancel->pending);
        to_cancel->pending = NULL;
    }
}

static void test_cancel_pending(void **state)
{
    static const struct { const char *name; int when; int behaviour; } rows[] = {
        { "cancel at once (OPEN and RST leave together)", 0, B_ECHO },
        { "cancel while the server has not answered", 1, B_NOREPLY },
        { "cancel as the server answers (REPLY crosses RST)", 1, B_ECHO },
        { "cancel as the server refuses (REPLY 5 crosses RST)", 1, B_FAIL + 5 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct harness *h = h_new(PAIR, 1, 1);
        struct wr_endpoint d = behave(rows[i].behaviour);
        struct tst *c = cli_open(h, &d, "never sent", 0, 0, 1);
        to_cancel = c;
        if (rows[i].when == 0) {
            wr_pending_cancel(c->pending);
            c->pending = NULL;
        } else {
            h->on_srv_open = cancel_in_on_open;
        }
        assert_int_equal(wr_mux_open_streams(h->cli.ms), rows[i].when == 0 ? 0 : 1);
        RUN_UNTIL(h, h->n_ss == 1 && all_closed(h), 3000);
        run_for(h, 20);                             /* the REPLY, if any, has arrived */
        struct tst *s = h->ss[0];
        CHECK_INT(rows[i].name, c->answered, 0);
        CHECK_INT(rows[i].name, c->c == NULL, 1);
        struct seen sn;
        CHECK_INT(rows[i].name, scan(h->ca->tap, WR_MUX_RST, 1, &sn), 1);
        if (rows[i].behaviour < B_FAIL) {
            CHECK_INT(rows[i].name, s->error, 1);       /* the server's stream was reset */
            CHECK_INT(rows[i].name, s->err, ECONNRESET);
        }
        CHECK_INT(rows[i].name, scan(h->ca->tap, WR_MUX_DATA, 1, NULL), 0);
        CHECK_INT(rows[i].name, h->cli.closes + h->srv.closes, 0);     /* a late REPLY is ignored */
        CHECK_INT(rows[i].name, wr_mux_open_streams(h->cli.ms) + wr_mux_open_streams(h->srv.ms), 0);
        /* and the session goes on */
        struct tst *next = cli_open(h, NULL, "after", 0, 0, 1);
        RUN_UNTIL(h, all_closed(h), 3000);
        CHECK_INT(rows[i].name, next->closed_clean, 1);
        to_cancel = NULL;
        h_free(h);
    }
}

/* 100 streams at once, each with its own data, echoed back. */
static void test_many_streams(void **state)
{
    struct harness *h = h_new(PAIR, 1, 1);
    enum { N = 100 };
    struct tst *c[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        size_t len = 200 + (size_t)i * 53;
        c[i] = cli_open(h, NULL, NULL, len, 1000 + (uint32_t)i, 1);
        c[i]->keep = 0;
        c[i]->seed_in = 1000 + (uint32_t)i;         /* the echo: our own bytes */
        total += len;
    }
    assert_int_equal(wr_mux_open_streams(h->cli.ms), N);
    RUN_UNTIL(h, h->n_ss == N && all_closed(h), 15000);
    for (int i = 0; i < N; i++) {
        char row[32];
        snprintf(row, sizeof row, "stream %d", i);
        CHECK_INT(row, c[i]->rep, 0);
        CHECK_INT(row, c[i]->n_in, c[i]->to_send);
        CHECK_INT(row, c[i]->bad_in, 0);
        CHECK_INT(row, c[i]->hash_in, c[i]->hash_out);
        CHECK_INT(row, c[i]->closed_clean, 1);
        CHECK_INT(row, c[i]->bytes_after_eof, 0);
    }
    for (int i = 0; i < N; i++) {
        /* the server's streams come in id order: the i-th is the client's i-th */
        char row[32];
        snprintf(row, sizeof row, "server stream %d", i);
        CHECK_INT(row, h->ss[i]->n_in, c[i]->to_send);
        CHECK_INT(row, h->ss[i]->hash_in, c[i]->hash_out);
        CHECK_INT(row, h->ss[i]->closed_clean, 1);
    }
    struct seen sn;
    scan(h->ca->tap, WR_MUX_DATA, -1, &sn);
    assert_int_equal(sn.payload_bytes, total);
    assert_int_equal(scan(h->ca->tap, WR_MUX_RST, -1, NULL), 0);
    assert_int_equal(scan(h->sa->tap, WR_MUX_RST, -1, NULL), 0);
    assert_int_equal(wr_mux_open_streams(h->cli.ms) + wr_mux_open_streams(h->srv.ms), 0);
    h_free(h);
}

/* A stream whose reader stopped costs at most its window and does not stall the others. */
static void test_slow_reader(void **state)
{
    struct harness *h = h_new(PAIR, 8192, 0);
    const size_t fast_len = 4u << 20, slow_len = 1u << 20;
    h->srv_seed[B_SINK] = 99;
    h->srv_seed[B_HOLD] = 77;
    struct wr_endpoint dslow = behave(B_HOLD), dfast = behave(B_SINK);
    struct tst *slow = cli_open(h, &dslow, NULL, slow_len, 77, 1);
    struct tst *fast = cli_open(h, &dfast, NULL, fast_len, 99, 1);
    slow->keep = fast->keep = 0;
    RUN_UNTIL(h, fast->closed_clean, 15000);
    assert_int_equal(h->n_ss, 2);
    struct tst *sslow = h->ss[0], *sfast = h->ss[1];
    assert_int_equal(sfast->n_in, fast_len);
    assert_int_equal(sfast->bad_in, 0);
    assert_int_equal(sfast->closed_clean, 1);
    /* the slow stream: exactly its window is buffered, no more */
    assert_int_equal(sslow->n_in, 0);
    assert_true(sslow->max_in <= WR_MUX_INIT_WINDOW);
    assert_int_equal(evbuffer_get_length(sslow->c->in), WR_MUX_INIT_WINDOW);
    assert_int_equal(sslow->error + slow->error, 0);
    assert_int_equal(h->ca->paused + h->sa->paused, 0);     /* the carrier was never paused */
    /* the reader comes back: the rest follows, byte-exact */
    sslow->hold = 0;
    wr_conn_pause_read(sslow->c, 0);
    RUN_UNTIL(h, all_closed(h), 15000);
    assert_int_equal(sslow->n_in, slow_len);
    assert_int_equal(sslow->bad_in, 0);
    assert_int_equal(sslow->closed_clean, 1);
    assert_int_equal(slow->closed_clean, 1);
    assert_true(sslow->max_in <= WR_MUX_INIT_WINDOW);
    assert_int_equal(h->cli.closes + h->srv.closes, 0);
    h_free(h);
}

/* Window growth: over a path with a round-trip time (the carrier delivers 5 ms after the write),
 * a reader that keeps up gets its window doubled. Observed without a getter: `in` + consumed-
 * but-unreturned + credit left is the window, so once the reader stops, `in` fills to the
 * window; more than 256 KiB there means the window grew. */
static void test_window_growth(void **state)
{
    struct harness *h = h_new(PAIR, 1, 0);
    h->ca->delay_ms = h->sa->delay_ms = 5;
    h->srv_seed[B_SINK] = 5;
    struct wr_endpoint d = behave(B_SINK);
    struct tst *c = cli_open(h, &d, NULL, 64u << 20, 5, 1);
    c->keep = 0;
    RUN_UNTIL(h, h->n_ss == 1 && h->ss[0]->n_in >= (3u << 20), 10000);
    struct tst *s = h->ss[0];
    s->hold = 1;                                    /* the reader stops */
    wr_conn_pause_read(s->c, 1);
    size_t last = 0;
    int64_t stable_since = wr_now_ms(), end = wr_now_ms() + 5000;
    while (wr_now_ms() - stable_since < 100 && wr_now_ms() < end) {
        turn(h);
        if (evbuffer_get_length(s->c->in) != last) {
            last = evbuffer_get_length(s->c->in);
            stable_since = wr_now_ms();
        }
    }
    print_message("window growth: %zu bytes arrived after the reader stopped (window 256 KiB at start)\n", last);
    assert_int_equal(s->bad_in, 0);
    assert_true(last <= WR_MUX_MAX_WINDOW);
    assert_true(last > WR_MUX_INIT_WINDOW);
    assert_int_equal(h->cli.closes + h->srv.closes, 0);
    h_free(h);
}

/* ---------------------------------------------------------------- raw peers */

/* PING is answered with a PONG of the same bytes, on either side; a PONG nobody asked for is
 * ignored. */
static void test_ping_pong(void **state)
{
    for (int mode = RAW_CLIENT; mode <= RAW_SERVER; mode++) {
        struct harness *h = h_new(mode, 1, 0);
        const char *row = mode == RAW_CLIENT ? "server session" : "client session";
        /* the session starts with a PING of its own */
        RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_PING, 0, NULL) == 1, 3000);
        const uint8_t a[8] = { 0, 1, 2, 3, 0xfc, 0xfd, 0xfe, 0xff }, b[8] = "8 bytes!";
        raw_frame(h, WR_MUX_PONG, 0, b, 8);                 /* unsolicited */
        raw_frame(h, WR_MUX_PING, 0, a, 8);
        raw_frame(h, 0x80, 0, "ext", 3);                    /* skipped */
        raw_frame(h, WR_MUX_PAD, 0, "padding", 7);          /* skipped */
        raw_frame(h, WR_MUX_PING, 0, b, 8);
        RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_PONG, 0, NULL) == 2, 3000);
        struct seen sn;
        scan(h->raw->base.in, WR_MUX_PONG, 0, &sn);
        CHECK_MEM(row, sn.payload, sn.last.len, b, 8);
        /* the first PONG answered a */
        evbuffer_drain(h->raw->base.in, evbuffer_get_length(h->raw->base.in) - 32);
        scan(h->raw->base.in, WR_MUX_PONG, 0, &sn);
        CHECK_INT(row, sn.n, 2);
        const uint8_t *p = evbuffer_pullup(h->raw->base.in, -1);
        CHECK_MEM(row, p + 8, 8, a, 8);
        struct side *sd = mode == RAW_CLIENT ? &h->srv : &h->cli;
        CHECK_INT(row, sd->closes, 0);
        CHECK_INT(row, wr_mux_usable(sd->ms), 1);
        h_free(h);
    }
}

/* Raw client: OPEN sid with no destination (the server does its default behaviour). */
static void raw_open_hold(struct harness *h, uint32_t sid)
{
    raw_frame(h, WR_MUX_OPEN, sid, NULL, 0);
}

/* DATA beyond the credit ends the session: on_close, and every stream gets WR_EV_ERROR (an
 * open still pending fails). Exactly the window is fine. */
static void test_credit_violation(void **state)
{
    for (int free_in_close = 0; free_in_close <= 1; free_in_close++) {
        /* the server session as the receiver */
        struct harness *h = h_new(RAW_CLIENT, 4096, 0);
        h->srv_default = B_HOLD;
        h->srv.free_in_close = free_in_close;
        raw_open_hold(h, 1);
        raw_open_hold(h, 3);
        raw_open_hold(h, 5);
        for (int i = 0; i < 4; i++)
            raw_data(h, 3, 65535, 'a');
        raw_data(h, 3, WR_MUX_INIT_WINDOW - 4 * 65535, 'b');   /* exactly the window */
        RUN_UNTIL(h, raw_sent(h) && h->n_ss == 3, 5000);
        run_for(h, 10);
        assert_int_equal(h->srv.closes, 0);
        assert_int_equal(evbuffer_get_length(h->ss[1]->c->in), WR_MUX_INIT_WINDOW);
        raw_data(h, 3, 1, 'c');                                /* one byte more */
        RUN_UNTIL(h, h->srv.closes == 1, 3000);
        CHECK_CONTAINS("server", h->srv.why, "credit");
        RUN_UNTIL(h, h->ss[0]->error && h->ss[1]->error && h->ss[2]->error, 3000);
        for (int i = 0; i < 3; i++)
            assert_int_equal(h->ss[i]->err, ECONNRESET);
        if (!free_in_close) {
            /* GOAWAY(protocol error) went out first */
            RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_GOAWAY, 0, NULL) == 1, 3000);
            struct seen sn;
            scan(h->raw->base.in, WR_MUX_GOAWAY, 0, &sn);
            assert_int_equal(sn.last.status, WR_MUX_GOAWAY_PROTOCOL);
            assert_int_equal(sn.last.value, 5);
            assert_int_equal(wr_mux_usable(h->srv.ms), 0);
            run_for(h, 10);
            assert_int_equal(h->srv.closes, 1);                /* once */
        } else {
            assert_true(h->sa->closed);
            assert_int_equal(h->sa->close_abort, 1);
        }
        h_free(h);

        /* the client session as the receiver: one stream answered, one pending */
        h = h_new(RAW_SERVER, 4096, 0);
        h->cli.free_in_close = free_in_close;
        struct tst *c1 = cli_open(h, NULL, NULL, 0, 0, 0);
        struct tst *c3 = cli_open(h, NULL, NULL, 0, 0, 0);
        c1->hold = 1;
        raw_u8(h, WR_MUX_REPLY, 1, 0);
        for (int i = 0; i < 4; i++)
            raw_data(h, 1, 65535, 'a');
        raw_data(h, 1, WR_MUX_INIT_WINDOW - 4 * 65535 + 1, 'b');
        RUN_UNTIL(h, h->cli.closes == 1, 5000);
        CHECK_CONTAINS("client", h->cli.why, "credit");
        RUN_UNTIL(h, c1->error && c3->answered, 3000);
        assert_int_equal(c1->err, ECONNRESET);
        assert_null(c3->c);
        assert_int_equal(c3->rep, WR_REP_FAILURE);
        h_free(h);
    }
}

/* Protocol errors end the session (spec §5, §7). */
struct rawf {
    uint8_t type;
    uint32_t sid;
    uint8_t len;
    const char *payload;
};

static void test_protocol_errors(void **state)
{
    static const struct {
        const char *name;
        int mode;                   /* RAW_CLIENT: server session; RAW_SERVER: client session */
        int goaway_first;           /* the server called wr_mux_goaway() first */
        struct rawf f[3];
        int nf;
        const char *why;
    } rows[] = {
        /* server session; OPEN 1 was accepted (and held) */
        { "DATA on a never-opened id", RAW_CLIENT, 0, { { WR_MUX_DATA, 7, 2, "hi" } }, 1, "never opened" },
        { "WINDOW on a never-opened id", RAW_CLIENT, 0, { { WR_MUX_WINDOW, 3, 4, "\0\0\1\0" } }, 1, "never opened" },
        { "FIN on a never-opened id", RAW_CLIENT, 0, { { WR_MUX_FIN, 9, 0, "" } }, 1, "never opened" },
        { "RST on a never-opened id", RAW_CLIENT, 0, { { WR_MUX_RST, 3, 1, "\0" } }, 1, "never opened" },
        { "OPEN reused", RAW_CLIENT, 0, { { WR_MUX_OPEN, 1, 0, "" } }, 1, "out of order or reused" },
        { "OPEN reused after its end", RAW_CLIENT, 0,
          { { WR_MUX_RST, 1, 1, "\0" }, { WR_MUX_OPEN, 1, 0, "" } }, 2, "out of order or reused" },
        { "OPEN out of order", RAW_CLIENT, 0, { { WR_MUX_OPEN, 5, 0, "" } }, 1, "out of order or reused" },
        { "OPEN with an even id", RAW_CLIENT, 0, { { WR_MUX_OPEN, 2, 0, "" } }, 1, "out of order or reused" },
        { "OPEN after GOAWAY", RAW_CLIENT, 1, { { WR_MUX_OPEN, 3, 0, "" } }, 1, "after GOAWAY" },
        { "OPEN with a bad destination", RAW_CLIENT, 0, { { WR_MUX_OPEN, 3, 7, "\x09\1\2\3\4\0\1" } }, 1, "destination" },
        { "OPEN with trailing bytes", RAW_CLIENT, 0, { { WR_MUX_OPEN, 3, 8, "\x01\1\2\3\4\0\1x" } }, 1, "destination" },
        { "REPLY sent to the server", RAW_CLIENT, 0, { { WR_MUX_REPLY, 1, 1, "\0" } }, 1, "REPLY" },
        { "reserved type 0x0A", RAW_CLIENT, 0, { { 0x0A, 0, 0, "" } }, 1, "reserved" },
        { "reserved type 0x7F", RAW_CLIENT, 0, { { 0x7F, 1, 2, "xy" } }, 1, "reserved" },
        { "bad version", RAW_CLIENT, 0, { { 0xFF, 0, 0, "" } }, 1, "version" },
        { "PING on a stream id", RAW_CLIENT, 0, { { WR_MUX_PING, 1, 8, "12345678" } }, 1, "session frame" },
        { "DATA on id 0", RAW_CLIENT, 0, { { WR_MUX_DATA, 0, 1, "x" } }, 1, "id 0" },
        { "WINDOW of 0", RAW_CLIENT, 0, { { WR_MUX_WINDOW, 1, 4, "\0\0\0\0" } }, 1, "window" },
        { "FIN with a payload", RAW_CLIENT, 0, { { WR_MUX_FIN, 1, 1, "x" } }, 1, "length" },
        /* client session; streams 1 (answered) and 3 (pending) */
        { "REPLY on a never-opened id", RAW_SERVER, 0, { { WR_MUX_REPLY, 5, 1, "\0" } }, 1, "never opened" },
        { "DATA on a never-opened id", RAW_SERVER, 0, { { WR_MUX_DATA, 7, 1, "x" } }, 1, "never opened" },
        { "a second REPLY", RAW_SERVER, 0, { { WR_MUX_REPLY, 1, 1, "\0" } }, 1, "REPLY" },
        { "OPEN from the server", RAW_SERVER, 0, { { WR_MUX_OPEN, 2, 0, "" } }, 1, "server opened" },
        { "OPEN from the server on the next odd id", RAW_SERVER, 0, { { WR_MUX_OPEN, 5, 0, "" } }, 1, "server opened" },
        { "OPEN from the server on the client's id", RAW_SERVER, 0, { { WR_MUX_OPEN, 3, 0, "" } }, 1, "server opened" },
        { "reserved type 0x10", RAW_SERVER, 0, { { 0x10, 3, 0, "" } }, 1, "reserved" },
        { "GOAWAY too short", RAW_SERVER, 0, { { WR_MUX_GOAWAY, 0, 4, "\0\0\0\0" } }, 1, "length" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        const char *row = rows[i].name;
        int free_in_close = (int)(i & 1);
        struct harness *h = h_new(rows[i].mode, 1, 0);
        struct side *sd = rows[i].mode == RAW_CLIENT ? &h->srv : &h->cli;
        sd->free_in_close = free_in_close;
        struct tst *c1 = NULL, *c3 = NULL;
        uint32_t last_id;
        if (rows[i].mode == RAW_CLIENT) {
            h->srv_default = B_HOLD;
            raw_open_hold(h, 1);
            RUN_UNTIL(h, h->n_ss == 1 && raw_sent(h), 3000);
            last_id = 1;
            if (rows[i].goaway_first)
                wr_mux_goaway(h->srv.ms);
        } else {
            c1 = cli_open(h, NULL, NULL, 0, 0, 0);
            c3 = cli_open(h, NULL, NULL, 0, 0, 0);
            raw_u8(h, WR_MUX_REPLY, 1, 0);
            RUN_UNTIL(h, c1->c, 3000);
            last_id = 3;
        }
        run_for(h, 5);
        CHECK_INT(row, sd->closes, 0);
        for (int k = 0; k < rows[i].nf; k++) {
            struct evbuffer *b = evbuffer_new();
            wr_mux_put_header(b, rows[i].f[k].type, rows[i].f[k].len, rows[i].f[k].sid);
            evbuffer_add(b, rows[i].f[k].payload, rows[i].f[k].len);
            if (rows[i].f[k].type == 0xFF)              /* the bad-version row: a PING of version 0xFF */
                evbuffer_pullup(b, -1)[0] = 0xFF, evbuffer_pullup(b, -1)[1] = WR_MUX_PING;
            wr_conn_write(&h->raw->base, b);
            evbuffer_free(b);
        }
        RUN_UNTIL(h, sd->closes == 1, 3000);
        CHECK_CONTAINS(row, sd->why, rows[i].why);
        if (rows[i].mode == RAW_CLIENT) {
            RUN_UNTIL(h, h->ss[0]->error, 3000);
            CHECK_INT(row, h->ss[0]->err, ECONNRESET);
        } else {
            RUN_UNTIL(h, c1->error && c3->answered, 3000);
            CHECK_INT(row, c1->err, ECONNRESET);
            CHECK_INT(row, c3->rep, WR_REP_FAILURE);
            CHECK_INT(row, c3->c == NULL, 1);
        }
        if (!free_in_close) {
            RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_GOAWAY, 0, NULL) == 1 + rows[i].goaway_first, 3000);
            struct seen sn;
            scan(h->raw->base.in, WR_MUX_GOAWAY, 0, &sn);
            CHECK_INT(row, sn.last.status, WR_MUX_GOAWAY_PROTOCOL);
            CHECK_INT(row, sn.last.value, last_id);
            CHECK_INT(row, wr_mux_usable(sd->ms), 0);
            CHECK_INT(row, sd->closes, 1);
        } else {
            CHECK_INT(row, sd->carrier->closed, 1);
            CHECK_INT(row, sd->carrier->close_abort, 1);
        }
        h_free(h);
    }
}

/* Frames for a stream that has ended are ignored (they may cross its RST or last FIN). */
static void test_ended_id_ignored(void **state)
{
    /* server session: stream 1 reset by the client, stream 3 ended with both FINs */
    struct harness *h = h_new(RAW_CLIENT, 1, 0);
    h->srv_default = B_ECHO;
    raw_open_hold(h, 1);
    raw_open_hold(h, 3);
    raw_frame(h, WR_MUX_DATA, 3, "ab", 2);
    raw_frame(h, WR_MUX_FIN, 3, NULL, 0);
    RUN_UNTIL(h, h->n_ss == 2 && h->ss[1]->closed_clean, 3000);
    raw_u8(h, WR_MUX_RST, 1, WR_MUX_RST_CANCEL);
    RUN_UNTIL(h, h->ss[0]->error, 3000);
    assert_int_equal(wr_mux_open_streams(h->srv.ms), 0);
    for (uint32_t sid = 1; sid <= 3; sid += 2) {
        raw_frame(h, WR_MUX_DATA, sid, "late", 4);
        raw_u32(h, WR_MUX_WINDOW, sid, 100);
        raw_frame(h, WR_MUX_FIN, sid, NULL, 0);
        raw_u8(h, WR_MUX_RST, sid, WR_MUX_RST_ERROR);
        raw_frame(h, WR_MUX_PAD, sid, "pad", 3);
        raw_frame(h, 0xEE, sid, "ext", 3);
    }
    raw_frame(h, WR_MUX_PING, 0, "is alive", 8);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_PONG, 0, NULL) == 1, 3000);
    assert_int_equal(h->srv.closes, 0);
    raw_open_hold(h, 5);                               /* the next id still opens */
    RUN_UNTIL(h, h->n_ss == 3, 3000);
    assert_int_equal(h->srv.closes, 0);
    h_free(h);

    /* client session: stream 1 closed (RST) by the client; the server's late frames */
    h = h_new(RAW_SERVER, 1, 0);
    struct tst *c1 = cli_open(h, NULL, NULL, 0, 0, 0);
    raw_u8(h, WR_MUX_REPLY, 1, 0);
    RUN_UNTIL(h, c1->c, 3000);
    struct wr_conn *conn = c1->c;
    c1->c = NULL;
    wr_conn_close(conn, 1);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_RST, 1, NULL) == 1, 3000);
    raw_frame(h, WR_MUX_DATA, 1, "late", 4);
    raw_u32(h, WR_MUX_WINDOW, 1, 100);
    raw_u8(h, WR_MUX_REPLY, 1, 0);
    raw_frame(h, WR_MUX_FIN, 1, NULL, 0);
    raw_u8(h, WR_MUX_RST, 1, 0);
    raw_frame(h, WR_MUX_PING, 0, "is alive", 8);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_PONG, 0, NULL) == 1, 3000);
    assert_int_equal(h->cli.closes, 0);
    assert_int_equal(wr_mux_usable(h->cli.ms), 1);
    cli_open(h, NULL, NULL, 0, 0, 0);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_OPEN, 3, NULL) == 1, 3000);
    h_free(h);
}

/* GOAWAY: no new streams (wr_mux_usable 0), open ones finish. */
static void test_goaway(void **state)
{
    /* received by a client session */
    struct harness *h = h_new(RAW_SERVER, 1, 0);
    struct tst *c1 = cli_open(h, NULL, NULL, 0, 0, 0);
    raw_u8(h, WR_MUX_REPLY, 1, 0);
    RUN_UNTIL(h, c1->c, 3000);
    assert_int_equal(wr_mux_usable(h->cli.ms), 1);
    uint8_t ga[5] = { 0, 0, 0, 1, WR_MUX_GOAWAY_SHUTDOWN };
    raw_frame(h, WR_MUX_GOAWAY, 0, ga, 5);
    RUN_UNTIL(h, !wr_mux_usable(h->cli.ms), 3000);
    assert_null(wr_mux_open(h->cli.ms, NULL, cli_opened, NULL));
    raw_frame(h, WR_MUX_DATA, 1, "still open", 10);
    raw_frame(h, WR_MUX_FIN, 1, NULL, 0);
    RUN_UNTIL(h, c1->eof, 3000);
    CHECK_MEM("after GOAWAY", evbuffer_pullup(c1->got, -1), evbuffer_get_length(c1->got), "still open", 10);
    write_str(c1->c, "reply");
    wr_conn_shutdown_write(c1->c);
    c1->shut = 1;
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_FIN, 1, NULL) == 1, 3000);
    struct seen sn;
    scan(h->raw->base.in, WR_MUX_DATA, 1, &sn);
    CHECK_MEM("data after GOAWAY", sn.payload, sn.last.len, "reply", 5);
    assert_int_equal(h->cli.closes, 0);
    h_free(h);

    /* sent by a server session (wr_mux_goaway), over a session pair */
    h = h_new(PAIR, 1, 1);
    struct wr_endpoint d = behave(B_ANSWER);
    struct tst *c = cli_open(h, &d, "before", 0, 0, 1);
    RUN_UNTIL(h, c->answered && h->n_ss == 1, 3000);
    wr_mux_goaway(h->srv.ms);
    assert_int_equal(wr_mux_usable(h->srv.ms), 0);
    RUN_UNTIL(h, !wr_mux_usable(h->cli.ms), 3000);
    scan(h->sa->tap, WR_MUX_GOAWAY, 0, &sn);
    assert_int_equal(sn.n, 1);
    assert_int_equal(sn.last.value, 1);
    assert_int_equal(sn.last.status, WR_MUX_GOAWAY_SHUTDOWN);
    RUN_UNTIL(h, all_closed(h), 3000);              /* the open stream finishes normally */
    CHECK_MEM("finished", evbuffer_pullup(c->got, -1), evbuffer_get_length(c->got), "answer after your FIN", 21);
    assert_int_equal(c->closed_clean, 1);
    assert_int_equal(h->cli.closes + h->srv.closes, 0);
    h_free(h);
}

/* The carrier's EOF (or reset) ends the session: on_close, every stream reset, pending opens
 * fail; no GOAWAY (it is not a protocol error). */
static void test_carrier_end(void **state)
{
    /* a session pair: the client's carrier sees EOF */
    struct harness *h = h_new(PAIR, 1, 1);
    struct wr_endpoint dn = behave(B_NOREPLY), dh = behave(B_HOLD);
    struct tst *a = cli_open(h, NULL, "echo me", 0, 0, 0);
    struct tst *b = cli_open(h, &dh, "hold me", 0, 0, 0);
    struct tst *p = cli_open(h, &dn, NULL, 0, 0, 0);
    RUN_UNTIL(h, a->c && b->c && h->n_ss == 3 && evbuffer_get_length(a->got) == 7, 3000);
    h->ca->eof_seen = 1;                            /* the carrier's EOF, as the client's end sees it */
    wr_conn_emit(&h->ca->base, WR_EV_EOF, 0);
    RUN_UNTIL(h, h->cli.closes == 1, 3000);
    CHECK_CONTAINS("client", h->cli.why, "closed");
    RUN_UNTIL(h, a->error && b->error && p->answered, 3000);
    assert_int_equal(a->err, ECONNRESET);
    assert_int_equal(b->err, ECONNRESET);
    assert_null(p->c);
    assert_int_equal(p->rep, WR_REP_FAILURE);
    assert_int_equal(wr_mux_usable(h->cli.ms), 0);
    assert_int_equal(scan(h->ca->tap, WR_MUX_GOAWAY, -1, NULL), 0);
    /* the client frees its session: the carrier is reset, and so the server's session ends */
    struct wr_mux_session *ms = h->cli.ms;
    h->cli.ms = NULL;
    wr_mux_session_free(ms);
    assert_int_equal(h->ca->closed, 1);
    assert_int_equal(h->ca->close_abort, 1);
    RUN_UNTIL(h, h->srv.closes == 1, 3000);
    CHECK_CONTAINS("server", h->srv.why, "failed");
    RUN_UNTIL(h, h->ss[0]->error + h->ss[1]->error + h->ss[2]->error == 3, 3000);
    h_free(h);

    /* a server session whose raw client shuts down: both ways of freeing it */
    for (int free_in_close = 0; free_in_close <= 1; free_in_close++) {
        h = h_new(RAW_CLIENT, 1, 0);
        h->srv.free_in_close = free_in_close;
        h->srv_default = B_HOLD;
        raw_open_hold(h, 1);
        raw_open_hold(h, 3);
        raw_frame(h, WR_MUX_DATA, 3, "partial", 7);
        wr_conn_shutdown_write(&h->raw->base);
        RUN_UNTIL(h, h->srv.closes == 1, 3000);
        CHECK_CONTAINS("server", h->srv.why, "closed");
        RUN_UNTIL(h, h->ss[0]->error && h->ss[1]->error, 3000);
        assert_int_equal(h->ss[0]->eof + h->ss[1]->eof, 0);
        assert_int_equal(scan(h->raw->base.in, WR_MUX_GOAWAY, -1, NULL), 0);
        h_free(h);
    }
}

/* wr_mux_session_free with streams open and opens pending: owners get WR_EV_ERROR, pending
 * opens fail, at once; nothing leaks (ASan). */
static void test_session_free(void **state)
{
    struct harness *h = h_new(PAIR, 1, 1);
    struct wr_endpoint dn = behave(B_NOREPLY), dh = behave(B_HOLD);
    struct tst *a = cli_open(h, NULL, NULL, 4u << 20, 3, 1);    /* mid-transfer */
    a->keep = 0;
    struct tst *b = cli_open(h, &dh, "held", 0, 0, 0);
    struct tst *p = cli_open(h, &dn, NULL, 0, 0, 0);
    RUN_UNTIL(h, a->c && b->c && h->n_ss == 3 && a->n_in > 1000, 5000);
    assert_int_equal(p->answered, 0);
    /* a stream closed by its owner, its RST still queued */
    struct tst *r = cli_open(h, NULL, "x", 0, 0, 0);
    RUN_UNTIL(h, r->c, 3000);
    struct wr_conn *rc = r->c;
    r->c = NULL;
    wr_conn_close(rc, 1);
    /* and an open just queued */
    struct tst *q = cli_open(h, NULL, "y", 0, 0, 0);

    struct wr_mux_session *ms = h->cli.ms;
    h->cli.ms = NULL;
    wr_mux_session_free(ms);
    assert_int_equal(a->error, 1);
    assert_int_equal(b->error, 1);
    assert_int_equal(p->answered, 1);
    assert_int_equal(p->rep, WR_REP_FAILURE);
    assert_int_equal(q->answered, 1);
    assert_int_equal(q->rep, WR_REP_FAILURE);
    assert_int_equal(h->cli.closes, 0);             /* freeing is not a close by the peer */
    assert_int_equal(h->ca->closed, 1);
    /* the server's session ends with its carrier; it frees itself in on_close, with a held
     * stream, an unanswered one and one mid-echo */
    h->srv.free_in_close = 1;
    RUN_UNTIL(h, h->srv.closes == 1 && !h->srv.ms, 3000);
    for (int i = 0; i < h->n_ss; i++)
        if (h->ss[i]->c)
            fail_msg("server stream %d still open after its session was freed", i);
    h_free(h);

    /* the server's session freed by its owner, while the client's lives */
    h = h_new(PAIR, 1, 0);
    a = cli_open(h, &dh, "held", 0, 0, 0);
    p = cli_open(h, &dn, NULL, 0, 0, 0);
    RUN_UNTIL(h, a->c && h->n_ss == 2, 3000);
    ms = h->srv.ms;
    h->srv.ms = NULL;
    wr_mux_session_free(ms);
    assert_int_equal(h->ss[0]->error, 1);
    assert_int_equal(h->ss[1]->error, 1);
    RUN_UNTIL(h, h->cli.closes == 1 && a->error && p->answered, 3000);
    assert_int_equal(p->rep, WR_REP_FAILURE);
    h_free(h);
}

/* Bytes already in the carrier when the session starts (an OPEN that came with the transport's
 * handshake) are parsed at once: on_open runs inside wr_mux_session_new. A protocol error in
 * them ends the session before wr_mux_session_new returns. */
static void test_early_bytes(void **state)
{
    struct harness *h = h_new(RAW_CLIENT_LATE, 1, 0);
    struct wr_endpoint d = behave(B_ECHO);
    uint8_t addr[WR_SOCKS_ADDR_MAX];
    size_t alen = wr_endpoint_to_socks(&d, addr);
    struct evbuffer *w = h->sa->base.in;
    wr_mux_put_header(w, WR_MUX_OPEN, alen, 1);
    evbuffer_add(w, addr, alen);
    wr_mux_put_header(w, WR_MUX_DATA, 5, 1);
    evbuffer_add(w, "early", 5);
    wr_mux_put_ping(w, WR_MUX_PING, (const uint8_t *)"01234567");
    wr_mux_put_header(w, WR_MUX_DATA, 4, 1);        /* half a frame: it waits for the rest */
    evbuffer_add(w, "mo", 2);
    h->srv.ms = wr_mux_session_new(&h->ctx, &h->sa->base, WR_MUX_SERVER, &srv_hooks, &h->srv, "srv");
    assert_non_null(h->srv.ms);
    assert_int_equal(h->n_ss, 1);                   /* on_open ran inside wr_mux_session_new */
    assert_int_equal(h->ss[0]->behave, B_ECHO);
    assert_int_equal(evbuffer_get_length(h->sa->base.in), 10);
    raw_send_str(h, "re");
    raw_frame(h, WR_MUX_FIN, 1, NULL, 0);
    RUN_UNTIL(h, h->ss[0]->closed_clean, 3000);
    CHECK_MEM("early", evbuffer_pullup(h->ss[0]->got, -1), evbuffer_get_length(h->ss[0]->got), "earlymore", 9);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_FIN, 1, NULL) == 1, 3000);
    struct seen sn;
    assert_int_equal(scan(h->raw->base.in, WR_MUX_REPLY, 1, &sn), 1);
    assert_int_equal(sn.last.status, 0);
    scan(h->raw->base.in, WR_MUX_DATA, 1, &sn);
    assert_int_equal(sn.payload_bytes, 9);
    assert_int_equal(scan(h->raw->base.in, WR_MUX_PONG, 0, &sn), 1);
    CHECK_MEM("PONG", sn.payload, sn.last.len, "01234567", 8);
    assert_int_equal(h->srv.closes, 0);
    h_free(h);

    /* a protocol error among the early bytes */
    h = h_new(RAW_CLIENT_LATE, 1, 0);
    wr_mux_put_header(h->sa->base.in, 0x42, 0, 0);
    h->srv.ms = wr_mux_session_new(&h->ctx, &h->sa->base, WR_MUX_SERVER, &srv_hooks, &h->srv, "srv");
    assert_non_null(h->srv.ms);
    assert_int_equal(h->srv.closes, 1);             /* before wr_mux_session_new returned */
    CHECK_CONTAINS("early error", h->srv.why, "reserved");
    assert_int_equal(wr_mux_usable(h->srv.ms), 0);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_GOAWAY, 0, NULL) == 1, 3000);
    h_free(h);
}

/* ---------------------------------------------------------------- bugs found */

/* The server answers and resets at once (its target connected and failed right away): REPLY 0
 * and RST arrive in one read. The opener must learn of the reset: either the open fails, or the
 * stream it gets reports WR_EV_ERROR. The same with DATA and FIN after the REPLY works. */
static void test_reply_then_rst_in_one_read(void **state)
{
    struct harness *h = h_new(RAW_SERVER, 4096, 0);
    struct tst *a = cli_open(h, NULL, NULL, 0, 0, 0);
    struct tst *b = cli_open(h, NULL, NULL, 0, 0, 0);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_OPEN, 3, NULL) == 1, 3000);
    struct evbuffer *w = evbuffer_new();
    wr_mux_put_reply(w, 1, 0);
    wr_mux_put_header(w, WR_MUX_DATA, 5, 1);
    evbuffer_add(w, "early", 5);
    wr_mux_put_fin(w, 1);
    wr_mux_put_reply(w, 3, 0);
    wr_mux_put_rst(w, 3, WR_MUX_RST_ERROR);
    wr_conn_write(&h->raw->base, w);
    evbuffer_free(w);
    RUN_UNTIL(h, a->answered && b->answered && a->eof, 3000);
    run_for(h, 30);
    CHECK_MEM("REPLY+DATA+FIN", evbuffer_pullup(a->got, -1), evbuffer_get_length(a->got), "early", 5);
    assert_int_equal(a->error, 0);
    int told = !b->c || b->error;
    int zombie_backlog = -1;
    if (b->c) {
        write_str(b->c, "into the void");
        zombie_backlog = (int)wr_conn_backlog(b->c);
    }
    assert_int_equal(h->cli.closes, 0);
    h_free(h);
    KNOWN_BUG(told, "REPLY 0 and RST in one read: the opener gets a ready stream and never a "
              "WR_EV_ERROR (a write to it is dropped: backlog %d). session.c:533-538: when the open "
              "is pending, on_kick handles READY and drops the ERROR bit posted with it (only "
              "READ/EOF are re-posted)", zombie_backlog);
}

/* RST aborts both directions and discards buffered data (spec §5): no DATA may go out on a
 * stream after its RST was received, even with credit returned just before the RST. */
static void test_no_data_after_rst(void **state)
{
    struct harness *h = h_new(RAW_SERVER, 4096, 0);
    struct tst *c = cli_open(h, NULL, NULL, WR_MUX_INIT_WINDOW + 100000, 11, 0);
    c->keep = 0;
    raw_u8(h, WR_MUX_REPLY, 1, 0);
    RUN_UNTIL(h, scan(h->raw->base.in, WR_MUX_DATA, 1, NULL) > 0 && raw_sent(h), 3000);
    struct seen sn;
    RUN_UNTIL(h, (scan(h->raw->base.in, WR_MUX_DATA, 1, &sn), sn.payload_bytes == WR_MUX_INIT_WINDOW), 5000);
    run_for(h, 10);
    scan(h->raw->base.in, WR_MUX_DATA, 1, &sn);
    assert_int_equal(sn.payload_bytes, WR_MUX_INIT_WINDOW);   /* credit stops the sender */
    /* WINDOW then RST, in one read */
    struct evbuffer *w = evbuffer_new();
    wr_mux_put_window(w, 1, 65536);
    wr_mux_put_rst(w, 1, WR_MUX_RST_ERROR);
    wr_conn_write(&h->raw->base, w);
    evbuffer_free(w);
    RUN_UNTIL(h, c->error, 3000);
    run_for(h, 20);
    scan(h->raw->base.in, WR_MUX_DATA, 1, &sn);
    size_t after = sn.payload_bytes - WR_MUX_INIT_WINDOW;
    assert_int_equal(h->cli.closes, 0);
    h_free(h);
    KNOWN_BUG(after == 0, "%zu DATA bytes sent on stream 1 after its RST was received. "
              "session.c:395-399 sets s->reset but leaves the stream on the send queue with its "
              "`out`; on_kick (474-503) sends its DATA before delivering the ERROR", after);
}

/* A peer that sends PINGs and never reads: the PONGs pile up. Spec §8: past 1 MiB of control
 * frames the session ends. */
static void test_control_queue_bound(void **state)
{
    struct harness *h = h_new(RAW_CLIENT, 65536, 0);
    wr_conn_pause_read(&h->raw->base, 1);           /* the raw client stops reading */
    struct evbuffer *w = evbuffer_new();
    const uint8_t op[8] = "pingpong";
    for (int i = 0; i < 100000; i++)                /* 1.6 MB of PINGs, 1.6 MB of PONGs */
        wr_mux_put_ping(w, WR_MUX_PING, op);
    wr_conn_write(&h->raw->base, w);
    evbuffer_free(w);
    RUN_UNTIL(h, raw_sent(h) || h->srv.closes, 10000);
    run_for(h, 10);
    size_t queued = wr_conn_backlog(&h->sa->base);
    int closed = h->srv.closes;
    h_free(h);
    KNOWN_BUG(closed, "the session queued %zu bytes of PONGs for a peer that does not read and "
              "did not end. session.c:469-471 moves all of ctl into the carrier at every kick, so "
              "the CTL_MAX check at 508 (on what is left in ctl) never fires; the carrier's "
              "backlog grows without bound", queued);
}

/* Spec §5: a frame for an id never opened is a protocol error; an even id was never opened
 * (version 1: only the client opens, with odd ids), even when it is below the last id. */
static void test_even_id_never_opened(void **state)
{
    struct harness *h = h_new(RAW_SERVER, 1, 0);
    struct tst *c1 = cli_open(h, NULL, NULL, 0, 0, 0);
    struct tst *c3 = cli_open(h, NULL, NULL, 0, 0, 0);
    raw_u8(h, WR_MUX_REPLY, 1, 0);
    raw_u8(h, WR_MUX_REPLY, 3, 0);
    RUN_UNTIL(h, c1->c && c3->c, 3000);
    raw_u32(h, WR_MUX_WINDOW, 2, 1000);
    run_for(h, 20);
    int closed = h->cli.closes;
    h_free(h);
    KNOWN_BUG(closed, "WINDOW on stream 2 (never opened: even) was ignored. session.c:309 takes "
              "every id <= last_id as an ended stream; only odd ids can have been opened");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_roundtrip),
        cmocka_unit_test(test_frame_rules),
        cmocka_unit_test(test_open_echo),
        cmocka_unit_test(test_open_destination),
        cmocka_unit_test(test_open_failure_status),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_rst),
        cmocka_unit_test(test_cancel_pending),
        cmocka_unit_test(test_many_streams),
        cmocka_unit_test(test_slow_reader),
        cmocka_unit_test(test_window_growth),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_credit_violation),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_ended_id_ignored),
        cmocka_unit_test(test_goaway),
        cmocka_unit_test(test_carrier_end),
        cmocka_unit_test(test_session_free),
        cmocka_unit_test(test_early_bytes),
        cmocka_unit_test(test_reply_then_rst_in_one_read),
        cmocka_unit_test(test_no_data_after_rst),
        cmocka_unit_test(test_control_queue_bound),
        cmocka_unit_test(test_even_id_never_opened),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
