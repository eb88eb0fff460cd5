/* fuzz_obfs4_frame.c: obfs4 frames (transports/obfs4/framing.c), against a reference decoder
 * written here with the semantics of obfs4proxy 0.0.14's framing.Decoder.Decode and
 * obfs4Conn.readPackets. Keys are fixed: the KAT's okm (obfs4_kat.txt §3), either direction.
 *
 * Input: byte 0 = piece pattern (bits 0-2) | direction (bit 3) | near-wrap (bit 4: every
 * counter starts at 2^64 - 1 - bits 5-6, so the nonce counter wraps after 1-4 frames) | mutate
 * (bit 7); the rest, "body", is used three ways:
 *  1. raw: body is the wire;
 *  2. script: body is read as records  f | t | P(BE16) | Q(BE16) | payload bytes  and turned into
 *     a wire by sealing packets here: packets shorter than their 3-byte header, payload lengths
 *     past the end, unknown types, seed packets of the right and wrong size, nonzero padding,
 *     skipped nonces, any length field (out of 16..1446, or not the box's), a flipped byte, a
 *     cut, unsealed garbage;
 *  3. round trip: body is read as records  t | L(BE16) | P(BE16) | payload bytes  and each one
 *     framed by obfs4_frame_packet (type, payload, padding; some too long, which must be
 *     refused without a trace); with bit 7, one byte of that wire (position and XOR from the
 *     body's last three bytes) is then flipped.
 * Each wire is deframed by framing.c all at once and again in pieces, and by the reference.
 * Invariants: obfs4_deframe returns 0 or -1 (with a reason), and after a 0 another call with no
 * new bytes does nothing; whole, pieces and reference agree on the plaintext produced (also what
 * precedes a -1), on the last PRNG seed reported and on what stays unconsumed when the result is
 * 0, and on the result itself except where a bad length makes the decoder wait for a random
 * 16..1446 bytes (then it must be 0 with fewer than 16 bytes after the length, -1 with 1446 or
 * more). For 3: each frame is exactly 21 + payload + padding bytes and opens here to type |
 * length | payload | zeros; the wire decodes (whole, one byte at a time, in pieces) to result 0
 * with nothing left, the payload packets' bytes and the last 24-byte seed, other types ignored;
 * a flipped wire gives the plaintext and seed of the frames before the flip, then -1 (a flip in
 * a box) or, for a flip in a length, -1 or a wait. At most 64 KiB of wire per input. At start-up
 * the DRBG is checked against the KAT (§1) and the one-shot SipHash definition, and the KAT
 * frames (§5) are built and taken apart. */
#include "fuzz.h"

#include <event2/buffer.h>
#include <sodium.h>

#include "transports/obfs4/framing.h"

#define MAX_WIRE (64 * 1024)
#define MIN_LEN 16                      /* box lengths the decoder takes */
#define MAX_LEN (OBFS4_MAX_SEGMENT - 2) /* 1446 */
#define TAG 16

/* KAT §3: okm[0:72] client to server, okm[72:144] server to client. */
static const char OKM_HEX[] =
    "f7dd9ab7814943c8415f77d5a74290d8b129063328b947741a1581c69b6e10b07ceb07a9"
    "1895a603ade7a59868cda7e53dbc4d8e0a7ac305b8e0bc431d07b4fd3a7b17af9c346db8"
    "f0d280201c598345727585c1e6dd16d74f42983f977ca392a9c1407218f330819a3f2dea"
    "f5ca6916425a31fea858429309135b226ff34de67c6b173111da2afe3b37f9beb3fcadff";
static uint8_t okm[144];

static void hex(const char *h, uint8_t *out, size_t len)
{
    size_t n = 0;
    FUZZ_CHECK(sodium_hex2bin(out, len, h, strlen(h), NULL, &n, NULL) == 0 && n == len);
}

/* ------------------------------------------------------------------ reference */

static void make_nonce(const uint8_t *key, uint64_t ctr, uint8_t nonce[24])
{
    memcpy(nonce, key + 32, 16);
    for (int i = 0; i < 8; i++)
        nonce[16 + i] = (uint8_t)(ctr >> (56 - 8 * i));
}

