/* conn.c: helpers shared by every wr_conn implementation; see conn.h. */
#include "core/conn.h"

#include <time.h>

void wr_conn_init(struct wr_conn *c, const struct wr_conn_ops *ops, struct evbuffer *in, uint32_t id)
{
    c->ops = ops;
    c->in = in;
    c->cb = NULL;
    c->cb_arg = NULL;
    c->stats.bytes_in = c->stats.bytes_out = 0;
    c->stats.opened_ms = wr_now_ms();
    c->id = id;
    c->ready = 1;
    c->eof_received = 0;
    c->keeps_deadline = 0;
}

void wr_conn_set_cb(struct wr_conn *c, wr_conn_cb *cb, void *arg)
{
    c->cb = cb;
    c->cb_arg = arg;
}

int64_t wr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
