/* extorport.h: the client side of tor's Extended ORPort (torspec ext-orport-spec.txt), which a
 * bridge's transport server uses instead of the plain ORPort so tor learns each client's real
 * address and transport (for its statistics and its per-transport rate limits).
 *
 *   tor -> us: auth types, each 1 byte, ended by 0        (we need 1, SAFE_COOKIE)
 *   us -> tor: 1 | client nonce (32)
 *   tor -> us: server hash (32) | server nonce (32)       (checked before we answer)
 *   us -> tor: client hash (32)
 *   tor -> us: status (1 = ok)
 *   us -> tor: USERADDR "ip:port" | TRANSPORT name | DONE   (each cmd u16 | len u16 | body)
 *   tor -> us: OKAY (or DENY); unknown commands are skipped
 * then raw bytes. The cookie is the last 32 bytes of tor's 64-byte cookie file. */
#ifndef WARREN_IPC_EXTORPORT_H
#define WARREN_IPC_EXTORPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/codec.h"

#define WR_EXTOR_COOKIE_LEN 32
#define WR_EXTOR_NONCE_LEN 32
#define WR_EXTOR_HASH_LEN 32
#define WR_EXTOR_HANDSHAKE_MS 5000          /* goptlib's deadline for the whole exchange */

/* Reads tor's cookie file: exactly 64 bytes, the fixed header, then the cookie. -1 with err. */
int wr_extor_read_cookie(const char *path, uint8_t cookie[WR_EXTOR_COOKIE_LEN], char *err,
                         size_t errlen);

/* The two HMAC-SHA256 values of SAFE_COOKIE. */
void wr_extor_server_hash(const uint8_t cookie[WR_EXTOR_COOKIE_LEN],
                          const uint8_t client_nonce[WR_EXTOR_NONCE_LEN],
                          const uint8_t server_nonce[WR_EXTOR_NONCE_LEN],
                          uint8_t out[WR_EXTOR_HASH_LEN]);
void wr_extor_client_hash(const uint8_t cookie[WR_EXTOR_COOKIE_LEN],
                          const uint8_t client_nonce[WR_EXTOR_NONCE_LEN],
                          const uint8_t server_nonce[WR_EXTOR_NONCE_LEN],
                          uint8_t out[WR_EXTOR_HASH_LEN]);

/* A codec that performs the exchange above over a connection to the ExtORPort and then passes
 * bytes through; ready once tor said OKAY. user_addr is the client's "ip:port" (IPv6 in
 * brackets), transport the method's name. NULL on allocation failure. A fixed nonce (tests)
 * may be given; NULL draws one. */
void *wr_extor_codec_new(const uint8_t cookie[WR_EXTOR_COOKIE_LEN], const char *user_addr,
                         const char *transport, const uint8_t *nonce);
extern const struct wr_codec_ops wr_extor_codec;
/* Why the exchange failed, for the log line ("" while it has not). */
const char *wr_extor_codec_error(const void *st);

#endif
