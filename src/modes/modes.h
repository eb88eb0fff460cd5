/* modes.h: the front ends. A method is one launched transport: its listener, the transport's
 * state and options, and the mode that turns each accepted socket into a tunnel:
 * - client socks5: SOCKS5 handshake (with per-connection settings), then the transport;
 * - client transparent-TCP: straight to the transport's configured server;
 * - server (socks5 and transparent-TCP alike): the transport's server side, then -target. */
#ifndef WARREN_MODES_MODES_H
#define WARREN_MODES_MODES_H

#include <event2/util.h>
#include <jansson.h>

#include "core/addr.h"
#include "transports/transport.h"

struct wr_ctx;
struct wr_listener;
struct wr_udp_client;
struct wr_mux_pool;

struct wr_method {
    struct wr_ctx *ctx;
    const char *name;                   /* as the parent spelled it */
    const struct wr_transport *t;
    void *tstate;
    json_t *opts;                       /* this transport's options (owned) */
    enum wr_mode mode;
    int is_server;
    struct wr_endpoint target;          /* server, when has_target */
    int has_target;                     /* else free: each connection names its destination */
    int allow_private;                  /* free server may reach loopback/private/link-local */
    /* Server: connect through tor's Extended ORPort instead (it wins over target). */
    int has_extorport;
    struct wr_endpoint extorport;
    const uint8_t *extor_cookie;        /* 32 bytes, owned by the config */
    struct wr_listener *listener;
    struct wr_udp_client *udp;          /* client in transparent-UDP/STUN mode, instead */
    unsigned udp_sessions;              /* server in those modes: flows open */
    int mux;                            /* server: connections carry mux sessions (option mux) */
    struct wr_mux_pool *mux_pool;       /* client: sessions per server, made on first use */
};

void wr_socks5_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen);
void wr_transparent_tcp_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen);
void wr_server_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen);

/* Client: opens a transport connection for one application connection, as a stream of a mux
 * session when the merged settings say mux (docs/spec/mux.md), else with t->client_open. */
struct wr_pending *wr_method_open(struct wr_method *m, const struct wr_open_req *req, wr_dial_cb *cb,
                                  void *arg);

/* Server: an accepted socket as the transport's server connection (fd is owned from here on),
 * or NULL when it could not be set up (fd closed). */
struct wr_conn *wr_method_accept(struct wr_method *m, evutil_socket_t fd);

/* transparent-UDP and STUN (udp_client.c, udp_server.c). The client listens on a UDP socket;
 * it lives on the context's live list (a shutdown frees it, and sets m->udp to NULL). Options
 * udpIdleTimeout (seconds) and udpMaxFlows. NULL with err. */
struct wr_udp_client *wr_udp_client_new(struct wr_method *m, const struct wr_endpoint *bind,
                                        char *err, size_t errlen);
const struct wr_endpoint *wr_udp_client_addr(const struct wr_udp_client *uc);
void wr_udp_server_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen);

#endif
