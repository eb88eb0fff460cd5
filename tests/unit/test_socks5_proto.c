/* test_socks5_proto.c: the SOCKS5 server-side parsers over bytes. Every parser is given each
 * valid message cut at every byte offset, in a heap buffer of exactly that size, so that
 * AddressSanitizer catches any read past n. */
#include "unit.h"

#include <stdlib.h>

#include "modes/socks5_proto.h"

#define SENTINEL ((size_t)0xdeadbeef)

/* A heap copy of p[0..n) with nothing after it. */
static uint8_t *exact(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n);          /* malloc(0) too: ASan flags any read of it */
    if (n) {
        assert_non_null(b);
        memcpy(b, p, n);
    }
    return b;
}

/* ---------------------------------------------------------------- greeting */

struct greet_case {
    const char *name;
    uint8_t in[16];
    size_t len;
    int rc;
    uint8_t method;
    size_t used;
};

static const struct greet_case greet_cases[] = {
    { "no auth", { 5, 1, 0 }, 3, WR_S5_OK, WR_S5_AUTH_NONE, 3 },
    { "userpass only", { 5, 1, 2 }, 3, WR_S5_OK, WR_S5_AUTH_USERPASS, 3 },
    { "json only", { 5, 1, 9 }, 3, WR_S5_OK, WR_S5_AUTH_JSON, 3 },
    { "00 02: 02", { 5, 2, 0, 2 }, 4, WR_S5_OK, WR_S5_AUTH_USERPASS, 4 },
    { "02 00: 02", { 5, 2, 2, 0 }, 4, WR_S5_OK, WR_S5_AUTH_USERPASS, 4 },
    { "00 02 09: 09", { 5, 3, 0, 2, 9 }, 5, WR_S5_OK, WR_S5_AUTH_JSON, 5 },
    { "09 00: 09", { 5, 2, 9, 0 }, 4, WR_S5_OK, WR_S5_AUTH_JSON, 4 },
    { "09 02: 09", { 5, 2, 9, 2 }, 4, WR_S5_OK, WR_S5_AUTH_JSON, 4 },
    { "unknown methods and 00", { 5, 4, 1, 3, 0x80, 0 }, 6, WR_S5_OK, WR_S5_AUTH_NONE, 6 },
    { "GSSAPI only", { 5, 1, 1 }, 3, WR_S5_OK, WR_S5_AUTH_NO_ACCEPTABLE, 3 },
    { "ff offered", { 5, 1, 0xff }, 3, WR_S5_OK, WR_S5_AUTH_NO_ACCEPTABLE, 3 },
    { "no methods", { 5, 0 }, 2, WR_S5_OK, WR_S5_AUTH_NO_ACCEPTABLE, 2 },
    { "trailing bytes not used", { 5, 1, 0, 5, 1, 0, 1 }, 7, WR_S5_OK, WR_S5_AUTH_NONE, 3 },
    { "duplicates", { 5, 3, 0, 0, 0 }, 5, WR_S5_OK, WR_S5_AUTH_NONE, 5 },
    { "SOCKS4", { 4, 1, 0, 80, 1, 2, 3, 4, 0 }, 9, WR_S5_BAD, 0, SENTINEL },
    { "HTTP", { 'G', 'E', 'T', ' ' }, 4, WR_S5_BAD, 0, SENTINEL },
    { "version 5 then short", { 5, 3, 0 }, 3, WR_S5_MORE, 0, SENTINEL },
    { "empty", { 0 }, 0, WR_S5_MORE, 0, SENTINEL },
};

static void test_greeting(void **state)
{
    for (size_t i = 0; i < N_ELEMS(greet_cases); i++) {
        const struct greet_case *c = &greet_cases[i];
        uint8_t *b = exact(c->in, c->len);
        size_t used = SENTINEL;
        uint8_t method = 0x77;
        int rc = wr_s5_parse_greeting(b, c->len, &used, &method);
        CHECK_INT(c->name, rc, c->rc);
        CHECK_INT(c->name, used, c->used);
        if (rc == WR_S5_OK)
            CHECK_INT(c->name, method, c->method);
        free(b);
    }
}

