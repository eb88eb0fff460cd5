/* codec.c: the codec adapter and the client-side codec dial; see codec.h. */
#include "core/codec.h"

#include <errno.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"

struct codec_conn {
    struct wr_conn base;
    struct wr_ctx *ctx;
    struct wr_conn *lower;
    const struct wr_codec_ops *ops;
    void *st;
    struct evbuffer *pending;           /* plaintext written before the handshake finished */
    struct evbuffer *scratch;           /* wire bytes on their way down */
    struct event *drain_timer;          /* probe resistance: fail after a delay */
    struct event *deadline;             /* server: the handshake must finish by then */
    struct event *pace_timer;           /* pacing: the pause after a piece */
    struct event *flush_timer;          /* opening bytes held for the first plaintext */
    struct event *fail_event;           /* reports an encode failure from the loop */
    struct timeval born;
    uint8_t probe_resistant, draining, shut_wanted, eof, pausing, above_lwm;
};

static void send_down(struct codec_conn *cc)
{
    if (evbuffer_get_length(cc->scratch))
        wr_conn_write(cc->lower, cc->scratch);
}

static size_t held(const struct codec_conn *cc)
{
    return cc->ops->queued ? cc->ops->queued(cc->st) : 0;
}

static void on_pace(evutil_socket_t fd, short what, void *arg);

/* Releases held-back pieces until one asks for a pause; a half-close waits for the last. */
static void pace(struct codec_conn *cc)
{
    while (cc->ops->next_piece && !cc->pausing) {
        uint32_t us = 0;
        if (!cc->ops->next_piece(cc->st, cc->scratch, &us))
            break;
        send_down(cc);
        if (us) {
            if (!cc->pace_timer)
                cc->pace_timer = evtimer_new(cc->ctx->base, on_pace, cc);
            if (!cc->pace_timer)
                continue;       /* no timer: send unpaced rather than stall */
            struct timeval tv = { us / 1000000, us % 1000000 };
            evtimer_add(cc->pace_timer, &tv);
            cc->pausing = 1;
        }
    }
    if (cc->shut_wanted && cc->base.ready && held(cc) == 0) {
        cc->shut_wanted = 0;
        wr_conn_shutdown_write(cc->lower);
    }
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
    struct codec_conn *cc = arg;
    cc->pausing = 0;
    pace(cc);
    if (cc->above_lwm && wr_conn_backlog(&cc->base) <= WR_LWM) {
        cc->above_lwm = 0;
        wr_conn_emit(&cc->base, WR_EV_DRAINED, 0);
    }
}

static void on_fail(evutil_socket_t fd, short what, void *arg)
{
    struct codec_conn *cc = arg;
    wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO);
}

/* An encode failed inside a caller's write or shutdown: report it once the caller is done. */
static void fail_later(struct codec_conn *cc)
{
    if (!cc->fail_event)
        cc->fail_event = evtimer_new(cc->ctx->base, on_fail, cc);
    if (cc->fail_event)
        event_active(cc->fail_event, EV_TIMEOUT, 0);
}

/* Writes the held opening bytes if they are still held. 0, or -1 on error. */
static int flush_opening(struct codec_conn *cc)
{
    if (!cc->flush_timer)
        return 0;
    event_free(cc->flush_timer);
    cc->flush_timer = NULL;
    if (cc->ops->flush(cc->st, cc->scratch) != WR_CODEC_OK)
        return -1;
    send_down(cc);
    return 0;
}

static void on_flush_due(evutil_socket_t fd, short what, void *arg)
{
    struct codec_conn *cc = arg;
    if (flush_opening(cc) != 0)
        wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO);
}

/* Encodes plaintext (ready only) and sends or holds the result. */
static int encode_out(struct codec_conn *cc, struct evbuffer *src)
{
    if (cc->flush_timer && evbuffer_get_length(src)) {
        event_free(cc->flush_timer);    /* encode() sends the opening with this plaintext */
        cc->flush_timer = NULL;
    }
    if (evbuffer_get_length(src) && cc->ops->encode(cc->st, src, cc->scratch) != WR_CODEC_OK)
        return -1;
    send_down(cc);
    pace(cc);
    if (held(cc) && wr_conn_backlog(&cc->base) > WR_LWM)
        cc->above_lwm = 1;
    return 0;
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct codec_conn *cc = arg;
    wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO);
}

