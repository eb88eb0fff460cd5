/* udpgen.c: the UDP load generator bench/udp.sh drives. One file, C11 + Linux libc
 * (recvmmsg/sendmmsg, ppoll), no other dependency; build with `cc -O2 -o udpgen udpgen.c`.
 *
 * Every datagram the sender makes starts with a 24-byte header (magic, run id, sequence
 * number, CLOCK_MONOTONIC send time in ns) and is filled after it with a pattern derived from
 * the sequence number, so a receiver can tell a whole datagram from a cut, merged or changed
 * one. CLOCK_MONOTONIC is one clock for the whole machine, so a sink in another process can
 * measure one-way latency.
 *
 * Servers (run until SIGTERM/SIGINT):
 *   udpgen echo -l HOST:PORT          send every datagram back to where it came from
 *   udpgen sink -l HOST:PORT [-q MS]  count datagrams per run id; once a run has been quiet for
 *                                     MS ms (default 300), print
 *       RUN id=ID recv=N bytes=B bad=N dup=N reorder=N first_ns=T last_ns=T p50_us=L p99_us=L
 *     (latency one-way, from the send time in each datagram). Both print "LISTEN HOST:PORT"
 *     once listening (port 0 picks a free one).
 *
 * Client:
 *   udpgen send -a HOST:PORT -s SIZE [-r PPS] [-t SECONDS] [-e] [-w DRAIN_MS] [-i RUN_ID] [-W WARM_MS]
 *     Sends SIZE-byte datagrams (24 to 65507) from one socket for SECONDS (default 5) at PPS
 *     datagrams per second (paced in 100 us steps; 0 or absent: as fast as sendmmsg goes). With
 *     -e the far end echoes: replies are read on the same socket while sending and for
 *     DRAIN_MS ms (default 1000) after, checked, and counted. Prints
 *       RESULT size=S offered_pps=R sent=N send_pps=X send_errors=N [recv=N recv_pps=Y
 *       loss_pct=L bad=N dup=N reorder=N p50_us=A p99_us=B] rxdrops=N t0_ns=T run=ID cpu_ms=C
 *     rxdrops: datagrams the kernel dropped for this socket, its receive buffer being full.
 *     send_pps is sent / the send period; recv_pps is replies / (last reply - first send).
 *     Without -e the sink's RUN line (same run id) says what arrived. -W: first send one
 *     warm-up datagram that is not part of the run (a tunnel opens the flow with it), wait
 *     WARM_MS ms and discard what came back, then start the clock.
 *
 * Exit status 0 on success, 1 on failure, 2 on usage errors. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x57524e55u               /* "WRNU" */
