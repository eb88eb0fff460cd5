/* listener.h: a listening TCP socket whose accepted sockets go to a callback. When the
 * process runs out of file descriptors, accepting pauses (the kernel queues new connections)
 * and resumes shortly after, instead of spinning or dying. */
#ifndef WARREN_CORE_LISTENER_H
#define WARREN_CORE_LISTENER_H

#include <event2/util.h>

#include "core/addr.h"

struct wr_ctx;
struct wr_listener;

/* fd: the accepted socket, now owned by the callback. */
typedef void wr_accept_cb(void *arg, evutil_socket_t fd, const struct sockaddr *peer, int peerlen);

struct wr_listener *wr_listener_new(struct wr_ctx *ctx, const struct wr_endpoint *bind,
                                    wr_accept_cb *cb, void *arg, char *err, size_t errlen);
/* The address actually bound (port 0 resolved), as "ip:port" / "[ip6]:port". */
const struct wr_endpoint *wr_listener_addr(const struct wr_listener *l);
void wr_listener_free(struct wr_listener *l);

#endif
