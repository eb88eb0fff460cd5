/* session.c: a mux session and its streams; see session.h and docs/spec/mux.md.
 *
 * Reading: every carrier READ is parsed to the end; DATA goes into the stream's `in` within the
 * credit granted (more is a protocol error), so a stream whose reader stalls holds at most its
 * window and the carrier is never paused for it. Credit goes back as the stream's reader drains
 * `in` (an evbuffer callback), in WINDOW frames once half a window is consumed, doubling the
 * window when a whole one went in under two round trips.
 * Writing: stream writes and control frames only queue and schedule `kick`; the kick (a deferred
 * event, so no stream callback ever runs inside another stream's write) sends control frames
 * first, then DATA round-robin over the streams with data and credit, one chunk per turn, while
 * the carrier's backlog is under WR_HWM, and tells streams whose backlog fell that they drained.
 * Stream events (READ, EOF, DRAINED, ERROR, READY) are delivered from the kick too. */
#include "mux/session.h"

#include <errno.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/log.h"
#include "mux/frame.h"

#define BUCKETS 256
#define MAX_STREAMS 4096                /* per session, open at once */
#define CTL_MAX (1024 * 1024)           /* control bytes the peer leaves unread, at most */
#define PING_IDLE_S 15
#define DEAD_S 45

/* A FIFO of streams; a stream is on each queue at most once. */
enum { Q_SEND = 0, Q_EVENT = 1 };
struct queue {
    struct stream *head, *tail;
};

struct stream {
    struct wr_conn base;                /* base.in: received bytes */
    struct wr_mux_session *ms;
    struct stream *hnext;               /* hash chain */
    struct stream *next[2];             /* links in the session's queues (Q_SEND, Q_EVENT) */
    uint32_t sid;
    struct evbuffer *out;               /* written, not yet framed */
    uint32_t credit;                    /* bytes we may still send */
    uint32_t window;                    /* our receive window */
    uint32_t allowed;                   /* bytes the peer may still send us */
    uint32_t consumed;                  /* drained by our reader, not yet returned */
    struct timeval window_start;        /* when the current window's first byte was consumed */
    unsigned pending_ev;                /* events to deliver at the next kick */
    int pending_err;
    uint8_t queued[2], fin_wanted, fin_sent, fin_recv, reset, replied, paused, was_above;
    uint8_t owned;                      /* handed to an owner (else the session frees it) */
    /* client, until REPLY */
    struct wr_pending pending;
    wr_dial_cb *open_cb;
    void *open_arg;
};

struct wr_mux_session {
    struct wr_ctx *ctx;
    struct wr_conn *carrier;
    enum wr_mux_role role;
    const struct wr_mux_hooks *hooks;
    void *arg;
    const char *label;
    struct stream *table[BUCKETS];
    unsigned n_streams;
    uint32_t next_id;                   /* client: the id of the next OPEN */
    uint32_t last_id;                   /* highest id opened so far (either side) */
    struct evbuffer *ctl;               /* control frames, sent before any DATA */
    struct evbuffer *scratch;
    struct queue q[2];                  /* Q_SEND: data to send, round-robin; Q_EVENT: events */
    struct event *kick, *timer;
    struct timeval last_rx;
    uint8_t ping[8];
    struct timeval ping_sent;
    int64_t rtt_us;                     /* 0 until measured */
    uint8_t goaway_sent, goaway_recv, dead, in_kick, again;
    uint64_t opened, resets, rx, tx;    /* streams, resets sent, carrier bytes each way */
};

/* --- helpers ---------------------------------------------------------------------------- */

static struct stream *find(struct wr_mux_session *ms, uint32_t sid)
{
    for (struct stream *s = ms->table[sid % BUCKETS]; s; s = s->hnext)
        if (s->sid == sid)
            return s;
    return NULL;
}

