/* shadow.c: the Shadowsocks AEAD transport "shadow", wire-compatible with shadowsocks-libev.
 * Options (from -options, the SOCKS JSON block or PT 1.0 k=v): password (required),
 * cipherName (aes-128-gcm, aes-256-gcm, chacha20-ietf-poly1305; default chacha20-ietf-poly1305),
 * serverAddress, target, and uri (a SIP002 ss:// URI giving the first three; explicit keys win).
 * - With serverAddress the client is free: the SOCKS destination (or, in transparent-TCP mode,
 *   the option target, else 0.0.0.0:0) is the final destination, written in the first chunk's
 *   address header, and the connection goes to serverAddress.
 * - Without it the SOCKS destination is the server (as PT 1.0 parents send it), and the header
 *   carries the option target, or 0.0.0.0:0 for a server that forwards to its own -target.
 * The salt and the whole first chunk (the header, with the application's first bytes when they
 * come within HEADER_WAIT_MS) leave in one write, as ss-local does: a server that sees them
 * split may take the connection for a probe, and a lone header is a fixed-size first packet.
 * Server: with -target, forwards there after taking off the address header (bound); without,
 * connects to the address in the header (free), refusing loopback, private and link-local
 * destinations unless the option allowPrivateDestinations is true. A salt seen before,
 * a wrong key or a bad header gets no answer: the connection is read and discarded, then closed
 * after a random 10-60 s, as ss-libev keeps such connections until its idle timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "core/codec.h"
#include "core/ctx.h"
#include "core/log.h"
#include "core/options.h"
#include "transports/shadow/aead.h"
#include "transports/shadow/replay.h"
#include "transports/transport.h"

#define DEFAULT_CIPHER "chacha20-ietf-poly1305"
/* How long the client's address header waits for the application's first bytes. A SOCKS
 * client sends them one local round trip after our reply; only a protocol whose server speaks
 * first (SMTP, FTP) sees the wait. */
#define HEADER_WAIT_MS 10

/* Both states start with is_server: free_state receives either. */
struct shadow_client {
    int is_server;                      /* 0 */
    struct wr_ctx *ctx;
    enum wr_mode mode;
};

struct shadow_server {
    int is_server;                      /* 1 */
    struct wr_ctx *ctx;
    const struct ss_cipher *cipher;
    uint8_t master[SS_MAX_KEY];
    struct ss_replay *replay;           /* salts seen, ours included (a reflected salt is refused) */
    char password[256];                 /* for the announced URI */
};

/* One connection's codec state. */
struct ss_codec {
    const struct ss_cipher *cipher;
    uint8_t master[SS_MAX_KEY];
    struct ss_stream enc, dec;
    uint8_t header[WR_SOCKS_ADDR_MAX];
    size_t header_len;
    /* server */
    struct shadow_server *server;
    struct evbuffer *first;             /* plaintext until the address header is complete */
    struct wr_endpoint dest;            /* what the header names */
    uint8_t ready;
    uint8_t header_sent;                /* client */
};

/* --- SIP002 URIs ------------------------------------------------------------------------ */

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "ss://" userinfo "@" host ":" port ["/"] ["?" plugin] ["#" tag], userinfo being
 * base64url(method ":" password) (padding optional) or, as some clients write it,
 * percent-encoded "method:password". Fills out with cipherName, password, serverAddress. */
