/* tcp.h: a wr_conn over a connected TCP socket (a libevent socket bufferevent). */
#ifndef WARREN_CORE_TCP_H
#define WARREN_CORE_TCP_H

#include <event2/util.h>

#include "core/conn.h"

struct bufferevent;
struct wr_ctx;

/* Takes ownership of a connected bufferevent (created with BEV_OPT_CLOSE_ON_FREE). */
struct wr_conn *wr_tcp_conn_new(struct wr_ctx *ctx, struct bufferevent *bev);
/* Takes ownership of an accepted socket; NULL (and the socket closed) on failure. */
struct wr_conn *wr_tcp_conn_from_fd(struct wr_ctx *ctx, evutil_socket_t fd);
/* Tunes a bufferevent for relaying: larger single reads and writes than libevent's 16 KiB. */
void wr_tcp_tune(struct bufferevent *bev);
/* The socket under a TCP conn, or -1 for other kinds. */
evutil_socket_t wr_tcp_fd(const struct wr_conn *c);

#endif