static void q_push(struct wr_mux_session *ms, int which, struct stream *s)
{
    struct queue *q = &ms->q[which];
    if (s->queued[which])
        return;
    s->queued[which] = 1;
    s->next[which] = NULL;
    if (q->tail)
        q->tail->next[which] = s;
    else
        q->head = s;
    q->tail = s;
}

static struct stream *q_pop(struct wr_mux_session *ms, int which)
{
    struct queue *q = &ms->q[which];
    struct stream *s = q->head;
    if (s) {
        q->head = s->next[which];
        if (!q->head)
            q->tail = NULL;
        s->queued[which] = 0;
    }
    return s;
}

static void q_remove(struct wr_mux_session *ms, int which, struct stream *s)
{
    struct queue *q = &ms->q[which];
    struct stream **pp = &q->head, *prev = NULL;
    if (!s->queued[which])
        return;
    while (*pp != s)
        prev = *pp, pp = &(*pp)->next[which];
    *pp = s->next[which];
    if (q->tail == s)
        q->tail = prev;
    s->queued[which] = 0;
}

static void unlink_stream(struct wr_mux_session *ms, struct stream *s)
{
    struct stream **pp = &ms->table[s->sid % BUCKETS];
    while (*pp && *pp != s)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = s->hnext;
    q_remove(ms, Q_SEND, s);
    q_remove(ms, Q_EVENT, s);
    ms->n_streams--;
    s->ms = NULL;
}

static void schedule(struct wr_mux_session *ms)
{
    if (ms->in_kick)
        ms->again = 1;                  /* something queued by a callback: one more kick */
    else if (ms->kick)
        event_active(ms->kick, EV_WRITE, 0);
}

static void post(struct stream *s, unsigned ev, int err)
{
    struct wr_mux_session *ms = s->ms;
    s->pending_ev |= ev;
    if (ev & WR_EV_ERROR)
        s->pending_err = err;
    q_push(ms, Q_EVENT, s);
    schedule(ms);
}

static void want_send(struct stream *s)
{
    struct wr_mux_session *ms = s->ms;
    if (!ms || s->queued[Q_SEND])
        return;
    q_push(ms, Q_SEND, s);
    schedule(ms);
}

static void stream_destroy(struct stream *s)
{
    if (s->ms)
        unlink_stream(s->ms, s);
    evbuffer_free(s->out);
    evbuffer_free(s->base.in);
    free(s);
}

/* --- the stream as a wr_conn ------------------------------------------------------------ */

static void st_write(struct wr_conn *c, struct evbuffer *src)
{
    struct stream *s = (struct stream *)c;
    if (!s->ms || s->reset || s->fin_wanted) {
        evbuffer_drain(src, evbuffer_get_length(src));
        return;
    }
    evbuffer_add_buffer(s->out, src);
    if (evbuffer_get_length(s->out) > WR_LWM)
        s->was_above = 1;
    want_send(s);
}

static void st_shutdown_write(struct wr_conn *c)
{
    struct stream *s = (struct stream *)c;
    if (!s->ms || s->reset || s->fin_wanted)
        return;
    s->fin_wanted = 1;
    want_send(s);
}

static void st_set_read_paused(struct wr_conn *c, int paused)
{
    struct stream *s = (struct stream *)c;
    s->paused = (uint8_t)paused;
    if (!paused && s->ms && evbuffer_get_length(c->in))
        post(s, WR_EV_READ, 0);
}

static size_t st_backlog(const struct wr_conn *c)
{
    const struct stream *s = (const struct stream *)c;
    return evbuffer_get_length(s->out) + (s->fin_wanted && !s->fin_sent && !s->reset);
}

static void st_close(struct wr_conn *c, int abort)
{
    struct stream *s = (struct stream *)c;
    struct wr_mux_session *ms = s->ms;
    if (ms && !s->reset && !(s->fin_sent && s->fin_recv && !abort)) {
        /* Ended before both directions did: the peer must not wait for more. */
        wr_mux_put_rst(ms->ctl, s->sid, abort ? WR_MUX_RST_ERROR : WR_MUX_RST_CANCEL);
        ms->resets++;
        schedule(ms);
    }
    stream_destroy(s);
}

