/* loadgen.c: the load generator bench/run.sh drives. One file, C11 + Linux libc (epoll), no other
 * dependency; build with `cc -O2 -o loadgen loadgen.c`.
 *
 * Servers (run until SIGTERM/SIGINT, or -t seconds):
 *   loadgen sink   -l HOST:PORT   discard every byte; on the peer's EOF reply with the 8-byte
 *                                 little-endian count of bytes received, then close
 *   loadgen echo   -l HOST:PORT   echo every byte back (a 1-byte request gets a 1-byte reply)
 *   loadgen target -l HOST:PORT   per connection: first byte 'S' -> sink, anything else -> echo
 *   Each prints "LISTEN HOST:PORT" once it is listening (port 0 picks a free one).
 *
 * Clients. -a ADDR is where to connect. With -s DEST, ADDR is a SOCKS5 proxy (no auth) and each
 * connection first does CONNECT DEST there. All IPv4 literals, e.g. 127.0.0.1:9000. When ADDR
 * is in 127/8, connections come from 127.0.0.2 .. 127.0.0.(1+N), N = 64 (-src N; -src 0: from
 * the default address), so TIME_WAIT sockets of earlier connections do not slow connect().
 *   loadgen throughput -a ADDR [-s DEST] [-n STREAMS] [-t SECONDS]
 *       STREAMS connections each send 'S' bytes as fast as they can for SECONDS, then half-close
 *       and wait for the sink's byte count, which must equal what was sent. Throughput is all
 *       bytes sent / (last count received - first stream ready), so bytes still queued in
 *       socket buffers when the clock stops are not counted as delivered.
 *   loadgen share -a ADDR [-s DEST] [-n STREAMS] [-t SECONDS]
 *       The same as throughput, and also how evenly the streams shared the bandwidth: each
 *       stream's rate is what it sent from WARM seconds after all were ready (1 s, or a quarter
 *       of SECONDS if that is shorter) until the clock stopped, so start-up and the drain at the
 *       end do not count. Adds min_mibps, max_mibps, spread_pct = 100 * (max - min) / min, and
 *       per_stream=r1,r2,... (MiB/s) to the RESULT line.
 *   loadgen connrate -a ADDR [-s DEST] [-c INFLIGHT] [-t SECONDS] [-rst]
 *       Keeps INFLIGHT connections going for SECONDS; each one connects (plus the SOCKS5
 *       handshake), sends 1 byte, reads the 1-byte echo, closes (-rst: abortive close), and is
 *       replaced. Prints connections/s and the time to first byte (connect() start to echo
 *       received) p50/p99.
 *   loadgen rtt -a ADDR [-s DEST] [-t SECONDS]
 *       One connection (plus the SOCKS5 handshake), then 1-byte echoes one after the other for
 *       SECONDS. Prints the round-trip time p50/p99 in microseconds. Each round trip is two
 *       process hand-offs (there and back) when nothing sits in between: what one hand-off
 *       costs on this machine bounds any relay's time to first byte from below.
 *   loadgen hold -a ADDR [-s DEST] -n N [-c PARALLEL] [-w STALL_S] [-t HOLD_S]
 *       Opens N connections (at most PARALLEL handshakes at once), does one 1-byte echo on each
 *       (gives up on the rest once STALL_S seconds pass with none finishing, or after 300 s),
 *       prints "HOLD established=E failed=F target=N ms=..." and keeps them idle. SIGUSR1: echo
 *       once more on every held connection, print the RESULT line with how many answered, exit.
 *       SIGTERM/SIGINT or HOLD_S elapsed: print the RESULT line (alive=-1: not checked), exit.
 *
 * loadgen freeport   prints a TCP port on 127.0.0.1 that was free a moment ago (for tools, like
 *                     iperf3, that cannot listen on port 0).
 *
 * Every client prints one "RESULT key=value ..." line on stdout. Exit status 0 on success, 1 on
 * a failed measurement, 2 on usage errors. The open-files limit is raised to the hard limit. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256 * 1024)
#define MAX_EVENTS 512

static volatile sig_atomic_t g_stop, g_usr1;
static unsigned char g_buf[CHUNK];

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_usr1 = 1;
    else
        g_stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(void)
{
    fputs("usage: loadgen sink|echo|target -l HOST:PORT [-t MAX_SECONDS]\n"
          "clients also take -src N (loopback source addresses to spread over; default 64)\n"
          "       loadgen throughput -a ADDR [-s SOCKS_DEST] [-n STREAMS] [-t SECONDS]\n"
          "       loadgen share -a ADDR [-s SOCKS_DEST] [-n STREAMS] [-t SECONDS]\n"
          "       loadgen connrate -a ADDR [-s SOCKS_DEST] [-c INFLIGHT] [-t SECONDS] [-rst]\n"
          "       loadgen rtt -a ADDR [-s SOCKS_DEST] [-t SECONDS]\n"
          "       loadgen hold -a ADDR [-s SOCKS_DEST] -n N [-c PARALLEL] [-w STALL_S] [-t HOLD_S]\n"
          "       loadgen freeport\n"
          "(see the comment at the top of loadgen.c)\n", stderr);
    exit(2);
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

static void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;       /* no SA_RESTART: epoll_wait returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void ep_set(int ep, int op, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };
    if (epoll_ctl(ep, op, fd, &ev) != 0 && op != EPOLL_CTL_DEL)
        die("epoll_ctl: %s", strerror(errno));
}

/* ------------------------------------------------------------------------------------------ */
/* Servers                                                                                     */

