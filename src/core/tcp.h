/* tcp.h: a wr_conn over a connected TCP (or Unix stream) socket, on two plain libevent events.
 * Reads go straight into conn->in with readv, growing from 16 KiB to 512 KiB while the peer
 * keeps the socket full; writes are tried at once (write-through) and only wait for the loop
 * when the socket is full. Half-close is shutdown(SHUT_WR) once the output is flushed; an
 * abortive close sets SO_LINGER 0 so the peer sees an RST. */
#ifndef WARREN_CORE_TCP_H
#define WARREN_CORE_TCP_H

#include <event2/util.h>

#include "core/conn.h"

struct wr_ctx;

/* Takes ownership of a connected socket, already non-blocking (accept4 and our dialer make
 * them so); NULL (socket closed) on failure. */
struct wr_conn *wr_tcp_conn_from_fd(struct wr_ctx *ctx, evutil_socket_t fd);
/* The socket under a TCP conn, or -1 for other kinds. */
evutil_socket_t wr_tcp_fd(const struct wr_conn *c);

#endif
