/* plain.c: the identity transport. Bytes go to the server unchanged; it exists to test the
 * dispatcher and as the model every other transport follows:
 * - client options: serverAddress (needed in transparent-TCP mode; in socks5 mode the SOCKS
 *   destination is the server, as tor sends it);
 * - per-connection settings: the same keys, checked before CONNECT is answered;
 * - server options: none; SMETHOD ARGS: none. */
#include <stdio.h>
#include <stdlib.h>

#include "core/ctx.h"
#include "core/options.h"
#include "transports/transport.h"

struct plain_client {
    struct wr_ctx *ctx;
    enum wr_mode mode;
};

static int plain_client_init(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                             void **state, char *err, size_t errlen)
{
    if (wr_transport_check_server_address(opts, mode != WR_MODE_SOCKS5, err, errlen) != 0)
        return -1;
    struct plain_client *pc = calloc(1, sizeof *pc);
    if (!pc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pc->ctx = ctx;
    pc->mode = mode;
    *state = pc;
    return 0;
}

static int plain_client_check(void *state, const json_t *args, char *err, size_t errlen)
{
    return wr_transport_check_server_address(args, 0, err, errlen);
}

static struct wr_pending *plain_client_open(void *state, const struct wr_open_req *req,
                                            wr_dial_cb *cb, void *arg)
{
    struct plain_client *pc = state;
    struct wr_endpoint server;
    char err[200];
    if (wr_transport_server_addr(req, &server, err, sizeof err) != 0)
        return wr_fail_soon(pc->ctx, cb, arg, WR_REP_FAILURE, err);
    return wr_dial(pc->ctx, &server, WR_DIAL_VIA_PROXY, cb, arg);
}

static int plain_server_init(struct wr_ctx *ctx, const json_t *opts, enum wr_mode mode,
                             const char *state_dir, void **state, char *args_out, char *err,
                             size_t errlen)
{
    args_out[0] = '\0';
    *state = NULL;
    return 0;
}

static struct wr_conn *plain_server_wrap(void *state, struct wr_conn *raw)
{
    return raw;
}

static void plain_free(void *state)
{
    free(state);
}

const struct wr_transport wr_transport_plain = {
    .name = "plain",
    .client_init = plain_client_init,
    .client_check = plain_client_check,
    .client_open = plain_client_open,
    .server_init = plain_server_init,
    .server_wrap = plain_server_wrap,
    .free_state = plain_free,
};
