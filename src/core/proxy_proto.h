/* proxy_proto.h: the client side of the upstream proxies that -proxy names (SOCKS5 with
 * RFC 1929 user/password, SOCKS4a, HTTP CONNECT with basic auth): URI validation and the
 * handshake as a pure state machine over evbuffers, so it is tested and fuzzed without sockets. */
#ifndef WARREN_CORE_PROXY_PROTO_H
#define WARREN_CORE_PROXY_PROTO_H

#include <event2/buffer.h>
#include <stdint.h>

#include "core/addr.h"

enum wr_proxy_type { WR_PROXY_SOCKS5 = 1, WR_PROXY_SOCKS4A, WR_PROXY_HTTP };

struct wr_proxy {
    enum wr_proxy_type type;
    struct wr_endpoint addr;       /* always an IP literal */
    char user[256];
    char pass[256];
    uint8_t has_user, has_pass;
};

/* Validates "<scheme>://[user[:pass]@]ip:port". percent_decode: PT 3.0 URIs are
 * percent-encoded; tor's TOR_PT_PROXY is not (split the userinfo at the first ':').
 * On error err holds the PROXY-ERROR text. */
int wr_proxy_parse(const char *uri, int percent_decode, struct wr_proxy *p, char *err, size_t errlen);

struct wr_proxy_hs {
    const struct wr_proxy *proxy;
    struct wr_endpoint dst;
    int state;
};

enum { WR_PROXY_HS_MORE = 0, WR_PROXY_HS_DONE = 1, WR_PROXY_HS_FAIL = -1 };

/* Writes the first request to out. Fails (rep set) if the proxy cannot carry dst. */
int wr_proxy_hs_start(struct wr_proxy_hs *hs, const struct wr_proxy *proxy,
                      const struct wr_endpoint *dst, struct evbuffer *out, uint8_t *rep,
                      const char **why);
/* Consumes the proxy's reply bytes from in (exactly those: anything after stays), writing any
 * next request to out. On FAIL, *rep is the SOCKS5 reply code to give our own client. */
int wr_proxy_hs_input(struct wr_proxy_hs *hs, struct evbuffer *in, struct evbuffer *out,
                      uint8_t *rep, const char **why);

#endif
