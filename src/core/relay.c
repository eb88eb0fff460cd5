/* relay.c: symmetric pump between two wr_conns; see relay.h.
 *
 * Per direction (src -> dst): on READ, move src->in into dst; when dst's backlog passes WR_HWM,
 * pause src's reads until dst says DRAINED. On EOF from src, move what is left and
 * shutdown_write(dst). The relay ends cleanly when both directions have ended and both outputs
 * are flushed; any error resets both sides at once. The relay owns both conns and frees itself. */
#include "core/relay.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"

struct relay_side {
    struct wr_conn *c;
    uint8_t eof;          /* this side sent us EOF (and we forwarded it) */
    uint8_t paused;       /* we paused this side's reads because the other side is full */
};

struct wr_relay {
    struct wr_live live;
    struct wr_ctx *ctx;
    struct relay_side s[2];
    const char *label;
};

static void relay_free(struct wr_relay *r, int abort, const char *why, int err)
{
    if (wr_log_enabled(WR_LOG_INFO)) {
        struct wr_conn *a = r->s[0].c, *b = r->s[1].c;
        wr_info("%s c%u<->c%u closed: %s%s%s; a->b %llu bytes, b->a %llu bytes, %lld ms", r->label,
                a->id, b->id, why, err ? ": " : "", err ? strerror(err) : "",
                (unsigned long long)a->stats.bytes_in, (unsigned long long)b->stats.bytes_in,
                (long long)(wr_now_ms() - a->stats.opened_ms));
    }
    wr_live_del(r->ctx, &r->live);
    wr_conn_close(r->s[0].c, abort);
    wr_conn_close(r->s[1].c, abort);
    free(r);
}

static void relay_kill(struct wr_live *l)
{
    relay_free((struct wr_relay *)l, 1, "shutdown", 0);
}

/* Moves what src has into dst; pauses src when dst is full. */
static void pump(struct relay_side *src, struct relay_side *dst)
{
    size_t n = evbuffer_get_length(src->c->in);
    if (n) {
        src->c->stats.bytes_in += n;
        wr_conn_write(dst->c, src->c->in);
    }
    if (!src->eof && !src->paused && wr_conn_backlog(dst->c) > WR_HWM) {
        src->paused = 1;
        wr_conn_pause_read(src->c, 1);
    }
}

static int finished(const struct wr_relay *r)
{
    return r->s[0].eof && r->s[1].eof && wr_conn_backlog(r->s[0].c) == 0 &&
           wr_conn_backlog(r->s[1].c) == 0;
}

static void relay_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct wr_relay *r = arg;
    int i = (c == r->s[0].c) ? 0 : 1;
    struct relay_side *me = &r->s[i], *other = &r->s[!i];

    if (ev & WR_EV_ERROR) {
        relay_free(r, 1, i == 0 ? "error on a" : "error on b", err);
        return;
    }
    if (ev & WR_EV_READ)
        pump(me, other);
    if (ev & WR_EV_EOF) {
        pump(me, other);
        me->eof = 1;
        wr_conn_shutdown_write(other->c);
    }
    if (ev & WR_EV_DRAINED) {
        /* me's output drained: the other side may read again. */
        if (other->paused && wr_conn_backlog(c) <= WR_LWM) {
            other->paused = 0;
            wr_conn_pause_read(other->c, 0);
            /* Bytes may have arrived before the pause took effect. */
            if (evbuffer_get_length(other->c->in))
                pump(other, me);
        }
    }
    if (finished(r))
        relay_free(r, 0, "done", 0);
}

struct wr_relay *wr_relay_new(struct wr_ctx *ctx, struct wr_conn *a, struct wr_conn *b, const char *label)
{
    struct wr_relay *r = calloc(1, sizeof *r);
    if (!r) {
        wr_conn_close(a, 1);
        wr_conn_close(b, 1);
        return NULL;
    }
    r->ctx = ctx;
    r->label = label;
    r->s[0].c = a;
    r->s[1].c = b;
    wr_live_add(ctx, &r->live, relay_kill);
    wr_conn_set_cb(a, relay_cb, r);
    wr_conn_set_cb(b, relay_cb, r);
    wr_conn_pause_read(a, 0);
    wr_conn_pause_read(b, 0);
    /* A side may have ended before the relay existed (a request and its FIN in one go). */
    for (int i = 0; i < 2; i++) {
        pump(&r->s[i], &r->s[!i]);
        if (r->s[i].c->eof_received) {
            r->s[i].eof = 1;
            wr_conn_shutdown_write(r->s[!i].c);
        }
    }
    if (finished(r)) {
        relay_free(r, 0, "done", 0);
        return NULL;
    }
    return r;
}

/* A connection that only has to flush its last bytes and close. */
struct finishing {
    struct wr_live live;
    struct wr_ctx *ctx;
    struct wr_conn *c;
    struct event *timer;
};

#define FINISH_TIMEOUT_S 5

static void finishing_free(struct finishing *f, int abort)
{
    wr_live_del(f->ctx, &f->live);
    event_free(f->timer);
    wr_conn_close(f->c, abort);
    free(f);
}

static void finishing_kill(struct wr_live *l)
{
    finishing_free((struct finishing *)l, 1);
}

static void finishing_timeout(evutil_socket_t fd, short what, void *arg)
{
    finishing_free(arg, 1);
}

static void finishing_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct finishing *f = arg;
    if (ev & WR_EV_READ)
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
    if (ev & WR_EV_ERROR)
        finishing_free(f, 1);
    else if ((ev & (WR_EV_DRAINED | WR_EV_EOF)) && wr_conn_backlog(c) == 0)
        finishing_free(f, 0);
}

void wr_conn_finish(struct wr_ctx *ctx, struct wr_conn *c)
{
    struct finishing *f = calloc(1, sizeof *f);
    if (!f) {
        wr_conn_close(c, 1);
        return;
    }
    f->ctx = ctx;
    f->c = c;
    f->timer = evtimer_new(ctx->base, finishing_timeout, f);
    struct timeval tv = { FINISH_TIMEOUT_S, 0 };
    evtimer_add(f->timer, &tv);
    wr_live_add(ctx, &f->live, finishing_kill);
    wr_conn_set_cb(c, finishing_cb, f);
    evbuffer_drain(c->in, evbuffer_get_length(c->in));
    wr_conn_pause_read(c, 0);
    wr_conn_shutdown_write(c);
    if (wr_conn_backlog(c) == 0) {
        /* Already flushed and FIN sent: close now, gracefully. */
        finishing_free(f, 0);
    }
}
