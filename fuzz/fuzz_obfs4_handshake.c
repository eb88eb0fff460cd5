/* fuzz_obfs4_handshake.c: obfs4's handshake messages (transports/obfs4/handshake.c) against
 * reference parsers written here (HMAC by hand on SHA-256) with the semantics of obfs4proxy
 * 0.0.14's parseClientHandshake / parseServerHandshake (findMarkMac: from the tail on the
 * server, first occurrence on the client), and the Elligator 2 map (elligator.c) against one
 * written here on OpenSSL's BIGNUM. The identity is the KAT's (obfs4_kat.txt §3: NODEID
 * 000102..13, B 8a31..29) and the server's clock is fixed at 490000 hours and 1234 s, so the KAT
 * messages (§4) are valid; they, the KAT representatives (§2) and some edge values are checked
 * at start-up. *
 * Input: byte 0 = flags, the rest "body"; fields are read from the body cyclically (zeros when it
 * is empty): repr body[0:32], auth body[32:64], client and server pad length [64:66] [66:68],
 * epoch offsets [68] (client request: off % 5 - 2; server response: off / 5 % 5 - 2), where to
 * put a copy of the mark in the client and server pads [69:71] [71:73], trailing length [73];
 * pad and trailing bytes come from body[74:]. Flags: bit 0 raw input stretched to 8152..8247
 * bytes, bits 1/2 client/server pad length outside the spec (0..84 or 8129..8192 / 8052..8161),
 * bits 3/4 a mark in the client/server pad, bit 5 that mark followed by a valid MAC (a shorter
 * message inside the longer one), bit 6 the Elligator checks (with bit 5 the key pair one too),
 * bit 7 bytes after the messages.
 *
 *  1. raw: body (and with bit 0 body repeated past 8192 bytes) to both parsers;
 *  2. built: a client request and a server response from the fields, by handshake.c and by the
 *     reference (must be byte-identical), then parsed whole, with the trailing bytes, and at
 *     sampled prefixes (everything below 150, around the mark and MAC at the end, at 8192 and
 *     of the copied mark, and 8 lengths picked by the input);
 *  3. with bit 6, wr_ell2_repr_to_pub on body[0:32] with the four top-bit variants; with bits 5
 *     and 6, wr_ell2_keypair_from_seed(body[32:64]) too.
 * Every parse gets an exact heap copy (ASan sees a read past len) and must agree with the
 * reference: result, and for DONE repr, MAC, epoch (client request) or repr, AUTH, used (server
 * response); INVALID sets a reason; at 8192 bytes or more the result is never MORE. Built
 * messages with no extra mark: the server takes the request (repr, MAC = its last 16 bytes, the
 * epoch string) for offsets -1..1 and refuses it for +-2; the client takes the response only with
 * offset 0, with used = its length and any trailing bytes; every strict prefix is MORE (INVALID
 * from 8192 bytes on, for out-of-spec pads); a request with bytes after it is MORE below 8192,
 * INVALID from there. Elligator: the top two bits change nothing, the output is canonical
 * (< 2^255 - 19) and equals the reference's; a key pair's repr maps back to its pub, the repr's
 * value is at most (p - 1) / 2, its top bits are the tweak's, priv is SHA-512(seed)[0:32], and
 * X25519(k, pub) = X25519(k, X25519(priv, 9)) for a fixed clamped k (pub is priv·B plus a
 * low-order point); a seed without a representative leaves priv, pub, repr zero. */
#include "fuzz.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "transports/obfs4/elligator.h"
#include "transports/obfs4/handshake.h"

#define MAXHS OBFS4_MAX_HANDSHAKE
#define NOW (490000LL * 3600 + 1234)
#define CLIENT_MIN (OBFS4_REPR_LEN + OBFS4_CLIENT_MIN_PAD + OBFS4_MARK_LEN + OBFS4_MAC_LEN) /*149*/
#define SERVER_MIN (OBFS4_REPR_LEN + OBFS4_AUTH_LEN + OBFS4_MARK_LEN + OBFS4_MAC_LEN)       /* 96 */
#define MSG_MAX (64 + 8192 + 32 + 256)

static uint8_t mackey[OBFS4_MACKEY_LEN];
static char hour0[OBFS4_EPOCH_MAX];     /* the client's epoch: the server's hour */

