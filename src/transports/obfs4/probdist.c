/* probdist.c: obfs4proxy's WeightedDist (common/probdist/weighted_dist.go).
 *
 * The table must come out bit for bit as in Go, so the DRBG draws happen in Go's order and the
 * float arithmetic is done in the same order with the same roundings (this file relies on the
 * build not contracting a*b+c into FMA, which GCC does not do in ISO C mode, -std=c11). */
#include "transports/obfs4/probdist.h"

#include <string.h>

#include <sodium.h>

/* Go: values := rng.Perm(max+1-min); values = values[:rng.Intn(min(len, 100))+1].
 * Only the first WR_PROBDIST_MAX_VALUES entries of the permutation are ever kept, and in the
 * inside-out shuffle an entry at position >= K only moves further up, never back below K, so
 * the head can be computed without the full array, with exactly the draws Perm makes. */
static void gen_values(struct wr_probdist *w, struct wr_drbg *d)
{
    int n_all = w->max + 1 - w->min;
    memset(w->values, 0, sizeof w->values);     /* Go's make() zeroes; m[0] = m[0] reads it */
    for (int i = 0; i < n_all; i++) {
        int j = wr_gorand_intn(d, i + 1);
        if (i < WR_PROBDIST_MAX_VALUES)
            w->values[i] = w->values[j];
        if (j < WR_PROBDIST_MAX_VALUES)
            w->values[j] = i;
    }
    int k = n_all < WR_PROBDIST_MAX_VALUES ? n_all : WR_PROBDIST_MAX_VALUES;
    w->n = wr_gorand_intn(d, k) + 1;
}

static void gen_weights(struct wr_probdist *w, struct wr_drbg *d)
{
    double culm = 0.0;
    for (int i = 0; i < w->n; i++) {
        if (w->biased) {                /* ScrambleSuit style: each takes a share of what's left */
            double p = (1.0 - culm) * wr_gorand_float64(d);
            w->weights[i] = p;
            culm += p;
        } else {
            w->weights[i] = wr_gorand_float64(d);
        }
    }
}

/* Vose's alias method as upstream writes it: Small and Large are FIFO lists (container/list,
 * PushBack / Remove(Front)), and the order decides which alias each entry gets. Each loop turn
 * retires one Small entry for good, so at most 2n pushes go into either queue. */
static void gen_tables(struct wr_probdist *w)
{
    int n = w->n;
    double sum = 0.0, scaled[WR_PROBDIST_MAX_VALUES];
    int small[2 * WR_PROBDIST_MAX_VALUES], large[2 * WR_PROBDIST_MAX_VALUES];
    int sh = 0, st = 0, lh = 0, lt = 0;

    for (int i = 0; i < n; i++)
        sum += w->weights[i];
    for (int i = 0; i < n; i++) {
        w->prob[i] = 0.0;
        w->alias[i] = 0;
        scaled[i] = w->weights[i] * (double)n / sum;
        if (scaled[i] < 1.0)
            small[st++] = i;
        else
            large[lt++] = i;
    }
    while (sh < st && lh < lt) {
        int l = small[sh++], g = large[lh++];
        w->prob[l] = scaled[l];
        w->alias[l] = g;
        scaled[g] = (scaled[g] + scaled[l]) - 1.0;
        if (scaled[g] < 1.0)
            small[st++] = g;
        else
            large[lt++] = g;
    }
    while (lh < lt)
        w->prob[large[lh++]] = 1.0;
    while (sh < st)                     /* only reachable through rounding error */
        w->prob[small[sh++]] = 1.0;
}

int wr_probdist_init(struct wr_probdist *w, const uint8_t seed[WR_DRBG_SEED_LEN], int min, int max,
                     int biased)
{
    if (max <= min || max - min >= 65536)
        return -1;
    w->min = min;
    w->max = max;
    w->biased = biased;
    return wr_probdist_reset(w, seed);
}

int wr_probdist_reset(struct wr_probdist *w, const uint8_t seed[WR_DRBG_SEED_LEN])
{
    struct wr_drbg d;
    wr_drbg_init(&d, seed);
    gen_values(w, &d);
    gen_weights(w, &d);
    gen_tables(w);
    return 0;
}

/* Go's csrand.Float64(): math/rand's Float64 over a crypto source, i.e. 63 random bits over
 * 2^63, redrawn on 1.0. */
static double cs_float64(void)
{
    for (;;) {
        uint64_t v;
        randombytes_buf(&v, sizeof v);
        double f = (double)(int64_t)(v >> 1) / 9223372036854775808.0;
        if (f != 1.0)
            return f;
    }
}

int wr_probdist_sample(const struct wr_probdist *w)
{
    /* csrand.Intn(n) is exactly uniform (rejection sampling), as is randombytes_uniform; which
     * random bits feed it doesn't matter, only the distribution does. */
    int i = (int)randombytes_uniform((uint32_t)w->n);
    int idx = cs_float64() <= w->prob[i] ? i : w->alias[i];
    return w->min + w->values[idx];
}
