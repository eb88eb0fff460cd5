/* frame.h: the frames of warren's mux (docs/spec/mux.md §2), pure code: one encoder per type
 * and a decoder that takes whole frames off the front of a buffer and checks every rule that
 * needs no session state (version, reserved types, payload lengths per type). */
#ifndef WARREN_MUX_FRAME_H
#define WARREN_MUX_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>

#define WR_MUX_VERSION 1
#define WR_MUX_HEADER 8
#define WR_MUX_MAX_PAYLOAD 65535
#define WR_MUX_DATA_CHUNK 16384         /* DATA payloads we send, at most */
#define WR_MUX_INIT_WINDOW (256 * 1024)
#define WR_MUX_MAX_WINDOW (16 * 1024 * 1024)

enum wr_mux_type {
    WR_MUX_DATA = 0x00, WR_MUX_OPEN = 0x01, WR_MUX_REPLY = 0x02, WR_MUX_WINDOW = 0x03,
    WR_MUX_FIN = 0x04, WR_MUX_RST = 0x05, WR_MUX_PING = 0x06, WR_MUX_PONG = 0x07,
    WR_MUX_GOAWAY = 0x08, WR_MUX_PAD = 0x09,
};

enum { WR_MUX_RST_CANCEL = 0, WR_MUX_RST_ERROR = 1, WR_MUX_RST_FLOW = 2 };
enum { WR_MUX_GOAWAY_SHUTDOWN = 0, WR_MUX_GOAWAY_PROTOCOL = 1 };

struct wr_mux_frame {
    uint8_t type;
    uint32_t sid;
    size_t len;
    const uint8_t *payload;             /* points into the buffer the frame was read from */
    /* decoded fields, by type */
    uint8_t status;                     /* REPLY, RST code, GOAWAY code */
    uint32_t value;                     /* WINDOW increment, GOAWAY last id */
};

enum { WR_MUX_BAD = -1, WR_MUX_MORE = 0, WR_MUX_FRAME = 1, WR_MUX_SKIP = 2 };

/* Looks at the front of p[0..n). FRAME fills f (payload points into p) and *used; SKIP: an
 * unknown extension frame (0x80-0xFF) or PAD, *used bytes to drop; MORE: incomplete; BAD sets
 * *why (the session must end). */
int wr_mux_frame_parse(const uint8_t *p, size_t n, struct wr_mux_frame *f, size_t *used,
                       const char **why);

/* Appends a header (and the fixed payloads of control frames) to out. */
void wr_mux_put_header(struct evbuffer *out, uint8_t type, size_t len, uint32_t sid);
void wr_mux_put_reply(struct evbuffer *out, uint32_t sid, uint8_t status);
void wr_mux_put_window(struct evbuffer *out, uint32_t sid, uint32_t increment);
void wr_mux_put_fin(struct evbuffer *out, uint32_t sid);
void wr_mux_put_rst(struct evbuffer *out, uint32_t sid, uint8_t code);
void wr_mux_put_ping(struct evbuffer *out, uint8_t type, const uint8_t opaque[8]);
void wr_mux_put_goaway(struct evbuffer *out, uint32_t last_id, uint8_t code);

#endif