static void start_draining(struct codec_conn *cc)
{
    uint32_t ms;
    cc->draining = 1;
    evbuffer_drain(cc->lower->in, evbuffer_get_length(cc->lower->in));
    if (cc->ops->close_after_ms) {
        struct timeval now, age;
        event_base_gettimeofday_cached(cc->ctx->base, &now);
        evutil_timersub(&now, &cc->born, &age);
        int64_t elapsed = (int64_t)age.tv_sec * 1000 + age.tv_usec / 1000;
        int64_t total = cc->ops->close_after_ms(cc->st);
        ms = total > elapsed ? (uint32_t)(total - elapsed) : 0;
    } else {
        uint32_t span = cc->ops->drain_max_ms - cc->ops->drain_min_ms;
        ms = cc->ops->drain_min_ms + (span ? randombytes_uniform(span + 1) : 0);
    }
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    cc->drain_timer = evtimer_new(cc->ctx->base, on_drain_timeout, cc);
    if (cc->drain_timer)
        evtimer_add(cc->drain_timer, &tv);
    /* Without a timer the connection ends when the prober leaves. */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct codec_conn *cc = arg;
    if (!cc->base.ready && !cc->draining) {
        wr_debug("%s c%u: handshake not finished in time; draining", cc->ops->name, cc->base.id);
        start_draining(cc);
    }
}

static void lower_cb(struct wr_conn *lower, unsigned ev, int err, void *arg)
{
    struct codec_conn *cc = arg;
    unsigned up = 0;
    if (cc->draining) {
        evbuffer_drain(lower->in, evbuffer_get_length(lower->in));
        if (ev & (WR_EV_ERROR | WR_EV_EOF))
            wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO); /* the prober left: close now */
        return;
    }
    if (ev & WR_EV_ERROR) {
        wr_conn_emit(&cc->base, WR_EV_ERROR, err);
        return;
    }
    if (ev & (WR_EV_READ | WR_EV_EOF)) {
        int was_ready = cc->base.ready;
        size_t before = evbuffer_get_length(cc->base.in);
        int r = cc->ops->decode(cc->st, lower->in, cc->base.in, cc->scratch);
        send_down(cc);
        if (r != WR_CODEC_OK) {
            if (cc->probe_resistant && !was_ready) {
                start_draining(cc);
                return;
            }
            wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO);
            return;
        }
        if (!was_ready && cc->ops->is_ready(cc->st)) {
            cc->base.ready = 1;
            up |= WR_EV_READY;
            if (cc->deadline) {
                event_free(cc->deadline);
                cc->deadline = NULL;
            }
            if (encode_out(cc, cc->pending) != 0) {
                wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO);
                return;
            }
            if (cc->shut_wanted && held(cc) == 0) {
                cc->shut_wanted = 0;
                wr_conn_shutdown_write(cc->lower);
            }
        }
        if (!cc->base.ready && evbuffer_get_length(lower->in) > cc->ops->handshake_max) {
            if (cc->probe_resistant) {
                wr_debug("%s c%u: handshake too long; draining", cc->ops->name, cc->base.id);
                start_draining(cc);
                return;
            }
            wr_conn_emit(&cc->base, WR_EV_ERROR, EPROTO);
            return;
        }
        if (evbuffer_get_length(cc->base.in) > before)
            up |= WR_EV_READ;
        if (ev & WR_EV_EOF) {
            if (!cc->base.ready) {
                wr_conn_emit(&cc->base, WR_EV_ERROR, ECONNRESET);
                return;
            }
            cc->eof = 1;
            cc->base.eof_received = 1;
            up |= WR_EV_EOF;
        }
    }
    if (ev & WR_EV_DRAINED)
        up |= WR_EV_DRAINED;
    if (up)
        wr_conn_emit(&cc->base, up, 0);
}

static void cc_write(struct wr_conn *c, struct evbuffer *src)
{
    struct codec_conn *cc = (struct codec_conn *)c;
    if (!c->ready || cc->draining) {
        evbuffer_add_buffer(cc->pending, src);
        return;
    }
    if (encode_out(cc, src) != 0) {
        evbuffer_drain(src, evbuffer_get_length(src));
        fail_later(cc);
    }
}

