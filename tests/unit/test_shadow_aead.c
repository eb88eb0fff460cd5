/* test_shadow_aead.c: Shadowsocks AEAD streams (transports/shadow/aead.c) against the wire format
 * of shadowsocks-libev 3.3.5 (notes/wire-formats.md §3.1).
 *
 * Besides round trips through aead.c itself, the wire is checked with a reference written here
 * directly on OpenSSL (HKDF-SHA1 by hand from HMAC, each AEAD operation with an explicit
 * little-endian nonce), in both directions: what ss_encrypt writes is opened by the reference,
 * and chunks the reference seals (including ones ss_encrypt never writes) go into ss_decrypt.
 * A bug that is the same on both sides of aead.c (nonce order, key derivation, length order)
 * passes a round trip but not these. */
#include "unit.h"

#include <event2/buffer.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "transports/shadow/aead.h"

/* --- reference implementation (OpenSSL only, nothing from aead.c) ----------------------- */

struct ref_cipher {
    const char *name;
    size_t key_len;
    const EVP_CIPHER *(*evp)(void);
};

static const struct ref_cipher refs[] = {
    { "aes-128-gcm", 16, EVP_aes_128_gcm },
    { "aes-192-gcm", 24, EVP_aes_192_gcm },
    { "aes-256-gcm", 32, EVP_aes_256_gcm },
    { "chacha20-ietf-poly1305", 32, EVP_chacha20_poly1305 },
};

#define OVERHEAD (2 + SS_TAG + SS_TAG)

static const char PASSWORD[] = "test-password";
/* EVP_BytesToKey(MD5) of "test-password" (wire-formats.md §3.1, checked with ss-libev) */
static const uint8_t PASSWORD_KEY[32] = {
    0xdf, 0xb4, 0x50, 0xef, 0xdd, 0xbb, 0x53, 0x87, 0x19, 0x7c, 0x84, 0x46, 0x06, 0x23, 0x67, 0x5b,
    0x69, 0xf2, 0xce, 0xbc, 0xd8, 0xef, 0x52, 0x0a, 0x3d, 0xfd, 0xde, 0xf7, 0xc3, 0xd5, 0x40, 0xb2,
};

/* RFC 5869 HKDF with HMAC-SHA1, L <= 40 here. */
static void ref_hkdf_sha1(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                          const uint8_t *info, size_t info_len, uint8_t *out, size_t l)
{
    uint8_t prk[20], t[20], msg[20 + 64 + 1];
    unsigned int len = 0;
    assert_true(info_len <= 64 && l <= 255 * 20);
    assert_non_null(HMAC(EVP_sha1(), salt, (int)salt_len, ikm, ikm_len, prk, &len));
    assert_int_equal(len, 20);
    size_t done = 0, tl = 0;
    for (uint8_t i = 1; done < l; i++) {
        size_t m = 0;
        memcpy(msg, t, tl);
        m += tl;
        memcpy(msg + m, info, info_len);
        m += info_len;
        msg[m++] = i;
        assert_non_null(HMAC(EVP_sha1(), prk, sizeof prk, msg, m, t, &len));
        tl = 20;
        size_t n = l - done < 20 ? l - done : 20;
        memcpy(out + done, t, n);
        done += n;
    }
}

static void ref_subkey(const struct ref_cipher *r, const uint8_t *master, const uint8_t *salt,
                       uint8_t *subkey)
{
    ref_hkdf_sha1(master, r->key_len, salt, r->key_len, (const uint8_t *)"ss-subkey", 9, subkey,
                  r->key_len);
}

/* One AEAD operation, nonce = the 12-byte little-endian counter. enc: in[n] -> out[n] | tag;
 * else in[n] | tag -> out[n], returning -1 when the tag is wrong. */
static int ref_aead(const struct ref_cipher *r, const uint8_t *key, uint64_t counter, int enc,
                    const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t nonce[SS_NONCE] = { 0 };
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t)(counter >> (8 * i));
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    assert_non_null(ctx);
    int len = 0, ok;
    assert_int_equal(EVP_CipherInit_ex(ctx, r->evp(), NULL, NULL, NULL, enc), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, SS_NONCE, NULL), 1);
    assert_int_equal(EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc), 1);
    if (!enc)
        assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SS_TAG, (void *)(in + n)), 1);
    if (n)
        assert_int_equal(EVP_CipherUpdate(ctx, out, &len, in, (int)n), 1);
    assert_int_equal((size_t)len, n);
    ok = EVP_CipherFinal_ex(ctx, out + len, &len) == 1;
    if (enc) {
        assert_true(ok);
        assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SS_TAG, out + n), 1);
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* One direction as the reference sees it. */
struct ref_stream {
    const struct ref_cipher *r;
    uint8_t subkey[SS_MAX_KEY];
    uint64_t counter;
};

