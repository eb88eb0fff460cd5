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
#include "core/tcp.h"
#include "ipc/extorport.h"
#include "modes/modes.h"

struct incoming {
    struct wr_live live;
    struct wr_method *m;
    struct wr_conn *conn;               /* the transport connection */
    struct wr_pending *pending;         /* dial to the target */
    struct event *timer;                /* handshake deadline */
    struct wr_endpoint dest;            /* free server: where this connection goes */
    char peer[WR_ADDRSTRLEN];           /* the client, as USERADDR gives it to tor */
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
        to = wr_conn_destination(in->conn);
        if (!to) {
            wr_info("%s c%u: the client named no destination", in->m->name, in->conn->id);
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

static void conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct incoming *in = arg;
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

void wr_server_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen)
{
    struct wr_method *m = method;
    struct wr_conn *raw = wr_tcp_conn_from_fd(m->ctx, fd);
    if (!raw)
        return;
    struct wr_conn *conn = m->t->server_wrap(m->tstate, raw);
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
