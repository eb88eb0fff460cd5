/* drbg.c: obfs4proxy's HashDrbg (common/drbg/hash_drbg.go) and the Go 1.19 math/rand methods
 * that common/probdist calls on rand.New(drbg).
 *
 * libsodium only has a one-shot SipHash, but the DRBG needs the hash of an ever-growing message
 * (drbg.h), so the SipHash-2-4 core is written out here: the state is kept after each absorbed
 * 8-byte word and every output finalizes a copy, which is what dchest/siphash's Sum() does.
 * The DRBG only ever absorbs whole 8-byte words, so there is no partial-word buffer. */
#include "transports/obfs4/drbg.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(struct wr_drbg *d)
{
    d->v0 += d->v1;
    d->v1 = ROTL(d->v1, 13);
    d->v1 ^= d->v0;
    d->v0 = ROTL(d->v0, 32);
    d->v2 += d->v3;
    d->v3 = ROTL(d->v3, 16);
    d->v3 ^= d->v2;
    d->v0 += d->v3;
    d->v3 = ROTL(d->v3, 21);
    d->v3 ^= d->v0;
    d->v2 += d->v1;
    d->v1 = ROTL(d->v1, 17);
    d->v1 ^= d->v2;
    d->v2 = ROTL(d->v2, 32);
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void sip_absorb(struct wr_drbg *d, uint64_t m)
{
    d->v3 ^= m;
    sip_round(d);
    sip_round(d);
    d->v0 ^= m;
    d->words++;
}

/* SipHash-2-4 of everything absorbed so far, leaving d untouched. The final word carries only
 * the length byte: dchest/siphash counts message bytes in a uint8, i.e. mod 256 like the
 * reference SipHash (the DRBG passes 256 bytes after 31 blocks). */
static uint64_t sip_sum(const struct wr_drbg *d)
{
    struct wr_drbg c = *d;
    uint64_t b = (uint64_t)((c.words * 8) & 0xff) << 56;
    c.v3 ^= b;
    sip_round(&c);
    sip_round(&c);
    c.v0 ^= b;
    c.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&c);
    return c.v0 ^ c.v1 ^ c.v2 ^ c.v3;
}

void wr_drbg_init(struct wr_drbg *d, const uint8_t seed[WR_DRBG_SEED_LEN])
{
    uint64_t k0 = load_le64(seed), k1 = load_le64(seed + 8);
    d->v0 = k0 ^ 0x736f6d6570736575ULL;
    d->v1 = k1 ^ 0x646f72616e646f6dULL;
    d->v2 = k0 ^ 0x6c7967656e657261ULL;
    d->v3 = k1 ^ 0x7465646279746573ULL;
    d->words = 0;
    for (int i = 0; i < 8; i++)
        d->ofb[i] = seed[16 + i];       /* the IV is the first thing absorbed */
}

void wr_drbg_next_block(struct wr_drbg *d, uint8_t out[8])
{
    sip_absorb(d, load_le64(d->ofb));
    uint64_t h = sip_sum(d);
    for (int i = 0; i < 8; i++)
        d->ofb[i] = out[i] = (uint8_t)(h >> (8 * i));   /* Go's Sum() appends little-endian */
}

int64_t wr_drbg_int63(struct wr_drbg *d)
{
    uint8_t b[8];
    uint64_t v = 0;
    wr_drbg_next_block(d, b);
    for (int i = 0; i < 8; i++)        /* but Int63 reads the block big-endian */
        v = (v << 8) | b[i];
    return (int64_t)(v & 0x7fffffffffffffffULL);
}

/* The HashDrbg has no Uint64 method, so rand.New() gets a plain Source and every method below
 * goes through Int63 only (in Go 1.19, Intn uses Int31n, not the faster unexported int31n). */
static int32_t int31(struct wr_drbg *d)
{
    return (int32_t)(wr_drbg_int63(d) >> 32);
}

int32_t wr_gorand_int31n(struct wr_drbg *d, int32_t n)
{
    if (n <= 0)
        return 0;                       /* Go panics; callers never pass this */
    if ((n & (n - 1)) == 0)             /* a power of two (including 1: still one draw) */
        return int31(d) & (n - 1);
    int32_t max = (int32_t)((1U << 31) - 1 - (1U << 31) % (uint32_t)n);
    int32_t v = int31(d);
    while (v > max)
        v = int31(d);
    return v % n;
}

int wr_gorand_intn(struct wr_drbg *d, int n)
{
    return (int)wr_gorand_int31n(d, (int32_t)n);
}

double wr_gorand_float64(struct wr_drbg *d)
{
    /* Go 1's value stream: a 63-bit integer over 2^63, rounded to nearest by the conversion,
     * and redrawn if that rounds up to exactly 1. */
    for (;;) {
        double f = (double)wr_drbg_int63(d) / 9223372036854775808.0;
        if (f != 1.0)
            return f;
    }
}

void wr_gorand_perm(struct wr_drbg *d, int *out, int n)
{
    /* Inside-out Fisher-Yates; i = 0 still draws (Intn(1)), as Go keeps it for its stream. */
    for (int i = 0; i < n; i++) {
        int j = wr_gorand_intn(d, i + 1);
        out[i] = out[j];
        out[j] = i;
    }
}
