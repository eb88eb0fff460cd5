/* ntor.c: obfs4's ntor and KDF; see ntor.h. HMAC and X25519 are libsodium's, HKDF OpenSSL's. */
#include "transports/obfs4/ntor.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>
#include <string.h>

#define PROTOID "ntor-curve25519-sha256-1"

static const char t_mac[] = PROTOID ":mac";
static const char t_key[] = PROTOID ":key_extract";
static const char t_verify[] = PROTOID ":key_verify";
static const char m_expand[] = PROTOID ":key_expand";

/* B | B | X | Y | PROTOID | NODEID */
#define SUFFIX_LEN (4 * 32 + sizeof PROTOID - 1 + OBFS4_NODE_ID_LEN)

static void hmac(const char *key, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                 const char *tail, uint8_t out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_update(&st, a, alen);
    crypto_auth_hmacsha256_update(&st, b, blen);
    if (tail)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)tail, strlen(tail));
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

/* secret_input = exp1 | exp2 | suffix; KEY_SEED and AUTH from it. */
static void ntor_common(const uint8_t exp[64], const uint8_t B[32], const uint8_t X[32],
                        const uint8_t Y[32], const uint8_t node_id[OBFS4_NODE_ID_LEN],
                        uint8_t key_seed[32], uint8_t auth[32])
{
    uint8_t suffix[SUFFIX_LEN], verify[32], *p = suffix;
    memcpy(p, B, 32), p += 32;
    memcpy(p, B, 32), p += 32;
    memcpy(p, X, 32), p += 32;
    memcpy(p, Y, 32), p += 32;
    memcpy(p, PROTOID, sizeof PROTOID - 1), p += sizeof PROTOID - 1;
    memcpy(p, node_id, OBFS4_NODE_ID_LEN);
    hmac(t_key, exp, 64, suffix, sizeof suffix, NULL, key_seed);
    hmac(t_verify, exp, 64, suffix, sizeof suffix, NULL, verify);
    hmac(t_mac, verify, 32, suffix, sizeof suffix, "Server", auth);
    sodium_memzero(verify, sizeof verify);
}

/* X25519; libsodium refuses an all-zero result (a low-order peer key), as ntor must. */
static int dh(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
    return crypto_scalarmult(out, priv, pub) == 0 ? 0 : -1;
}

int obfs4_ntor_server(const uint8_t X[32], const uint8_t y[32], const uint8_t Y[32],
                      const uint8_t b[32], const uint8_t B[32],
                      const uint8_t node_id[OBFS4_NODE_ID_LEN], uint8_t key_seed[32],
                      uint8_t auth[32])
{
    uint8_t exp[64];
    int bad = dh(exp, y, X) | dh(exp + 32, b, X);
    ntor_common(exp, B, X, Y, node_id, key_seed, auth);
    sodium_memzero(exp, sizeof exp);
    return bad ? -1 : 0;
}

int obfs4_ntor_client(const uint8_t x[32], const uint8_t X[32], const uint8_t Y[32],
                      const uint8_t B[32], const uint8_t node_id[OBFS4_NODE_ID_LEN],
                      uint8_t key_seed[32], uint8_t auth[32])
{
    uint8_t exp[64];
    int bad = dh(exp, x, Y) | dh(exp + 32, x, B);
    ntor_common(exp, B, X, Y, node_id, key_seed, auth);
    sodium_memzero(exp, sizeof exp);
    return bad ? -1 : 0;
}

int obfs4_kdf(const uint8_t key_seed[32], uint8_t okm[OBFS4_OKM_LEN])
{
    /* Fetched once: a fetch per handshake costs more than the HKDF itself. */
    static EVP_KDF *hkdf;
    if (!hkdf)
        hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = hkdf ? EVP_KDF_CTX_new(hkdf) : NULL;
    if (!kctx)
        return -1;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key_seed, 32),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)t_key, strlen(t_key)),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)m_expand, strlen(m_expand)),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(kctx, okm, OBFS4_OKM_LEN, params) > 0;
    EVP_KDF_CTX_free(kctx);
    return ok ? 0 : -1;
}
