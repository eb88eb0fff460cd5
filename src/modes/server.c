/* server.c: the server side, in socks5 and transparent-TCP modes alike (seed 004 §1.5.6: the
 * server's TCP modes differ only on the client). Each accepted socket is handed to the
 * transport; once the transport connection is ready, -target is dialled (names resolved
 * without blocking), or, on a free server, the destination the client named, under the
 * destination policy; then a relay joins the two. Owns the transport connection until then.
 * Behind tor (-extorport) the target is tor's Extended ORPort, told the client's address and
 * the transport before the relay starts (ipc/extorport.h). */
#include <event2/event.h>
#include <stdlib.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/codec.h"
#include "ipc/extorport.h"
#include "modes/modes.h"
#include "mux/session.h"

struct incoming {
    struct wr_live live;
    struct wr_method *m;
    struct wr_conn *conn;               /* the transport connection */
    struct wr_pending *pending;         /* dial to the target */
    struct event *timer;                /* handshake deadline */
    struct wr_endpoint dest;            /* free server: where this connection goes */
    char peer[WR_ADDRSTRLEN];           /* the client, as USERADDR gives it to tor */
    uint8_t is_stream;                  /* conn is a mux stream: answer its OPEN with a REPLY */
    uint8_t has_stream_dst;
    struct wr_endpoint stream_dst;      /* what the OPEN named */
};

/* A mux session over one transport connection: each stream is an incoming of its own. */
struct mux_server {
    struct wr_live live;
    struct wr_method *m;
    struct wr_mux_session *ms;
    struct event *reaper;
    char peer[WR_ADDRSTRLEN];
    char label[48];
};

static void in_free(struct incoming *in)
{
    wr_live_del(in->m->ctx, &in->live);
    wr_pending_cancel(in->pending);
    if (in->timer)
        event_free(in->timer);
    free(in);
}

static void in_kill(struct wr_live *l)
{
    struct incoming *in = (struct incoming *)l;
    wr_conn_close(in->conn, 1);
    in_free(in);
}

static void on_target(void *arg, struct wr_conn *target, uint8_t rep, const char *why)
{
    struct incoming *in = arg;
    in->pending = NULL;
    struct wr_conn *conn = in->conn;
    struct wr_ctx *ctx = in->m->ctx;
    if (in->is_stream)
        wr_mux_reply(conn, target ? 0 : (rep ? rep : WR_REP_FAILURE));
    if (!target) {
        char a[WR_ADDRSTRLEN];
        wr_endpoint_format(in->m->has_extorport ? &in->m->extorport
                           : in->m->has_target ? &in->m->target : &in->dest, a, sizeof a);
        /* An unreachable -target is the operator's problem; a client's destination is not. */
        wr_log(in->m->has_target || in->m->has_extorport ? WR_LOG_WARN : WR_LOG_INFO,
               "%s c%u: cannot reach %s: %s",
               in->m->name, conn->id, wr_safe(a), why ? why : wr_rep_str(rep));
        in_free(in);
        wr_conn_close(conn, 1);
        return;
    }
    in_free(in);
    wr_relay_new(ctx, conn, target, "server");
}

static void dial_target(struct incoming *in)
{
    if (in->timer) {
        event_free(in->timer);
        in->timer = NULL;
    }
    if (in->m->has_extorport) {
        void *st = wr_extor_codec_new(in->m->extor_cookie, in->peer, in->m->name, NULL);
        in->pending = st ? wr_codec_dial(in->m->ctx, &in->m->extorport, &wr_extor_codec, st,
                                         on_target, in) : NULL;
        if (!in->pending) {
            wr_warn("%s c%u: cannot start a connection to the ExtORPort", in->m->name, in->conn->id);
            in_kill(&in->live);
        }
        return;
    }
    const struct wr_endpoint *to = &in->m->target;
    int flags = WR_DIAL_DIRECT;
    if (!in->m->has_target) {
        to = in->is_stream ? (in->has_stream_dst ? &in->stream_dst : NULL)
                           : wr_conn_destination(in->conn);
        if (!to) {
            wr_info("%s c%u: the client named no destination", in->m->name, in->conn->id);
            if (in->is_stream)
                wr_mux_reply(in->conn, WR_REP_NOT_ALLOWED);
            in_kill(&in->live);
            return;
        }
        in->dest = *to;
        to = &in->dest;
        if (!in->m->allow_private)
            flags = WR_DIAL_PUBLIC_ONLY;
    }
    in->pending = wr_dial(in->m->ctx, to, flags, on_target, in);
    if (!in->pending) {
        wr_warn("%s c%u: cannot start a connection to the target", in->m->name, in->conn->id);
        in_kill(&in->live);
    }
}

static void start_mux(struct incoming *in);

