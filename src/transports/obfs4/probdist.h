/* probdist.h: obfs4proxy's weighted distributions (common/probdist), used for frame padding
 * lengths and inter-arrival times. The table (which values, with which weights) is derived from a
 * 24-byte seed through the DRBG and Go's math/rand, exactly as obfs4proxy does, so a warren server
 * with an obfs4proxy state file pads like that bridge did; samples are drawn with fresh system
 * randomness (Vose's alias method). */
#ifndef WARREN_TRANSPORTS_OBFS4_PROBDIST_H
#define WARREN_TRANSPORTS_OBFS4_PROBDIST_H

#include <stdint.h>

#include "transports/obfs4/drbg.h"

#define WR_PROBDIST_MAX_VALUES 100

struct wr_probdist {
    int min, max, biased;
    int n;                                      /* values in the table, 1..100 */
    int values[WR_PROBDIST_MAX_VALUES];         /* offsets from min */
    double weights[WR_PROBDIST_MAX_VALUES];
    double prob[WR_PROBDIST_MAX_VALUES];        /* alias tables */
    int alias[WR_PROBDIST_MAX_VALUES];
};

/* Go's probdist.New(seed, min, max, biased); max > min, (max - min) < 65536. 0, or -1 if the
 * range is outside that (Go panics); nothing is allocated. */
int wr_probdist_init(struct wr_probdist *w, const uint8_t seed[WR_DRBG_SEED_LEN], int min, int max,
                     int biased);
/* Go's Reset(seed): a new table from a new seed, same range. */
int wr_probdist_reset(struct wr_probdist *w, const uint8_t seed[WR_DRBG_SEED_LEN]);
int wr_probdist_sample(const struct wr_probdist *w);

#endif
