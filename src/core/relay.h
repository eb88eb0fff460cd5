/* relay.h: the only copy loop. Pumps bytes both ways between two connections with watermark
 * backpressure, carries each half-close across, and resets both sides when either fails, so
 * bytes accepted on one side are delivered on the other or the connection is reset. */
#ifndef WARREN_CORE_RELAY_H
#define WARREN_CORE_RELAY_H

#include "core/conn.h"

struct wr_ctx;
struct wr_relay;

/* Takes ownership of a (the side that came to us: app or transport) and b (the side we
 * dialled). Bytes already waiting in either conn's input are forwarded at once, and an EOF
 * either conn received before is carried across. `label` names the relay in its closing log
 * line ("socks5", "server", ...). Returns NULL when the relay could not be created or had
 * nothing left to do; the conns are closed either way. */
struct wr_relay *wr_relay_new(struct wr_ctx *ctx, struct wr_conn *a, struct wr_conn *b, const char *label);

/* Takes ownership of c: delivers what was written to it, sends FIN, and closes it once the
 * output is flushed (or after a few seconds, or on error). For a last reply before closing. */
void wr_conn_finish(struct wr_ctx *ctx, struct wr_conn *c);

#endif