static const struct wr_conn_ops stream_ops = {
    .kind = "mux",
    .write = st_write,
    .shutdown_write = st_shutdown_write,
    .set_read_paused = st_set_read_paused,
    .write_backlog = st_backlog,
    .close = st_close,
};

/* The reader drained `in`: give the peer that much credit back (in batches). */
static void on_consumed(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct stream *s = arg;
    struct wr_mux_session *ms = s->ms;
    if (!info->n_deleted || !ms || s->reset || s->fin_recv)
        return;
    if (s->consumed == 0)
        event_base_gettimeofday_cached(ms->ctx->base, &s->window_start);
    s->consumed += (uint32_t)info->n_deleted;
    if (s->consumed < s->window / 2)
        return;
    uint32_t grant = s->consumed;
    /* A whole window used within two round trips: the window, not the path, is the limit. */
    if (ms->rtt_us > 0 && s->consumed >= s->window / 2 && s->window < WR_MUX_MAX_WINDOW) {
        struct timeval now, d;
        event_base_gettimeofday_cached(ms->ctx->base, &now);
        evutil_timersub(&now, &s->window_start, &d);
        int64_t us = (int64_t)d.tv_sec * 1000000 + d.tv_usec;
        if (us < 2 * ms->rtt_us) {
            grant += s->window;
            s->window *= 2;
        }
    }
    s->allowed += grant;
    s->consumed = 0;
    wr_mux_put_window(ms->ctl, s->sid, grant);
    schedule(ms);
}

static struct stream *stream_new(struct wr_mux_session *ms, uint32_t sid)
{
    struct stream *s = calloc(1, sizeof *s);
    struct evbuffer *in = evbuffer_new();
    if (!s || !in || !(s->out = evbuffer_new())) {
        free(s);
        if (in)
            evbuffer_free(in);
        return NULL;
    }
    wr_conn_init(&s->base, &stream_ops, in, wr_ctx_next_id(ms->ctx));
    s->ms = ms;
    s->sid = sid;
    s->credit = WR_MUX_INIT_WINDOW;
    s->window = WR_MUX_INIT_WINDOW;
    s->allowed = WR_MUX_INIT_WINDOW;
    evbuffer_add_cb(in, on_consumed, s);
    s->hnext = ms->table[sid % BUCKETS];
    ms->table[sid % BUCKETS] = s;
    ms->n_streams++;
    if (sid > ms->last_id)
        ms->last_id = sid;
    return s;
}

/* --- the session ------------------------------------------------------------------------ */

static void die(struct wr_mux_session *ms, const char *why, int protocol_error)
{
    if (ms->dead)
        return;
    ms->dead = 1;
    if (protocol_error) {
        wr_info("%s: mux session closed: %s", ms->label, why);
        wr_mux_put_goaway(ms->ctl, ms->last_id, WR_MUX_GOAWAY_PROTOCOL);
        wr_conn_write(ms->carrier, ms->ctl);
    }
    /* Every stream learns of it at the next kick; the owner frees the session. */
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct stream *s = ms->table[i]; s; s = s->hnext) {
            s->reset = 1;
            post(s, WR_EV_ERROR, ECONNRESET);
        }
    if (ms->hooks->on_close)
        ms->hooks->on_close(ms->arg, ms, why);
}