struct ref {
    int lo, hi;         /* the result: lo..hi, both when a bad length waits for random bytes */
    struct buf out;
    int got_seed;
    uint8_t seed[OBFS4_SEED_LEN];
    size_t consumed;    /* taken off the wire when the result is 0 */
};

/* Go's Decoder.Decode + readPackets over w[n] with one fresh decoder whose counter starts at
 * ctr0. The length mask is drawn when a length is read; the nonce is checked (here, as in
 * framing.c) when the box has arrived. The DRBG is wr_drbg, checked at start-up against the KAT
 * and against the one-shot SipHash definition. */
static void ref_deframe(const uint8_t *key, uint64_t ctr0, const uint8_t *w, size_t n,
                        struct ref *r)
{
    memset(r, 0, sizeof *r);
    struct wr_drbg d;
    wr_drbg_init(&d, key + 48);
    uint64_t ctr = ctr0;
    size_t off = 0;
    uint8_t pkt[MAX_LEN], nonce[24], m[8];
    for (;;) {
        if (n - off < 2)
            break;
        wr_drbg_next_block(&d, m);
        size_t len = (size_t)(w[off] ^ m[0]) << 8 | (size_t)(w[off + 1] ^ m[1]);
        off += 2;
        if (len < MIN_LEN || len > MAX_LEN) {
            size_t rem = n - off;
            r->consumed = off;
            r->lo = rem >= MIN_LEN ? -1 : 0;
            r->hi = rem >= MAX_LEN ? -1 : 0;
            return;
        }
        if (n - off < len)
            break;
        if (ctr == 0)
            goto fail;
        make_nonce(key, ctr, nonce);
        if (crypto_secretbox_open_easy(pkt, w + off, len, nonce, key) != 0)
            goto fail;
        ctr++;
        off += len;
        size_t plen = len - TAG;
        if (plen < OBFS4_PACKET_OVERHEAD)
            goto fail;
        size_t pay = (size_t)pkt[1] << 8 | pkt[2];
        if (pay > plen - OBFS4_PACKET_OVERHEAD)
            goto fail;
        if (pkt[0] == OBFS4_PACKET_PAYLOAD) {
            buf_add(&r->out, pkt + 3, pay);
        } else if (pkt[0] == OBFS4_PACKET_PRNG_SEED && pay == OBFS4_SEED_LEN) {
            memcpy(r->seed, pkt + 3, OBFS4_SEED_LEN);
            r->got_seed = 1;
        }
    }
    r->lo = r->hi = 0;
    r->consumed = off;
    return;
fail:
    r->lo = r->hi = -1;
}

/* ------------------------------------------------------------------ framing.c under test */

struct run {
    int rc;
    struct buf out;
    int got_seed;
    uint8_t seed[OBFS4_SEED_LEN];
    size_t left;        /* unconsumed wire at the end */
};

static void take(struct evbuffer *e, struct buf *b)
{
    size_t n = evbuffer_get_length(e);
    if (!n)
        return;
    buf_reserve(b, n);
    FUZZ_CHECK(evbuffer_remove(e, b->p + b->n, n) == (int)n);
    b->n += n;
}

/* Piece k of pattern pat (never 0). */
static size_t piece_len(unsigned pat, size_t k, const uint8_t *body, size_t bn)
{
    switch (pat) {
    case 0: return 1;
    case 1: return 2;                                   /* a length field */
    case 2: return MIN_LEN + 1;
    case 3: return OBFS4_FRAME_OVERHEAD;
    case 4: return k == 0 ? 1 : OBFS4_HEADER_LEN + 3;
    case 5: return OBFS4_MAX_SEGMENT + 1;
    case 6: return bn ? (size_t)body[k % bn] + 1 : 7;
    default: return (k * k * 13 + 5) % 1500 + 1;
    }
}

/* Feeds w[n] to a fresh decoder (counter ctr0): all at once (pat < 0) or in pieces, plaintext
 * taken out after every call; stops at the first -1. */
