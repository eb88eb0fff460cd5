/* dialer.h: outgoing TCP connections, without blocking the loop: DNS names through evdns,
 * a connect timeout, and, when the caller asks for it and -proxy is set, the upstream proxy's
 * handshake. When the proxy fails the dial fails: there is never a direct fallback. */
#ifndef WARREN_CORE_DIALER_H
#define WARREN_CORE_DIALER_H

#include <stdint.h>

#include "core/addr.h"
#include "core/conn.h"

struct wr_ctx;

/* A cancellable asynchronous operation (a dial, a transport open). After cancel() the
 * callback is never called. */
struct wr_pending {
    void (*cancel)(struct wr_pending *p);
};
static inline void wr_pending_cancel(struct wr_pending *p) { if (p) p->cancel(p); }

/* conn is the connected (ready) connection, or NULL with rep (a SOCKS5 reply code) and a
 * human reason. Called exactly once, never from inside the call that started the dial. The
 * connection may already hold received bytes in conn->in: the new owner takes them first. */
typedef void wr_dial_cb(void *arg, struct wr_conn *conn, uint8_t rep, const char *why);

enum {
    WR_DIAL_DIRECT = 0,
    WR_DIAL_VIA_PROXY = 1,      /* through -proxy when one is set */
    WR_DIAL_PUBLIC_ONLY = 2,    /* refuse (reply 02) addresses wr_sockaddr_is_public() rejects,
                                   checked after resolution so DNS cannot steer around it */
};

/* Returns NULL when the dial cannot even start (no memory, no socket left); then the
 * callback is never called and the caller fails the request itself. */
struct wr_pending *wr_dial(struct wr_ctx *ctx, const struct wr_endpoint *dst, int flags,
                           wr_dial_cb *cb, void *arg);

/* A pending operation that fails from the loop with rep and why (copied): lets an open
 * function report a problem through its callback instead of a special return. */
struct wr_pending *wr_fail_soon(struct wr_ctx *ctx, wr_dial_cb *cb, void *arg, uint8_t rep,
                                const char *why);

/* SOCKS5 reply codes (RFC 1928) and the one mapping from errno to them. */
enum {
    WR_REP_OK = 0x00, WR_REP_FAILURE = 0x01, WR_REP_NOT_ALLOWED = 0x02, WR_REP_NET_UNREACH = 0x03,
    WR_REP_HOST_UNREACH = 0x04, WR_REP_REFUSED = 0x05, WR_REP_TTL_EXPIRED = 0x06,
    WR_REP_BAD_COMMAND = 0x07, WR_REP_BAD_ATYP = 0x08,
};
uint8_t wr_rep_from_errno(int e);
const char *wr_rep_str(uint8_t rep);

#endif
