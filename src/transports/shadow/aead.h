/* aead.h: Shadowsocks AEAD streams (SIP004/SIP007) as shadowsocks-libev 3.3.5 speaks them.
 * Pure code over evbuffers, with OpenSSL for the ciphers and the key derivation:
 *   master key = EVP_BytesToKey(MD5, no salt, 1 round) of the password;
 *   per direction: salt (key-sized, random), subkey = HKDF-SHA1(master, salt, "ss-subkey");
 *   chunk = AEAD(BE16 length) | AEAD(payload), length <= 0x3FFF, nonce = 12-byte little-endian
 *   counter starting at 0, +1 after every AEAD operation. */
#ifndef WARREN_TRANSPORTS_SHADOW_AEAD_H
#define WARREN_TRANSPORTS_SHADOW_AEAD_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#define SS_MAX_KEY 32
#define SS_TAG 16
#define SS_NONCE 12
#define SS_MAX_PAYLOAD 0x3FFF

struct ss_cipher {
    const char *name;           /* canonical, lower case */
    size_t key_len;             /* = salt length */
    int nid;                    /* OpenSSL cipher NID */
};

/* By name, case-insensitively ("AES-128-GCM" as in seed 004's examples too); NULL if unknown. */
const struct ss_cipher *ss_cipher_find(const char *name);

/* EVP_BytesToKey(MD5) of the password, as ss-libev derives a key from -k. */
void ss_password_key(const struct ss_cipher *c, const char *password, uint8_t key[SS_MAX_KEY]);

/* One direction of a stream. */
struct ss_stream {
    const struct ss_cipher *cipher;
    void *ctx;                  /* EVP_CIPHER_CTX, keyed once the salt is known */
    uint8_t nonce[SS_NONCE];
    uint8_t salt[SS_MAX_KEY];
    uint16_t pending_len;       /* decoder: a length read, its payload not yet complete */
    uint8_t have_salt;
    uint8_t have_len;
};

/* Encryptor: picks a random salt. The first ss_encrypt() writes it before the first chunk. */
int  ss_stream_init_encrypt(struct ss_stream *s, const struct ss_cipher *c, const uint8_t *master);
/* Encrypts all of plain into chunks of at most 0x3FFF bytes, appended to wire. 0 or -1. */
int  ss_encrypt(struct ss_stream *s, struct evbuffer *plain, struct evbuffer *wire);
/* Decryptor: consumes what it can of wire (salt, then whole chunks) into plain.
 * Returns 0, or -1 on an authentication failure (wrong key, corruption, replay handled by the
 * caller through ss_stream_salt()). */
void ss_stream_init_decrypt(struct ss_stream *s, const struct ss_cipher *c);
int  ss_decrypt(struct ss_stream *s, const uint8_t *master, struct evbuffer *wire, struct evbuffer *plain);
void ss_stream_free(struct ss_stream *s);

#endif
