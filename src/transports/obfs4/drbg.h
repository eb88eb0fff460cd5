/* drbg.h: obfs4proxy's hash DRBG (common/drbg) and the pieces of Go's math/rand that obfs4's
 * length and timing distributions draw from it.
 *
 * The DRBG is SipHash-2-4 in a peculiar OFB mode: one SipHash state that is never reset absorbs
 * the IV and then every output block, so block[n] = SipHash24(K, IV || block[0] || ... ||
 * block[n-1]). A fresh SipHash per block (what the spec text suggests) matches only block 0.
 * Both frame length masks (per direction) and the server's distribution seed use it. */
#ifndef WARREN_TRANSPORTS_OBFS4_DRBG_H
#define WARREN_TRANSPORTS_OBFS4_DRBG_H

#include <stdint.h>

#define WR_DRBG_SEED_LEN 24             /* SipHash key (16) || IV (8) */

struct wr_drbg {
    uint64_t v0, v1, v2, v3;            /* SipHash state after the words absorbed so far */
    uint64_t words;                     /* 8-byte words absorbed (the length byte is words*8 mod 256) */
    uint8_t ofb[8];                     /* the last block */
};

void wr_drbg_init(struct wr_drbg *d, const uint8_t seed[WR_DRBG_SEED_LEN]);
/* The next 8-byte block (Go's NextBlock). */
void wr_drbg_next_block(struct wr_drbg *d, uint8_t out[8]);
/* Go's HashDrbg.Int63(): big-endian uint64 of the next block, top bit cleared. */
int64_t wr_drbg_int63(struct wr_drbg *d);

/* Go math/rand.Rand methods with a wr_drbg as its Source (rand.New(drbg)), bit for bit. */
int32_t wr_gorand_int31n(struct wr_drbg *d, int32_t n);
int wr_gorand_intn(struct wr_drbg *d, int n);           /* 0 < n <= 2^31-1 */
double wr_gorand_float64(struct wr_drbg *d);
void wr_gorand_perm(struct wr_drbg *d, int *out, int n);

#endif
