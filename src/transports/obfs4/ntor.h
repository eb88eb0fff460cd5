/* ntor.h: the ntor handshake in obfs4's flavour (common/ntor), and obfs4's key derivation.
 *
 * obfs4 hashes the transcript as B | B | X | Y | PROTOID | NODEID (B written twice), which is
 * neither what its code comment nor what Tor's ntor spec says, and splits the KDF output with the
 * client-to-server keys first. Both are what obfs4proxy 0.0.14 puts on the wire. */
#ifndef WARREN_TRANSPORTS_OBFS4_NTOR_H
#define WARREN_TRANSPORTS_OBFS4_NTOR_H

#include <stdint.h>

#define OBFS4_NODE_ID_LEN 20
#define OBFS4_KEY_LEN 32
#define OBFS4_AUTH_LEN 32
#define OBFS4_OKM_LEN 144           /* two 72-byte framing keys: client->server, server->client */

/* Server side: X the client's public key, (y, Y) the server's ephemeral pair, (b, B) its identity.
 * Returns 0, or -1 when an X25519 output is all zero (a malicious key). */
int obfs4_ntor_server(const uint8_t X[32], const uint8_t y[32], const uint8_t Y[32],
                      const uint8_t b[32], const uint8_t B[32],
                      const uint8_t node_id[OBFS4_NODE_ID_LEN], uint8_t key_seed[32],
                      uint8_t auth[32]);
/* Client side: (x, X) the client's ephemeral pair, Y the server's ephemeral public key, B its
 * identity key. The caller compares auth with the server's in constant time. */
int obfs4_ntor_client(const uint8_t x[32], const uint8_t X[32], const uint8_t Y[32],
                      const uint8_t B[32], const uint8_t node_id[OBFS4_NODE_ID_LEN],
                      uint8_t key_seed[32], uint8_t auth[32]);

/* HKDF-SHA256(key_seed, salt "...:key_extract", info "...:key_expand") -> 144 bytes. 0 or -1. */
int obfs4_kdf(const uint8_t key_seed[32], uint8_t okm[OBFS4_OKM_LEN]);

#endif
