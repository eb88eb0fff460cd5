/* framing.h: obfs4 frames and packets (transports/obfs4/framing, packet.go).
 *
 *   frame  = obfsLen(2) | secretbox(packet)      secretbox = tag(16) | ciphertext
 *   packet = type(1) | payloadLen(2, BE) | payload | zero padding
 *
 * Each direction has its own key (72 bytes of the KDF output: secretbox key 32 | nonce prefix 16
 * | SipHash key 16 | SipHash IV 8). The nonce is the prefix and a big-endian counter from 1; the
 * length is XORed with the next block of that direction's DRBG, one block per frame. */
#ifndef WARREN_TRANSPORTS_OBFS4_FRAMING_H
#define WARREN_TRANSPORTS_OBFS4_FRAMING_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "transports/obfs4/drbg.h"

#define OBFS4_MAX_SEGMENT 1448                  /* bytes of one frame on the wire, at most */
#define OBFS4_FRAME_OVERHEAD 18                 /* length 2 + tag 16 */
#define OBFS4_MAX_FRAME_PAYLOAD (OBFS4_MAX_SEGMENT - OBFS4_FRAME_OVERHEAD)   /* 1430 */
#define OBFS4_PACKET_OVERHEAD 3
#define OBFS4_MAX_PACKET_PAYLOAD (OBFS4_MAX_FRAME_PAYLOAD - OBFS4_PACKET_OVERHEAD) /* 1427 */
#define OBFS4_HEADER_LEN (OBFS4_FRAME_OVERHEAD + OBFS4_PACKET_OVERHEAD)      /* 21 */
#define OBFS4_FRAMING_KEY_LEN 72
#define OBFS4_SEED_LEN WR_DRBG_SEED_LEN

enum { OBFS4_PACKET_PAYLOAD = 0, OBFS4_PACKET_PRNG_SEED = 1 };

/* One direction's state, encoder or decoder. */
struct obfs4_framer {
    uint8_t key[32];
    uint8_t nonce_prefix[16];
    uint64_t counter;
    struct wr_drbg drbg;
    /* decoder: the length of the frame being received (0: read the next length) */
    uint16_t next_len;
    uint8_t next_invalid;               /* the length was bad: fail once that many bytes came */
};

void obfs4_framer_init(struct obfs4_framer *f, const uint8_t key[OBFS4_FRAMING_KEY_LEN]);
void obfs4_framer_wipe(struct obfs4_framer *f);

/* Appends one frame carrying a packet: type, payload (at most 1427 bytes with the padding) and
 * pad zero bytes. 0, or -1 when the nonce counter would wrap (after 2^64 frames). */
int obfs4_frame_packet(struct obfs4_framer *f, uint8_t type, const uint8_t *payload, size_t len,
                       size_t pad, struct evbuffer *out);

/* Decodes every whole frame in wire_in: payload packets' bytes go to plain_out, a PRNG-seed
 * packet's 24 bytes to seed_out (set *got_seed), other types are ignored. Leaves a partial frame
 * in wire_in. 0, or -1 with *why when the stream is corrupt (the connection must end). A length
 * outside 16..1446 is treated as obfs4proxy does: a random length is waited for and then the
 * frame fails, so the moment of failure says nothing about which check failed. */
int obfs4_deframe(struct obfs4_framer *f, struct evbuffer *wire_in, struct evbuffer *plain_out,
                  uint8_t seed_out[OBFS4_SEED_LEN], int *got_seed, const char **why);

#endif