static void dut_deframe(const uint8_t *key, uint64_t ctr0, const uint8_t *w, size_t n, int pat,
                        const uint8_t *body, size_t bn, struct run *r)
{
    struct obfs4_framer f;
    obfs4_framer_init(&f, key);
    f.counter = ctr0;
    struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
    FUZZ_CHECK(wire && plain);
    memset(r, 0, sizeof *r);
    size_t off = 0, k = 0;
    do {
        size_t p = pat < 0 ? n : piece_len((unsigned)pat, k++, body, bn);
        if (p > n - off)
            p = n - off;
        /* an exact heap copy of the new bytes, so ASan sees any read past them */
        uint8_t *piece = fuzz_exact(p ? w + off : w, p);
        FUZZ_CHECK(evbuffer_add(wire, piece, p) == 0);
        free(piece);
        off += p;
        uint8_t seed[OBFS4_SEED_LEN];
        int got = 0;
        const char *why = NULL;
        size_t before = r->out.n;
        r->rc = obfs4_deframe(&f, wire, plain, seed, &got, &why);
        FUZZ_CHECK(r->rc == 0 || r->rc == -1);
        FUZZ_CHECK(r->rc == 0 || why != NULL);
        FUZZ_CHECK(got == 0 || got == 1);
        if (got) {
            r->got_seed = 1;
            memcpy(r->seed, seed, sizeof seed);
        }
        take(plain, &r->out);
        FUZZ_CHECK(r->out.n >= before);
    } while (r->rc == 0 && off < n);
    r->left = evbuffer_get_length(wire);
    if (r->rc == 0) {
        /* called again with nothing new: nothing happens */
        uint8_t seed[OBFS4_SEED_LEN];
        int got = 0;
        const char *why = NULL;
        FUZZ_CHECK(obfs4_deframe(&f, wire, plain, seed, &got, &why) == 0);
        FUZZ_CHECK(!got && evbuffer_get_length(plain) == 0);
        FUZZ_CHECK(evbuffer_get_length(wire) == r->left);
    }
    evbuffer_free(wire);
    evbuffer_free(plain);
    obfs4_framer_wipe(&f);
}

static void check_run(const struct run *r, const struct ref *ref, size_t n)
{
    FUZZ_CHECK(r->rc >= ref->lo && r->rc <= ref->hi);
    FUZZ_CHECK(buf_eq(&r->out, ref->out.p, ref->out.n));
    FUZZ_CHECK(r->got_seed == ref->got_seed);
    FUZZ_CHECK(!r->got_seed || memcmp(r->seed, ref->seed, OBFS4_SEED_LEN) == 0);
    if (r->rc == 0)
        FUZZ_CHECK(r->left == n - ref->consumed);
}

/* framing.c (whole, pieces) agrees with the reference on w[n]; the reference's verdict is in
 * *ref (the caller frees ref->out). */
static void check_wire(const uint8_t *key, uint64_t ctr0, const uint8_t *w, size_t n,
                       unsigned pat, const uint8_t *body, size_t bn, struct ref *ref)
{
    ref_deframe(key, ctr0, w, n, ref);
    struct run whole, pieces;
    dut_deframe(key, ctr0, w, n, -1, body, bn, &whole);
    /* 1-byte pieces over a big wire cost too much per input: pattern 6 there */
    dut_deframe(key, ctr0, w, n, pat == 0 && n > 16384 ? 6 : (int)pat, body, bn, &pieces);
    check_run(&whole, ref, n);
    check_run(&pieces, ref, n);
    free(whole.out.p);
    free(pieces.out.p);
}

/* ------------------------------------------------------------------ 2. scripted wires */