static int handle_frame(struct wr_mux_session *ms, const struct wr_mux_frame *f, const char **why)
{
    struct stream *s = f->sid ? find(ms, f->sid) : NULL;
    if (f->sid && !s && f->type != WR_MUX_OPEN) {
        if (f->sid <= ms->last_id && (f->sid & 1))
            return 0;                   /* a stream that ended: frames may cross its RST */
        *why = "frame for a stream never opened";
        return -1;
    }
    switch (f->type) {
    case WR_MUX_OPEN: {
        if (ms->role != WR_MUX_SERVER || !(f->sid & 1) || f->sid != ms->last_id + 2 - (ms->last_id == 0)) {
            *why = ms->role != WR_MUX_SERVER ? "the server opened a stream"
                                             : "stream id out of order or reused";
            return -1;
        }
        if (ms->goaway_sent) {
            *why = "stream opened after GOAWAY";
            return -1;
        }
        struct wr_endpoint dst, *dp = NULL;
        size_t used;
        if (f->len && (wr_endpoint_from_socks(f->payload, f->len, &used, &dst) != 1 || used != f->len)) {
            *why = "bad destination in OPEN";
            return -1;
        }
        if (f->len)
            dp = &dst;
        s = stream_new(ms, f->sid);
        if (!s) {
            *why = "out of memory";
            return -1;
        }
        ms->opened++;
        if (ms->n_streams > MAX_STREAMS) {
            wr_mux_put_reply(ms->ctl, s->sid, WR_REP_FAILURE);
            stream_destroy(s);
            schedule(ms);
            return 0;
        }
        s->owned = 1;
        s->base.ready = 0;
        ms->hooks->on_open(ms->arg, &s->base, dp);
        return 0;
    }
    case WR_MUX_DATA:
        if (s->fin_recv || s->reset)
            return 0;
        if (f->len > s->allowed) {
            *why = "more data than the credit allows";
            return -1;
        }
        s->allowed -= (uint32_t)f->len;
        if (f->len) {
            evbuffer_add(s->base.in, f->payload, f->len);
            if (!s->paused)
                post(s, WR_EV_READ, 0);
        }
        return 0;
    case WR_MUX_REPLY:
        if (ms->role != WR_MUX_CLIENT || s->replied) {
            *why = "unexpected REPLY";
            return -1;
        }
        s->replied = 1;
        if (f->status == 0) {
            s->base.ready = 1;
            post(s, WR_EV_READY, 0);
        } else {
            s->reset = 1;
            post(s, WR_EV_ERROR, f->status);
        }
        return 0;
    case WR_MUX_WINDOW:
        if ((uint64_t)s->credit + f->value > 0xFFFFFFFFu) {
            *why = "credit overflow";
            return -1;
        }
        s->credit += f->value;
        if (!s->reset && (evbuffer_get_length(s->out) || (s->fin_wanted && !s->fin_sent)))
            want_send(s);
        return 0;
    case WR_MUX_FIN:
        if (!s->fin_recv && !s->reset) {
            s->fin_recv = 1;
            s->base.eof_received = 1;
            post(s, WR_EV_EOF, 0);
        }
        return 0;
    case WR_MUX_RST:
        if (!s->reset) {
            s->reset = 1;
            evbuffer_drain(s->out, evbuffer_get_length(s->out));
            post(s, WR_EV_ERROR, ECONNRESET);
        }
        return 0;
    case WR_MUX_PING:
        wr_mux_put_ping(ms->ctl, WR_MUX_PONG, f->payload);
        schedule(ms);
        return 0;
    case WR_MUX_PONG:
        if (!memcmp(f->payload, ms->ping, 8) && ms->ping_sent.tv_sec) {
            struct timeval now, d;
            event_base_gettimeofday_cached(ms->ctx->base, &now);
            evutil_timersub(&now, &ms->ping_sent, &d);
            ms->rtt_us = (int64_t)d.tv_sec * 1000000 + d.tv_usec + 1;
            ms->ping_sent.tv_sec = 0;
        }
        return 0;
    case WR_MUX_GOAWAY:
        ms->goaway_recv = 1;
        if (f->status != WR_MUX_GOAWAY_SHUTDOWN)
            wr_info("%s: the peer ended the mux session: protocol error", ms->label);
        return 0;
    }
    return 0;
}

