/* test_obfs4.c: obfs4's ntor, key derivation, handshake messages and frames against the
 * known-answer vectors generated from obfs4proxy 0.0.14 (shared/testdata/obfs4_kat.txt §3-§5),
 * plus the parsers' handling of partial, corrupt and replayed input. The file is read at run
 * time (OBFS4_KAT names it; by default tests/unit/data/obfs4_kat.txt, a copy of the shared file). */
#include "unit.h"

#include <event2/buffer.h>
#include <sodium.h>
#include <stdlib.h>

#include "transports/obfs4/framing.h"
#include "transports/obfs4/handshake.h"
#include "transports/obfs4/ntor.h"
#include "transports/obfs4/replay.h"

/* --- the KAT file ----------------------------------------------------------------------- */

static char *kat;

static void load_kat(void)
{
    const char *path = getenv("OBFS4_KAT");
    if (!path)
        path = WARREN_TEST_DATA "/obfs4_kat.txt";
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open the KAT file %s (set OBFS4_KAT)", path);
    kat = calloc(1, 1 << 20);
    size_t n = fread(kat, 1, (1 << 20) - 1, f);
    kat[n] = '\0';
    fclose(f);
}

/* The hex after the first occurrence of label (after `after`, when given), decoded into out. */
static size_t kat_hex(const char *after, const char *label, uint8_t *out, size_t max)
{
    const char *p = kat;
    if (after) {
        p = strstr(p, after);
        if (!p)
            fail_msg("KAT: no '%s'", after);
    }
    p = strstr(p, label);
    if (!p)
        fail_msg("KAT: no '%s'", label);
    p += strlen(label);
    while (*p == ' ')
        p++;
    size_t n = 0;
    const char *end;
    if (sodium_hex2bin(out, max, p, strcspn(p, " \n"), NULL, &n, &end) != 0)
        fail_msg("KAT: bad hex after '%s'", label);
    return n;
}

static void kat_fixed(const char *after, const char *label, uint8_t *out, size_t len)
{
    size_t n = kat_hex(after, label, out, len);
    if (n != len)
        fail_msg("KAT: '%s' has %zu bytes, want %zu", label, n, len);
}

#define CHECK_BYTES(what, got, want, len)                                                       \
    do {                                                                                        \
        if (memcmp((got), (want), (len)) != 0) {                                                \
            char g_[2 * 200 + 1], w_[2 * 200 + 1];                                              \
            size_t l_ = (len) > 200 ? 200 : (len);                                              \
            sodium_bin2hex(g_, sizeof g_, (got), l_);                                           \
            sodium_bin2hex(w_, sizeof w_, (want), l_);                                          \
            fail_msg("%s:\n got  %s\n want %s", (what), g_, w_);                                \
        }                                                                                       \
    } while (0)

struct ids {
    uint8_t node_id[20], b[32], B[32], x[32], X[32], Xr[32], y[32], Y[32], Yr[32];
};

static void read_ids(struct ids *k)
{
    kat_fixed("## 3.", "NODEID =", k->node_id, 20);
    kat_fixed("## 3.", "identity b (private) =", k->b, 32);
    kat_fixed("## 3.", "identity B (public, std X25519) =", k->B, 32);
    kat_fixed("client ephemeral", " x=", k->x, 32);
    kat_fixed("client ephemeral", "   X=", k->X, 32);
    kat_fixed("client ephemeral", "   X'=", k->Xr, 32);
    kat_fixed("server ephemeral", " y=", k->y, 32);
    kat_fixed("server ephemeral", "   Y=", k->Y, 32);
    kat_fixed("server ephemeral", "   Y'=", k->Yr, 32);
}

/* --- ntor and KDF ----------------------------------------------------------------------- */