enum { ROLE_SINK, ROLE_ECHO, ROLE_TARGET };
enum { SM_NEW, SM_SINK, SM_ECHO };

struct sconn {
    int fd;
    uint8_t mode;
    uint8_t out_blocked;       /* echo: waiting for EPOLLOUT, reads paused */
    uint32_t plen, poff;       /* unsent echo bytes in pend */
    uint64_t count;
    unsigned char *pend;
};

static void sconn_close(struct sconn *c)
{
    close(c->fd);
    free(c->pend);
    free(c);
}

/* Echo: sends p[0..n); keeps what the socket did not take. Returns -1 on error. */
static int echo_out(int ep, struct sconn *c, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return -1;
        c->pend = malloc(n);
        if (!c->pend)
            return -1;
        memcpy(c->pend, p, n);
        c->plen = (uint32_t)n;
        c->poff = 0;
        c->out_blocked = 1;
        ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
        return 0;
    }
    return 0;
}

/* Returns 1 if the connection was closed. */
static int server_conn_event(int ep, int role, struct sconn *c, uint32_t events)
{
    if (c->out_blocked) {
        if (events & (EPOLLERR | EPOLLHUP)) {
            sconn_close(c);
            return 1;
        }
        while (c->poff < c->plen) {
            ssize_t w = write(c->fd, c->pend + c->poff, c->plen - c->poff);
            if (w > 0) {
                c->poff += (uint32_t)w;
            } else if (w < 0 && errno == EAGAIN) {
                return 0;
            } else if (!(w < 0 && errno == EINTR)) {
                sconn_close(c);
                return 1;
            }
        }
        free(c->pend);
        c->pend = NULL;
        c->plen = c->poff = 0;
        c->out_blocked = 0;
        ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
        return 0;
    }
    for (int i = 0; i < 16; i++) {   /* bounded: be fair to the other connections */
        ssize_t n = read(c->fd, g_buf, sizeof g_buf);
        if (n > 0) {
            if (c->mode == SM_NEW)
                c->mode = role == ROLE_SINK ? SM_SINK : role == ROLE_ECHO ? SM_ECHO
                        : g_buf[0] == 'S' ? SM_SINK : SM_ECHO;
            c->count += (uint64_t)n;
            if (c->mode == SM_ECHO) {
                if (echo_out(ep, c, g_buf, (size_t)n) != 0) {
                    sconn_close(c);
                    return 1;
                }
                if (c->out_blocked)
                    return 0;
            }
            if ((size_t)n < sizeof g_buf)
                return 0;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n == 0 && (c->mode == SM_SINK || (c->mode == SM_NEW && role == ROLE_SINK))) {
            unsigned char le[8];
            for (int k = 0; k < 8; k++)
                le[k] = (unsigned char)(c->count >> (8 * k));
            if (write(c->fd, le, sizeof le) != (ssize_t)sizeof le)
                fprintf(stderr, "loadgen: sink could not send its count\n");
        }
        sconn_close(c);          /* EOF or error */
        return 1;
    }
    return 0;
}

