/* handshake.c: obfs4 handshake messages; see handshake.h. */
#include "transports/obfs4/handshake.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void obfs4_mackey(const uint8_t B[32], const uint8_t node_id[OBFS4_NODE_ID_LEN],
                  uint8_t mackey[OBFS4_MACKEY_LEN])
{
    memcpy(mackey, B, 32);
    memcpy(mackey + 32, node_id, OBFS4_NODE_ID_LEN);
}

void obfs4_epoch_hour(long long now, int off, char out[OBFS4_EPOCH_MAX])
{
    snprintf(out, OBFS4_EPOCH_MAX, "%lld", now / 3600 + off);
}

/* HMAC-SHA256(mackey, a | b)[0:16] */
static void mac16(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t *a, size_t alen,
                  const char *b, uint8_t out[16])
{
    crypto_auth_hmacsha256_state st;
    uint8_t full[32];
    crypto_auth_hmacsha256_init(&st, mackey, OBFS4_MACKEY_LEN);
    crypto_auth_hmacsha256_update(&st, a, alen);
    if (b)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)b, strlen(b));
    crypto_auth_hmacsha256_final(&st, full);
    memcpy(out, full, 16);
}

/* head | pad | mark(head[0:32]) | mac(all before | epoch) */
static size_t build(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t *head, size_t headlen,
                    const uint8_t *pad, size_t padlen, const char *epoch, uint8_t *out)
{
    size_t n = 0;
    memcpy(out, head, headlen), n += headlen;
    memcpy(out + n, pad, padlen), n += padlen;
    mac16(mackey, head, OBFS4_REPR_LEN, NULL, out + n), n += OBFS4_MARK_LEN;
    mac16(mackey, out, n, epoch, out + n), n += OBFS4_MAC_LEN;
    return n;
}

size_t obfs4_client_request(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t repr[32],
                            const uint8_t *pad, size_t padlen, const char *epoch, uint8_t *out)
{
    return build(mackey, repr, OBFS4_REPR_LEN, pad, padlen, epoch, out);
}

size_t obfs4_server_response(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t repr[32],
                             const uint8_t auth[32], const uint8_t *pad, size_t padlen,
                             const char *epoch, uint8_t *out)
{
    uint8_t head[OBFS4_REPR_LEN + OBFS4_AUTH_LEN];
    memcpy(head, repr, OBFS4_REPR_LEN);
    memcpy(head + OBFS4_REPR_LEN, auth, OBFS4_AUTH_LEN);
    return build(mackey, head, sizeof head, pad, padlen, epoch, out);
}

int obfs4_parse_client_request(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t *buf,
                               size_t len, long long now, uint8_t repr[32],
                               uint8_t mac[OBFS4_MAC_LEN], char epoch[OBFS4_EPOCH_MAX],
                               const char **why)
{
    const size_t min = OBFS4_REPR_LEN + OBFS4_CLIENT_MIN_PAD + OBFS4_MARK_LEN + OBFS4_MAC_LEN;
    if (len < min)
        return OBFS4_HS_MORE;
    uint8_t mark[OBFS4_MARK_LEN], want[OBFS4_MAC_LEN];
    mac16(mackey, buf, OBFS4_REPR_LEN, NULL, mark);
    /* The mark and MAC can only be the last 32 bytes of the first 8192. */
    size_t end = len < OBFS4_MAX_HANDSHAKE ? len : OBFS4_MAX_HANDSHAKE;
    size_t pos = end - (OBFS4_MARK_LEN + OBFS4_MAC_LEN);
    if (sodium_memcmp(buf + pos, mark, OBFS4_MARK_LEN) != 0) {
        if (len >= OBFS4_MAX_HANDSHAKE) {
            *why = "no mark in the first 8192 bytes";
            return OBFS4_HS_INVALID;
        }
        return OBFS4_HS_MORE;
    }
    /* Every candidate hour is checked, so the time taken says nothing about which matched. */
    int found = 0;
    for (int off = -1; off <= 1; off++) {
        char e[OBFS4_EPOCH_MAX];
        obfs4_epoch_hour(now, off, e);
        crypto_auth_hmacsha256_state st;
        uint8_t full[32];
        crypto_auth_hmacsha256_init(&st, mackey, OBFS4_MACKEY_LEN);
        crypto_auth_hmacsha256_update(&st, buf, pos + OBFS4_MARK_LEN);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)e, strlen(e));
        crypto_auth_hmacsha256_final(&st, full);
        memcpy(want, full, OBFS4_MAC_LEN);
        if (sodium_memcmp(want, buf + pos + OBFS4_MARK_LEN, OBFS4_MAC_LEN) == 0) {
            found = 1;
            memcpy(epoch, e, OBFS4_EPOCH_MAX);
        }
    }
    if (!found) {
        *why = "bad MAC (wrong cert, or the clocks differ by more than an hour)";
        return OBFS4_HS_INVALID;
    }
    memcpy(mac, buf + pos + OBFS4_MARK_LEN, OBFS4_MAC_LEN);
    if (len != pos + OBFS4_MARK_LEN + OBFS4_MAC_LEN) {
        *why = "bytes after the request";
        return OBFS4_HS_INVALID;
    }
    memcpy(repr, buf, OBFS4_REPR_LEN);
    return OBFS4_HS_DONE;
}

int obfs4_parse_server_response(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t *buf,
                                size_t len, const char *epoch, uint8_t repr[32],
                                uint8_t auth[32], size_t *used, const char **why)
{
    const size_t start = OBFS4_REPR_LEN + OBFS4_AUTH_LEN + OBFS4_SERVER_MIN_PAD;
    if (len < start + OBFS4_MARK_LEN + OBFS4_MAC_LEN)
        return OBFS4_HS_MORE;
    uint8_t mark[OBFS4_MARK_LEN], want[OBFS4_MAC_LEN];
    mac16(mackey, buf, OBFS4_REPR_LEN, NULL, mark);
    size_t end = len < OBFS4_MAX_HANDSHAKE ? len : OBFS4_MAX_HANDSHAKE;
    /* The first occurrence of the mark, with room for the MAC before end (bytes.Index). */
    const uint8_t *hit = memmem(buf + start, end - start, mark, OBFS4_MARK_LEN);
    if (!hit || (size_t)(hit - buf) + OBFS4_MARK_LEN + OBFS4_MAC_LEN > end) {
        if (len >= OBFS4_MAX_HANDSHAKE) {
            *why = "no mark in the first 8192 bytes of the reply";
            return OBFS4_HS_INVALID;
        }
        return OBFS4_HS_MORE;
    }
    size_t pos = (size_t)(hit - buf);
    mac16(mackey, buf, pos + OBFS4_MARK_LEN, epoch, want);
    if (sodium_memcmp(want, buf + pos + OBFS4_MARK_LEN, OBFS4_MAC_LEN) != 0) {
        *why = "bad MAC on the reply";
        return OBFS4_HS_INVALID;
    }
    memcpy(repr, buf, OBFS4_REPR_LEN);
    memcpy(auth, buf + OBFS4_REPR_LEN, OBFS4_AUTH_LEN);
    *used = pos + OBFS4_MARK_LEN + OBFS4_MAC_LEN;
    return OBFS4_HS_DONE;
}