static void hex(const char *h, uint8_t *out, size_t len)
{
    size_t n = 0;
    FUZZ_CHECK(sodium_hex2bin(out, len, h, strlen(h), NULL, &n, NULL) == 0 && n == len);
}

/* ------------------------------------------------------------------ reference parsers */

/* HMAC-SHA256(B | NODEID, a | e)[0:16], by hand (RFC 2104) on libsodium's SHA-256, from the
 * states after the padded key (set up in self_check). */
static crypto_hash_sha256_state hmac_in, hmac_out;

static void ref_mac16(const uint8_t *a, size_t alen, const char *e, uint8_t out[16])
{
    crypto_hash_sha256_state st = hmac_in;
    uint8_t inner[32], full[32];
    crypto_hash_sha256_update(&st, a, alen);
    if (e)
        crypto_hash_sha256_update(&st, (const uint8_t *)e, strlen(e));
    crypto_hash_sha256_final(&st, inner);
    st = hmac_out;
    crypto_hash_sha256_update(&st, inner, sizeof inner);
    crypto_hash_sha256_final(&st, full);
    memcpy(out, full, 16);
}

static void ref_hmac_init(void)
{
    uint8_t ipad[64], opad[64];
    memset(ipad, 0x36, sizeof ipad);
    memset(opad, 0x5c, sizeof opad);
    for (size_t i = 0; i < sizeof mackey; i++) {
        ipad[i] ^= mackey[i];
        opad[i] ^= mackey[i];
    }
    crypto_hash_sha256_init(&hmac_in);
    crypto_hash_sha256_update(&hmac_in, ipad, sizeof ipad);
    crypto_hash_sha256_init(&hmac_out);
    crypto_hash_sha256_update(&hmac_out, opad, sizeof opad);
    /* against OpenSSL's HMAC once */
    static const uint8_t msg[] = "obfs4 fuzz";
    uint8_t a[16], b[EVP_MAX_MD_SIZE];
    unsigned int bl = 0;
    ref_mac16(msg, sizeof msg - 1, "490000", a);
    uint8_t cat[sizeof msg - 1 + 6];
    memcpy(cat, msg, sizeof msg - 1);
    memcpy(cat + sizeof msg - 1, "490000", 6);
    FUZZ_CHECK(HMAC(EVP_sha256(), mackey, (int)sizeof mackey, cat, sizeof cat, b, &bl) != NULL);
    FUZZ_CHECK(bl == 32 && memcmp(a, b, 16) == 0);
}

static void hour_str(int off, char out[OBFS4_EPOCH_MAX])
{
    snprintf(out, OBFS4_EPOCH_MAX, "%lld", NOW / 3600 + off);
}

struct hs {
    int rc;
    uint8_t repr[32], mac_or_auth[32];
    char epoch[OBFS4_EPOCH_MAX];
    size_t used;
};

/* parseClientHandshake: the mark only at the tail of the first 8192 bytes. */
static void ref_client(const uint8_t *buf, size_t len, struct hs *r)
{
    memset(r, 0, sizeof *r);
    r->rc = OBFS4_HS_MORE;
    if (len < CLIENT_MIN)
        return;
    uint8_t mark[16], mac[16];
    ref_mac16(buf, 32, NULL, mark);
    size_t end = len < MAXHS ? len : MAXHS, pos = end - 32;
    if (memcmp(buf + pos, mark, 16) != 0) {
        r->rc = len >= MAXHS ? OBFS4_HS_INVALID : OBFS4_HS_MORE;
        return;
    }
    static const int offs[3] = { 0, -1, 1 };
    int found = 0;
    for (int i = 0; i < 3; i++) {
        char e[OBFS4_EPOCH_MAX];
        hour_str(offs[i], e);
        ref_mac16(buf, pos + 16, e, mac);
        if (memcmp(mac, buf + pos + 16, 16) == 0) {
            found = 1;
            memcpy(r->epoch, e, sizeof e);
        }
    }
    if (!found || len != pos + 32) {
        r->rc = OBFS4_HS_INVALID;
        return;
    }
    r->rc = OBFS4_HS_DONE;
    memcpy(r->repr, buf, 32);
    memcpy(r->mac_or_auth, buf + pos + 16, 16);
}

