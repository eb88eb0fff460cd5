/* udp_io.c: framed datagrams out with sendmmsg, datagrams in with recvmmsg; see udp_io.h. */
#include "modes/udp_io.h"

#include <errno.h>
#include <string.h>

#include "modes/udp_frame.h"

#define BATCH 64
#define WINDOW (256 * 1024)             /* bytes made contiguous per batch */

int wr_udp_send_frames(int fd, struct evbuffer *in, int stun, const struct sockaddr *to,
                       socklen_t tolen, struct wr_udp_sent *out, const char **why)
{
    for (;;) {
        size_t have = evbuffer_get_length(in);
        if (!have)
            return 0;
        /* At least one whole frame must fit in the window. */
        size_t want = have < WINDOW ? have : WINDOW;
        if (want < have && want < 2 + WR_UDP_MAX_DATAGRAM)
            want = have < 2 + WR_UDP_MAX_DATAGRAM ? have : 2 + WR_UDP_MAX_DATAGRAM;
        const uint8_t *p = evbuffer_pullup(in, (ssize_t)want);
        struct mmsghdr msgs[BATCH];
        struct iovec iov[BATCH];
        size_t pos = 0;
        int n = 0, bad = 0;
        while (n < BATCH) {
            size_t off, len, used;
            int r = wr_udp_frame_next(p + pos, want - pos, stun, &off, &len, &used, why);
            if (r == WR_UDP_FRAME_MORE)
                break;
            if (r == WR_UDP_FRAME_BAD) {
                bad = 1;
                break;
            }
            if (len == 0) {
                out->empty++;
                pos += used;
                continue;
            }
            iov[n].iov_base = (void *)(p + pos + off);
            iov[n].iov_len = len;
            memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            msgs[n].msg_hdr.msg_name = (void *)to;
            msgs[n].msg_hdr.msg_namelen = to ? tolen : 0;
            pos += used;
            n++;
        }
        int done = 0;
        while (done < n) {
            int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), MSG_DONTWAIT);
            if (r > 0) {
                out->sent += (unsigned long)r;
                done += r;
                continue;
            }
            /* The socket is full or the peer refuses: this datagram is lost, go on. */
            out->refused++;
            out->last_errno = r < 0 ? errno : EAGAIN;
            done++;
        }
        evbuffer_drain(in, pos);
        if (bad)
            return -1;
        if (n < BATCH)
            return 0;                   /* what is left is not a whole frame */
    }
}

int wr_udp_recv_batch(int fd, uint8_t *bufs, struct wr_udp_recv *r)
{
    for (int i = 0; i < WR_UDP_RECV_BATCH; i++) {
        r->iov[i].iov_base = bufs + (size_t)i * WR_UDP_RECV_BUF;
        r->iov[i].iov_len = WR_UDP_RECV_BUF;
        memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
        r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
        r->msgs[i].msg_hdr.msg_iovlen = 1;
        r->msgs[i].msg_hdr.msg_name = &r->src[i];
        r->msgs[i].msg_hdr.msg_namelen = sizeof r->src[i];
    }
    return recvmmsg(fd, r->msgs, WR_UDP_RECV_BATCH, MSG_DONTWAIT, NULL);
}
