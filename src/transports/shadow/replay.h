/* replay.h: the salt replay filter, shaped like shadowsocks-libev's ppbloom: two Bloom filters
 * used in turn; when the current one holds its share of salts, the other is cleared and becomes
 * current, so memory is fixed (1 MiB) and a salt is remembered for at least 65,536 more salts.
 * False positives (a fresh salt refused): about 4e-12 per connection. */
#ifndef WARREN_TRANSPORTS_SHADOW_REPLAY_H
#define WARREN_TRANSPORTS_SHADOW_REPLAY_H

#include <stddef.h>
#include <stdint.h>

struct ss_replay;

struct ss_replay *ss_replay_new(void);
/* 1 if the salt was seen before; otherwise remembers it and returns 0. */
int ss_replay_check_add(struct ss_replay *r, const uint8_t *salt, size_t len);
void ss_replay_free(struct ss_replay *r);

#endif