/* parseServerHandshake: the first mark from byte 64 on, with its MAC within 8192 bytes. */
static void ref_server(const uint8_t *buf, size_t len, const char *epoch, struct hs *r)
{
    memset(r, 0, sizeof *r);
    r->rc = OBFS4_HS_MORE;
    if (len < SERVER_MIN)
        return;
    uint8_t mark[16], mac[16];
    ref_mac16(buf, 32, NULL, mark);
    size_t end = len < MAXHS ? len : MAXHS, pos = 0;
    int hit = 0;
    /* bytes.Index, naively (memchr for the first byte keeps the loop out of the coverage
     * instrumentation's way) */
    for (size_t i = 64; i + 16 <= end && !hit; i++) {
        const uint8_t *c = memchr(buf + i, mark[0], end - 16 + 1 - i);
        if (!c)
            break;
        i = (size_t)(c - buf);
        if (memcmp(buf + i, mark, 16) == 0)
            hit = 1, pos = i;
    }
    if (!hit || pos + 32 > end) {
        r->rc = len >= MAXHS ? OBFS4_HS_INVALID : OBFS4_HS_MORE;
        return;
    }
    ref_mac16(buf, pos + 16, epoch, mac);
    if (memcmp(mac, buf + pos + 16, 16) != 0) {
        r->rc = OBFS4_HS_INVALID;
        return;
    }
    r->rc = OBFS4_HS_DONE;
    memcpy(r->repr, buf, 32);
    memcpy(r->mac_or_auth, buf + 32, 32);
    r->used = pos + 32;
}

/* ------------------------------------------------------------------ handshake.c under test */

static void dut_client(const uint8_t *buf, size_t len, struct hs *r)
{
    uint8_t *b = fuzz_exact(buf, len);
    const char *why = NULL;
    memset(r, 0, sizeof *r);
    r->rc = obfs4_parse_client_request(mackey, b, len, NOW, r->repr, r->mac_or_auth, r->epoch,
                                       &why);
    free(b);
    FUZZ_CHECK(r->rc == OBFS4_HS_MORE || r->rc == OBFS4_HS_DONE || r->rc == OBFS4_HS_INVALID);
    FUZZ_CHECK(r->rc != OBFS4_HS_INVALID || why != NULL);
    FUZZ_CHECK(len < MAXHS || r->rc != OBFS4_HS_MORE);
}

static void dut_server(const uint8_t *buf, size_t len, const char *epoch, struct hs *r)
{
    uint8_t *b = fuzz_exact(buf, len);
    char *e = (char *)fuzz_exact((const uint8_t *)epoch, strlen(epoch) + 1);
    const char *why = NULL;
    memset(r, 0, sizeof *r);
    r->used = (size_t)-1;
    r->rc = obfs4_parse_server_response(mackey, b, len, e, r->repr, r->mac_or_auth, &r->used,
                                        &why);
    free(b);
    free(e);
    FUZZ_CHECK(r->rc == OBFS4_HS_MORE || r->rc == OBFS4_HS_DONE || r->rc == OBFS4_HS_INVALID);
    FUZZ_CHECK(r->rc != OBFS4_HS_INVALID || why != NULL);
    FUZZ_CHECK(len < MAXHS || r->rc != OBFS4_HS_MORE);
    if (r->rc == OBFS4_HS_DONE)
        FUZZ_CHECK(r->used >= SERVER_MIN && r->used <= len && r->used <= MAXHS);
}

/* Both under test and the reference on buf[len]; returns the (common) result in *out. */
static int check_client(const uint8_t *buf, size_t len, struct hs *out)
{
    struct hs ref;
    ref_client(buf, len, &ref);
    dut_client(buf, len, out);
    FUZZ_CHECK(out->rc == ref.rc);
    if (ref.rc == OBFS4_HS_DONE) {
        FUZZ_CHECK(memcmp(out->repr, ref.repr, 32) == 0);
        FUZZ_CHECK(memcmp(out->mac_or_auth, ref.mac_or_auth, 16) == 0);
        FUZZ_CHECK(strcmp(out->epoch, ref.epoch) == 0);
    }
    return out->rc;
}

static int check_server(const uint8_t *buf, size_t len, const char *epoch, struct hs *out)
{
    struct hs ref;
    ref_server(buf, len, epoch, &ref);
    dut_server(buf, len, epoch, out);
    FUZZ_CHECK(out->rc == ref.rc);
    if (ref.rc == OBFS4_HS_DONE) {
        FUZZ_CHECK(memcmp(out->repr, ref.repr, 32) == 0);
        FUZZ_CHECK(memcmp(out->mac_or_auth, ref.mac_or_auth, 32) == 0);
        FUZZ_CHECK(out->used == ref.used);
    }
    return out->rc;
}

