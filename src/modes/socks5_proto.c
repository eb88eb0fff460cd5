/* socks5_proto.c: SOCKS5 message parsing; see socks5_proto.h. */
#include "modes/socks5_proto.h"

#include <arpa/inet.h>
#include <string.h>

int wr_s5_parse_greeting(const uint8_t *p, size_t n, size_t *used, uint8_t *method)
{
    if (n < 1)
        return WR_S5_MORE;
    if (p[0] != 5)
        return WR_S5_BAD;
    if (n < 2 || n < 2 + (size_t)p[1])
        return WR_S5_MORE;
    int has[3] = { 0, 0, 0 };
    for (size_t i = 0; i < p[1]; i++) {
        uint8_t m = p[2 + i];
        if (m == WR_S5_AUTH_JSON) has[0] = 1;
        else if (m == WR_S5_AUTH_USERPASS) has[1] = 1;
        else if (m == WR_S5_AUTH_NONE) has[2] = 1;
    }
    *method = has[0] ? WR_S5_AUTH_JSON : has[1] ? WR_S5_AUTH_USERPASS
            : has[2] ? WR_S5_AUTH_NONE : WR_S5_AUTH_NO_ACCEPTABLE;
    *used = 2 + (size_t)p[1];
    return WR_S5_OK;
}

int wr_s5_parse_userpass(const uint8_t *p, size_t n, size_t *used, char *out, size_t *out_len)
{
    if (n < 1)
        return WR_S5_MORE;
    if (p[0] != 1)
        return WR_S5_BAD;
    if (n < 2 || n < 2 + (size_t)p[1] + 1)
        return WR_S5_MORE;
    size_t ul = p[1];
    size_t pl = p[2 + ul];
    if (n < 3 + ul + pl)
        return WR_S5_MORE;
    memcpy(out, p + 2, ul);
    size_t total = ul;
    const uint8_t *pw = p + 3 + ul;
    if (!(pl == 1 && pw[0] == 0)) {
        memcpy(out + ul, pw, pl);
        total += pl;
    }
    out[total] = '\0';
    *out_len = total;
    *used = 3 + ul + pl;
    return WR_S5_OK;
}

int wr_s5_parse_json_len(const uint8_t *p, size_t n, size_t *used, uint32_t *len)
{
    if (n < 4)
        return WR_S5_MORE;
    *len = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    *used = 4;
    return WR_S5_OK;
}

int wr_s5_parse_request(const uint8_t *p, size_t n, size_t *used, struct wr_s5_request *req,
                        uint8_t *rep)
{
    *rep = 0;
    if (n < 1)
        return WR_S5_MORE;
    if (p[0] != 5)
        return WR_S5_BAD;
    if (n < 4)
        return WR_S5_MORE;
    req->cmd = p[1];
    if (p[1] != 1) {
        *rep = 0x07;
        return WR_S5_BAD;
    }
    size_t alen;
    int r = wr_endpoint_from_socks(p + 3, n - 3, &alen, &req->dst);
    if (r == 0)
        return WR_S5_MORE;
    if (r < 0) {
        *rep = r == WR_SOCKS_ADDR_BAD_TYPE ? 0x08 : 0x01;
        return WR_S5_BAD;
    }
    *used = 3 + alen;
    return WR_S5_OK;
}

void wr_s5_reply(uint8_t out[10], uint8_t rep)
{
    static const uint8_t tmpl[10] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
    memcpy(out, tmpl, 10);
    out[1] = rep;
}
