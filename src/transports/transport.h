/* transport.h: the one interface every transport implements (plain now; obfs4, shadow and
 * those that own their connection, like meek, later). A transport is a const table of
 * functions plus per-listener state that its init functions create from the options.
 *
 * Client side: client_open() produces, asynchronously, a *ready* wr_conn that carries the
 * application's bytes to the server: a stream transform dials with wr_dial() (which honours
 * -proxy) and wraps the socket; a transport that owns its connection does what it likes; a
 * multiplexer returns a stream. The mode never sees the difference.
 * Server side: server_wrap() takes an accepted socket and returns the transport connection,
 * which may not be ready yet (WR_EV_READY says when the handshake is done). */
#ifndef WARREN_TRANSPORTS_TRANSPORT_H
#define WARREN_TRANSPORTS_TRANSPORT_H

#include <jansson.h>
#include <stddef.h>

#include "core/addr.h"
#include "core/conn.h"
#include "core/dialer.h"

struct wr_ctx;

enum wr_mode { WR_MODE_SOCKS5 = 0, WR_MODE_TRANSPARENT_TCP, WR_MODE_TRANSPARENT_UDP, WR_MODE_STUN };
/* "socks5", "transparent-TCP", "transparent-UDP", "STUN": the spec's spelling. */
const char *wr_mode_name(enum wr_mode mode);

/* What one application connection asks of the client side of a transport. */
struct wr_open_req {
    const json_t *args;                 /* -options merged with per-connection settings */
    const struct wr_endpoint *dst;      /* SOCKS destination, or NULL (transparent mode) */
};

#define WR_SMETHOD_ARGS_MAX 1024

struct wr_transport {
    const char *name;                   /* canonical spelling; matched case-insensitively */
    /* The server can run without -target: each connection names its destination
     * (wr_conn_destination), and the server connects there, subject to the destination policy. */
    int free_server;

    /* Validates the client options once at start (CMETHOD-ERROR text in err on failure). */
    int (*client_init)(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode, void **state,
                       char *err, size_t errlen);
    /* Validates one connection's merged settings (SOCKS reply X'13' on failure). */
    int (*client_check)(void *state, const json_t *args, char *err, size_t errlen);
    /* Opens a transport connection; cb gets a ready conn, or NULL with a SOCKS5 reply code.
     * NULL return: could not start (cb never called). */
    struct wr_pending *(*client_open)(void *state, const struct wr_open_req *req, wr_dial_cb *cb,
                                      void *arg);

    /* Validates the server options and fills args_out with the escaped SMETHOD ARGS
     * ("k=v,k=v", possibly empty). state_dir is where the transport may keep keys: -state,
     * or NULL when it was not given (a transport with an identity must not drop it into
     * whatever directory it was started from). */
    int (*server_init)(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                       const char *state_dir, void **state, char *args_out, char *err,
                       size_t errlen);
    /* Takes ownership of an accepted connection; returns the transport connection, or NULL
     * (raw already closed). */
    struct wr_conn *(*server_wrap)(void *state, struct wr_conn *raw);
    /* Optional: called once the server listens on bound, to tell the operator what clients
     * need (a bridge line, a share URI). */
    void (*server_announce)(void *state, const struct wr_endpoint *bound);

    void (*free_state)(void *state);
};

/* NULL-terminated table of every built-in transport. */
extern const struct wr_transport *const wr_transports[];
const struct wr_transport *wr_transport_find(const char *name);   /* case-insensitive */

/* The server a client connection goes to: the SOCKS destination unless it is missing or
 * 0.0.0.0:0/[::]:0, else the option serverAddress. 0 ok; -1 with a reason. */
/* The option serverAddress, when present, must be host:port; required (a client outside socks5
 * mode has no SOCKS destination to take the server from) makes it mandatory. 0, or -1 with a
 * reason. */
int wr_transport_check_server_address(const json_t *opts, int required, char *err, size_t errlen);

int wr_transport_server_addr(const struct wr_open_req *req, struct wr_endpoint *out, char *err,
                             size_t errlen);

#endif