static void ref_stream_init(struct ref_stream *rs, const struct ref_cipher *r, const uint8_t *master,
                            const uint8_t *salt)
{
    rs->r = r;
    rs->counter = 0;
    ref_subkey(r, master, salt, rs->subkey);
}

/* Seals a chunk with any length field (not only n): writes 2+16+n+16 bytes at out. */
static size_t ref_seal_chunk(struct ref_stream *rs, uint16_t len_field, const uint8_t *p, size_t n,
                             uint8_t *out)
{
    uint8_t be[2] = { (uint8_t)(len_field >> 8), (uint8_t)len_field };
    ref_aead(rs->r, rs->subkey, rs->counter++, 1, be, 2, out);
    ref_aead(rs->r, rs->subkey, rs->counter++, 1, p, n, out + 2 + SS_TAG);
    return OVERHEAD + n;
}

/* Opens in[n] | tag with the next nonce. */
static int ref_open(struct ref_stream *rs, const uint8_t *in, size_t n, uint8_t *out)
{
    return ref_aead(rs->r, rs->subkey, rs->counter++, 0, in, n, out);
}

/* --- helpers ---------------------------------------------------------------------------- */

static const struct ss_cipher *cipher_of(const struct ref_cipher *r)
{
    const struct ss_cipher *c = ss_cipher_find(r->name);
    if (!c)
        fail_msg("[%s] ss_cipher_find: NULL", r->name);
    return c;
}