/* ------------------------------------------------------------------ 2. built messages */

struct fields {
    const uint8_t *body;
    size_t bn;
};

static uint8_t get(const struct fields *f, size_t i)
{
    return f->bn ? f->body[i % f->bn] : 0;
}

static unsigned get16(const struct fields *f, size_t i)
{
    return (unsigned)get(f, i) << 8 | get(f, i + 1);
}

/* The prefix lengths to try on a message of m bytes followed by trailing bytes (t in all), with
 * a mark copied at inj (0: none): all short ones, those where the mark or the MAC at m, inj or
 * 8192 begins, is whole or lacks a byte, and 8 picked by the input. */
#define MAX_PREFIXES (150 + 3 * 12 + 1 + 8)

static size_t prefixes(const struct fields *f, size_t m, size_t t, size_t inj, size_t *out)
{
    size_t k = 0;
    for (size_t l = 0; l < 150 && l <= t; l++)
        out[k++] = l;
    size_t ends[3] = { m, MAXHS, inj ? inj + 32 : 0 };
    for (int e = 0; e < 3; e++) {
        static const int d[12] = { -34, -33, -32, -31, -17, -16, -15, -2, -1, 0, 1, 2 };
        for (int i = 0; i < 12 && ends[e] >= 150; i++) {
            size_t l = (size_t)((long)ends[e] + d[i]);
            if (l <= t)
                out[k++] = l;
        }
    }
    out[k++] = t;
    for (size_t i = 0; i < 8; i++)
        out[k++] = get16(f, 100 + 2 * i) % (t + 1);
    return k;
}

/* Whether msg[from..t) holds the mark anywhere but at real: a copy the flags put there, or one
 * that came with the input (a seed's own message in the pad bytes, say). */
static int other_mark(const uint8_t *msg, size_t from, size_t t, size_t real)
{
    uint8_t mark[16];
    ref_mac16(msg, 32, NULL, mark);
    for (size_t i = from; i + 16 <= t; i++) {
        const uint8_t *c = memchr(msg + i, mark[0], t - 16 + 1 - i);
        if (!c)
            break;
        i = (size_t)(c - msg);
        if (i != real && memcmp(msg + i, mark, 16) == 0)
            return 1;
    }
    return 0;
}

