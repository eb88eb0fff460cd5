/* elligator.c: Elligator 2 over Curve25519 exactly as obfs4proxy 0.0.14 does it
 * (internal/x25519ell2 + edwards25519-extra's elligator2.MontgomeryFlavor); see elligator.h and
 * notes/wire-formats.md §1.7.
 *
 * libsodium has no field arithmetic in its API, so a small GF(2^255-19) lives here: 5 limbs of
 * 51 bits, products in unsigned __int128. Nothing in it branches on or indexes by data; the only
 * branches are on public exponent bits (fe_pow) and on "this seed has no representative", which
 * the caller learns anyway (obfs4proxy retries the same way).
 *
 * The Edwards work is libsodium's: [clamp(priv)]·B and the addition of the low-order point
 * (crypto_core_ed25519_add takes points of small order); the Montgomery u, the representative
 * and the direct map are computed here. */
#include "transports/obfs4/elligator.h"

#include <string.h>

#include <sodium.h>

typedef uint64_t fe[5];
typedef unsigned __int128 u128;

#define MASK51 ((UINT64_C(1) << 51) - 1)

/* Little-endian constants. */
static const uint8_t SQRT_M1[32] = { /* the non-negative sqrt(-1) */
    0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f, 0xad, 0x06, 0x18, 0x43, 0x2f,
    0xa7, 0xd7, 0xfb, 0x3d, 0x99, 0x00, 0x4d, 0x2b, 0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b,
};
/* A point of order 8 (x = sqrt((sqrt(d+1)+1)/d), y = -x·sqrt(-1)), the same one upstream uses. */
static const uint8_t LOP_X[32] = {
    0x4a, 0xd1, 0x45, 0xc5, 0x46, 0x46, 0xa1, 0xde, 0x38, 0xe2, 0xe5, 0x13, 0x70, 0x3c, 0x19, 0x5c,
    0xbb, 0x4a, 0xde, 0x38, 0x32, 0x99, 0x33, 0xe9, 0x28, 0x4a, 0x39, 0x06, 0xa0, 0xb9, 0xd5, 0x1f,
};
static const uint8_t LOP_Y[32] = {
    0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
    0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
};
/* Exponents: p-2 (inversion) and (p-5)/8 = 2^252-3 (square roots). */
static const uint8_t EXP_P_MINUS_2[32] = {
    0xeb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
};
static const uint8_t EXP_P58[32] = {
    0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
};
#define MONT_A 486662 /* Montgomery A */

/* --- field arithmetic mod p = 2^255 - 19 -------------------------------------------------- */

static void fe_set(fe h, uint64_t v)
{
    h[0] = v;
    h[1] = h[2] = h[3] = h[4] = 0;
}

/* Limbs back under 2^51 (limb 0 may end up a little above); the carry out of the top wraps
 * around times 19 because 2^255 = 19 (mod p). */
static void fe_carry(fe h)
{
    for (int i = 0; i < 4; i++) {
        h[i + 1] += h[i] >> 51;
        h[i] &= MASK51;
    }
    h[0] += 19 * (h[4] >> 51);
    h[4] &= MASK51;
}

/* Bit 255 is ignored, as Go's field.Element.SetBytes does; values in [p, 2^255) are accepted
 * unreduced and behave as their residue. */
static void fe_frombytes(fe h, const uint8_t s[32])
{
    uint64_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = 0;
        for (int j = 7; j >= 0; j--)
            w[i] = (w[i] << 8) | s[8 * i + j];
    }
    h[0] = w[0] & MASK51;
    h[1] = ((w[0] >> 51) | (w[1] << 13)) & MASK51;
    h[2] = ((w[1] >> 38) | (w[2] << 26)) & MASK51;
    h[3] = ((w[2] >> 25) | (w[3] << 39)) & MASK51;
    h[4] = (w[3] >> 12) & MASK51;
}

