/* addr.c: endpoint parsing and formatting; see addr.h. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int wr_parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;
    if (!*s || strlen(s) > 5)
        return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int wr_hostname_valid(const char *s, size_t len)
{
    if (len == 0 || len > WR_HOST_MAX)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (++label > 63)
            return 0;
    }
    return 1;
}

int wr_endpoint_set(struct wr_endpoint *ep, enum wr_ep_type type, const char *host, uint16_t port)
{
    size_t n = strlen(host);
    if (n > WR_HOST_MAX)
        return -1;
    memset(ep, 0, sizeof *ep);
    ep->type = type;
    ep->port = port;
    memcpy(ep->host, host, n + 1);
    if (type == WR_EP_IPV4) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ep->sa;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return -1;
        ep->salen = sizeof *sin;
    } else if (type == WR_EP_IPV6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ep->sa;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -1;
        ep->salen = sizeof *sin6;
    }
    return 0;
}

static int set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int wr_endpoint_from_parts(const char *host, const char *portstr, int flags, struct wr_endpoint *ep,
                           char *err, size_t errlen)
{
    uint16_t port;
    if (wr_parse_port(portstr, &port) != 0)
        return set_err(err, errlen, "bad port '%s' (want 0-65535)", portstr);
    if ((flags & WR_EP_NONZERO_PORT) && port == 0)
        return set_err(err, errlen, "port 0 is not allowed in '%s'", host);
    char h[WR_HOST_MAX + 1];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        if (n - 2 > WR_HOST_MAX)
            return set_err(err, errlen, "address too long: '%s'", host);
        memcpy(h, host + 1, n - 2);
        h[n - 2] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, h, &a6) != 1)
            return set_err(err, errlen, "bad IPv6 address '%s'", host);
        return wr_endpoint_set(ep, WR_EP_IPV6, h, port);
    }
    if (n == 0)
        return set_err(err, errlen, "empty host%s", "");
    if (n > WR_HOST_MAX)
        return set_err(err, errlen, "host name too long (%s)", "max 255");
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return wr_endpoint_set(ep, WR_EP_IPV4, host, port);
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return wr_endpoint_set(ep, WR_EP_IPV6, host, port);
    if (flags & WR_EP_IP_ONLY)
        return set_err(err, errlen, "'%s' is not an IP address (host names are not allowed here)", host);
    if (!wr_hostname_valid(host, n))
        return set_err(err, errlen, "bad host name '%s'", host);
    return wr_endpoint_set(ep, WR_EP_NAME, host, port);
}

int wr_endpoint_parse(const char *s, int flags, struct wr_endpoint *ep, char *err, size_t errlen)
{
    char host[WR_HOST_MAX + 3];
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return set_err(err, errlen, "missing ']' in '%s'", s);
        if (close[1] != ':')
            return set_err(err, errlen, "missing ':port' in '%s'", s);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return set_err(err, errlen, "missing ':port' in '%s'", s);
    }
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return set_err(err, errlen, "host too long in '%s'", s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (wr_endpoint_from_parts(host, colon + 1, flags, ep, err, errlen) != 0) {
        if (err && errlen && strncmp(err, "bad port", 8) == 0)
            snprintf(err, errlen, "bad port in '%s' (want host:port, port 0-65535)", s);
        return -1;
    }
    return 0;
}

int wr_endpoint_from_sockaddr(struct wr_endpoint *ep, const struct sockaddr *sa)
{
    char buf[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
        return wr_endpoint_set(ep, WR_EP_IPV4, buf, ntohs(sin->sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
        return wr_endpoint_set(ep, WR_EP_IPV6, buf, ntohs(sin6->sin6_port));
    }
    return -1;
}

void wr_endpoint_format(const struct wr_endpoint *ep, char *buf, size_t len)
{
    if (ep->type == WR_EP_IPV6)
        snprintf(buf, len, "[%s]:%u", ep->host, ep->port);
    else
        snprintf(buf, len, "%s:%u", ep->host, ep->port);
}

void wr_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    struct wr_endpoint ep;
    if (wr_endpoint_from_sockaddr(&ep, sa) != 0) {
        snprintf(buf, len, "?");
        return;
    }
    wr_endpoint_format(&ep, buf, len);
}

int wr_endpoint_is_unspecified(const struct wr_endpoint *ep)
{
    if (ep->port != 0)
        return 0;
    if (ep->type == WR_EP_IPV4)
        return strcmp(ep->host, "0.0.0.0") == 0;
    if (ep->type == WR_EP_IPV6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ep->sa;
        static const struct in6_addr any = IN6ADDR_ANY_INIT;
        return memcmp(&sin6->sin6_addr, &any, sizeof any) == 0;
    }
    return 0;
}

size_t wr_endpoint_to_socks(const struct wr_endpoint *ep, uint8_t out[WR_SOCKS_ADDR_MAX])
{
    size_t n = 0;
    if (ep->type == WR_EP_IPV4) {
        out[n++] = 1;
        memcpy(out + n, &((const struct sockaddr_in *)&ep->sa)->sin_addr, 4);
        n += 4;
    } else if (ep->type == WR_EP_IPV6) {
        out[n++] = 4;
        memcpy(out + n, &((const struct sockaddr_in6 *)&ep->sa)->sin6_addr, 16);
        n += 16;
    } else {
        size_t hl = strlen(ep->host);
        out[n++] = 3;
        out[n++] = (uint8_t)hl;
        memcpy(out + n, ep->host, hl);
        n += hl;
    }
    out[n++] = (uint8_t)(ep->port >> 8);
    out[n++] = (uint8_t)ep->port;
    return n;
}

static int ipv4_is_public(uint32_t a)
{
    uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
    if (b0 == 0 || b0 == 10 || b0 == 127 || b0 >= 224)           /* this net, private, loopback,
                                                                    multicast, reserved */
        return 0;
    if (b0 == 169 && b1 == 254) return 0;                          /* link-local */
    if (b0 == 172 && (b1 & 0xF0) == 16) return 0;                  /* private */
    if (b0 == 192 && b1 == 168) return 0;                          /* private */
    if (b0 == 100 && (b1 & 0xC0) == 64) return 0;                  /* shared address space */
    return 1;
}