static void check_request(const struct fields *f, unsigned flags, const uint8_t *pads)
{
    uint8_t repr[32];
    for (int i = 0; i < 32; i++)
        repr[i] = get(f, (size_t)i);
    unsigned v = get16(f, 64);
    size_t span = OBFS4_CLIENT_MAX_PAD - OBFS4_CLIENT_MIN_PAD + 1;
    size_t padlen = !(flags & 2) ? OBFS4_CLIENT_MIN_PAD + v % span
                    : (v & 1)    ? v % OBFS4_CLIENT_MIN_PAD
                                 : OBFS4_CLIENT_MAX_PAD + 1 + v % 64;
    int off = get(f, 68) % 5 - 2;
    char epoch[OBFS4_EPOCH_MAX];
    hour_str(off, epoch);
    uint8_t *pad = malloc(padlen + 1);
    if (!pad)
        abort();
    memcpy(pad, pads, padlen);
    size_t inj = 0;                                 /* where a copy of the mark starts */
    if ((flags & 8) && padlen >= 16) {
        size_t q = get16(f, 69) % (padlen - 15);
        ref_mac16(repr, 32, NULL, pad + q);
        inj = 32 + q;
        if ((flags & 0x20) && q + 32 <= padlen) {
            /* and its MAC: repr | pad[0:q+16] is a request of its own */
            uint8_t *pre = malloc(32 + q + 16);
            if (!pre)
                abort();
            memcpy(pre, repr, 32);
            memcpy(pre + 32, pad, q + 16);
            ref_mac16(pre, 32 + q + 16, epoch, pad + q + 16);
            free(pre);
        }
    }

    /* built here and by handshake.c (exact buffers: ASan sees any write past the end) */
    size_t m = 32 + padlen + 32;
    uint8_t *want = malloc(m), *got = malloc(m);
    if (!want || !got)
        abort();
    memcpy(want, repr, 32);
    memcpy(want + 32, pad, padlen);
    ref_mac16(want, 32, NULL, want + 32 + padlen);
    ref_mac16(want, 32 + padlen + 16, epoch, want + 32 + padlen + 16);
    uint8_t *r = fuzz_exact(repr, 32), *p = fuzz_exact(pad, padlen);
    char *e = (char *)fuzz_exact((const uint8_t *)epoch, strlen(epoch) + 1);
    FUZZ_CHECK(obfs4_client_request(mackey, r, p, padlen, e, got) == m);
    FUZZ_CHECK(memcmp(got, want, m) == 0);
    free(r);
    free(p);
    free(e);

    /* the message, then the trailing bytes */
    size_t tl = (flags & 0x80) ? (size_t)get(f, 73) + 1 : 0, t = m + tl;
    uint8_t *msg = malloc(t);
    if (!msg)
        abort();
    memcpy(msg, want, m);
    for (size_t i = 0; i < tl; i++)
        msg[m + i] = get(f, 74 + i) ^ 0x5c;

    int whole = m < CLIENT_MIN ? OBFS4_HS_MORE
              : m > MAXHS      ? OBFS4_HS_INVALID
              : off >= -1 && off <= 1 ? OBFS4_HS_DONE : OBFS4_HS_INVALID;
    size_t ls[MAX_PREFIXES], k = prefixes(f, m, t, inj, ls);
    int other = other_mark(msg, 32, t, m - 32);
    for (size_t i = 0; i < k; i++) {
        size_t l = ls[i];
        struct hs h;
        int rc = check_client(msg, l, &h);
        if (other)
            continue;               /* the reference has the word on those */
        if (l == m) {
            FUZZ_CHECK(rc == whole);
            if (rc == OBFS4_HS_DONE) {
                FUZZ_CHECK(memcmp(h.repr, repr, 32) == 0);
                FUZZ_CHECK(memcmp(h.mac_or_auth, msg + m - 16, 16) == 0);
                FUZZ_CHECK(strcmp(h.epoch, epoch) == 0);
            }
        } else {
            /* a strict prefix, or the request and more */
            FUZZ_CHECK(rc == (l < MAXHS ? OBFS4_HS_MORE : OBFS4_HS_INVALID));
        }
    }
    free(msg);
    free(want);
    free(got);
    free(pad);
}

