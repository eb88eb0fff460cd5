/* method.c: how a client front end opens its transport connection: directly, or as a stream
 * of a mux session (docs/spec/mux.md) when the connection's merged settings say "mux"; and how
 * a server front end turns an accepted socket into its transport connection. */
#include "core/options.h"
#include "core/tcp.h"
#include "modes/modes.h"
#include "mux/pool.h"

struct wr_pending *wr_method_open(struct wr_method *m, const struct wr_open_req *req, wr_dial_cb *cb,
                                  void *arg)
{
    int mux = wr_opt_bool(req->args, "mux", 0);
    if (mux < 0)
        return wr_fail_soon(m->ctx, cb, arg, WR_REP_FAILURE, "mux must be true or false");
    if (!mux)
        return m->t->client_open(m->tstate, req, cb, arg);
    if (!m->mux_pool && !(m->mux_pool = wr_mux_pool_new(m->ctx, m->t, m->tstate, m->name, &m->mux_pool)))
        return wr_fail_soon(m->ctx, cb, arg, WR_REP_FAILURE, "out of memory");
    return wr_mux_pool_open(m->mux_pool, req, cb, arg);
}

struct wr_conn *wr_method_accept(struct wr_method *m, evutil_socket_t fd)
{
    struct wr_conn *raw = wr_tcp_conn_from_fd(m->ctx, fd);
    return raw ? m->t->server_wrap(m->tstate, raw) : NULL;
}
