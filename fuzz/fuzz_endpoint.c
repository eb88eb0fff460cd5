/* fuzz_endpoint.c: wr_endpoint_parse, wr_endpoint_from_parts and the SOCKS binary form.
 *
 * The input (up to its first NUL) is parsed as "host:port" with each flag combination; on
 * success the endpoint must be consistent (host length, sockaddr family and port, the flags
 * honoured) and its formatted form must parse back to the same endpoint. The input split at its
 * first NUL is also tried as separate host and port. */
#include "fuzz.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "core/addr.h"

static void check_ep(const struct wr_endpoint *ep, int flags)
{
    size_t hl = strlen(ep->host);
    FUZZ_CHECK(hl >= 1 && hl <= WR_HOST_MAX);
    if (flags & WR_EP_NONZERO_PORT)
        FUZZ_CHECK(ep->port != 0);
    if (ep->type == WR_EP_IPV4) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep->sa;
        FUZZ_CHECK(sin->sin_family == AF_INET && ntohs(sin->sin_port) == ep->port);
        FUZZ_CHECK(ep->salen == sizeof *sin);
    } else if (ep->type == WR_EP_IPV6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep->sa;
        FUZZ_CHECK(sin6->sin6_family == AF_INET6 && ntohs(sin6->sin6_port) == ep->port);
        FUZZ_CHECK(ep->salen == sizeof *sin6);
    } else {
        FUZZ_CHECK(ep->type == WR_EP_NAME);
        FUZZ_CHECK(!(flags & WR_EP_IP_ONLY));
        FUZZ_CHECK(wr_hostname_valid(ep->host, hl));
    }
    char buf[WR_ADDRSTRLEN];
    wr_endpoint_format(ep, buf, sizeof buf);
    FUZZ_CHECK(strlen(buf) < sizeof buf - 1);   /* never cut */
    struct wr_endpoint back;
    char err[400];
    FUZZ_CHECK(wr_endpoint_parse(buf, flags, &back, err, sizeof err) == 0);
    FUZZ_CHECK(back.type == ep->type && back.port == ep->port && strcmp(back.host, ep->host) == 0);
    FUZZ_CHECK(back.salen == ep->salen && memcmp(&back.sa, &ep->sa, ep->salen) == 0);
    int u = wr_endpoint_is_unspecified(ep);
    FUZZ_CHECK(u == 0 || (u == 1 && ep->port == 0 && ep->type != WR_EP_NAME));
    char sa[WR_ADDRSTRLEN];
    if (ep->type != WR_EP_NAME) {
        wr_sockaddr_format((const struct sockaddr *)&ep->sa, sa, sizeof sa);
        FUZZ_CHECK(sa[0] != '?');
    }
}

/* The binary SOCKS form: whatever parses must encode back to exactly the bytes it used, and a
 * prefix of those bytes must ask for more. */
static void check_socks_form(const uint8_t *data, size_t size)
{
    struct wr_endpoint ep;
    size_t used = 0;
    int r = wr_endpoint_from_socks(data, size, &used, &ep);
    FUZZ_CHECK(r == 1 || r == 0 || r == WR_SOCKS_ADDR_BAD_TYPE || r == WR_SOCKS_ADDR_BAD_NAME);
    if (r != 1)
        return;
    FUZZ_CHECK(used <= size && used <= WR_SOCKS_ADDR_MAX);
    uint8_t back[WR_SOCKS_ADDR_MAX];
    FUZZ_CHECK(wr_endpoint_to_socks(&ep, back) == used);
    FUZZ_CHECK(memcmp(back, data, used) == 0);
    size_t used2;
    struct wr_endpoint ep2;
    FUZZ_CHECK(wr_endpoint_from_socks(data, used - 1, &used2, &ep2) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_socks_form(data, size);
    static const int flag_sets[] = { 0, WR_EP_IP_ONLY, WR_EP_NONZERO_PORT, WR_EP_IP_ONLY | WR_EP_NONZERO_PORT };
    char *s = fuzz_cstr(data, size);
    for (size_t i = 0; i < 4; i++) {
        struct wr_endpoint ep;
        char err[400];
        err[0] = '\0';
        if (wr_endpoint_parse(s, flag_sets[i], &ep, err, sizeof err) == 0)
            check_ep(&ep, flag_sets[i]);
        else
            FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof err);
        /* a NULL error buffer is allowed */
        wr_endpoint_parse(s, flag_sets[i], &ep, NULL, 0);
    }
    uint16_t port;
    if (wr_parse_port(s, &port) == 0)
        FUZZ_CHECK(strlen(s) >= 1 && strlen(s) <= 5);

    /* host NUL port */
    size_t hl = strlen(s);
    if (hl < size) {
        char *p = fuzz_cstr(data + hl + 1, size - hl - 1);
        for (size_t i = 0; i < 4; i++) {
            struct wr_endpoint ep;
            char err[600];
            err[0] = '\0';
            if (wr_endpoint_from_parts(s, p, flag_sets[i], &ep, err, sizeof err) == 0)
                check_ep(&ep, flag_sets[i]);
            else
                FUZZ_CHECK(err[0] != '\0');
        }
        free(p);
    }
    free(s);
    return 0;
}