#define HDR 24
#define BATCH 64
#define MAXDG 65507
#define SOCKBUF (4 * 1024 * 1024)
#define MAXSEQ (1u << 25)               /* duplicate bitmap: 32 M sequence numbers (4 MiB) */
#define LAT_BUCKETS 20000               /* 10 us each, up to 200 ms; then overflow */

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
    fputs("usage: udpgen echo|sink -l HOST:PORT [-q QUIET_MS]\n"
          "       udpgen send -a HOST:PORT -s SIZE [-r PPS] [-t SECONDS] [-e] [-w DRAIN_MS] [-i RUN_ID] [-W WARM_MS]\n",
          stderr);
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
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int udp_socket(const struct sockaddr_in *bind_to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sz = SOCKBUF;
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (bind_to && bind(fd, (const struct sockaddr *)bind_to, sizeof *bind_to) != 0) {
        perror("bind");
        exit(1);
    }
    return fd;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void fill(uint8_t *p, size_t n, uint32_t run, uint64_t seq, uint64_t ts)
{
    put32(p, MAGIC);
    put32(p + 4, run);
    put64(p + 8, seq);
    put64(p + 16, ts);
    for (size_t i = HDR; i < n; i++)
        p[i] = (uint8_t)(seq + i);
}

/* 1 if p[0..n) is a whole datagram of `size` bytes from run `run`. */
static int check(const uint8_t *p, size_t n, size_t size, uint32_t run)
{
    if (n != size || n < HDR || get32(p) != MAGIC || get32(p + 4) != run)
        return 0;
    uint64_t seq = get64(p + 8);
    for (size_t i = HDR; i < n; i++)
        if (p[i] != (uint8_t)(seq + i))
            return 0;
    return 1;
}

/* Receive-side statistics of one run. */
struct stats {
    uint64_t recv, bytes, bad, dup, reorder, last_seq, first_ns, last_ns;
    int any;
    uint8_t *seen;                      /* MAXSEQ bits */
    uint64_t lat[LAT_BUCKETS + 1];
};

static void stats_reset(struct stats *st)
{
    uint8_t *seen = st->seen;
    memset(st, 0, sizeof *st);
    st->seen = seen;
    memset(seen, 0, MAXSEQ / 8);
}

static void stats_add(struct stats *st, uint64_t seq, uint64_t sent_ns, uint64_t now, size_t n)
{
    if (seq < MAXSEQ) {
        if (st->seen[seq / 8] & (1u << (seq % 8))) {
            st->dup++;
            return;
        }
        st->seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
    }
    if (st->any && seq < st->last_seq)
        st->reorder++;
    st->last_seq = seq;
    if (!st->any)
        st->first_ns = now;
    st->any = 1;
    st->last_ns = now;
    st->recv++;
    st->bytes += n;
    uint64_t us10 = now > sent_ns ? (now - sent_ns) / 10000 : 0;
    st->lat[us10 < LAT_BUCKETS ? us10 : LAT_BUCKETS]++;
}

static double pct_us(const struct stats *st, double q)
{
    if (!st->recv)
        return 0;
    uint64_t want = (uint64_t)(q * (double)st->recv), acc = 0;
    for (int i = 0; i <= LAT_BUCKETS; i++) {
        acc += st->lat[i];
        if (acc > want)
            return i * 10.0 + 5;
    }
    return LAT_BUCKETS * 10.0;
}

/* Datagrams the kernel dropped for the socket bound to local port `port` (its receive buffer
 * was full), from /proc/net/udp; -1 if not found. */
static long long socket_drops(unsigned port)
{
    FILE *f = fopen("/proc/net/udp", "r");
    char line[512];
    long long drops = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned lport;
        char *colon = strchr(line, ':');          /* after "sl" */
        if (!colon || !(colon = strchr(colon + 1, ':')) || sscanf(colon + 1, "%x", &lport) != 1 ||
            lport != port)
            continue;
        char *last = strrchr(line, ' ');
        while (last && last > line && last[1] == '\0') {   /* trailing blanks */
            *last = '\0';
            last = strrchr(line, ' ');
        }
        if (last)
            drops = atoll(last + 1);
    }
    fclose(f);
    return drops;
}

static struct mmsghdr g_msgs[BATCH];
static struct iovec g_iov[BATCH];
static struct sockaddr_in g_src[BATCH];
static uint8_t (*g_bufs)[65536];

static void prep_recv(void)
{
    for (int i = 0; i < BATCH; i++) {
        g_iov[i].iov_base = g_bufs[i];
        g_iov[i].iov_len = sizeof g_bufs[i];
        memset(&g_msgs[i].msg_hdr, 0, sizeof g_msgs[i].msg_hdr);
        g_msgs[i].msg_hdr.msg_iov = &g_iov[i];
        g_msgs[i].msg_hdr.msg_iovlen = 1;
        g_msgs[i].msg_hdr.msg_name = &g_src[i];
        g_msgs[i].msg_hdr.msg_namelen = sizeof g_src[i];
    }
}

static void print_listen(int fd)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    char h[32];
    getsockname(fd, (struct sockaddr *)&a, &al);
    printf("LISTEN %s:%u\n", inet_ntop(AF_INET, &a.sin_addr, h, sizeof h), ntohs(a.sin_port));
    fflush(stdout);
}

static int run_echo(const struct sockaddr_in *at)
{
    int fd = udp_socket(at);
    print_listen(fd);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    while (!g_stop) {
        prep_recv();
        int n = recvmmsg(fd, g_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            poll(&pfd, 1, 200);
            continue;
        }
        for (int i = 0; i < n; i++)
            g_iov[i].iov_len = g_msgs[i].msg_len;       /* send back what came, to its source */
        int off = 0;
        while (off < n) {
            int k = sendmmsg(fd, g_msgs + off, (unsigned)(n - off), MSG_DONTWAIT);
            if (k <= 0) {
                if (k < 0 && errno == EAGAIN) {
                    struct pollfd w = { .fd = fd, .events = POLLOUT };
                    poll(&w, 1, 10);
                    continue;
                }
                break;                                  /* e.g. ECONNREFUSED: drop it */
            }
            off += k;
        }
    }
    return 0;
}

