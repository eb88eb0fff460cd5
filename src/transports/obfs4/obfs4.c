/* obfs4.c: the obfs4 transport, wire-compatible with obfs4proxy 0.0.14 (and lyrebird).
 *
 * Client options (from -options, the SOCKS JSON block or PT 1.0 k=v, as tor sends them):
 *   cert=<70 base64 chars> (or node-id=<40 hex> and public-key=<64 hex>), iat-mode=0|1|2 (both
 *   required, as obfs4proxy requires them), serverAddress (transparent-TCP mode; in socks5
 *   mode the SOCKS destination is the server).
 * Server: the identity (node ID, X25519 key) and the DRBG seed come from the options node-id,
 *   private-key and drbg-seed (all three) or from <state>/obfs4_state.json, created on first
 *   start in obfs4proxy's format, so a bridge can move between the two and keep its cert;
 *   iat-mode from the options overrides the file's. The bridge line goes to
 *   <state>/obfs4_bridgeline.txt and SMETHOD ARGS carry cert and iat-mode.
 *
 * Per connection: the client sends its request (handshake.h); the server answers with its
 * response and, in the same write, a frame with its DRBG seed, from which both sides draw the
 * padding-length distribution (probdist.h). Payload then travels in frames (framing.h); every
 * write is padded towards a length drawn from that distribution, and with iat-mode 1 or 2 the
 * frames leave in pieces with 0-10 ms pauses between (mode 2 also cuts pieces to drawn lengths).
 *
 * A server that gets anything but a valid, fresh request answers nothing: it reads and discards
 * until 30 s plus a per-bridge delay (0-59 s, drawn from the DRBG seed) after the connection
 * arrived, as obfs4proxy does, so a prober cannot tell a warren bridge from an obfs4proxy one. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/ctx.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/options.h"
#include "transports/obfs4/drbg.h"
#include "transports/obfs4/elligator.h"
#include "transports/obfs4/framing.h"
#include "transports/obfs4/handshake.h"
#include "transports/obfs4/ntor.h"
#include "transports/obfs4/probdist.h"
#include "transports/obfs4/replay.h"
#include "transports/transport.h"

#define CERT_LEN 70                     /* base64 of node ID | public key, "==" dropped */
#define IAT_MAX_DELAY 100               /* iat distribution range: units of 100 us */
#define SERVER_HANDSHAKE_MS 30000       /* obfs4proxy's serverHandshakeTimeout */
#define MAX_CLOSE_DELAY 60
#define BURST_MAX (32 * 1024)           /* what obfs4proxy gets per Write (io.Copy's buffer) */
#define STATE_FILE "obfs4_state.json"
#define BRIDGE_FILE "obfs4_bridgeline.txt"

enum { IAT_NONE = 0, IAT_ENABLED = 1, IAT_PARANOID = 2 };

struct bridge_id {
    uint8_t node_id[OBFS4_NODE_ID_LEN];
    uint8_t pub[32];
};

/* Both states start with is_server: free_state receives either. */
struct obfs4_client {
    int is_server;                      /* 0 */
    struct wr_ctx *ctx;
    enum wr_mode mode;
};

struct obfs4_server {
    int is_server;                      /* 1 */
    struct wr_ctx *ctx;
    struct bridge_id id;
    uint8_t priv[32];
    uint8_t seed[OBFS4_SEED_LEN];       /* sent to every client; seeds the distributions */
    int iat_mode;
    uint32_t close_delay_s;
    struct wr_probdist len_dist, iat_dist;
    struct obfs4_replay *replay;
    struct wr_ratelim refused_log;
    char cert[CERT_LEN + 1];
};

/* One connection's codec state. */
struct obfs4_conn {
    struct obfs4_server *server;        /* NULL on the client */
    int iat_mode;
    int ready;
    struct bridge_id id;
    uint8_t mackey[OBFS4_MACKEY_LEN];
    uint8_t priv[32], pub[32], repr[32];    /* our ephemeral key */
    char epoch[OBFS4_EPOCH_MAX];
    struct obfs4_framer enc, dec;
    const struct wr_probdist *len_dist, *iat_dist;
    struct wr_probdist own_len, own_iat;    /* the client's, reseeded by the server */
    struct evbuffer *held;              /* frames waiting for their turn (iat-mode 1, 2) */
    char tag[24];                       /* for log lines: "obfs4 c12" or "obfs4 client" */
    const char *why;                    /* why decoding failed, for the client's dial error */
};

