/* socks5.c: the client's socks5 mode. Each accepted application connection negotiates SOCKS5
 * (per-connection settings by method 09 or 02), asks the transport for a connection to the
 * server the request names, answers with a reply code that says what failed, and hands both
 * connections to a relay. Owns the application connection until the relay takes it. */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/kv.h"
#include "core/log.h"
#include "core/options.h"
#include "core/relay.h"
#include "core/tcp.h"
#include "ipc/ipc.h"
#include "modes/modes.h"
#include "modes/socks5_proto.h"

enum state { GREETING, USERPASS, JSON_LEN, JSON_BODY, REQUEST, OPENING };

struct socks {
    struct wr_live live;
    struct wr_method *m;
    struct wr_conn *app;
    struct event *timer;
    struct wr_pending *pending;
    json_t *args;                       /* this connection's settings merged over -options */
    enum state state;
    uint32_t json_len;
    struct wr_endpoint dst;
};

static void socks_free(struct socks *s)
{
    wr_live_del(s->m->ctx, &s->live);
    wr_pending_cancel(s->pending);
    event_free(s->timer);
    json_decref(s->args);
    free(s);
}

/* Ends the handshake without a reply: reset the application connection. */
static void socks_abort(struct socks *s, const char *why)
{
    wr_debug("socks5 c%u: %s", s->app->id, why);
    wr_conn_close(s->app, 1);
    socks_free(s);
}

static void send_bytes(struct wr_conn *c, const uint8_t *p, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, p, n);
    wr_conn_write(c, b);
    evbuffer_free(b);
}

/* Sends a last message and closes once it is flushed. */
static void socks_reply_close(struct socks *s, const uint8_t *msg, size_t len, const char *why)
{
    wr_info("socks5 c%u: %s", s->app->id, why);
    send_bytes(s->app, msg, len);
    struct wr_conn *app = s->app;
    struct wr_ctx *ctx = s->m->ctx;
    socks_free(s);
    wr_conn_finish(ctx, app);
}

static void socks_fail(struct socks *s, uint8_t rep, const char *why)
{
    uint8_t r[10];
    wr_s5_reply(r, rep);
    socks_reply_close(s, r, sizeof r, why);
}

static void socks_kill(struct wr_live *l)
{
    struct socks *s = (struct socks *)l;
    wr_conn_close(s->app, 1);
    socks_free(s);
}

static void on_open(void *arg, struct wr_conn *conn, uint8_t rep, const char *why)
{
    struct socks *s = arg;
    s->pending = NULL;
    char a[WR_ADDRSTRLEN];
    wr_endpoint_format(&s->dst, a, sizeof a);
    wr_ipc_status(s->m->name, a, conn != NULL, why ? why : wr_rep_str(rep));
    if (!conn) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s to %s failed: %s (reply %u, %s)", s->m->name, wr_safe(a),
                 why ? why : wr_rep_str(rep), rep, wr_rep_str(rep));
        socks_fail(s, rep ? rep : WR_REP_FAILURE, msg);
        return;
    }
    uint8_t r[10];
    wr_s5_reply(r, WR_REP_OK);
    send_bytes(s->app, r, sizeof r);
    struct wr_conn *app = s->app;
    struct wr_ctx *ctx = s->m->ctx;
    wr_debug("socks5 c%u: %s connection c%u ready", app->id, s->m->name, conn->id);
    socks_free(s);
    wr_relay_new(ctx, app, conn, "socks5");
}

/* Settings are in s->args (merged); let the transport judge them. */
static int check_args(struct socks *s, char *err, size_t errlen)
{
    if (wr_opt_bool(s->args, "mux", 0) < 0) {
        snprintf(err, errlen, "mux must be true or false");
        return -1;
    }
    return s->m->t->client_check(s->m->tstate, s->args, err, errlen);
}

static int take_settings(struct socks *s, json_t *conn_args)
{
    const char *name = s->m->name;
    json_t *mine = wr_options_for(conn_args, name, &name, 1);
    json_t *merged = wr_options_merge(s->m->opts, mine);
    json_decref(mine);
    if (!merged)
        return -1;
    json_decref(s->args);
    s->args = merged;
    return 0;
}

/* Runs the state machine over what the application has sent; returns after consuming what it
 * can. May free s (then returns 1). */