/* Canonical encoding (value in [0, p)). */
static void fe_tobytes(uint8_t s[32], const fe f)
{
    fe h;
    memcpy(h, f, sizeof h);
    fe_carry(h); /* now h < 2p */
    /* q = 1 iff h >= p, i.e. iff h + 19 carries out of bit 255 */
    uint64_t q = (h[0] + 19) >> 51;
    for (int i = 1; i < 5; i++)
        q = (h[i] + q) >> 51;
    h[0] += 19 * q; /* h - q·p = h + 19q - q·2^255: add, then drop bit 255 */
    for (int i = 0; i < 4; i++) {
        h[i + 1] += h[i] >> 51;
        h[i] &= MASK51;
    }
    h[4] &= MASK51;
    uint64_t w[4] = { h[0] | (h[1] << 51), (h[1] >> 13) | (h[2] << 38),
                      (h[2] >> 26) | (h[3] << 25), (h[3] >> 39) | (h[4] << 12) };
    for (int i = 0; i < 32; i++)
        s[i] = (uint8_t)(w[i / 8] >> (8 * (i % 8)));
}

static void fe_add(fe h, const fe f, const fe g)
{
    for (int i = 0; i < 5; i++)
        h[i] = f[i] + g[i];
    fe_carry(h);
}

/* f + 4p - g, so no limb goes negative (inputs are always carried, limbs < 2^52). */
static void fe_sub(fe h, const fe f, const fe g)
{
    h[0] = f[0] + 4 * (MASK51 - 18) - g[0];
    for (int i = 1; i < 5; i++)
        h[i] = f[i] + 4 * MASK51 - g[i];
    fe_carry(h);
}

static void fe_neg(fe h, const fe f)
{
    fe zero;
    fe_set(zero, 0);
    fe_sub(h, zero, f);
}

/* h = f·g; h may alias f or g. */
static void fe_mul(fe h, const fe f, const fe g)
{
    uint64_t g19[5];
    for (int i = 0; i < 5; i++)
        g19[i] = 19 * g[i];
    u128 r[5];
    for (int i = 0; i < 5; i++) {
        r[i] = 0;
        for (int j = 0; j < 5; j++) /* limb j of f meets limb i-j of g, wrapped ones times 19 */
            r[i] += (u128)f[j] * (j <= i ? g[i - j] : g19[5 + i - j]);
    }
    for (int i = 0; i < 4; i++) {
        r[i + 1] += r[i] >> 51;
        h[i] = (uint64_t)r[i] & MASK51;
    }
    h[4] = (uint64_t)r[4] & MASK51;
    u128 t = (u128)h[0] + (r[4] >> 51) * 19;
    h[0] = (uint64_t)t & MASK51;
    h[1] += (uint64_t)(t >> 51);
}

/* f^e for a public exponent e (32 bytes little-endian). */
static void fe_pow(fe h, const fe f, const uint8_t e[32])
{
    fe acc, base;
    memcpy(base, f, sizeof base);
    fe_set(acc, 1);
    for (int i = 255; i >= 0; i--) {
        fe_mul(acc, acc, acc);
        if ((e[i / 8] >> (i % 8)) & 1)
            fe_mul(acc, acc, base);
    }
    memcpy(h, acc, sizeof acc);
}

/* 1/f, and 0 for f = 0 (like Go's field.Element.Invert). */
static void fe_invert(fe h, const fe f) { fe_pow(h, f, EXP_P_MINUS_2); }

/* f = b ? g : f, for b in {0, 1}, without a branch. */
static void fe_cmov(fe f, const fe g, uint64_t b)
{
    uint64_t m = 0 - b;
    for (int i = 0; i < 5; i++)
        f[i] ^= m & (f[i] ^ g[i]);
}

static uint64_t fe_eq(const fe f, const fe g)
{
    uint8_t a[32], b[32], d = 0;
    fe_tobytes(a, f);
    fe_tobytes(b, g);
    for (int i = 0; i < 32; i++)
        d |= a[i] ^ b[i];
    return 1 & (((uint64_t)d - 1) >> 8);
}

/* "Negative" = odd canonical encoding (RFC 8032). */
static uint64_t fe_isneg(const fe f)
{
    uint8_t s[32];
    fe_tobytes(s, f);
    return s[0] & 1;
}

