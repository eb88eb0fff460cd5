/* ctx.h: the per-process runtime: the event loop, the DNS resolver, the upstream proxy, and
 * the list of live sessions so a shutdown can close every one of them (and ASan sees no leak).
 * There is no other global mutable state apart from the logger's settings. */
#ifndef WARREN_CORE_CTX_H
#define WARREN_CORE_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "core/proxy_proto.h"

struct event_base;
struct evdns_base;
struct sockaddr;

/* Embedded in every object that lives on its own (a SOCKS handshake, a relay, a pending
 * server connection); kill() closes it abortively at shutdown. */
struct wr_live {
    struct wr_live *prev, *next;
    void (*kill)(struct wr_live *l);
};

struct wr_ctx {
    struct event_base *base;
    struct evdns_base *dns;
    const struct wr_proxy *proxy;     /* upstream proxy for outgoing transport conns, or NULL */
    struct wr_live live;              /* sentinel of the live list */
    size_t n_live;
    uint32_t next_id;
    int connect_timeout_s;
    int handshake_timeout_s;
    /* Source addresses for outgoing connections to non-loopback destinations, or NULL. */
    const struct sockaddr *bind_v4, *bind_v6;
};

int  wr_ctx_init(struct wr_ctx *ctx, struct event_base *base, char *err, size_t errlen);
void wr_ctx_kill_all(struct wr_ctx *ctx);
void wr_ctx_free(struct wr_ctx *ctx);
void wr_live_add(struct wr_ctx *ctx, struct wr_live *l, void (*kill)(struct wr_live *));
void wr_live_del(struct wr_ctx *ctx, struct wr_live *l);
static inline uint32_t wr_ctx_next_id(struct wr_ctx *ctx) { return ++ctx->next_id; }

#endif