static void carrier_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct wr_mux_session *ms = arg;
    if (ms->dead) {
        evbuffer_drain(c->in, evbuffer_get_length(c->in));
        return;
    }
    if (ev & WR_EV_READ) {
        event_base_gettimeofday_cached(ms->ctx->base, &ms->last_rx);
        for (;;) {
            size_t have = evbuffer_get_length(c->in), used = 0;
            if (have < WR_MUX_HEADER)
                break;
            uint8_t h[WR_MUX_HEADER];
            evbuffer_copyout(c->in, h, sizeof h);
            size_t need = WR_MUX_HEADER + ((size_t)h[2] << 8 | h[3]);
            if (have < need)
                break;
            const uint8_t *p = evbuffer_pullup(c->in, (ssize_t)need);
            struct wr_mux_frame f;
            const char *why = NULL;
            int r = wr_mux_frame_parse(p, need, &f, &used, &why);
            if (r == WR_MUX_BAD || (r == WR_MUX_FRAME && handle_frame(ms, &f, &why) != 0)) {
                die(ms, why, 1);
                return;
            }
            evbuffer_drain(c->in, used);
            ms->rx += used;
            if (ms->dead)
                return;
        }
    }
    if (ev & (WR_EV_EOF | WR_EV_ERROR)) {
        die(ms, ev & WR_EV_ERROR ? "the carrier connection failed" : "the carrier connection closed", 0);
        return;
    }
    if (ev & WR_EV_DRAINED)
        schedule(ms);
}

/* Control first, then DATA round-robin while the carrier takes it; then stream events. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct wr_mux_session *ms = arg;
    ms->in_kick = 1;
    if (!ms->dead) {
        if (evbuffer_get_length(ms->ctl) && wr_conn_backlog(ms->carrier) < WR_HWM) {
            ms->tx += evbuffer_get_length(ms->ctl);
            wr_conn_write(ms->carrier, ms->ctl);
        }
        /* DATA is gathered and written once: a codec carrier frames (and pads) per write. */
        while (ms->q[Q_SEND].head &&
               wr_conn_backlog(ms->carrier) + evbuffer_get_length(ms->scratch) < WR_HWM) {
            struct stream *s = q_pop(ms, Q_SEND);
            size_t n = evbuffer_get_length(s->out);
            if (n > s->credit)
                n = s->credit;
            if (n > WR_MUX_DATA_CHUNK)
                n = WR_MUX_DATA_CHUNK;
            if (n) {
                wr_mux_put_header(ms->scratch, WR_MUX_DATA, n, s->sid);
                evbuffer_remove_buffer(s->out, ms->scratch, n);
                s->credit -= (uint32_t)n;
            }
            if (s->fin_wanted && !s->fin_sent && !evbuffer_get_length(s->out)) {
                s->fin_sent = 1;
                wr_mux_put_fin(ms->scratch, s->sid);
            }
            if (evbuffer_get_length(s->out) && s->credit)
                want_send(s);
            if (s->was_above && evbuffer_get_length(s->out) <= WR_LWM) {
                s->was_above = 0;
                post(s, WR_EV_DRAINED, 0);
            } else if (s->fin_sent && !evbuffer_get_length(s->out)) {
                post(s, WR_EV_DRAINED, 0);
            }
        }
        if (evbuffer_get_length(ms->scratch)) {
            ms->tx += evbuffer_get_length(ms->scratch);
            wr_conn_write(ms->carrier, ms->scratch);
        }
        if (evbuffer_get_length(ms->ctl) > CTL_MAX) {
            ms->in_kick = 0;
            die(ms, "the peer does not read its control frames", 1);
            return;                     /* the owner may have freed the session */
        }
    }
    /* Deliver events; a callback may close its stream (it leaves the queue) or others. */
    struct stream *s;
    while ((s = q_pop(ms, Q_EVENT))) {
        unsigned ev = s->pending_ev;
        int err = s->pending_err;
        s->pending_ev = 0;
        if ((ev & WR_EV_READ) && s->paused)
            ev &= ~(unsigned)WR_EV_READ;
        if (s->open_cb) {
            /* Client: the REPLY (or the session's end) answers the pending open. */
            if (!(ev & (WR_EV_READY | WR_EV_ERROR)))
                continue;
            wr_dial_cb *cb = s->open_cb;
            void *a = s->open_arg;
            s->open_cb = NULL;
            if (ev & WR_EV_READY) {
                s->owned = 1;
                unsigned later = (evbuffer_get_length(s->base.in) ? WR_EV_READ : 0) |
                                 (s->fin_recv ? WR_EV_EOF : 0) | (ev & WR_EV_ERROR);
                if (later)
                    post(s, later, err);
                cb(a, &s->base, WR_REP_OK, NULL);
            } else {
                uint8_t rep = err > 0 && err < 9 ? (uint8_t)err : WR_REP_FAILURE;
                char why[80];
                snprintf(why, sizeof why, "the server answered: %s", wr_rep_str(rep));
                stream_destroy(s);
                cb(a, NULL, rep, why);
            }
            continue;
        }
        if (ev && s->base.cb)
            wr_conn_emit(&s->base, ev, err);
    }
    ms->in_kick = 0;
    if (ms->again) {
        ms->again = 0;
        event_active(ms->kick, EV_WRITE, 0);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct wr_mux_session *ms = arg;
    struct timeval now, idle;
    event_base_gettimeofday_cached(ms->ctx->base, &now);
    evutil_timersub(&now, &ms->last_rx, &idle);
    if (idle.tv_sec >= DEAD_S) {
        die(ms, "nothing from the peer for 45 s", 0);
        return;
    }
    if (idle.tv_sec >= PING_IDLE_S && !ms->ping_sent.tv_sec) {
        randombytes_buf(ms->ping, sizeof ms->ping);
        ms->ping_sent = now;
        wr_mux_put_ping(ms->ctl, WR_MUX_PING, ms->ping);
        schedule(ms);
    }
}