static void master_of(const struct ss_cipher *c, const char *password, uint8_t key[SS_MAX_KEY])
{
    memset(key, 0, SS_MAX_KEY);
    ss_password_key(c, password, key);
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = 2463534242u ^ seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* Encrypts p[n] with a fresh encryptor in one ss_encrypt call; returns the wire (malloc'd). */
static uint8_t *encrypt_once(const struct ss_cipher *c, const uint8_t *master, const uint8_t *p,
                             size_t n, size_t *wire_len)
{
    struct ss_stream enc;
    assert_int_equal(ss_stream_init_encrypt(&enc, c, master), 0);
    struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new();
    assert_non_null(plain);
    assert_non_null(wire);
    evbuffer_add(plain, p, n);
    assert_int_equal(ss_encrypt(&enc, plain, wire), 0);
    assert_int_equal(evbuffer_get_length(plain), 0);
    *wire_len = evbuffer_get_length(wire);
    uint8_t *w = malloc(*wire_len);
    assert_non_null(w);
    evbuffer_remove(wire, w, *wire_len);
    evbuffer_free(plain);
    evbuffer_free(wire);
    ss_stream_free(&enc);
    return w;
}

/* Feeds w[n] to a fresh decryptor in pieces of `piece` bytes (0: all at once), stopping at the
 * first non-zero return. Returns that (or 0); the plaintext is appended to out, and *left (if
 * not NULL) gets what the decryptor left unconsumed. */
static int decrypt_pieces(const struct ss_cipher *c, const uint8_t *master, const uint8_t *w, size_t n,
                          size_t piece, struct evbuffer *out, size_t *left)
{
    struct ss_stream dec;
    ss_stream_init_decrypt(&dec, c);
    struct evbuffer *wire = evbuffer_new();
    assert_non_null(wire);
    int rc = 0;
    if (!piece)
        piece = n ? n : 1;
    size_t off = 0;
    do {
        size_t k = n - off < piece ? n - off : piece;
        evbuffer_add(wire, w + off, k);
        off += k;
        rc = ss_decrypt(&dec, master, wire, out);
    } while (rc == 0 && off < n);
    if (left)
        *left = evbuffer_get_length(wire);
    evbuffer_free(wire);
    ss_stream_free(&dec);
    return rc;
}

/* The whole plaintext of out (caller frees). */
static uint8_t *drain(struct evbuffer *out, size_t *n)
{
    *n = evbuffer_get_length(out);
    uint8_t *p = malloc(*n ? *n : 1);
    assert_non_null(p);
    evbuffer_remove(out, p, *n);
    return p;
}

/* --- 1. password key ------------------------------------------------------------------- */

static void test_password_key(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ss_cipher *c = cipher_of(&refs[i]);
        uint8_t key[SS_MAX_KEY + 8];
        memset(key, 0xA5, sizeof key);
        ss_password_key(c, PASSWORD, key);
        CHECK_MEM(refs[i].name, key, refs[i].key_len, PASSWORD_KEY, refs[i].key_len);
        /* nothing written past the key length */
        for (size_t j = refs[i].key_len; j < sizeof key; j++)
            CHECK_INT(refs[i].name, key[j], 0xA5);
    }
    /* "": D1 = MD5("") = d41d8cd9..., D2 = MD5(D1) */
    static const uint8_t empty[32] = {
        0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e,
        0x59, 0xad, 0xb2, 0x4e, 0xf3, 0xcd, 0xbe, 0x02, 0x97, 0xf0, 0x5b, 0x39, 0x58, 0x27, 0x45, 0x3f,
    };
    uint8_t key[SS_MAX_KEY];
    ss_password_key(ss_cipher_find("aes-256-gcm"), "", key);
    CHECK_MEM("empty password", key, 32, empty, 32);
}

/* --- 2. cipher names ------------------------------------------------------------------- */

static void test_cipher_find(void **state)
{
    static const struct { const char *in, *want; size_t key_len; } cases[] = {
        { "aes-128-gcm", "aes-128-gcm", 16 },
        { "aes-192-gcm", "aes-192-gcm", 24 },
        { "aes-256-gcm", "aes-256-gcm", 32 },
        { "chacha20-ietf-poly1305", "chacha20-ietf-poly1305", 32 },
        { "AES-128-GCM", "aes-128-gcm", 16 },
        { "AES-256-GCM", "aes-256-gcm", 32 },
        { "CHACHA20-IETF-POLY1305", "chacha20-ietf-poly1305", 32 },
        { "ChaCha20-IETF-Poly1305", "chacha20-ietf-poly1305", 32 },
        { "", NULL, 0 },
        { "aes-128-gcm ", NULL, 0 },
        { "aes-128", NULL, 0 },
        { "aes-256-cfb", NULL, 0 },
        { "chacha20-poly1305", NULL, 0 },
        { "xchacha20-ietf-poly1305", NULL, 0 },
        { "rc4-md5", NULL, 0 },
        { "2022-blake3-aes-128-gcm", NULL, 0 },
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        const struct ss_cipher *c = ss_cipher_find(cases[i].in);
        CHECK_STR(cases[i].in, c ? c->name : NULL, cases[i].want);
        if (c)
            CHECK_INT(cases[i].in, c->key_len, cases[i].key_len);
    }
    /* the same entry (pointer) whatever the spelling */
    assert_ptr_equal(ss_cipher_find("AES-128-GCM"), ss_cipher_find("aes-128-gcm"));
    assert_ptr_equal(ss_cipher_find("CHACHA20-IETF-POLY1305"), ss_cipher_find("chacha20-ietf-poly1305"));
}

/* --- 3. round trip ---------------------------------------------------------------------- */

/* Opens every chunk of w with the reference: the lengths must be 0x3FFF, ..., the rest, and
 * the plaintext p. */
static void ref_check_wire(const char *row, const struct ref_cipher *r, const uint8_t *master,
                           const uint8_t *w, size_t wn, const uint8_t *p, size_t n)
{
    struct ref_stream rs;
    assert_true(wn >= r->key_len);
    ref_stream_init(&rs, r, master, w);
    size_t off = r->key_len, got = 0;
    uint8_t *pt = malloc(SS_MAX_PAYLOAD);
    assert_non_null(pt);
    while (off < wn) {
        uint8_t be[2];
        assert_true(wn - off >= 2 + SS_TAG);
        if (ref_open(&rs, w + off, 2, be) != 0)
            fail_msg("[%s] length block at wire offset %zu does not open", row, off);
        size_t len = (size_t)be[0] << 8 | be[1];
        size_t want = n - got < SS_MAX_PAYLOAD ? n - got : SS_MAX_PAYLOAD;
        CHECK_INT(row, len, want);
        off += 2 + SS_TAG;
        assert_true(wn - off >= len + SS_TAG);
        if (ref_open(&rs, w + off, len, pt) != 0)
            fail_msg("[%s] payload at wire offset %zu does not open", row, off);
        CHECK_MEM(row, pt, len, p + got, len);
        off += len + SS_TAG;
        got += len;
    }
    CHECK_INT(row, off, wn);
    CHECK_INT(row, got, n);
    free(pt);
}

static void test_round_trip(void **state)
{
    static const size_t sizes[] = { 0, 1, 0x3FFF, 0x4000, 100000 };
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ss_cipher *c = cipher_of(&refs[i]);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        for (size_t j = 0; j < N_ELEMS(sizes); j++) {
            char row[64];
            snprintf(row, sizeof row, "%s, %zu bytes", refs[i].name, sizes[j]);
            size_t n = sizes[j], wn;
            uint8_t *p = pattern(n, (unsigned)(i * 16 + j));
            uint8_t *w = encrypt_once(c, master, p, n, &wn);
            size_t chunks = (n + SS_MAX_PAYLOAD - 1) / SS_MAX_PAYLOAD;
            CHECK_INT(row, wn, refs[i].key_len + n + chunks * OVERHEAD);
            ref_check_wire(row, &refs[i], master, w, wn, p, n);

            static const size_t pieces[] = { 0, 1, 7, 2 + SS_TAG, 0x3FFF + OVERHEAD + 1 };
            for (size_t k = 0; k < N_ELEMS(pieces); k++) {
                struct evbuffer *out = evbuffer_new();
                size_t left = 99, got;
                CHECK_INT(row, decrypt_pieces(c, master, w, wn, pieces[k], out, &left), 0);
                CHECK_INT(row, left, 0);
                uint8_t *q = drain(out, &got);
                CHECK_MEM(row, q, got, p, n);
                free(q);
                evbuffer_free(out);
            }
            free(w);
            free(p);
        }
    }
}

