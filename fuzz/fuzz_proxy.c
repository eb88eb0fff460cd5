/* fuzz_proxy.c: upstream proxy URIs and the proxy handshakes.
 *
 * 1. The input (to its first NUL) as a -proxy URI, with and without percent-decoding; a proxy
 *    that parses must satisfy the URI rules, and its first request is built for a destination.
 * 2. The input as the proxy's replies, for each kind of proxy (SOCKS5 without and with
 *    RFC 1929, SOCKS4a, HTTP CONNECT without and with basic auth) and a destination picked by
 *    byte 0: fed all at once, and again in chunks of 1..16 bytes; both ways must agree on the
 *    result, the reply code, what was written to the proxy and what is left unconsumed. */
#include "fuzz.h"

#include <event2/buffer.h>

#include "core/proxy_proto.h"

#define U255 "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"

static const char *const proxy_uris[] = {
    "socks5://127.0.0.1:1080",
    "socks5://user:pass@127.0.0.1:1080",
    "socks5://" U255 ":" U255 "@[::1]:1080",
    "socks4a://user@127.0.0.1:1080",
    "http://127.0.0.1:3128",
    "http://" U255 ":" U255 "@127.0.0.1:3128",
};
#define N_PROXIES (sizeof proxy_uris / sizeof proxy_uris[0])

static struct wr_proxy proxies[N_PROXIES];
static struct wr_endpoint dsts[4];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    for (size_t i = 0; i < N_PROXIES; i++)
        if (wr_proxy_parse(proxy_uris[i], 1, &proxies[i], err, sizeof err) != 0)
            abort();
    static const char *const d[] = { "192.0.2.1:443", "[2001:db8::1]:80", "example.com:8443", NULL };
    for (size_t i = 0; d[i]; i++)
        if (wr_endpoint_parse(d[i], 0, &dsts[i], err, sizeof err) != 0)
            abort();
    /* the longest name a SOCKS client can ask for */
    char longname[256];
    for (size_t i = 0; i < 255; i++)
        longname[i] = (i % 60 == 59) ? '.' : 'n';
    longname[255] = '\0';
    if (wr_endpoint_set(&dsts[3], WR_EP_NAME, longname, 65535) != 0)
        abort();
    return 0;
}

static void check_uri(const char *uri, int decode)
{
    struct wr_proxy p;
    char err[512];
    err[0] = '\0';
    if (wr_proxy_parse(uri, decode, &p, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0');
        return;
    }
    FUZZ_CHECK(p.type == WR_PROXY_SOCKS5 || p.type == WR_PROXY_SOCKS4A || p.type == WR_PROXY_HTTP);
    FUZZ_CHECK(p.addr.type == WR_EP_IPV4 || p.addr.type == WR_EP_IPV6);
    FUZZ_CHECK(p.addr.port != 0);
    FUZZ_CHECK(strlen(p.user) <= 255 && strlen(p.pass) <= 255);
    FUZZ_CHECK(p.has_user || (!p.has_pass && p.user[0] == '\0'));
    FUZZ_CHECK(p.has_pass || p.pass[0] == '\0');
    if (p.type == WR_PROXY_SOCKS4A)
        FUZZ_CHECK(!p.has_pass);
    if (p.type == WR_PROXY_SOCKS5 && p.has_user)
        FUZZ_CHECK(p.user[0] != '\0');
    /* the first request to this proxy */
    struct wr_proxy_hs hs;
    struct evbuffer *out = evbuffer_new();
    uint8_t rep = 0x77;
    const char *why = NULL;
    int rc = wr_proxy_hs_start(&hs, &p, &dsts[2], out, &rep, &why);
    FUZZ_CHECK(rc == WR_PROXY_HS_MORE);
    FUZZ_CHECK(evbuffer_get_length(out) > 0 && evbuffer_get_length(out) < 2048);
    evbuffer_free(out);
}

struct result {
    int rc;
    uint8_t rep;
    size_t left;           /* reply bytes not consumed */
    size_t out_len;
    uint8_t *out;          /* what we sent the proxy after the first request */
};

static void run_hs(const struct wr_proxy *p, const struct wr_endpoint *dst, const uint8_t *data,
                   size_t size, size_t chunk, struct result *res)
{
    struct wr_proxy_hs hs;
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    if (!in || !out)
        abort();
    uint8_t rep = 0x77;
    const char *why = NULL;
    int rc = wr_proxy_hs_start(&hs, p, dst, out, &rep, &why);
    size_t fed = 0;
    if (rc == WR_PROXY_HS_MORE) {
        evbuffer_drain(out, evbuffer_get_length(out));
        while (fed < size) {
            size_t n = size - fed < chunk ? size - fed : chunk;
            evbuffer_add(in, data + fed, n);
            fed += n;
            size_t before = evbuffer_get_length(in);
            rc = wr_proxy_hs_input(&hs, in, out, &rep, &why);
            FUZZ_CHECK(evbuffer_get_length(in) <= before);
            if (rc != WR_PROXY_HS_MORE)
                break;
        }
    }
    FUZZ_CHECK(rc == WR_PROXY_HS_MORE || rc == WR_PROXY_HS_DONE || rc == WR_PROXY_HS_FAIL);
    if (rc == WR_PROXY_HS_FAIL) {
        FUZZ_CHECK(why != NULL && why[0] != '\0');
        FUZZ_CHECK(rep >= 0x01 && rep <= 0x08);
    }
    res->rc = rc;
    res->rep = rc == WR_PROXY_HS_FAIL ? rep : 0;
    res->left = evbuffer_get_length(in) + (size - fed);
    res->out_len = evbuffer_get_length(out);
    res->out = malloc(res->out_len ? res->out_len : 1);
    if (!res->out)
        abort();
    evbuffer_remove(out, res->out, res->out_len);
    evbuffer_free(in);
    evbuffer_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *uri = fuzz_cstr(data, size);
    check_uri(uri, 0);
    check_uri(uri, 1);
    free(uri);

    if (size < 1 || size > 16384)   /* (over 16 KiB an HTTP head may be cut differently) */
        return 0;
    const struct wr_endpoint *dst = &dsts[data[0] % 4];
    size_t chunk = 1 + (data[0] >> 4);
    data++;
    size--;
    for (size_t i = 0; i < N_PROXIES; i++) {
        struct result whole, pieces;
        run_hs(&proxies[i], dst, data, size, size ? size : 1, &whole);
        run_hs(&proxies[i], dst, data, size, chunk, &pieces);
        FUZZ_CHECK(whole.rc == pieces.rc);
        FUZZ_CHECK(whole.rep == pieces.rep);
        FUZZ_CHECK(whole.left == pieces.left);
        FUZZ_CHECK(whole.out_len == pieces.out_len && memcmp(whole.out, pieces.out, whole.out_len) == 0);
        free(whole.out);
        free(pieces.out);
    }
    return 0;
}