static void check_response(const struct fields *f, unsigned flags, const uint8_t *pads)
{
    uint8_t repr[32], auth[32];
    for (int i = 0; i < 32; i++) {
        repr[i] = get(f, (size_t)i);
        auth[i] = get(f, 32 + (size_t)i);
    }
    unsigned v = get16(f, 66);
    size_t padlen = !(flags & 4) ? v % (OBFS4_SERVER_MAX_PAD + 1)
                                 : OBFS4_SERVER_MAX_PAD + 1 + v % 110;
    int off = get(f, 68) / 5 % 5 - 2;
    char epoch[OBFS4_EPOCH_MAX];
    hour_str(off, epoch);
    uint8_t *pad = malloc(padlen + 1);
    if (!pad)
        abort();
    memcpy(pad, pads, padlen);
    size_t inj = 0, inner = 0;                      /* inner: the length of a message inside */
    if ((flags & 0x10) && padlen >= 16) {
        size_t q = get16(f, 71) % (padlen - 15);
        ref_mac16(repr, 32, NULL, pad + q);
        inj = 64 + q;
        if ((flags & 0x20) && q + 32 <= padlen) {
            uint8_t *pre = malloc(64 + q + 16);
            if (!pre)
                abort();
            memcpy(pre, repr, 32);
            memcpy(pre + 32, auth, 32);
            memcpy(pre + 64, pad, q + 16);
            ref_mac16(pre, 64 + q + 16, epoch, pad + q + 16);
            free(pre);
            inner = 64 + q + 32;
        }
    }

    size_t m = 64 + padlen + 32;
    uint8_t *want = malloc(m), *got = malloc(m);
    if (!want || !got)
        abort();
    memcpy(want, repr, 32);
    memcpy(want + 32, auth, 32);
    memcpy(want + 64, pad, padlen);
    ref_mac16(want, 32, NULL, want + 64 + padlen);
    ref_mac16(want, 64 + padlen + 16, epoch, want + 64 + padlen + 16);
    uint8_t *r = fuzz_exact(repr, 32), *a = fuzz_exact(auth, 32), *p = fuzz_exact(pad, padlen);
    char *e = (char *)fuzz_exact((const uint8_t *)epoch, strlen(epoch) + 1);
    FUZZ_CHECK(obfs4_server_response(mackey, r, a, p, padlen, e, got) == m);
    FUZZ_CHECK(memcmp(got, want, m) == 0);
    free(r);
    free(a);
    free(p);
    free(e);

    /* the message, then frames (or anything) */
    size_t tl = (flags & 0x80) ? (size_t)get(f, 73) + 1 : 0, t = m + tl;
    uint8_t *msg = malloc(t);
    if (!msg)
        abort();
    memcpy(msg, want, m);
    for (size_t i = 0; i < tl; i++)
        msg[m + i] = get(f, 74 + i) ^ 0x5c;

    size_t ls[MAX_PREFIXES], k = prefixes(f, m, t, inj, ls);
    int other = other_mark(msg, 64, m, m - 32);     /* (one after the real mark changes nothing) */
    for (size_t i = 0; i < k; i++) {
        size_t l = ls[i];
        struct hs h;
        int rc = check_server(msg, l, hour0, &h);
        if (other) {
            /* a valid message inside the pad is found first (if it is the first mark) */
            if (inner && off == 0 && l >= inner && inner <= MAXHS &&
                !other_mark(msg, 64, inj + 15, inj))
                FUZZ_CHECK(rc == OBFS4_HS_DONE && h.used == inner);
            continue;
        }
        int want_rc = m > MAXHS ? (l < MAXHS ? OBFS4_HS_MORE : OBFS4_HS_INVALID)
                    : l < m     ? OBFS4_HS_MORE
                    : off == 0  ? OBFS4_HS_DONE : OBFS4_HS_INVALID;
        FUZZ_CHECK(rc == want_rc);
        if (rc == OBFS4_HS_DONE) {
            FUZZ_CHECK(h.used == m);
            FUZZ_CHECK(memcmp(h.repr, repr, 32) == 0);
            FUZZ_CHECK(memcmp(h.mac_or_auth, auth, 32) == 0);
        }
    }
    free(msg);
    free(want);
    free(got);
    free(pad);
}

/* ------------------------------------------------------------------ 3. Elligator 2 */

static BN_CTX *bn;
static BIGNUM *P, *PM1H, *A;

/* edwards25519-extra's MontgomeryFlavor, u only: r = repr mod 2^254; w = -A / (1 + 2r^2);
 * u = w if w^3 + A w^2 + w is a square (or 0), else -w - A. */
static void ref_repr_to_pub(const uint8_t repr[32], uint8_t pub[32])
{
    uint8_t b[32];
    memcpy(b, repr, 32);
    b[31] &= 0x3f;
    BN_CTX_start(bn);
    BIGNUM *r = BN_CTX_get(bn), *t = BN_CTX_get(bn), *w = BN_CTX_get(bn), *g = BN_CTX_get(bn),
           *one = BN_CTX_get(bn), *zero = BN_CTX_get(bn);
    FUZZ_CHECK(zero != NULL);
    FUZZ_CHECK(BN_lebin2bn(b, 32, r) != NULL);
    BN_one(one);
    BN_zero(zero);
    FUZZ_CHECK(BN_mod_sqr(t, r, P, bn) && BN_mod_add(t, t, t, P, bn) &&
               BN_mod_add(t, t, one, P, bn));
    FUZZ_CHECK(BN_mod_inverse(t, t, P, bn) != NULL);
    FUZZ_CHECK(BN_mod_mul(w, A, t, P, bn) && BN_mod_sub(w, zero, w, P, bn));
    FUZZ_CHECK(BN_mod_add(g, w, A, P, bn) && BN_mod_mul(g, g, w, P, bn) &&
               BN_mod_add(g, g, one, P, bn) && BN_mod_mul(g, g, w, P, bn));
    FUZZ_CHECK(BN_mod_exp(t, g, PM1H, P, bn));
    if (!BN_is_one(t) && !BN_is_zero(g))
        FUZZ_CHECK(BN_mod_sub(w, zero, w, P, bn) && BN_mod_sub(w, w, A, P, bn));
    FUZZ_CHECK(BN_bn2lebinpad(w, pub, 32) == 32);
    BN_CTX_end(bn);
}

