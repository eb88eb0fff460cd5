/* replay.h: obfs4proxy's handshake replay filter (common/replayfilter): the MAC of every
 * accepted client request is remembered for 3 hours, at most 102,400 of them (the oldest go
 * first), and a request whose MAC was seen gets no answer. A client's MAC is only valid within
 * an hour either side of the server's clock, so 3 hours outlive every replay that could pass. */
#ifndef WARREN_TRANSPORTS_OBFS4_REPLAY_H
#define WARREN_TRANSPORTS_OBFS4_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define OBFS4_REPLAY_TTL_S (3 * 3600)
#define OBFS4_REPLAY_MAX 102400

struct obfs4_replay;

struct obfs4_replay *obfs4_replay_new(void);
/* 1 if buf was seen within the TTL; otherwise remembers it (at time now, seconds) and returns 0. */
int obfs4_replay_test_and_set(struct obfs4_replay *r, int64_t now, const uint8_t *buf, size_t len);
void obfs4_replay_free(struct obfs4_replay *r);

#endif