/* Several ss_encrypt calls on one stream: the salt once, then each call's own chunks, the
 * nonce running on across calls; the empty call adds nothing. */
static void test_encrypt_calls(void **state)
{
    static const size_t calls[] = { 3, 0, 0x3FFF + 1, 1, 0 };
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ss_cipher *c = cipher_of(&refs[i]);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        struct ss_stream enc;
        assert_int_equal(ss_stream_init_encrypt(&enc, c, master), 0);
        struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new();
        size_t total = 0, chunks = 0;
        for (size_t k = 0; k < N_ELEMS(calls); k++)
            total += calls[k];
        uint8_t *p = pattern(total, 77);
        size_t off = 0;
        for (size_t k = 0; k < N_ELEMS(calls); k++) {
            size_t before = evbuffer_get_length(wire);
            evbuffer_add(plain, p + off, calls[k]);
            off += calls[k];
            CHECK_INT(refs[i].name, ss_encrypt(&enc, plain, wire), 0);
            size_t ch = (calls[k] + SS_MAX_PAYLOAD - 1) / SS_MAX_PAYLOAD;
            chunks += ch;
            CHECK_INT(refs[i].name, evbuffer_get_length(wire) - before,
                      (k == 0 ? refs[i].key_len : 0) + calls[k] + ch * OVERHEAD);
        }
        size_t wn = evbuffer_get_length(wire);
        CHECK_INT(refs[i].name, wn, refs[i].key_len + total + chunks * OVERHEAD);
        uint8_t *w = malloc(wn);
        evbuffer_remove(wire, w, wn);
        /* the salt on the wire is the stream's salt */
        CHECK_MEM(refs[i].name, w, refs[i].key_len, enc.salt, refs[i].key_len);

        /* reference: 3 | 0x3FFF, 1 | 1 */
        struct ref_stream rs;
        ref_stream_init(&rs, &refs[i], master, w);
        static const size_t lens[] = { 3, 0x3FFF, 1, 1 };
        uint8_t *pt = malloc(SS_MAX_PAYLOAD);
        size_t wo = refs[i].key_len, po = 0;
        for (size_t k = 0; k < N_ELEMS(lens); k++) {
            uint8_t be[2];
            CHECK_INT(refs[i].name, ref_open(&rs, w + wo, 2, be), 0);
            CHECK_INT(refs[i].name, (be[0] << 8) | be[1], lens[k]);
            wo += 2 + SS_TAG;
            CHECK_INT(refs[i].name, ref_open(&rs, w + wo, lens[k], pt), 0);
            CHECK_MEM(refs[i].name, pt, lens[k], p + po, lens[k]);
            wo += lens[k] + SS_TAG;
            po += lens[k];
        }
        CHECK_INT(refs[i].name, wo, wn);
        free(pt);
        free(w);
        free(p);
        evbuffer_free(plain);
        evbuffer_free(wire);
        ss_stream_free(&enc);
    }
}

/* Each encryptor draws its own salt. */
static void test_salts_differ(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ss_cipher *c = cipher_of(&refs[i]);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        size_t n1, n2;
        uint8_t *w1 = encrypt_once(c, master, (const uint8_t *)"x", 1, &n1);
        uint8_t *w2 = encrypt_once(c, master, (const uint8_t *)"x", 1, &n2);
        assert_int_equal(n1, n2);
        assert_memory_not_equal(w1, w2, refs[i].key_len);
        assert_memory_not_equal(w1 + refs[i].key_len, w2 + refs[i].key_len, n1 - refs[i].key_len);
        free(w1);
        free(w2);
    }
}

/* --- 4. the wire, opened independently --------------------------------------------------- */