static int parse_uri(const char *uri, json_t *out, char *err, size_t errlen)
{
    if (strncmp(uri, "ss://", 5) != 0) {
        snprintf(err, errlen, "uri must start with ss://");
        return -1;
    }
    const char *p = uri + 5;
    const char *at = strrchr(p, '@');
    if (!at || at == p) {
        snprintf(err, errlen, "uri has no user info (ss://BASE64(method:password)@host:port)");
        return -1;
    }
    char info[512];
    size_t il = (size_t)(at - p), n = 0;
    if (il >= sizeof info) {
        snprintf(err, errlen, "uri user info too long");
        return -1;
    }
    if (memchr(p, ':', il) || memchr(p, '%', il)) {
        for (size_t i = 0; i < il; i++) {
            if (p[i] == '%' && i + 2 < il && hexval(p[i + 1]) >= 0 && hexval(p[i + 2]) >= 0) {
                info[n++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
                i += 2;
            } else {
                info[n++] = p[i];
            }
        }
    } else {
        char b64[512];
        size_t bl = 0;
        for (size_t i = 0; i < il; i++)
            if (p[i] != '=')
                b64[bl++] = p[i];
        b64[bl] = '\0';
        if (sodium_base642bin((unsigned char *)info, sizeof info - 1, b64, bl, NULL, &n, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 &&
            sodium_base642bin((unsigned char *)info, sizeof info - 1, b64, bl, NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
            snprintf(err, errlen, "uri user info is not base64");
            return -1;
        }
    }
    info[n] = '\0';
    char *colon = memchr(info, ':', n);
    if (!colon || strlen(info) != n) {
        snprintf(err, errlen, "uri user info must be method:password");
        return -1;
    }
    *colon = '\0';
    char hostport[WR_ADDRSTRLEN + 2];
    size_t hl = strcspn(at + 1, "/?#");
    if (hl >= sizeof hostport) {
        snprintf(err, errlen, "uri host too long");
        return -1;
    }
    memcpy(hostport, at + 1, hl);
    hostport[hl] = '\0';
    json_object_set_new(out, "cipherName", json_string(info));
    json_object_set_new(out, "password", json_stringn(colon + 1, n - (size_t)(colon + 1 - info)));
    json_object_set_new(out, "serverAddress", json_string(hostport));
    sodium_memzero(info, sizeof info);
    return 0;
}

/* The options with a "uri" expanded; keys given explicitly win over the URI's. New reference,
 * or NULL with err. */
static json_t *effective_opts(const json_t *opts, char *err, size_t errlen)
{
    char buf[16];
    int bad;
    const char *uri = wr_opt_str(opts, "uri", buf, sizeof buf, &bad);
    if (bad) {
        snprintf(err, errlen, "uri must be a string");
        return NULL;
    }
    if (!uri)
        return json_incref((json_t *)opts);
    json_t *from_uri = json_object();
    if (!from_uri || parse_uri(uri, from_uri, err, errlen) != 0) {
        json_decref(from_uri);
        return NULL;
    }
    json_object_update(from_uri, (json_t *)opts);
    json_object_del(from_uri, "uri");
    return from_uri;
}

/* The key and cipher a set of options names; -1 with a reason. */
static int read_keys(const json_t *opts, const struct ss_cipher **cipher, uint8_t master[SS_MAX_KEY],
                     char *err, size_t errlen)
{
    char b1[64], b2[64];
    int bad1, bad2;
    const char *pw = wr_opt_str(opts, "password", b1, sizeof b1, &bad1);
    const char *cn = wr_opt_str(opts, "cipherName", b2, sizeof b2, &bad2);
    if (bad1 || !pw || !*pw) {
        snprintf(err, errlen, "no password given (option password)");
        return -1;
    }
    if (bad2) {
        snprintf(err, errlen, "cipherName must be a string");
        return -1;
    }
    *cipher = ss_cipher_find(cn ? cn : DEFAULT_CIPHER);
    if (!*cipher) {
        snprintf(err, errlen, "unsupported cipherName '%.40s' (want aes-128-gcm, aes-256-gcm or chacha20-ietf-poly1305)", cn);
        return -1;
    }
    if (master)
        ss_password_key(*cipher, pw, master);
    return 0;
}

static int read_endpoint(const json_t *opts, const char *key, int *present, struct wr_endpoint *ep,
                         char *err, size_t errlen)
{
    char buf[32], e[160];
    int bad;
    const char *v = wr_opt_str(opts, key, buf, sizeof buf, &bad);
    *present = v != NULL;
    if (bad || (v && wr_endpoint_parse(v, WR_EP_NONZERO_PORT, ep, e, sizeof e) != 0)) {
        snprintf(err, errlen, "bad %s: %s", key, bad ? "must be a string like \"192.0.2.1:8388\"" : e);
        return -1;
    }
    return 0;
}

static int check_opts(const json_t *given, enum wr_mode mode, char *err, size_t errlen)
{
    const struct ss_cipher *c;
    struct wr_endpoint ep;
    int has_server, has_target, r = -1;
    json_t *opts = effective_opts(given, err, errlen);
    if (!opts)
        return -1;
    if (read_keys(opts, &c, NULL, err, errlen) != 0 ||
        read_endpoint(opts, "serverAddress", &has_server, &ep, err, errlen) != 0 ||
        read_endpoint(opts, "target", &has_target, &ep, err, errlen) != 0)
        goto out;
    if (mode != WR_MODE_SOCKS5 && !has_server) {
        snprintf(err, errlen, "outside socks5 mode the client needs the option serverAddress (host:port)");
        goto out;
    }
    r = 0;
out:
    json_decref(opts);
    return r;
}

/* --- codec ------------------------------------------------------------------------------ */

/* The client's opening (salt and address header) waits for the first plaintext, as ss-local
 * sends them: the header and the data share the first chunk. */
static int codec_start(void *st, struct evbuffer *wire_out)
{
    return WR_CODEC_OK;
}

static int send_header(struct ss_codec *c, struct evbuffer *plain, struct evbuffer *wire_out)
{
    c->header_sent = 1;
    return evbuffer_prepend(plain, c->header, c->header_len) == 0 &&
           ss_encrypt(&c->enc, plain, wire_out) == 0 ? WR_CODEC_OK : WR_CODEC_ERROR;
}

static int codec_flush(void *st, struct evbuffer *wire_out)
{
    struct ss_codec *c = st;
    struct evbuffer *h = evbuffer_new();
    int r = h ? send_header(c, h, wire_out) : WR_CODEC_ERROR;   /* salt + header chunk */
    if (h)
        evbuffer_free(h);
    return r;
}

static int codec_decode(void *st, struct evbuffer *wire_in, struct evbuffer *plain_out,
                        struct evbuffer *wire_out)
{
    struct ss_codec *c = st;
    return ss_decrypt(&c->dec, c->master, wire_in, plain_out) == 0 ? WR_CODEC_OK : WR_CODEC_ERROR;
}

static int codec_encode(void *st, struct evbuffer *plain_in, struct evbuffer *wire_out)
{
    struct ss_codec *c = st;
    if (!c->header_sent)
        return send_header(c, plain_in, wire_out);
    return ss_encrypt(&c->enc, plain_in, wire_out) == 0 ? WR_CODEC_OK : WR_CODEC_ERROR;
}

static int codec_ready(const void *st)
{
    return 1; /* a client sends at once; the server's reply needs no handshake */
}

static void codec_free(void *st)
{
    struct ss_codec *c = st;
    if (c->first)
        evbuffer_free(c->first);
    ss_stream_free(&c->enc);
    ss_stream_free(&c->dec);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static const struct wr_codec_ops ss_client_codec = {
    .name = "shadow",
    .start = codec_start,
    .decode = codec_decode,
    .encode = codec_encode,
    .is_ready = codec_ready,
    .free = codec_free,
    .flush = codec_flush,
    .flush_after_ms = HEADER_WAIT_MS,
    .handshake_max = 0,
};

/* --- client ----------------------------------------------------------------------------- */

static int shadow_client_init(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                              void **state, char *err, size_t errlen)
{
    if (check_opts(opts, mode, err, errlen) != 0)
        return -1;
    struct shadow_client *sc = calloc(1, sizeof *sc);
    if (!sc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    sc->ctx = ctx;
    sc->mode = mode;
    *state = sc;
    return 0;
}

static int shadow_client_check(void *state, const json_t *args, char *err, size_t errlen)
{
    struct shadow_client *sc = state;
    return check_opts(args, sc->mode, err, errlen);
}

static struct wr_pending *shadow_client_open(void *state, const struct wr_open_req *req,
                                             wr_dial_cb *cb, void *arg)
{
    struct shadow_client *sc = state;
    char err[200];
    struct wr_endpoint server, dest;
    int has_server, has_target;
    struct ss_codec *c = calloc(1, sizeof *c);
    json_t *opts = effective_opts(req->args, err, sizeof err);
    if (!c || !opts) {
        json_decref(opts);
        free(c);
        return wr_fail_soon(sc->ctx, cb, arg, WR_REP_FAILURE, c ? err : "out of memory");
    }
    if (read_keys(opts, &c->cipher, c->master, err, sizeof err) != 0 ||
        read_endpoint(opts, "serverAddress", &has_server, &server, err, sizeof err) != 0 ||
        read_endpoint(opts, "target", &has_target, &dest, err, sizeof err) != 0)
        goto fail;
    json_decref(opts);
    opts = NULL;
    /* The header names the SOCKS destination when the client is free (serverAddress given),
     * else the option target, else 0.0.0.0:0 for a server bound to its own -target. */
    if (has_server && req->dst)
        dest = *req->dst;
    else if (!has_target)
        wr_endpoint_set(&dest, WR_EP_IPV4, "0.0.0.0", 0);
    if (!has_server && wr_transport_server_addr(req, &server, err, sizeof err) != 0)
        goto fail;
    c->header_len = wr_endpoint_to_socks(&dest, c->header);
    ss_stream_init_decrypt(&c->dec, c->cipher);
    if (ss_stream_init_encrypt(&c->enc, c->cipher, c->master) != 0) {
        snprintf(err, sizeof err, "cannot set up the cipher");
        goto fail;
    }
    return wr_codec_dial(sc->ctx, &server, &ss_client_codec, c, cb, arg);
fail:
    json_decref(opts);
    codec_free(c);
    return wr_fail_soon(sc->ctx, cb, arg, WR_REP_FAILURE, err);
}

/* --- server ----------------------------------------------------------------------------- */

/* ATYP (ss-libev masks it with 0x0F) | address | port. 1 complete, 0 need more, -1 bad. */
static int parse_header(struct evbuffer *in, struct wr_endpoint *dest)
{
    uint8_t h[WR_SOCKS_ADDR_MAX];
    size_t have = evbuffer_get_length(in), used;
    if (have == 0)
        return 0;
    evbuffer_copyout(in, h, have < sizeof h ? have : sizeof h);
    h[0] &= 0x0F;
    int r = wr_endpoint_from_socks(h, have < sizeof h ? have : sizeof h, &used, dest);
    if (r <= 0)
        return r < 0 ? -1 : 0;
    evbuffer_drain(in, used);
    return 1;
}

static int server_decode(void *st, struct evbuffer *wire_in, struct evbuffer *plain_out,
                         struct evbuffer *wire_out)
{
    struct ss_codec *c = st;
    if (c->ready)
        return ss_decrypt(&c->dec, c->master, wire_in, plain_out) == 0 ? WR_CODEC_OK : WR_CODEC_ERROR;
    int had_salt = c->dec.have_salt;
    if (ss_decrypt(&c->dec, c->master, wire_in, c->first) != 0)
        return WR_CODEC_ERROR;
    /* A salt seen before is a replay: refuse it before anything reaches the target. */
    if (!had_salt && c->dec.have_salt &&
        ss_replay_check_add(c->server->replay, c->dec.salt, c->cipher->key_len))
        return WR_CODEC_ERROR;
    int r = parse_header(c->first, &c->dest);
    if (r < 0)
        return WR_CODEC_ERROR;
    if (r == 1) {
        c->ready = 1;
        evbuffer_add_buffer(plain_out, c->first);
    }
    return WR_CODEC_OK;
}

static int server_ready(const void *st)
{
    return ((const struct ss_codec *)st)->ready;
}

static const struct wr_endpoint *server_destination(const void *st)
{
    return &((const struct ss_codec *)st)->dest;
}

static int server_start(void *st, struct evbuffer *wire_out)
{
    return WR_CODEC_OK; /* the server's salt goes out with its first bytes */
}

static const struct wr_codec_ops ss_server_codec = {
    .name = "shadow",
    .start = server_start,
    .decode = server_decode,
    .encode = codec_encode,
    .is_ready = server_ready,
    .free = codec_free,
    .destination = server_destination,
    .drain_min_ms = 10000,
    .drain_max_ms = 60000,
    /* The salt and a whole first chunk, which ss-local sends in one write. */
    .handshake_max = SS_MAX_KEY + 2 + SS_TAG + SS_MAX_PAYLOAD + SS_TAG,
};

static int shadow_server_init(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                              const char *state_dir, void **state, char *args_out, char *err,
                              size_t errlen)
{
    struct shadow_server *ss = calloc(1, sizeof *ss);
    if (!ss) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (read_keys(opts, &ss->cipher, ss->master, err, errlen) != 0) {
        free(ss);
        return -1;
    }
    ss->replay = ss_replay_new();
    if (!ss->replay) {
        free(ss);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ss->is_server = 1;
    ss->ctx = ctx;
    char buf[16];
    int bad;
    const char *pw = wr_opt_str(opts, "password", buf, sizeof buf, &bad);
    snprintf(ss->password, sizeof ss->password, "%s", pw ? pw : "");
    args_out[0] = '\0'; /* the password is the secret: clients get it out of band */
    *state = ss;
    return 0;
}

/* Logs the SIP002 URI a Shadowsocks client can import (at INFO: it holds the password). */
static void shadow_server_announce(void *state, const struct wr_endpoint *bound)
{
    struct shadow_server *ss = state;
    if (!wr_log_enabled(WR_LOG_INFO))
        return;
    char info[64 + sizeof ss->password], b64[sizeof info * 4 / 3 + 4], hostport[WR_ADDRSTRLEN];
    int n = snprintf(info, sizeof info, "%s:%s", ss->cipher->name, ss->password);
    sodium_bin2base64(b64, sizeof b64, (const unsigned char *)info, (size_t)n,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (!strcmp(bound->host, "0.0.0.0") || !strcmp(bound->host, "::"))
        snprintf(hostport, sizeof hostport, "YOUR_SERVER_IP:%u", bound->port);
    else
        wr_endpoint_format(bound, hostport, sizeof hostport);
    wr_info("shadow: Shadowsocks clients can use ss://%s@%s", b64, hostport);
    sodium_memzero(info, sizeof info);
    sodium_memzero(b64, sizeof b64);
}

static struct wr_conn *shadow_server_wrap(void *state, struct wr_conn *raw)
{
    struct shadow_server *ss = state;
    struct ss_codec *c = calloc(1, sizeof *c);
    if (!c || !(c->first = evbuffer_new())) {
        free(c);
        wr_conn_close(raw, 1);
        return NULL;
    }
    c->server = ss;
    c->cipher = ss->cipher;
    memcpy(c->master, ss->master, sizeof c->master);
    ss_stream_init_decrypt(&c->dec, c->cipher);
    if (ss_stream_init_encrypt(&c->enc, c->cipher, c->master) != 0) {
        codec_free(c);
        wr_conn_close(raw, 1);
        return NULL;
    }
    ss_replay_check_add(ss->replay, c->enc.salt, c->cipher->key_len);
    return wr_codec_conn_new(ss->ctx, raw, &ss_server_codec, c, 1);
}

static void shadow_free(void *state)
{
    if (state && *(int *)state) {
        struct shadow_server *ss = state;
        ss_replay_free(ss->replay);
        sodium_memzero(ss->master, sizeof ss->master);
        sodium_memzero(ss->password, sizeof ss->password);
    }
    free(state);
}

const struct wr_transport wr_transport_shadow = {
    .name = "shadow",
    .free_server = 1,
    .client_init = shadow_client_init,
    .client_check = shadow_client_check,
    .client_open = shadow_client_open,
    .server_init = shadow_server_init,
    .server_wrap = shadow_server_wrap,
    .server_announce = shadow_server_announce,
    .free_state = shadow_free,
};