static void test_ntor_kat(void **state)
{
    struct ids k;
    uint8_t want_seed[32], want_auth[32], seed[32], auth[32];
    read_ids(&k);
    kat_fixed("server ok=true", "KEY_SEED=", want_seed, 32);
    kat_fixed("server ok=true", "AUTH=", want_auth, 32);

    uint8_t B[32];
    crypto_scalarmult_base(B, k.b);
    CHECK_BYTES("B = X25519(b, 9)", B, k.B, 32);

    assert_int_equal(obfs4_ntor_server(k.X, k.y, k.Y, k.b, k.B, k.node_id, seed, auth), 0);
    CHECK_BYTES("server KEY_SEED", seed, want_seed, 32);
    CHECK_BYTES("server AUTH", auth, want_auth, 32);

    memset(seed, 0, 32);
    memset(auth, 0, 32);
    assert_int_equal(obfs4_ntor_client(k.x, k.X, k.Y, k.B, k.node_id, seed, auth), 0);
    CHECK_BYTES("client KEY_SEED", seed, want_seed, 32);
    CHECK_BYTES("client AUTH", auth, want_auth, 32);

    uint8_t okm[OBFS4_OKM_LEN], want[OBFS4_OKM_LEN];
    kat_fixed("Kdf(KEY_SEED", "okm[  0: 36] =", want, 36);
    kat_fixed("Kdf(KEY_SEED", "okm[ 36: 72] =", want + 36, 36);
    kat_fixed("Kdf(KEY_SEED", "okm[ 72:108] =", want + 72, 36);
    kat_fixed("Kdf(KEY_SEED", "okm[108:144] =", want + 108, 36);
    assert_int_equal(obfs4_kdf(want_seed, okm), 0);
    CHECK_BYTES("KDF output", okm, want, sizeof okm);
}

static void test_ntor_rejects_low_order_keys(void **state)
{
    struct ids k;
    uint8_t zero[32] = { 0 }, one[32] = { 1 }, seed[32], auth[32];
    read_ids(&k);
    /* u = 0 and u = 1 give an all-zero shared secret: the handshake must fail. */
    assert_int_equal(obfs4_ntor_server(zero, k.y, k.Y, k.b, k.B, k.node_id, seed, auth), -1);
    assert_int_equal(obfs4_ntor_server(one, k.y, k.Y, k.b, k.B, k.node_id, seed, auth), -1);
    assert_int_equal(obfs4_ntor_client(k.x, k.X, zero, k.B, k.node_id, seed, auth), -1);
    assert_int_equal(obfs4_ntor_client(k.x, k.X, k.Y, one, k.node_id, seed, auth), -1);
}

/* --- handshake messages ----------------------------------------------------------------- */

/* The KAT's epoch hour 490000 is unix time 490000 * 3600. */
#define KAT_NOW (490000LL * 3600 + 1234)

static void test_client_request_kat(void **state)
{
    struct ids k;
    uint8_t mackey[OBFS4_MACKEY_LEN], pad[85], req[OBFS4_MAX_HANDSHAKE], want[149];
    read_ids(&k);
    kat_fixed("## 4.", "clientRequest (149 bytes) =", want, sizeof want);
    obfs4_mackey(k.B, k.node_id, mackey);
    memset(pad, 0xAA, sizeof pad);
    assert_int_equal(obfs4_client_request(mackey, k.Xr, pad, sizeof pad, "490000", req), 149);
    CHECK_BYTES("client request", req, want, 149);

    /* The server accepts it in the same hour and in the hours either side, not two off. */
    uint8_t repr[32], mac[16];
    char epoch[OBFS4_EPOCH_MAX];
    const char *why = NULL;
    for (int off = -1; off <= 1; off++) {
        assert_int_equal(obfs4_parse_client_request(mackey, req, 149, KAT_NOW + off * 3600LL,
                                                    repr, mac, epoch, &why), OBFS4_HS_DONE);
        CHECK_BYTES("client repr", repr, k.Xr, 32);
        CHECK_BYTES("client MAC", mac, want + 133, 16);
        CHECK_STR("epoch", epoch, "490000");
    }
    assert_int_equal(obfs4_parse_client_request(mackey, req, 149, KAT_NOW + 2 * 3600LL, repr, mac,
                                                epoch, &why), OBFS4_HS_INVALID);
    CHECK_CONTAINS("two hours off", why, "MAC");
    assert_int_equal(obfs4_parse_client_request(mackey, req, 149, KAT_NOW - 2 * 3600LL, repr, mac,
                                                epoch, &why), OBFS4_HS_INVALID);

    /* Every strict prefix is "more"; a wrong key never finds the mark; junk past 8192 fails. */
    for (size_t n = 0; n < 149; n++)
        assert_int_equal(obfs4_parse_client_request(mackey, req, n, KAT_NOW, repr, mac, epoch,
                                                    &why), OBFS4_HS_MORE);
    uint8_t other[OBFS4_MACKEY_LEN];
    memcpy(other, mackey, sizeof other);
    other[0] ^= 1;
    assert_int_equal(obfs4_parse_client_request(other, req, 149, KAT_NOW, repr, mac, epoch, &why),
                     OBFS4_HS_MORE);
    uint8_t junk[OBFS4_MAX_HANDSHAKE + 10];
    memset(junk, 0x42, sizeof junk);
    assert_int_equal(obfs4_parse_client_request(mackey, junk, OBFS4_MAX_HANDSHAKE - 1, KAT_NOW,
                                                repr, mac, epoch, &why), OBFS4_HS_MORE);
    assert_int_equal(obfs4_parse_client_request(mackey, junk, sizeof junk, KAT_NOW, repr, mac,
                                                epoch, &why), OBFS4_HS_INVALID);
    /* A corrupted MAC is refused outright (the mark is found). */
    req[148] ^= 0x80;
    assert_int_equal(obfs4_parse_client_request(mackey, req, 149, KAT_NOW, repr, mac, epoch, &why),
                     OBFS4_HS_INVALID);
}