static void test_wire_reference(void **state)
{
    static const char msg[] = "\x03\x0bexample.com\x01\xbbGET / HTTP/1.1\r\n\r\n";
    const size_t mn = sizeof msg - 1;
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        size_t wn;
        uint8_t *w = encrypt_once(c, master, (const uint8_t *)msg, mn, &wn);
        CHECK_INT(r->name, wn, r->key_len + OVERHEAD + mn);

        /* salt = the first key_len bytes; subkey = HKDF-SHA1(master, salt, "ss-subkey") */
        uint8_t subkey[SS_MAX_KEY];
        ref_subkey(r, master, w, subkey);
        const uint8_t *chunk = w + r->key_len;
        uint8_t be[2], pt[sizeof msg];
        /* nonce 0: the BE16 length */
        if (ref_aead(r, subkey, 0, 0, chunk, 2, be) != 0)
            fail_msg("[%s] the length block does not open with nonce 0", r->name);
        CHECK_INT(r->name, (be[0] << 8) | be[1], mn);
        /* nonce 1 = 01 00 .. 00 (little-endian): the payload */
        if (ref_aead(r, subkey, 1, 0, chunk + 2 + SS_TAG, mn, pt) != 0)
            fail_msg("[%s] the payload does not open with nonce 1", r->name);
        CHECK_MEM(r->name, pt, mn, msg, mn);
        /* and not with a big-endian 1 or the master key */
        assert_int_equal(ref_aead(r, subkey, (uint64_t)1 << 56, 0, chunk + 2 + SS_TAG, mn, pt), -1);
        assert_int_equal(ref_aead(r, master, 0, 0, chunk, 2, be), -1);
        free(w);
    }
}

/* The counter carries across bytes: 130 one-byte writes put nonces 256/257 (00 01 00 ...) on
 * chunk 128. */
static void test_wire_nonce_carry(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        struct ss_stream enc;
        assert_int_equal(ss_stream_init_encrypt(&enc, c, master), 0);
        struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new();
        for (int k = 0; k < 130; k++) {
            uint8_t b = (uint8_t)k;
            evbuffer_add(plain, &b, 1);
            assert_int_equal(ss_encrypt(&enc, plain, wire), 0);
        }
        size_t wn = evbuffer_get_length(wire);
        CHECK_INT(r->name, wn, r->key_len + 130 * (OVERHEAD + 1));
        uint8_t *w = evbuffer_pullup(wire, -1);
        uint8_t subkey[SS_MAX_KEY];
        ref_subkey(r, master, w, subkey);
        for (int k = 126; k < 130; k++) {
            const uint8_t *chunk = w + r->key_len + (size_t)k * (OVERHEAD + 1);
            uint8_t be[2], b;
            CHECK_INT(r->name, ref_aead(r, subkey, 2 * (uint64_t)k, 0, chunk, 2, be), 0);
            CHECK_INT(r->name, (be[0] << 8) | be[1], 1);
            CHECK_INT(r->name, ref_aead(r, subkey, 2 * (uint64_t)k + 1, 0, chunk + 2 + SS_TAG, 1, &b), 0);
            CHECK_INT(r->name, b, k);
        }
        struct evbuffer *out = evbuffer_new();
        CHECK_INT(r->name, decrypt_pieces(c, master, w, wn, 0, out, NULL), 0);
        CHECK_INT(r->name, evbuffer_get_length(out), 130);
        evbuffer_free(out);
        evbuffer_free(plain);
        evbuffer_free(wire);
        ss_stream_free(&enc);
    }
}

/* The other direction: a stream sealed by the reference (own salt) opens in ss_decrypt. */
static void test_decrypt_reference_stream(void **state)
{
    static const size_t lens[] = { 1, 0x3FFF, 7, 300 };
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        size_t total = 0;
        for (size_t k = 0; k < N_ELEMS(lens); k++)
            total += lens[k];
        uint8_t *p = pattern(total, 5);
        uint8_t *w = malloc(r->key_len + total + N_ELEMS(lens) * OVERHEAD);
        for (size_t k = 0; k < r->key_len; k++)
            w[k] = (uint8_t)(0xF0 + k);
        struct ref_stream rs;
        ref_stream_init(&rs, r, master, w);
        size_t wn = r->key_len, po = 0;
        for (size_t k = 0; k < N_ELEMS(lens); k++) {
            wn += ref_seal_chunk(&rs, (uint16_t)lens[k], p + po, lens[k], w + wn);
            po += lens[k];
        }
        for (size_t piece = 0; piece <= 3; piece += 3) {
            struct evbuffer *out = evbuffer_new();
            size_t left = 99, got;
            CHECK_INT(r->name, decrypt_pieces(c, master, w, wn, piece, out, &left), 0);
            CHECK_INT(r->name, left, 0);
            uint8_t *q = drain(out, &got);
            CHECK_MEM(r->name, q, got, p, total);
            free(q);
            evbuffer_free(out);
        }
        free(w);
        free(p);
    }
}

/* --- 5. tampering, wrong key, truncation ------------------------------------------------ */