/* r = the non-negative sqrt(u/v) and returns 1 when u/v is a square (u = 0 included);
 * otherwise returns 0 with r = sqrt(sqrt(-1)·u/v), or 0 when v = 0. This is filippo.io's
 * field.Element.SqrtRatio (RFC 9496 SQRT_RATIO_M1), whose results upstream relies on. */
static uint64_t fe_sqrt_ratio(fe r, const fe u, const fe v)
{
    fe v3, v7, t, check, neg_u, neg_u_i, i, r_i, neg_r;
    fe_frombytes(i, SQRT_M1);
    fe_mul(v3, v, v);
    fe_mul(v3, v3, v); /* v^3 */
    fe_mul(v7, v3, v3);
    fe_mul(v7, v7, v); /* v^7 */
    fe_mul(t, u, v7);
    fe_pow(t, t, EXP_P58); /* (u·v^7)^((p-5)/8) */
    fe_mul(t, t, v3);
    fe_mul(t, t, u); /* candidate root u·v^3·(u·v^7)^((p-5)/8) */
    fe_mul(check, t, t);
    fe_mul(check, check, v);
    fe_neg(neg_u, u);
    fe_mul(neg_u_i, neg_u, i);
    uint64_t correct = fe_eq(check, u), flipped = fe_eq(check, neg_u);
    uint64_t flipped_i = fe_eq(check, neg_u_i);
    fe_mul(r_i, t, i);
    fe_cmov(t, r_i, flipped | flipped_i);
    fe_neg(neg_r, t);
    fe_cmov(t, neg_r, fe_isneg(t));
    memcpy(r, t, sizeof t);
    return correct | flipped;
}

/* --- the obfs4 construction ---------------------------------------------------------------- */

/* One coordinate of [c mod 8]·L8, as upstream's selectLowOrderPoint builds it from bits of c:
 * bit 1 picks k, bit 0 (winning) picks x, bit 2 negates; zero when neither. With (LOP_X,
 * sqrt(-1), c) this gives the Edwards x and with (LOP_Y, 1, c+2) the y of the same point. */
static void select_low_order(fe out, const fe x, const fe k, uint8_t c)
{
    fe neg;
    fe_set(out, 0);
    fe_cmov(out, k, (c >> 1) & 1);
    fe_cmov(out, x, c & 1);
    fe_neg(neg, out);
    fe_cmov(out, neg, (c >> 2) & 1);
}

/* u of the "dirty" point [clamp(priv)]·B + [priv[0] & 7]·L8 (upstream scalarBaseMultDirty).
 * Returns -1 only if libsodium refused, which valid inputs never make it do. */
static int dirty_u(fe u, const uint8_t priv[32])
{
    uint8_t s[32], kb[32], lop[32], sum[32] = { 0 };
    memcpy(s, priv, 32);
    s[0] &= 248; /* X25519 clamping */
    s[31] &= 127;
    s[31] |= 64;
    int rc = crypto_scalarmult_ed25519_base_noclamp(kb, s);

    fe lx, ly, k, one, t;
    fe_set(one, 1);
    fe_frombytes(t, LOP_X);
    fe_frombytes(k, SQRT_M1);
    select_low_order(lx, t, k, priv[0]);
    fe_frombytes(t, LOP_Y);
    select_low_order(ly, t, one, (uint8_t)(priv[0] + 2));
    fe_tobytes(lop, ly); /* Edwards encoding: y, and the sign of x in bit 255 */
    lop[31] |= (uint8_t)(fe_isneg(lx) << 7);

    /* libsodium (1.0.18 included) decodes and adds without secret-dependent branches and,
     * unlike crypto_core_ed25519_is_valid_point, accepts points of small order. */
    rc |= crypto_core_ed25519_add(sum, kb, lop);

    /* u = (1 + y) / (1 - y), the sign of v dropped. y = 1 would be the identity, which [s]·B
     * plus a low-order point cannot be (inverting 0 would give u = 0, as Go's Invert does). */
    fe y, num, den;
    fe_frombytes(y, sum); /* bit 255 (sign of x) ignored */
    fe_add(num, one, y);
    fe_sub(den, one, y);
    fe_invert(den, den);
    fe_mul(u, num, den);

    sodium_memzero(s, sizeof s);
    sodium_memzero(kb, sizeof kb);
    sodium_memzero(sum, sizeof sum);
    return rc == 0 ? 0 : -1;
}