static void test_client_request_longest(void **state)
{
    struct ids k;
    uint8_t mackey[OBFS4_MACKEY_LEN], req[OBFS4_MAX_HANDSHAKE + 64], repr[32], mac[16];
    static uint8_t pad[OBFS4_CLIENT_MAX_PAD];
    char epoch[OBFS4_EPOCH_MAX];
    const char *why = NULL;
    read_ids(&k);
    obfs4_mackey(k.B, k.node_id, mackey);
    randombytes_buf(pad, sizeof pad);
    size_t n = obfs4_client_request(mackey, k.Xr, pad, sizeof pad, "490000", req);
    assert_int_equal(n, OBFS4_MAX_HANDSHAKE);
    assert_int_equal(obfs4_parse_client_request(mackey, req, n, KAT_NOW, repr, mac, epoch, &why),
                     OBFS4_HS_DONE);
    /* A byte more than the request: refused, as obfs4proxy refuses it. */
    req[n] = 0;
    assert_int_equal(obfs4_parse_client_request(mackey, req, n + 1, KAT_NOW, repr, mac, epoch, &why),
                     OBFS4_HS_INVALID);
}

static void test_server_response_kat(void **state)
{
    struct ids k;
    uint8_t mackey[OBFS4_MACKEY_LEN], auth[32], pad[10], resp[OBFS4_MAX_HANDSHAKE], want[106];
    read_ids(&k);
    kat_fixed("server ok=true", "AUTH=", auth, 32);
    kat_fixed("## 4.", "serverResponse (106 bytes, before the inline PRNG-seed frame) =", want,
              sizeof want);
    obfs4_mackey(k.B, k.node_id, mackey);
    memset(pad, 0x55, sizeof pad);
    assert_int_equal(obfs4_server_response(mackey, k.Yr, auth, pad, sizeof pad, "490000", resp),
                     106);
    CHECK_BYTES("server response", resp, want, 106);

    uint8_t repr[32], got_auth[32];
    size_t used = 0;
    const char *why = NULL;
    /* Frames may follow the response in the same read. */
    memset(resp + 106, 0x77, 50);
    assert_int_equal(obfs4_parse_server_response(mackey, resp, 156, "490000", repr, got_auth,
                                                 &used, &why), OBFS4_HS_DONE);
    assert_int_equal(used, 106);
    CHECK_BYTES("server repr", repr, k.Yr, 32);
    CHECK_BYTES("server auth", got_auth, auth, 32);
    for (size_t n = 0; n < 106; n++)
        assert_int_equal(obfs4_parse_server_response(mackey, resp, n, "490000", repr, got_auth,
                                                     &used, &why), OBFS4_HS_MORE);
    /* The client checks with its own hour only. */
    assert_int_equal(obfs4_parse_server_response(mackey, resp, 106, "490001", repr, got_auth,
                                                 &used, &why), OBFS4_HS_INVALID);
    uint8_t junk[OBFS4_MAX_HANDSHAKE];
    memset(junk, 0x13, sizeof junk);
    assert_int_equal(obfs4_parse_server_response(mackey, junk, sizeof junk, "490000", repr,
                                                 got_auth, &used, &why), OBFS4_HS_INVALID);
}

/* --- frames ----------------------------------------------------------------------------- */

struct kat_frame {
    const char *label;
    int dir;                /* 0: client->server keys (okm[0:72]), 1: server->client */
    uint8_t type;
    const char *payload;    /* NULL: the seed */
    size_t pad;
};

