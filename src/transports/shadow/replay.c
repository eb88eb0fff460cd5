/* replay.c: ping-pong Bloom filters over SipHash-2-4; see replay.h. */
#include "transports/shadow/replay.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_BITS (1u << 22)  /* 512 KiB per filter */
#define FILTER_CAP 65536        /* salts per filter: 64 bits each */
#define HASHES 20

struct ss_replay {
    uint8_t *bits[2];
    size_t count[2];
    int cur;
    uint8_t k1[crypto_shorthash_siphash24_KEYBYTES], k2[crypto_shorthash_siphash24_KEYBYTES];
};

struct ss_replay *ss_replay_new(void)
{
    struct ss_replay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->bits[0] = calloc(1, FILTER_BITS / 8);
    r->bits[1] = calloc(1, FILTER_BITS / 8);
    if (!r->bits[0] || !r->bits[1]) {
        ss_replay_free(r);
        return NULL;
    }
    randombytes_buf(r->k1, sizeof r->k1);
    randombytes_buf(r->k2, sizeof r->k2);
    return r;
}

static void positions(const struct ss_replay *r, const uint8_t *salt, size_t len, uint32_t pos[HASHES])
{
    uint64_t h1, h2;
    uint8_t o[8];
    crypto_shorthash_siphash24(o, salt, len, r->k1);
    memcpy(&h1, o, 8);
    crypto_shorthash_siphash24(o, salt, len, r->k2);
    memcpy(&h2, o, 8);
    h2 |= 1;
    for (int i = 0; i < HASHES; i++)
        pos[i] = (uint32_t)((h1 + (uint64_t)i * h2) % FILTER_BITS);
}

static int in_filter(const uint8_t *bits, const uint32_t pos[HASHES])
{
    for (int i = 0; i < HASHES; i++)
        if (!(bits[pos[i] >> 3] & (1u << (pos[i] & 7))))
            return 0;
    return 1;
}

int ss_replay_check_add(struct ss_replay *r, const uint8_t *salt, size_t len)
{
    uint32_t pos[HASHES];
    positions(r, salt, len, pos);
    if (in_filter(r->bits[0], pos) || in_filter(r->bits[1], pos))
        return 1;
    if (r->count[r->cur] >= FILTER_CAP) {
        r->cur ^= 1;
        memset(r->bits[r->cur], 0, FILTER_BITS / 8);
        r->count[r->cur] = 0;
    }
    uint8_t *bits = r->bits[r->cur];
    for (int i = 0; i < HASHES; i++)
        bits[pos[i] >> 3] |= (uint8_t)(1u << (pos[i] & 7));
    r->count[r->cur]++;
    return 0;
}

void ss_replay_free(struct ss_replay *r)
{
    if (!r)
        return;
    free(r->bits[0]);
    free(r->bits[1]);
    free(r);
}