static void script_wire(const uint8_t *key, uint64_t ctr0, const uint8_t *d, size_t n,
                        struct buf *w)
{
    struct wr_drbg dr;
    wr_drbg_init(&dr, key + 48);
    uint64_t ctr = ctr0;
    uint8_t pkt[OBFS4_MAX_FRAME_PAYLOAD], frame[OBFS4_MAX_SEGMENT], nonce[24], m[8];
    size_t c = 0;
    while (n - c >= 6 && w->n < MAX_WIRE) {
        uint8_t f = d[c], t = d[c + 1];
        unsigned P = (unsigned)d[c + 2] << 8 | d[c + 3], Q = (unsigned)d[c + 4] << 8 | d[c + 5];
        c += 6;
        if ((f & 0xF0) == 0xF0) {
            /* unsealed bytes straight from the input */
            size_t g = P & 0x7FF;
            if (g > n - c)
                g = n - c;
            buf_add(w, d + c, g);
            c += g;
            continue;
        }
        uint8_t type = (t & 0x80) ? t : (t & 1);
        size_t plen = P % (OBFS4_MAX_FRAME_PAYLOAD + 1);       /* packet bytes, 0..1430 */
        size_t pay;
        if (plen < OBFS4_PACKET_OVERHEAD)
            pay = Q;                                            /* header cut short */
        else if (f & 0x08)
            pay = plen - OBFS4_PACKET_OVERHEAD + 1 + (Q & 0x3F); /* past the end */
        else if (type == OBFS4_PACKET_PRNG_SEED && (t & 0x40) && plen >= 3 + OBFS4_SEED_LEN)
            pay = OBFS4_SEED_LEN;
        else
            pay = Q % (plen - OBFS4_PACKET_OVERHEAD + 1);
        uint8_t hdr[3] = { type, (uint8_t)(pay >> 8), (uint8_t)pay };
        memcpy(pkt, hdr, plen < 3 ? plen : 3);
        size_t body_len = plen > 3 ? plen - 3 : 0, from = pay < body_len ? pay : body_len;
        if (from > n - c)
            from = n - c;
        if (from)
            memcpy(pkt + 3, d + c, from);
        c += from;
        for (size_t i = 3 + from; i < plen; i++)   /* padding: zeros, or not (bit 4) */
            pkt[i] = (f & 0x10) ? (uint8_t)(i * 7 + t) : 0;
        if (f & 0x02)
            ctr += (uint64_t)(f >> 6) + 1;                     /* skipped nonces */
        make_nonce(key, ctr++, nonce);
        crypto_secretbox_easy(frame + 2, pkt, plen, nonce, key);
        size_t blen = plen + TAG;
        uint16_t field = (f & 0x04) ? (uint16_t)Q : (uint16_t)blen; /* any length field */
        wr_drbg_next_block(&dr, m);
        frame[0] = (uint8_t)((field >> 8) ^ m[0]);
        frame[1] = (uint8_t)(field ^ m[1]);
        size_t fl = 2 + blen;
        if (f & 0x01)
            frame[((size_t)P * 31 + Q) % fl] ^= (uint8_t)(1u << (t & 7));
        if (f & 0x20) {
            buf_add(w, frame, ((size_t)P ^ Q) % fl);           /* a cut */
            break;
        }
        buf_add(w, frame, fl);
    }
}

/* ------------------------------------------------------------------ 3. round trip */

struct frame_info {
    size_t start;       /* offset of the frame on the wire */
    size_t plain;       /* payload bytes of the frames before it */
    int got_seed;       /* the seed reported by the frames before it */
    uint8_t seed[OBFS4_SEED_LEN];
};

/* The frame obfs4_frame_packet just wrote at w[0..fl): opens here to type | len | payload |
 * zeros, with the next mask of *d and the counter ctr. */
static void check_frame(const uint8_t *key, struct wr_drbg *d, uint64_t ctr, const uint8_t *w,
                        size_t fl, uint8_t type, const uint8_t *payload, size_t len, size_t pad)
{
    uint8_t m[8], nonce[24], pkt[OBFS4_MAX_FRAME_PAYLOAD];
    wr_drbg_next_block(d, m);
    size_t blen = (size_t)(w[0] ^ m[0]) << 8 | (size_t)(w[1] ^ m[1]);
    FUZZ_CHECK(blen == fl - 2 && blen == TAG + OBFS4_PACKET_OVERHEAD + len + pad);
    make_nonce(key, ctr, nonce);
    FUZZ_CHECK(crypto_secretbox_open_easy(pkt, w + 2, blen, nonce, key) == 0);
    FUZZ_CHECK(pkt[0] == type && pkt[1] == (uint8_t)(len >> 8) && pkt[2] == (uint8_t)len);
    FUZZ_CHECK(!len || memcmp(pkt + 3, payload, len) == 0);
    for (size_t i = 0; i < pad; i++)
        FUZZ_CHECK(pkt[3 + len + i] == 0);
}