/* --- arguments -------------------------------------------------------------------------- */

static int hex_field(const char *s, uint8_t *out, size_t len)
{
    size_t n = 0;
    const char *end;
    return s && strlen(s) == 2 * len &&
           sodium_hex2bin(out, len, s, 2 * len, NULL, &n, &end) == 0 && n == len && !*end ? 0 : -1;
}

static void cert_encode(const struct bridge_id *id, char out[CERT_LEN + 1])
{
    uint8_t raw[OBFS4_NODE_ID_LEN + 32];
    char b64[sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_ORIGINAL)];
    memcpy(raw, id->node_id, OBFS4_NODE_ID_LEN);
    memcpy(raw + OBFS4_NODE_ID_LEN, id->pub, 32);
    sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    memcpy(out, b64, CERT_LEN);     /* 52 bytes: 70 characters without the "==" */
    out[CERT_LEN] = '\0';
}

static int cert_decode(const char *cert, struct bridge_id *id)
{
    uint8_t raw[OBFS4_NODE_ID_LEN + 32 + 2];
    size_t n = 0;
    size_t len = strlen(cert);
    /* Tolerate the padding obfs4proxy strips, should someone paste it back. */
    while (len > CERT_LEN && cert[len - 1] == '=')
        len--;
    if (len != CERT_LEN ||
        sodium_base642bin(raw, sizeof raw, cert, len, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        n != OBFS4_NODE_ID_LEN + 32)
        return -1;
    memcpy(id->node_id, raw, OBFS4_NODE_ID_LEN);
    memcpy(id->pub, raw + OBFS4_NODE_ID_LEN, 32);
    return 0;
}

static int read_iat(const json_t *opts, int required, int *iat, char *err, size_t errlen)
{
    unsigned long v;
    if (!json_object_get(opts, "iat-mode") || json_is_null(json_object_get(opts, "iat-mode"))) {
        if (required) {
            snprintf(err, errlen, "missing argument 'iat-mode' (0, 1 or 2)");
            return -1;
        }
        *iat = -1;
        return 0;
    }
    if (wr_opt_uint(opts, "iat-mode", 0, IAT_PARANOID, &v) != 0) {
        snprintf(err, errlen, "invalid iat-mode (want 0, 1 or 2)");
        return -1;
    }
    *iat = (int)v;
    return 0;
}

/* The bridge a client connection talks to, from cert or node-id + public-key. present: any of
 * them given. -1 with a reason when malformed, or missing and required. */
static int read_bridge(const json_t *opts, int required, struct bridge_id *id, int *iat,
                       char *err, size_t errlen)
{
    char b1[16], b2[16], b3[16];
    int bad1, bad2, bad3;
    const char *cert = wr_opt_str(opts, "cert", b1, sizeof b1, &bad1);
    const char *node = wr_opt_str(opts, "node-id", b2, sizeof b2, &bad2);
    const char *pub = wr_opt_str(opts, "public-key", b3, sizeof b3, &bad3);
    if (bad1 || bad2 || bad3) {
        snprintf(err, errlen, "cert, node-id and public-key must be strings");
        return -1;
    }
    if (cert) {
        if (cert_decode(cert, id) != 0) {
            snprintf(err, errlen, "malformed cert (want the 70 base64 characters of the bridge line)");
            return -1;
        }
    } else if (node || pub) {
        if (!node || hex_field(node, id->node_id, OBFS4_NODE_ID_LEN) != 0) {
            snprintf(err, errlen, node ? "malformed node-id (want 40 hex digits)"
                                       : "missing argument 'node-id'");
            return -1;
        }
        if (!pub || hex_field(pub, id->pub, 32) != 0) {
            snprintf(err, errlen, pub ? "malformed public-key (want 64 hex digits)"
                                      : "missing argument 'public-key'");
            return -1;
        }
    } else if (required) {
        snprintf(err, errlen, "missing argument 'cert' (from the bridge line)");
        return -1;
    }
    return read_iat(opts, required, iat, err, errlen);
}

/* --- codec ------------------------------------------------------------------------------ */

static void conn_free(void *st)
{
    struct obfs4_conn *c = st;
    if (c->held)
        evbuffer_free(c->held);
    sodium_memzero(c, sizeof *c);
    free(c);
}

static struct obfs4_conn *conn_new(int iat_mode)
{
    struct obfs4_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->iat_mode = iat_mode;
    if (iat_mode != IAT_NONE && !(c->held = evbuffer_new())) {
        free(c);
        return NULL;
    }
    return c;
}

/* Tops a burst of burst_len frame bytes up towards a multiple of 1448 plus target, with
 * padding-only packets (obfs4proxy's padBurst). */
static int pad_burst(struct obfs4_conn *c, size_t burst_len, size_t target, struct evbuffer *out)
{
    size_t tail = burst_len % OBFS4_MAX_SEGMENT;
    size_t pad = target >= tail ? target - tail : OBFS4_MAX_SEGMENT - tail + target;
    if (pad > OBFS4_HEADER_LEN)
        return obfs4_frame_packet(&c->enc, OBFS4_PACKET_PAYLOAD, NULL, 0, pad - OBFS4_HEADER_LEN, out);
    if (pad > 0) {
        /* Too short for a frame of its own: a full frame, then one of header + pad bytes. */
        if (obfs4_frame_packet(&c->enc, OBFS4_PACKET_PAYLOAD, NULL, 0, OBFS4_MAX_PACKET_PAYLOAD, out) != 0)
            return -1;
        return obfs4_frame_packet(&c->enc, OBFS4_PACKET_PAYLOAD, NULL, 0, pad, out);
    }
    return 0;
}

static int codec_encode(void *st, struct evbuffer *plain_in, struct evbuffer *wire_out)
{
    struct obfs4_conn *c = st;
    struct evbuffer *out = c->held ? c->held : wire_out;
    uint8_t chunk[OBFS4_MAX_PACKET_PAYLOAD];
    while (evbuffer_get_length(plain_in)) {
        size_t start = evbuffer_get_length(out), burst = 0;
        while (burst < BURST_MAX && evbuffer_get_length(plain_in)) {
            int n = evbuffer_remove(plain_in, chunk, sizeof chunk);
            if (n <= 0 || obfs4_frame_packet(&c->enc, OBFS4_PACKET_PAYLOAD, chunk, (size_t)n, 0, out) != 0)
                return WR_CODEC_ERROR;
            burst += (size_t)n;
        }
        if (c->iat_mode != IAT_PARANOID &&
            pad_burst(c, evbuffer_get_length(out) - start,
                      (size_t)wr_probdist_sample(c->len_dist), out) != 0)
            return WR_CODEC_ERROR;
    }
    sodium_memzero(chunk, sizeof chunk);
    return WR_CODEC_OK;
}

static int codec_next_piece(void *st, struct evbuffer *wire_out, uint32_t *delay_us)
{
    struct obfs4_conn *c = st;
    size_t have = c->held ? evbuffer_get_length(c->held) : 0;
    if (!have)
        return 0;
    size_t take = have < OBFS4_MAX_SEGMENT ? have : OBFS4_MAX_SEGMENT;
    if (c->iat_mode == IAT_PARANOID) {
        /* Each piece a drawn length, padding the burst up when it is shorter. A few draws at
         * most: a table whose only value is 0 would otherwise spin (obfs4proxy panics there). */
        for (int tries = 0; tries < 8; tries++) {
            size_t target = (size_t)wr_probdist_sample(c->len_dist);
            if (target == 0)
                continue;
            if (have < target) {
                if (pad_burst(c, have, target, c->held) != 0)
                    return 0;
                have = evbuffer_get_length(c->held);
                if (have != target)
                    continue;
            }
            take = target;
            break;
        }
        if (take > have)
            take = have;
    }
    evbuffer_remove_buffer(c->held, wire_out, take);
    *delay_us = (uint32_t)wr_probdist_sample(c->iat_dist) * 100;
    return 1;
}

static size_t codec_queued(const void *st)
{
    const struct obfs4_conn *c = st;
    return c->held ? evbuffer_get_length(c->held) : 0;
}

static const char *codec_error(const void *st)
{
    return ((const struct obfs4_conn *)st)->why;
}

static int codec_ready(const void *st)
{
    return ((const struct obfs4_conn *)st)->ready;
}

/* Frames after the handshake, on either side. */
static int read_frames(struct obfs4_conn *c, struct evbuffer *wire_in, struct evbuffer *plain_out)
{
    uint8_t seed[OBFS4_SEED_LEN];
    int got_seed = 0;
    const char *why = NULL;
    if (obfs4_deframe(&c->dec, wire_in, plain_out, seed, &got_seed, &why) != 0) {
        wr_info("%s: closing: %s", c->tag, why);
        c->why = why;
        return WR_CODEC_ERROR;
    }
    if (got_seed && !c->server) {
        /* The bridge's seed: pad like it does from now on. */
        wr_probdist_reset(&c->own_len, seed);
        if (c->iat_mode != IAT_NONE) {
            uint8_t h[crypto_hash_sha256_BYTES];
            crypto_hash_sha256(h, seed, sizeof seed);
            wr_probdist_reset(&c->own_iat, h);
        }
    }
    return WR_CODEC_OK;
}

static void keys_from_seed(struct obfs4_conn *c, const uint8_t key_seed[32], int is_server)
{
    uint8_t okm[OBFS4_OKM_LEN];
    obfs4_kdf(key_seed, okm);
    /* okm[0:72] is client to server, okm[72:144] server to client. */
    obfs4_framer_init(&c->enc, okm + (is_server ? 72 : 0));
    obfs4_framer_init(&c->dec, okm + (is_server ? 0 : 72));
    sodium_memzero(okm, sizeof okm);
}

static int client_start(void *st, struct evbuffer *wire_out)
{
    struct obfs4_conn *c = st;
    uint8_t msg[OBFS4_MAX_HANDSHAKE], pad[OBFS4_CLIENT_MAX_PAD];
    size_t padlen = OBFS4_CLIENT_MIN_PAD +
                    randombytes_uniform(OBFS4_CLIENT_MAX_PAD - OBFS4_CLIENT_MIN_PAD + 1);
    randombytes_buf(pad, padlen);
    obfs4_epoch_hour((long long)time(NULL), 0, c->epoch);
    size_t n = obfs4_client_request(c->mackey, c->repr, pad, padlen, c->epoch, msg);
    return evbuffer_add(wire_out, msg, n) == 0 ? WR_CODEC_OK : WR_CODEC_ERROR;
}

static int client_decode(void *st, struct evbuffer *wire_in, struct evbuffer *plain_out,
                         struct evbuffer *wire_out)
{
    struct obfs4_conn *c = st;
    if (!c->ready) {
        size_t len = evbuffer_get_length(wire_in);
        size_t n = len < OBFS4_MAX_HANDSHAKE ? len : OBFS4_MAX_HANDSHAKE;
        const uint8_t *buf = evbuffer_pullup(wire_in, (ssize_t)n);
        uint8_t repr[32], auth[32], Y[32], key_seed[32], want[32];
        size_t used = 0;
        const char *why = NULL;
        int r = obfs4_parse_server_response(c->mackey, buf, n, c->epoch, repr, auth, &used, &why);
        if (r == OBFS4_HS_MORE)
            return WR_CODEC_OK;
        if (r == OBFS4_HS_INVALID) {
            wr_info("%s: the bridge's reply is invalid: %s", c->tag, why);
            c->why = why;
            return WR_CODEC_ERROR;
        }
        wr_ell2_repr_to_pub(repr, Y);
        int bad = obfs4_ntor_client(c->priv, c->pub, Y, c->id.pub, c->id.node_id, key_seed, want);
        if (bad || sodium_memcmp(want, auth, 32) != 0) {
            c->why = "the bridge failed to prove its identity (ntor): a wrong cert?";
            wr_info("%s: %s", c->tag, c->why);
            return WR_CODEC_ERROR;
        }
        keys_from_seed(c, key_seed, 0);
        sodium_memzero(key_seed, sizeof key_seed);
        sodium_memzero(c->priv, sizeof c->priv);
        evbuffer_drain(wire_in, used);
        c->ready = 1;
    }
    return read_frames(c, wire_in, plain_out);
}

static int server_start(void *st, struct evbuffer *wire_out)
{
    return WR_CODEC_OK; /* the server speaks second */
}

static int server_decode(void *st, struct evbuffer *wire_in, struct evbuffer *plain_out,
                         struct evbuffer *wire_out)
{
    struct obfs4_conn *c = st;
    struct obfs4_server *s = c->server;
    if (!c->ready) {
        size_t len = evbuffer_get_length(wire_in);
        size_t n = len < OBFS4_MAX_HANDSHAKE ? len : OBFS4_MAX_HANDSHAKE;
        const uint8_t *buf = evbuffer_pullup(wire_in, (ssize_t)n);
        uint8_t repr[32], mac[OBFS4_MAC_LEN], X[32], key_seed[32], auth[32];
        const char *why = NULL;
        long long now = (long long)time(NULL);
        int r = obfs4_parse_client_request(c->mackey, buf, len, now, repr, mac, c->epoch, &why);
        if (r == OBFS4_HS_MORE)
            return WR_CODEC_OK;
        if (r == OBFS4_HS_DONE && obfs4_replay_test_and_set(s->replay, now, mac, sizeof mac)) {
            r = OBFS4_HS_INVALID;
            why = "replayed handshake";
        }
        if (r == OBFS4_HS_DONE) {
            wr_ell2_repr_to_pub(repr, X);
            wr_ell2_keypair(c->priv, c->pub, c->repr);
            if (obfs4_ntor_server(X, c->priv, c->pub, s->priv, s->id.pub, s->id.node_id,
                                  key_seed, auth) != 0) {
                r = OBFS4_HS_INVALID;
                why = "client key of low order (ntor)";
            }
            sodium_memzero(c->priv, sizeof c->priv);
        }
        if (r == OBFS4_HS_INVALID) {
            unsigned suppressed = 0;
            if (wr_ratelim_allow(&s->refused_log, 10, &suppressed))
                wr_info("%s: refused: %s; answering nothing (%u more refused, not logged)",
                        c->tag, why, suppressed);
            return WR_CODEC_ERROR;
        }
        keys_from_seed(c, key_seed, 1);
        sodium_memzero(key_seed, sizeof key_seed);
        /* Reply and seed frame leave in one write, as obfs4proxy sends them. */
        uint8_t msg[OBFS4_MAX_HANDSHAKE], pad[OBFS4_SERVER_MAX_PAD];
        size_t padlen = randombytes_uniform(OBFS4_SERVER_MAX_PAD + 1);
        randombytes_buf(pad, padlen);
        size_t mlen = obfs4_server_response(c->mackey, c->repr, auth, pad, padlen, c->epoch, msg);
        if (evbuffer_add(wire_out, msg, mlen) != 0 ||
            obfs4_frame_packet(&c->enc, OBFS4_PACKET_PRNG_SEED, s->seed, sizeof s->seed, 0,
                               wire_out) != 0)
            return WR_CODEC_ERROR;
        /* The client sends nothing more before it has the reply. */
        evbuffer_drain(wire_in, len);
        c->ready = 1;
        wr_debug("%s: handshake done", c->tag);
        return WR_CODEC_OK;
    }
    return read_frames(c, wire_in, plain_out);
}

static uint32_t server_close_after_ms(const void *st)
{
    const struct obfs4_conn *c = st;
    return SERVER_HANDSHAKE_MS + c->server->close_delay_s * 1000;
}

static const struct wr_codec_ops obfs4_client_codec = {
    .name = "obfs4",
    .start = client_start,
    .decode = client_decode,
    .encode = codec_encode,
    .is_ready = codec_ready,
    .free = conn_free,
    .next_piece = codec_next_piece,
    .queued = codec_queued,
    .error = codec_error,
    /* The longest reply plus the seed frame fit in 8192 bytes. */
    .handshake_max = OBFS4_MAX_HANDSHAKE + OBFS4_MAX_SEGMENT,
};

static const struct wr_codec_ops obfs4_server_codec = {
    .name = "obfs4",
    .start = server_start,
    .decode = server_decode,
    .encode = codec_encode,
    .is_ready = codec_ready,
    .free = conn_free,
    .next_piece = codec_next_piece,
    .queued = codec_queued,
    .close_after_ms = server_close_after_ms,
    .handshake_max = OBFS4_MAX_HANDSHAKE,
};

/* --- client ----------------------------------------------------------------------------- */

static int obfs4_client_init(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                             void **state, char *err, size_t errlen)
{
    struct bridge_id id;
    int iat;
    /* tor sends the bridge's arguments with each connection; only a transparent-TCP client,
     * which has no per-connection arguments, needs them here. */
    int need_all = mode != WR_MODE_SOCKS5;
    if (read_bridge(opts, need_all, &id, &iat, err, errlen) != 0 ||
        wr_transport_check_server_address(opts, need_all, err, errlen) != 0)
        return -1;
    struct obfs4_client *oc = calloc(1, sizeof *oc);
    if (!oc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    oc->ctx = ctx;
    oc->mode = mode;
    *state = oc;
    return 0;
}

static int obfs4_client_check(void *state, const json_t *args, char *err, size_t errlen)
{
    struct bridge_id id;
    int iat;
    return read_bridge(args, 1, &id, &iat, err, errlen) != 0 ||
           wr_transport_check_server_address(args, 0, err, errlen) != 0 ? -1 : 0;
}

static struct wr_pending *obfs4_client_open(void *state, const struct wr_open_req *req,
                                            wr_dial_cb *cb, void *arg)
{
    struct obfs4_client *oc = state;
    char err[200];
    struct bridge_id id;
    struct wr_endpoint server;
    int iat;
    if (read_bridge(req->args, 1, &id, &iat, err, sizeof err) != 0 ||
        wr_transport_server_addr(req, &server, err, sizeof err) != 0)
        return wr_fail_soon(oc->ctx, cb, arg, WR_REP_FAILURE, err);
    struct obfs4_conn *c = conn_new(iat);
    if (!c)
        return wr_fail_soon(oc->ctx, cb, arg, WR_REP_FAILURE, "out of memory");
    c->id = id;
    snprintf(c->tag, sizeof c->tag, "obfs4 client");
    obfs4_mackey(id.pub, id.node_id, c->mackey);
    wr_ell2_keypair(c->priv, c->pub, c->repr);
    /* Until the bridge's seed arrives, pad from a seed of our own (as obfs4proxy does). */
    uint8_t seed[OBFS4_SEED_LEN], h[crypto_hash_sha256_BYTES];
    randombytes_buf(seed, sizeof seed);
    crypto_hash_sha256(h, seed, sizeof seed);
    if (wr_probdist_init(&c->own_len, seed, 0, OBFS4_MAX_SEGMENT, 0) != 0 ||
        wr_probdist_init(&c->own_iat, h, 0, IAT_MAX_DELAY, 0) != 0) {
        conn_free(c);
        return wr_fail_soon(oc->ctx, cb, arg, WR_REP_FAILURE, "out of memory");
    }
    c->len_dist = &c->own_len;
    c->iat_dist = &c->own_iat;
    return wr_codec_dial(oc->ctx, &server, &obfs4_client_codec, c, cb, arg);
}

/* --- server state ----------------------------------------------------------------------- */

/* Writes path atomically (temporary file, then rename), mode 0600. */
static int write_file(const char *path, const char *text, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t len = strlen(text);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

struct state_strings {
    char node_id[2 * OBFS4_NODE_ID_LEN + 1], priv[65], seed[2 * OBFS4_SEED_LEN + 1];
    int iat;
};

/* From the options (all three keys) or the state file (created when missing). */
static int load_identity(const json_t *opts, const char *dir, struct state_strings *ss,
                         char *err, size_t errlen)
{
    char b1[16], b2[16], b3[16], path[4096];
    int bad1, bad2, bad3;
    const char *node = wr_opt_str(opts, "node-id", b1, sizeof b1, &bad1);
    const char *priv = wr_opt_str(opts, "private-key", b2, sizeof b2, &bad2);
    const char *seed = wr_opt_str(opts, "drbg-seed", b3, sizeof b3, &bad3);
    ss->iat = IAT_NONE;
    if (bad1 || bad2 || bad3) {
        snprintf(err, errlen, "node-id, private-key and drbg-seed must be strings");
        return -1;
    }
    if (!dir && !(node || priv || seed)) {
        snprintf(err, errlen, "needs -state DIR to keep its bridge identity (or node-id, private-key "
                 "and drbg-seed in its options)");
        return -1;
    }
    if (node || priv || seed) {
        if (!node || !priv || !seed) {
            snprintf(err, errlen, "missing argument '%s' (node-id, private-key and drbg-seed go together)",
                     !node ? "node-id" : !priv ? "private-key" : "drbg-seed");
            return -1;
        }
        snprintf(ss->node_id, sizeof ss->node_id, "%.40s", node);
        snprintf(ss->priv, sizeof ss->priv, "%.64s", priv);
        snprintf(ss->seed, sizeof ss->seed, "%.48s", seed);
        if (strlen(node) >= sizeof ss->node_id || strlen(priv) >= sizeof ss->priv ||
            strlen(seed) >= sizeof ss->seed)
            ss->node_id[0] = '\0';      /* too long: refused below */
        return 0;
    }
    snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
    json_error_t je;
    json_t *js = json_load_file(path, 0, &je);
    if (!js) {
        if (access(path, F_OK) == 0) {
            snprintf(err, errlen, "failed to load %s: %s", path, je.text);
            return -1;
        }
        /* First start: a new identity, as obfs4proxy makes one. */
        uint8_t id[OBFS4_NODE_ID_LEN], key[32], sd[OBFS4_SEED_LEN];
        randombytes_buf(id, sizeof id);
        randombytes_buf(key, sizeof key);
        randombytes_buf(sd, sizeof sd);
        sodium_bin2hex(ss->node_id, sizeof ss->node_id, id, sizeof id);
        sodium_bin2hex(ss->priv, sizeof ss->priv, key, sizeof key);
        sodium_bin2hex(ss->seed, sizeof ss->seed, sd, sizeof sd);
        sodium_memzero(key, sizeof key);
        wr_info("obfs4: new bridge identity in %s", path);
        return 0;
    }
    const char *n = json_string_value(json_object_get(js, "node-id"));
    const char *p = json_string_value(json_object_get(js, "private-key"));
    const char *s = json_string_value(json_object_get(js, "drbg-seed"));
    json_t *iat = json_object_get(js, "iat-mode");
    int ok = json_is_object(js) && n && p && s && strlen(n) < sizeof ss->node_id &&
             strlen(p) < sizeof ss->priv && strlen(s) < sizeof ss->seed &&
             (!iat || json_is_integer(iat));
    if (ok) {
        strcpy(ss->node_id, n);
        strcpy(ss->priv, p);
        strcpy(ss->seed, s);
        ss->iat = iat ? (int)json_integer_value(iat) : IAT_NONE;
    }
    json_decref(js);
    if (!ok) {
        snprintf(err, errlen, "failed to load %s: want node-id, private-key and drbg-seed strings", path);
        return -1;
    }
    return 0;
}

static int save_state(const char *dir, const struct state_strings *ss, const struct obfs4_server *s,
                      char *err, size_t errlen)
{
    char path[4096], pub[65], text[1024];
    sodium_bin2hex(pub, sizeof pub, s->id.pub, 32);
    snprintf(text, sizeof text,
             "{\"node-id\":\"%s\",\"private-key\":\"%s\",\"public-key\":\"%s\",\"drbg-seed\":\"%s\",\"iat-mode\":%d}",
             ss->node_id, ss->priv, pub, ss->seed, s->iat_mode);
    snprintf(path, sizeof path, "%s/%s", dir, STATE_FILE);
    int r = write_file(path, text, err, errlen);
    sodium_memzero(text, sizeof text);
    if (r != 0)
        return -1;
    snprintf(text, sizeof text,
             "# obfs4 torrc client bridge line\n"
             "#\n"
             "# This file is an automatically generated bridge line based on\n"
             "# the current obfs4proxy configuration.  EDITING IT WILL HAVE\n"
             "# NO EFFECT.\n"
             "#\n"
             "# Before distributing this Bridge, edit the placeholder fields\n"
             "# to contain the actual values:\n"
             "#  <IP ADDRESS>  - The public IP address of your obfs4 bridge.\n"
             "#  <PORT>        - The TCP/IP port of your obfs4 bridge.\n"
             "#  <FINGERPRINT> - The bridge's fingerprint.\n\n"
             "Bridge obfs4 <IP ADDRESS>:<PORT> <FINGERPRINT> cert=%s iat-mode=%d\n",
             s->cert, s->iat_mode);
    snprintf(path, sizeof path, "%s/%s", dir, BRIDGE_FILE);
    return write_file(path, text, err, errlen);
}

static int obfs4_server_init(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                             const char *state_dir, void **state, char *args_out, char *err,
                             size_t errlen)
{
    struct state_strings ss;
    int iat;
    if (read_iat(opts, 0, &iat, err, errlen) != 0 ||
        load_identity(opts, state_dir, &ss, err, errlen) != 0)
        return -1;
    struct obfs4_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->is_server = 1;
    s->ctx = ctx;
    s->iat_mode = iat >= 0 ? iat : ss.iat;
    if (hex_field(ss.node_id, s->id.node_id, OBFS4_NODE_ID_LEN) != 0)
        snprintf(err, errlen, "malformed node-id (want 40 hex digits)");
    else if (hex_field(ss.priv, s->priv, 32) != 0)
        snprintf(err, errlen, "malformed private-key (want 64 hex digits)");
    else if (hex_field(ss.seed, s->seed, OBFS4_SEED_LEN) != 0)
        snprintf(err, errlen, "malformed drbg-seed (want 48 hex digits)");
    else if (s->iat_mode < IAT_NONE || s->iat_mode > IAT_PARANOID)
        snprintf(err, errlen, "invalid iat-mode '%d' in the state file", s->iat_mode);
    else
        err[0] = '\0';
    if (err[0])
        goto fail;
    crypto_scalarmult_base(s->id.pub, s->priv);
    cert_encode(&s->id, s->cert);
    /* The distributions and the probe close delay all derive from the seed, as upstream. */
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, s->seed, sizeof s->seed);
    struct wr_drbg d;
    wr_drbg_init(&d, s->seed);
    s->close_delay_s = (uint32_t)wr_gorand_intn(&d, MAX_CLOSE_DELAY);
    if (wr_probdist_init(&s->len_dist, s->seed, 0, OBFS4_MAX_SEGMENT, 0) != 0 ||
        wr_probdist_init(&s->iat_dist, h, 0, IAT_MAX_DELAY, 0) != 0 ||
        !(s->replay = obfs4_replay_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    /* Without -state (keys from the options) nothing is written. */
    if (state_dir && save_state(state_dir, &ss, s, err, errlen) != 0)
        goto fail;
    sodium_memzero(&ss, sizeof ss);
    char iatbuf[4];
    snprintf(iatbuf, sizeof iatbuf, "%d", s->iat_mode);
    args_out[0] = '\0';
    wr_kv_append_arg(args_out, WR_SMETHOD_ARGS_MAX, "cert", s->cert);
    wr_kv_append_arg(args_out, WR_SMETHOD_ARGS_MAX, "iat-mode", iatbuf);
    *state = s;
    return 0;
fail:
    sodium_memzero(&ss, sizeof ss);
    obfs4_replay_free(s->replay);
    sodium_memzero(s, sizeof *s);
    free(s);
    return -1;
}

static void obfs4_server_announce(void *state, const struct wr_endpoint *bound)
{
    struct obfs4_server *s = state;
    char hostport[WR_ADDRSTRLEN];
    if (!strcmp(bound->host, "0.0.0.0") || !strcmp(bound->host, "::"))
        snprintf(hostport, sizeof hostport, "<IP ADDRESS>:%u", bound->port);
    else
        wr_endpoint_format(bound, hostport, sizeof hostport);
    wr_info("obfs4: bridge line: Bridge obfs4 %s <FINGERPRINT> cert=%s iat-mode=%d", hostport,
            s->cert, s->iat_mode);
}

static struct wr_conn *obfs4_server_wrap(void *state, struct wr_conn *raw)
{
    struct obfs4_server *s = state;
    struct obfs4_conn *c = conn_new(s->iat_mode);
    if (!c) {
        wr_conn_close(raw, 1);
        return NULL;
    }
    c->server = s;
    c->id = s->id;
    snprintf(c->tag, sizeof c->tag, "obfs4 c%u", raw->id);
    obfs4_mackey(s->id.pub, s->id.node_id, c->mackey);
    c->len_dist = &s->len_dist;
    c->iat_dist = &s->iat_dist;
    return wr_codec_conn_new(s->ctx, raw, &obfs4_server_codec, c, 1);
}

static void obfs4_free(void *state)
{
    if (state && *(int *)state) {
        struct obfs4_server *s = state;
        obfs4_replay_free(s->replay);
        sodium_memzero(s, sizeof *s);
    }
    free(state);
}

const struct wr_transport wr_transport_obfs4 = {
    .name = "obfs4",
    .free_server = 0,
    .client_init = obfs4_client_init,
    .client_check = obfs4_client_check,
    .client_open = obfs4_client_open,
    .server_init = obfs4_server_init,
    .server_wrap = obfs4_server_wrap,
    .server_announce = obfs4_server_announce,
    .free_state = obfs4_free,
};
