/* codec.h: stream transforms (obfs4, Shadowsocks: a handshake, then framed bytes) as pure
 * codecs, and the adapter that turns "lower connection + codec" into a wr_conn. A codec does no
 * I/O: evbuffers in, evbuffers out. The adapter owns the lower connection and the codec state.
 *
 * Client: wr_codec_dial() dials the server (through -proxy when set), wraps the socket, sends
 * the codec's opening bytes and calls back once the codec says it is ready.
 * Server: wr_codec_conn_new(..., probe_resistant=1) on an accepted socket; the connection
 * emits WR_EV_READY when the handshake is done. If the peer is not speaking the protocol, or
 * has not finished its handshake within ctx->handshake_timeout_s, the connection answers
 * nothing, keeps reading and discarding, and fails only after a delay (obfs4proxy's
 * closeAfterDelay), so a prober learns nothing from the timing of the close.
 * Pacing (obfs4's iat-mode): a codec may hold encoded bytes back and release them piece by
 * piece with pauses between; held bytes count in the write backlog, so backpressure reaches
 * the application, and a half-close waits until they are out. */
#ifndef WARREN_CORE_CODEC_H
#define WARREN_CORE_CODEC_H

#include <stdint.h>

#include "core/conn.h"
#include "core/dialer.h"

struct wr_ctx;

enum { WR_CODEC_OK = 0, WR_CODEC_ERROR = -1 };

struct wr_codec_ops {
    const char *name;
    /* Opening bytes (a client's hello); may write nothing. */
    int (*start)(void *st, struct evbuffer *wire_out);
    /* Consumes what it can of wire_in: plaintext to plain_out, handshake replies to wire_out;
     * leaves an incomplete frame in wire_in. ERROR: not our protocol, or corrupt. */
    int (*decode)(void *st, struct evbuffer *wire_in, struct evbuffer *plain_out,
                  struct evbuffer *wire_out);
    /* Only called when ready: frames all of plain_in into wire_out. */
    int (*encode)(void *st, struct evbuffer *plain_in, struct evbuffer *wire_out);
    int (*is_ready)(const void *st);
    void (*free)(void *st);
    /* Optional: the destination the peer named in its handshake (see wr_conn_destination). */
    const struct wr_endpoint *(*destination)(const void *st);
    /* Probe resistance: how long a failed server connection keeps draining before it closes:
     * until close_after_ms(st) after it arrived when set, else a random drain_min_ms to
     * drain_max_ms after the failure. */
    uint32_t drain_min_ms, drain_max_ms;
    uint32_t (*close_after_ms)(const void *st);
    /* Optional pacing: next_piece() moves the next held-back piece to wire_out and sets the
     * pause before the one after (returns 1), or returns 0 when nothing is held; queued() is
     * how many bytes are held. */
    int (*next_piece)(void *st, struct evbuffer *wire_out, uint32_t *delay_us);
    size_t (*queued)(const void *st);
    /* Optional, client: why decode() failed, for the dial's error message. */
    const char *(*error)(const void *st);
    /* Optional, client: start() held back its opening bytes so that the first plaintext can
     * leave in the same write (one packet, and no fixed-size opening to fingerprint).
     * flush() writes them alone; the adapter calls it flush_after_ms after the start if
     * nothing was written by then (a server that speaks first), or before a half-close. */
    int (*flush)(void *st, struct evbuffer *wire_out);
    uint32_t flush_after_ms;
    /* Client: the handshake must finish within this (0: ctx->handshake_timeout_s). */
    uint32_t dial_timeout_ms;
    /* Wire bytes buffered while the handshake is incomplete, at most (a stalled peer costs
     * no more than this). */
    size_t handshake_max;
};

/* Takes ownership of lower and st. NULL on allocation failure (both freed). */
struct wr_conn *wr_codec_conn_new(struct wr_ctx *ctx, struct wr_conn *lower,
                                  const struct wr_codec_ops *ops, void *st, int probe_resistant);

/* The codec state of a connection wr_codec_conn_new() made (for its owner's diagnostics). */
void *wr_codec_conn_state(struct wr_conn *c);

/* Client side: takes ownership of st; cb gets the ready connection or NULL with a SOCKS reply
 * code (handshake failures and timeouts included). */
struct wr_pending *wr_codec_dial(struct wr_ctx *ctx, const struct wr_endpoint *server,
                                 const struct wr_codec_ops *ops, void *st, wr_dial_cb *cb,
                                 void *arg);

#endif
