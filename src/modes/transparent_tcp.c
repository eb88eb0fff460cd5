/* transparent_tcp.c: the client's transparent-TCP mode. Each accepted connection goes through
 * the transport to the server that the options name (serverAddress); if that fails the
 * application connection is reset, so the failure is visible. */
#include <event2/event.h>
#include <stdlib.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/relay.h"
#include "core/tcp.h"
#include "modes/modes.h"

struct pending_tcp {
    struct wr_live live;
    struct wr_method *m;
    struct wr_conn *app;
    struct wr_pending *pending;
};

static void pt_free(struct pending_tcp *p)
{
    wr_live_del(p->m->ctx, &p->live);
    wr_pending_cancel(p->pending);
    free(p);
}

static void pt_kill(struct wr_live *l)
{
    struct pending_tcp *p = (struct pending_tcp *)l;
    wr_conn_close(p->app, 1);
    pt_free(p);
}

static void on_open(void *arg, struct wr_conn *conn, uint8_t rep, const char *why)
{
    struct pending_tcp *p = arg;
    p->pending = NULL;
    struct wr_conn *app = p->app;
    struct wr_ctx *ctx = p->m->ctx;
    if (!conn) {
        wr_info("transparent-TCP c%u: %s connection failed: %s", app->id, p->m->name,
                why ? why : wr_rep_str(rep));
        pt_free(p);
        wr_conn_close(app, 1);
        return;
    }
    pt_free(p);
    wr_relay_new(ctx, app, conn, "transparent-TCP");
}

static void app_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    if (ev & WR_EV_ERROR)
        pt_kill(&((struct pending_tcp *)arg)->live);
    else
        wr_conn_hold_input(c);
}

void wr_transparent_tcp_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen)
{
    struct wr_method *m = method;
    struct wr_conn *app = wr_tcp_conn_from_fd(m->ctx, fd);
    if (!app)
        return;
    struct pending_tcp *p = calloc(1, sizeof *p);
    if (!p) {
        wr_conn_close(app, 1);
        return;
    }
    p->m = m;
    p->app = app;
    wr_live_add(m->ctx, &p->live, pt_kill);
    wr_conn_set_cb(app, app_cb, p);
    struct wr_open_req req = { .args = m->opts, .dst = NULL };
    p->pending = wr_method_open(m, &req, on_open, p);
    if (!p->pending) {
        wr_warn("transparent-TCP c%u: cannot start a %s connection", app->id, m->name);
        pt_kill(&p->live);
    }
}
