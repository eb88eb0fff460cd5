/* proxy_proto.c: upstream proxy URIs and handshakes; see proxy_proto.h. */
#include "core/proxy_proto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    S5_METHOD, S5_AUTH, S5_REPLY,      /* SOCKS5: waiting for method choice, auth status, reply */
    S4_REPLY,                          /* SOCKS4a: waiting for the 8-byte reply */
    HTTP_REPLY,                        /* HTTP: waiting for the response head */
};

#define HTTP_HEAD_MAX 16384

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Copies src[0..n) to dst (size cap), percent-decoding when asked. -1 if too long or bad. */
static int copy_userinfo(char *dst, size_t cap, const char *src, size_t n, int decode)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (decode && c == '%') {
            if (i + 2 >= n || hexval(src[i + 1]) < 0 || hexval(src[i + 2]) < 0)
                return -1;
            c = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap)
            return -1;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return 0;
}

int wr_proxy_parse(const char *uri, int percent_decode, struct wr_proxy *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    const char *sep = strstr(uri, "://");
    if (!sep) {
        snprintf(err, errlen, "proxy URI has no scheme (want socks5://, socks4a:// or http://): %s", uri);
        return -1;
    }
    size_t sl = (size_t)(sep - uri);
    if (sl == 6 && !strncasecmp(uri, "socks5", 6))
        p->type = WR_PROXY_SOCKS5;
    else if (sl == 7 && !strncasecmp(uri, "socks4a", 7))
        p->type = WR_PROXY_SOCKS4A;
    else if (sl == 4 && !strncasecmp(uri, "http", 4))
        p->type = WR_PROXY_HTTP;
    else {
        snprintf(err, errlen, "proxy URI has invalid scheme: %.*s (supported: socks5, socks4a, http)",
                 (int)(sl > 32 ? 32 : sl), uri);
        return -1;
    }
    const char *rest = sep + 3;
    /* Userinfo ends at the last '@' (tor does not escape '@' in passwords either). */
    const char *at = strrchr(rest, '@');
    const char *hostport = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        size_t ul = colon ? (size_t)(colon - rest) : (size_t)(at - rest);
        if (copy_userinfo(p->user, sizeof p->user, rest, ul, percent_decode) != 0) {
            snprintf(err, errlen, "proxy URI has a bad or over-long (>255 bytes) user name");
            return -1;
        }
        p->has_user = 1;
        if (colon) {
            if (copy_userinfo(p->pass, sizeof p->pass, colon + 1, (size_t)(at - colon - 1),
                              percent_decode) != 0) {
                snprintf(err, errlen, "proxy URI has a bad or over-long (>255 bytes) password");
                return -1;
            }
            p->has_pass = 1;
        }
        hostport = at + 1;
    }
    char hp[WR_ADDRSTRLEN + 2];
    size_t hl = strcspn(hostport, "/?#");
    if (hl >= sizeof hp || (hostport[hl] && strcmp(hostport + hl, "/") != 0)) {
        snprintf(err, errlen, "proxy URI must be <scheme>://[user[:password]@]ip:port with nothing after the port");
        return -1;
    }
    memcpy(hp, hostport, hl);
    hp[hl] = '\0';
    char e2[160];
    if (wr_endpoint_parse(hp, WR_EP_IP_ONLY | WR_EP_NONZERO_PORT, &p->addr, e2, sizeof e2) != 0) {
        if (strstr(e2, "not an IP"))
            snprintf(err, errlen, "proxy URI has invalid host: not an IP string: \"%.*s\"",
                     (int)(strrchr(hp, ':') ? strrchr(hp, ':') - hp : (long)hl), hp);
        else
            snprintf(err, errlen, "proxy URI has invalid address: %s", e2);
        return -1;
    }
    if (p->type == WR_PROXY_SOCKS4A && p->has_pass) {
        snprintf(err, errlen, "proxy URI specified SOCKS4a and a password");
        return -1;
    }
    if (p->type == WR_PROXY_SOCKS5 && p->has_user && p->user[0] == '\0') {
        snprintf(err, errlen, "proxy URI has an empty SOCKS5 user name");
        return -1;
    }
    return 0;
}