static int advance(struct socks *s)
{
    struct evbuffer *in = s->app->in;
    for (;;) {
        /* Every message but the JSON block fits in 600 bytes (RFC 1929's is the longest, 513). */
        size_t have = evbuffer_get_length(in);
        size_t n = s->state == JSON_BODY ? s->json_len : (have < 600 ? have : 600);
        if (have == 0 || n > have)
            return 0;
        uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)n);
        size_t used = 0;
        int r;
        char err[256];
        switch (s->state) {
        case GREETING: {
            uint8_t method;
            r = wr_s5_parse_greeting(p, n, &used, &method);
            if (r == WR_S5_MORE)
                return 0;
            if (r == WR_S5_BAD) {
                socks_abort(s, "not a SOCKS5 greeting");
                return 1;
            }
            evbuffer_drain(in, used);
            uint8_t msg[2] = { 5, method };
            if (method == WR_S5_AUTH_NO_ACCEPTABLE) {
                socks_reply_close(s, msg, 2, "client offered no acceptable auth method (want 00, 02 or 09)");
                return 1;
            }
            send_bytes(s->app, msg, 2);
            s->state = method == WR_S5_AUTH_JSON ? JSON_LEN : method == WR_S5_AUTH_USERPASS ? USERPASS : REQUEST;
            break;
        }
        case USERPASS: {
            char args[512];
            size_t alen;
            r = wr_s5_parse_userpass(p, n, &used, args, &alen);
            if (r == WR_S5_MORE)
                return 0;
            static const uint8_t fail_msg[2] = { 1, 1 }, ok_msg[2] = { 1, 0 };
            if (r == WR_S5_BAD) {
                socks_reply_close(s, fail_msg, 2, "bad RFC 1929 message");
                return 1;
            }
            evbuffer_drain(in, used);
            json_t *kv = wr_kv_parse_client_args(args, alen, err, sizeof err);
            if (!kv || take_settings(s, kv) != 0) {
                json_decref(kv);
                char msg[300];
                snprintf(msg, sizeof msg, "bad PT arguments in RFC 1929 user/password: %s", err);
                socks_reply_close(s, fail_msg, 2, msg);
                return 1;
            }
            json_decref(kv);
            if (check_args(s, err, sizeof err) != 0) {
                char msg[300];
                snprintf(msg, sizeof msg, "rejected PT arguments: %s", err);
                socks_reply_close(s, fail_msg, 2, msg);
                return 1;
            }
            send_bytes(s->app, ok_msg, 2);
            s->state = REQUEST;
            break;
        }
        case JSON_LEN:
            r = wr_s5_parse_json_len(p, n, &used, &s->json_len);
            if (r == WR_S5_MORE)
                return 0;
            evbuffer_drain(in, used);
            if (s->json_len > WR_S5_JSON_MAX) {
                socks_fail(s, WR_S5_REP_SETTINGS_TOO_LARGE, "connection settings larger than 64 KiB");
                return 1;
            }
            if (s->json_len == 0) {
                socks_fail(s, WR_S5_REP_SETTINGS_PARSE, "empty connection settings block");
                return 1;
            }
            s->state = JSON_BODY;
            break;
        case JSON_BODY: {
            json_t *doc = wr_options_parse((const char *)p, s->json_len, err, sizeof err);
            evbuffer_drain(in, s->json_len);
            if (!doc) {
                char msg[300];
                snprintf(msg, sizeof msg, "connection settings %s", err);
                socks_fail(s, WR_S5_REP_SETTINGS_PARSE, msg);
                return 1;
            }
            int bad = take_settings(s, doc) != 0;
            json_decref(doc);
            if (bad || check_args(s, err, sizeof err) != 0) {
                char msg[300];
                snprintf(msg, sizeof msg, "invalid connection settings: %s", bad ? "out of memory" : err);
                socks_fail(s, WR_S5_REP_SETTINGS_INVALID, msg);
                return 1;
            }
            s->state = REQUEST;
            break;
        }
        case REQUEST: {
            struct wr_s5_request req;
            uint8_t rep;
            r = wr_s5_parse_request(p, n, &used, &req, &rep);
            if (r == WR_S5_MORE)
                return 0;
            if (r == WR_S5_BAD) {
                if (!rep) {
                    socks_abort(s, "not a SOCKS5 request");
                } else {
                    snprintf(err, sizeof err, "refused request: %s", wr_rep_str(rep));
                    socks_fail(s, rep, err);
                }
                return 1;
            }
            evbuffer_drain(in, used);
            s->dst = req.dst;
            s->state = OPENING;
            event_del(s->timer);
            struct wr_open_req oreq = { .args = s->args, .dst = &s->dst };
            s->pending = wr_method_open(s->m, &oreq, on_open, s);
            if (!s->pending) {
                socks_fail(s, WR_REP_FAILURE, "cannot start a transport connection (out of sockets or memory?)");
                return 1;
            }
            return 0;
        }
        case OPENING:
            return 0;
        }
    }
}

static void app_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct socks *s = arg;
    if (ev & WR_EV_ERROR) {
        socks_abort(s, "application connection failed during the handshake");
        return;
    }
    if (s->state == OPENING) {
        /* Early data (and an early EOF, kept in c->eof_received) wait for the relay. */
        wr_conn_hold_input(c);
        return;
    }
    if ((ev & WR_EV_READ) && advance(s))
        return;
    if (ev & WR_EV_EOF) {
        socks_abort(s, "application closed during the SOCKS handshake");
        return;
    }
    if (s->state != OPENING && evbuffer_get_length(c->in) > 70000) {
        socks_abort(s, "SOCKS handshake too long");
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct socks *s = arg;
    if (s->state == JSON_LEN || s->state == JSON_BODY)
        socks_fail(s, WR_S5_REP_SETTINGS_TIMEOUT, "timed out reading the connection settings");
    else
        socks_abort(s, "SOCKS handshake timed out");
}

void wr_socks5_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen)
{
    struct wr_method *m = method;
    struct wr_conn *app = wr_tcp_conn_from_fd(m->ctx, fd);
    if (!app)
        return;
    struct socks *s = calloc(1, sizeof *s);
    if (!s || !(s->timer = evtimer_new(m->ctx->base, on_timeout, s))) {
        free(s);
        wr_conn_close(app, 1);
        return;
    }
    s->m = m;
    s->app = app;
    s->args = json_incref(m->opts);
    s->state = GREETING;
    wr_live_add(m->ctx, &s->live, socks_kill);
    struct timeval tv = { m->ctx->handshake_timeout_s, 0 };
    evtimer_add(s->timer, &tv);
    wr_conn_set_cb(app, app_cb, s);
}
