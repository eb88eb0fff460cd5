/* udp_frame.h: datagrams on a byte stream (seed 004 §1.5.4), pure code.
 *   transparent-UDP: each datagram is prefixed with its length, 2 bytes big-endian;
 *   STUN: messages go as they are, since a STUN header carries the length (RFC 5389 §6): the
 *   first two bits zero, the message length (a multiple of 4) in bytes 2-3, and the magic cookie
 *   0x2112A442 in bytes 4-7, then length bytes of attributes.
 * No datagram is ever split or merged: the reader yields exactly the datagrams written. */
#ifndef WARREN_MODES_UDP_FRAME_H
#define WARREN_MODES_UDP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define WR_UDP_MAX_DATAGRAM 65507           /* the most an IPv4 UDP datagram can carry */
#define WR_STUN_HEADER 20
#define WR_STUN_COOKIE 0x2112A442u

/* 1 if p[0..n) is one whole STUN message (header checks above, length = n - 20). */
int wr_stun_check(const uint8_t *p, size_t n);

enum { WR_UDP_FRAME_BAD = -1, WR_UDP_FRAME_MORE = 0, WR_UDP_FRAME_OK = 1 };

/* The next datagram at the start of p[0..n): OK sets *off and *len (where it is in p) and
 * *used (bytes to consume); MORE: not complete yet; BAD sets *why (the stream is corrupt and
 * must be closed). A zero-length transparent-UDP frame is OK with *len 0: the caller drops it. */
int wr_udp_frame_next(const uint8_t *p, size_t n, int stun, size_t *off, size_t *len,
                      size_t *used, const char **why);

/* The 2-byte prefix of a transparent-UDP frame (the caller writes the payload after it). */
static inline void wr_udp_frame_header(uint8_t h[2], size_t len)
{
    h[0] = (uint8_t)(len >> 8);
    h[1] = (uint8_t)len;
}

#endif
