/* udp_io.h: datagrams in and out of warren's UDP sockets in batches. Out: the framed
 * datagrams in a stream's buffer, sent with sendmmsg (one system call for up to 64), shared by
 * the client's return path and the server's path to its target. In: recvmmsg, up to
 * WR_UDP_RECV_BATCH datagrams with their source addresses, for the client's listening socket
 * and the server's socket to its target. */
#ifndef WARREN_MODES_UDP_IO_H
#define WARREN_MODES_UDP_IO_H

#include <event2/buffer.h>
#include <stdint.h>
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

#define WR_UDP_RECV_BATCH 16
#define WR_UDP_RECV_BUF 65536            /* bytes per datagram buffer: more than any datagram */

struct wr_udp_recv {
    struct mmsghdr msgs[WR_UDP_RECV_BATCH];
    struct iovec iov[WR_UDP_RECV_BATCH];
    struct sockaddr_storage src[WR_UDP_RECV_BATCH];
};

/* One recvmmsg (non-blocking) into bufs (WR_UDP_RECV_BATCH x WR_UDP_RECV_BUF bytes): datagram
 * i is at r->iov[i].iov_base, r->msgs[i].msg_len bytes long, from r->src[i]
 * (r->msgs[i].msg_hdr.msg_namelen), MSG_TRUNC in r->msgs[i].msg_hdr.msg_flags if it did not
 * fit. Returns what recvmmsg returns, errno included. */
int wr_udp_recv_batch(int fd, uint8_t *bufs, struct wr_udp_recv *r);

#endif
