/* replay.c: the handshake replay filter; see replay.h.
 *
 * Entries live in a ring in arrival order, so expiry is popping from the head. An open-addressing
 * table maps SipHash digests to ring slots; a table slot whose ring entry has expired or been
 * reused is dead but stays occupied (it may sit inside another digest's probe chain), and may be
 * taken over by a new entry. When live and dead slots fill 3/4 of the table it is rebuilt from
 * the ring. */
#include "transports/obfs4/replay.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_BITS 18                           /* 262,144 slots for 102,400 entries */
#define TABLE_SIZE (1u << TABLE_BITS)

struct entry {
    uint64_t digest;
    int64_t seen;
};

struct obfs4_replay {
    uint8_t key[crypto_shorthash_siphash24_KEYBYTES];
    struct entry ring[OBFS4_REPLAY_MAX];
    size_t head, count;                         /* live entries: ring[head .. head+count) */
    uint32_t *table;                            /* ring index + 1; 0 = never used */
    size_t used;                                /* non-zero table slots */
};

struct obfs4_replay *obfs4_replay_new(void)
{
    struct obfs4_replay *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->table = calloc(TABLE_SIZE, sizeof *r->table);
    if (!r->table) {
        free(r);
        return NULL;
    }
    randombytes_buf(r->key, sizeof r->key);
    return r;
}

static int live(const struct obfs4_replay *r, uint32_t idx)
{
    size_t off = (idx + OBFS4_REPLAY_MAX - r->head) % OBFS4_REPLAY_MAX;
    return off < r->count;
}

static void insert_slot(struct obfs4_replay *r, uint32_t idx)
{
    uint32_t s = (uint32_t)r->ring[idx].digest & (TABLE_SIZE - 1);
    for (;; s = (s + 1) & (TABLE_SIZE - 1)) {
        uint32_t t = r->table[s];
        if (t == 0)
            r->used++;
        if (t == 0 || !live(r, t - 1)) {
            r->table[s] = idx + 1;
            return;
        }
        if (t - 1 == idx)
            return;
    }
}

static void rebuild(struct obfs4_replay *r)
{
    memset(r->table, 0, TABLE_SIZE * sizeof *r->table);
    r->used = 0;
    for (size_t i = 0; i < r->count; i++)
        insert_slot(r, (uint32_t)((r->head + i) % OBFS4_REPLAY_MAX));
}

int obfs4_replay_test_and_set(struct obfs4_replay *r, int64_t now, const uint8_t *buf, size_t len)
{
    uint8_t h[8];
    uint64_t digest;
    crypto_shorthash_siphash24(h, buf, len, r->key);
    memcpy(&digest, h, 8);
    /* Expire: the oldest first; a clock that went backwards forgets everything, as upstream. */
    while (r->count) {
        const struct entry *e = &r->ring[r->head];
        if (e->seen > now) {
            r->count = 0;
            break;
        }
        if (r->count < OBFS4_REPLAY_MAX && now - e->seen < OBFS4_REPLAY_TTL_S)
            break;
        r->head = (r->head + 1) % OBFS4_REPLAY_MAX;
        r->count--;
    }
    for (uint32_t s = (uint32_t)digest & (TABLE_SIZE - 1);; s = (s + 1) & (TABLE_SIZE - 1)) {
        uint32_t t = r->table[s];
        if (t == 0)
            break;
        if (live(r, t - 1) && r->ring[t - 1].digest == digest)
            return 1;
    }
    uint32_t idx = (uint32_t)((r->head + r->count) % OBFS4_REPLAY_MAX);
    r->ring[idx].digest = digest;
    r->ring[idx].seen = now;
    r->count++;
    if (r->used >= TABLE_SIZE / 4 * 3)
        rebuild(r);
    else
        insert_slot(r, idx);
    return 0;
}

void obfs4_replay_free(struct obfs4_replay *r)
{
    if (!r)
        return;
    free(r->table);
    free(r);
}
