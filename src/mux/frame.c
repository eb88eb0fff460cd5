/* frame.c: mux frames; see frame.h and docs/spec/mux.md §2. */
#include "mux/frame.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wr_mux_frame_parse(const uint8_t *p, size_t n, struct wr_mux_frame *f, size_t *used,
                       const char **why)
{
    if (n < WR_MUX_HEADER)
        return WR_MUX_MORE;
    if (p[0] != WR_MUX_VERSION) {
        *why = "unknown mux version";
        return WR_MUX_BAD;
    }
    f->type = p[1];
    f->len = (size_t)p[2] << 8 | p[3];
    f->sid = be32(p + 4);
    if (n < WR_MUX_HEADER + f->len)
        return WR_MUX_MORE;
    f->payload = p + WR_MUX_HEADER;
    *used = WR_MUX_HEADER + f->len;
    if (f->type >= 0x80 || f->type == WR_MUX_PAD)
        return WR_MUX_SKIP;
    size_t want;
    int session = 0;                    /* must the id be 0? (1 yes, -1 must not, 0 either) */
    switch (f->type) {
    case WR_MUX_DATA: want = f->len; session = -1; break;
    case WR_MUX_OPEN: want = f->len; session = -1; break;
    case WR_MUX_REPLY: want = 1; session = -1; break;
    case WR_MUX_WINDOW: want = 4; session = -1; break;
    case WR_MUX_FIN: want = 0; session = -1; break;
    case WR_MUX_RST: want = 1; session = -1; break;
    case WR_MUX_PING: case WR_MUX_PONG: want = 8; session = 1; break;
    case WR_MUX_GOAWAY: want = 5; session = 1; break;
    default:
        *why = "reserved frame type";
        return WR_MUX_BAD;
    }
    if (f->len != want) {
        *why = "frame payload length does not fit its type";
        return WR_MUX_BAD;
    }
    if ((session == 1 && f->sid != 0) || (session == -1 && f->sid == 0)) {
        *why = f->sid ? "session frame on a stream id" : "stream frame on stream id 0";
        return WR_MUX_BAD;
    }
    switch (f->type) {
    case WR_MUX_REPLY: case WR_MUX_RST:
        f->status = f->payload[0];
        break;
    case WR_MUX_WINDOW:
        f->value = be32(f->payload);
        if (f->value == 0 || f->value > 0x7FFFFFFFu) {
            *why = "window increment out of range";
            return WR_MUX_BAD;
        }
        break;
    case WR_MUX_GOAWAY:
        f->value = be32(f->payload);
        f->status = f->payload[4];
        break;
    }
    return WR_MUX_FRAME;
}

void wr_mux_put_header(struct evbuffer *out, uint8_t type, size_t len, uint32_t sid)
{
    uint8_t h[WR_MUX_HEADER] = { WR_MUX_VERSION, type, (uint8_t)(len >> 8), (uint8_t)len,
                                 (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8),
                                 (uint8_t)sid };
    evbuffer_add(out, h, sizeof h);
}

static void put_u32(struct evbuffer *out, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
    evbuffer_add(out, b, 4);
}

void wr_mux_put_reply(struct evbuffer *out, uint32_t sid, uint8_t status)
{
    wr_mux_put_header(out, WR_MUX_REPLY, 1, sid);
    evbuffer_add(out, &status, 1);
}

void wr_mux_put_window(struct evbuffer *out, uint32_t sid, uint32_t increment)
{
    wr_mux_put_header(out, WR_MUX_WINDOW, 4, sid);
    put_u32(out, increment);
}

void wr_mux_put_fin(struct evbuffer *out, uint32_t sid)
{
    wr_mux_put_header(out, WR_MUX_FIN, 0, sid);
}

void wr_mux_put_rst(struct evbuffer *out, uint32_t sid, uint8_t code)
{
    wr_mux_put_header(out, WR_MUX_RST, 1, sid);
    evbuffer_add(out, &code, 1);
}

void wr_mux_put_ping(struct evbuffer *out, uint8_t type, const uint8_t opaque[8])
{
    wr_mux_put_header(out, type, 8, 0);
    evbuffer_add(out, opaque, 8);
}

void wr_mux_put_goaway(struct evbuffer *out, uint32_t last_id, uint8_t code)
{
    wr_mux_put_header(out, WR_MUX_GOAWAY, 5, 0);
    put_u32(out, last_id);
    evbuffer_add(out, &code, 1);
}
