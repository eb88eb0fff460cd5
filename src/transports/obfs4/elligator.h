/* elligator.h: Elligator 2 over Curve25519 as obfs4proxy 0.0.14 uses it (internal/x25519ell2).
 *
 * A key pair is drawn so that its public key has a representative: 32 bytes that look uniformly
 * random on the wire. The public key is "dirty" (a random low-order component added, chosen by
 * the low bits of the private key) and the representative gets two random top bits, so neither
 * the subgroup nor the top bits give it away. X25519 clamps the scalar, which kills the
 * low-order part, so shared secrets are the ones the clean key would give.
 *
 * Field arithmetic is ours; the Edwards scalar multiplication and point addition are libsodium's.
 * Everything that touches a private key is constant time. */
#ifndef WARREN_TRANSPORTS_OBFS4_ELLIGATOR_H
#define WARREN_TRANSPORTS_OBFS4_ELLIGATOR_H

#include <stdint.h>

/* Derives a key pair from 32 random bytes exactly as obfs4proxy's ntor.NewKeypair(true) does:
 * d = SHA-512(seed), priv = d[0:32] (unclamped; X25519 clamps), tweak = d[63]. pub is the dirty
 * u coordinate (what repr decodes to, and what ntor hashes). Returns 0, or -1 when this seed's
 * public key has no representative (about half of them; priv, pub and repr are then zeroed):
 * draw a new seed and call again. */
int wr_ell2_keypair_from_seed(const uint8_t seed[32], uint8_t priv[32], uint8_t pub[32],
                              uint8_t repr[32]);

/* A fresh key pair from the system CSPRNG (retries internally). */
void wr_ell2_keypair(uint8_t priv[32], uint8_t pub[32], uint8_t repr[32]);

/* Representative to public key (u coordinate); the top two bits of repr[31] are ignored.
 * Every 32-byte input gives some public key. */
void wr_ell2_repr_to_pub(const uint8_t repr[32], uint8_t pub[32]);

#endif