static void test_tamper(void **state)
{
    enum { N = 50 };
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        uint8_t *p = pattern(N, 9);
        size_t wn;
        uint8_t *w = encrypt_once(c, master, p, N, &wn);
        assert_int_equal(wn, r->key_len + OVERHEAD + N);
        const size_t kl = r->key_len;
        const struct { const char *what; size_t at; } pos[] = {
            { "salt[0]", 0 },
            { "salt[last]", kl - 1 },
            { "length[0]", kl },
            { "length[1]", kl + 1 },
            { "length tag[0]", kl + 2 },
            { "length tag[15]", kl + 2 + SS_TAG - 1 },
            { "payload[0]", kl + 2 + SS_TAG },
            { "payload[mid]", kl + 2 + SS_TAG + N / 2 },
            { "payload[last]", kl + 2 + SS_TAG + N - 1 },
            { "payload tag[0]", kl + 2 + SS_TAG + N },
            { "payload tag[15]", wn - 1 },
        };
        for (size_t k = 0; k < N_ELEMS(pos); k++) {
            for (int bit = 0; bit < 8; bit += 7) {
                char row[96];
                snprintf(row, sizeof row, "%s, %s ^ 0x%02x", r->name, pos[k].what, 1u << bit);
                w[pos[k].at] ^= (uint8_t)(1u << bit);
                for (size_t piece = 0; piece <= 1; piece++) {
                    struct evbuffer *out = evbuffer_new();
                    CHECK_INT(row, decrypt_pieces(c, master, w, wn, piece, out, NULL), -1);
                    CHECK_INT(row, evbuffer_get_length(out), 0);
                    evbuffer_free(out);
                }
                w[pos[k].at] ^= (uint8_t)(1u << bit);
            }
        }
        /* untouched, it still opens */
        struct evbuffer *out = evbuffer_new();
        CHECK_INT(r->name, decrypt_pieces(c, master, w, wn, 0, out, NULL), 0);
        CHECK_INT(r->name, evbuffer_get_length(out), N);
        evbuffer_free(out);
        free(w);
        free(p);
    }
}

/* A bad second chunk: the first chunk's plaintext is delivered, then -1. */
static void test_tamper_second_chunk(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        size_t n = SS_MAX_PAYLOAD + 10, wn;
        uint8_t *p = pattern(n, 11);
        uint8_t *w = encrypt_once(c, master, p, n, &wn);
        size_t second = r->key_len + OVERHEAD + SS_MAX_PAYLOAD;
        const size_t at[] = { second, second + 2, second + 2 + SS_TAG, wn - 1 };
        for (size_t k = 0; k < N_ELEMS(at); k++) {
            w[at[k]] ^= 0x80;
            struct evbuffer *out = evbuffer_new();
            CHECK_INT(r->name, decrypt_pieces(c, master, w, wn, 0, out, NULL), -1);
            size_t got;
            uint8_t *q = drain(out, &got);
            CHECK_MEM(r->name, q, got, p, SS_MAX_PAYLOAD);
            free(q);
            evbuffer_free(out);
            w[at[k]] ^= 0x80;
        }
        free(w);
        free(p);
    }
}

/* Chunks swapped or repeated (same length, so only the nonce tells): -1 at the first misplaced
 * one, after what came before it. */
static void test_reorder_replay(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        struct ss_stream enc;
        assert_int_equal(ss_stream_init_encrypt(&enc, c, master), 0);
        struct evbuffer *plain = evbuffer_new(), *wire = evbuffer_new();
        static const char *const parts[] = { "AAAA", "BBBB", "CCCC" };
        for (size_t k = 0; k < 3; k++) {
            evbuffer_add(plain, parts[k], 4);
            assert_int_equal(ss_encrypt(&enc, plain, wire), 0);
        }
        const size_t kl = r->key_len, cl = OVERHEAD + 4;
        size_t wn = evbuffer_get_length(wire);
        assert_int_equal(wn, kl + 3 * cl);
        const uint8_t *w = evbuffer_pullup(wire, -1);
        uint8_t *v = malloc(kl + 4 * cl);
        /* salt | A | C | B: A out, then -1 */
        memcpy(v, w, kl + cl);
        memcpy(v + kl + cl, w + kl + 2 * cl, cl);
        memcpy(v + kl + 2 * cl, w + kl + cl, cl);
        struct evbuffer *out = evbuffer_new();
        CHECK_INT(r->name, decrypt_pieces(c, master, v, kl + 3 * cl, 0, out, NULL), -1);
        size_t got;
        uint8_t *q = drain(out, &got);
        CHECK_MEM(r->name, q, got, "AAAA", 4);
        free(q);
        /* salt | A | A: A out, then -1 */
        memcpy(v + kl + cl, w + kl, cl);
        CHECK_INT(r->name, decrypt_pieces(c, master, v, kl + 2 * cl, 0, out, NULL), -1);
        q = drain(out, &got);
        CHECK_MEM(r->name, q, got, "AAAA", 4);
        free(q);
        /* length block of A with the payload of B: -1, nothing out */
        memcpy(v, w, kl + 2 + SS_TAG);
        memcpy(v + kl + 2 + SS_TAG, w + kl + cl + 2 + SS_TAG, 4 + SS_TAG);
        CHECK_INT(r->name, decrypt_pieces(c, master, v, kl + cl, 0, out, NULL), -1);
        CHECK_INT(r->name, evbuffer_get_length(out), 0);
        evbuffer_free(out);
        free(v);
        evbuffer_free(plain);
        evbuffer_free(wire);
        ss_stream_free(&enc);
    }
}

