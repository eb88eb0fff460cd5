/* fuzz_shadow.c: Shadowsocks AEAD streams (transports/shadow/aead.c), differentially against a
 * reference decoder written here on OpenSSL alone (HKDF-SHA1 by hand from HMAC, explicit
 * little-endian nonces), with the semantics of shadowsocks-libev 3.3.5's aead_chunk_decrypt.
 *
 * Input: byte 0 = cipher (bits 0-1) | piece pattern (bits 2-4) | encrypt-call pattern (bits 5-6)
 * | amplify (bit 7); the rest, "body", is used three ways:
 *  1. raw: body is the wire (salt first), fixed password;
 *  2. script: body is read as records  f | L(BE16) | payload bytes  and turned into a wire by
 *     sealing chunks with the reference: any length field (high bits, 0), payload shorter or
 *     longer than the field says, skipped nonces, a flipped byte, a cut, unsealed garbage;
 *  3. round trip: body (repeated past 0x3FFF when amplify is set) through ss_encrypt in
 *     several calls, then back.
 * Each wire (1, 2 and 3's output) is decrypted by aead.c all at once and again in pieces, and by
 * the reference. Invariants: ss_decrypt returns 0 or -1; whole, pieces and reference agree on the
 * result and on the plaintext produced (also what precedes a -1), and on what stays unconsumed
 * when the result is 0; for 3 the result is 0 with the plaintext back, and the wire is exactly
 * salt + per call (n + 34 * ceil(n / 0x3FFF)), every chunk full but the last of each call.
 *
 * ss-libev rejects a chunk whose length is 0 after masking (CRYPTO_ERROR, as for a bad tag);
 * build with -DFUZZ_SHADOW_ALLOW_EMPTY_CHUNKS for a reference that takes it as an empty chunk. */
#include "fuzz.h"

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "transports/shadow/aead.h"

#define OVERHEAD (2 + SS_TAG + SS_TAG)
#define MAX_SCRIPT_WIRE (64 * 1024)    /* the script stops adding chunks past this */
#define MAX_PLAIN (160 * 1024)          /* round trip: amplified plaintext at most */

static const struct {
    const char *name;
    const EVP_CIPHER *(*evp)(void);
} ciphers[4] = {
    { "aes-128-gcm", EVP_aes_128_gcm },
    { "aes-192-gcm", EVP_aes_192_gcm },
    { "aes-256-gcm", EVP_aes_256_gcm },
    { "chacha20-ietf-poly1305", EVP_chacha20_poly1305 },
};

static const char PASSWORD[] = "fuzz-password";

/* ------------------------------------------------------------------ reference */

static void hmac_sha1(const uint8_t *key, size_t kl, const uint8_t *m, size_t n, uint8_t out[20])
{
    unsigned int len = 0;
    FUZZ_CHECK(HMAC(EVP_sha1(), key, (int)kl, m, n, out, &len) != NULL && len == 20);
}

/* subkey = HKDF-SHA1(IKM = master, salt, info = "ss-subkey", L = kl), RFC 5869 by hand. */
static void ref_subkey(const uint8_t *master, const uint8_t *salt, size_t kl, uint8_t *out)
{
    uint8_t prk[20], t[20], msg[20 + 9 + 1];
    hmac_sha1(salt, kl, master, kl, prk);
    size_t done = 0, tl = 0;
    for (uint8_t i = 1; done < kl; i++) {
        memcpy(msg, t, tl);
        memcpy(msg + tl, "ss-subkey", 9);
        msg[tl + 9] = i;
        hmac_sha1(prk, sizeof prk, msg, tl + 10, t);
        tl = 20;
        size_t n = kl - done < 20 ? kl - done : 20;
        memcpy(out + done, t, n);
        done += n;
    }
}

/* One AEAD operation with nonce = 12-byte little-endian counter. enc: in[n] -> out[n] | tag;
 * else in[n] | tag -> out[n]; -1 on a bad tag. */
static int ref_aead(int ci, const uint8_t *key, uint64_t counter, int enc, const uint8_t *in,
                    size_t n, uint8_t *out)
{
    uint8_t nonce[SS_NONCE] = { 0 };
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(counter >> (8 * i));
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    FUZZ_CHECK(ctx != NULL);
    int len = 0;
    FUZZ_CHECK(EVP_CipherInit_ex(ctx, ciphers[ci].evp(), NULL, NULL, NULL, enc) == 1);
    FUZZ_CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, SS_NONCE, NULL) == 1);
    FUZZ_CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1);
    if (!enc)
        FUZZ_CHECK(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SS_TAG, (void *)(in + n)) == 1);
    if (n)
        FUZZ_CHECK(EVP_CipherUpdate(ctx, out, &len, in, (int)n) == 1 && (size_t)len == n);
    int ok = EVP_CipherFinal_ex(ctx, out + len, &len) == 1;
    if (enc)
        FUZZ_CHECK(ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SS_TAG, out + n) == 1);
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Decodes w[n] as ss-libev's receiver does, reading a length block as soon as it is complete
 * (as aead.c does; ss-libev waits for more, which changes only when an error shows). Returns
 * 0 or -1; out gets the plaintext, *consumed what a greedy decoder has taken off the wire. */