static int run_server(int role, int argc, char **argv)
{
    const char *listen_s = NULL;
    double max_s = 86400;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-l") && i + 1 < argc)
            listen_s = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            max_s = atof(argv[++i]);
        else
            usage();
    }
    struct sockaddr_in sa;
    if (!listen_s || parse_addr(listen_s, &sa) != 0)
        usage();
    raise_nofile();
    setup_signals();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 4096) != 0)
        die("cannot listen on %s: %s", listen_s, strerror(errno));
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    printf("LISTEN %s:%u\n", host, ntohs(sa.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    static int lmark;              /* data.ptr of the listener */
    ep_set(ep, EPOLL_CTL_ADD, lfd, EPOLLIN, &lmark);
    int listening = 1;
    uint64_t resume_at = 0, end = now_ns() + (uint64_t)(max_s * 1e9);
    struct epoll_event evs[MAX_EVENTS];
    while (!g_stop && now_ns() < end) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        if (!listening && now_ns() >= resume_at) {
            ep_set(ep, EPOLL_CTL_ADD, lfd, EPOLLIN, &lmark);
            listening = 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr != &lmark) {
                server_conn_event(ep, role, evs[i].data.ptr, evs[i].events);
                continue;
            }
            for (int k = 0; k < 256; k++) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        fprintf(stderr, "loadgen: accept: %s; pausing 100 ms\n", strerror(errno));
                        epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
                        listening = 0;
                        resume_at = now_ns() + 100000000u;
                    }
                    break;
                }
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct sconn *c = calloc(1, sizeof *c);
                if (!c) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                ep_set(ep, EPOLL_CTL_ADD, fd, EPOLLIN, c);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Client connections: connect, optional SOCKS5 CONNECT, then the subcommand's own states.    */

enum {
    C_FREE, C_CONNECTING, C_S5_METHOD, C_S5_REPLY,
    C_RUN,          /* throughput: sending */
    C_FIN_WAIT,     /* throughput: half-closed, waiting for the sink's count */
    C_ECHO_WAIT,    /* connrate/hold: 1 byte sent, waiting for it to come back */
    C_IDLE,         /* hold: established and idle */
    C_CHECK_WAIT,   /* hold: liveness echo sent */
    C_DONE,
};

struct cconn {
    int fd;
    int state;
    unsigned rhave, rneed;
    unsigned char rbuf[64];
    uint64_t t0, tready, tend;
    uint64_t sent, count;
    uint64_t sent_warm, sent_stop;  /* share: what it had sent at the two measuring points */
};

static struct sockaddr_in g_addr, g_dest;
static int g_socks;
static int g_src_n = 64;           /* -src: spread over 127.0.0.2 .. 127.0.0.(1+N) */
static unsigned g_src_next;

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Starts a connection. Returns 0, or -1 with errno (slot left C_FREE). */
static int cc_open(int ep, struct cconn *c)
{
    memset(c, 0, sizeof *c);
    c->t0 = now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (g_src_n > 0 && (ntohl(g_addr.sin_addr.s_addr) >> 24) == 127) {
        /* Loopback only: use many source addresses, so the TIME_WAIT sockets that thousands of
         * closes per second leave behind do not make connect() hunt for a free port (which
         * puts a tail of up to ~250 ms on connection times). The port is still picked by
         * connect(), with the full 4-tuple in view (IP_BIND_ADDRESS_NO_PORT). */
        struct sockaddr_in src = { .sin_family = AF_INET };
        src.sin_addr.s_addr = htonl(0x7f000002u + (g_src_next++ % (unsigned)g_src_n));
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        bind(c->fd, (struct sockaddr *)&src, sizeof src);   /* on failure: the default source */
    }
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(c->fd);
        c->fd = -1;
        errno = e;
        return -1;
    }
    c->state = C_CONNECTING;
    ep_set(ep, EPOLL_CTL_ADD, c->fd, EPOLLOUT, c);
    return 0;
}

static void cc_close(int ep, struct cconn *c, int rst)
{
    (void)ep;
    if (c->fd >= 0) {
        if (rst) {
            struct linger lg = { 1, 0 };
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(c->fd);   /* close() also removes it from the epoll set */
    }
    c->fd = -1;
    c->state = C_FREE;
}

static int write_all_small(int fd, const void *p, size_t n)
{
    return write(fd, p, n) == (ssize_t)n ? 0 : -1;   /* fresh socket: a few bytes always fit */
}

/* Reads until rhave == rneed. Returns 1 complete, 0 need more, -1 EOF/error. */
static int cc_fill(struct cconn *c)
{
    while (c->rhave < c->rneed) {
        ssize_t n = read(c->fd, c->rbuf + c->rhave, c->rneed - c->rhave);
        if (n > 0)
            c->rhave += (unsigned)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && errno == EAGAIN)
            return 0;
        else {
            if (n == 0)
                errno = ENODATA;   /* reported as "EOF" */
            return -1;
        }
    }
    return 1;
}