static const struct kat_frame frames[] = {
    { "server frame #1", 1, OBFS4_PACKET_PRNG_SEED, NULL, 0 },
    { "server frame #2", 1, OBFS4_PACKET_PAYLOAD, "hello obfs4", 0 },
    { "client frame #1", 0, OBFS4_PACKET_PAYLOAD, "GET / HTTP/1.0\r\n\r\n", 5 },
    { "client frame #2", 0, OBFS4_PACKET_PAYLOAD, "", 100 },
};

static void kdf_from_kat(uint8_t okm[OBFS4_OKM_LEN])
{
    uint8_t seed[32];
    kat_fixed("server ok=true", "KEY_SEED=", seed, 32);
    assert_int_equal(obfs4_kdf(seed, okm), 0);
}

static void test_frames_kat(void **state)
{
    uint8_t okm[OBFS4_OKM_LEN], seed[OBFS4_SEED_LEN];
    kdf_from_kat(okm);
    kat_fixed("server frame #1", "seed=", seed, sizeof seed);
    struct obfs4_framer enc[2], dec[2];
    for (int d = 0; d < 2; d++) {
        obfs4_framer_init(&enc[d], okm + 72 * d);
        obfs4_framer_init(&dec[d], okm + 72 * d);
    }
    for (size_t i = 0; i < N_ELEMS(frames); i++) {
        const struct kat_frame *t = &frames[i];
        uint8_t want[OBFS4_MAX_SEGMENT], got[OBFS4_MAX_SEGMENT];
        size_t wl = kat_hex(t->label, ":\n", want, sizeof want);
        const uint8_t *pl = t->payload ? (const uint8_t *)t->payload : seed;
        size_t plen = t->payload ? strlen(t->payload) : sizeof seed;
        struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
        assert_int_equal(obfs4_frame_packet(&enc[t->dir], t->type, pl, plen, t->pad, wire), 0);
        assert_int_equal(evbuffer_get_length(wire), wl);
        evbuffer_copyout(wire, got, wl);
        CHECK_BYTES(t->label, got, want, wl);

        /* Decode it one byte at a time. */
        uint8_t s[OBFS4_SEED_LEN];
        int got_seed = 0;
        const char *why = NULL;
        struct evbuffer *in = evbuffer_new();
        for (size_t j = 0; j < wl; j++) {
            evbuffer_add(in, want + j, 1);
            assert_int_equal(obfs4_deframe(&dec[t->dir], in, plain, s, &got_seed, &why), 0);
        }
        assert_int_equal(evbuffer_get_length(in), 0);
        if (t->type == OBFS4_PACKET_PRNG_SEED) {
            assert_true(got_seed);
            CHECK_BYTES("seed", s, seed, sizeof seed);
            assert_int_equal(evbuffer_get_length(plain), 0);
        } else {
            assert_false(got_seed);
            assert_int_equal(evbuffer_get_length(plain), plen);
            if (plen)
                CHECK_BYTES("payload", evbuffer_pullup(plain, -1), pl, plen);
        }
        evbuffer_free(in);
        evbuffer_free(wire);
        evbuffer_free(plain);
    }
}

/* A frame that fails authentication, a bad length and a corrupted packet each end the stream;
 * the bad length only after the random number of bytes the decoder then waits for. */
static void test_frames_corrupt(void **state)
{
    uint8_t okm[OBFS4_OKM_LEN];
    kdf_from_kat(okm);
    for (int flip = 0; flip < 3; flip++) {
        struct obfs4_framer enc, dec;
        obfs4_framer_init(&enc, okm);
        obfs4_framer_init(&dec, okm);
        struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
        assert_int_equal(obfs4_frame_packet(&enc, 0, (const uint8_t *)"abc", 3, 0, wire), 0);
        uint8_t *b = evbuffer_pullup(wire, -1);
        size_t wl = evbuffer_get_length(wire);
        if (flip == 0)
            b[wl - 1] ^= 1;                     /* ciphertext */
        else if (flip == 1)
            b[0] ^= 0x40;                       /* length: now far out of range */
        else
            b[5] ^= 1;                          /* tag */
        uint8_t s[OBFS4_SEED_LEN];
        int got_seed = 0, r = 0;
        const char *why = NULL;
        /* Feed junk after it, so a length of up to 1446 can be satisfied. */
        uint8_t junk[1500] = { 0 };
        evbuffer_add(wire, junk, sizeof junk);
        r = obfs4_deframe(&dec, wire, plain, s, &got_seed, &why);
        assert_int_equal(r, -1);
        assert_non_null(why);
        assert_int_equal(evbuffer_get_length(plain), 0);
        evbuffer_free(wire);
        evbuffer_free(plain);
    }
}