static int ref_decode(int ci, size_t kl, const uint8_t *master, const uint8_t *w, size_t n,
                      struct buf *out, size_t *consumed)
{
    *consumed = 0;
    if (n < kl)
        return 0;
    uint8_t subkey[SS_MAX_KEY];
    ref_subkey(master, w, kl, subkey);
    uint64_t ctr = 0;
    size_t off = kl;
    *consumed = kl;
    uint8_t *pt = malloc(SS_MAX_PAYLOAD);
    if (!pt)
        abort();
    int rc = 0;
    for (;;) {
        if (n - off < 2 + SS_TAG)
            break;
        uint8_t be[2];
        if (ref_aead(ci, subkey, ctr++, 0, w + off, 2, be) != 0) {
            rc = -1;
            break;
        }
        size_t m = ((size_t)be[0] << 8 | be[1]) & SS_MAX_PAYLOAD;
        *consumed = off + 2 + SS_TAG;
#ifndef FUZZ_SHADOW_ALLOW_EMPTY_CHUNKS
        if (m == 0) {
            rc = -1;
            break;
        }
#endif
        if (n - off - 2 - SS_TAG < m + SS_TAG)
            break;
        if (ref_aead(ci, subkey, ctr++, 0, w + off + 2 + SS_TAG, m, pt) != 0) {
            rc = -1;
            break;
        }
        buf_add(out, pt, m);
        off += OVERHEAD + m;
        *consumed = off;
    }
    free(pt);
    return rc;
}

/* ------------------------------------------------------------------ aead.c under test */

struct run {
    int rc;
    struct buf out;
    size_t left;        /* unconsumed wire when rc == 0 */
};

static void run_free(struct run *r)
{
    free(r->out.p);
}

static void take(struct evbuffer *e, struct buf *b)
{
    size_t n = evbuffer_get_length(e);
    if (!n)
        return;
    buf_reserve(b, n);
    FUZZ_CHECK(evbuffer_remove(e, b->p + b->n, n) == (int)n);
    b->n += n;
}

/* Piece k of pattern pat (never 0). */
static size_t piece_len(unsigned pat, size_t k, size_t kl, const uint8_t *body, size_t bn)
{
    switch (pat) {
    case 0: return 1;
    case 1: return 2 + SS_TAG - 1;
    case 2: return 2 + SS_TAG;
    case 3: return OVERHEAD - 1;
    case 4: return k == 0 ? kl - 1 : OVERHEAD + 1;
    case 5: return k == 0 ? kl + 2 + SS_TAG : SS_MAX_PAYLOAD + OVERHEAD - 1;
    case 6: return bn ? (size_t)body[k % bn] + 1 : 7;
    default: return (k * k * 13 + 5) % 600 + 1;
    }
}

/* Feeds w[n] to a fresh decryptor: all at once (pat < 0) or in pieces, plaintext taken out
 * after every call; stops at the first -1. */
static void aead_decode(const struct ss_cipher *c, const uint8_t *master, const uint8_t *w, size_t n,
                        int pat, const uint8_t *body, size_t bn, struct run *r)
{
    struct ss_stream dec;
    ss_stream_init_decrypt(&dec, c);
    struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
    FUZZ_CHECK(wire && plain);
    memset(r, 0, sizeof *r);
    size_t off = 0, k = 0;
    do {
        size_t p = pat < 0 ? n : piece_len((unsigned)pat, k++, c->key_len, body, bn);
        if (p > n - off)
            p = n - off;
        /* an exact heap copy of the new bytes, so ASan sees any read past them */
        uint8_t *piece = fuzz_exact(w + off, p);
        evbuffer_add(wire, piece, p);
        free(piece);
        off += p;
        size_t before = evbuffer_get_length(plain);
        r->rc = ss_decrypt(&dec, master, wire, plain);
        FUZZ_CHECK(r->rc == 0 || r->rc == -1);
        FUZZ_CHECK(evbuffer_get_length(plain) >= before);
        take(plain, &r->out);
    } while (r->rc == 0 && off < n);
    r->left = evbuffer_get_length(wire);
    evbuffer_free(wire);
    evbuffer_free(plain);
    ss_stream_free(&dec);
}

