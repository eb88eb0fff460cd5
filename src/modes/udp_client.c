/* udp_client.c: the client side of transparent-UDP and STUN modes (seed 004 §1.5.3-1.5.4,
 * Table 1). One UDP socket receives the application's datagrams; each source address is a flow
 * with its own transport connection, opened when its first datagram arrives. Datagrams go on
 * the connection framed (udp_frame.h); datagrams coming back are sent to the flow's source.
 *
 * Table 1, with one deliberate change: while a flow's connection is being opened, its first
 * datagrams are held (at most HOLD_DGRAMS, HOLD_BYTES) and sent once it is up, rather than
 * dropped, so a DNS query or a handshake's first packet is not lost to the set-up. A flow ends
 * when its connection fails, closes or errs, and after udpIdleTimeout seconds (option, default
 * 60) without a datagram either way. Limits (udpMaxFlows, default 1024; a connection that has
 * more than UDP_MAX_BACKLOG bytes waiting) drop datagrams, counted and logged at most every
 * 10 s. The client is on the context's live list: a shutdown frees it and every flow. */
#include <errno.h>
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

#define HOLD_DGRAMS 16
#define HOLD_BYTES (64 * 1024)
#define UDP_MAX_BACKLOG (1024 * 1024)
#define SOCKBUF (4 * 1024 * 1024)
#define TABLE_SIZE 1024                 /* hash buckets (flows chain) */

struct wr_udp_client;

struct flow {
    struct wr_udp_client *uc;
    struct flow *next;                  /* hash chain */
    struct sockaddr_storage src;
    socklen_t srclen;
    struct wr_conn *conn;               /* NULL while opening */
    struct wr_pending *pending;
    struct evbuffer *out;               /* framed datagrams: held while opening, or batched */
    size_t held;                        /* datagrams in out while opening */
    struct event *idle;
    struct timeval last;                /* last datagram either way */
    uint64_t sent, received, dropped;
    uint8_t batched;                    /* on the touched list of the current receive batch */
    struct flow *touched_next;
};

struct wr_udp_client {
    struct wr_live live;
    struct wr_method *m;
    struct wr_ctx *ctx;
    evutil_socket_t fd;
    struct event *ev;
    struct wr_endpoint addr;
    int stun;
    unsigned idle_s, max_flows, n_flows;
    struct flow *table[TABLE_SIZE];
    struct flow *touched;
    uint8_t *bufs;                      /* the receive buffers of wr_udp_recv_batch */
    struct wr_ratelim drop_log;
    uint64_t dropped_total;
};

