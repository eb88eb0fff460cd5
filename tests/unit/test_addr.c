/* test_addr.c: endpoint parsing ("host:port" in its three forms), formatting and helpers. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "core/addr.h"

#define LONG63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"

struct ep_case {
    const char *in;
    int flags;
    int rc;
    enum wr_ep_type type;
    const char *host;
    unsigned port;
    const char *fmt;           /* wr_endpoint_format, or the exact error text when rc is -1 */
};

static const struct ep_case cases[] = {
    /* IPv4 */
    { "1.2.3.4:80", 0, 0, WR_EP_IPV4, "1.2.3.4", 80, "1.2.3.4:80" },
    { "127.0.0.1:0", 0, 0, WR_EP_IPV4, "127.0.0.1", 0, "127.0.0.1:0" },
    { "255.255.255.255:65535", WR_EP_IP_ONLY, 0, WR_EP_IPV4, "255.255.255.255", 65535, "255.255.255.255:65535" },
    { "0.0.0.0:00080", 0, 0, WR_EP_IPV4, "0.0.0.0", 80, "0.0.0.0:80" },
    /* bracketed IPv6 */
    { "[::1]:443", 0, 0, WR_EP_IPV6, "::1", 443, "[::1]:443" },
    { "[2001:db8::1]:9001", WR_EP_IP_ONLY, 0, WR_EP_IPV6, "2001:db8::1", 9001, "[2001:db8::1]:9001" },
    { "[::ffff:1.2.3.4]:5", 0, 0, WR_EP_IPV6, "::ffff:1.2.3.4", 5, "[::ffff:1.2.3.4]:5" },
    { "[::]:0", 0, 0, WR_EP_IPV6, "::", 0, "[::]:0" },
    /* unbracketed IPv6: split at the last colon */
    { "::1:443", 0, 0, WR_EP_IPV6, "::1", 443, "[::1]:443" },
    { "2001:db8::1:8080", 0, 0, WR_EP_IPV6, "2001:db8::1", 8080, "[2001:db8::1]:8080" },
    { "fe80::1:2:3", WR_EP_IP_ONLY, 0, WR_EP_IPV6, "fe80::1:2", 3, "[fe80::1:2]:3" },
    /* names */
    { "example.com:8080", 0, 0, WR_EP_NAME, "example.com", 8080, "example.com:8080" },
    { "localhost:0", 0, 0, WR_EP_NAME, "localhost", 0, "localhost:0" },
    { "under_score-dash.example:1", 0, 0, WR_EP_NAME, "under_score-dash.example", 1, "under_score-dash.example:1" },
    { "example.com.:1", 0, 0, WR_EP_NAME, "example.com.", 1, "example.com.:1" },
    { "1.2.3.4.5:80", 0, 0, WR_EP_NAME, "1.2.3.4.5", 80, "1.2.3.4.5:80" },
    { LONG63 ".x:1", 0, 0, WR_EP_NAME, LONG63 ".x", 1, LONG63 ".x:1" },
    /* bad ports */
    { "1.2.3.4:65536", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:65536' (want host:port, port 0-65535)" },
    { "1.2.3.4:-1", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:-1' (want host:port, port 0-65535)" },
    { "1.2.3.4:", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:' (want host:port, port 0-65535)" },
    { "1.2.3.4:http", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:http' (want host:port, port 0-65535)" },
    { "1.2.3.4:8o", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:8o' (want host:port, port 0-65535)" },
    { "1.2.3.4:123456", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:123456' (want host:port, port 0-65535)" },
    { "1.2.3.4:+80", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4:+80' (want host:port, port 0-65535)" },
    { "1.2.3.4: 80", 0, -1, 0, NULL, 0, "bad port in '1.2.3.4: 80' (want host:port, port 0-65535)" },
    { "[::1]:99999", 0, -1, 0, NULL, 0, "bad port in '[::1]:99999' (want host:port, port 0-65535)" },
    { "1.2.3.4:0", WR_EP_NONZERO_PORT, -1, 0, NULL, 0, "port 0 is not allowed in '1.2.3.4'" },
    /* bad shapes */
    { "1.2.3.4", 0, -1, 0, NULL, 0, "missing ':port' in '1.2.3.4'" },
    { "", 0, -1, 0, NULL, 0, "missing ':port' in ''" },
    { "[::1]", 0, -1, 0, NULL, 0, "missing ':port' in '[::1]'" },
    { "[::1]80", 0, -1, 0, NULL, 0, "missing ':port' in '[::1]80'" },
    { "[::1:80", 0, -1, 0, NULL, 0, "missing ']' in '[::1:80'" },
    { "[1.2.3.4]:80", 0, -1, 0, NULL, 0, "bad IPv6 address '[1.2.3.4]'" },
    { "[]:80", 0, -1, 0, NULL, 0, "bad IPv6 address '[]'" },
    { "[example.com]:80", 0, -1, 0, NULL, 0, "bad IPv6 address '[example.com]'" },
    { ":80", 0, -1, 0, NULL, 0, "empty host" },
    { "example.com:80", WR_EP_IP_ONLY, -1, 0, NULL, 0,
      "'example.com' is not an IP address (host names are not allowed here)" },
    { "1.2.3.256:80", WR_EP_IP_ONLY, -1, 0, NULL, 0,
      "'1.2.3.256' is not an IP address (host names are not allowed here)" },
    { "bad..name:80", 0, -1, 0, NULL, 0, "bad host name 'bad..name'" },
    { ".lead:80", 0, -1, 0, NULL, 0, "bad host name '.lead'" },
    { "a b:80", 0, -1, 0, NULL, 0, "bad host name 'a b'" },
    { "a/b:80", 0, -1, 0, NULL, 0, "bad host name 'a/b'" },
    { "caf\xc3\xa9:80", 0, -1, 0, NULL, 0, "bad host name 'caf\xc3\xa9'" },
    { LONG63 "d.x:1", 0, -1, 0, NULL, 0, "bad host name '" LONG63 "d.x'" },   /* 64-byte label */
};

static void check_ep(const char *row, const struct wr_endpoint *ep, enum wr_ep_type type, const char *host,
                     unsigned port, const char *fmt)
{
    CHECK_INT(row, ep->type, type);
    CHECK_STR(row, ep->host, host);
    CHECK_INT(row, ep->port, port);
    char buf[WR_ADDRSTRLEN];
    wr_endpoint_format(ep, buf, sizeof buf);
    CHECK_STR(row, buf, fmt);
    if (type == WR_EP_IPV4) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep->sa;
        CHECK_INT(row, sin->sin_family, AF_INET);
        CHECK_INT(row, ntohs(sin->sin_port), port);
        CHECK_INT(row, ep->salen, sizeof *sin);
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof a);
        CHECK_STR(row, a, host);
    } else if (type == WR_EP_IPV6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep->sa;
        CHECK_INT(row, sin6->sin6_family, AF_INET6);
        CHECK_INT(row, ntohs(sin6->sin6_port), port);
        CHECK_INT(row, ep->salen, sizeof *sin6);
        struct in6_addr want;
        assert_int_equal(inet_pton(AF_INET6, host, &want), 1);
        CHECK_INT(row, memcmp(&sin6->sin6_addr, &want, sizeof want), 0);
    } else {
        CHECK_INT(row, ep->salen, 0);
    }
}

static void test_parse_table(void **state)
{
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const struct ep_case *c = &cases[i];
        struct wr_endpoint ep;
        char err[300] = "";
        int rc = wr_endpoint_parse(c->in, c->flags, &ep, err, sizeof err);
        CHECK_INT(c->in, rc, c->rc);
        if (c->rc == 0) {
            CHECK_STR(c->in, err, "");
            check_ep(c->in, &ep, c->type, c->host, c->port, c->fmt);
        } else {
            CHECK_STR(c->in, err, c->fmt);
        }
    }
}

/* format(parse(s)) parses back to the same endpoint. */
static void test_round_trip(void **state)
{
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        if (cases[i].rc != 0)
            continue;
        struct wr_endpoint a, b;
        assert_int_equal(wr_endpoint_parse(cases[i].in, 0, &a, NULL, 0), 0);
        char buf[WR_ADDRSTRLEN];
        wr_endpoint_format(&a, buf, sizeof buf);
        CHECK_INT(buf, wr_endpoint_parse(buf, 0, &b, NULL, 0), 0);
        CHECK_INT(buf, b.type, a.type);
        CHECK_STR(buf, b.host, a.host);
        CHECK_INT(buf, b.port, a.port);
        CHECK_INT(buf, b.salen, a.salen);
        CHECK_INT(buf, memcmp(&a.sa, &b.sa, a.salen), 0);
    }
}

static void test_host_length_limits(void **state)
{
    /* 255 bytes of name is the most; 256 is too long; 258+ is caught before the split. */
    char host[300], in[320], err[600];
    struct wr_endpoint ep;
    for (size_t len = 253; len <= 260; len++) {
        for (size_t i = 0; i < len; i++)
            host[i] = (i % 60 == 59) ? '.' : 'a';
        host[len] = '\0';
        snprintf(in, sizeof in, "%s:1", host);
        int rc = wr_endpoint_parse(in, 0, &ep, err, sizeof err);
        char row[32];
        snprintf(row, sizeof row, "host length %zu", len);
        if (len <= 255) {
            CHECK_INT(row, rc, 0);
            CHECK_INT(row, strlen(ep.host), len);
        } else if (len < 258) {
            CHECK_INT(row, rc, -1);
            CHECK_STR(row, err, "host name too long (max 255)");
        } else {
            CHECK_INT(row, rc, -1);
            CHECK_CONTAINS(row, err, "host too long in '");
        }
    }
}

static void test_unspecified(void **state)
{
    static const struct { const char *in; int want; } rows[] = {
        { "0.0.0.0:0", 1 },
        { "[::]:0", 1 },
        { "[0:0::0]:0", 1 },
        { "::0:0", 1 },
        { "0.0.0.0:1", 0 },
        { "1.2.3.4:0", 0 },
        { "[::1]:0", 0 },
        { "[::]:1", 0 },
        { "localhost:0", 0 },
        { "[::ffff:0.0.0.0]:0", 0 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct wr_endpoint ep;
        CHECK_INT(rows[i].in, wr_endpoint_parse(rows[i].in, 0, &ep, NULL, 0), 0);
        CHECK_INT(rows[i].in, wr_endpoint_is_unspecified(&ep), rows[i].want);
    }
}

static void test_from_parts(void **state)
{
    static const struct {
        const char *host, *port;
        int flags, rc;
        const char *fmt_or_err;
    } rows[] = {
        { "1.2.3.4", "80", 0, 0, "1.2.3.4:80" },
        { "[::1]", "80", 0, 0, "[::1]:80" },
        { "::1", "80", 0, 0, "[::1]:80" },
        { "example.com", "443", 0, 0, "example.com:443" },
        { "example.com", "443", WR_EP_IP_ONLY, -1, "'example.com' is not an IP address (host names are not allowed here)" },
        { "1.2.3.4", "x", 0, -1, "bad port 'x' (want 0-65535)" },
        { "1.2.3.4", "", 0, -1, "bad port '' (want 0-65535)" },
        { "1.2.3.4", "65536", 0, -1, "bad port '65536' (want 0-65535)" },
        { "h", "0", WR_EP_NONZERO_PORT, -1, "port 0 is not allowed in 'h'" },
        { "", "1", 0, -1, "empty host" },
        { "[]", "1", 0, -1, "bad IPv6 address '[]'" },
        { "[1.2.3.4]", "1", 0, -1, "bad IPv6 address '[1.2.3.4]'" },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        struct wr_endpoint ep;
        char err[200] = "", row[64];
        snprintf(row, sizeof row, "%s / %s", rows[i].host, rows[i].port);
        int rc = wr_endpoint_from_parts(rows[i].host, rows[i].port, rows[i].flags, &ep, err, sizeof err);
        CHECK_INT(row, rc, rows[i].rc);
        if (rc == 0) {
            char buf[WR_ADDRSTRLEN];
            wr_endpoint_format(&ep, buf, sizeof buf);
            CHECK_STR(row, buf, rows[i].fmt_or_err);
        } else {
            CHECK_STR(row, err, rows[i].fmt_or_err);
        }
    }
}

static void test_parse_port(void **state)
{
    static const struct { const char *in; int rc; unsigned v; } rows[] = {
        { "0", 0, 0 }, { "1", 0, 1 }, { "65535", 0, 65535 }, { "00001", 0, 1 },
        { "65536", -1, 0 }, { "99999", -1, 0 }, { "000001", -1, 0 }, { "", -1, 0 },
        { "-1", -1, 0 }, { "+1", -1, 0 }, { " 1", -1, 0 }, { "1 ", -1, 0 }, { "0x10", -1, 0 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++) {
        uint16_t p = 4242;
        CHECK_INT(rows[i].in, wr_parse_port(rows[i].in, &p), rows[i].rc);
        CHECK_INT(rows[i].in, p, rows[i].rc == 0 ? rows[i].v : 4242);
    }
}

static void test_hostname_valid(void **state)
{
    static const struct { const char *in; int want; } rows[] = {
        { "a", 1 }, { "example.com", 1 }, { "x_y-z.0", 1 }, { "a.", 1 }, { LONG63, 1 },
        { "", 0 }, { ".", 0 }, { ".a", 0 }, { "a..b", 0 }, { "a b", 0 }, { "a:b", 0 },
        { "a\tb", 0 }, { "\xff", 0 }, { LONG63 "d", 0 },
    };
    for (size_t i = 0; i < N_ELEMS(rows); i++)
        CHECK_INT(rows[i].in, wr_hostname_valid(rows[i].in, strlen(rows[i].in)), rows[i].want);
    /* the length is honoured: the NUL and what follows are not looked at */
    assert_int_equal(wr_hostname_valid("ab\0 c", 2), 1);
    assert_int_equal(wr_hostname_valid("ab\0 c", 3), 0);
}

static void test_sockaddr(void **state)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(8080) };
    inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
    inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    char buf[WR_ADDRSTRLEN];

    struct wr_endpoint ep;
    assert_int_equal(wr_endpoint_from_sockaddr(&ep, (struct sockaddr *)&sin), 0);
    check_ep("sockaddr_in", &ep, WR_EP_IPV4, "10.1.2.3", 8080, "10.1.2.3:8080");
    assert_int_equal(wr_endpoint_from_sockaddr(&ep, (struct sockaddr *)&sin6), 0);
    check_ep("sockaddr_in6", &ep, WR_EP_IPV6, "2001:db8::5", 443, "[2001:db8::5]:443");
    assert_int_equal(wr_endpoint_from_sockaddr(&ep, (struct sockaddr *)&sun), -1);

    wr_sockaddr_format((struct sockaddr *)&sin, buf, sizeof buf);
    assert_string_equal(buf, "10.1.2.3:8080");
    wr_sockaddr_format((struct sockaddr *)&sin6, buf, sizeof buf);
    assert_string_equal(buf, "[2001:db8::5]:443");
    wr_sockaddr_format((struct sockaddr *)&sun, buf, sizeof buf);
    assert_string_equal(buf, "?");
}

static void test_endpoint_set_and_format_truncation(void **state)
{
    struct wr_endpoint ep;
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_IPV4, "1.2.3.4", 5), 0);
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_IPV4, "1.2.3", 5), -1);
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_IPV6, "1.2.3.4", 5), -1);
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_NAME, "anything", 5), 0);
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_NAME, big, 5), -1);

    /* format into a short buffer: truncated, NUL-terminated, nothing past len written */
    assert_int_equal(wr_endpoint_set(&ep, WR_EP_IPV6, "2001:db8::1", 65535), 0);
    char buf[16];
    memset(buf, '#', sizeof buf);
    wr_endpoint_format(&ep, buf, 8);
    assert_string_equal(buf, "[2001:d");
    assert_int_equal(buf[8], '#');
}