static void test_wrong_password(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ss_cipher *c = cipher_of(&refs[i]);
        uint8_t master[SS_MAX_KEY], other[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        master_of(c, "test-passworD", other);
        size_t wn;
        uint8_t *w = encrypt_once(c, master, (const uint8_t *)"hello", 5, &wn);
        struct evbuffer *out = evbuffer_new();
        CHECK_INT(refs[i].name, decrypt_pieces(c, other, w, wn, 0, out, NULL), -1);
        CHECK_INT(refs[i].name, evbuffer_get_length(out), 0);
        /* another cipher of the same key length with the right password: -1 too */
        const struct ss_cipher *c2 = NULL;
        for (size_t j = 0; j < N_ELEMS(refs); j++)
            if (j != i && refs[j].key_len == refs[i].key_len)
                c2 = cipher_of(&refs[j]);
        if (c2) {
            CHECK_INT(refs[i].name, decrypt_pieces(c2, master, w, wn, 0, out, NULL), -1);
            CHECK_INT(refs[i].name, evbuffer_get_length(out), 0);
        }
        evbuffer_free(out);
        free(w);
    }
}

/* Every proper prefix of a one-chunk stream: 0, nothing out; the rest of it completes it. */
static void test_truncated(void **state)
{
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ss_cipher *c = cipher_of(&refs[i]);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        size_t wn;
        uint8_t *w = encrypt_once(c, master, (const uint8_t *)"0123456789", 10, &wn);
        for (size_t cut = 0; cut < wn; cut++) {
            char row[64];
            snprintf(row, sizeof row, "%s, %zu of %zu bytes", refs[i].name, cut, wn);
            struct ss_stream dec;
            ss_stream_init_decrypt(&dec, c);
            struct evbuffer *wire = evbuffer_new(), *out = evbuffer_new();
            evbuffer_add(wire, w, cut);
            CHECK_INT(row, ss_decrypt(&dec, master, wire, out), 0);
            CHECK_INT(row, evbuffer_get_length(out), 0);
            evbuffer_add(wire, w + cut, wn - cut);
            CHECK_INT(row, ss_decrypt(&dec, master, wire, out), 0);
            CHECK_INT(row, evbuffer_get_length(out), 10);
            CHECK_INT(row, evbuffer_get_length(wire), 0);
            evbuffer_free(wire);
            evbuffer_free(out);
            ss_stream_free(&dec);
        }
        /* empty input on a fresh decryptor */
        struct evbuffer *out = evbuffer_new();
        CHECK_INT(refs[i].name, decrypt_pieces(c, master, w, 0, 0, out, NULL), 0);
        CHECK_INT(refs[i].name, evbuffer_get_length(out), 0);
        evbuffer_free(out);
        free(w);
    }
}

/* --- 6. the length field ---------------------------------------------------------------- */

/* ss-libev masks the length with 0x3FFF instead of rejecting the two high bits: a length field
 * of 0xC005 means 5 bytes, and the stream goes on after it. */