struct wr_mux_session *wr_mux_session_new(struct wr_ctx *ctx, struct wr_conn *carrier,
                                          enum wr_mux_role role, const struct wr_mux_hooks *hooks,
                                          void *arg, const char *label)
{
    struct wr_mux_session *ms = calloc(1, sizeof *ms);
    if (!ms || !(ms->ctl = evbuffer_new()) || !(ms->scratch = evbuffer_new()) ||
        !(ms->kick = event_new(ctx->base, -1, 0, on_kick, ms)) ||
        !(ms->timer = event_new(ctx->base, -1, EV_PERSIST, on_timer, ms))) {
        if (ms) {
            if (ms->ctl) evbuffer_free(ms->ctl);
            if (ms->scratch) evbuffer_free(ms->scratch);
            if (ms->kick) event_free(ms->kick);
            free(ms);
        }
        wr_conn_close(carrier, 1);
        return NULL;
    }
    ms->ctx = ctx;
    ms->carrier = carrier;
    ms->role = role;
    ms->hooks = hooks;
    ms->arg = arg;
    ms->label = label;
    ms->next_id = 1;
    event_base_gettimeofday_cached(ctx->base, &ms->last_rx);
    struct timeval tick = { 5, 0 };
    evtimer_add(ms->timer, &tick);
    wr_conn_set_cb(carrier, carrier_cb, ms);
    wr_conn_pause_read(carrier, 0);
    /* A first PING measures the round trip that window growth needs. */
    randombytes_buf(ms->ping, sizeof ms->ping);
    event_base_gettimeofday_cached(ctx->base, &ms->ping_sent);
    wr_mux_put_ping(ms->ctl, WR_MUX_PING, ms->ping);
    schedule(ms);
    if (evbuffer_get_length(carrier->in))
        carrier_cb(carrier, WR_EV_READ, 0, ms);
    return ms;
}