static unsigned hash_addr(const struct sockaddr_storage *ss, socklen_t len)
{
    const uint8_t *p = (const uint8_t *)ss;
    uint32_t h = 2166136261u;
    for (socklen_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % TABLE_SIZE;
}

static struct flow *flow_find(struct wr_udp_client *uc, const struct sockaddr_storage *ss, socklen_t len)
{
    for (struct flow *f = uc->table[hash_addr(ss, len)]; f; f = f->next)
        if (f->srclen == len && !memcmp(&f->src, ss, len))
            return f;
    return NULL;
}

static void note_drop(struct wr_udp_client *uc, struct flow *f, const char *why)
{
    unsigned suppressed = 0;
    uc->dropped_total++;
    if (f)
        f->dropped++;
    if (wr_ratelim_allow(&uc->drop_log, 10, &suppressed))
        wr_warn("%s %s: dropping datagrams: %s (%llu dropped in all)", uc->m->name,
                wr_mode_name(uc->m->mode), why, (unsigned long long)uc->dropped_total);
}

static void flow_free(struct flow *f, int graceful)
{
    struct wr_udp_client *uc = f->uc;
    struct flow **pp = &uc->table[hash_addr(&f->src, f->srclen)];
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    if (f->batched) {
        struct flow **tp = &uc->touched;
        while (*tp != f)
            tp = &(*tp)->touched_next;
        *tp = f->touched_next;
    }
    uc->n_flows--;
    wr_pending_cancel(f->pending);
    if (f->conn) {
        char a[WR_ADDRSTRLEN];
        wr_sockaddr_format((struct sockaddr *)&f->src, a, sizeof a);
        wr_info("%s %s flow %s ended: %llu datagrams out, %llu back, %llu dropped", uc->m->name,
                wr_mode_name(uc->m->mode), wr_safe(a), (unsigned long long)f->sent,
                (unsigned long long)f->received, (unsigned long long)f->dropped);
        if (graceful)
            wr_conn_finish(uc->ctx, f->conn);
        else
            wr_conn_close(f->conn, 1);
    }
    if (f->idle)
        event_free(f->idle);
    evbuffer_free(f->out);
    free(f);
}

static void flush_flow(struct flow *f)
{
    if (f->conn && evbuffer_get_length(f->out))
        wr_conn_write(f->conn, f->out);
}

/* Datagrams back from the server, to the flow's source. */
static void conn_cb(struct wr_conn *c, unsigned ev, int err, void *arg)
{
    struct flow *f = arg;
    struct wr_udp_client *uc = f->uc;
    if (ev & WR_EV_READ) {
        struct wr_udp_sent st = { 0 };
        const char *why = NULL;
        int r = wr_udp_send_frames(uc->fd, c->in, uc->stun, (struct sockaddr *)&f->src, f->srclen,
                                   &st, &why);
        f->received += st.sent;
        if (st.empty)
            note_drop(uc, f, "empty datagram from the server");
        if (st.refused)
            note_drop(uc, f, "the socket towards the application is full");
        if (r != 0) {
            wr_info("%s %s: closing a flow: the server sent %s", uc->m->name,
                    wr_mode_name(uc->m->mode), why);
            flow_free(f, 0);
            return;
        }
        event_base_gettimeofday_cached(uc->ctx->base, &f->last);
    }
    if (ev & (WR_EV_ERROR | WR_EV_EOF)) {
        /* Table 1: a connection closed or failed removes the flow; the next datagram from this
         * source opens a new one. */
        flow_free(f, !(ev & WR_EV_ERROR));
        return;
    }
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct flow *f = arg;
    struct wr_udp_client *uc = f->uc;
    struct timeval now, age;
    event_base_gettimeofday_cached(uc->ctx->base, &now);
    evutil_timersub(&now, &f->last, &age);
    if (age.tv_sec >= (time_t)uc->idle_s) {
        flow_free(f, 1);
        return;
    }
    struct timeval left = { (time_t)uc->idle_s - age.tv_sec, 0 };
    evtimer_add(f->idle, &left);
}

static void on_open(void *arg, struct wr_conn *conn, uint8_t rep, const char *why)
{
    struct flow *f = arg;
    struct wr_udp_client *uc = f->uc;
    f->pending = NULL;
    if (!conn) {
        char a[WR_ADDRSTRLEN];
        wr_sockaddr_format((struct sockaddr *)&f->src, a, sizeof a);
        wr_info("%s %s flow %s: connection failed: %s; %zu held datagrams dropped", uc->m->name,
                wr_mode_name(uc->m->mode), wr_safe(a), why ? why : wr_rep_str(rep), f->held);
        uc->dropped_total += f->held;
        flow_free(f, 0);
        return;
    }
    f->conn = conn;
    f->sent += f->held;
    f->held = 0;
    wr_conn_set_cb(conn, conn_cb, f);
    wr_conn_pause_read(conn, 0);
    flush_flow(f);
    if (evbuffer_get_length(conn->in))
        conn_cb(conn, WR_EV_READ, 0, f);
}

static struct flow *flow_new(struct wr_udp_client *uc, const struct sockaddr_storage *ss, socklen_t len)
{
    if (uc->n_flows >= uc->max_flows) {
        note_drop(uc, NULL, "too many flows (option udpMaxFlows)");
        return NULL;
    }
    struct flow *f = calloc(1, sizeof *f);
    if (!f || !(f->out = evbuffer_new()) ||
        !(f->idle = evtimer_new(uc->ctx->base, on_idle, f))) {
        if (f && f->out)
            evbuffer_free(f->out);
        free(f);
        note_drop(uc, NULL, "out of memory");
        return NULL;
    }
    f->uc = uc;
    memcpy(&f->src, ss, len);
    f->srclen = len;
    unsigned h = hash_addr(ss, len);
    f->next = uc->table[h];
    uc->table[h] = f;
    uc->n_flows++;
    event_base_gettimeofday_cached(uc->ctx->base, &f->last);
    struct timeval tv = { (time_t)uc->idle_s, 0 };
    evtimer_add(f->idle, &tv);
    struct wr_open_req req = { .args = uc->m->opts, .dst = NULL };
    f->pending = wr_method_open(uc->m, &req, on_open, f);
    if (!f->pending) {
        note_drop(uc, f, "cannot start a transport connection");
        flow_free(f, 0);
        return NULL;
    }
    return f;
}

static void take_datagram(struct wr_udp_client *uc, const uint8_t *p, size_t n,
                          const struct sockaddr_storage *ss, socklen_t sl)
{
    if (uc->stun && !wr_stun_check(p, n)) {
        note_drop(uc, NULL, "not a STUN message");
        return;
    }
    if (n == 0) {
        note_drop(uc, NULL, "empty datagram");
        return;
    }
    if (n > WR_UDP_MAX_DATAGRAM) {
        /* IPv6 can carry up to 65,527 bytes; the framing (and IPv4 targets) cannot. */
        note_drop(uc, NULL, "datagram larger than 65,507 bytes");
        return;
    }
    struct flow *f = flow_find(uc, ss, sl);
    if (!f && !(f = flow_new(uc, ss, sl)))
        return;
    if (!f->conn && (f->held >= HOLD_DGRAMS || evbuffer_get_length(f->out) + n > HOLD_BYTES)) {
        note_drop(uc, f, "the flow's connection is still opening and its queue is full");
        return;
    }
    if (f->conn && wr_conn_backlog(f->conn) > UDP_MAX_BACKLOG) {
        note_drop(uc, f, "the transport connection is not keeping up");
        return;
    }
    if (!uc->stun) {
        uint8_t h[2];
        wr_udp_frame_header(h, n);
        evbuffer_add(f->out, h, 2);
    }
    evbuffer_add(f->out, p, n);
    if (!f->conn) {
        f->held++;
        return;
    }
    f->sent++;
    if (!f->batched) {
        f->batched = 1;
        f->touched_next = uc->touched;
        uc->touched = f;
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct wr_udp_client *uc = arg;
    struct wr_udp_recv r;
    /* Up to 1,024 datagrams per wake-up: enough to keep pace with a stream that delivers
     * thousands at once, few enough that one busy socket cannot starve the loop. */
    for (int round = 0; round < 64; round++) {
        int n = wr_udp_recv_batch(uc->fd, uc->bufs, &r);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            if (r.msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                note_drop(uc, NULL, "datagram larger than 65,507 bytes");
                continue;
            }
            take_datagram(uc, r.iov[i].iov_base, r.msgs[i].msg_len, &r.src[i],
                          r.msgs[i].msg_hdr.msg_namelen);
        }
        /* One write per flow per batch: a codec frames (and pads) it once. */
        struct timeval now;
        event_base_gettimeofday_cached(uc->ctx->base, &now);
        while (uc->touched) {
            struct flow *f = uc->touched;
            uc->touched = f->touched_next;
            f->batched = 0;
            f->last = now;
            flush_flow(f);
        }
        if (n < WR_UDP_RECV_BATCH)
            break;
    }
}

static void client_kill(struct wr_live *l)
{
    struct wr_udp_client *uc = (struct wr_udp_client *)l;
    for (size_t i = 0; i < TABLE_SIZE; i++)
        while (uc->table[i])
            flow_free(uc->table[i], 0);
    wr_live_del(uc->ctx, &uc->live);
    if (uc->ev)
        event_free(uc->ev);
    if (uc->fd >= 0)
        close(uc->fd);
    uc->m->udp = NULL;
    free(uc->bufs);
    free(uc);
}

struct wr_udp_client *wr_udp_client_new(struct wr_method *m, const struct wr_endpoint *at, char *err,
                                        size_t errlen)
{
    unsigned long idle, maxf;
    if (wr_opt_uint(m->opts, "udpIdleTimeout", 60, 86400, &idle) != 0 || idle == 0) {
        snprintf(err, errlen, "udpIdleTimeout must be a number of seconds, 1 to 86400");
        return NULL;
    }
    if (wr_opt_uint(m->opts, "udpMaxFlows", 1024, 65536, &maxf) != 0 || maxf == 0) {
        snprintf(err, errlen, "udpMaxFlows must be a number, 1 to 65536");
        return NULL;
    }
    struct wr_udp_client *uc = calloc(1, sizeof *uc);
    if (!uc || !(uc->bufs = malloc((size_t)WR_UDP_RECV_BATCH * WR_UDP_RECV_BUF))) {
        free(uc);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uc->m = m;
    uc->ctx = m->ctx;
    uc->stun = m->mode == WR_MODE_STUN;
    uc->idle_s = (unsigned)idle;
    uc->max_flows = (unsigned)maxf;
    const struct sockaddr *sa = (const struct sockaddr *)&at->sa;
    socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    uc->fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    int sz = SOCKBUF;
    if (uc->fd < 0 || bind(uc->fd, sa, sl) != 0 || getsockname(uc->fd, (struct sockaddr *)&got, &gl) != 0) {
        snprintf(err, errlen, "cannot listen for UDP on %s: %s", at->host, strerror(errno));
        if (uc->fd >= 0)
            close(uc->fd);
        free(uc->bufs);
        free(uc);
        return NULL;
    }
    /* Bursts arrive faster than one loop turn; a deep buffer turns them into latency, not loss. */
    setsockopt(uc->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(uc->fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    wr_endpoint_from_sockaddr(&uc->addr, (struct sockaddr *)&got);
    uc->ev = event_new(uc->ctx->base, uc->fd, EV_READ | EV_PERSIST, on_readable, uc);
    if (!uc->ev || event_add(uc->ev, NULL) != 0) {
        snprintf(err, errlen, "out of memory");
        wr_live_add(uc->ctx, &uc->live, client_kill);
        client_kill(&uc->live);
        return NULL;
    }
    wr_live_add(uc->ctx, &uc->live, client_kill);
    m->udp = uc;
    return uc;
}

const struct wr_endpoint *wr_udp_client_addr(const struct wr_udp_client *uc)
{
    return &uc->addr;
}
