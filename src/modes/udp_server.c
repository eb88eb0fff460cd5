/* udp_server.c: the server side of transparent-UDP and STUN modes (seed 004 §1.5.5, Table 2).
 * Each transport connection is one flow: once its handshake is done, a UDP socket connected to
 * -target (a TURN server in STUN mode; a name is resolved with evdns) carries the datagrams the
 * connection's frames hold, and each datagram the target sends back goes onto the connection,
 * framed. A datagram with no flow to take it cannot be delivered (Table 2), which a connected
 * socket makes structural: the kernel drops datagrams from anyone but the target.
 * The flow ends when the connection closes or errs (Table 2), when the client sends a frame
 * that cannot be a datagram, and after udpIdleTimeout seconds without a datagram. */
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/log.h"
#include "core/options.h"
#include "core/relay.h"
#include "modes/modes.h"
#include "modes/udp_frame.h"
#include "modes/udp_io.h"

#define UDP_MAX_BACKLOG (1024 * 1024)
#define SOCKBUF (4 * 1024 * 1024)

struct session {
    struct wr_live live;
    struct wr_method *m;
    struct wr_conn *conn;
    struct event *timer;                /* handshake deadline, then idle checks */
    struct evdns_getaddrinfo_request *dns;
    evutil_socket_t fd;                 /* connected to the target; -1 until then */
    struct event *ev;
    struct evbuffer *out;               /* datagrams back, framed, one write per batch */
    struct timeval last;
    unsigned idle_s;
    int stun;
    uint64_t sent, received, dropped;
    struct wr_ratelim drop_log;
};

static void s_free(struct session *s, int graceful)
{
    wr_live_del(s->m->ctx, &s->live);
    s->m->udp_sessions--;
    if (s->fd >= 0) {
        wr_info("%s %s c%u: flow ended: %llu datagrams to the target, %llu back, %llu dropped",
                s->m->name, wr_mode_name(s->m->mode), s->conn->id, (unsigned long long)s->sent,
                (unsigned long long)s->received, (unsigned long long)s->dropped);
    }
    if (s->dns)
        evdns_getaddrinfo_cancel(s->dns);
    if (s->timer)
        event_free(s->timer);
    if (s->ev)
        event_free(s->ev);
    if (s->fd >= 0)
        close(s->fd);
    if (s->out)
        evbuffer_free(s->out);
    if (graceful)
        wr_conn_finish(s->m->ctx, s->conn);
    else
        wr_conn_close(s->conn, 1);
    free(s);
}

static void s_kill(struct wr_live *l)
{
    s_free((struct session *)l, 0);
}

static void note_drop_n(struct session *s, const char *why, unsigned long n)
{
    unsigned suppressed = 0;
    s->dropped += n;
    if (wr_ratelim_allow(&s->drop_log, 10, &suppressed))
        wr_warn("%s %s c%u: dropping datagrams: %s (%llu so far)", s->m->name,
                wr_mode_name(s->m->mode), s->conn->id, why, (unsigned long long)s->dropped);
}

static void note_drop(struct session *s, const char *why)
{
    note_drop_n(s, why, 1);
}

/* Frames from the client, as datagrams to the target. 0, or -1 when the session was freed. */
static int to_target(struct session *s)
{
    struct wr_udp_sent st = { 0 };
    const char *why = NULL;
    int r = wr_udp_send_frames(s->fd, s->conn->in, s->stun, NULL, 0, &st, &why);
    s->sent += st.sent;
    if (st.empty)
        note_drop_n(s, "empty datagram", st.empty);
    if (st.refused)
        note_drop_n(s, st.last_errno == EAGAIN ? "the socket to the target is full"
                                               : "the target refuses datagrams (ICMP unreachable)",
                    st.refused);
    if (st.sent || st.empty || st.refused)
        event_base_gettimeofday_cached(s->m->ctx->base, &s->last);
    if (r != 0) {
        wr_info("%s %s c%u: closing: the client sent %s", s->m->name, wr_mode_name(s->m->mode),
                s->conn->id, why);
        s_free(s, 0);
        return -1;
    }
    return 0;
}

static void on_target_readable(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    struct wr_udp_recv r;
    static uint8_t bufs[WR_UDP_RECV_BATCH * WR_UDP_RECV_BUF];
    for (int round = 0; round < 64; round++) {
        int n = wr_udp_recv_batch(s->fd, bufs, &r);
        if (n < 0 && errno == ECONNREFUSED) {
            /* The ICMP error of a datagram already sent: it was lost, and nothing listens. */
            note_drop(s, "the target refuses datagrams (ICMP port unreachable)");
            continue;
        }
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            const uint8_t *d = r.iov[i].iov_base;
            size_t len = r.msgs[i].msg_len;
            if ((r.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len == 0 || len > WR_UDP_MAX_DATAGRAM) {
                note_drop(s, len ? "datagram larger than 65,507 bytes" : "empty datagram");
                continue;
            }
            if (s->stun && !wr_stun_check(d, len)) {
                note_drop(s, "the target sent something that is not STUN");
                continue;
            }
            if (wr_conn_backlog(s->conn) + evbuffer_get_length(s->out) > UDP_MAX_BACKLOG) {
                note_drop(s, "the transport connection is not keeping up");
                continue;
            }
            if (!s->stun) {
                uint8_t h[2];
                wr_udp_frame_header(h, len);
                evbuffer_add(s->out, h, 2);
            }
            evbuffer_add(s->out, d, len);
            s->received++;
        }
        if (evbuffer_get_length(s->out))
            wr_conn_write(s->conn, s->out);
        if (n < WR_UDP_RECV_BATCH)
            break;
    }
    event_base_gettimeofday_cached(s->m->ctx->base, &s->last);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    if (s->fd < 0) {
        /* Still no target socket: the handshake (or the DNS answer) never came. */
        wr_info("%s %s c%u: handshake timed out", s->m->name, wr_mode_name(s->m->mode), s->conn->id);
        s_free(s, 0);
        return;
    }
    struct timeval now, age;
    event_base_gettimeofday_cached(s->m->ctx->base, &now);
    evutil_timersub(&now, &s->last, &age);
    if (age.tv_sec >= (time_t)s->idle_s) {
        s_free(s, 1);
        return;
    }
    struct timeval left = { (time_t)s->idle_s - age.tv_sec, 0 };
    evtimer_add(s->timer, &left);
}

