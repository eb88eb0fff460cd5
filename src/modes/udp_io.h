/* udp_io.h: the one place datagrams leave warren: the framed datagrams in a stream's buffer,
 * sent with sendmmsg in batches (one system call for up to 64), shared by the client's return
 * path and the server's path to its target. */
#ifndef WARREN_MODES_UDP_IO_H
#define WARREN_MODES_UDP_IO_H

#include <event2/buffer.h>
#include <sys/socket.h>

struct wr_udp_sent {
    unsigned long sent, empty, refused; /* datagrams sent; empty ones dropped; send failures */
    int last_errno;
};

/* Sends every whole datagram framed in `in` (STUN or 2-byte length) on fd, to `to` (NULL for
 * a connected socket), draining what it sent or dropped; a partial frame stays. 0, or -1 with
 * *why when a frame is corrupt (the stream must be closed). */
int wr_udp_send_frames(int fd, struct evbuffer *in, int stun, const struct sockaddr *to,
                       socklen_t tolen, struct wr_udp_sent *out, const char **why);

#endif