/* All decoders agree on w[n]; returns the result. */
static int check_wire(int ci, const struct ss_cipher *c, const uint8_t *master, const uint8_t *w,
                      size_t n, unsigned pat, const uint8_t *body, size_t bn)
{
    struct buf ref = { 0 };
    size_t consumed;
    int rrc = ref_decode(ci, c->key_len, master, w, n, &ref, &consumed);

    struct run whole, pieces;
    aead_decode(c, master, w, n, -1, body, bn, &whole);
    /* 1-byte pieces over a big wire cost too much per input: pattern 6 there */
    aead_decode(c, master, w, n, pat == 0 && n > 16384 ? 6 : (int)pat, body, bn, &pieces);

    FUZZ_CHECK(whole.rc == rrc);
    FUZZ_CHECK(pieces.rc == rrc);
    FUZZ_CHECK(whole.out.n == ref.n && (!ref.n || !memcmp(whole.out.p, ref.p, ref.n)));
    FUZZ_CHECK(pieces.out.n == ref.n && (!ref.n || !memcmp(pieces.out.p, ref.p, ref.n)));
    if (rrc == 0) {
        FUZZ_CHECK(whole.left == n - consumed);
        FUZZ_CHECK(pieces.left == n - consumed);
    }
    run_free(&whole);
    run_free(&pieces);
    free(ref.p);
    return rrc;
}

/* ------------------------------------------------------------------ 2. scripted wires */

static void script_wire(int ci, size_t kl, const uint8_t *master, const uint8_t *d, size_t n,
                        struct buf *w)
{
    uint8_t salt[SS_MAX_KEY], subkey[SS_MAX_KEY];
    for (size_t i = 0; i < kl; i++)
        salt[i] = (uint8_t)(0xA0 + i);
    buf_add(w, salt, kl);
    ref_subkey(master, salt, kl, subkey);
    uint8_t *ch = malloc(OVERHEAD + SS_MAX_PAYLOAD), *pt = malloc(SS_MAX_PAYLOAD);
    if (!ch || !pt)
        abort();
    uint64_t ctr = 0;
    size_t c = 0;
    while (n - c >= 3 && w->n < MAX_SCRIPT_WIRE) {
        uint8_t f = d[c];
        uint16_t field = (uint16_t)(d[c + 1] << 8 | d[c + 2]);
        c += 3;
        if ((f & 0xF0) == 0xF0) {
            /* unsealed bytes straight from the input */
            size_t g = field & 0xFF;
            if (g > n - c)
                g = n - c;
            buf_add(w, d + c, g);
            c += g;
            continue;
        }
        size_t m = field & SS_MAX_PAYLOAD, plen = m;
        if (f & 0x08) {
            /* a payload that does not match the length field */
            size_t delta = ((f >> 4) & 3) + 1;
            plen = (f & 0x40) ? (m > delta ? m - delta : 0) : (m + delta > SS_MAX_PAYLOAD ? SS_MAX_PAYLOAD : m + delta);
        }
        size_t from = plen < n - c ? plen : n - c;
        memcpy(pt, d + c, from);
        for (size_t i = from; i < plen; i++)
            pt[i] = (uint8_t)(i * 7 + f);
        c += from;
        if (f & 0x04)
            ctr += (size_t)((f >> 6) & 3) + 1;   /* skipped nonces */
        uint8_t be[2] = { (uint8_t)(field >> 8), (uint8_t)field };
        ref_aead(ci, subkey, ctr++, 1, be, 2, ch);
        ref_aead(ci, subkey, ctr++, 1, pt, plen, ch + 2 + SS_TAG);
        size_t cl = OVERHEAD + plen;
        if (f & 0x01)
            ch[((size_t)field * 31 + f) % cl] ^= (uint8_t)(1u << (f >> 5));
        if (f & 0x02) {
            buf_add(w, ch, ((size_t)field ^ (size_t)f * 131) % cl);
            break;
        }
        buf_add(w, ch, cl);
    }
    free(ch);
    free(pt);
}

/* ------------------------------------------------------------------ 3. round trip */

/* The chunks one ss_encrypt call wrote at w[off..end): lengths 0x3FFF, ..., the rest of m,
 * opened with the reference at the running counter; the plaintext is p. */
static void check_call(int ci, const uint8_t *subkey, uint64_t *ctr, const uint8_t *w, size_t off,
                       size_t end, const uint8_t *p, size_t m)
{
    uint8_t *pt = malloc(SS_MAX_PAYLOAD);
    if (!pt)
        abort();
    size_t got = 0;
    while (off < end) {
        uint8_t be[2];
        FUZZ_CHECK(end - off >= OVERHEAD);
        FUZZ_CHECK(ref_aead(ci, subkey, (*ctr)++, 0, w + off, 2, be) == 0);
        size_t len = (size_t)be[0] << 8 | be[1];
        FUZZ_CHECK(len == (m - got < SS_MAX_PAYLOAD ? m - got : SS_MAX_PAYLOAD));
        FUZZ_CHECK(end - off - 2 - SS_TAG >= len + SS_TAG);
        FUZZ_CHECK(ref_aead(ci, subkey, (*ctr)++, 0, w + off + 2 + SS_TAG, len, pt) == 0);
        FUZZ_CHECK(memcmp(pt, p + got, len) == 0);
        got += len;
        off += OVERHEAD + len;
    }
    FUZZ_CHECK(off == end && got == m);
    free(pt);
}

