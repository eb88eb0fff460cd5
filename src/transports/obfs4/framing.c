/* framing.c: obfs4 frames and packets; see framing.h. secretbox is libsodium's (its "easy"
 * layout, tag first, is NaCl's Seal layout that Go uses). */
#include "transports/obfs4/framing.h"

#include <sodium.h>
#include <string.h>

#define MIN_FRAME_LEN (OBFS4_FRAME_OVERHEAD - 2)        /* 16: an empty packet is impossible, */
#define MAX_FRAME_LEN (OBFS4_MAX_SEGMENT - 2)           /* but the decoder only checks these */

void obfs4_framer_init(struct obfs4_framer *f, const uint8_t key[OBFS4_FRAMING_KEY_LEN])
{
    memset(f, 0, sizeof *f);
    memcpy(f->key, key, 32);
    memcpy(f->nonce_prefix, key + 32, 16);
    f->counter = 1;
    wr_drbg_init(&f->drbg, key + 48);
}

void obfs4_framer_wipe(struct obfs4_framer *f)
{
    sodium_memzero(f, sizeof *f);
}

static int next_nonce(struct obfs4_framer *f, uint8_t nonce[crypto_secretbox_NONCEBYTES])
{
    if (f->counter == 0)
        return -1;
    memcpy(nonce, f->nonce_prefix, 16);
    for (int i = 0; i < 8; i++)
        nonce[16 + i] = (uint8_t)(f->counter >> (56 - 8 * i));
    return 0;
}

int obfs4_frame_packet(struct obfs4_framer *f, uint8_t type, const uint8_t *payload, size_t len,
                       size_t pad, struct evbuffer *out)
{
    uint8_t pkt[OBFS4_MAX_FRAME_PAYLOAD], frame[OBFS4_MAX_SEGMENT], nonce[24], mask[8];
    size_t plen = OBFS4_PACKET_OVERHEAD + len + pad;
    if (len > OBFS4_MAX_PACKET_PAYLOAD || pad > OBFS4_MAX_PACKET_PAYLOAD - len ||
        next_nonce(f, nonce) != 0)
        return -1;
    f->counter++;
    pkt[0] = type;
    pkt[1] = (uint8_t)(len >> 8);
    pkt[2] = (uint8_t)len;
    if (len)
        memcpy(pkt + 3, payload, len);
    memset(pkt + 3 + len, 0, pad);
    crypto_secretbox_easy(frame + 2, pkt, plen, nonce, f->key);
    size_t blen = plen + crypto_secretbox_MACBYTES;
    wr_drbg_next_block(&f->drbg, mask);
    frame[0] = (uint8_t)((blen >> 8) ^ mask[0]);
    frame[1] = (uint8_t)(blen ^ mask[1]);
    return evbuffer_add(out, frame, blen + 2) == 0 ? 0 : -1;
}

int obfs4_deframe(struct obfs4_framer *f, struct evbuffer *wire_in, struct evbuffer *plain_out,
                  uint8_t seed_out[OBFS4_SEED_LEN], int *got_seed, const char **why)
{
    uint8_t box[MAX_FRAME_LEN], pkt[MAX_FRAME_LEN], nonce[24], mask[8];
    for (;;) {
        size_t have = evbuffer_get_length(wire_in);
        if (f->next_len == 0) {
            uint8_t l[2];
            if (have < 2)
                return 0;
            evbuffer_remove(wire_in, l, 2);
            have -= 2;
            wr_drbg_next_block(&f->drbg, mask);
            uint16_t len = (uint16_t)(((l[0] ^ mask[0]) << 8) | (l[1] ^ mask[1]));
            if (len < MIN_FRAME_LEN || len > MAX_FRAME_LEN) {
                f->next_invalid = 1;
                len = (uint16_t)(MIN_FRAME_LEN + randombytes_uniform(MAX_FRAME_LEN - MIN_FRAME_LEN + 1));
            }
            f->next_len = len;
        }
        if (have < f->next_len)
            return 0;
        size_t blen = f->next_len;
        evbuffer_remove(wire_in, box, blen);
        f->next_len = 0;
        if (f->next_invalid) {
            *why = "frame length out of range";
            return -1;
        }
        if (next_nonce(f, nonce) != 0) {
            *why = "nonce counter wrapped";
            return -1;
        }
        if (crypto_secretbox_open_easy(pkt, box, blen, nonce, f->key) != 0) {
            *why = "frame failed authentication";
            return -1;
        }
        f->counter++;
        size_t plen = blen - crypto_secretbox_MACBYTES;
        if (plen < OBFS4_PACKET_OVERHEAD) {
            *why = "packet shorter than its header";
            return -1;
        }
        size_t paylen = (size_t)pkt[1] << 8 | pkt[2];
        if (paylen > plen - OBFS4_PACKET_OVERHEAD) {
            *why = "packet payload length past its end";
            return -1;
        }
        if (pkt[0] == OBFS4_PACKET_PAYLOAD) {
            if (paylen)
                evbuffer_add(plain_out, pkt + 3, paylen);
        } else if (pkt[0] == OBFS4_PACKET_PRNG_SEED) {
            if (paylen == OBFS4_SEED_LEN) {
                memcpy(seed_out, pkt + 3, OBFS4_SEED_LEN);
                *got_seed = 1;
            }
        }
        /* other types: authenticated, then ignored, as obfs4proxy does */
    }
}