/* Compares two 32-byte little-endian numbers: <0, 0 or >0 as x is below, equal to or above y. */
static int cmp_le256(const uint8_t x[32], const uint8_t y[32])
{
    for (int i = 31; i >= 0; i--)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* x < p = 2^255 - 19 */
static int below_p(const uint8_t x[32])
{
    static const uint8_t p[32] = { 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f };
    return cmp_le256(x, p) < 0;
}

/* x <= (p - 1) / 2 = 2^254 - 10 */
static int at_most_half_p(const uint8_t x[32])
{
    static const uint8_t h[32] = { 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f };
    return cmp_le256(x, h) <= 0;
}

static void check_repr(const uint8_t in[32])
{
    uint8_t pub[4][32], want[32];
    for (int v = 0; v < 4; v++) {
        uint8_t *r = fuzz_exact(in, 32);
        r[31] = (uint8_t)((r[31] & 0x3f) | (v << 6));
        wr_ell2_repr_to_pub(r, pub[v]);
        free(r);
    }
    for (int v = 1; v < 4; v++)
        FUZZ_CHECK(memcmp(pub[v], pub[0], 32) == 0);
    FUZZ_CHECK(below_p(pub[0]));
    ref_repr_to_pub(in, want);
    FUZZ_CHECK(memcmp(pub[0], want, 32) == 0);
}

static void check_keypair(const uint8_t seed[32])
{
    uint8_t priv[32], pub[32], repr[32], d[64], zero[32] = { 0 };
    crypto_hash_sha512(d, seed, 32);
    uint8_t *s = fuzz_exact(seed, 32);
    int rc = wr_ell2_keypair_from_seed(s, priv, pub, repr);
    free(s);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(!memcmp(priv, zero, 32) && !memcmp(pub, zero, 32) && !memcmp(repr, zero, 32));
        return;
    }
    FUZZ_CHECK(memcmp(priv, d, 32) == 0);
    FUZZ_CHECK((repr[31] & 0xc0) == (d[63] & 0xc0));
    uint8_t low[32], back[32];
    memcpy(low, repr, 32);
    low[31] &= 0x3f;
    FUZZ_CHECK(at_most_half_p(low));
    FUZZ_CHECK(below_p(pub));
    wr_ell2_repr_to_pub(repr, back);
    FUZZ_CHECK(memcmp(back, pub, 32) == 0);
    /* pub = priv·B + a low-order point: a clamped scalar (a multiple of 8) removes the latter */
    static const uint8_t k[32] = { 0x48, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                   11,   12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                   22,   23, 24, 25, 26, 27, 28, 29, 30, 0x5f };
    uint8_t clean[32], a[32], b[32];
    FUZZ_CHECK(crypto_scalarmult_base(clean, priv) == 0);
    FUZZ_CHECK(crypto_scalarmult(a, k, pub) == 0);
    FUZZ_CHECK(crypto_scalarmult(b, k, clean) == 0);
    FUZZ_CHECK(memcmp(a, b, 32) == 0);
}

/* ------------------------------------------------------------------ start-up self-checks */

