/* pool.h: the client side of the mux (docs/spec/mux.md): per server, a few sessions over
 * ordinary transport connections, and every application connection a stream on one of them.
 * With the option serverAddress the client is free: the SOCKS destination travels in the
 * stream's OPEN and the carrier goes to serverAddress; without it the SOCKS destination is the
 * server (as tor sends it) and the stream goes to the server's own target. */
#ifndef WARREN_MUX_POOL_H
#define WARREN_MUX_POOL_H

#include "core/dialer.h"
#include "transports/transport.h"

struct wr_ctx;
struct wr_mux_pool;

/* On the context's live list (a shutdown frees it and its sessions, and sets *ref to NULL).
 * NULL on OOM. */
struct wr_mux_pool *wr_mux_pool_new(struct wr_ctx *ctx, const struct wr_transport *t, void *tstate,
                                    const char *name, struct wr_mux_pool **ref);
/* Like t->client_open: cb gets a ready stream, or NULL with a SOCKS reply code. */
struct wr_pending *wr_mux_pool_open(struct wr_mux_pool *p, const struct wr_open_req *req,
                                    wr_dial_cb *cb, void *arg);

#endif