static void conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct incoming *in = arg;
    if ((ev & WR_EV_READY) && in->m->mux && !in->is_stream && !in->pending) {
        start_mux(in);
        return;
    }
    if ((ev & WR_EV_ERROR) || ((ev & WR_EV_EOF) && !c->ready)) {
        if (!in->pending)
            wr_debug("%s c%u: closed before its handshake finished", in->m->name, c->id);
        in_kill(&in->live);
        return;
    }
    if ((ev & WR_EV_READY) && !in->pending)
        dial_target(in);
    else if (in->pending)
        wr_conn_hold_input(c);  /* early data and EOF wait for the relay */
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct incoming *in = arg;
    wr_info("%s c%u: handshake timed out", in->m->name, in->conn->id);
    in_kill(&in->live);
}

/* --- mux ------------------------------------------------------------------------------- */

static void mux_free(struct mux_server *mx)
{
    wr_live_del(mx->m->ctx, &mx->live);
    if (mx->reaper)
        event_free(mx->reaper);
    if (mx->ms)
        wr_mux_session_free(mx->ms);    /* before mx: the session logs with mx->label */
    free(mx);
}

static void mux_kill(struct wr_live *l)
{
    mux_free((struct mux_server *)l);
}

static void mux_reap(evutil_socket_t fd, short what, void *arg)
{
    mux_free(arg);
}

static void mux_on_close(void *arg, struct wr_mux_session *ms, const char *why)
{
    struct mux_server *mx = arg;
    wr_info("%s: %s", mx->label, why);
    event_active(mx->reaper, EV_TIMEOUT, 0);    /* freed from the loop, not from inside it */
}

static void stream_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct incoming *in = arg;
    if (ev & WR_EV_ERROR)
        in_kill(&in->live);
    else
        wr_conn_hold_input(c);          /* early data and FIN wait for the relay */
}

/* The client opened a stream: connect it like a connection of its own. */
static void mux_on_open(void *arg, struct wr_conn *stream, const struct wr_endpoint *dst)
{
    struct mux_server *mx = arg;
    struct incoming *in = calloc(1, sizeof *in);
    if (!in) {
        wr_mux_reply(stream, WR_REP_FAILURE);
        wr_conn_close(stream, 1);
        return;
    }
    in->m = mx->m;
    in->conn = stream;
    in->is_stream = 1;
    snprintf(in->peer, sizeof in->peer, "%s", mx->peer);
    if (dst) {
        in->stream_dst = *dst;
        in->has_stream_dst = 1;
    }
    wr_live_add(mx->m->ctx, &in->live, in_kill);
    wr_conn_set_cb(stream, stream_cb, in);
    dial_target(in);
}

static const struct wr_mux_hooks server_hooks = { .on_open = mux_on_open, .on_close = mux_on_close };

static void start_mux(struct incoming *in)
{
    struct wr_method *m = in->m;
    struct wr_conn *conn = in->conn;
    struct mux_server *mx = calloc(1, sizeof *mx);
    char peer[WR_ADDRSTRLEN];
    snprintf(peer, sizeof peer, "%s", in->peer);
    in_free(in);                        /* the session owns the connection from here */
    if (!mx || !(mx->reaper = event_new(m->ctx->base, -1, 0, mux_reap, mx))) {
        free(mx);
        wr_conn_close(conn, 1);
        return;
    }
    mx->m = m;
    snprintf(mx->peer, sizeof mx->peer, "%s", peer);
    snprintf(mx->label, sizeof mx->label, "%s mux c%u", m->name, conn->id);
    wr_live_add(m->ctx, &mx->live, mux_kill);
    mx->ms = wr_mux_session_new(m->ctx, conn, WR_MUX_SERVER, &server_hooks, mx, mx->label);
    if (!mx->ms)
        mux_free(mx);
}

void wr_server_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen)
{
    struct wr_method *m = method;
    struct wr_conn *conn = wr_method_accept(m, fd);
    if (!conn)
        return;
    struct incoming *in = calloc(1, sizeof *in);
    if (!in) {
        wr_conn_close(conn, 1);
        return;
    }
    in->m = m;
    in->conn = conn;
    wr_sockaddr_format(peer, in->peer, sizeof in->peer);
    wr_live_add(m->ctx, &in->live, in_kill);
    wr_conn_set_cb(conn, conn_cb, in);
    if (conn->ready) {
        if (m->mux)
            start_mux(in);
        else
            dial_target(in);
        return;
    }
    if (conn->keeps_deadline)
        return;
    in->timer = evtimer_new(m->ctx->base, on_handshake_timeout, in);
    if (!in->timer) {
        in_kill(&in->live);
        return;
    }
    struct timeval tv = { m->ctx->handshake_timeout_s, 0 };
    evtimer_add(in->timer, &tv);
}
