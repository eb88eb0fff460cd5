/* fuzz_socks5.c: the SOCKS5 server parsers fed as the socks5 front end feeds them (greeting,
 * then RFC 1929 or the JSON block, then the request), with the bytes arriving in chunks.
 *
 * Input: byte 0 picks the chunk size (0: everything at once, else 1..255 bytes per arrival);
 * the rest is what the client sends. Each parse gets a heap copy of exactly the bytes it may
 * read. Invariants: MORE consumes nothing and never happens on 600 buffered bytes (the front end
 * would wait forever: no message but the JSON block is longer); OK consumes 1..n bytes and is
 * the same when given exactly those bytes, and MORE when given one fewer. */
#include "fuzz.h"

#include <jansson.h>

#include "core/kv.h"
#include "core/options.h"
#include "modes/socks5_proto.h"

#define SENTINEL ((size_t)0xfeedfaceu)
#define WINDOW 600           /* what socks5.c hands a parser at most */

enum state { GREETING, USERPASS, JSON_LEN, JSON_BODY, REQUEST, END };

struct stream {
    enum state state;
    uint32_t json_len;
    json_t *opts;            /* -options stand-in */
    json_t *args;            /* this connection's merged settings */
};

static const char *const names[] = { "plain" };

static void take_settings(struct stream *s, json_t *conn_args)
{
    json_t *mine = wr_options_for(conn_args, "plain", names, 1);
    FUZZ_CHECK(mine && json_is_object(mine));
    json_t *merged = wr_options_merge(s->opts, mine);
    FUZZ_CHECK(merged && json_is_object(merged));
    json_decref(mine);
    json_decref(s->args);
    s->args = merged;
    /* what a transport's client_check would look at */
    char buf[64];
    unsigned long u;
    int bad;
    wr_opt_str(s->args, "serverAddress", buf, sizeof buf, &bad);
    wr_opt_bool(s->args, "enabled", 0);
    if (wr_opt_uint(s->args, "mtu", 1400, 65535, &u) == 0)
        FUZZ_CHECK(u <= 65535);
}

typedef int parse_fn(const uint8_t *p, size_t n, size_t *used, void *out);

static int p_greeting(const uint8_t *p, size_t n, size_t *used, void *out)
{
    return wr_s5_parse_greeting(p, n, used, out);
}

struct up_out { char *buf; size_t len; };
static int p_userpass(const uint8_t *p, size_t n, size_t *used, void *out)
{
    struct up_out *o = out;
    return wr_s5_parse_userpass(p, n, used, o->buf, &o->len);
}

static int p_json_len(const uint8_t *p, size_t n, size_t *used, void *out)
{
    return wr_s5_parse_json_len(p, n, used, out);
}

struct req_out { struct wr_s5_request req; uint8_t rep; };
static int p_request(const uint8_t *p, size_t n, size_t *used, void *out)
{
    struct req_out *o = out;
    return wr_s5_parse_request(p, n, used, &o->req, &o->rep);
}

/* Runs parser on an exact copy; checks the invariants of the result. */
static int run(parse_fn *fn, const uint8_t *p, size_t n, size_t *used, void *out, void *out2)
{
    uint8_t *b = fuzz_exact(p, n);
    *used = SENTINEL;
    int r = fn(b, n, used, out);
    free(b);
    FUZZ_CHECK(r == WR_S5_MORE || r == WR_S5_OK || r == WR_S5_BAD);
    if (r == WR_S5_MORE) {
        FUZZ_CHECK(*used == SENTINEL);
        FUZZ_CHECK(n < WINDOW);
    }
    if (r == WR_S5_OK) {
        FUZZ_CHECK(*used >= 1 && *used <= n);
        /* exactly the message: the same verdict; one byte short: MORE */
        size_t u2 = SENTINEL;
        b = fuzz_exact(p, *used);
        FUZZ_CHECK(fn(b, *used, &u2, out2) == WR_S5_OK && u2 == *used);
        free(b);
        b = fuzz_exact(p, *used - 1);
        u2 = SENTINEL;
        FUZZ_CHECK(fn(b, *used - 1, &u2, out2) == WR_S5_MORE && u2 == SENTINEL);
        free(b);
    }
    return r;
}