/* upstream uToRepresentative: 1 and repr filled when u has a representative, else 0.
 * r = sqrt(-u / (2(u + A))) (times (u + A)/u when tweak bit 0 is set, giving the other of the
 * two representatives), in the form of t·sqrt(1 / (-2u(u + A))) with t = u or u + A, then
 * r or -r whichever is <= (p-1)/2; two random bits from the tweak go on top. */
static int u_to_repr(uint8_t repr[32], const fe u, uint8_t tweak)
{
    fe a, upa, t3, s, t, r, r2, negr;
    fe_set(a, MONT_A);
    fe_add(upa, u, a);
    fe_mul(t3, u, upa);
    fe_add(t3, t3, t3);
    fe_neg(t3, t3); /* -2·u·(u + A) */
    fe one;
    fe_set(one, 1);
    uint64_t ok = fe_sqrt_ratio(s, one, t3);
    memcpy(t, u, sizeof t);
    fe_cmov(t, upa, tweak & 1);
    fe_mul(r, t, s);
    fe_add(r2, r, r); /* 2r is odd exactly when r > (p-1)/2 */
    fe_neg(negr, r);
    fe_cmov(r, negr, fe_isneg(r2));
    fe_tobytes(repr, r);
    repr[31] |= tweak & 0xc0;
    return (int)ok;
}

int wr_ell2_keypair_from_seed(const uint8_t seed[32], uint8_t priv[32], uint8_t pub[32],
                              uint8_t repr[32])
{
    uint8_t digest[64];
    crypto_hash_sha512(digest, seed, 32);
    memcpy(priv, digest, 32);
    uint8_t tweak = digest[63];
    sodium_memzero(digest, sizeof digest);

    fe u;
    int ok = dirty_u(u, priv) == 0;
    ok &= u_to_repr(repr, u, tweak);
    fe_tobytes(pub, u);
    if (!ok) { /* public outcome: the caller retries with a new seed */
        sodium_memzero(priv, 32);
        memset(pub, 0, 32);
        memset(repr, 0, 32);
        return -1;
    }
    return 0;
}

void wr_ell2_keypair(uint8_t priv[32], uint8_t pub[32], uint8_t repr[32])
{
    uint8_t seed[32];
    do
        randombytes_buf(seed, sizeof seed);
    while (wr_ell2_keypair_from_seed(seed, priv, pub, repr) != 0);
    sodium_memzero(seed, sizeof seed);
}

/* edwards25519-extra MontgomeryFlavor (Elligator 2 direct map), u only:
 * w = -A / (1 + 2r^2); u = w if w^3 + A·w^2 + w is a square, else u = -w - A.
 * 1 + 2r^2 is never 0 (-1/2 is not a square mod p) and w^3 + A·w^2 + w never 0, so the
 * "square or zero" question has one answer and this gives upstream's u (which it computes
 * with a single square root, no separate inversion) for every input. */
void wr_ell2_repr_to_pub(const uint8_t repr[32], uint8_t pub[32])
{
    uint8_t b[32];
    memcpy(b, repr, 32);
    b[31] &= 0x3f; /* the two random top bits */

    fe r, one, a, t, w, g, root, negw;
    fe_frombytes(r, b);
    fe_set(one, 1);
    fe_set(a, MONT_A);
    fe_mul(t, r, r);
    fe_add(t, t, t);
    fe_add(t, t, one); /* 1 + 2r^2 */
    fe_invert(t, t);
    fe_mul(w, a, t);
    fe_neg(w, w); /* w = -A / (1 + 2r^2) */
    fe_add(g, w, a);
    fe_mul(g, g, w);
    fe_add(g, g, one);
    fe_mul(g, g, w); /* w·(w^2 + A·w + 1) */
    uint64_t square = fe_sqrt_ratio(root, g, one);
    fe_neg(negw, w);
    fe_sub(negw, negw, a); /* -w - A */
    fe_cmov(w, negw, 1 ^ square);
    fe_tobytes(pub, w);
}