/* Drives the connect and SOCKS5 states. Returns 1 when the connection became ready for
 * payload (state left as is for the caller to set), 0 if still in progress, -1 on failure. */
static int cc_handshake(int ep, struct cconn *c, uint32_t events)
{
    int r;
    switch (c->state) {
    case C_CONNECTING: {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
            errno = err;
            return -1;
        }
        if (!(events & EPOLLOUT))
            return 0;
        if (!g_socks)
            return 1;
        static const unsigned char greet[3] = { 5, 1, 0 };
        if (write_all_small(c->fd, greet, sizeof greet) != 0)
            return -1;
        c->state = C_S5_METHOD;
        c->rhave = 0;
        c->rneed = 2;
        ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
        return 0;
    }
    case C_S5_METHOD: {
        if ((r = cc_fill(c)) <= 0)
            return r;
        if (c->rbuf[0] != 5 || c->rbuf[1] != 0) {
            errno = EPROTO;
            return -1;
        }
        unsigned char req[10] = { 5, 1, 0, 1 };
        memcpy(req + 4, &g_dest.sin_addr, 4);
        memcpy(req + 8, &g_dest.sin_port, 2);
        if (write_all_small(c->fd, req, sizeof req) != 0)
            return -1;
        c->state = C_S5_REPLY;
        c->rhave = 0;
        c->rneed = 5;    /* VER REP RSV ATYP + first address byte (the length for a name) */
        return 0;
    }
    case C_S5_REPLY:
        for (;;) {
            if ((r = cc_fill(c)) <= 0)
                return r;
            if (c->rbuf[0] != 5 || c->rbuf[1] != 0) {
                errno = EPROTO;     /* a SOCKS5 failure reply */
                return -1;
            }
            unsigned need = c->rbuf[3] == 1 ? 10 : c->rbuf[3] == 4 ? 22
                          : c->rbuf[3] == 3 ? 7u + c->rbuf[4] : 0;
            if (!need) {
                errno = EPROTO;
                return -1;
            }
            if (c->rhave >= need)
                return 1;
            c->rneed = need;
        }
    default:
        return -1;
    }
}

static const char *errname(int e)
{
    static char other[16];
    switch (e) {
    case 0: return "none";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case ENODATA: return "EOF";
    case EPROTO: return "SOCKS5_FAILURE";
    case ENOBUFS: return "ENOBUFS";
    default: snprintf(other, sizeof other, "errno%d", e); return other;
    }
}

static void print_result(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    fputs("RESULT ", stdout);
    vprintf(fmt, ap);
    printf(" cpu_ms=%.0f\n", cpu_ms);   /* this process's user + system CPU */
    fflush(stdout);
    va_end(ap);
}

struct client_opts {
    int n, c, rst;
    double t, w;
};

static void parse_client(int argc, char **argv, struct client_opts *o)
{
    const char *a = NULL, *s = NULL;
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(f, "-a") && has) a = argv[++i];
        else if (!strcmp(f, "-s") && has) s = argv[++i];
        else if (!strcmp(f, "-n") && has) o->n = atoi(argv[++i]);
        else if (!strcmp(f, "-c") && has) o->c = atoi(argv[++i]);
        else if (!strcmp(f, "-t") && has) o->t = atof(argv[++i]);
        else if (!strcmp(f, "-w") && has) o->w = atof(argv[++i]);
        else if (!strcmp(f, "-rst")) o->rst = 1;
        else if (!strcmp(f, "-src") && has) g_src_n = atoi(argv[++i]);
        else usage();
    }
    if (!a || parse_addr(a, &g_addr) != 0)
        usage();
    if (s) {
        if (parse_addr(s, &g_dest) != 0)
            usage();
        g_socks = 1;
    }
    if (g_src_n < 0 || g_src_n > 250 || o->n < 1 || o->n > 1000000 || o->c < 1 || o->c > 100000 || !(o->t > 0) || o->t > 86400 ||
        !(o->w > 0))
        usage();
}

/* ------------------------------------------------------------------------------------------ */