static void sink_report(struct stats *st, uint32_t run)
{
    printf("RUN id=%u recv=%llu bytes=%llu bad=%llu dup=%llu reorder=%llu first_ns=%llu "
           "last_ns=%llu p50_us=%.0f p99_us=%.0f\n", run, (unsigned long long)st->recv,
           (unsigned long long)st->bytes, (unsigned long long)st->bad,
           (unsigned long long)st->dup, (unsigned long long)st->reorder,
           (unsigned long long)st->first_ns, (unsigned long long)st->last_ns,
           pct_us(st, 0.50), pct_us(st, 0.99));
    fflush(stdout);
}

static int run_sink(const struct sockaddr_in *at, int quiet_ms)
{
    int fd = udp_socket(at);
    struct stats *st = calloc(1, sizeof *st);
    if (!st || !(st->seen = calloc(1, MAXSEQ / 8)))
        return 1;
    print_listen(fd);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    uint32_t run = 0;
    int active = 0;
    size_t size = 0;
    while (!g_stop) {
        prep_recv();
        int n = recvmmsg(fd, g_msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (poll(&pfd, 1, quiet_ms) == 0 && active) {
                sink_report(st, run);
                active = 0;
            }
            continue;
        }
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            const uint8_t *p = g_bufs[i];
            size_t len = g_msgs[i].msg_len;
            if (len < HDR || get32(p) != MAGIC) {
                if (active)
                    st->bad++;
                continue;
            }
            uint32_t r = get32(p + 4);
            if (!active || r != run) {
                if (active)
                    sink_report(st, run);
                stats_reset(st);
                run = r;
                size = len;
                active = 1;
            }
            if (!check(p, len, size, run)) {
                st->bad++;
                continue;
            }
            stats_add(st, get64(p + 8), get64(p + 16), now, len);
        }
    }
    if (active)
        sink_report(st, run);
    return 0;
}