static void round_trip(const uint8_t *key, uint64_t ctr0, unsigned pat, int mutate,
                       const uint8_t *d, size_t n)
{
    struct obfs4_framer enc;
    obfs4_framer_init(&enc, key);
    enc.counter = ctr0;
    struct wr_drbg chk;
    wr_drbg_init(&chk, key + 48);
    uint64_t ctr = ctr0;
    struct evbuffer *wire = evbuffer_new();
    FUZZ_CHECK(wire != NULL);
    struct buf want = { 0 }, frames = { 0 };
    int want_got = 0;
    uint8_t want_seed[OBFS4_SEED_LEN] = { 0 }, payload[OBFS4_MAX_PACKET_PAYLOAD];
    size_t c = 0;
    while (n - c >= 5) {
        uint8_t t = d[c];
        unsigned L = (unsigned)d[c + 1] << 8 | d[c + 2], P = (unsigned)d[c + 3] << 8 | d[c + 4];
        c += 5;
        uint8_t type = (t & 0x80) ? t : (t & 1);
        size_t len = type == OBFS4_PACKET_PRNG_SEED && !(t & 0x40)
                         ? OBFS4_SEED_LEN
                         : L % (OBFS4_MAX_PACKET_PAYLOAD + 1);
        int oversize = (t & 0x70) == 0x70;
        size_t pad = oversize ? OBFS4_MAX_PACKET_PAYLOAD + 1 - len + (P & 0x3F)
                              : P % (OBFS4_MAX_PACKET_PAYLOAD - len + 1);
        size_t wn = evbuffer_get_length(wire);
        if (!oversize && wn + OBFS4_HEADER_LEN + len + pad > MAX_WIRE)
            break;
        size_t from = len < n - c ? len : n - c;
        if (from)
            memcpy(payload, d + c, from);
        c += from;
        for (size_t i = from; i < len; i++)
            payload[i] = (uint8_t)(i * 13 + t);
        /* an exact copy, and NULL for an empty payload sometimes (obfs4.c passes NULL, 0) */
        uint8_t *pl = len == 0 && (t & 0x08) ? NULL : fuzz_exact(payload, len);
        struct obfs4_framer saved = enc;
        int rc = obfs4_frame_packet(&enc, type, pl, len, pad, wire);
        free(pl);
        if (oversize || ctr == 0) {
            /* refused, and nothing changed: not the wire, not the counter, not the DRBG */
            FUZZ_CHECK(rc == -1);
            FUZZ_CHECK(evbuffer_get_length(wire) == wn);
            FUZZ_CHECK(saved.counter == enc.counter);
            FUZZ_CHECK(memcmp(&saved.drbg, &enc.drbg, sizeof enc.drbg) == 0);
            if (ctr == 0)
                break;
            continue;
        }
        FUZZ_CHECK(rc == 0);
        size_t fl = OBFS4_HEADER_LEN + len + pad;
        FUZZ_CHECK(evbuffer_get_length(wire) == wn + fl);
        const uint8_t *w = evbuffer_pullup(wire, -1);
        FUZZ_CHECK(w != NULL);
        check_frame(key, &chk, ctr, w + wn, fl, type, payload, len, pad);
        ctr++;
        struct frame_info fi = { .start = wn, .plain = want.n, .got_seed = want_got };
        memcpy(fi.seed, want_seed, sizeof want_seed);
        buf_add(&frames, &fi, sizeof fi);
        if (type == OBFS4_PACKET_PAYLOAD)
            buf_add(&want, payload, len);
        else if (type == OBFS4_PACKET_PRNG_SEED && len == OBFS4_SEED_LEN) {
            memcpy(want_seed, payload, OBFS4_SEED_LEN);
            want_got = 1;
        }
    }
    obfs4_framer_wipe(&enc);

    size_t wn = evbuffer_get_length(wire);
    uint8_t *w = malloc(wn ? wn : 1);
    if (!w)
        abort();
    FUZZ_CHECK(evbuffer_remove(wire, w, wn) == (int)wn);
    evbuffer_free(wire);

    /* decodes back: reference, whole, one byte at a time, the input's pieces */
    struct ref ref;
    check_wire(key, ctr0, w, wn, pat, d, n, &ref);
    FUZZ_CHECK(ref.lo == 0 && ref.hi == 0 && ref.consumed == wn);
    FUZZ_CHECK(buf_eq(&ref.out, want.p, want.n));
    FUZZ_CHECK(ref.got_seed == want_got);
    FUZZ_CHECK(!want_got || memcmp(ref.seed, want_seed, OBFS4_SEED_LEN) == 0);
    free(ref.out.p);
    if (pat != 0) {
        struct run bytes;
        dut_deframe(key, ctr0, w, wn, 0, d, n, &bytes);
        FUZZ_CHECK(bytes.rc == 0 && bytes.left == 0);
        FUZZ_CHECK(buf_eq(&bytes.out, want.p, want.n));
        FUZZ_CHECK(bytes.got_seed == want_got);
        FUZZ_CHECK(!want_got || memcmp(bytes.seed, want_seed, OBFS4_SEED_LEN) == 0);
        free(bytes.out.p);
    }

    size_t nf = frames.n / sizeof(struct frame_info);
    if (mutate && wn && n >= 3) {
        size_t pos = ((size_t)d[n - 3] << 8 | d[n - 2]) % wn;
        uint8_t x = d[n - 1] ? d[n - 1] : 0x80;
        w[pos] ^= x;
        const struct frame_info *fr = (const struct frame_info *)frames.p;
        size_t k = nf - 1;
        while (fr[k].start > pos)
            k--;
        int in_len = pos - fr[k].start < 2;
        check_wire(key, ctr0, w, wn, pat, d, n, &ref);
        /* the frames before the flip, then -1, or a wait when a length was hit */
        FUZZ_CHECK(buf_eq(&ref.out, want.p, fr[k].plain));
        FUZZ_CHECK(ref.got_seed == fr[k].got_seed);
        FUZZ_CHECK(!ref.got_seed || memcmp(ref.seed, fr[k].seed, OBFS4_SEED_LEN) == 0);
        if (!in_len)
            FUZZ_CHECK(ref.lo == -1 && ref.hi == -1);
        else if (ref.hi == 0)
            FUZZ_CHECK(ref.consumed == fr[k].start + 2);
        free(ref.out.p);
    }
    free(frames.p);
    free(want.p);
    free(w);
}

