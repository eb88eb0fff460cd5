/* test_udp_frame.c: datagram framing on a stream (modes/udp_frame.c): the 2-byte length form
 * and STUN's own header, whole, cut at every byte, back to back, and malformed. */
#include "unit.h"

#include <stdlib.h>

#include "modes/udp_frame.h"

static size_t stun_msg(uint8_t *out, size_t attrs)
{
    out[0] = 0x00, out[1] = 0x01;                       /* Binding request */
    out[2] = (uint8_t)(attrs >> 8), out[3] = (uint8_t)attrs;
    out[4] = 0x21, out[5] = 0x12, out[6] = 0xA4, out[7] = 0x42;
    for (size_t i = 8; i < 20 + attrs; i++)
        out[i] = (uint8_t)(i * 13);
    return 20 + attrs;
}

static void test_stun_check(void **state)
{
    uint8_t m[200];
    size_t n = stun_msg(m, 8);
    assert_true(wr_stun_check(m, n));
    assert_false(wr_stun_check(m, n - 1));              /* length disagrees */
    assert_false(wr_stun_check(m, 19));
    m[0] |= 0x40;                                       /* TURN ChannelData, or junk */
    assert_false(wr_stun_check(m, n));
    m[0] &= 0x3F;
    m[7] = 0x43;                                        /* RFC 3489: no magic cookie */
    assert_false(wr_stun_check(m, n));
    n = stun_msg(m, 6);                                 /* not a multiple of 4 */
    assert_false(wr_stun_check(m, n));
    n = stun_msg(m, 0);
    assert_true(wr_stun_check(m, n));
}

/* A stream of frames, cut anywhere: exactly the datagrams written come out. */
static void test_roundtrip(void **state)
{
    for (int stun = 0; stun <= 1; stun++) {
        static uint8_t stream[3 * (2 + 70000)];
        size_t lens[] = { 1, 1400, 0, 60000, 4 };
        size_t n = 0, count = 0;
        for (size_t i = 0; i < N_ELEMS(lens); i++) {
            if (stun) {
                n += stun_msg(stream + n, lens[i] & ~(size_t)3);
            } else {
                wr_udp_frame_header(stream + n, lens[i]);
                for (size_t j = 0; j < lens[i]; j++)
                    stream[n + 2 + j] = (uint8_t)(i + j);
                n += 2 + lens[i];
            }
            count++;
        }
        size_t pos = 0, got = 0;
        while (pos < n) {
            size_t off, len, used;
            const char *why = NULL;
            /* Every strict prefix of the next frame is MORE. */
            for (size_t cut = 0; cut < 25 && pos + cut < n; cut++) {
                int r = wr_udp_frame_next(stream + pos, cut, stun, &off, &len, &used, &why);
                if (r == WR_UDP_FRAME_OK)
                    break;
                assert_int_equal(r, WR_UDP_FRAME_MORE);
            }
            assert_int_equal(wr_udp_frame_next(stream + pos, n - pos, stun, &off, &len, &used, &why),
                             WR_UDP_FRAME_OK);
            size_t want = stun ? 20 + (lens[got] & ~(size_t)3) : lens[got];
            assert_int_equal(len, want);
            assert_int_equal(used, off + len);
            assert_int_equal(wr_udp_frame_next(stream + pos, used - 1, stun, &off, &len, &used, &why),
                             WR_UDP_FRAME_MORE);
            wr_udp_frame_next(stream + pos, n - pos, stun, &off, &len, &used, &why);
            pos += used;
            got++;
        }
        assert_int_equal(got, count);
    }
}

static void test_bad_frames(void **state)
{
    size_t off, len, used;
    const char *why = NULL;
    uint8_t big[2] = { 0xFF, 0xFF };                    /* 65535 > 65507 */
    assert_int_equal(wr_udp_frame_next(big, 2, 0, &off, &len, &used, &why), WR_UDP_FRAME_BAD);
    CHECK_CONTAINS("big", why, "larger than any datagram");
    uint8_t max[2] = { 0xFF, 0xE3 };                    /* 65507: allowed, needs its bytes */
    assert_int_equal(wr_udp_frame_next(max, 2, 0, &off, &len, &used, &why), WR_UDP_FRAME_MORE);
    uint8_t junk[20] = { 0x16, 0x03, 0x01 };            /* a TLS record in STUN mode */
    assert_int_equal(wr_udp_frame_next(junk, 20, 1, &off, &len, &used, &why), WR_UDP_FRAME_BAD);
    CHECK_CONTAINS("junk", why, "not STUN");
    uint8_t m[100];
    stun_msg(m, 8);
    m[3] = 7;
    assert_int_equal(wr_udp_frame_next(m, 28, 1, &off, &len, &used, &why), WR_UDP_FRAME_BAD);
    CHECK_CONTAINS("odd length", why, "multiple of 4");
    uint8_t empty[2] = { 0, 0 };
    assert_int_equal(wr_udp_frame_next(empty, 2, 0, &off, &len, &used, &why), WR_UDP_FRAME_OK);
    assert_int_equal(len, 0);
    assert_int_equal(used, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stun_check),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
