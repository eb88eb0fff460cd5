/* fuzz_mux_frame.c: the mux frame parser (mux/frame.c) on arbitrary bytes, frame after frame.
 * Invariants: a frame lies inside the input and is header + its length; fixed-length types have
 * their length; ids are 0 exactly for session frames; MORE only when the input is shorter than
 * the next frame; rebuilding each control frame with the wr_mux_put_* encoders gives back the
 * very same bytes. */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mux/frame.h"

static void check_rebuild(const struct wr_mux_frame *f, const uint8_t *raw, size_t used)
{
    struct evbuffer *b = evbuffer_new();
    switch (f->type) {
    case WR_MUX_REPLY: wr_mux_put_reply(b, f->sid, f->status); break;
    case WR_MUX_WINDOW: wr_mux_put_window(b, f->sid, f->value); break;
    case WR_MUX_FIN: wr_mux_put_fin(b, f->sid); break;
    case WR_MUX_RST: wr_mux_put_rst(b, f->sid, f->status); break;
    case WR_MUX_PING: case WR_MUX_PONG: wr_mux_put_ping(b, f->type, f->payload); break;
    case WR_MUX_GOAWAY: wr_mux_put_goaway(b, f->value, f->status); break;
    default:
        wr_mux_put_header(b, f->type, f->len, f->sid);
        evbuffer_add(b, f->payload, f->len);
    }
    FUZZ_CHECK(evbuffer_get_length(b) == used);
    FUZZ_CHECK(!memcmp(evbuffer_pullup(b, -1), raw, used));
    evbuffer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = fuzz_exact(data, size);
    size_t pos = 0;
    for (int frames = 0; frames < 1000; frames++) {
        struct wr_mux_frame f;
        size_t used = 0;
        const char *why = NULL;
        int r = wr_mux_frame_parse(p + pos, size - pos, &f, &used, &why);
        if (r == WR_MUX_MORE) {
            FUZZ_CHECK(size - pos < WR_MUX_HEADER ||
                       size - pos < WR_MUX_HEADER + ((size_t)p[pos + 2] << 8 | p[pos + 3]));
            break;
        }
        if (r == WR_MUX_BAD) {
            FUZZ_CHECK(why && *why);
            break;
        }
        FUZZ_CHECK(used == WR_MUX_HEADER + f.len && used <= size - pos);
        if (r == WR_MUX_FRAME) {
            int session = f.type == WR_MUX_PING || f.type == WR_MUX_PONG || f.type == WR_MUX_GOAWAY;
            FUZZ_CHECK(session == (f.sid == 0));
            FUZZ_CHECK(f.type <= WR_MUX_GOAWAY);
            if (f.type == WR_MUX_WINDOW)
                FUZZ_CHECK(f.value >= 1 && f.value <= 0x7FFFFFFFu);
            check_rebuild(&f, p + pos, used);
        } else {
            FUZZ_CHECK(f.type >= 0x80 || f.type == WR_MUX_PAD);
        }
        pos += used;
    }
    free(p);
    return 0;
}