int wr_sockaddr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

int wr_sockaddr_is_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_is_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6)
        return 0;
    const uint8_t *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (!memcmp(a, mapped, 12))
        return ipv4_is_public((uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15]);
    int zero_prefix = 1;
    for (int i = 0; i < 15; i++)
        if (a[i]) zero_prefix = 0;
    if (zero_prefix && a[15] <= 1) return 0;                       /* :: and ::1 */
    if ((a[0] & 0xFE) == 0xFC) return 0;                           /* unique local fc00::/7 */
    if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) return 0;           /* link-local fe80::/10 */
    if (a[0] == 0xFF) return 0;                                    /* multicast */
    return 1;
}

int wr_endpoint_from_socks(const uint8_t *p, size_t n, size_t *used, struct wr_endpoint *ep)
{
    char host[WR_HOST_MAX + 1];
    size_t alen;
    enum wr_ep_type type;
    if (n < 1)
        return 0;
    switch (p[0]) {
    case 1: alen = 4; type = WR_EP_IPV4; break;
    case 4: alen = 16; type = WR_EP_IPV6; break;
    case 3:
        if (n < 2)
            return 0;
        alen = 1 + (size_t)p[1];
        type = WR_EP_NAME;
        break;
    default:
        return WR_SOCKS_ADDR_BAD_TYPE;
    }
    if (n < 1 + alen + 2)
        return 0;
    if (type == WR_EP_NAME) {
        if (!wr_hostname_valid((const char *)p + 2, p[1]))
            return WR_SOCKS_ADDR_BAD_NAME;
        memcpy(host, p + 2, p[1]);
        host[p[1]] = '\0';
    } else {
        inet_ntop(type == WR_EP_IPV4 ? AF_INET : AF_INET6, p + 1, host, sizeof host);
    }
    if (wr_endpoint_set(ep, type, host, (uint16_t)(p[1 + alen] << 8 | p[2 + alen])) != 0)
        return WR_SOCKS_ADDR_BAD_NAME;
    *used = 1 + alen + 2;
    return 1;
}