static int run_send(const struct sockaddr_in *to, size_t size, double pps, double secs, int echo,
                    int drain_ms, uint32_t run, int warm_ms)
{
    int fd = udp_socket(NULL);
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0) {
        perror("connect");
        return 1;
    }
    if (warm_ms > 0) {
        /* Warm-up: one datagram that is not part of the run (no magic), so a tunnel opens this
         * source's flow before the clock starts; then whatever came back is discarded. */
        static const char hello[] = "udpgen warm-up";
        send(fd, hello, sizeof hello - 1, 0);
        struct timespec w = { warm_ms / 1000, (long)(warm_ms % 1000) * 1000000L };
        nanosleep(&w, NULL);
        uint8_t junk[2048];
        while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) >= 0)
            ;
    }
    struct stats *st = calloc(1, sizeof *st);
    static uint8_t sendbuf[BATCH][65536];
    struct mmsghdr smsgs[BATCH];
    struct iovec siov[BATCH];
    if (!st || !(st->seen = calloc(1, MAXSEQ / 8)))
        return 1;
    for (int i = 0; i < BATCH; i++) {
        siov[i].iov_base = sendbuf[i];
        siov[i].iov_len = size;
        memset(&smsgs[i].msg_hdr, 0, sizeof smsgs[i].msg_hdr);
        smsgs[i].msg_hdr.msg_iov = &siov[i];
        smsgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t seq = 0, send_errors = 0;
    const uint64_t step = 100000;       /* pace in 100 us steps */
    uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
    uint64_t send_end = end, drain_end = 0;
    for (;;) {
        uint64_t now = now_ns();
        if (g_stop)
            break;
        int sending = now < end;
        if (!sending && !drain_end) {
            send_end = now;
            drain_end = now + (uint64_t)drain_ms * 1000000u;
            if (!echo)
                break;
        }
        if (drain_end && now >= drain_end)
            break;
        int blocked = 0;
        if (sending) {
            uint64_t due = pps > 0 ? (uint64_t)((double)(now - t0) * pps / 1e9) + 1 : seq + BATCH;
            while (seq < due && now_ns() < end) {
                int k = (int)(due - seq < BATCH ? due - seq : BATCH);
                uint64_t ts = now_ns();
                for (int i = 0; i < k; i++)
                    fill(sendbuf[i], size, run, seq + (uint64_t)i, ts);
                int m = sendmmsg(fd, smsgs, (unsigned)k, MSG_DONTWAIT);
                if (m <= 0) {
                    if (m < 0 && errno != EAGAIN && errno != ENOBUFS) {
                        /* ECONNREFUSED (ICMP from a closed port): count the datagram as sent
                         * and lost, so loss shows it */
                        send_errors++;
                        seq++;
                        continue;
                    }
                    blocked = 1;
                    break;
                }
                seq += (uint64_t)m;
                if (pps <= 0)
                    break;
            }
        }
        int got = 0;
        if (echo) {
            for (int round = 0; round < 8; round++) {
                prep_recv();
                int n = recvmmsg(fd, g_msgs, BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0)
                    break;
                uint64_t rnow = now_ns();
                got += n;
                for (int i = 0; i < n; i++) {
                    const uint8_t *p = g_bufs[i];
                    if (!check(p, g_msgs[i].msg_len, size, run)) {
                        st->bad++;
                        continue;
                    }
                    stats_add(st, get64(p + 8), get64(p + 16), rnow, g_msgs[i].msg_len);
                }
                if (n < BATCH)
                    break;
            }
        }
        if (got || (sending && pps <= 0 && !blocked))
            continue;
        /* Nothing to do now: wait for a reply, writability, or the next pacing step. */
        struct pollfd pfd = { .fd = fd, .events = (short)((echo ? POLLIN : 0) | (blocked ? POLLOUT : 0)) };
        uint64_t wait_ns;
        now = now_ns();
        if (sending && pps > 0) {
            uint64_t next = t0 + ((now - t0) / step + 1) * step;
            wait_ns = next - now;
        } else if (sending) {
            wait_ns = 1000000;
        } else {
            wait_ns = drain_end > now ? drain_end - now : 0;
        }
        struct timespec ts = { (time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u) };
        ppoll(&pfd, 1, &ts, NULL);
    }
    double send_s = (double)(send_end - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    printf("RESULT size=%zu offered_pps=%.0f sent=%llu send_pps=%.0f send_errors=%llu", size, pps,
           (unsigned long long)seq, (double)seq / send_s, (unsigned long long)send_errors);
    if (echo) {
        double span = st->recv ? (double)(st->last_ns - t0) / 1e9 : 1;
        if (span < send_s)
            span = send_s;
        printf(" recv=%llu recv_pps=%.0f loss_pct=%.3f bad=%llu dup=%llu reorder=%llu p50_us=%.0f "
               "p99_us=%.0f", (unsigned long long)st->recv, (double)st->recv / span,
               seq ? 100.0 * (double)(seq - st->recv) / (double)seq : 0.0,
               (unsigned long long)st->bad, (unsigned long long)st->dup,
               (unsigned long long)st->reorder, pct_us(st, 0.50), pct_us(st, 0.99));
    }
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &ml);
    printf(" rxdrops=%lld t0_ns=%llu run=%u cpu_ms=%.0f\n", socket_drops(ntohs(me.sin_port)),
           (unsigned long long)t0, run, cpu_ms);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1], *addr = NULL;
    size_t size = 100;
    double pps = 0, secs = 5;
    int echo = 0, drain_ms = 1000, quiet_ms = 300, warm_ms = 0;
    uint32_t run = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-e")) {
            echo = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "-l") || !strcmp(a, "-a"))
            addr = v;
        else if (!strcmp(a, "-s"))
            size = (size_t)atol(v);
        else if (!strcmp(a, "-r"))
            pps = atof(v);
        else if (!strcmp(a, "-t"))
            secs = atof(v);
        else if (!strcmp(a, "-w"))
            drain_ms = atoi(v);
        else if (!strcmp(a, "-W"))
            warm_ms = atoi(v);
        else if (!strcmp(a, "-q"))
            quiet_ms = atoi(v);
        else if (!strcmp(a, "-i"))
            run = (uint32_t)strtoul(v, NULL, 10);
        else
            usage();
    }
    struct sockaddr_in sa;
    if (!addr || parse_addr(addr, &sa) != 0)
        usage();
    if (size < HDR || size > MAXDG) {
        fprintf(stderr, "udpgen: size must be %d to %d\n", HDR, MAXDG);
        return 2;
    }
    struct sigaction sig = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sig, NULL);
    sigaction(SIGINT, &sig, NULL);
    g_bufs = malloc(sizeof *g_bufs * BATCH);
    if (!g_bufs)
        return 1;
    if (!run) {
        srand((unsigned)(now_ns() ^ (uint64_t)getpid()));
        run = (uint32_t)rand() | 1u;
    }
    if (!strcmp(mode, "echo"))
        return run_echo(&sa);
    if (!strcmp(mode, "sink"))
        return run_sink(&sa, quiet_ms);
    if (!strcmp(mode, "send"))
        return run_send(&sa, size, pps, secs, echo, drain_ms, run, warm_ms);
    usage();
    return 2;
}