static void s5_connect_request(const struct wr_endpoint *d, struct evbuffer *out)
{
    uint8_t req[3 + WR_SOCKS_ADDR_MAX] = { 5, 1, 0 };
    size_t n = 3 + wr_endpoint_to_socks(d, req + 3);
    evbuffer_add(out, req, n);
}

int wr_proxy_hs_start(struct wr_proxy_hs *hs, const struct wr_proxy *proxy,
                      const struct wr_endpoint *dst, struct evbuffer *out, uint8_t *rep,
                      const char **why)
{
    hs->proxy = proxy;
    hs->dst = *dst;
    char hostport[WR_ADDRSTRLEN];
    switch (proxy->type) {
    case WR_PROXY_SOCKS5: {
        uint8_t greet[4] = { 5, 1, 0 };
        if (proxy->has_user) {
            greet[1] = 2;
            greet[2] = 0;
            greet[3] = 2;
        }
        evbuffer_add(out, greet, proxy->has_user ? 4 : 3);
        hs->state = S5_METHOD;
        return WR_PROXY_HS_MORE;
    }
    case WR_PROXY_SOCKS4A: {
        if (dst->type == WR_EP_IPV6) {
            *rep = 0x08;
            *why = "a SOCKS4a proxy cannot reach an IPv6 address";
            return WR_PROXY_HS_FAIL;
        }
        uint8_t hdr[8] = { 4, 1, (uint8_t)(dst->port >> 8), (uint8_t)dst->port, 0, 0, 0, 1 };
        if (dst->type == WR_EP_IPV4)
            memcpy(hdr + 4, &((const struct sockaddr_in *)&dst->sa)->sin_addr, 4);
        evbuffer_add(out, hdr, 8);
        evbuffer_add(out, proxy->user, strlen(proxy->user) + 1);
        if (dst->type == WR_EP_NAME)
            evbuffer_add(out, dst->host, strlen(dst->host) + 1);
        hs->state = S4_REPLY;
        return WR_PROXY_HS_MORE;
    }
    case WR_PROXY_HTTP: {
        wr_endpoint_format(dst, hostport, sizeof hostport);
        evbuffer_add_printf(out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", hostport, hostport);
        if (proxy->has_user) {
            char cred[520];
            unsigned char b64[700];
            int cl = snprintf(cred, sizeof cred, "%s:%s", proxy->user, proxy->pass);
            EVP_EncodeBlock(b64, (const unsigned char *)cred, cl);
            evbuffer_add_printf(out, "Proxy-Authorization: Basic %s\r\n", b64);
        }
        evbuffer_add(out, "\r\n", 2);
        hs->state = HTTP_REPLY;
        return WR_PROXY_HS_MORE;
    }
    }
    *rep = 0x01;
    *why = "unknown proxy type";
    return WR_PROXY_HS_FAIL;
}

static int fail(uint8_t *rep, const char **why, uint8_t code, const char *msg)
{
    *rep = code;
    *why = msg;
    return WR_PROXY_HS_FAIL;
}

static int http_reply(struct evbuffer *in, uint8_t *rep, const char **why)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) > HTTP_HEAD_MAX)
            return fail(rep, why, 0x01, "HTTP proxy sent an over-long response head");
        return WR_PROXY_HS_MORE;
    }
    /* The status line alone: "HTTP/1.x SP 3DIGIT [SP reason]". Bytes after the head are
     * the tunnel's own and must not be read as part of it. */
    struct evbuffer_ptr eol = evbuffer_search(in, "\r\n", 2, NULL);
    char line[64] = { 0 };
    size_t ll = (size_t)eol.pos < sizeof line - 1 ? (size_t)eol.pos : sizeof line - 1;
    evbuffer_copyout(in, line, ll);
    line[ll] = '\0';
    evbuffer_drain(in, (size_t)end.pos + 4);
    int status = 0;
    if (ll < 12 || strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
        line[9] < '0' || line[9] > '9' || line[10] < '0' || line[10] > '9' ||
        line[11] < '0' || line[11] > '9' || (line[12] != ' ' && line[12] != '\0'))
        return fail(rep, why, 0x01, "HTTP proxy sent a malformed status line");
    status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status >= 200 && status < 300)
        return WR_PROXY_HS_DONE;
    if (status == 407 || status == 401)
        return fail(rep, why, 0x02, "HTTP proxy rejected our credentials or wants some (401/407)");
    if (status == 403 || status == 405)
        return fail(rep, why, 0x02, "HTTP proxy refused the CONNECT (403/405)");
    if (status == 504 || status == 408)
        return fail(rep, why, 0x06, "HTTP proxy timed out reaching the destination");
    if (status == 502 || status == 503 || status == 500)
        return fail(rep, why, 0x04, "HTTP proxy could not reach the destination (5xx)");
    return fail(rep, why, 0x01, "HTTP proxy refused the CONNECT");
}

