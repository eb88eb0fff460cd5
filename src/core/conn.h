/* conn.h: the one byte-stream interface. A TCP socket, a transport connection (obfs4 or
 * Shadowsocks framing over a socket), a multiplexer stream and a connection a transport owns
 * itself (meek) are all a struct wr_conn, so the relay, the modes and the transports meet
 * only here.
 *
 * Contract, for every implementation:
 * - Received bytes are appended to c->in; WR_EV_READ says there is more. The consumer drains.
 * - write() moves all of src into the connection's output (never blocks, never fails; after
 *   an error the bytes are dropped along with the connection, which is reset).
 * - write_backlog() is what was written but not yet handed to the layer below; WR_EV_DRAINED
 *   fires when it falls to WR_LWM after having been above it, and when it reaches 0 after
 *   shutdown_write().
 * - shutdown_write(): deliver everything written, then signal EOF to the peer; reading goes on.
 * - WR_EV_EOF comes after all bytes before it are in c->in. WR_EV_ERROR carries an errno-style
 *   code; after it the connection is useless but must still be closed.
 * - WR_EV_READY: the transport's handshake is done (for conns created not ready).
 * - close(c, abort): frees. abort=1 resets (TCP RST, stream RST) so the peer sees a failure
 *   rather than a clean end; abort=0 is only for conns whose output is flushed.
 * - An implementation invokes the callback as the last thing it does: the callback may close
 *   the connection (and its owner) before returning. */
#ifndef WARREN_CORE_CONN_H
#define WARREN_CORE_CONN_H

#include <event2/buffer.h>

#include "core/addr.h"
#include <stddef.h>
#include <stdint.h>

#define WR_HWM (256 * 1024)  /* pause the source above this much queued output */
#define WR_LWM (64 * 1024)   /* and resume below this */

enum {
    WR_EV_READ = 1,
    WR_EV_EOF = 2,
    WR_EV_DRAINED = 4,
    WR_EV_ERROR = 8,
    WR_EV_READY = 16,
};

struct wr_conn;
typedef void wr_conn_cb(struct wr_conn *c, unsigned events, int err, void *arg);

struct wr_conn_ops {
    const char *kind;                                   /* "tcp", "obfs4", "mux", ... */
    void (*write)(struct wr_conn *c, struct evbuffer *src);
    void (*shutdown_write)(struct wr_conn *c);
    void (*set_read_paused)(struct wr_conn *c, int paused);
    size_t (*write_backlog)(const struct wr_conn *c);
    void (*close)(struct wr_conn *c, int abort);
    /* Optional: where the client asked this connection to go (a Shadowsocks header, a mux
     * open frame); NULL when it did not say. Valid once the connection is ready. */
    const struct wr_endpoint *(*destination)(const struct wr_conn *c);
};

/* Per-connection statistics (seed 003's "get stats"): payload bytes as seen at this layer. */
struct wr_conn_stats {
    uint64_t bytes_in;         /* received from the peer and handed to the consumer */
    uint64_t bytes_out;        /* accepted by write() */
    int64_t opened_ms;         /* monotonic */
};

struct wr_conn {
    const struct wr_conn_ops *ops;
    struct evbuffer *in;
    wr_conn_cb *cb;
    void *cb_arg;
    struct wr_conn_stats stats;
    uint32_t id;               /* for log lines: "c17" */
    uint8_t ready;             /* handshake done (plain TCP: always) */
    uint8_t eof_received;      /* WR_EV_EOF was emitted: the peer sends no more */
    uint8_t keeps_deadline;    /* enforces its own handshake deadline (probe-resistant servers
                                * close on their own schedule, not the mode's) */
};

void wr_conn_init(struct wr_conn *c, const struct wr_conn_ops *ops, struct evbuffer *in, uint32_t id);
void wr_conn_set_cb(struct wr_conn *c, wr_conn_cb *cb, void *arg);

static inline void wr_conn_write(struct wr_conn *c, struct evbuffer *src)
{
    c->stats.bytes_out += evbuffer_get_length(src);
    c->ops->write(c, src);
}
static inline void wr_conn_shutdown_write(struct wr_conn *c) { c->ops->shutdown_write(c); }
static inline void wr_conn_pause_read(struct wr_conn *c, int paused) { c->ops->set_read_paused(c, paused); }
static inline size_t wr_conn_backlog(const struct wr_conn *c) { return c->ops->write_backlog(c); }
static inline void wr_conn_close(struct wr_conn *c, int abort) { if (c) c->ops->close(c, abort); }
static inline const struct wr_endpoint *wr_conn_destination(const struct wr_conn *c)
{
    return c->ops->destination ? c->ops->destination(c) : NULL;
}

/* While a connection waits for the other end of its tunnel: keep what arrives, but stop
 * reading past WR_HWM. Cheaper than pausing at once, which costs two epoll_ctl calls per
 * tunnel, and the early bytes are ready to go when the tunnel opens. */
static inline void wr_conn_hold_input(struct wr_conn *c)
{
    if (evbuffer_get_length(c->in) > WR_HWM)
        c->ops->set_read_paused(c, 1);
}

/* Calls the consumer's callback; the conn may be gone when this returns. */
static inline void wr_conn_emit(struct wr_conn *c, unsigned events, int err)
{
    if (c->cb)
        c->cb(c, events, err, c->cb_arg);
}

int64_t wr_now_ms(void);

#endif
