/* test_proxy_proto.c: -proxy URIs and the upstream proxy handshakes (SOCKS5 with and without
 * RFC 1929, SOCKS4a, HTTP CONNECT) as state machines over evbuffers, fed byte by byte. */
#include "unit.h"

#include <event2/buffer.h>
#include <stdlib.h>

#include "core/proxy_proto.h"

/* ---------------------------------------------------------------- wr_proxy_parse */

struct uri_case {
    const char *uri;
    int decode;
    int rc;
    enum wr_proxy_type type;
    const char *addr;          /* formatted */
    const char *user, *pass;   /* NULL: not given */
    const char *err;           /* substring (exact when it starts with '=') */
};

#define U255 "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu" \
             "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"

static const struct uri_case uri_cases[] = {
    { "socks5://127.0.0.1:1080", 1, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", NULL, NULL, NULL },
    { "SOCKS5://127.0.0.1:1080", 1, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", NULL, NULL, NULL },
    { "socks5://[::1]:9050", 1, 0, WR_PROXY_SOCKS5, "[::1]:9050", NULL, NULL, NULL },
    { "socks5://user:pass@127.0.0.1:1080", 1, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", "user", "pass", NULL },
    { "socks5://user@127.0.0.1:1080", 1, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", "user", NULL, NULL },
    { "socks5://user:@127.0.0.1:1080", 1, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", "user", "", NULL },
    { "socks5://us%3Aer:p%40ss%2f@127.0.0.1:1080", 1, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", "us:er", "p@ss/", NULL },
    { "socks5://us%3Aer:p%40ss@127.0.0.1:1080", 0, 0, WR_PROXY_SOCKS5, "127.0.0.1:1080", "us%3Aer", "p%40ss", NULL },
    { "socks5://u:p:q@[::1]:1080", 0, 0, WR_PROXY_SOCKS5, "[::1]:1080", "u", "p:q", NULL },
    { "socks5://u:p@x@1.2.3.4:1", 0, 0, WR_PROXY_SOCKS5, "1.2.3.4:1", "u", "p@x", NULL },
    { "socks5://1.2.3.4:1080/", 1, 0, WR_PROXY_SOCKS5, "1.2.3.4:1080", NULL, NULL, NULL },
    { "socks5://" U255 ":" U255 "@1.2.3.4:1", 1, 0, WR_PROXY_SOCKS5, "1.2.3.4:1", U255, U255, NULL },
    { "socks4a://10.0.0.1:1080", 1, 0, WR_PROXY_SOCKS4A, "10.0.0.1:1080", NULL, NULL, NULL },
    { "socks4a://user@10.0.0.1:1080", 1, 0, WR_PROXY_SOCKS4A, "10.0.0.1:1080", "user", NULL, NULL },
    { "Socks4A://10.0.0.1:1080", 1, 0, WR_PROXY_SOCKS4A, "10.0.0.1:1080", NULL, NULL, NULL },
    { "http://10.0.0.1:3128", 1, 0, WR_PROXY_HTTP, "10.0.0.1:3128", NULL, NULL, NULL },
    { "HTTP://u:p@[2001:db8::2]:8080/", 1, 0, WR_PROXY_HTTP, "[2001:db8::2]:8080", "u", "p", NULL },
    /* errors */
    { "socks4a://user:pass@10.0.0.1:1080", 1, -1, 0, NULL, NULL, NULL, "=proxy URI specified SOCKS4a and a password" },
    { "socks4a://user:@10.0.0.1:1080", 1, -1, 0, NULL, NULL, NULL, "=proxy URI specified SOCKS4a and a password" },
    { "socks5://proxy.example:1080", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has invalid host: not an IP string: \"proxy.example\"" },
    { "http://u:p@localhost:3128", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has invalid host: not an IP string: \"localhost\"" },
    { "ftp://1.2.3.4:21", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has invalid scheme: ftp (supported: socks5, socks4a, http)" },
    { "https://1.2.3.4:443", 1, -1, 0, NULL, NULL, NULL, "invalid scheme" },
    { "socks4://1.2.3.4:1080", 1, -1, 0, NULL, NULL, NULL, "invalid scheme" },
    { "://1.2.3.4:1080", 1, -1, 0, NULL, NULL, NULL, "invalid scheme" },
    { "1.2.3.4:1080", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has no scheme (want socks5://, socks4a:// or http://): 1.2.3.4:1080" },
    { "socks5:/1.2.3.4:1080", 1, -1, 0, NULL, NULL, NULL, "proxy URI has no scheme" },
    { "socks5://1.2.3.4:0", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has invalid address: port 0 is not allowed in '1.2.3.4'" },
    { "socks5://1.2.3.4", 1, -1, 0, NULL, NULL, NULL, "=proxy URI has invalid address: missing ':port' in '1.2.3.4'" },
    { "socks5://1.2.3.4:99999", 1, -1, 0, NULL, NULL, NULL, "proxy URI has invalid address: bad port" },
    { "socks5://1.2.3.4:1080/path", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI must be <scheme>://[user[:password]@]ip:port with nothing after the port" },
    { "socks5://1.2.3.4:1080?x", 1, -1, 0, NULL, NULL, NULL, "nothing after the port" },
    { "socks5://1.2.3.4:1080#f", 1, -1, 0, NULL, NULL, NULL, "nothing after the port" },
    { "socks5://1.2.3.4:1080//", 1, -1, 0, NULL, NULL, NULL, "nothing after the port" },
    { "socks5://:pass@1.2.3.4:1080", 1, -1, 0, NULL, NULL, NULL, "=proxy URI has an empty SOCKS5 user name" },
    { "socks5://@1.2.3.4:1080", 1, -1, 0, NULL, NULL, NULL, "=proxy URI has an empty SOCKS5 user name" },
    { "socks5://%zz@1.2.3.4:1", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has a bad or over-long (>255 bytes) user name" },
    { "socks5://u%4@1.2.3.4:1", 1, -1, 0, NULL, NULL, NULL, "bad or over-long (>255 bytes) user name" },
    { "socks5://u%00@1.2.3.4:1", 1, -1, 0, NULL, NULL, NULL, "bad or over-long (>255 bytes) user name" },
    { "socks5://u:%@1.2.3.4:1", 1, -1, 0, NULL, NULL, NULL,
      "=proxy URI has a bad or over-long (>255 bytes) password" },
    { "socks5://u" U255 "@1.2.3.4:1", 1, -1, 0, NULL, NULL, NULL, "bad or over-long (>255 bytes) user name" },
    { "socks5://u:p" U255 "@1.2.3.4:1", 1, -1, 0, NULL, NULL, NULL, "bad or over-long (>255 bytes) password" },
};

static void test_parse(void **state)
{
    for (size_t i = 0; i < N_ELEMS(uri_cases); i++) {
        const struct uri_case *c = &uri_cases[i];
        char row[80];
        snprintf(row, sizeof row, "%.60s (decode %d)", c->uri, c->decode);
        struct wr_proxy p;
        char err[512] = "";
        int rc = wr_proxy_parse(c->uri, c->decode, &p, err, sizeof err);
        CHECK_INT(row, rc, c->rc);
        if (rc != 0) {
            if (c->err[0] == '=')
                CHECK_STR(row, err, c->err + 1);
            else
                CHECK_CONTAINS(row, err, c->err);
            continue;
        }
        CHECK_INT(row, p.type, c->type);
        char a[WR_ADDRSTRLEN];
        wr_endpoint_format(&p.addr, a, sizeof a);
        CHECK_STR(row, a, c->addr);
        CHECK_INT(row, p.has_user, c->user != NULL);
        CHECK_INT(row, p.has_pass, c->pass != NULL);
        CHECK_STR(row, p.user, c->user ? c->user : "");
        CHECK_STR(row, p.pass, c->pass ? c->pass : "");
    }
}

/* ---------------------------------------------------------------- handshakes */

static struct wr_proxy mkproxy(const char *uri)
{
    struct wr_proxy p;
    char err[256];
    if (wr_proxy_parse(uri, 1, &p, err, sizeof err) != 0)
        fail_msg("test proxy %s: %s", uri, err);
    return p;
}

static struct wr_endpoint mkdst(const char *s)
{
    struct wr_endpoint e;
    char err[256];
    if (wr_endpoint_parse(s, 0, &e, err, sizeof err) != 0)
        fail_msg("test endpoint %s: %s", s, err);
    return e;
}

/* Everything in b, removed. */
static size_t take(struct evbuffer *b, uint8_t *out, size_t cap)
{
    size_t n = evbuffer_get_length(b);
    assert_true(n <= cap);
    evbuffer_remove(b, out, n);
    return n;
}

struct hs {
    struct wr_proxy proxy;
    struct wr_proxy_hs hs;
    struct evbuffer *in, *out;
    uint8_t rep;
    const char *why;
};

static void hs_begin(struct hs *h, const char *uri, const char *dst, int want_rc)
{
    h->proxy = mkproxy(uri);
    struct wr_endpoint d = mkdst(dst);
    h->in = evbuffer_new();
    h->out = evbuffer_new();
    h->rep = 0x77;
    h->why = NULL;
    int rc = wr_proxy_hs_start(&h->hs, &h->proxy, &d, h->out, &h->rep, &h->why);
    CHECK_INT(uri, rc, want_rc);
}

static void hs_end(struct hs *h)
{
    evbuffer_free(h->in);
    evbuffer_free(h->out);
}

static void expect_out(struct hs *h, const char *row, const void *want, size_t n)
{
    uint8_t got[1024];
    size_t gl = take(h->out, got, sizeof got);
    CHECK_MEM(row, got, gl, want, n);
}

/* Feeds bytes one at a time: every byte but the last must give MORE and write nothing; the
 * last gives the result. `extra` comes with the last byte, as a proxy sends the first tunnelled
 * bytes in the same segment as its reply, and must stay in the input unless the reply failed. */
static int feed(struct hs *h, const char *row, const void *bytes, size_t n, const void *extra, size_t extra_len)
{
    const uint8_t *p = bytes;
    for (size_t i = 0; i + 1 < n; i++) {
        evbuffer_add(h->in, p + i, 1);
        char r[128];
        snprintf(r, sizeof r, "%s: byte %zu of %zu", row, i + 1, n);
        CHECK_INT(r, wr_proxy_hs_input(&h->hs, h->in, h->out, &h->rep, &h->why), WR_PROXY_HS_MORE);
        CHECK_INT(r, evbuffer_get_length(h->out), 0);
    }
    evbuffer_add(h->in, p + n - 1, 1);
    if (extra_len)
        evbuffer_add(h->in, extra, extra_len);
    int rc = wr_proxy_hs_input(&h->hs, h->in, h->out, &h->rep, &h->why);
    if (rc != WR_PROXY_HS_FAIL || extra_len) {
        /* exactly the reply is consumed */
        uint8_t left[256];
        size_t ll = evbuffer_get_length(h->in);
        assert_true(ll <= sizeof left);
        evbuffer_copyout(h->in, left, ll);
        if (rc != WR_PROXY_HS_FAIL) {
            CHECK_INT(row, ll, extra_len);
            if (extra_len)
                CHECK_MEM(row, left, ll, extra, extra_len);
        }
    }
    return rc;
}

static const uint8_t S5_OK_V4[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };

static void test_socks5_noauth(void **state)
{
    static const struct {
        const char *dst;
        uint8_t req[40];
        size_t req_len;
    } rows[] = {
        { "1.2.3.4:80", { 5, 1, 0, 1, 1, 2, 3, 4, 0, 80 }, 10 },
        { "[2001:db8::1]:443", { 5, 1, 0, 4, 0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0xbb }, 22 },
        { "example.com:8443", { 5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x20, 0xfb }, 18 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct hs h;
        hs_begin(&h, "socks5://127.0.0.1:1080", rows[i].dst, WR_PROXY_HS_MORE);
        expect_out(&h, rows[i].dst, (const uint8_t[]){ 5, 1, 0 }, 3);
        const uint8_t method[] = { 5, 0 };
        CHECK_INT(rows[i].dst, feed(&h, rows[i].dst, method, 2, NULL, 0), WR_PROXY_HS_MORE);
        expect_out(&h, rows[i].dst, rows[i].req, rows[i].req_len);
        CHECK_INT(rows[i].dst, feed(&h, rows[i].dst, S5_OK_V4, sizeof S5_OK_V4, "leftover", 8), WR_PROXY_HS_DONE);
        CHECK_INT(rows[i].dst, evbuffer_get_length(h.out), 0);
        hs_end(&h);
    }
}

/* The reply's BND.ADDR may be of any type: exactly its length is consumed. */
static void test_socks5_reply_address_types(void **state)
{
    static const struct { const char *name; uint8_t reply[40]; size_t len; } rows[] = {
        { "ATYP 1", { 5, 0, 0, 1, 9, 9, 9, 9, 1, 2 }, 10 },
        { "ATYP 4", { 5, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1, 2 }, 22 },
        { "ATYP 3", { 5, 0, 0, 3, 3, 'a', 'b', 'c', 1, 2 }, 10 },
        { "ATYP 3 empty", { 5, 0, 0, 3, 0, 1, 2 }, 7 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct hs h;
        hs_begin(&h, "socks5://127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
        evbuffer_drain(h.out, evbuffer_get_length(h.out));
        evbuffer_add(h.in, "\x05\x00", 2);
        CHECK_INT(rows[i].name, wr_proxy_hs_input(&h.hs, h.in, h.out, &h.rep, &h.why), WR_PROXY_HS_MORE);
        evbuffer_drain(h.out, evbuffer_get_length(h.out));
        CHECK_INT(rows[i].name, feed(&h, rows[i].name, rows[i].reply, rows[i].len, "\x01\x02\x03", 3), WR_PROXY_HS_DONE);
        hs_end(&h);
    }
}

static void test_socks5_auth(void **state)
{
    struct hs h;
    hs_begin(&h, "socks5://user:pw@127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
    expect_out(&h, "greeting", (const uint8_t[]){ 5, 2, 0, 2 }, 4);
    CHECK_INT("method", feed(&h, "method", "\x05\x02", 2, NULL, 0), WR_PROXY_HS_MORE);
    expect_out(&h, "auth request", (const uint8_t[]){ 1, 4, 'u', 's', 'e', 'r', 2, 'p', 'w' }, 9);
    CHECK_INT("auth ok", feed(&h, "auth ok", "\x01\x00", 2, NULL, 0), WR_PROXY_HS_MORE);
    expect_out(&h, "request", (const uint8_t[]){ 5, 1, 0, 1, 1, 2, 3, 4, 0, 80 }, 10);
    CHECK_INT("reply", feed(&h, "reply", S5_OK_V4, sizeof S5_OK_V4, "x", 1), WR_PROXY_HS_DONE);
    hs_end(&h);

    /* user with no password: PLEN 0 */
    hs_begin(&h, "socks5://me@127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
    expect_out(&h, "greeting 2", (const uint8_t[]){ 5, 2, 0, 2 }, 4);
    CHECK_INT("method 2", feed(&h, "method 2", "\x05\x02", 2, NULL, 0), WR_PROXY_HS_MORE);
    expect_out(&h, "auth request 2", (const uint8_t[]){ 1, 2, 'm', 'e', 0 }, 5);
    hs_end(&h);

    /* the proxy may still pick "no auth" */
    hs_begin(&h, "socks5://user:pw@127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
    evbuffer_drain(h.out, 4);
    CHECK_INT("method 0", feed(&h, "method 0", "\x05\x00", 2, NULL, 0), WR_PROXY_HS_MORE);
    expect_out(&h, "request 0", (const uint8_t[]){ 5, 1, 0, 1, 1, 2, 3, 4, 0, 80 }, 10);
    hs_end(&h);

    /* all of it in one read: greeting answer, auth answer and reply together */
    hs_begin(&h, "socks5://user:pw@127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
    evbuffer_drain(h.out, 4);
    evbuffer_add(h.in, "\x05\x02\x01\x00", 4);
    evbuffer_add(h.in, S5_OK_V4, sizeof S5_OK_V4);
    evbuffer_add(h.in, "DATA", 4);
    assert_int_equal(wr_proxy_hs_input(&h.hs, h.in, h.out, &h.rep, &h.why), WR_PROXY_HS_DONE);
    expect_out(&h, "pipelined", (const uint8_t[]){ 1, 4, 'u', 's', 'e', 'r', 2, 'p', 'w', 5, 1, 0, 1, 1, 2, 3, 4, 0, 80 }, 19);
    assert_int_equal(evbuffer_get_length(h.in), 4);
    hs_end(&h);
}

struct fail_case {
    const char *name;
    const char *uri;
    const uint8_t *steps[3];   /* earlier answers that succeed */
    size_t step_len[3];
    uint8_t bad[24];
    size_t bad_len;
    uint8_t rep;
    const char *why;
};

static void test_socks5_failures(void **state)
{
    static const uint8_t m0[] = { 5, 0 }, m2[] = { 5, 2 }, a0[] = { 1, 0 };
    static const struct fail_case rows[] = {
        { "method ff", "socks5://127.0.0.1:1", { NULL }, { 0 }, { 5, 0xff }, 2, 0x01, "accepted none of our auth methods" },
        { "method not offered (02 without user)", "socks5://127.0.0.1:1", { NULL }, { 0 }, { 5, 2 }, 2, 0x01,
          "chose an auth method we did not offer" },
        { "method 01", "socks5://u:p@127.0.0.1:1", { NULL }, { 0 }, { 5, 1 }, 2, 0x01, "chose an auth method we did not offer" },
        { "method reply version 4", "socks5://127.0.0.1:1", { NULL }, { 0 }, { 4, 0 }, 2, 0x01, "bad version" },
        { "auth rejected", "socks5://u:p@127.0.0.1:1", { m2 }, { 2 }, { 1, 1 }, 2, 0x02,
          "rejected our user name and password" },
        { "reply general failure", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 1, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x01, "could not connect" },
        { "reply not allowed", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x02, "could not connect" },
        { "reply net unreachable", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x03, "could not connect" },
        { "reply host unreachable", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 4, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x04, "could not connect" },
        { "reply refused", "socks5://u:p@127.0.0.1:1", { m2, a0 }, { 2, 2 }, { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x05, "could not connect" },
        { "reply TTL expired", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 6, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x06, "could not connect" },
        { "reply cmd not supported", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x07, "could not connect" },
        { "reply atyp not supported", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 8, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x08, "could not connect" },
        { "reply unknown 09 maps to 01", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 9, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x01, "could not connect" },
        { "reply unknown ff maps to 01", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 0xff, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, 0x01, "could not connect" },
        { "reply bad atyp", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 5, 0, 0, 2, 0 }, 5, 0x01, "bad address type" },
        { "reply bad version", "socks5://127.0.0.1:1", { m0 }, { 2 }, { 4, 0, 0, 1, 0 }, 5, 0x01, "bad version" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        const struct fail_case *c = &rows[i];
        struct hs h;
        hs_begin(&h, c->uri, "1.2.3.4:80", WR_PROXY_HS_MORE);
        evbuffer_drain(h.out, evbuffer_get_length(h.out));
        for (size_t s = 0; s < 3 && c->steps[s]; s++) {
            CHECK_INT(c->name, feed(&h, c->name, c->steps[s], c->step_len[s], NULL, 0), WR_PROXY_HS_MORE);
            evbuffer_drain(h.out, evbuffer_get_length(h.out));
        }
        CHECK_INT(c->name, feed(&h, c->name, c->bad, c->bad_len, NULL, 0), WR_PROXY_HS_FAIL);
        CHECK_INT(c->name, h.rep, c->rep);
        CHECK_CONTAINS(c->name, h.why, c->why);
        hs_end(&h);
    }
}

static void test_socks4a(void **state)
{
    struct hs h;
    /* IPv4 destination, user id */
    hs_begin(&h, "socks4a://u@127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
    expect_out(&h, "socks4a v4", (const uint8_t[]){ 4, 1, 0, 80, 1, 2, 3, 4, 'u', 0 }, 10);
    CHECK_INT("granted", feed(&h, "granted", (const uint8_t[]){ 0, 0x5a, 0, 0, 0, 0, 0, 0 }, 8, "tail", 4),
              WR_PROXY_HS_DONE);
    hs_end(&h);

    /* a name: 0.0.0.1, empty user id, then the name */
    hs_begin(&h, "socks4a://127.0.0.1:1080", "example.org:443", WR_PROXY_HS_MORE);
    expect_out(&h, "socks4a name",
               (const uint8_t[]){ 4, 1, 1, 0xbb, 0, 0, 0, 1, 0, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g', 0 }, 21);
    CHECK_INT("granted 2", feed(&h, "granted 2", (const uint8_t[]){ 0, 0x5a, 1, 2, 3, 4, 5, 6 }, 8, NULL, 0),
              WR_PROXY_HS_DONE);
    hs_end(&h);

    /* IPv6 cannot be carried */
    hs_begin(&h, "socks4a://127.0.0.1:1080", "[::1]:80", WR_PROXY_HS_FAIL);
    assert_int_equal(h.rep, 0x08);
    assert_non_null(h.why);
    assert_non_null(strstr(h.why, "IPv6"));
    assert_int_equal(evbuffer_get_length(h.out), 0);
    hs_end(&h);

    static const struct { const char *name; uint8_t reply[8]; uint8_t rep; const char *why; } fails[] = {
        { "rejected 5b", { 0, 0x5b }, 0x05, "rejected or failed" },
        { "identd 5c", { 0, 0x5c }, 0x05, "rejected or failed" },
        { "identd mismatch 5d", { 0, 0x5d }, 0x05, "rejected or failed" },
        { "bad code 5e", { 0, 0x5e }, 0x01, "malformed reply" },
        { "bad code 00", { 0, 0x00 }, 0x01, "malformed reply" },
        { "bad VN 4", { 4, 0x5a }, 0x01, "malformed reply" },
        { "SOCKS5 answer", { 5, 0 }, 0x01, "malformed reply" },
    };
    for (size_t i = 0; i < N_ELEMS(fails); i++) {
        hs_begin(&h, "socks4a://127.0.0.1:1080", "1.2.3.4:80", WR_PROXY_HS_MORE);
        evbuffer_drain(h.out, evbuffer_get_length(h.out));
        CHECK_INT(fails[i].name, feed(&h, fails[i].name, fails[i].reply, 8, NULL, 0), WR_PROXY_HS_FAIL);
        CHECK_INT(fails[i].name, h.rep, fails[i].rep);
        CHECK_CONTAINS(fails[i].name, h.why, fails[i].why);
        hs_end(&h);
    }
}

static void test_http_request(void **state)
{
    static const struct { const char *uri, *dst, *want; } rows[] = {
        { "http://127.0.0.1:3128", "example.com:443",
          "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" },
        { "http://127.0.0.1:3128", "1.2.3.4:80", "CONNECT 1.2.3.4:80 HTTP/1.1\r\nHost: 1.2.3.4:80\r\n\r\n" },
        { "http://127.0.0.1:3128", "[2001:db8::1]:443",
          "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n" },
        { "http://user:pass@127.0.0.1:3128", "example.com:443",
          "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
          "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n" },
        { "http://Aladdin:open%20sesame@127.0.0.1:3128", "h:1",
          "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n" },
        { "http://user@127.0.0.1:3128", "h:1",
          "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nProxy-Authorization: Basic dXNlcjo=\r\n\r\n" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct hs h;
        hs_begin(&h, rows[i].uri, rows[i].dst, WR_PROXY_HS_MORE);
        char got[1024];
        size_t n = take(h.out, (uint8_t *)got, sizeof got - 1);
        got[n] = '\0';
        CHECK_STR(rows[i].uri, got, rows[i].want);
        hs_end(&h);
    }

    /* the longest credentials: 255 + ':' + 255 bytes, base64 684 characters */
    char uri[700];
    char u[256];
    memset(u, 'x', 255);
    u[255] = '\0';
    snprintf(uri, sizeof uri, "http://%s:%s@127.0.0.1:3128", u, u);
    struct hs h;
    hs_begin(&h, uri, "h:1", WR_PROXY_HS_MORE);
    char got[2048];
    size_t n = take(h.out, (uint8_t *)got, sizeof got - 1);
    got[n] = '\0';
    const char *b64 = strstr(got, "Basic ");
    assert_non_null(b64);
    b64 += 6;
    assert_int_equal(strcspn(b64, "\r"), 684);
    hs_end(&h);
}

static void test_http_replies(void **state)
{
    static const struct {
        const char *name;
        const char *reply;
        const char *extra;
        int rc;
        uint8_t rep;
        const char *why;
    } rows[] = {
        { "200", "HTTP/1.1 200 Connection established\r\n\r\n", "", WR_PROXY_HS_DONE, 0, NULL },
        { "200 1.0 with headers, leftover", "HTTP/1.0 200 OK\r\nProxy-Agent: x\r\nVia: y\r\n\r\n", "\x16\x03\x01hello",
          WR_PROXY_HS_DONE, 0, NULL },
        { "204", "HTTP/1.1 204 No Content\r\n\r\n", "", WR_PROXY_HS_DONE, 0, NULL },
        { "407", "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n", "",
          WR_PROXY_HS_FAIL, 0x02, "HTTP proxy rejected our credentials or wants some (401/407)" },
        { "401", "HTTP/1.1 401 Unauthorized\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x02, "(401/407)" },
        { "403", "HTTP/1.1 403 Forbidden\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x02, "refused the CONNECT (403/405)" },
        { "405", "HTTP/1.1 405 Method Not Allowed\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x02, "(403/405)" },
        { "504", "HTTP/1.1 504 Gateway Timeout\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x06, "timed out" },
        { "408", "HTTP/1.1 408 Request Timeout\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x06, "timed out" },
        { "502", "HTTP/1.1 502 Bad Gateway\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x04, "could not reach the destination (5xx)" },
        { "503", "HTTP/1.1 503 Service Unavailable\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x04, "(5xx)" },
        { "500", "HTTP/1.1 500 Internal Server Error\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x04, "(5xx)" },
        { "404", "HTTP/1.1 404 Not Found\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "HTTP proxy refused the CONNECT" },
        { "301", "HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "HTTP proxy refused the CONNECT" },
        { "HTTP/2", "HTTP/2 200 OK\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "malformed status line" },
        { "no space", "HTTP/1.1-200 OK\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "malformed status line" },
        { "no code", "HTTP/1.1 OK\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "malformed status line" },
        { "not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "malformed status line" },
        { "short", "HTTP/1.\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "malformed status line" },
        { "empty head", "\r\n\r\n", "", WR_PROXY_HS_FAIL, 0x01, "malformed status line" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct hs h;
        hs_begin(&h, "http://127.0.0.1:3128", "example.com:443", WR_PROXY_HS_MORE);
        evbuffer_drain(h.out, evbuffer_get_length(h.out));
        int rc = feed(&h, rows[i].name, rows[i].reply, strlen(rows[i].reply), rows[i].extra, strlen(rows[i].extra));
        CHECK_INT(rows[i].name, rc, rows[i].rc);
        if (rc == WR_PROXY_HS_FAIL) {
            CHECK_INT(rows[i].name, h.rep, rows[i].rep);
            CHECK_CONTAINS(rows[i].name, h.why, rows[i].why);
        }
        /* the head is consumed in every case; the bytes after it stay */
        CHECK_INT(rows[i].name, evbuffer_get_length(h.in), strlen(rows[i].extra));
        CHECK_INT(rows[i].name, evbuffer_get_length(h.out), 0);
        hs_end(&h);
    }
}

/* A proxy that never ends its head: refused once it is over 16 KiB, not before. */
static void test_http_head_too_long(void **state)
{
    struct hs h;
    hs_begin(&h, "http://127.0.0.1:3128", "example.com:443", WR_PROXY_HS_MORE);
    evbuffer_drain(h.out, evbuffer_get_length(h.out));
    evbuffer_add_printf(h.in, "HTTP/1.1 200 OK\r\n");
    char line[64];
    memset(line, 'a', sizeof line);
    line[sizeof line - 2] = '\r';
    line[sizeof line - 1] = '\n';
    while (evbuffer_get_length(h.in) + sizeof line <= 16384)
        evbuffer_add(h.in, line, sizeof line);
    assert_int_equal(wr_proxy_hs_input(&h.hs, h.in, h.out, &h.rep, &h.why), WR_PROXY_HS_MORE);
    while (evbuffer_get_length(h.in) <= 16384)
        evbuffer_add(h.in, "b", 1);
    assert_int_equal(wr_proxy_hs_input(&h.hs, h.in, h.out, &h.rep, &h.why), WR_PROXY_HS_FAIL);
    assert_int_equal(h.rep, 0x01);
    assert_non_null(strstr(h.why, "over-long response head"));
    hs_end(&h);
}

/* The status code must come from the status line itself. A head with no code in it must not
 * be accepted because of bytes that follow the head (the tunnel's first payload bytes). */
static void test_http_status_from_the_status_line_only(void **state)
{
    static const struct { const char *name, *head, *extra; } rows[] = {
        { "code missing, payload starts with 200", "HTTP/1.1 \r\n\r\n", "200 OK" },
        { "code missing, next header line starts with 200", "HTTP/1.1 \r\n200: x\r\n\r\n", "" },
        { "four-digit code", "HTTP/1.1 2000 OK\r\n\r\n", "" },
    };
    int bad = 0;
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct hs h;
        hs_begin(&h, "http://127.0.0.1:3128", "example.com:443", WR_PROXY_HS_MORE);
        evbuffer_drain(h.out, evbuffer_get_length(h.out));
        evbuffer_add(h.in, rows[i].head, strlen(rows[i].head));
        evbuffer_add(h.in, rows[i].extra, strlen(rows[i].extra));
        int rc = wr_proxy_hs_input(&h.hs, h.in, h.out, &h.rep, &h.why);
        if (rc != WR_PROXY_HS_FAIL) {
            print_error("[%s] gave %s (want FAIL, malformed status line)\n", rows[i].name,
                        rc == WR_PROXY_HS_DONE ? "DONE" : "MORE");
            bad++;
        }
        hs_end(&h);
    }
    if (bad)
        fail_msg("%d status line(s) without a code accepted", bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_socks5_noauth),
        cmocka_unit_test(test_socks5_reply_address_types),
        cmocka_unit_test(test_socks5_auth),
        cmocka_unit_test(test_socks5_failures),
        cmocka_unit_test(test_socks4a),
        cmocka_unit_test(test_http_request),
        cmocka_unit_test(test_http_replies),
        cmocka_unit_test(test_http_head_too_long),
        cmocka_unit_test(test_http_status_from_the_status_line_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
