/* handshake.h: obfs4's handshake messages (transports/obfs4/handshake_ntor.go), as pure byte
 * functions: building them, and finding and checking them in what has arrived so far.
 *
 *   client request  = X' | P_C | M_C | MAC_C             P_C: 85..8128 random bytes
 *   server response = Y' | AUTH | P_S | M_S | MAC_S      P_S: 0..8051 random bytes
 *   M   = HMAC-SHA256(B | NODEID, X' or Y')[0:16]         the mark that ends the padding
 *   MAC = HMAC-SHA256(B | NODEID, everything before it | E)[0:16], E the epoch hour in decimal
 *
 * The server looks for the mark only at the tail of what it has (the client sends nothing else
 * before the reply) and accepts the hour before and after its own; the client searches for the
 * server's mark and checks the MAC with its own hour. The ntor and the keys are in ntor.h. */
#ifndef WARREN_TRANSPORTS_OBFS4_HANDSHAKE_H
#define WARREN_TRANSPORTS_OBFS4_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "transports/obfs4/ntor.h"

#define OBFS4_MAX_HANDSHAKE 8192
#define OBFS4_MARK_LEN 16
#define OBFS4_MAC_LEN 16
#define OBFS4_REPR_LEN 32
#define OBFS4_CLIENT_MIN_PAD 85
#define OBFS4_CLIENT_MAX_PAD (OBFS4_MAX_HANDSHAKE - (OBFS4_REPR_LEN + OBFS4_MARK_LEN + OBFS4_MAC_LEN))
#define OBFS4_SERVER_MIN_PAD 0
#define OBFS4_SEED_FRAME_LEN 45         /* the PRNG-seed frame that follows the reply */
#define OBFS4_SERVER_MAX_PAD (OBFS4_MAX_HANDSHAKE - (96 + OBFS4_SEED_FRAME_LEN))
#define OBFS4_MACKEY_LEN (32 + OBFS4_NODE_ID_LEN)
#define OBFS4_EPOCH_MAX 24              /* room for a decimal hour and its NUL */

/* B | NODEID, the HMAC key of marks and MACs. */
void obfs4_mackey(const uint8_t B[32], const uint8_t node_id[OBFS4_NODE_ID_LEN],
                  uint8_t mackey[OBFS4_MACKEY_LEN]);
/* The epoch hour of unix time `now` plus off, in decimal. */
void obfs4_epoch_hour(long long now, int off, char out[OBFS4_EPOCH_MAX]);

/* Writes the client request to out (32 + padlen + 32 bytes); returns its length. */
size_t obfs4_client_request(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t repr[32],
                            const uint8_t *pad, size_t padlen, const char *epoch, uint8_t *out);
/* Writes the server response to out (64 + padlen + 32 bytes); returns its length. */
size_t obfs4_server_response(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t repr[32],
                             const uint8_t auth[32], const uint8_t *pad, size_t padlen,
                             const char *epoch, uint8_t *out);

enum { OBFS4_HS_INVALID = -1, OBFS4_HS_MORE = 0, OBFS4_HS_DONE = 1 };

/* Server: buf holds everything the client sent so far. DONE fills repr, the MAC (for the replay
 * filter) and the epoch string that matched; MORE: wait for more bytes; INVALID sets *why.
 * Like obfs4proxy, a request is refused once 8192 bytes have come without a valid mark and MAC,
 * and a request followed by more bytes within those 8192 is refused too. */
int obfs4_parse_client_request(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t *buf,
                               size_t len, long long now, uint8_t repr[32],
                               uint8_t mac[OBFS4_MAC_LEN], char epoch[OBFS4_EPOCH_MAX],
                               const char **why);
/* Client: DONE fills the server's repr and AUTH and *used, the response's length (the bytes
 * after it are frames). */
int obfs4_parse_server_response(const uint8_t mackey[OBFS4_MACKEY_LEN], const uint8_t *buf,
                                size_t len, const char *epoch, uint8_t repr[32],
                                uint8_t auth[32], size_t *used, const char **why);

#endif
