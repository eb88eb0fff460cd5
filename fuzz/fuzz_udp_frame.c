/* fuzz_udp_frame.c: datagram framing (modes/udp_frame.c) on arbitrary streams. Byte 0 picks
 * the framing (bit 0: STUN). Invariants: a frame found lies inside the input and is exactly
 * what its header says; reading frame after frame consumes the stream front to back; MORE
 * only when the input is shorter than the frame; in STUN mode every frame passes
 * wr_stun_check on its own; re-framing the transparent-UDP datagrams gives back the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "modes/udp_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int stun = data[0] & 1;
    uint8_t *p = fuzz_exact(data + 1, size - 1);
    size_t n = size - 1, pos = 0;
    uint8_t *again = malloc(n + 1);
    size_t alen = 0;
    for (;;) {
        size_t off = 0, len = 0, used = 0;
        const char *why = NULL;
        int r = wr_udp_frame_next(p + pos, n - pos, stun, &off, &len, &used, &why);
        if (r == WR_UDP_FRAME_MORE)
            break;
        if (r == WR_UDP_FRAME_BAD) {
            FUZZ_CHECK(why && *why);
            break;
        }
        FUZZ_CHECK(r == WR_UDP_FRAME_OK && used == off + len && used <= n - pos && used > 0);
        FUZZ_CHECK(len <= WR_UDP_MAX_DATAGRAM);
        if (stun) {
            FUZZ_CHECK(wr_stun_check(p + pos, len));
        } else {
            wr_udp_frame_header(again + alen, len);
            memcpy(again + alen + 2, p + pos + 2, len);
            alen += 2 + len;
        }
        pos += used;
    }
    if (!stun)
        FUZZ_CHECK(alen == pos && !memcmp(again, p, pos));
    free(again);
    free(p);
    return 0;
}