static void conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg);

/* The target's address is known: open the flow's socket and start moving datagrams. */
static void open_socket(struct session *s, const struct sockaddr *sa, socklen_t sl)
{
    int sz = SOCKBUF;
    s->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, sa, sl) != 0) {
        wr_warn("%s %s c%u: cannot open a UDP socket to the target: %s", s->m->name,
                wr_mode_name(s->m->mode), s->conn->id, strerror(errno));
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        s_free(s, 0);
        return;
    }
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    s->ev = event_new(s->m->ctx->base, s->fd, EV_READ | EV_PERSIST, on_target_readable, s);
    if (!s->ev || event_add(s->ev, NULL) != 0) {
        s_free(s, 0);
        return;
    }
    event_base_gettimeofday_cached(s->m->ctx->base, &s->last);
    struct timeval tv = { (time_t)s->idle_s, 0 };
    evtimer_add(s->timer, &tv);
    wr_conn_pause_read(s->conn, 0);
    if (evbuffer_get_length(s->conn->in))
        conn_cb(s->conn, WR_EV_READ, 0, s);
}

static void on_dns(int result, struct evutil_addrinfo *ai, void *arg)
{
    struct session *s = arg;
    s->dns = NULL;
    if (result != 0 || !ai) {
        wr_warn("%s %s c%u: cannot resolve the target: %s", s->m->name, wr_mode_name(s->m->mode),
                s->conn->id, evutil_gai_strerror(result));
        if (ai)
            evutil_freeaddrinfo(ai);
        s_free(s, 0);
        return;
    }
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)ai->ai_addrlen;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    ((struct sockaddr_in *)&ss)->sin_port = htons(s->m->target.port); /* same offset in sin6 */
    open_socket(s, (struct sockaddr *)&ss, sl);
}

static void start_target(struct session *s)
{
    const struct wr_endpoint *t = &s->m->target;
    if (t->type != WR_EP_NAME) {
        open_socket(s, (const struct sockaddr *)&t->sa, t->salen);
        return;
    }
    struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
    /* The callback may run (and free s) before evdns_getaddrinfo returns: mark first. */
    s->dns = (struct evdns_getaddrinfo_request *)1;
    struct evdns_getaddrinfo_request *req =
        evdns_getaddrinfo(s->m->ctx->dns, t->host, NULL, &hints, on_dns, s);
    if (s->dns == (struct evdns_getaddrinfo_request *)1)
        s->dns = req;
}

static void conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct session *s = arg;
    if ((ev & WR_EV_ERROR) || ((ev & WR_EV_EOF) && (!c->ready || s->fd >= 0))) {
        /* Table 2: a closed connection removes its flow. Frames before the EOF went out. */
        if ((ev & WR_EV_EOF) && s->fd >= 0 && to_target(s) != 0)
            return;
        s_free(s, 0);
        return;
    }
    if ((ev & WR_EV_READY) && s->fd < 0 && !s->dns) {
        wr_conn_pause_read(c, 1);       /* frames wait in c->in until the socket is open */
        start_target(s);
        return;
    }
    if ((ev & WR_EV_READ) && s->fd >= 0)
        to_target(s);
}

void wr_udp_server_accept(void *method, evutil_socket_t fd, const struct sockaddr *peer, int peerlen)
{
    struct wr_method *m = method;
    unsigned long idle, maxf;
    if (wr_opt_uint(m->opts, "udpIdleTimeout", 60, 86400, &idle) != 0 || idle == 0)
        idle = 60;
    if (wr_opt_uint(m->opts, "udpMaxFlows", 1024, 65536, &maxf) != 0 || maxf == 0)
        maxf = 1024;
    if (m->udp_sessions >= maxf) {
        wr_warn("%s %s: refusing a connection: %u flows already (option udpMaxFlows)", m->name,
                wr_mode_name(m->mode), m->udp_sessions);
        close(fd);
        return;
    }
    struct wr_conn *conn = wr_method_accept(m, fd);
    if (!conn)
        return;
    struct session *s = calloc(1, sizeof *s);
    if (!s || !(s->out = evbuffer_new()) ||
        !(s->timer = evtimer_new(m->ctx->base, on_idle, s))) {
        if (s && s->out)
            evbuffer_free(s->out);
        free(s);
        wr_conn_close(conn, 1);
        return;
    }
    s->m = m;
    s->conn = conn;
    s->fd = -1;
    s->idle_s = (unsigned)idle;
    s->stun = m->mode == WR_MODE_STUN;
    m->udp_sessions++;
    wr_live_add(m->ctx, &s->live, s_kill);
    wr_conn_set_cb(conn, conn_cb, s);
    if (!conn->keeps_deadline) {
        struct timeval tv = { m->ctx->handshake_timeout_s, 0 };
        evtimer_add(s->timer, &tv);
    }
    if (conn->ready)
        conn_cb(conn, WR_EV_READY, 0, s);
}