/* The free server's destination policy: only public unicast addresses. */
static void test_sockaddr_is_public(void **state)
{
    static const struct { const char *ep; int pub; } rows[] = {
        { "8.8.8.8:53", 1 },          { "93.184.216.34:80", 1 },   { "100.63.255.255:1", 1 },
        { "172.32.0.1:1", 1 },        { "192.169.0.1:1", 1 },      { "[2001:db8::1]:1", 1 },
        { "[2606:4700::1111]:443", 1 }, { "[::ffff:8.8.8.8]:53", 1 },
        { "0.0.0.0:1", 0 },           { "10.1.2.3:1", 0 },         { "100.64.0.1:1", 0 },
        { "127.0.0.1:1", 0 },         { "127.255.255.254:1", 0 },  { "169.254.1.1:1", 0 },
        { "172.16.0.1:1", 0 },        { "172.31.255.255:1", 0 },   { "192.168.1.1:1", 0 },
        { "224.0.0.1:1", 0 },         { "255.255.255.255:1", 0 },  { "[::]:1", 0 },
        { "[::1]:1", 0 },             { "[fc00::1]:1", 0 },        { "[fdff::1]:1", 0 },
        { "[fe80::1]:1", 0 },         { "[febf::1]:1", 0 },        { "[ff02::1]:1", 0 },
        { "[::ffff:127.0.0.1]:1", 0 }, { "[::ffff:192.168.0.1]:1", 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct wr_endpoint ep;
        char err[128];
        assert_int_equal(wr_endpoint_parse(rows[i].ep, 0, &ep, err, sizeof err), 0);
        if (wr_sockaddr_is_public((const struct sockaddr *)&ep.sa) != rows[i].pub)
            fail_msg("%s: want public=%d", rows[i].ep, rows[i].pub);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_host_length_limits),
        cmocka_unit_test(test_unspecified),
        cmocka_unit_test(test_from_parts),
        cmocka_unit_test(test_parse_port),
        cmocka_unit_test(test_hostname_valid),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_endpoint_set_and_format_truncation),
        cmocka_unit_test(test_sockaddr_is_public),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