static void cc_shutdown_write(struct wr_conn *c)
{
    struct codec_conn *cc = (struct codec_conn *)c;
    if (flush_opening(cc) != 0) {
        fail_later(cc);
        return;
    }
    if (!c->ready || held(cc))
        cc->shut_wanted = 1;
    else
        wr_conn_shutdown_write(cc->lower);
}

static void cc_set_read_paused(struct wr_conn *c, int paused)
{
    struct codec_conn *cc = (struct codec_conn *)c;
    /* A handshake must be able to finish; the probe drain must keep reading. */
    if (c->ready && !cc->draining)
        wr_conn_pause_read(cc->lower, paused);
}

static size_t cc_backlog(const struct wr_conn *c)
{
    const struct codec_conn *cc = (const struct codec_conn *)c;
    return evbuffer_get_length(cc->pending) + held(cc) + wr_conn_backlog(cc->lower);
}

static void cc_close(struct wr_conn *c, int abort)
{
    struct codec_conn *cc = (struct codec_conn *)c;
    wr_conn_close(cc->lower, abort);
    if (cc->drain_timer)
        event_free(cc->drain_timer);
    if (cc->deadline)
        event_free(cc->deadline);
    if (cc->pace_timer)
        event_free(cc->pace_timer);
    if (cc->flush_timer)
        event_free(cc->flush_timer);
    if (cc->fail_event)
        event_free(cc->fail_event);
    cc->ops->free(cc->st);
    evbuffer_free(cc->pending);
    evbuffer_free(cc->scratch);
    evbuffer_free(cc->base.in);
    free(cc);
}

void *wr_codec_conn_state(struct wr_conn *c)
{
    return ((struct codec_conn *)c)->st;
}

static const struct wr_endpoint *cc_destination(const struct wr_conn *c)
{
    const struct codec_conn *cc = (const struct codec_conn *)c;
    return cc->ops->destination && c->ready ? cc->ops->destination(cc->st) : NULL;
}

static const struct wr_conn_ops codec_conn_ops = {
    .kind = "codec",
    .write = cc_write,
    .shutdown_write = cc_shutdown_write,
    .set_read_paused = cc_set_read_paused,
    .write_backlog = cc_backlog,
    .close = cc_close,
    .destination = cc_destination,
};

struct wr_conn *wr_codec_conn_new(struct wr_ctx *ctx, struct wr_conn *lower,
                                  const struct wr_codec_ops *ops, void *st, int probe_resistant)
{
    struct codec_conn *cc = calloc(1, sizeof *cc);
    struct evbuffer *in = evbuffer_new();
    if (cc) {
        cc->pending = evbuffer_new();
        cc->scratch = evbuffer_new();
    }
    if (!cc || !in || !cc->pending || !cc->scratch) {
        if (cc) {
            if (cc->pending) evbuffer_free(cc->pending);
            if (cc->scratch) evbuffer_free(cc->scratch);
        }
        if (in) evbuffer_free(in);
        free(cc);
        ops->free(st);
        wr_conn_close(lower, 1);
        return NULL;
    }
    wr_conn_init(&cc->base, &codec_conn_ops, in, lower->id);
    cc->ctx = ctx;
    cc->lower = lower;
    cc->ops = ops;
    cc->st = st;
    cc->probe_resistant = (uint8_t)probe_resistant;
    cc->base.ready = (uint8_t)ops->is_ready(st);
    event_base_gettimeofday_cached(ctx->base, &cc->born);
    if (probe_resistant && !cc->base.ready) {
        struct timeval tv = { ctx->handshake_timeout_s, 0 };
        cc->deadline = evtimer_new(ctx->base, on_deadline, cc);
        if (!cc->deadline) {
            cc_close(&cc->base, 1);
            return NULL;
        }
        evtimer_add(cc->deadline, &tv);
        cc->base.keeps_deadline = 1;
    }
    wr_conn_set_cb(lower, lower_cb, cc);
    if (ops->start(st, cc->scratch) != WR_CODEC_OK) {
        cc_close(&cc->base, 1);
        return NULL;
    }
    send_down(cc);
    if (ops->flush) {
        struct timeval tv = { ops->flush_after_ms / 1000, (ops->flush_after_ms % 1000) * 1000 };
        cc->flush_timer = evtimer_new(ctx->base, on_flush_due, cc);
        if (!cc->flush_timer || evtimer_add(cc->flush_timer, &tv) != 0) {
            cc_close(&cc->base, 1);
            return NULL;
        }
    }
    /* The lower connection may already hold bytes (sent right behind a proxy's reply). */
    if (evbuffer_get_length(lower->in))
        lower_cb(lower, WR_EV_READ, 0, cc);
    return &cc->base;
}