/* One pass of the front end's advance(): consumes what it can from buf. */
static void advance(struct stream *s, uint8_t *buf, size_t *have)
{
    while (s->state != END) {
        size_t n = s->state == JSON_BODY ? s->json_len : (*have < WINDOW ? *have : WINDOW);
        if (*have == 0 || n > *have)
            return;
        size_t used = 0;
        int r;
        switch (s->state) {
        case GREETING: {
            uint8_t m = 0x77, m2 = 0x77;
            r = run(p_greeting, buf, n, &used, &m, &m2);
            if (r == WR_S5_MORE)
                return;
            if (r == WR_S5_BAD) {
                FUZZ_CHECK(buf[0] != 5);
                s->state = END;
                return;
            }
            FUZZ_CHECK(m == m2);
            FUZZ_CHECK(m == WR_S5_AUTH_NONE || m == WR_S5_AUTH_USERPASS || m == WR_S5_AUTH_JSON ||
                       m == WR_S5_AUTH_NO_ACCEPTABLE);
            s->state = m == WR_S5_AUTH_JSON ? JSON_LEN : m == WR_S5_AUTH_USERPASS ? USERPASS
                     : m == WR_S5_AUTH_NONE ? REQUEST : END;
            break;
        }
        case USERPASS: {
            struct up_out o = { malloc(511), SENTINEL }, o2 = { malloc(511), SENTINEL };
            FUZZ_CHECK(o.buf && o2.buf);
            r = run(p_userpass, buf, n, &used, &o, &o2);
            if (r == WR_S5_OK) {
                FUZZ_CHECK(o.len <= 510 && o.buf[o.len] == '\0');
                FUZZ_CHECK(o.len == o2.len && memcmp(o.buf, o2.buf, o.len) == 0);
                char err[256];
                json_t *kv = wr_kv_parse_client_args(o.buf, o.len, err, sizeof err);
                if (kv) {
                    FUZZ_CHECK(json_is_object(kv));
                    take_settings(s, kv);
                    json_decref(kv);
                    s->state = REQUEST;
                } else {
                    FUZZ_CHECK(err[0] != '\0');
                    s->state = END;
                }
            }
            free(o.buf);
            free(o2.buf);
            if (r == WR_S5_MORE)
                return;
            if (r == WR_S5_BAD) {
                FUZZ_CHECK(buf[0] != 1);
                s->state = END;
                return;
            }
            break;
        }
        case JSON_LEN: {
            uint32_t len = 0, len2 = 0;
            r = run(p_json_len, buf, n, &used, &len, &len2);
            if (r == WR_S5_MORE)
                return;
            FUZZ_CHECK(r == WR_S5_OK && used == 4 && len == len2);
            if (len == 0 || len > WR_S5_JSON_MAX) {
                s->state = END;
                break;
            }
            s->json_len = len;
            s->state = JSON_BODY;
            break;
        }
        case JSON_BODY: {
            char err[256];
            char *body = (char *)fuzz_exact(buf, s->json_len);
            json_t *doc = wr_options_parse(body, s->json_len, err, sizeof err);
            free(body);
            used = s->json_len;
            if (!doc) {
                FUZZ_CHECK(err[0] != '\0');
                s->state = END;
                break;
            }
            FUZZ_CHECK(json_is_object(doc));
            take_settings(s, doc);
            json_decref(doc);
            s->state = REQUEST;
            break;
        }
        case REQUEST: {
            struct req_out o, o2;
            o.rep = o2.rep = 0x77;
            r = run(p_request, buf, n, &used, &o, &o2);
            if (r == WR_S5_MORE)
                return;
            if (r == WR_S5_BAD) {
                FUZZ_CHECK(o.rep == 0 || o.rep == 1 || o.rep == 7 || o.rep == 8);
                FUZZ_CHECK((o.rep == 0) == (buf[0] != 5));
                s->state = END;
                return;
            }
            FUZZ_CHECK(o.rep == 0 && o.req.cmd == 1);
            FUZZ_CHECK(o.req.dst.type == o2.req.dst.type && o.req.dst.port == o2.req.dst.port &&
                       strcmp(o.req.dst.host, o2.req.dst.host) == 0);
            size_t hl = strlen(o.req.dst.host);
            FUZZ_CHECK(hl >= 1 && hl <= WR_HOST_MAX);
            if (o.req.dst.type == WR_EP_NAME)
                FUZZ_CHECK(wr_hostname_valid(o.req.dst.host, hl));
            else
                FUZZ_CHECK(o.req.dst.type == WR_EP_IPV4 || o.req.dst.type == WR_EP_IPV6);
            char a[WR_ADDRSTRLEN];
            wr_endpoint_format(&o.req.dst, a, sizeof a);
            /* the formatted destination parses back to itself */
            struct wr_endpoint back;
            FUZZ_CHECK(wr_endpoint_parse(a, 0, &back, NULL, 0) == 0);
            FUZZ_CHECK(back.port == o.req.dst.port && strcmp(back.host, o.req.dst.host) == 0);
            /* (a name that is a dotted quad comes back as an IPv4 address) */
            FUZZ_CHECK(back.type == o.req.dst.type ||
                       (o.req.dst.type == WR_EP_NAME && back.type == WR_EP_IPV4));
            wr_endpoint_is_unspecified(&o.req.dst);
            s->state = END;     /* what follows is payload */
            break;
        }
        case END:
            return;
        }
        memmove(buf, buf + used, *have - used);
        *have -= used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = data[0] ? data[0] : size;
    data++;
    size--;

    struct stream s = { .state = GREETING };
    s.opts = json_pack("{s:s, s:i}", "serverAddress", "192.0.2.1:443", "mtu", 1400);
    s.args = json_incref(s.opts);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    size_t have = 0;
    for (size_t off = 0; off < size && s.state != END; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        memcpy(buf + have, data + off, n);
        have += n;
        advance(&s, buf, &have);
    }
    free(buf);
    json_decref(s.args);
    json_decref(s.opts);
    return 0;
}
