/* socks5_proto.h: the server side of SOCKS5 as PT clients speak it (RFC 1928, RFC 1929 carrying
 * PT 1.0 arguments, and method 09 "JSON Parameter Block" of seed 004 §1.4), as pure functions
 * over bytes: each returns WR_S5_MORE (need more bytes; nothing consumed), WR_S5_OK (*used
 * bytes consumed) or WR_S5_BAD. Fuzzed in fuzz/fuzz_socks5.c. */
#ifndef WARREN_MODES_SOCKS5_PROTO_H
#define WARREN_MODES_SOCKS5_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

enum { WR_S5_MORE = 0, WR_S5_OK = 1, WR_S5_BAD = -1 };

enum {
    WR_S5_AUTH_NONE = 0x00,
    WR_S5_AUTH_USERPASS = 0x02,
    WR_S5_AUTH_JSON = 0x09,
    WR_S5_AUTH_NO_ACCEPTABLE = 0xff,
};

/* Per-connection settings replies (seed 004 §1.4). */
enum {
    WR_S5_REP_SETTINGS_TOO_LARGE = 0x10,
    WR_S5_REP_SETTINGS_TIMEOUT = 0x11,
    WR_S5_REP_SETTINGS_PARSE = 0x12,
    WR_S5_REP_SETTINGS_INVALID = 0x13,
};

#define WR_S5_JSON_MAX (64 * 1024)

/* VER NMETHODS METHODS...: *method is the one we choose, 09 > 02 > 00, else 0xff. */
int wr_s5_parse_greeting(const uint8_t *p, size_t n, size_t *used, uint8_t *method);

/* RFC 1929 VER ULEN UNAME PLEN PASSWD, re-joined as tor splits PT arguments: UNAME, then
 * PASSWD unless it is the single byte NUL. out must hold 511 bytes; *out_len is set. */
int wr_s5_parse_userpass(const uint8_t *p, size_t n, size_t *used, char *out, size_t *out_len);

/* The 4-byte big-endian length that starts a JSON parameter block. */
int wr_s5_parse_json_len(const uint8_t *p, size_t n, size_t *used, uint32_t *len);

struct wr_s5_request {
    uint8_t cmd;
    struct wr_endpoint dst;
};

/* VER CMD RSV ATYP DST.ADDR DST.PORT. On WR_S5_BAD, *rep is the reply to send (0x07 bad
 * command, 0x08 bad address type, 0x01 otherwise) or 0 when the peer is not speaking SOCKS5
 * (close without a reply). */
int wr_s5_parse_request(const uint8_t *p, size_t n, size_t *used, struct wr_s5_request *req,
                        uint8_t *rep);

/* VER REP RSV ATYP=1 0.0.0.0 0: the 10-byte reply. */
void wr_s5_reply(uint8_t out[10], uint8_t rep);

#endif