/* --- client side ------------------------------------------------------------------------ */

struct codec_dial {
    struct wr_pending pending;
    struct wr_ctx *ctx;
    struct wr_pending *lower_dial;
    struct wr_conn *conn;               /* wrapped, handshake in progress */
    struct event *timer;
    const struct wr_codec_ops *ops;
    void *st;                           /* until conn owns it */
    wr_dial_cb *cb;
    void *arg;
};

static void cd_free(struct codec_dial *d)
{
    wr_pending_cancel(d->lower_dial);
    if (d->conn)
        wr_conn_close(d->conn, 1);
    else if (d->st)
        d->ops->free(d->st);
    if (d->timer)
        event_free(d->timer);
    free(d);
}

static void cd_cancel(struct wr_pending *p)
{
    cd_free((struct codec_dial *)p);
}

static void cd_finish(struct codec_dial *d, uint8_t rep, const char *why)
{
    wr_dial_cb *cb = d->cb;
    void *arg = d->arg;
    struct wr_conn *c = rep == WR_REP_OK ? d->conn : NULL;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", why ? why : "");
    if (c) {
        wr_conn_set_cb(c, NULL, NULL);
        d->conn = NULL;
    }
    cd_free(d);
    cb(arg, c, rep, why ? msg : NULL);
}

static void cd_conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct codec_dial *d = arg;
    if (ev & WR_EV_READY) {
        cd_finish(d, WR_REP_OK, NULL);
        return;
    }
    if (ev & (WR_EV_ERROR | WR_EV_EOF)) {
        char why[200];
        const char *detail = d->ops->error ? d->ops->error(wr_codec_conn_state(c)) : NULL;
        snprintf(why, sizeof why, "%s handshake failed: %s", d->ops->name,
                 detail && *detail ? detail
                 : err == EPROTO ? "the server answered with something invalid"
                 : err ? strerror(err) : "the server closed the connection");
        cd_finish(d, WR_REP_FAILURE, why);
    }
}

static void cd_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct codec_dial *d = arg;
    char why[120];
    snprintf(why, sizeof why, "%s handshake timed out", d->ops->name);
    cd_finish(d, WR_REP_TTL_EXPIRED, why);
}

static void cd_lower(void *arg, struct wr_conn *lower, uint8_t rep, const char *why)
{
    struct codec_dial *d = arg;
    d->lower_dial = NULL;
    if (!lower) {
        cd_finish(d, rep, why);
        return;
    }
    void *st = d->st;
    d->st = NULL;
    d->conn = wr_codec_conn_new(d->ctx, lower, d->ops, st, 0);
    if (!d->conn) {
        cd_finish(d, WR_REP_FAILURE, "out of memory");
        return;
    }
    if (d->conn->ready) {
        cd_finish(d, WR_REP_OK, NULL);
        return;
    }
    wr_conn_set_cb(d->conn, cd_conn_cb, d);
    uint32_t ms = d->ops->dial_timeout_ms ? d->ops->dial_timeout_ms
                                          : (uint32_t)d->ctx->handshake_timeout_s * 1000;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    d->timer = evtimer_new(d->ctx->base, cd_timeout, d);
    if (d->timer)
        evtimer_add(d->timer, &tv);
}

struct wr_pending *wr_codec_dial(struct wr_ctx *ctx, const struct wr_endpoint *server,
                                 const struct wr_codec_ops *ops, void *st, wr_dial_cb *cb,
                                 void *arg)
{
    struct codec_dial *d = calloc(1, sizeof *d);
    if (!d) {
        ops->free(st);
        return NULL;
    }
    d->pending.cancel = cd_cancel;
    d->ctx = ctx;
    d->ops = ops;
    d->st = st;
    d->cb = cb;
    d->arg = arg;
    d->lower_dial = wr_dial(ctx, server, WR_DIAL_VIA_PROXY, cd_lower, d);
    if (!d->lower_dial) {
        cd_free(d);
        return NULL;
    }
    return &d->pending;
}
