/* udp_frame.c: datagram framing; see udp_frame.h. */
#include "modes/udp_frame.h"

static size_t be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

static int stun_header_ok(const uint8_t *p, size_t *len, const char **why)
{
    uint32_t cookie = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    *len = be16(p + 2);
    if (p[0] & 0xC0)
        *why = "not STUN: the first two bits are not zero";
    else if (cookie != WR_STUN_COOKIE)
        *why = "not STUN: no magic cookie";
    else if (*len % 4)
        *why = "not STUN: the length is not a multiple of 4";
    else if (WR_STUN_HEADER + *len > WR_UDP_MAX_DATAGRAM)
        *why = "STUN message longer than a datagram";
    else
        return 1;
    return 0;
}

int wr_stun_check(const uint8_t *p, size_t n)
{
    size_t len;
    const char *why;
    return n >= WR_STUN_HEADER && stun_header_ok(p, &len, &why) && WR_STUN_HEADER + len == n;
}

int wr_udp_frame_next(const uint8_t *p, size_t n, int stun, size_t *off, size_t *len,
                      size_t *used, const char **why)
{
    if (stun) {
        if (n < WR_STUN_HEADER)
            return WR_UDP_FRAME_MORE;
        if (!stun_header_ok(p, len, why))
            return WR_UDP_FRAME_BAD;
        *off = 0;
        *len += WR_STUN_HEADER;
    } else {
        if (n < 2)
            return WR_UDP_FRAME_MORE;
        *len = be16(p);
        if (*len > WR_UDP_MAX_DATAGRAM) {
            *why = "framed length larger than any datagram";
            return WR_UDP_FRAME_BAD;
        }
        *off = 2;
    }
    if (n < *off + *len)
        return WR_UDP_FRAME_MORE;
    *used = *off + *len;
    return WR_UDP_FRAME_OK;
}