static void round_trip(int ci, const struct ss_cipher *c, const uint8_t *master, unsigned pat,
                       unsigned epat, int amplify, const uint8_t *body, size_t bn)
{
    struct buf p = { 0 };
    buf_reserve(&p, 1);              /* never NULL, even for an empty body */
    buf_add(&p, body, bn);
    if (amplify && bn)
        while (p.n < 2 * SS_MAX_PAYLOAD + 3 && p.n + bn <= MAX_PLAIN)
            buf_add(&p, body, bn);

    struct ss_stream enc;
    FUZZ_CHECK(ss_stream_init_encrypt(&enc, c, master) == 0);
    struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new();
    FUZZ_CHECK(plain && wire);
    size_t off = 0, want = c->key_len, k = 0;
    uint8_t subkey[SS_MAX_KEY];
    uint64_t ctr = 0;
    do {
        size_t m;
        switch (epat) {
        case 0: m = p.n; break;
        case 1: m = bn ? (size_t)body[k % bn] * 67 + 1 : 1; break;
        case 2: m = SS_MAX_PAYLOAD + 1; break;
        default: m = p.n <= 2000 ? 1 : 997; break;
        }
        if (m > p.n - off)
            m = p.n - off;
        evbuffer_add(plain, p.p + off, m);
        size_t before = evbuffer_get_length(wire);
        FUZZ_CHECK(ss_encrypt(&enc, plain, wire) == 0);
        FUZZ_CHECK(evbuffer_get_length(plain) == 0);
        size_t chunks = (m + SS_MAX_PAYLOAD - 1) / SS_MAX_PAYLOAD;
        want += m + chunks * OVERHEAD;
        FUZZ_CHECK(evbuffer_get_length(wire) == want);
        const uint8_t *w = evbuffer_pullup(wire, -1);
        if (k == 0) {
            /* the salt first, once: the stream's, and the subkey from it */
            FUZZ_CHECK(before == 0 && w && memcmp(w, enc.salt, c->key_len) == 0);
            ref_subkey(master, w, c->key_len, subkey);
            before = c->key_len;
        }
        check_call(ci, subkey, &ctr, w, before, want, p.p + off, m);
        off += m;
        k++;
    } while (off < p.n);

    size_t wn = evbuffer_get_length(wire);
    uint8_t *w = malloc(wn);
    if (!w)
        abort();
    FUZZ_CHECK(evbuffer_remove(wire, w, wn) == (int)wn);

    /* the reference decoder and aead.c (whole, pieces) give it all back */
    struct buf ref = { 0 };
    size_t consumed;
    FUZZ_CHECK(ref_decode(ci, c->key_len, master, w, wn, &ref, &consumed) == 0);
    FUZZ_CHECK(consumed == wn);
    FUZZ_CHECK(ref.n == p.n && (!p.n || !memcmp(ref.p, p.p, p.n)));
    FUZZ_CHECK(check_wire(ci, c, master, w, wn, pat, body, bn) == 0);

    free(ref.p);
    free(w);
    free(p.p);
    evbuffer_free(plain);
    evbuffer_free(wire);
    ss_stream_free(&enc);
}

/* ------------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ss_cipher *cs[4];
    static uint8_t masters[4][SS_MAX_KEY];
    if (!cs[0])
        for (int i = 0; i < 4; i++) {
            cs[i] = ss_cipher_find(ciphers[i].name);
            FUZZ_CHECK(cs[i] != NULL && cs[i]->key_len <= SS_MAX_KEY);
            ss_password_key(cs[i], PASSWORD, masters[i]);
        }
    if (size < 1)
        return 0;
    int ci = data[0] & 3;
    unsigned pat = (data[0] >> 2) & 7, epat = (data[0] >> 5) & 3;
    int amplify = data[0] >> 7;
    const struct ss_cipher *c = cs[ci];
    const uint8_t *master = masters[ci];
    const uint8_t *body = data + 1;
    size_t bn = size - 1;

    /* 1. raw */
    check_wire(ci, c, master, body, bn, pat, body, bn);

    /* 2. scripted */
    struct buf w = { 0 };
    script_wire(ci, c->key_len, master, body, bn, &w);
    check_wire(ci, c, master, w.p, w.n, pat, body, bn);
    free(w.p);

    /* 3. round trip */
    round_trip(ci, c, master, pat, epat, amplify, body, bn);
    return 0;
}