static int run_streams(int argc, char **argv, int share)
{
    struct client_opts o = { .n = 1, .c = 1, .t = 5, .w = 30 };
    parse_client(argc, argv, &o);
    raise_nofile();
    setup_signals();
    memset(g_buf, 'S', sizeof g_buf);      /* the first byte tells a `target` to sink */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct cconn *cs = calloc((size_t)o.n, sizeof *cs);
    if (!cs)
        die("out of memory");
    for (int i = 0; i < o.n; i++)
        if (cc_open(ep, &cs[i]) != 0)
            die("connect: %s", strerror(errno));
    int ready = 0, done = 0, shut = 0, warm_taken = 0;
    uint64_t start = 0, stop_at = 0, warm_at = 0, t_warm = 0, t_stop = 0;
    double warm_s = o.t / 4 < 1.0 ? o.t / 4 : 1.0;
    uint64_t limit = now_ns() + (uint64_t)((o.t + 60) * 1e9);
    struct epoll_event evs[MAX_EVENTS];
    while (done < o.n) {
        uint64_t now = now_ns();
        if (now > limit || g_stop)
            die("throughput: gave up (%s)", g_stop ? "signalled" : "timed out waiting for the sink");
        if (share && ready == o.n && !warm_taken && now >= warm_at) {
            for (int i = 0; i < o.n; i++)
                cs[i].sent_warm = cs[i].sent;
            t_warm = now;
            warm_taken = 1;
        }
        if (ready == o.n && !shut && now >= stop_at) {
            t_stop = now;
            for (int i = 0; i < o.n; i++)
                cs[i].sent_stop = cs[i].sent;
            for (int i = 0; i < o.n; i++) {
                shutdown(cs[i].fd, SHUT_WR);
                cs[i].state = C_FIN_WAIT;
                cs[i].rhave = 0;
                cs[i].rneed = 8;
                ep_set(ep, EPOLL_CTL_MOD, cs[i].fd, EPOLLIN, &cs[i]);
            }
            shut = 1;
        }
        int n = epoll_wait(ep, evs, MAX_EVENTS, 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct cconn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->state == C_CONNECTING || c->state == C_S5_METHOD || c->state == C_S5_REPLY) {
                int r = cc_handshake(ep, c, e);
                if (r < 0)
                    die("throughput: connection/SOCKS5 handshake failed: %s", strerror(errno));
                if (r == 1) {
                    c->state = C_RUN;
                    c->tready = now_ns();
                    if (!start)
                        start = c->tready;
                    if (++ready == o.n) {
                        stop_at = c->tready + (uint64_t)(o.t * 1e9);
                        warm_at = c->tready + (uint64_t)(warm_s * 1e9);
                    }
                    ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
                }
            } else if (c->state == C_RUN) {
                if (e & (EPOLLERR | EPOLLHUP))
                    die("throughput: connection failed while sending");
                for (int k = 0; k < 4; k++) {
                    ssize_t w = write(c->fd, g_buf, sizeof g_buf);
                    if (w > 0) {
                        c->sent += (uint64_t)w;
                        continue;
                    }
                    if (w < 0 && (errno == EAGAIN || errno == EINTR))
                        break;
                    die("throughput: write: %s", strerror(errno));
                }
            } else if (c->state == C_FIN_WAIT) {
                int r = cc_fill(c);
                if (r < 0)
                    die("throughput: connection closed before the sink's count arrived");
                if (r == 1) {
                    c->tend = now_ns();
                    for (int k = 0; k < 8; k++)
                        c->count |= (uint64_t)c->rbuf[k] << (8 * k);
                    c->state = C_DONE;
                    close(c->fd);
                    c->fd = -1;
                    done++;
                }
            }
        }
    }
    uint64_t bytes = 0, end = 0;
    int mismatch = 0;
    for (int i = 0; i < o.n; i++) {
        bytes += cs[i].sent;
        if (cs[i].tend > end)
            end = cs[i].tend;
        if (cs[i].count != cs[i].sent) {
            fprintf(stderr, "loadgen: stream %d: sent %llu bytes, the sink got %llu\n", i,
                    (unsigned long long)cs[i].sent, (unsigned long long)cs[i].count);
            mismatch = 1;
        }
    }
    double secs = (double)(end - start) / 1e9;
    if (!share) {
        print_result("mode=throughput streams=%d seconds=%.3f bytes=%llu mibps=%.1f verified=%s",
                     o.n, secs, (unsigned long long)bytes, (double)bytes / 1048576.0 / secs,
                     mismatch ? "no" : "yes");
        return mismatch;
    }
    double span = (double)(t_stop - t_warm) / 1e9, lo = 0, hi = 0;
    char *per = calloc((size_t)o.n, 16);
    if (!per)
        die("out of memory");
    size_t off = 0;
    for (int i = 0; i < o.n; i++) {
        double r = span > 0 ? (double)(cs[i].sent_stop - cs[i].sent_warm) / 1048576.0 / span : 0;
        if (i == 0 || r < lo)
            lo = r;
        if (i == 0 || r > hi)
            hi = r;
        off += (size_t)snprintf(per + off, (size_t)o.n * 16 - off, "%s%.1f", i ? "," : "", r);
    }
    print_result("mode=share streams=%d seconds=%.3f bytes=%llu mibps=%.1f verified=%s "
                 "measured_s=%.3f min_mibps=%.1f max_mibps=%.1f spread_pct=%.1f per_stream=%s",
                 o.n, secs, (unsigned long long)bytes, (double)bytes / 1048576.0 / secs,
                 mismatch ? "no" : "yes", span, lo, hi, lo > 0 ? 100.0 * (hi - lo) / lo : 1e9, per);
    free(per);
    return mismatch;
}