static void test_greeting_truncated(void **state)
{
    for (size_t i = 0; i < N_ELEMS(greet_cases); i++) {
        const struct greet_case *c = &greet_cases[i];
        if (c->rc != WR_S5_OK)
            continue;
        for (size_t k = 0; k < c->used; k++) {
            uint8_t *b = exact(c->in, k);
            size_t used = SENTINEL;
            uint8_t method = 0x77;
            char row[96];
            snprintf(row, sizeof row, "%s cut at %zu", c->name, k);
            CHECK_INT(row, wr_s5_parse_greeting(b, k, &used, &method), WR_S5_MORE);
            CHECK_INT(row, used, SENTINEL);
            CHECK_INT(row, method, 0x77);
            free(b);
        }
    }
}

/* All 255 methods offered: still 09. */
static void test_greeting_all_methods(void **state)
{
    uint8_t in[257];
    in[0] = 5;
    in[1] = 255;
    for (int i = 0; i < 255; i++)
        in[2 + i] = (uint8_t)(254 - i);
    uint8_t *b = exact(in, sizeof in);
    size_t used;
    uint8_t m;
    assert_int_equal(wr_s5_parse_greeting(b, sizeof in, &used, &m), WR_S5_OK);
    assert_int_equal(m, WR_S5_AUTH_JSON);
    assert_int_equal(used, 257);
    assert_int_equal(wr_s5_parse_greeting(b, 256, &used, &m), WR_S5_MORE);
    free(b);
}

/* ---------------------------------------------------------------- RFC 1929 */

static size_t build_userpass(uint8_t *out, const char *u, size_t ul, const char *p, size_t pl)
{
    size_t n = 0;
    out[n++] = 1;
    out[n++] = (uint8_t)ul;
    memcpy(out + n, u, ul);
    n += ul;
    out[n++] = (uint8_t)pl;
    memcpy(out + n, p, pl);
    n += pl;
    return n;
}