static void open_cancel(struct wr_pending *p)
{
    struct stream *s = (struct stream *)((char *)p - offsetof(struct stream, pending));
    s->open_cb = NULL;
    st_close(&s->base, 0);          /* RST code "cancelled": the opener gave up */
}

struct wr_pending *wr_mux_open(struct wr_mux_session *ms, const struct wr_endpoint *dst,
                               wr_dial_cb *cb, void *arg)
{
    if (!wr_mux_usable(ms))
        return NULL;
    uint8_t addr[WR_SOCKS_ADDR_MAX];
    size_t alen = dst ? wr_endpoint_to_socks(dst, addr) : 0;
    struct stream *s = stream_new(ms, ms->next_id);
    if (!s)
        return NULL;
    ms->next_id += 2;
    ms->opened++;
    s->base.ready = 0;
    s->open_cb = cb;
    s->open_arg = arg;
    s->pending.cancel = open_cancel;
    wr_mux_put_header(ms->ctl, WR_MUX_OPEN, alen, s->sid);
    evbuffer_add(ms->ctl, addr, alen);
    schedule(ms);
    return &s->pending;
}

void wr_mux_reply(struct wr_conn *stream, uint8_t status)
{
    struct stream *s = (struct stream *)stream;
    if (!s->ms || s->replied)
        return;
    s->replied = 1;
    wr_mux_put_reply(s->ms->ctl, s->sid, status);
    if (status != 0)
        s->reset = 1;               /* a failed REPLY ends the stream: no RST after it */
    else
        s->base.ready = 1;
    schedule(s->ms);
}

void wr_mux_goaway(struct wr_mux_session *ms)
{
    if (ms->goaway_sent || ms->dead)
        return;
    ms->goaway_sent = 1;
    wr_mux_put_goaway(ms->ctl, ms->last_id, WR_MUX_GOAWAY_SHUTDOWN);
    schedule(ms);
}

int wr_mux_usable(const struct wr_mux_session *ms)
{
    return !ms->dead && !ms->goaway_recv && !ms->goaway_sent && ms->next_id < 0xFFFFFFF0u &&
           ms->n_streams < MAX_STREAMS;
}

unsigned wr_mux_open_streams(const struct wr_mux_session *ms)
{
    return ms->n_streams;
}

void wr_mux_session_free(struct wr_mux_session *ms)
{
    /* Unanswered opens fail; streams with an owner are told (after every stream is off the
     * session, so whatever their owners do in the callback touches no session state). */
    struct stream *owned = NULL;
    unsigned n_open = ms->n_streams;
    for (size_t i = 0; i < BUCKETS; i++) {
        while (ms->table[i]) {
            struct stream *s = ms->table[i];
            unlink_stream(ms, s);
            s->reset = 1;
            if (s->owned) {
                s->next[Q_EVENT] = owned;       /* off every queue now: reuse the link */
                owned = s;
            } else if (s->open_cb) {
                wr_dial_cb *cb = s->open_cb;
                s->open_cb = NULL;
                void *a = s->open_arg;
                stream_destroy(s);
                cb(a, NULL, WR_REP_FAILURE, "the mux session ended");
            } else {
                stream_destroy(s);
            }
        }
    }
    wr_info("%s: mux session ended: %llu streams opened, %u still open, %llu reset by us; "
            "%llu bytes in, %llu out", ms->label, (unsigned long long)ms->opened, n_open,
            (unsigned long long)ms->resets, (unsigned long long)ms->rx, (unsigned long long)ms->tx);
    wr_conn_close(ms->carrier, 1);
    event_free(ms->kick);
    event_free(ms->timer);
    evbuffer_free(ms->ctl);
    evbuffer_free(ms->scratch);
    free(ms);
    while (owned) {
        struct stream *s = owned;
        owned = s->next[Q_EVENT];
        if (s->base.cb)
            wr_conn_emit(&s->base, WR_EV_ERROR, ECONNRESET);
    }
}