static int run_throughput(int argc, char **argv)
{
    return run_streams(argc, argv, 0);
}

/* ------------------------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int run_connrate(int argc, char **argv)
{
    struct client_opts o = { .n = 1, .c = 32, .t = 5, .w = 30 };
    parse_client(argc, argv, &o);
    rlim_t lim = raise_nofile();
    if ((rlim_t)o.c + 16 > lim)
        die("connrate: %d in flight needs more open files than the limit (%llu)", o.c,
            (unsigned long long)lim);
    setup_signals();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct cconn *cs = calloc((size_t)o.c, sizeof *cs);
    uint64_t *retry_at = calloc((size_t)o.c, sizeof *retry_at);
    size_t cap = 1u << 16, nsamp = 0;
    uint32_t *samp = malloc(cap * sizeof *samp);   /* TTFB, microseconds */
    if (!cs || !retry_at || !samp)
        die("out of memory");
    uint64_t start = now_ns(), end = start + (uint64_t)(o.t * 1e9);
    uint64_t completed = 0, errors = 0, open_fail = 0;
    int last_errno = 0;
    for (int i = 0; i < o.c; i++)
        cs[i].fd = -1;
    struct epoll_event evs[MAX_EVENTS];
    const unsigned char ping = 'E';
    for (;;) {
        uint64_t now = now_ns();
        if (now >= end || g_stop)
            break;
        for (int i = 0; i < o.c; i++) {
            if (cs[i].state != C_FREE || retry_at[i] > now)
                continue;
            if (cc_open(ep, &cs[i]) != 0) {
                open_fail++;
                last_errno = errno;
                retry_at[i] = now + 10000000u;    /* out of ports/files: back off 10 ms */
                cs[i].fd = -1;
            }
        }
        int n = epoll_wait(ep, evs, MAX_EVENTS, 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct cconn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->state == C_CONNECTING || c->state == C_S5_METHOD || c->state == C_S5_REPLY) {
                int r = cc_handshake(ep, c, e);
                if (r == 1) {
                    if (write_all_small(c->fd, &ping, 1) != 0) {
                        r = -1;
                    } else {
                        c->state = C_ECHO_WAIT;
                        c->rhave = 0;
                        c->rneed = 1;
                        ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
                    }
                }
                if (r < 0) {
                    errors++;
                    last_errno = errno;
                    cc_close(ep, c, 1);
                }
            } else if (c->state == C_ECHO_WAIT) {
                int r = cc_fill(c);
                if (r == 1) {
                    uint64_t us = (now_ns() - c->t0) / 1000;
                    if (nsamp == cap) {
                        uint32_t *ns = realloc(samp, cap * 2 * sizeof *samp);
                        if (ns) {
                            samp = ns;
                            cap *= 2;
                        }
                    }
                    if (nsamp < cap)
                        samp[nsamp++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
                    completed++;
                    cc_close(ep, c, o.rst);
                } else if (r < 0) {
                    errors++;
                    last_errno = errno;
                    cc_close(ep, c, 1);
                }
            }
        }
    }
    double secs = (double)(now_ns() - start) / 1e9;
    double p50 = 0, p99 = 0, pmax = 0;
    if (nsamp) {
        qsort(samp, nsamp, sizeof *samp, cmp_u32);
        p50 = samp[nsamp * 50 / 100] / 1000.0;
        p99 = samp[nsamp * 99 / 100] / 1000.0;
        pmax = samp[nsamp - 1] / 1000.0;
    }
    print_result("mode=connrate inflight=%d seconds=%.3f conns=%llu cps=%.0f ttfb_p50_ms=%.3f "
                 "ttfb_p99_ms=%.3f ttfb_max_ms=%.3f errors=%llu open_failures=%llu last_error=%s",
                 o.c, secs, (unsigned long long)completed, (double)completed / secs, p50, p99, pmax,
                 (unsigned long long)errors, (unsigned long long)open_fail,
                 errname(last_errno));
    for (int i = 0; i < o.c; i++)
        cc_close(ep, &cs[i], 0);
    return completed ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */

static int run_hold(int argc, char **argv)
{
    struct client_opts o = { .n = 1000, .c = 100, .t = 3600, .w = 5 };
    parse_client(argc, argv, &o);
    rlim_t lim = raise_nofile();
    if ((rlim_t)o.n + 16 > lim)
        fprintf(stderr, "loadgen: warning: %d connections need more open files than the limit (%llu)\n",
                o.n, (unsigned long long)lim);
    setup_signals();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct cconn *cs = calloc((size_t)o.n, sizeof *cs);
    if (!cs)
        die("out of memory");
    for (int i = 0; i < o.n; i++)
        cs[i].fd = -1;
    const unsigned char ping = 'E';
    int opened = 0, inprog = 0, established = 0, failed = 0, dropped = 0;
    int last_errno = 0;
    uint64_t start = now_ns(), est_deadline = start + 300000000000u, progress = start;
    struct epoll_event evs[MAX_EVENTS];

    /* Phase 1: establish. */
    while (established + failed < o.n && !g_stop) {
        uint64_t now = now_ns();
        if (now > est_deadline || now - progress > (uint64_t)(o.w * 1e9))
            break;
        while (inprog < o.c && opened < o.n) {
            struct cconn *c = &cs[opened++];
            if (cc_open(ep, c) != 0) {
                last_errno = errno;
                progress = now_ns();
                failed++;
                c->fd = -1;
                c->state = C_DONE;
            } else {
                inprog++;
            }
        }
        int n = epoll_wait(ep, evs, MAX_EVENTS, 50);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct cconn *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            int r = 0;
            if (c->state == C_CONNECTING || c->state == C_S5_METHOD || c->state == C_S5_REPLY) {
                r = cc_handshake(ep, c, e);
                if (r == 1) {
                    r = 0;
                    if (write_all_small(c->fd, &ping, 1) != 0) {
                        r = -1;
                    } else {
                        c->state = C_ECHO_WAIT;
                        c->rhave = 0;
                        c->rneed = 1;
                        ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
                    }
                }
            } else if (c->state == C_ECHO_WAIT) {
                r = cc_fill(c);
                if (r == 1) {
                    c->state = C_IDLE;
                    progress = now_ns();
                    established++;
                    inprog--;
                    ep_set(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN | EPOLLRDHUP, c);
                    r = 0;
                }
            } else if (c->state == C_IDLE) {
                char b[64];
                ssize_t k = read(c->fd, b, sizeof b);
                if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                    dropped++;
                    established--;
                    cc_close(ep, c, 0);
                    c->state = C_DONE;
                }
            }
            if (r < 0) {
                last_errno = errno;
                progress = now_ns();
                failed++;
                inprog--;
                cc_close(ep, c, 1);
                c->state = C_DONE;
            }
        }
    }
    /* Anything still in progress at the deadline counts as failed. */
    for (int i = 0; i < opened; i++) {
        struct cconn *c = &cs[i];
        if (c->state != C_IDLE && c->state != C_DONE) {
            failed++;
            cc_close(ep, c, 1);
            c->state = C_DONE;
        }
    }
    failed += o.n - opened;
    printf("HOLD established=%d failed=%d target=%d ms=%llu last_error=%s\n", established, failed,
           o.n, (unsigned long long)((now_ns() - start) / 1000000),
           errname(last_errno));
    fflush(stdout);

    /* Phase 2: hold, idle, until a signal or -t. */
    uint64_t hold_end = now_ns() + (uint64_t)(o.t * 1e9);
    while (!g_stop && !g_usr1 && now_ns() < hold_end) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, 200);
        for (int i = 0; i < n; i++) {
            struct cconn *c = evs[i].data.ptr;
            char b[64];
            ssize_t k = read(c->fd, b, sizeof b);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
                dropped++;
                cc_close(ep, c, 0);
                c->state = C_DONE;
            }
        }
    }
    int alive = -1;
    if (g_usr1 && !g_stop) {
        /* Phase 3: one more echo on every held connection. */
        int waiting = 0;
        alive = 0;
        for (int i = 0; i < o.n; i++) {
            struct cconn *c = &cs[i];
            if (c->state != C_IDLE)
                continue;
            if (write_all_small(c->fd, &ping, 1) != 0)
                continue;
            c->state = C_CHECK_WAIT;
            c->rhave = 0;
            c->rneed = 1;
            waiting++;
        }
        uint64_t check_end = now_ns() + 10000000000u;
        while (waiting > 0 && !g_stop && now_ns() < check_end) {
            int n = epoll_wait(ep, evs, MAX_EVENTS, 100);
            for (int i = 0; i < n; i++) {
                struct cconn *c = evs[i].data.ptr;
                if (c->state != C_CHECK_WAIT)
                    continue;
                int r = cc_fill(c);
                if (r != 0) {
                    waiting--;
                    if (r == 1)
                        alive++;
                    c->state = C_DONE;
                }
            }
        }
    }
    print_result("mode=hold target=%d established=%d failed=%d dropped=%d alive=%d", o.n,
                 established, failed, dropped, alive);
    return (established == o.n && (alive < 0 || alive == o.n)) ? 0 : 1;
}