int wr_proxy_hs_input(struct wr_proxy_hs *hs, struct evbuffer *in, struct evbuffer *out,
                      uint8_t *rep, const char **why)
{
    uint8_t b[4 + 1 + 255 + 2];
    size_t have = evbuffer_get_length(in);
    for (;;) {
        switch (hs->state) {
        case S5_METHOD:
            if (have < 2)
                return WR_PROXY_HS_MORE;
            evbuffer_remove(in, b, 2);
            have -= 2;
            if (b[0] != 5)
                return fail(rep, why, 0x01, "upstream SOCKS5 proxy answered with a bad version");
            if (b[1] == 2 && hs->proxy->has_user) {
                size_t ul = strlen(hs->proxy->user), pl = strlen(hs->proxy->pass);
                uint8_t hdr[2] = { 1, (uint8_t)ul };
                evbuffer_add(out, hdr, 2);
                evbuffer_add(out, hs->proxy->user, ul);
                uint8_t plb = (uint8_t)pl;
                evbuffer_add(out, &plb, 1);
                evbuffer_add(out, hs->proxy->pass, pl);
                hs->state = S5_AUTH;
                continue;
            }
            if (b[1] != 0)
                return fail(rep, why, 0x01, b[1] == 0xff ? "upstream SOCKS5 proxy accepted none of our auth methods"
                                                          : "upstream SOCKS5 proxy chose an auth method we did not offer");
            s5_connect_request(&hs->dst, out);
            hs->state = S5_REPLY;
            continue;
        case S5_AUTH:
            if (have < 2)
                return WR_PROXY_HS_MORE;
            evbuffer_remove(in, b, 2);
            have -= 2;
            if (b[1] != 0)
                return fail(rep, why, 0x02, "upstream SOCKS5 proxy rejected our user name and password");
            s5_connect_request(&hs->dst, out);
            hs->state = S5_REPLY;
            continue;
        case S5_REPLY: {
            if (have < 5)
                return WR_PROXY_HS_MORE;
            evbuffer_copyout(in, b, 5);
            size_t need;
            if (b[3] == 1) need = 4 + 4 + 2;
            else if (b[3] == 4) need = 4 + 16 + 2;
            else if (b[3] == 3) need = 4 + 1 + (size_t)b[4] + 2;
            else return fail(rep, why, 0x01, "upstream SOCKS5 proxy sent a bad address type");
            if (b[0] != 5)
                return fail(rep, why, 0x01, "upstream SOCKS5 proxy answered with a bad version");
            if (have < need)
                return WR_PROXY_HS_MORE;
            evbuffer_drain(in, need);
            if (b[1] != 0) {
                *rep = b[1] <= 8 ? b[1] : 0x01;
                *why = "upstream SOCKS5 proxy could not connect";
                return WR_PROXY_HS_FAIL;
            }
            return WR_PROXY_HS_DONE;
        }
        case S4_REPLY:
            if (have < 8)
                return WR_PROXY_HS_MORE;
            evbuffer_remove(in, b, 8);
            if (b[0] != 0 || b[1] < 0x5a || b[1] > 0x5d)
                return fail(rep, why, 0x01, "upstream SOCKS4a proxy sent a malformed reply");
            if (b[1] != 0x5a)
                return fail(rep, why, 0x05, "upstream SOCKS4a proxy rejected or failed the request");
            return WR_PROXY_HS_DONE;
        case HTTP_REPLY:
            return http_reply(in, rep, why);
        default:
            return fail(rep, why, 0x01, "proxy handshake in a bad state");
        }
    }
}