static void test_packet_bounds(void **state)
{
    uint8_t okm[OBFS4_OKM_LEN], big[OBFS4_MAX_PACKET_PAYLOAD + 1] = { 0 };
    kdf_from_kat(okm);
    struct obfs4_framer enc, dec;
    obfs4_framer_init(&enc, okm);
    obfs4_framer_init(&dec, okm);
    struct evbuffer *wire = evbuffer_new(), *plain = evbuffer_new();
    assert_int_equal(obfs4_frame_packet(&enc, 0, big, sizeof big, 0, wire), -1);
    assert_int_equal(obfs4_frame_packet(&enc, 0, big, OBFS4_MAX_PACKET_PAYLOAD - 7, 7, wire), 0);
    assert_int_equal(evbuffer_get_length(wire), OBFS4_MAX_SEGMENT);
    /* An unknown packet type is authenticated and ignored. */
    assert_int_equal(obfs4_frame_packet(&enc, 9, big, 10, 0, wire), 0);
    assert_int_equal(obfs4_frame_packet(&enc, 0, (const uint8_t *)"z", 1, 0, wire), 0);
    uint8_t s[OBFS4_SEED_LEN];
    int got_seed = 0;
    const char *why = NULL;
    assert_int_equal(obfs4_deframe(&dec, wire, plain, s, &got_seed, &why), 0);
    assert_int_equal(evbuffer_get_length(plain), OBFS4_MAX_PACKET_PAYLOAD - 7 + 1);
    evbuffer_free(wire);
    evbuffer_free(plain);
}

/* --- replay filter ---------------------------------------------------------------------- */

static void test_replay_filter(void **state)
{
    struct obfs4_replay *r = obfs4_replay_new();
    assert_non_null(r);
    uint8_t mac[16] = { 1 };
    assert_int_equal(obfs4_replay_test_and_set(r, 1000, mac, 16), 0);
    assert_int_equal(obfs4_replay_test_and_set(r, 1001, mac, 16), 1);
    assert_int_equal(obfs4_replay_test_and_set(r, 1000 + OBFS4_REPLAY_TTL_S - 1, mac, 16), 1);
    /* After 3 hours it is forgotten (and remembered again). */
    assert_int_equal(obfs4_replay_test_and_set(r, 1000 + OBFS4_REPLAY_TTL_S, mac, 16), 0);
    assert_int_equal(obfs4_replay_test_and_set(r, 1000 + OBFS4_REPLAY_TTL_S, mac, 16), 1);
    obfs4_replay_free(r);

    /* Many entries: the newest are all remembered, the oldest forgotten, through several
     * table rebuilds. A full filter drops its oldest entry before it looks (as upstream's
     * compactFilter does), so the next call sees the newest 102,399. */
    r = obfs4_replay_new();
    const uint32_t total = OBFS4_REPLAY_MAX * 3;
    for (uint32_t i = 0; i < total; i++) {
        uint8_t m[16] = { 0 };
        memcpy(m, &i, sizeof i);
        if (obfs4_replay_test_and_set(r, 5000, m, 16) != 0)
            fail_msg("entry %u reported as seen", i);
    }
    for (uint32_t i = total - OBFS4_REPLAY_MAX + 1; i < total; i += 97) {
        uint8_t m[16] = { 0 };
        memcpy(m, &i, sizeof i);
        if (obfs4_replay_test_and_set(r, 5000, m, 16) != 1)
            fail_msg("recent entry %u forgotten", i);
    }
    uint32_t old = 5;
    uint8_t m[16] = { 0 };
    memcpy(m, &old, sizeof old);
    assert_int_equal(obfs4_replay_test_and_set(r, 5000, m, 16), 0);
    /* A clock that goes back forgets everything. */
    assert_int_equal(obfs4_replay_test_and_set(r, 10, m, 16), 0);
    obfs4_replay_free(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    load_kat();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ntor_kat),
        cmocka_unit_test(test_ntor_rejects_low_order_keys),
        cmocka_unit_test(test_client_request_kat),
        cmocka_unit_test(test_client_request_longest),
        cmocka_unit_test(test_server_response_kat),
        cmocka_unit_test(test_frames_kat),
        cmocka_unit_test(test_frames_corrupt),
        cmocka_unit_test(test_packet_bounds),
        cmocka_unit_test(test_replay_filter),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    free(kat);
    return r;
}