static int run_rtt(int argc, char **argv)
{
    struct client_opts o = { .n = 1, .c = 1, .t = 2, .w = 30 };
    parse_client(argc, argv, &o);
    setup_signals();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct cconn c = { .fd = -1 };
    if (cc_open(ep, &c) != 0)
        die("rtt: connect: %s", strerror(errno));
    struct epoll_event evs[MAX_EVENTS];
    uint64_t limit = now_ns() + 10000000000u;
    for (int ready = 0; !ready;) {
        if (now_ns() > limit || g_stop)
            die("rtt: the connection did not become ready");
        int n = epoll_wait(ep, evs, MAX_EVENTS, 100);
        for (int i = 0; i < n && !ready; i++) {
            int r = cc_handshake(ep, &c, evs[i].events);
            if (r < 0)
                die("rtt: connection/SOCKS5 handshake failed: %s", strerror(errno));
            ready = r;
        }
    }
    /* Blocking from here: a read that waits sleeps in the kernel as epoll_wait would. */
    int fl = fcntl(c.fd, F_GETFL);
    if (fl < 0 || fcntl(c.fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        die("rtt: fcntl: %s", strerror(errno));
    size_t cap = 1u << 20, n = 0;
    uint32_t *samp = malloc(cap * sizeof *samp);
    if (!samp)
        die("out of memory");
    uint64_t end = now_ns() + (uint64_t)(o.t * 1e9);
    const unsigned char ping = 'E';
    while (n < cap && !g_stop) {
        uint64_t t0 = now_ns();
        if (t0 >= end)
            break;
        unsigned char back;
        if (write(c.fd, &ping, 1) != 1 || read(c.fd, &back, 1) != 1 || back != ping)
            die("rtt: the echo failed");
        samp[n++] = (uint32_t)((now_ns() - t0) / 1000);
    }
    close(c.fd);
    if (n == 0)
        die("rtt: no round trip completed");
    qsort(samp, n, sizeof *samp, cmp_u32);
    print_result("mode=rtt count=%zu rtt_p50_us=%u rtt_p99_us=%u", n, samp[n / 2],
                 samp[(size_t)((double)n * 0.99)]);
    free(samp);
    return 0;
}

static int run_freeport(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    parse_addr("127.0.0.1:0", &sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        die("freeport: %s", strerror(errno));
    printf("%u\n", ntohs(sa.sin_port));
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    argc -= 2;
    argv += 2;
    if (!strcmp(cmd, "sink"))
        return run_server(ROLE_SINK, argc, argv);
    if (!strcmp(cmd, "echo"))
        return run_server(ROLE_ECHO, argc, argv);
    if (!strcmp(cmd, "target"))
        return run_server(ROLE_TARGET, argc, argv);
    if (!strcmp(cmd, "throughput"))
        return run_throughput(argc, argv);
    if (!strcmp(cmd, "share"))
        return run_streams(argc, argv, 1);
    if (!strcmp(cmd, "connrate"))
        return run_connrate(argc, argv);
    if (!strcmp(cmd, "hold"))
        return run_hold(argc, argv);
    if (!strcmp(cmd, "rtt"))
        return run_rtt(argc, argv);
    if (!strcmp(cmd, "freeport"))
        return run_freeport();
    usage();
    return 2;
}
