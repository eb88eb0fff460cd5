/* aead.c: Shadowsocks AEAD streams; see aead.h. */
#include "transports/shadow/aead.h"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/obj_mac.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

static const struct ss_cipher ciphers[] = {
    { "aes-128-gcm", 16, NID_aes_128_gcm },
    { "aes-192-gcm", 24, NID_aes_192_gcm },
    { "aes-256-gcm", 32, NID_aes_256_gcm },
    { "chacha20-ietf-poly1305", 32, NID_chacha20_poly1305 },
};

/* OpenSSL 3 looks an algorithm up in its providers on every implicit use, which costs more than
 * the HKDF itself; each connection keys two streams. The handles are fetched once and only read
 * after that (the process has one thread). */
static EVP_CIPHER *fetched_cipher[sizeof ciphers / sizeof ciphers[0]];
static EVP_KDF *fetched_hkdf;

static EVP_CIPHER *cipher_impl(const struct ss_cipher *c)
{
    size_t i = (size_t)(c - ciphers);
    if (!fetched_cipher[i])
        fetched_cipher[i] = EVP_CIPHER_fetch(NULL, OBJ_nid2sn(c->nid), NULL);
    return fetched_cipher[i];
}

const struct ss_cipher *ss_cipher_find(const char *name)
{
    for (size_t i = 0; i < sizeof ciphers / sizeof ciphers[0]; i++)
        if (!strcasecmp(name, ciphers[i].name))
            return &ciphers[i];
    return NULL;
}

void ss_password_key(const struct ss_cipher *c, const char *password, uint8_t key[SS_MAX_KEY])
{
    /* D1 = MD5(pw), Di = MD5(D(i-1) | pw), concatenated and cut to the key length. */
    uint8_t d[16];
    size_t have = 0, pl = strlen(password);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    while (have < c->key_len) {
        EVP_DigestInit_ex(md, EVP_md5(), NULL);
        if (have)
            EVP_DigestUpdate(md, d, sizeof d);
        EVP_DigestUpdate(md, password, pl);
        EVP_DigestFinal_ex(md, d, NULL);
        size_t n = c->key_len - have < 16 ? c->key_len - have : 16;
        memcpy(key + have, d, n);
        have += n;
    }
    EVP_MD_CTX_free(md);
    sodium_memzero(d, sizeof d);
}

/* subkey = HKDF-SHA1(master, salt, "ss-subkey"), then keys the cipher context. */
static int key_stream(struct ss_stream *s, const uint8_t *master, int encrypt)
{
    uint8_t subkey[SS_MAX_KEY];
    size_t len = s->cipher->key_len;
    if (!fetched_hkdf)
        fetched_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kdf = fetched_hkdf ? EVP_KDF_CTX_new(fetched_hkdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)master, len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, s->salt, len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)"ss-subkey", 9),
        OSSL_PARAM_construct_end(),
    };
    int ok = kdf && EVP_KDF_derive(kdf, subkey, len, params) > 0;
    EVP_KDF_CTX_free(kdf);
    if (ok) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        const EVP_CIPHER *cipher = cipher_impl(s->cipher);
        ok = ctx && cipher && EVP_CipherInit_ex(ctx, cipher, NULL, subkey, NULL, encrypt) > 0;
        if (ok)
            s->ctx = ctx;
        else
            EVP_CIPHER_CTX_free(ctx);
    }
    sodium_memzero(subkey, sizeof subkey);
    return ok ? 0 : -1;
}

/* One AEAD operation with the current nonce, which then advances. out holds n (+ tag). */
static int seal(struct ss_stream *s, const uint8_t *in, size_t n, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = s->ctx;
    int len;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, s->nonce) <= 0 ||
        EVP_EncryptUpdate(ctx, out, &len, in, (int)n) <= 0 ||
        EVP_EncryptFinal_ex(ctx, out + len, &len) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, SS_TAG, out + n) <= 0)
        return -1;
    sodium_increment(s->nonce, SS_NONCE);
    return 0;
}

static int open_(struct ss_stream *s, const uint8_t *in, size_t n, uint8_t *out)
{
    EVP_CIPHER_CTX *ctx = s->ctx;
    int len;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, s->nonce) <= 0 ||
        EVP_DecryptUpdate(ctx, out, &len, in, (int)n) <= 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, SS_TAG, (void *)(in + n)) <= 0 ||
        EVP_DecryptFinal_ex(ctx, out + len, &len) <= 0)
        return -1;
    sodium_increment(s->nonce, SS_NONCE);
    return 0;
}

int ss_stream_init_encrypt(struct ss_stream *s, const struct ss_cipher *c, const uint8_t *master)
{
    memset(s, 0, sizeof *s);
    s->cipher = c;
    randombytes_buf(s->salt, c->key_len);
    return key_stream(s, master, 1);
}

void ss_stream_init_decrypt(struct ss_stream *s, const struct ss_cipher *c)
{
    memset(s, 0, sizeof *s);
    s->cipher = c;
}

