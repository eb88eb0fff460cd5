/* session.h: one mux session (docs/spec/mux.md) over a carrier connection, and its streams,
 * each of which is a struct wr_conn like any other, so relays and modes use them unchanged.
 *
 * Ownership: the session owns the carrier and every stream's state; the owner of a stream (a
 * relay, a pending SOCKS request) holds it through wr_conn_close() like any connection, and
 * closing it before both FINs resets it on the wire. The session's owner (the client pool, the
 * server mode) frees the session; when the carrier fails or the peer breaks the protocol, the
 * session calls on_close once, after which every stream gets WR_EV_ERROR. */
#ifndef WARREN_MUX_SESSION_H
#define WARREN_MUX_SESSION_H

#include <stdint.h>

#include "core/addr.h"
#include "core/conn.h"
#include "core/dialer.h"

struct wr_ctx;
struct wr_mux_session;

enum wr_mux_role { WR_MUX_CLIENT = 0, WR_MUX_SERVER = 1 };

struct wr_mux_hooks {
    /* Server: the client opened a stream to dst (NULL: the server's own target). The callee
     * owns the stream and answers with wr_mux_reply(). */
    void (*on_open)(void *arg, struct wr_conn *stream, const struct wr_endpoint *dst);
    /* The session is over (why: for the log); the owner frees it (not from inside this call's
     * caller: schedule it, or free it right here and return). */
    void (*on_close)(void *arg, struct wr_mux_session *ms, const char *why);
};

/* Takes ownership of carrier (ready). NULL on allocation failure (carrier closed). */
struct wr_mux_session *wr_mux_session_new(struct wr_ctx *ctx, struct wr_conn *carrier,
                                          enum wr_mux_role role, const struct wr_mux_hooks *hooks,
                                          void *arg, const char *label);
/* Client: opens a stream to dst (NULL: the server's target). cb gets the ready stream when the
 * server's REPLY says success, or NULL with its status as a SOCKS reply code. */
struct wr_pending *wr_mux_open(struct wr_mux_session *ms, const struct wr_endpoint *dst,
                               wr_dial_cb *cb, void *arg);
/* Server: the answer to an OPEN (0 = connected, else a SOCKS reply code; then close it). */
void wr_mux_reply(struct wr_conn *stream, uint8_t status);
/* No new streams (GOAWAY); open ones finish. */
void wr_mux_goaway(struct wr_mux_session *ms);
/* 1 while new streams may be opened on it. */
int wr_mux_usable(const struct wr_mux_session *ms);
unsigned wr_mux_open_streams(const struct wr_mux_session *ms);
/* Resets every stream and closes the carrier. */
void wr_mux_session_free(struct wr_mux_session *ms);

#endif
