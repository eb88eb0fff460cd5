/* addr.h: endpoints ("host:port") as users and parents write them: IPv4, bracketed IPv6 (an
 * unbracketed IPv6 is split at the last colon, as goptlib does), or a DNS name. Pure code. */
#ifndef WARREN_CORE_ADDR_H
#define WARREN_CORE_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum wr_ep_type { WR_EP_IPV4 = 1, WR_EP_IPV6 = 2, WR_EP_NAME = 3 };

#define WR_HOST_MAX 255

struct wr_endpoint {
    enum wr_ep_type type;
    uint16_t port;
    char host[WR_HOST_MAX + 1];          /* IP literal without brackets, or the name */
    struct sockaddr_storage sa;          /* valid for IPv4/IPv6 */
    socklen_t salen;
};

enum {
    WR_EP_IP_ONLY = 1,                   /* reject names (bind addresses, proxies) */
    WR_EP_NONZERO_PORT = 2,              /* port 0 is an error */
};

/* Parses "host:port"; on error fills err with a specific reason and returns -1. */
int wr_endpoint_parse(const char *s, int flags, struct wr_endpoint *ep, char *err, size_t errlen);
/* Parses host and port given separately (-targethost/-targetport and friends). */
int wr_endpoint_from_parts(const char *host, const char *port, int flags, struct wr_endpoint *ep,
                           char *err, size_t errlen);
/* Fills ep from a literal IP address (or name) and port without validation beyond length. */
int wr_endpoint_set(struct wr_endpoint *ep, enum wr_ep_type type, const char *host, uint16_t port);
int wr_endpoint_from_sockaddr(struct wr_endpoint *ep, const struct sockaddr *sa);
/* "1.2.3.4:5", "[::1]:5" or "name:5". */
void wr_endpoint_format(const struct wr_endpoint *ep, char *buf, size_t len);
void wr_sockaddr_format(const struct sockaddr *sa, char *buf, size_t len);
/* 0.0.0.0:0 or [::]:0: what a SOCKS client sends when it has no destination to give. */
int wr_endpoint_is_unspecified(const struct wr_endpoint *ep);
int wr_parse_port(const char *s, uint16_t *port);
/* A DNS name as RFC 1123 allows, plus '_' (seen in the wild). */
int wr_hostname_valid(const char *s, size_t len);

#define WR_ADDRSTRLEN (WR_HOST_MAX + 10)

/* 1 if a free server may connect there: not loopback, private, link-local, shared (CGNAT),
 * multicast, unspecified or reserved; IPv4-mapped IPv6 is judged by its IPv4 address. */
int wr_sockaddr_is_public(const struct sockaddr *sa);
/* 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int wr_sockaddr_is_loopback(const struct sockaddr *sa);

/* ATYP | address | BE16 port, as SOCKS5 requests and Shadowsocks headers carry it. */
#define WR_SOCKS_ADDR_MAX (1 + 1 + WR_HOST_MAX + 2)
size_t wr_endpoint_to_socks(const struct wr_endpoint *ep, uint8_t out[WR_SOCKS_ADDR_MAX]);
/* The inverse, over the n bytes at p (the ATYP byte first, taken as is: callers that mask it,
 * as Shadowsocks does, mask it before). Returns 1 (*used bytes make ep), 0 (need more bytes),
 * WR_SOCKS_ADDR_BAD_TYPE or WR_SOCKS_ADDR_BAD_NAME. */
enum { WR_SOCKS_ADDR_BAD_TYPE = -1, WR_SOCKS_ADDR_BAD_NAME = -2 };
int wr_endpoint_from_socks(const uint8_t *p, size_t n, size_t *used, struct wr_endpoint *ep);

#endif