static void self_check(void)
{
    uint8_t B[32], node[20];
    hex("8a31ce993e576717be7a360a90e501945dc7d2e52ed5c51ca561907f6fea3729", B, 32);
    hex("000102030405060708090a0b0c0d0e0f10111213", node, 20);
    obfs4_mackey(B, node, mackey);
    obfs4_epoch_hour(NOW, 0, hour0);
    ref_hmac_init();
    FUZZ_CHECK(strcmp(hour0, "490000") == 0);

    bn = BN_CTX_new();
    P = BN_new(), PM1H = BN_new(), A = BN_new();
    FUZZ_CHECK(bn && P && PM1H && A);
    BN_set_word(P, 1);
    FUZZ_CHECK(BN_lshift(P, P, 255) && BN_sub_word(P, 19));
    FUZZ_CHECK(BN_rshift1(PM1H, P));            /* (p - 1) / 2, p odd */
    BN_set_word(A, 486662);

    /* KAT §4: both messages are valid here, and the references agree */
    uint8_t req[149], resp[106 + 45];
    hex("0c550e56c63b38f06e99e9883d087220afb13a1d7e8cb8c0252bb3c34635e15d"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "e58bdd3c3b1fae7fff56532aa0636b92f3849ebc52a8d817d021b732f6630d53", req, sizeof req);
    hex("e628afe1a5c365b324bdb6631c0462aeb58861a8d5c30a943b8aed04ad1687ef"
        "6463e2e577e8e90fbdd008edd556faf43f0a563cc8bd3f8bcc2e49b8bb1d09c6"
        "55555555555555555555"
        "5095b2530bd85c845f6ef505b6a02503423ea88638aae92e7fa0f9eeb9b67e81"
        "cba66c6e657a3529ad3a527c9f45bbb3bd2fb2fc0e9449f3f29a190ef69b162f"
        "873ecc94ded9ad4548ba1f1d6c",
        resp, sizeof resp);
    struct hs h;
    FUZZ_CHECK(check_client(req, sizeof req, &h) == OBFS4_HS_DONE);
    FUZZ_CHECK(strcmp(h.epoch, "490000") == 0 && memcmp(h.repr, req, 32) == 0);
    FUZZ_CHECK(check_server(resp, sizeof resp, "490000", &h) == OBFS4_HS_DONE && h.used == 106);

    /* KAT §2: repr -> pub, and the top bits ignored */
    uint8_t r[32], want[32], got[32];
    hex("da0fb12b819375a7ab843f5942f5fac1b4ad727b8e7a65e1822f6f7c456a59e1", r, 32);
    hex("5bf55c73b82ebe22be80f3430667af570fae2556a6415e6b30d4065300aa947d", want, 32);
    ref_repr_to_pub(r, got);
    FUZZ_CHECK(memcmp(got, want, 32) == 0);
    check_repr(r);
    hex("673a505e107189ee54ca93310ac42e4545e9e59050aaac6f8b5f64295c8ec0ef", r, 32);
    hex("242ae39ef158ed60f20b89396d7d7eef5374aba15dc312a6aea6d1e57cacf85e", want, 32);
    wr_ell2_repr_to_pub(r, got);
    FUZZ_CHECK(memcmp(got, want, 32) == 0);
    check_repr(r);
    /* edges: 0, 1, 2^254 - 1 (the largest after masking), (p - 1) / 2, 2^253, 51-bit limbs all
     * ones or all zeros, and each of those with a top bit set */
    static const char *edges[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff3f",
        "f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff3f",
        "0000000000000000000000000000000000000000000000000000000000000020",
        "ffffffffffff070000000000c0ffffffffff010000000000f0ffffffffff7f00",
        "000000000000f8ffffffffff3f0000000000feffffffffff0f00000000008000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    };
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        hex(edges[i], r, 32);
        check_repr(r);
    }
    uint8_t seed[32] = { 0 };
    check_keypair(seed);
}

/* ------------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        FUZZ_CHECK(sodium_init() >= 0);
        self_check();
        ready = 1;
    }
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    struct fields f = { data + 1, size - 1 };
    if (f.bn > 2 * MAXHS)
        f.bn = 2 * MAXHS;
    struct hs h;

    /* 1. raw, and stretched past 8192 */
    check_client(f.body, f.bn, &h);
    check_server(f.body, f.bn, hour0, &h);
    if (flags & 1) {
        size_t n = MAXHS - 40 + get(&f, 10) % 96;
        uint8_t *big = malloc(n);
        if (!big)
            abort();
        for (size_t i = 0; i < n; i++)
            big[i] = get(&f, i);
        check_client(big, n, &h);
        check_server(big, n, hour0, &h);
        free(big);
    }

    /* 2. built */
    static uint8_t pads[MSG_MAX];
    for (size_t i = 0; i < sizeof pads; i++)
        pads[i] = f.bn > 74 ? f.body[74 + i % (f.bn - 74)] : (uint8_t)(i * 29 + 3);
    check_request(&f, flags, pads);
    check_response(&f, flags, pads);

    /* 3. Elligator: the field arithmetic costs ~1 ms a call under the sanitizers and coverage
     * (most of this harness's time), so only for some inputs */
    if (flags & 0x40) {
        uint8_t r[32];
        for (int i = 0; i < 32; i++)
            r[i] = get(&f, (size_t)i);
        check_repr(r);
        if (flags & 0x20) {
            for (int i = 0; i < 32; i++)
                r[i] = get(&f, 32 + (size_t)i);
            check_keypair(r);
        }
    }
    return 0;
}