static void test_length_high_bits_masked(void **state)
{
    static const uint16_t fields[] = { 0xC005, 0x4005, 0x8005 };
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        for (size_t f = 0; f < N_ELEMS(fields); f++) {
            char row[64];
            snprintf(row, sizeof row, "%s, length 0x%04x", r->name, fields[f]);
            uint8_t w[SS_MAX_KEY + 2 * OVERHEAD + 5 + 3];
            memset(w, 0x5A, r->key_len);
            struct ref_stream rs;
            ref_stream_init(&rs, r, master, w);
            size_t wn = r->key_len;
            wn += ref_seal_chunk(&rs, fields[f], (const uint8_t *)"hello", 5, w + wn);
            wn += ref_seal_chunk(&rs, 3, (const uint8_t *)"abc", 3, w + wn);
            for (size_t piece = 0; piece <= 1; piece++) {
                struct evbuffer *out = evbuffer_new();
                size_t left = 99, got;
                CHECK_INT(row, decrypt_pieces(c, master, w, wn, piece, out, &left), 0);
                CHECK_INT(row, left, 0);
                uint8_t *q = drain(out, &got);
                CHECK_MEM(row, q, got, "helloabc", 8);
                free(q);
                evbuffer_free(out);
            }
        }
        /* 0xFFFF: 0x3FFF bytes */
        uint8_t *p = pattern(SS_MAX_PAYLOAD, 3);
        uint8_t *w = malloc(r->key_len + OVERHEAD + SS_MAX_PAYLOAD);
        memset(w, 0x11, r->key_len);
        struct ref_stream rs;
        ref_stream_init(&rs, r, master, w);
        size_t wn = r->key_len + ref_seal_chunk(&rs, 0xFFFF, p, SS_MAX_PAYLOAD, w + r->key_len);
        struct evbuffer *out = evbuffer_new();
        CHECK_INT(r->name, decrypt_pieces(c, master, w, wn, 0, out, NULL), 0);
        size_t got;
        uint8_t *q = drain(out, &got);
        CHECK_MEM(r->name, q, got, p, SS_MAX_PAYLOAD);
        free(q);
        evbuffer_free(out);
        free(w);
        free(p);
    }
}

/* A chunk whose length is 0 after masking (0x0000, 0xC000) is an error in ss-libev 3.3.5
 * (aead_chunk_decrypt: "if (mlen == 0) return CRYPTO_ERROR;"); ss_encrypt never writes one. */
static void test_zero_length_chunk(void **state)
{
    static const uint16_t fields[] = { 0x0000, 0xC000, 0x4000 };
    for (size_t i = 0; i < N_ELEMS(refs); i++) {
        const struct ref_cipher *r = &refs[i];
        const struct ss_cipher *c = cipher_of(r);
        uint8_t master[SS_MAX_KEY];
        master_of(c, PASSWORD, master);
        for (size_t f = 0; f < N_ELEMS(fields); f++) {
            char row[64];
            snprintf(row, sizeof row, "%s, length 0x%04x", r->name, fields[f]);
            uint8_t w[SS_MAX_KEY + 2 * OVERHEAD + 3];
            memset(w, 0x22, r->key_len);
            struct ref_stream rs;
            ref_stream_init(&rs, r, master, w);
            size_t wn = r->key_len;
            wn += ref_seal_chunk(&rs, fields[f], NULL, 0, w + wn);
            wn += ref_seal_chunk(&rs, 3, (const uint8_t *)"abc", 3, w + wn);
            struct evbuffer *out = evbuffer_new();
            int rc = decrypt_pieces(c, master, w, wn, 0, out, NULL);
            size_t got = evbuffer_get_length(out);
            evbuffer_free(out);
            CHECK_INT(row, rc, -1);
            CHECK_INT(row, got, 0);
        }
    }
}

/* --- the reference itself ---------------------------------------------------------------- */

/* RFC 5869 test case 4 (HKDF-SHA1), so a fault in ref_hkdf_sha1 cannot hide one in aead.c. */
static void test_reference_hkdf(void **state)
{
    uint8_t ikm[11], salt[13], info[10], okm[42];
    memset(ikm, 0x0b, sizeof ikm);
    for (size_t i = 0; i < sizeof salt; i++)
        salt[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof info; i++)
        info[i] = (uint8_t)(0xf0 + i);
    static const uint8_t want[42] = {
        0x08, 0x5a, 0x01, 0xea, 0x1b, 0x10, 0xf3, 0x69, 0x33, 0x06, 0x8b, 0x56, 0xef, 0xa5,
        0xad, 0x81, 0xa4, 0xf1, 0x4b, 0x82, 0x2f, 0x5b, 0x09, 0x15, 0x68, 0xa9, 0xcd, 0xd4,
        0xf1, 0x55, 0xfd, 0xa2, 0xc2, 0x2e, 0x42, 0x24, 0x78, 0xd3, 0x05, 0xf3, 0xf8, 0x96,
    };
    ref_hkdf_sha1(ikm, sizeof ikm, salt, sizeof salt, info, sizeof info, okm, sizeof okm);
    CHECK_MEM("rfc5869 #4", okm, sizeof okm, want, sizeof want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_hkdf),
        cmocka_unit_test(test_password_key),
        cmocka_unit_test(test_cipher_find),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encrypt_calls),
        cmocka_unit_test(test_salts_differ),
        cmocka_unit_test(test_wire_reference),
        cmocka_unit_test(test_wire_nonce_carry),
        cmocka_unit_test(test_decrypt_reference_stream),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_tamper_second_chunk),
        cmocka_unit_test(test_reorder_replay),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_length_high_bits_masked),
        cmocka_unit_test(test_zero_length_chunk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