/* ------------------------------------------------------------------ start-up self-checks */

static void self_check(void)
{
    hex(OKM_HEX, okm, sizeof okm);

    /* the DRBG: KAT §1, and block[n] = SipHash24(K, IV | block[0] | ... | block[n-1]) */
    uint8_t seed[24], msg[8 + 8 * 300], blk[8], want[8];
    for (int i = 0; i < 24; i++)
        seed[i] = (uint8_t)i;
    struct wr_drbg d;
    wr_drbg_init(&d, seed);
    hex("28b572b88c1ab776", want, 8);
    memcpy(msg, seed + 16, 8);
    for (int i = 0; i < 300; i++) {
        wr_drbg_next_block(&d, blk);
        crypto_shorthash_siphash24(want, msg, 8 + 8 * (size_t)i, seed);
        FUZZ_CHECK(memcmp(blk, want, 8) == 0);
        memcpy(msg + 8 + 8 * i, blk, 8);
    }
    hex("a8de197d8e7de4b3", want, 8);
    FUZZ_CHECK(memcmp(msg + 16, want, 8) == 0);

    /* KAT §5: the frames, built and taken apart */
    static const struct {
        int dir, type;
        const char *payload;
        size_t pad;
        const char *wire;
    } kat[4] = {
        { 1, 1, NULL, 0,
          "cba66c6e657a3529ad3a527c9f45bbb3bd2fb2fc0e9449f3f29a190ef69b162f873ecc94ded9ad4548ba1f1d"
          "6c" },
        { 1, 0, "hello obfs4", 0,
          "cdebd39e6a37c1f8b39f2a8021ac2396dafa8640b710139415632473a12b9d73" },
        { 0, 0, "GET / HTTP/1.0\r\n\r\n", 5,
          "a331f7258f907dd7f1e69cdad3cd93d3cfcbe53502c6062fbbd10363d15705e11bc0e869a0b3d76fba65"
          "93a4" },
        { 0, 0, "", 100,
          "41f26f0a91776c8a5ac7a320d96482f95f85316bd6a8b6ad1a166675018360fbb4fe077293de6078d288e560"
          "819cf246e5f6c2179c209adbeb7f44198df001ff7ac9cba62e66e0e9be2ae48ec029286f43f45d6abb4c2ccd"
          "2919d33f4b25c64cbf1281f89f96fa279d7ee57c78f14bcfce38e9c1c3278727b1" },
    };
    uint8_t kseed[OBFS4_SEED_LEN];
    hex("ec68ffe478d58a4ae12e7574e0ca58a3bc09a4d67fb129f9", kseed, sizeof kseed);
    for (int dir = 0; dir < 2; dir++) {
        struct obfs4_framer enc, dec;
        obfs4_framer_init(&enc, okm + 72 * dir);
        obfs4_framer_init(&dec, okm + 72 * dir);
        struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
        FUZZ_CHECK(wire && plain);
        for (int i = 0; i < 4; i++) {
            if (kat[i].dir != dir)
                continue;
            uint8_t fw[200];
            size_t fl = strlen(kat[i].wire) / 2;
            hex(kat[i].wire, fw, fl);
            const uint8_t *p = kat[i].payload ? (const uint8_t *)kat[i].payload : kseed;
            size_t pl = kat[i].payload ? strlen(kat[i].payload) : sizeof kseed;
            FUZZ_CHECK(obfs4_frame_packet(&enc, (uint8_t)kat[i].type, p, pl, kat[i].pad, wire) ==
                       0);
            FUZZ_CHECK(evbuffer_get_length(wire) == fl);
            FUZZ_CHECK(memcmp(evbuffer_pullup(wire, -1), fw, fl) == 0);
            uint8_t s[OBFS4_SEED_LEN];
            int got = 0;
            const char *why = NULL;
            FUZZ_CHECK(obfs4_deframe(&dec, wire, plain, s, &got, &why) == 0);
            FUZZ_CHECK(evbuffer_get_length(wire) == 0);
            if (kat[i].type == 1) {
                FUZZ_CHECK(got && memcmp(s, kseed, sizeof s) == 0);
            } else {
                FUZZ_CHECK(!got && evbuffer_get_length(plain) == pl);
                FUZZ_CHECK(!pl || memcmp(evbuffer_pullup(plain, -1), p, pl) == 0);
                evbuffer_drain(plain, pl);
            }
        }
        evbuffer_free(wire);
        evbuffer_free(plain);
    }
}

/* ------------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        FUZZ_CHECK(sodium_init() >= 0);
        self_check();
        ready = 1;
    }
    if (size < 1)
        return 0;
    unsigned pat = data[0] & 7;
    const uint8_t *key = okm + ((data[0] >> 3) & 1) * 72;
    uint64_t ctr0 = (data[0] & 0x10) ? UINT64_MAX - ((data[0] >> 5) & 3) : 1;
    int mutate = data[0] >> 7;
    const uint8_t *body = data + 1;
    size_t bn = size - 1;
    if (bn > MAX_WIRE)
        bn = MAX_WIRE;
    struct ref ref;

    /* 1. raw */
    check_wire(key, ctr0, body, bn, pat, body, bn, &ref);
    free(ref.out.p);

    /* 2. scripted */
    struct buf w = { 0 };
    script_wire(key, ctr0, body, bn, &w);
    check_wire(key, ctr0, w.p, w.n, pat, body, bn, &ref);
    free(ref.out.p);
    free(w.p);

    /* 3. round trip (and a flip) */
    round_trip(key, ctr0, pat, mutate, body, bn);
    return 0;
}
