/* ctx.c: runtime context; see ctx.h. */
#include "core/ctx.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

int wr_ctx_init(struct wr_ctx *ctx, struct event_base *base, char *err, size_t errlen)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->base = base;
    ctx->live.next = ctx->live.prev = &ctx->live;
    ctx->connect_timeout_s = 30;
    ctx->handshake_timeout_s = 30;
    /* Picks libsodium's CPU-specific code (X25519, Poly1305, ChaCha20, SipHash); without it
     * every call runs the portable reference code. Safe to call again. */
    if (sodium_init() < 0) {
        snprintf(err, errlen, "cannot initialise libsodium");
        return -1;
    }
    /* Reads /etc/resolv.conf and /etc/hosts; with no nameservers configured libevent falls back
     * to 127.0.0.1, and names in /etc/hosts (localhost) still resolve. */
    ctx->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!ctx->dns) {
        ctx->dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!ctx->dns) {
            snprintf(err, errlen, "cannot create the DNS resolver");
            return -1;
        }
        evdns_base_load_hosts(ctx->dns, NULL);
        wr_warn("no usable resolver configuration; only /etc/hosts names resolve");
    }
    return 0;
}

void wr_live_add(struct wr_ctx *ctx, struct wr_live *l, void (*kill)(struct wr_live *))
{
    l->kill = kill;
    l->next = ctx->live.next;
    l->prev = &ctx->live;
    ctx->live.next->prev = l;
    ctx->live.next = l;
    ctx->n_live++;
}

void wr_live_del(struct wr_ctx *ctx, struct wr_live *l)
{
    if (!l->next)
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = NULL;
    ctx->n_live--;
}

void wr_ctx_kill_all(struct wr_ctx *ctx)
{
    /* kill() unlinks the object (and may unlink others it owns), so restart from the head. */
    while (ctx->live.next != &ctx->live) {
        struct wr_live *l = ctx->live.next;
        l->kill(l);
        if (ctx->live.next == l)   /* a kill that failed to unlink must not loop forever */
            wr_live_del(ctx, l);
    }
}

void wr_ctx_free(struct wr_ctx *ctx)
{
    wr_ctx_kill_all(ctx);
    if (ctx->dns) {
        evdns_base_free(ctx->dns, 0);
        ctx->dns = NULL;
    }
}