/* Output is sealed (and opened) straight into space reserved in the destination buffer, a
 * group of at most GROUP_CHUNKS chunks per reservation: that fills 64 KiB chains, which malloc
 * serves from its heap. Reserving for a whole 512 KiB read at once made every chain an mmap
 * and cost more in page faults than the copy it saved (measured). The input is read in place:
 * evbuffer_pullup copies only when a chunk straddles two chains. */
#define GROUP_CHUNKS 3

int ss_encrypt(struct ss_stream *s, struct evbuffer *plain, struct evbuffer *wire)
{
    size_t left;
    while ((left = evbuffer_get_length(plain)) > 0 || !s->have_salt) {
        size_t salt = s->have_salt ? 0 : s->cipher->key_len;
        size_t take = left < GROUP_CHUNKS * SS_MAX_PAYLOAD ? left : GROUP_CHUNKS * SS_MAX_PAYLOAD;
        size_t chunks = (take + SS_MAX_PAYLOAD - 1) / SS_MAX_PAYLOAD;
        size_t need = salt + take + chunks * (2 + 2 * SS_TAG);
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(wire, (ev_ssize_t)need, &v, 1) != 1 || v.iov_len < need)
            return -1;
        uint8_t *o = v.iov_base;
        memcpy(o, s->salt, salt);
        o += salt;
        while (take > 0) {
            size_t n = take < SS_MAX_PAYLOAD ? take : SS_MAX_PAYLOAD;
            const uint8_t *pt = evbuffer_pullup(plain, (ev_ssize_t)n);
            uint8_t len[2] = { (uint8_t)(n >> 8), (uint8_t)n };
            if (!pt || seal(s, len, 2, o) != 0 || seal(s, pt, n, o + 2 + SS_TAG) != 0)
                return -1;      /* the caller drops the connection */
            evbuffer_drain(plain, n);
            o += 2 + SS_TAG + n + SS_TAG;
            take -= n;
        }
        v.iov_len = need;
        s->have_salt = 1;
        if (evbuffer_commit_space(wire, &v, 1) != 0)
            return -1;
    }
    return 0;
}

/* Opens whole chunks of wire into out (room for cap bytes). Sets *done to the bytes written;
 * returns 0, or -1 on an authentication failure (the chunks before it stay written). */
static int open_chunks(struct ss_stream *s, struct evbuffer *wire, uint8_t *out, size_t cap,
                       size_t *done)
{
    for (*done = 0;;) {
        if (!s->have_len) {
            if (evbuffer_get_length(wire) < 2 + SS_TAG)
                return 0;
            uint8_t len[2];
            const uint8_t *ct = evbuffer_pullup(wire, 2 + SS_TAG);
            if (!ct || open_(s, ct, 2, len) != 0)
                return -1;
            evbuffer_drain(wire, 2 + SS_TAG);
            /* ss-libev masks the length rather than rejecting the two high bits. */
            s->pending_len = (uint16_t)(((len[0] << 8) | len[1]) & SS_MAX_PAYLOAD);
            if (s->pending_len == 0)
                return -1; /* ss-libev refuses an empty chunk */
            s->have_len = 1;
        }
        size_t need = (size_t)s->pending_len + SS_TAG;
        if (evbuffer_get_length(wire) < need || cap - *done < s->pending_len)
            return 0;
        const uint8_t *ct = evbuffer_pullup(wire, (ev_ssize_t)need);
        if (!ct || open_(s, ct, s->pending_len, out + *done) != 0)
            return -1;
        evbuffer_drain(wire, need);
        *done += s->pending_len;
        s->have_len = 0;
    }
}

int ss_decrypt(struct ss_stream *s, const uint8_t *master, struct evbuffer *wire, struct evbuffer *plain)
{
    size_t kl = s->cipher->key_len;
    if (!s->have_salt) {
        if (evbuffer_get_length(wire) < kl)
            return 0;
        evbuffer_remove(wire, s->salt, kl);
        s->have_salt = 1;
        if (key_stream(s, master, 0) != 0)
            return -1;
    }
    /* The plaintext is shorter than the ciphertext it comes from, so a reservation of the
     * wire's length (up to a group) holds what it opens. */
    for (;;) {
        size_t cap = evbuffer_get_length(wire), done;
        if (cap > GROUP_CHUNKS * SS_MAX_PAYLOAD)
            cap = GROUP_CHUNKS * SS_MAX_PAYLOAD;
        if (cap == 0)
            return 0;
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(plain, (ev_ssize_t)cap, &v, 1) != 1 || v.iov_len < cap)
            return -1;
        int r = open_chunks(s, wire, v.iov_base, cap, &done);
        v.iov_len = done;
        if (evbuffer_commit_space(plain, &v, 1) != 0 || r != 0)
            return -1;
        if (done == 0)
            return 0;   /* what is left is an incomplete chunk */
    }
}

void ss_stream_free(struct ss_stream *s)
{
    if (s->ctx)
        EVP_CIPHER_CTX_free(s->ctx);
    sodium_memzero(s, sizeof *s);
}