static void test_userpass(void **state)
{
    static const struct {
        const char *name;
        const char *u;
        size_t ul;
        const char *p;
        size_t pl;
        const char *want;
        size_t want_len;
    } rows[] = {
        { "split", "abc", 3, "def", 3, "abcdef", 6 },
        { "PASSWD NUL means empty", "k=v", 3, "\0", 1, "k=v", 3 },
        { "both empty", "", 0, "", 0, "", 0 },
        { "empty user", "", 0, "k=v", 3, "k=v", 3 },
        { "PASSWD one non-NUL byte", "k=", 2, "x", 1, "k=x", 3 },
        { "PASSWD two NULs kept", "k=", 2, "\0\0", 2, "k=\0\0", 4 },
        { "PASSWD NUL then byte kept", "k=", 2, "\0x", 2, "k=\0x", 4 },
        { "user NUL kept", "\0", 1, "\0", 1, "\0", 1 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        uint8_t msg[600];
        size_t n = build_userpass(msg, rows[i].u, rows[i].ul, rows[i].p, rows[i].pl);
        uint8_t *b = exact(msg, n);
        char out[511];
        memset(out, '#', sizeof out);
        size_t out_len = SENTINEL, used = SENTINEL;
        CHECK_INT(rows[i].name, wr_s5_parse_userpass(b, n, &used, out, &out_len), WR_S5_OK);
        CHECK_INT(rows[i].name, used, n);
        CHECK_MEM(rows[i].name, out, out_len, rows[i].want, rows[i].want_len);
        CHECK_INT(rows[i].name, out[out_len], '\0');
        for (size_t k = 0; k < n; k++) {
            uint8_t *t = exact(msg, k);
            char row[96];
            snprintf(row, sizeof row, "%s cut at %zu", rows[i].name, k);
            size_t u2 = SENTINEL, ol2 = SENTINEL;
            CHECK_INT(row, wr_s5_parse_userpass(t, k, &u2, out, &ol2), WR_S5_MORE);
            CHECK_INT(row, u2, SENTINEL);
            CHECK_INT(row, ol2, SENTINEL);
            free(t);
        }
        free(b);
    }
}

/* tor splits a long PT argument string: the first 255 bytes in UNAME, the rest in PASSWD. */
static void test_userpass_308(void **state)
{
    char arg[308];
    for (size_t i = 0; i < sizeof arg; i++)
        arg[i] = (char)('a' + i % 26);
    memcpy(arg, "cert=", 5);
    arg[200] = ';';
    memcpy(arg + 201, "iat-mode=", 9);
    uint8_t msg[600];
    size_t n = build_userpass(msg, arg, 255, arg + 255, 53);
    assert_int_equal(n, 3 + 308);
    uint8_t *b = exact(msg, n);
    char out[511];
    size_t out_len, used;
    assert_int_equal(wr_s5_parse_userpass(b, n, &used, out, &out_len), WR_S5_OK);
    assert_int_equal(used, 311);
    assert_int_equal(out_len, 308);
    assert_memory_equal(out, arg, 308);
    assert_int_equal(out[308], '\0');
    free(b);

    /* the largest: 255 + 255 = 510 bytes and the NUL fill out[511] exactly */
    char big[510];
    memset(big, 'z', sizeof big);
    n = build_userpass(msg, big, 255, big + 255, 255);
    b = exact(msg, n);
    char *o = malloc(511);
    assert_non_null(o);
    assert_int_equal(wr_s5_parse_userpass(b, n, &used, o, &out_len), WR_S5_OK);
    assert_int_equal(out_len, 510);
    assert_int_equal(o[510], '\0');
    free(o);
    free(b);
}

static void test_userpass_bad(void **state)
{
    static const uint8_t v5[] = { 5, 1, 'a', 1, 'b' };
    static const uint8_t v0[] = { 0, 0, 0 };
    char out[511];
    size_t used = SENTINEL, ol = SENTINEL;
    uint8_t *b = exact(v5, sizeof v5);
    assert_int_equal(wr_s5_parse_userpass(b, sizeof v5, &used, out, &ol), WR_S5_BAD);
    assert_int_equal(wr_s5_parse_userpass(b, 1, &used, out, &ol), WR_S5_BAD);
    free(b);
    b = exact(v0, sizeof v0);
    assert_int_equal(wr_s5_parse_userpass(b, sizeof v0, &used, out, &ol), WR_S5_BAD);
    free(b);
    assert_int_equal(used, SENTINEL);
}

/* ---------------------------------------------------------------- JSON length */

static void test_json_len(void **state)
{
    static const struct { uint8_t in[5]; uint32_t want; } rows[] = {
        { { 0, 0, 0, 0 }, 0 },
        { { 0, 0, 1, 0 }, 256 },
        { { 0, 1, 0, 0 }, 65536 },
        { { 0x12, 0x34, 0x56, 0x78 }, 0x12345678 },
        { { 0xff, 0xff, 0xff, 0xff, 0xee }, 0xffffffff },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        char row[32];
        snprintf(row, sizeof row, "json len row %zu", i);
        uint8_t *b = exact(rows[i].in, 5);
        uint32_t len = 7;
        size_t used = SENTINEL;
        CHECK_INT(row, wr_s5_parse_json_len(b, 5, &used, &len), WR_S5_OK);
        CHECK_INT(row, used, 4);
        CHECK_INT(row, len, rows[i].want);
        free(b);
        for (size_t k = 0; k < 4; k++) {
            b = exact(rows[i].in, k);
            used = SENTINEL;
            len = 7;
            CHECK_INT(row, wr_s5_parse_json_len(b, k, &used, &len), WR_S5_MORE);
            CHECK_INT(row, used, SENTINEL);
            CHECK_INT(row, len, 7);
            free(b);
        }
    }
}

/* ---------------------------------------------------------------- request */

struct req_case {
    const char *name;
    uint8_t in[300];
    size_t len;
    int rc;
    uint8_t rep;
    size_t used;
    enum wr_ep_type type;
    const char *dst;            /* wr_endpoint_format */
};

#define NAME11 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm'

static const struct req_case req_cases[] = {
    { "IPv4", { 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90 }, 10, WR_S5_OK, 0, 10, WR_EP_IPV4, "127.0.0.1:8080" },
    { "IPv4 unspecified", { 5, 1, 0, 1, 0, 0, 0, 0, 0, 0 }, 10, WR_S5_OK, 0, 10, WR_EP_IPV4, "0.0.0.0:0" },
    { "IPv4 then data", { 5, 1, 0, 1, 10, 0, 0, 1, 0, 80, 'G', 'E' }, 12, WR_S5_OK, 0, 10, WR_EP_IPV4, "10.0.0.1:80" },
    { "IPv6", { 5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb }, 22,
      WR_S5_OK, 0, 22, WR_EP_IPV6, "[2001:db8::1]:443" },
    { "IPv6 any", { 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 22, WR_S5_OK, 0, 22,
      WR_EP_IPV6, "[::]:0" },
    { "name", { 5, 1, 0, 3, 11, NAME11, 0x01, 0xbb }, 18, WR_S5_OK, 0, 18, WR_EP_NAME, "example.com:443" },
    { "name, RSV ignored", { 5, 1, 0x55, 3, 1, 'a', 0, 1 }, 8, WR_S5_OK, 0, 8, WR_EP_NAME, "a:1" },
    /* refusals */
    { "BIND", { 5, 2, 0, 1, 1, 2, 3, 4, 0, 80 }, 10, WR_S5_BAD, 0x07, SENTINEL, 0, NULL },
    { "UDP ASSOCIATE", { 5, 3, 0, 1, 1, 2, 3, 4, 0, 80 }, 10, WR_S5_BAD, 0x07, SENTINEL, 0, NULL },
    { "CMD 0", { 5, 0, 0, 1 }, 4, WR_S5_BAD, 0x07, SENTINEL, 0, NULL },
    { "ATYP 2", { 5, 1, 0, 2, 1, 2, 3, 4, 0, 80 }, 10, WR_S5_BAD, 0x08, SENTINEL, 0, NULL },
    { "ATYP 0", { 5, 1, 0, 0 }, 4, WR_S5_BAD, 0x08, SENTINEL, 0, NULL },
    { "ATYP 0xff", { 5, 1, 0, 0xff }, 4, WR_S5_BAD, 0x08, SENTINEL, 0, NULL },
    { "bad name", { 5, 1, 0, 3, 3, 'a', ' ', 'b', 0, 80 }, 10, WR_S5_BAD, 0x01, SENTINEL, 0, NULL },
    { "empty name", { 5, 1, 0, 3, 0, 0, 80 }, 7, WR_S5_BAD, 0x01, SENTINEL, 0, NULL },
    { "name with NUL", { 5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80 }, 10, WR_S5_BAD, 0x01, SENTINEL, 0, NULL },
    { "version 4: not SOCKS5, no reply", { 4, 1, 0, 80, 1, 2, 3, 4, 0 }, 9, WR_S5_BAD, 0, SENTINEL, 0, NULL },
    { "version 0", { 0 }, 1, WR_S5_BAD, 0, SENTINEL, 0, NULL },
};

static void test_request(void **state)
{
    for (size_t i = 0; i < N_ELEMS(req_cases); i++) {
        const struct req_case *c = &req_cases[i];
        uint8_t *b = exact(c->in, c->len);
        struct wr_s5_request req;
        memset(&req, 0, sizeof req);
        size_t used = SENTINEL;
        uint8_t rep = 0x77;
        int rc = wr_s5_parse_request(b, c->len, &used, &req, &rep);
        CHECK_INT(c->name, rc, c->rc);
        CHECK_INT(c->name, rep, c->rep);
        CHECK_INT(c->name, used, c->used);
        if (rc == WR_S5_OK) {
            CHECK_INT(c->name, req.cmd, 1);
            CHECK_INT(c->name, req.dst.type, c->type);
            char a[WR_ADDRSTRLEN];
            wr_endpoint_format(&req.dst, a, sizeof a);
            CHECK_STR(c->name, a, c->dst);
        }
        free(b);
    }
}

/* Every valid request cut anywhere needs more; refusals are MORE until their deciding byte. */
static void test_request_truncated(void **state)
{
    for (size_t i = 0; i < N_ELEMS(req_cases); i++) {
        const struct req_case *c = &req_cases[i];
        /* how many bytes the verdict needs: the whole message when OK; else up to the byte
         * that decides (version: 1, CMD/ATYP: 4, a bad name: all of it) */
        size_t decide = c->rc == WR_S5_OK ? c->used
                      : c->in[0] != 5 ? 1
                      : (c->rep == 0x07 || c->rep == 0x08) ? 4 : c->len;
        for (size_t k = 0; k < decide; k++) {
            uint8_t *b = exact(c->in, k);
            struct wr_s5_request req;
            size_t used = SENTINEL;
            uint8_t rep = 0x77;
            char row[96];
            snprintf(row, sizeof row, "%s cut at %zu", c->name, k);
            CHECK_INT(row, wr_s5_parse_request(b, k, &used, &req, &rep), WR_S5_MORE);
            CHECK_INT(row, used, SENTINEL);
            CHECK_INT(row, rep, 0);
            free(b);
        }
    }
}

/* The longest name, 255 bytes. */
static void test_request_long_name(void **state)
{
    uint8_t in[4 + 1 + 255 + 2];
    in[0] = 5; in[1] = 1; in[2] = 0; in[3] = 3; in[4] = 255;
    for (int i = 0; i < 255; i++)
        in[5 + i] = (i % 50 == 49) ? '.' : 'h';
    in[260] = 0xff;
    in[261] = 0xff;
    uint8_t *b = exact(in, sizeof in);
    struct wr_s5_request req;
    size_t used;
    uint8_t rep;
    assert_int_equal(wr_s5_parse_request(b, sizeof in, &used, &req, &rep), WR_S5_OK);
    assert_int_equal(used, 262);
    assert_int_equal(req.dst.type, WR_EP_NAME);
    assert_int_equal(strlen(req.dst.host), 255);
    assert_int_equal(req.dst.port, 65535);
    assert_int_equal(wr_s5_parse_request(b, 261, &used, &req, &rep), WR_S5_MORE);
    free(b);
}

/* ---------------------------------------------------------------- reply */

static void test_reply(void **state)
{
    static const uint8_t reps[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x07, 0x08, 0x10, 0x11, 0x12, 0x13, 0xff };
    for (size_t i = 0; i < N_ELEMS(reps); i++) {
        uint8_t out[12];
        memset(out, 0xaa, sizeof out);
        wr_s5_reply(out, reps[i]);
        const uint8_t want[12] = { 5, reps[i], 0, 1, 0, 0, 0, 0, 0, 0, 0xaa, 0xaa };
        char row[32];
        snprintf(row, sizeof row, "reply %02x", reps[i]);
        CHECK_MEM(row, out, sizeof out, want, sizeof want);
    }
}

/* ---------------------------------------------------------------- as a stream */

/* A client's whole handshake in one buffer, parsed in turn as the front end does. */
static void test_stream(void **state)
{
    uint8_t buf[512];
    size_t n = 0;
    const uint8_t greet[] = { 5, 2, 0, 2 };
    memcpy(buf + n, greet, sizeof greet);
    n += sizeof greet;
    n += build_userpass(buf + n, "shared-secret=x;k=\\;", 20, "\0", 1);
    const uint8_t req[] = { 5, 1, 0, 3, 4, 'h', 'o', 's', 't', 0, 22 };
    memcpy(buf + n, req, sizeof req);
    n += sizeof req;
    const char payload[] = "SSH-2.0-x\r\n";
    memcpy(buf + n, payload, sizeof payload - 1);
    n += sizeof payload - 1;

    uint8_t *b = exact(buf, n);
    size_t off = 0, used;
    uint8_t method, rep;
    assert_int_equal(wr_s5_parse_greeting(b + off, n - off, &used, &method), WR_S5_OK);
    assert_int_equal(method, WR_S5_AUTH_USERPASS);
    off += used;
    char args[511];
    size_t alen;
    assert_int_equal(wr_s5_parse_userpass(b + off, n - off, &used, args, &alen), WR_S5_OK);
    assert_int_equal(alen, 20);
    assert_string_equal(args, "shared-secret=x;k=\\;");
    off += used;
    struct wr_s5_request r;
    assert_int_equal(wr_s5_parse_request(b + off, n - off, &used, &r, &rep), WR_S5_OK);
    off += used;
    char a[WR_ADDRSTRLEN];
    wr_endpoint_format(&r.dst, a, sizeof a);
    assert_string_equal(a, "host:22");
    assert_int_equal(n - off, sizeof payload - 1);
    assert_memory_equal(b + off, payload, sizeof payload - 1);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greeting),
        cmocka_unit_test(test_greeting_truncated),
        cmocka_unit_test(test_greeting_all_methods),
        cmocka_unit_test(test_userpass),
        cmocka_unit_test(test_userpass_308),
        cmocka_unit_test(test_userpass_bad),
        cmocka_unit_test(test_json_len),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_request_truncated),
        cmocka_unit_test(test_request_long_name),
        cmocka_unit_test(test_reply),
        cmocka_unit_test(test_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
